"""ProGAN (Karras et al. 2018): growing generator and discriminator, presets and the builder."""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.networks import Networks
from keras_gans.models.progan.progan_networks import ProGANDiscriminator, ProGANGenerator
from keras_gans.models.progan.progan_presets import PRESETS

__all__ = ["ProGANGenerator", "ProGANDiscriminator", "build_progan"]

_G_KEYS = ("latent_dim", "fmap_base", "fmap_decay", "fmap_max", "normalize_latents",
           "use_pixelnorm", "pixelnorm_epsilon")
_D_KEYS = ("mbstd_group_size", "mbstd_num_features", "label_conditioning")
_SHARED = ("fmap_base", "fmap_decay", "fmap_max")


def check_progan(config) -> None:
    registry.unknown_keys("progan", config.model, _G_KEYS + _D_KEYS)


def build_progan(config, manifest, discriminator: bool = True):
    """``keras_gans.models.registry`` builder: growing ProGAN G and D (``config.growth`` drives
    the stages; without it they train at the final resolution, the official ``-nogrowing``).
    Conditional runs get the official AC-GAN discriminator and its label penalty
    (``model.label_conditioning``: "acgan" | "switch")."""
    check_progan(config)
    kw = dict(config.model)
    classes = manifest.num_classes if config.conditional else 0
    common = dict(resolution=manifest.resolution, channels=manifest.channels, num_classes=classes)
    try:
        g = ProGANGenerator(**common, **{k: kw[k] for k in _G_KEYS if k in kw}, name="generator")
        d = None if not discriminator else ProGANDiscriminator(**common, **{k: kw[k] for k in _D_KEYS + _SHARED if k in kw},
                                name="discriminator")
        g.build()
        if d is not None:
            d.build()
    except (ValueError, TypeError) as e:
        raise UsageError(f"progan: {e}") from e
    # AC-GAN: the label penalty on both networks (loss.py cond_weight 1.0), unless configured.
    regs = [{"type": "label", "weight": 1.0, "target": t} for t in ("discriminator", "generator")]
    return Networks(g, d, latent_dim=g.latent_dim, num_classes=classes,
                    regularizers=regs if d is not None and d.auxiliary_classes else [])


registry.register_family(
    "progan", build_progan, check_progan, PRESETS,
    tiny={"fmap_base": 32, "fmap_max": 8, "latent_dim": 8},
    description="ProGAN: progressive growing, equalized lr, pixel norm, minibatch stddev")
