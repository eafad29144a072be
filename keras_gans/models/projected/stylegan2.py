"""Projected GAN's StyleGAN2 generator (``train.py --cfg stylegan2``).

After autonomousvision/projected_gan ``pg_modules/networks_stylegan2.py`` (``Generator``
L513-537, ``SynthesisNetwork`` L454-510, ``MappingNetwork`` L182-261), with the layers of
``keras_gans.layers.stylegan2``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.stylegan2 import DEFAULT_FILTER, MappingNetwork, SynthesisBlock

MIN_RESOLUTION = 4


def stylegan2_channels(resolution: int, channel_base: int, channel_max: int) -> dict:
    """``channels_dict = {res: min(channel_base // res, channel_max)}`` over the block
    resolutions 4 .. ``resolution`` (networks_stylegan2.py L472-473)."""
    log2 = int(round(math.log2(resolution)))
    return {2 ** i: min(int(channel_base) // 2 ** i, int(channel_max)) for i in range(2, log2 + 1)}


@keras.saving.register_keras_serializable("keras_gans")
class StyleGAN2Generator(keras.Model):
    """StyleGAN2 generator ('skip' architecture) as Projected GAN trains it (``--cfg stylegan2``).

    - mapping (``MappingNetwork``): z (``latent_dim``, official ``z_dim=64``, train.py L166)
      normalized, ``mapping_layers`` (2, train.py L184) leaky-ReLU layers with lr multiplier 0.01
      to w (``w_dim=128``, train.py L166); conditional: the class embedding concatenated; the w
      average (beta 0.998) tracked in training, truncation off unless ``truncation_psi``;
    - synthesis (``SynthesisNetwork``): a ``SynthesisBlock`` per resolution 4, 8, ...,
      ``resolution``, with ``channels[res] = min(cbase // res, cmax)`` (train.py ``--cbase``
      32768, ``--cmax`` 512, L142-143, L182-183): the 4x4 block starts from a learned constant,
      the others up-sample with a modulated conv; every block has two noise inputs (one in the
      first), and the image is the sum of every block's ToRGB, each FIR-up-sampled ([1, 3, 3, 1])
      to the next resolution (the 'skip' architecture, L395-398, L437-444);
    - conv clamp 256 (``SynthesisBlock`` default, L362; train.py turns it off only with
      ``--fp32``); everything in float32 (the official float16 for the 4 highest resolutions,
      ``num_fp16_res=4``, is a GPU speed setting).

    The output is linear (no tanh), float32 [B, resolution, resolution, channels].

    Deviations from the official code, none changing the function:

    - one w feeds every layer (the official broadcasts it to ``num_ws`` identical copies; Projected
      GAN never mixes styles, training/loss.py L33-36);
    - the modulated convolutions run in the non-fused formulation in training and inference (the
      official switches to the grouped one at inference, ``fused_modconv_default=
      'inference_only'``, train.py L206): the same function (tested);
    - noise: fresh in training; at inference the fixed maps (the official ``noise_mode='const'``
      buffers) unless ``randomize_noise``, so exports are deterministic; the official default
      ``noise_mode='random'``, which its metrics use, is the ``projected-stylegan2`` evaluation
      protocol (``keras_gans.metrics.protocols``);
    - the w average is updated on every training call of the generator (the official updates it
      in the D phase only, ``update_emas=True`` at training/loss.py L77): it only matters for
      truncation, which training and the official metrics never use;
    - the class arrives as an integer id [B] (the official one-hot ``c``).

    Call: ``g(z)`` or ``g([z, class_id])`` when ``num_classes > 0``.

    Args:
        latent_dim: z size (64).
        resolution: output side, a power of two >= 4.
        channels: image channels.
        w_dim: w size (128).
        cbase, cmax: ``channel_base`` / ``channel_max`` (32768, 512).
        mapping_layers: mapping depth (2).
        num_classes: > 0 for the conditional generator.
        conv_clamp: clamp of every conv output (256; None off, official ``--fp32``).
        truncation_psi: w truncation at inference (None = off, the official default 1).
        noise_seed: base seed of the noise layers (None = random).
        randomize_noise: fresh noise at inference too.

    Reference: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020,
    arXiv 1912.04958); Sauer et al., "Projected GANs Converge Faster" (NeurIPS 2021).
    """

    def __init__(self, latent_dim=64, resolution=256, channels=3, w_dim=128, cbase=32768,
                 cmax=512, mapping_layers=2, num_classes=0, conv_clamp=256.0,
                 truncation_psi=None, noise_seed=None, randomize_noise=False, **kwargs):
        resolution = self._check_int("resolution", resolution, MIN_RESOLUTION)
        if 2 ** int(round(math.log2(resolution))) != resolution:
            raise ValueError(f"StyleGAN2Generator: resolution must be a power of two >= 4, "
                             f"got {resolution}")
        latent_dim = self._check_int("latent_dim", latent_dim, 1)
        channels = self._check_int("channels", channels, 1)
        w_dim = self._check_int("w_dim", w_dim, 1)
        cbase = self._check_int("cbase", cbase, 1)
        cmax = self._check_int("cmax", cmax, 1)
        mapping_layers = self._check_int("mapping_layers", mapping_layers, 1)
        num_classes = self._check_int("num_classes", num_classes, 0)
        chans = stylegan2_channels(resolution, cbase, cmax)
        if min(chans.values()) < 1:
            raise ValueError(f"StyleGAN2Generator: cbase={cbase} gives no channel at "
                             f"{resolution}x{resolution} (cbase // resolution must be >= 1)")
        super().__init__(**kwargs)
        self.latent_dim, self.resolution, self.channels = latent_dim, resolution, channels
        self.w_dim, self.cbase, self.cmax = w_dim, cbase, cmax
        self.mapping_layers, self.num_classes = mapping_layers, num_classes
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.truncation_psi = None if truncation_psi is None else float(truncation_psi)
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        self.randomize_noise = bool(randomize_noise)
        self.block_channels = chans
        self.block_resolutions = sorted(chans)

        # === Layers (official order: synthesis blocks b4..bN, then the mapping) ===
        for i, res in enumerate(self.block_resolutions):
            seed = None if self.noise_seed is None else self.noise_seed + 2 * i
            setattr(self, f"b{res}", SynthesisBlock(
                chans[res // 2] if res > 4 else 0, chans[res], res, img_channels=channels,
                conv_clamp=self.conv_clamp, resample_filter=DEFAULT_FILTER, noise_seed=seed,
                randomize_noise=self.randomize_noise, name=f"b{res}"))
        self.mapping = MappingNetwork(latent_dim, w_dim, num_layers=mapping_layers,
                                      num_classes=num_classes, truncation_psi=self.truncation_psi,
                                      name="mapping")

    @staticmethod
    def _check_int(name, value, minimum):
        try:
            ok = not isinstance(value, bool) and int(value) == value and int(value) >= minimum
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"StyleGAN2Generator: {name} must be an integer >= {minimum}, "
                             f"got {value!r}")
        return int(value)

    def build(self, input_shape=None):
        w_shape = (None, self.w_dim)
        for res in self.block_resolutions:
            getattr(self, f"b{res}").build(w_shape)
        self.mapping.build()
        self.built = True

    def call(self, inputs, training=None):
        if self.num_classes:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("a conditional StyleGAN2Generator is called on [z, class_id]")
            z, class_id = inputs
            w = self.mapping([ops.convert_to_tensor(z), class_id], training=training)
        else:
            z = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            w = self.mapping(ops.convert_to_tensor(z), training=training)
        x = img = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(w, x, img, training=training)
        return ops.cast(img, "float32")

    def compute_output_shape(self, input_shape):
        z_shape = input_shape[0] if self.num_classes else input_shape
        return (z_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        return {"latent_dim": self.latent_dim, "resolution": self.resolution,
                "channels": self.channels, "w_dim": self.w_dim, "cbase": self.cbase,
                "cmax": self.cmax, "mapping_layers": self.mapping_layers,
                "num_classes": self.num_classes, "conv_clamp": self.conv_clamp,
                "truncation_psi": self.truncation_psi, "noise_seed": self.noise_seed,
                "randomize_noise": self.randomize_noise, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
