"""The GAN train step: replica-correct updates and logs, accumulation, EMA, determinism."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gans.losses import regularizers as R
from keras_gans.training.ema import EmaSchedule
from keras_gans.training.gan import GAN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def parity():
    """Run tests/scripts/replica_parity.py once (2 logical CPUs need a fresh process)."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "scripts", "replica_parity.py")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["case"]: r for r in map(json.loads, (l for l in proc.stdout.splitlines() if l.startswith("{")))}


@pytest.mark.parametrize("case", ["ns_r1_drift", "wgan_gp", "hinge_ortho", "rahinge_ms", "ns_dsteps2_acc2",
                                  "hinge_diffaugment_r1", "wgan_gp_acgan"])
def test_two_replicas_update_and_log_exactly_like_one_device(parity, case):
    r = parity[case]
    assert r["moved"] > 1e-3  # training did something: the comparison is not vacuous
    assert r["weight_gap"] < 1e-6, r
    assert r["rerun_gap"] == 0.0  # same seed, same device: bit-identical
    assert max(r["log_gaps"].values()) < 1e-5, r["log_gaps"]
    assert r["images_seen"][0] == r["images_seen"][1]
    assert all(np.isfinite(v) for v in r["logs"].values())


def test_accumulation_equals_one_big_batch(parity):
    r = parity["accumulation"]
    assert r["weight_gap"] < 1e-6 and max(r["log_gaps"].values()) < 1e-5, r


def _tiny(num_classes=0, latent=3, res=4):
    keras.utils.set_random_seed(0)
    z = keras.Input((latent,), name="z")
    x = keras.layers.Reshape((res, res, 1))(keras.layers.Dense(res * res, activation="tanh")(z))
    g = keras.Model(z, x, name="g")
    img = keras.Input((res, res, 1))
    d = keras.Model(img, keras.layers.Dense(1)(keras.layers.Flatten()(img)), name="d")
    return g, d


def _data(n=32, res=4):
    images = np.random.default_rng(0).uniform(-1, 1, (n, res, res, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices({"image": images}).batch(8, drop_remainder=True).repeat()


def test_ema_follows_the_schedule_and_counters_advance():
    g, d = _tiny()
    gan = GAN(g, d, latent_dim=3)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                ema=EmaSchedule(beta=0.9))
    before_ema = [w.numpy() for w in gan.ema_generator.weights]
    gan.fit(_data(), steps_per_epoch=1, epochs=1, verbose=0)
    after_g = [w.numpy() for w in g.weights]
    for e, b, a in zip(gan.ema_generator.weights, before_ema, after_g):
        np.testing.assert_allclose(e.numpy(), 0.9 * b + 0.1 * a, atol=1e-6)
    assert int(gan.images_seen.numpy()) == 8 and int(gan.step_counter.numpy()) == 1


def test_lazy_regularizer_runs_every_interval_and_is_logged_when_active():
    g, d = _tiny()
    gan = GAN(g, d, latent_dim=3)
    gan.compile(g_optimizer=keras.optimizers.SGD(1e-6), d_optimizer=keras.optimizers.SGD(1e-6),
                regularizers=[R.R1(gamma=2.0, interval=2)])
    hist = gan.fit(_data(), steps_per_epoch=4, epochs=1, verbose=0).history
    # D(x) = w.x + b has grad w: R1 = gamma/2 ||w||^2 > 0 whenever it runs; never averaged with 0s.
    w = d.weights[0].numpy()
    assert hist["reg_r1"][0] == pytest.approx(float((w ** 2).sum()), rel=1e-3)


def test_diffaugment_reaches_every_discriminator_input():
    """With ``augment`` D sees DiffAugment'ed reals and fakes (different draws per call), the
    same images diff_augment gives for the GAN's seeds; G's gradient flows through it."""
    from keras_gans.layers.diffaugment import diff_augment

    seen = []

    class Recording(keras.Model):
        def __init__(self, d):
            super().__init__()
            self.d = d

        def call(self, x, training=False):
            seen.append(x)
            return self.d(x)

    g, d = _tiny(res=8)
    rec = Recording(d)
    rec(tf.zeros((1, 8, 8, 1)))
    gan = GAN(g, rec, latent_dim=3, seed=5)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                augment="color,translation,cutout")
    data = {"image": tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)), tf.float32)}
    seen.clear()
    with tf.GradientTape() as tape:
        z = tf.random.normal((8, 3))
        fake = g(z)
        aug = gan._augment(fake, 7)
        energy = tf.reduce_sum(aug * aug)
    grad = tape.gradient(energy, g.trainable_variables)
    assert all(gr is not None for gr in grad) and float(tf.linalg.global_norm(grad)) > 0
    want = diff_augment(fake, "color,translation,cutout", seed=None, draw=lambda k, shape: (
        tf.random.stateless_uniform([8, *shape], seed=tf.random.experimental.stateless_fold_in(
            gan._seed("augment", 7), k))))
    np.testing.assert_allclose(aug.numpy(), want.numpy(), atol=1e-6)
    assert float(tf.reduce_max(tf.abs(aug - fake))) > 0.1  # it did change the images
    gan.train_step(data)
    # D step: real, fake; G step: fake. The real batch D saw is not the raw one (augmented).
    assert len(seen) == 3
    assert float(tf.reduce_max(tf.abs(seen[0] - data["image"]))) > 0.1
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(),
                    augment="color,blur")


def test_errors_are_clear():
    g, d = _tiny()
    gan = GAN(g, d, latent_dim=3)
    with pytest.raises(ValueError, match="target"):
        bad = R.Drift()
        bad.target = "both"
        gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), regularizers=[bad])
    gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), d_steps=3)
    with pytest.raises(ValueError, match="not divisible"):
        gan.fit(_data(), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="fake_labels"):
        gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), fake_labels="x")
    # The label penalty needs an auxiliary classifier, and an auxiliary classifier needs it on both.
    with pytest.raises(ValueError, match="auxiliary classifier"):
        gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(),
                    regularizers=[R.LabelPenalty()])
    img = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(img)
    classifier = keras.Model(img, {"score": keras.layers.Dense(1)(flat),
                                   "class_logits": keras.layers.Dense(3)(flat)})
    classifier.takes_labels, classifier.auxiliary_classes = False, True
    cond = GAN(g, classifier, latent_dim=3, num_classes=3)  # compile checks only the networks' roles
    with pytest.raises(ValueError, match="both networks"):
        cond.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(),
                     regularizers=[R.LabelPenalty()])
    assert not cond.discriminator_takes_labels()
    assert cond.discriminator_inputs(tf.zeros((2, 4, 4, 1)), tf.zeros((2,), tf.int32)).shape == (2, 4, 4, 1)


def test_regularizer_configs():
    assert isinstance(R.from_config({"type": "gp", "weight": 5}), R.GradientPenalty)
    with pytest.raises(ValueError, match="unknown regularizer"):
        R.from_config({"type": "nope"})
    with pytest.raises(ValueError, match="bad arguments"):
        R.from_config({"type": "r1", "gamma_typo": 1})


@pytest.mark.parametrize("kw, expected", [
    ({"beta": 0.999}, [0.999, 0.999, 0.999]),
    ({"beta": 0.9999, "start_kimg": 1.0}, [0.0, 0.9999, 0.9999]),
    ({"beta": None, "half_life_kimg": 10.0}, [0.5 ** (64 / 10000)] * 3),
    ({"beta": None, "half_life_kimg": 10.0, "rampup": 0.05}, [0.0, 0.5 ** (64 / 50), 0.5 ** (64 / 10000)]),
])
def test_ema_schedule_table(kw, expected):
    s = EmaSchedule(**kw)
    got = [float(s.beta_at(n, 64)) for n in (0, 1000, 1_000_000)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_ema_schedule_validation():
    with pytest.raises(ValueError, match="exactly one"):
        EmaSchedule(beta=0.9, half_life_kimg=10)
    with pytest.raises(ValueError, match="beta"):
        EmaSchedule(beta=1.5)


def test_ema_schedule_in_graph_mode():
    """The train step calls beta_at inside a tf.function with tensor inputs (float64 math)."""
    s = EmaSchedule(beta=None, half_life_kimg=10.0, rampup=0.05)
    fn = tf.function(lambda seen: s.beta_at(seen, tf.constant(64, tf.int64)))
    assert float(fn(tf.constant(1000, tf.int64))) == pytest.approx(0.5 ** (64 / 50), rel=1e-5)


class _Recording(keras.Model):
    """A linear generator ``z @ W + b`` (2x2x1 images) that records, per call, its input and
    its kernel at call time (the step runs eagerly)."""

    def __init__(self, latent=3, **kw):
        super().__init__(**kw)
        self.dense = keras.layers.Dense(4, kernel_initializer="random_normal", bias_initializer="random_normal")
        self.calls = []

    def call(self, z, training=False):
        if self.dense.built:
            self.calls.append((np.array(z, np.float64), np.array(self.dense.kernel, np.float64)))
        return keras.ops.reshape(self.dense(z), (-1, 2, 2, 1))


class _CountingD(keras.Model):
    """A linear discriminator on flattened 2x2x1 images that counts its calls."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.dense = keras.layers.Dense(1, kernel_initializer="random_normal", bias_initializer="random_normal")
        self.batch_sizes = []

    def call(self, x, training=False):
        self.batch_sizes.append(int(x.shape[0]))
        return self.dense(keras.ops.reshape(x, (-1, 4)))


def _recorded_gan(**compile_kw):
    keras.utils.set_random_seed(3)
    g, d = _Recording(), _CountingD()
    g(np.zeros((1, 3), "float32"))
    d(np.zeros((1, 2, 2, 1), "float32"))
    g.calls.clear(), d.batch_sizes.clear()
    joint = compile_kw.pop("joint_discriminator", False)
    gan = GAN(g, d, latent_dim=3, use_ema=False, joint_discriminator=joint)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                run_eagerly=True, **compile_kw)
    return gan, g, d


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_mode_seeking_step_is_msgan_weighting():
    """HelenMao/MSGAN DCGAN-Mode-Seeking/model.py, transcribed in NumPy: ``forward`` (lines
    44-51) draws B pairs z1, z2 for B reals and runs G once on cat(z1, z2); ``update_D`` (lines
    54-64) minimizes ``BCE(D(real),1) + BCE(D(fake1),0) + BCE(D(real),1) + BCE(D(fake2),0)``,
    each a batch mean; ``update_G`` (lines 66-79) minimizes ``BCE(D(fake1),1) + BCE(D(fake2),1)
    + 1 / (mean|fake2 - fake1| / mean|z2 - z1| + 1e-5)``. With linear G and D and SGD 0.1, the
    logged losses and both networks' updates equal the transcription."""
    gan, g, d = _recorded_gan(loss="ns", regularizers=[R.ModeSeeking(lam=1.0)])
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (4, 2, 2, 1)).astype("float32")
    w0, b0 = np.array(d.dense.kernel, np.float64)[:, 0], float(np.array(d.dense.bias)[0])
    W0, c0 = np.array(g.dense.kernel, np.float64), np.array(g.dense.bias, np.float64)
    hist = gan.fit(tf.data.Dataset.from_tensors({"image": real}), epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in hist.history.items()}
    (z_d, _), (z_g, _) = g.calls
    B = 4
    assert z_d.shape == (2 * B, 3) and z_g.shape == (2 * B, 3)  # B pairs for B reals
    x = real.reshape(B, 4).astype(np.float64)
    # --- D update ---
    fd = z_d @ W0 + c0
    r, f1, f2 = x @ w0 + b0, fd[:B] @ w0 + b0, fd[B:] @ w0 + b0
    loss_d = 2 * _softplus(-r).mean() + _softplus(f1).mean() + _softplus(f2).mean()
    # d/dlogit: softplus(-r) -> -sigmoid(-r); softplus(f) -> sigmoid(f)
    gr, g1, g2 = -2 * _sigmoid(-r) / B, _sigmoid(f1) / B, _sigmoid(f2) / B
    grad_w = x.T @ gr + fd[:B].T @ g1 + fd[B:].T @ g2
    grad_b = gr.sum() + g1.sum() + g2.sum()
    w1, b1 = w0 - 0.1 * grad_w, b0 - 0.1 * grad_b
    np.testing.assert_allclose(logs["d_loss"], loss_d, rtol=1e-5)
    np.testing.assert_allclose(np.array(d.dense.kernel)[:, 0], w1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(np.array(d.dense.bias)[0]), b1, rtol=1e-5, atol=1e-6)
    # --- G update (D already updated, as in the official order) ---
    fg = z_g @ W0 + c0
    F1, F2, z1, z2 = fg[:B], fg[B:], z_g[:B], z_g[B:]
    h1, h2 = F1 @ w1 + b1, F2 @ w1 + b1
    adv = _softplus(-h1).mean() + _softplus(-h2).mean()
    mz = np.abs(z2 - z1).mean()
    lz = np.abs(F2 - F1).mean() / mz
    np.testing.assert_allclose(logs["g_loss"], adv, rtol=1e-5)
    np.testing.assert_allclose(logs["reg_ms"], 1 / (lz + 1e-5), rtol=1e-5)
    dF1 = np.outer(-_sigmoid(-h1) / B, w1)
    dF2 = np.outer(-_sigmoid(-h2) / B, w1)
    dlz = -1 / (lz + 1e-5) ** 2 * np.sign(F2 - F1) / (F1.size * mz)
    dF1, dF2 = dF1 - dlz, dF2 + dlz
    W1 = W0 - 0.1 * (z1.T @ dF1 + z2.T @ dF2)
    c1 = c0 - 0.1 * (dF1.sum(0) + dF2.sum(0))
    np.testing.assert_allclose(np.array(g.dense.kernel), W1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.array(g.dense.bias), c1, rtol=1e-4, atol=1e-6)
    # D scored the reals and each half separately (BN discriminators see B-sized batches).
    assert d.batch_sizes == [B, B, B, B, B]


def test_generator_first_order_and_joint_discriminator_calls():
    """``g_first`` (projected_gan training_loop.py lines 205-217: phases G then D): the D
    phase's fakes come from the updated generator; by default G is updated after D.
    ``joint_discriminator`` (BigGAN-PyTorch BigGAN.py ``G_D.forward``): one D call on
    cat(fakes, reals) per D update, with the same update as two calls (no batch statistics)."""
    real = tf.data.Dataset.from_tensors(
        {"image": np.random.default_rng(0).uniform(-1, 1, (4, 2, 2, 1)).astype("float32")})
    gan, g, d = _recorded_gan(loss="hinge")
    gan.fit(real, epochs=1, verbose=0)
    (_, k_first), (_, k_second) = g.calls
    np.testing.assert_array_equal(k_first, k_second)  # D phase, then G phase with the old G
    assert d.batch_sizes == [4, 4, 4]
    gan, g, d = _recorded_gan(loss="hinge", g_first=True)
    gan.fit(real, epochs=1, verbose=0)
    (_, k_first), (_, k_second) = g.calls
    assert np.abs(k_first - k_second).max() > 1e-4  # the D phase used the updated G
    assert d.batch_sizes == [4, 4, 4]
    updates = {}
    for joint in (False, True):
        gan, g, d = _recorded_gan(loss="hinge", joint_discriminator=joint)
        gan.fit(real, epochs=1, verbose=0)
        updates[joint] = [np.array(v) for v in (*g.weights, *d.weights)]
        assert d.batch_sizes == ([8, 4] if joint else [4, 4, 4])
    for a, b in zip(updates[False], updates[True]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class _Linear(keras.Model):
    def __init__(self, units, shape, **kw):
        super().__init__(**kw)
        self.dense, self.shape_out = keras.layers.Dense(units, name="dense"), shape

    def call(self, x, training=False):
        return keras.ops.reshape(self.dense(keras.ops.reshape(x, (x.shape[0], -1))), self.shape_out)


@pytest.mark.parametrize("accumulation", [1, 2])
def test_generator_phase_waits_for_the_discriminator_update(accumulation):
    """The G phase's generator forward starts only after the D phase's update (``_after``):
    in the traced step, every generator call of the G phase is fed through identities whose
    control inputs read every D variable, so its activations are never alive during the D
    steps (issue 16: ~450 MiB less peak memory on BigGAN's 4-D-step CIFAR recipe)."""
    keras.utils.set_random_seed(0)
    g, d = _Linear(4, (-1, 2, 2, 1), name="g"), _Linear(1, (-1, 1), name="d")
    g(np.zeros((1, 3), "float32")), d(np.zeros((1, 2, 2, 1), "float32"))
    gan = GAN(g, d, latent_dim=3, use_ema=False)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                loss="hinge", d_steps=2, accumulation_steps=accumulation)
    batch = {"image": tf.zeros((8, 2, 2, 1))}
    graph = tf.function(gan.train_step).get_concrete_function(batch).graph
    gated = [op for op in graph.get_operations() if op.name.split("/")[-1].startswith("after_update")]
    assert len(gated) == accumulation  # the G phase's latents, one per micro-batch
    for op in gated:
        read = {c.inputs[0].name for c in op.control_inputs if c.type == "ReadVariableOp"}
        assert len(read) == len(d.trainable_variables), (op.name, read)
    # Each gated tensor feeds the generator's matmul (it is the G phase's z).
    g_matmuls = [op for op in graph.get_operations() if op.type == "MatMul"
                 and any(t.op in gated for t in _ancestors(op))]
    assert g_matmuls


def _ancestors(op):
    seen, frontier = set(), list(op.inputs)
    while frontier and len(seen) < 10_000:
        t = frontier.pop()
        if t.name in seen:
            continue
        seen.add(t.name)
        yield t
        frontier.extend(t.op.inputs)
