"""Batch normalization as one fused kernel (TensorFlow's ``FusedBatchNormV3``), PyTorch's statistics.

Keras 3's ``BatchNormalization`` computes the batch moments and the normalization as separate
element-wise ops (``Mean``, ``SquaredDifference``, ``Mean``, ``Rsqrt``, ``Mul``, ``Sub``, ``Add``),
and their gradients as as many again (``Tile``, ``Sum``, ...): several passes over every
activation, each kept alive for the backward pass. ``BatchNorm`` runs the same normalization as
TensorFlow's fused kernel, one pass forward and one backward (oneDNN's batch norm on x86), which on
a 2-core CPU is 3.2x faster for a ``[50, 32, 32, 256]`` forward + backward and keeps only the
input and two per-channel vectors for the gradient (issue 16's profile: BigGAN's conditional batch
norm moments were the largest cost beside the convolutions).

It is a drop-in subclass of ``keras.layers.BatchNormalization`` (same variables, names,
checkpoints, config), with one deliberate difference in training mode:

- The moving variance is updated with the *unbiased* batch variance (``n / (n - 1)`` times the
  biased one, ``n = B * H * W``), as ``torch.nn.BatchNorm2d`` does (``torch.nn.functional.
  batch_norm``: "running_var ... updated with the unbiased variance") and as every official code
  base we port trains with (BigGAN-PyTorch ``layers.py`` ``ccbn`` / ``bn`` through
  ``F.batch_norm``; projected_gan ``pg_modules/blocks.py`` ``BatchNorm2d``; MSGAN's DCGAN
  ``nn.BatchNorm2d``). The output is normalized with the biased variance, as in both frameworks.
  Keras' own layer uses the biased one for both. ``unbiased_moving_variance=False`` takes the
  biased one (BigGAN's standing statistics, ``keras_gans.sampling.accumulate_standing_stats``).

The fused path applies to rank-2 (as ``[B, 1, 1, C]``) and rank-4 channels-last inputs, on the
TensorFlow backend, without masks, renorm or synchronized statistics; anything else falls back to
Keras' implementation unchanged (its biased moving-variance update included). Inference (``training=False`` or a frozen layer) uses the same
kernel with the moving statistics. Computation is in float32 whatever the input dtype (as Keras:
"BN is prone to overflow with float16/bfloat16 inputs"), the output in the layer's compute dtype.

The frozen EfficientNet-Lite feature network of Projected GAN uses it under Keras' class name
(``efficientnet_lite.BatchNormalization``): its converted ``.weights.h5`` file keys layers by class
name (``layers/batch_normalization_3``), so files converted before still load.

Example:
    >>> bn = BatchNorm(momentum=0.9, epsilon=1e-5)
    >>> y = bn(x, training=True)   # x: [B, H, W, C]
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable("keras_gans")
class BatchNorm(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` through one fused kernel; see the module docstring.

    Args:
        unbiased_moving_variance: the training update of the moving variance takes the unbiased
            batch variance (PyTorch, default) or the biased one (Keras).
        **kwargs: ``keras.layers.BatchNormalization``'s.
    """

    def __init__(self, unbiased_moving_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.unbiased_moving_variance = bool(unbiased_moving_variance)

    def _fused_ok(self, inputs, mask) -> bool:
        rank = len(inputs.shape)
        axis = self.axis if self.axis >= 0 else self.axis + rank
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and not getattr(self, "synchronized", False) and rank in (2, 4)
                and axis == rank - 1 and inputs.shape[-1] is not None)

    def call(self, inputs, training=None, mask=None):
        if not self._fused_ok(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        shape = tf.shape(x)
        if len(inputs.shape) == 2:
            x = x[:, None, None, :]
        channels = int(inputs.shape[-1])
        scale = (tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32))
        offset = (tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32))
        batch = bool(training and self.trainable)
        # Training: the kernel computes the batch statistics (empty inputs); else the moving ones.
        given = ((tf.zeros([0], tf.float32),) * 2 if batch else
                 (tf.cast(self.moving_mean, tf.float32), tf.cast(self.moving_variance, tf.float32)))
        y, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=scale, offset=offset, mean=given[0], variance=given[1], epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=batch)[:3]
        if batch:
            # ``variance`` is the unbiased batch variance (the kernel's Bessel correction), the one
            # torch's running_var takes; the output above is normalized with the biased one.
            if not self.unbiased_moving_variance:
                n = tf.cast(tf.size(x) // channels, tf.float32)
                variance = variance * (n - 1.0) / n
            m = self.momentum
            self.moving_mean.assign(tf.cast(self.moving_mean, tf.float32) * m + mean * (1.0 - m))
            self.moving_variance.assign(
                tf.cast(self.moving_variance, tf.float32) * m + variance * (1.0 - m))
        if len(inputs.shape) == 2:
            y = tf.reshape(y, shape)
        return ops.cast(y, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "unbiased_moving_variance": self.unbiased_moving_variance}
