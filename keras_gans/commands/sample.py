"""``keras-gans sample --server URL --model NAME --num N --out grid.png``: ask a model server
(``keras-gans serve`` or TF Serving) for images through the ``sample`` signature and write them
as a PNG grid; prints the PNG's path.

The work is ``keras_gans.serving.client.Client.sample`` and ``keras_gans.image_grid.save_grid``.
A refusal by the server (unknown model or version, bad input: a 4xx / client-error status) or an
unreachable one is a usage error (exit code 2 with the server's message); a server fault is not.
"""

from __future__ import annotations

import argparse

from keras_gans.errors import UsageError

HELP = "request samples from TF Serving or `keras-gans serve` and write a PNG grid"
FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_arguments(parser) -> None:
    parser.add_argument("--server", required=True,
                        help="http://HOST:8501 (REST) or HOST:8500 (with --protocol grpc)")
    parser.add_argument("--model", required=True, help="model name on the server")
    parser.add_argument("--num", type=int, required=True, help="number of images")
    parser.add_argument("--out", required=True, help="PNG grid to write")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same images")
    parser.add_argument("--class-id", type=int, default=None,
                        help="class of every image (conditional models; default: random classes)")
    parser.add_argument("--truncation", type=float, default=0.0,
                        help="resample latent components beyond this (BigGAN's trick; 0: off)")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    parser.add_argument("--version", default=None,
                        help="model version number or label (default: latest)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the server")


def run(args) -> int:
    if args.num < 1:
        raise UsageError("--num must be >= 1")
    from keras_gans.image_grid import save_grid
    from keras_gans.serving.client import Client, ServingError

    try:
        client = Client(args.server, protocol=args.protocol, timeout=args.timeout)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        images, _ = client.sample(args.model, args.num, seed=args.seed, truncation=args.truncation,
                                  class_id=args.class_id, version=args.version)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except ServingError as e:
        if e.status is None or e.is_client_error or e.code == "UNAVAILABLE":
            raise UsageError(f"{args.server}: {e}") from None
        raise
    finally:
        client.close()
    save_grid(args.out, images)
    print(args.out)
    return 0
