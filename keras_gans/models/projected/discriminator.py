"""Projected GAN's discriminator: frozen pretrained features, frozen random projections, and
four small trainable discriminators, one per feature level.

Sauer et al., "Projected GANs Converge Faster" (NeurIPS 2021); official code
autonomousvision/projected_gan ``pg_modules/discriminator.py``:

- ``ProjectedDiscriminator.forward`` (L176-186): DiffAugment, then a bilinear resize to 224 when
  the data is smaller (``interp224``, train.py L240: ``resolution < 224``), the feature network
  (EfficientNet-Lite0 + the random projection, always in eval mode: L168-171), then
  ``MultiScaleD``. DiffAugment is applied by the training core here (``GAN.compile(augment=)``,
  config ``augment``), to exactly the images this network receives, before the resize, as in
  the official order.
- ``MultiScaleD`` (L114-147): one discriminator per level, the shallowest level first; the
  official concatenates their flattened logits and the loss takes one mean; ours returns the
  list of logit maps and ``keras_gans.losses.adversarial.per_example`` sums the per-map means
  (a constant factor K = 4 on the adversarial term, see there).
- ``SingleDisc`` (L12-52): ``DownBlock``s (blocks.py L173-191: spectrally normalized 4x4
  stride-2 conv with bias, batch norm, leaky ReLU 0.2; with ``separable``, which train.py sets
  for ``--cfg stylegan2`` (``use_separable_discs = True``, L207, L248), a ``SeparableConv2d``
  (blocks.py L159-170: spectrally normalized 3x3 depthwise conv, padding 1, then a spectrally
  normalized 1x1 conv, both without bias), batch norm, leaky ReLU 0.2 and a 2x2 average pool)
  from the level's nominal size down to 8, then a spectrally normalized 4x4 valid conv without bias to one channel, so 4x4 patch
  logits at the official sizes. Channels follow ``channel_dict`` {4: 512, 8: 512, 16: 256,
  32: 128, 64: 64, 128: 64, 256: 32}, the first block taking the level's channels.
- ``SingleDiscCond`` (L55-111): the class-conditional variant by projection: the last conv
  gives ``cmap_dim`` = 64 channels, a class embedding (128-d, ``nn.Embedding``) through a
  linear layer and leaky ReLU gives a ``cmap_dim`` vector, and the logit map is their
  channel-wise dot product scaled by ``1/sqrt(cmap_dim)``.

Nominal sizes: the official code fixes the levels' nominal sizes to those of a 256 image
(projector.py L93-97: "the best results are achieved by fixing this to 256"), i.e. 64, 32, 16,
8 (x2 with CSM), whatever the data resolution, and snaps a size that is not a power of two to
the nearest table key (L18-22). We do the same for inputs of 224 and more. For a smaller
``input_size`` (our CPU presets feed 64x64 instead of 224x224 to the feature network, 12x
cheaper) the nominal sizes are scaled by ``input_size / 224`` before snapping, so every level
still ends at a small logit map; at 224 this is exactly the official network.

Spectral norm: ``torch.nn.utils.spectral_norm`` (blocks.py L11-12), one power iteration, norm
floor 1e-12 (``sn_epsilon``). Initialization: PyTorch's defaults (U(+-1/sqrt(fan_in)) for convs
and linears, N(0, 1) for the embedding); projected_gan applies no custom init.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_gans.layers.batch_norm import BatchNorm
from keras_gans.layers.spectral_normalization import SNConv2D, SNDepthwiseConv2D
from keras_gans.models.projected.projector import RandomProjection, torch_conv_initializers

CHANNEL_DICT = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
OFFICIAL_NOMINAL = (64, 32, 16, 8)  # 256 // 4, // 8, // 16, // 32 (projector.py L93-94)
OFFICIAL_INPUT = 224


def snap_size(size: float) -> int:
    """The ``channel_dict`` key nearest to ``size`` (discriminator.py L18-22; ties: smaller)."""
    keys = np.array(sorted(CHANNEL_DICT))
    return int(keys[np.argmin(np.abs(keys - size))])


def nominal_sizes(input_size: int, projection: str) -> tuple[int, ...]:
    """Nominal start sizes of the 4 discriminators (see the module docstring)."""
    factor = RandomProjection.output_stride_factor(projection)
    scale = min(1.0, input_size / OFFICIAL_INPUT)
    return tuple(snap_size(s * factor * scale) for s in OFFICIAL_NOMINAL)


def _sn_conv(filters, kernel, in_channels, strides, use_bias, epsilon, name):
    kernel_init, bias_init = torch_conv_initializers(in_channels * kernel * kernel)
    return SNConv2D(filters, kernel, strides=strides, padding="valid", use_bias=use_bias,
                    kernel_initializer=kernel_init, bias_initializer=bias_init,
                    epsilon=epsilon, name=name)


@keras.saving.register_keras_serializable("keras_gans")
class PatchDiscriminator(keras.layers.Layer):
    """One ``SingleDisc`` / ``SingleDiscCond`` on one feature level.

    Call: ``layer(features, class_id=None, training=...)`` with NHWC features; returns
    ``[B, h, w, 1]`` logits (4x4 at the official sizes).

    Args:
        in_channels: channels of the feature level.
        start_size: nominal size of the level (a ``CHANNEL_DICT`` key); one down block per
            halving to 8.
        num_classes: > 0 for the conditional variant (projection on a class embedding).
        cmap_dim, embedding_dim: conditional widths (official 64, 128).
        sn_epsilon: spectral-norm floor (torch's 1e-12).
        separable: separable down blocks (``DownBlock(separable=True)``, the ``--cfg
            stylegan2`` discriminator).
    """

    def __init__(self, in_channels, start_size, num_classes=0, cmap_dim=64, embedding_dim=128,
                 sn_epsilon=1e-12, separable=False, **kwargs):
        super().__init__(**kwargs)
        if start_size not in CHANNEL_DICT:
            raise ValueError(f"start_size must be one of {sorted(CHANNEL_DICT)}, got {start_size}")
        self.in_channels, self.start_size = int(in_channels), int(start_size)
        self.num_classes, self.cmap_dim = int(num_classes), int(cmap_dim)
        self.embedding_dim, self.sn_epsilon = int(embedding_dim), float(sn_epsilon)
        self.separable = bool(separable)
        nfc = dict(CHANNEL_DICT)
        nfc[self.start_size] = self.in_channels
        size, cin, self.num_blocks = self.start_size, self.in_channels, 0
        while size > 8:
            cout = nfc[size // 2]
            i = self.num_blocks
            setattr(self, f"pad{i}", keras.layers.ZeroPadding2D(1, name=f"pad{i}"))
            if self.separable:
                # SeparableConv2d (blocks.py L159-170): depthwise 3x3 (groups=in, fan_in 9) and
                # pointwise 1x1 (fan_in = in), no biases; AvgPool2d(2, 2) after the activation.
                kernel_init, _ = torch_conv_initializers(9)
                setattr(self, f"dw{i}", SNDepthwiseConv2D(
                    3, padding="valid", use_bias=False, depthwise_initializer=kernel_init,
                    epsilon=sn_epsilon, name=f"dw{i}"))
                setattr(self, f"pw{i}", _sn_conv(cout, 1, cin, 1, False, sn_epsilon, f"pw{i}"))
            else:
                setattr(self, f"conv{i}", _sn_conv(cout, 4, cin, 2, True, sn_epsilon, f"conv{i}"))
            # torch BatchNorm2d: momentum 0.1 (Keras 0.9), eps 1e-5.
            setattr(self, f"bn{i}", BatchNorm(momentum=0.9, epsilon=1e-5,
                                                                    name=f"bn{i}"))
            size, cin = size // 2, cout
            self.num_blocks += 1
        out = self.cmap_dim if self.num_classes else 1
        self.out_conv = _sn_conv(out, 4, cin, 1, False, sn_epsilon, "out_conv")
        if self.num_classes:
            self.embed = keras.layers.Embedding(
                self.num_classes, self.embedding_dim,
                embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0), name="embed")
            w_init, b_init = torch_conv_initializers(self.embedding_dim)
            self.embed_proj = keras.layers.Dense(self.cmap_dim, kernel_initializer=w_init,
                                                 bias_initializer=b_init, name="embed_proj")

    def call(self, x, class_id=None, training=False):
        for i in range(self.num_blocks):
            x = getattr(self, f"pad{i}")(x)
            if self.separable:
                x = getattr(self, f"dw{i}")(x, training=training)
                x = getattr(self, f"pw{i}")(x, training=training)
            else:
                x = getattr(self, f"conv{i}")(x, training=training)
            x = getattr(self, f"bn{i}")(x, training=training)
            x = ops.leaky_relu(x, 0.2)
            if self.separable:
                x = ops.average_pool(x, 2, strides=2, padding="valid")
        out = self.out_conv(x, training=training)
        if not self.num_classes:
            return out
        if class_id is None:
            raise ValueError("a conditional PatchDiscriminator needs class_id")
        cmap = ops.leaky_relu(self.embed_proj(self.embed(ops.cast(class_id, "int32"))), 0.2)
        cmap = ops.cast(cmap[:, None, None, :], out.dtype)
        return ops.sum(out * cmap, axis=-1, keepdims=True) * (1.0 / math.sqrt(self.cmap_dim))

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, start_size=self.start_size,
                      num_classes=self.num_classes, cmap_dim=self.cmap_dim,
                      embedding_dim=self.embedding_dim, sn_epsilon=self.sn_epsilon,
                      separable=self.separable)
        return config


@keras.saving.register_keras_serializable("keras_gans")
class ProjectedDiscriminator(keras.Model):
    """Frozen EfficientNet-Lite features -> frozen random projection -> 4 patch discriminators.

    Call: ``D(images)`` or ``D([images, class_id])`` (conditional), images ``[B, H, W, C]`` in
    [-1, 1] with C = 1 or 3 (grayscale is repeated to 3 channels for the feature network);
    returns a list of ``num_discs`` logit maps ``[B, h, w, 1]``, shallowest level first.

    Args:
        resolution, channels: of the data.
        num_classes: > 0 for the conditional variant.
        backbone: "lite0" (official code) or "lite1" (paper).
        backbone_weights: converted weights file (None: the default cache path of
            ``keras-gans convert-weights efficientnet-lite0``), "random" (tests only: the run
            is labelled as such) or "checkpoint" (restored from a training checkpoint next).
        projection: "none" | "ccm" | "ccm+csm" (official proj_type 0 | 1 | 2).
        cout, expand, csm_kernel_size: the projection's widths (official 64, True, 1).
        num_discs: discriminators on the first 1..4 levels (official 4).
        input_size: size the images are resized to (bilinear, ``align_corners=False``) before
            the feature network; None = official: 224 when the data is smaller, else the data
            resolution (no resize). Must be >= 64.
        cmap_dim, embedding_dim: conditional widths (official 64, 128).
        sn_epsilon: spectral-norm floor (torch 1e-12).
        separable: separable down blocks (official ``separable``, True for ``--cfg stylegan2``,
            train.py L207, L248).
    """

    def __init__(self, resolution, channels=3, num_classes=0, backbone="lite0",
                 backbone_weights=None, projection="ccm+csm", cout=64, expand=True,
                 csm_kernel_size=1, num_discs=4, input_size=None, cmap_dim=64, embedding_dim=128,
                 sn_epsilon=1e-12, separable=False, **kwargs):
        super().__init__(**kwargs)
        from keras_gans.models.projected import efficientnet_lite

        if channels not in (1, 3):
            raise ValueError(f"ProjectedDiscriminator takes 1- or 3-channel images, got {channels}")
        if num_discs not in (1, 2, 3, 4):
            raise ValueError(f"num_discs must be 1..4 (discriminator.py L126), got {num_discs}")
        self.resolution, self.channels = int(resolution), int(channels)
        self.num_classes = int(num_classes)
        self.input_size = int(input_size) if input_size else (
            OFFICIAL_INPUT if self.resolution < OFFICIAL_INPUT else self.resolution)
        if self.input_size < 64:
            raise ValueError(f"input_size must be >= 64 (the deepest feature level must stay "
                             f">= 2x2 pixels), got {self.input_size}")
        self.backbone, self.backbone_weights = backbone, backbone_weights
        self.projection, self.cout, self.expand = projection, int(cout), bool(expand)
        self.csm_kernel_size, self.num_discs = int(csm_kernel_size), int(num_discs)
        self.cmap_dim, self.embedding_dim = int(cmap_dim), int(embedding_dim)
        self.sn_epsilon = float(sn_epsilon)
        self.separable = bool(separable)

        # === Frozen parts ===
        self.feature_network = efficientnet_lite.load_efficientnet_lite(backbone, weights=backbone_weights)
        self.feature_network.trainable = False
        self.weights_source = getattr(self.feature_network, "weights_source", str(backbone_weights))
        in_channels = efficientnet_lite.FEATURE_CHANNELS[backbone]
        self.projector = RandomProjection(in_channels, projection=projection, cout=cout,
                                          expand=expand, csm_kernel_size=csm_kernel_size,
                                          name="projector")
        self.projector.trainable = False
        # === Trainable discriminators ===
        channels_out = RandomProjection.output_channels(in_channels, projection, cout, expand)
        self.start_sizes = nominal_sizes(self.input_size, projection)
        for i in range(self.num_discs):
            setattr(self, f"disc{i}", PatchDiscriminator(
                channels_out[i], self.start_sizes[i], num_classes=self.num_classes,
                cmap_dim=cmap_dim, embedding_dim=embedding_dim, sn_epsilon=sn_epsilon,
                separable=self.separable, name=f"disc{i}"))

    @property
    def random_features(self) -> bool:
        """True when the feature network has random weights (tests only)."""
        return self.weights_source == "random"

    def build(self, input_shape=None):
        images = keras.ops.zeros((1, self.resolution, self.resolution, self.channels))
        inputs = [images, keras.ops.zeros((1,), "int32")] if self.num_classes else images
        self.call(inputs, training=False)  # builds every sub-layer
        self.built = True

    def features(self, images):
        """The projected feature maps of ``images`` (after channel repeat and resize)."""
        x = ops.cast(images, "float32")
        if self.channels == 1 or x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if x.shape[1] != self.input_size or x.shape[2] != self.input_size:
            # F.interpolate(x, 224, mode="bilinear", align_corners=False), no antialias.
            x = ops.image.resize(x, (self.input_size, self.input_size), interpolation="bilinear",
                                 antialias=False)
        feats = self.feature_network(x, training=False)
        return self.projector(list(feats)[:4])

    def call(self, inputs, training=False):
        if self.num_classes:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("a conditional ProjectedDiscriminator takes [images, class_id]")
            images, class_id = inputs
        else:
            images, class_id = (inputs[0] if isinstance(inputs, (list, tuple)) else inputs), None
        feats = self.features(images)
        return [getattr(self, f"disc{i}")(feats[i], class_id, training=training)
                for i in range(self.num_discs)]

    def get_config(self):
        return {"name": self.name, "resolution": self.resolution, "channels": self.channels,
                "num_classes": self.num_classes, "backbone": self.backbone,
                "backbone_weights": self.backbone_weights, "projection": self.projection,
                "cout": self.cout, "expand": self.expand, "csm_kernel_size": self.csm_kernel_size,
                "num_discs": self.num_discs, "input_size": self.input_size,
                "cmap_dim": self.cmap_dim, "embedding_dim": self.embedding_dim,
                "sn_epsilon": self.sn_epsilon, "separable": self.separable}
