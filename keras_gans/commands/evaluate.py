"""``keras-gans evaluate``: metrics of a run or an exported model against a prepared dataset.

The metrics themselves are ``keras_gans.metrics`` (names, formulas and protocols in
``keras_gans.metrics.evaluate``); this command loads what is scored: a run directory's EMA
generator (restored alone, ``keras_gans.training.checkpoint.restore_generator``) or an
exported SavedModel version (its ``sample`` signature), and appends the result to the run's
metrics log.
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

    p.add_argument("source", help="a run directory (EMA generator), `latest` (the newest run in "
                                  "--runs-dir) or an exported version directory")
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
                      lpips_net=args.lpips_net, lpips_weights=args.lpips_weights)
    print(format_table(record))
    if record["source_kind"] == "run":
        runs.append_metrics(args.source, {"evaluate": record})
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(record) + "\n")
    return 0


# --- what is scored -------------------------------------------------------------------------
def run_sampler(run_dir: str, seed: int, truncation: float | None = None):
    """``sample(n, index[, classes]) -> uint8 images`` from a run's EMA generator (its latest
    checkpoint, restored without the discriminator); see ``metrics.evaluate.gan_sampler``."""
    from keras_gans.metrics.evaluate import gan_sampler
    from keras_gans.training.checkpoint import restore_generator

    return gan_sampler(restore_generator(run_dir), seed, truncation)


def saved_model_sampler(path: str, seed: int, truncation: float | None = None):
    """``sample(n, index, classes=None)`` through an export's ``sample`` signature (classes drawn
    by it unless given). ``sample.num_classes`` comes from the export's metadata (None for a
    conditional export without it: then ``classes`` cannot be checked or cycled)."""
    import tensorflow as tf

    from keras_gans.metrics.evaluate import check_classes
    from keras_gans.serving.export import read_export_metadata

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
    return sample


def sampler(source: str, seed: int, truncation: float | None):
    """``(kind, sample)`` for a run directory ("run") or an export version ("saved_model")."""
    from keras_gans import runs

    if runs.is_run_dir(source):
        return "run", run_sampler(source, seed, truncation)
    if os.path.exists(os.path.join(source, "saved_model.pb")):
        return "saved_model", saved_model_sampler(source, seed, truncation)
    raise UsageError(f"{source} is neither a run directory ({runs.INFO}) nor an exported "
                     "SavedModel version directory (saved_model.pb)")


def evaluate(source: str, data_dir: str | None, metrics: str | list, feature_net: str = "inception",
             resize: str = "clean", weights: str | None = None, split: str = "train", seed: int = 0,
             truncation: float | None = None, batch_size: int | None = None,
             lpips_net: str = "alex", lpips_weights: str | None = None, log=print) -> dict:
    """Compute ``metrics`` for a run directory or an exported model; returns the result record.

    ``data_dir`` may be None when every metric is ``lpips`` (it needs no real data).
    ``lpips_net`` / ``lpips_weights``: the LPIPS network and its converted weights (default
    the cache path), loaded only when an ``lpips`` metric is asked for; ``batch_size`` is also
    the LPIPS pair batch (default 50).
    """
    from keras_gans.metrics.evaluate import score
    from keras_gans.metrics.features import make_feature_net, make_lpips_net
    from keras_gans.metrics.specs import FEATURE_KINDS, parse_metrics

    specs = parse_metrics(metrics) if isinstance(metrics, str) else metrics
    net = pair_net = None
    if any(s.kind in FEATURE_KINDS for s in specs):
        if not data_dir:
            raise UsageError("--data DATA_DIR is required for "
                             + ", ".join(s.name for s in specs if s.kind in FEATURE_KINDS)
                             + " (real-data statistics); only lpips metrics run without data")
        net = make_feature_net(feature_net, data_dir, weights, resize, batch_size)
    if any(s.kind == "lpips" for s in specs):
        pair_net = make_lpips_net(lpips_net, lpips_weights, batch_size or 50)
    kind, sample = sampler(source, seed, truncation)
    record = score(sample, data_dir, specs, net, split=split, seed=seed, log=log, pair_net=pair_net)
    record.update({"source": os.path.abspath(source), "source_kind": kind, "truncation": truncation})
    return record
