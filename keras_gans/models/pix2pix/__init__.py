"""Pix2Pix-MS (MSGAN's image-to-image setting): BicycleGAN's U-Net with z, multi-scale PatchGANs.

Mao et al. 2019, "Mode Seeking Generative Adversarial Networks for Diverse Image Synthesis"
(arXiv 1903.05628), Sec. 4.2, on Isola et al. 2017's pix2pix with Zhu et al. 2017's
BicycleGAN networks: HelenMao/MSGAN Pix2Pix-Mode-Seeking (models/networks.py,
models/pix2pix_model.py, options/*.py). The generator takes ``[z, condition image]``, the
discriminators ``[image, condition image]``; the training recipe (LSGAN, L1 x 10 on the first
fake, mode seeking, G first) is the presets' (``pix2pix_presets``), run by the one ``GAN``.
"""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.networks import Networks
from keras_gans.models.pix2pix.pix2pix_discriminator import MultiPatchDiscriminator, patch_size
from keras_gans.models.pix2pix.pix2pix_generator import UNetGenerator
from keras_gans.models.pix2pix.pix2pix_presets import PRESETS

__all__ = ["UNetGenerator", "MultiPatchDiscriminator", "build_pix2pix"]

_KEYS = ("latent_dim", "ngf", "ndf", "where_add", "use_dropout", "n_layers", "num_ds")


def _int(config, key, default, low):
    value = config.model.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"pix2pix: model.{key} must be an integer >= {low}, got {value!r}")
    return value


def check_pix2pix(config) -> None:
    registry.unknown_keys("pix2pix", config.model, _KEYS)
    for key, default, low in (("latent_dim", 8, 0), ("ngf", 64, 1), ("ndf", 64, 1),
                              ("n_layers", 3, 1), ("num_ds", 2, 1)):
        _int(config, key, default, low)
    if config.model.get("where_add", "all") not in ("all", "input"):
        raise UsageError(f"pix2pix: model.where_add must be 'all' (z at every U-Net level, "
                         f"G_Unet_add_all) or 'input' (G_Unet_add_input), got "
                         f"{config.model['where_add']!r}")
    if not isinstance(config.model.get("use_dropout", False), bool):
        raise UsageError("pix2pix: model.use_dropout must be true or false")
    if config.conditional:
        raise UsageError("pix2pix is conditioned on an image, not on classes: set "
                         "conditional=false (the condition comes from the paired data)")


def build_pix2pix(config, manifest, discriminator: bool = True) -> Networks:
    """``keras_gans.models.registry`` builder (``config.model``: latent_dim 8, ngf 64, ndf 64,
    where_add "all", use_dropout false, n_layers 3, num_ds 2: the official defaults)."""
    check_pix2pix(config)
    if not getattr(manifest, "paired", False):
        raise UsageError(
            f"pix2pix translates a condition image into an image, but {manifest.root or 'the data'} "
            "is not a paired dataset (no condition images): prepare one with `keras-gans prepare "
            "--pairs ab|folders` or the bundled `--source edges2digits`")
    m = config.model
    latent = _int(config, "latent_dim", 8, 0)
    res, ch, cond = manifest.resolution, manifest.channels, manifest.condition_channels
    n_layers, num_ds = _int(config, "n_layers", 3, 1), _int(config, "num_ds", 2, 1)
    smallest = res // 2 ** (num_ds - 1)
    if patch_size(smallest, n_layers) < 1:
        raise UsageError(f"pix2pix: at {res}x{res} the {n_layers}-layer PatchGAN of discriminator "
                         f"{num_ds} ({smallest}x{smallest} input) has no output; lower "
                         "model.n_layers or model.num_ds")
    try:
        g = UNetGenerator(latent, res, cond, ch, _int(config, "ngf", 64, 1),
                          where_add=m.get("where_add", "all"),
                          use_dropout=bool(m.get("use_dropout", False)), name="generator")
        d = (MultiPatchDiscriminator(res, ch, cond, _int(config, "ndf", 64, 1), n_layers, num_ds,
                                     name="discriminator") if discriminator else None)
    except ValueError as e:
        raise UsageError(f"pix2pix: {e}") from e
    return Networks(g, d, latent, 0, condition_shape=(res, res, cond))


registry.register_family(
    "pix2pix", build_pix2pix, check_pix2pix, PRESETS,
    tiny={"latent_dim": 2, "ngf": 2, "ndf": 2, "n_layers": 2},
    description="Pix2Pix-MS: BicycleGAN U-Net with z, multi-scale PatchGANs (MSGAN image-to-image)")
