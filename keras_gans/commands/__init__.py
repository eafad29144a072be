"""The command layer: one module per ``keras-gans`` command.

Each module has ``HELP`` (one line for ``keras-gans --help``), ``add_arguments(parser)`` and
``run(args) -> int``; ``keras_gans.cli`` holds the one table that names them. Command modules
parse, load what the command needs (runs, exports, datasets) and call the library; the work
itself lives in importable functions, so tests and notebooks call those directly. Heavy imports
(TensorFlow, Beam) happen inside ``run``, so ``keras-gans --help`` stays fast.
"""

from __future__ import annotations

import argparse

from keras_gans.errors import UsageError


class Parser(argparse.ArgumentParser):
    """The one argument parser of every command: bad usage raises ``UsageError`` (exit code 2
    with a one-line reason naming the usage) instead of printing and exiting."""

    def error(self, message):
        usage = " ".join(self.format_usage().split())  # one line, however argparse wrapped it
        if usage.startswith("usage: "):
            usage = usage[len("usage: "):]
        raise UsageError(f"{message} (usage: {usage})")


def quiet_tensorflow() -> None:
    """TensorFlow's C++ INFO/WARNING lines off unless the user asked for them."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
