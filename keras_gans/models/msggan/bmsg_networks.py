"""MSG-ProGAN as its official code builds it: akanimax/BMSG-GAN (PyTorch).

akanimax/msg-stylegan-tf's README names akanimax/BMSG-GAN as the MSG-ProGAN code of the paper
(Karnewar & Wang, "MSG-GAN: Multi-Scale Gradients for Generative Adversarial Networks", CVPR 2020,
arXiv 1903.06048). Citations below are ``file:line`` of that repository at commit 863b1f37
(``sourcecode/MSG_GAN/GAN.py``, ``sourcecode/MSG_GAN/CustomLayers.py``); the code here is a
channels-last Keras rewrite, not a copy.

Widths follow BMSG-GAN, which sizes both networks from the latent size alone (the discriminator's
``feature_size`` is the generator's ``latent_size``, GAN.py:230-238), not from ProGAN's
``fmap_base`` table: with ``F = latent_dim`` and ``depth = log2(resolution) - 1`` blocks,

- generator (GAN.py:48-66): 4x4 block ``F`` maps; block ``i`` (0-based, resolution
  ``2**(i + 3)``) ``F`` maps for ``i <= 2``, then ``F / 2**(i - 2)`` (so ``F`` up to 32x32,
  ``F/2`` at 64x64, ... ``F/32`` at 1024x1024);
- discriminator (GAN.py:143-169): the general block at resolution ``2**(i + 3)`` takes
  ``F`` channels and gives ``F/2`` for ``i <= 2``, else takes and gives ``F / 2**(i - 2)``; the
  image of every scale below the top goes through a linear 1x1 conv to half the block's input
  width (``F/2``, or ``F / 2**(i - 1)`` for ``i > 2``), which is concatenated *in front of* the
  activations coming up (``lin_cat``, GAN.py:195-201); the top image's 1x1 conv gives the whole
  top block width (GAN.py:167-169, 193); the 4x4 image gets ``F/2`` (GAN.py:144, 204-205) in
  front of the ``F/2`` activations of the last general block, and the final block takes ``F``.

The official code asserts ``depth >= 4`` in effect (GAN.py:168-169 computes
``2**(depth - 4)`` with NumPy integers, which fails below 32x32); the same width rule is
applied here from 8x8 up. It is unconditional and three-channel; here ``channels`` sets the image
channels and ``num_classes > 0`` adds the class conditioning every keras-gans model accepts (not
in BMSG-GAN): the one-hot class is concatenated to z before the latent normalization, and the
last 1x1 conv gives one score per class of which D returns the requested class's ("LabelSwitch",
as ``MSGDiscriminator``).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.progan import SQRT2, EqualizedConv2D, EqualizedDense, PixelNorm, ToRGB, leaky_relu


def _depth(resolution):
    log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 8 or 2 ** log2 != resolution:
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    return log2 - 1


def _check_width(latent_dim, depth, what):
    if latent_dim < 1 or latent_dim & (latent_dim - 1):
        raise ValueError(f"{what} must be a power of two (BMSG-GAN GAN.py:29, 123), got {latent_dim}")
    if latent_dim < 2 ** max(depth - 4, 1):
        raise ValueError(f"{what} {latent_dim} is too small for {2 ** (depth + 1)}x{2 ** (depth + 1)}: "
                         f"the widths halve down to {what} / {2 ** max(depth - 4, 1)} (GAN.py:31-32)")


def generator_widths(latent_dim, resolution):
    """``{resolution: feature maps}`` of BMSG-GAN's generator blocks (GAN.py:48-66)."""
    depth = _depth(resolution)
    widths = {4: latent_dim}
    for i in range(depth - 1):
        widths[2 ** (i + 3)] = latent_dim if i <= 2 else latent_dim // 2 ** (i - 2)
    return widths


def discriminator_widths(feature_size, resolution):
    """``{resolution: (block input width, block output width, width of the image's 1x1 conv)}``
    of BMSG-GAN's discriminator (GAN.py:143-169); 4x4 is the final block (input ``F``, the 4x4
    image's conv ``F/2``)."""
    depth = _depth(resolution)
    f = feature_size
    widths = {4: (f, 1, f // 2)}
    for i in range(depth - 1):
        width_in, width_out = (f, f // 2) if i <= 2 else (f // 2 ** (i - 2), f // 2 ** (i - 2))
        rgb = f // 2 if i <= 2 else f // 2 ** (i - 1)
        if i == depth - 2:  # the top image's converter gives the whole block input (GAN.py:168-169)
            rgb = width_in
        widths[2 ** (i + 3)] = (width_in, width_out, rgb)
    return widths


@keras.saving.register_keras_serializable("keras_gans")
class EqualizedLatentDeconv(keras.layers.Layer):
    """Latent vector -> ``size x size`` feature map: BMSG-GAN's first "deconv".

    ``GenInitialBlock.conv_1`` (CustomLayers.py:191-193, 215-220) is ``_equalized_deconv2d(c, c,
    (4, 4), bias=True)`` applied to the latent viewed as a ``[B, c, 1, 1]`` image: a transposed
    conv of a 1x1 input, i.e. ``out[b, h, w, o] = sum_i z[b, i] W[i, h, w, o] * s + bias[o]``.
    Its run-time scale uses ``fan_in = c_in`` (CustomLayers.py:90-91, not ``c_in * 16``):
    ``s = sqrt(2) / sqrt(c_in)``; weights N(0, 1), one bias per output channel, zero-initialized
    (CustomLayers.py:79-88). Parameters: ``c_in * size**2 * filters + filters``.

    Args:
        filters: output channels.
        size: output side (4).
        gain: sqrt(2) as the official ``scale``.
    """

    def __init__(self, filters, size=4, gain=SQRT2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.size = int(size)
        self.gain = float(gain)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.gain / math.sqrt(fan_in)
        self.kernel = self.add_weight(name="kernel", shape=(fan_in, self.size, self.size, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, z):
        w = ops.cast(self.kernel, z.dtype) * ops.cast(self.scale, z.dtype)
        return ops.einsum("bi,ihwo->bhwo", z, w) + ops.cast(self.bias, z.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "size": self.size, "gain": self.gain}


@keras.saving.register_keras_serializable("keras_gans")
class BatchStdDev(keras.layers.Layer):
    """BMSG-GAN's ``MinibatchStdDev`` (CustomLayers.py:310-346): one statistic of the whole batch.

    ``y = sqrt(mean_b((x - mean_b x)^2) + 1e-8)`` per feature and pixel (CustomLayers.py:330-334,
    the biased variance, epsilon inside the root), averaged over every feature and pixel to a
    single scalar (CustomLayers.py:336-337), broadcast to a ``[B, H, W, 1]`` map and appended as
    the last channel (CustomLayers.py:339-343). That is ProGAN's minibatch stddev with one group
    holding the whole batch. Statistics in float32. Under a distribution strategy the batch is
    each replica's (BMSG-GAN keeps the final block out of ``DataParallel``, GAN.py:178-181, so
    its batch is the whole one).
    """

    def call(self, x):
        y = ops.cast(x, "float32")
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)   # [H, W, C]
        y = ops.cast(ops.mean(y), x.dtype)                       # scalar
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        return ops.concatenate([x, ops.broadcast_to(ops.reshape(y, (1, 1, 1, 1)), (b, h, w, 1))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


@keras.saving.register_keras_serializable("keras_gans")
class BMSGGenerator(keras.Model):
    """BMSG-GAN's MSG-ProGAN generator: z (+ class) -> a tuple of images, 4x4 first.

    - latents: normalized to the sphere of radius ``sqrt(latent_dim)``, ``z / |z| *
      sqrt(latent_dim)`` (the training loop's ``normalize_latents=True``, GAN.py:432-436, also
      applied to the sampling latents, GAN.py:400-403); here inside the model, as a pixel norm
      ``z / sqrt(mean(z^2) + 1e-8)`` (the same up to the 1e-8), so samples and exports see it too;
    - 4x4 block (``GenInitialBlock``, CustomLayers.py:175-226): ``EqualizedLatentDeconv`` to a
      4x4 map, leaky ReLU 0.2, equalized conv3x3 (bias), leaky ReLU, *then* pixel norm (none
      after the deconv);
    - each higher block (``GenGeneralConvBlock``, CustomLayers.py:229-275): nearest 2x upsample
      (``interpolate(scale_factor=2)``), conv3x3, leaky ReLU, pixel norm, conv3x3, leaky ReLU,
      pixel norm (``pixNorm(lrelu(conv(y)))``); the upsample is folded into the first conv
      (``EqualizedConv2D(resample="up")``: the same values up to float32 rounding);
    - ToRGB after every block (GAN.py:41-43, 77-79): an equalized 1x1 conv with bias and the
      same ``sqrt(2)/sqrt(fan_in)`` scale as every BMSG-GAN layer (CustomLayers.py:39-40), i.e.
      gain sqrt(2) (ProGAN's ``torgb`` has gain 1); outputs are linear (no tanh, GAN.py:68-81).

    Every convolution is ``_equalized_conv2d`` (``use_eql`` default True, train.py:134-136): N(0, 1)
    weights times ``sqrt(2)/sqrt(fan_in)`` at run time, zero-initialized biases. Pixel norm has
    epsilon 1e-8 (CustomLayers.py:159-168). Widths: ``generator_widths``.

    Args:
        resolution: output side (power of two >= 8).
        channels: image channels (BMSG-GAN: 3).
        latent_dim: z size, a power of two; also the width (``latent_size``, 512).
        num_classes: 0 (BMSG-GAN is unconditional); > 0 concatenates the one-hot class to z.
        normalize_latents: the latent normalization above (True).

    Example:
        >>> g = BMSGGenerator(resolution=32, latent_dim=512)   # CIFAR-10: depth 4
        >>> img4, img8, img16, img32 = g(z)
    """

    def __init__(self, resolution, channels=3, latent_dim=512, num_classes=0, normalize_latents=True,
                 **kwargs):
        super().__init__(**kwargs)
        depth = _depth(resolution)
        _check_width(int(latent_dim), depth, "latent_dim")
        # === Config ===
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.normalize_latents = bool(normalize_latents)
        self.widths = generator_widths(self.latent_dim, self.resolution)
        self.resolutions = sorted(self.widths)
        # === Layers (one attribute each: tf.train.Checkpoint does not follow Keras' lists) ===
        self.latent_norm = PixelNorm(1e-8, name="latent_norm")
        self.norm = PixelNorm(1e-8, name="pixel_norm")
        self.deconv4 = EqualizedLatentDeconv(self.widths[4], 4, name="4x4_deconv")
        self.conv4 = EqualizedConv2D(self.widths[4], 3, name="4x4_conv")
        for r in self.resolutions[1:]:
            # interpolate(scale_factor=2) then conv_1: one folded convolution (resample="up")
            setattr(self, f"conv{r}_0", EqualizedConv2D(self.widths[r], 3, resample="up",
                                                        name=f"{r}x{r}_conv0"))
            setattr(self, f"conv{r}_1", EqualizedConv2D(self.widths[r], 3, name=f"{r}x{r}_conv1"))
        for r in self.resolutions:
            setattr(self, f"to_rgb{r}", ToRGB(self.channels, gain=SQRT2, name=f"to_rgb_{r}x{r}"))

    def call(self, inputs, training=None):
        if self.num_classes:
            z, class_id = inputs
            onehot = ops.one_hot(ops.cast(class_id, "int32"), self.num_classes, dtype=z.dtype)
            x = ops.concatenate([z, onehot], axis=-1)
        else:
            x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        if self.normalize_latents:
            x = self.latent_norm(x)
        x = leaky_relu(self.deconv4(x))
        x = self.norm(leaky_relu(self.conv4(x)))
        outs = [self.to_rgb4(x)]
        for r in self.resolutions[1:]:
            x = self.norm(leaky_relu(getattr(self, f"conv{r}_0")(x)))  # upsamples first
            x = self.norm(leaky_relu(getattr(self, f"conv{r}_1")(x)))
            outs.append(getattr(self, f"to_rgb{r}")(x))
        return tuple(ops.cast(o, "float32") for o in outs)

    def build(self, input_shape=None):
        z = ops.zeros((1, self.latent_dim))
        self.call([z, ops.zeros((1,), "int32")] if self.num_classes else z)
        self.built = True

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "normalize_latents": self.normalize_latents, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable("keras_gans")
class BMSGDiscriminator(keras.Model):
    """BMSG-GAN's MSG-ProGAN discriminator: ``[img_4, ..., img_R(, class_id)]`` -> [B, 1] scores.

    ``Discriminator.forward`` (GAN.py:183-209), top resolution first:

    - the top image through a linear equalized 1x1 conv with bias (``from_rgb``, GAN.py:136-138:
      no activation) to the top block's input width, then that block;
    - every lower scale ``r > 4`` (``lin_cat``): its image through a linear 1x1 conv with bias to
      *half* the block's input width, concatenated in front of the incoming activations (the
      other half: ``th.cat((input_part, y), dim=1)``, GAN.py:199-200), then the block;
    - general block (``DisGeneralConvBlock``, CustomLayers.py:406-449): conv3x3 (input width),
      leaky ReLU 0.2, conv3x3 (output width), leaky ReLU, then 2x2 average pool (the pool comes
      after the bias and the activation, unlike ProGAN's fused ``conv2d_downscale2d``);
    - 4x4: the 4x4 image's 1x1 conv to ``F/2`` in front of the ``F/2`` activations
      (GAN.py:204-205), then the final block (``DisFinalBlock``, CustomLayers.py:349-403):
      minibatch stddev of the whole batch (``BatchStdDev``, appended last), conv3x3 ``F+1 -> F``
      (padding 1), leaky ReLU, conv4x4 ``F -> F`` without padding (4x4 -> 1x1; here the
      equivalent equalized dense of the flattened 4x4 map, fan-in ``16 F``), leaky ReLU, 1x1
      conv ``F -> 1`` (linear, gain sqrt(2) like every BMSG-GAN layer).

    Only the final block has a minibatch stddev (group: the whole batch); every layer is equalized
    (``use_eql``: ``Discriminator`` is always built with ``use_eql=True`` off CUDA and with the
    flag, default True, on it, GAN.py:233-238, train.py:134-136). Widths: ``discriminator_widths``.

    Args:
        resolution: highest input side (power of two >= 8).
        channels: image channels (BMSG-GAN: 3).
        feature_size: ``F``, a power of two (BMSG-GAN passes the latent size, 512).
        num_classes: 0 (BMSG-GAN is unconditional); > 0: one score per class, the requested
            one returned (LabelSwitch).

    Example:
        >>> d = BMSGDiscriminator(resolution=32, feature_size=512)
        >>> scores = d([img4, img8, img16, img32])  # [B, 1]
    """

    def __init__(self, resolution, channels=3, feature_size=512, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        depth = _depth(resolution)
        _check_width(int(feature_size), depth, "feature_size")
        # === Config ===
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.feature_size = int(feature_size)
        self.num_classes = int(num_classes)
        self.widths = discriminator_widths(self.feature_size, self.resolution)
        self.resolutions = sorted(self.widths)
        f = self.feature_size
        # === Layers (one attribute each: tf.train.Checkpoint does not follow Keras' lists) ===
        for r in self.resolutions:
            rgb = self.widths[r][2]
            setattr(self, f"from_rgb{r}", EqualizedConv2D(rgb, 1, name=f"{r}x{r}_from_rgb"))
        for r in self.resolutions[1:]:
            width_in, width_out, _ = self.widths[r]
            setattr(self, f"conv{r}_0", EqualizedConv2D(width_in, 3, name=f"{r}x{r}_conv0"))
            setattr(self, f"conv{r}_1", EqualizedConv2D(width_out, 3, name=f"{r}x{r}_conv1"))
        self.mbstd = BatchStdDev(name="batch_stddev")
        self.conv4 = EqualizedConv2D(f, 3, name="4x4_conv")
        self.conv4x4 = EqualizedDense(f, name="4x4_conv4x4")     # conv (4, 4), no padding
        self.score = EqualizedDense(max(self.num_classes, 1), name="4x4_conv1x1")

    def call(self, inputs, training=None):
        inputs = list(inputs)
        class_id = inputs.pop() if self.num_classes else None
        if len(inputs) != len(self.resolutions):
            raise ValueError(f"BMSGDiscriminator expects {len(self.resolutions)} images "
                             f"({self.resolutions}), got {len(inputs)}")
        x = None
        for r, image in zip(reversed(self.resolutions), reversed(inputs)):
            part = getattr(self, f"from_rgb{r}")(ops.cast(image, self.compute_dtype))
            x = part if x is None else ops.concatenate([part, x], axis=-1)
            if r == 4:
                break
            x = leaky_relu(getattr(self, f"conv{r}_0")(x))
            x = leaky_relu(getattr(self, f"conv{r}_1")(x))
            x = ops.average_pool(x, pool_size=2, strides=2, padding="valid")
        x = leaky_relu(self.conv4(self.mbstd(x)))
        x = leaky_relu(self.conv4x4(x))
        x = self.score(x)
        if self.num_classes:
            onehot = ops.one_hot(ops.cast(class_id, "int32"), self.num_classes, dtype=x.dtype)
            x = ops.sum(x * onehot, axis=-1, keepdims=True)
        return ops.cast(x, "float32")

    def build(self, input_shape=None):
        images = [ops.zeros((4, r, r, self.channels)) for r in self.resolutions]
        self.call(images + ([ops.zeros((4,), "int32")] if self.num_classes else []))
        self.built = True

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "feature_size": self.feature_size, "num_classes": self.num_classes,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
