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
    p.add_argument("--split", default="train")
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
                      protocol=args.protocol)
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
             resize: str = "clean", weights: str | None = None, split: str = "train", seed: int = 0,
             truncation: float | None = None, batch_size: int | None = None,
             lpips_net: str = "alex", lpips_weights: str | None = None, log=print,
             protocol: str | None = None) -> dict:
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
