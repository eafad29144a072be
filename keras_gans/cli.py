"""The ``keras-gans`` command: one table of commands, parsing, dispatch, and exit codes.

Exit codes: 0 success; 2 bad usage or bad input (one-line reason on stderr); 1 internal error;
130 interrupted. Each command is a module of ``keras_gans.commands`` with ``HELP``,
``add_arguments(parser)`` and ``run(args)``; the work lives in importable library functions
(``pipelines.prepare.prepare``, ``keras_gans.training.loop.train``, ``keras_gans.serving.export.export_run``...).
"""

from __future__ import annotations

import importlib
import sys
import traceback

from keras_gans import __version__
from keras_gans.commands import Parser, quiet_tensorflow
from keras_gans.errors import UsageError

# The one table of commands: name -> module under keras_gans.commands, in the order of --help.
COMMANDS = {
    "prepare": "prepare",
    "inspect": "inspect",
    "train": "train",
    "export": "export",
    "serve": "serve",
    "sample": "sample",
    "evaluate": "evaluate",
    "convert-weights": "convert_weights",
    "demo": "demo",
}


def command_module(name: str):
    """The module of command ``name`` (``keras_gans.commands.<module>``)."""
    return importlib.import_module(f"keras_gans.commands.{COMMANDS[name]}")


def build_parser(name: str) -> Parser:
    module = command_module(name)
    parser = Parser(prog=f"keras-gans {name}", description=module.HELP,
                    formatter_class=getattr(module, "FORMATTER", Parser().formatter_class))
    module.add_arguments(parser)
    return parser


def run_command(argv: list[str]) -> int:
    """Parse and run one command (``argv[0]`` is its name), letting ``UsageError`` and every
    other exception through: for tests and notebooks. ``main`` maps them to exit codes."""
    name, rest = argv[0], list(argv[1:])
    if name not in COMMANDS:
        raise UsageError(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    module = command_module(name)
    parser = build_parser(name)
    if getattr(module, "PASS_UNKNOWN", False):  # prepare: Beam's own pipeline options
        args, extra = parser.parse_known_args(rest)
        args.extra = extra
    else:
        args = parser.parse_args(rest)
    return module.run(args)


def _usage() -> str:
    lines = [f"usage: keras-gans {{{','.join(COMMANDS)}}} ...  (keras-gans {__version__})", ""]
    lines += [f"  {name:<15} {command_module(name).HELP}" for name in COMMANDS]
    lines += ["", "`keras-gans COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    quiet_tensorflow()
    if name not in COMMANDS:
        print(f"keras-gans: unknown command {name!r}; choose from {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    try:
        return run_command([name, *rest])
    except UsageError as e:
        print(f"keras-gans {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-gans {name}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # --help (0)
        return e.code if isinstance(e.code, int) else 2
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print(f"keras-gans {name}: internal error (the traceback above); please report it",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
