"""``keras-gans prepare``: the Beam pipeline from an image source to sharded TFRecords.

Stages (each labelled in the Beam graph)::

    Source (list in the driver, read lazily in workers)
      -> Process: read, decode, validate, orient, convert, square, resize, encode, tf.Example;
         hash-based split and shard; rejects to a dead-letter output with path and reason
      -> WritePieces: each bundle streams its records into per-(split, shard) piece files
      -> GroupByKey of piece *names* (never of images) -> MergeShards: concatenate the pieces
         of each shard into ``{split}-SSSSS-of-NNNNN.tfrecord[.gz]``
      -> stats (exact counts per shard and per reject reason, content hash) as small files
    then the driver moves the shards into place and writes ``dataset.json`` last, atomically.

Why not ``WriteToTFRecord(num_shards=N)``: a fixed shard count makes Beam group every record by
shard, and the local runner holds a GroupByKey in memory, so memory would grow with the dataset.
Grouping only the piece file names keeps the pipeline streaming on every runner.

Splits are deterministic: ``sha256(key)`` picks the split (``--val-fraction``) and the shard, so a
re-run over the same inputs puts every image in the same split and shard.

Exit codes: 0 success (also: skipped because unchanged), 2 bad usage or bad input (the reason on
stderr), 1 internal error. Bad images never fail the run; they are listed in
``rejected-*.jsonl`` and counted by reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import time
import uuid
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows

import keras_gans
from keras_gans import fileio, manifest as manifest_lib, records
from keras_gans.errors import UsageError
from pipelines import imageproc, sources

SPLITS = ("train", "validation")
COUNTER_NAMESPACE = "keras_gans.prepare"
_PIECES = "pieces"
_STATS = "_stats"


# --- options -------------------------------------------------------------------------------
@dataclasses.dataclass
class PrepareOptions:
    """What ``prepare`` does (``keras-gans prepare`` flags; Beam's own options are separate).

    Args:
        source: folder or glob of images (local, gs://, s3://...), ``mnist``,
            ``fashion_mnist[:train|test]``, ``tfds:NAME[:SPLIT]``, or the bundled pairs
            ``edges2digits`` / ``edges2fashion[:train|test]``.
        out: output folder (local or any Beam filesystem URL).
        resolution: output side in pixels.
        channels: 3 = RGB, 1 = grayscale; None: 1 for mnist/fashion_mnist and the bundled edge
            pairs, else 3. For paired sources: the target image's (see condition_channels).
        labels: none | folders (sub-folder names) | FILE (CSV ``path,label`` or JSON
            ``{path: label}``); auto = the dataset's own labels for bundled/TFDS sources, none
            for files.
        crop: center (center-crop to a square) or pad (pad with black).
        encoding: raw uint8 (fastest to read) or png (smaller).
        resize_filter: resampling filter (``imageproc.RESIZE_FILTERS``; antialiased downscaling).
        compression: TFRecord compression, none or gzip.
        shards, val_shards: shards of the train and validation splits.
        val_fraction: fraction of inputs (by key hash) in the validation split; 0 = none.
        min_size: reject inputs smaller than this side.
        max_pixels: reject inputs with more pixels (decompression-bomb guard).
        max_aspect: reject inputs more elongated than this.
        tfds_data_dir: TFDS data_dir for tfds: sources.
        pairs: paired image files (image-to-image datasets): ``ab`` (pix2pix's A|B side by side
            in one file) or ``folders`` (``SOURCE/A/`` and ``SOURCE/B/`` matched by relative
            path). The bundled ``edges2digits`` / ``edges2fashion`` are paired without it.
        direction: paired sources only: ``AtoB`` (default: A is the condition, B the target) or
            ``BtoA``.
        condition_channels: paired sources only: channels of the condition image, 3 or 1;
            None: 1 for the bundled edge pairs, else 3.
        workers: local worker processes (local runner only; > 1 uses multi_processing).
        overwrite: replace an existing dataset in ``out`` (only our files are touched).
        skip_if_unchanged: do nothing when ``out`` holds a dataset with the same input
            fingerprint (scheduled runs).
    """

    source: str
    out: str
    resolution: int
    channels: int | None = None
    labels: str = "auto"
    crop: str = "center"
    encoding: str = "raw"
    resize_filter: str = "lanczos"
    compression: str = "none"
    shards: int = 4
    val_shards: int = 1
    val_fraction: float = 0.1
    min_size: int = 8
    max_pixels: int = 50_000_000
    max_aspect: float = 4.0
    tfds_data_dir: str | None = None
    pairs: str | None = None
    direction: str | None = None
    condition_channels: int | None = None
    workers: int = 1
    overwrite: bool = False
    skip_if_unchanged: bool = False

    CHOICES = {"channels": (None, 1, 3), "condition_channels": (None, 1, 3),
               "pairs": (None, "ab", "folders"), "direction": (None, "AtoB", "BtoA"),
               "crop": ("center", "pad"), "encoding": ("raw", "png"),
               "resize_filter": tuple(sorted(imageproc.RESIZE_FILTERS)),
               "compression": ("none", "gzip")}
    POSITIVE = ("resolution", "shards", "val_shards", "min_size", "max_pixels", "workers")

    def __post_init__(self):
        problems = []
        for name, allowed in self.CHOICES.items():
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(map(str, allowed))}, got "
                                f"{getattr(self, name)!r}")
        for name in self.POSITIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            problems.append(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.max_aspect < 1.0:
            problems.append(f"max_aspect must be >= 1, got {self.max_aspect}")
        if not self.source or not self.out:
            problems.append("source and out are required")
        if problems:
            raise UsageError("invalid prepare options: " + "; ".join(problems))

    @classmethod
    def from_namespace(cls, args) -> "PrepareOptions":
        """The options of parsed ``keras-gans prepare`` arguments (extra attributes ignored)."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


LOCAL_RUNNER = "FnApiRunner"


def beam_options(beam_args: list[str], workers: int) -> PipelineOptions:
    """Pipeline options from the pass-through args; the local FnApiRunner unless a runner is
    named.

    Beam 2.77's DirectRunner (also the default when no runner is named) first tries the Prism
    runner, a Go binary it downloads at run time; offline that fails, leaves an empty
    ``/tmp/beam-temp*`` directory behind on every run, and falls back to the FnApiRunner. So the
    local default is the FnApiRunner itself: the same engine, no download, no leftovers (a
    ``--runner=DirectRunner`` the user names is passed through as it is)."""
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.append(f"--runner={LOCAL_RUNNER}")
    options = PipelineOptions(args)
    known = options.get_all_options(retain_unknown_options=False)
    with_unknown = options.get_all_options(retain_unknown_options=True)
    unknown = sorted(set(with_unknown) - set(known))
    stray = [a for a in args if not a.startswith("-")]
    if unknown or stray:
        raise UsageError(
            f"unrecognized arguments: {' '.join(['--' + u for u in unknown] + stray)} "
            "(neither a prepare flag nor an Apache Beam pipeline option; see --help)"
        )
    runner = str(options.get_all_options()["runner"])
    if "Direct" in runner or "FnApi" in runner:
        direct = {"direct_num_workers": workers,
                  "direct_running_mode": "multi_processing" if workers > 1 else "in_memory"}
        options = PipelineOptions(args, **direct)
    elif workers != 1:
        raise UsageError("--workers applies to the local runner; size remote runners with "
                         "their own options (e.g. --max_num_workers for Dataflow)")
    return options


# --- split and shard -----------------------------------------------------------------------
def assign(key: str, val_fraction: float, num_shards: dict[str, int]) -> tuple[str, int]:
    """Deterministic (split, shard) for an input key, from sha256(key)."""
    h = hashlib.sha256(key.encode("utf-8")).digest()
    u = int.from_bytes(h[:8], "big") / 2.0**64
    split = "validation" if u < val_fraction else "train"
    return split, int.from_bytes(h[8:16], "big") % num_shards[split]


def shard_name(split: str, index: int, total: int, compression: str) -> str:
    return f"{split}-{index:05d}-of-{total:05d}.tfrecord" + (".gz" if compression == "gzip" else "")


# --- Beam transforms -----------------------------------------------------------------------
def _read(path: str) -> bytes:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except Exception as e:  # noqa: BLE001 - unreadable file: permissions, vanished
        raise imageproc.Rejected("read_error", f"{type(e).__name__}: {e}") from e


class ProcessFn(beam.DoFn):
    """Item -> ((split, shard), serialized tf.Example); rejects and digests as tagged outputs.

    Paired sources (``pairing`` set): both sides of the item become one record (``condition`` =
    A and ``image`` = B, swapped for ``direction="BtoA"``), each side processed with its own spec
    (``spec`` for the image, ``condition_spec`` for the condition); a bad side rejects the pair
    whole, the dead letter naming the side.
    """

    REJECTED = "rejected"
    DIGEST = "digest"

    def __init__(self, spec: imageproc.ImageSpec, val_fraction: float,
                 num_shards: dict[str, int], use_labels: bool,
                 pairing: dict[str, Any] | None = None,
                 condition_spec: imageproc.ImageSpec | None = None):
        self.spec = spec
        self.val_fraction = val_fraction
        self.num_shards = num_shards
        self.use_labels = use_labels
        self.pairing = pairing
        self.condition_spec = condition_spec
        if pairing is not None and condition_spec is None:
            raise ValueError("a paired source needs a condition_spec")

    def setup(self):
        self.accepted = {s: Metrics.counter(COUNTER_NAMESPACE, f"accepted_{s}") for s in SPLITS}
        self.rejected_counters = {}

    def _reject(self, item: sources.Item, reason: str, detail: str, side: str | None = None):
        if reason not in self.rejected_counters:
            self.rejected_counters[reason] = Metrics.counter(COUNTER_NAMESPACE, f"rejected_{reason}")
        self.rejected_counters[reason].inc()
        record = {"key": item.key, "path": item.path, "reason": reason, "detail": detail}
        if self.pairing is not None:
            record.update(pair_path=item.pair_path, side=side)
        return beam.pvalue.TaggedOutput(self.REJECTED, record)

    def _single(self, item: sources.Item) -> tuple[str, bytes, None]:
        if item.path is not None:
            data = _read(item.path)
            return imageproc.digest(data), imageproc.process_bytes(data, self.spec), None
        arr = item.array
        return (imageproc.digest(repr(arr.shape).encode() + arr.tobytes()),
                imageproc.process_array(arr, self.spec), None)

    def _pair(self, item: sources.Item) -> tuple[str, bytes, bytes]:
        """(content digest, image bytes, condition bytes) of a paired item."""
        a_to_b = self.pairing["direction"] == "AtoB"
        spec_a, spec_b = (self.condition_spec, self.spec) if a_to_b else (self.spec, self.condition_spec)
        kind = self.pairing["kind"]
        if kind == "ab":
            data = imageproc._side("AB", _read, item.path)
            content = imageproc.digest(data)
            a, b = imageproc.process_ab_bytes(data, spec_a, spec_b)
        elif kind == "folders":
            data_a = imageproc._side("A", _read, item.path)
            data_b = imageproc._side("B", _read, item.pair_path)
            content = imageproc.digest(imageproc.digest(data_a).encode() + imageproc.digest(data_b).encode())
            a, b = imageproc.process_pair_bytes(data_a, data_b, spec_a, spec_b)
        elif kind in sources.BUNDLED_PAIRED:
            arr = item.array
            content = imageproc.digest(repr(arr.shape).encode() + arr.tobytes())
            a, b = imageproc.process_edges_array(arr, spec_a, spec_b)
        else:
            raise ValueError(f"unknown pairing kind {kind!r}")
        return (content, b, a) if a_to_b else (content, a, b)

    def process(self, item: sources.Item):
        label = item.label if self.use_labels else None
        if item.reject is not None:
            yield self._reject(item, *item.reject)
            return
        if label == sources.MISSING_LABEL:
            yield self._reject(item, "no_label", "the --labels mapping has no class for this input")
            return
        try:
            content, image, condition = (self._single if self.pairing is None else self._pair)(item)
        except imageproc.Rejected as r:
            yield self._reject(item, r.reason, r.detail, r.side)
            return
        except Exception as e:  # noqa: BLE001 - never let one input stop the pipeline
            yield self._reject(item, "processing_error", f"{type(e).__name__}: {e}")
            return
        split, shard = assign(item.key, self.val_fraction, self.num_shards)
        self.accepted[split].inc()
        yield beam.pvalue.TaggedOutput(self.DIGEST, content)
        yield (split, shard), records.encode_example(image, item.key, label, condition=condition)


class WritePiecesFn(beam.DoFn):
    """Streams each bundle's records into one uncompressed piece file per (split, shard).

    Records pass through a bounded shuffle buffer per piece (``buffer_records`` records or
    ``buffer_bytes``, whichever is smaller: memory stays bounded), so inputs that arrive sorted
    (by class, say) are mixed inside shards; the reader's shuffle buffer then only has to mix
    across a window, not undo a sort.
    """

    def __init__(self, pieces_dir: str, buffer_records: int = 2048, buffer_bytes: int = 64 << 20):
        self.pieces_dir = pieces_dir
        self.buffer_records = buffer_records
        self.buffer_bytes = buffer_bytes

    def start_bundle(self):
        import random

        self.open = {}
        self.rng = random.Random(uuid.uuid4().int)

    def _emit(self, entry, record: bytes):
        entry["handle"].write(records.frame_record(record))
        entry["count"] += 1

    def process(self, element):
        key, example = element
        if key not in self.open:
            split, shard = key
            path = fileio.join(self.pieces_dir, f"{split}-{shard:05d}-{uuid.uuid4().hex}.rec")
            handle = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
            self.open[key] = {"handle": handle, "path": path, "count": 0, "buffer": [], "bytes": 0}
        entry = self.open[key]
        buffer = entry["buffer"]
        buffer.append(example)
        entry["bytes"] += len(example)
        if len(buffer) >= self.buffer_records or entry["bytes"] >= self.buffer_bytes:
            i = self.rng.randrange(len(buffer))  # emit a random buffered record (streaming shuffle)
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            out = buffer.pop()
            entry["bytes"] -= len(out)
            self._emit(entry, out)

    def finish_bundle(self):
        for key, entry in self.open.items():
            self.rng.shuffle(entry["buffer"])
            for record in entry["buffer"]:
                self._emit(entry, record)
            entry["handle"].close()
            yield GlobalWindows.windowed_value((key, (entry["path"], entry["count"])))
        self.open = {}


class MergeShardFn(beam.DoFn):
    """(split, shard), [piece files] -> the final shard file; yields its stats."""

    def __init__(self, staging: str, num_shards: dict[str, int], compression: str):
        self.staging = staging
        self.num_shards = num_shards
        self.compression = compression

    def process(self, element):
        (split, shard), pieces = element
        pieces = sorted(p for p in pieces if p is not None)  # sorted: stable bytes for a given run
        name = shard_name(split, shard, self.num_shards[split], self.compression)
        path = fileio.join(self.staging, name)
        ctype = CompressionTypes.GZIP if self.compression == "gzip" else CompressionTypes.UNCOMPRESSED
        count = 0
        with FileSystems.create(path, compression_type=ctype) as out:
            for piece, n in pieces:
                with FileSystems.open(piece, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
                count += n
        FileSystems.delete([piece for piece, _ in pieces]) if pieces else None
        size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
        yield {"split": split, "shard": shard, "file": name, "num_examples": count, "bytes": size}


class ContentHashFn(beam.CombineFn):
    """Order-independent hash of all accepted inputs: sum of sha256 values mod 2**256."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, digest_hex):
        return (acc[0] + int(digest_hex, 16)) % (1 << 256), acc[1] + 1

    def merge_accumulators(self, accs):
        total, count = 0, 0
        for t, c in accs:
            total, count = (total + t) % (1 << 256), count + c
        return total, count

    def extract_output(self, acc):
        return {"content_sha256": f"{acc[0]:064x}", "count": acc[1]}


def _write_json_lines(pcoll, path: str, label: str):
    return (
        pcoll
        | f"{label}ToJson" >> beam.Map(lambda x: json.dumps(x, sort_keys=True))
        | f"{label}Write" >> beam.io.WriteToText(path, shard_name_template="", num_shards=1)
    )


def build_pipeline(pipeline, source: sources.Source, spec: imageproc.ImageSpec, *,
                   staging: str, val_fraction: float, num_shards: dict[str, int],
                   compression: str, use_labels: bool,
                   condition_spec: imageproc.ImageSpec | None = None) -> None:
    """Add the whole prepare graph to ``pipeline``; outputs land under ``staging``."""
    items = source.expand(pipeline)
    processed = items | "Process" >> beam.ParDo(
        ProcessFn(spec, val_fraction, num_shards, use_labels, source.pairing, condition_spec)
    ).with_outputs(ProcessFn.REJECTED, ProcessFn.DIGEST, main="records")

    pieces = processed.records | "WritePieces" >> beam.ParDo(WritePiecesFn(fileio.join(staging, _PIECES)))
    every_shard = pipeline | "EveryShard" >> beam.Create(
        [((split, i), None) for split, n in num_shards.items() for i in range(n)])
    shard_stats = (
        (pieces, every_shard)
        | "WithEmptyShards" >> beam.Flatten()
        | "GroupPieces" >> beam.GroupByKey()
        | "MergeShards" >> beam.ParDo(MergeShardFn(staging, num_shards, compression))
    )
    _write_json_lines(shard_stats, fileio.join(staging, _STATS, "shards.jsonl"), "ShardStats")

    rejected = processed[ProcessFn.REJECTED]
    (rejected
     | "RejectedToJson" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
     | "WriteRejected" >> beam.io.WriteToText(
         fileio.join(staging, "rejected"), file_name_suffix=".jsonl", num_shards=1))
    reasons = (rejected
               | "Reason" >> beam.Map(lambda r: r["reason"])
               | "CountReasons" >> beam.combiners.Count.PerElement()
               | "ReasonDict" >> beam.MapTuple(lambda reason, n: {"reason": reason, "count": n}))
    _write_json_lines(reasons, fileio.join(staging, _STATS, "rejected.jsonl"), "RejectStats")
    content = processed[ProcessFn.DIGEST] | "ContentHash" >> beam.CombineGlobally(ContentHashFn())
    _write_json_lines(content, fileio.join(staging, _STATS, "content.jsonl"), "ContentStats")


# --- driver --------------------------------------------------------------------------------
def _read_json_lines(path: str) -> list[dict]:
    if not fileio.exists(path):
        return []
    return [json.loads(line) for line in fileio.read_bytes(path).decode().splitlines() if line.strip()]


def _our_files(names: list[str]) -> list[str]:
    ours = ("train-", "validation-", "rejected-", ".staging-", manifest_lib.MANIFEST_NAME)
    return [n for n in names if n.startswith(ours)]


def compute_fingerprint(source: sources.Source, settings: dict[str, Any]) -> str:
    blob = json.dumps({"inputs": source.fingerprint(), "settings": settings,
                       "format_version": manifest_lib.FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare(options: PrepareOptions, beam_args: list[str] = (), log=print) -> dict[str, Any]:
    """Run the pipeline; returns a result dict (manifest, timings, status).

    ``beam_args``: Apache Beam pipeline options (``--runner=DataflowRunner --project=P ...``);
    none: the local FnApiRunner with ``options.workers`` workers.
    """
    t0 = time.time()
    source = sources.make_source(options.source, options.labels, options.tfds_data_dir,
                                 pairs=options.pairs, direction=options.direction)
    if options.condition_channels is not None and source.pairing is None:
        raise UsageError(
            f"--condition-channels applies to paired sources only (--pairs ab|folders, "
            f"{', '.join(sources.BUNDLED_PAIRED)}); --source {options.source} is single images")
    channels = options.channels or source.default_channels
    try:
        spec = imageproc.ImageSpec(
            resolution=options.resolution, channels=channels, crop=options.crop, encoding=options.encoding,
            resize_filter=options.resize_filter, min_size=options.min_size, max_pixels=options.max_pixels,
            max_aspect=options.max_aspect)
    except ValueError as e:
        raise UsageError(str(e)) from e
    condition_spec = None
    pairing = None
    if source.pairing is not None:
        condition_spec = dataclasses.replace(
            spec, channels=options.condition_channels or source.default_channels)
        pairing = dict(source.pairing)
    use_labels = source.label_names is not None and options.labels != "none"
    num_shards = {"train": options.shards}
    if options.val_fraction > 0:
        num_shards["validation"] = options.val_shards
    settings = {**vars(spec), "labels": options.labels, "val_fraction": options.val_fraction,
                "shards": num_shards, "compression": options.compression}
    if pairing is not None:
        settings.update(pairing=pairing, condition_channels=condition_spec.channels)
    fingerprint = compute_fingerprint(source, settings)
    pipeline_options = beam_options(beam_args, options.workers)

    out = options.out.rstrip("/") if fileio.is_remote(options.out) else options.out
    existing = fileio.listdir(out)
    if existing:
        old = None
        if manifest_lib.MANIFEST_NAME in existing:
            try:
                old = manifest_lib.load(out)
            except UsageError:
                old = None
        if options.skip_if_unchanged and old is not None and old.fingerprint == fingerprint:
            log(f"keras-gans prepare: {out} is up to date (fingerprint {fingerprint[:12]}); nothing to do")
            return {"status": "unchanged", "manifest": old, "seconds": time.time() - t0}
        if not options.overwrite:
            what = "a dataset" if old is not None else f"{len(existing)} entries"
            hint = (" (its input fingerprint differs)" if options.skip_if_unchanged and old is not None else "")
            raise UsageError(f"--out {out} already holds {what}{hint}; pass --overwrite to replace it")

    fileio.makedirs(out)
    staging = fileio.join(out, f".staging-{uuid.uuid4().hex[:12]}")
    fileio.makedirs(staging)
    fileio.makedirs(fileio.join(staging, _PIECES))
    fileio.makedirs(fileio.join(staging, _STATS))
    log(f"keras-gans prepare: {options.source} -> {out} ({len(num_shards)} splits, runner "
        f"{pipeline_options.get_all_options()['runner']}, {options.workers} worker(s))")
    try:
        with beam.Pipeline(options=pipeline_options) as pipeline:
            build_pipeline(pipeline, source, spec, staging=staging, val_fraction=options.val_fraction,
                           num_shards=num_shards, compression=options.compression, use_labels=use_labels,
                           condition_spec=condition_spec)
        result = pipeline.result if hasattr(pipeline, "result") else None
        shard_stats = sorted(_read_json_lines(fileio.join(staging, _STATS, "shards.jsonl")),
                             key=lambda s: (s["split"], s["shard"]))
        reasons = {r["reason"]: r["count"] for r in _read_json_lines(fileio.join(staging, _STATS, "rejected.jsonl"))}
        content = (_read_json_lines(fileio.join(staging, _STATS, "content.jsonl")) or [{}])[0]
        expected = sum(num_shards.values())
        if len(shard_stats) != expected:
            raise RuntimeError(f"pipeline produced {len(shard_stats)} shards, expected {expected}")
        rejected_files = [n for n in fileio.listdir(staging) if n.startswith("rejected-")]
        if not sum(s["num_examples"] for s in shard_stats):
            first = {}
            if rejected_files:  # its first line only: the file can be large
                with FileSystems.open(fileio.join(staging, rejected_files[0]),
                                      compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    line = f.readline().strip()
                first = json.loads(line) if line else {}
            example = (f"; e.g. {first.get('key')}: {first.get('reason')}: {first.get('detail')}"
                       if first else "")
            by_reason = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "no inputs"
            raise UsageError(
                f"no input became a record ({by_reason}){example}; nothing was written to {out}")

        # Swap in: drop the old manifest first, so no manifest ever points at missing shards.
        if existing:
            fileio.delete([fileio.join(out, manifest_lib.MANIFEST_NAME)] if fileio.exists(
                fileio.join(out, manifest_lib.MANIFEST_NAME)) else [])
            stale = [fileio.join(out, n) for n in _our_files(fileio.listdir(out))
                     if n != posix_basename(staging)]
            fileio.delete(stale)
        for name in [s["file"] for s in shard_stats] + rejected_files:
            fileio.rename(fileio.join(staging, name), fileio.join(out, name))
        splits = {
            split: manifest_lib.Split(
                num_examples=sum(s["num_examples"] for s in shard_stats if s["split"] == split),
                shards=[manifest_lib.Shard(file=s["file"], num_examples=s["num_examples"], bytes=s["bytes"])
                        for s in shard_stats if s["split"] == split])
            for split in num_shards
        }
        accepted = sum(s.num_examples for s in splits.values())
        manifest = manifest_lib.Manifest(
            resolution=spec.resolution, channels=spec.channels, encoding=spec.encoding,
            compression=options.compression, splits=splits,
            labels=list(source.label_names) if use_labels else None,
            source={**source.describe(), "argument": options.source},
            preprocessing={"crop": spec.crop, "resize_filter": spec.resize_filter,
                           "min_size": spec.min_size, "max_pixels": spec.max_pixels,
                           "max_aspect": spec.max_aspect, "val_fraction": options.val_fraction,
                           "split_rule": "sha256(key)[:8] / 2**64 < val_fraction -> validation",
                           "exif_orientation": True, "alpha": "composited onto white"},
            fingerprint=fingerprint,
            content_sha256=content.get("content_sha256", ""),
            rejected={"total": sum(reasons.values()), "by_reason": dict(sorted(reasons.items())),
                      "files": rejected_files},
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            generator=f"keras-gans {keras_gans.__version__} / apache-beam {beam.__version__}",
            condition_channels=condition_spec.channels if condition_spec is not None else 0,
            pairing=pairing or {},
        )
        manifest.save(out)
        manifest.root = out
    finally:
        fileio.delete([staging]) if not fileio.is_remote(staging) else _delete_remote_tree(staging)
    seconds = time.time() - t0
    counters = _counters(result)
    return {"status": "written", "manifest": manifest, "seconds": seconds, "accepted": accepted,
            "counters": counters, "runner": str(pipeline_options.get_all_options()["runner"])}


def posix_basename(path: str) -> str:
    return path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]


def _delete_remote_tree(prefix: str) -> None:
    try:
        found = FileSystems.match([prefix + "/**"])[0].metadata_list
        if found:
            FileSystems.delete([m.path for m in found])
    except Exception as e:  # noqa: BLE001 - leftover temp objects are harmless; say so
        logging.warning("could not clean up %s: %s", prefix, e)


def _counters(result) -> dict[str, int]:
    if result is None:
        return {}
    try:
        query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(COUNTER_NAMESPACE))
        return {c.key.metric.name: c.committed for c in query["counters"]}
    except Exception:  # noqa: BLE001 - some runners do not report committed metrics
        return {}


def summary(result: dict[str, Any]) -> str:
    """The one-screen report printed at the end of a run."""
    m: manifest_lib.Manifest = result["manifest"]
    if result["status"] == "unchanged":
        return f"dataset {m.root} is up to date; skipped"
    lines = [
        f"prepared {result['accepted']} {'pairs' if m.paired else 'images'} in {result['seconds']:.1f} s "
        f"({result['accepted'] / max(result['seconds'], 1e-9):.0f} img/s, {result['runner']})",
        f"  format      {m.resolution}x{m.resolution}x{m.channels} {m.encoding}, compression "
        f"{m.compression}, filter {m.preprocessing['resize_filter']}, crop {m.preprocessing['crop']}",
    ]
    if m.paired:
        lines.append(f"  pairs       {m.pairing['kind']}, {m.pairing['direction']}: condition "
                     f"{m.resolution}x{m.resolution}x{m.condition_channels} -> image "
                     f"{m.resolution}x{m.resolution}x{m.channels}")
    for name, split in m.splits.items():
        lines.append(f"  {name:<11} {split.num_examples:>8} examples in {len(split.shards)} shard(s)")
    if m.labels:
        shown = ", ".join(m.labels[:10]) + (f", ... ({len(m.labels)})" if len(m.labels) > 10 else "")
        lines.append(f"  labels      {m.num_classes} classes: {shown}")
    else:
        lines.append("  labels      none")
    rej = m.rejected
    if rej["total"]:
        reasons = ", ".join(f"{k} {v}" for k, v in rej["by_reason"].items())
        lines.append(f"  rejected    {rej['total']} ({reasons}) -> {', '.join(rej['files'])}")
    else:
        lines.append("  rejected    0")
    ignored = m.source.get("ignored_files")
    if ignored:
        lines.append(f"  ignored     {ignored} non-image files")
    lines.append(f"  manifest    {fileio.join(m.root, manifest_lib.MANIFEST_NAME)}")
    return "\n".join(lines)
