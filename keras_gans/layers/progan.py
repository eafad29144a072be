"""ProGAN building blocks (Karras et al. 2018), shared by ProGAN, MSG-ProGAN and MSG-StyleGAN.

After tkarras/progressive_growing_of_gans ``networks.py`` (``get_weight``, ``dense``,
``conv2d``, ``apply_bias``, ``pixel_norm``, ``minibatch_stddev_layer``, ``upscale2d``,
``downscale2d``) and the StyleGAN variants in akanimax/msg-stylegan-tf
``training/networks_stylegan.py`` (``lrmul``, ``num_new_features``). Channels last.

Equalized learning rate: weights are stored as N(0, 1) (N(0, 1/lrmul) with a learning-rate
multiplier) and multiplied at run time by ``gain / sqrt(fan_in) * lrmul`` (He's constant), so
Adam's per-parameter step is the same relative change in every layer. Biases start at 0 and
are multiplied by ``lrmul``.

The fused up/down-sampling convolutions of the official code (``upscale2d_conv2d``,
``conv2d_downscale2d``, networks.py L86-93 and L109-114, used from 128 px up: the 3x3 kernel
summed into a 4x4 one for a stride-2 transposed / plain convolution) compute
nearest-upsample-then-conv (with the kernel spatially flipped, an equivalent parametrization)
and conv-then-average-pool with 16 instead of 36 multiply-adds per pair of output pixels; here
``EqualizedConv2D(resample="up")`` and ``conv_down`` fold the unfused layers' own composition the
same way at every resolution (``keras_gans.layers.conv.resampled_conv2d``: the same values as
the separate ops up to float32 rounding). Where the bias
and activation go matters on the way down: the official discriminators wrap the fused op,
``act(apply_bias(conv2d_downscale2d(x)))`` (networks.py ``D_paper``, default ``fused_scale=True``;
msg-stylegan-tf ``D_basic``), so they pool the convolution *before* its bias and leaky ReLU
(``EqualizedConv2D.conv_down``), not after them.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.conv import resampled_conv2d

SQRT2 = math.sqrt(2.0)


class _Equalized:
    """Shared weight creation and run-time scaling of the equalized layers."""

    def _init_equalized(self, gain, lr_multiplier, use_bias):
        if not lr_multiplier > 0:
            raise ValueError(f"lr_multiplier must be positive, got {lr_multiplier}")
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.use_bias = bool(use_bias)

    def _make_weights(self, kernel_shape, fan_in, units):
        # get_weight(use_wscale=True): w ~ N(0, 1) (StyleGAN: N(0, 1/lrmul)), times he_std * lrmul.
        self.scale = self.gain / math.sqrt(fan_in) * self.lr_multiplier
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape,
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros")

    def _add_bias(self, x):
        if self.bias is None:
            return x
        return x + ops.cast(self.bias, x.dtype) * ops.cast(self.lr_multiplier, x.dtype)

    def _equalized_config(self):
        return {"gain": self.gain, "lr_multiplier": self.lr_multiplier, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable("keras_gans")
class EqualizedDense(_Equalized, keras.layers.Layer):
    """Dense layer with the equalized learning rate: ``x @ (W * gain/sqrt(fan_in) * lrmul) + b * lrmul``.

    Inputs with more than two axes are flattened first (official ``dense``).

    Args:
        units: output features.
        gain: He gain (sqrt(2) before a leaky ReLU; 1 for linear outputs; ProGAN's first dense
            layer uses sqrt(2)/4).
        lr_multiplier: StyleGAN's ``lrmul`` (0.01 in the mapping network).
        use_bias: add a bias.
    """

    def __init__(self, units, gain=SQRT2, lr_multiplier=1.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self._init_equalized(gain, lr_multiplier, use_bias)

    def build(self, input_shape):
        fan_in = int(math.prod(input_shape[1:]))
        self._make_weights((fan_in, self.units), fan_in, self.units)

    def call(self, x):
        if len(x.shape) > 2:
            x = ops.reshape(x, (-1, int(math.prod(x.shape[1:]))))
        w = ops.cast(self.kernel, x.dtype) * ops.cast(self.scale, x.dtype)
        return self._add_bias(ops.matmul(x, w))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, **self._equalized_config()}


@keras.saving.register_keras_serializable("keras_gans")
class EqualizedConv2D(_Equalized, keras.layers.Layer):
    """'Same' stride-1 convolution with the equalized learning rate (official ``conv2d``).

    Args:
        filters: output channels.
        kernel_size: odd kernel side (1 or 3 in ProGAN).
        gain, lr_multiplier, use_bias: as ``EqualizedDense``.
        resample: None, or "up": nearest 2x upsampling of the input first (the official
            ``upscale2d`` + ``conv2d``, or ``upscale2d_conv2d``), folded into the convolution.
    """

    def __init__(self, filters, kernel_size, gain=SQRT2, lr_multiplier=1.0, use_bias=True,
                 resample=None, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 (official conv2d), got {kernel_size}")
        if resample not in (None, "up"):
            raise ValueError(f"resample must be None or 'up' (downsampling: conv_down), got {resample!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.resample = resample
        self._init_equalized(gain, lr_multiplier, use_bias)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self._make_weights((k, k, channels, self.filters), k * k * channels, self.filters)

    def _convolve(self, x, resample=None):
        w = ops.cast(self.kernel, x.dtype) * ops.cast(self.scale, x.dtype)
        return resampled_conv2d(x, w, resample, strides=1, padding="same")

    def call(self, x):
        return self._add_bias(self._convolve(x, self.resample))

    def conv_down(self, x):
        """Official ``apply_bias(conv2d_downscale2d(x))``: convolve, average-pool 2x2, then add
        the bias (the caller applies the activation), the pooling folded into the convolution.
        Builds the layer when needed."""
        if not self.built:
            self.build(x.shape)
        return self._add_bias(self._convolve(x, "down"))

    def compute_output_shape(self, input_shape):
        factor = 2 if self.resample == "up" else 1
        return (input_shape[0], *(None if d is None else factor * d for d in input_shape[1:-1]),
                self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "resample": self.resample, **self._equalized_config()}


@keras.saving.register_keras_serializable("keras_gans")
class PixelNorm(keras.layers.Layer):
    """Pixel-wise feature normalization: ``x / sqrt(mean_c(x^2) + eps)`` over the last axis.

    Official ``pixel_norm`` (epsilon 1e-8; 1e-4 for float16 training, config.py ``-fp16``).
    Also normalizes 2-D latents (``normalize_latents``).
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        mean_sq = ops.mean(ops.square(ops.cast(x, "float32")), axis=-1, keepdims=True)
        return x * ops.cast(ops.rsqrt(mean_sq + self.epsilon), x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable("keras_gans")
class MinibatchStdDev(keras.layers.Layer):
    """Minibatch standard deviation: appends ``num_new_features`` channels of group statistics.

    The batch is split into groups of ``group_size`` examples (``min(group_size, batch)``; the
    batch must be divisible by it) taken with stride ``batch / group_size`` as the official
    reshape ``[G, M, ...]`` does; per group, the standard deviation over the group of every
    feature and pixel (``sqrt(var + 1e-8)``), averaged over pixels and over each of the
    ``num_new_features`` channel slices, is broadcast to every member and pixel.

    ProGAN: group 4, one feature (networks.py ``minibatch_stddev_layer``); StyleGAN /
    MSG-StyleGAN add ``num_new_features`` (networks_stylegan.py). Statistics are float32.
    Under a distribution strategy the groups are formed within each replica's batch.
    """

    def __init__(self, group_size=4, num_new_features=1, **kwargs):
        super().__init__(**kwargs)
        if int(group_size) < 1 or int(num_new_features) < 1:
            raise ValueError("group_size and num_new_features must be >= 1")
        self.group_size = int(group_size)
        self.num_new_features = int(num_new_features)

    def call(self, x):
        batch = x.shape[0]
        if batch is None:
            batch = ops.shape(x)[0]
            group = ops.minimum(self.group_size, batch)
        else:
            group = min(self.group_size, batch)
            if batch % group:
                raise ValueError(f"MinibatchStdDev: batch {batch} is not divisible by the group "
                                 f"size {group}")
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        n = self.num_new_features
        if c % n:
            raise ValueError(f"MinibatchStdDev: {c} channels do not split into {n} features")
        y = ops.reshape(ops.cast(x, "float32"), (group, -1, h, w, n, c // n))  # [G, M, H, W, n, c]
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)                  # [M, H, W, n, c]
        y = ops.mean(y, axis=(1, 2, 4))                                         # [M, n]
        y = ops.cast(y, x.dtype)
        y = ops.tile(y, (group, 1))                                             # [G*M, n]: row i -> group i % M
        y = ops.broadcast_to(y[:, None, None, :], (ops.shape(x)[0], h, w, n))
        return ops.concatenate([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_new_features)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_new_features": self.num_new_features}


class _Resample(keras.layers.Layer):
    """An integer ``factor`` and its config."""

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable("keras_gans")
class Upsample(_Resample):
    """Nearest-neighbour upsampling by an integer factor (official ``upscale2d``)."""

    def call(self, x):
        if self.factor == 1:
            return x
        return ops.repeat(ops.repeat(x, self.factor, axis=1), self.factor, axis=2)

    def compute_output_shape(self, s):
        mul = lambda d: None if d is None else d * self.factor  # noqa: E731
        return (s[0], mul(s[1]), mul(s[2]), s[3])


@keras.saving.register_keras_serializable("keras_gans")
class Downsample(_Resample):
    """Box-filter (average-pool) downsampling by an integer factor (official ``downscale2d``,
    the same filter as the dataset pyramid in ``keras_gans.data.downsample``)."""

    def call(self, x):
        if self.factor == 1:
            return x
        f = self.factor
        return ops.average_pool(x, pool_size=f, strides=f, padding="valid")

    def compute_output_shape(self, s):
        div = lambda d: None if d is None else d // self.factor  # noqa: E731
        return (s[0], div(s[1]), div(s[2]), s[3])


@keras.saving.register_keras_serializable("keras_gans")
class ToRGB(EqualizedConv2D):
    """Features -> image: a linear equalized 1x1 conv with gain 1 (official ``torgb``)."""

    def __init__(self, channels, **kwargs):
        kwargs.pop("filters", None)
        kwargs.pop("kernel_size", None)
        kwargs.setdefault("gain", 1.0)
        super().__init__(channels, 1, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["channels"] = config.pop("filters")
        config.pop("kernel_size")
        return config


@keras.saving.register_keras_serializable("keras_gans")
class FromRGB(EqualizedConv2D):
    """Image -> features: an equalized 1x1 conv and leaky ReLU 0.2 (official ``fromrgb``)."""

    def __init__(self, filters, **kwargs):
        kwargs.pop("kernel_size", None)
        super().__init__(filters, 1, **kwargs)

    def call(self, x):
        return leaky_relu(super().call(x))

    def get_config(self):
        config = super().get_config()
        config.pop("kernel_size")
        return config


@keras.saving.register_keras_serializable("keras_gans")
class FadeIn(keras.layers.Layer):
    """``[old, new, alpha] -> old + (new - old) * alpha``: the growing network's blend.

    ``alpha`` is a scalar tensor (0 = only the old, lower-resolution path; 1 = only the new
    layers), official ``lerp_clip(img, images_out, lod_in - lod)`` with ``alpha = 1 - frac(lod)``;
    it is clipped to [0, 1].
    """

    def call(self, inputs):
        old, new, alpha = inputs
        alpha = ops.clip(ops.cast(alpha, old.dtype), 0.0, 1.0)
        return old + (new - old) * alpha

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


def leaky_relu(x, alpha=0.2):
    """Leaky ReLU 0.2, the activation of every ProGAN / StyleGAN hidden layer."""
    return ops.leaky_relu(x, negative_slope=alpha)


def feature_maps(fmap_base, fmap_decay, fmap_max):
    """The official feature-map table ``nf(stage) = min(fmap_base / 2**(stage * decay), fmap_max)``;
    stage ``s`` feeds the ``2**(s+1)`` resolution block (``nf(res_log2 - 1)``)."""

    def nf(stage):
        return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)

    return nf
