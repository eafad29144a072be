"""Projected GAN (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021): a FastGAN or
StyleGAN2 generator against discriminators on frozen, pretrained EfficientNet-Lite features mixed
by frozen random projections, with DiffAugment. Official code: autonomousvision/projected_gan."""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.networks import Networks
from keras_gans.models.projected.discriminator import (PatchDiscriminator, ProjectedDiscriminator,
                                                       nominal_sizes)
from keras_gans.models.projected.projected_presets import PRESETS
from keras_gans.models.projected.projector import PROJECTIONS, RandomProjection

__all__ = ["PatchDiscriminator", "ProjectedDiscriminator", "RandomProjection", "PROJECTIONS",
           "build_projected", "nominal_sizes"]

_G_FASTGAN = ("latent_dim", "ngf")
_G_STYLEGAN2 = ("latent_dim", "w_dim", "cbase", "cmax", "mapping_layers", "conv_clamp",
                "truncation_psi")
_D = ("backbone", "backbone_weights", "projection", "cout", "expand", "csm_kernel_size",
      "num_discs", "input_size", "cmap_dim", "embedding_dim", "sn_epsilon", "separable")
GENERATORS = ("fastgan", "fastgan_lite", "stylegan2")


def _generator_keys(kind):
    return _G_STYLEGAN2 if kind == "stylegan2" else _G_FASTGAN


def check_projected(config) -> str:
    """Check ``config.model`` without data; returns the generator kind."""
    kw = dict(config.model)
    kind = kw.pop("generator", "fastgan")
    if kind not in GENERATORS:
        raise UsageError(f"projected: generator must be one of {', '.join(GENERATORS)}, got {kind!r}")
    registry.unknown_keys("projected", kw, _generator_keys(kind) + _D,
                          extra_hint=f"generator ({kind}), ")
    return kind


def build_projected(config, manifest, restoring=False, discriminator: bool = True):
    """``keras_gans.models.registry`` builder.

    ``config.model``: ``generator`` ("fastgan" | "fastgan_lite" | "stylegan2", train.py
    ``--cfg``); FastGAN's ``latent_dim`` (official 256) and ``ngf`` (official 128), or
    StyleGAN2's ``latent_dim`` (z_dim, official 64), ``w_dim`` (128), ``cbase`` (32768), ``cmax``
    (512), ``mapping_layers`` (2), ``conv_clamp`` (256), ``truncation_psi`` (None: off); and the
    discriminator's arguments (``ProjectedDiscriminator``: ``backbone`` lite0 | lite1,
    ``backbone_weights`` path | "random", ``projection`` none | ccm | ccm+csm, ``cout``,
    ``expand``, ``num_discs``, ``input_size``, ``separable`` (official: True with StyleGAN2)...).
    ``restoring``: a checkpoint supplies every weight next, the frozen features included, so the
    feature weights file is not read (export, evaluate and resume work without it).
    """
    from keras_gans.models.projected.fastgan import FastGANGenerator
    from keras_gans.models.projected.stylegan2 import StyleGAN2Generator

    kind = check_projected(config)
    kw = dict(config.model)
    kw.pop("generator", None)
    classes = manifest.num_classes if config.conditional else 0
    res, ch = manifest.resolution, manifest.channels
    g_kw = {k: kw[k] for k in _generator_keys(kind) if k in kw}
    d_kw = {k: kw[k] for k in _D if k in kw}
    if restoring:
        from keras_gans.models.projected.efficientnet_lite import FROM_CHECKPOINT

        d_kw["backbone_weights"] = FROM_CHECKPOINT
    try:
        if kind == "stylegan2":
            g = StyleGAN2Generator(resolution=res, channels=ch, num_classes=classes,
                                   name="generator", **g_kw)
        else:
            g = FastGANGenerator(resolution=res, channels=ch, num_classes=classes,
                                 lite=kind == "fastgan_lite", name="generator", **g_kw)
        g.build()
        d = None
        if discriminator:
            d = ProjectedDiscriminator(res, ch, num_classes=classes, name="discriminator", **d_kw)
            d.build()
    except (ValueError, TypeError) as e:
        raise UsageError(f"projected: {e}") from e
    return Networks(g, d, latent_dim=g.latent_dim, num_classes=classes)


def _tiny(model: dict) -> dict:
    """Tiny networks for the contract test; random frozen features (no converted EfficientNet
    weights needed)."""
    d = {"backbone_weights": "random", "input_size": 64, "cout": 8}
    if model.get("generator") == "stylegan2":  # 8 channels at 4..16, 4 at 32
        return {"latent_dim": 8, "w_dim": 8, "cbase": 128, "cmax": 8, **d}
    return {"ngf": 4, "latent_dim": 8, **d}


registry.register_family(
    "projected", build_projected, check_projected, PRESETS, tiny=_tiny,
    description="Projected GAN: FastGAN or StyleGAN2 G vs discriminators on frozen "
                "EfficientNet-Lite features")
