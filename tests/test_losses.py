"""Adversarial losses and regularizers against hand-computed / numpy values on tiny inputs."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gans import losses
from keras_gans.losses import penalties

REAL = np.array([2.0, -1.0, 0.5], np.float32)
FAKE = np.array([-0.5, 1.5, 0.0], np.float32)


def _softplus(x):
    return np.log1p(np.exp(x))


def _relu(x):
    return np.maximum(x, 0.0)


def _np_per_example(x):
    """numpy reference of the reduction rule: mean over non-batch axes, sum over the structure."""
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        return sum(_np_per_example(t) for t in x)
    x = np.asarray(x, np.float64)
    return x.reshape(x.shape[0], -1).mean(axis=1)


# numpy references: elementwise formulas (means over batch axis 0, per position).
def _np_rahinge_d(r, f):
    return _relu(1 - (r - f.mean(0))), _relu(1 + (f - r.mean(0)))


def _np_rahinge_g(r, f):
    return _relu(1 + (r - f.mean(0))), _relu(1 - (f - r.mean(0)))


EXPECTED_D = {
    "ns": lambda r, f: _softplus(-r) + _softplus(f),
    "wgan": lambda r, f: f - r,
    "hinge": lambda r, f: _relu(1 - r) + _relu(1 + f),
    "rahinge": lambda r, f: sum(_np_rahinge_d(r, f)),
    "lsgan": lambda r, f: (r - 1) ** 2 + f ** 2,
}
EXPECTED_G = {
    "ns": lambda r, f: _softplus(-f),
    "wgan": lambda r, f: -f,
    "hinge": lambda r, f: -f,
    "rahinge": lambda r, f: sum(_np_rahinge_g(r, f)),
    "lsgan": lambda r, f: (f - 1) ** 2,
}
FUNCTIONS = {
    "ns": (losses.ns_logistic_discriminator_loss, losses.ns_logistic_generator_loss),
    "wgan": (losses.wgan_discriminator_loss, losses.wgan_generator_loss),
    "hinge": (losses.hinge_discriminator_loss, losses.hinge_generator_loss),
    "rahinge": (losses.rahinge_discriminator_loss, losses.rahinge_generator_loss),
    "lsgan": (losses.lsgan_discriminator_loss, losses.lsgan_generator_loss),
}


# === per_example ===


def test_per_example_reduces_each_shape_to_batch():
    x = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4, 1)
    np.testing.assert_allclose(losses.per_example(REAL), REAL)
    np.testing.assert_allclose(losses.per_example(REAL[:, None]), REAL)
    np.testing.assert_allclose(losses.per_example(x), x.reshape(3, -1).mean(1))
    assert losses.per_example(x).dtype == tf.float32


def test_per_example_sums_the_means_of_a_structure():
    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(3, 4, 4, 1)).astype(np.float32) for _ in range(3)]
    expected = sum(m.reshape(3, -1).mean(1) for m in maps)
    np.testing.assert_allclose(losses.per_example(maps), expected, rtol=1e-6)
    np.testing.assert_allclose(losses.per_example(tuple(maps)), expected, rtol=1e-6)
    as_dict = {"a": maps[0], "b": [maps[1], maps[2]]}
    np.testing.assert_allclose(losses.per_example(as_dict), expected, rtol=1e-6)
    mixed = [REAL, maps[0]]
    np.testing.assert_allclose(
        losses.per_example(mixed), REAL + maps[0].reshape(3, -1).mean(1), rtol=1e-6
    )


def test_per_example_unknown_rank_in_graph():
    fn = tf.function(losses.per_example, input_signature=[tf.TensorSpec(None, tf.float32)])
    x = np.ones((2, 3, 3, 1), np.float32) * np.array([1.0, 3.0], np.float32)[:, None, None, None]
    np.testing.assert_allclose(fn(x), [1.0, 3.0])


def test_per_example_rejects_scalars_and_empty_structures():
    with pytest.raises(ValueError, match="batch axis"):
        losses.per_example(tf.constant(1.0))
    with pytest.raises(ValueError, match="empty"):
        losses.per_example([])


# === adversarial losses ===


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_discriminator_loss_matches_numpy(name):
    d_loss, _ = FUNCTIONS[name]
    out = d_loss(REAL, FAKE)
    assert out.shape == (3,) and out.dtype == tf.float32
    np.testing.assert_allclose(out, EXPECTED_D[name](REAL, FAKE), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_generator_loss_matches_numpy(name):
    _, g_loss = FUNCTIONS[name]
    out = g_loss(FAKE, REAL)
    assert out.shape == (3,) and out.dtype == tf.float32
    np.testing.assert_allclose(out, EXPECTED_G[name](REAL, FAKE), rtol=1e-6, atol=1e-6)


def test_hand_computed_values():
    # softplus(-2) + softplus(-0.5) for the first example of the logistic D loss.
    assert losses.ns_logistic_discriminator_loss(REAL, FAKE).numpy()[0] == pytest.approx(
        np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-0.5)), rel=1e-6
    )
    # hinge: relu(1-2)+relu(1-0.5)=0.5; relu(1+1)+relu(1+1.5)=4.5; relu(0.5)+relu(1)=1.5
    np.testing.assert_allclose(losses.hinge_discriminator_loss(REAL, FAKE), [0.5, 4.5, 1.5])
    # rahinge D, mean real 0.5, mean fake 1/3:
    # ex0: relu(1-(2-1/3)) + relu(1+(-0.5-0.5)) = 0 + 0 = 0
    # ex1: relu(1-(-1-1/3)) + relu(1+(1.5-0.5)) = 7/3 + 2 = 13/3
    # ex2: relu(1-(0.5-1/3)) + relu(1+(0-0.5)) = 5/6 + 1/2 = 4/3
    np.testing.assert_allclose(
        losses.rahinge_discriminator_loss(REAL, FAKE), [0.0, 13 / 3, 4 / 3], rtol=1e-6
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_nested_patch_logits(name):
    rng = np.random.default_rng(1)
    real = [rng.normal(size=(3, 4, 4, 1)).astype(np.float32) for _ in range(2)]
    fake = [rng.normal(size=(3, 4, 4, 1)).astype(np.float32) for _ in range(2)]
    d_loss, g_loss = FUNCTIONS[name]
    expected_d = sum(_np_per_example(EXPECTED_D[name](r, f)) for r, f in zip(real, fake))
    expected_g = sum(_np_per_example(EXPECTED_G[name](r, f)) for r, f in zip(real, fake))
    np.testing.assert_allclose(d_loss(real, fake), expected_d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_loss(fake, real), expected_g, rtol=1e-5, atol=1e-6)


def test_relativistic_mean_fn_is_used_per_tensor():
    calls = []

    def zero_mean(x):
        calls.append(tuple(x.shape))
        return tf.zeros_like(x[0])

    # With a zero "mean" the relativistic hinge reduces to the plain hinge.
    np.testing.assert_allclose(
        losses.rahinge_discriminator_loss(REAL, FAKE, mean_fn=zero_mean),
        losses.hinge_discriminator_loss(REAL, FAKE),
    )
    np.testing.assert_allclose(
        losses.rahinge_generator_loss(FAKE, REAL, mean_fn=zero_mean),
        _relu(1 + REAL) + _relu(1 - FAKE),
    )
    assert calls == [(3,)] * 4
    calls.clear()
    maps = [np.zeros((3, 2, 2, 1), np.float32), np.zeros((3, 4, 4, 1), np.float32)]
    losses.rahinge_discriminator_loss(maps, maps, mean_fn=zero_mean)
    assert sorted(calls) == sorted([(3, 2, 2, 1), (3, 4, 4, 1)] * 2)


def test_rahinge_generator_gradient_flows_through_fake_and_its_mean():
    fake_np = np.array([-0.4, 1.3, 0.2], np.float32)  # away from the hinge kinks
    fake = tf.constant(fake_np)
    with tf.GradientTape() as tape:
        tape.watch(fake)
        loss = tf.reduce_sum(losses.rahinge_generator_loss(fake, REAL))
    grad = tape.gradient(loss, fake).numpy()

    def total(f):
        return sum(_np_rahinge_g(REAL.astype(np.float64), f)).sum()

    h = 1e-4
    numeric = [
        (total(fake_np + h * np.eye(3)[i]) - total(fake_np - h * np.eye(3)[i])) / (2 * h)
        for i in range(3)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)


def test_rahinge_generator_needs_real_logits():
    with pytest.raises(ValueError, match="real_logits"):
        losses.rahinge_generator_loss(FAKE)


def test_rahinge_batch_means_equal_bmsg_gans_relativistic_average_hinge():
    """akanimax/BMSG-GAN sourcecode/MSG_GAN/Losses.py (commit 863b1f37), the MSG-ProGAN default
    (train.py:78-80), transcribed on its D outputs ``[B]`` (DisFinalBlock ``y.view(-1)``):

    dis_loss (Losses.py:199-214): ``r_f = r - mean(f)``, ``f_r = f - mean(r)``,
    ``mean(relu(1 - r_f)) + mean(relu(1 + f_r))``;
    gen_loss (Losses.py:216-229): the same differences, ``mean(relu(1 + r_f)) + mean(relu(1 - f_r))``.

    Our per-example losses, reduced ``sum / B`` as the GAN does, equal those scalars, for logits
    of shape [B] and [B, 1] (our discriminators' output)."""
    rng = np.random.default_rng(7)
    r = rng.normal(0.3, 1.0, 16)
    f = rng.normal(-0.2, 1.0, 16)
    r_f, f_r = r - np.mean(f), f - np.mean(r)
    bmsg_d = np.mean(_relu(1 - r_f)) + np.mean(_relu(1 + f_r))
    bmsg_g = np.mean(_relu(1 + r_f)) + np.mean(_relu(1 - f_r))
    for shape in ((16,), (16, 1)):
        rt, ft = r.reshape(shape).astype(np.float32), f.reshape(shape).astype(np.float32)
        d = losses.rahinge_discriminator_loss(rt, ft).numpy()
        g = losses.rahinge_generator_loss(ft, rt).numpy()
        assert d.shape == g.shape == (16,)
        assert d.sum() / 16 == pytest.approx(bmsg_d, rel=1e-5)
        assert g.sum() / 16 == pytest.approx(bmsg_g, rel=1e-5)
    # BMSG-GAN's gen_loss runs D on the real batch too (Losses.py:218): so does the GAN's G step
    assert losses.get_loss("rahinge").needs_real_logits_for_generator


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_logits_give_float32(dtype):
    real, fake = tf.constant(REAL, dtype), tf.constant(FAKE, dtype)
    real_ref = tf.cast(real, tf.float32).numpy()
    fake_ref = tf.cast(fake, tf.float32).numpy()
    for name, (d_loss, g_loss) in FUNCTIONS.items():
        out_d, out_g = d_loss(real, fake), g_loss(fake, real)
        assert out_d.dtype == tf.float32 and out_g.dtype == tf.float32, name
        np.testing.assert_allclose(out_d, EXPECTED_D[name](real_ref, fake_ref), rtol=1e-5)
        np.testing.assert_allclose(out_g, EXPECTED_G[name](real_ref, fake_ref), rtol=1e-5)
    for out in (
        penalties.drift_penalty(real),
        penalties.gradient_penalty(lambda x: tf.reduce_sum(x, [1, 2, 3]),
                                   tf.ones([2, 2, 2, 1], dtype), tf.zeros([2, 2, 2, 1], dtype)),
        penalties.r1_penalty(lambda x: tf.reduce_sum(x * x, [1, 2, 3]),
                             tf.ones([2, 2, 2, 1], dtype)),
        penalties.mode_seeking_loss(tf.ones([2, 2, 2, 1], dtype), tf.zeros([2, 2, 2, 1], dtype),
                                    tf.ones([2, 3], dtype), tf.zeros([2, 3], dtype)),
        penalties.orthogonal_regularization([tf.ones([3, 2], dtype)]),
    ):
        assert out.dtype == tf.float32


# === registry ===


def test_get_loss_names_and_aliases():
    assert losses.get_loss("ns") is losses.LOSSES["ns"]
    for alias in ("logistic", "nonsaturating", "NS", " Logistic "):
        assert losses.get_loss(alias).name == "ns"
    assert losses.get_loss("HINGE").discriminator is losses.hinge_discriminator_loss
    assert losses.get_loss("wgan").generator is losses.wgan_generator_loss
    assert set(losses.LOSSES) == {"ns", "wgan", "hinge", "rahinge", "lsgan"}
    needs_real = {name: entry.needs_real_logits_for_generator
                  for name, entry in losses.LOSSES.items()}
    assert needs_real == {"ns": False, "wgan": False, "hinge": False, "rahinge": True, "lsgan": False}


def test_get_loss_unknown_lists_choices():
    with pytest.raises(ValueError) as info:
        losses.get_loss("least-squares")
    message = str(info.value)
    assert "least-squares" in message
    for choice in ("ns", "logistic", "nonsaturating", "wgan", "hinge", "rahinge", "lsgan"):
        assert choice in message


def test_adversarial_loss_is_frozen_and_signatures_uniform():
    loss = losses.get_loss("hinge")
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.name = "other"
    for name, entry in losses.LOSSES.items():
        d = entry.discriminator(real_logits=REAL, fake_logits=FAKE, mean_fn=None)
        g = entry.generator(fake_logits=FAKE, real_logits=REAL, mean_fn=None)
        np.testing.assert_allclose(d, EXPECTED_D[name](REAL, FAKE), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(g, EXPECTED_G[name](REAL, FAKE), rtol=1e-6, atol=1e-6)
        if not entry.needs_real_logits_for_generator:
            np.testing.assert_allclose(entry.generator(FAKE), g)


# === gradient penalty ===


def _linear_d(w):
    w = tf.constant(w)
    return lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])


def _real_fake(seed, shape=(5, 4, 4, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("alpha", [None, 0.0, 0.3, "per-example", "broadcast-shape"])
def test_gp_of_linear_critic_is_exact_for_any_alpha(alpha):
    real, fake = _real_fake(2)
    w = np.random.default_rng(3).normal(size=(4, 4, 3)).astype(np.float32)
    if alpha == "per-example":
        alpha = np.linspace(0, 0.99, 5).astype(np.float32)
    elif alpha == "broadcast-shape":
        alpha = np.linspace(0, 0.99, 5).astype(np.float32).reshape(5, 1, 1, 1)
    elif alpha is not None:
        alpha = np.full([5], alpha, np.float32)
    gp = penalties.gradient_penalty(_linear_d(w), real, fake, alpha=alpha)
    assert gp.shape == (5,) and gp.dtype == tf.float32
    np.testing.assert_allclose(gp, np.full(5, (np.linalg.norm(w) - 1) ** 2), rtol=1e-5)


def test_gp_official_target_form():
    real, fake = _real_fake(4)
    w = np.random.default_rng(5).normal(size=(4, 4, 3)).astype(np.float32)
    w *= 700.0 / np.linalg.norm(w)
    gp = penalties.gradient_penalty(_linear_d(w), real, fake, target=750.0)
    # tkarras/progressive_growing_of_gans loss.py: (norm - target)^2 * lambda / target^2.
    np.testing.assert_allclose(gp, np.full(5, (700.0 - 750.0) ** 2 / 750.0**2), rtol=1e-4)


def test_gp_norm_is_over_all_scales_together():
    rng = np.random.default_rng(6)
    real = (rng.normal(size=(3, 2, 2, 1)).astype(np.float32),
            rng.normal(size=(3, 4, 4, 3)).astype(np.float32))
    fake = tuple(rng.normal(size=r.shape).astype(np.float32) for r in real)
    w1 = rng.normal(size=(2, 2, 1)).astype(np.float32)
    w2 = rng.normal(size=(4, 4, 3)).astype(np.float32)

    def d(images):
        return _linear_d(w1)(images[0]) + _linear_d(w2)(images[1])

    gp = penalties.gradient_penalty(d, real, fake)
    joint = np.sqrt(np.sum(w1**2) + np.sum(w2**2))
    np.testing.assert_allclose(gp, np.full(3, (joint - 1) ** 2), rtol=1e-5)
    per_scale_average = ((np.linalg.norm(w1) - 1) ** 2 + (np.linalg.norm(w2) - 1) ** 2) / 2
    assert abs(gp.numpy()[0] - per_scale_average) > 0.1


def _recording_d(store):
    def d(images):
        store.append([t.numpy() for t in tf.nest.flatten(images)])
        return tf.add_n([tf.reduce_sum(t, axis=[1, 2, 3]) for t in tf.nest.flatten(images)])

    return d


def _recovered_alpha(store, real, fake):
    """alpha per element of each scale, from x_hat = real + alpha * (fake - real)."""
    return [(x - r) / (f - r) for x, r, f in zip(store[-1], real, fake)]


def test_gp_alpha_is_uniform_and_shared_across_scales():
    n = 4000
    real = (np.zeros((n, 2, 2, 1), np.float32), np.full((n, 4, 4, 3), -1.0, np.float32))
    fake = (np.ones((n, 2, 2, 1), np.float32), np.ones((n, 4, 4, 3), np.float32))
    store = []
    penalties.gradient_penalty(_recording_d(store), real, fake, seed=[1, 2])
    small, large = _recovered_alpha(store, real, fake)
    alpha = small[:, 0, 0, 0]
    # One alpha per example, constant over pixels and shared by both scales.
    np.testing.assert_allclose(small, np.broadcast_to(alpha[:, None, None, None], small.shape),
                               atol=1e-6)
    np.testing.assert_allclose(large, np.broadcast_to(alpha[:, None, None, None], large.shape),
                               atol=1e-6)
    # U[0, 1): bounded, mean 1/2, std 1/sqrt(12), quartiles where they belong.
    assert alpha.min() >= 0.0 and alpha.max() < 1.0
    assert abs(alpha.mean() - 0.5) < 0.02
    assert abs(alpha.std() - 1 / np.sqrt(12)) < 0.01
    assert abs(np.mean(alpha < 0.25) - 0.25) < 0.03
    assert len(np.unique(alpha)) > n // 2


def test_gp_seed_is_reproducible_and_explicit_alpha_is_used():
    real, fake = _real_fake(7, shape=(4, 2, 2, 1))
    runs = []
    for seed in ([3, 4], [3, 4], [5, 6]):
        store = []
        penalties.gradient_penalty(_recording_d(store), real, fake, seed=seed)
        runs.append(store[-1][0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])
    store = []
    alpha = np.array([0.0, 0.25, 0.5, 0.9], np.float32)
    penalties.gradient_penalty(_recording_d(store), real, fake, alpha=alpha)
    np.testing.assert_allclose(
        store[-1][0], real + alpha[:, None, None, None] * (fake - real), rtol=1e-6, atol=1e-6
    )


def test_gp_gradient_wrt_critic_weights_is_right():
    real, fake = _real_fake(8)
    w = tf.Variable(np.random.default_rng(9).normal(size=(4, 4, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        gp = penalties.gradient_penalty(
            lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3]), real, fake
        )
        loss = tf.reduce_mean(gp)
    grad = tape.gradient(loss, w).numpy()
    norm = np.linalg.norm(w.numpy())
    np.testing.assert_allclose(grad, 2 * (norm - 1) * w.numpy() / norm, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("eps, finite", [(1e-10, True), (0.0, False)])
def test_gp_eps_keeps_gradients_finite_for_a_flat_critic(eps, finite):
    # A dead ReLU: D(x) = relu(sum(w * x)) with w < 0, x > 0 has zero input gradient.
    real = np.full((2, 2, 2, 1), 1.0, np.float32)
    fake = np.full((2, 2, 2, 1), 2.0, np.float32)
    w = tf.Variable(np.full((2, 2, 1), -1.0, np.float32))
    with tf.GradientTape() as tape:
        gp = penalties.gradient_penalty(
            lambda x: tf.nn.relu(tf.reduce_sum(w * x, axis=[1, 2, 3])), real, fake, eps=eps
        )
        loss = tf.reduce_sum(gp)
    grad = tape.gradient(loss, w).numpy()
    np.testing.assert_allclose(gp, [1.0, 1.0], atol=1e-4)
    assert np.all(np.isfinite(grad)) == finite


def test_gp_with_a_keras_critic_and_loss_scale():
    critic = keras.Sequential([
        keras.Input((4, 4, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="tanh"),
        keras.layers.Flatten(),
        keras.layers.Dense(1),
    ])
    real, fake = _real_fake(10)
    alpha = np.linspace(0.1, 0.9, 5).astype(np.float32)
    with tf.GradientTape() as tape:
        gp = penalties.gradient_penalty(critic, real, fake, alpha=alpha)
        loss = tf.reduce_mean(gp)
    grads = tape.gradient(loss, critic.trainable_variables)
    # The last bias does not change D's input gradient: it gets no gradient from the penalty.
    assert grads[3] is None
    assert all(np.all(np.isfinite(g)) for g in grads[:3])
    conv_kernel, dense_kernel = grads[0], grads[2]
    assert np.any(conv_kernel.numpy() != 0) and np.any(dense_kernel.numpy() != 0)
    scaled = penalties.gradient_penalty(critic, real, fake, alpha=alpha, loss_scale=1024.0)
    np.testing.assert_allclose(scaled, gp, rtol=1e-4)


# === R1 and drift ===


def test_r1_of_quadratic_critic_is_analytic():
    rng = np.random.default_rng(11)
    x1 = rng.normal(size=(3, 2, 2, 1)).astype(np.float32)
    x2 = rng.normal(size=(3, 4, 4, 3)).astype(np.float32)
    c1, c2 = 0.5, -1.5

    def d(images):
        # Nested logits: one [B] and one [B, 1] output, one per scale.
        return (c1 * tf.reduce_sum(images[0] ** 2, axis=[1, 2, 3]),
                c2 * tf.reduce_sum(images[1] ** 2, axis=[1, 2, 3])[:, None])

    r1 = penalties.r1_penalty(d, (x1, x2))
    expected = (4 * c1**2 * (x1**2).reshape(3, -1).sum(1)
                + 4 * c2**2 * (x2**2).reshape(3, -1).sum(1))
    assert r1.shape == (3,) and r1.dtype == tf.float32
    np.testing.assert_allclose(r1, expected, rtol=1e-5)
    np.testing.assert_allclose(penalties.r1_penalty(d, (x1, x2), loss_scale=512.0), expected,
                               rtol=1e-5)
    single = penalties.r1_penalty(lambda x: c1 * tf.reduce_sum(x**2, axis=[1, 2, 3]), x1)
    np.testing.assert_allclose(single, 4 * c1**2 * (x1**2).reshape(3, -1).sum(1), rtol=1e-5)


def test_drift_penalty():
    np.testing.assert_allclose(penalties.drift_penalty(REAL), REAL**2)
    maps = [np.arange(12, dtype=np.float32).reshape(3, 2, 2, 1), REAL[:, None]]
    np.testing.assert_allclose(penalties.drift_penalty(maps), _np_per_example([m**2 for m in maps]),
                               rtol=1e-6)


def test_label_penalty_is_the_softmax_cross_entropy():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, (5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(5), labels]
    np.testing.assert_allclose(penalties.label_penalty(logits, labels), expected, rtol=1e-5)
    # official: softmax_cross_entropy_with_logits_v2 on one-hot labels, the same value
    onehot = tf.one_hot(labels, 4)
    np.testing.assert_allclose(tf.nn.softmax_cross_entropy_with_logits(onehot, logits), expected,
                               rtol=1e-5)
    with pytest.raises(ValueError, match="auxiliary classifier"):
        penalties.label_penalty(None, labels)
    with pytest.raises(ValueError, match="conditional"):
        penalties.label_penalty(logits, None)


def test_label_penalty_regularizer_terms():
    from types import SimpleNamespace

    from keras_gans.losses import regularizers as R

    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(2, 6, 3)).astype(np.float32)
    labels, fake_labels = np.array([0, 1, 2, 0, 1, 2]), np.array([2, 2, 0, 1, 0, 1])
    ctx = SimpleNamespace(real_class_logits=real, fake_class_logits=fake, labels=labels,
                          fake_labels=fake_labels)
    d, g = R.from_config({"type": "label", "weight": 0.5}), R.LabelPenalty(target="generator")
    assert (d.name, d.target, g.name) == ("label_d", "discriminator", "label_g")
    ce_real, ce_fake = penalties.label_penalty(real, labels), penalties.label_penalty(fake, fake_labels)
    per_example, batch = d(ctx)
    assert batch is None
    np.testing.assert_allclose(per_example, 0.5 * (ce_real + ce_fake), rtol=1e-6)
    np.testing.assert_allclose(g(ctx)[0], ce_fake, rtol=1e-6)  # G: the fakes only
    with pytest.raises(ValueError, match="target"):
        R.LabelPenalty(target="both")


# === orthogonal regularization ===


def _np_ortho_value(kernels, beta):
    total = 0.0
    for k in kernels:
        if k.ndim < 2:
            continue
        m = k.reshape(-1, k.shape[-1]).T.astype(np.float64)
        off = (m @ m.T) * (1 - np.eye(m.shape[0]))
        total += np.sum(off**2)
    return beta / 2 * total


def _official_ortho_update(torch_param, strength):
    """ajbrock/BigGAN-PyTorch utils.ortho: the update added to param.grad, in numpy."""
    w = torch_param.reshape(torch_param.shape[0], -1).astype(np.float64)
    grad = 2 * ((w @ w.T) * (1.0 - np.eye(w.shape[0]))) @ w
    return strength * grad.reshape(torch_param.shape)


def _kernels():
    rng = np.random.default_rng(12)
    return [
        rng.normal(size=(3, 5)).astype(np.float32),  # Dense [in, out]
        rng.normal(size=(2, 2, 3, 4)).astype(np.float32),  # Conv2D [kh, kw, in, out]
        rng.normal(size=(5,)).astype(np.float32),  # bias: skipped
    ]


def test_orthogonal_regularization_value():
    kernels = _kernels()
    value = penalties.orthogonal_regularization(kernels, beta=1e-2)
    assert value.shape == () and value.dtype == tf.float32
    np.testing.assert_allclose(value, _np_ortho_value(kernels, 1e-2), rtol=1e-5)
    assert float(penalties.orthogonal_regularization([kernels[2]])) == 0.0
    q, _ = np.linalg.qr(np.random.default_rng(13).normal(size=(6, 6)))
    scaled_rows = (q[:4] * np.array([[1.0], [2.0], [3.0], [0.5]])).T.astype(np.float32)
    assert float(penalties.orthogonal_regularization([scaled_rows])) < 1e-10


def test_orthogonal_regularization_gradient_equals_official_update():
    dense, conv, bias = [tf.Variable(k) for k in _kernels()]
    beta = 1e-2
    with tf.GradientTape() as tape:
        value = penalties.orthogonal_regularization([dense, conv, bias], beta=beta)
    g_dense, g_conv, g_bias = tape.gradient(value, [dense, conv, bias])
    assert g_bias is None
    # PyTorch layouts: Linear [out, in], Conv2d [out, in, kh, kw].
    official_dense = _official_ortho_update(dense.numpy().T, beta).T
    official_conv = _official_ortho_update(conv.numpy().transpose(3, 2, 0, 1), beta)
    np.testing.assert_allclose(g_dense, official_dense, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(g_conv, official_conv.transpose(2, 3, 1, 0), rtol=1e-5, atol=1e-8)


def test_orthogonal_regularization_on_keras_layer_weights():
    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    with tf.GradientTape() as tape:
        value = penalties.orthogonal_regularization(layer.trainable_weights)
    grads = tape.gradient(value, layer.trainable_weights)
    np.testing.assert_allclose(value, _np_ortho_value([layer.kernel.numpy()], 1e-4), rtol=1e-5)
    assert grads[0] is not None and np.any(grads[0].numpy() != 0)


# === mode seeking ===


def _ms_inputs(seed=14):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(4, 3, 3, 2)).astype(np.float32),
            rng.normal(size=(4, 3, 3, 2)).astype(np.float32),
            rng.normal(size=(4, 8)).astype(np.float32),
            rng.normal(size=(4, 8)).astype(np.float32))


def test_mode_seeking_against_numpy():
    i1, i2, z1, z2 = _ms_inputs()
    ratio = np.mean(np.abs(i1 - i2)) / np.mean(np.abs(z1 - z2))
    out = penalties.mode_seeking_ratio(i1, i2, z1, z2)
    assert out.shape == () and out.dtype == tf.float32
    np.testing.assert_allclose(out, ratio, rtol=1e-5)
    np.testing.assert_allclose(penalties.mode_seeking_loss(i1, i2, z1, z2, lam=2.0),
                               2.0 / (ratio + 1e-5), rtol=1e-5)
    np.testing.assert_allclose(penalties.mode_seeking_loss(i1, i1, z1, z2), 1e5, rtol=1e-5)


def test_mode_seeking_uses_the_final_image_of_a_pyramid():
    i1, i2, z1, z2 = _ms_inputs()
    low1, low2 = i1[:, :1, :1], -i2[:, :1, :1]
    pyramid = penalties.mode_seeking_ratio((low1, i1), (low2, i2), z1, z2)
    np.testing.assert_allclose(pyramid, penalties.mode_seeking_ratio(i1, i2, z1, z2))
    assert not np.isclose(float(pyramid), float(penalties.mode_seeking_ratio(low1, low2, z1, z2)))
    with pytest.raises(TypeError):
        penalties.mode_seeking_ratio({"a": i1}, {"a": i2}, z1, z2)


def test_mode_seeking_sum_fn_makes_replica_means_global():
    i1, i2, z1, z2 = _ms_inputs()
    i1[2:] *= 5.0  # replicas with different statistics: local means differ from the global one
    z1[2:] *= 3.0
    captured = []

    def capture(v):
        captured.append(v)
        return v

    penalties.mode_seeking_ratio(i1[2:], i2[2:], z1[2:], z2[2:], sum_fn=capture)
    other_replica = captured[0]
    replica_0 = penalties.mode_seeking_loss(
        i1[:2], i2[:2], z1[:2], z2[:2], sum_fn=lambda v: v + other_replica
    )
    global_value = penalties.mode_seeking_loss(i1, i2, z1, z2)
    np.testing.assert_allclose(replica_0, global_value, rtol=1e-5)
    assert not np.isclose(float(penalties.mode_seeking_loss(i1[:2], i2[:2], z1[:2], z2[:2])),
                          float(global_value), rtol=1e-3)


def test_mode_seeking_gradient_reaches_the_images():
    i1, i2, z1, z2 = _ms_inputs()
    images = tf.constant(i1)
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = penalties.mode_seeking_loss(images, i2, z1, z2)
    grad = tape.gradient(loss, images).numpy()
    # d/dI1 of 1/(r + eps), r = mean|I1-I2| / mean|dz|: -sign(I1-I2) / (N mean|dz| (r+eps)^2)
    r = np.mean(np.abs(i1 - i2)) / np.mean(np.abs(z1 - z2))
    expected = -np.sign(i1 - i2) / (i1.size * np.mean(np.abs(z1 - z2)) * (r + 1e-5) ** 2)
    np.testing.assert_allclose(grad, expected, rtol=1e-4)


# === tf.distribute: replica-exact values and gradients ===

_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_gans import losses
    from keras_gans.losses import penalties

    rng = np.random.default_rng(0)
    B = 8
    real_x = rng.normal(size=(B, 3)).astype(np.float32)
    real_x[B // 2:] += 2.0  # the two replicas see different data
    fake_x = rng.normal(size=(B, 3)).astype(np.float32)
    z1 = rng.normal(size=(B, 5)).astype(np.float32)
    z2 = rng.normal(size=(B, 5)).astype(np.float32)
    w0 = np.array([0.5, -1.0, 2.0], np.float32)

    def objective(w, r, f, a, b, mean_fn, sum_fn, global_batch, num_replicas):
        d_loss = losses.rahinge_discriminator_loss(
            tf.linalg.matvec(r, w), tf.linalg.matvec(f, w), mean_fn=mean_fn)
        images_1, images_2 = tf.tanh(a * w[0]), tf.tanh(b * w[1])
        ms = penalties.mode_seeking_loss(images_1, images_2, a, b, sum_fn=sum_fn)
        return tf.reduce_sum(d_loss) / global_batch + ms / num_replicas

    w = tf.Variable(w0)
    with tf.GradientTape() as tape:
        single = objective(w, real_x, fake_x, z1, z2, None, None, B, 1)
    single_grad = tape.gradient(single, w).numpy()

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        wd = tf.Variable(w0)

    def split(x):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * (B // 2):
                          (ctx.replica_id_in_sync_group + 1) * (B // 2)])

    @tf.function
    def step(r, f, a, b):
        def replica_fn(r, f, a, b):
            ctx = tf.distribute.get_replica_context()
            def mean_fn(x):
                return ctx.all_reduce("SUM", tf.reduce_sum(x, axis=0)) / B
            def sum_fn(v):
                return ctx.all_reduce("SUM", v)
            with tf.GradientTape() as tape:
                loss = objective(wd, r, f, a, b, mean_fn, sum_fn, B, 2)
            grad = tape.gradient(loss, wd)
            return loss, ctx.all_reduce("SUM", grad)
        return strategy.run(replica_fn, args=(r, f, a, b))

    loss, grad = step(split(real_x), split(fake_x), split(z1), split(z2))
    losses_ = [float(v) for v in strategy.experimental_local_results(loss)]
    grads_ = [g.numpy() for g in strategy.experimental_local_results(grad)]
    np.testing.assert_allclose(sum(losses_), float(single), rtol=1e-5)
    for g in grads_:
        np.testing.assert_allclose(g, single_grad, rtol=1e-4, atol=1e-6)
    print("OK", float(single), single_grad)
    """
)


def test_mean_fn_and_sum_fn_are_replica_exact_under_mirrored_strategy():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _DISTRIBUTED_SCRIPT], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert proc.stdout.startswith("OK")


def _np_pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _np_up2(x):
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


def test_r1_on_a_pyramid_is_msg_stylegan_mean_of_total_derivatives():
    """akanimax/msg-stylegan-tf, transcribed in NumPy: ``training/training_loop.py``
    ``process_reals`` (lines 19-46) builds the real pyramid in the graph by 2x2 average pooling
    of the full image; ``training/loss.py`` ``D_logistic_simplegp`` (lines 227-241) takes
    ``tf.gradients(sum(D(*reals)), reals)`` (total derivatives: a level also reaches D through
    the coarser levels pooled from it) and ``reduce_mean`` over the levels of the per-level
    ``sum(g^2)``. With ``D = sum_s c_s sum(x_s^2)`` the partial derivative is ``2 c_s x_s``
    and the adjoint of the 2x2 mean pool is a nearest upsample divided by 4."""
    rng = np.random.default_rng(5)
    full = rng.normal(size=(3, 8, 8, 2))
    levels = [full]
    for _ in range(2):
        levels.append(_np_pool2(levels[-1]))
    levels = levels[::-1]  # 2x2, 4x4, 8x8
    c = [0.7, -1.3, 0.4]
    total = None
    per_level = []
    for x, cs in zip(levels, c):  # coarsest first: g_s = partial_s + pool^T(g_{s/2})
        g = 2 * cs * x + (0 if total is None else _np_up2(total) / 4)
        per_level.append((g ** 2).reshape(3, -1).sum(1))
        total = g
    expected = np.mean(per_level, axis=0)

    def d(images):
        return tf.add_n([cs * tf.reduce_sum(x ** 2, axis=[1, 2, 3]) for x, cs in zip(images, c)])

    # The coarser levels passed in are not used: the pyramid is rebuilt from the full image.
    given = [tf.zeros_like(levels[0]), tf.zeros_like(levels[1]), tf.constant(full, tf.float32)]
    got = penalties.r1_penalty_pyramid(d, given)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    np.testing.assert_allclose(penalties.r1_penalty_pyramid(d, given, loss_scale=256.0), expected, rtol=1e-4)
    # The "joint" form on independent inputs is the sum of the partial derivatives' norms.
    joint = penalties.r1_penalty(d, [tf.constant(x, tf.float32) for x in levels])
    np.testing.assert_allclose(joint, sum(((2 * cs * x) ** 2).reshape(3, -1).sum(1)
                                          for x, cs in zip(levels, c)), rtol=1e-4)
    assert not np.allclose(joint, expected, rtol=0.05)

    from keras_gans.losses import regularizers as regs

    assert regs.R1().scales == "mean"
    with pytest.raises(ValueError, match="scales"):
        regs.R1(scales="sum")
