"""``keras-gans evaluate``: metrics of a run or an exported model against a prepared dataset.

The metrics themselves are ``keras_gans.metrics`` (names, formulas and protocols in
``keras_gans.metrics.evaluate``); this command loads what is scored: a run directory's
generator (restored alone, ``keras_gans.training.checkpoint.restore_generator``) or an
exported SavedModel version (its ``sample`` signature), and appends the result to the run's
metrics log.

A run is sampled under an evaluation protocol (``keras_gans.metrics.protocols``: which
generator, batch-norm mode, noise, truncation): ``--protocol default`` (the default) is the
run's preset's, the way its paper's code evaluated; ``--protocol NAME`` overrides it. An export
is scored as exported; a protocol it cannot follow is a usage error when asked for explicitly,
and a note in the record by default. Every record carries ``protocol``.

Image-conditioned runs and exports (image-to-image translation, Pix2Pix-MS) are scored under
MSGAN's protocol (``keras_gans.metrics.protocols.MSGAN_PIX2PIX``; the sampling protocol
``msgan-pix2pix`` for runs): K outputs per test input of the paired dataset (``--outputs-per-input``,
default 50), FID / KID / PR / DC against the inputs' targets, NDB/JSD on bins of the targets,
and diversity over consecutive output pairs of one input: LPIPS when its weights are installed
(else null, with a note) and always the pixel L1 (``NAME_l1``). The split defaults to the
first of test / val / validation the dataset has (``keras_gans.metrics.evaluate.score_image_conditioned``).
"""

from __future__ import annotations

import json
import os

import numpy as np

from keras_gans.commands import quiet_tensorflow
from keras_gans.errors import UsageError

HELP = ("metrics (fid10k, kid10k, is, pr, dc, ndb, lpips) of a run or an exported model against "
        "a dataset")


def add_arguments(p) -> None:
    from keras_gans.metrics.features import FEATURE_NETS, LPIPS_NETS

    from keras_gans.metrics import protocols

    p.add_argument("source", help="a run directory, `latest` (the newest run in "
                                  "--runs-dir) or an exported version directory")
    p.add_argument("--protocol", default=protocols.DEFAULT,
                   help="evaluation protocol: default (the run's preset's: how its paper's code "
                        "evaluated) or one of " + ", ".join(protocols.names())
                        + " (generator, batch-norm mode, noise, truncation; see the README)")
    p.add_argument("--runs-dir", default="runs", help="where `latest` looks for runs")
    p.add_argument("--data", help="the prepared dataset (real statistics); not needed when every "
                                  "metric is lpips")
    p.add_argument("--metrics", required=True,
                   help="comma-separated, e.g. fid10k,kid10k,pr10k,lpips2k")
    p.add_argument("--feature-net", default="inception", choices=FEATURE_NETS)
    p.add_argument("--weights", help="converted Inception weights (default: the cache location)")
    p.add_argument("--resize", default="clean", help="clean | legacy-tf | none (Inception input resize)")
    p.add_argument("--split", default=None,
                   help="the split scored against (default: train; image-conditioned models: the "
                        "first of test, val, validation the dataset has)")
    p.add_argument("--outputs-per-input", type=int, default=None, metavar="K",
                   help="image-conditioned models: outputs per test input (default: the "
                        "protocol's, MSGAN's 50)")
    p.add_argument("--inputs", type=int, default=None, metavar="N",
                   help="image-conditioned models: test inputs (default: as the metric counts "
                        "ask, capped by the split)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None,
                   help="feature-network batch (Inception default 50: ~7.5 GB peak RSS on CPU; 10: ~2.2 GB); "
                        "also the LPIPS pair batch (default 50)")
    p.add_argument("--lpips-net", default="alex", choices=LPIPS_NETS,
                   help="LPIPS v0.1 network of the lpips metrics (alex: the lpips package default)")
    p.add_argument("--lpips-weights", help="converted LPIPS weights (default: the cache location; "
                                           "create them with keras-gans convert-weights lpips-alex)")
    p.add_argument("--out", help="also write the record to this JSON file")


def run(args) -> int:
    from keras_gans import runs
    from keras_gans.metrics.evaluate import format_table

    quiet_tensorflow()
    args.source = runs.resolve(args.source, args.runs_dir)
    record = evaluate(args.source, args.data, args.metrics, feature_net=args.feature_net,
                      resize=args.resize, weights=args.weights, split=args.split, seed=args.seed,
                      truncation=args.truncation, batch_size=args.batch_size,
                      lpips_net=args.lpips_net, lpips_weights=args.lpips_weights,
                      protocol=args.protocol, outputs_per_input=args.outputs_per_input,
                      num_inputs=args.inputs)
    print(format_table(record))
    if record["source_kind"] == "run":
        runs.append_metrics(args.source, {"evaluate": record})
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(record) + "\n")
    return 0


# --- what is scored -------------------------------------------------------------------------
def run_protocol(run_dir: str, protocol: str | None = None):
    """``(Protocol, why)`` a run is evaluated under: ``protocol`` when given (not ``default``),
    else the run's config's (its ``eval.protocol``, its preset's, its family's)."""
    from keras_gans.metrics import protocols
    from keras_gans.training.checkpoint import load_run_config

    return protocols.protocol_for(load_run_config(run_dir), protocol)


def run_sampler(run_dir: str, seed: int, truncation: float | None = None,
                protocol: str | None = None):
    """``sample(n, index[, classes]) -> uint8 images`` from a run's generator (its latest
    checkpoint, restored without the discriminator) under its evaluation protocol (``protocol``
    or the run's default); see ``metrics.evaluate.gan_sampler``. ``sample.protocol`` is the
    record of the protocol used."""
    from keras_gans.metrics.evaluate import gan_sampler
    from keras_gans.training.checkpoint import restore_generator

    chosen, why = run_protocol(run_dir, protocol)
    restored = restore_generator(run_dir, which=chosen.generator)
    sample = gan_sampler(restored, seed, truncation, protocol=chosen)
    sample.protocol["why"] = why
    return sample


def export_protocol(path: str, protocol: str | None = None) -> dict:
    """The protocol record of an export: what it was traced with (``as-exported``). An explicit
    ``protocol`` it cannot follow is a UsageError naming the differences; by default the record
    notes whether the protocol of the run it came from (its preset's) applies."""
    from keras_gans.metrics import protocols
    from keras_gans.serving.export import CONFIG, EXTRA_DIR, read_export_metadata
    from keras_gans.training.config import TrainConfig

    meta = read_export_metadata(path)
    record = {**protocols.export_protocol(meta), "notes": []}
    config = None
    config_path = os.path.join(path, EXTRA_DIR, CONFIG)
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    if protocol and protocol != protocols.DEFAULT:
        wanted, why = protocols.get(protocol), "given explicitly"
    elif config is not None:
        try:
            wanted, why = protocols.protocol_for(TrainConfig.from_dict(config))
        except UsageError as e:
            record["notes"].append(f"the run's protocol is unknown ({e})")
            return record
    else:
        record["notes"].append("the export carries no run config: its run's protocol is unknown")
        return record
    differ = protocols.check_export(wanted, record, config)
    if differ and why == "given explicitly":
        raise UsageError(f"protocol {wanted.name} cannot be applied to the export {path}: "
                         + "; ".join(differ) + ". Exports are scored as exported: evaluate the "
                         "run directory under this protocol, or drop --protocol")
    if differ:
        record["notes"].append(f"{why} is {wanted.name}, not applied to this export: "
                               + "; ".join(differ))
    else:
        record["matches"] = wanted.name
        record["notes"].append(f"the export follows protocol {wanted.name} ({why})")
    return record


def saved_model_sampler(path: str, seed: int, truncation: float | None = None,
                        protocol: str | None = None):
    """``sample(n, index, classes=None)`` through an export's ``sample`` signature (classes drawn
    by it unless given). ``sample.num_classes`` comes from the export's metadata (None for a
    conditional export without it: then ``classes`` cannot be checked or cycled);
    ``sample.protocol`` says what the export does (``export_protocol``)."""
    import tensorflow as tf

    from keras_gans.metrics.evaluate import check_classes
    from keras_gans.serving.export import read_export_metadata

    record = export_protocol(path, protocol)
    loaded = tf.saved_model.load(path)
    if "sample" not in loaded.signatures:
        raise UsageError(f"{path} has no 'sample' signature: export it with `keras-gans export`")
    fn = loaded.signatures["sample"]
    args = fn.structured_input_signature[1]
    num_classes = 0
    if "class_id" in args:
        meta = read_export_metadata(path)
        num_classes = int(meta.get("num_classes") or 0) or None if meta else None

    def sample(n, index, classes=None):
        kw = {"seed": tf.constant(seed * 1_000_003 + index, tf.int64), "num": tf.constant(n, tf.int32)}
        if "truncation" in args:
            kw["truncation"] = tf.constant(truncation or 0.0, tf.float32)
        if classes is not None:
            if "class_id" not in args:
                raise UsageError(f"classes were given, but the export {path} is unconditional")
            ids = (check_classes(classes, n, num_classes) if num_classes
                   else np.asarray(classes, np.int32).reshape(-1))
            kw["class_id"] = tf.constant(ids, tf.int32)
        elif "class_id" in args:
            kw["class_id"] = tf.constant([-1], tf.int32)  # -1: a random class per image
        return fn(**kw)["images"].numpy()

    sample.num_classes = num_classes
    sample.protocol = record
    return sample


def sampler(source: str, seed: int, truncation: float | None, protocol: str | None = None):
    """``(kind, sample)`` for a run directory ("run") or an export version ("saved_model"),
    under ``protocol`` (None or ``default``: the run's)."""
    from keras_gans import runs

    if runs.is_run_dir(source):
        return "run", run_sampler(source, seed, truncation, protocol)
    if os.path.exists(os.path.join(source, "saved_model.pb")):
        return "saved_model", saved_model_sampler(source, seed, truncation, protocol)
    raise UsageError(f"{source} is neither a run directory ({runs.INFO}) nor an exported "
                     "SavedModel version directory (saved_model.pb)")


def evaluate(source: str, data_dir: str | None, metrics: str | list, feature_net: str = "inception",
             resize: str = "clean", weights: str | None = None, split: str | None = None, seed: int = 0,
             truncation: float | None = None, batch_size: int | None = None,
             lpips_net: str = "alex", lpips_weights: str | None = None, log=print,
             protocol: str | None = None, outputs_per_input: int | None = None,
             num_inputs: int | None = None) -> dict:
    """Compute ``metrics`` for a run directory or an exported model; returns the result record.

    ``data_dir`` may be None when every metric is ``lpips`` (it needs no real data).
    ``lpips_net`` / ``lpips_weights``: the LPIPS network and its converted weights (default
    the cache path), loaded only when an ``lpips`` metric is asked for; ``batch_size`` is also
    the LPIPS pair batch (default 50). ``protocol``: the evaluation protocol's name (None or
    ``default``: the run's, ``keras_gans.metrics.protocols``); the record's ``protocol`` says
    which was used and what did not apply.
    """
    from keras_gans.metrics import protocols
    from keras_gans.metrics.evaluate import score
    from keras_gans.metrics.features import make_feature_net, make_lpips_net
    from keras_gans.metrics.specs import FEATURE_KINDS, parse_metrics

    specs = parse_metrics(metrics) if isinstance(metrics, str) else metrics
    if protocol and protocol != protocols.DEFAULT:
        protocols.get(protocol)  # an unknown name fails before any network is loaded
    if image_condition_shape(source) is not None:
        return evaluate_image_conditioned(
            source, data_dir, specs, feature_net=feature_net, resize=resize, weights=weights,
            split=split, seed=seed, truncation=truncation, batch_size=batch_size,
            lpips_net=lpips_net, lpips_weights=lpips_weights, log=log, protocol=protocol,
            outputs_per_input=outputs_per_input, num_inputs=num_inputs)
    if outputs_per_input is not None or num_inputs is not None:
        raise UsageError("--outputs-per-input and --inputs apply to image-conditioned models; "
                         f"{source} is not one")
    split = split or "train"
    net = pair_net = None
    if any(s.kind in FEATURE_KINDS for s in specs):
        if not data_dir:
            raise UsageError("--data DATA_DIR is required for "
                             + ", ".join(s.name for s in specs if s.kind in FEATURE_KINDS)
                             + " (real-data statistics); only lpips metrics run without data")
        net = make_feature_net(feature_net, data_dir, weights, resize, batch_size)
    if any(s.kind == "lpips" for s in specs):
        pair_net = make_lpips_net(lpips_net, lpips_weights, batch_size or 50)
    kind, sample = sampler(source, seed, truncation, protocol)
    record = score(sample, data_dir, specs, net, split=split, seed=seed, log=log, pair_net=pair_net)
    record.update({"source": os.path.abspath(source), "source_kind": kind, "truncation": truncation,
                   "protocol": sample.protocol})
    return record


# --- image-conditioned models (image-to-image translation) -----------------------------------
def image_condition_shape(source: str):
    """``(H, W, C)`` of the condition images of a run or export, None when it is not
    image-conditioned (or not a run/export: ``sampler`` says so)."""
    from keras_gans import runs
    from keras_gans.serving.export import read_export_metadata

    if runs.is_run_dir(source):
        manifest = (runs.read_info(source) or {}).get("data_manifest", {}) or {}
        channels = int(manifest.get("condition_channels") or 0)
        return (int(manifest["resolution"]),) * 2 + (channels,) if channels else None
    if os.path.exists(os.path.join(source, "saved_model.pb")):
        shape = (read_export_metadata(source) or {}).get("condition_shape")
        return tuple(shape) if shape else None
    return None


def conditioned_run_sampler(run_dir: str, seed: int, protocol: str | None = None):
    """``sample(conditions uint8 [m, H, W, C], k, index) -> uint8 [m * k, ...]`` from a run's
    generator under its sampling protocol (``msgan-pix2pix`` by default for Pix2Pix runs):
    each condition repeated k times (input i's outputs in rows ``i * k ..``), latents
    ``stateless_normal([m * k, latent], seed=[seed, index])``, conditions mapped
    ``x / 127.5 - 1`` as the reader maps them."""
    import tensorflow as tf

    from keras_gans.image_grid import from_uint8, to_uint8
    from keras_gans.metrics import protocols
    from keras_gans.metrics.evaluate import select_generator
    from keras_gans.training.checkpoint import restore_generator

    chosen, why = run_protocol(run_dir, protocol)
    if chosen.batchnorm == "batch":
        raise UsageError(f"protocol {chosen.name} samples with batch statistics, which the "
                         "image-to-image protocol does not define: pick another --protocol")
    restored = restore_generator(run_dir, which=chosen.generator)
    net, ema_used = select_generator(restored, chosen)

    def sample(conditions, k, index):
        m = len(conditions)
        z = tf.random.stateless_normal([m * int(k), restored.latent_dim], seed=[seed, index])
        repeated = tf.constant(from_uint8(np.repeat(np.asarray(conditions), int(k), axis=0)))
        out = protocols.generate(net, restored.generator_inputs(z, repeated), chosen, seed, index)
        return to_uint8(out.numpy())

    notes = protocols.applicability_notes(net, chosen, ema_used if chosen.generator == "ema" else None)
    sample.protocol = {**chosen.record(), "ema_used": ema_used, "notes": notes, "why": why}
    return sample


def conditioned_export_sampler(path: str, seed: int, protocol: str | None = None):
    """The same through an export's ``sample`` signature (seed ``seed * 1_000_003 + index``)."""
    import tensorflow as tf

    record = export_protocol(path, protocol)
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures.get("sample")
    if fn is None or "condition" not in fn.structured_input_signature[1]:
        raise UsageError(f"{path} has no image-conditioned `sample` signature: export it with "
                         "`keras-gans export`")

    def sample(conditions, k, index):
        out = fn(condition=tf.constant(np.asarray(conditions, np.uint8)),
                 seed=tf.constant(seed * 1_000_003 + index, tf.int64),
                 num=tf.constant(int(k), tf.int32))
        return out["images"].numpy()

    sample.protocol = record
    return sample


def default_conditioned_split(data_dir: str, protocol) -> tuple[str, str | None]:
    """``(split, note)``: the first of the protocol's splits the dataset has, else train."""
    from keras_gans import manifest as manifest_lib

    splits = manifest_lib.load(data_dir).splits
    for name in protocol.splits:
        if name in splits:
            return name, None
    return "train", (f"the dataset has none of the splits {', '.join(protocol.splits)}: scored "
                     "on train (the inputs the model was trained on)")


def evaluate_image_conditioned(source, data_dir, specs, *, feature_net, resize, weights, split,
                               seed, truncation, batch_size, lpips_net, lpips_weights, log,
                               protocol, outputs_per_input, num_inputs) -> dict:
    """``evaluate`` for an image-conditioned run or export (MSGAN's protocol; see the module
    docstring and ``keras_gans.metrics.protocols.MSGAN_PIX2PIX``)."""
    import dataclasses

    from keras_gans import runs
    from keras_gans.metrics import lpips as lpips_lib
    from keras_gans.metrics import protocols
    from keras_gans.metrics.evaluate import score_image_conditioned
    from keras_gans.metrics.features import make_feature_net, make_lpips_net
    from keras_gans.metrics.specs import FEATURE_KINDS

    if not data_dir:
        raise UsageError("--data DATA_DIR is required: an image-conditioned model is scored on the "
                         "test inputs of a paired dataset")
    if truncation:
        raise UsageError("--truncation: the image-to-image protocol samples z ~ N(0, I)")
    if num_inputs is not None and num_inputs < 2:
        raise UsageError(f"--inputs {num_inputs}: needs at least 2 test inputs")
    ic = protocols.image_conditioned_protocol()
    if outputs_per_input is not None:
        if outputs_per_input < 2:
            raise UsageError(f"--outputs-per-input {outputs_per_input}: needs at least 2 (pairs)")
        ic = dataclasses.replace(ic, outputs_per_input=int(outputs_per_input))
    note = None
    if split is None:
        split, note = default_conditioned_split(data_dir, ic)
    net = pair_net = None
    lpips_note = None
    if any(s.kind in FEATURE_KINDS for s in specs):
        net = make_feature_net(feature_net, data_dir, weights, resize, batch_size)
    if any(s.kind == "lpips" for s in specs):
        shape = image_condition_shape(source)
        smallest = lpips_lib.min_image_size(lpips_net)
        path = lpips_weights or lpips_lib.default_weights_path(lpips_net)
        if shape[0] < smallest or shape[1] < smallest:
            lpips_note = (f"LPIPS {lpips_net} needs images of at least {smallest}x{smallest} px; "
                          f"these are {shape[0]}x{shape[1]}: only the pixel-L1 diversity is reported")
        elif not lpips_weights and not os.path.isfile(path):
            lpips_note = (f"LPIPS {lpips_net} weights are not installed ({path}): only the pixel-L1 "
                          f"diversity is reported; {lpips_lib.convert_command(lpips_net, path)}")
        else:  # given explicitly, or installed: a broken file is an error
            pair_net = make_lpips_net(lpips_net, lpips_weights, batch_size or 50)
    if runs.is_run_dir(source):
        kind, sample = "run", conditioned_run_sampler(source, seed, protocol)
    else:
        kind, sample = "saved_model", conditioned_export_sampler(source, seed, protocol)
    record = score_image_conditioned(sample, data_dir, specs, net, ic, split, num_inputs=num_inputs,
                                     seed=seed, log=log, pair_net=pair_net, lpips_note=lpips_note)
    if note:
        record["image_conditioned"]["notes"].append(note)
    record.update({"source": os.path.abspath(source), "source_kind": kind, "truncation": None,
                   "protocol": sample.protocol})
    return record
