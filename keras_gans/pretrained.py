"""Shared plumbing of pretrained weights: the cache location, and the converters' common steps.

Every converted file (FID Inception, EfficientNet-Lite, LPIPS) lives in one cache,
``$KERAS_GANS_HOME`` or ``~/.cache/keras_gans``; the converters (``keras-gans
convert-weights``) import torch only when they run and write Keras ``.weights.h5`` files.
"""

from __future__ import annotations

import os

from keras_gans.errors import UsageError


def weights_home() -> str:
    """``$KERAS_GANS_HOME``, else ``~/.cache/keras_gans``."""
    return os.environ.get("KERAS_GANS_HOME") or os.path.join(os.path.expanduser("~"), ".cache",
                                                             "keras_gans")


def cache_path(filename: str) -> str:
    """Where a converted weights file lives by default."""
    return os.path.join(weights_home(), filename)


def require_torch(message: str):
    """``import torch``, or a ``UsageError`` carrying ``message`` (what needs it and how to
    install it)."""
    try:
        import torch
    except ImportError as e:
        raise UsageError(message) from e
    return torch


def check_weights_path(out_path) -> str:
    """``out_path`` with ``~`` expanded; it must name a Keras ``.weights.h5`` file."""
    out_path = os.path.expanduser(os.fspath(out_path))
    if not out_path.endswith(".weights.h5"):
        raise UsageError(f"--out must end with .weights.h5 (a Keras weights file), got {out_path}")
    return out_path


def save_weights(model, out_path: str) -> None:
    """``model.save_weights(out_path)``, creating its directory."""
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    model.save_weights(out_path)
