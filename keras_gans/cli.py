"""The ``keras-gans`` command: parses, dispatches, and maps errors to exit codes.

Exit codes: 0 success; 2 bad usage or bad input (one-line reason on stderr); 1 internal error.
The work itself lives in importable functions (``pipelines.prepare.prepare``,
``keras_gans.inspect.inspect_dataset``, ``keras_gans.demo.run_demo``) so tests and notebooks call
them directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from keras_gans import __version__
from keras_gans.errors import UsageError

COMMANDS = {
    "prepare": "image folder / TFDS / bundled data -> sharded TFRecords + dataset.json (Apache Beam)",
    "inspect": "print a prepared dataset's manifest and write a PNG grid of its records",
    "demo": "the whole pipeline offline on CPU: prepare the bundled MNIST digits, inspect, read",
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


HANDLERS = {"prepare": _cmd_prepare, "inspect": _cmd_inspect, "demo": _cmd_demo}


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
