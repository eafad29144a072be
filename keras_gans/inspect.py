"""``keras-gans inspect``: a one-screen summary of a prepared dataset and a grid of real records.

The summary comes from the manifest alone (cheap, works on remote data); the grid reads records
through the same reader that training uses (``keras_gans.data.load_dataset``), so what it shows
is exactly what a model is fed, after decoding and scaling.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from keras_gans import fileio
from keras_gans import manifest as manifest_lib

_LINE = 100  # truncate long values to keep the summary on one screen


def _short(text: str, width: int = _LINE) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _mib(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB" if num_bytes >= 2**20 else f"{num_bytes / 1024:.1f} KiB"


def _kv(mapping: dict[str, Any]) -> str:
    parts = []
    for key, value in mapping.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def _class_names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def summarize(m: manifest_lib.Manifest) -> list[str]:
    """The manifest part of the summary, one line per item."""
    lines = [
        f"dataset     {m.root}  ({m.format} v{m.format_version})",
        f"format      {m.resolution}x{m.resolution}x{m.channels} {m.encoding}, compression "
        f"{m.compression}",
    ]
    for name, split in m.splits.items():
        size = sum(s.bytes for s in split.shards)
        per = size / split.num_examples if split.num_examples else 0
        lines.append(
            f"  {name:<10}{split.num_examples:>9} examples in {len(split.shards)} shard(s), "
            f"{_mib(size)} ({per:.0f} B/example)"
        )
    if m.labels:
        lines.append(f"labels      {m.num_classes} classes: {_short(_class_names(m.labels))}")
    else:
        lines.append("labels      none (unlabelled)")
    if m.source:
        lines.append(f"source      {_short(_kv(m.source))}")
    if m.preprocessing:
        lines.append(f"preprocess  {_short(_kv(m.preprocessing))}")
    rejected = m.rejected or {}
    total = rejected.get("total", 0)
    if total:
        reasons = ", ".join(f"{k} {v}" for k, v in rejected.get("by_reason", {}).items())
        files = ", ".join(rejected.get("files", []))
        lines.append(_short(f"rejected    {total} ({reasons})" + (f" -> {files}" if files else "")))
    else:
        lines.append("rejected    0")
    lines.append(f"fingerprint {m.fingerprint or '-'}")
    if m.content_sha256:
        lines.append(f"content     sha256 {m.content_sha256}")
    if m.created or m.generator:
        lines.append(f"created     {m.created or '-'} by {m.generator or '-'}")
    return lines


def sample_records(
    data_dir: str,
    split: str,
    per_class: int,
    max_scan: int,
    max_classes: int,
    num_unlabelled: int = 64,
) -> dict[str, Any]:
    """Read real records in file order through the reader.

    Returns ``{"images": uint8 [N, H, W, C], "row_labels": [..] | None, "cols": int,
    "scanned": int, "missing": {class: count}}``; for a labelled set the images are
    ``rows x per_class`` with blank (white) cells where a class had fewer records in the scan.
    A paired set's cells show each pair side by side: the condition (A) left of the image (B),
    ``W = 2 H``, in the channels of the wider side.
    """
    from keras_gans import data
    from keras_gans.image_grid import to_uint8

    m = manifest_lib.load(data_dir)
    labelled = m.labelled
    total = m.split(split).num_examples
    batch = max(1, min(256, total, max_scan))
    ds = data.load_dataset(
        data_dir, split, batch, shuffle=False, repeat=False, drop_remainder=False,
        with_labels=labelled,
    )
    res, ch = m.resolution, m.channels
    if m.paired:
        ch = max(ch, m.condition_channels)

    def cells_of(element) -> np.ndarray:
        images = to_uint8(element["image"].numpy())
        if not m.paired:
            return images
        condition = to_uint8(element["condition"].numpy())
        grow = lambda x: np.repeat(x, ch, axis=-1) if x.shape[-1] != ch else x  # noqa: E731
        return np.concatenate([grow(condition), grow(images)], axis=2)

    width = 2 * res if m.paired else res
    if not labelled:
        wanted = min(num_unlabelled, total, max_scan)
        found: list[np.ndarray] = []
        scanned = 0
        for element in ds:
            images = cells_of(element)
            found.append(images[: wanted - sum(len(f) for f in found)])
            scanned += len(images)
            if sum(len(f) for f in found) >= wanted or scanned >= max_scan:
                break
        images = np.concatenate(found)[:wanted]
        cols = int(np.ceil(np.sqrt(len(images))))
        return {"images": images, "row_labels": None, "cols": cols, "scanned": scanned, "missing": {}}

    classes = min(m.num_classes, max_classes)
    cells = np.full((classes, per_class, res, width, ch), 255, dtype=np.uint8)
    counts = np.zeros(classes, dtype=np.int64)
    scanned = 0
    for element in ds:
        images = cells_of(element)
        labels = element["label"].numpy()
        take = min(len(images), max_scan - scanned)
        for image, label in zip(images[:take], labels[:take]):
            if label < classes and counts[label] < per_class:
                cells[label, counts[label]] = image
                counts[label] += 1
        scanned += take
        if (counts >= per_class).all() or scanned >= max_scan:
            break
    names = m.labels[:classes]
    row_labels = [name if name == str(i) else f"{i} {name}" for i, name in enumerate(names)]
    missing = {names[i]: int(per_class - counts[i]) for i in range(classes) if counts[i] < per_class}
    return {
        "images": cells.reshape(classes * per_class, res, width, ch),
        "row_labels": row_labels,
        "cols": per_class,
        "scanned": scanned,
        "missing": missing,
    }


def inspect_dataset(
    data_dir: str,
    out_png: str | None = None,
    per_class: int = 8,
    max_scan: int = 20000,
    *,
    split: str | None = None,
    max_classes: int = 100,
) -> str:
    """Summarize a prepared dataset; optionally write a grid of real records.

    Args:
        data_dir: directory (or URL) holding ``dataset.json``.
        out_png: where to write the grid; ``None`` writes nothing and reads no records.
        per_class: images per class (one grid row per class, labelled sets).
        max_scan: read at most this many records (in file order) looking for them; an
            unlabelled set shows up to 64 images in a square-ish grid.
        split: split to draw from; default ``train`` (or the first split).
        max_classes: rows for at most this many classes (the first ones).

    Returns:
        The summary text (one screen).

    Raises:
        DataError: no manifest, inconsistent manifest, or missing/truncated shards (grid only).
    """
    from keras_gans.image_grid import save_grid

    m = manifest_lib.load(data_dir)
    lines = summarize(m)
    if out_png is not None:
        if split is None:
            split = "train" if "train" in m.splits else next(iter(m.splits))
        sample = sample_records(data_dir, split, per_class, max_scan, max_classes)
        grid = save_grid(out_png, sample["images"], cols=sample["cols"], row_labels=sample["row_labels"])
        what = (("pairs (condition | image), " if m.paired else "") + (
            f"{per_class} per class for {len(sample['row_labels'])} classes"
            if sample["row_labels"] is not None
            else f"{len(sample['images'])} images"
        ))
        lines.append(
            f"grid        {out_png} ({grid.shape[1]}x{grid.shape[0]}): {what} from the first "
            f"{sample['scanned']} {split} records"
        )
        if sample["missing"]:
            short = ", ".join(f"{k} {v}" for k, v in sample["missing"].items())
            lines.append(_short(f"            blank cells (class not found in the scan): {short}"))
    lines.append(f"manifest    {fileio.join(m.root, manifest_lib.MANIFEST_NAME)}")
    return "\n".join(lines)
