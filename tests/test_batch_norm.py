"""keras_gans.layers.BatchNorm: the fused kernel against a NumPy transcription of torch's batch norm
(``F.batch_norm``: normalize with the biased batch variance, running_var takes the unbiased one)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gans.layers import BatchNorm
from helpers.keras_test_case import run_layer_test

RNG = np.random.default_rng(3)


def torch_bn_train(x, gamma, beta, running_mean, running_var, momentum, eps):
    """torch.nn.functional.batch_norm(training=True) over all axes but the last (NumPy)."""
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axes), x.var(axes)
    n = x.size // x.shape[-1]
    out = (x - mean) / np.sqrt(var + eps) * gamma + beta
    # torch momentum m_t = 1 - Keras momentum
    new_mean = running_mean * momentum + mean * (1 - momentum)
    new_var = running_var * momentum + var * n / (n - 1) * (1 - momentum)
    return out, new_mean, new_var


@pytest.mark.parametrize("shape", [(6, 5, 4, 3), (7, 3)])
def test_training_matches_torch_batch_norm(shape):
    x = RNG.normal(2.0, 3.0, size=shape).astype("float32")
    bn = BatchNorm(momentum=0.9, epsilon=1e-5)
    bn.build(x.shape)
    gamma = RNG.normal(1.0, 0.2, size=shape[-1]).astype("float32")
    beta = RNG.normal(0.0, 0.2, size=shape[-1]).astype("float32")
    mean0 = RNG.normal(size=shape[-1]).astype("float32")
    var0 = RNG.uniform(0.5, 2.0, size=shape[-1]).astype("float32")
    bn.set_weights([gamma, beta, mean0, var0])
    out = bn(tf.constant(x), training=True).numpy()
    ref, mean1, var1 = torch_bn_train(x, gamma, beta, mean0, var0, 0.9, 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var1, rtol=1e-5)
    # Inference: the moving statistics.
    out = bn(tf.constant(x), training=False).numpy()
    np.testing.assert_allclose(out, (x - mean1) / np.sqrt(var1 + 1e-5) * gamma + beta, rtol=1e-4, atol=1e-5)


def test_biased_update_on_request_and_frozen_layer_uses_moving_statistics():
    x = RNG.normal(size=(4, 2, 2, 3)).astype("float32")
    bn = BatchNorm(momentum=0.0, center=False, scale=False, unbiased_moving_variance=False)
    bn(tf.constant(x), training=True)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var((0, 1, 2)), rtol=1e-5)
    bn.trainable = False
    before = bn.moving_mean.numpy().copy()
    out = bn(tf.constant(x), training=True).numpy()  # frozen: inference, no update
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    np.testing.assert_allclose(out, (x - before) / np.sqrt(bn.moving_variance.numpy() + 1e-3),
                               rtol=1e-4, atol=1e-5)


def test_gradients_equal_keras_batch_normalization():
    x = tf.constant(RNG.normal(1.0, 2.0, size=(8, 4, 4, 5)).astype("float32"))
    w = tf.constant(RNG.normal(size=(8, 4, 4, 5)).astype("float32"))
    ours, ref = BatchNorm(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    for layer in (ours, ref):
        layer.build(x.shape)
    ref.set_weights(ours.get_weights())
    grads = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * w)
        grads.append(tape.gradient(loss, [x, *layer.trainable_variables]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4)


def test_bfloat16_policy_and_keras_fallback():
    x = RNG.normal(size=(4, 3, 3, 2)).astype("float32")
    bn = BatchNorm(dtype="mixed_bfloat16")
    out = bn(tf.constant(x, tf.bfloat16), training=True)
    assert out.dtype == tf.bfloat16 and bn.moving_mean.dtype == "float32"
    # Rank 3 has no fused kernel: Keras' implementation (biased update) runs.
    x3 = RNG.normal(size=(4, 6, 2)).astype("float32")
    bn3 = BatchNorm(momentum=0.0)
    bn3(tf.constant(x3), training=True)
    np.testing.assert_allclose(bn3.moving_variance.numpy(), x3.var((0, 1)), rtol=1e-5)


def test_layer_contract(tmp_path):
    layer, _ = run_layer_test(BatchNorm, {"momentum": 0.8, "unbiased_moving_variance": False},
                              RNG.normal(size=(2, 3, 3, 4)).astype("float32"),
                              expected_output_shape=(2, 3, 3, 4), expected_num_trainable_weights=2,
                              expected_num_non_trainable_weights=2, directory=tmp_path)
    assert layer.get_config()["unbiased_moving_variance"] is False
