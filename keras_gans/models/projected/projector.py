"""Projected GAN's random projections: cross-channel mixing (CCM) and cross-scale mixing (CSM).

Sauer et al., "Projected GANs Converge Faster" (NeurIPS 2021), section 3.2; official code
autonomousvision/projected_gan ``pg_modules/projector.py`` and ``pg_modules/blocks.py``.
The four feature maps of the pretrained network (``F_RandomProj.forward``, projector.py
L117-160) go through:

- **CCM** (``_make_scratch_ccm``, projector.py L7-18): one random 1x1 convolution with bias per
  level, from the level's channels to ``[cout, 2 cout, 4 cout, 8 cout]`` (``expand=True``) or
  ``cout`` everywhere; no activation.
- **CSM** (``_make_scratch_csm``, projector.py L21-30; ``FeatureFusionBlock``, blocks.py
  L258-285): a U-Net-like top-down path. From the deepest level up, each block adds the block
  below's output to this level's CCM output (the deepest has nothing to add), upsamples x2
  bilinearly with ``align_corners=True`` and applies a random 1x1 convolution with bias that
  halves the channels (``expand``; the shallowest keeps them). The outputs are therefore at twice
  each level's resolution, with ``[cout, cout, 2 cout, 4 cout]`` channels.

About the kernel size: the paper's text describes CSM with 3x3 convolutions, but the official
``FeatureFusionBlock`` applies only its 1x1 ``out_conv`` (its ``ResidualConvUnit`` with the 3x3
conv is defined and never used). We follow the code by default; ``csm_kernel_size=3`` gives the
text's variant.

Every projection weight is random and **frozen** (``training_loop.py`` L299:
``phase.module.feature_network.requires_grad_(False)``, where ``feature_network`` holds both the
pretrained net and the "scratch" projections). The initialization is PyTorch's default for
``nn.Conv2d`` (the paper calls it Kaiming init): ``kaiming_uniform_(a=sqrt(5))``, i.e. weights
and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

The layers use ``keras.ops`` only (backend-agnostic); the x2 upsampling with aligned corners is
two small interpolation matrices, exact and differentiable.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

PROJECTIONS = ("none", "ccm", "ccm+csm")  # official proj_type 0, 1, 2


def torch_conv_initializers(fan_in: int):
    """PyTorch's default ``nn.Conv2d`` init: weight and bias ~ U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return (keras.initializers.RandomUniform(-bound, bound),
            keras.initializers.RandomUniform(-bound, bound))


def align_corners_matrix(n: int, factor: int = 2) -> np.ndarray:
    """``[n * factor, n]`` bilinear interpolation matrix with aligned corners
    (``F.interpolate(scale_factor=factor, mode="bilinear", align_corners=True)`` along one axis):
    output pixel i samples the input at ``i * (n - 1) / (n * factor - 1)``."""
    m = n * factor
    out = np.zeros((m, n), np.float32)
    if n == 1:
        out[:, 0] = 1.0
        return out
    for i in range(m):
        pos = i * (n - 1) / (m - 1)
        lo = min(int(math.floor(pos)), n - 2)
        frac = pos - lo
        out[i, lo] += 1.0 - frac
        out[i, lo + 1] += frac
    return out


def upsample2x_align_corners(x):
    """Bilinear x2 upsampling of NHWC ``x`` with ``align_corners=True`` (static H and W)."""
    h, w = int(x.shape[1]), int(x.shape[2])
    mh = ops.convert_to_tensor(align_corners_matrix(h), dtype=x.dtype)
    mw = ops.convert_to_tensor(align_corners_matrix(w), dtype=x.dtype)
    x = ops.einsum("ih,bhwc->biwc", mh, x)
    return ops.einsum("jw,biwc->bijc", mw, x)


def _random_conv(filters, in_channels, kernel_size, name):
    kernel_init, bias_init = torch_conv_initializers(in_channels * kernel_size * kernel_size)
    return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=True,
                               kernel_initializer=kernel_init, bias_initializer=bias_init,
                               trainable=False, name=name)


@keras.saving.register_keras_serializable("keras_gans")
class RandomProjection(keras.layers.Layer):
    """Frozen random CCM (+ CSM) over four feature levels (``F_RandomProj``, projector.py L117).

    Call: a list of 4 NHWC feature maps, shallowest first (strides 4, 8, 16, 32 of the image);
    returns the list of 4 projected maps, shallowest first.

    Args:
        in_channels: channels of the 4 input levels (EfficientNet-Lite: 24, 40, 112, 320).
        projection: "none" (proj_type 0: the features as they are), "ccm" (1) or "ccm+csm" (2,
            the official default).
        cout: CCM base width (official 64).
        expand: widen CCM with depth, [cout, 2, 4, 8 x cout], and halve in CSM (official True).
        csm_kernel_size: 1 (official code) or 3 (the paper's text); see the module docstring.
    """

    def __init__(self, in_channels, projection="ccm+csm", cout=64, expand=True,
                 csm_kernel_size=1, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
        if len(in_channels) != 4:
            raise ValueError(f"RandomProjection needs 4 feature levels, got {len(in_channels)}")
        if csm_kernel_size not in (1, 3):
            raise ValueError(f"csm_kernel_size must be 1 (official code) or 3, got {csm_kernel_size}")
        self.in_channels = tuple(int(c) for c in in_channels)
        self.projection, self.cout, self.expand = projection, int(cout), bool(expand)
        self.csm_kernel_size = int(csm_kernel_size)
        ccm_out = [cout, cout * 2, cout * 4, cout * 8] if expand else [cout] * 4
        if projection != "none":
            # Attributes, not a list: tf.train.Checkpoint must reach every variable.
            for i in range(4):
                setattr(self, f"ccm{i}", _random_conv(ccm_out[i], self.in_channels[i], 1, f"ccm{i}"))
        if projection == "ccm+csm":
            for i in range(4):
                c = ccm_out[i]
                out = c // 2 if (expand and i > 0) else c
                setattr(self, f"csm{i}", _random_conv(out, c, self.csm_kernel_size, f"csm{i}"))
        self.out_channels = self.output_channels(self.in_channels, projection, cout, expand)

    @staticmethod
    def output_channels(in_channels, projection="ccm+csm", cout=64, expand=True):
        if projection == "none":
            return tuple(in_channels)
        if projection == "ccm":
            return tuple([cout, cout * 2, cout * 4, cout * 8] if expand else [cout] * 4)
        return tuple([cout, cout, cout * 2, cout * 4] if expand else [cout] * 4)

    @staticmethod
    def output_stride_factor(projection: str) -> int:
        """CSM doubles the resolution of every level (projector.py L96-97)."""
        return 2 if projection == "ccm+csm" else 1

    def build(self, input_shape):
        if self.projection == "none":
            self.built = True
            return
        shapes = [tuple(s) for s in input_shape]
        for i in range(4):
            getattr(self, f"ccm{i}").build(shapes[i])
        if self.projection == "ccm+csm":
            ccm_out = self.output_channels(self.in_channels, "ccm", self.cout, self.expand)
            for i in range(4):
                s = shapes[i]
                getattr(self, f"csm{i}").build((s[0], None, None, ccm_out[i]))
        self.built = True

    def call(self, features):
        if self.projection == "none":
            return list(features)
        mixed = [getattr(self, f"ccm{i}")(features[i]) for i in range(4)]
        if self.projection == "ccm":
            return mixed
        out = [None] * 4
        below = None
        for i in (3, 2, 1, 0):  # bottom-up in depth: deepest first (projector.py L151-154)
            x = mixed[i] if below is None else below + mixed[i]
            x = upsample2x_align_corners(x)
            below = out[i] = getattr(self, f"csm{i}")(x)
        return out

    def compute_output_shape(self, input_shape):
        f = self.output_stride_factor(self.projection)
        return [(s[0], None if s[1] is None else s[1] * f, None if s[2] is None else s[2] * f, c)
                for s, c in zip(input_shape, self.out_channels)]

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=list(self.in_channels), projection=self.projection,
                      cout=self.cout, expand=self.expand, csm_kernel_size=self.csm_kernel_size)
        return config
