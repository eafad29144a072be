"""``keras-gans export RUN_DIR --name NAME --out MODEL_BASE``: a run's EMA generator as a
versioned SavedModel for TF Serving (``keras_gans.serving.export.export_run``)."""

from __future__ import annotations

import os

from keras_gans.commands import quiet_tensorflow
from keras_gans.errors import UsageError

HELP = "export a run's EMA generator as a SavedModel in TF Serving layout (MODEL_BASE/NAME/VERSION)"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `keras-gans train` (or `latest` "
                                        "with --runs-dir)")
    parser.add_argument("--runs-dir", default="runs", help="where `latest` looks for runs")
    parser.add_argument("--name", required=True, help="model name (TF Serving's /v1/models/NAME)")
    parser.add_argument("--out", required=True, metavar="MODEL_BASE",
                        help="TF Serving's model base directory; the model goes to MODEL_BASE/NAME/")
    parser.add_argument("--version", type=int, default=None,
                        help="version number (default: the next free one; existing ones are refused)")
    parser.add_argument("--standing-stats", type=int, default=0, metavar="N",
                        help="replace the batch-norm moving statistics by BigGAN's standing "
                             "statistics: the average over N batches of random latents and classes "
                             "(default 0: keep the training ones; BigGAN uses 16)")
    parser.add_argument("--standing-stats-batch", type=int, default=None, metavar="B",
                        help="images per standing-statistics batch (default 64)")
    parser.add_argument("--standing-stats-truncation", type=float, default=None, metavar="T",
                        help="truncate the standing-statistics latents at T (default 0: none)")
    parser.add_argument("--noise", choices=("fixed", "fresh"), default="fixed",
                        help="noise inputs (MSG-StyleGAN, FastGAN): fixed maps, deterministic "
                             "(default), or fresh noise on every request, as the official "
                             "metrics sample (keras-gans evaluate then scores it that way)")


def run(args) -> int:
    from keras_gans import runs
    from keras_gans.serving import export

    quiet_tensorflow()
    given = (args.standing_stats_batch, args.standing_stats_truncation)
    if not args.standing_stats and any(v is not None for v in given):
        raise UsageError("--standing-stats-batch and --standing-stats-truncation need "
                         "--standing-stats N (N > 0)")
    batch = 64 if args.standing_stats_batch is None else args.standing_stats_batch
    truncation = 0.0 if args.standing_stats_truncation is None else args.standing_stats_truncation
    run_dir = runs.resolve(args.run_dir, args.runs_dir)
    path = export.export_run(run_dir, args.name, args.out, version=args.version,
                             standing_stats=args.standing_stats, standing_stats_batch=batch,
                             standing_stats_truncation=truncation, noise=args.noise)
    meta = export.read_export_metadata(path)
    print(f"exported {run_dir} ({meta['arch']}, preset {meta['preset']}, {meta['kimg']:g} kimg, "
          f"{'EMA' if meta['ema'] else 'training'} weights) -> {path}")
    if meta.get("standing_stats"):
        st = meta["standing_stats"]
        print(f"  standing statistics: {st['num_batches']} batches of {st['batch_size']} (truncation "
              f"{st['truncation']:g}) over {st['layers']} batch-norm layers")
    for sig_name, sig in meta["signatures"].items():
        ins = ", ".join(f"{k} {v['dtype']}{_shape(v['shape'])}" for k, v in sig["inputs"].items())
        outs = ", ".join(f"{k} {v['dtype']}{_shape(v['shape'])}" for k, v in sig["outputs"].items())
        print(f"  signature {sig_name}: {ins} -> {outs}")
    print(f"  {os.path.join(path, export.EXTRA_DIR)}/: {export.CONFIG}, model_card.md, {export.METADATA}")
    print(f"  serve: see serving/README.md (model base {os.path.abspath(args.out)}, name {args.name})")
    return 0


def _shape(shape) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"
