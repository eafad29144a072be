"""Adversarial losses for the discriminator and the generator, as per-example vectors.

Conventions shared by every function here (the training core relies on them):

* **Logits may be nested.** A logits argument is a tensor of shape ``[B]``, ``[B, 1]`` or
  ``[B, H, W, 1]`` (Projected GAN's 4x4 patch logits), or a list / tuple / dict of such tensors
  (several discriminators). :func:`per_example` reduces such a structure to ``[B]``: each tensor
  is averaged over its non-batch axes, then the tensors are summed (Projected GAN sums the losses
  of its discriminators).
* **Per-example results.** Every loss returns a float32 vector ``[B]``, never a batch mean. The
  caller reduces ``sum(loss) / global_batch_size``, which keeps gradients right under
  ``tf.distribute`` (gradients are summed across replicas).
* **float32 maths.** Inputs are cast to float32 first, so float16 / bfloat16 logits from a
  mixed-precision discriminator are fine.
* **Batch means go through ``mean_fn``.** The relativistic losses need the batch mean of the other
  side's logits. Under ``tf.distribute`` a per-replica mean is not the global mean, so these
  functions take ``mean_fn`` (default ``tf.reduce_mean(x, axis=0)``), applied to every tensor of
  the structure separately; the training core passes a cross-replica mean.

Every generator loss accepts ``(fake_logits, real_logits=None, mean_fn=None)`` and every
discriminator loss ``(real_logits, fake_logits, mean_fn=None)``, so the training core can call any
of them the same way; :func:`get_loss` returns them as an :class:`AdversarialLoss`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import tensorflow as tf

# A tensor, or a list / tuple / dict (possibly nested) of tensors with a leading batch axis.
Logits = Any
MeanFn = Callable[[tf.Tensor], tf.Tensor]

__all__ = [
    "AdversarialLoss",
    "LOSSES",
    "get_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "ns_logistic_discriminator_loss",
    "ns_logistic_generator_loss",
    "per_example",
    "rahinge_discriminator_loss",
    "rahinge_generator_loss",
    "wgan_discriminator_loss",
    "wgan_generator_loss",
]


# === Structure helpers ===


def to_float32(structure: Logits) -> Logits:
    """Casts every tensor of a (possibly nested) structure to float32."""
    return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), structure)


def per_example(x: Logits) -> tf.Tensor:
    """Reduces a tensor or a nested structure of tensors to one float32 value per example.

    Each tensor (``[B]``, ``[B, 1]``, ``[B, H, W, C]``, ...) is averaged over every axis but the
    first, giving ``[B]``; the ``[B]`` vectors of the structure's tensors are then summed::

        per_example(x)[b] = sum_k mean_{non-batch axes}(x_k[b])

    Summing over discriminators follows this project's design. The official Projected GAN code
    (autonomousvision/projected_gan ``pg_modules/discriminator.py``, ``MultiScaleD.forward``)
    concatenates the logit maps of its K discriminators and the loss takes one ``.mean()`` over
    them: with equally sized maps that is our value divided by K, a constant rescaling of the
    adversarial term (Adam's updates do not change with it, up to its epsilon, unless a
    regularizer is added beside it).

    Args:
        x: a tensor with a leading batch axis, or a list / tuple / dict of them (all with the same
            batch size).

    Returns:
        A float32 tensor of shape ``[B]``.

    Raises:
        ValueError: if the structure holds no tensor, or a tensor has no batch axis.
    """
    tensors = tf.nest.flatten(x)
    if not tensors:
        raise ValueError("per_example() needs at least one tensor, got an empty structure")
    total = None
    for t in tensors:
        t = tf.cast(t, tf.float32)
        if t.shape.rank == 0:
            raise ValueError(
                "per_example() needs tensors with a leading batch axis, got a scalar"
            )
        if t.shape.rank != 1:
            # Works for any known or unknown rank >= 1: [B, ...] -> [B, n] -> [B].
            t = tf.reduce_mean(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)
        total = t if total is None else total + t
    return total


def _batch_mean(x: tf.Tensor) -> tf.Tensor:
    """The default ``mean_fn``: the mean over the (local) batch axis."""
    return tf.reduce_mean(x, axis=0)


def _map(fn: Callable[..., tf.Tensor], *structures: Logits) -> Logits:
    return tf.nest.map_structure(fn, *structures)


def _require_real_logits(real_logits: Optional[Logits], loss_name: str) -> None:
    if real_logits is None:
        raise ValueError(
            f"{loss_name} needs the discriminator's logits on real data (real_logits); got None"
        )


# === Non-saturating logistic ===


def ns_logistic_discriminator_loss(
    real_logits: Logits, fake_logits: Logits, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Logistic discriminator loss (the original GAN objective), per example.

    ``L_D = softplus(-D(x)) + softplus(D(G(z)))``
    ``= -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))``.

    Reference: Goodfellow et al. 2014, "Generative Adversarial Nets", arXiv 1406.2661. Official
    code: ``D_logistic`` in NVlabs/stylegan ``training/loss.py`` (also akanimax/msg-stylegan-tf
    ``training/loss.py``, used by MSG-StyleGAN with R1).

    Args:
        real_logits: D's logits on real images (tensor or nested structure, see module doc).
        fake_logits: D's logits on generated images.
        mean_fn: unused; accepted so every discriminator loss has the same signature.

    Returns:
        float32 ``[B]``.
    """
    del mean_fn
    real = to_float32(real_logits)
    fake = to_float32(fake_logits)
    return per_example(_map(lambda r: tf.nn.softplus(-r), real)) + per_example(
        _map(tf.nn.softplus, fake)
    )


def ns_logistic_generator_loss(
    fake_logits: Logits, real_logits: Optional[Logits] = None, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Non-saturating logistic generator loss, per example.

    ``L_G = softplus(-D(G(z)))`` = ``-log sigmoid(D(G(z)))`` (the "-log D trick" of the paper,
    which keeps gradients strong early in training).

    Reference: Goodfellow et al. 2014, "Generative Adversarial Nets", arXiv 1406.2661, Sec. 3.
    Official code: ``G_logistic_nonsaturating`` in NVlabs/stylegan ``training/loss.py`` (the
    StyleGAN / MSG-StyleGAN generator loss).

    Args:
        fake_logits: D's logits on generated images.
        real_logits: unused; accepted for a uniform signature.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    del real_logits, mean_fn
    return per_example(_map(lambda f: tf.nn.softplus(-f), to_float32(fake_logits)))


# === Wasserstein ===


def wgan_discriminator_loss(
    real_logits: Logits, fake_logits: Logits, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Wasserstein critic loss, per example.

    ``L_D = D(G(z)) - D(x)``. The critic must be kept 1-Lipschitz: add
    :func:`keras_gans.losses.gradient_penalty` (WGAN-GP, lambda 10) and, as in ProGAN,
    :func:`keras_gans.losses.drift_penalty` (eps_drift 1e-3).

    References: Arjovsky et al. 2017, "Wasserstein GAN", arXiv 1701.07875; Gulrajani et al. 2017,
    "Improved Training of Wasserstein GANs", arXiv 1704.00028. Official code: ``D_wgangp_acgan`` in
    tkarras/progressive_growing_of_gans ``loss.py`` (``loss = fake_scores_out - real_scores_out``).

    Args:
        real_logits: D's scores on real images.
        fake_logits: D's scores on generated images.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    del mean_fn
    return per_example(to_float32(fake_logits)) - per_example(to_float32(real_logits))


def wgan_generator_loss(
    fake_logits: Logits, real_logits: Optional[Logits] = None, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Wasserstein generator loss, per example: ``L_G = -D(G(z))``.

    References: Arjovsky et al. 2017, arXiv 1701.07875; Gulrajani et al. 2017, arXiv 1704.00028.
    Official code: ``G_wgan_acgan`` in tkarras/progressive_growing_of_gans ``loss.py``.

    Args:
        fake_logits: D's scores on generated images.
        real_logits: unused; accepted for a uniform signature.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    del real_logits, mean_fn
    return -per_example(to_float32(fake_logits))


# === Hinge ===


def hinge_discriminator_loss(
    real_logits: Logits, fake_logits: Logits, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Hinge discriminator loss, per example.

    ``L_D = relu(1 - D(x)) + relu(1 + D(G(z)))``. With patch logits (Projected GAN's 4x4 maps) the
    hinge is taken per logit, then averaged over the map, then summed over discriminators.

    References: Lim & Ye 2017, "Geometric GAN", arXiv 1705.02894; Miyato et al. 2018, "Spectral
    Normalization for GANs", arXiv 1802.05957. Used by BigGAN (ajbrock/BigGAN-PyTorch
    ``losses.py``, ``loss_hinge_dis``) and Projected GAN (autonomousvision/projected_gan
    ``training/loss.py``).

    Args:
        real_logits: D's logits on real images.
        fake_logits: D's logits on generated images.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    del mean_fn
    real = to_float32(real_logits)
    fake = to_float32(fake_logits)
    return per_example(_map(lambda r: tf.nn.relu(1.0 - r), real)) + per_example(
        _map(lambda f: tf.nn.relu(1.0 + f), fake)
    )


def hinge_generator_loss(
    fake_logits: Logits, real_logits: Optional[Logits] = None, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Hinge-GAN generator loss, per example: ``L_G = -D(G(z))``.

    References: Lim & Ye 2017, arXiv 1705.02894; Miyato et al. 2018, arXiv 1802.05957.
    Official code: ``loss_hinge_gen`` in ajbrock/BigGAN-PyTorch ``losses.py``.

    Args:
        fake_logits: D's logits on generated images.
        real_logits: unused; accepted for a uniform signature.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    return wgan_generator_loss(fake_logits, real_logits, mean_fn)  # the same formula


# === Least squares ===


def lsgan_discriminator_loss(
    real_logits: Logits, fake_logits: Logits, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Least-squares discriminator loss, per example: ``L_D = (D(x) - 1)^2 + D(G(z))^2``.

    Each squared error is averaged over a patch map's positions and summed over discriminators
    (:func:`per_example`), as HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/networks.py ``GANLoss``
    (lines 364-387: ``nn.MSELoss`` against 1 for real and 0 for fake, summed over the list of
    the discriminators' outputs) with pix2pix_model.py ``backward_D`` (lines 95-108) adding the
    real and fake terms without a 1/2; the batch mean is the caller's ``sum / global_batch``.

    Reference: Mao et al. 2017, "Least Squares Generative Adversarial Networks", arXiv
    1611.04076 (a = 0, b = c = 1).

    Args:
        real_logits: D's outputs on real images (no sigmoid).
        fake_logits: D's outputs on generated images.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    del mean_fn
    real = to_float32(real_logits)
    fake = to_float32(fake_logits)
    return per_example(_map(lambda r: tf.square(r - 1.0), real)) + per_example(
        _map(tf.square, fake)
    )


def lsgan_generator_loss(
    fake_logits: Logits, real_logits: Optional[Logits] = None, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Least-squares generator loss, per example: ``L_G = (D(G(z)) - 1)^2``.

    HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/pix2pix_model.py ``backward_G_GAN`` (lines
    110-116: ``criterionGAN(pred_fake, True)``, the MSE against 1). Reference: Mao et al. 2017,
    arXiv 1611.04076.

    Args:
        fake_logits: D's outputs on generated images.
        real_logits: unused; accepted for a uniform signature.
        mean_fn: unused; accepted for a uniform signature.

    Returns:
        float32 ``[B]``.
    """
    del real_logits, mean_fn
    return per_example(_map(lambda f: tf.square(f - 1.0), to_float32(fake_logits)))


# === Relativistic average hinge ===


def rahinge_discriminator_loss(
    real_logits: Logits, fake_logits: Logits, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Relativistic average hinge discriminator loss, per example.

    ``L_D = relu(1 - (D(x) - mean D(G(z)))) + relu(1 + (D(G(z)) - mean D(x)))``

    The means are batch means, taken per tensor of the structure with ``mean_fn`` (for a patch map
    ``[B, H, W, 1]`` the default mean is per position, ``[H, W, 1]``). Under ``tf.distribute``
    pass a cross-replica mean, or the loss depends on the per-replica batch split.

    Reference: Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing
    from standard GAN", arXiv 1807.00734. Official MSG-GAN code: ``RelativisticAverageHingeGAN``
    in akanimax/BMSG-GAN ``sourcecode/MSG_GAN/Losses.py``.

    Args:
        real_logits: D's logits on real images.
        fake_logits: D's logits on generated images; same structure and batch size as real.
        mean_fn: maps a float32 tensor ``[B, ...]`` to its batch mean ``[...]``; default
            ``tf.reduce_mean(x, axis=0)``.

    Returns:
        float32 ``[B]``.
    """
    mean_fn = mean_fn or _batch_mean
    real = to_float32(real_logits)
    fake = to_float32(fake_logits)
    tf.nest.assert_same_structure(real, fake)
    mean_real = _map(mean_fn, real)
    mean_fake = _map(mean_fn, fake)
    real_term = _map(lambda r, mf: tf.nn.relu(1.0 - (r - mf)), real, mean_fake)
    fake_term = _map(lambda f, mr: tf.nn.relu(1.0 + (f - mr)), fake, mean_real)
    return per_example(real_term) + per_example(fake_term)


def rahinge_generator_loss(
    fake_logits: Logits, real_logits: Optional[Logits] = None, mean_fn: Optional[MeanFn] = None
) -> tf.Tensor:
    """Relativistic average hinge generator loss, per example.

    ``L_G = relu(1 + (D(x) - mean D(G(z)))) + relu(1 - (D(G(z)) - mean D(x)))``

    The discriminator's roles swapped: real logits come from the current D on a real batch (no
    gradient to D is needed; G's gradient flows through the fake logits, including through
    ``mean D(G(z))`` in the first term). Means as in :func:`rahinge_discriminator_loss`.

    Reference: Jolicoeur-Martineau 2018, arXiv 1807.00734. Official MSG-GAN code:
    ``RelativisticAverageHingeGAN.gen_loss`` in akanimax/BMSG-GAN
    ``sourcecode/MSG_GAN/Losses.py``.

    Args:
        fake_logits: D's logits on generated images.
        real_logits: D's logits on real images (required); same structure and batch size.
        mean_fn: maps a float32 tensor ``[B, ...]`` to its batch mean; default
            ``tf.reduce_mean(x, axis=0)``.

    Returns:
        float32 ``[B]``.

    Raises:
        ValueError: if ``real_logits`` is None.
    """
    _require_real_logits(real_logits, "rahinge_generator_loss")
    mean_fn = mean_fn or _batch_mean
    real = to_float32(real_logits)
    fake = to_float32(fake_logits)
    tf.nest.assert_same_structure(real, fake)
    mean_real = _map(mean_fn, real)
    mean_fake = _map(mean_fn, fake)
    real_term = _map(lambda r, mf: tf.nn.relu(1.0 + (r - mf)), real, mean_fake)
    fake_term = _map(lambda f, mr: tf.nn.relu(1.0 - (f - mr)), fake, mean_real)
    return per_example(real_term) + per_example(fake_term)


# === Registry ===


@dataclasses.dataclass(frozen=True)
class AdversarialLoss:
    """A named pair of adversarial losses.

    Attributes:
        name: canonical name ("ns", "wgan", "hinge", "rahinge", "lsgan").
        discriminator: ``fn(real_logits, fake_logits, mean_fn=None) -> [B]``.
        generator: ``fn(fake_logits, real_logits=None, mean_fn=None) -> [B]``.
        needs_real_logits_for_generator: True when the generator loss needs D's logits on a real
            batch (relativistic losses): the training core must then run D on reals in G's step.
    """

    name: str
    discriminator: Callable[..., tf.Tensor]
    generator: Callable[..., tf.Tensor]
    needs_real_logits_for_generator: bool


LOSSES: dict[str, AdversarialLoss] = {
    "ns": AdversarialLoss(
        "ns", ns_logistic_discriminator_loss, ns_logistic_generator_loss, False
    ),
    "wgan": AdversarialLoss("wgan", wgan_discriminator_loss, wgan_generator_loss, False),
    "hinge": AdversarialLoss("hinge", hinge_discriminator_loss, hinge_generator_loss, False),
    "rahinge": AdversarialLoss(
        "rahinge", rahinge_discriminator_loss, rahinge_generator_loss, True
    ),
    "lsgan": AdversarialLoss("lsgan", lsgan_discriminator_loss, lsgan_generator_loss, False),
}

_ALIASES = {"logistic": "ns", "nonsaturating": "ns"}


def get_loss(name: str) -> AdversarialLoss:
    """Returns the adversarial loss pair called ``name``.

    Args:
        name: "ns" (aliases "logistic", "nonsaturating"), "wgan", "hinge", "rahinge" or "lsgan";
            case-insensitive.

    Raises:
        ValueError: for an unknown name; the message lists the choices.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in LOSSES:
        choices = ", ".join(sorted(set(LOSSES) | set(_ALIASES)))
        raise ValueError(f"unknown adversarial loss {name!r}; choose one of: {choices}")
    return LOSSES[key]
