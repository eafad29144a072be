"""Projected GAN's FastGAN generator (Sauer et al. 2021; Liu et al. 2021).

After autonomousvision/projected_gan ``pg_modules/networks_fastgan.py`` (``FastganSynthesis``
L21-81, ``FastganSynthesisCond`` L84-147, ``Generator`` L150-178) with the blocks of
``pg_modules/blocks.py`` (``keras_gans.layers.fastgan``).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.fastgan import (TORCH_SN_EPSILON, FastGANInitLayer, FastGANSEBlock,
                                       FastGANUpBlock, torch_bias_initializer,
                                       torch_kernel_initializer)
from keras_gans.layers.spectral_normalization import SNConv2D

# networks_fastgan.py L28-29: feature maps at each side, times ngf.
NFC_MULTI = {2: 16, 4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
# (small side, big side) of the official skip-layer excitations (L46-48, L54, L66-76).
OFFICIAL_SE_LINKS = ((4, 64), (8, 128), (16, 256), (32, 512))
MIN_RESOLUTION = 16
MAX_RESOLUTION = 1024  # the official builds feat_1024 at most (L55-56)


def fastgan_channels(ngf: int) -> dict:
    """``nfc[side] = int(multiplier * ngf)`` (networks_fastgan.py L28-32)."""
    return {side: int(mult * ngf) for side, mult in NFC_MULTI.items()}


def se_links(resolution: int) -> list:
    """The (small, big) sides of the skip-layer excitations at ``resolution``: the official
    links whose both ends exist, plus (4, resolution) below 64 (our extension)."""
    links = [(s, b) for s, b in OFFICIAL_SE_LINKS if b <= resolution]
    if resolution < 64:
        links.append((4, resolution))
    return links


def normalize_second_moment(x, epsilon=1e-8):
    """``x * rsqrt(mean(x^2, axis=1) + eps)`` (networks_fastgan.py L9-10), over the last axis."""
    x32 = ops.cast(x, "float32")
    y = x32 * ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + epsilon)
    return ops.cast(y, x.dtype)


@keras.saving.register_keras_serializable("keras_gans")
class FastGANGenerator(keras.Model):
    """FastGAN generator, the generator of Projected GAN's ``--cfg fastgan`` / ``fastgan_lite``.

    Layout (``FastganSynthesis``, networks_fastgan.py L21-81; conditional:
    ``FastganSynthesisCond``, L84-147):

    - z is mapped to the hypersphere: ``normalize_second_moment`` (L9-10, L60);
    - ``init`` (``InitLayer(z_dim, channel=nfc[2], sz=4)``, L35): SN 4x4 transposed conv of the
      1x1 latent to ``2 * nfc[2]`` channels, batch norm, GLU -> 4x4 x ``nfc[4]``
      (``nfc[2] == nfc[4]``);
    - ``feat_8``, ``feat_16``, ... ``feat_<resolution>`` (L39-44, L52-56): up-blocks from
      ``nfc[side / 2]`` to ``nfc[side]`` channels: ``UpBlockBig`` (two SN conv3x3, scalar noise,
      batch norm, GLU) or with ``lite`` ``UpBlockSmall`` (one conv, batch norm, GLU), see
      ``FastGANUpBlock``;
    - skip-layer excitation (``SEBlock``, L46-48, L54, L66-76): ``se_64`` gates ``feat_64`` with
      ``feat_4``, ``se_128`` ``feat_128`` with ``feat_8``, ``se_256`` with ``feat_16``, ``se_512``
      with ``feat_32``; ``feat_1024`` has none;
    - ``to_big`` (L50): SN conv3x3 WITH bias to ``channels``. There is no tanh: the official
      image is the linear output of this conv (L81), and so is ours (real data is in [-1, 1];
      the discriminator sees the raw values).

    Channels ``nfc = {2: 16, 4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25,
    1024: 0.125} * ngf`` (``int``, L28-32). Class-conditional (``num_classes > 0``,
    ``FastganSynthesisCond``): the class goes through ``embed = nn.Embedding(num_classes,
    z_dim)`` (plain, N(0, 1), L120, L123) and the result ``y`` conditions the (conditional) batch
    norms of every up-block (``UpBlockBigCond`` / ``UpBlockSmallCond``); the init layer and the
    excitations are unconditional.

    Initialization is PyTorch's default (``keras_gans.layers.fastgan``: projected_gan never calls
    FastGAN-pytorch's N(0, 0.02) ``weights_init``); spectral norm with eps 1e-12 and one power
    iteration; batch norm with PyTorch momentum 0.1 (Keras 0.9), eps 1e-5.

    Resolutions: the official synthesis always builds up to ``feat_128`` and supports
    ``img_resolution >= 128`` only; here the up-blocks go from 8 to ``resolution``, so
    16, 32 and 64 are possible (CPU presets), with the official excitations whose both ends
    exist. Below 64 no official excitation exists, so one link from 4x4 to the final
    resolution (``se_<resolution>``, ``SEBlock(nfc[4], nfc[resolution])``) is added: a
    documented extension that keeps a skip-layer excitation at CPU scale. From 256 up the
    network has exactly the official layers, in the official order, with the official
    channels and parameter count. Deviations from the official code:

    - at 128 the official module also constructs ``feat_256`` and ``se_256``, which its forward
      pass never uses (L44, L48 vs L69-73): those dead parameters are not built here, so the
      parameter count at 128 is the official one minus theirs;
    - the official conditional generator cannot be built above 256 (``UpBlock(nfc[256],
      nfc[512])`` at L115, L118 lacks the ``z_dim`` argument of the conditional blocks, a
      ``TypeError``); here ``feat_512`` and ``feat_1024`` are conditional like the others;
    - noise: the official draws fresh noise in eval mode too; here inference uses fixed noise
      maps unless ``randomize_noise`` (training always draws fresh noise), so the generator
      and its exports are deterministic functions of their inputs;
    - the class arrives as an integer id [B] (the training core's convention) instead of the
      official one-hot ``c`` whose ``argmax`` is embedded (L123): the same embedding row;
    - the official ``Generator`` wraps the synthesis with a ``DummyMapping`` (``z.unsqueeze(1)``
      for the StyleGAN API, L13-18, L171): no counterpart needed here;
    - spectral norm at inference takes one power step from the stored ``u`` without storing it
      (PyTorch reuses its stored ``u`` and ``v``): it only affects inference marginally.

    Call: ``g(z)`` with ``z`` [B, latent_dim], or ``g([z, class_id])`` (int [B]) when
    ``num_classes > 0``; returns float32 images [B, resolution, resolution, channels].

    Args:
        latent_dim: size of z (``z_dim``, 256 official).
        resolution: output side, a power of two in [16, 1024].
        channels: image channels (``img_channels``).
        ngf: channel multiplier (128 official, train.py L210 keeps the default).
        lite: ``fastgan_lite`` (``UpBlockSmall`` blocks, train.py L211).
        num_classes: > 0 for the class-conditional generator (train.py ``--cond``).
        noise_seed: base seed of the noise layers (None = random).
        randomize_noise: fresh noise at inference too (the official behaviour).

    Example:
        >>> g = FastGANGenerator(latent_dim=64, resolution=32, ngf=16, lite=True)
        >>> images = g(z)                      # [B, 32, 32, 3], linear output
        >>> g(z, training=True)                # batch statistics, fresh noise, SN u updated

    Reference: Sauer et al., "Projected GANs Converge Faster" (NeurIPS 2021, arXiv 2111.01007);
    Liu et al., "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image
    Synthesis" (ICLR 2021, arXiv 2101.04775).
    """

    def __init__(self, latent_dim=256, resolution=256, channels=3, ngf=128, lite=False,
                 num_classes=0, noise_seed=None, randomize_noise=False, **kwargs):
        resolution = self._check_int("resolution", resolution, 1)
        log2 = int(round(math.log2(resolution)))
        if 2 ** log2 != resolution or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
            raise ValueError(f"FastGANGenerator: resolution must be a power of two in "
                             f"[{MIN_RESOLUTION}, {MAX_RESOLUTION}], got {resolution}")
        latent_dim = self._check_int("latent_dim", latent_dim, 1)
        channels = self._check_int("channels", channels, 1)
        ngf = self._check_int("ngf", ngf, 1)
        num_classes = self._check_int("num_classes", num_classes, 0)
        nfc = fastgan_channels(ngf)
        sides = [2 ** r for r in range(2, log2 + 1)]
        too_narrow = [s for s in sides if nfc[s] < 1]
        if too_narrow:
            raise ValueError(f"FastGANGenerator: ngf={ngf} gives no channel at side(s) "
                             f"{too_narrow} (nfc = int(multiplier * ngf), multiplier "
                             f"{NFC_MULTI[too_narrow[0]]}); use ngf >= "
                             f"{math.ceil(1 / NFC_MULTI[too_narrow[0]])}")
        super().__init__(**kwargs)
        # === Config ===
        self.latent_dim = latent_dim
        self.resolution = resolution
        self.channels = channels
        self.ngf = ngf
        self.lite = bool(lite)
        self.num_classes = num_classes
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        self.randomize_noise = bool(randomize_noise)
        self.nfc = nfc
        self.up_sides = sides[1:]
        self.se_links = se_links(resolution)
        self._se_by_big = {big: small for small, big in self.se_links}
        self._se_small = sorted({small for small, _ in self.se_links})

        # === Layers (official attribute order: init, feat_8..feat_256, se_*, to_big,
        # feat_512, se_512, feat_1024, embed) ===
        cond = bool(num_classes)
        self.init = FastGANInitLayer(nfc[2], name="init")
        for i, side in enumerate(self.up_sides):
            if side > 256:
                continue
            setattr(self, f"feat_{side}", self._up_block(side, i, cond))
        for small, big in self.se_links:
            if big <= 256:
                setattr(self, f"se_{big}", FastGANSEBlock(nfc[big], name=f"se_{big}"))
        self.to_big = SNConv2D(channels, 3, padding="same", use_bias=True,
                               epsilon=TORCH_SN_EPSILON,
                               kernel_initializer=torch_kernel_initializer(),
                               bias_initializer=torch_bias_initializer(9 * nfc[resolution]),
                               name="to_big")
        for i, side in enumerate(self.up_sides):
            if side <= 256:
                continue
            setattr(self, f"feat_{side}", self._up_block(side, i, cond))
            if side in self._se_by_big:
                setattr(self, f"se_{side}", FastGANSEBlock(nfc[side], name=f"se_{side}"))
        self.embed = None
        if cond:
            self.embed = keras.layers.Embedding(
                num_classes, latent_dim,
                embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0), name="embed")

    @staticmethod
    def _check_int(name, value, minimum):
        try:
            ok = not isinstance(value, bool) and int(value) == value and int(value) >= minimum
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"FastGANGenerator: {name} must be an integer >= {minimum}, "
                             f"got {value!r}")
        return int(value)

    def _up_block(self, side, index, cond):
        seed = None if self.noise_seed is None else self.noise_seed + 2 * index
        return FastGANUpBlock(self.nfc[side], lite=self.lite, conditional=cond, noise_seed=seed,
                              randomize_noise=self.randomize_noise, name=f"feat_{side}")

    def build(self, input_shape=None):
        y_shape = (None, self.latent_dim)
        self.init.build((None, self.latent_dim))
        shapes = {4: (None, 4, 4, self.nfc[4])}
        for side in self.up_sides:
            prev = shapes[side // 2]
            getattr(self, f"feat_{side}").build([prev, y_shape] if self.num_classes else prev)
            shapes[side] = (None, side, side, self.nfc[side])
            if side in self._se_by_big:
                getattr(self, f"se_{side}").build([shapes[self._se_by_big[side]], shapes[side]])
        self.to_big.build(shapes[self.resolution])
        if self.embed is not None:
            self.embed.build((None,))
        self.built = True

    def call(self, inputs, training=None):
        y = None
        if self.num_classes:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("a conditional FastGANGenerator is called on [z, class_id]")
            z, class_id = inputs
            y = self.embed(ops.reshape(ops.cast(class_id, "int32"), (-1,)))
        else:
            z = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        x = normalize_second_moment(ops.convert_to_tensor(z))
        x = self.init(x, training=training)
        saved = {4: x}
        for side in self.up_sides:
            block = getattr(self, f"feat_{side}")
            x = block([x, ops.cast(y, x.dtype)] if y is not None else x, training=training)
            if side in self._se_by_big:
                x = getattr(self, f"se_{side}")([saved[self._se_by_big[side]], x],
                                                training=training)
            if side in self._se_small:
                saved[side] = x
        return ops.cast(self.to_big(x, training=training), "float32")

    def compute_output_shape(self, input_shape):
        z_shape = input_shape[0] if self.num_classes else input_shape
        return (z_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        return {"latent_dim": self.latent_dim, "resolution": self.resolution,
                "channels": self.channels, "ngf": self.ngf, "lite": self.lite,
                "num_classes": self.num_classes, "noise_seed": self.noise_seed,
                "randomize_noise": self.randomize_noise, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
