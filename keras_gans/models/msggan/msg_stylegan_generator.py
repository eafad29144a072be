"""MSG-StyleGAN generator (Karnewar & Wang 2020), after akanimax/msg-stylegan-tf
``training/networks_stylegan.py`` ``G_style`` / ``G_mapping`` / ``G_synthesis``."""

from __future__ import annotations

import math

import keras

from keras_gans.layers.progan import EqualizedConv2D, EqualizedDense, PixelNorm, ToRGB
from keras_gans.layers.progan import feature_maps
from keras_gans.layers.stylegan import (Bias, Blur2D, ConstantInput, DlatentAverage, InstanceNorm,
                                        NoiseInjection, StyleMod)

LRELU_SLOPE = 0.2


@keras.saving.register_keras_serializable("keras_gans")
class MSGStyleGANGenerator(keras.Model):
    """Style-based generator with an RGB output at every resolution (MSG-StyleGAN).

    StyleGAN-1 (official ``G_style``) whose synthesis network emits an image at every block:

    - mapping (``G_mapping``): with ``num_classes > 0`` the class embedding (``LabelConcat``: a
      [num_classes, latent_dim] table, N(0, 1) init, i.e. the one-hot label times a weight) is
      concatenated after z; pixel norm; ``mapping_layers`` equalized dense layers (lr multiplier
      0.01, gain sqrt(2), the last one ``dlatent_dim`` wide) each followed by leaky ReLU 0.2.
      One w feeds every style input: MSG-GAN cannot use style-mixing regularization (the
      official note in ``G_style``), so there is no mixing;
    - ``dlatent_avg`` (``DlatentAverage``): a non-trainable [dlatent_dim] moving average of w,
      updated on training calls (``avg = lerp(mean_batch(w), avg, dlatent_avg_beta)``, averaged
      across replicas under a distribution strategy); on inference calls (``training=False``)
      the first ``truncation_cutoff`` style inputs get ``avg + truncation_psi * (w - avg)``;
    - synthesis (``G_synthesis``, ``num_layers = 2 * log2(resolution) - 2`` style inputs): a
      learned 4x4 constant -> epilogue -> conv3x3 -> epilogue; each higher block: nearest 2x
      upsample -> conv3x3 -> blur -> epilogue -> conv3x3 -> epilogue, with ``nf(res_log2 - 1)``
      feature maps. The epilogue (``layer_epilogue``) is noise (``apply_noise``, per-pixel, fresh
      on every call, zero-initialized strengths) -> bias -> leaky ReLU 0.2 -> instance norm ->
      style modulation (``style_mod``). Convolutions are equalized-lr with gain sqrt(2), no bias
      of their own (the bias follows the noise and the blur, as ``apply_bias``);
    - outputs: ``ToRGB`` (linear equalized 1x1 conv, gain 1, with bias; ``torgb``) after every
      block, returned as a tuple of float32 images from 4x4 to ``resolution``. The output is
      linear, as the official one (no tanh; real data is in [-1, 1]).

    The official fused ``upscale2d_conv2d`` (a transposed conv used from 128x128 up) computes
    nearest-upsample-then-conv; this model folds the two at every resolution
    (``EqualizedConv2D(resample="up")``), the same values up to float32 rounding.

    Args:
        resolution: output side, a power of 2 >= 8.
        channels: image channels (``num_channels``).
        latent_dim: size of z (``latent_size``, 512).
        num_classes: > 0 for a class-conditional generator (``label_size``).
        dlatent_dim: size of w (``dlatent_size``, 512).
        mapping_layers: dense layers of the mapping network (8; 0 = w is the normalized z,
            whose width must then be ``dlatent_dim``).
        mapping_fmaps: width of the hidden mapping layers (512).
        mapping_lr_multiplier: ``mapping_lrmul`` (0.01).
        fmap_base, fmap_decay, fmap_max: feature maps ``min(fmap_base / 2**(stage * decay),
            fmap_max)`` (8192, 1.0, 512).
        use_noise: noise inputs (True).
        blur_filter: 1-D low-pass filter after the upsampling conv ((1, 2, 1)); None or () = none.
        dlatent_avg_beta: decay of the w moving average (0.995); None or 1 = not tracked.
        truncation_psi: truncation strength at inference (0.7); None or 1 = no truncation.
        truncation_cutoff: number of style inputs truncated (8: resolutions 4 to 32);
            None or <= 0 = no truncation.
        noise_seed: base seed of the noise layers (None = random).
        randomize_noise: fresh noise at inference too (official ``randomize_noise=True``);
            False (default) uses each layer's fixed noise map at inference, so samples and
            exports are deterministic in z (training always draws fresh noise).

    Example:
        >>> g = MSGStyleGANGenerator(resolution=256)
        >>> images = g(z)            # (4x4, 8x8, ..., 256x256) images, [B, s, s, 3] each
        >>> g(z, training=True)      # training call: updates g.dlatent_avg, no truncation

    Reference: Karnewar & Wang, "MSG-GAN: Multi-Scale Gradients for Generative Adversarial
    Networks" (CVPR 2020, arXiv 1903.06048); akanimax/msg-stylegan-tf
    training/networks_stylegan.py (``G_style``, ``G_mapping``, ``G_synthesis``, ``style_mod``,
    ``apply_noise``, ``instance_norm``, ``blur2d``, ``upscale2d_conv2d``); Karras et al., "A
    Style-Based Generator Architecture for GANs" (CVPR 2019).
    """

    def __init__(self, resolution, channels=3, latent_dim=512, num_classes=0, dlatent_dim=512,
                 mapping_layers=8, mapping_fmaps=512, mapping_lr_multiplier=0.01, fmap_base=8192,
                 fmap_decay=1.0, fmap_max=512, use_noise=True, blur_filter=(1, 2, 1),
                 dlatent_avg_beta=0.995, truncation_psi=0.7, truncation_cutoff=8,
                 noise_seed=None, randomize_noise=False, **kwargs):
        resolution = int(resolution)
        res_log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
        if resolution < 8 or 2 ** res_log2 != resolution:
            raise ValueError(f"MSG-StyleGAN resolution must be a power of 2 >= 8, got {resolution}")
        if int(mapping_layers) < 0:
            raise ValueError(f"mapping_layers must be >= 0, got {mapping_layers}")
        z_width = int(latent_dim) * (2 if num_classes else 1)
        if int(mapping_layers) == 0 and z_width != int(dlatent_dim):
            raise ValueError(f"without mapping layers w is the normalized input ({z_width} wide): "
                             f"dlatent_dim must be {z_width}, got {dlatent_dim}")
        blur = [float(v) for v in blur_filter] if blur_filter else None
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        num_layers = 2 * res_log2 - 2
        cutoff = 0 if truncation_cutoff is None else max(int(truncation_cutoff), 0)

        # === Functional Model ===
        z = keras.Input(shape=(latent_dim,), name="z")
        inputs = z
        x = z
        if num_classes:
            class_id = keras.Input(shape=(), dtype="int32", name="class_id")
            inputs = [z, class_id]
            y = keras.layers.Embedding(
                num_classes, latent_dim,
                embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0),
                name="label_embedding")(class_id)
            x = keras.layers.Concatenate(name="label_concat")([z, y])
        x = PixelNorm(name="normalize_latents")(x)
        for i in range(mapping_layers):
            width = dlatent_dim if i == mapping_layers - 1 else mapping_fmaps
            x = EqualizedDense(width, lr_multiplier=mapping_lr_multiplier,
                               name=f"mapping_dense{i}")(x)
            x = keras.layers.LeakyReLU(negative_slope=LRELU_SLOPE, name=f"mapping_lrelu{i}")(x)
        w_truncated, w = DlatentAverage(beta=dlatent_avg_beta, truncation_psi=truncation_psi,
                                        name="dlatent_avg")(x)

        def style(layer_idx):
            return w_truncated if layer_idx < cutoff else w

        def epilogue(h, layer_idx, prefix):
            if use_noise:
                seed = None if noise_seed is None else int(noise_seed) + layer_idx
                h = NoiseInjection(seed=seed, randomize_at_inference=randomize_noise,
                                   name=f"{prefix}_noise")(h)
            h = Bias(name=f"{prefix}_bias")(h)
            h = keras.layers.LeakyReLU(negative_slope=LRELU_SLOPE, name=f"{prefix}_lrelu")(h)
            h = InstanceNorm(name=f"{prefix}_instance_norm")(h)
            return StyleMod(name=f"{prefix}_style")([h, style(layer_idx)])

        def to_rgb(h, res):
            return ToRGB(channels, dtype="float32", name=f"to_rgb_{res}x{res}")(h)

        h = ConstantInput(nf(1), 4, name="4x4_const")(w)
        h = epilogue(h, 0, "4x4_const")
        h = EqualizedConv2D(nf(1), 3, use_bias=False, name="4x4_conv")(h)
        h = epilogue(h, 1, "4x4_conv")
        images = [to_rgb(h, 4)]
        for r in range(3, res_log2 + 1):
            s = f"{2 ** r}x{2 ** r}"
            # upscale2d + conv2d (upscale2d_conv2d), folded into one convolution
            h = EqualizedConv2D(nf(r - 1), 3, use_bias=False, resample="up", name=f"{s}_conv0_up")(h)
            if blur:
                h = Blur2D(blur, name=f"{s}_blur")(h)
            h = epilogue(h, 2 * r - 4, f"{s}_conv0_up")
            h = EqualizedConv2D(nf(r - 1), 3, use_bias=False, name=f"{s}_conv1")(h)
            h = epilogue(h, 2 * r - 3, f"{s}_conv1")
            images.append(to_rgb(h, 2 ** r))
        super().__init__(inputs=inputs, outputs=tuple(images), **kwargs)

        # === Config ===
        self._resolution = resolution
        self.channels = int(channels)
        self._latent_dim = int(latent_dim)
        self._num_classes = int(num_classes)
        self.dlatent_dim = int(dlatent_dim)
        self.mapping_layers = int(mapping_layers)
        self.mapping_fmaps = int(mapping_fmaps)
        self.mapping_lr_multiplier = float(mapping_lr_multiplier)
        self.fmap_base = fmap_base
        self.fmap_decay = float(fmap_decay)
        self.fmap_max = fmap_max
        self.use_noise = bool(use_noise)
        self.blur_filter = blur
        self.dlatent_avg_beta = None if dlatent_avg_beta is None else float(dlatent_avg_beta)
        self.truncation_psi = None if truncation_psi is None else float(truncation_psi)
        self.truncation_cutoff = None if truncation_cutoff is None else int(truncation_cutoff)
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        self.randomize_noise = bool(randomize_noise)
        self.num_layers = num_layers

    @property
    def latent_dim(self):
        return self._latent_dim

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def resolution(self):
        return self._resolution

    @property
    def output_resolutions(self):
        """Sides of the output images, lowest first: [4, 8, ..., resolution]."""
        return [2 ** r for r in range(2, int(round(math.log2(self._resolution))) + 1)]

    @property
    def dlatent_avg(self):
        """The tracked mean of w (a non-trainable [dlatent_dim] float32 variable)."""
        return self.get_layer("dlatent_avg").dlatent_avg

    def mapping_model(self):
        """A functional model sharing this generator's layers: inputs -> w (before truncation)."""
        inputs = self.inputs if self._num_classes else self.inputs[0]
        return keras.Model(inputs, self.get_layer("dlatent_avg").input,
                           name=f"{self.name}_mapping")

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "dlatent_dim": self.dlatent_dim, "mapping_layers": self.mapping_layers,
                "mapping_fmaps": self.mapping_fmaps,
                "mapping_lr_multiplier": self.mapping_lr_multiplier,
                "fmap_base": self.fmap_base, "fmap_decay": self.fmap_decay,
                "fmap_max": self.fmap_max, "use_noise": self.use_noise,
                "blur_filter": self.blur_filter, "dlatent_avg_beta": self.dlatent_avg_beta,
                "truncation_psi": self.truncation_psi,
                "truncation_cutoff": self.truncation_cutoff, "noise_seed": self.noise_seed,
                "randomize_noise": self.randomize_noise,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
