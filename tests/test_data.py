"""Record format, tf.data reader, verification, inspect and image grids (keras_gans.data & co).

Datasets are written with ``tests/helpers/datasets.py`` (no Beam) from real MNIST digits.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers.datasets import encode_png, mnist32, rgb_images, write_dataset, write_shard
from keras_gans import data, image_grid, manifest as manifest_lib, records
from keras_gans.errors import DataError
from keras_gans.inspect import inspect_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 200  # train examples in the fixtures: 20 per digit


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return mnist32(N)


@pytest.fixture(scope="module")
def make_ds(tmp_path_factory, digits):
    """Cached dataset writer: make_ds(encoding, compression, labelled, num_shards) -> dir."""
    cache = {}

    def make(encoding="raw", compression="none", labelled=True, num_shards=2):
        key = (encoding, compression, labelled, num_shards)
        if key not in cache:
            d = str(tmp_path_factory.mktemp(f"{encoding}-{compression}-{int(labelled)}-{num_shards}"))
            x, y = digits
            write_dataset(d, x, y if labelled else None, encoding=encoding, compression=compression,
                          num_shards=num_shards, val_images=x[:20], val_labels=y[:20] if labelled else None)
            cache[key] = d
        return cache[key]

    return make


def key_index(keys) -> np.ndarray:
    """b"test/train/00042" -> 42."""
    return np.array([int(k.decode().rsplit("/", 1)[1]) for k in np.asarray(keys)])


def collect(ds, field="key"):
    return np.concatenate([b[field].numpy() for b in ds])


def box_downsample(images: np.ndarray, factor: int) -> np.ndarray:
    n, h, w, c = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def scaled(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


# --- record format ------------------------------------------------------------------------------
@pytest.mark.parametrize("label", [None, 0, 7, 2**40, -3])
def test_encode_example_parses_with_tensorflow(label):
    image = bytes(range(256)) * 4
    serialized = records.encode_example(image, key="dir/ü.png", label=label)
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "key": tf.io.FixedLenFeature([], tf.string)}
    if label is not None:
        spec["label"] = tf.io.FixedLenFeature([], tf.int64)
    parsed = tf.io.parse_single_example(serialized, spec)
    assert parsed["image"].numpy() == image
    assert parsed["key"].numpy().decode() == "dir/ü.png"
    if label is not None:
        assert int(parsed["label"]) == label
    example = tf.train.Example.FromString(serialized)
    assert ("label" in example.features.feature) == (label is not None)
    # Deterministic bytes, and the same as TF's own serialization of the same Example.
    assert serialized == records.encode_example(image, key="dir/ü.png", label=label)
    assert serialized == example.SerializeToString(deterministic=True)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_framed_records_read_with_tf_data(tmp_path, compression):
    payloads = [records.encode_example(bytes([i]) * (i * 37 % 300), key=f"k{i}", label=i) for i in range(50)]
    path = str(tmp_path / "x.tfrecord")
    write_shard(path, payloads, compression)
    ds = tf.data.TFRecordDataset(path, compression_type="GZIP" if compression == "gzip" else "")
    assert [r.numpy() for r in ds] == payloads
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rb") as f:
        assert list(records.iter_records(f, name=path)) == payloads


def test_iter_records_detects_corruption(tmp_path):
    payloads = [records.encode_example(b"x" * 100, key=f"k{i}") for i in range(3)]
    blob = b"".join(records.frame_record(p) for p in payloads)
    frame = len(blob) // 3
    assert list(records.iter_records(io.BytesIO(blob))) == payloads

    def corrupt(at):
        b = bytearray(blob)
        b[at] ^= 0x01
        return io.BytesIO(bytes(b))

    with pytest.raises(records.CorruptRecordError, match=f"bad data checksum at byte {frame}"):
        list(records.iter_records(corrupt(frame + 12 + 50), name="f"))
    with pytest.raises(records.CorruptRecordError, match=f"bad length checksum at byte {2 * frame}"):
        list(records.iter_records(corrupt(2 * frame + 1), name="f"))
    with pytest.raises(records.CorruptRecordError, match=f"truncated record at byte {2 * frame}"):
        list(records.iter_records(io.BytesIO(blob[:-3]), name="f"))
    with pytest.raises(records.CorruptRecordError, match="truncated record header"):
        list(records.iter_records(io.BytesIO(blob[: frame + 5]), name="f"))


# --- reader: format and values ------------------------------------------------------------------
@pytest.mark.parametrize("encoding,compression,png_per_record", [
    ("raw", "none", False), ("raw", "gzip", False), ("png", "none", False), ("png", "gzip", False),
    ("png", "none", True),  # the path for large PNGs: decode per record before batching
])
def test_batches_match_source_pixels(make_ds, digits, monkeypatch, encoding, compression, png_per_record):
    if png_per_record:
        monkeypatch.setattr(data, "PNG_BATCH_DECODE_MAX_BYTES", 0)
    x, y = digits
    d = make_ds(encoding, compression)
    ds = data.load_dataset(d, global_batch_size=32, seed=0, repeat=False, drop_remainder=False,
                           with_keys=True)
    seen = []
    for batch in ds:
        assert set(batch) == {"image", "label", "key"}
        images, labels = batch["image"].numpy(), batch["label"].numpy()
        assert images.dtype == np.float32 and images.shape[1:] == (32, 32, 1)
        assert batch["label"].dtype == tf.int32 and labels.shape == images.shape[:1]
        assert images.min() >= -1.0 and images.max() <= 1.0
        idx = key_index(batch["key"].numpy())
        np.testing.assert_array_equal(images, scaled(x[idx]))
        np.testing.assert_array_equal(labels, y[idx])
        seen.extend(idx)
    assert sorted(seen) == list(range(N))  # one epoch: every record exactly once
    first = next(iter(data.load_dataset(d, global_batch_size=32, seed=0)))
    assert first["image"].shape == (32, 32, 32, 1)  # drop_remainder -> static batch
    assert first["image"].numpy().min() == -1.0 and first["image"].numpy().max() == 1.0


def test_rgb_png_values(tmp_path):
    x = rgb_images(24, 16)
    write_dataset(str(tmp_path), x, encoding="png", num_shards=3)
    ds = data.load_dataset(str(tmp_path), global_batch_size=24, shuffle=False, repeat=False, with_keys=True)
    batch = next(iter(ds))
    assert batch["image"].shape == (24, 16, 16, 3)
    np.testing.assert_array_equal(batch["image"].numpy(), scaled(x[key_index(batch["key"].numpy())]))


def test_label_presence(make_ds):
    labelled, unlabelled = make_ds(labelled=True), make_ds(labelled=False)
    assert "label" in next(iter(data.load_dataset(labelled, global_batch_size=8)))
    assert "label" not in next(iter(data.load_dataset(labelled, global_batch_size=8, with_labels=False)))
    assert set(next(iter(data.load_dataset(unlabelled, global_batch_size=8)))) == {"image"}
    with pytest.raises(DataError, match="unlabelled"):
        data.load_dataset(unlabelled, global_batch_size=8, with_labels=True)


def test_validation_split_and_counts(make_ds):
    d = make_ds()
    assert data.num_examples(d, "train") == N and data.num_examples(d, "validation") == 20
    assert data.steps_per_epoch(d, "train", 64) == 3
    assert data.steps_per_epoch(d, "train", 64, drop_remainder=False) == 4
    keys = collect(data.load_dataset(d, "validation", 8, repeat=False, drop_remainder=False, with_keys=True))
    assert len(keys) == 20 and all(k.startswith(b"test/validation/") for k in keys)


# --- reader: order, shuffling, flips ------------------------------------------------------------
def test_seeded_shuffle_is_reproducible(make_ds):
    d = make_ds(num_shards=4)

    def keys(**kw):
        ds = data.load_dataset(d, global_batch_size=16, with_keys=True, **kw).take(30)  # > 2 epochs
        return key_index(collect(ds))

    a, b, c = keys(seed=1), keys(seed=1), keys(seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    ordered = keys(shuffle=False)
    assert not np.array_equal(a, ordered)
    epoch = N // 16 * 16
    assert not np.array_equal(a[:epoch], a[N : N + epoch])  # reshuffled each epoch
    # Unshuffled: shards interleaved one record at a time, in manifest order.
    np.testing.assert_array_equal(ordered[:6], [0, 50, 100, 150, 1, 51])
    # A seedless reader still covers each epoch exactly once.
    ds = data.load_dataset(d, global_batch_size=16, repeat=False, drop_remainder=False, with_keys=True)
    once = key_index(collect(ds))
    assert sorted(once) == list(range(N))


def test_start_example_resumes_the_exact_stream(make_ds):
    """A resumed reader yields exactly the batches an uninterrupted one reads next (flips too),
    also across an epoch boundary (N=200, batch 16: batch 12 straddles epochs 0 and 1)."""
    d = make_ds(num_shards=4)

    def batches(start, count):
        ds = data.load_dataset(d, global_batch_size=16, seed=3, flip=True, with_keys=True,
                               start_example=start)
        return [(b["key"].numpy(), b["image"].numpy()) for b in ds.take(count)]

    straight = batches(0, 30)
    for resume_at in (5, 12, 26):
        resumed = batches(resume_at * 16, 30 - resume_at)
        for (k1, x1), (k2, x2) in zip(straight[resume_at:], resumed):
            np.testing.assert_array_equal(k1, k2)
            np.testing.assert_array_equal(x1, x2)
    with pytest.raises(DataError, match="start_example"):
        data.load_dataset(d, global_batch_size=16, seed=3, start_example=-1)
    with pytest.raises(DataError, match="past the 1 epoch"):
        data.load_dataset(d, global_batch_size=16, seed=3, repeat=False, start_example=N)


def test_repeat_counts_epochs(make_ds):
    d = make_ds()
    ds = data.load_dataset(d, global_batch_size=30, seed=0, repeat=2, drop_remainder=False, with_keys=True)
    keys = key_index(collect(ds))
    np.testing.assert_array_equal(np.bincount(keys), np.full(N, 2))
    assert not np.array_equal(keys[:N], keys[N:])  # each epoch in a new order
    with pytest.raises(DataError, match="positive number of epochs"):
        data.load_dataset(d, global_batch_size=8, repeat=0)


def test_shuffle_buffer_is_honoured(make_ds):
    d = make_ds(num_shards=1)
    for kw in ({"shuffle_buffer": 1}, {"shuffle_buffer_bytes": 1}):
        ds = data.load_dataset(d, global_batch_size=50, seed=3, repeat=False, with_keys=True, **kw)
        keys = key_index(collect(ds))
        np.testing.assert_array_equal(keys, np.arange(N))  # a buffer of 1 does not reorder
    keys = key_index(collect(data.load_dataset(d, global_batch_size=50, seed=3, repeat=False, with_keys=True)))
    assert not np.array_equal(keys, np.arange(N))


def test_flip_is_seeded_and_per_image(make_ds, digits):
    x, _ = digits
    d = make_ds()

    def flips(seed, single_thread=False):
        ds = data.load_dataset(d, global_batch_size=25, seed=seed, flip=True, repeat=False, with_keys=True)
        if single_thread:
            options = tf.data.Options()
            options.threading.private_threadpool_size = 1
            options.threading.max_intra_op_parallelism = 1
            options.autotune.enabled = False
            ds = ds.with_options(options)
        out = {}
        for batch in ds:
            for key, image in zip(key_index(batch["key"].numpy()), batch["image"].numpy()):
                original, mirrored = scaled(x[key]), scaled(x[key][:, ::-1])
                is_flip = np.array_equal(image, mirrored)
                assert is_flip or np.array_equal(image, original)
                if not np.array_equal(original, mirrored):
                    out[key] = is_flip
        return out

    a, b, c = flips(4), flips(4), flips(5)
    assert a == b
    assert a != c
    assert 0.3 < np.mean(list(a.values())) < 0.7
    assert a == flips(4, single_thread=True)  # independent of parallelism


# --- reader: resolutions ------------------------------------------------------------------------
def test_pyramid_levels_are_box_filtered(make_ds, digits):
    x, _ = digits
    d = make_ds("png")
    ds = data.load_dataset(d, global_batch_size=16, seed=0, pyramid_min_resolution=4, with_keys=True)
    batch = next(iter(ds))
    pyramid = batch["pyramid"]
    assert [p.shape[1] for p in pyramid] == [4, 8, 16, 32]
    np.testing.assert_array_equal(pyramid[-1].numpy(), batch["image"].numpy())
    full = scaled(x[key_index(batch["key"].numpy())]).astype(np.float64)
    for level in pyramid:
        expected = box_downsample(full, 32 // level.shape[1])
        np.testing.assert_allclose(level.numpy(), expected, atol=1e-6)
        # 2x2 average pooling of the next level up, exactly as in a model
    for lo, hi in zip(pyramid[:-1], pyramid[1:]):
        np.testing.assert_allclose(lo.numpy(), box_downsample(hi.numpy(), 2), atol=1e-6)


def test_resolution_downsamples(make_ds, digits):
    x, _ = digits
    d = make_ds()
    ds = data.load_dataset(d, global_batch_size=16, seed=0, resolution=8, pyramid_min_resolution=2,
                           with_keys=True)
    batch = next(iter(ds))
    assert batch["image"].shape == (16, 8, 8, 1)
    assert [p.shape[1] for p in batch["pyramid"]] == [2, 4, 8]
    expected = box_downsample(scaled(x[key_index(batch["key"].numpy())]).astype(np.float64), 4)
    np.testing.assert_allclose(batch["image"].numpy(), expected, atol=1e-6)
    for bad, match in [(dict(resolution=24), "power of two"), (dict(resolution=64), "higher"),
                       (dict(resolution=16, pyramid_min_resolution=3), "pyramid_min_resolution"),
                       (dict(pyramid_min_resolution=64), "pyramid_min_resolution")]:
        with pytest.raises(DataError, match=match):
            data.load_dataset(d, global_batch_size=16, **bad)


def test_downsample_and_pyramid_ops():
    images = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    out = data.downsample(images, 4)
    assert out.dtype == tf.float32 and out.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(out.numpy(), box_downsample(images.astype(np.float64), 4))
    np.testing.assert_array_equal(data.downsample(images, 1).numpy(), images.astype(np.float32))
    levels = data.build_pyramid(tf.constant(images, tf.float32), 2)
    assert [lv.shape[1] for lv in levels] == [2, 4, 8]
    np.testing.assert_allclose(levels[0].numpy(), out.numpy())
    with pytest.raises(ValueError, match="multiple"):
        data.downsample(np.zeros((1, 6, 6, 1), np.float32), 4)
    with pytest.raises(ValueError, match="power of two"):
        data.build_pyramid(tf.zeros((1, 12, 12, 1)), 5)


# --- reader: errors -----------------------------------------------------------------------------
def copy_dataset(src: str, dst) -> str:
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def test_missing_manifest_and_unknown_split(tmp_path, make_ds):
    with pytest.raises(DataError, match="no dataset.json.*keras-gans prepare"):
        data.load_dataset(str(tmp_path), global_batch_size=8)
    with pytest.raises(DataError, match=r"split 'test' .* has \['train', 'validation'\]"):
        data.load_dataset(make_ds(), "test", 8)


def test_missing_and_truncated_shards(tmp_path, make_ds):
    d = copy_dataset(make_ds(), tmp_path / "d")
    shard = os.path.join(d, "train-00001-of-00002.tfrecord")
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) - 10)
    with pytest.raises(DataError, match=f"{re.escape(shard)} has .* bytes but the manifest records .*truncated"):
        data.load_dataset(d, global_batch_size=8)
    os.remove(shard)
    with pytest.raises(DataError, match=f"{re.escape(shard)} listed in the manifest is missing"):
        data.load_dataset(d, global_batch_size=8)
    with pytest.raises(DataError, match="missing"):
        data.verify_records(d)
    data.load_dataset(d, "validation", global_batch_size=8)  # other splits are still usable


def rewrite_shard(d: str, name: str, payloads: list[bytes], compression: str = "none") -> None:
    """Replace a shard and record its new size in the manifest (a consistent but bad dataset)."""
    size = write_shard(os.path.join(d, name), payloads, compression)
    m = manifest_lib.load(d)
    for split in m.splits.values():
        for s in split.shards:
            if s.file == name:
                s.bytes, s.num_examples = size, len(payloads)
        split.num_examples = sum(s.num_examples for s in split.shards)
    m.save(d)


def test_wrong_raw_length_record(tmp_path, digits):
    x, y = digits
    d = str(tmp_path)
    write_dataset(d, x[:40], y[:40], num_shards=1)
    payloads = [records.encode_example(x[i].tobytes(), key=f"test/train/{i:05d}", label=int(y[i]))
                for i in range(40)]
    payloads[17] = records.encode_example(x[17].tobytes()[:1000], key="test/train/00017", label=int(y[17]))
    rewrite_shard(d, "train-00000-of-00001.tfrecord", payloads)
    ds = data.load_dataset(d, global_batch_size=8, shuffle=False, repeat=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"does not hold 32x32x1 = 1024 bytes.*corrupt"):
        list(ds)
    expected = r"does not hold 32x32x1 = 1024 bytes in .*: the dataset is corrupt; .*verify_records"
    with pytest.raises(DataError, match=expected + r".* \(observed: 1024 1000 1024"):
        with data.translate_errors(d):
            list(ds)
    frame = len(records.frame_record(payloads[0]))
    expected = rf"train-00000-of-00001\.tfrecord: record 17 at byte {17 * frame}: raw image has 1000 bytes"
    with pytest.raises(DataError, match=expected + ", expected 32x32x1 = 1024"):
        data.verify_records(d)


@pytest.mark.parametrize("png_per_record", [False, True])
def test_wrong_size_png_record(tmp_path, digits, monkeypatch, png_per_record):
    if png_per_record:
        monkeypatch.setattr(data, "PNG_BATCH_DECODE_MAX_BYTES", 0)
    x, y = digits
    d = str(tmp_path)
    write_dataset(d, x[:16], y[:16], encoding="png", num_shards=1)
    payloads = [records.encode_example(encode_png(x[i]), key=f"k{i}", label=int(y[i])) for i in range(16)]
    payloads[5] = records.encode_example(encode_png(x[5][:16, :16]), key="k5", label=int(y[5]))
    rewrite_shard(d, "train-00000-of-00001.tfrecord", payloads)
    with pytest.raises(DataError, match=r"PNG record does not decode to 32x32x1 .*\(observed: 16 16 1\)"):
        with data.translate_errors(d):
            list(data.load_dataset(d, global_batch_size=8, shuffle=False, repeat=False))
    with pytest.raises(DataError, match="record 5 at byte .*PNG is 16x16, expected 32x32"):
        data.verify_records(d)


def test_batch_and_split_size_errors(make_ds):
    d = make_ds()
    with pytest.raises(DataError, match="fewer than one batch of 500"):
        data.load_dataset(d, global_batch_size=500, repeat=False)
    assert next(iter(data.load_dataset(d, global_batch_size=500)))["image"].shape[0] == 500  # repeat fills it
    assert len(list(data.load_dataset(d, global_batch_size=500, repeat=3))) == 1
    with pytest.raises(DataError, match="positive"):
        data.load_dataset(d, global_batch_size=0)


# --- verify_records -----------------------------------------------------------------------------
def test_verify_records_counts(make_ds):
    for encoding, compression in [("raw", "gzip"), ("png", "none")]:
        report = data.verify_records(make_ds(encoding, compression))
        assert report["num_examples"] == N + 20
        train = report["splits"]["train"]
        assert train["num_examples"] == N and list(train["shards"].values()) == [100, 100]
        assert train["label_counts"] == [20] * 10
    assert data.verify_records(make_ds(), "validation")["num_examples"] == 20


def test_flipped_byte_is_found_with_file_and_offset(tmp_path, make_ds):
    d = copy_dataset(make_ds(), tmp_path / "d")
    shard = os.path.join(d, "train-00001-of-00002.tfrecord")
    frame = os.path.getsize(shard) // 100  # equal-size records (1-digit labels, fixed keys)
    with open(shard, "r+b") as f:
        f.seek(42 * frame + 500)
        byte = f.read(1)
        f.seek(42 * frame + 500)
        f.write(bytes([byte[0] ^ 0x10]))
    expected = rf"{re.escape(shard)}: bad data checksum at byte {42 * frame} \(after 42 good records\)"
    with pytest.raises(DataError, match=expected):
        data.verify_records(d)
    data.verify_records(d, "validation")  # only the train split is bad
    # tf.data sees it too (without naming the file); translate_errors makes it a DataError.
    expected = r"corrupt record in .* \(corrupted record at \d+\); find the file and offset with .*verify_records"
    with pytest.raises(DataError, match=expected):
        with data.translate_errors(d):
            list(data.load_dataset(d, global_batch_size=50, shuffle=False, repeat=False))


def test_corrupt_gzip_shard(tmp_path, make_ds):
    d = copy_dataset(make_ds("raw", "gzip"), tmp_path / "d")
    shard = os.path.join(d, "train-00000-of-00002.tfrecord.gz")
    with open(shard, "r+b") as f:
        f.seek(os.path.getsize(shard) // 2)
        f.write(b"\x00" * 8)
    with pytest.raises(DataError, match=rf"{re.escape(shard)}.*corrupt"):
        data.verify_records(d)


def test_record_count_mismatch(tmp_path, make_ds):
    d = copy_dataset(make_ds(), tmp_path / "d")
    m = manifest_lib.load(d)
    m.splits["train"].shards[0].num_examples += 1
    m.splits["train"].num_examples += 1
    m.save(d)
    expected = r"train-00000-of-00002\.tfrecord holds 100 records but the manifest records 101"
    with pytest.raises(DataError, match=expected):
        data.verify_records(d)


# --- distribution -------------------------------------------------------------------------------
class FakeMultiPipelineStrategy:
    """Calls the dataset function once per input pipeline, like a multi-worker strategy."""

    def __init__(self, num_pipelines: int):
        self.num_replicas_in_sync = num_pipelines
        self.num_pipelines = num_pipelines

    def distribute_datasets_from_function(self, fn, options=None):
        return [
            fn(tf.distribute.InputContext(self.num_pipelines, i, self.num_replicas_in_sync))
            for i in range(self.num_pipelines)
        ]


@pytest.mark.parametrize("num_shards", [4, 1])  # file-level, then record-level sharding
def test_input_pipelines_partition_the_data(make_ds, num_shards):
    d = make_ds(num_shards=num_shards)
    for seed in (7, None):
        pipelines = data.load_dataset(d, global_batch_size=20, strategy=FakeMultiPipelineStrategy(2),
                                      seed=seed, repeat=False, drop_remainder=False, with_keys=True)
        parts = [key_index(collect(p)) for p in pipelines]
        assert [len(p) for p in parts] == [100, 100]
        assert next(iter(pipelines[0]))["image"].shape[0] == 10  # per-replica batch
        assert sorted(np.concatenate(parts)) == list(range(N))


MIRRORED = r"""
import json, sys
import tensorflow as tf
cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_gans import data
from keras_gans.errors import DataError
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
ds = data.load_dataset(sys.argv[1], global_batch_size=8, strategy=strategy, seed=3, repeat=False,
                       with_keys=True)
steps = []
for batch in ds:
    keys = [t.numpy().astype(str).tolist() for t in strategy.experimental_local_results(batch["key"])]
    shapes = [t.shape.as_list() for t in strategy.experimental_local_results(batch["image"])]
    devices = [t.device for t in strategy.experimental_local_results(batch["image"])]
    steps.append({"keys": keys, "shapes": shapes, "devices": devices})
try:
    data.load_dataset(sys.argv[1], global_batch_size=7, strategy=strategy)
    error = None
except DataError as e:
    error = str(e)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "steps": steps, "error": error}))
"""


def test_mirrored_strategy_two_replicas(make_ds):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", MIRRORED, make_ds()], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    steps = result["steps"]
    assert len(steps) == N // 8
    for step in steps:
        assert step["shapes"] == [[4, 32, 32, 1], [4, 32, 32, 1]]
        assert step["devices"][0].endswith("CPU:0") and step["devices"][1].endswith("CPU:1")
        assert not set(step["keys"][0]) & set(step["keys"][1])
    per_replica = [[k for s in steps for k in s["keys"][r]] for r in range(2)]
    everything = per_replica[0] + per_replica[1]
    assert len(everything) == len(set(everything)) == N  # full cover, no duplicates
    assert "global batch size 7 does not divide over 2 replicas" in result["error"]


# --- inspect and image grids --------------------------------------------------------------------
def test_inspect_labelled_writes_class_rows(tmp_path, make_ds, digits):
    x, y = digits
    d = make_ds()
    out = str(tmp_path / "sub" / "grid.png")
    text = inspect_dataset(d, out, per_class=8)
    for expected in ["32x32x1 raw", f"{N} examples in 2 shard(s)", "20 examples in 1 shard(s)",
                     "10 classes: 0, 1, 2", "rejected    0", "8 per class for 10 classes", "dataset.json"]:
        assert expected in text, (expected, text)
    assert len(text.splitlines()) < 25
    with Image.open(out) as im:
        assert im.mode == "L"
        grid = np.asarray(im)
    assert grid.shape[0] == 10 * (32 + 2) + 2 and grid.shape[1] > 8 * (32 + 2) + 2
    cells = grid[:, grid.shape[1] - (8 * 34 + 2):]  # image part, right of the label column
    for row in (0, 3, 9):  # every cell of row c is a real digit c
        digits_of_class = x[y == row][..., 0]
        for col in range(8):
            cell = cells[2 + row * 34 : 2 + row * 34 + 32, 2 + col * 34 : 2 + col * 34 + 32]
            assert any(np.array_equal(cell, img) for img in digits_of_class), (row, col)
    assert "grid" not in inspect_dataset(d)  # no PNG requested: summary only


def test_inspect_unlabelled_and_rejected(tmp_path):
    d = str(tmp_path / "d")
    write_dataset(d, rgb_images(70, 16), encoding="png", compression="gzip", num_shards=3,
                  rejected={"total": 3, "by_reason": {"decode_error": 1, "too_small": 2},
                            "files": ["rejected-00000-of-00001.jsonl"]})
    out = str(tmp_path / "g.png")
    text = inspect_dataset(d, out)
    assert "16x16x3 png, compression gzip" in text and "70 examples in 3 shard(s)" in text
    assert "rejected    3 (decode_error 1, too_small 2)" in text and "labels      none" in text
    assert "64 images" in text
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size == (8 * 18 + 2, 8 * 18 + 2)
    text = inspect_dataset(d, out, max_scan=10)
    assert "10 images" in text
    with Image.open(out) as im:
        assert im.size == (4 * 18 + 2, 3 * 18 + 2)


def test_make_grid_layout():
    images = np.stack([np.full((4, 6, 3), i * 40, np.uint8) for i in range(5)])
    grid = image_grid.make_grid(images, pad=1, pad_value=(255, 0, 0))
    assert grid.shape == (2 * 5 + 1, 3 * 7 + 1, 3) and grid.dtype == np.uint8  # 5 -> 2 rows x 3 cols
    np.testing.assert_array_equal(grid[1:5, 1 + 7:7 + 7], images[1])  # row 0, col 1
    np.testing.assert_array_equal(grid[6:10, 1 + 7:7 + 7], images[4])  # row 1, col 1
    np.testing.assert_array_equal(grid[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(grid[6:10, 15:21], np.broadcast_to([255, 0, 0], (4, 6, 3)))  # empty cell
    assert image_grid.make_grid(images, cols=5, pad=0).shape == (4, 30, 3)
    assert image_grid.make_grid(images[..., 0], cols=1).shape == (5 * (4 + 2) + 2, 6 + 4, 1)
    with pytest.raises(ValueError, match="C in"):
        image_grid.make_grid(np.zeros((2, 4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8 or float"):
        image_grid.make_grid(np.zeros((2, 4, 4, 1), np.int32))


def test_to_uint8_and_save_grid(tmp_path):
    np.testing.assert_array_equal(image_grid.to_uint8(np.array([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])),
                                  [0, 0, 128, 191, 255, 255])
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1)).astype(np.uint8)
    np.testing.assert_array_equal(image_grid.to_uint8(scaled(x)), x)  # exact round trip
    path = str(tmp_path / "a" / "g.png")
    written = image_grid.save_grid(path, scaled(x), cols=3)
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (3 * 10 + 2, 2 * 10 + 2)
        np.testing.assert_array_equal(np.asarray(im), written[..., 0])
    np.testing.assert_array_equal(written[2:10, 2:10, 0], x[0, ..., 0])
    labelled = image_grid.save_grid(path, x, cols=3, row_labels=["zero", "one"])
    assert labelled.shape[0] == 22 and labelled.shape[1] > 32
    np.testing.assert_array_equal(labelled[:, -32:], written)  # labels only add a left column
    assert (labelled[:, : labelled.shape[1] - 32] < 128).any()  # text was drawn
    with pytest.raises(ValueError, match="3 row labels for a grid of 2 rows"):
        image_grid.save_grid(path, x, cols=3, row_labels=["a", "b", "c"])
    rgb = image_grid.save_grid(str(tmp_path / "rgb.png"), rgb_images(4, 8))
    with Image.open(str(tmp_path / "rgb.png")) as im:
        assert im.mode == "RGB" and im.size == (rgb.shape[1], rgb.shape[0]) == (22, 22)
