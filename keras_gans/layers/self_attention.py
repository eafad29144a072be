"""SAGAN self-attention block as in BigGAN's released code."""

from __future__ import annotations

import keras
from keras import ops

from keras_gans.layers.conditional_batch_norm import fresh_initializer
from keras_gans.layers.spectral_normalization import SNConv2D


@keras.saving.register_keras_serializable("keras_gans")
class SelfAttention(keras.layers.Layer):
    """Non-local attention over positions: ``x + gamma * o(attention(x))``.

    As ajbrock/BigGAN-PyTorch layers.py ``Attention`` (which notes that the SA-GAN paper's
    description is "largely incorrect" and follows the released code): 1x1 convolutions without
    bias ``theta`` (C/8), ``phi`` (C/8), ``g`` (C/2); ``phi`` and ``g`` are 2x2 max-pooled, so
    every position attends to HW/4 pooled positions; ``beta = softmax(theta phi^T)`` over them;
    ``o`` (1x1, C/2 -> C) maps ``beta g`` back to C channels; ``gamma`` is a learnable scalar
    initialised to 0, so the block is the identity at initialization.

    Input: ``[B, H, W, C]`` with even H and W and C divisible by 8.

    Args:
        spectral_norm: spectrally normalize the four convolutions (BigGAN: True in G and D).
        sn_epsilon: spectral-norm epsilon (BigGAN ``--SN_eps 1e-6``).
        kernel_initializer: initializer of the convolutions (BigGAN: orthogonal).

    Example:
        >>> h = SelfAttention(name="attention_64")(h, training=True)

    Reference: Zhang et al., "Self-Attention Generative Adversarial Networks" (ICML 2019,
    arXiv 1805.08318); ajbrock/BigGAN-PyTorch layers.py ``Attention``.
    """

    def __init__(self, spectral_norm=True, sn_epsilon=1e-6, kernel_initializer="orthogonal",
                 **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.spectral_norm = bool(spectral_norm)
        self.sn_epsilon = float(sn_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.theta = self.phi = self.g = self.o = None

    def _conv(self, filters, name):
        kw = dict(use_bias=False, kernel_initializer=fresh_initializer(self.kernel_initializer),
                  dtype=self.dtype_policy, name=name)
        if self.spectral_norm:
            return SNConv2D(filters, 1, epsilon=self.sn_epsilon, **kw)
        return keras.layers.Conv2D(filters, 1, **kw)

    def build(self, input_shape):
        _, height, width, channels = input_shape
        if channels is None or channels % 8:
            raise ValueError(f"SelfAttention needs channels divisible by 8, got {channels}")
        if height is None or width is None or height % 2 or width % 2:
            raise ValueError(f"SelfAttention needs a known, even height and width, got {input_shape}")
        # === Layers (widths depend on the input channels) ===
        self.theta = self._conv(channels // 8, "theta")
        self.phi = self._conv(channels // 8, "phi")
        self.g = self._conv(channels // 2, "g")
        self.o = self._conv(channels, "o")
        for conv in (self.theta, self.phi, self.g):
            conv.build(input_shape)
        self.o.build((input_shape[0], height, width, channels // 2))
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros", trainable=True)

    def call(self, inputs, training=None):
        _, height, width, channels = inputs.shape
        positions, pooled = height * width, (height // 2) * (width // 2)
        theta = ops.reshape(self.theta(inputs, training=training), (-1, positions, channels // 8))
        phi = ops.max_pool(self.phi(inputs, training=training), 2, strides=2)
        phi = ops.reshape(phi, (-1, pooled, channels // 8))
        g = ops.max_pool(self.g(inputs, training=training), 2, strides=2)
        g = ops.reshape(g, (-1, pooled, channels // 2))
        beta = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)  # [B, HW, HW/4]
        attended = ops.reshape(ops.matmul(beta, g), (-1, height, width, channels // 2))
        o = self.o(attended, training=training)
        return ops.cast(self.gamma, o.dtype) * o + inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm,
                "sn_epsilon": self.sn_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
