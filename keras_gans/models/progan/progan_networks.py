"""ProGAN generator and discriminator (Karras et al. 2018) that grow from 4x4.

After tkarras/progressive_growing_of_gans networks.py ``G_paper`` / ``D_paper``. Both are
``keras.Model`` subclasses whose Python *stage* (``set_stage(resolution, fading)``) selects the
active blocks, and whose fade weight ``fade_alpha`` is a non-trainable variable that the
``GAN`` train step sets from images seen (``keras_gans.training.growth``). As in the official
"recursive" structure, inputs and outputs always have the final resolution: the generator's
image is nearest-upsampled from the stage resolution, the discriminator box-downsamples its
input first, so data, exports and sample grids never change shape; only the traced graph
changes, once per stage.

``ProGANGenerator(multi_scale=True)`` is the MSG-ProGAN generator: all blocks, no growing,
one ToRGB output per resolution (akanimax/msg-stylegan-tf networks_stylegan.py ``G_synthesis``
returns ``images_out`` at every scale; BMSG-GAN ``Generator.forward`` likewise).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.progan import (SQRT2, EqualizedConv2D, EqualizedDense, FadeIn,
                                      FromRGB, MinibatchStdDev, PixelNorm, ToRGB, Upsample,
                                      feature_maps, leaky_relu)
from keras_gans.layers.stylegan import Bias


def _log2(resolution, name="resolution"):
    log2 = int(round(math.log2(resolution))) if resolution > 0 else -1
    if resolution < 4 or 2 ** log2 != resolution:
        raise ValueError(f"{name} must be a power of two >= 4, got {resolution}")
    return log2


class _Growing:
    """Stage handling shared by the growing generator and discriminator."""

    def _init_stage(self):
        # Set by the GAN train step each step; identical on every replica.
        self.fade_alpha = self.add_weight(name="fade_alpha", shape=(), initializer="ones",
                                          trainable=False, aggregation="only_first_replica")
        self.stage_resolution = self.resolution
        self.stage_fading = False

    def set_stage(self, resolution: int, fading: bool = False):
        """Run at ``resolution`` (blending its new layers in by ``fade_alpha`` if ``fading``).

        A new stage needs a new trace of any ``tf.function`` calling the model (the ``GAN``
        resets its train function)."""
        _log2(resolution, "stage resolution")
        if resolution > self.resolution or (resolution < self.min_resolution):
            raise ValueError(f"stage resolution {resolution} is outside "
                             f"[{self.min_resolution}, {self.resolution}]")
        if fading and resolution == self.min_resolution:
            raise ValueError(f"cannot fade into the first resolution {resolution}")
        self.stage_resolution = int(resolution)
        self.stage_fading = bool(fading)

    @property
    def min_resolution(self):
        return 4


def add_discriminator_layers(net, resolutions, nf, mbstd_group_size, mbstd_num_features):
    """The layers ProGAN's and MSG-GAN's discriminators share, as attributes of ``net``: per
    block above 4x4 ``conv{r}_0`` (``nf(res-1)``) and ``conv{r}_1`` (``nf(res-2)``), then the
    minibatch stddev, the 4x4 conv, two dense layers (the last with one output per class, or
    1 + classes with an auxiliary classifier) and the pooling."""
    for r in resolutions[1:]:
        k = int(math.log2(r))
        setattr(net, f"conv{r}_0", EqualizedConv2D(nf(k - 1), 3, name=f"{r}x{r}_conv0"))
        setattr(net, f"conv{r}_1", EqualizedConv2D(nf(k - 2), 3, name=f"{r}x{r}_conv1"))
    net.mbstd = (MinibatchStdDev(mbstd_group_size, mbstd_num_features, name="mbstd")
                 if mbstd_group_size > 1 else None)
    net.conv4 = EqualizedConv2D(nf(1), 3, name="4x4_conv")
    net.dense0 = EqualizedDense(nf(0), name="4x4_dense0")
    units = 1 + net.num_classes if getattr(net, "auxiliary_classes", False) else max(net.num_classes, 1)
    net.dense1 = EqualizedDense(units, gain=1.0, name="4x4_dense1")


def score_head(net, x, class_id=None):
    """The end of the 4x4 block shared by ProGAN's and MSG-GAN's discriminators: conv3x3
    (``net.conv4``), dense (``net.dense0``), dense to one score per class (``net.dense1``), and
    with ``net.num_classes`` the requested class's score ("LabelSwitch"); [B, 1] float32. With
    ``net.auxiliary_classes`` (AC-GAN) the last dense has 1 + classes outputs, split as official
    ``scores_out = combo_out[:, :1]``, ``labels_out = combo_out[:, 1:]`` (networks.py ``D_paper``):
    ``{"score": [B, 1], "class_logits": [B, classes]}``, float32."""
    x = leaky_relu(net.conv4(x))
    x = leaky_relu(net.dense0(x))
    x = net.dense1(x)
    if getattr(net, "auxiliary_classes", False):
        x = ops.cast(x, "float32")
        return {"score": x[:, :1], "class_logits": x[:, 1:]}
    if net.num_classes:
        onehot = ops.one_hot(ops.cast(class_id, "int32"), net.num_classes, dtype=x.dtype)
        x = ops.sum(x * onehot, axis=-1, keepdims=True)
    return ops.cast(x, "float32")


@keras.saving.register_keras_serializable("keras_gans")
class ProGANGenerator(_Growing, keras.Model):
    """ProGAN's generator: latent (+ one-hot class) -> images at the final resolution.

    Layout of ``G_paper`` (networks.py): pixel-normalized latents; 4x4 block = equalized dense
    to ``nf(1) * 16`` (gain sqrt(2)/4, "to match the original Theano implementation"), reshape,
    one bias per channel (``apply_bias`` of the 4-D tensor, networks.py lines 184-186), leaky ReLU, pixel norm, conv3x3, leaky ReLU, pixel norm; each higher block = nearest 2x
    upsample, two conv3x3 each followed by leaky ReLU 0.2 and pixel norm; ToRGB = linear 1x1
    conv, gain 1, at every resolution. Feature maps ``nf(stage) = min(fmap_base / 2**stage,
    fmap_max)`` with ``nf(res_log2 - 1)`` channels at resolution ``2**res_log2``. Outputs are
    linear (no tanh), as official.

    Growing (``multi_scale=False``): at stage resolution ``r`` the output is ToRGB_r of the
    ``r`` block, blended while fading with the upsampled ToRGB_{r/2} of the previous block
    (``FadeIn``), then nearest-upsampled to ``resolution``.

    Label conditioning (``num_classes > 0``): the one-hot class is concatenated to the latent
    before the pixel norm (official ``combo_in``).

    Args:
        resolution: final output side (power of two >= 4).
        channels: output channels.
        latent_dim: size of z (official default ``nf(0)``, min(fmap_base, fmap_max)).
        num_classes: 0 for unconditional.
        fmap_base, fmap_decay, fmap_max: the feature-map table (8192, 1.0, 512 official).
        normalize_latents: pixel-normalize the (latent, label) input.
        use_pixelnorm: pixel norm after every conv.
        pixelnorm_epsilon: 1e-8 (1e-4 for float16 training).
        multi_scale: MSG-ProGAN: return a tuple of images at every resolution, 4x4 first, and
            never grow.

    Example:
        >>> g = ProGANGenerator(resolution=32, channels=3, fmap_base=2048, fmap_max=256)
        >>> g.set_stage(8, fading=True)   # the GAN sets fade_alpha every step
        >>> images = g(z)                  # [B, 32, 32, 3], an 8x8 image upsampled

    Reference: Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and
    Variation" (ICLR 2018, arXiv 1710.10196); Karnewar & Wang, "MSG-GAN" (CVPR 2020,
    arXiv 1903.06048).
    """

    def __init__(self, resolution, channels=3, latent_dim=None, num_classes=0, fmap_base=8192,
                 fmap_decay=1.0, fmap_max=512, normalize_latents=True, use_pixelnorm=True,
                 pixelnorm_epsilon=1e-8, multi_scale=False, **kwargs):
        super().__init__(**kwargs)
        log2 = _log2(resolution)
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        # === Config ===
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.latent_dim = int(latent_dim or nf(0))
        self.num_classes = int(num_classes)
        self.fmap_base, self.fmap_decay, self.fmap_max = fmap_base, fmap_decay, fmap_max
        self.normalize_latents = bool(normalize_latents)
        self.use_pixelnorm = bool(use_pixelnorm)
        self.pixelnorm_epsilon = float(pixelnorm_epsilon)
        self.multi_scale = bool(multi_scale)
        self.resolutions = [2 ** r for r in range(2, log2 + 1)]
        # === Layers ===
        self.latent_norm = PixelNorm(pixelnorm_epsilon, name="latent_norm")
        self.norm = PixelNorm(pixelnorm_epsilon, name="pixel_norm")
        # networks.py G_paper lines 184-186: dense without bias, reshape to [nf, 4, 4], then
        # apply_bias (line 53: one bias per channel of the 4-D tensor), act, pixel norm.
        self.dense = EqualizedDense(nf(1) * 16, gain=SQRT2 / 4, use_bias=False, name="4x4_dense")
        self.dense_bias = Bias(name="4x4_dense_bias")
        # One attribute per layer: tf.train.Checkpoint does not follow Keras' tracked lists.
        self.conv4 = EqualizedConv2D(nf(1), 3, name="4x4_conv")
        for r in self.resolutions[1:]:
            f = nf(int(math.log2(r)) - 1)
            # upscale2d then conv2d (networks.py G_paper, fused_scale): one folded convolution
            setattr(self, f"conv{r}_0", EqualizedConv2D(f, 3, resample="up", name=f"{r}x{r}_conv0"))
            setattr(self, f"conv{r}_1", EqualizedConv2D(f, 3, name=f"{r}x{r}_conv1"))
        for r in self.resolutions:
            setattr(self, f"to_rgb{r}", ToRGB(channels, name=f"to_rgb_{r}x{r}"))
        self.up = Upsample(2, name="upsample")
        self.fade = FadeIn(name="fade_in")
        self._init_stage()
        self._fmaps4 = nf(1)

    def _act_norm(self, x):
        x = leaky_relu(x)
        return self.norm(x) if self.use_pixelnorm else x

    def call(self, inputs, training=None):
        if self.num_classes:
            z, class_id = inputs
            onehot = ops.one_hot(ops.cast(class_id, "int32"), self.num_classes, dtype=z.dtype)
            x = ops.concatenate([z, onehot], axis=-1)
        else:
            x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        if self.normalize_latents:
            x = self.latent_norm(x)
        x = self.dense_bias(ops.reshape(self.dense(x), (-1, 4, 4, self._fmaps4)))
        x = self._act_norm(x)
        x = self._act_norm(self.conv4(x))
        if self.multi_scale:
            outs = [self.to_rgb4(x)]
            for r in self.resolutions[1:]:
                x = self._block(x, r)
                outs.append(getattr(self, f"to_rgb{r}")(x))
            return tuple(ops.cast(o, "float32") for o in outs)
        stage = self.stage_resolution
        prev = x
        for r in self.resolutions[1:]:
            if r > stage:
                break
            prev, x = x, self._block(x, r)
        image = getattr(self, f"to_rgb{stage}")(x)
        if self.stage_fading:
            old = self.up(getattr(self, f"to_rgb{stage // 2}")(prev))
            image = self.fade([old, image, self.fade_alpha])
        factor = self.resolution // stage
        if factor > 1:
            image = ops.repeat(ops.repeat(image, factor, axis=1), factor, axis=2)
        return ops.cast(image, "float32")

    def _block(self, x, r):
        for i in (0, 1):  # conv0 upsamples its input
            x = self._act_norm(getattr(self, f"conv{r}_{i}")(x))
        return x

    def build(self, input_shape=None):
        z = ops.zeros((1, self.latent_dim))
        inputs = [z, ops.zeros((1,), "int32")] if self.num_classes else z
        # Build every block, whatever the stage.
        stage = (self.stage_resolution, self.stage_fading)
        self.stage_resolution, self.stage_fading = self.resolution, False
        multi = self.multi_scale
        self.multi_scale = True
        self.call(inputs)
        self.multi_scale = False
        if self.resolution > 4:  # the fade-in path (FadeIn)
            self.stage_fading = True
            self.call(inputs)
        self.multi_scale = multi
        self.stage_resolution, self.stage_fading = stage
        self.built = True

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "fmap_base": self.fmap_base, "fmap_decay": self.fmap_decay,
                "fmap_max": self.fmap_max, "normalize_latents": self.normalize_latents,
                "use_pixelnorm": self.use_pixelnorm, "pixelnorm_epsilon": self.pixelnorm_epsilon,
                "multi_scale": self.multi_scale, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable("keras_gans")
class ProGANDiscriminator(_Growing, keras.Model):
    """ProGAN's discriminator: images at the final resolution (+ class id) -> one score.

    Layout of ``D_paper`` (networks.py): FromRGB = equalized 1x1 conv + leaky ReLU; each block
    above 4x4 = conv3x3 ``nf(res-1)``, leaky ReLU, conv3x3 ``nf(res-2)``, leaky ReLU, 2x2 average
    pool; the 4x4 block = minibatch stddev (group 4), conv3x3 ``nf(1)``, dense ``nf(0)``, dense
    to the score (gain 1). Growing: at stage ``r`` the input is box-downsampled to ``r``; while
    fading, the ``r`` block's output is blended with FromRGB_{r/2} of the input downsampled to
    ``r/2`` (official ``lerp(x, fromrgb(downscale2d(images_in, ...)), lod_in - lod)``).

    Label conditioning (``num_classes > 0``), ``label_conditioning``:

    - ``"acgan"`` (official, the default): an auxiliary classifier. D does not see the labels; its
      last dense layer has 1 + classes outputs and it returns ``{"score", "class_logits"}``
      (networks.py ``D_paper`` ``combo_out``). The GAN trains the classifier with the
      cross-entropy "label penalty" on reals and fakes for D and on fakes for G, weight
      ``cond_weight`` 1 (loss.py ``D_wgangp_acgan`` / ``G_wgan_acgan``;
      ``keras_gans.losses.regularizers.LabelPenalty``, added by the builder).
    - ``"switch"``: D takes the class and scores it ("LabelSwitch" of akanimax/msg-stylegan-tf
      D_basic, from Mescheder et al. 2018): one output per class, the requested one is the score,
      and the adversarial losses apply unchanged.

    Args:
        resolution, channels, num_classes, fmap_base, fmap_decay, fmap_max: as the generator.
        mbstd_group_size: minibatch-stddev group (4; 0 disables).
        mbstd_num_features: minibatch-stddev features (1).
        label_conditioning: "acgan" | "switch" (only with ``num_classes > 0``).
    """

    LABEL_CONDITIONING = ("acgan", "switch")

    def __init__(self, resolution, channels=3, num_classes=0, fmap_base=8192, fmap_decay=1.0,
                 fmap_max=512, mbstd_group_size=4, mbstd_num_features=1,
                 label_conditioning="acgan", **kwargs):
        super().__init__(**kwargs)
        log2 = _log2(resolution)
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        if label_conditioning not in self.LABEL_CONDITIONING:
            raise ValueError(f"label_conditioning must be one of {', '.join(self.LABEL_CONDITIONING)}, "
                             f"got {label_conditioning!r}")
        # === Config ===
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.num_classes = int(num_classes)
        self.label_conditioning = label_conditioning
        self.fmap_base, self.fmap_decay, self.fmap_max = fmap_base, fmap_decay, fmap_max
        self.mbstd_group_size = int(mbstd_group_size)
        self.mbstd_num_features = int(mbstd_num_features)
        self.resolutions = [2 ** r for r in range(2, log2 + 1)]
        # === Layers ===
        # One attribute per layer: tf.train.Checkpoint does not follow Keras' tracked lists.
        for r in self.resolutions:
            setattr(self, f"from_rgb{r}", FromRGB(nf(int(math.log2(r)) - 1), name=f"from_rgb_{r}x{r}"))
        add_discriminator_layers(self, self.resolutions, nf, mbstd_group_size, mbstd_num_features)
        self.fade = FadeIn(name="fade_in")
        self._init_stage()

    # The GAN reads these two: whether D takes the class as an input, and whether it returns
    # {"score", "class_logits"}.
    @property
    def takes_labels(self) -> bool:
        return bool(self.num_classes) and self.label_conditioning == "switch"

    @property
    def auxiliary_classes(self) -> bool:
        return bool(self.num_classes) and self.label_conditioning == "acgan"

    def _block(self, x, r):
        """networks.py ``D_paper`` block: ``act(apply_bias(conv2d(x)))`` then
        ``act(apply_bias(conv2d_downscale2d(x)))``: the pool comes before the bias and act."""
        x = leaky_relu(getattr(self, f"conv{r}_0")(x))
        return leaky_relu(getattr(self, f"conv{r}_1").conv_down(x))

    def _from_rgb(self, images, r):
        factor = self.resolution // r
        x = images if factor == 1 else ops.average_pool(images, factor, factor, padding="valid")
        return getattr(self, f"from_rgb{r}")(x)

    def call(self, inputs, training=None):
        class_id = None
        if self.takes_labels:
            images, class_id = inputs
        else:
            images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        stage = self.stage_resolution
        x = self._from_rgb(images, stage)
        if stage > 4:
            x = self._block(x, stage)
            if self.stage_fading:
                x = self.fade([self._from_rgb(images, stage // 2), x, self.fade_alpha])
        for r in reversed(self.resolutions[1:]):
            if r < stage:
                x = self._block(x, r)
        return self.head(x, class_id)

    def head(self, x, class_id=None):
        """The 4x4 block: [mbstd] conv, dense, dense -> [B, 1] scores (and class logits)."""
        if self.mbstd is not None:
            x = self.mbstd(x)
        return score_head(self, x, class_id)

    def build(self, input_shape=None):
        images = ops.zeros((4, self.resolution, self.resolution, self.channels))
        inputs = [images, ops.zeros((4,), "int32")] if self.takes_labels else images
        stage = (self.stage_resolution, self.stage_fading)
        # The full-resolution path, then the fade path, so every FromRGB gets built.
        for r in self.resolutions:
            self.stage_resolution, self.stage_fading = r, r > 4
            self.call(inputs)
        self.stage_resolution, self.stage_fading = stage
        self.built = True

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "num_classes": self.num_classes, "fmap_base": self.fmap_base,
                "fmap_decay": self.fmap_decay, "fmap_max": self.fmap_max,
                "mbstd_group_size": self.mbstd_group_size,
                "mbstd_num_features": self.mbstd_num_features,
                "label_conditioning": self.label_conditioning, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
