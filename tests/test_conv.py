"""keras_gans.layers.conv: the kernel gradient by tap products equals TensorFlow's kernel."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gans.layers import SNConv2D, conv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _native_filter_grad(x, dy, kernel_shape, padding):
    return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=list(kernel_shape), out_backprop=dy,
                                           strides=[1, 1, 1, 1], padding=padding.upper()).numpy()


def _numpy_filter_grad(x, dy, kh, kw, padding):
    """dW[i, j] = sum_{n,h,w} x_pad[n, h+i, w+j, :]^T dy[n, h, w, :], in float64."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    if padding == "same":
        x = np.pad(x, [(0, 0), ((kh - 1) // 2, kh - 1 - (kh - 1) // 2),
                       ((kw - 1) // 2, kw - 1 - (kw - 1) // 2), (0, 0)])
    ho, wo = dy.shape[1:3]
    out = np.zeros((kh, kw, x.shape[-1], dy.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            out[i, j] = np.einsum("nhwc,nhwd->cd", x[:, i:i + ho, j:j + wo], dy)
    return out


@pytest.mark.parametrize("kernel,padding,chunk_bytes", [
    ((3, 3), "same", conv.CHUNK_BYTES), ((3, 3), "same", 1), ((3, 3), "valid", 700),
    ((2, 2), "same", conv.CHUNK_BYTES), ((1, 1), "valid", 1), ((5, 3), "same", 2000)])
def test_filter_gradient_by_taps_is_the_convolution_filter_gradient(monkeypatch, kernel, padding,
                                                                      chunk_bytes):
    """Against a NumPy transcription of the formula and TensorFlow's own kernel, whole batch
    and in chunks (``chunk_bytes`` 1: one image per chunk)."""
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    kh, kw = kernel
    x = rng.standard_normal((5, 7, 6, 3)).astype("float32")
    out_hw = (7, 6) if padding == "same" else (7 - kh + 1, 6 - kw + 1)
    dy = rng.standard_normal((5, *out_hw, 4)).astype("float32")
    ours = conv.filter_gradient_by_taps(tf.constant(x), tf.constant(dy), kernel, padding).numpy()
    np.testing.assert_allclose(ours, _numpy_filter_grad(x, dy, kh, kw, padding), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours, _native_filter_grad(x, dy, (kh, kw, 3, 4), padding),
                               rtol=1e-5, atol=1e-4)


def test_the_rule_follows_the_measured_table():
    rule = conv.use_tap_products
    assert rule((32, 128, 128, 256), (3, 3, 256, 256), 1, 1, "float32")    # FastGAN 128 px
    assert rule((32, 64, 64, 256), (3, 3, 256, 512), 1, (1, 1), "float32")
    assert rule((32, 8, 8, 2048), (3, 3, 2048, 2048), (1, 1), 1, "float32")
    assert not rule((100, 32, 32, 256), (3, 3, 256, 256), 1, 1, "float32")  # BigGAN CIFAR
    assert not rule((64, 32, 32, 128), (3, 3, 128, 128), 1, 1, "float32")
    assert not rule((32, 128, 128, 256), (3, 3, 256, 256), 2, 1, "float32")   # strided
    assert not rule((32, 128, 128, 256), (3, 3, 256, 256), 1, 2, "float32")   # dilated
    assert not rule((32, 128, 128, 256), (1, 1, 256, 256), 1, 1, "float32")   # 1x1
    assert not rule((32, 128, 128, 256), (3, 3, 256, 256), 1, 1, "bfloat16")  # mixed precision
    assert not rule((None, 128, 128, 256), (3, 3, 256, 256), 1, 1, "float32")  # symbolic batch


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_sn_conv_gradients_and_outputs_are_unchanged(padding):
    """An SNConv2D on a shape the rule picks (64x64, 256 -> 256 channels): output, input
    gradient and kernel gradient equal the plain ``keras.ops.conv`` path's."""
    keras.utils.set_random_seed(1)
    x = tf.random.normal([2, 64, 64, 256])
    assert conv.use_tap_products(tuple(x.shape), (3, 3, 256, 256), 1, 1, "float32")
    layer = SNConv2D(256, 3, padding=padding, use_bias=True)
    layer(x[:1])
    plain = SNConv2D(256, 3, padding=padding, use_bias=True)
    plain(x[:1])
    plain.set_weights(layer.get_weights())
    plain.convolution_op = lambda inputs, kernel: keras.ops.conv(inputs, kernel, padding=padding)

    @tf.function
    def grads(layer, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=False)
            loss = tf.reduce_sum(y * tf.sin(y))
        return (y, *tape.gradient(loss, [x, layer.kernel, layer.bias]))

    ours, ref = grads(layer, x), grads(plain, x)
    for a, b in zip(ours, ref):
        scale = float(tf.reduce_max(tf.abs(b)))
        np.testing.assert_allclose(a.numpy() / scale, b.numpy() / scale, atol=2e-6)


def test_conv_bench_prints_both_ways():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "conv_bench.py"),
                           "--shapes", "2x8x16x16", "--repeats", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    (row,) = out["shapes"]
    assert row["shape"] == [2, 8, 16, 16] and row["rule_uses_tap_products"] is False
    assert row["tf_kernel_gflop_per_s"] > 0 and row["tap_products_gflop_per_s"] > 0
    assert row["max_relative_difference"] < 1e-5
    assert out["machine"]["cores"] >= 1 and out["peak_rss_mib"] > 0
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "conv_bench.py"),
                          "--shapes", "2x8x16"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert bad.returncode == 2 and "BATCHxSIDExC_INxC_OUT" in bad.stderr
    for resample in ("up", "down"):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "conv_bench.py"),
                               "--resample", resample, "--shapes", "2x4x8x8", "--repeats", "1"],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        (row,) = json.loads(proc.stdout)["shapes"]
        assert row["resample"] == resample and row["shape"] == [2, 4, 8, 8]
        assert row["separate_s"] > 0 and row["folded_s"] > 0 and row["max_relative_difference"] < 1e-5


def test_gradient_penalty_through_tap_products_is_unchanged():
    """A gradient penalty (R1: the gradient of ||dD/dx||^2 with respect to the kernel) needs
    the derivative of the custom gradient itself; it equals the plain ``keras.ops.conv`` path's."""
    keras.utils.set_random_seed(2)
    x = tf.random.normal([2, 64, 64, 256])
    kernel = tf.Variable(tf.random.normal([3, 3, 256, 256]) * 0.02)

    def penalty_grad(fn):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = tf.reduce_sum(tf.tanh(fn(x, kernel)))
            dx = inner.gradient(score, x)
            penalty = tf.reduce_sum(dx * dx)
        return penalty, outer.gradient(penalty, kernel)

    ours = tf.function(lambda: penalty_grad(lambda a, k: conv.conv2d(a, k, padding="same")))()
    ref = tf.function(lambda: penalty_grad(lambda a, k: keras.ops.conv(a, k, padding="same")))()
    np.testing.assert_allclose(ours[0].numpy(), ref[0].numpy(), rtol=1e-5)
    scale = float(tf.reduce_max(tf.abs(ref[1])))
    np.testing.assert_allclose(ours[1].numpy() / scale, ref[1].numpy() / scale, atol=2e-6)


# --- resampling folded into the convolution --------------------------------------------------


def _numpy_conv_same(x, w):
    """Stride-1 'same' NHWC convolution (cross-correlation, as TF), float64."""
    kh, kw = w.shape[:2]
    xp = np.pad(x, [(0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)])
    h, wd = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (w.shape[-1],))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cd->nhwd", xp[:, i:i + h, j:j + wd], w[i, j])
    return out


def _numpy_resampled(x, w, resample):
    """The composition the folded convolution replaces: np.repeat (nearest 2x) then conv, or
    conv then the mean of each 2x2 block (torch ``F.interpolate`` / ``F.avg_pool2d``)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if resample == "up":
        return _numpy_conv_same(np.repeat(np.repeat(x, 2, 1), 2, 2), w)
    y = _numpy_conv_same(x, w)
    n, h, wd, c = y.shape
    return y.reshape(n, h // 2, 2, wd // 2, 2, c).mean(axis=(2, 4))


@pytest.mark.parametrize("resample", ["up", "down"])
@pytest.mark.parametrize("k", [3, 1])
def test_folded_resampling_is_the_composition(resample, k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 6, 4, 5)).astype("float32")
    w = rng.standard_normal((k, k, 5, 7)).astype("float32")
    assert conv.can_fold(x.shape, w.shape, resample, padding="same")
    y = conv.resampled_conv2d(tf.constant(x), tf.constant(w), resample, padding="same")
    want = _numpy_resampled(x, w, resample)
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
    # gradients: d/dx and d/dw of <y, g> are those of the composition (autodiff of NumPy's
    # formula is not at hand: compare with TensorFlow's own ops for the composition)
    g = rng.standard_normal(want.shape).astype("float32")
    xt, wt = tf.constant(x), tf.constant(w)

    def composed(x, w):
        if resample == "up":
            return tf.nn.conv2d(tf.repeat(tf.repeat(x, 2, 1), 2, 2), w, 1, "SAME")
        return tf.nn.avg_pool2d(tf.nn.conv2d(x, w, 1, "SAME"), 2, 2, "VALID")

    grads = []
    for f in (lambda x, w: conv.resampled_conv2d(x, w, resample, padding="same"), composed):
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            loss = tf.reduce_sum(f(xt, wt) * g)
        grads.append(tape.gradient(loss, [xt, wt]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-4)


def test_folded_kernel_sums_the_official_taps():
    """ProGAN's fused ops (networks.py L86-93, L109-114) pad the 3x3 kernel to 5x5 and add its
    four 1-pixel shifts (times 1/4 on the way down): that is folded_kernel's "down" kernel, and
    its "up" kernel spatially flipped (the official fused up layer is upsample-then-conv with
    the flipped kernel, an equivalent parametrization; ours keeps the unfused layer's weights)."""
    w = np.random.default_rng(0).standard_normal((3, 3, 2, 3)).astype("float32")
    p = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    shifts = p[1:, 1:] + p[:-1, 1:] + p[1:, :-1] + p[:-1, :-1]
    np.testing.assert_allclose(conv.folded_kernel(tf.constant(w), conv.UP_TAPS).numpy(),
                               shifts[::-1, ::-1], atol=1e-6)
    np.testing.assert_allclose(conv.folded_kernel(tf.constant(w), conv.DOWN_TAPS).numpy(),
                               0.25 * shifts, atol=1e-6)


def test_unfoldable_resampling_runs_the_composition():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 5, 5, 2)).astype("float32")  # odd side: no folded "down"
    w = rng.standard_normal((3, 3, 2, 2)).astype("float32")
    assert not conv.can_fold(x.shape, w.shape, "down", padding="same")
    assert not conv.can_fold((1, 4, 4, 2), (5, 5, 2, 2), "up", padding="same")
    y = conv.resampled_conv2d(tf.constant(x), tf.constant(w), "down", padding="same")
    want = tf.nn.avg_pool2d(tf.nn.conv2d(x, w, 1, "SAME"), 2, 2, "VALID")
    np.testing.assert_allclose(y.numpy(), want.numpy(), atol=1e-6)
    y = conv.resampled_conv2d(tf.constant(x), tf.constant(w), "up", padding="valid")
    np.testing.assert_allclose(y.numpy(), tf.nn.conv2d(np.repeat(np.repeat(x, 2, 1), 2, 2), w, 1,
                                                       "VALID").numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="resample must be one of"):
        conv.resampled_conv2d(tf.constant(x), tf.constant(w), "sideways")


@pytest.mark.parametrize("resample", ["up", "down"])
def test_sn_conv_resample_equals_the_separate_layers(resample):
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 4)).astype("float32")
    folded = SNConv2D(6, 3, padding="same", resample=resample)
    plain = SNConv2D(6, 3, padding="same")
    y = folded(x, training=False)
    plain.build((2, 16, 16, 4) if resample == "up" else x.shape)
    plain.set_weights(folded.get_weights())  # kernel, bias, power-iteration state
    layer_in = np.repeat(np.repeat(x, 2, 1), 2, 2) if resample == "up" else x
    want = plain(layer_in, training=False)
    if resample == "down":
        want = tf.nn.avg_pool2d(want, 2, 2, "VALID")
    assert y.shape == want.shape == folded.compute_output_shape(x.shape)
    np.testing.assert_allclose(y.numpy(), want.numpy(), atol=2e-5)
    symbolic = SNConv2D(6, 3, padding="same", resample=resample)(keras.Input((8, 8, 4)))
    assert tuple(symbolic.shape) == (None, *want.shape[1:])
    assert SNConv2D.from_config(folded.get_config()).resample == resample
    with pytest.raises(ValueError, match="activation must come after"):
        SNConv2D(6, 3, resample="down", activation="relu")
