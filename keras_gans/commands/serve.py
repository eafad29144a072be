"""``keras-gans serve MODEL_BASE``: serve exported models until SIGINT/SIGTERM (exit code 0).

The work is ``keras_gans.serving.server.serve``, which also checks what parsing cannot (MODEL_BASE's
layout, both front ends disabled, ports that cannot be bound) and raises UsageError for those.
"""

from __future__ import annotations

import argparse

HELP = "serve exported models with TF Serving's REST and gRPC APIs (local server)"
FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_arguments(parser) -> None:
    from keras_gans.serving.models import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES

    parser.add_argument("model_base", metavar="MODEL_BASE",
                        help="directory of NAME/<version>/ SavedModels (`keras-gans export --out`)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (no authentication!)")
    parser.add_argument("--rest-port", type=int, default=8501, help="0: any free port; -1: no REST")
    parser.add_argument("--grpc-port", type=int, default=8500, help="0: any free port; -1: no gRPC")
    parser.add_argument("--poll-seconds", type=float, default=2.0,
                        help="re-scan for new/removed versions this often (0: load once)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="largest request body / gRPC message")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                        help="most rows (images) per request")


def run(args) -> int:
    import logging

    import tensorflow  # noqa: F401 - import before the server's loader thread does (import lock)

    from keras_gans.serving.server import serve

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.model_base, host=args.host, rest_port=args.rest_port, grpc_port=args.grpc_port,
          poll_seconds=args.poll_seconds, max_body_bytes=args.max_body_bytes,
          max_batch=args.max_batch)
    return 0
