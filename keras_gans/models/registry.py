"""Architecture registry: name -> builder(config, manifest) -> ``Networks``.

A builder with pretrained parts (Projected GAN's frozen feature network) also takes
``restoring``: True when the caller restores every weight from a training checkpoint right after
building, so those parts need not be read from their files: resume, export and evaluate need only
the run directory.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

from keras_gans.errors import UsageError


@dataclasses.dataclass
class Networks:
    generator: object
    discriminator: object
    latent_dim: int
    num_classes: int = 0
    real_key: str = "image"                   # "pyramid" for multi-scale discriminators
    pyramid_min_resolution: int | None = None
    # Regularizer configs the networks need (an AC-GAN D's label penalty); the training loop adds
    # each one unless the config already has a regularizer of the same type and target.
    regularizers: list = dataclasses.field(default_factory=list)


def _dcgan(config, manifest) -> Networks:
    from keras_gans.models.dcgan import DCGANDiscriminator, DCGANGenerator

    kw = dict(config.model)
    latent = int(kw.pop("latent_dim", 100))
    base = int(kw.pop("base_filters", 128))
    if kw:
        raise UsageError(f"dcgan: unknown model arguments {sorted(kw)} (known: latent_dim, base_filters)")
    classes = manifest.num_classes if config.conditional else 0
    res, ch = manifest.resolution, manifest.channels
    try:
        g = DCGANGenerator(latent, res, ch, base, num_classes=classes, name="generator")
        d = DCGANDiscriminator(res, ch, base, num_classes=classes, name="discriminator")
    except ValueError as e:
        raise UsageError(str(e)) from e
    return Networks(g, d, latent, classes)


def _biggan(config, manifest) -> Networks:
    from keras_gans.models.biggan import build_biggan

    return build_biggan(config, manifest)


def _progan(config, manifest) -> Networks:
    from keras_gans.models.progan import build_progan

    return build_progan(config, manifest)


def _msggan(config, manifest) -> Networks:
    from keras_gans.models.msggan import build_msggan

    return build_msggan(config, manifest)


def _projected(config, manifest, restoring=False) -> Networks:
    from keras_gans.models.projected import build_projected

    return build_projected(config, manifest, restoring=restoring)


ARCHITECTURES: dict[str, Callable] = {"dcgan": _dcgan, "biggan": _biggan, "progan": _progan,
                                      "msggan": _msggan, "projected": _projected}


def build(config, manifest, restoring: bool = False) -> Networks:
    if config.arch not in ARCHITECTURES:
        raise UsageError(f"unknown architecture {config.arch!r}; known: {sorted(ARCHITECTURES)}")
    if config.conditional and not manifest.labelled:
        raise UsageError(
            f"preset {config.preset} is class-conditional but {manifest.root} has no labels; prepare "
            "labelled data (--labels folders|FILE) or use an unconditional preset")
    builder = ARCHITECTURES[config.arch]
    if restoring and "restoring" in inspect.signature(builder).parameters:
        return builder(config, manifest, restoring=True)
    return builder(config, manifest)
