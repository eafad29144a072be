"""``keras-gans demo``: the whole pipeline offline on CPU (``keras_gans.demo.run_demo``)."""

from __future__ import annotations

from keras_gans.commands import quiet_tensorflow

HELP = "the whole pipeline offline on CPU: prepare, train, export, serve, sample"


def add_arguments(parser) -> None:
    parser.add_argument("--workdir", default="demo", help="where data, runs and outputs go")


def run(args) -> int:
    quiet_tensorflow()
    from keras_gans.demo import run_demo

    run_demo(args.workdir)
    return 0
