"""BigGAN sampling: standing statistics, exports with truncation and classes, 2-replica training.

One tiny biggan-mnist32 run (ch 4, dim_z 16, two steps of 8) is trained in-process and shared by
the standing-statistics and export tests; the 2-replica run is a subprocess (logical CPU devices
must be configured before TensorFlow starts).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from keras_gans import sampling
from keras_gans.errors import UsageError
from keras_gans import cli
from keras_gans.serving import export
from keras_gans.training import config as config_lib, checkpoint as ckpt_lib, loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIM_Z, CLASSES = 16, 10
TINY = ['model={"ch": 4, "dim_z": 16, "shared_dim": 8, "attention": 0}', "batch=8",
        "total_kimg=0.016", "tick_kimg=0.016"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("mnist32"))
    write_dataset(d, *mnist32(256), num_shards=2)
    return d


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    cfg = config_lib.resolve("biggan-mnist32", TINY)
    return loop.train(cfg, data_dir, runs_dir=str(tmp_path_factory.mktemp("runs")), log=lambda *a: None)


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    models = str(tmp_path_factory.mktemp("models"))
    version_dir = export.export_run(run_dir, "biggan", models)
    return dict(models=models, version_dir=version_dir, loaded=tf.saved_model.load(version_dir))


def _restore(run_dir):
    gan, _ = ckpt_lib.restore_gan(run_dir)
    return gan, gan.ema_generator


def _stats(net):
    return {bn.path: (bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy())
            for bn in sampling.batch_norm_layers(net)}


def _images(net, z, class_id):
    return net([z, class_id], training=False).numpy()


def assert_served(served, images):
    """``served`` (uint8, from the SavedModel) is ``images`` (floats in [-1, 1], computed eagerly)
    mapped to [0, 255] and rounded. Not bit-exact: the traced graph's convolutions differ from the
    eager ones by float rounding (~1e-6 here), which can flip a pixel that lies on a .5 boundary."""
    exact = np.clip((images.astype(np.float64) + 1.0) * 127.5, 0.0, 255.0)
    assert served.dtype == np.uint8 and served.shape == images.shape
    assert np.abs(served - exact).max() <= 0.5 + 1e-3


# --- standing statistics ----------------------------------------------------------------------
def test_standing_stats_are_the_average_of_the_batch_statistics(run_dir):
    gan, g = _restore(run_dir)
    n, batch, trunc = 3, 8, 0.7
    bns = sampling.batch_norm_layers(g)
    names = [bn.path for bn in bns]
    # Every BN: the one inside each ConditionalBatchNorm, and the output BN.
    assert names == [f"block{b}_cbn{i}/batch_norm" for b in (1, 2, 3) for i in (1, 2)] + [
        "output_bn"], names
    assert not g.trainable  # the EMA generator is frozen: BN would use its moving statistics
    # Reference, by hand: a trainable copy with the same weights, probed at two BN inputs
    # (the tensor fed to block2_cbn1's batch norm and to output_bn) in training mode, its
    # state put back after every batch (as accumulate_standing_stats does).
    ref_gan, ref = _restore(run_dir)
    ref.trainable = True
    probe = keras.Model(ref.inputs, [ref.get_layer("block2_cbn1").input[0],
                                     ref.get_layer("output_bn").input])
    weights = ref.get_weights()
    batch_stats = []
    for i in range(n):
        z, class_id = sampling.standing_stats_inputs(DIM_Z, CLASSES, i, batch, trunc, seed=5)
        assert z.shape == (batch, DIM_Z) and np.abs(z.numpy()).max() <= trunc
        assert class_id.dtype == tf.int32 and 0 <= class_id.numpy().min() <= class_id.numpy().max() < CLASSES
        xs = [x.numpy().astype(np.float64) for x in probe([z, class_id], training=True)]
        batch_stats.append([(x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))) for x in xs])
        ref.set_weights(weights)
    z, class_id = sampling.standing_stats_inputs(DIM_Z, CLASSES, 0, 8, 0.0, seed=99)
    before_images, before_stats = _images(g, z, class_id), _stats(g)
    u = {v.path: v.numpy().copy() for v in g.variables if v.path.endswith("sn_u")}
    momenta = [bn.momentum for bn in bns]

    updated = sampling.accumulate_standing_stats(g, DIM_Z, CLASSES, num_batches=n, batch_size=batch,
                                                 truncation=trunc, seed=5)
    assert updated == bns
    after = _stats(g)
    for k, name in enumerate(["block2_cbn1/batch_norm", "output_bn"]):
        mean = np.mean([s[k][0] for s in batch_stats], axis=0)
        var = np.mean([s[k][1] for s in batch_stats], axis=0)
        np.testing.assert_allclose(after[name][0], mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(after[name][1], var, rtol=1e-4, atol=1e-6)
        # not the momentum EMA of the same batches (nor the training statistics)
        assert not np.allclose(after[name][1], before_stats[name][1], rtol=1e-3)
    # Only the statistics changed: SN u vectors, momentum and the frozen flags are as before.
    for v in g.variables:
        if v.path in u:
            np.testing.assert_array_equal(v.numpy(), u[v.path])
    assert [bn.momentum for bn in bns] == momenta == [0.9] * 7
    assert not g.trainable and not any(layer.trainable for layer in g._flatten_layers())
    assert all(not v.trainable for v in g.variables)
    # Inference uses them: the images change.
    after_images = _images(g, z, class_id)
    assert np.abs(after_images - before_images).max() > 1e-2
    # Deterministic for a seed (the statistics are reset first, so a rerun gives the same);
    # another seed gives other statistics.
    sampling.accumulate_standing_stats(g, DIM_Z, CLASSES, num_batches=n, batch_size=batch,
                                       truncation=trunc, seed=5)
    for name, (mean, var) in _stats(g).items():
        np.testing.assert_array_equal(mean, after[name][0])
        np.testing.assert_array_equal(var, after[name][1])
    np.testing.assert_array_equal(_images(g, z, class_id), after_images)
    sampling.accumulate_standing_stats(g, DIM_Z, CLASSES, num_batches=n, batch_size=batch,
                                       truncation=trunc, seed=6)
    assert not np.allclose(_stats(g)["output_bn"][0], after["output_bn"][0])


def test_standing_stats_on_an_unconditional_model_and_errors():
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(5)
    bn = keras.layers.BatchNormalization(momentum=0.99)
    z_in = keras.Input((4,))
    g = keras.Model(z_in, bn(dense(z_in)))
    sampling.accumulate_standing_stats(g, 4, 0, num_batches=4, batch_size=16, seed=3)
    w, b = dense.kernel.numpy().astype(np.float64), dense.bias.numpy().astype(np.float64)
    hs = [sampling.standing_stats_inputs(4, 0, i, 16, seed=3)[0].numpy() @ w + b for i in range(4)]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([h.mean(0) for h in hs], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([h.var(0) for h in hs], 0), rtol=1e-5)
    assert bn.momentum == 0.99 and sampling.standing_stats_inputs(4, 0, 0)[1] is None
    no_bn = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="no batch-norm layers"):
        sampling.accumulate_standing_stats(no_bn, 4, 0)
    for bad in (dict(num_batches=0), dict(batch_size=0), dict(truncation=-1.0)):
        with pytest.raises(ValueError):
            sampling.accumulate_standing_stats(g, 4, 0, **bad)
    # A failing forward pass puts the original statistics back.
    mean = bn.moving_mean.numpy().copy()
    with pytest.raises(Exception):
        sampling.accumulate_standing_stats(g, 7, 0, num_batches=2, batch_size=4)  # wrong latent size
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    assert g.trainable and bn.momentum == 0.99


# --- export -----------------------------------------------------------------------------------
def _call(loaded, signature, **inputs):
    return {k: v.numpy() for k, v in loaded.signatures[signature](**inputs).items()}


def _sample(loaded, seed, num, truncation, class_id):
    return _call(loaded, "sample", seed=tf.constant(seed, tf.int64), num=tf.constant(num, tf.int32),
                 truncation=tf.constant(truncation, tf.float32),
                 class_id=tf.constant(class_id, tf.int32))


def test_biggan_sample_with_truncation_and_class_ids(exported, run_dir):
    loaded = exported["loaded"]
    explicit = _sample(loaded, 3, 6, 0.5, [0, 1, 2, 3, 4, 9])
    negative = _sample(loaded, 3, 6, 0.5, [-1, 5, -1, -3, 7, -1])
    broadcast = _sample(loaded, 3, 6, 0.5, [8])
    assert explicit["class_id"].tolist() == [0, 1, 2, 3, 4, 9]
    assert negative["class_id"][[1, 4]].tolist() == [5, 7]
    random_ids = sampling.sample_class_ids(6, CLASSES, 3).numpy()
    np.testing.assert_array_equal(negative["class_id"][[0, 2, 3, 5]], random_ids[[0, 2, 3, 5]])
    assert broadcast["class_id"].tolist() == [8] * 6
    for out in (explicit, negative, broadcast):
        assert out["images"].shape == (6, 32, 32, 1) and out["z"].shape == (6, DIM_Z)
        assert np.abs(out["z"]).max() <= 0.5
        np.testing.assert_array_equal(out["z"], explicit["z"])  # z depends on the seed only
        again = _call(loaded, "serving_default", z=tf.constant(out["z"]),
                      class_id=tf.constant(out["class_id"]))
        np.testing.assert_array_equal(again["images"], out["images"])
    np.testing.assert_array_equal(sampling.sample_latents(6, DIM_Z, 3, 0.5).numpy(), explicit["z"])
    same = _sample(loaded, 3, 6, 0.5, [0, 1, 2, 3, 4, 9])
    for key in explicit:
        np.testing.assert_array_equal(same[key], explicit[key])
    assert not np.array_equal(_sample(loaded, 4, 6, 0.5, [8])["images"], broadcast["images"])
    # The class goes through the conditional BNs: one z, two classes, two different images.
    z = tf.constant(np.repeat(explicit["z"][:1], 2, axis=0))
    pair = _call(loaded, "serving_default", z=z, class_id=tf.constant([1, 6]))["images"]
    assert np.abs(pair[0].astype(int) - pair[1].astype(int)).max() > 2
    # serving_default is the in-process EMA generator.
    _, g = _restore(run_dir)
    assert_served(explicit["images"], _images(g, tf.constant(explicit["z"]),
                                              tf.constant(explicit["class_id"])))


def test_export_with_standing_stats(exported, run_dir, capsys):
    models = exported["models"]
    with pytest.raises(UsageError, match="need --standing-stats"):
        cli.run_command(["export", run_dir, "--name", "biggan", "--out", models, "--standing-stats-batch", "4"])
    for bad, match in ((dict(standing_stats=-1), "--standing-stats -1"),
                       (dict(standing_stats=2, standing_stats_batch=0), "--standing-stats-batch"),
                       (dict(standing_stats=2, standing_stats_truncation=-0.5), "truncation")):
        with pytest.raises(UsageError, match=match):
            export.export_run(run_dir, "biggan", models, **bad)
    assert sorted(os.listdir(os.path.join(models, "biggan"))) == ["1"]
    assert cli.run_command(["export", run_dir, "--name", "biggan", "--out", models, "--standing-stats", "3",
                                  "--standing-stats-batch", "8", "--standing-stats-truncation", "0.5"]) == 0
    assert "standing statistics: 3 batches of 8 (truncation 0.5) over 7 batch-norm layers" in (
        capsys.readouterr().out)
    version_dir = os.path.join(models, "biggan", "2")
    extra = os.path.join(version_dir, "assets.extra")
    meta = json.load(open(os.path.join(extra, "keras_gans.json")))
    assert meta["standing_stats"] == {"num_batches": 3, "batch_size": 8, "truncation": 0.5, "seed": 0,
                                      "layers": 7}
    plain = json.load(open(os.path.join(exported["version_dir"], "assets.extra", "keras_gans.json")))
    assert plain["standing_stats"] is None
    card = open(os.path.join(extra, "model_card.md"), encoding="utf-8").read()
    assert "standing statistics (BigGAN), the average of the batch statistics of 3 batches of 8" in card
    assert "no standing statistics" in open(os.path.join(exported["version_dir"], "assets.extra",
                                                         "model_card.md"), encoding="utf-8").read()
    # The export holds the EMA generator with the standing statistics (the checkpoint does not).
    _, g = _restore(run_dir)
    z, class_id = sampling.standing_stats_inputs(DIM_Z, CLASSES, 0, 8, 0.0, seed=42)
    plain_images = _images(g, z, class_id)
    sampling.accumulate_standing_stats(g, DIM_Z, CLASSES, num_batches=3, batch_size=8, truncation=0.5)
    standing_images = _images(g, z, class_id)
    assert np.abs(standing_images - plain_images).max() > 0.05
    served = _call(tf.saved_model.load(version_dir), "serving_default", z=z, class_id=class_id)["images"]
    assert_served(served, standing_images)
    assert_served(_call(exported["loaded"], "serving_default", z=z, class_id=class_id)["images"],
                  plain_images)


# --- 2 replicas -------------------------------------------------------------------------------
def test_biggan_trains_on_two_replicas(data_dir, tmp_path):
    # MirroredStrategy over 2 logical CPU devices. Keras 3 keeps BatchNormalization statistics
    # per replica (no cross-replica sync, as BigGAN without --cross_replica), and each replica
    # normalizes its own half batch, so the result is not the 1-device run's: no exact
    # comparison here (tests/test_distribute.py checks exactness where it holds).
    runs = tmp_path / "runs"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("TF_CONFIG", None)
    sets = [a for s in TINY for a in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "keras_gans.cli", "train", "--preset", "biggan-mnist32", "--data", data_dir,
         "--runs-dir", str(runs), "--replicas", "2", *sets, "--set", "total_kimg=0.032"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "MirroredStrategy, 2 replica(s)" in proc.stdout
    assert "global batch 8 (= 4 per replica x 2)" in proc.stdout
    (run,) = [runs / n for n in os.listdir(runs)]
    info = json.load(open(run / "run.json"))
    assert info["replicas"] == 2 and info["status"] == "finished" and info["kimg"] == 0.032
    metrics = [json.loads(line) for line in open(run / "metrics.jsonl") if line.strip()]
    assert metrics and all(np.isfinite(v) for m in metrics for v in m.values()
                           if isinstance(v, (int, float))), metrics
    assert {"d_loss", "g_loss"} <= set(metrics[-1])
    # The checkpoint restores on one device (every variable matched) and generates.
    gan, cfg = ckpt_lib.restore_gan(str(run))
    assert cfg.replicas == 2 and int(gan.images_seen.numpy()) == 32
    z, class_id = sampling.standing_stats_inputs(DIM_Z, CLASSES, 0, 4)
    images = gan.sample(z, class_id).numpy()
    assert images.shape == (4, 32, 32, 1) and np.isfinite(images).all()
    assert len({v.path for v in gan.generator.variables}) == len(gan.generator.variables)
