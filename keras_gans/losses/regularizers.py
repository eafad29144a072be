"""Regularizers the ``GAN`` train step adds to a network's loss.

Each regularizer is a small object with ``name``, ``target`` ("discriminator" or "generator"),
``interval`` (lazy regularization: computed every ``interval`` steps and scaled by it, as in
StyleGAN2) and ``__call__(ctx) -> (per_example [B] | None, batch_scalar | None)``, where ``ctx``
is a ``keras_gans.training.gan.StepContext``. The GAN reduces per-example terms as
``sum / global_batch`` and divides batch terms by the number of replicas, so every term is
replica-correct. The weight is applied here, so the logged value is what enters the loss.

The formulas live in ``keras_gans.losses.penalties``; this module binds them to the step.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from keras_gans.losses import penalties


@dataclasses.dataclass
class GradientPenalty:
    """WGAN-GP: ``weight * (||grad D(x_hat)|| - target)^2 / target^2`` on interpolates.

    Gulrajani et al. 2017 (arXiv 1704.00028); ProGAN uses weight 10, target 1
    (tkarras/progressive_growing_of_gans loss.py ``D_wgangp_acgan``). For multi-scale
    discriminators the interpolates are taken at every scale with one alpha per example.
    """

    weight: float = 10.0
    target_norm: float = 1.0
    interval: int = 1
    name: str = "gp"
    target: str = "discriminator"

    def __call__(self, ctx):
        gp = penalties.gradient_penalty(ctx.discriminator_fn, ctx.real, ctx.fake,
                                        target=self.target_norm, alpha=ctx.uniform())
        return self.weight * gp, None


@dataclasses.dataclass
class R1:
    """R1: ``gamma / 2 * ||grad D(x)||^2`` on real data (Mescheder et al. 2018, arXiv 1801.04406).

    MSG-StyleGAN uses gamma 10 (akanimax/msg-stylegan-tf); StyleGAN2 applies it lazily every
    16 minibatches (``interval=16``).

    On a multi-scale real input (MSG-GAN's pyramid), ``scales`` picks the form:

    - ``"mean"`` (default, the official MSG-StyleGAN penalty,
      ``penalties.r1_penalty_pyramid``): the mean over the levels of the squared norms of the
      total derivatives, the pyramid rebuilt in the graph from the full-resolution image;
    - ``"joint"``: the squared norm over all levels taken as separate inputs
      (``penalties.r1_penalty``; about S times stronger with S levels). Kept for comparison.
    """

    gamma: float = 10.0
    interval: int = 1
    name: str = "r1"
    target: str = "discriminator"
    scales: str = "mean"

    def __post_init__(self):
        if self.scales not in ("mean", "joint"):
            raise ValueError(f"R1 scales must be 'mean' or 'joint', got {self.scales!r}")

    def __call__(self, ctx):
        if isinstance(ctx.real, (list, tuple)) and self.scales == "mean":
            return 0.5 * self.gamma * penalties.r1_penalty_pyramid(ctx.discriminator_fn, ctx.real), None
        return 0.5 * self.gamma * penalties.r1_penalty(ctx.discriminator_fn, ctx.real), None


@dataclasses.dataclass
class Drift:
    """ProGAN's drift term ``weight * D(x)^2`` keeping WGAN logits near 0 (eps_drift 1e-3)."""

    weight: float = 1e-3
    interval: int = 1
    name: str = "drift"
    target: str = "discriminator"

    def __call__(self, ctx):
        return self.weight * penalties.drift_penalty(ctx.real_logits), None


def _orthogonal_kernels(model) -> list:
    """Kernels with >= 2 dims, skipping embeddings (BigGAN excludes its shared embedding)."""
    out = []
    for v in model.trainable_variables:
        name = v.path if hasattr(v, "path") else v.name
        if len(v.shape) >= 2 and "embedding" not in name:
            out.append(v)
    return out


@dataclasses.dataclass
class OrthogonalRegularization:
    """BigGAN's off-diagonal orthogonal regularization (Brock et al. 2018, arXiv 1809.11096).

    ``beta / 2 * sum_W ||W W^T * (1 - I)||_F^2`` over the target network's kernels: the loss
    whose gradient is exactly the official update ``beta * 2 (W W^T * (1 - I)) W`` of ajbrock/
    BigGAN-PyTorch utils.py ``ortho`` (the paper's ``beta * ||.||^2`` would double it). The
    released models used G_ortho 0.0; the paper 1e-4.
    """

    beta: float = 1e-4
    target: str = "generator"
    interval: int = 1
    name: str = "ortho"

    def __post_init__(self):
        self.name = f"ortho_{self.target[0]}" if self.name == "ortho" else self.name

    def __call__(self, ctx):
        model = ctx.generator if self.target == "generator" else ctx.discriminator
        return None, penalties.orthogonal_regularization(_orthogonal_kernels(model), beta=self.beta)


@dataclasses.dataclass
class ModeSeeking:
    """MSGAN's mode-seeking term ``lam / (L_ms + eps)`` (Mao et al. 2019, arXiv 1903.05628).

    ``L_ms = mean|G(c, z1) - G(c, z2)| / mean|z1 - z2|`` (HelenMao/MSGAN DCGAN-Mode-Seeking/
    model.py ``update_G``). One implementation for every architecture: with this regularizer
    the GAN draws the fake batch as two halves z1, z2 with the same classes (as the official
    code), both halves enter the adversarial losses, and the means are cross-replica means.
    """

    lam: float = 1.0
    eps: float = 1e-5
    interval: int = 1
    name: str = "ms"
    target: str = "generator"
    needs_paired_latents = True

    def __call__(self, ctx):
        half = tf.shape(ctx.z)[0] // 2
        split = lambda x: (x[:half], x[half:])  # noqa: E731
        images = tf.nest.map_structure(split, ctx.fake)
        if isinstance(ctx.fake, (list, tuple)):
            first = [a for a, _ in images]
            second = [b for _, b in images]
        else:
            first, second = images
        z1, z2 = split(ctx.z)
        return None, penalties.mode_seeking_loss(first, second, z1, z2, lam=self.lam,
                                                 eps=self.eps, sum_fn=ctx.sum_fn)


@dataclasses.dataclass
class L2:
    """Coupled L2 weight decay ``weight / 2 * sum(w^2)``: PyTorch ``Adam(weight_decay=w)`` adds
    ``w * param`` to every gradient, which is this loss's gradient (MSGAN's CDCGAN uses 1e-4 on
    both networks). Keras' ``weight_decay`` is the decoupled (AdamW) kind, a different thing."""

    weight: float = 1e-4
    target: str = "generator"
    interval: int = 1
    name: str = "l2"

    def __post_init__(self):
        self.name = f"l2_{self.target[0]}" if self.name == "l2" else self.name

    def __call__(self, ctx):
        model = ctx.generator if self.target == "generator" else ctx.discriminator
        total = tf.add_n([tf.reduce_sum(tf.square(tf.cast(v.value, tf.float32)))
                          for v in model.trainable_variables])
        return None, 0.5 * self.weight * total


@dataclasses.dataclass
class LabelPenalty:
    """AC-GAN's label penalty (Odena et al. 2017, arXiv 1610.09585), as ProGAN trains its
    conditional discriminator's auxiliary classifier (tkarras/progressive_growing_of_gans
    loss.py): for D ``weight * (CE(real class logits, real labels) + CE(fake class logits, fake
    labels))`` (``D_wgangp_acgan``), for G ``weight * CE(fake class logits, fake labels)``
    (``G_wgan_acgan``), softmax cross-entropy per example, ``cond_weight`` 1.0. Needs a
    discriminator that returns ``{"score", "class_logits"}`` (ProGAN's
    ``label_conditioning="acgan"``).
    """

    weight: float = 1.0
    target: str = "discriminator"
    interval: int = 1
    name: str = "label"
    needs_class_logits = True

    def __post_init__(self):
        if self.target not in ("discriminator", "generator"):
            raise ValueError(f"label penalty target must be discriminator or generator, got {self.target!r}")
        self.name = f"label_{self.target[0]}" if self.name == "label" else self.name

    def __call__(self, ctx):
        fakes = penalties.label_penalty(ctx.fake_class_logits, ctx.fake_labels)
        if self.target == "generator":
            return self.weight * fakes, None
        return self.weight * (penalties.label_penalty(ctx.real_class_logits, ctx.labels) + fakes), None


@dataclasses.dataclass
class L1Reconstruction:
    """Pix2pix's reconstruction term for the generator: ``weight * mean|G(c, z1) - y|``
    between the first fake of each row (the first of a mode-seeking pair) and the real image
    ``y`` of its condition ``c``.

    HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/pix2pix_model.py ``backward_G`` lines 124-128:
    ``criterionL1(fake_B_random1, real_B) * lambda_L1`` with ``lambda_L1`` 10
    (options/train_options.py line 33); only ``fake_B_random1`` is compared, the second fake
    of the pair is left free. Needs an image-conditioned GAN (``StepContext.targets``).
    """

    weight: float = 10.0
    interval: int = 1
    name: str = "l1"
    target: str = "generator"
    needs_targets = True

    def __post_init__(self):
        if self.target != "generator":
            raise ValueError(f"the L1 reconstruction term trains the generator, got target {self.target!r}")

    def __call__(self, ctx):
        if ctx.targets is None:
            raise ValueError("the L1 reconstruction term needs the real images of the fakes' "
                             "conditions: an image-conditioned GAN on paired data")
        rows = tf.shape(tf.nest.flatten(ctx.targets)[0])[0]
        first = tf.nest.map_structure(lambda t: t[:rows], ctx.fake)
        return self.weight * penalties.l1_reconstruction(first, ctx.targets), None


REGISTRY = {"gp": GradientPenalty, "r1": R1, "drift": Drift, "ortho": OrthogonalRegularization,
            "ms": ModeSeeking, "l2": L2, "label": LabelPenalty, "l1": L1Reconstruction}


def from_config(config: dict):
    """Build a regularizer from ``{"type": "gp", ...kwargs}`` (presets and --set use this)."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in REGISTRY:
        raise ValueError(f"unknown regularizer type {kind!r}; choose from {sorted(REGISTRY)}")
    try:
        return REGISTRY[kind](**config)
    except TypeError as e:
        raise ValueError(f"bad arguments for regularizer {kind!r}: {e}") from e
