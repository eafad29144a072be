"""StyleGAN-1 building blocks (Karras et al. 2019), used by the MSG-StyleGAN generator.

After akanimax/msg-stylegan-tf ``training/networks_stylegan.py`` (the StyleGAN-1 code of
NVlabs/stylegan with MSG-GAN outputs): ``_blur2d`` / ``blur2d``, ``apply_noise``,
``apply_bias``, ``instance_norm``, ``style_mod``, the learned constant of ``G_synthesis`` and the
``dlatent_avg`` tracking and truncation trick of ``G_style``. Channels last (the official code is
NCHW); keras.ops only. The equalized-lr layers they build on are in ``keras_gans.layers.progan``.

The official ``blur2d`` and ``upscale2d`` wrap their ops in ``tf.custom_gradient`` only for speed
(the gradient of a blur is the blur with the flipped filter); here automatic differentiation
computes the same gradients.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_gans.layers.progan import EqualizedDense


@keras.saving.register_keras_serializable("keras_gans")
class Blur2D(keras.layers.Layer):
    """Depthwise low-pass filter, stride 1, 'same' (zero) padding (official ``_blur2d``).

    The 2-D kernel is the outer product of the 1-D ``filter`` with itself, divided by its sum
    when ``normalize``; every channel is filtered separately (a cross-correlation, as
    ``tf.nn.depthwise_conv2d``). Computed in float32 (the official code casts too).

    Args:
        filter: 1-D filter taps (StyleGAN's ``blur_filter = [1, 2, 1]``).
        normalize: divide the kernel by its sum (so a constant image is kept away from borders).
    """

    def __init__(self, filter=(1, 2, 1), normalize=True, **kwargs):  # noqa: A002 (official name)
        super().__init__(**kwargs)
        taps = [float(v) for v in np.asarray(filter, dtype="float64").reshape(-1)]
        if not taps:
            raise ValueError("Blur2D needs at least one filter tap")
        self.filter = taps
        self.normalize = bool(normalize)
        kernel = np.outer(taps, taps)
        if self.normalize:
            total = kernel.sum()
            if total == 0:
                raise ValueError(f"Blur2D: the filter {taps} sums to 0 and cannot be normalized")
            kernel = kernel / total
        self._kernel_2d = kernel.astype("float32")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self._kernel_2d
        # [kh, kw, channels, 1]: the same filter for every channel.
        self._depthwise = np.tile(k[:, :, None, None], (1, 1, channels, 1)).astype("float32")

    def call(self, x):
        if self._kernel_2d.shape == (1, 1) and self._kernel_2d[0, 0] == 1.0:
            return x  # the official no-op early exit
        y = ops.depthwise_conv(ops.cast(x, "float32"), ops.convert_to_tensor(self._depthwise),
                               strides=1, padding="same")
        return ops.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "filter": list(self.filter), "normalize": self.normalize}


@keras.saving.register_keras_serializable("keras_gans")
class NoiseInjection(keras.layers.Layer):
    """Per-pixel noise with a learned per-channel strength: ``x + noise * weight[c]``
    (official ``apply_noise``).

    ``noise`` is [B, H, W, 1], N(0, 1), shared by all channels; ``weight`` [C] starts at zero,
    so a fresh layer is the identity. In training the noise is drawn afresh on every call
    (official ``randomize_noise=True``). At inference (``training`` false) it is drawn afresh
    too when ``randomize_at_inference``, else it is the layer's fixed noise map, a
    non-trainable N(0, 1) variable [1, H, W, 1] (official ``randomize_noise=False``, which reads
    the ``noise%d`` variables; the official figure scripts sample that way), so a generator
    and its exports are deterministic functions of their inputs. Pass ``noise=``
    (broadcastable to [B, H, W, 1]) to choose it. Under a ``MirroredStrategy`` every replica
    draws from the same seed state (Keras' ``SeedGenerator``).

    With ``per_channel=False`` the strength is one scalar (``weight`` of shape [1]) shared by all
    channels: FastGAN's ``NoiseInjection`` (autonomousvision/projected_gan pg_modules/blocks.py
    L254-264: ``weight = nn.Parameter(torch.zeros(1))``, noise ``randn(B, 1, H, W)``). That
    official layer draws fresh noise in eval mode too; with the default
    ``randomize_at_inference=False`` this layer keeps the convention above (fresh in training,
    the fixed map at inference), so exports stay deterministic.

    Args:
        seed: seed of the layer's ``keras.random.SeedGenerator`` and of the fixed noise map
            (None = random).
        randomize_at_inference: fresh noise at inference too.
        per_channel: one strength per channel (StyleGAN, default) or a single scalar (FastGAN).
    """

    def __init__(self, seed=None, randomize_at_inference=False, per_channel=True, **kwargs):
        super().__init__(**kwargs)
        self.seed = None if seed is None else int(seed)
        self.randomize_at_inference = bool(randomize_at_inference)
        self.per_channel = bool(per_channel)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        width = int(input_shape[-1]) if self.per_channel else 1
        self.weight = self.add_weight(name="weight", shape=(width,), initializer="zeros")
        self.fixed_noise = None
        if not self.randomize_at_inference:
            if input_shape[1] is None or input_shape[2] is None:
                raise ValueError("NoiseInjection with fixed inference noise needs a static H and W")
            self.fixed_noise = self.add_weight(
                name="fixed_noise", shape=(1, int(input_shape[1]), int(input_shape[2]), 1),
                initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed),
                trainable=False)

    def call(self, x, noise=None, training=None):
        if noise is None and not training and self.fixed_noise is not None:
            noise = self.fixed_noise
        if noise is None:
            shape = ops.shape(x)
            h = x.shape[1] if x.shape[1] is not None else shape[1]
            w = x.shape[2] if x.shape[2] is not None else shape[2]
            noise = keras.random.normal((shape[0], h, w, 1), seed=self.seed_generator)
        return x + ops.cast(noise, x.dtype) * ops.cast(self.weight, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed,
                "randomize_at_inference": self.randomize_at_inference,
                "per_channel": self.per_channel}


@keras.saving.register_keras_serializable("keras_gans")
class Bias(keras.layers.Layer):
    """A learned per-channel bias (last axis), zero-initialized, times ``lr_multiplier``
    (official ``apply_bias``).

    StyleGAN adds it after the noise (and after the blur of the upsampling layers), so it is a
    layer of its own rather than the bias of the preceding convolution: with zero padding a blur
    does not preserve a constant near the borders.

    Args:
        lr_multiplier: StyleGAN's ``lrmul``.
    """

    def __init__(self, lr_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(int(input_shape[-1]),), initializer="zeros")

    def call(self, x):
        return x + ops.cast(self.bias, x.dtype) * ops.cast(self.lr_multiplier, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "lr_multiplier": self.lr_multiplier}


@keras.saving.register_keras_serializable("keras_gans")
class InstanceNorm(keras.layers.Layer):
    """Instance normalization without affine parameters (official ``instance_norm``):
    per example and channel, ``x -= mean_hw(x); x *= rsqrt(mean_hw(x^2) + epsilon)``, in float32.

    Args:
        epsilon: added to the variance.
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        y = ops.cast(x, "float32")
        y = y - ops.mean(y, axis=(1, 2), keepdims=True)
        y = y * ops.rsqrt(ops.mean(ops.square(y), axis=(1, 2), keepdims=True) + self.epsilon)
        return ops.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable("keras_gans")
class StyleMod(keras.layers.Layer):
    """Style modulation (AdaIN's affine part), official ``style_mod``: called as
    ``layer([x, w])`` with ``x`` [B, H, W, C] and ``w`` [B, D]::

        style = EqualizedDense(2 * C, gain=1)(w)        # with bias
        out = x * (style[:, :C] + 1) + style[:, C:]     # broadcast over H, W

    Args:
        lr_multiplier: ``lrmul`` of the affine dense layer (1 in StyleGAN).
    """

    def __init__(self, lr_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        self.channels = int(x_shape[-1])
        self.dense = EqualizedDense(2 * self.channels, gain=1.0, lr_multiplier=self.lr_multiplier,
                                    dtype=self.dtype_policy, name="dense")
        self.dense.build(tuple(w_shape))

    def call(self, inputs):
        x, w = inputs
        style = ops.cast(self.dense(w), x.dtype)
        c = self.channels
        scale = style[:, None, None, :c] + 1.0
        shift = style[:, None, None, c:]
        return x * scale + shift

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "lr_multiplier": self.lr_multiplier}


@keras.saving.register_keras_serializable("keras_gans")
class ConstantInput(keras.layers.Layer):
    """The learned constant that starts StyleGAN's synthesis network (official ``G_synthesis``
    ``4x4/Const``): a [1, size, size, channels] weight initialized to ones, tiled to the batch of
    the input (any tensor whose first axis is the batch, e.g. the dlatents; its values are
    unused).

    Args:
        channels: feature maps (``nf(1)``).
        size: spatial side (4).
    """

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape):
        self.const = self.add_weight(name="const", shape=(1, self.size, self.size, self.channels),
                                     initializer="ones")

    def call(self, x):
        batch = ops.shape(x)[0]
        return ops.tile(ops.cast(self.const, self.compute_dtype), (batch, 1, 1, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size}


@keras.saving.register_keras_serializable("keras_gans")
class DlatentAverage(keras.layers.Layer):
    """Tracks the mean dlatent and applies the truncation trick (official ``G_style``, scopes
    ``DlatentAvg`` and ``Truncation``). ``w`` [B, D] -> ``[w_truncated, w]``.

    - ``training=True``: ``dlatent_avg = lerp(mean_batch(w), dlatent_avg, beta)`` (i.e.
      ``beta * avg + (1 - beta) * batch_mean``); both outputs are ``w`` (no truncation while
      training, as the official ``is_training``).
    - otherwise: no update; ``w_truncated = avg + psi * (w - avg)``. The generator feeds
      ``w_truncated`` to the first ``truncation_cutoff`` style inputs and ``w`` to the others.

    ``dlatent_avg`` [D] starts at zero, is float32 and non-trainable, and is created with
    ``aggregation="mean"``: under a ``tf.distribute`` strategy the per-replica updates are
    averaged, so every replica holds the average over the global batch.

    Args:
        beta: decay of the moving average (``dlatent_avg_beta``, 0.995); None or 1 = no update.
        truncation_psi: style strength (0.7); None or 1 = no truncation.
    """

    def __init__(self, beta=0.995, truncation_psi=0.7, **kwargs):
        super().__init__(**kwargs)
        self.beta = None if beta is None else float(beta)
        self.truncation_psi = None if truncation_psi is None else float(truncation_psi)

    def build(self, input_shape):
        self.dlatent_avg = self.add_weight(name="dlatent_avg", shape=(int(input_shape[-1]),),
                                           initializer="zeros", trainable=False, autocast=False,
                                           dtype="float32", aggregation="mean")

    def call(self, w, training=None):
        if training:
            if self.beta is not None and self.beta != 1.0:
                batch_avg = ops.mean(ops.cast(w, "float32"), axis=0)
                avg = ops.convert_to_tensor(self.dlatent_avg)
                self.dlatent_avg.assign(batch_avg + (avg - batch_avg) * self.beta)
            return [w, w]
        if self.truncation_psi is None or self.truncation_psi == 1.0:
            return [w, w]
        avg = ops.cast(self.dlatent_avg, w.dtype)
        return [avg + (w - avg) * ops.cast(self.truncation_psi, w.dtype), w]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape), tuple(input_shape)]

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "truncation_psi": self.truncation_psi}
