"""ProGAN and MSG-GAN: the equalized-lr layers against their formulas, the growth schedule against
a table, networks at every stage / scale, the growing training loop (one trace per segment,
optimizer resets, resume in the middle of a fade-in), 2 replicas and export."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from helpers.keras_test_case import run_layer_test, run_model_saving_test

from keras_gans.layers.progan import (Downsample, EqualizedConv2D, EqualizedDense, FadeIn, FromRGB,
                                      MinibatchStdDev, PixelNorm, ToRGB, Upsample, feature_maps)
from keras_gans.models.msggan import MSGDiscriminator
from keras_gans.models.progan import ProGANDiscriminator, ProGANGenerator
from keras_gans.training import checkpoint as ckpt_lib, config as config_lib, loop
from keras_gans.training.growth import growth_schedule
from keras_gans.training.growth import GrowthSchedule, process_reals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)
TINY_FMAPS = {"fmap_base": 64, "fmap_max": 16}


def np_(t):
    return keras.ops.convert_to_numpy(t)


# --- layers ----------------------------------------------------------------------------------


def test_equalized_dense_and_conv_match_their_formulas():
    x = RNG.normal(size=(3, 2, 2, 5)).astype("float32")
    dense = EqualizedDense(4, gain=1.5, lr_multiplier=0.1)
    y = np_(dense(x))
    w, b = np_(dense.kernel), np_(dense.bias)
    assert w.shape == (20, 4)
    # weights ~ N(0, 1/lrmul): std 10 for lrmul 0.1, run-time scale gain/sqrt(fan_in)*lrmul
    assert 5 < w.std() < 15
    dense.bias.assign(np.arange(4, dtype="float32"))
    expected = x.reshape(3, 20) @ (w * 1.5 / math.sqrt(20) * 0.1) + np.arange(4) * 0.1
    np.testing.assert_allclose(np_(dense(x)), expected, rtol=1e-5, atol=1e-5)
    assert y.shape == (3, 4)

    conv = EqualizedConv2D(2, 3, gain=math.sqrt(2))
    conv.build(x.shape)
    conv.bias.assign(np.array([0.5, -1.0], "float32"))
    k = np_(conv.kernel) * math.sqrt(2) / math.sqrt(3 * 3 * 5)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((3, 2, 2, 2), "float32")
    for i in range(2):
        for j in range(2):
            patch = padded[:, i:i + 3, j:j + 3, :]
            expected[:, i, j, :] = np.einsum("bhwc,hwco->bo", patch, k) + [0.5, -1.0]
    np.testing.assert_allclose(np_(conv(x)), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        EqualizedConv2D(2, 2)


def test_pixel_norm_updown_fade_and_rgb_layers():
    x = RNG.normal(size=(2, 4, 4, 6)).astype("float32")
    expected = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(np_(PixelNorm()(x)), expected, rtol=1e-5)
    up = np_(Upsample(2)(x))
    np.testing.assert_array_equal(up, x.repeat(2, axis=1).repeat(2, axis=2))
    down = np_(Downsample(2)(x))
    np.testing.assert_allclose(down, x.reshape(2, 2, 2, 2, 2, 6).mean(axis=(2, 4)), rtol=1e-6)
    np.testing.assert_allclose(np_(Downsample(2)(up)), x, rtol=1e-6)
    a, b = x[..., :3], -x[..., 3:]
    for alpha in (0.0, 0.25, 1.0, 1.7):
        np.testing.assert_allclose(np_(FadeIn()([a, b, np.float32(alpha)])), a + (b - a) * min(alpha, 1.0),
                                   rtol=1e-6)
    to_rgb = ToRGB(3)
    out = np_(to_rgb(x))
    np.testing.assert_allclose(out, x @ (np_(to_rgb.kernel)[0, 0] / math.sqrt(6)), rtol=1e-5, atol=1e-6)
    from_rgb = FromRGB(5)
    out = np_(from_rgb(x[..., :3]))
    pre = x[..., :3] @ (np_(from_rgb.kernel)[0, 0] * math.sqrt(2) / math.sqrt(3))
    np.testing.assert_allclose(out, np.where(pre > 0, pre, 0.2 * pre), rtol=1e-5, atol=1e-6)


def _mbstd_official(x_nhwc, group, features):
    """networks.py / networks_stylegan.py minibatch_stddev_layer in numpy on NCHW."""
    x = x_nhwc.transpose(0, 3, 1, 2)
    n, c, h, w = x.shape
    g = min(group, n)
    y = x.reshape(g, -1, features, c // features, h, w)
    y = y - y.mean(axis=0, keepdims=True)
    y = np.sqrt((y ** 2).mean(axis=0) + 1e-8)
    y = y.mean(axis=(2, 3, 4))                      # [M, n]
    y = np.tile(y, (g, 1))                          # [N, n]
    y = np.broadcast_to(y[:, :, None, None], (n, features, h, w))
    return np.concatenate([x, y], axis=1).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("batch,group,features", [(8, 4, 1), (6, 2, 2), (3, 4, 1), (4, 1, 1)])
def test_minibatch_stddev_matches_the_official_code(batch, group, features):
    x = RNG.normal(size=(batch, 3, 3, 4)).astype("float32")
    got = np_(MinibatchStdDev(group, features)(x))
    np.testing.assert_allclose(got, _mbstd_official(x, group, features), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdDev(4)(np.zeros((6, 2, 2, 4), "float32"))


@pytest.mark.parametrize("cls,kwargs,shape", [
    (EqualizedDense, {"units": 3, "gain": 1.0, "lr_multiplier": 0.01}, (2, 5)),
    (EqualizedConv2D, {"filters": 3, "kernel_size": 3}, (2, 4, 4, 2)),
    (PixelNorm, {"epsilon": 1e-4}, (2, 4, 4, 2)),
    (MinibatchStdDev, {"group_size": 2, "num_new_features": 1}, (2, 4, 4, 2)),
    (Upsample, {"factor": 2}, (2, 4, 4, 2)),
    (Downsample, {"factor": 2}, (2, 4, 4, 2)),
    (ToRGB, {"channels": 3}, (2, 4, 4, 2)),
    (FromRGB, {"filters": 5}, (2, 4, 4, 3)),
])
def test_layers_serialize(cls, kwargs, shape):
    run_layer_test(cls, kwargs, RNG.normal(size=shape).astype("float32"))


def test_feature_map_table_is_the_official_one():
    nf = feature_maps(8192, 1.0, 512)
    # channels at 4, 8, ..., 1024 (nf(res_log2 - 1)) in G_paper / D_paper
    assert [nf(k - 1) for k in range(2, 11)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]


# --- the schedule ----------------------------------------------------------------------------


def official_lod(kimg, final=32, initial=4, stable=600.0, fade=600.0):
    """train.py TrainingSchedule's lod, written out independently."""
    dur = stable + fade
    phase = int(np.floor(kimg / dur))
    lod = np.log2(final) - np.floor(np.log2(initial)) - phase
    lod -= max(kimg - phase * dur - stable, 0.0) / fade
    return max(lod, 0.0)


# kimg -> (stage resolution, fading, alpha, batch, lr)  for final 32, 600/600 kimg,
# preset-v2-1gpu batches {4: 128, 8: 128, 16: 128, 32: 64}, lr base 1e-3.
TABLE = [
    (0, 4, False, 1.0, 128), (300, 4, False, 1.0, 128), (599.999, 4, False, 1.0, 128),
    (600, 8, True, 0.0, 128), (750, 8, True, 0.25, 128), (1199, 8, True, 1 - 1 / 600, 128),
    (1200, 8, False, 1.0, 128), (1800, 16, True, 0.0, 128), (2100, 16, True, 0.5, 128),
    (2400, 16, False, 1.0, 128), (3000, 32, True, 0.0, 64), (3450, 32, True, 0.75, 64),
    (3600, 32, False, 1.0, 64), (12000, 32, False, 1.0, 64),
]


@pytest.mark.parametrize("kimg,res,fading,alpha,batch", TABLE)
def test_growth_schedule_table(kimg, res, fading, alpha, batch):
    s = GrowthSchedule(32, batch={"4": 128, "8": 128, "16": 128, "32": 64})
    seen = kimg * 1000
    seg = s.segment_at(seen)
    assert (seg.resolution, seg.fading, seg.batch) == (res, fading, batch)
    assert s.alpha(seen, seg) == pytest.approx(alpha, abs=1e-9)
    lod = official_lod(kimg)
    assert s.lod(seen) == pytest.approx(lod)
    # the official stage resolution and fade weight follow from lod (at a fade's first image,
    # lod is still an integer: the official lower stage, which alpha 0 reproduces exactly)
    assert res == 2 ** (5 - int(np.floor(lod))) * (2 if fading and alpha == 0 else 1)
    if not (fading and alpha == 0):
        assert alpha == pytest.approx(1 - (lod - np.floor(lod)) if fading else 1.0, abs=1e-9)
    # tensor version (inside the train step)
    assert float(s.alpha(tf.constant(int(seen), tf.int64), seg)) == pytest.approx(alpha, abs=1e-6)


def test_growth_segments_tables_and_errors():
    s = GrowthSchedule(16, stable_kimg=1, fade_kimg=2, batch={8: 32}, batch_base=16,
                       g_lr={"16": 2e-3}, g_lr_base=1e-3)
    segs = s.segments()
    assert [(x.start, x.end, x.resolution, x.fading, x.batch, x.g_lr) for x in segs] == [
        (0, 1000, 4, False, 16, 1e-3), (1000, 3000, 8, True, 32, 1e-3),
        (3000, 4000, 8, False, 32, 1e-3), (4000, 6000, 16, True, 16, 2e-3),
        (6000, math.inf, 16, False, 16, 2e-3)]
    assert [x.index for x in segs] == list(range(5))
    assert GrowthSchedule(16, initial_resolution=16).segments()[0].resolution == 16
    for bad in (dict(final_resolution=24), dict(final_resolution=16, initial_resolution=32),
                dict(final_resolution=16, stable_kimg=0, fade_kimg=0),
                dict(final_resolution=16, batch={4: 0})):
        with pytest.raises(ValueError, match="growth"):
            GrowthSchedule(**bad)


def test_process_reals_matches_the_official_fade():
    x = RNG.uniform(-1, 1, size=(2, 16, 16, 1)).astype("float32")

    def official(img, lod):  # train.py process_reals on a level-floor(lod) image
        level = int(np.floor(lod))
        r = 16 // 2 ** level
        base = img.reshape(2, r, 16 // r, r, 16 // r, 1).mean(axis=(2, 4))
        coarse = base.reshape(2, r // 2, 2, r // 2, 2, 1).mean(axis=(2, 4)).repeat(2, 1).repeat(2, 2)
        out = base + (coarse - base) * (lod - level)
        return out.repeat(2 ** level, 1).repeat(2 ** level, 2)

    for res, alpha, fading in ((8, 0.3, True), (16, 0.9, True), (4, 1.0, False), (16, 1.0, False)):
        lod = math.log2(16 / res) + (1 - alpha)
        got = np_(process_reals(tf.constant(x), res, alpha, fading))
        np.testing.assert_allclose(got, official(x, lod), rtol=1e-5, atol=1e-6)


# --- networks --------------------------------------------------------------------------------


def test_progan_stages_shapes_and_fade():
    g = ProGANGenerator(16, 2, latent_dim=8, name="g", **TINY_FMAPS)
    d = ProGANDiscriminator(16, 2, name="d", **TINY_FMAPS)
    g.build(), d.build()
    z = RNG.normal(size=(4, 8)).astype("float32")
    outs = {}
    for res in (4, 8, 16):
        for fading in ((False, True) if res > 4 else (False,)):
            g.set_stage(res, fading)
            d.set_stage(res, fading)
            img = np_(g(z))
            assert img.shape == (4, 16, 16, 2) and np_(d(img)).shape == (4, 1)
            # an r x r image upsampled to 16: constant on (16/r)-blocks
            f = 16 // res
            np.testing.assert_array_equal(img, img[:, ::f, ::f].repeat(f, 1).repeat(f, 2))
            outs[(res, fading)] = img
    # alpha 0: the fading stage shows only the previous resolution; alpha 1: only the new one.
    g.set_stage(8, True)
    g.fade_alpha.assign(0.0)
    np.testing.assert_allclose(np_(g(z)), outs[(4, False)], rtol=1e-5, atol=1e-6)
    g.fade_alpha.assign(1.0)
    np.testing.assert_allclose(np_(g(z)), outs[(8, False)], rtol=1e-5, atol=1e-6)
    d.set_stage(8, True)
    d.fade_alpha.assign(0.0)
    d.set_stage(4)
    at4 = np_(d(outs[(8, False)]))
    d.set_stage(8, True)
    np.testing.assert_allclose(np_(d(outs[(8, False)])), at4, rtol=1e-5, atol=1e-6)
    for bad in ((32, False), (4, True), (6, False)):
        with pytest.raises(ValueError):
            g.set_stage(*bad)


def test_progan_conditional_and_saving(tmp_path):
    g = ProGANGenerator(8, 1, latent_dim=6, num_classes=3, name="g", **TINY_FMAPS)
    d = ProGANDiscriminator(8, 1, num_classes=3, label_conditioning="switch", name="d", **TINY_FMAPS)
    g.build(), d.build()
    assert d.takes_labels and not d.auxiliary_classes
    z = RNG.normal(size=(4, 6)).astype("float32")
    c = np.array([0, 1, 2, 0], "int32")
    a, b = np_(g([z, c])), np_(g([z, (c + 1) % 3]))
    assert np.abs(a - b).max() > 1e-4  # the class reaches the image
    scores = np_(d([a, c]))
    # LabelSwitch: the score is the requested class's column of the last layer
    all_scores = [np_(d([a, np.full(4, k, "int32")]))[:, 0] for k in range(3)]
    np.testing.assert_allclose(scores[:, 0], np.choose(c, all_scores), rtol=1e-6)
    run_model_saving_test(g, [z, c], str(tmp_path))
    run_model_saving_test(d, [a, c], str(tmp_path))
    clone = keras.models.clone_model(g)
    clone.set_weights(g.get_weights())
    np.testing.assert_allclose(np_(clone([z, c])), a, rtol=1e-6)


def test_progan_acgan_discriminator_classifies_instead_of_taking_the_class(tmp_path):
    """Official conditional D (networks.py D_paper): no label input, the last dense has
    1 + classes outputs split into the score and the class logits."""
    d = ProGANDiscriminator(8, 1, num_classes=3, name="d", **TINY_FMAPS)  # "acgan" is the default
    d.build()
    assert d.auxiliary_classes and not d.takes_labels and d.dense1.units == 4
    x = RNG.normal(size=(4, 8, 8, 1)).astype("float32")
    out = d(x)
    assert set(out) == {"score", "class_logits"}
    assert tuple(out["score"].shape) == (4, 1) and tuple(out["class_logits"].shape) == (4, 3)
    combo = np.concatenate([np_(out["score"]), np_(out["class_logits"])], axis=1)
    # the same as the unsplit last layer (scores_out = combo[:, :1], labels_out = combo[:, 1:])
    from keras_gans.models.progan.progan_networks import leaky_relu

    assert (d.stage_resolution, d.stage_fading) == (8, False)
    h = d.mbstd(d._block(d._from_rgb(x, 8), 8))
    h = leaky_relu(d.dense0(leaky_relu(d.conv4(h))))
    np.testing.assert_allclose(combo, np_(d.dense1(h)), rtol=1e-5, atol=1e-6)
    run_model_saving_test(d, x, str(tmp_path))
    assert ProGANDiscriminator.from_config(d.get_config()).auxiliary_classes
    with pytest.raises(ValueError, match="label_conditioning"):
        ProGANDiscriminator(8, 1, num_classes=3, label_conditioning="projection")


@pytest.mark.parametrize("combine", ["simple", "lin_cat", "cat_lin"])
def test_msg_progan_generator_and_discriminator(combine, tmp_path):
    g = ProGANGenerator(16, 3, latent_dim=8, multi_scale=True, name="g", **TINY_FMAPS)
    g.build()
    z = RNG.normal(size=(4, 8)).astype("float32")
    images = g(z)
    assert [tuple(i.shape) for i in images] == [(4, r, r, 3) for r in (4, 8, 16)]
    d = MSGDiscriminator(16, 3, combine=combine, name="d", **TINY_FMAPS)
    scores = np_(d(list(images)))
    assert scores.shape == (4, 1) and np.isfinite(scores).all()
    # every scale reaches the score
    for k in range(3):
        changed = list(images)
        changed[k] = changed[k] + 0.5
        assert np.abs(np_(d(changed)) - scores).max() > 1e-6, (combine, k)
    if combine == "cat_lin":
        assert d.get_layer("8x8_combine").kernel.shape == (1, 1, 16 + 3, 16)
    if combine == "lin_cat":
        assert d.get_layer("8x8_rgb_linear").kernel.shape == (1, 1, 3, 16)
    run_model_saving_test(d, [np_(i) for i in images], str(tmp_path))
    with pytest.raises(ValueError, match="expects 3 images"):
        d(list(images)[1:])
    with pytest.raises(ValueError, match="combine"):
        MSGDiscriminator(16, combine="sum")


# --- training --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("digits16"))
    images, labels = mnist32(256)
    write_dataset(d, images[:, ::2, ::2], labels, num_shards=2)  # 16x16
    return d


def _tiny_progan(**kw):
    sets = ['model={"fmap_base": 32, "fmap_max": 8, "latent_dim": 8}', "batch=8", "tick_kimg=0.016",
            'growth={"stable_kimg": 0.016, "fade_kimg": 0.032, "batch": {"4": 8, "8": 8, "16": 4}}',
            "ema.beta=0.5", "total_kimg=0.16"]
    return config_lib.resolve("progan-mnist32", sets + [f"{k}={json.dumps(v)}" for k, v in kw.items()])


def _weights(run):
    gan, _ = ckpt_lib.restore_gan(run)
    return [np_(v) for v in (*gan.generator.variables, *gan.discriminator.variables,
                             *gan.ema_generator.variables, *gan.g_optimizer.variables)], gan


def test_growing_run_traces_once_per_segment_and_resets_optimizers(digits, tmp_path, monkeypatch):
    from keras_gans.training.gan import GAN

    traces, resets = [], []
    original = GAN.train_step

    def counting(self, data):
        traces.append((self.segment.resolution, self.segment.fading))
        return original(self, data)

    monkeypatch.setattr(GAN, "train_step", counting)
    real_reset = loop.reset_optimizer_state
    monkeypatch.setattr(loop, "reset_optimizer_state",
                        lambda opt: (resets.append(int(opt.iterations.numpy())), real_reset(opt)))
    lines = []
    run = loop.train(_tiny_progan(), digits, runs_dir=str(tmp_path), log=lines.append)
    # segments: 4 stable (16 img), 8 fade (32), 8 stable (16), 16 fade (32), 16 stable (rest)
    assert traces == [(4, False), (8, True), (8, False), (16, True), (16, False)]
    assert len(resets) == 10 and resets[0] == 0  # G and D at every segment start
    assert resets[2:4] == [2, 2]  # the 4x4 stage ran 2 steps of 8 images before the reset
    assert any("stage 16x16 fade-in from 0.064 kimg: batch 4" in l for l in lines), lines
    metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    assert [m["resolution"] for m in metrics][:2] == [4.0, 8.0]
    fades = [m["fade_alpha"] for m in metrics if m["resolution"] == 8.0]
    assert 0 < fades[0] <= 1.0
    gan, _ = ckpt_lib.restore_gan(run)
    assert gan.generator.stage_resolution == 16 and not gan.generator.stage_fading


def test_resume_in_the_middle_of_a_fade_in_matches_an_uninterrupted_run(digits, tmp_path):
    full = loop.train(_tiny_progan(deterministic=True), digits, runs_dir=str(tmp_path / "a"),
                      log=lambda *a: None)
    # 0.032 kimg: 16 images into the 32-image 8x8 fade-in
    half = loop.train(_tiny_progan(deterministic=True, total_kimg=0.032), digits,
                      runs_dir=str(tmp_path / "b"), log=lambda *a: None)
    gan, _ = ckpt_lib.restore_gan(half)
    assert (gan.generator.stage_resolution, gan.generator.stage_fading) == (8, True)
    assert float(gan.generator.fade_alpha.numpy()) == pytest.approx(0.5)
    loop.train(_tiny_progan(deterministic=True), digits, runs_dir=str(tmp_path / "b"), resume=half,
               log=lambda *a: None)
    (wa, ga), (wb, gb) = _weights(full), _weights(half)
    assert int(ga.images_seen.numpy()) == int(gb.images_seen.numpy()) == 160
    for a, b in zip(wa, wb):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # not vacuous: the checkpoints hold trained weights, not the seeded initialization
    fresh, _ = ckpt_lib.build_gan(_tiny_progan(), type("M", (), {"resolution": 16, "channels": 1,
                                                             "num_classes": 10, "labelled": True})(),
                              tf.distribute.get_strategy())
    for net in ("generator", "ema_generator", "discriminator"):
        trained = {v.path: np_(v) for v in getattr(ga, net).trainable_variables}
        init = {v.path: np_(v) for v in getattr(fresh, net).trainable_variables}
        assert trained.keys() == init.keys()
        moved = [p for p in trained if np.abs(trained[p] - init[p]).max() > 1e-4]
        assert len(moved) >= len(trained) // 2, (net, sorted(set(trained) - set(moved)))


def test_checkpoints_refuse_networks_with_unsaved_variables():
    from keras_gans.training.gan import GAN

    class ListHeld(keras.Model):  # layers in a Python list: invisible to tf.train.Checkpoint
        def __init__(self, **kw):
            super().__init__(**kw)
            self.blocks = [keras.layers.Dense(16)]

        def call(self, z):
            return keras.ops.reshape(self.blocks[0](z), (-1, 4, 4, 1))

    g = ListHeld()
    g(np.zeros((1, 4), "float32"))
    x = keras.Input((4, 4, 1))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    gan = GAN(g, d, latent_dim=4)
    gan.compile(g_optimizer=keras.optimizers.Adam(), d_optimizer=keras.optimizers.Adam())
    with pytest.raises(RuntimeError, match="would not be saved in checkpoints"):
        ckpt_lib.make_checkpoint(gan)


def test_msggan_trains_and_exports_every_scale(digits, tmp_path):
    from keras_gans.serving import export

    cfg = config_lib.resolve("msggan-mnist32", [
        'model={"generator": "progan", "combine": "lin_cat", "fmap_base": 32, "fmap_max": 8, "latent_dim": 8}',
        "batch=8", "tick_kimg=0.016", "total_kimg=0.032"])
    run = loop.train(cfg, digits, runs_dir=str(tmp_path), log=lambda *a: None)
    gan, _ = ckpt_lib.restore_gan(run)
    samples = sorted(os.listdir(os.path.join(run, "samples")))
    from PIL import Image

    grid = np.asarray(Image.open(os.path.join(run, "samples", samples[-1])))
    # the TensorBoard / samples grid shows the 3 scales side by side: 3 x 16 px wide cells
    assert grid.shape[1] > 3 * 16 * 8
    version = export.export_run(run, "msg", str(tmp_path / "models"))
    loaded = tf.saved_model.load(version)
    out = loaded.signatures["serving_default"](z=tf.zeros((2, 8)))
    (images,) = [v for k, v in out.items() if k == "images"]
    assert tuple(images.shape) == (2, 16, 16, 1) and images.dtype == tf.uint8


def test_label_conditioning_choice_and_configured_label_penalty(digits):
    from keras_gans import manifest as manifest_lib
    from keras_gans.losses.regularizers import LabelPenalty

    manifest = manifest_lib.load(digits)
    strategy = tf.distribute.get_strategy()
    switch, _ = ckpt_lib.build_gan(_tiny_progan(conditional=True, **{
        "model.label_conditioning": "switch"}), manifest, strategy)
    assert switch.discriminator_takes_labels() and switch.discriminator.dense1.units == 10
    assert not any(isinstance(r, LabelPenalty) for r in switch.d_regularizers + switch.g_regularizers)
    # A configured label penalty replaces the builder's default for its network only.
    cfg = _tiny_progan(conditional=True)
    cfg.regularizers = cfg.regularizers + [{"type": "label", "weight": 2.0, "target": "discriminator"}]
    gan, _ = ckpt_lib.build_gan(cfg, manifest, strategy)
    labels = {r.target: r.weight for r in gan.d_regularizers + gan.g_regularizers
              if isinstance(r, LabelPenalty)}
    assert labels == {"discriminator": 2.0, "generator": 1.0}


def test_conditional_progan_exports_its_trained_stage(digits, tmp_path):
    from keras_gans.serving import export

    run = loop.train(_tiny_progan(total_kimg=0.056, conditional=True), digits, runs_dir=str(tmp_path),
                     log=lambda *a: None)
    gan, _ = ckpt_lib.restore_gan(run)
    assert gan.generator.stage_resolution == 8  # stopped during the 8x8 stable phase
    # the official AC-GAN D: a score and 10 class logits, trained by the label penalty on both
    assert gan.num_classes == 10 and gan.discriminator.dense1.units == 11
    assert not gan.discriminator_takes_labels()
    metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl")) if line.strip()]
    assert all(m["reg_label_d"] > 0 and m["reg_label_g"] > 0 for m in metrics)
    regs = json.load(open(os.path.join(run, "config.json")))["regularizers"]
    assert not any(r["type"] == "label" for r in regs)  # added by the builder, not the config
    version = export.export_run(run, "progan", str(tmp_path / "models"))
    served = tf.saved_model.load(version).signatures["serving_default"](
        z=tf.zeros((2, 8)), class_id=tf.constant([3, 7]))["images"]
    assert tuple(served.shape) == (2, 16, 16, 1)
    # the export is the network at its trained stage: 8x8 content, upsampled
    img = served.numpy()
    np.testing.assert_array_equal(img, img[:, ::2, ::2].repeat(2, 1).repeat(2, 2))


def test_progan_and_msggan_train_on_two_replicas(digits, tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("TF_CONFIG", None)
    for preset, sets in (("progan-mnist32", [
            'model={"fmap_base": 32, "fmap_max": 8, "latent_dim": 8}',
            'growth={"stable_kimg": 0.016, "fade_kimg": 0.016, "batch": {"4": 8, "8": 8, "16": 8}}',
            "total_kimg=0.064", "tick_kimg=0.016"]),
            ("msggan-mnist32", ['model={"generator": "progan", "fmap_base": 32, "fmap_max": 8, "latent_dim": 8}',
                                "batch=8", "total_kimg=0.032", "tick_kimg=0.016"])):
        runs = tmp_path / preset
        proc = subprocess.run(
            [sys.executable, "-m", "keras_gans.cli", "train", "--preset", preset, "--data", digits,
             "--runs-dir", str(runs), "--replicas", "2", *[a for s in sets for a in ("--set", s)]],
            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        assert "MirroredStrategy, 2 replica(s)" in proc.stdout
        (run,) = [runs / n for n in os.listdir(runs)]
        info = json.load(open(run / "run.json"))
        assert info["status"] == "finished" and info["replicas"] == 2
        metrics = [json.loads(line) for line in open(run / "metrics.jsonl") if line.strip()]
        assert all(np.isfinite(v) for m in metrics for v in m.values() if isinstance(v, float))
        gan, _ = ckpt_lib.restore_gan(str(run))
        assert np.isfinite(gan.sample(tf.zeros((2, 8))).numpy()).all()


def test_growth_needs_growing_networks(digits, tmp_path):
    from keras_gans.errors import UsageError

    cfg = config_lib.resolve("dcgan-mnist32", ['growth={"stable_kimg": 1}', "total_kimg=0.016"])
    with pytest.raises(UsageError, match="cannot grow"):
        loop.train(cfg, digits, runs_dir=str(tmp_path), log=lambda *a: None)
    # A bad growth config is refused when the config is resolved (also by --dry-run).
    with pytest.raises(UsageError, match="growth"):
        config_lib.resolve("progan-mnist32", ['growth={"initial_resolution": 6}'])


# --- real CPU training runs (slow) -----------------------------------------------------------


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of two Gaussians fitted to feature sets (numpy only, float64):
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b)
                 - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(20000, 3))
    b = rng.normal(size=(20000, 3)) * 2 + 1  # N(1, 4I): |mu|^2 = 3, tr = 3 + 12 - 2 * 6 = 3
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.05)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("preset,kimg", [("progan-mnist32", 60), ("msggan-mnist32", 30),
                                         ("msgstylegan-mnist32", 30)])
def test_cpu_run_moves_samples_away_from_noise(bundled_digits, tmp_path, preset, kimg):
    """A real CPU run on the bundled digits: the Fréchet distance between EMA samples and the
    validation digits in the digit classifier's feature space falls to a fraction of the
    untrained network's, and the pixel statistics become MNIST-like.

    Measured (seed 0, 500 samples, classifier seed 0): see the closing note of issue 5."""
    from keras_gans import data
    from keras_gans.metrics import classifier as clf_lib

    clf = clf_lib.train_classifier(bundled_digits, seed=0)
    features = clf_lib.penultimate_features(clf)
    real = np.concatenate([b["image"].numpy() for b in data.load_dataset(
        bundled_digits, "validation", 500, shuffle=False, repeat=False, drop_remainder=False)])[:500]
    cfg = config_lib.resolve(preset, [f"total_kimg={kimg}", "tick_kimg=6", "seed=0"])

    def fake_features(run):
        gan, _ = ckpt_lib.restore_gan(run)
        z = tf.random.stateless_normal([500, gan.latent_dim], seed=[1, 2])
        # generators' outputs are linear: clip to the image range as an export (uint8) does
        fake = np.clip(np.concatenate([gan.sample(z[i:i + 100]).numpy() for i in range(0, 500, 100)]), -1, 1)
        return fake, features(fake)

    start = loop.train(config_lib.resolve(preset, ["total_kimg=0.064", "tick_kimg=0.064", "seed=0"]),
                       bundled_digits, runs_dir=str(tmp_path / "start"), log=lambda *a: None)
    _, f0 = fake_features(start)
    run = loop.train(cfg, bundled_digits, runs_dir=str(tmp_path / "runs"), log=print)
    fake, f1 = fake_features(run)
    f_real = features(real)
    d0, d1 = frechet_distance(f0, f_real), frechet_distance(f1, f_real)
    frac_bright = lambda x: float((x > 0).mean())  # noqa: E731
    print(json.dumps({"preset": preset, "kimg": kimg, "feature_frechet_start": round(d0, 2),
                      "feature_frechet_end": round(d1, 2), "bright_fake": frac_bright(fake),
                      "bright_real": frac_bright(real)}))
    assert d1 < 0.5 * d0, (d0, d1)
    assert abs(frac_bright(fake) - frac_bright(real)) < 0.1


@pytest.mark.parametrize("mode", ["average", "copy"])
def test_ema_averages_or_copies_non_trainable_variables(mode):
    from keras_gans.training.ema import EmaSchedule
    from keras_gans.training.gan import GAN

    keras.utils.set_random_seed(0)
    z = keras.Input((4,))
    h = keras.layers.BatchNormalization(momentum=0.0, name="bn")(keras.layers.Dense(16)(z))
    g = keras.Model(z, keras.layers.Reshape((4, 4, 1))(h))
    x = keras.Input((4, 4, 1))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    gan = GAN(g, d, latent_dim=4)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                ema=EmaSchedule(beta=0.5, non_trainable=mode))
    images = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype("float32")
    gan.fit(tf.data.Dataset.from_tensors({"image": images}), epochs=1, verbose=0)
    g_mean = np_(g.get_layer("bn").moving_mean)
    e_mean = np_(gan.ema_generator.get_layer("bn").moving_mean)
    # moving_mean started at 0 in both; G's moved to the batch mean (momentum 0)
    if mode == "copy":
        np.testing.assert_allclose(e_mean, g_mean)
    else:
        np.testing.assert_allclose(e_mean, 0.5 * g_mean, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="non_trainable"):
        EmaSchedule(non_trainable="keep")


def test_msg_stylegan_samples_and_exports_are_deterministic(digits, tmp_path):
    from keras_gans.serving import export

    cfg = config_lib.resolve("msgstylegan-mnist32", [
        'model={"generator": "stylegan", "fmap_base": 32, "fmap_max": 8, "latent_dim": 8, '
        '"dlatent_dim": 8, "mapping_fmaps": 8, "mapping_layers": 2}',
        "batch=8", "tick_kimg=0.016", "total_kimg=0.032"])
    run = loop.train(cfg, digits, runs_dir=str(tmp_path), log=lambda *a: None)
    gan, _ = ckpt_lib.restore_gan(run)
    noise = [l for l in gan.ema_generator.layers if "noise" in l.name]
    assert noise and all(np.abs(np_(l.weight)).max() > 0 for l in noise)  # noise is in use
    z = tf.random.stateless_normal([3, 8], seed=[0, 1])
    a, b = gan.sample(z).numpy(), gan.sample(z).numpy()
    np.testing.assert_array_equal(a, b)
    fresh = [np_(x) for x in gan.generator(z, training=True)]
    assert np.abs(fresh[-1] - np_(gan.generator(z, training=True)[-1])).max() > 0  # training: random
    version = export.export_run(run, "msgs", str(tmp_path / "models"))
    sig = tf.saved_model.load(version).signatures["sample"]
    one = sig(seed=tf.constant(5, tf.int64), num=tf.constant(2), truncation=tf.constant(0.0))
    two = sig(seed=tf.constant(5, tf.int64), num=tf.constant(2), truncation=tf.constant(0.0))
    np.testing.assert_array_equal(one["images"].numpy(), two["images"].numpy())


def test_presets_carry_the_official_settings():
    c = config_lib.resolve("progan-celebahq1024")
    assert (c.g_lr, c.beta_1, c.beta_2, c.epsilon, c.loss, c.ema["beta"]) == (1e-3, 0.0, 0.99, 1e-8, "wgan", 0.999)
    assert c.regularizers == [{"type": "gp", "weight": 10.0, "target_norm": 1.0},
                              {"type": "drift", "weight": 1e-3}]
    s = growth_schedule(c, 1024)
    assert (s.stable_kimg, s.fade_kimg, s.initial_resolution) == (600.0, 600.0, 4)
    by_res = {seg.resolution: seg for seg in s.segments()}
    assert [by_res[r].batch for r in (4, 8, 16, 32, 64, 128, 1024)] == [512, 256, 128, 64, 32, 32, 32]
    assert [by_res[r].g_lr for r in (64, 128, 256, 512, 1024)] == [1e-3, 1.5e-3, 2e-3, 3e-3, 3e-3]
    assert c.model["fmap_base"] == 8192 and c.model["fmap_max"] == 512 and c.flip
    # loss.py D_wgangp_acgan line 50: the D step's fakes take the reals' labels; G_wgan_acgan
    # line 29 draws dataset labels (here: the shuffled real batch's, the same distribution).
    for name in ("progan-cifar10", "progan-lsun256", "progan-celebahq1024", "progan-mnist32"):
        assert config_lib.resolve(name).fake_labels == "real", name


def test_official_mirror_augment_defaults():
    """Flips as the official codes set them: tkarras/progressive_growing_of_gans config.py (TF
    release, fdc55b9) `train.mirror_augment = True` on every '-lsun-*' and on '-celebahq', none on
    '-cifar10'; akanimax/BMSG-GAN sourcecode/train.py `--flip_augment` default True (every MSG-ProGAN
    dataset); msg-stylegan-tf mirror_augment on FFHQ and CelebA-HQ."""
    flips = {name: config_lib.resolve(name).flip for name in (
        "progan-lsun256", "progan-celebahq1024", "progan-cifar10", "msggan-cifar10",
        "msggan-celebahq1024", "msggan-ffhq1024", "msgstylegan-celebahq1024")}
    assert flips == {"progan-lsun256": True, "progan-celebahq1024": True, "progan-cifar10": False,
                     "msggan-cifar10": True, "msggan-celebahq1024": True, "msggan-ffhq1024": True,
                     "msgstylegan-celebahq1024": True}
    m = config_lib.resolve("msggan-ffhq1024")
    assert (m.model["generator"], m.model["combine"], m.loss, m.g_lr, m.batch) == (
        "stylegan", "cat_lin", "ns", 0.003, 16)
    assert m.regularizers == [{"type": "r1", "gamma": 10.0}] and m.ema["half_life_kimg"] == 10.0
    p = config_lib.resolve("msggan-cifar10")  # BMSG-GAN: tests/test_msggan_bmsg.py
    assert (p.model["generator"], p.loss, p.g_lr, p.d_lr, p.beta_1, p.beta_2) == (
        "bmsg", "rahinge", 0.003, 0.003, 0.0, 0.99)


# --- the discriminators' downsampling order (official conv -> pool -> bias -> act) ------------

def _np_conv3x3_same(x, w):
    """NumPy 'same' 3x3 convolution, NHWC x, HWIO w."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, wd = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (w.shape[-1],), np.float64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("bhwc,co->bhwo", p[:, i:i + h, j:j + wd], w[i, j])
    return out


def _np_pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _np_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def test_discriminator_blocks_pool_before_bias_and_activation():
    """tkarras/progressive_growing_of_gans networks.py ``D_paper`` (``fused_scale=True``):
    ``x = act(apply_bias(conv2d(x)))`` then ``x = act(apply_bias(conv2d_downscale2d(x)))``, where
    ``conv2d_downscale2d`` is a conv then a 2x2 average pool (its fused 4-tap kernel computes
    exactly that); msg-stylegan-tf ``D_basic`` the same after the blur. A NumPy transcription of
    that order, with non-zero biases, against ``ProGANDiscriminator._block`` and the
    ``EqualizedConv2D.conv_down`` every discriminator block uses; the old order
    (conv -> bias -> act -> pool) differs."""
    rng = np.random.default_rng(0)
    d = ProGANDiscriminator(resolution=16, channels=1, fmap_base=32, fmap_max=8)
    d.build()
    conv0, conv1 = d.conv16_0, d.conv16_1
    for layer in (conv0, conv1):
        layer.bias.assign(rng.normal(0, 0.5, layer.bias.shape).astype("float32"))
    x = rng.normal(size=(2, 16, 16, conv0.kernel.shape[2])).astype("float32")
    k0 = np_(conv0.kernel).astype(np.float64) * conv0.scale
    k1 = np_(conv1.kernel).astype(np.float64) * conv1.scale
    h = _np_lrelu(_np_conv3x3_same(x, k0) + np_(conv0.bias))
    expected = _np_lrelu(_np_pool2(_np_conv3x3_same(h, k1)) + np_(conv1.bias))
    got = np_(d._block(tf.constant(x), 16))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    old_order = _np_pool2(_np_lrelu(_np_conv3x3_same(h, k1) + np_(conv1.bias)))
    assert np.abs(old_order - expected).max() > 1e-2


def test_generator_4x4_dense_has_one_bias_per_channel():
    """tkarras/progressive_growing_of_gans networks.py ``G_paper`` lines 184-188: ``dense(x,
    fmaps=nf(1)*16, gain=sqrt(2)/4)`` without a bias, ``reshape [-1, nf(1), 4, 4]``, then
    ``apply_bias`` (line 53: ``shape=[x.shape[1]]``, one bias per *channel* of the 4-D tensor),
    leaky ReLU, pixel norm; then conv3x3 + bias, leaky ReLU, pixel norm. A NumPy transcription
    (channels last) of the 4x4 block through its ToRGB, with non-zero biases, against the
    multi-scale generator's 4x4 output."""
    rng = np.random.default_rng(1)
    g = ProGANGenerator(resolution=8, channels=1, fmap_base=64, fmap_max=16, latent_dim=8,
                        multi_scale=True)
    g.build()
    c = g._fmaps4
    assert g.dense.bias is None and tuple(g.dense_bias.bias.shape) == (c,)
    for layer in (g.dense_bias, g.conv4, g.to_rgb4):
        layer.bias.assign(rng.normal(0, 0.5, layer.bias.shape).astype("float32"))
    z = rng.normal(size=(3, 8)).astype("float32")

    def pn(x):
        return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)

    w = np_(g.dense.kernel).astype(np.float64) * g.dense.scale
    x = pn(_np_lrelu((pn(z.astype(np.float64)) @ w).reshape(3, 4, 4, c) + np_(g.dense_bias.bias)))
    k = np_(g.conv4.kernel).astype(np.float64) * g.conv4.scale
    x = pn(_np_lrelu(_np_conv3x3_same(x, k) + np_(g.conv4.bias)))
    rgb = x @ (np_(g.to_rgb4.kernel)[0, 0].astype(np.float64) * g.to_rgb4.scale) + np_(g.to_rgb4.bias)
    np.testing.assert_allclose(np_(g(tf.constant(z))[0]), rgb, rtol=1e-4, atol=1e-4)
    # 16 * c dense outputs share c biases (a bias per pixel and channel would be 16 * c).
    assert sum(int(np.prod(v.shape)) for v in g.dense.weights + g.dense_bias.weights) == 8 * 16 * c + c
