"""``dataset.json``: the one description of a prepared dataset that the reader trusts.

Written last and atomically by the Beam pipeline (``pipelines.prepare``), so a manifest never
points at missing or partial shards. Fields:

- ``resolution``, ``channels`` (1 or 3), ``encoding`` (``raw`` | ``png``), ``compression``
  (``none`` | ``gzip``): how to decode a record (see ``keras_gans.records``).
- ``splits``: ``{name: {"num_examples": int, "shards": [{"file", "num_examples", "bytes"}]}}``
  with exact counts; ``bytes`` lets the reader detect a truncated or replaced shard cheaply.
- ``labels``: class names in label-index order, or ``null`` for an unlabelled set.
- ``source``, ``preprocessing``: what was read and how it was processed (the ``prepare`` args).
- ``fingerprint``: sha256 of the input listing (paths, sizes, mtimes) and the arguments, used by
  ``--skip-if-unchanged``; ``content_sha256``: an order-independent hash of every accepted
  input's bytes, computed by the pipeline.
- ``rejected``: total, counts by reason, and the ``rejected-*.jsonl`` dead-letter files.
- ``condition_channels`` (0, 1 or 3) and ``pairing``: a paired (image-to-image) dataset stores a
  condition image beside each target image (feature ``condition``, same resolution and encoding
  as ``image``, ``condition_channels`` channels); ``pairing`` says how the pairs were made:
  ``{"kind": "ab" | "folders" | "edges2digits" | "edges2fashion", "direction": "AtoB" | "BtoA",
  ...}`` (``edge_detector`` for the derived kinds). ``condition_channels == 0`` (and an empty
  ``pairing``) is a single-image dataset; manifests written before pairs existed have neither
  field and load as such.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from keras_gans import fileio
from keras_gans.errors import DataError

MANIFEST_NAME = "dataset.json"
FORMAT = "keras-gans-dataset"
FORMAT_VERSION = 1


@dataclasses.dataclass
class Shard:
    file: str
    num_examples: int
    bytes: int


@dataclasses.dataclass
class Split:
    num_examples: int
    shards: list[Shard]


@dataclasses.dataclass
class Manifest:
    resolution: int
    channels: int
    encoding: str
    compression: str
    splits: dict[str, Split]
    labels: list[str] | None = None
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    preprocessing: dict[str, Any] = dataclasses.field(default_factory=dict)
    fingerprint: str = ""
    content_sha256: str = ""
    rejected: dict[str, Any] = dataclasses.field(default_factory=dict)
    created: str = ""
    generator: str = ""
    condition_channels: int = 0
    pairing: dict[str, Any] = dataclasses.field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    # Directory the manifest was loaded from (not serialized).
    root: str = dataclasses.field(default="", compare=False, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.labels) if self.labels else 0

    @property
    def labelled(self) -> bool:
        return bool(self.labels)

    @property
    def paired(self) -> bool:
        """True for an image-to-image dataset (records hold a ``condition`` image)."""
        return self.condition_channels > 0

    @property
    def record_bytes(self) -> int:
        """Size of one raw-encoded image."""
        return self.resolution * self.resolution * self.channels

    @property
    def condition_record_bytes(self) -> int:
        """Size of one raw-encoded condition image (0 for a single-image dataset)."""
        return self.resolution * self.resolution * self.condition_channels

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise DataError(
                f"split {name!r} is not in {fileio.join(self.root, MANIFEST_NAME)}; "
                f"it has {sorted(self.splits)}"
            )
        return self.splits[name]

    def shard_paths(self, split: str) -> list[str]:
        return [fileio.join(self.root, s.file) for s in self.split(split).shards]

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("root")
        data["num_classes"] = self.num_classes
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    def save(self, directory: str) -> str:
        path = fileio.join(directory, MANIFEST_NAME)
        fileio.write_bytes_atomic(path, self.to_json().encode())
        return path

    def check_shards(self, split: str) -> None:
        """Raise DataError unless every shard of ``split`` exists with the size recorded."""
        for shard in self.split(split).shards:
            path = fileio.join(self.root, shard.file)
            if not fileio.exists(path):
                raise DataError(
                    f"shard {path} listed in the manifest is missing: the dataset is incomplete; "
                    "re-run `keras-gans prepare ... --overwrite`"
                )
            actual = fileio.size(path)
            if actual != shard.bytes:
                raise DataError(
                    f"shard {path} has {actual} bytes but the manifest records {shard.bytes}: "
                    "it was truncated or replaced; re-run `keras-gans prepare ... --overwrite`"
                )


def load(data_dir: str) -> Manifest:
    """Load and validate ``DATA_DIR/dataset.json``; raises DataError with what to do."""
    path = fileio.join(data_dir, MANIFEST_NAME)
    if not fileio.exists(path):
        raise DataError(
            f"no {MANIFEST_NAME} in {data_dir}: not a prepared dataset (or its preparation did not "
            "finish); create one with `keras-gans prepare --source ... --out "
            f"{data_dir} --resolution N`"
        )
    try:
        raw = json.loads(fileio.read_bytes(path))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); re-run `keras-gans prepare`") from e
    if raw.get("format") != FORMAT:
        raise DataError(f"{path} is not a keras-gans dataset manifest (format={raw.get('format')!r})")
    if raw.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(
            f"{path} has format_version {raw['format_version']}, newer than this keras-gans "
            f"understands ({FORMAT_VERSION}); upgrade keras-gans"
        )
    raw.pop("num_classes", None)
    try:
        raw["splits"] = {
            name: Split(
                num_examples=int(s["num_examples"]),
                shards=[Shard(**shard) for shard in s["shards"]],
            )
            for name, s in raw["splits"].items()
        }
        known = {f.name for f in dataclasses.fields(Manifest)}
        manifest = Manifest(**{k: v for k, v in raw.items() if k in known})
    except (KeyError, TypeError) as e:
        raise DataError(f"{path} is missing or has malformed fields ({e}); re-run `keras-gans prepare`") from e
    manifest.root = data_dir
    problems = []
    if manifest.encoding not in ("raw", "png"):
        problems.append(f"encoding {manifest.encoding!r}")
    if manifest.compression not in ("none", "gzip"):
        problems.append(f"compression {manifest.compression!r}")
    if manifest.channels not in (1, 3):
        problems.append(f"channels {manifest.channels!r}")
    if manifest.resolution < 1:
        problems.append(f"resolution {manifest.resolution!r}")
    if manifest.condition_channels not in (0, 1, 3):
        problems.append(f"condition_channels {manifest.condition_channels!r}")
    if not isinstance(manifest.pairing, dict):
        problems.append(f"pairing {manifest.pairing!r} (expected an object)")
    elif manifest.paired and not manifest.pairing.get("kind"):
        problems.append("a paired dataset (condition_channels > 0) without pairing.kind")
    for name, split in manifest.splits.items():
        if sum(s.num_examples for s in split.shards) != split.num_examples:
            problems.append(f"split {name}: shard counts do not add up to {split.num_examples}")
    if problems:
        raise DataError(f"{path} is inconsistent: {'; '.join(problems)}; re-run `keras-gans prepare`")
    return manifest
