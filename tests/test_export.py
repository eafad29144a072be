"""Export for TF Serving: signatures, exactness, stateless sampling, atomic versions, the CLI."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from helpers.datasets import mnist32, write_dataset
from keras_gans import image_grid, sampling
from keras_gans.errors import UsageError
from keras_gans import cli
from keras_gans.serving import export
from keras_gans.training import config as config_lib, checkpoint as ckpt_lib, loop

LATENT = 8


def _train(preset, data_dir, runs_dir):
    cfg = config_lib.resolve(preset, [f'model={{"latent_dim": {LATENT}, "base_filters": 8}}', "batch=16",
                                      "total_kimg=0.032", "tick_kimg=0.032"])
    run_dir = loop.train(cfg, data_dir, runs_dir=runs_dir, log=lambda *a: None)
    # Two steps from N(0, 0.02) weights give nearly constant mid-grey images, which would make
    # the exactness and seed tests vacuous: scale the EMA generator's last layer so its images
    # span [-1, 1], and save that as the run's newest checkpoint.
    gan, _ = ckpt_lib.restore_gan(run_dir)
    net = gan.ema_generator
    z = tf.random.stateless_normal([16, LATENT], [0, 0])
    out = net(gan.generator_inputs(z, tf.range(16) % max(gan.num_classes, 1)), training=False)
    last = [layer for layer in net.layers if layer.weights][-1]
    last.kernel.assign(last.kernel * (0.8 / float(tf.math.reduce_std(out))))
    tf.train.CheckpointManager(ckpt_lib.make_checkpoint(gan), os.path.join(run_dir, "checkpoints"),
                               max_to_keep=5).save()
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    data = str(base / "mnist32")
    write_dataset(data, *mnist32(256), num_shards=2)
    out = {}
    for kind, preset in (("cond", "cdcgan-mnist32"), ("uncond", "dcgan-mnist32")):
        run_dir = _train(preset, data, str(base / f"runs-{kind}"))
        models = str(base / "models")
        version_dir = export.export_run(run_dir, f"digits-{kind}", models)
        gan, _ = ckpt_lib.restore_gan(run_dir)
        out[kind] = dict(run_dir=run_dir, models=models, version_dir=version_dir, gan=gan,
                         loaded=tf.saved_model.load(version_dir))
    return out


def _call(run, signature, **inputs):
    fn = run["loaded"].signatures[signature]
    return {k: v.numpy() for k, v in fn(**inputs).items()}


def _sample(run, seed, num, truncation=0.0, class_id=None):
    inputs = dict(seed=tf.constant(seed, tf.int64), num=tf.constant(num, tf.int32),
                  truncation=tf.constant(truncation, tf.float32))
    if class_id is not None:
        inputs["class_id"] = tf.constant(class_id, tf.int32)
    return _call(run, "sample", **inputs)


# --- sampling ---------------------------------------------------------------------------------
def test_truncated_normal_bounds_untouched_and_distribution():
    first = sampling.truncated_normal([200, 100], 5, 0.0).numpy()
    assert np.array_equal(first, tf.random.stateless_normal([200, 100], [5, 0]).numpy())
    for t in (0.5, 1.0, 2.0):
        z = sampling.truncated_normal([200, 100], 5, t).numpy()
        assert np.abs(z).max() <= t
        inside = np.abs(first) <= t
        assert np.array_equal(z[inside], first[inside])  # components within the threshold stay
        assert not np.array_equal(z[~inside], first[~inside])
        # The whole sample follows the normal truncated to [-t, t] (KS test, fixed seed).
        assert stats.kstest(z.ravel(), stats.truncnorm(-t, t).cdf).pvalue > 1e-3, t
    assert np.array_equal(sampling.truncated_normal([3, 4], 9, 0.7).numpy(),
                          sampling.truncated_normal([3, 4], 9, 0.7).numpy())
    # Tiny thresholds outlast the resampling rounds: the inverse-CDF fallback keeps it exact.
    tiny = sampling.truncated_normal([50, 100], 1, 0.01).numpy()
    assert np.isfinite(tiny).all() and np.abs(tiny).max() <= 0.01
    assert abs(tiny.std() - 0.01 / np.sqrt(3)) < 2e-4  # ~uniform on [-t, t]


def test_sample_latents_graph_matches_eager_and_streams_differ():
    fn = tf.function(lambda s, t: sampling.sample_latents(tf.constant(6), LATENT, s, t))
    for t in (0.0, 0.8):
        assert np.array_equal(fn(tf.constant(11, tf.int64), tf.constant(t)).numpy(),
                              sampling.sample_latents(6, LATENT, 11, t).numpy())
    ids = sampling.sample_class_ids(1000, 10, 11).numpy()
    assert ids.min() == 0 and ids.max() == 9
    assert np.array_equal(ids, sampling.sample_class_ids(1000, 10, 11).numpy())


# --- the SavedModel ---------------------------------------------------------------------------
def _cli_signatures(version_dir):
    """``saved_model_cli show --all``, parsed: {signature: {"method", "inputs"/"outputs": {name: (dtype,
    shape)}}}."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    cmd = [cli] if os.path.exists(cli) else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    text = subprocess.run(cmd + ["show", "--all", "--dir", version_dir], capture_output=True,
                          text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    sigs = {}
    for block in re.split(r"^signature_def\['", text, flags=re.M)[1:]:
        name = block.split("'", 1)[0]
        entry = sigs[name] = {"inputs": {}, "outputs": {}}
        for kind, key, dtype, shape in re.findall(
                r"(inputs|outputs)\['(\w+)'\] tensor_info:\n\s+dtype: (\w+)\n\s+shape: (.*)\n", block):
            entry[kind][key] = (dtype, shape.strip())
        method = re.search(r"Method name is: (.*)", block)
        entry["method"] = method.group(1).strip() if method else ""
    return sigs


@pytest.mark.parametrize("kind", ["cond", "uncond"])
def test_saved_model_cli_shows_named_signatures(runs, kind):
    sigs = _cli_signatures(runs[kind]["version_dir"])
    images = ("DT_UINT8", "(-1, 32, 32, 1)")
    cls = {"class_id": ("DT_INT32", "(-1)")} if kind == "cond" else {}
    assert sigs["serving_default"] == {
        "method": "tensorflow/serving/predict",
        "inputs": {"z": ("DT_FLOAT", f"(-1, {LATENT})"), **cls},
        "outputs": {"images": images, "images_png_bytes": ("DT_STRING", "(-1)")}}
    assert sigs["sample"] == {
        "method": "tensorflow/serving/predict",
        "inputs": {"seed": ("DT_INT64", "()"), "num": ("DT_INT32", "()"),
                   "truncation": ("DT_FLOAT", "()"), **cls},
        "outputs": {"images": images, "images_png_bytes": ("DT_STRING", "(-1)"),
                    "z": ("DT_FLOAT", f"(-1, {LATENT})"), **cls}}


def _session_run(version_dir, signature, **feeds):
    """Run a signature as tensorflow_model_server does: the MetaGraph in a TF1-style session."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], version_dir)
        sig = meta.signature_def[signature]
        assert sig.method_name == "tensorflow/serving/predict"
        return sess.run({k: v.name for k, v in sig.outputs.items()},
                        {sig.inputs[k].name: v for k, v in feeds.items()})


@pytest.mark.parametrize("kind", ["cond", "uncond"])
def test_the_model_server_loading_path_gives_the_same_outputs(runs, kind):
    run = runs[kind]
    cls = {"class_id": [-1, 3, -1]} if kind == "cond" else {}
    via_session = _session_run(run["version_dir"], "sample", seed=5, num=3, truncation=0.0, **cls)
    expected = _sample(run, 5, 3, class_id=cls.get("class_id"))
    assert set(via_session) == set(expected)
    for key in expected:
        assert np.array_equal(via_session[key], expected[key]), key
    feeds = {"z": expected["z"], **({"class_id": expected["class_id"]} if cls else {})}
    assert np.array_equal(_session_run(run["version_dir"], "serving_default", **feeds)["images"],
                          expected["images"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape("num must be in [1, 1024]")):
        _session_run(run["version_dir"], "sample", seed=5, num=0, truncation=0.0, **cls)


@pytest.mark.parametrize("kind", ["cond", "uncond"])
def test_serving_default_is_bit_exact_with_the_ema_generator(runs, kind):
    run = runs[kind]
    z = np.random.default_rng(0).standard_normal((10, LATENT)).astype("float32")
    labels = np.arange(10, dtype="int32") if kind == "cond" else None
    expected = image_grid.to_uint8(run["gan"].sample(tf.constant(z), None if labels is None
                                                     else tf.constant(labels)))
    inputs = {"z": tf.constant(z)}
    if labels is not None:
        inputs["class_id"] = tf.constant(labels)
    out = _call(run, "serving_default", **inputs)
    assert out["images"].dtype == np.uint8 and out["images"].shape == (10, 32, 32, 1)
    assert np.array_equal(out["images"], expected)
    assert len(np.unique(out["images"])) > 10  # not a constant image
    # The PNGs decode to the same pixels.
    decoded = np.stack([tf.io.decode_png(b).numpy() for b in out["images_png_bytes"]])
    assert np.array_equal(decoded, out["images"])


@pytest.mark.parametrize("kind", ["cond", "uncond"])
def test_sample_is_stateless_and_its_z_reproduces_the_images(runs, kind):
    run = runs[kind]
    cls = [-1] if kind == "cond" else None
    a, b = _sample(run, 7, 6, class_id=cls), _sample(run, 7, 6, class_id=cls)
    c = _sample(run, 8, 6, class_id=cls)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["images"], c["images"])
    assert a["images"].shape == (6, 32, 32, 1) and a["z"].shape == (6, LATENT)
    assert np.array_equal(a["z"], sampling.sample_latents(6, LATENT, 7).numpy())  # same as in-process
    inputs = {"z": tf.constant(a["z"])}
    if kind == "cond":
        inputs["class_id"] = tf.constant(a["class_id"])
    again = _call(run, "serving_default", **inputs)
    assert np.array_equal(again["images"], a["images"])
    assert np.array_equal(again["images_png_bytes"], a["images_png_bytes"])
    # Truncation bounds every latent component; none leaves them unbounded.
    t = _sample(run, 7, 64, truncation=0.5, class_id=cls)["z"]
    assert np.abs(t).max() <= 0.5
    assert np.abs(_sample(run, 7, 64, truncation=0.0, class_id=cls)["z"]).max() > 2.0


def test_sample_class_ids_broadcast_random_and_validated(runs):
    run = runs["cond"]
    one = _sample(run, 3, 5, class_id=[4])
    assert one["class_id"].tolist() == [4] * 5
    mixed = _sample(run, 3, 4, class_id=[-1, 2, -5, 9])
    assert mixed["class_id"][[1, 3]].tolist() == [2, 9]
    rand = _sample(run, 3, 200, class_id=[-1])["class_id"]
    assert rand.min() >= 0 and rand.max() <= 9 and len(set(rand.tolist())) == 10
    assert np.array_equal(rand, sampling.sample_class_ids(200, 10, 3).numpy())
    assert np.array_equal(rand[[0, 2]], mixed["class_id"][[0, 2]])  # drawn from the seed
    bad = [
        (dict(num=4, class_id=[1, 2]), "class_id must have 1 entry"),
        (dict(num=2, class_id=[3, 10]), "class_id must be < num_classes (10)"),
        (dict(num=0, class_id=[1]), "num must be in [1, 1024]"),
        (dict(num=1025, class_id=[1]), "num must be in [1, 1024]"),
    ]
    for kwargs, message in bad:
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            _sample(run, 1, **kwargs)
    z = tf.zeros([2, LATENT])
    with pytest.raises(tf.errors.InvalidArgumentError, match="class_id must be >= 0"):
        _call(run, "serving_default", z=z, class_id=tf.constant([1, -1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="one entry per row of z"):
        _call(run, "serving_default", z=z, class_id=tf.constant([1]))


# --- versions, atomicity, metadata -----------------------------------------------------------
def _entries(model_dir):
    return sorted(os.listdir(model_dir))


def test_versions_increment_and_existing_versions_are_refused(runs, capsys):
    run = runs["uncond"]
    model_dir = os.path.dirname(run["version_dir"])
    assert os.path.basename(run["version_dir"]) == "1"
    second = export.export_run(run["run_dir"], "digits-uncond", run["models"])
    assert second == os.path.join(model_dir, "2")
    with pytest.raises(UsageError, match="already exists"):
        export.export_run(run["run_dir"], "digits-uncond", run["models"], version=1)
    assert cli.run_command(["export", run["run_dir"], "--name", "digits-uncond", "--out", run["models"],
                                  "--version", "5"]) == 0
    printed = capsys.readouterr().out
    assert os.path.join(model_dir, "5") in printed and "signature sample: seed int64[]" in printed
    assert _entries(model_dir) == ["1", "2", "5"]
    assert export.next_version(model_dir) == 6
    loaded = tf.saved_model.load(os.path.join(model_dir, "5"))
    z = tf.constant(np.ones((2, LATENT), "float32"))
    assert np.array_equal(loaded.signatures["serving_default"](z=z)["images"].numpy(),
                          _call(run, "serving_default", z=z)["images"])


def test_a_crash_during_export_leaves_no_version_and_no_temp_dir(runs, monkeypatch):
    run = runs["cond"]
    model_dir = os.path.dirname(run["version_dir"])
    before = _entries(model_dir)
    seen = []

    def crash(module, path, signatures):
        os.makedirs(os.path.join(path, "variables"))
        open(os.path.join(path, "saved_model.pb"), "wb").write(b"partial")
        seen.append(os.path.basename(path))
        raise OSError("disk full")

    monkeypatch.setattr(export, "_save_saved_model", crash)
    with pytest.raises(OSError, match="disk full"):
        export.export_run(run["run_dir"], "digits-cond", run["models"])
    assert seen and seen[0].startswith(".tmp-") and not seen[0].isdigit()
    assert _entries(model_dir) == before == ["1"]


def test_model_card_config_and_metadata(runs):
    for kind in ("cond", "uncond"):
        run = runs[kind]
        extra = os.path.join(run["version_dir"], "assets.extra")
        meta = json.load(open(os.path.join(extra, "keras_gans.json")))
        config = json.load(open(os.path.join(extra, "config.json")))
        assert config == json.load(open(os.path.join(run["run_dir"], "config.json")))
        assert meta["latent_dim"] == LATENT and meta["resolution"] == 32 and meta["channels"] == 1
        assert meta["kimg"] == 0.032 and meta["version"] == 1 and meta["ema"] is True
        assert meta["preset"] == config["preset"] == ("cdcgan-mnist32" if kind == "cond" else "dcgan-mnist32")
        assert meta["num_classes"] == (10 if kind == "cond" else 0)
        assert meta["labels"] == ([str(i) for i in range(10)] if kind == "cond" else None)
        assert set(meta["signatures"]) == {"serving_default", "sample"}
        assert meta["signatures"]["sample"]["inputs"]["seed"] == {"dtype": "int64", "shape": []}
        assert meta["signatures"]["serving_default"]["outputs"]["images"] == {
            "dtype": "uint8", "shape": [None, 32, 32, 1]}
        card = open(os.path.join(extra, "model_card.md"), encoding="utf-8").read()
        last = json.loads(open(os.path.join(run["run_dir"], "metrics.jsonl")).read().splitlines()[-1])
        for text in ("EMA weights", f"preset: `{config['preset']}`", "trained: 0.032 kimg",
                     "32x32x1", "mnist32", meta["exported"], "| sample | input | `seed` | int64 | [] |",
                     f"- g_loss: {last['g_loss']:.6g}", "deconv_32"):
            assert text in card, text
        assert ("classes (10): 0, 1, 2" in card) == (kind == "cond")


def test_cli_errors_are_usage_errors(runs, tmp_path):
    out = str(tmp_path / "models")
    with pytest.raises(UsageError, match="does not exist"):
        cli.run_command(["export", str(tmp_path / "nope"), "--name", "m", "--out", out])
    with pytest.raises(UsageError, match="not a keras-gans run directory"):
        cli.run_command(["export", str(tmp_path), "--name", "m", "--out", out])
    fresh = tmp_path / "00001-dcgan-mnist32"
    fresh.mkdir()
    for name in ("config.json", "run.json"):
        shutil.copy(os.path.join(runs["cond"]["run_dir"], name), fresh / name)
    with pytest.raises(UsageError, match="has no checkpoint yet"):
        cli.run_command(["export", str(fresh), "--name", "m", "--out", out])
    run_dir = runs["cond"]["run_dir"]
    with pytest.raises(UsageError, match="--name"):
        cli.run_command(["export", run_dir, "--name", "a/b", "--out", out])
    with pytest.raises(UsageError, match="positive integer"):
        cli.run_command(["export", run_dir, "--name", "m", "--out", out, "--version", "0"])
    with pytest.raises(UsageError, match="required: --name"):
        cli.run_command(["export", run_dir, "--out", out])
    assert not os.path.exists(out)  # nothing written by refused exports


# --- serving/ deployment files -----------------------------------------------------------------
SERVING = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving")


def _batching_parameters_class():
    """BatchingParameters of tensorflow_serving/servables/tensorflow/session_bundle_config.proto
    (not shipped in tensorflow-serving-api), rebuilt from its field list."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    F = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(wrappers_pb2.DESCRIPTOR.serialized_pb))
    fdp = descriptor_pb2.FileDescriptorProto(name="batching_test.proto", package="t",
                                             dependency=["google/protobuf/wrappers.proto"])
    msg = fdp.message_type.add(name="BatchingParameters")
    wrapped = [("max_batch_size", 1, "Int64Value"), ("batch_timeout_micros", 2, "Int64Value"),
               ("max_enqueued_batches", 3, "Int64Value"), ("num_batch_threads", 4, "Int64Value"),
               ("thread_pool_name", 5, "StringValue"), ("enable_large_batch_splitting", 8, "BoolValue"),
               ("max_execution_batch_size", 9, "Int64Value")]
    for name, number, wrapper in wrapped:
        msg.field.add(name=name, number=number, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                      type_name=f".google.protobuf.{wrapper}")
    msg.field.add(name="allowed_batch_sizes", number=6, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    msg.field.add(name="pad_variable_length_inputs", number=7, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("t.BatchingParameters"))


def test_serving_configs_parse_and_agree():
    import yaml
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    models = text_format.Parse(open(os.path.join(SERVING, "models.config")).read(),
                               model_server_config_pb2.ModelServerConfig())
    (model,) = models.model_config_list.config
    assert model.base_path == f"/models/{model.name}" and model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    batching = text_format.Parse(open(os.path.join(SERVING, "batching_parameters.txt")).read(),
                                 _batching_parameters_class()())
    assert 0 < batching.max_execution_batch_size.value <= batching.max_batch_size.value
    assert batching.num_batch_threads.value >= 1 and batching.batch_timeout_micros.value >= 0

    compose = yaml.safe_load(open(os.path.join(SERVING, "compose.yaml")))
    cpu, gpu = compose["services"]["tf-serving"], compose["services"]["tf-serving-gpu"]
    assert re.fullmatch(r"tensorflow/serving:\$\{TF_SERVING_VERSION:-\d+\.\d+\.\d+\}", cpu["image"])
    assert gpu["image"] == cpu["image"] + "-gpu" and gpu["profiles"] == ["gpu"] and "profiles" not in cpu
    for service in (cpu, gpu):
        flags = dict(f.split("=", 1) if "=" in f else (f, None) for f in service["command"])
        assert flags["--port"] == "8500" and flags["--rest_api_port"] == "8501"
        assert "--enable_batching" in flags and int(flags["--file_system_poll_wait_seconds"]) > 0
        mounts = {target: source for source, target, mode in (v.rsplit(":", 2) for v in service["volumes"])}
        assert mounts["/models"].startswith("${MODEL_BASE")
        for target in ("--model_config_file", "--batching_parameters_file"):
            assert os.path.exists(os.path.join(SERVING, mounts[flags[target]]))
        assert sorted(p.split(":")[-1] for p in service["ports"]) == ["8500", "8501"]
    readme = open(os.path.join(SERVING, "README.md")).read()
    for text in (f"localhost:8501/v1/models/{model.name}", f"/v1/models/{model.name}/metadata",
                 f"/v1/models/{model.name}:predict",
                 '{"signature_name": "sample", "inputs": {"seed": 1, "num": 4, "truncation": 0}}'):
        assert text in readme, text
