"""``keras-gans train``: train a preset on a prepared dataset, or resume a run.

``--dry-run`` resolves and validates everything that can be checked without data (the preset,
every override, the architecture's model arguments, loss, regularizers, EMA, growth and eval
settings) and prints the resolved config (the JSON a run saves).
"""

from __future__ import annotations

import argparse
import sys

from keras_gans.commands import quiet_tensorflow
from keras_gans.errors import UsageError

HELP = "train a preset on a prepared dataset (tf.distribute, TensorBoard, exact resume)"
FORMATTER = argparse.ArgumentDefaultsHelpFormatter

# flag -> config field, for the shortcut flags (each is `--set field=VALUE`)
_SHORTCUTS = {"kimg": "total_kimg", "batch": "batch", "seed": "seed",
              "mixed_precision": "mixed_precision", "replicas": "replicas"}


def add_arguments(parser) -> None:
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
    parser.add_argument("--dry-run", action="store_true",
                        help="validate everything that needs no data, print the resolved config, exit")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")


def _overrides(args) -> list[str]:
    overrides = list(args.set)
    for flag, key in _SHORTCUTS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f'{key}="{value}"' if isinstance(value, str) else f"{key}={value}")
    if args.deterministic:
        overrides.append("deterministic=true")
    if args.jit:
        overrides.append("jit=true")
    return overrides


def resolve_config(args):
    """``(config, data_dir)`` of parsed arguments: a preset with overrides, or a run to resume
    (its saved config with overrides; its recorded data unless ``--data``)."""
    from keras_gans import runs
    from keras_gans.training import config as config_lib

    overrides = _overrides(args)
    if args.resume and not args.preset:
        run_dir = runs.resolve(args.resume, args.runs_dir)
        config = config_lib.TrainConfig.from_dict(runs.read_config(run_dir))
        for assignment in overrides:
            config = config_lib.apply_override(config, assignment)
        return config, args.data or runs.read_info(run_dir).get("data_dir")
    if not args.preset:
        raise UsageError("--preset is required (or --resume RUN_DIR); see --list-presets")
    return config_lib.resolve(args.preset, overrides), args.data


def run(args) -> int:
    from keras_gans.training import config as config_lib

    if args.list_presets:
        for name, text in config_lib.list_presets().items():
            print(f"{name:<24} {text}")
        return 0
    config, data_dir = resolve_config(args)
    if args.dry_run:
        print(config.to_json(), end="")
        return 0
    if not data_dir:
        raise UsageError("--data DATA_DIR is required (a folder written by `keras-gans prepare`)")
    quiet_tensorflow()
    from keras_gans.training.callbacks import TrainingDiverged
    from keras_gans.training.loop import train

    try:
        train(config, data_dir, runs_dir=args.runs_dir, resume=args.resume)
    except TrainingDiverged as e:
        print(f"keras-gans train: {e}", file=sys.stderr)
        return 1
    return 0
