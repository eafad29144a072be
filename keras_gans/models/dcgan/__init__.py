"""DCGAN (Radford et al. 2016): the CPU baseline and MSGAN's conditional DCGAN."""

from __future__ import annotations

from keras_gans.errors import UsageError
from keras_gans.models import registry
from keras_gans.models.dcgan.dcgan_discriminator import DCGANDiscriminator
from keras_gans.models.dcgan.dcgan_generator import DCGANGenerator
from keras_gans.models.dcgan.dcgan_presets import PRESETS
from keras_gans.models.networks import Networks

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "build_dcgan"]

_KEYS = ("latent_dim", "base_filters", "bn_momentum", "bn_epsilon")


def check_dcgan(config) -> None:
    registry.unknown_keys("dcgan", config.model, _KEYS)


def build_dcgan(config, manifest, discriminator: bool = True) -> Networks:
    """``keras_gans.models.registry`` builder (``config.model``: latent_dim 100, base_filters 128,
    bn_momentum 0.99 and bn_epsilon 1e-3 (Keras' defaults; MSGAN's presets: PyTorch's 0.9, 1e-5))."""
    check_dcgan(config)
    latent = int(config.model.get("latent_dim", 100))
    base = int(config.model.get("base_filters", 128))
    bn = {k: float(config.model[k]) for k in ("bn_momentum", "bn_epsilon") if k in config.model}
    classes = manifest.num_classes if config.conditional else 0
    res, ch = manifest.resolution, manifest.channels
    try:
        g = DCGANGenerator(latent, res, ch, base, num_classes=classes, name="generator", **bn)
        d = (DCGANDiscriminator(res, ch, base, num_classes=classes, name="discriminator", **bn)
             if discriminator else None)
    except ValueError as e:
        raise UsageError(str(e)) from e
    return Networks(g, d, latent, classes)


registry.register_family(
    "dcgan", build_dcgan, check_dcgan, PRESETS, tiny={"latent_dim": 8, "base_filters": 4},
    description="DCGAN: the CPU baseline and MSGAN's conditional DCGAN (one-hot classes)")
