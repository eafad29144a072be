"""ProGAN's progressive growing as a pure schedule: images seen -> stage, fade alpha, batch, lr.

After tkarras/progressive_growing_of_gans train.py ``TrainingSchedule`` and ``process_reals``:

- training starts at ``initial_resolution``; each *phase* is ``stable_kimg`` thousand images at
  the current resolution (``lod_training_kimg``), then ``fade_kimg`` thousand images fading the
  next resolution's layers in (``lod_transition_kimg``); after the final resolution is reached
  the schedule stays there;
- ``lod = log2(final) - log2(initial) - phase - max(phase_kimg - stable_kimg, 0) / fade_kimg``;
  the networks run at ``2 ** (log2(final) - floor(lod))``, so while fading into 8x8 the stage
  resolution is 8 and the new layers' weight is ``alpha = 1 - frac(lod)``;
- per-resolution global batch sizes and learning rates (``minibatch_dict``, ``G_lrate_dict``,
  ``D_lrate_dict``) with a base value for the others;
- ``reset_opt_for_new_lod``: the optimizers' state (Adam moments and step count) is reset
  whenever ``floor(lod)`` or ``ceil(lod)`` changes, i.e. at the start of every fade and every
  stable phase.

Keras-side contract: a *segment* is a span of images with one (resolution, fading) pair; the
training loop builds the data stream with the segment's batch, sets the networks' stage
(``set_stage``; the train function is traced once per segment, never per step) and the
learning rates, and resets the optimizers at a segment start. Within a segment only ``alpha``
changes: it is computed in the graph from ``images_seen`` (``alpha``, python or tensor). The
official code refreshes the schedule every 4 minibatches (``minibatch_repeats``); here alpha
moves every step.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Segment:
    """Images ``[start, end)`` trained at ``resolution``, fading its layers in when ``fading``."""

    start: int
    end: float          # math.inf for the final, open-ended segment
    resolution: int
    fading: bool
    batch: int
    g_lr: float
    d_lr: float
    index: int


def _table(table, key, base):
    """``table[res]`` with JSON's string keys accepted, else ``base``."""
    if not table:
        return base
    for k, v in table.items():
        if int(k) == key:
            return v
    return base


@dataclasses.dataclass(frozen=True)
class GrowthSchedule:
    """ProGAN's growing schedule (see the module docstring).

    Args:
        final_resolution: the data's resolution.
        initial_resolution: first resolution (official ``lod_initial_resolution`` 4).
        stable_kimg: kimg per stable phase (official 600; paper 800).
        fade_kimg: kimg per fade-in (official 600; paper 800).
        batch: global batch per resolution (``minibatch_dict``); others use ``batch_base``.
        batch_base: global batch elsewhere (``minibatch_base``).
        g_lr, d_lr: learning rate per resolution (``G_lrate_dict`` / ``D_lrate_dict``).
        g_lr_base, d_lr_base: learning rates elsewhere (``G_lrate_base`` 1e-3).
        reset_optimizer: reset the optimizer state at every segment start (official True).
    """

    final_resolution: int
    initial_resolution: int = 4
    stable_kimg: float = 600.0
    fade_kimg: float = 600.0
    batch: dict = dataclasses.field(default_factory=dict)
    batch_base: int = 16
    g_lr: dict = dataclasses.field(default_factory=dict)
    d_lr: dict = dataclasses.field(default_factory=dict)
    g_lr_base: float = 1e-3
    d_lr_base: float = 1e-3
    reset_optimizer: bool = True

    def __post_init__(self):
        for name in ("final_resolution", "initial_resolution"):
            r = getattr(self, name)
            if r < 4 or r & (r - 1):
                raise ValueError(f"growth: {name} must be a power of two >= 4, got {r}")
        if self.initial_resolution > self.final_resolution:
            raise ValueError(f"growth: initial_resolution {self.initial_resolution} is above the "
                             f"final resolution {self.final_resolution}")
        if self.stable_kimg < 0 or self.fade_kimg < 0 or self.stable_kimg + self.fade_kimg <= 0:
            raise ValueError("growth: stable_kimg and fade_kimg must be >= 0 with a positive sum")
        for res, b in list(self.batch.items()) + [("base", self.batch_base)]:
            if int(b) < 1:
                raise ValueError(f"growth: batch for {res} must be >= 1, got {b}")

    @property
    def levels(self) -> int:
        """Doublings from the initial to the final resolution."""
        return int(math.log2(self.final_resolution) - math.log2(self.initial_resolution))

    def lod(self, images_seen: float) -> float:
        """The official level of detail (0 = final resolution) after ``images_seen`` images."""
        kimg = images_seen / 1000.0
        dur = self.stable_kimg + self.fade_kimg
        phase = math.floor(kimg / dur)
        phase_kimg = kimg - phase * dur
        lod = self.levels - phase
        if self.fade_kimg > 0:
            lod -= max(phase_kimg - self.stable_kimg, 0.0) / self.fade_kimg
        return max(lod, 0.0)

    def _segment(self, index: int, start: float, end: float, resolution: int, fading: bool) -> Segment:
        return Segment(start=int(round(start)), end=end, resolution=resolution, fading=fading,
                       batch=int(_table(self.batch, resolution, self.batch_base)),
                       g_lr=float(_table(self.g_lr, resolution, self.g_lr_base)),
                       d_lr=float(_table(self.d_lr, resolution, self.d_lr_base)), index=index)

    def segments(self) -> list[Segment]:
        """Every segment in order; the last one is the open-ended stable final resolution."""
        out, start, res = [], 0.0, self.initial_resolution
        stable, fade = self.stable_kimg * 1000.0, self.fade_kimg * 1000.0
        for _ in range(self.levels):
            if stable > 0:
                out.append(self._segment(len(out), start, start + stable, res, False))
                start += stable
            res *= 2
            if fade > 0:
                out.append(self._segment(len(out), start, start + fade, res, True))
                start += fade
        out.append(self._segment(len(out), start, math.inf, res, False))
        return out

    def segment_at(self, images_seen: float) -> Segment:
        for seg in self.segments():
            if seg.start <= images_seen < seg.end:
                return seg
        raise AssertionError("unreachable: the last segment is open-ended")

    def alpha(self, images_seen, segment: Segment):
        """Weight of the newest layers at ``images_seen`` (python number or tensor): rises
        linearly from 0 to 1 over a fading segment, 1 otherwise."""
        if isinstance(images_seen, (int, float)):
            if not segment.fading:
                return 1.0
            x = (images_seen - segment.start) / (segment.end - segment.start)
            return min(max(x, 0.0), 1.0)
        import tensorflow as tf

        if not segment.fading:
            return tf.constant(1.0, tf.float32)
        x = (tf.cast(images_seen, tf.float64) - segment.start) / (segment.end - segment.start)
        return tf.cast(tf.clip_by_value(x, 0.0, 1.0), tf.float32)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def process_reals(images, resolution: int, alpha, fading: bool = True):
    """Real images (full resolution, NHWC) as the growing networks see them at ``resolution``:
    box-downsampled to it, blended with their own 2x coarser version by ``1 - alpha`` (the
    fade), nearest-upsampled back to full size (official ``process_reals`` ``FadeLOD`` and
    ``UpscaleLOD``; the official dataset stores the box-filtered pyramid levels)."""
    from keras import ops

    full = int(images.shape[1])
    if full % resolution:
        raise ValueError(f"stage resolution {resolution} does not divide the data's {full}")
    x = images
    f = full // resolution
    if f > 1:
        x = ops.average_pool(x, f, f, padding="valid")
    if fading:
        coarse = ops.average_pool(x, 2, 2, padding="valid")
        coarse = ops.repeat(ops.repeat(coarse, 2, axis=1), 2, axis=2)
        a = ops.cast(alpha, x.dtype)
        x = coarse + (x - coarse) * a
    if f > 1:
        x = ops.repeat(ops.repeat(x, f, axis=1), f, axis=2)
    return x


def growth_schedule(config, final_resolution: int) -> GrowthSchedule | None:
    """A run's ``GrowthSchedule`` (None without ``config.growth``); the config's batch and
    learning rates are the defaults of its tables."""
    if not config.growth:
        return None
    from keras_gans.errors import UsageError

    kw = {"batch_base": config.batch, "g_lr_base": config.g_lr, "d_lr_base": config.d_lr,
          **config.growth}
    try:
        return GrowthSchedule(final_resolution=final_resolution, **kw)
    except (ValueError, TypeError) as e:
        raise UsageError(f"invalid growth config: {e}") from e
