"""BigGAN: spectral norm, conditional BN, self-attention, G/D layouts, presets, a train step."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from helpers.keras_test_case import (assert_all_close, run_layer_test, run_model_saving_test,
                             run_serialization_test)
from keras_gans import data as data_lib, manifest as manifest_lib
from keras_gans.errors import UsageError
from keras_gans.layers import (ConditionalBatchNorm, GlobalSumPooling2D, SelfAttention, SNConv2D,
                               SNDense, SNEmbedding)
from keras_gans.layers.spectral_normalization import l2_normalize
from keras_gans.models.networks import Networks
from keras_gans.models.biggan import BigGANDiscriminator, BigGANGenerator, build_biggan
from keras_gans.models.biggan import biggan_presets  # noqa: F401  (registers the presets)
from keras_gans.models.biggan.biggan_discriminator import D_ARCH
from keras_gans.models.biggan.biggan_generator import G_ARCH, hierarchical_chunks
from keras_gans.training import config as config_lib
from keras_gans.training.ema import EmaSchedule
from keras_gans.training.gan import GAN


def np_(x):
    return keras.ops.convert_to_numpy(x)


def tensor(x):
    return keras.ops.convert_to_tensor(x)


def top_singular_value(w):
    return np.linalg.svd(np.asarray(w, np.float64).reshape(-1, w.shape[-1]), compute_uv=False)[0]


def all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


RNG = np.random.default_rng(0)
# Singular values far from 1; seeded, because how many power iterations converge depends on the
# gap between the two largest singular values of the draw.
WIDE = keras.initializers.RandomNormal(0.0, 3.0, seed=7)


def power_iterations_to_converge(w, tol=1e-7):
    """Power iteration's error shrinks by (s2/s1)^2 per step: the steps that reach `tol`."""
    s = np.linalg.svd(np.asarray(w, np.float64).reshape(-1, w.shape[-1]), compute_uv=False)
    return int(np.ceil(np.log(tol) / (2.0 * np.log(s[1] / s[0])))) + 10

SN_CASES = {
    "conv": (SNConv2D, {"filters": 6, "kernel_size": 3, "padding": "same", "kernel_initializer": WIDE},
             RNG.normal(size=(2, 5, 5, 4)).astype("float32"), (2, 5, 5, 6), 2),
    "dense": (SNDense, {"units": 7, "kernel_initializer": WIDE},
              RNG.normal(size=(3, 5)).astype("float32"), (3, 7), 2),
    "embedding": (SNEmbedding, {"input_dim": 10, "output_dim": 6, "embeddings_initializer": WIDE},
                  np.array([0, 3, 9], "int32"), (3, 6), 1),
}


# --- spectral normalization ----------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(SN_CASES))
def test_spectral_norm_layer_contract(case, tmp_path):
    cls, kwargs, x, out_shape, trainable = SN_CASES[case]
    layer, _ = run_layer_test(cls, kwargs, x, expected_output_shape=out_shape,
                              expected_num_trainable_weights=trainable,
                              expected_num_non_trainable_weights=1, directory=tmp_path)
    assert layer.epsilon == 1e-6 and layer.power_iterations == 1  # BigGAN --SN_eps 1e-6, 1 itr
    assert layer.sn_u.shape == (1, out_shape[-1]) and not layer.sn_u.trainable


@pytest.mark.parametrize("case", sorted(SN_CASES))
def test_power_iteration_makes_the_largest_singular_value_one(case):
    cls, kwargs, x, _, _ = SN_CASES[case]
    layer = cls(**kwargs)
    layer(tensor(x))
    raw = np_(layer._sn_kernel()).copy()
    assert top_singular_value(raw) > 3  # a real normalization, not an orthogonal init
    u0 = np_(layer.sn_u).copy()
    layer(tensor(x), training=False)
    np.testing.assert_array_equal(np_(layer.sn_u), u0)  # u is updated only in training
    for _ in range(100):
        layer(tensor(x), training=True)
    assert not np.allclose(np_(layer.sn_u), u0)
    for _ in range(max(0, power_iterations_to_converge(raw) - 100)):
        layer(tensor(x), training=True)
    # The trainable weight stays the raw W (keras.layers.SpectralNormalization overwrites it).
    np.testing.assert_array_equal(np_(layer._sn_kernel()), raw)
    w = np_(layer.normalized_kernel())
    assert top_singular_value(w) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(w, raw / top_singular_value(raw), rtol=1e-4, atol=1e-6)


def test_spectral_norm_gradient_flows_through_sigma():
    """d/dW sum(x W / sigma(W)) matches a float64 finite difference of the exact function."""
    x = RNG.normal(size=(2, 4))
    layer = SNDense(3, use_bias=False, kernel_initializer=WIDE)
    layer(tensor(x.astype("float32")))
    for _ in range(max(200, power_iterations_to_converge(np_(layer.kernel)))):
        layer(tensor(x.astype("float32")), training=True)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tensor(x.astype("float32")), training=False))
    grad = np_(tape.gradient(loss, layer.kernel))
    w = np_(layer.kernel).astype(np.float64)

    def f(w):
        return np.sum(x @ (w / top_singular_value(w)))

    numeric = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[idx] = 1e-5
        numeric[idx] = (f(w + d) - f(w - d)) / 2e-5
    np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-3)
    constant_sigma = np.sum(x, 0)[:, None] * np.ones((1, 3)) / top_singular_value(w)
    assert not np.allclose(grad, constant_sigma, atol=1e-2)


def test_l2_normalize_uses_eps_as_the_norm_floor():
    tiny = np.array([[3e-7, 4e-7]], "float32")  # norm 5e-7 < eps
    np.testing.assert_allclose(np_(l2_normalize(tensor(tiny), 1e-6)), tiny / 1e-6, rtol=1e-5)
    np.testing.assert_allclose(np_(l2_normalize(tensor(np.array([[3.0, 4.0]], "float32")), 1e-6)),
                               [[0.6, 0.8]], rtol=1e-6)
    with pytest.raises(ValueError):
        SNDense(2, epsilon=0.0)


def test_spectral_norm_keeps_u_in_float32_under_mixed_precision():
    layer = SNConv2D(8, 3, padding="same", dtype="mixed_float16")
    y = layer(tensor(RNG.normal(size=(2, 4, 4, 3)).astype("float32")), training=True)
    assert y.dtype == "float16" and layer.sn_u.dtype == "float32"
    assert np.all(np.isfinite(np_(y)))


# --- conditional batch norm ----------------------------------------------------------------


def test_conditional_batch_norm_contract(tmp_path):
    x = RNG.normal(size=(4, 3, 3, 8)).astype("float32")
    y = RNG.normal(size=(4, 5)).astype("float32")
    layer, _ = run_layer_test(ConditionalBatchNorm, {}, [x, y], expected_output_shape=(4, 3, 3, 8),
                              expected_num_trainable_weights=2,
                              expected_num_non_trainable_weights=4,  # 2 moving stats + 2 SN u
                              directory=tmp_path)
    assert isinstance(layer.gain_linear, SNDense) and layer.gain_linear.epsilon == 1e-6
    assert layer.batch_norm.epsilon == 1e-5 and layer.batch_norm.momentum == 0.9
    plain = ConditionalBatchNorm(spectral_norm=False)
    plain([tensor(x), tensor(y)])
    assert type(plain.gain_linear) is keras.layers.Dense and not plain.gain_linear.use_bias


def _bn_reference(x, mean, var, gain, bias, eps=1e-5):
    return (x - mean) / np.sqrt(var + eps) * (1 + gain)[:, None, None, :] + bias[:, None, None, :]


def test_conditional_batch_norm_is_per_class_with_batch_then_moving_statistics():
    embeddings = RNG.normal(size=(2, 6)).astype("float32")  # two classes' embeddings
    classes = np.array([0, 1, 0, 1])
    y = embeddings[classes]
    layer = ConditionalBatchNorm(spectral_norm=False,
                                 kernel_initializer=keras.initializers.RandomNormal(0.0, 0.5))
    x = RNG.normal(1.0, 2.0, size=(4, 3, 3, 5)).astype("float32")
    out = np_(layer([tensor(x), tensor(y)], training=True))
    wg, wb = np_(layer.gain_linear.kernel), np_(layer.bias_linear.kernel)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, _bn_reference(x, mean, var, y @ wg, y @ wb), rtol=1e-4, atol=1e-5)
    # Same class, same input -> same output; another class -> another gain and bias.
    same = np.repeat(x[:1], 4, axis=0)
    out = np_(layer([tensor(same), tensor(y)], training=False))
    np.testing.assert_allclose(out[0], out[2], rtol=1e-6)
    np.testing.assert_allclose(out[1], out[3], rtol=1e-6)
    assert np.abs(out[0] - out[1]).max() > 1e-2
    # Inference uses the moving statistics of the one training call (momentum 0.9); the moving
    # variance takes the unbiased batch variance, as torch's running_var (n = 4 * 3 * 3).
    moving_mean, moving_var = 0.1 * mean, 0.9 + 0.1 * x.var(axis=(0, 1, 2), ddof=1)
    np.testing.assert_allclose(np_(layer.batch_norm.moving_mean), moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(layer.batch_norm.moving_variance), moving_var, rtol=1e-5)
    np.testing.assert_allclose(out, _bn_reference(same, moving_mean, moving_var, y @ wg, y @ wb),
                               rtol=1e-4, atol=1e-5)


# --- self-attention ------------------------------------------------------------------------


def test_self_attention_contract_and_identity_at_init(tmp_path):
    x = RNG.normal(size=(2, 8, 6, 16)).astype("float32")
    layer, out = run_layer_test(SelfAttention, {}, x, expected_output_shape=(2, 8, 6, 16),
                                expected_num_trainable_weights=5,  # gamma + theta, phi, g, o
                                expected_num_non_trainable_weights=4, directory=tmp_path)
    assert float(np_(layer.gamma)) == 0.0
    np.testing.assert_array_equal(np_(out), x)  # gamma = 0: the identity
    assert [c.filters for c in (layer.theta, layer.phi, layer.g, layer.o)] == [2, 2, 8, 16]
    assert not any(c.use_bias for c in (layer.theta, layer.phi, layer.g, layer.o))
    with pytest.raises(ValueError, match="divisible by 8"):
        SelfAttention()(tensor(RNG.normal(size=(1, 4, 4, 12)).astype("float32")))


def test_self_attention_matches_a_numpy_reference():
    b, h, w, c = 2, 4, 6, 16
    x = RNG.normal(size=(b, h, w, c)).astype("float32")
    layer = SelfAttention(spectral_norm=False)
    layer(tensor(x))
    layer.gamma.assign(0.7)
    out = np_(layer(tensor(x)))
    k = {n: np_(getattr(layer, n).kernel)[0, 0] for n in ("theta", "phi", "g", "o")}

    def pool(t):
        return t.reshape(b, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4)).reshape(b, -1, t.shape[-1])

    theta = (x @ k["theta"]).reshape(b, h * w, -1)
    phi, g = pool(x @ k["phi"]), pool(x @ k["g"])
    logits = theta @ phi.transpose(0, 2, 1)
    beta = np.exp(logits - logits.max(-1, keepdims=True))
    beta /= beta.sum(-1, keepdims=True)
    expected = x + 0.7 * ((beta @ g) @ k["o"]).reshape(b, h, w, c)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_global_sum_pooling(tmp_path):
    x = RNG.normal(size=(2, 3, 4, 5)).astype("float32")
    _, out = run_layer_test(GlobalSumPooling2D, {}, x, expected_output_shape=(2, 5),
                            expected_num_trainable_weights=0, directory=tmp_path)
    np.testing.assert_allclose(np_(out), x.sum(axis=(1, 2)), rtol=1e-5)


# --- generator and discriminator -----------------------------------------------------------


def _inputs(model, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    classes = tensor(np.arange(batch, dtype="int32") % model.num_classes)
    if isinstance(model, BigGANGenerator):
        return [tensor(rng.normal(size=(batch, model.dim_z)).astype("float32")), classes]
    images = rng.uniform(-1, 1, size=(batch, model.resolution, model.resolution, model.channels))
    return [tensor(images.astype("float32")), classes]


@pytest.mark.parametrize("resolution,ch,attention,d_attention,dim_z", [
    (32, 8, 16, 8, 64), (64, 4, 32, 16, 60), (128, 2, 0, 0, 120)])
def test_generator_and_discriminator_shapes_and_channel_tables(resolution, ch, attention,
                                                               d_attention, dim_z):
    g = BigGANGenerator(5, resolution, 3, ch=ch, dim_z=dim_z, shared_dim=16, attention=attention)
    d = BigGANDiscriminator(5, resolution, 3, ch=ch, attention=d_attention)
    z, classes = _inputs(g)
    images = g([z, classes], training=True)
    assert tuple(images.shape) == (3, resolution, resolution, 3) and images.dtype == "float32"
    assert np.abs(np_(images)).max() <= 1.0
    logits = d([images, classes], training=True)
    assert tuple(logits.shape) == (3, 1) and logits.dtype == "float32"
    assert np.all(np.isfinite(np_(logits)))
    in_mult, out_mult = G_ARCH[resolution]
    assert g.get_layer("to_4x4").output.shape[-1] == ch * in_mult[0]
    assert [g.get_layer(f"block{i + 1}_conv2").filters for i in range(len(out_mult))] == \
        [ch * m for m in out_mult]
    _, d_out, down = D_ARCH[resolution]
    assert [d.get_layer(f"block{i + 1}_conv2").filters for i in range(len(d_out))] == \
        [ch * m for m in d_out]
    assert d.get_layer("block1_add").output.shape[1] == resolution // 2
    assert d.get_layer(f"block{len(d_out)}_add").output.shape[1] == resolution // 2 ** sum(down)
    g_names = {layer.name for layer in all_layers(g)}
    d_names = [layer.name for layer in all_layers(d)]
    assert (f"attention_{attention}" in g_names) == bool(attention)
    assert d_names.count(f"attention_{d_attention}") == bool(d_attention)  # once, at 32x32 too
    for layer in all_layers(g) + all_layers(d):
        if isinstance(layer, (SNConv2D, SNDense, SNEmbedding)):
            assert layer.epsilon == 1e-6, layer.name


def test_hierarchical_latent_split():
    assert hierarchical_chunks(120, 5) == [20] * 6  # ImageNet 128: 5 blocks + the linear
    assert hierarchical_chunks(140, 6) == [20] * 7  # BigGAN 256 used dim_z 140
    with pytest.raises(ValueError, match="equal chunks"):
        BigGANGenerator(5, 128, 3, ch=2, dim_z=128, attention=0)
    g = BigGANGenerator(5, 64, 3, ch=2, dim_z=60, shared_dim=16, attention=0)
    assert g.z_chunks == [12] * 5
    assert g.get_layer("linear").kernel.shape == (12, 16 * 2 * 16)  # 4x4 x ch*16
    assert g.get_layer("shared_embedding").embeddings.shape == (5, 16)
    for i in range(4):
        cbn = g.get_layer(f"block{i + 1}_cbn1")
        assert cbn.gain_linear.kernel.shape[0] == 16 + 12  # [shared embedding, z chunk]
        assert isinstance(cbn.gain_linear, SNDense)
    # Each chunk reaches its own block: changing block 3's chunk changes the output...
    z, classes = _inputs(g, batch=2)
    base = np_(g([z, classes]))
    z2 = np_(z).copy()
    z2[:, 36:48] += 1.0
    assert np.abs(np_(g([tensor(z2), classes])) - base).max() > 1e-4
    # ...and the whole z goes to the linear without the split.
    flat = BigGANGenerator(5, 64, 3, ch=2, dim_z=50, shared_dim=16, hierarchical=False, attention=0)
    assert flat.z_chunks == [50] and flat.get_layer("linear").kernel.shape[0] == 50
    assert flat.get_layer("block1_cbn1").gain_linear.kernel.shape[0] == 16


def test_unshared_generator_uses_per_class_embeddings_as_the_cifar_script():
    g = BigGANGenerator(7, 32, 3, ch=4, dim_z=20, shared_embedding=False, hierarchical=False,
                        attention=0, init="N02")
    names = {layer.name for layer in all_layers(g)}
    assert "shared_embedding" not in names
    cbn = g.get_layer("block1_cbn1")
    assert type(cbn.gain_linear) is keras.layers.Dense and cbn.gain_linear.kernel.shape == (7, 16)
    with pytest.raises(ValueError, match="shared_embedding"):
        BigGANGenerator(7, 32, 3, ch=4, dim_z=20, shared_embedding=False, hierarchical=True)


def test_projection_discriminator_logit_is_linear_plus_class_projection():
    d = BigGANDiscriminator(6, 32, 1, ch=4, attention=0)
    images, classes = _inputs(d, batch=4)
    d([images, classes], training=True)  # move u away from its init
    logits = np_(d([images, classes], training=False))
    features = keras.Model(d.inputs, d.get_layer("sum_pool").output)
    h = np_(features([images, classes], training=False))
    linear, embedding = d.get_layer("linear"), d.get_layer("embedding")
    w, b = np_(linear.normalized_kernel()), np_(linear.bias)
    table = np_(embedding.normalized_kernel())
    expected = h @ w + b + np.sum(table[np_(classes)] * h, axis=1, keepdims=True)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    # The class matters through the projection only.
    other = np_(d([images, tensor((np_(classes) + 1) % 6)], training=False))
    np.testing.assert_allclose(other - logits,
                               np.sum((table[(np_(classes) + 1) % 6] - table[np_(classes)]) * h,
                                      axis=1, keepdims=True), rtol=1e-3, atol=1e-3)


def test_discriminator_blocks_follow_the_official_dblock():
    d = BigGANDiscriminator(3, 32, 3, ch=4, attention=0)
    names = {layer.name for layer in all_layers(d)}
    assert "block1_relu0" not in names and "block2_relu0" in names  # no preactivation in block 1
    assert "block1_shortcut" in names and "block2_shortcut" in names
    assert "block3_shortcut" not in names  # same width, no downsampling: identity shortcut
    assert isinstance(d.get_layer("embedding"), SNEmbedding)
    assert d.get_layer("embedding").embeddings.shape == (3, 16)


def test_models_reject_bad_arguments():
    with pytest.raises(ValueError, match="resolution"):
        BigGANGenerator(5, 48)
    with pytest.raises(ValueError, match="attention"):
        BigGANGenerator(5, 32, ch=8, dim_z=64, attention=64)
    with pytest.raises(ValueError, match="num_classes"):
        BigGANDiscriminator(0, 32)
    with pytest.raises(ValueError, match="init"):
        BigGANDiscriminator(5, 32, init="kaiming")


@pytest.mark.parametrize("which", ["generator", "generator_unshared", "discriminator"])
def test_models_round_trip_config_and_keras_file(which, tmp_path):
    model = {
        "generator": lambda: BigGANGenerator(4, 32, 3, ch=8, dim_z=32, shared_dim=8, attention=16,
                                             name="g"),
        "generator_unshared": lambda: BigGANGenerator(4, 32, 1, ch=4, dim_z=16, attention=0,
                                                      shared_embedding=False, hierarchical=False),
        "discriminator": lambda: BigGANDiscriminator(4, 32, 3, ch=8, attention=16, name="d"),
    }[which]()
    data = _inputs(model)
    model(data, training=True)  # non-trivial u and BN statistics
    if which == "generator":
        model.get_layer("attention_16").gamma.assign(0.5)
    revived = run_serialization_test(model)
    assert revived.count_params() == model.count_params()
    run_model_saving_test(model, data, tmp_path)
    # GAN's EMA generator is keras.models.clone_model (a plain Functional copy of the graph)
    # and is averaged variable by variable, in order.
    clone = keras.models.clone_model(model)
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]
    clone.set_weights(model.get_weights())
    assert_all_close(clone(data, training=False), model(data, training=False))


# --- presets, builder, training -------------------------------------------------------------


def _manifest(tmp_path, n=64, labels=True, resolution=32):
    images, classes = mnist32(n)
    if resolution != 32:
        images = images[:, :resolution, :resolution]
    return write_dataset(str(tmp_path), images, classes if labels else None)


def test_presets_carry_the_official_settings():
    imagenet = config_lib.resolve("biggan-imagenet128")
    assert imagenet.model["ch"] == 96 and imagenet.model["attention"] == 64
    assert imagenet.model["dim_z"] == 120 and imagenet.model["shared_dim"] == 128
    assert imagenet.model["hierarchical"] and imagenet.model["sn_epsilon"] == 1e-6
    assert (imagenet.g_lr, imagenet.d_lr, imagenet.d_steps) == (1e-4, 4e-4, 1)
    assert (imagenet.beta_1, imagenet.beta_2, imagenet.epsilon) == (0.0, 0.999, 1e-6)
    assert (imagenet.batch, imagenet.accumulation_steps) == (2048, 8)
    assert imagenet.ema == {"beta": 0.9999, "start_kimg": 20000 * 2048 / 1000}
    assert imagenet.regularizers == [] and imagenet.loss == "hinge" and imagenet.conditional
    paper = config_lib.resolve("biggan-paper-imagenet128")
    assert (paper.g_lr, paper.d_lr, paper.d_steps) == (5e-5, 2e-4, 2)
    assert paper.regularizers == [{"type": "ortho", "beta": 1e-4, "target": "generator"}]
    cifar = config_lib.resolve("biggan-cifar10")
    assert (cifar.batch, cifar.d_steps, cifar.g_lr, cifar.d_lr) == (50, 4, 2e-4, 2e-4)
    assert cifar.model["ch"] == 64 and cifar.model["attention"] == 0 and cifar.model["init"] == "N02"
    assert cifar.ema == {"beta": 0.9999, "start_kimg": 1000 * 50 * 4 / 1000}
    mnist = config_lib.resolve("biggan-mnist32")
    assert mnist.loss == "hinge" and mnist.batch == 64 and mnist.conditional
    for cfg in (imagenet, paper, cifar, mnist):
        EmaSchedule(**cfg.ema)  # valid


def test_build_biggan_reads_the_manifest_and_refuses_unconditional_use(tmp_path):
    manifest = _manifest(tmp_path / "labelled")
    cfg = config_lib.resolve("biggan-mnist32", ["model.ch=4", "model.d_ch=8"])
    nets = build_biggan(cfg, manifest)
    assert isinstance(nets, Networks)
    assert (nets.latent_dim, nets.num_classes) == (64, 10)
    assert nets.generator.channels == 1 and nets.discriminator.channels == 1
    assert nets.generator.ch == 4 and nets.discriminator.ch == 8
    assert (nets.generator.name, nets.discriminator.name) == ("generator", "discriminator")
    with pytest.raises(UsageError, match="class-conditional"):
        build_biggan(dataclasses.replace(cfg, conditional=False), manifest)
    with pytest.raises(UsageError, match="class-conditional"):
        build_biggan(cfg, _manifest(tmp_path / "unlabelled", labels=False))
    with pytest.raises(UsageError, match="unknown model arguments"):
        build_biggan(dataclasses.replace(cfg, model={"latent_dim": 8}), manifest)
    with pytest.raises(UsageError, match="resolution"):
        build_biggan(cfg, _manifest(tmp_path / "small", resolution=16))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("mnist32"))
    write_dataset(d, *mnist32(64))
    return d


def test_gan_train_steps_with_the_mnist_preset(digits):
    cfg = config_lib.resolve("biggan-mnist32", ["batch=16"])
    keras.utils.set_random_seed(0)
    nets = build_biggan(cfg, manifest_lib.load(digits))
    gan = GAN(nets.generator, nets.discriminator, latent_dim=nets.latent_dim,
              num_classes=nets.num_classes)
    adam = lambda lr: keras.optimizers.Adam(lr, cfg.beta_1, cfg.beta_2, cfg.epsilon)  # noqa: E731
    gan.compile(g_optimizer=adam(cfg.g_lr), d_optimizer=adam(cfg.d_lr), loss=cfg.loss,
                ema=EmaSchedule(**cfg.ema), fake_labels=cfg.fake_labels)
    g_before = [np_(v).copy() for v in gan.generator.variables]
    d_u = np_(gan.discriminator.get_layer("linear").sn_u).copy()
    dataset = data_lib.load_dataset(digits, "train", cfg.batch, with_labels=True)
    history = gan.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    changed = {v.path for v, old in zip(gan.generator.variables, g_before)
               if not np.array_equal(np_(v), old)}
    assert "linear/kernel" in changed and "block1_cbn1/gain/sn_u" in changed
    assert "block1_cbn1/batch_norm/moving_mean" in changed
    assert not np.array_equal(np_(gan.discriminator.get_layer("linear").sn_u), d_u)
    # Before start_kimg the EMA generator copies G (BigGAN's ema_start), u and BN stats too.
    assert [v.path for v in gan.ema_generator.variables] == [v.path for v in gan.generator.variables]
    for e, g in zip(gan.ema_generator.variables, gan.generator.variables):
        np.testing.assert_array_equal(np_(e), np_(g))
    images = gan.sample(tensor(np.zeros((2, 64), "float32")), tensor(np.array([1, 2], "int32")))
    assert tuple(images.shape) == (2, 32, 32, 1)


# --- other backends ------------------------------------------------------------------------


def test_layers_run_under_jax(tmp_path):
    pytest.importorskip("jax")
    script = textwrap.dedent("""
        import numpy as np, keras
        from keras_gans.layers import ConditionalBatchNorm, SelfAttention, SNConv2D, SNDense, SNEmbedding
        assert keras.config.backend() == "jax"
        x = np.random.default_rng(0).normal(size=(2, 4, 4, 16)).astype("float32")
        y = np.ones((2, 3), "float32")
        for layer, args in [(SNConv2D(8, 3, padding="same"), x), (SNDense(4), y),
                            (SNEmbedding(5, 4), np.array([1, 2])), (SelfAttention(), x),
                            (ConditionalBatchNorm(), [x, y])]:
            out = layer(args, training=False)
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
