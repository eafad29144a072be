"""Projected GAN (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021): a FastGAN
generator against discriminators on frozen, pretrained EfficientNet-Lite features mixed by frozen
random projections, with DiffAugment. Official code: autonomousvision/projected_gan."""

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

_G = ("latent_dim", "ngf")
_D = ("backbone", "backbone_weights", "projection", "cout", "expand", "csm_kernel_size",
      "num_discs", "input_size", "cmap_dim", "embedding_dim", "sn_epsilon")
GENERATORS = ("fastgan", "fastgan_lite")


def check_projected(config) -> str:
    """Check ``config.model`` without data; returns the generator kind."""
    kw = dict(config.model)
    kind = kw.pop("generator", "fastgan")
    if kind not in GENERATORS:
        raise UsageError(f"projected: generator must be one of {', '.join(GENERATORS)}, got {kind!r}")
    registry.unknown_keys("projected", kw, _G + _D, extra_hint="generator, ")
    return kind


def build_projected(config, manifest, restoring=False, discriminator: bool = True):
    """``keras_gans.models.registry`` builder.

    ``config.model``: ``generator`` ("fastgan" | "fastgan_lite", train.py ``--cfg``), its
    ``latent_dim`` (official 256) and ``ngf`` (official 128), and the discriminator's arguments
    (``ProjectedDiscriminator``: ``backbone`` lite0 | lite1, ``backbone_weights`` path | "random",
    ``projection`` none | ccm | ccm+csm, ``cout``, ``expand``, ``num_discs``, ``input_size``...).
    ``restoring``: a checkpoint supplies every weight next, the frozen features included, so the
    feature weights file is not read (export, evaluate and resume work without it).
    """
    from keras_gans.models.projected.fastgan import FastGANGenerator

    kind = check_projected(config)
    kw = dict(config.model)
    kw.pop("generator", None)
    classes = manifest.num_classes if config.conditional else 0
    res, ch = manifest.resolution, manifest.channels
    g_kw = {k: kw[k] for k in _G if k in kw}
    d_kw = {k: kw[k] for k in _D if k in kw}
    if restoring:
        from keras_gans.models.projected.efficientnet_lite import FROM_CHECKPOINT

        d_kw["backbone_weights"] = FROM_CHECKPOINT
    try:
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


registry.register_family(
    "projected", build_projected, check_projected, PRESETS,
    # Random frozen features: the contract test needs no converted EfficientNet weights.
    tiny={"ngf": 4, "latent_dim": 8, "backbone_weights": "random", "input_size": 64, "cout": 8},
    description="Projected GAN: FastGAN G vs discriminators on frozen EfficientNet-Lite features")
