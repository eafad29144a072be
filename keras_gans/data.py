"""tf.data reader for datasets prepared by ``keras-gans prepare`` (see ``keras_gans.manifest``).

Element format. ``load_dataset`` yields dicts of batched tensors:

- ``"image"``: ``float32 [B, H, W, C]`` in ``[-1, 1]`` (``pixel / 127.5 - 1``), at the manifest's
  resolution or at a lower ``resolution`` made by average pooling (a box filter).
- ``"condition"``: paired (image-to-image) datasets only (``manifest.paired``): the condition
  image (pix2pix's A; ``"image"`` is the target B), ``float32 [B, H, W, condition_channels]`` in
  ``[-1, 1]``, decoded, jittered, flipped and downsampled exactly as ``"image"`` (the same
  window and the same flip for both).
- ``"label"``: ``int32 [B]`` class indices into ``manifest.labels``; present when the dataset is
  labelled, unless ``with_labels=False``.
- ``"pyramid"``: with ``pyramid_min_resolution=r``, a tuple of ``float32`` images at
  ``r, 2r, ..., H`` (ascending; the last element is ``"image"`` itself), each level the 2x2
  average pool of the next (the box filter of ProGAN's ``dataset_tool.py``; unlike that tool the
  lower levels are not rounded to uint8). For ProGAN / MSG-GAN.
- ``"key"``: ``string [B]`` source ids of the images, with ``with_keys=True`` (debugging, tests).

Pipeline (one per input pipeline of a ``tf.distribute`` strategy)::

    manifest shard list -> [shard files across pipelines] -> [seeded file-order shuffle]
      -> parallel interleave of TFRecordDatasets -> [shard records across pipelines]
      -> shuffle(buffer), one seed per epoch, epochs chained -> [skip to start_example]
      -> batch(per-replica batch)
      -> parse_example + decode -> [jitter] -> flip -> [-1, 1] -> [downsample] -> [pyramid]
      -> prefetch

``jitter_load_size=L`` is pix2pix's "resize_and_crop" augmentation (``jitter``): each image is
resized to ``L x L`` (bicubic) and a random ``R x R`` window cropped back out, the same window
for the image and its condition, before the flip (the official order).

Records are parsed a whole batch at a time (``tf.io.parse_example``), measured 5x faster than
per-record parsing for 32x32 raw images. Raw images decode with one ``tf.io.decode_raw`` per
batch; small PNGs with a ``map_fn`` over the batch; large PNGs (above
``PNG_BATCH_DECODE_MAX_BYTES`` decoded) are parsed and decoded per record in a parallel map
before batching, which spreads ``decode_png`` over the cores better. Nothing is cached: the
reader streams, so datasets larger than RAM work; the shuffle buffer holds serialized records and
is capped in bytes (``shuffle_buffer_bytes``).

Determinism. With a ``seed`` the element order and the flips are a pure function of the seed,
the manifest and the per-replica batch size: interleave runs in deterministic mode with a fixed
cycle length (not one that depends on the core count), and the flips of the n-th batch come from
a stateless RNG keyed by ``(seed, n)``, so parallelism does not change the output. Without a seed
the shuffles and flips draw fresh randomness and the parallel stages may reorder elements for
speed (``deterministic=True`` keeps their order; ``shuffle=False`` implies it, giving the
manifest's shard-interleaved order).

Corruption. ``load_dataset`` checks, before building anything, that every shard exists with the
byte size the manifest records. A record of the wrong size fails at iteration time with an
``InvalidArgumentError`` that says the dataset is corrupt; a flipped byte fails with TF's
``DataLossError`` (which does not name the file). Wrap iteration in ``translate_errors()`` to get
``DataError`` instead, and run ``verify_records`` to find the file and byte offset.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import math
import re
import secrets
import zlib
from typing import Any, Iterator

import tensorflow as tf

from keras_gans import fileio, image_grid, manifest as manifest_lib, records
from keras_gans.errors import DataError

logger = logging.getLogger(__name__)

# Marks the messages of our own runtime checks so translate_errors() can recognise them.
ERROR_MARK = "keras-gans data error"
# Interleave cycle length: fixed (not AUTOTUNE, which depends on the core count) so that a
# seeded order is the same on every machine.
MAX_CYCLE_LENGTH = 16
# Read buffer per open shard (TFRecordDataset's default is 256 KiB).
READ_BUFFER_BYTES = 1 << 20
# PNG decode strategy, measured on 2 CPU cores (img/s, batch 64): 32x32x1 per-record map 22k vs
# parse_example + map_fn over the batch 39k; 64x64x3 13k vs 17k; 128x128x3 5.6k vs 3.4k. Small
# images are dominated by per-element tf.data overhead, large ones by decode_png, which spreads
# over the cores better per record. Batch decoding up to this many decoded bytes per image.
PNG_BATCH_DECODE_MAX_BYTES = 64 * 64 * 3
# Serialized-record overhead of encode_example besides the image bytes (key, framing): an
# upper-bound estimate used only to size the shuffle buffer.
_RECORD_OVERHEAD_BYTES = 256


# --- pure TF image ops (usable inside models with the TensorFlow backend) --------------------
def downsample(images: tf.Tensor, factor: int) -> tf.Tensor:
    """Average-pool NHWC images by an integer ``factor`` (a box filter over factor x factor blocks).

    Equal to ``log2(factor)`` successive 2x2 average pools when ``factor`` is a power of two.

    Args:
        images: ``[B, H, W, C]`` tensor; integer dtypes are cast to ``float32`` first. ``H`` and
            ``W`` must be multiples of ``factor``.
        factor: positive integer pooling factor; 1 returns the (float) images unchanged.

    Returns:
        ``[B, H // factor, W // factor, C]`` floating tensor.
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        images = tf.cast(images, tf.float32)
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"downsample factor must be >= 1, got {factor}")
    if factor == 1:
        return images
    height, width = images.shape[1], images.shape[2]
    for name, size in (("height", height), ("width", width)):
        if size is not None and size % factor:
            raise ValueError(f"image {name} {size} is not a multiple of the downsample factor {factor}")
    return tf.nn.avg_pool2d(images, ksize=factor, strides=factor, padding="VALID")


def build_pyramid(images: tf.Tensor, min_resolution: int) -> tuple[tf.Tensor, ...]:
    """The multi-scale pyramid of NHWC images by repeated 2x2 average pooling.

    Args:
        images: ``[B, H, W, C]`` tensor with a static height ``H`` that is ``min_resolution``
            times a power of two; integer dtypes are cast to ``float32``.
        min_resolution: height of the smallest level.

    Returns:
        Tuple of images with heights ``min_resolution, 2 * min_resolution, ..., H``, ascending;
        the last element is ``images`` (as float).
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        images = tf.cast(images, tf.float32)
    height = images.shape[1]
    if height is None:
        raise ValueError("build_pyramid needs images with a static height")
    num_levels = _pyramid_levels(height, min_resolution)
    if num_levels is None:
        raise ValueError(
            f"pyramid minimum resolution {min_resolution} must be the image height {height} "
            "divided by a power of two"
        )
    levels = [images]
    for _ in range(num_levels - 1):
        levels.append(downsample(levels[-1], 2))
    return tuple(reversed(levels))


def _pyramid_levels(resolution: int, min_resolution: int) -> int | None:
    """Number of levels from ``min_resolution`` up to ``resolution``; None when not a 2^k ratio."""
    if min_resolution < 1 or resolution % min_resolution:
        return None
    factor = resolution // min_resolution
    if factor & (factor - 1):
        return None
    return factor.bit_length()


# --- manifest helpers -----------------------------------------------------------------------
def num_examples(data_dir: str, split: str = "train") -> int:
    """Number of examples in ``split`` as recorded in ``DATA_DIR/dataset.json``.

    Args:
        data_dir: directory (or URL) of a prepared dataset.
        split: split name, e.g. ``"train"`` or ``"validation"``.
    """
    return manifest_lib.load(data_dir).split(split).num_examples


def _derive_seed(seed: int, pipeline_id: int, stream: str) -> int:
    """Independent, stable op seeds per input pipeline and per random stream."""
    digest = hashlib.sha256(f"{seed}/{pipeline_id}/{stream}".encode()).digest()
    return int.from_bytes(digest[:7], "big")  # < 2**56: fits tf.data's int64 seeds


def _mean_record_bytes(m: manifest_lib.Manifest, split: str) -> float:
    """Rough in-memory size of one serialized record, to size the shuffle buffer."""
    if m.encoding == "raw":
        return m.record_bytes + m.condition_record_bytes + _RECORD_OVERHEAD_BYTES
    s = m.split(split)
    file_bytes = sum(shard.bytes for shard in s.shards)
    # PNG payloads hardly compress further, so file bytes per record is a fair estimate.
    return file_bytes / max(s.num_examples, 1) + _RECORD_OVERHEAD_BYTES


def _check_resolutions(
    m: manifest_lib.Manifest, resolution: int | None, pyramid_min_resolution: int | None
) -> int:
    """Validate the output and pyramid resolutions against the manifest; returns the output one."""
    out = m.resolution if resolution is None else int(resolution)
    if out > m.resolution:
        raise DataError(
            f"resolution {out} is higher than the dataset's {m.resolution} in {m.root}: the "
            f"reader only downsamples; prepare the data at {out} (`keras-gans prepare ... "
            f"--resolution {out}`)"
        )
    if _pyramid_levels(m.resolution, out) is None:
        raise DataError(
            f"resolution {out} cannot be made from the dataset's {m.resolution} by 2x2 average "
            "pooling (the ratio must be a power of two); prepare the data at "
            f"{out} or pick {m.resolution} / 2^k"
        )
    if pyramid_min_resolution is not None and _pyramid_levels(out, int(pyramid_min_resolution)) is None:
        raise DataError(
            f"pyramid_min_resolution {pyramid_min_resolution} must be the output resolution {out} "
            "divided by a power of two (e.g. 4 for 32)"
        )
    return out


# --- the reader -----------------------------------------------------------------------------
def load_dataset(
    data_dir: str,
    split: str = "train",
    global_batch_size: int = 64,
    *,
    strategy: tf.distribute.Strategy | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    repeat: bool | int = True,
    flip: bool = False,
    resolution: int | None = None,
    pyramid_min_resolution: int | None = None,
    drop_remainder: bool = True,
    shuffle_buffer: int = 10_000,
    with_labels: bool | None = None,
    deterministic: bool | None = None,
    with_keys: bool = False,
    shuffle_buffer_bytes: int = 1 << 30,
    input_options: tf.distribute.InputOptions | None = None,
    start_example: int = 0,
    jitter_load_size: int | None = None,
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """Stream a prepared dataset as batches of ``{"image", "label"?, "pyramid"?, "key"?}``.

    See the module docstring for the element format and the pipeline.

    Args:
        data_dir: directory (or URL) holding ``dataset.json`` and the shards it lists.
        split: split name from the manifest (``"train"``, ``"validation"``).
        global_batch_size: examples per step over all replicas; with a ``strategy`` each replica
            gets ``global_batch_size / num_replicas_in_sync``.
        strategy: a ``tf.distribute.Strategy``; when given, the result is a distributed dataset
            made by ``strategy.distribute_datasets_from_function`` with one pipeline per input
            worker, each sharded by ``input_pipeline_id`` (shard files when there are at least as
            many shards as pipelines, else records).
        shuffle: shuffle the shard order (each epoch) and records (through a buffer).
        seed: makes order and flips reproducible; ``None`` draws fresh randomness.
        repeat: ``True`` repeats forever, ``False`` reads one epoch, an ``int`` that many epochs.
        flip: random horizontal flips (probability 1/2, seeded by ``seed``); a paired dataset's
            image and condition flip together.
        jitter_load_size: pix2pix's random jitter: resize to this side (bicubic), then crop a
            random window of the dataset's resolution (the official facades/maps setting is 286
            for 256); the same window for image and condition, seeded like the flips. ``None``
            (default): no jitter. Must be >= the dataset's resolution.
        resolution: output resolution, the manifest's divided by a power of two (average
            pooling); ``None`` keeps the manifest's.
        pyramid_min_resolution: also return ``"pyramid"``, images from this resolution up to the
            output resolution.
        drop_remainder: drop a last partial batch (static batch shapes).
        shuffle_buffer: shuffle buffer size in records (capped by the split size and by
            ``shuffle_buffer_bytes``).
        with_labels: ``None``: labels when the dataset is labelled; ``True``: require them
            (``DataError`` on an unlabelled set); ``False``: never.
        deterministic: order determinism of the parallel stages. Default: ``True`` when a
            ``seed`` is given or ``shuffle`` is off, else ``False`` (faster).
        with_keys: also return ``"key"``, the source id of each record.
        shuffle_buffer_bytes: memory cap of the shuffle buffer per input pipeline.
        input_options: ``tf.distribute.InputOptions`` for the distributed dataset.
        start_example: resume the stream after this many examples (over all pipelines), e.g.
            the images a checkpointed run has seen: with a seed, the batches that follow are
            exactly those an uninterrupted run would read next. Only records inside the current
            epoch are skipped (each epoch's order has its own seed).

    Returns:
        A ``tf.data.Dataset`` (no strategy) or a ``tf.distribute.DistributedDataset``.

    Raises:
        DataError: missing or inconsistent manifest, unknown split, missing or truncated shard,
            empty split, impossible resolution, labels requested on an unlabelled dataset, or a
            global batch that does not divide over the replicas.

    Example:
        >>> ds = load_dataset("data/mnist32", global_batch_size=64, seed=0, flip=True)
        >>> batch = next(iter(ds))   # {"image": [64, 32, 32, 1] float32, "label": [64] int32}
        >>> pairs = load_dataset("data/facades256", global_batch_size=1, flip=True, jitter_load_size=286)
        >>> batch = next(iter(pairs))  # {"image": B [1, 256, 256, 3], "condition": A [1, 256, 256, 3]}
    """
    if not isinstance(split, str):
        raise TypeError(
            f"split must be a split name such as 'train', got {split!r}; pass the batch size as "
            "global_batch_size="
        )
    m = manifest_lib.load(data_dir)
    split_info = m.split(split)
    m.check_shards(split)
    if split_info.num_examples == 0:
        raise DataError(f"split {split!r} of {data_dir} has no examples; re-run `keras-gans prepare`")
    if with_labels and not m.labelled:
        raise DataError(
            f"labels were requested but {data_dir} is unlabelled; prepare it with `--labels "
            "folders|FILE` or use an unconditional model"
        )
    labels = m.labelled if with_labels is None else bool(with_labels)
    out_resolution = _check_resolutions(m, resolution, pyramid_min_resolution)
    global_batch_size = int(global_batch_size)
    if global_batch_size < 1:
        raise DataError(f"global batch size must be positive, got {global_batch_size}")
    if repeat is not True and repeat is not False and int(repeat) < 1:
        raise DataError(f"repeat must be True, False or a positive number of epochs, got {repeat!r}")
    if deterministic is None:
        deterministic = seed is not None or not shuffle
    if jitter_load_size is not None:
        if isinstance(jitter_load_size, bool) or int(jitter_load_size) < m.resolution:
            raise DataError(
                f"jitter_load_size {jitter_load_size!r} must be an integer >= the dataset's "
                f"resolution {m.resolution} (pix2pix: load 286, crop 256); None turns jitter off"
            )
        jitter_load_size = int(jitter_load_size)

    build = dict(
        m=m, split=split, shuffle=shuffle, seed=seed, repeat=repeat, flip=flip,
        out_resolution=out_resolution, pyramid_min_resolution=pyramid_min_resolution,
        drop_remainder=drop_remainder, shuffle_buffer=shuffle_buffer,
        shuffle_buffer_bytes=shuffle_buffer_bytes, labels=labels, keys=with_keys,
        deterministic=deterministic, jitter_load_size=jitter_load_size,
    )
    if int(start_example) < 0:
        raise DataError(f"start_example must be >= 0, got {start_example}")
    if strategy is None:
        return _build_pipeline(batch_size=global_batch_size, pipeline_id=0, num_pipelines=1,
                               start_example=int(start_example), **build)

    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise DataError(
            f"global batch size {global_batch_size} does not divide over {replicas} replicas; use a "
            f"multiple of {replicas} (e.g. {max(replicas, global_batch_size // replicas * replicas)})"
        )

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return _build_pipeline(
            batch_size=ctx.get_per_replica_batch_size(global_batch_size),
            pipeline_id=ctx.input_pipeline_id,
            num_pipelines=ctx.num_input_pipelines,
            start_example=int(start_example) // ctx.num_input_pipelines,
            **build,
        )

    return strategy.distribute_datasets_from_function(dataset_fn, options=input_options)


def _build_pipeline(
    *,
    m: manifest_lib.Manifest,
    split: str,
    batch_size: int,
    pipeline_id: int,
    num_pipelines: int,
    shuffle: bool,
    seed: int | None,
    repeat: bool | int,
    flip: bool,
    out_resolution: int,
    pyramid_min_resolution: int | None,
    drop_remainder: bool,
    shuffle_buffer: int,
    shuffle_buffer_bytes: int,
    labels: bool,
    keys: bool,
    deterministic: bool,
    start_example: int = 0,
    jitter_load_size: int | None = None,
) -> tf.data.Dataset:
    """One input pipeline: see the module docstring."""
    autotune = tf.data.AUTOTUNE
    paths = m.shard_paths(split)
    counts = [s.num_examples for s in m.split(split).shards]

    def op_seed(stream: str) -> int | None:
        return None if seed is None else _derive_seed(seed, pipeline_id, stream)

    record_sharding = num_pipelines > 1 and len(paths) < num_pipelines
    if num_pipelines > 1 and not record_sharding:
        # File-level sharding on the manifest order (the same in every pipeline), before any
        # shuffle, so the pipelines' file sets are disjoint whatever their seeds.
        paths = paths[pipeline_id::num_pipelines]
        local_examples = sum(counts[pipeline_id::num_pipelines])
    elif record_sharding:
        total = sum(counts)
        local_examples = total // num_pipelines + (pipeline_id < total % num_pipelines)
        logger.warning(
            "%d shards for %d input pipelines: sharding by record, so every pipeline reads every "
            "shard; prepare with --shards >= %d for file-level sharding",
            len(paths), num_pipelines, num_pipelines,
        )
    else:
        local_examples = sum(counts)
    epochs = None if repeat is True else 1 if repeat is False else int(repeat)
    if epochs is not None and drop_remainder and local_examples * epochs < batch_size:
        raise DataError(
            f"split {split!r} of {m.root} has {local_examples} examples per input pipeline, fewer "
            f"than one batch of {batch_size} in {epochs} epoch(s), and drop_remainder=True would "
            "yield nothing; use a smaller batch, drop_remainder=False or repeat=True"
        )

    compression = "GZIP" if m.compression == "gzip" else ""
    buffer = 0
    if shuffle:
        by_bytes = max(1, int(shuffle_buffer_bytes // _mean_record_bytes(m, split)))
        buffer = max(1, min(int(shuffle_buffer), local_examples, by_bytes))
        if by_bytes < min(int(shuffle_buffer), local_examples):
            logger.info(
                "shuffle buffer capped at %d records (%d MiB of records); raise "
                "shuffle_buffer_bytes for a better shuffle", buffer, shuffle_buffer_bytes >> 20,
            )

    def epoch_seed(stream: str, epoch):
        # One seed per epoch (not one reshuffling op), so that epoch k's order can be rebuilt
        # directly when resuming: only the records inside the current epoch are skipped.
        base = op_seed(stream)
        return None if base is None else tf.constant(base, tf.int64) + epoch * 1_000_003

    def one_epoch(epoch):
        # The order must depend on our seed alone, not on the global seed: pin this function
        # graph's seed. (Also avoids TF's `seeds == (0, 0)` check, which fails on a tensor op
        # seed when the global seed is 0.)
        tf.compat.v1.get_default_graph().seed = 1
        files = tf.data.Dataset.from_tensor_slices(paths)
        if shuffle and not record_sharding and len(paths) > 1:
            files = files.shuffle(len(paths), seed=epoch_seed("files", epoch))
        ds = files.interleave(
            lambda path: tf.data.TFRecordDataset(
                path, compression_type=compression, buffer_size=READ_BUFFER_BYTES
            ),
            cycle_length=min(len(paths), MAX_CYCLE_LENGTH),
            block_length=1,
            num_parallel_calls=autotune,
            # Record sharding needs the same record order in every pipeline.
            deterministic=deterministic or record_sharding,
        )
        if record_sharding:
            ds = ds.shard(num_pipelines, pipeline_id)
        if shuffle:
            ds = ds.shuffle(buffer, seed=epoch_seed("records", epoch))
        return ds

    start_epoch, offset = divmod(int(start_example), max(local_examples, 1))
    last_epoch = 2**62 if epochs is None else epochs
    if start_epoch >= last_epoch:
        raise DataError(
            f"start_example {start_example} is past the {epochs} epoch(s) requested of split {split!r}"
        )
    ds = tf.data.Dataset.range(start_epoch, last_epoch).flat_map(one_epoch)
    if epochs is None:
        # flat_map hides that the stream is endless; multi-worker input pipelines only keep
        # static batch shapes for datasets known to be infinite.
        ds = ds.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    if offset:
        ds = ds.skip(offset)

    per_record_png = m.encoding == "png" and m.record_bytes > PNG_BATCH_DECODE_MAX_BYTES
    if per_record_png:
        # Large PNGs: parse and decode per record in a parallel map, before batching.
        decode_one = _png_record_decoder(m, labels, keys)
        ds = ds.map(decode_one, num_parallel_calls=autotune, deterministic=deterministic)
        decode_batch = None
    elif m.encoding == "png":
        decode_batch = _png_batch_decoder(m, labels, keys)
    else:
        decode_batch = _raw_batch_decoder(m, labels, keys)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    flip_seed = jitter_seed = None
    if flip:
        # Flips from a stateless RNG keyed by (seed, batch index): the n-th batch's flips depend
        # only on the seed and n, never on thread scheduling or on how many maps run at once.
        flip_seed = op_seed("flip") if seed is not None else secrets.randbits(56)
    if jitter_load_size is not None:
        jitter_seed = op_seed("jitter") if seed is not None else secrets.randbits(56)  # same scheme
    if flip or jitter_load_size is not None:
        ds = ds.enumerate(start=int(start_example) // batch_size)
    finish = _batch_finisher(
        m.resolution, out_resolution, pyramid_min_resolution, flip_seed=flip_seed, decode=decode_batch,
        jitter_seed=jitter_seed, jitter_load_size=jitter_load_size,
    )
    if drop_remainder:
        # Static batch dimension (decode_raw + reshape loses it): train steps split batches
        # into micro-batches with Python slicing, which needs it.
        finish_dynamic = finish

        def finish(*args):
            out = finish_dynamic(*args)
            return tf.nest.map_structure(
                lambda t: tf.ensure_shape(t, [batch_size, *t.shape[1:]]), out)

    ds = ds.map(finish, num_parallel_calls=autotune, deterministic=deterministic)
    ds = ds.prefetch(autotune)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options)


def _feature_spec(labels: bool, keys: bool, condition: bool = False) -> dict[str, tf.io.FixedLenFeature]:
    spec = {records.IMAGE_FEATURE: tf.io.FixedLenFeature([], tf.string)}
    if condition:
        spec[records.CONDITION_FEATURE] = tf.io.FixedLenFeature([], tf.string)
    if labels:
        spec[records.LABEL_FEATURE] = tf.io.FixedLenFeature([], tf.int64)
    if keys:
        spec[records.KEY_FEATURE] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def _corrupt_message(m: manifest_lib.Manifest, what: str) -> str:
    return (
        f"{ERROR_MARK}: {what} in {m.root}: the dataset is corrupt; find the record with "
        f"`keras_gans.data.verify_records({m.root!r})` and re-run `keras-gans prepare ... --overwrite`"
    )


def _with_labels_and_keys(out: dict, parsed: dict, labels: bool, keys: bool) -> dict:
    if labels:
        out["label"] = tf.cast(parsed[records.LABEL_FEATURE], tf.int32)
    if keys:
        out["key"] = parsed[records.KEY_FEATURE]
    return out


def _images(m: manifest_lib.Manifest) -> list[tuple[str, str, int]]:
    """(output key, record feature, channels) of the images a record holds: the image, and the
    condition image of a paired dataset."""
    out = [("image", records.IMAGE_FEATURE, m.channels)]
    if m.paired:
        out.append(("condition", records.CONDITION_FEATURE, m.condition_channels))
    return out


def _raw_batch_decoder(m: manifest_lib.Manifest, labels: bool, keys: bool):
    """serialized [B] -> dict with uint8 images [B, R, R, C] (+ condition, label int32, key)."""
    spec = _feature_spec(labels, keys, m.paired)

    def decode_one(payload: tf.Tensor, name: str, channels: int) -> tf.Tensor:
        expected = m.resolution * m.resolution * channels
        message = _corrupt_message(
            m,
            f"a raw {name} record does not hold {m.resolution}x{m.resolution}x{channels} = "
            f"{expected} bytes",
        )
        check = tf.debugging.assert_equal(
            tf.strings.length(payload), expected, message=message, summarize=8
        )
        with tf.control_dependencies([check]):
            pixels = tf.io.decode_raw(payload, tf.uint8)
        return tf.reshape(pixels, [-1, m.resolution, m.resolution, channels])

    def decode(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        out = {key: decode_one(parsed[feature], key, c) for key, feature, c in _images(m)}
        return _with_labels_and_keys(out, parsed, labels, keys)

    return decode


def _png_decoder(m: manifest_lib.Manifest, name: str = "image", channels: int | None = None):
    """PNG bytes (scalar) -> uint8 [R, R, C], failing with a clear message on another size."""
    channels = m.channels if channels is None else channels
    shape = [m.resolution, m.resolution, channels]
    what = "a PNG record" if name == "image" else f"a PNG {name} record"
    message = _corrupt_message(
        m, f"{what} does not decode to {m.resolution}x{m.resolution}x{channels}"
    )

    def decode_png(payload: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_png(payload, channels=channels, dtype=tf.uint8)
        check = tf.debugging.assert_equal(tf.shape(image), shape, message=message)
        with tf.control_dependencies([check]):
            return tf.ensure_shape(tf.identity(image), shape)

    return decode_png


def _png_record_decoder(m: manifest_lib.Manifest, labels: bool, keys: bool):
    """serialized scalar -> dict with a uint8 image [R, R, C] (+ condition, label int32, key)."""
    spec = _feature_spec(labels, keys, m.paired)
    decoders = [(key, feature, _png_decoder(m, key, c)) for key, feature, c in _images(m)]

    def decode(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_single_example(serialized, spec)
        out = {key: decode_png(parsed[feature]) for key, feature, decode_png in decoders}
        return _with_labels_and_keys(out, parsed, labels, keys)

    return decode


def _png_batch_decoder(m: manifest_lib.Manifest, labels: bool, keys: bool):
    """serialized [B] -> dict with uint8 images [B, R, R, C] (+ condition, label int32, key)."""
    spec = _feature_spec(labels, keys, m.paired)
    decoders = [
        (key, feature, _png_decoder(m, key, c), tf.TensorSpec([m.resolution, m.resolution, c], tf.uint8))
        for key, feature, c in _images(m)
    ]

    def decode(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        out = {key: tf.map_fn(decode_png, parsed[feature], fn_output_signature=signature)
               for key, feature, decode_png, signature in decoders}
        return _with_labels_and_keys(out, parsed, labels, keys)

    return decode


def jitter_offsets(seed: tf.Tensor, batch: tf.Tensor, load_size: int, fine_size: int) -> tf.Tensor:
    """int32 ``[batch, 2]`` (row, column) crop offsets of pix2pix's jitter, each uniform over
    ``0 .. max(0, load_size - fine_size - 1)`` inclusive, from a stateless RNG keyed by ``seed``.

    The official range: ``random.randint(0, max(0, loadSize - fineSize - 1))`` (HelenMao/MSGAN
    ``Pix2Pix-Mode-Seeking/data/aligned_dataset.py`` lines 31-32; ``randint`` includes both ends,
    so the last window, offset ``loadSize - fineSize``, is never drawn: kept as official).
    """
    return tf.random.stateless_uniform(
        tf.stack([batch, 2]), seed=seed, minval=0, maxval=max(0, load_size - fine_size - 1) + 1,
        dtype=tf.int32)


def jitter(images: tf.Tensor, offsets: tf.Tensor, load_size: int) -> tf.Tensor:
    """Pix2pix's "resize_and_crop" on a batch: resize ``[B, R, R, C]`` images to ``load_size``
    (bicubic, as PIL does on uint8 images), then crop ``R x R`` at per-image ``offsets`` [B, 2].

    As HelenMao/MSGAN ``Pix2Pix-Mode-Seeking/data/aligned_dataset.py`` lines 27-35 (PIL
    ``resize((loadSize, loadSize), BICUBIC)`` of uint8 images, then the same ``[h_offset,
    w_offset]`` window of A and B), except that the resize starts from the prepared
    ``R x R`` record rather than the original file (prepare has already made it square at ``R``:
    pix2pix trains with ``fineSize = R``). Values stay in ``[0, 255]``.
    """
    images = tf.convert_to_tensor(images)
    fine = images.shape[1]

    def to_uint8_grid(x):
        return tf.clip_by_value(tf.round(x), 0.0, 255.0)

    # PIL's resize as it runs on uint8 images: separable, the horizontal pass first, each pass
    # rounded and clipped to uint8; Keys' cubic (a = -0.5) with the support cut at the border
    # and renormalized, which is TF's scale_and_translate ("bicubic" with antialias=True; the
    # other path clamps border pixels instead). Measured against PIL at 256 -> 286 on noise:
    # at most 2 levels apart (PIL's fixed-point weights), on 0.1% of pixels.
    resized = tf.cast(images, tf.float32)
    resized = to_uint8_grid(tf.image.resize(resized, [fine, load_size], method="bicubic", antialias=True))
    resized = to_uint8_grid(tf.image.resize(resized, [load_size, load_size], method="bicubic", antialias=True))
    rows = offsets[:, 0:1] + tf.range(fine)[None]
    cols = offsets[:, 1:2] + tf.range(fine)[None]
    cropped = tf.gather(resized, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


def _batch_finisher(
    resolution: int,
    out_resolution: int,
    pyramid_min_resolution: int | None,
    *,
    flip_seed: int | None,
    decode,
    jitter_seed: int | None = None,
    jitter_load_size: int | None = None,
):
    """Batch element -> final dict: decode, [jitter], flip, scale to [-1, 1], downsample,
    pyramid. The image and (paired datasets) the condition get the same jitter window and the
    same flips."""
    image_keys = ("image", "condition")

    def finish(*element):
        if flip_seed is not None or jitter_seed is not None:
            index, batch = element
        else:
            (batch,) = element
        out = dict(decode(batch)) if decode is not None else dict(batch)
        keys = [k for k in image_keys if k in out]
        batch_size = tf.shape(out["image"])[0]

        def seed_for(stream_seed):
            return tf.stack([tf.constant(stream_seed, tf.int64), tf.cast(index, tf.int64)])

        if jitter_seed is not None:
            offsets = jitter_offsets(seed_for(jitter_seed), batch_size, jitter_load_size, resolution)
            for k in keys:
                out[k] = jitter(out[k], offsets, jitter_load_size)
        if flip_seed is not None:
            bits = tf.random.stateless_uniform(
                batch_size[None], seed=seed_for(flip_seed), maxval=2, dtype=tf.int32)
            flip_mask = tf.equal(bits, 1)[:, None, None, None]
            for k in keys:
                out[k] = tf.where(flip_mask, tf.reverse(out[k], axis=[2]), out[k])
        for k in keys:
            images = image_grid.from_uint8(out[k])
            if out_resolution != resolution:
                images = downsample(images, resolution // out_resolution)
            out[k] = images
        if pyramid_min_resolution is not None:
            out["pyramid"] = build_pyramid(out["image"], pyramid_min_resolution)
        return out

    return finish


@contextlib.contextmanager
def translate_errors(data_dir: str | None = None) -> Iterator[None]:
    """Turn tf.data corruption errors raised while iterating into ``DataError`` (CLI exit 2).

    ``DataLossError`` (a record failing its CRC or cut short) and this module's own checks (a
    record of the wrong size) become ``DataError`` with a pointer to ``verify_records``; any
    other error passes through unchanged.

    Args:
        data_dir: named in the message.
    """
    where = f" in {data_dir}" if data_dir else ""
    try:
        yield
    except tf.errors.DataLossError as e:
        # Drop TF's "{{function_node ...}}" prefix and "[Op:...]" suffix: keep the reason.
        reason = re.sub(r"\{\{[^}]*\}\}\s*", "", e.message.splitlines()[0])
        reason = re.sub(r"\s*\[Op:.*$", "", reason).strip()
        target = repr(data_dir) if data_dir else "DATA_DIR"
        raise DataError(
            f"corrupt record{where} ({reason}); find the file and offset with "
            f"`keras_gans.data.verify_records({target})` and re-run `keras-gans prepare ... "
            "--overwrite`"
        ) from e
    except tf.errors.InvalidArgumentError as e:
        if ERROR_MARK not in e.message:
            raise
        text = e.message[e.message.index(ERROR_MARK) + len(ERROR_MARK) + 2 :]
        reason = text.split("] [Condition", 1)[0].splitlines()[0]
        # tf.debugging.assert_equal appends "[x (NAME) = ] [values]": the observed sizes/shape.
        observed = re.search(r"\[x \([^)]*\) = \] \[([^\]]*)\]", text)
        if observed:
            reason += f" (observed: {observed.group(1).strip()})"
        raise DataError(reason) from e


# --- offline verification -------------------------------------------------------------------
@contextlib.contextmanager
def _open_shard(path: str, compression: str):
    if fileio.is_remote(path):
        from apache_beam.io.filesystems import CompressionTypes, FileSystems

        raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    else:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    try:
        if compression == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:  # buffered internally
                yield f
        else:
            yield raw
    finally:
        raw.close()


class _BadRecord(ValueError):
    """A record that frames correctly but does not hold a valid example (reason in args[0])."""


def _check_example(serialized: bytes, m: manifest_lib.Manifest, label_counts: list[int] | None) -> None:
    """Validate one serialized Example against the manifest; raises _BadRecord."""
    from google.protobuf.message import DecodeError

    try:
        example = tf.train.Example.FromString(serialized)
    except DecodeError as e:
        raise _BadRecord(f"not a tf.train.Example ({e})") from e
    feature = example.features.feature
    for name, feature_name, channels in _images(m):
        image = feature.get(feature_name)
        if image is None or len(image.bytes_list.value) != 1:
            raise _BadRecord(f"no single bytes feature {feature_name!r}"
                             + (" in a paired dataset" if name == "condition" else ""))
        _check_payload(image.bytes_list.value[0], m, name, channels)
    if label_counts is not None:
        label = feature.get(records.LABEL_FEATURE)
        if label is None or len(label.int64_list.value) != 1:
            raise _BadRecord(f"no single int64 feature {records.LABEL_FEATURE!r} in a labelled dataset")
        value = label.int64_list.value[0]
        if not 0 <= value < len(label_counts):
            raise _BadRecord(f"label {value} is outside [0, {len(label_counts)})")
        label_counts[value] += 1


def _check_payload(payload: bytes, m: manifest_lib.Manifest, name: str, channels: int) -> None:
    """Validate one image payload (``name``: image or condition); raises _BadRecord."""
    from PIL import Image

    expected = m.resolution * m.resolution * channels
    if m.encoding == "raw":
        if len(payload) != expected:
            raise _BadRecord(
                f"raw {name} has {len(payload)} bytes, expected {m.resolution}x{m.resolution}x"
                f"{channels} = {expected}"
            )
    else:
        try:
            with Image.open(io.BytesIO(payload)) as im:
                fmt = im.format
                im.load()
                size = im.size
        except Exception as e:  # noqa: BLE001 - PIL raises many types for broken files
            raise _BadRecord(f"{'PNG' if name == 'image' else name + ' PNG'} does not decode ({e})") from e
        if fmt != "PNG":
            raise _BadRecord(f"{name} is {fmt}, not PNG")
        if size != (m.resolution, m.resolution):
            what = "PNG" if name == "image" else f"{name} PNG"
            raise _BadRecord(f"{what} is {size[0]}x{size[1]}, expected {m.resolution}x{m.resolution}")


def verify_records(data_dir: str, split: str | None = None) -> dict[str, Any]:
    """Read and check every record of a prepared dataset; name the first corrupt one.

    Checks, per shard: the size the manifest records, both CRCs of every TFRecord frame, that
    each payload is a ``tf.train.Example`` with an image of the right size that decodes (PNG
    through Pillow), a label in range when labelled, and the record count against the manifest.
    Reads every byte once, single-threaded (measured on one core: 170k records/s for 32x32 raw,
    31k/s for 32x32 PNG, which Pillow fully decodes).

    Args:
        data_dir: directory (or URL) holding ``dataset.json``.
        split: one split to check; ``None`` checks all.

    Returns:
        ``{"num_examples": total, "splits": {name: {"num_examples": n, "shards": {file: n},
        "label_counts": [per class] | None}}}``.

    Raises:
        DataError: naming the shard file and the byte offset of the first bad record (for gzip
            shards the offset is into the decompressed stream).
    """
    m = manifest_lib.load(data_dir)
    names = [split] if split is not None else list(m.splits)
    report: dict[str, Any] = {"num_examples": 0, "splits": {}}
    for name in names:
        m.check_shards(name)
        label_counts = [0] * m.num_classes if m.labelled else None
        shard_counts: dict[str, int] = {}
        for shard, path in zip(m.split(name).shards, m.shard_paths(name)):
            stream = " (offset in the decompressed stream)" if m.compression == "gzip" else ""
            count = 0
            offset = 0
            try:
                with _open_shard(path, m.compression) as f:
                    for serialized in records.iter_records(f, name=path):
                        try:
                            _check_example(serialized, m, label_counts)
                        except _BadRecord as e:
                            raise DataError(
                                f"{path}: record {count} at byte {offset}{stream}: {e}: the dataset "
                                "is corrupt; re-run `keras-gans prepare ... --overwrite`"
                            ) from e
                        offset += 16 + len(serialized)
                        count += 1
            except records.CorruptRecordError as e:
                raise DataError(
                    f"{e}{stream} (after {count} good records): the shard is corrupt; re-run "
                    "`keras-gans prepare ... --overwrite`"
                ) from e
            except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
                raise DataError(
                    f"{path}: read error after {count} good records, near byte {offset}{stream} "
                    f"({type(e).__name__}: {e}): the shard is corrupt; re-run `keras-gans prepare "
                    "... --overwrite`"
                ) from e
            if count != shard.num_examples:
                raise DataError(
                    f"{path} holds {count} records but the manifest records {shard.num_examples}: "
                    "the dataset is inconsistent; re-run `keras-gans prepare ... --overwrite`"
                )
            shard_counts[shard.file] = count
        total = sum(shard_counts.values())
        report["splits"][name] = {
            "num_examples": total,
            "shards": shard_counts,
            "label_counts": label_counts,
        }
        report["num_examples"] += total
    return report


def steps_per_epoch(data_dir: str, split: str, global_batch_size: int, drop_remainder: bool = True) -> int:
    """Batches in one pass over ``split`` at ``global_batch_size``.

    Args:
        data_dir: directory (or URL) holding ``dataset.json``.
        split: split name.
        global_batch_size: examples per step over all replicas.
        drop_remainder: whether a last partial batch is dropped.
    """
    n = num_examples(data_dir, split)
    return n // global_batch_size if drop_remainder else math.ceil(n / global_batch_size)


def format_verify_report(report: dict[str, Any]) -> str:
    """One line for ``verify_records``' result."""
    parts = ", ".join(f"{name} {info['num_examples']} in {len(info['shards'])} shard(s)"
                      for name, info in report["splits"].items())
    return f"verified {report['num_examples']} records ({parts}): checksums, sizes and counts OK"

