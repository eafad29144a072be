"""BigGAN (Brock et al. 2018): generator, projection discriminator, presets and the builder."""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.biggan.biggan_discriminator import BigGANDiscriminator
from keras_gans.models.biggan.biggan_generator import BigGANGenerator
from keras_gans.models.biggan.biggan_presets import PRESETS
from keras_gans.models.networks import Networks

__all__ = ["BigGANGenerator", "BigGANDiscriminator", "build_biggan"]

# config.model keys; ``d_ch`` / ``d_attention`` default to ``ch`` / ``attention``
# (the official scripts always set --G_ch = --D_ch and --G_attn = --D_attn).
_G_KEYS = ("ch", "dim_z", "shared_dim", "shared_embedding", "hierarchical", "attention", "init",
           "sn_epsilon", "bn_epsilon")
_D_ONLY = ("d_ch", "d_attention", "d_init")


def check_biggan(config) -> None:
    """The model arguments and conditioning ``build_biggan`` accepts, checked without data."""
    if not config.conditional:
        raise UsageError(
            "biggan is class-conditional only: it needs conditional=true and labelled data "
            f"(preset {config.preset}: conditional={config.conditional})")
    registry.unknown_keys("biggan", config.model, _G_KEYS + _D_ONLY)


def build_biggan(config, manifest, discriminator: bool = True):
    """``keras_gans.models.registry`` builder: ``(TrainConfig, Manifest) -> Networks``.

    Resolution and channels come from the manifest, the rest from ``config.model``
    (keys: ch, dim_z, shared_dim, shared_embedding, hierarchical, attention, init, sn_epsilon,
    bn_epsilon, d_ch, d_attention, d_init). BigGAN is class-conditional only.
    """
    check_biggan(config)
    if not manifest.num_classes:
        raise UsageError(
            "biggan is class-conditional only: it needs conditional=true and labelled data "
            f"(preset {config.preset}: conditional={config.conditional}, the data has "
            f"{manifest.num_classes} classes)")
    kw = dict(config.model)
    g_kw = {k: kw[k] for k in _G_KEYS if k in kw}
    d_kw = {k: kw[k] for k in ("ch", "attention", "init", "sn_epsilon") if k in kw}
    for key in _D_ONLY:
        if key in kw:
            d_kw[key[2:]] = kw[key]
    common = dict(num_classes=manifest.num_classes, resolution=manifest.resolution,
                  channels=manifest.channels)
    try:
        g = BigGANGenerator(**common, **g_kw, name="generator")
        d = BigGANDiscriminator(**common, **d_kw, name="discriminator") if discriminator else None
    except (ValueError, TypeError) as e:
        raise UsageError(f"biggan: {e}") from e
    # BigGAN.py G_D.forward: D scores cat(fakes, reals) in one call (no batch statistics in D).
    return Networks(g, d, latent_dim=g.dim_z, num_classes=manifest.num_classes,
                    joint_discriminator=True)


registry.register_family(
    "biggan", build_biggan, check_biggan, PRESETS,
    tiny={"ch": 4, "shared_dim": 8, "dim_z": 16, "attention": 0},
    description="BigGAN: class-conditional, SN, cBN, skip-z, self-attention, projection D")
