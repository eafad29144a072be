"""``Networks``: what an architecture's builder returns to the training loop."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Networks:
    """A generator / discriminator pair and how the GAN core drives them.

    Attributes:
        generator, discriminator: the Keras models.
        latent_dim: the generator's z size.
        num_classes: classes the networks are conditioned on (0: unconditional).
        real_key: the batch key D reads real images from ("pyramid" for multi-scale Ds).
        pyramid_min_resolution: the smallest pyramid level the reader must produce.
        regularizers: regularizer configs the networks need (an AC-GAN D's label penalty); the
            training loop adds each one unless the config already has one of the same type and
            target.
        joint_discriminator: D has no batch statistics, and the official code scores fakes and
            reals in one call on their concatenation (BigGAN); see ``GAN``.
        condition_shape: (H, W, C) of the condition image of an image-conditioned generator
            (``G([z, condition])``, ``D([image, condition])``: Pix2Pix-MS); None otherwise.
    """

    generator: object
    discriminator: object
    latent_dim: int
    num_classes: int = 0
    real_key: str = "image"
    pyramid_min_resolution: int | None = None
    regularizers: list = dataclasses.field(default_factory=list)
    joint_discriminator: bool = False
    condition_shape: tuple | None = None
