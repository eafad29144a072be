"""MSG-StyleGAN generator and the StyleGAN-1 layers (keras_gans/layers/stylegan.py).

- layers against their formulas (akanimax/msg-stylegan-tf training/networks_stylegan.py
  ``_blur2d``, ``instance_norm``, ``style_mod``, ``apply_noise``, ``apply_bias``, the 4x4 const,
  ``G_style``'s dlatent_avg / truncation) on small numpy inputs, and their serialization;
- the generator: an image at every scale, conditioning, truncation at inference only, the w
  moving average, config and ``.keras`` round trips;
- the dlatent_avg update under ``MirroredStrategy`` over 2 logical CPU devices (a subprocess:
  the CPU must be split before TensorFlow starts).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_gans.layers.stylegan import (Bias, Blur2D, ConstantInput, DlatentAverage, InstanceNorm,
                                        NoiseInjection, StyleMod)
from keras_gans.models.msggan.msg_stylegan_generator import MSGStyleGANGenerator
from helpers.keras_test_case import run_layer_test, run_model_saving_test, run_serialization_test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(latent_dim=16, dlatent_dim=32, mapping_fmaps=32, mapping_layers=2, fmap_base=64,
            fmap_max=32)


def np_(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype("float32")


# --- layers against their formulas ------------------------------------------------------------

def blur_reference(x, taps, normalize=True):
    k = np.outer(taps, taps).astype("float64")
    if normalize:
        k /= k.sum()
    p = len(taps) // 2
    b, h, w, c = x.shape
    xp = np.pad(x.astype("float64"), ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros(x.shape, "float64")
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += k[i, j] * xp[:, i:i + h, j:j + w, :]
    return out


@pytest.mark.parametrize("taps, normalize", [((1, 2, 1), True), ((1, 4, 6, 4, 1), True),
                                             ((1, 3, 2), False)])
def test_blur2d_matches_a_numpy_convolution(taps, normalize):
    x = rand(2, 6, 7, 3)
    y = np_(Blur2D(taps, normalize=normalize)(x))
    np.testing.assert_allclose(y, blur_reference(x, taps, normalize), atol=1e-5)
    # normalized: a constant stays constant away from the borders (zero padding at them)
    if normalize:
        ones = np_(Blur2D(taps)(np.ones((1, 8, 8, 2), "float32")))
        p = len(taps) // 2
        np.testing.assert_allclose(ones[:, p:-p, p:-p], 1.0, atol=1e-6)
        assert ones[0, 0, 0, 0] < 1.0


def test_blur2d_single_tap_is_the_identity():
    x = rand(1, 4, 4, 2)
    np.testing.assert_array_equal(np_(Blur2D((1,))(x)), x)
    with pytest.raises(ValueError, match="sums to 0"):
        Blur2D((1, -1))


def test_instance_norm_matches_numpy():
    x = rand(3, 5, 4, 6) * 3.0 + 2.0
    y = np_(InstanceNorm()(x))
    c = x - x.mean(axis=(1, 2), keepdims=True)
    expected = c / np.sqrt((c ** 2).mean(axis=(1, 2), keepdims=True) + 1e-8)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose((y ** 2).mean(axis=(1, 2)), 1.0, atol=1e-4)


def test_style_mod_formula():
    x, w = rand(2, 3, 3, 4), rand(2, 5, seed=1)
    layer = StyleMod()
    layer([x, w])
    kernel, bias = rand(5, 8, seed=2), rand(8, seed=3)
    layer.dense.kernel.assign(kernel)
    layer.dense.bias.assign(bias)
    style = w @ (kernel / np.sqrt(5.0)) + bias  # gain 1, He constant 1/sqrt(fan_in), lrmul 1
    expected = x * (style[:, None, None, :4] + 1.0) + style[:, None, None, 4:]
    np.testing.assert_allclose(np_(layer([x, w])), expected, atol=1e-5)


def test_noise_injection():
    x = rand(2, 4, 5, 3)
    layer = NoiseInjection(seed=1)
    np.testing.assert_array_equal(np_(layer(x)), x)  # zero strengths: the identity
    weight = np.array([0.5, -1.0, 2.0], "float32")
    layer.weight.assign(weight)
    noise = rand(2, 4, 5, 1, seed=4)
    np.testing.assert_allclose(np_(layer(x, noise=noise)), x + noise * weight, atol=1e-6)
    # training: per pixel, shared by the channels, fresh on every call, about N(0, 1)
    first = (np_(layer(x, training=True)) - x) / weight
    second = (np_(layer(x, training=True)) - x) / weight
    np.testing.assert_allclose(first[..., 0], first[..., 1], atol=1e-5)
    np.testing.assert_allclose(first[..., 0], first[..., 2], atol=1e-5)
    assert not np.allclose(first, second)
    # inference: the fixed noise map (official randomize_noise=False), the same for every example
    fixed = (np_(layer(x)) - x) / weight
    np.testing.assert_allclose(fixed, (np_(layer(x)) - x) / weight, atol=1e-6)
    np.testing.assert_allclose(fixed[0], fixed[1], atol=1e-5)
    np.testing.assert_allclose(fixed[0, ..., 0], np_(layer.fixed_noise)[0, ..., 0], atol=1e-5)
    fresh = NoiseInjection(seed=1, randomize_at_inference=True)
    fresh(x)
    fresh.weight.assign(weight)
    assert fresh.fixed_noise is None
    assert not np.allclose(np_(fresh(x)), np_(fresh(x)))
    layer2 = NoiseInjection(seed=2)
    z = np.zeros((8, 32, 32, 1), "float32")
    layer2(z)
    layer2.weight.assign([1.0])
    sample = np_(layer2(z, training=True))
    assert abs(sample.mean()) < 0.05 and abs(sample.std() - 1.0) < 0.05


def test_constant_input_and_bias():
    const = ConstantInput(5, size=4)
    out = np_(const(np.zeros((3, 7), "float32")))
    assert out.shape == (3, 4, 4, 5)
    np.testing.assert_array_equal(out, 1.0)  # initialized to ones
    values = rand(1, 4, 4, 5)
    const.const.assign(values)
    np.testing.assert_array_equal(np_(const(np.zeros((2, 7), "float32"))), np.repeat(values, 2, 0))
    bias = Bias(lr_multiplier=0.5)
    x = rand(2, 3, 3, 2)
    bias(x)
    bias.bias.assign([1.0, -2.0])
    np.testing.assert_allclose(np_(bias(x)), x + np.array([0.5, -1.0]), atol=1e-6)


def test_dlatent_average_update_and_truncation():
    layer = DlatentAverage(beta=0.9, truncation_psi=0.5)
    w = rand(4, 3)
    out = layer(w, training=False)
    np.testing.assert_allclose(np_(out[0]), 0.5 * w, atol=1e-6)  # avg starts at 0
    np.testing.assert_array_equal(np_(out[1]), w)
    trained = layer(w, training=True)
    for t in trained:  # no truncation while training
        np.testing.assert_array_equal(np_(t), w)
    avg = 0.1 * w.mean(0)  # lerp(batch_mean, 0, 0.9)
    np.testing.assert_allclose(np_(layer.dlatent_avg), avg, atol=1e-6)
    layer(w, training=True)
    avg = 0.9 * avg + 0.1 * w.mean(0)
    np.testing.assert_allclose(np_(layer.dlatent_avg), avg, atol=1e-6)
    np.testing.assert_allclose(np_(layer(w)[0]), avg + 0.5 * (w - avg), atol=1e-6)
    np.testing.assert_allclose(np_(layer.dlatent_avg), avg, atol=1e-6)  # inference: no update
    assert not layer.dlatent_avg.trainable
    for beta, psi in [(None, None), (1.0, 1.0)]:
        off = DlatentAverage(beta=beta, truncation_psi=psi)
        off(w, training=True)
        np.testing.assert_array_equal(np_(off.dlatent_avg), 0.0)
        np.testing.assert_array_equal(np_(off(w)[0]), w)


LAYER_CASES = {
    "blur": (Blur2D, {"filter": [1, 3, 3, 1], "normalize": True}, rand(2, 5, 5, 3), (2, 5, 5, 3), 0),
    "noise": (NoiseInjection, {"seed": 3}, rand(2, 4, 4, 3), (2, 4, 4, 3), 1),
    "bias": (Bias, {"lr_multiplier": 0.1}, rand(2, 4, 4, 3), (2, 4, 4, 3), 1),
    "instance_norm": (InstanceNorm, {"epsilon": 1e-5}, rand(2, 4, 4, 3), (2, 4, 4, 3), 0),
    "style_mod": (StyleMod, {}, [rand(2, 4, 4, 3), rand(2, 6)], (2, 4, 4, 3), 2),
    "const": (ConstantInput, {"channels": 6, "size": 4}, rand(2, 5), (2, 4, 4, 6), 1),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_serialization(case, tmp_path):
    cls, kwargs, x, shape, n_trainable = LAYER_CASES[case]
    run_layer_test(cls, kwargs, x, expected_output_shape=shape,
                   expected_num_trainable_weights=n_trainable,
                   expected_num_non_trainable_weights=int(case == "noise"),  # the fixed noise map
                   directory=tmp_path)


def test_dlatent_average_serialization(tmp_path):
    layer, out = run_layer_test(DlatentAverage, {"beta": 0.99, "truncation_psi": 0.7},
                                rand(4, 6), expected_num_trainable_weights=0,
                                expected_num_non_trainable_weights=1, directory=tmp_path)
    assert [tuple(t.shape) for t in out] == [(4, 6), (4, 6)]
    assert np.abs(np_(layer.dlatent_avg)).sum() > 0  # the training call updated it


# --- the generator --------------------------------------------------------------------------

def make(resolution=16, **kwargs):
    return MSGStyleGANGenerator(resolution, **{**TINY, **kwargs})


@pytest.mark.parametrize("resolution", [16, 32])
def test_generator_outputs_every_scale(resolution):
    g = make(resolution, channels=3)
    sides = [2 ** r for r in range(2, int(np.log2(resolution)) + 1)]
    assert g.output_resolutions == sides
    assert (g.latent_dim, g.num_classes, g.resolution) == (16, 0, resolution)
    assert g.num_layers == 2 * int(np.log2(resolution)) - 2
    out = g(rand(4, 16))
    assert isinstance(out, tuple) and len(out) == len(sides)
    assert [tuple(o.shape) for o in out] == [(4, s, s, 3) for s in sides]
    assert all(o.dtype == "float32" for o in out)
    assert all(np.isfinite(np_(o)).all() for o in out)
    assert float(np.abs(np_(out[-1])).max()) > 0
    # feature maps nf(res_log2 - 1) = min(64 / 2**(res_log2 - 1), 32); 4x4 uses nf(1) = 32
    assert g.get_layer("4x4_const").const.shape == (1, 4, 4, 32)
    assert g.get_layer("8x8_conv0_up").kernel.shape == (3, 3, 32, 16)   # nf(1) -> nf(2)
    assert g.get_layer("16x16_conv0_up").kernel.shape == (3, 3, 16, 8)  # nf(2) -> nf(3)
    assert g.get_layer("16x16_conv1").kernel.shape == (3, 3, 8, 8)
    assert g.get_layer("mapping_dense0").lr_multiplier == 0.01
    assert g.dlatent_avg.shape == (32,) and not g.dlatent_avg.trainable
    run_serialization_test(g)


def test_conditional_generator():
    g = make(8, num_classes=5, channels=1, use_noise=False)
    z = np.repeat(rand(1, 16), 4, axis=0)
    out = g([z, np.array([0, 1, 2, 0], "int32")])
    assert [tuple(o.shape) for o in out] == [(4, 4, 4, 1), (4, 8, 8, 1)]
    img = np_(out[-1])
    np.testing.assert_allclose(img[0], img[3], atol=1e-6)  # same z, same class
    assert not np.allclose(img[0], img[1])                  # the class changes the image
    assert g.get_layer("label_embedding").embeddings.shape == (5, 16)
    assert g.get_layer("mapping_dense0").kernel.shape == (32, 32)  # [z, embedding] -> 32
    w = np_(g.mapping_model()([z, np.array([0, 1, 2, 0], "int32")]))
    assert w.shape == (4, 32)


def test_noise_changes_every_call_once_its_strength_is_learned():
    g = make(8, use_noise=True, noise_seed=5)
    z = rand(2, 16)
    # zero-initialized strengths
    np.testing.assert_array_equal(np_(g(z, training=True)[-1]), np_(g(z, training=True)[-1]))
    layer = g.get_layer("8x8_conv1_noise")
    layer.weight.assign(np.ones(layer.weight.shape, "float32"))
    assert not np.allclose(np_(g(z, training=True)[-1]), np_(g(z, training=True)[-1]))
    np.testing.assert_array_equal(np_(g(z)[-1]), np_(g(z)[-1]))  # inference: fixed noise maps
    assert len([l for l in g.layers if isinstance(l, NoiseInjection)]) == g.num_layers


def test_truncation_at_inference_only():
    g = make(16, use_noise=False, truncation_psi=0.0, dlatent_avg_beta=0.9)
    z = rand(4, 16)
    avg0 = np_(g.dlatent_avg).copy()
    np.testing.assert_array_equal(avg0, 0.0)
    trained = g(z, training=True)
    avg1 = np_(g.dlatent_avg).copy()
    w = np_(g.mapping_model()(z))
    np.testing.assert_allclose(avg1, 0.1 * w.mean(0), atol=1e-6)  # lerp(mean(w), 0, 0.9)
    # training: not truncated, the images differ per z
    assert not np.allclose(np_(trained[-1])[0], np_(trained[-1])[1])
    # inference with psi 0 on all 6 <= cutoff 8 layers: every z gives the same image at every scale
    for img in g(z, training=False):
        img = np_(img)
        np.testing.assert_allclose(img[0], img[1], atol=1e-5)
        np.testing.assert_allclose(img[0], img[3], atol=1e-5)
    np.testing.assert_array_equal(np_(g.dlatent_avg), avg1)  # inference does not update it
    g(z)  # training=None is inference
    np.testing.assert_array_equal(np_(g.dlatent_avg), avg1)

    # cutoff 2: only the two 4x4 layers are truncated
    g2 = make(16, use_noise=False, truncation_psi=0.0, truncation_cutoff=2)
    g2(z, training=True)
    out = [np_(o) for o in g2(z)]
    np.testing.assert_allclose(out[0][0], out[0][1], atol=1e-5)
    assert not np.allclose(out[1][0], out[1][1])
    # truncation disabled: inference equals training output (no noise)
    for kwargs in ({"truncation_psi": None}, {"truncation_psi": 1.0}, {"truncation_cutoff": 0}):
        g3 = make(8, use_noise=False, **kwargs)
        g3(z, training=True)
        np.testing.assert_allclose(np_(g3(z)[-1]), np_(g3(z, training=True)[-1]), atol=1e-6)


def test_generator_arguments():
    for bad in (4, 12, 0):
        with pytest.raises(ValueError, match="power of 2 >= 8"):
            make(bad)
    with pytest.raises(ValueError, match="dlatent_dim must be 16"):
        make(8, mapping_layers=0)
    g = make(8, mapping_layers=0, dlatent_dim=16, blur_filter=None)
    assert not [l for l in g.layers if isinstance(l, Blur2D)]
    assert [tuple(o.shape) for o in g(rand(2, 16))] == [(2, 4, 4, 3), (2, 8, 8, 3)]
    assert g.get_config()["blur_filter"] is None
    assert len([l for l in make(16).layers if isinstance(l, Blur2D)]) == 2


@pytest.mark.parametrize("num_classes", [0, 3])
def test_generator_saving(num_classes, tmp_path):
    g = make(16, num_classes=num_classes, use_noise=False, name="generator")
    z = rand(4, 16)
    inputs = [z, np.array([0, 1, 2, 1], "int32")] if num_classes else z
    g(inputs, training=True)  # a non-zero dlatent_avg, used by the truncation
    assert np.abs(np_(g.dlatent_avg)).sum() > 0
    restored = run_model_saving_test(g, inputs, tmp_path)
    assert restored.name == "generator" and restored.output_resolutions == [4, 8, 16]
    np.testing.assert_array_equal(np_(restored.dlatent_avg), np_(g.dlatent_avg))


# --- 2 replicas -----------------------------------------------------------------------------

MIRRORED = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_gans.models.msggan.msg_stylegan_generator import MSGStyleGANGenerator

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    g = MSGStyleGANGenerator(8, latent_dim=8, dlatent_dim=8, mapping_fmaps=8, mapping_layers=1,
                             fmap_base=16, fmap_max=8, dlatent_avg_beta=0.5)
z = np.random.RandomState(0).randn(8, 8).astype("float32")
z[4:] += 3.0  # the replicas' halves have different means of w
halves = strategy.experimental_distribute_values_from_function(
    lambda ctx: tf.constant(z[4 * ctx.replica_id_in_sync_group:][:4]))

@tf.function
def step(zz):
    return strategy.run(lambda t: g(t, training=True)[-1], args=(zz,))

step(halves)
w = keras.ops.convert_to_numpy(g.mapping_model()(z))
local = [v.numpy().tolist() for v in strategy.experimental_local_results(g.dlatent_avg.value)]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "local": local,
                  "global": (0.5 * w.mean(0)).tolist(), "first_half": (0.5 * w[:4].mean(0)).tolist()}))
"""


def test_dlatent_avg_under_mirrored_strategy():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["replicas"] == 2
    # every replica holds lerp(mean of w over the global batch, 0, 0.5)
    for local in r["local"]:
        np.testing.assert_allclose(local, r["global"], atol=1e-5)
    assert not np.allclose(r["global"], r["first_half"], atol=1e-3)


# --- the whole forward pass against numpy ---------------------------------------------------

def _np_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def _np_conv3(x, kernel):
    b, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(xp[:, i:i + h, j:j + w, :] @ kernel[i, j] for i in range(3) for j in range(3))


def test_forward_matches_a_numpy_reference():
    """G_style + G_synthesis at 8x8 in float64 numpy, with every bias, const, strength and the
    dlatent average set to random values: checks the op order of the epilogue (conv -> blur ->
    bias -> lrelu -> instance norm -> style), which style inputs are truncated (cutoff 3) and
    the ToRGB of every scale. Noise is off (its formula is tested above)."""
    g = make(8, use_noise=False, truncation_psi=0.6, truncation_cutoff=3, num_classes=3)
    rng = np.random.RandomState(7)
    for v in g.weights:
        v.assign(rng.randn(*v.shape).astype("float32") * (0.3 if "bias" in v.path else 1.0))
    z, cls = rand(3, 16, seed=8), np.array([2, 0, 1], "int32")
    out = [np_(o).astype("float64") for o in g([z, cls], training=False)]

    P = {v.path: np_(v).astype("float64") for v in g.weights}

    def dense(x, name, lrmul=1.0, gain=np.sqrt(2)):
        k = P[f"{name}/kernel"]
        return x @ (k * gain / np.sqrt(k.shape[0]) * lrmul) + P[f"{name}/bias"] * lrmul

    x = np.concatenate([z, P["label_embedding/embeddings"][cls]], axis=1)  # LabelConcat
    x = x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)
    for i in range(2):
        x = _np_lrelu(dense(x, f"mapping_dense{i}", lrmul=0.01))
    avg = P["dlatent_avg/dlatent_avg"]
    w_trunc = avg + 0.6 * (x - avg)
    styles = [w_trunc, w_trunc, w_trunc, x]  # layers 0, 1, 2 < cutoff 3

    def epilogue(h, idx, p):
        h = _np_lrelu(h + P[f"{p}_bias/bias"])
        h = h - h.mean(axis=(1, 2), keepdims=True)
        h = h / np.sqrt((h ** 2).mean(axis=(1, 2), keepdims=True) + 1e-8)
        style = dense(styles[idx], f"{p}_style/dense", gain=1.0)
        c = h.shape[-1]
        return h * (style[:, None, None, :c] + 1) + style[:, None, None, c:]

    def conv(h, name):
        k = P[f"{name}/kernel"]
        return _np_conv3(h, k * np.sqrt(2) / np.sqrt(9 * k.shape[2]))

    def torgb(h, name):
        k = P[f"{name}/kernel"]
        return h @ (k[0, 0] / np.sqrt(k.shape[2])) + P[f"{name}/bias"]

    h = np.repeat(P["4x4_const/const"], 3, axis=0)
    h = epilogue(h, 0, "4x4_const")
    h = epilogue(conv(h, "4x4_conv"), 1, "4x4_conv")
    np.testing.assert_allclose(out[0], torgb(h, "to_rgb_4x4"), rtol=1e-4, atol=1e-4)
    h = np.repeat(np.repeat(h, 2, axis=1), 2, axis=2)
    h = blur_reference(conv(h, "8x8_conv0_up"), (1, 2, 1))
    h = epilogue(h, 2, "8x8_conv0_up")
    h = epilogue(conv(h, "8x8_conv1"), 3, "8x8_conv1")
    np.testing.assert_allclose(out[1], torgb(h, "to_rgb_8x8"), rtol=1e-4, atol=1e-4)


def test_every_trainable_weight_gets_a_gradient():
    import tensorflow as tf

    g = make(8, use_noise=True, num_classes=2)
    z, cls = rand(4, 16), np.array([0, 1, 1, 0], "int32")
    with tf.GradientTape() as tape:
        out = g([z, cls], training=True)
        loss = sum(tf.reduce_sum(o * rand(*o.shape, seed=i)) for i, o in enumerate(out))
    grads = tape.gradient(loss, g.trainable_variables)
    missing = [v.path for v, gr in zip(g.trainable_variables, grads) if gr is None]
    assert not missing, missing
    zero = [v.path for v, gr in zip(g.trainable_variables, grads)
            if not np.abs(keras.ops.convert_to_numpy(gr)).sum() > 0]
    assert not zero, zero
    assert "dlatent_avg/dlatent_avg" not in [v.path for v in g.trainable_variables]


def test_mixed_precision_outputs_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        g = make(8)
        out = g(rand(2, 16), training=True)
        assert all(o.dtype == "float32" for o in out)
        assert all(np.isfinite(np_(o)).all() for o in out)
        assert g.dlatent_avg.dtype == "float32"
        assert g.get_layer("8x8_conv1").compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
