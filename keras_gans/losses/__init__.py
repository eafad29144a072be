"""GAN losses and regularizers, as per-example float32 vectors (see ``adversarial``).

Adversarial losses come in ``xxx_discriminator_loss`` / ``xxx_generator_loss`` pairs, also
available by name through :func:`get_loss`. Penalties on the discriminator return per-example
vectors without their weight; batch-level regularizers return scalars.
"""

from keras_gans.losses.adversarial import (
    LOSSES,
    AdversarialLoss,
    get_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    ns_logistic_discriminator_loss,
    ns_logistic_generator_loss,
    per_example,
    rahinge_discriminator_loss,
    rahinge_generator_loss,
    wgan_discriminator_loss,
    wgan_generator_loss,
)
from keras_gans.losses.penalties import (
    drift_penalty,
    gradient_penalty,
    l1_reconstruction,
    mode_seeking_loss,
    mode_seeking_ratio,
    orthogonal_regularization,
    r1_penalty,
    r1_penalty_pyramid,
)

__all__ = [
    "LOSSES",
    "AdversarialLoss",
    "drift_penalty",
    "get_loss",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "l1_reconstruction",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "mode_seeking_loss",
    "mode_seeking_ratio",
    "ns_logistic_discriminator_loss",
    "ns_logistic_generator_loss",
    "orthogonal_regularization",
    "per_example",
    "r1_penalty",
    "r1_penalty_pyramid",
    "rahinge_discriminator_loss",
    "rahinge_generator_loss",
    "wgan_discriminator_loss",
    "wgan_generator_loss",
]
