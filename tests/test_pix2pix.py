"""Pix2Pix-MS (issue 15): BicycleGAN's U-Net with z and the multi-scale PatchGANs against NumPy
transcriptions of the official forwards, parameter counts of the official modules, LSGAN / L1 /
mode seeking as pix2pix_model.py computes them, the official update order, and training with
exact resume on a paired dataset.

Official code: HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/networks.py (from junyanz/BicycleGAN
models/networks.py) and models/pix2pix_model.py.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from helpers.paired_datasets import make_paired_dataset
from keras_gans import losses, runs
from keras_gans.errors import UsageError
from keras_gans.losses import regularizers as R
from keras_gans.models import registry
from keras_gans.models.pix2pix import MultiPatchDiscriminator, UNetGenerator
from keras_gans.models.pix2pix.pix2pix_discriminator import AvgPoolExcludePad
from keras_gans.training import checkpoint as ckpt_lib, config as config_lib, loop
from keras_gans.training.gan import GAN

# Parameter counts of the official modules, instantiated with torch 2.13.0 (CPU) from
# HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/networks.py (BicycleGAN's are identical):
# define_G(3, 3, nz=8, ngf=64, netG, norm='instance', where_add=...) and
# define_D(6, 64, 'basic_256_multi', norm='instance', num_Ds=2); D's outputs on a 256x256 input
# are 30x30 and 14x14.
OFFICIAL_PARAMS = {("all", 256): 54_794_627, ("input", 256): 54_417_795,
                   ("all", 128): 42_145_155, ("input", 128): 41_833_859, "D": 3_463_586}


# --- NumPy transcriptions of the official layers (torch semantics, NHWC arrays) -------------
def _conv(x, kernel, bias, stride, pad):
    """``nn.Conv2d(k, stride, padding=pad)``: cross-correlation; ``kernel`` [k, k, Ci, Co]."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = kernel.shape[0]
    ho = (x.shape[1] - k) // stride + 1
    wo = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], ho, wo, kernel.shape[3]))
    for a in range(k):
        for b in range(k):
            patch = x[:, a:a + stride * ho:stride, b:b + stride * wo:stride, :]
            out += patch @ kernel[a, b]
    return out + bias


def _conv_transpose(x, kernel, bias):
    """``nn.ConvTranspose2d(k=4, stride=2, padding=1)``: each input pixel scatters
    ``x @ W[a, b]`` to output ``(2i - 1 + a, 2j - 1 + b)``; ``kernel`` [k, k, Co, Ci]."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    full = np.zeros((n, 2 * (h - 1) + k, 2 * (w - 1) + k, kernel.shape[2]))
    for a in range(k):
        for b in range(k):
            full[:, a:a + 2 * h:2, b:b + 2 * w:2, :] += x @ kernel[a, b].T
    return full[:, 1:1 + 2 * h, 1:1 + 2 * w, :] + bias


def _inorm(x):
    """``nn.InstanceNorm2d(affine=False)``: per example and channel, biased variance, eps 1e-5."""
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5)


def _lrelu(x):
    return np.where(x > 0, x, 0.2 * x)


def _avgpool_exclude_pad(x):
    """``nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)``."""
    n, h, w, c = x.shape
    ho, wo = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    out = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            rows = slice(max(2 * i - 1, 0), min(2 * i + 2, h))
            cols = slice(max(2 * j - 1, 0), min(2 * j + 2, w))
            out[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return out


def _params(model):
    return {v.path.split("/")[-2]: np.asarray(v, np.float64) for v in model.weights
            if v.path.split("/")[-1] == "kernel"}, \
           {v.path.split("/")[-2]: np.asarray(v, np.float64) for v in model.weights
            if v.path.split("/")[-1] == "bias"}


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(0.0, 0.4, v.shape).astype("float32"))


def _np_unet(z, condition, g, depth, where_add):
    """``G_Unet_add_all`` / ``UnetBlock_with_z.forward`` (networks.py lines 698-716) and
    ``G_Unet_add_input`` / ``UnetBlock.forward`` (lines 417-425, 503-507), eval mode."""
    K, B = _params(g)

    def level(x, i):
        h = x
        if where_add == "all" or i == 0:  # z_img = z.view(B, nz, 1, 1).expand(...); cat([x, z_img])
            h = np.concatenate([x, np.broadcast_to(z[:, None, None, :], x.shape[:3] + z.shape[1:])], -1)
        if i > 0:
            h = _lrelu(h)
        h = _conv(h, K[f"down_conv_{i}"], B[f"down_conv_{i}"], 2, 1)
        if 0 < i < depth - 1:
            h = _inorm(h)
        if i < depth - 1:
            h = level(h, i + 1)
        h = _conv_transpose(np.maximum(h, 0), K[f"up_conv_{i}"], B[f"up_conv_{i}"])
        if i == 0:
            return np.tanh(h)
        return np.concatenate([_inorm(h), x], -1)  # torch.cat([self.up(x2), x], 1)

    return level(condition, 0)


def _np_patchgans(image, condition, d, n_layers, num_ds):
    """``D_NLayersMulti.forward`` (networks.py lines 250-259) on ``cat(real_A, B)``."""
    K, B = _params(d)
    x = np.concatenate([condition, image], -1)
    outs = []
    for k in range(num_ds):
        if k:
            x = _avgpool_exclude_pad(x)
        p = f"d{k}_conv_"
        h = _lrelu(_conv(x, K[p + "0"], B[p + "0"], 2, 1))
        for n in range(1, n_layers):
            h = _lrelu(_inorm(_conv(h, K[p + str(n)], B[p + str(n)], 2, 1)))
        h = _lrelu(_inorm(_conv(h, K[p + str(n_layers)], B[p + str(n_layers)], 1, 1)))
        outs.append(_conv(h, K[p + "out"], B[p + "out"], 1, 1))
    return outs


# --- networks ----------------------------------------------------------------------------
@pytest.mark.parametrize("where_add", ["all", "input"])
def test_unet_generator_is_the_official_forward(where_add):
    g = UNetGenerator(latent_dim=2, resolution=8, condition_channels=1, channels=3, ngf=2,
                      where_add=where_add)
    _randomize(g, 1)
    rng = np.random.default_rng(2)
    z = rng.standard_normal((2, 2))
    cond = rng.uniform(-1, 1, (2, 8, 8, 1))
    ours = np.asarray(g([z.astype("float32"), cond.astype("float32")], training=False))
    np.testing.assert_allclose(ours, _np_unet(z, cond, g, 3, where_add), atol=2e-5)
    # z enters every level's down conv ("all": input_nc + nz) or the first only ("input").
    K, _ = _params(g)
    extra = [K[f"down_conv_{i}"].shape[2] - (1 if i == 0 else 2 * min(2 ** (i - 1), 8)) for i in range(3)]
    assert extra == ([2, 2, 2] if where_add == "all" else [2, 0, 0])
    # different z, different outputs (the noise is not ignored by construction)
    other = np.asarray(g([z[::-1].astype("float32"), cond.astype("float32")], training=False))
    assert np.abs(other - ours).max() > 1e-3


def test_multi_scale_patchgans_are_the_official_forward():
    d = MultiPatchDiscriminator(resolution=32, channels=3, condition_channels=1, ndf=4, n_layers=2,
                                num_ds=2)
    _randomize(d, 3)
    rng = np.random.default_rng(4)
    image, cond = rng.uniform(-1, 1, (2, 32, 32, 3)), rng.uniform(-1, 1, (2, 32, 32, 1))
    ours = d([image.astype("float32"), cond.astype("float32")])
    ref = _np_patchgans(image, cond, d, 2, 2)
    assert [tuple(o.shape) for o in ours] == [(2, 6, 6, 1), (2, 2, 2, 1)]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-4)
    # the second discriminator has width round(ndf / 2) (networks.py line 210)
    K, _ = _params(d)
    assert K["d0_conv_0"].shape == (4, 4, 4, 4) and K["d1_conv_0"].shape == (4, 4, 4, 2)
    x = rng.uniform(-1, 1, (1, 6, 6, 2))
    np.testing.assert_allclose(np.asarray(AvgPoolExcludePad()(x.astype("float32"))),
                               _avgpool_exclude_pad(x), atol=1e-6)


def test_parameter_counts_equal_the_official_modules():
    for where_add in ("all", "input"):
        g = UNetGenerator(8, 128, 3, 3, 64, where_add=where_add)
        assert g.count_params() == OFFICIAL_PARAMS[(where_add, 128)], where_add
    d = MultiPatchDiscriminator(128, 3, 3, 64, 3, 2)
    assert d.count_params() == OFFICIAL_PARAMS["D"]


@pytest.mark.slow
def test_parameter_counts_at_256_equal_the_official_modules():
    for where_add in ("all", "input"):
        g = UNetGenerator(8, 256, 3, 3, 64, where_add=where_add)
        assert g.count_params() == OFFICIAL_PARAMS[(where_add, 256)], where_add
    d = MultiPatchDiscriminator(256, 3, 3, 64, 3, 2)
    assert [tuple(o.shape[1:3]) for o in d.outputs] == [(30, 30), (14, 14)]


def test_official_init_is_xavier_normal_with_gain_002():
    """``init_weights(net, 'xavier', gain=0.02)`` (networks.py lines 12-33): conv weights
    N(0, 0.02^2 * 2 / (fan_in + fan_out)), biases 0."""
    keras.utils.set_random_seed(0)
    g = UNetGenerator(8, 128, 3, 3, 64)
    kernel = np.asarray(g.get_layer("down_conv_3").kernel)  # 4x4, 256 -> 512 channels... + z
    k, _, cin, cout = kernel.shape
    expected = 0.02 * np.sqrt(2.0 / (k * k * (cin + cout)))
    assert abs(kernel.std() / expected - 1) < 0.02 and abs(kernel.mean()) < expected * 0.02
    assert np.abs(kernel).max() > 2.5 * expected  # untruncated
    assert not np.asarray(g.get_layer("down_conv_3").bias).any()


# --- losses --------------------------------------------------------------------------------
def test_lsgan_l1_and_mode_seeking_are_pix2pix_models_terms():
    """pix2pix_model.py lines 95-136, transcribed: ``GANLoss`` = sum over the discriminators of
    ``MSELoss(pred, 1 or 0)``; ``loss_D = fake1 + fake2 + real + real``; ``loss_G_GAN`` = the
    two fakes' terms; ``L1Loss(fake_B_random1, real_B) * 10``; ``lz = mean|f2 - f1| / mean|z2 -
    z1|``, ``1 / (lz + 1e-5)``."""
    rng = np.random.default_rng(0)
    B = 3
    real = [rng.normal(size=(B, 6, 6, 1)), rng.normal(size=(B, 2, 2, 1))]
    fake1 = [rng.normal(size=(B, 6, 6, 1)), rng.normal(size=(B, 2, 2, 1))]
    fake2 = [rng.normal(size=(B, 6, 6, 1)), rng.normal(size=(B, 2, 2, 1))]

    def gan_loss(preds, target):
        return sum(((p - target) ** 2).mean() for p in preds)

    loss = losses.get_loss("lsgan")
    t = lambda s: [tf.constant(x, tf.float32) for x in s]  # noqa: E731
    d = (tf.reduce_sum(loss.discriminator(t(real), t(fake1)))
         + tf.reduce_sum(loss.discriminator(t(real), t(fake2)))) / B
    np.testing.assert_allclose(float(d), gan_loss(fake1, 0) + gan_loss(fake2, 0)
                               + 2 * gan_loss(real, 1), rtol=1e-5)
    g = (tf.reduce_sum(loss.generator(t(fake1))) + tf.reduce_sum(loss.generator(t(fake2)))) / B
    np.testing.assert_allclose(float(g), gan_loss(fake1, 1) + gan_loss(fake2, 1), rtol=1e-5)

    f1, f2, target = rng.uniform(-1, 1, (3, B, 8, 8, 3))
    z1, z2 = rng.normal(size=(2, B, 8))
    l1 = R.L1Reconstruction()
    ctx = type("Ctx", (), {"fake": tf.constant(np.concatenate([f1, f2]), tf.float32),
                           "targets": tf.constant(target, tf.float32)})()
    per_example, batch = l1(ctx)
    assert batch is None
    np.testing.assert_allclose(float(tf.reduce_sum(per_example)) / B,
                               np.abs(f1 - target).mean() * 10.0, rtol=1e-5)
    lz = np.abs(f2 - f1).mean() / np.abs(z2 - z1).mean()
    ms = losses.mode_seeking_loss(tf.constant(f1, tf.float32), tf.constant(f2, tf.float32),
                                  tf.constant(z1, tf.float32), tf.constant(z2, tf.float32))
    np.testing.assert_allclose(float(ms), 1.0 / (lz + 1e-5), rtol=1e-5)


# --- the GAN step --------------------------------------------------------------------------
class _LinearG(keras.Model):
    """fake = reshape(z @ W + flat(condition) @ U + c), recording its inputs."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.wz = keras.layers.Dense(4, name="wz")
        self.wc = keras.layers.Dense(4, use_bias=False, name="wc")
        self.calls = []

    def call(self, inputs, training=False):
        z, cond = inputs
        if tf.executing_eagerly():
            self.calls.append((np.array(z, np.float64), np.array(cond, np.float64)))
        out = self.wz(z) + self.wc(tf.reshape(cond, [-1, 4]))
        return tf.reshape(out, [-1, 2, 2, 1])


class _LinearD(keras.Model):
    """Two "discriminators": [flat(cat(A, B)) @ w + b, same with v + e] (patch maps [B, 1])."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.d0 = keras.layers.Dense(1, name="d0")
        self.d1 = keras.layers.Dense(1, name="d1")

    def call(self, inputs, training=False):
        image, cond = inputs
        x = tf.concat([tf.reshape(cond, [-1, 4]), tf.reshape(image, [-1, 4])], axis=1)
        return [self.d0(x), self.d1(x)]


def _linear_nets(suffix=""):
    g, d = _LinearG(name=f"g{suffix}"), _LinearD(name=f"d{suffix}")
    g([np.zeros((1, 3), "float32"), np.zeros((1, 2, 2, 1), "float32")])
    d([np.zeros((1, 2, 2, 1), "float32"), np.zeros((1, 2, 2, 1), "float32")])
    g.calls.clear()
    return g, d


def _pix2pix_step_gan():
    keras.utils.set_random_seed(5)
    g, d = _linear_nets()
    gan = GAN(g, d, latent_dim=3, condition_shape=(2, 2, 1), use_ema=False)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                loss="lsgan", regularizers=[R.L1Reconstruction(10.0), R.ModeSeeking(1.0)],
                g_first=True, reuse_fakes=True, run_eagerly=True)
    return gan, g, d


def _flat_params(model):
    return [np.array(v, np.float64) for v in model.trainable_weights]


def test_pix2pix_step_is_the_official_update():
    """pix2pix_model.py ``optimize_parameters`` (lines 156-159), transcribed in NumPy with
    linear G and D and SGD 0.1: ``forward`` draws z1, z2 and runs G once on ``cat(A, A)``;
    ``update_G`` minimizes ``GAN(D(A, f1), 1) + GAN(D(A, f2), 1) + 1 / (lz + 1e-5) +
    10 * L1(f1, B)`` with the current D; ``update_D`` then minimizes ``GAN(D(A, f1), 0) +
    GAN(D(A, f2), 0) + 2 * GAN(D(A, B), 1)`` on the SAME fakes (made before G's update). The
    gradients of the transcription are central finite differences in float64."""
    gan, g, d = _pix2pix_step_gan()
    rng = np.random.default_rng(0)
    B = 2
    A = rng.uniform(-1, 1, (B, 2, 2, 1)).astype("float32")
    Bimg = rng.uniform(-1, 1, (B, 2, 2, 1)).astype("float32")
    g0, d0 = _flat_params(g), _flat_params(d)
    hist = gan.fit(tf.data.Dataset.from_tensors({"image": Bimg, "condition": A}), epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in hist.history.items()}
    assert len(g.calls) == 1  # one generator call per step: the D update reuses the fakes
    (z, cond), = g.calls
    assert z.shape == (2 * B, 3)
    np.testing.assert_array_equal(cond, np.concatenate([A, A]))  # pairs share the condition
    a, b = A.reshape(B, 4).astype(np.float64), Bimg.reshape(B, 4).astype(np.float64)

    def G(p, zz, cc):
        wz, bz, wc = p
        return zz @ wz + bz + cc @ wc

    def D(p, img):
        w0, b0, w1, b1 = p
        x = np.concatenate([np.concatenate([a, a])[:len(img)], img], 1)
        return [x @ w0 + b0, x @ w1 + b1]

    def mse(preds, target):
        return sum(((p - target) ** 2).mean() for p in preds)

    def loss_g(p):
        f = G(p, z, np.concatenate([a, a]))
        f1, f2 = f[:B], f[B:]
        lz = np.abs(f2 - f1).mean() / np.abs(z[B:] - z[:B]).mean()
        return (mse(D(d0, f1), 1) + mse(D(d0, f2), 1), 1 / (lz + 1e-5), 10 * np.abs(f1 - b).mean())

    f_old = G(g0, z, np.concatenate([a, a]))

    def loss_d(p):
        return mse(D(p, f_old[:B]), 0) + mse(D(p, f_old[B:]), 0) + 2 * mse(D(p, b), 1)

    def numeric_grad(fn, params):
        grads = []
        for i, p in enumerate(params):
            gp = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                for sign in (1, -1):
                    q = [x.copy() for x in params]
                    q[i][idx] += sign * 1e-6
                    gp[idx] += sign * fn(q) / 2e-6
            grads.append(gp)
        return grads

    adv, ms, l1 = loss_g(g0)
    np.testing.assert_allclose(logs["g_loss"], adv, rtol=1e-5)
    np.testing.assert_allclose(logs["reg_ms"], ms, rtol=1e-4)
    np.testing.assert_allclose(logs["reg_l1"], l1, rtol=1e-5)
    np.testing.assert_allclose(logs["d_loss"], loss_d(d0), rtol=1e-5)
    g1 = [p - 0.1 * gr for p, gr in zip(g0, numeric_grad(lambda q: sum(loss_g(q)), g0))]
    d1 = [p - 0.1 * gr for p, gr in zip(d0, numeric_grad(loss_d, d0))]
    for ours, ref in zip(_flat_params(g), g1):
        np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-5)
    for ours, ref in zip(_flat_params(d), d1):
        np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-5)


def test_image_conditioned_gan_keeps_every_regularizer_working():
    """R1 and GP differentiate w.r.t. the image only (the condition is bound); the mode-seeking
    pairs share the condition; class-only and target-only settings are refused clearly."""
    keras.utils.set_random_seed(1)
    g, d = _linear_nets()
    gan = GAN(g, d, latent_dim=3, condition_shape=(2, 2, 1), use_ema=False)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3),
                loss="hinge", regularizers=[R.R1(1.0), R.GradientPenalty(1.0), R.ModeSeeking(),
                                            R.L1Reconstruction()])
    rng = np.random.default_rng(0)
    data = {"image": rng.uniform(-1, 1, (4, 2, 2, 1)).astype("float32"),
            "condition": rng.uniform(-1, 1, (4, 2, 2, 1)).astype("float32")}
    logs = gan.fit(tf.data.Dataset.from_tensors(data).repeat(), steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert logs["reg_r1"][-1] > 0 and logs["reg_gp"][-1] > 0
    out = gan.sample(tf.zeros((2, 3)), condition=tf.constant(data["condition"][:2]))
    assert out.shape == (2, 2, 2, 1)
    with pytest.raises(ValueError, match="condition images of shape"):
        gan.sample(tf.zeros((2, 3)))
    with pytest.raises(ValueError, match="paired data"):
        gan.fit(tf.data.Dataset.from_tensors({"image": data["image"]}), verbose=0)
    plain = GAN(*_linear_nets("2"), latent_dim=3, use_ema=False)
    with pytest.raises(ValueError, match="image-conditioned GAN"):
        plain.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(),
                      regularizers=[R.L1Reconstruction()])
    with pytest.raises(ValueError, match="classes or on an image"):
        GAN(g, d, latent_dim=3, num_classes=10, condition_shape=(2, 2, 1))


# --- family, presets, training -------------------------------------------------------------
def test_presets_carry_the_official_hyperparameters():
    for name in ("pix2pix-ms-facades256", "pix2pix-ms-maps256"):
        c = config_lib.resolve(name)
        assert (c.batch, c.loss, c.g_lr, c.d_lr, c.beta_1, c.beta_2) == (1, "lsgan", 2e-4, 2e-4, 0.5, 0.999)
        assert c.model == {"latent_dim": 8, "ngf": 64, "ndf": 64, "where_add": "all",
                           "use_dropout": False, "n_layers": 3, "num_ds": 2}
        assert c.regularizers == [{"type": "l1", "weight": 10.0}, {"type": "ms", "lam": 1.0}]
        assert c.g_first and c.reuse_fakes and c.flip and c.jitter_load_size is None
    assert config_lib.resolve("pix2pix-ms-facades256").total_kimg == 80.0   # 400 x 200 epochs
    # train_options.py lines 20-21: niter 100 + niter_decay 100 epochs of the training set
    for name, pairs in (("pix2pix-ms-facades256", 400), ("pix2pix-ms-maps256", 1096)):
        assert config_lib.resolve(name).lr_decay == {
            "epoch_kimg": pairs / 1000, "constant_epochs": 100, "decay_epochs": 100}
    assert config_lib.resolve("pix2pix-ms-maps256").total_kimg == 219.2     # 1096 x 200 epochs
    base = config_lib.resolve("pix2pix-edges2digits32")
    ms = config_lib.resolve("pix2pix-ms-edges2digits32")
    assert [r["type"] for r in base.regularizers] == ["l1"]
    assert dataclasses.replace(ms, regularizers=base.regularizers, preset=base.preset) == base


def test_family_refuses_unpaired_data_and_bad_options(tmp_path):
    digits = str(tmp_path / "digits")
    write_dataset(digits, *mnist32(8), num_shards=1)
    config = config_lib.resolve("pix2pix-ms-edges2digits32", ["model.ngf=2", "model.ndf=2"])
    with pytest.raises(UsageError, match="not a paired dataset.*--pairs"):
        loop.train(config, digits, runs_dir=str(tmp_path / "runs"), log=lambda *a: None)
    with pytest.raises(UsageError, match="where_add"):
        config_lib.resolve("pix2pix-ms-edges2digits32", ["model.where_add=middle"])
    with pytest.raises(UsageError, match="unknown model arguments"):
        config_lib.resolve("pix2pix-ms-edges2digits32", ["model.base_filters=8"])
    with pytest.raises(UsageError, match="conditional=false"):
        config_lib.resolve("pix2pix-ms-edges2digits32", ["conditional=true"])
    with pytest.raises(UsageError, match="jitter_load_size"):
        config_lib.resolve("pix2pix-ms-edges2digits32", ["jitter_load_size=-3"])
    paired = make_paired_dataset(tmp_path, n=4, resolution=16)
    from keras_gans import manifest as manifest_lib

    with pytest.raises(UsageError, match="has no output"):  # 3-layer PatchGAN on 8x8
        registry.build(config_lib.resolve("pix2pix-ms-facades256", ["model.ngf=2", "model.ndf=2"]),
                       manifest_lib.load(paired))


def _tiny(preset, **kw):
    cfg = config_lib.resolve(preset, [
        f"model={json.dumps(registry.family('pix2pix').tiny_model(registry.preset_config(preset)['model']))}",
        "batch=2", "tick_kimg=0.004", "snapshot_ticks=1", "total_kimg=0.008", "seed=3",
        "deterministic=true", "flip=true", "jitter_load_size=36"])
    return dataclasses.replace(cfg, **kw).validate()


def _state(run_dir):
    gan, _ = ckpt_lib.restore_gan(run_dir)
    assert gan.condition_shape == (32, 32, 1)
    nets = [gan.generator, gan.discriminator, gan.ema_generator]
    out = [w.numpy() for n in nets for w in n.weights]
    out += [v.numpy() for opt in (gan.g_optimizer, gan.d_optimizer) for v in opt.variables]
    return out, int(gan.images_seen.numpy())


def test_training_run_on_paired_data(tmp_path):
    """A tiny Pix2Pix-MS run on the edges -> digits pairs (flips and jitter on): the run records
    the paired manifest, logs the L1 and mode-seeking terms, its sample grid has rows = inputs
    (condition first) and columns = outputs, and the generator restores image-conditioned."""
    data = make_paired_dataset(tmp_path, n=16, resolution=32)
    run = loop.train(_tiny("pix2pix-ms-edges2digits32", total_kimg=0.004), data,
                     runs_dir=str(tmp_path / "runs"), log=lambda *a: None)
    record = json.loads(open(os.path.join(run, "metrics.jsonl")).readline())
    assert {"reg_ms", "reg_l1"} <= set(record) and np.isfinite(record["reg_l1"])
    assert runs.read_info(run)["data_manifest"]["condition_channels"] == 1
    from PIL import Image

    grid = Image.open(os.path.join(run, "samples", "fakes000000004.png"))
    assert grid.size == (9 * 32 + 10 * 2, 8 * 32 + 9 * 2)  # 8 inputs x (condition + 8 outputs)
    restored = ckpt_lib.restore_generator(run)
    assert restored.condition_shape == (32, 32, 1)
    cond = tf.zeros((2, 32, 32, 1))
    out = restored.sample(tf.random.normal((2, restored.latent_dim)), condition=cond)
    assert out.shape == (2, 32, 32, 1) and float(tf.reduce_max(tf.abs(out))) <= 1.0


@pytest.mark.slow
def test_train_and_resume_exactly_on_paired_data(tmp_path):
    """4 steps straight equal 2 steps + resume + 2 steps, bit for bit (flips and jitter on);
    the restored GAN is image-conditioned."""
    data = make_paired_dataset(tmp_path, n=16, resolution=32)
    quiet = lambda *a: None  # noqa: E731
    straight = loop.train(_tiny("pix2pix-ms-edges2digits32"), data, runs_dir=str(tmp_path / "a"), log=quiet)
    half = loop.train(_tiny("pix2pix-ms-edges2digits32", total_kimg=0.004), data,
                      runs_dir=str(tmp_path / "b"), log=quiet)
    resumed = loop.train(_tiny("pix2pix-ms-edges2digits32"), data, runs_dir=str(tmp_path / "b"),
                         resume=half, log=quiet)
    (wa, seen_a), (wb, seen_b) = _state(straight), _state(resumed)
    assert seen_a == seen_b == 8
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(wa, wb)) == 0.0


@pytest.mark.slow
def test_cpu_preset_learns_the_translation(tmp_path):
    """The CPU Pix2Pix-MS preset on 512 edges -> digits pairs for 2 kimg: the L1 distance of G's
    outputs to the targets falls well below the untrained generator's (about 150 s on 2 shared
    CPU cores)."""
    data = make_paired_dataset(tmp_path, n=512, resolution=32)
    config = config_lib.resolve("pix2pix-ms-edges2digits32", ["total_kimg=2", "tick_kimg=1",
                                                              "seed=0"])
    run = loop.train(config, data, runs_dir=str(tmp_path / "runs"), log=lambda *a: None)
    from keras_gans import data as data_lib

    batch = next(iter(data_lib.load_dataset(data, "train", 64, shuffle=False, repeat=False)))
    restored = ckpt_lib.restore_generator(run)
    z = tf.random.normal((64, restored.latent_dim), seed=1)
    trained = float(tf.reduce_mean(tf.abs(restored.sample(z, condition=batch["condition"]) - batch["image"])))
    fresh = registry.build(config, __import__("keras_gans").manifest.load(data), discriminator=False)
    untrained = float(tf.reduce_mean(tf.abs(fresh.generator([z, batch["condition"]]) - batch["image"])))
    assert trained < 0.5 * untrained, (trained, untrained)
