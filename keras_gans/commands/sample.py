"""``keras-gans sample``: look at a model. Writes a PNG (and, for interpolations, an animation)
and prints the paths.

Where the model is (exactly one):

- ``--server URL --model NAME [--version V] [--protocol rest|grpc]``: a running ``keras-gans
  serve`` or TF Serving, through the ``sample`` and ``serving_default`` signatures;
- ``--export MODEL_BASE/NAME[/VERSION]``: an export loaded in-process (the same signatures);
- ``--run RUN_DIR``: a training run's EMA generator in-process (also ``--scales``,
  ``--psi-sweep`` and class-embedding interpolation, which the exports do not expose).

What to draw (at most one; default: ``--num`` samples from ``--seed``):

- ``--interpolate A,B[,C...] --frames N``: slerp between the seeds' latents (a strip; add
  ``--animation out.gif|.webp|.mp4``); ``--interpolate-classes A,B`` also (or, alone, at
  ``--seed``) moves the class embedding from A to B where the model has one, else shows both ends;
- ``--truncation-sweep 0.2,0.5,1,2``: one row per truncation (``--psi-sweep`` for MSG-StyleGAN's w);
- ``--class-grid [IDS]``: one row per class;
- ``--condition IN.png [IN2.png ...] --num N`` (image-conditioned models, e.g. Pix2Pix-MS): one
  row per input image, the input first, then N diverse outputs (MSGAN's figure). The files are
  sent as they are (``sample_png``; base64 over REST): a file that is not a PNG of the model's
  condition size and channels is refused, naming what the model expects.

The work is ``keras_gans.explore``; the PNG's text chunk (key ``keras-gans``) records the model,
version, seeds and arguments that reproduce it. Bad seeds, frames, classes or combinations, a
refusal by the server or an unreachable one are usage errors (exit code 2); a server fault is not.
"""

from __future__ import annotations

import argparse

from keras_gans import runs
from keras_gans.errors import UsageError

HELP = "look at a model: samples, interpolations, truncation sweeps and class grids as PNGs / animations"
FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_arguments(parser) -> None:
    where = parser.add_argument_group("the model (exactly one of --server, --export, --run)")
    where.add_argument("--server", default=None,
                       help="http://HOST:8501 (REST) or HOST:8500 (with --protocol grpc)")
    where.add_argument("--model", default=None, help="model name on the server")
    where.add_argument("--version", default=None,
                       help="model version number or label on the server (default: latest)")
    where.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    where.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the server")
    where.add_argument("--export", default=None, metavar="MODEL_BASE/NAME[/VERSION]",
                       help="an export, loaded in-process (newest version unless given)")
    where.add_argument("--run", default=None, metavar="RUN_DIR",
                       help="a training run's EMA generator, in-process ('latest': the newest "
                            "run in ./runs)")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--num", type=int, default=None,
                        help="images (plain samples: required), or images per row of a sweep (8)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same images")
    parser.add_argument("--class-id", type=int, default=None,
                        help="class of every image (conditional models; default: random classes)")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="class count of a served model, for --class-grid without ids (the "
                             "serving API does not say it)")
    parser.add_argument("--truncation", type=float, default=0.0,
                        help="resample latent components beyond this (BigGAN's trick; 0: off)")
    what = parser.add_argument_group("pictures (at most one; default: --num samples)")
    what.add_argument("--interpolate", default=None, metavar="SEED_A,SEED_B[,...]",
                      help="spherical interpolation of z between these seeds' latents")
    what.add_argument("--interpolate-classes", default=None, metavar="A,B",
                      help="interpolate the class embedding from A to B (where the model has one; "
                           "else both ends are shown)")
    what.add_argument("--frames", type=int, default=8,
                      help="frames per interpolation leg, both ends included")
    what.add_argument("--animation", default=None, metavar="OUT.gif|.webp|.mp4",
                      help="also write the interpolation as a looping animation (MP4 needs "
                           "imageio-ffmpeg)")
    what.add_argument("--fps", type=float, default=12.0, help="animation frames per second")
    what.add_argument("--truncation-sweep", default=None, metavar="V1,V2,...",
                      help="one row per truncation value (0: none)")
    what.add_argument("--psi-sweep", default=None, metavar="PSI1,PSI2,...",
                      help="MSG-StyleGAN run directories: one row per w truncation psi (1: none)")
    what.add_argument("--class-grid", nargs="?", const="all", default=None, metavar="IDS",
                      help="one row per class: all classes, or ids like 0,3,5 or 0-9")
    parser.add_argument("--scales", action="store_true",
                        help="--run of a multi-scale generator: every scale side by side")
    what.add_argument("--condition", nargs="+", default=None, metavar="IMAGE.png",
                      help="image-conditioned models: condition images (PNG, the model's size "
                           "and channels); one row each: the input, then --num outputs (8)")
    parser.add_argument("--zoom", type=int, default=1, help="integer nearest-neighbour upscaling")


def _arguments(args) -> dict:
    skip = {"out", "timeout", "func"} | ({"animation", "fps"} if not args.animation else set())
    if not args.server:
        skip |= {"protocol"}
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip and v not in (None, False)}


def run(args) -> int:
    from keras_gans import explore

    picks = [k for k in ("interpolate", "truncation_sweep", "psi_sweep", "class_grid", "condition")
             if getattr(args, k) is not None]
    if len(picks) > 1:
        raise UsageError("choose one of --interpolate, --truncation-sweep, --psi-sweep, "
                         "--class-grid, --condition "
                         f"(got {', '.join('--' + p.replace('_', '-') for p in picks)})")
    if args.condition is not None:
        for flag, value in (("--class-id", args.class_id), ("--interpolate-classes", args.interpolate_classes),
                            ("--animation", args.animation), ("--num-classes", args.num_classes)):
            if value is not None:
                raise UsageError(f"{flag} does not go with --condition (image-conditioned models "
                                 "take condition images, not classes)")
        if args.truncation:
            raise UsageError("--truncation does not go with --condition: the image-conditioned "
                             "exports sample z ~ N(0, I)")
    if args.interpolate_classes is not None and picks and picks != ["interpolate"]:
        raise UsageError("--interpolate-classes goes alone or with --interpolate")
    if args.animation and not (args.interpolate or args.interpolate_classes):
        raise UsageError("--animation goes with --interpolate or --interpolate-classes")
    if args.animation:
        import os

        from keras_gans.image_grid import ANIMATION_FORMATS

        if os.path.splitext(args.animation)[1].lower() not in ANIMATION_FORMATS:
            raise UsageError(f"--animation {args.animation}: the name must end in one of "
                             f"{', '.join(ANIMATION_FORMATS)}")
    if args.zoom < 1:
        raise UsageError(f"--zoom {args.zoom}: must be >= 1")
    if args.truncation < 0:
        raise UsageError(f"--truncation {args.truncation}: must be >= 0 (0: none)")
    if args.frames < 2:
        raise UsageError(f"--frames {args.frames}: an interpolation needs at least 2 frames")
    if args.num is not None and args.num < 1:
        raise UsageError(f"--num must be >= 1 (got {args.num})")
    if not picks and args.interpolate_classes is None and args.num is None:
        raise UsageError("--num is required for plain samples (or pick a picture: --interpolate, "
                         "--truncation-sweep, --class-grid)")
    # Parse everything before loading anything.
    seeds = explore.parse_ints(args.interpolate, "--interpolate", at_least=2) if args.interpolate else None
    classes = (explore.parse_ints(args.interpolate_classes, "--interpolate-classes", minimum=0)
               if args.interpolate_classes else None)
    if classes is not None and len(classes) != 2:
        raise UsageError(f"--interpolate-classes {args.interpolate_classes!r}: give two class ids, A,B")
    sweep = (explore.parse_floats(args.truncation_sweep, "--truncation-sweep")
             if args.truncation_sweep else None)
    psis = explore.parse_floats(args.psi_sweep, "--psi-sweep") if args.psi_sweep else None
    grid_classes = None
    if args.class_grid not in (None, "all"):
        grid_classes = explore.parse_ints(args.class_grid, "--class-grid", minimum=0)
    if args.class_id is not None and args.class_id < 0:
        raise UsageError(f"--class-id {args.class_id}: class ids are >= 0 (leave it out for random classes)")

    conditions = _read_conditions(args.condition) if args.condition is not None else None
    run = runs.resolve(args.run) if args.run is not None else None  # "latest": the newest in runs/
    source = explore.open_source(server=args.server, model=args.model, export=args.export, run=run,
                                 protocol=args.protocol, version=args.version, timeout=args.timeout,
                                 scales=args.scales, num_classes=args.num_classes)
    try:
        num = args.num or 8
        if conditions is not None:
            picture = explore.condition_grid(source, conditions, args.seed, num)
        elif seeds is not None:
            picture = explore.interpolation(source, seeds, args.frames, args.truncation, args.class_id,
                                            classes=classes)
        elif classes is not None:
            picture = explore.class_interpolation(source, args.seed, classes, args.frames,
                                                  args.truncation)
        elif sweep is not None:
            picture = explore.truncation_sweep(source, sweep, args.seed, num, args.class_id)
        elif psis is not None:
            picture = explore.truncation_sweep(source, psis, args.seed, num, args.class_id, psi=True)
        elif args.class_grid is not None:
            picture = explore.class_grid(source, args.seed, num, grid_classes, args.truncation)
        else:
            picture = explore.grid(source, args.seed, args.num, args.truncation, args.class_id)
    finally:
        source.close()
    explore.save_picture(args.out, picture, zoom=args.zoom, arguments=_arguments(args))
    print(args.out)
    if args.animation:
        explore.save_animation(args.animation, picture, zoom=args.zoom, fps=args.fps)
        print(args.animation)
    return 0


def _read_conditions(paths) -> list:
    """``[(file name, bytes)]`` of the --condition files (their content is checked by the model:
    PNG, size, channels)."""
    import os

    out = []
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"--condition {path}: no such file")
        with open(path, "rb") as f:
            out.append((os.path.basename(path), f.read()))
    return out
