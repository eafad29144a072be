"""Projected GAN with the StyleGAN2 generator (autonomousvision/projected_gan ``train.py --cfg
stylegan2``): the StyleGAN2 layers (keras_gans.layers.stylegan2) against NumPy transcriptions of
the official formulas, the separable discriminator block, parameter counts equal to the official
modules', the presets' official values, the evaluation protocol, and a slow CPU run.

Official files cited: pg_modules/networks_stylegan2.py (``sg2``), torch_utils/ops/upfirdn2d.py,
torch_utils/ops/conv2d_resample.py, pg_modules/blocks.py, pg_modules/discriminator.py, train.py,
training/training_loop.py, metrics/metric_utils.py. ``tests/scripts/projected_sg2_parity.py``
compares whole networks with the official PyTorch modules (same weights): measured G <= 1e-5
(values up to 7.5) in both modulated-conv formulations, conditional too; separable patch
discriminator <= 4e-7.
"""

from __future__ import annotations

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gans.errors import UsageError
from keras_gans.layers.stylegan2 import (FIRUpsample2D, FullyConnected, MappingNetwork,
                                         ModulatedConv2D, ModulatedToRGB, StyleGAN2Noise,
                                         modulated_conv2d, setup_filter, upfirdn2d)
from keras_gans.metrics import protocols
from keras_gans.models.projected import PatchDiscriminator, ProjectedDiscriminator
from keras_gans.models.projected.stylegan2 import StyleGAN2Generator, stylegan2_channels
from keras_gans.training import checkpoint as ckpt_lib, config as config_lib, loop


def np_(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- NumPy transcriptions of the official formulas (NHWC) ----------------------------------


def np_correlate_same(x, kernel):
    """'same' zero-padded cross-correlation (F.conv2d with padding k // 2): x [B,H,W,I],
    kernel [k,k,I,O] or per example [B,k,k,I,O]."""
    b, h, w, _ = x.shape
    k = kernel.shape[-4]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    per_example = kernel.ndim == 5
    out = np.zeros((b, h, w, kernel.shape[-1]), np.float64)
    for i in range(k):
        for j in range(k):
            patch = xp[:, i:i + h, j:j + w, :]
            kij = kernel[:, i, j] if per_example else kernel[i, j]
            out += (np.einsum("bhwi,bio->bhwo", patch, kij) if per_example
                    else np.einsum("bhwi,io->bhwo", patch, kij))
    return out


def np_upfirdn2d(x, f, up=1, pad=(0, 0), gain=1.0):
    """upfirdn2d.py L167-211 ``_upfirdn2d_ref``: zero insertion, pad, convolve with f * gain."""
    b, h, w, c = x.shape
    xu = np.zeros((b, h * up, w * up, c), np.float64)
    xu[:, ::up, ::up, :] = x
    p0, p1 = pad
    xu = np.pad(xu, ((0, 0), (p0, p1), (p0, p1), (0, 0)))
    fk = np.asarray(f, np.float64) * gain
    fh = fk.shape[0]
    ho, wo = xu.shape[1] - fh + 1, xu.shape[2] - fh + 1
    flipped = fk[::-1, ::-1]
    out = np.zeros((b, ho, wo, c))
    for i in range(fh):
        for j in range(fh):
            out += xu[:, i:i + ho, j:j + wo, :] * flipped[i, j]
    return out


def np_filter():
    f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float64)
    return f / f.sum()  # upfirdn2d.py L101-109 (1-D, < 8 taps: outer product; normalized)


def np_conv_up2(x, kernel_per_example):
    """conv2d_resample.py L127-141 with up=2, padding=1, a 3x3 kernel, flip_weight=False: the
    stride-2 transposed conv (each input pixel scatters kernel[a, b] to (2i + a, 2j + b)), then
    the [1,3,3,1] filter with gain 4 and padding (1, 1)."""
    b, h, w, _ = x.shape
    k = kernel_per_example.shape[1]
    y = np.zeros((b, 2 * h + k - 2, 2 * w + k - 2, kernel_per_example.shape[-1]))
    for a in range(k):
        for c in range(k):
            y[:, a:a + 2 * h:2, c:c + 2 * w:2, :] += np.einsum(
                "bhwi,bio->bhwo", x, kernel_per_example[:, a, c])
    return np_upfirdn2d(y, np_filter(), pad=(1, 1), gain=4)


def np_modulated_conv(x, kernel, styles, demodulate=True, up=1):
    """networks_stylegan2.py L26-84: w = weight * styles (L55-56), d = rsqrt(sum w^2 + 1e-8)
    (L58), w *= d (L60), then the (up-sampling) convolution with the per-example weights."""
    w = kernel[None].astype(np.float64) * styles[:, None, None, :, None]
    if demodulate:
        w = w / np.sqrt((w ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
    return np_conv_up2(x, w) if up == 2 else np_correlate_same(x, w)


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


# --- layers --------------------------------------------------------------------------------


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_the_numpy_formula(up, demodulate):
    rng = _rng(up * 2 + demodulate)
    x = rng.standard_normal((3, 6, 6, 5)).astype("float32")
    kernel = rng.standard_normal((3, 3, 5, 4)).astype("float32")
    styles = (1 + 0.5 * rng.standard_normal((3, 5))).astype("float32")
    ours = np_(modulated_conv2d(x, kernel, styles, demodulate=demodulate, up=up))
    ref = np_modulated_conv(x, kernel, styles, demodulate, up)
    assert ours.shape == ref.shape == (3, 6 * up, 6 * up, 4)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_grouped_convolution_formulation_equals_the_scaled_activations(up, demodulate):
    """networks_stylegan2.py L62-72 (scale x by the styles, one shared conv, scale by the
    demodulation coefficients) and L74-84 (per-example demodulated weights in one grouped conv
    over the batch folded into channels) are the same function."""
    rng = _rng(10 + up)
    x = rng.standard_normal((4, 5, 5, 6)).astype("float32")
    kernel = rng.standard_normal((3, 3, 6, 3)).astype("float32")
    styles = rng.standard_normal((4, 6)).astype("float32")
    a = np_(modulated_conv2d(x, kernel, styles, demodulate=demodulate, up=up, fused=False))
    b = np_(modulated_conv2d(x, kernel, styles, demodulate=demodulate, up=up, fused=True))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(a).max())
    with pytest.raises(ValueError, match="up must be 1 or 2"):
        modulated_conv2d(x, kernel, styles, up=4)


def test_fir_upsampling_matches_upfirdn2d_ref():
    """upfirdn2d.py L339-348 ``upsample2d``: zero insertion, padding (2, 1) for 4 taps, the
    filter [1,3,3,1] (outer product / 64) with gain 4; a constant image stays constant away from
    the borders."""
    np.testing.assert_allclose(setup_filter((1, 3, 3, 1)), np_filter(), rtol=1e-7)
    x = _rng(3).standard_normal((2, 5, 5, 3)).astype("float32")
    ours = np_(FIRUpsample2D()(x))
    np.testing.assert_allclose(ours, np_upfirdn2d(x, np_filter(), up=2, pad=(2, 1), gain=4),
                               rtol=1e-5, atol=1e-5)
    ones = np_(FIRUpsample2D()(np.ones((1, 6, 6, 1), "float32")))
    np.testing.assert_allclose(ones[0, 2:-2, 2:-2, 0], 1.0, rtol=1e-6)
    # negative padding crops (upfirdn2d.py L192-193)
    cropped = np_(upfirdn2d(x, setup_filter((1,)), padding=(-1, -1)))
    np.testing.assert_allclose(cropped, x[:, 1:-1, 1:-1, :], rtol=1e-6)


def test_fully_connected_and_mapping_network_match_numpy():
    """FullyConnectedLayer (L87-122): W ~ N(0, 1/lr), y = act(x @ W * lr/sqrt(in) + b * lr) *
    sqrt(2) for lrelu; MappingNetwork (L182-261): normalize_2nd_moment(z) (L21-23, L229), the
    normalized class embedding concatenated (L231-233), num_layers lrelu layers with lr 0.01
    (L217), w_avg = lerp(mean w, w_avg, 0.998) when updating (L241-243), truncation
    w_avg + psi (w - w_avg) (L250-255)."""
    rng = _rng(4)
    z = rng.standard_normal((5, 8)).astype("float32")
    labels = np.array([0, 2, 1, 2, 0], np.int32)
    m = MappingNetwork(8, 6, num_layers=2, num_classes=3)
    m.build()
    for layer in (m.fc0, m.fc1, m.embed):  # non-trivial biases
        layer.bias.assign(rng.standard_normal(layer.bias.shape).astype("float32"))
    assert m.fc0.lr_multiplier == 0.01 and m.embed.lr_multiplier == 1.0

    def fc(layer, x, act):
        y = x @ (np_(layer.kernel) * layer.lr_multiplier / math.sqrt(x.shape[-1])) \
            + np_(layer.bias) * layer.lr_multiplier
        return lrelu(y) * math.sqrt(2) if act else y

    norm = lambda v: v / np.sqrt((v ** 2).mean(-1, keepdims=True) + 1e-8)  # noqa: E731
    y = norm(fc(m.embed, np.eye(3)[labels], False))
    ref = fc(m.fc1, fc(m.fc0, np.concatenate([norm(z), y], -1), True), True)
    np.testing.assert_allclose(np_(m([z, labels])), ref, rtol=1e-4, atol=1e-5)
    # the mapping's initial weight scale: N(0, 1/lr) kernels
    assert 50 < np_(m.fc0.kernel).std() < 200
    # w average and truncation
    m([z, labels], training=True)
    np.testing.assert_allclose(np_(m.w_avg.dlatent_avg), (1 - 0.998) * ref.mean(0), rtol=1e-4,
                               atol=1e-7)
    avg = np_(m.w_avg.dlatent_avg)
    m.w_avg.truncation_psi = 0.5
    np.testing.assert_allclose(np_(m([z, labels])), avg + 0.5 * (ref - avg), rtol=1e-4, atol=1e-5)
    dense = FullyConnected(3, bias_init=1.0)
    dense.build((None, 4))
    np.testing.assert_array_equal(np_(dense.bias), 1.0)  # the style affines' bias_init=1 (L292)


def test_synthesis_layer_and_torgb_match_numpy():
    """SynthesisLayer (L300-319): styles = affine(w), modulated conv, + noise * strength,
    lrelu(x + b) * sqrt(2) clamped to +-256; ToRGBLayer (L341-345): styles * 1/sqrt(in), no
    demodulation, + b, clamped."""
    rng = _rng(5)
    x = rng.standard_normal((2, 4, 4, 6)).astype("float32")
    w = rng.standard_normal((2, 7)).astype("float32")
    layer = ModulatedConv2D(5, up=2, noise_seed=1)
    layer.build(x.shape, w.shape)
    layer.bias.assign(rng.standard_normal(5).astype("float32"))
    layer.noise.weight.assign([0.7])
    a = layer.affine
    styles = w @ (np_(a.kernel) / math.sqrt(7)) + np_(a.bias)
    noise = np_(layer.noise.fixed_noise)
    assert noise.shape == (1, 8, 8, 1)  # noise_const [res, res] (L296)
    ref = np_modulated_conv(x, np_(layer.kernel), styles, True, 2) + 0.7 * noise
    ref = np.clip(lrelu(ref + np_(layer.bias)) * math.sqrt(2), -256, 256)
    np.testing.assert_allclose(np_(layer(x, w)), ref, rtol=1e-4, atol=1e-4)
    # the clamp (conv_clamp 256, L362)
    layer.bias.assign(np.full(5, 1e4, "float32"))
    np.testing.assert_array_equal(np_(layer(x, w)), 256.0)

    torgb = ModulatedToRGB(3)
    torgb.build((None, 4, 4, 6), w.shape)
    torgb.bias.assign(rng.standard_normal(3).astype("float32"))
    s = (w @ (np_(torgb.affine.kernel) / math.sqrt(7)) + np_(torgb.affine.bias)) / math.sqrt(6)
    ref = np_modulated_conv(x, np_(torgb.kernel), s, False, 1) + np_(torgb.bias)
    np.testing.assert_allclose(np_(torgb(x, w)), ref, rtol=1e-4, atol=1e-5)
    assert torgb.noise is None and not torgb.demodulate and torgb.kernel.shape == (1, 1, 6, 3)


def test_skip_architecture_sums_upsampled_torgb_outputs():
    """SynthesisBlock 'skip' (L437-444): img = upsample2d(img_prev) + torgb(x); the first block
    starts from the learned constant (N(0, 1), L384) and has one conv; the generator's image is
    the last block's img."""
    g = StyleGAN2Generator(latent_dim=8, resolution=16, channels=2, w_dim=8, cbase=64, cmax=8,
                           noise_seed=3)
    g.build()
    assert g.block_channels == {4: 8, 8: 8, 16: 4} == stylegan2_channels(16, 64, 8)
    assert g.b4.conv0 is None and g.b8.conv0.up == 2 and g.b4.const.shape == (4, 4, 8)
    z = _rng(6).standard_normal((3, 8)).astype("float32")
    w = g.mapping(z)
    x, img = g.b4(w)
    np.testing.assert_allclose(np_(img), np_(g.b4.torgb(x, w)), rtol=1e-6)
    for res in (8, 16):
        block = getattr(g, f"b{res}")
        x, new = block(w, x, img)
        expect = np_upfirdn2d(np_(img), np_filter(), up=2, pad=(2, 1), gain=4) + np_(block.torgb(x, w))
        np.testing.assert_allclose(np_(new), expect, rtol=1e-4, atol=1e-5)
        img = new
    np.testing.assert_allclose(np_(g(z)), np_(img), rtol=1e-6)


def test_noise_is_fixed_at_inference_fresh_in_training_and_under_the_fresh_protocol():
    """Exports are deterministic (the fixed maps, the official noise_mode='const' buffers);
    training draws fresh noise (L307-308); the projected-stylegan2 protocol hides the fixed maps
    (noise_mode='random', the official metrics' default) and is reproducible for a seed."""
    layer = StyleGAN2Noise(seed=1)
    layer.build((None, 4, 4, 3))
    assert layer.weight.shape == (1,) and not layer.per_channel  # one scalar noise_strength
    assert StyleGAN2Noise.from_config(layer.get_config()).per_channel is False
    g = StyleGAN2Generator(latent_dim=8, resolution=8, channels=1, w_dim=8, cbase=32, cmax=4)
    g.build()
    for layer in protocols.noise_layers(g):
        layer.weight.assign([1.0])
    assert len(protocols.noise_layers(g)) == 3  # b4.conv1, b8.conv0, b8.conv1
    z = _rng(7).standard_normal((2, 8)).astype("float32")
    fixed = np_(g(z))
    np.testing.assert_array_equal(fixed, np_(g(z)))
    assert np.abs(np_(g(z, training=True)) - np_(g(z, training=True))).max() > 1e-3
    p = protocols.get("projected-stylegan2")
    a = np_(protocols.generate(g, z, p, seed=0, index=0))
    b = np_(protocols.generate(g, z, p, seed=0, index=0))
    c = np_(protocols.generate(g, z, p, seed=0, index=1))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3 and np.abs(a - fixed).max() > 1e-3
    np.testing.assert_array_equal(fixed, np_(g(z)))  # the fixed maps are back


# --- the discriminator ---------------------------------------------------------------------


def test_separable_down_block_matches_a_numpy_transcription():
    """DownBlock(separable=True) (blocks.py L173-191): SeparableConv2d (L159-170: spectrally
    normalized depthwise 3x3, padding 1, no bias; spectrally normalized pointwise 1x1, no bias),
    BatchNorm2d (eps 1e-5), LeakyReLU 0.2, AvgPool2d(2, 2); then SingleDisc's 4x4 valid SN conv to
    one channel (discriminator.py L44-48). Spectral norm divides by the largest singular value of
    torch's ``weight.view(out, -1)`` ([C, 9] for the depthwise conv): the stored u is set to the
    top singular vector so one power step gives sigma exactly."""
    rng = _rng(8)
    d = PatchDiscriminator(6, 16, separable=True)
    x = rng.standard_normal((2, 16, 16, 6)).astype("float32")
    d(x)
    assert d.num_blocks == 1 and not hasattr(d, "conv0")
    dw, pw, bn = d.dw0, d.pw0, d.bn0
    bn.set_weights([rng.normal(1, 0.2, 512).astype("float32"), rng.normal(0, 0.2, 512).astype("float32"),
                    rng.normal(0, 0.3, 512).astype("float32"), rng.uniform(0.5, 2, 512).astype("float32")])

    def torch_matrix(layer):
        k = np_(layer.kernel)
        if layer is dw:  # [3, 3, C, 1] -> torch [C, 1, 3, 3] -> [C, 9]
            return np.transpose(k, (2, 3, 0, 1)).reshape(k.shape[2], -1)
        return np.transpose(k, (3, 2, 0, 1)).reshape(k.shape[3], -1)

    sigmas = []
    for layer in (dw, pw, d.out_conv):
        u, s, _ = np.linalg.svd(torch_matrix(layer).astype(np.float64))
        layer.sn_u.assign(u[:, :1].T.astype("float32"))
        sigmas.append(s[0])
    kd = np_(dw.kernel)[:, :, :, 0] / sigmas[0]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y = sum(xp[:, i:i + 16, j:j + 16, :] * kd[i, j] for i in range(3) for j in range(3))
    y = np.einsum("bhwi,io->bhwo", y, np_(pw.kernel)[0, 0] / sigmas[1])
    gamma, beta, mean, var = (np_(v) for v in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    y = lrelu((y - mean) / np.sqrt(var + 1e-5) * gamma + beta)
    y = y.reshape(2, 8, 2, 8, 2, 512).mean(axis=(2, 4))
    ko = np_(d.out_conv.kernel) / sigmas[2]
    ref = np.zeros((2, 5, 5, 1))
    for i in range(4):
        for j in range(4):
            ref += np.einsum("bhwi,io->bhwo", y[:, i:i + 5, j:j + 5, :], ko[i, j])
    np.testing.assert_allclose(np_(d(x, training=False)), ref, rtol=1e-4, atol=1e-5)


def test_separable_discriminator_serializes(tmp_path):
    d = ProjectedDiscriminator(32, 1, backbone_weights="random", input_size=64, cout=8,
                               separable=True)
    d.build()
    assert d.get_config()["separable"] and all(getattr(d, f"disc{i}").separable for i in range(4))
    disc = PatchDiscriminator(4, 16, separable=True)
    inp = keras.Input((16, 16, 4))
    model = keras.Model(inp, disc(inp))
    x = _rng(9).standard_normal((2, 16, 16, 4)).astype("float32")
    model(x, training=True)  # moves the spectral norms' u and the batch-norm statistics
    path = str(tmp_path / "disc.keras")
    model.save(path)
    revived = keras.models.load_model(path)
    inner = revived.layers[-1]
    np.testing.assert_array_equal(np_(inner.dw0.sn_u), np_(disc.dw0.sn_u))
    np.testing.assert_allclose(np_(revived(x)), np_(model(x)), atol=1e-6)


# --- parameter counts ----------------------------------------------------------------------

# Official figures, computed by instantiating autonomousvision/projected_gan (commit e1c246b,
# torch 2.13.0 CPU): networks_stylegan2.Generator(z_dim=64, w_dim=128,
# mapping_kwargs={"num_layers": 2}, channel_base, channel_max) and
# discriminator.MultiScaleD(channels=[64, 64, 128, 256], resolutions=[128, 64, 32, 16],
# num_discs=4, separable) (the CCM+CSM levels of a 256 image), sum(p.numel() for p in
# module.parameters()).
OFFICIAL_G = {
    # (resolution, img_channels, channel_base, channel_max, c_dim): (G, mapping)
    (256, 3, 32768, 512, 0): (24_615_586, 24_832),
    (256, 3, 32768, 512, 10): (24_633_378, 42_624),
    (1024, 3, 32768, 512, 0): (24_803_852, 24_832),
    (32, 1, 8192, 256, 0): (4_523_787, 24_832),
    (32, 1, 1024, 128, 0): (740_523, 24_832),  # our projected-sg2-mnist32 generator
}
OFFICIAL_D_SEPARABLE = (190_848, 186_048, 177_024, 142_592)  # total 696,512
OFFICIAL_D_CONV = 10_331_328  # the FastGAN configuration's 4x4 conv blocks, for comparison


def _trainable(layer):
    return int(sum(np.prod(v.shape) for v in layer.trainable_weights))


@pytest.mark.parametrize("key", sorted(OFFICIAL_G))
def test_generator_parameter_counts_equal_the_official(key):
    res, ch, cbase, cmax, classes = key
    g = StyleGAN2Generator(latent_dim=64, resolution=res, channels=ch, w_dim=128, cbase=cbase,
                           cmax=cmax, mapping_layers=2, num_classes=classes)
    g.build()
    assert (_trainable(g), _trainable(g.mapping)) == OFFICIAL_G[key]


def test_separable_discriminator_parameter_counts_equal_the_official():
    d = ProjectedDiscriminator(256, 3, backbone_weights="random", separable=True)
    d.build()
    assert d.start_sizes == (128, 64, 32, 16)
    assert tuple(_trainable(getattr(d, f"disc{i}")) for i in range(4)) == OFFICIAL_D_SEPARABLE
    assert sum(OFFICIAL_D_SEPARABLE) == 696_512
    conv = ProjectedDiscriminator(256, 3, backbone_weights="random", separable=False)
    conv.build()
    assert sum(_trainable(getattr(conv, f"disc{i}")) for i in range(4)) == OFFICIAL_D_CONV


# --- presets, registry, protocol -----------------------------------------------------------


def test_presets_carry_the_official_settings():
    """train.py: z_dim 64, w_dim 128 (L166), 2 mapping layers (L184), --cbase 32768 / --cmax 512
    (L142-143, L182-183), G lr 0.002 for stylegan2 (L185), D lr --dlr 0.002 (L145, L186), Adam
    betas (0, 0.99) eps 1e-8 (L167-168), EMA batch * 10 / 32 kimg (L203) with ramp-up 0.05
    (training_loop.py L112), separable discriminators (L207, L248), CCM+CSM, cout 64, expand, 4
    discriminators (L244-247); README L53-58: batch 64, mirror, 10000 kimg, snap 50; G phase
    first and D's lazy-regularization scaling (training_loop.py L113-114, L205-217: G_reg_interval
    None, so G's Adam is unscaled); no regularization (training/loss.py L52)."""
    for name in ("projected-sg2-pokemon256", "projected-sg2-ffhq256", "projected-sg2-lsunchurch256"):
        cfg = config_lib.resolve(name)
        m = cfg.model
        assert (m["generator"], m["latent_dim"], m["w_dim"], m["cbase"], m["cmax"],
                m["mapping_layers"]) == ("stylegan2", 64, 128, 32768, 512, 2), name
        assert m["separable"] and (m["backbone"], m["projection"], m["cout"], m["expand"],
                                   m["num_discs"]) == ("lite0", "ccm+csm", 64, True, 4)
        assert (cfg.g_lr, cfg.d_lr, cfg.beta_1, cfg.beta_2, cfg.epsilon) == (2e-3, 2e-3, 0.0, 0.99, 1e-8)
        assert cfg.batch == 64 and cfg.total_kimg == 10000 and cfg.snapshot_ticks == 50
        assert cfg.ema["half_life_kimg"] == 64 * 10 / 32 and cfg.ema["rampup"] == 0.05
        assert cfg.loss == "hinge" and cfg.augment == "color,translation,cutout"
        assert cfg.g_first and cfg.d_reg_interval == 16
        assert not any(k in (cfg.model or {}) for k in ("r1_gamma", "pl_weight"))
    assert config_lib.resolve("projected-sg2-pokemon256").flip
    assert not config_lib.resolve("projected-sg2-lsunchurch256").flip
    cpu = config_lib.resolve("projected-sg2-mnist32")
    fast = config_lib.resolve("projected-mnist32")
    assert cpu.model["input_size"] == 64 == fast.model["input_size"]
    assert (cpu.model["cbase"], cpu.model["cmax"], cpu.model["separable"]) == (1024, 128, True)
    assert (cpu.batch, cpu.total_kimg, cpu.flip) == (fast.batch, fast.total_kimg, fast.flip)
    assert (cpu.g_lr, cpu.d_lr) == (2e-3, 2e-3)
    d_opt = ckpt_lib._optimizer(cpu, cpu.d_lr, cpu.d_reg_interval)
    assert float(d_opt.learning_rate.numpy()) == pytest.approx(2e-3 * 16 / 17, rel=1e-6)
    assert d_opt.beta_2 == pytest.approx(0.99 ** (16 / 17), rel=1e-12)


def test_generator_choice_and_keys_are_checked():
    from keras_gans.models.projected import build_projected, check_projected

    assert check_projected(config_lib.resolve("projected-sg2-mnist32")) == "stylegan2"
    with pytest.raises(UsageError, match=r"unknown model arguments \['ngf'\].*generator \(stylegan2\)"):
        build_projected(config_lib.resolve("projected-sg2-mnist32", ["model.ngf=8"]), None)
    with pytest.raises(UsageError, match=r"unknown model arguments \['cbase'\]"):
        build_projected(config_lib.resolve("projected-mnist32", ["model.cbase=8"]), None)
    with pytest.raises(ValueError, match="cbase"):
        StyleGAN2Generator(resolution=64, cbase=32)
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(resolution=48)


def test_presets_default_to_the_official_metrics_protocol():
    """metrics/metric_utils.py:269, :284-286 call G_ema (training_loop.py:418) with no
    noise_mode, i.e. networks_stylegan2.py:300 noise_mode='random', and truncation_psi=1."""
    for name in ("projected-sg2-pokemon256", "projected-sg2-lsunchurch256",
                 "projected-sg2-ffhq256", "projected-sg2-mnist32"):
        assert protocols.protocol_for(config_lib.resolve(name))[0].name == "projected-stylegan2"
        assert protocols.PRESET_PROTOCOLS[name] == "projected-stylegan2"
    custom = config_lib.resolve("projected-mnist32", ['model={"generator": "stylegan2"}'])
    assert protocols.protocol_for(custom)[0].name == "projected-stylegan2"
    assert protocols.protocol_for(config_lib.resolve("projected-mnist32"))[0].name == "projected-fastgan"
    p = protocols.get("projected-stylegan2")
    assert (p.generator, p.noise, p.truncation) == ("ema", "fresh", "off")
    # an export traced with fixed noise is not what the protocol samples
    exported = protocols.export_protocol({"ema": True, "noise": "fixed"})
    assert protocols.check_export(p, exported, {"arch": "projected",
                                                "model": {"generator": "stylegan2"}})
    exported = protocols.export_protocol({"ema": True, "noise": "fresh"})
    assert protocols.check_export(p, exported, {"arch": "projected",
                                                "model": {"generator": "stylegan2"}}) == []
    assert protocols.check_export(p, exported, {"arch": "projected", "model": {
        "generator": "stylegan2", "truncation_psi": 0.7}})


# --- a real CPU run ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(7200)
@pytest.mark.xfail(strict=True, reason=(
    "measured (seed 0, converted EfficientNet-Lite0): the feature Fréchet distance rose 334.02 -> "
    "437.25 at 6 kimg; with benchmarks/recipe_evidence.py (untrained start 285): official lrs "
    "361 at 12 kimg, d_lr 2e-4 333 at 12 kimg, g_lr = d_lr = 2e-4 294 at 10 kimg: D dominates "
    "and the samples are blobs on black. The CPU preset does not learn digits at these lengths. "
    "Strict: this fails once it passes, to be updated."))
def test_cpu_run_moves_samples_away_from_noise(bundled_digits, tmp_path):
    """projected-sg2-mnist32 on the bundled digits: the Fréchet distance between 500 EMA samples
    and the validation digits in the digit classifier's feature space falls below half the
    untrained network's (as tests/test_progan.py's CPU runs). Needs the converted
    EfficientNet-Lite0 weights (keras-gans convert-weights efficientnet-lite0); with
    KERAS_GANS_SG2_RANDOM_FEATURES=1 it runs on random frozen features instead, labelled so in the
    printed figures. KERAS_GANS_SG2_KIMG: images (thousands) to train, default 6."""
    from conftest import skip_or_fail
    from keras_gans import data
    from keras_gans.metrics import classifier as clf_lib
    from keras_gans.models.projected import efficientnet_lite
    from test_progan import frechet_distance

    extra = []
    features_kind = "converted EfficientNet-Lite0"
    if os.environ.get("KERAS_GANS_SG2_RANDOM_FEATURES") == "1":
        extra, features_kind = ['model.backbone_weights="random"'], "RANDOM (not pretrained)"
    elif not os.path.isfile(efficientnet_lite.default_weights_path("lite0")):
        skip_or_fail("no converted EfficientNet-Lite0 weights: keras-gans convert-weights "
                     "efficientnet-lite0 (or KERAS_GANS_SG2_RANDOM_FEATURES=1)")
    kimg = float(os.environ.get("KERAS_GANS_SG2_KIMG", "6"))
    clf = clf_lib.train_classifier(bundled_digits, seed=0)
    features = clf_lib.penultimate_features(clf)
    real = np.concatenate([b["image"].numpy() for b in data.load_dataset(
        bundled_digits, "validation", 500, shuffle=False, repeat=False, drop_remainder=False)])[:500]

    def fake_features(run):
        gan, _ = ckpt_lib.restore_gan(run)
        z = tf.random.stateless_normal([500, gan.latent_dim], seed=[1, 2])
        fake = np.clip(np.concatenate([gan.sample(z[i:i + 100]).numpy() for i in range(0, 500, 100)]), -1, 1)
        return fake, features(fake)

    start = loop.train(config_lib.resolve("projected-sg2-mnist32", extra + [
        "total_kimg=0.064", "tick_kimg=0.064", "seed=0"]), bundled_digits,
        runs_dir=str(tmp_path / "start"), log=lambda *a: None)
    _, f0 = fake_features(start)
    run = loop.train(config_lib.resolve("projected-sg2-mnist32", extra + [
        f"total_kimg={kimg}", "tick_kimg=2", "seed=0"]), bundled_digits,
        runs_dir=str(tmp_path / "runs"), log=print)
    info = json.load(open(os.path.join(run, "run.json")))
    fake, f1 = fake_features(run)
    f_real = features(real)
    d0, d1 = frechet_distance(f0, f_real), frechet_distance(f1, f_real)
    bright = lambda x: float((x > 0).mean())  # noqa: E731
    print(json.dumps({"preset": "projected-sg2-mnist32", "features": features_kind, "kimg": kimg,
                      "seconds": info.get("seconds"), "feature_frechet_start": round(d0, 2),
                      "feature_frechet_end": round(d1, 2), "bright_fake": bright(fake),
                      "bright_real": bright(real)}))
    assert d1 < 0.5 * d0, (d0, d1)
