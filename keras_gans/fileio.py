"""Tiny filesystem helpers: local paths through ``os``; ``gs://``, ``s3://``... through Beam.

Beam's ``FileSystems`` supports every filesystem a Beam runner can write to, so the manifest
and the pipeline's outputs work on the same URLs. Local paths avoid importing Beam at all.
"""

from __future__ import annotations

import os
import posixpath
import uuid


def is_remote(path: str) -> bool:
    return "://" in path


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(base, *parts)


def _fs():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def exists(path: str) -> bool:
    return _fs().exists(path) if is_remote(path) else os.path.exists(path)


def size(path: str) -> int:
    if is_remote(path):
        return _fs().match([path])[0].metadata_list[0].size_in_bytes
    return os.path.getsize(path)


def read_bytes(path: str) -> bytes:
    if is_remote(path):
        with _fs().open(path) as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write to a temporary sibling, then rename over ``path`` (readers see old or new, never half)."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    if is_remote(path):
        fs = _fs()
        with fs.create(tmp) as f:
            f.write(data)
        if fs.exists(path):
            fs.delete([path])
        fs.rename([tmp], [path])
        return
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def listdir(path: str) -> list[str]:
    """Names (not paths) directly inside a directory; [] when it does not exist."""
    if is_remote(path):
        fs = _fs()
        pattern = posixpath.join(path, "*")
        try:
            found = fs.match([pattern])[0].metadata_list
        except Exception:  # noqa: BLE001 - Beam raises BeamIOError for "no match"
            return []
        return sorted(posixpath.basename(m.path.rstrip("/")) for m in found)
    if not os.path.isdir(path):
        return []
    return sorted(os.listdir(path))


def makedirs(path: str) -> None:
    if not is_remote(path):  # object stores have no directories
        os.makedirs(path, exist_ok=True)


def delete(paths: list[str]) -> None:
    if not paths:
        return
    if is_remote(paths[0]):
        _fs().delete(paths)
        return
    import shutil

    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)


def rename(src: str, dst: str) -> None:
    if is_remote(src):
        _fs().rename([src], [dst])
    else:
        os.replace(src, dst)
