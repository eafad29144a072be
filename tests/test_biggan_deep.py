"""BigGAN-deep (``model.variant="deep"`` of the biggan family) as ajbrock/BigGAN-PyTorch builds it.

NumPy transcriptions of ``BigGANdeep.py`` (commit of the mirrored ajbrock/BigGAN-PyTorch; line
numbers below are that file's): the generator's bottleneck block with its channel-dropping skip,
the discriminator's block with its concatenating skip, the conditioning by the whole z; the
parameter counts of the official modules; the presets' values from
``scripts/launch_BigGAN_deep.sh``; what the family gives every variant (truncation, standing
statistics, export signatures, exact resume, 2 replicas); and (``--slow``) a CPU run on the
bundled digits. ``tests/scripts/biggan_deep_parity.py`` compares whole networks with the official
ones on the same weights (needs PyTorch; not part of the suite).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from helpers.keras_test_case import run_model_saving_test, run_serialization_test
from keras_gans import sampling
from keras_gans.errors import UsageError
from keras_gans.layers import ConditionalBatchNorm, SNConv2D, SNDense, SNEmbedding
from keras_gans.metrics import protocols
from keras_gans.models.biggan import (BigGANDeepDiscriminator, BigGANDeepGenerator,
                                      BigGANDiscriminator, BigGANGenerator, build_biggan)
from keras_gans.serving import export
from keras_gans.training import checkpoint as ckpt_lib, config as config_lib, loop
from keras_gans.training.ema import EmaSchedule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)

# Parameter counts (trainable parameters: PyTorch ``parameters()`` excludes the SN ``u``/``sv``
# and BN running-statistics buffers, as ``trainable_weights`` here excludes ``sn_u`` and the
# moving statistics) of the official modules, measured by instantiating them: torch 2.13.0 (CPU)
# in a separate venv, ajbrock/BigGAN-PyTorch on sys.path, ``BigGANdeep.Generator(**kw)`` /
# ``BigGANdeep.Discriminator(**kw)`` with ``skip_init=True`` and
# ``sum(p.numel() for p in module.parameters())``. kw = the launch script's arguments
# (scripts/launch_BigGAN_deep.sh: G_ch = D_ch = 128, G_depth = D_depth = 2, G_attn = D_attn "64",
# dim_z 128, shared_dim 128, G_shared, hier, SN_eps 1e-6, BN_eps 1e-5; n_classes 1000) at
# resolution 128 and 256, and two small configurations (3 channels, 10 classes) that pin the 64
# and 32 tables. The paper's Table 8 rounds the 128 figures to 50.4M / 34.6M.
OFFICIAL_PARAMS = {
    # (resolution, ch, dim_z, shared_dim, G attention, D attention, classes): (G, D)
    (128, 128, 128, 128, 64, 64, 1000): (50_244_484, 34_590_210),
    (256, 128, 128, 128, 64, 64, 1000): (55_736_708, 38_247_426),
    (64, 8, 32, 16, 32, 16, 10): (342_100, 77_314),
    (32, 16, 64, 128, 16, 0, 10): (504_548, 43_105),
}


def np_(x):
    return keras.ops.convert_to_numpy(x)


def tensor(x):
    return keras.ops.convert_to_tensor(x)


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


# --- NumPy transcriptions ---------------------------------------------------------------------


def conv(x, layer):
    """``layer`` (an SNConv2D, stride 1, "same") in inference mode: NHWC x HWIO."""
    k = np_(layer.normalized_kernel()).astype(np.float64)
    kh, kw = k.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (k.shape[-1],))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + x.shape[1], j:j + x.shape[2]] @ k[i, j]
    return out + (np_(layer.bias) if layer.use_bias else 0.0)


def cbn(x, y, layer: ConditionalBatchNorm):
    """layers.py ``ccbn.forward`` (:306-325) in eval mode: running statistics,
    ``gain = 1 + W_g y``, ``bias = W_b y`` (bias-free SN linears)."""
    bn = layer.batch_norm
    mean, var = np_(bn.moving_mean), np_(bn.moving_variance)
    gain = 1.0 + y @ np_(layer.gain_linear.normalized_kernel())
    bias = y @ np_(layer.bias_linear.normalized_kernel())
    return (x - mean) / np.sqrt(var + bn.epsilon) * gain[:, None, None] + bias[:, None, None]


def relu(x):
    return np.maximum(x, 0.0)


def up(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)  # F.interpolate(scale_factor=2): nearest


def pool(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))  # nn.AvgPool2d(2)


def gblock(x, y, g, p, out_channels, upsample):
    """BigGANdeep.py:48-65 ``GBlock.forward``, NHWC."""
    L = lambda n: g.get_layer(f"{p}_{n}")  # noqa: E731
    h = conv(relu(cbn(x, y, L("cbn1"))), L("conv1"))      # :50 1x1 down to C_in / 4
    h = relu(cbn(h, y, L("cbn2")))                        # :52
    if x.shape[-1] != out_channels:                       # :54-55 keep the first channels
        x = x[..., :out_channels]
    if upsample:                                          # :57-59
        h, x = up(h), up(x)
    h = conv(h, L("conv2"))                               # :61
    h = conv(relu(cbn(h, y, L("cbn3"))), L("conv3"))      # :62
    h = conv(relu(cbn(h, y, L("cbn4"))), L("conv4"))      # :64 1x1 up to C_out
    return h + x                                          # :65


def dblock(x, d, p, in_channels, out_channels, downsample):
    """BigGANdeep.py:308-328 ``DBlock.shortcut`` / ``forward``, NHWC."""
    L = lambda n: d.get_layer(f"{p}_{n}")  # noqa: E731
    h = conv(relu(x), L("conv1"))                         # :317
    h = conv(relu(h), L("conv2"))                         # :319
    h = conv(relu(h), L("conv3"))                         # :320
    h = relu(h)                                           # :322
    if downsample:                                        # :324-325
        h = pool(h)
    h = conv(h, L("conv4"))                               # :327
    sc = pool(x) if downsample else x                     # :309-310
    if in_channels != out_channels:                       # :304-306, 311-312
        sc = np.concatenate([sc, conv(sc, L("shortcut"))], axis=-1)
    return h + sc                                         # :328


def _warm(model, inputs, steps=2):
    """A few training-mode calls: moving statistics and SN vectors away from their init."""
    for _ in range(steps):
        model(inputs, training=True)


# --- structure --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(OFFICIAL_PARAMS))
def test_parameter_counts_equal_the_official_modules(key):
    res, ch, dim_z, shared, g_attn, d_attn, classes = key
    # init does not change the counts; N(0, 0.02) builds faster than orthogonal at full size
    g = BigGANDeepGenerator(classes, res, 3, ch=ch, dim_z=dim_z, shared_dim=shared,
                            attention=g_attn, init="N02")
    d = BigGANDeepDiscriminator(classes, res, 3, ch=ch, attention=d_attn, init="N02")
    assert (trainable_count(g), trainable_count(d)) == OFFICIAL_PARAMS[key]
    # non-trainable: one SN u per SN layer, moving statistics per BN
    assert g.count_params() > trainable_count(g) and d.count_params() > trainable_count(d)


def test_widths_follow_the_official_tables():
    """G_arch (BigGANdeep.py:75-80) and D_arch (:339-344) at 128, ch 128, depth 2 (:192-200,
    :417-425): the first G block of a stage keeps the width, the second narrows and upsamples;
    the first D block widens and downsamples."""
    g = BigGANDeepGenerator(10, 128, 3, ch=8, attention=64, init="N02")
    assert g.block_widths == [
        [(128, 128, False), (128, 128, True)], [(128, 128, False), (128, 64, True)],
        [(64, 64, False), (64, 32, True)], [(32, 32, False), (32, 16, True)],
        [(16, 16, False), (16, 8, True)]]
    d = BigGANDeepDiscriminator(10, 128, 3, ch=8, attention=64, init="N02")
    assert d.block_widths == [
        [(8, 16, True), (16, 16, False)], [(16, 32, True), (32, 32, False)],
        [(32, 64, True), (64, 64, False)], [(64, 128, True), (128, 128, False)],
        [(128, 128, True), (128, 128, False)]]
    # bottlenecks: C_in / 4 in G (:30), C_out / 4 in D (:290); G's 1x1 convs end the block
    assert g.get_layer("block2_2_conv1").filters == 32 and g.get_layer("block2_2_conv4").filters == 64
    assert g.get_layer("block2_2_conv1").kernel.shape[:2] == (1, 1)
    assert g.get_layer("block2_2_conv2").kernel.shape[:2] == (3, 3)
    assert d.get_layer("block1_1_conv1").filters == 4 and d.get_layer("block1_1_conv4").filters == 16
    # D's stem (:413) and the extra channels of the widening skip (:306)
    assert d.get_layer("input_conv").kernel.shape == (3, 3, 3, 8)
    assert d.get_layer("block1_1_shortcut").kernel.shape == (1, 1, 8, 16 - 8)
    g_names = {layer.name for layer in all_layers(g)}
    d_names = {layer.name for layer in all_layers(d)}
    # no learnable shortcut in G; in D only where the width grows (not in block 5_1: 128 -> 128)
    assert not any("shortcut_conv" in n or n.endswith("_shortcut") for n in g_names)
    assert {n for n in d_names if n.endswith("_shortcut")} == {
        f"block{s}_1_shortcut" for s in (1, 2, 3, 4)}
    # attention after the stage whose output side is 64: G stage 4, D stage 1 (:203-205, :427-430)
    assert "attention_64" in g_names and "attention_64" in d_names
    assert g.get_layer("attention_64").input.shape[1:] == (64, 64, 16)
    assert d.get_layer("attention_64").input.shape[1:] == (64, 64, 16)
    for layer in all_layers(g) + all_layers(d):
        if isinstance(layer, (SNConv2D, SNDense, SNEmbedding)):
            assert layer.epsilon == 1e-6, layer.name  # --SN_eps 1e-6
    assert not isinstance(g.get_layer("shared_embedding"), SNEmbedding)  # :166-168, 183


def test_the_whole_z_and_the_embedding_condition_every_block():
    """BigGANdeep.py:265-269 with --hier: ``z = cat([y, z]); y = z``: one vector [embedding, z]
    for the first linear (:186) and every ccbn (input size shared_dim + dim_z, :175-176)."""
    g = BigGANDeepGenerator(5, 64, 3, ch=4, dim_z=12, shared_dim=6, attention=0)
    assert g.get_layer("linear").kernel.shape == (6 + 12, 16 * 4 * 16)
    cbns = [layer for layer in all_layers(g) if isinstance(layer, ConditionalBatchNorm)]
    assert len(cbns) == 4 * 2 * 4  # 4 per block, 2 blocks per stage, 4 stages
    assert all(c.gain_linear.kernel.shape[0] == 18 and isinstance(c.gain_linear, SNDense)
               and not c.gain_linear.use_bias for c in cbns)
    z = RNG.normal(size=(3, 12)).astype("float32")
    classes = np.array([0, 4, 2], "int32")
    cond = np_(keras.Model(g.inputs, g.get_layer("cond").output)([tensor(z), tensor(classes)]))
    table = np_(g.get_layer("shared_embedding").embeddings)
    np.testing.assert_array_equal(cond, np.concatenate([table[classes], z], axis=1))
    # every z coordinate reaches the output (no chunks: the last ones too)
    base = np_(g([tensor(z), tensor(classes)]))
    for i in (0, 11):
        z2 = z.copy()
        z2[:, i] += 1.0
        assert np.abs(np_(g([tensor(z2), tensor(classes)])) - base).max() > 1e-4


def test_generator_block_matches_the_official_gblock():
    """The narrowing block (128 -> 64 channels at ch 8, 64x64: block 2_2) and a keeping one
    (block 2_1) against the NumPy transcription, with trained-looking statistics."""
    g = BigGANDeepGenerator(5, 64, 3, ch=8, dim_z=16, shared_dim=8, attention=0)
    z = tensor(RNG.normal(size=(4, 16)).astype("float32"))
    classes = tensor(np.array([0, 1, 3, 4], "int32"))
    _warm(g, [z, classes])
    for layer in all_layers(g):  # non-trivial gains and biases everywhere
        if isinstance(layer, ConditionalBatchNorm):
            for lin in (layer.gain_linear, layer.bias_linear):
                lin.kernel.assign(np_(lin.kernel) + RNG.normal(0, 0.3, lin.kernel.shape))
        if isinstance(layer, SNConv2D):
            layer.bias.assign(RNG.normal(0, 0.2, layer.bias.shape))
    probe = keras.Model(g.inputs, [g.get_layer("cond").output, g.get_layer("block1_2_add").output,
                                   g.get_layer("block2_1_add").output,
                                   g.get_layer("block2_2_add").output])
    y, x0, x1, x2 = (np_(t).astype(np.float64) for t in probe([z, classes], training=False))
    assert x1.shape[-1] == 128 and x2.shape[-1] == 64 and x2.shape[1] == 2 * x1.shape[1]
    np.testing.assert_allclose(gblock(x0, y, g, "block2_1", 128, False), x1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gblock(x1, y, g, "block2_2", 64, True), x2, rtol=1e-4, atol=1e-4)
    # the skip is the first 64 channels, upsampled: a learnable shortcut would not be
    residual = x2 - up(x1[..., :64])
    np.testing.assert_allclose(residual, gblock(x1, y, g, "block2_2", 64, True) - up(x1[..., :64]),
                               rtol=1e-4, atol=1e-4)


def test_discriminator_block_matches_the_official_dblock():
    """The widening block (8 -> 16 at ch 8: concat of 8 extra 1x1-conv channels after the
    pool) and an identity-skip block against the NumPy transcription."""
    d = BigGANDeepDiscriminator(5, 64, 3, ch=8, attention=0)
    images = tensor(RNG.uniform(-1, 1, size=(3, 64, 64, 3)).astype("float32"))
    classes = tensor(np.array([0, 2, 4], "int32"))
    _warm(d, [images, classes])
    for layer in all_layers(d):
        if isinstance(layer, SNConv2D):
            layer.bias.assign(RNG.normal(0, 0.2, layer.bias.shape))
    probe = keras.Model(d.inputs, [d.get_layer("input_conv").output,
                                   d.get_layer("block1_1_add").output,
                                   d.get_layer("block1_2_add").output])
    x0, x1, x2 = (np_(t).astype(np.float64) for t in probe([images, classes], training=False))
    assert x0.shape[1:] == (64, 64, 8) and x1.shape[1:] == (32, 32, 16)
    np.testing.assert_allclose(dblock(x0, d, "block1_1", 8, 16, True), x1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dblock(x1, d, "block1_2", 16, 16, False), x2, rtol=1e-4, atol=1e-4)
    # the skip's first 8 channels are the pooled input itself
    skip = np_(keras.Model(d.inputs, d.get_layer("block1_1_shortcut_concat").output)(
        [images, classes], training=False))
    np.testing.assert_allclose(skip[..., :8], pool(x0), rtol=1e-5, atol=1e-5)
    # the logit: ReLU, sum pooling, linear + class projection (:483-488)
    h = np_(keras.Model(d.inputs, d.get_layer("sum_pool").output)([images, classes], training=False))
    linear, embedding = d.get_layer("linear"), d.get_layer("embedding")
    expected = (h @ np_(linear.normalized_kernel()) + np_(linear.bias)
                + np.sum(np_(embedding.normalized_kernel())[np_(classes)] * h, 1, keepdims=True))
    np.testing.assert_allclose(np_(d([images, classes], training=False)), expected,
                               rtol=1e-4, atol=1e-3)


def test_depth_and_bad_arguments():
    g = BigGANDeepGenerator(3, 32, 1, ch=4, depth=3, dim_z=8, shared_dim=4, attention=0)
    assert [len(s) for s in g.block_widths] == [3, 3, 3]
    d = BigGANDeepDiscriminator(3, 32, 1, ch=4, depth=1, attention=8)
    assert [len(s) for s in d.block_widths] == [1, 1, 1]
    assert sum(layer.name.startswith("attention") for layer in all_layers(d)) == 1
    with pytest.raises(ValueError, match="resolution"):
        BigGANDeepGenerator(3, 512)
    with pytest.raises(ValueError, match="attention"):
        BigGANDeepGenerator(3, 32, ch=4, attention=64)
    with pytest.raises(ValueError, match="divisible"):
        BigGANDeepDiscriminator(3, 64, ch=1, attention=0)
    with pytest.raises(ValueError, match="depth"):
        BigGANDeepGenerator(3, 32, ch=4, depth=0, attention=0)


@pytest.mark.parametrize("which", ["generator", "discriminator"])
def test_models_round_trip_config_and_keras_file(which, tmp_path):
    classes = tensor(np.array([0, 1, 3], "int32"))
    if which == "generator":
        model = BigGANDeepGenerator(4, 32, 3, ch=8, dim_z=8, shared_dim=8, attention=16, name="g")
        data = [tensor(RNG.normal(size=(3, 8)).astype("float32")), classes]
    else:
        model = BigGANDeepDiscriminator(4, 32, 3, ch=8, attention=16, name="d")
        data = [tensor(RNG.uniform(-1, 1, (3, 32, 32, 3)).astype("float32")), classes]
    model(data, training=True)
    model.get_layer("attention_16").gamma.assign(0.5)
    revived = run_serialization_test(model)
    assert revived.count_params() == model.count_params() and revived.depth == 2
    run_model_saving_test(model, data, tmp_path)
    clone = keras.models.clone_model(model)  # the GAN's EMA copy
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]


# --- presets and builder ----------------------------------------------------------------------


def test_presets_carry_the_launch_script():
    """scripts/launch_BigGAN_deep.sh:3-16 (see biggan_presets._deep for each line)."""
    for name, res in (("biggan-deep-imagenet128", 128), ("biggan-deep-imagenet256", 256)):
        cfg = config_lib.resolve(name)
        assert cfg.arch == "biggan" and cfg.conditional and cfg.fake_labels == "sample"
        assert cfg.model == {"variant": "deep", "ch": 128, "depth": 2, "dim_z": 128,
                             "shared_dim": 128, "attention": 64, "init": "ortho",
                             "sn_epsilon": 1e-6, "bn_epsilon": 1e-5}
        assert (cfg.batch, cfg.accumulation_steps, cfg.d_steps) == (2048, 8, 1)  # :4-6
        assert (cfg.g_lr, cfg.d_lr) == (1e-4, 4e-4)                              # :6
        assert (cfg.beta_1, cfg.beta_2, cfg.epsilon) == (0.0, 0.999, 1e-6)      # :6, :11
        assert cfg.ema == {"beta": 0.9999, "start_kimg": 20_000 * 2048 / 1000}  # :16
        assert cfg.regularizers == [] and cfg.loss == "hinge"                    # :12 ortho 0
        assert cfg.data_name == f"imagenet{res}"
        assert protocols.preset_protocol(cfg)[0] == "biggan-imagenet"            # :16 eval mode
        EmaSchedule(**cfg.ema)
    cpu = config_lib.resolve("biggan-deep-mnist32")
    assert cpu.model["variant"] == "deep" and cpu.model["depth"] == 2 and cpu.batch == 64
    assert cpu.model["ch"] == 32 and cpu.conditional and cpu.loss == "hinge"
    EmaSchedule(**cpu.ema)


def _manifest(tmp_path, n=32):
    images, classes = mnist32(n)
    return write_dataset(str(tmp_path), images, classes)


def test_builder_picks_the_variant_and_refuses_what_it_does_not_take(tmp_path):
    manifest = _manifest(tmp_path / "digits")
    cfg = config_lib.resolve("biggan-deep-mnist32", ["model.ch=4", "model.d_ch=8", "model.d_depth=1"])
    nets = build_biggan(cfg, manifest)
    assert isinstance(nets.generator, BigGANDeepGenerator)
    assert isinstance(nets.discriminator, BigGANDeepDiscriminator)
    assert nets.joint_discriminator  # BigGANdeep.py:524-529: D scores cat(fakes, reals)
    assert (nets.latent_dim, nets.num_classes) == (64, 10)
    assert (nets.generator.ch, nets.generator.depth) == (4, 2)
    assert (nets.discriminator.ch, nets.discriminator.depth) == (8, 1)
    assert nets.generator.channels == 1 and nets.discriminator.channels == 1
    gen_only = build_biggan(cfg, manifest, discriminator=False)
    assert gen_only.discriminator is None
    standard = build_biggan(config_lib.resolve("biggan-mnist32", ["model.ch=4"]), manifest)
    assert type(standard.generator) is BigGANGenerator
    assert type(standard.discriminator) is BigGANDiscriminator
    for bad, match in (({"hierarchical": False}, "unknown model arguments"),
                       ({"shared_embedding": True}, "unknown model arguments"),
                       ({"variant": "huge"}, "variant")):
        with pytest.raises(UsageError, match=match):
            build_biggan(dataclasses.replace(cfg, model={**cfg.model, **bad}), manifest)
    with pytest.raises(UsageError, match="unknown model arguments"):
        build_biggan(config_lib.resolve("biggan-mnist32", ["model.depth=2"]), manifest)
    with pytest.raises(UsageError, match="class-conditional"):
        build_biggan(dataclasses.replace(cfg, conditional=False), manifest)


# --- what the family gives: truncation, standing statistics, export, resume, replicas ---------

TINY = ['model={"variant": "deep", "ch": 4, "dim_z": 16, "shared_dim": 8, "attention": 0}',
        "batch=8", "tick_kimg=0.016", "snapshot_ticks=1", "total_kimg=0.032", "seed=3",
        "deterministic=true"]
DIM_Z, CLASSES = 16, 10


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("mnist32"))
    write_dataset(d, *mnist32(128), num_shards=2)
    return d


def _weights(run_dir):
    gan, _ = ckpt_lib.restore_gan(run_dir)
    nets = [gan.generator, gan.discriminator, gan.ema_generator]
    out = [w.numpy() for n in nets for w in n.weights]
    out += [v.numpy() for opt in (gan.g_optimizer, gan.d_optimizer) for v in opt.variables]
    return out, int(gan.images_seen.numpy())


@pytest.mark.slow  # ~140 s on 2 cores; the contract test covers train, restore and export of every deep preset in the default suite
def test_resume_standing_stats_truncation_and_export(data_dir, tmp_path):
    quiet = lambda *a: None  # noqa: E731
    straight = loop.train(config_lib.resolve("biggan-deep-mnist32", TINY), data_dir,
                          runs_dir=str(tmp_path / "a"), log=quiet)
    half = loop.train(config_lib.resolve("biggan-deep-mnist32", TINY + ["total_kimg=0.016"]),
                      data_dir, runs_dir=str(tmp_path / "b"), log=quiet)
    resumed = loop.train(config_lib.resolve("biggan-deep-mnist32", TINY), data_dir,
                         runs_dir=str(tmp_path / "b"), resume=half, log=quiet)
    (wa, seen_a), (wb, seen_b) = _weights(straight), _weights(resumed)
    assert seen_a == seen_b == 32
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(wa, wb)) == 0.0  # exact resume

    gan, _ = ckpt_lib.restore_gan(resumed)
    g = gan.ema_generator
    assert isinstance(gan.generator, BigGANDeepGenerator)
    # standing statistics replace every BN's moving statistics (4 per block x 6 + output BN)
    assert len(sampling.batch_norm_layers(g)) == 4 * 6 + 1
    z, class_id = sampling.standing_stats_inputs(DIM_Z, CLASSES, 0, 8, 0.0, seed=42)
    before = g([z, class_id], training=False).numpy()
    sampling.accumulate_standing_stats(g, DIM_Z, CLASSES, num_batches=2, batch_size=8,
                                       truncation=0.5)
    assert np.abs(g([z, class_id], training=False).numpy() - before).max() > 1e-3

    version = export.export_run(resumed, "deep", str(tmp_path / "models"), standing_stats=2,
                                standing_stats_batch=8)
    loaded = tf.saved_model.load(version)
    out = loaded.signatures["sample"](seed=tf.constant(3, tf.int64), num=tf.constant(4, tf.int32),
                                      truncation=tf.constant(0.5, tf.float32),
                                      class_id=tf.constant([2, -1, 7, 7], tf.int32))
    assert out["images"].shape == (4, 32, 32, 1) and out["images"].dtype == tf.uint8
    assert np.abs(out["z"].numpy()).max() <= 0.5  # truncation: |z| resampled below 0.5
    np.testing.assert_array_equal(out["z"].numpy(), sampling.sample_latents(4, DIM_Z, 3, 0.5).numpy())
    assert out["class_id"].numpy()[[0, 2, 3]].tolist() == [2, 7, 7]
    again = loaded.signatures["serving_default"](z=out["z"], class_id=out["class_id"])
    np.testing.assert_array_equal(again["images"].numpy(), out["images"].numpy())
    pair = loaded.signatures["serving_default"](z=tf.repeat(out["z"][:1], 2, axis=0),
                                                class_id=tf.constant([1, 6]))["images"].numpy()
    assert np.abs(pair[0].astype(int) - pair[1].astype(int)).max() > 0  # the class matters
    meta = export.read_export_metadata(version)
    assert meta["arch"] == "biggan" and meta["preset"] == "biggan-deep-mnist32"
    assert meta["standing_stats"]["num_batches"] == 2


@pytest.mark.slow  # ~100 s on 2 cores; the BigGAN family's 2-replica run stays in the default suite
def test_trains_on_two_replicas(data_dir, tmp_path):
    """MirroredStrategy over 2 logical CPU devices (BN statistics per replica, as the official
    code without --cross_replica); the checkpoint restores on one device."""
    runs = tmp_path / "runs"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("TF_CONFIG", None)
    sets = [a for s in TINY if not s.startswith("deterministic") for a in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "keras_gans.cli", "train", "--preset", "biggan-deep-mnist32",
         "--data", data_dir, "--runs-dir", str(runs), "--replicas", "2", *sets],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "MirroredStrategy, 2 replica(s)" in proc.stdout
    (run,) = [runs / n for n in os.listdir(runs)]
    info = json.load(open(run / "run.json"))
    assert info["replicas"] == 2 and info["status"] == "finished"
    metrics = [json.loads(line) for line in open(run / "metrics.jsonl") if line.strip()]
    assert metrics and all(np.isfinite(v) for m in metrics for v in m.values()
                           if isinstance(v, (int, float)))
    gan, cfg = ckpt_lib.restore_gan(str(run))
    assert cfg.replicas == 2 and isinstance(gan.generator, BigGANDeepGenerator)
    z, class_id = sampling.standing_stats_inputs(DIM_Z, CLASSES, 0, 4)
    images = gan.sample(z, class_id).numpy()
    assert images.shape == (4, 32, 32, 1) and np.isfinite(images).all()


# --- evidence (--slow) ------------------------------------------------------------------------


SLOW_KIMG = 10.0


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 8 min on an idle 2-core machine, more when shared
def test_cpu_run_beats_noise_and_reports_class_accuracy(bundled_digits, tmp_path):
    """biggan-deep-mnist32 on the bundled digits for SLOW_KIMG kimg: the Fréchet distance
    between EMA samples and the validation digits in the digit classifier's feature space falls
    well below the untrained start's, and the classifier's accuracy on samples of requested
    classes (50 per class) is printed (chance: 10%; not asserted).

    Measured (seed 0, 500 samples, classifier seed 0, a shared 2-core machine, ~17 min):
    Fréchet 465.1 -> 244.0 (0.52 of the start); requested-class accuracy 9.8% -> 10.4%, i.e.
    the class is not yet visible in the samples at 10 kimg (the preset's length is 30 kimg).
    The preset's whole 30 kimg (``benchmarks/recipe_evidence.py --preset biggan-deep-mnist32
    --kimg 30 --at 10,20``): 434 -> 218 (12 kimg) -> 144 (24) -> 131 (30), requested-class
    accuracy 20.4%."""
    from keras_gans import data
    from keras_gans.metrics import classifier as clf_lib
    from test_progan import frechet_distance

    clf = clf_lib.train_classifier(bundled_digits, seed=0)
    features = clf_lib.penultimate_features(clf)
    real = np.concatenate([b["image"].numpy() for b in data.load_dataset(
        bundled_digits, "validation", 500, shuffle=False, repeat=False, drop_remainder=False)])[:500]
    labels = np.repeat(np.arange(10), 50).astype("int32")

    def samples(run):
        gan, _ = ckpt_lib.restore_gan(run)
        z = tf.random.stateless_normal([500, gan.latent_dim], seed=[1, 2])
        out = [gan.sample(z[i:i + 100], tf.constant(labels[i:i + 100])).numpy()
               for i in range(0, 500, 100)]
        return np.clip(np.concatenate(out), -1, 1)

    common = ["seed=0", "snapshot_ticks=1000", "sample_ticks=1000"]
    start = loop.train(config_lib.resolve("biggan-deep-mnist32", common + [
        "total_kimg=0.064", "tick_kimg=0.064"]), bundled_digits, runs_dir=str(tmp_path / "start"),
        log=lambda *a: None)
    fake0 = samples(start)
    run = loop.train(config_lib.resolve("biggan-deep-mnist32", common + [
        f"total_kimg={SLOW_KIMG}", f"tick_kimg={SLOW_KIMG / 6}"]), bundled_digits,
        runs_dir=str(tmp_path / "runs"), log=print)
    fake = samples(run)
    f_real = features(real)
    d0, d1 = frechet_distance(features(fake0), f_real), frechet_distance(features(fake), f_real)
    accuracy = float(np.mean(clf_lib.predict_classes(clf, fake) == labels))
    accuracy0 = float(np.mean(clf_lib.predict_classes(clf, fake0) == labels))
    print(json.dumps({"preset": "biggan-deep-mnist32", "kimg": SLOW_KIMG,
                      "feature_frechet_start": round(d0, 2), "feature_frechet_end": round(d1, 2),
                      "requested_class_accuracy_start": round(accuracy0, 4),
                      "requested_class_accuracy": round(accuracy, 4)}))
    assert d1 < 0.6 * d0, (d0, d1)
