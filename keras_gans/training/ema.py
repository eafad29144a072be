"""Exponential moving average of generator weights: the schedule as a pure function.

The EMA generator is what every paper samples and evaluates:

- ProGAN (tkarras/progressive_growing_of_gans, train.py ``G_smoothing=0.999``): a fixed beta per
  step.
- StyleGAN2-ADA (NVlabs, training_loop.py ``ema_kimg``/``ema_rampup``): a half-life in kimg,
  ``beta = 0.5 ** (batch / (ema_kimg * 1000))``, with the half-life capped at
  ``rampup * images_seen`` early in training so the average does not drag the random init along.
- BigGAN (ajbrock/BigGAN-PyTorch, ``--ema --ema_start 20000 --ema_decay 0.9999``): a fixed beta
  that starts after a number of iterations; before it the EMA copies G.

``EmaSchedule.beta(images_seen, batch)`` returns the decay for the update made after a step of
``batch`` images when ``images_seen`` images had been seen before it; it accepts Python numbers
or tensors, so the same function drives training and is tested against tables.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EmaSchedule:
    """Decay schedule of the generator EMA.

    Args:
        beta: fixed decay per step (ProGAN 0.999, BigGAN 0.9999). Exclusive with half_life_kimg.
        half_life_kimg: half-life of the average in thousands of images (StyleGAN2: 10).
        rampup: with half_life_kimg, cap the half-life at ``rampup * images_seen``
            (StyleGAN2-ADA: 0.05); None disables the ramp-up.
        start_kimg: before this many kimg the EMA copies the generator (beta 0), BigGAN's
            ``ema_start`` expressed in images.
        non_trainable: what happens to non-trainable float variables (batch-norm statistics,
            StyleGAN's average w, fixed noise): "average" them like the weights (BigGAN's
            ``utils.ema`` walks the whole ``state_dict``, buffers included) or "copy" them
            (ProGAN / StyleGAN ``setup_as_moving_average_of(beta_nontrainable=0)``).
    """

    beta: float | None = 0.999
    half_life_kimg: float | None = None
    rampup: float | None = None
    start_kimg: float = 0.0
    non_trainable: str = "average"

    def __post_init__(self):
        if self.non_trainable not in ("average", "copy"):
            raise ValueError(f"EmaSchedule: non_trainable must be average or copy, got {self.non_trainable!r}")
        if (self.beta is None) == (self.half_life_kimg is None):
            raise ValueError("EmaSchedule: give exactly one of beta and half_life_kimg")
        if self.beta is not None and not 0.0 <= self.beta < 1.0:
            raise ValueError(f"EmaSchedule: beta must be in [0, 1), got {self.beta}")
        if self.half_life_kimg is not None and self.half_life_kimg <= 0:
            raise ValueError(f"EmaSchedule: half_life_kimg must be positive, got {self.half_life_kimg}")

    def beta_at(self, images_seen, batch):
        """Decay for the update after a step of ``batch`` images (python floats or tf tensors)."""
        import tensorflow as tf

        images_seen = tf.cast(images_seen, tf.float64)
        batch = tf.cast(batch, tf.float64)
        if self.beta is not None:
            beta = tf.constant(self.beta, tf.float64)
        else:
            half_life = tf.constant(self.half_life_kimg * 1000.0, tf.float64)
            if self.rampup is not None:
                half_life = tf.minimum(half_life, images_seen * self.rampup)
            half = tf.constant(0.5, tf.float64)
            zero = tf.constant(0.0, tf.float64)
            beta = tf.where(half_life > 0, tf.pow(half, batch / tf.maximum(half_life, 1e-8)), zero)
        started = images_seen >= self.start_kimg * 1000.0
        return tf.cast(tf.where(started, beta, tf.constant(0.0, tf.float64)), tf.float32)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
