"""MSG-ProGAN as akanimax/BMSG-GAN builds it (``generator="bmsg"``): NumPy transcriptions of the
official PyTorch code (commit 863b1f37; ``sourcecode/MSG_GAN/GAN.py``, ``CustomLayers.py``,
``Losses.py``, ``sourcecode/train.py``), its parameter counts and the presets' settings."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from helpers.keras_test_case import run_layer_test, run_model_saving_test

from keras_gans.errors import UsageError
from keras_gans.models.msggan import BMSGDiscriminator, BMSGGenerator
from keras_gans.models.msggan.bmsg_networks import (BatchStdDev, EqualizedLatentDeconv,
                                                    discriminator_widths, generator_widths)
from keras_gans.training import config as config_lib

RNG = np.random.default_rng(0)
SQRT2 = math.sqrt(2.0)

# Parameter counts of the official networks, measured by instantiating them: torch 2.13.0 (CPU) in
# a separate venv, akanimax/BMSG-GAN sourcecode/ (commit 863b1f37) on sys.path,
# ``sum(p.numel() for p in Generator(depth, 512).parameters())`` and the same for
# ``Discriminator(depth, 512)`` (depth = log2(resolution) - 1). The 32x32 figures also follow by
# hand from GAN.py / CustomLayers.py: D = 3 x (3x3 512->512 + 3x3 512->256 + 1x1 3->256) with the
# top 1x1 3->512 + final block (3x3 513->512, 4x4 512->512, 1x1 512->1) + the 4x4 1x1 3->256
# = 17,184,001 (the "about 17.2M" of the audit); G = deconv 512x4x4x512 + 7 3x3 convs 512->512
# + 4 ToRGB 512->3, with biases = 20,719,628.
OFFICIAL_PARAMS = {  # (resolution, latent_size): (Generator, Discriminator)
    (32, 512): (20_719_628, 17_184_001),     # CIFAR-10, depth 4
    (128, 512): (22_933_394, 18_659_329),    # depth 6, train.py's default --depth
    (1024, 512): (23_079_115, 18_756_321),   # CelebA-HQ 1024, depth 9
    (32, 64): (324_876, 269_985),            # msggan-mnist32's width
}


def np_(t):
    return keras.ops.convert_to_numpy(t)


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def _conv_same(x, w):
    """NumPy 'same' odd-kernel stride-1 convolution (cross-correlation, as torch's conv2d with
    pad k//2), NHWC x, HWIO w."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h, wd = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (w.shape[-1],), np.float64)
    for i in range(k):
        for j in range(k):
            out += np.einsum("bhwc,co->bhwo", xp[:, i:i + h, j:j + wd], w[i, j])
    return out


def _eq(layer):
    """A built equalized layer's effective weight (``W * sqrt(2)/sqrt(fan_in)``, CustomLayers.py
    :39-40, 51) and bias, float64."""
    return np_(layer.kernel).astype(np.float64) * layer.scale, np_(layer.bias).astype(np.float64)


def _pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _np_batch_stddev(x):
    """CustomLayers.py:328-343 (``MinibatchStdDev.forward``, alpha 1e-8), channels last:
    subtract the batch mean, sqrt(mean over the batch of the square + 1e-8), mean over every
    feature and pixel, replicate to [B, H, W, 1], append as the last channel."""
    y = x - x.mean(axis=0, keepdims=True)
    y = np.sqrt((y ** 2).mean(axis=0) + 1e-8)
    s = y.mean()
    return np.concatenate([x, np.full(x.shape[:3] + (1,), s)], axis=-1)


def _randomize_biases(model, rng):
    for w in model.weights:
        if w.path.endswith("bias"):
            w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))


# --- layers ----------------------------------------------------------------------------------


def test_batch_stddev_is_one_statistic_of_the_whole_batch():
    x = RNG.normal(size=(6, 4, 4, 5)).astype("float32") * np.arange(1, 6, dtype="float32")
    layer, out = run_layer_test(BatchStdDev, {}, x, expected_output_shape=(6, 4, 4, 6),
                                expected_num_trainable_weights=0)
    out = np_(out)
    np.testing.assert_allclose(out, _np_batch_stddev(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert np.ptp(out[..., -1]) == 0  # one value for every example and pixel: group = batch
    # ProGAN's group-4 statistic would differ between the two groups of this batch of 8
    eight = RNG.normal(size=(8, 4, 4, 2)).astype("float32")
    eight[1::2] *= 5.0
    np.testing.assert_allclose(np_(layer(eight))[..., -1], _np_batch_stddev(eight)[..., -1], rtol=1e-5)


def test_latent_deconv_is_a_transposed_conv_of_a_1x1_input():
    """CustomLayers.py:60-105, 191-193, 216-220: weight [c_in, c_out, 4, 4] ~ N(0, 1), scale
    sqrt(2)/sqrt(c_in) (fan_in = c_in, not c_in * 16), one zero-initialized bias per channel;
    ``conv_transpose2d`` of z viewed as [B, c_in, 1, 1] is ``out[b, :, h, w] = z @ W[:, :, h, w]``."""
    z = RNG.normal(size=(3, 8)).astype("float32")
    layer, out = run_layer_test(EqualizedLatentDeconv, {"filters": 6}, z,
                                expected_output_shape=(3, 4, 4, 6), expected_num_trainable_weights=2)
    assert layer.kernel.shape == (8, 4, 4, 6) and layer.bias.shape == (6,)
    assert layer.scale == pytest.approx(SQRT2 / math.sqrt(8))
    layer.bias.assign(RNG.normal(size=6).astype("float32"))
    w, b = _eq(layer)
    np.testing.assert_allclose(np_(layer(z)), np.einsum("bi,ihwo->bhwo", z, w) + b, rtol=1e-5, atol=1e-6)
    assert layer.count_params() == 8 * 16 * 6 + 6


# --- widths and parameter counts -------------------------------------------------------------


def test_widths_follow_the_latent_size():
    """GAN.py:48-66 (G) and 143-169 (D) at 1024x1024 (depth 9), latent 512."""
    assert generator_widths(512, 1024) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128,
                                           256: 64, 512: 32, 1024: 16}
    d = discriminator_widths(512, 1024)
    # (block input, block output, the image's 1x1 conv)
    assert d[4] == (512, 1, 256) and d[8] == d[16] == d[32] == (512, 256, 256)
    assert d[64] == (256, 256, 128) and d[512] == (32, 32, 16)
    assert d[1024] == (16, 16, 16)  # the top converter gives the whole block input (GAN.py:168)
    # at 32x32 (depth 4) the top block is a "i <= 2" block fed by a 3 -> 512 conv
    assert discriminator_widths(512, 32) == {4: (512, 1, 256), 8: (512, 256, 256),
                                             16: (512, 256, 256), 32: (512, 256, 512)}


@pytest.mark.parametrize("resolution,latent", sorted(OFFICIAL_PARAMS))
def test_parameter_counts_equal_the_official_networks(resolution, latent):
    g = BMSGGenerator(resolution, 3, latent)
    g.build()
    d = BMSGDiscriminator(resolution, 3, latent)
    d.build()
    assert (g.count_params(), d.count_params()) == OFFICIAL_PARAMS[(resolution, latent)]


# --- the generator ---------------------------------------------------------------------------


def test_generator_initial_block_and_to_rgb_against_numpy():
    """GenInitialBlock (CustomLayers.py:209-226): lrelu(deconv(z)), lrelu(conv3x3), pixel norm
    (none after the deconv); the training loop's latents ``z / |z| * sqrt(latent_size)``
    (GAN.py:432-436); ToRGB an equalized 1x1 conv with bias and gain sqrt(2) (GAN.py:41-43,
    CustomLayers.py:39-40), linear (no tanh); then GenGeneralConvBlock (CustomLayers.py:263-275):
    nearest 2x, pixnorm(lrelu(conv)) twice."""
    g = BMSGGenerator(16, 3, latent_dim=8)
    g.build()
    _randomize_biases(g, np.random.default_rng(1))
    assert g.deconv4.kernel.shape == (8, 4, 4, 8) and g.deconv4.scale == pytest.approx(SQRT2 / math.sqrt(8))
    for r in (4, 8, 16):
        rgb = getattr(g, f"to_rgb{r}")
        assert rgb.gain == pytest.approx(SQRT2) and rgb.use_bias and rgb.kernel.shape == (1, 1, 8, 3)
    z = RNG.normal(size=(5, 8)).astype("float32") * 3.0
    pix = lambda x: x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-8)  # noqa: E731 CustomLayers.py:166-167
    zn = z / np.linalg.norm(z, axis=-1, keepdims=True) * math.sqrt(8)
    w, b = _eq(g.deconv4)
    x = _lrelu(np.einsum("bi,ihwo->bhwo", zn, w) + b)
    w, b = _eq(g.conv4)
    x = pix(_lrelu(_conv_same(x, w) + b))
    outs = [np_(o) for o in g(z)]
    assert [o.shape for o in outs] == [(5, 4, 4, 3), (5, 8, 8, 3), (5, 16, 16, 3)]
    w, b = _eq(g.to_rgb4)
    np.testing.assert_allclose(outs[0], _conv_same(x, w) + b, rtol=1e-4, atol=1e-5)
    x = x.repeat(2, 1).repeat(2, 2)
    for i in (0, 1):
        w, b = _eq(getattr(g, f"conv8_{i}"))
        x = pix(_lrelu(_conv_same(x, w) + b))
    w, b = _eq(g.to_rgb8)
    np.testing.assert_allclose(outs[1], _conv_same(x, w) + b, rtol=1e-4, atol=1e-5)
    assert np.abs(outs[1]).max() > 1.0  # linear outputs, no tanh


# --- the discriminator -----------------------------------------------------------------------


def _np_discriminator(d, images):
    """Discriminator.forward (GAN.py:183-209) with DisGeneralConvBlock (CustomLayers.py:438-449)
    and DisFinalBlock (CustomLayers.py:386-403), channels last, float64."""
    def rgb(r, x):  # linear equalized 1x1 conv with bias (GAN.py:136-138)
        w, b = _eq(getattr(d, f"from_rgb{r}"))
        return _conv_same(x, w) + b

    res = sorted(d.widths)
    y = None
    for r, x in zip(reversed(res), reversed(images)):
        part = rgb(r, x)
        y = part if y is None else np.concatenate([part, y], axis=-1)  # th.cat((input_part, y), 1)
        if r == 4:
            break
        for i in (0, 1):
            w, b = _eq(getattr(d, f"conv{r}_{i}"))
            y = _lrelu(_conv_same(y, w) + b)
        y = _pool2(y)  # AvgPool2d(2) after the activation
    y = _np_batch_stddev(y)
    w, b = _eq(d.conv4)
    y = _lrelu(_conv_same(y, w) + b)
    w, b = _eq(d.conv4x4)  # conv (4, 4) without padding on the 4x4 map: a dense of the 4x4xF map
    y = _lrelu(y.reshape(len(y), -1) @ w + b)
    w, b = _eq(d.score)    # conv (1, 1) to one score, linear, gain sqrt(2)
    return y @ w + b


def test_discriminator_lin_cat_and_final_block_against_numpy(tmp_path):
    d = BMSGDiscriminator(64, 3, feature_size=16)  # depth 5: also the halving "i > 2" widths
    d.build()
    _randomize_biases(d, np.random.default_rng(2))
    # lin_cat widths: a linear conv to half the block input, the other half comes up
    assert d.from_rgb16.kernel.shape == (1, 1, 3, 8) and d.conv16_0.kernel.shape == (3, 3, 16, 16)
    assert d.from_rgb32.kernel.shape == (1, 1, 3, 8) and d.conv32_0.kernel.shape == (3, 3, 16, 16)
    assert d.from_rgb64.kernel.shape == (1, 1, 3, 8) and d.conv64_1.kernel.shape == (3, 3, 8, 8)
    assert d.from_rgb4.kernel.shape == (1, 1, 3, 8) and d.conv4.kernel.shape == (3, 3, 17, 16)
    assert d.conv4x4.kernel.shape == (16 * 16, 16) and d.score.kernel.shape == (16, 1)
    assert all(getattr(d, f"from_rgb{r}").gain == pytest.approx(SQRT2) for r in (4, 8, 16, 32, 64))
    assert d.score.gain == pytest.approx(SQRT2)
    images = [RNG.normal(size=(6, r, r, 3)).astype("float32") for r in (4, 8, 16, 32, 64)]
    scores = np_(d(images))
    assert scores.shape == (6, 1) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, _np_discriminator(d, images), rtol=1e-4, atol=1e-4)
    # every scale reaches the score
    for k in range(5):
        changed = list(images)
        changed[k] = changed[k] + 0.5
        assert np.abs(np_(d(changed)) - scores).max() > 1e-5, k
    run_model_saving_test(d, images, str(tmp_path))
    with pytest.raises(ValueError, match="expects 5 images"):
        d(images[1:])


def test_conditional_networks_and_saving(tmp_path):
    g = BMSGGenerator(8, 1, latent_dim=4, num_classes=3)
    g.build()
    d = BMSGDiscriminator(8, 1, feature_size=4, num_classes=3)
    d.build()
    z, c = RNG.normal(size=(4, 4)).astype("float32"), np.array([0, 1, 2, 1], "int32")
    images = g([z, c])
    assert g.deconv4.kernel.shape == (4 + 3, 4, 4, 4)
    scores = np_(d(list(images) + [c]))
    assert scores.shape == (4, 1) and d.score.units == 3
    full = np_(d.score(keras.ops.zeros((1, 4))))  # one output per class; the requested one is taken
    assert full.shape == (1, 3)
    (tmp_path / "g").mkdir()
    (tmp_path / "d").mkdir()
    run_model_saving_test(g, [z, c], str(tmp_path / "g"))
    run_model_saving_test(d, [np_(i) for i in images] + [c], str(tmp_path / "d"))
    with pytest.raises(ValueError, match="power of two"):
        BMSGGenerator(32, 3, latent_dim=48)


# --- presets and the builder -----------------------------------------------------------------


@pytest.mark.parametrize("preset", ["msggan-cifar10", "msggan-celebahq1024"])
def test_msg_progan_presets_are_bmsg_gans_train_py(preset):
    """akanimax/BMSG-GAN sourcecode/train.py defaults: --loss_function relativistic-hinge
    (train.py:78-80), --latent_size 512 (:89-91), --batch_size 20 (:93-95), --g_lr / --d_lr 0.003
    (:118-124), --adam_beta1 0, --adam_beta2 0.99 (:126-132; th.optim.Adam's default eps 1e-8,
    :216-220), --use_ema True, --ema_decay 0.999 (:138-144), --flip_augment True (:64-66)."""
    c = config_lib.resolve(preset)
    assert c.model == {"generator": "bmsg", "latent_dim": 512}
    assert (c.loss, c.regularizers) == ("rahinge", [])
    assert (c.g_lr, c.d_lr, c.beta_1, c.beta_2, c.epsilon, c.batch) == (0.003, 0.003, 0.0, 0.99, 1e-8, 20)
    assert c.ema["beta"] == 0.999 and c.flip
    assert c.optimizer == "adam"


def test_cpu_preset_and_the_wgan_option():
    c = config_lib.resolve("msggan-mnist32")
    assert c.model == {"generator": "bmsg", "latent_dim": 64} and c.loss == "rahinge"
    assert c.regularizers == []
    w = config_lib.resolve("msggan-cifar10", [
        "loss=wgan", 'regularizers=[{"type": "gp", "weight": 10, "target_norm": 1}, '
        '{"type": "drift", "weight": 0.001}]'])
    assert w.loss == "wgan" and [r["type"] for r in w.regularizers] == ["gp", "drift"]
    # the MSG-StyleGAN presets keep msg-stylegan-tf's D_basic (cat_lin, mbstd in every block)
    s = config_lib.resolve("msgstylegan-mnist32")
    assert s.model["generator"] == "stylegan" and s.model["combine"] == "cat_lin"


def test_builder_refuses_options_of_the_other_discriminator():
    from keras_gans.models import msggan

    cfg = config_lib.resolve("msggan-mnist32")
    cfg.model = {"generator": "bmsg", "latent_dim": 64, "combine": "cat_lin"}
    with pytest.raises(UsageError, match="combine"):
        msggan.check_msggan(cfg)
    cfg.model = {"generator": "bmsg", "latent_dim": 64}
    assert msggan.check_msggan(cfg) == "bmsg"
    from keras_gans.models import registry

    assert registry.family("msggan").tiny_model(cfg.model) == {"generator": "bmsg", "latent_dim": 8}
