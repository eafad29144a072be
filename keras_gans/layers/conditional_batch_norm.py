"""Class-conditional batch normalization (BigGAN's ``ccbn``)."""

from __future__ import annotations

import keras
from keras import ops

from keras_gans.layers.batch_norm import BatchNorm
from keras_gans.layers.spectral_normalization import SNDense


def fresh_initializer(identifier):
    """A new initializer instance from an identifier (string, config dict or instance).

    Keras 3 draws the same values every time one unseeded initializer *instance* is called
    (its seed is fixed at construction), so every sub-layer gets its own copy.
    """
    return keras.initializers.get(keras.initializers.serialize(keras.initializers.get(identifier)))


@keras.saving.register_keras_serializable("keras_gans")
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch norm without affine parameters, then a per-example gain and bias from ``y``.

    ``out = BN(x) * (1 + W_g y) + W_b y``, with ``BN`` using the batch statistics in training
    and the moving ones at inference, and ``W_g``, ``W_b`` linear maps without bias (with
    ``use_bias``: ``out = BN(x) * (1 + W_g y + b_g) + W_b y + b_b``). In BigGAN
    ``y`` is the shared class embedding concatenated with this block's chunk of z (``--G_shared
    --hier``) and the linears are spectrally normalized (``which_linear=SNLinear(bias=False)``);
    without a shared embedding ``y`` is the one-hot class and ``W_g``, ``W_b`` are plain per-class
    embeddings (ajbrock/BigGAN-PyTorch BigGAN.py ``Generator.__init__``, ``bn_linear``).

    The normalization is ``keras_gans.layers.BatchNorm(center=False, scale=False)`` (one fused
    kernel): statistics per replica (BigGAN's default, no ``--cross_replica``), and the moving
    variance is updated with the unbiased batch variance, as PyTorch's ``F.batch_norm`` in
    ``ccbn`` does.

    Call: ``layer([x, y], training=...)`` with ``x`` ``[B, ..., C]`` (channels last) and ``y``
    ``[B, D]`` (float).

    Args:
        spectral_norm: spectrally normalize ``W_g`` and ``W_b`` (BigGAN with a shared
            embedding: True).
        momentum: moving-statistics momentum, Keras convention (PyTorch momentum 0.1 = 0.9).
        epsilon: batch-norm epsilon (BigGAN ``--BN_eps 1e-5``).
        sn_epsilon: spectral-norm epsilon (BigGAN ``--SN_eps 1e-6``).
        kernel_initializer: initializer of ``W_g`` and ``W_b`` (BigGAN: orthogonal).
        use_bias: give the two linears a bias (default False, BigGAN's ``SNLinear(bias=False)``).
            FastGAN's ``CCBN`` (autonomousvision/projected_gan pg_modules/blocks.py L267-291,
            built with ``which_linear=linear``, L23-24 and L84/L118: ``spectral_norm(nn.Linear)``
            with its default bias) has them.
        bias_initializer: initializer of the two biases when ``use_bias`` (PyTorch's
            ``nn.Linear`` default is U(+-1/sqrt(in_features))).

    Example:
        >>> cbn = ConditionalBatchNorm()
        >>> h = cbn([features, keras.ops.concatenate([class_embedding, z_chunk], -1)], training=True)

    Reference: de Vries et al., "Modulating early visual processing by language" (NeurIPS 2017,
    arXiv 1707.00683); Brock et al., "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis" (ICLR 2019, arXiv 1809.11096); ajbrock/BigGAN-PyTorch layers.py ``ccbn``.
    """

    def __init__(self, spectral_norm=True, momentum=0.9, epsilon=1e-5, sn_epsilon=1e-6,
                 kernel_initializer="orthogonal", use_bias=False, bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.spectral_norm = bool(spectral_norm)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.sn_epsilon = float(sn_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        # === Layers ===
        self.batch_norm = BatchNorm(
            momentum=self.momentum, epsilon=self.epsilon, center=False, scale=False,
            dtype=self.dtype_policy, name="batch_norm")
        self.gain_linear = None
        self.bias_linear = None

    def _linear(self, channels, name):
        kw = dict(use_bias=self.use_bias,
                  kernel_initializer=fresh_initializer(self.kernel_initializer),
                  dtype=self.dtype_policy, name=name)
        if self.use_bias:
            kw["bias_initializer"] = fresh_initializer(self.bias_initializer)
        if self.spectral_norm:
            return SNDense(channels, epsilon=self.sn_epsilon, **kw)
        return keras.layers.Dense(channels, **kw)

    def build(self, input_shape):
        x_shape, y_shape = input_shape
        channels = x_shape[-1]
        if channels is None:
            raise ValueError("ConditionalBatchNorm needs a known channel count")
        self.batch_norm.build(x_shape)
        # The linears' width is the input's channel count, known here.
        self.gain_linear = self._linear(channels, "gain")
        self.bias_linear = self._linear(channels, "bias")
        self.gain_linear.build(y_shape)
        self.bias_linear.build(y_shape)

    def call(self, inputs, training=None):
        x, y = inputs
        out = self.batch_norm(x, training=training)
        gain = 1.0 + self.gain_linear(y, training=training)
        bias = self.bias_linear(y, training=training)
        # [B, C] -> [B, 1, ..., 1, C]
        for _ in range(len(x.shape) - 2):
            gain = ops.expand_dims(gain, 1)
            bias = ops.expand_dims(bias, 1)
        return out * ops.cast(gain, out.dtype) + ops.cast(bias, out.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm,
                "momentum": self.momentum, "epsilon": self.epsilon,
                "sn_epsilon": self.sn_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}
