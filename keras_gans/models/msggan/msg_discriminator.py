"""MSG-GAN's multi-scale discriminator (Karnewar & Wang, CVPR 2020, arXiv 1903.06048)."""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.progan import EqualizedConv2D, FromRGB, feature_maps, leaky_relu

COMBINERS = ("simple", "lin_cat", "cat_lin")


@keras.saving.register_keras_serializable("keras_gans")
class MSGDiscriminator(keras.Model):
    """Discriminator fed the generator's image at every scale: ``[img_4, ..., img_R(, class_id)]``.

    Layout of akanimax/msg-stylegan-tf networks_stylegan.py ``D_basic`` (ProGAN blocks with the
    feature-map table ``nf``): FromRGB of the full-resolution image, then one block per
    resolution from the top down; before every block below the top, that scale's image is
    *combined* with the incoming activations ``a`` (paper section 3.2):

    - ``"simple"`` (phi_simple): ``concat(a, x)``, the raw image as extra channels;
    - ``"lin_cat"``: ``concat(a, r(x))`` with ``r`` a linear 1x1 conv (with bias, gain 1) to as
      many channels as ``a`` has (after BMSG-GAN's ``rgb_to_features`` then ``cat``, but not its
      widths, gain or order: BMSG-GAN's own discriminator is ``BMSGDiscriminator``);
    - ``"cat_lin"``: ``conv1x1(concat(a, x))`` back to the width of ``a`` (equalized, no bias,
      no activation; msg-stylegan-tf ``combine`` scope, the paper code's choice).

    Every block starts with minibatch stddev (``mbstd_group_size``; official: "mbstd in every D
    block"), then conv3x3 ``nf(res-1)``, leaky ReLU, conv3x3 ``nf(res-2)``, leaky ReLU, 2x2
    average pool (optionally with the [1, 2, 1] blur of MSG-StyleGAN first); the 4x4 block ends
    in conv3x3 ``nf(1)``, dense ``nf(0)``, dense to one score per class.

    Conditional (``num_classes > 0``): the last dense layer has one output per class and the
    score is the requested class's (``LabelSwitch``, Mescheder et al. 2018).

    Args:
        resolution: highest input side (power of two >= 8).
        channels: image channels.
        num_classes: 0 for unconditional.
        fmap_base, fmap_decay, fmap_max: feature-map table (8192, 1.0, 512).
        combine: "simple", "lin_cat" or "cat_lin".
        mbstd_group_size, mbstd_num_features: minibatch stddev (4, 1).
        blur: low-pass [1, 2, 1] before each downsampling conv (MSG-StyleGAN's D).

    Example:
        >>> d = MSGDiscriminator(resolution=32, channels=3, combine="cat_lin")
        >>> scores = d([img4, img8, img16, img32])  # [B, 1]

    Reference: Karnewar & Wang, "MSG-GAN: Multi-Scale Gradients for Generative Adversarial
    Networks" (CVPR 2020); akanimax/msg-stylegan-tf, akanimax/BMSG-GAN.
    """

    def __init__(self, resolution, channels=3, num_classes=0, fmap_base=8192, fmap_decay=1.0,
                 fmap_max=512, combine="cat_lin", mbstd_group_size=4, mbstd_num_features=1,
                 blur=False, **kwargs):
        super().__init__(**kwargs)
        if combine not in COMBINERS:
            raise ValueError(f"combine must be one of {COMBINERS}, got {combine!r}")
        log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
        if resolution < 8 or 2 ** log2 != resolution:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        # === Config ===
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.num_classes = int(num_classes)
        self.fmap_base, self.fmap_decay, self.fmap_max = fmap_base, fmap_decay, fmap_max
        self.combine = combine
        self.mbstd_group_size = int(mbstd_group_size)
        self.mbstd_num_features = int(mbstd_num_features)
        self.blur = bool(blur)
        self.resolutions = [2 ** r for r in range(2, log2 + 1)]
        # === Layers (one attribute each: tf.train.Checkpoint does not follow Keras' lists) ===
        self.from_rgb = FromRGB(nf(log2 - 1), name=f"from_rgb_{resolution}x{resolution}")
        for r in reversed(self.resolutions):
            k = int(math.log2(r))
            incoming = nf(k - 1)  # width of the activations arriving at this block
            if r != resolution and combine == "lin_cat":
                setattr(self, f"combine{r}",
                        EqualizedConv2D(incoming, 1, gain=1.0, name=f"{r}x{r}_rgb_linear"))
            elif r != resolution and combine == "cat_lin":
                setattr(self, f"combine{r}",
                        EqualizedConv2D(incoming, 1, use_bias=False, name=f"{r}x{r}_combine"))
        from keras_gans.models.progan.progan_networks import add_discriminator_layers

        add_discriminator_layers(self, self.resolutions, nf, mbstd_group_size, mbstd_num_features)
        if blur:  # one per block: a depthwise filter is built for its channel count
            from keras_gans.layers.stylegan import Blur2D

            for r in self.resolutions[1:]:
                setattr(self, f"blur{r}", Blur2D(name=f"{r}x{r}_blur"))

    def _combine(self, r, a, image):
        layer = getattr(self, f"combine{r}", None)
        image = ops.cast(image, a.dtype)
        if self.combine == "simple":
            return ops.concatenate([a, image], axis=-1)
        if self.combine == "lin_cat":
            return ops.concatenate([a, layer(image)], axis=-1)
        return layer(ops.concatenate([a, image], axis=-1))

    def call(self, inputs, training=None):
        inputs = list(inputs)
        class_id = inputs.pop() if self.num_classes else None
        if len(inputs) != len(self.resolutions):
            raise ValueError(f"MSGDiscriminator expects {len(self.resolutions)} images "
                             f"({self.resolutions}), got {len(inputs)}")
        images = list(reversed(inputs))  # top resolution first
        x = self.from_rgb(images[0])
        for i, r in enumerate(reversed(self.resolutions)):
            if i > 0:
                x = self._combine(r, x, images[i])
            if self.mbstd is not None:
                x = self.mbstd(x)
            if r == 4:
                break
            x = leaky_relu(getattr(self, f"conv{r}_0")(x))
            if self.blur:
                x = getattr(self, f"blur{r}")(x)
            # D_basic: act(apply_bias(conv2d_downscale2d(blur(x)))): pool before bias and act.
            x = leaky_relu(getattr(self, f"conv{r}_1").conv_down(x))
        from keras_gans.models.progan.progan_networks import score_head

        return score_head(self, x, class_id)

    def build(self, input_shape=None):
        images = [ops.zeros((4, r, r, self.channels)) for r in self.resolutions]
        self.call(images + ([ops.zeros((4,), "int32")] if self.num_classes else []))
        self.built = True

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "num_classes": self.num_classes, "fmap_base": self.fmap_base,
                "fmap_decay": self.fmap_decay, "fmap_max": self.fmap_max,
                "combine": self.combine, "mbstd_group_size": self.mbstd_group_size,
                "mbstd_num_features": self.mbstd_num_features, "blur": self.blur,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
