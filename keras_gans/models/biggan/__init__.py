"""BigGAN (Brock et al. 2018): generator, projection discriminator, presets and the builder.

Two architectures of the paper and of ajbrock/BigGAN-PyTorch share this family, its presets,
sampling (truncation, standing statistics) and evaluation protocols: ``model.variant``
"standard" (BigGAN.py, the default) and "deep" (BigGANdeep.py: BigGAN-deep).
"""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.biggan.biggan_deep_discriminator import BigGANDeepDiscriminator
from keras_gans.models.biggan.biggan_deep_generator import BigGANDeepGenerator
from keras_gans.models.biggan.biggan_discriminator import BigGANDiscriminator
from keras_gans.models.biggan.biggan_generator import BigGANGenerator
from keras_gans.models.biggan.biggan_presets import PRESETS
from keras_gans.models.networks import Networks

__all__ = ["BigGANGenerator", "BigGANDiscriminator", "BigGANDeepGenerator",
           "BigGANDeepDiscriminator", "build_biggan"]

# config.model keys; ``d_ch`` / ``d_attention`` default to ``ch`` / ``attention``
# (the official scripts always set --G_ch = --D_ch and --G_attn = --D_attn).
_G_KEYS = ("ch", "dim_z", "shared_dim", "shared_embedding", "hierarchical", "attention", "init",
           "sn_epsilon", "bn_epsilon")
_D_ONLY = ("d_ch", "d_attention", "d_init")
# BigGAN-deep: the whole z and the shared embedding feed every block (BigGANdeep.py runs only with
# --G_shared --hier), so no shared_embedding / hierarchical switches; ``d_depth`` defaults to
# ``depth`` (launch_BigGAN_deep.sh: --G_depth 2 --D_depth 2).
_DEEP_G_KEYS = ("ch", "depth", "dim_z", "shared_dim", "attention", "init", "sn_epsilon",
                "bn_epsilon")
_DEEP_D_ONLY = ("d_ch", "d_depth", "d_attention", "d_init")
VARIANTS = ("standard", "deep")


def _variant(config) -> str:
    variant = config.model.get("variant", "standard")
    if variant not in VARIANTS:
        raise UsageError(f"biggan: model.variant must be one of {list(VARIANTS)}, got {variant!r}")
    return variant


def check_biggan(config) -> None:
    """The model arguments and conditioning ``build_biggan`` accepts, checked without data."""
    if not config.conditional:
        raise UsageError(
            "biggan is class-conditional only: it needs conditional=true and labelled data "
            f"(preset {config.preset}: conditional={config.conditional})")
    if _variant(config) == "deep":
        registry.unknown_keys("biggan (variant deep)", config.model,
                              ("variant",) + _DEEP_G_KEYS + _DEEP_D_ONLY)
    else:
        registry.unknown_keys("biggan", config.model, ("variant",) + _G_KEYS + _D_ONLY)


def build_biggan(config, manifest, discriminator: bool = True):
    """``keras_gans.models.registry`` builder: ``(TrainConfig, Manifest) -> Networks``.

    Resolution and channels come from the manifest, the rest from ``config.model``
    (keys: variant; standard: ch, dim_z, shared_dim, shared_embedding, hierarchical, attention,
    init, sn_epsilon, bn_epsilon, d_ch, d_attention, d_init; deep: ch, depth, dim_z, shared_dim,
    attention, init, sn_epsilon, bn_epsilon, d_ch, d_depth, d_attention, d_init). BigGAN is
    class-conditional only.
    """
    check_biggan(config)
    if not manifest.num_classes:
        raise UsageError(
            "biggan is class-conditional only: it needs conditional=true and labelled data "
            f"(preset {config.preset}: conditional={config.conditional}, the data has "
            f"{manifest.num_classes} classes)")
    kw = dict(config.model)
    deep = kw.pop("variant", "standard") == "deep"
    g_keys, d_only = (_DEEP_G_KEYS, _DEEP_D_ONLY) if deep else (_G_KEYS, _D_ONLY)
    g_cls, d_cls = ((BigGANDeepGenerator, BigGANDeepDiscriminator) if deep
                    else (BigGANGenerator, BigGANDiscriminator))
    g_kw = {k: kw[k] for k in g_keys if k in kw}
    shared = ("ch", "depth", "attention", "init", "sn_epsilon") if deep else (
        "ch", "attention", "init", "sn_epsilon")
    d_kw = {k: kw[k] for k in shared if k in kw}
    for key in d_only:
        if key in kw:
            d_kw[key[2:]] = kw[key]
    common = dict(num_classes=manifest.num_classes, resolution=manifest.resolution,
                  channels=manifest.channels)
    try:
        g = g_cls(**common, **g_kw, name="generator")
        d = d_cls(**common, **d_kw, name="discriminator") if discriminator else None
    except (ValueError, TypeError) as e:
        raise UsageError(f"biggan: {e}") from e
    # BigGAN.py / BigGANdeep.py G_D.forward: D scores cat(fakes, reals) in one call (no batch
    # statistics in D).
    return Networks(g, d, latent_dim=g.dim_z, num_classes=manifest.num_classes,
                    joint_discriminator=True)


registry.register_family(
    "biggan", build_biggan, check_biggan, PRESETS,
    tiny=lambda model: {"ch": 4, "shared_dim": 8, "dim_z": 16, "attention": 0, **(
        {"depth": 1, "d_depth": 1} if model.get("variant") == "deep" else {})},
    description="BigGAN and BigGAN-deep (model.variant): class-conditional, SN, cBN, "
                "self-attention, projection D")
