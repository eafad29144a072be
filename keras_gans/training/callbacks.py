"""Callbacks of a training run: progress, TensorBoard, sample grids, checkpoints, NaN guard,
time limit and in-training evaluation.

A Keras "epoch" of ``fit`` is one *tick* of ``tick_kimg`` thousand images; the logs Keras
passes at a tick's end are the tick's means. Every callback counts progress in images seen
(``gan.images_seen``), which a resumed run continues, never resets.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gans import image_grid, runs
from keras_gans.errors import UsageError


def _finite_logs(logs) -> bool:
    for key in ("d_loss", "g_loss"):
        value = (logs or {}).get(key)
        if value is not None and not math.isfinite(float(value)):
            return False
    return True


class TrainingDiverged(RuntimeError):
    """A non-finite loss stopped training; the message names the step and the checkpoint."""


class Progress(keras.callbacks.Callback):
    """One line per tick (kimg, img/s, ETA, losses) and a live line on terminals."""

    def __init__(self, total_kimg: float, images_per_step: int, log=print, live: bool | None = None):
        super().__init__()
        self.total_kimg = total_kimg
        self.images_per_step = images_per_step
        self.log = log
        self.live = sys.stdout.isatty() if live is None else live
        self.tick_start = None
        self.tick_images = 0
        self.ticks = 0  # over every fit() of the run (growth segments each have their own)

    def on_train_begin(self, logs=None):
        self.run_start = time.time()
        self.kimg_start = float(self.model.images_seen.numpy()) / 1000

    def on_epoch_begin(self, epoch, logs=None):
        self.tick_start = time.time()
        self.tick_seen = float(self.model.images_seen.numpy())

    def on_train_batch_end(self, batch, logs=None):
        if self.live and batch % 10 == 0:
            kimg = float(self.model.images_seen.numpy()) / 1000
            rate = (kimg * 1000 - self.tick_seen) / max(time.time() - self.tick_start, 1e-9)
            sys.stdout.write(f"\r  kimg {kimg:8.1f}/{self.total_kimg:g}  {rate:6.0f} img/s ")
            sys.stdout.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.ticks += 1
        kimg = float(self.model.images_seen.numpy()) / 1000
        seconds = time.time() - self.tick_start
        rate = (kimg * 1000 - self.tick_seen) / max(seconds, 1e-9)
        done = kimg - self.kimg_start
        elapsed = time.time() - self.run_start
        eta = max(0.0, self.total_kimg - kimg) * elapsed / max(done, 1e-9)
        logs = logs or {}
        logs["img_per_s"] = rate
        logs["sec_per_tick"] = seconds
        parts = " ".join(f"{k} {float(v):.4g}" for k, v in sorted(logs.items())
                         if k in ("d_loss", "g_loss") or k.startswith("reg_"))
        if self.live:
            sys.stdout.write("\r")
        digits = 1 if self.total_kimg >= 10 else 3
        self.log(f"tick {self.ticks:<4d} kimg {kimg:8.{digits}f}/{self.total_kimg:g} ({100 * kimg / self.total_kimg:3.0f}%)  "
                 f"{rate:6.0f} img/s  eta {datetime.timedelta(seconds=int(eta))}  {parts}")


def lr_decay_factor(lr_decay: dict, images_seen: int) -> float:
    """The learning-rate factor of pix2pix's ``lambda`` policy after ``images_seen`` images.

    HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/networks.py ``get_scheduler`` (lines 45-49):
    ``1 - max(0, epoch - niter) / (niter_decay + 1)``, where ``epoch`` counts the scheduler
    steps taken, one at the end of every epoch (train.py line 61), i.e. the completed epochs.
    ``lr_decay``: ``{"epoch_kimg": images per epoch / 1000, "constant_epochs": niter,
    "decay_epochs": niter_decay}``; empty = no decay (factor 1). Past the official
    ``niter + niter_decay`` epochs (where its loop stops) the factor stays at 0, never negative.
    """
    if not lr_decay:
        return 1.0
    epochs = int(images_seen // round(float(lr_decay["epoch_kimg"]) * 1000))
    return max(0.0, 1.0 - max(0, epochs - int(lr_decay["constant_epochs"])) / float(
        int(lr_decay["decay_epochs"]) + 1))


class LearningRateDecay(keras.callbacks.Callback):
    """Assigns ``base * lr_decay_factor`` to both optimizers whenever an epoch of the decay
    schedule ends (the images seen are counted in Python, no device sync per step); ``base`` is
    the config's (or the growth segment's) learning rates, set by the loop."""

    def __init__(self, lr_decay: dict, images_per_step: int, assign):
        super().__init__()
        self.lr_decay = dict(lr_decay)
        self.images_per_step = int(images_per_step)
        self.assign = assign  # (g_lr, d_lr) -> None
        self.base = None
        self.factor = None

    def _update(self):
        factor = lr_decay_factor(self.lr_decay, self.seen)
        if factor != self.factor:
            self.factor = factor
            self.assign(self.base[0] * factor, self.base[1] * factor)

    def on_train_begin(self, logs=None):
        self.seen = int(self.model.images_seen.numpy())
        self.factor = None
        self._update()

    def on_train_batch_end(self, batch, logs=None):
        self.seen += self.images_per_step
        self._update()


class Checkpointer(keras.callbacks.Callback):
    """Writes a checkpoint every ``every_ticks`` ticks and at the end (``tf.train.CheckpointManager``:
    data files first, then the ``checkpoint`` index by atomic rename, keeping the last K)."""

    def __init__(self, manager: tf.train.CheckpointManager, every_ticks: int, log=print):
        super().__init__()
        self.manager = manager
        self.every = every_ticks
        self.log = log
        self.ticks = 0

    def save(self):
        seen = int(self.model.images_seen.numpy())
        path = self.manager.save(checkpoint_number=seen)
        return path

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_logs(logs):
            return  # never checkpoint a diverged state
        self.ticks += 1
        if self.ticks % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        if not getattr(self.model, "_diverged", False) and _finite_logs(logs):
            self.save()


class TimeLimit(keras.callbacks.Callback):
    """Stops ``fit()`` at the first tick (epoch) end after ``minutes`` of training, summed over
    the fit() calls of one run (growth segments); ``reached`` tells the loop to stop too."""

    def __init__(self, minutes: float, log=print):
        super().__init__()
        self.limit = float(minutes) * 60.0
        self.log = log
        self.elapsed = 0.0
        self.reached = False
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self.limit and self.elapsed + (time.time() - self._start) >= self.limit:
            self.reached = True
            self.model.stop_training = True
            self.log(f"  time limit: {self.limit / 60:g} min reached at "
                     f"{int(self.model.images_seen.numpy()) / 1000:.1f} kimg; stopping with a "
                     "checkpoint (--resume continues)")

    def on_train_end(self, logs=None):
        if self._start is not None:
            self.elapsed += time.time() - self._start
            self._start = None


class NanGuard(keras.callbacks.Callback):
    """Stops (or rolls back) on a non-finite D or G loss, naming the step and the checkpoint."""

    def __init__(self, manager: tf.train.CheckpointManager, checkpoint: tf.train.Checkpoint,
                 policy: str = "stop", max_rollbacks: int = 3, log=print):
        super().__init__()
        self.manager = manager
        self.checkpoint = checkpoint
        self.policy = policy
        self.max_rollbacks = max_rollbacks
        self.rollbacks = 0
        self.message = None
        self.log = log

    def on_train_batch_end(self, batch, logs=None):
        if _finite_logs(logs):
            return
        step = int(self.model.step_counter.numpy())
        kimg = float(self.model.images_seen.numpy()) / 1000
        last = self.manager.latest_checkpoint
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        what = ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(logs.items()) if k in ("d_loss", "g_loss"))
        if self.policy == "rollback" and last and self.rollbacks < self.max_rollbacks:
            self.rollbacks += 1
            self.checkpoint.restore(last).expect_partial()
            self.model.seed_offset.assign_add(self.rollbacks)  # fresh randomness for the retry
            self.log(f"non-finite loss at step {step} ({kimg:.1f} kimg: {what}); rolled back to {last} "
                     f"(rollback {self.rollbacks}/{self.max_rollbacks})")
            return
        self.message = (f"training stopped: non-finite loss at step {step} ({kimg:.1f} kimg: {what}); "
                        f"{where}. Resume from it with `--resume` after lowering the learning rate "
                        "or adding a penalty, or set nan_policy=rollback")
        self.model._diverged = True
        self.model.stop_training = True


class Recorder(keras.callbacks.Callback):
    """TensorBoard scalars / images / histograms and ``metrics.jsonl``, one record per tick."""

    def __init__(self, run_dir: str, fixed_z: np.ndarray, fixed_labels: np.ndarray | None,
                 sample_ticks: int, class_names=None, histogram_ticks: int = 0, log=print):
        super().__init__()
        self.run_dir = run_dir
        self.writer = tf.summary.create_file_writer(runs.tensorboard_dir(run_dir))
        self.fixed_z = fixed_z
        self.fixed_labels = fixed_labels
        self.sample_ticks = sample_ticks
        self.histogram_ticks = histogram_ticks
        self.class_names = class_names
        self.ticks = 0
        self.log = log
        os.makedirs(runs.samples_dir(run_dir), exist_ok=True)

    def _lr(self, optimizer):
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        return float(keras.ops.convert_to_numpy(inner.learning_rate))

    def samples(self) -> np.ndarray:
        """uint8 grid images from the fixed latents with the EMA generator (all scales shown
        side by side for multi-scale generators, upsampled to the final size)."""
        gan = self.model
        net = gan.ema_generator if gan.ema_generator is not None else gan.generator
        out = net(gan.generator_inputs(tf.constant(self.fixed_z),
                                       None if self.fixed_labels is None else tf.constant(self.fixed_labels)),
                  training=False)
        scales = list(out) if isinstance(out, (list, tuple)) else [out]
        final = scales[-1].shape[1]
        images = [image_grid.to_uint8(np.asarray(tf.image.resize(s, (final, final), "nearest")))
                  for s in scales]
        images = np.concatenate(images, axis=2) if len(images) > 1 else images[0]
        if getattr(gan, "condition_shape", None) is not None:
            images = self._with_conditions(images)
        return images

    def _with_conditions(self, images: np.ndarray) -> np.ndarray:
        """Image-conditioned runs: each row of 8 outputs (one condition, 8 latents) preceded
        by its condition image (the MSGAN paper's figure: rows = inputs, columns = outputs)."""
        conditions = image_grid.to_uint8(np.asarray(self.fixed_labels[::8]))
        channels = images.shape[-1]
        if conditions.shape[-1] != channels:  # e.g. an edge map for RGB targets: grey
            conditions = np.repeat(conditions.mean(-1, keepdims=True).astype(np.uint8), channels, -1)
        rows = images.reshape(len(conditions), 8, *images.shape[1:])
        return np.concatenate([conditions[:, None], rows], axis=1).reshape(-1, *images.shape[1:])

    def write_samples(self, step: int, kimg: float):
        images = self.samples()
        cols = 8 if self.fixed_labels is not None else None
        if getattr(self.model, "condition_shape", None) is not None:
            cols = 9
        path = runs.sample_path(self.run_dir, int(round(kimg * 1000)))
        grid = image_grid.save_grid(path, images, cols=cols)
        with self.writer.as_default():
            tf.summary.image("samples/ema", grid[None] if grid.ndim == 3 else grid[None, ..., None], step=step)
        return path

    def on_train_begin(self, logs=None):
        seen = int(self.model.images_seen.numpy())
        self.write_samples(seen, seen / 1000)

    def on_epoch_end(self, epoch, logs=None):
        self.ticks += 1
        gan = self.model
        seen = int(gan.images_seen.numpy())
        logs = dict(logs or {})
        logs["lr_g"] = self._lr(gan.g_optimizer)
        logs["lr_d"] = self._lr(gan.d_optimizer)
        record = {**{k: float(v) for k, v in logs.items()}, "kimg": seen / 1000, "tick": self.ticks,
                  "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        with self.writer.as_default():
            for key, value in logs.items():
                if key == "kimg":
                    continue
                group = "loss" if key in ("d_loss", "g_loss") else (
                    "reg" if key.startswith("reg_") else "train")
                tf.summary.scalar(f"{group}/{key}", float(value), step=seen)
            tf.summary.scalar("progress/kimg", seen / 1000, step=seen)
            if self.histogram_ticks and self.ticks % self.histogram_ticks == 0:
                for net in (gan.generator, gan.discriminator):
                    for w in net.trainable_weights:
                        tf.summary.histogram(f"weights/{net.name}/{w.path}", w.value, step=seen)
        if self.ticks % self.sample_ticks == 0:
            record["samples"] = self.write_samples(seen, seen / 1000)
        self.writer.flush()
        runs.append_metrics(self.run_dir, record)

    def on_train_end(self, logs=None):
        self.writer.flush()


class Evaluator(keras.callbacks.Callback):
    """``config.eval`` during training: every ``kimg`` thousand images, the metric of the
    generator under the run's evaluation protocol (``keras_gans.metrics.protocols``: the
    preset's unless ``eval.protocol`` names one; the same protocol ``keras-gans evaluate``
    uses by default), logged to TensorBoard (``eval/<metric>``) and the run's metrics log (with
    the protocol), and the best checkpoint by it kept in the run's ``best/`` directory.

    Args:
        spec: the ``MetricSpec``; every: kimg between evaluations.
        data_dir, run_dir: the training data (reference statistics) and the run.
        net / pair_net: the feature network (feature metrics) or LPIPS network (lpips).
        manager_factory: ``directory -> tf.train.CheckpointManager`` of the run's checkpoint.
        protocol: the ``Protocol`` (default ``keras-gans``); protocol_why: why it was chosen.
    """

    def __init__(self, spec, every: float, data_dir: str, run_dir: str, net, pair_net,
                 manager_factory, log=print, protocol=None, protocol_why: str = ""):
        from keras_gans.metrics import protocols
        from keras_gans.metrics.specs import LOWER_IS_BETTER

        super().__init__()
        self.protocol = protocol or protocols.get("keras-gans")
        self.protocol_why = protocol_why
        self.spec, self.every, self.data_dir, self.run_dir = spec, every, data_dir, run_dir
        self.net, self.pair_net = net, pair_net
        self.manager_factory = manager_factory
        self.lower = spec.kind in LOWER_IS_BETTER
        self.log = log
        self.next_kimg = None
        self.best = None
        self.manager = None
        self.writer = tf.summary.create_file_writer(runs.tensorboard_dir(run_dir))

    @classmethod
    def from_config(cls, config, data_dir: str, run_dir: str, manager_factory, log=print):
        """The evaluator of ``config.eval`` (``{"kimg": N, "metric": "fid2000", "feature_net":
        "inception" | "digits", "weights": PATH, "resize": "clean", "protocol": NAME}``; lpips
        metrics: ``lpips_net``, ``lpips_weights``; ``protocol`` default: the preset's). Loads
        its network now, so missing weights fail before training starts."""
        from keras_gans.metrics import protocols
        from keras_gans.metrics.features import make_feature_net, make_lpips_net
        from keras_gans.metrics.specs import parse_metrics

        spec_cfg = dict(config.eval or {})
        try:
            every = float(spec_cfg.pop("kimg"))
            (spec,) = parse_metrics(spec_cfg.pop("metric", "fid2000"))
            feature_net = spec_cfg.pop("feature_net", "inception")
            weights = spec_cfg.pop("weights", None)
            resize = spec_cfg.pop("resize", "clean")
            lpips_name = spec_cfg.pop("lpips_net", "alex")
            lpips_weights = spec_cfg.pop("lpips_weights", None)
            spec_cfg.pop("protocol", None)
        except (KeyError, ValueError) as e:
            raise UsageError(f"eval: expected {{\"kimg\": N, \"metric\": \"fid2000\", \"feature_net\": "
                             f"\"inception\"|\"digits\", \"weights\": PATH, \"protocol\": NAME}} "
                             f"(lpips metrics: \"lpips_net\", \"lpips_weights\") ({e})") from e
        if spec_cfg:
            raise UsageError(f"eval: unknown keys {sorted(spec_cfg)}")
        net = pair_net = None
        if spec.kind == "lpips":
            pair_net = make_lpips_net(lpips_name, lpips_weights)
        else:
            net = make_feature_net(feature_net, data_dir, weights, resize)
        protocol, why = protocols.protocol_for(config)
        return cls(spec, every, data_dir, run_dir, net, pair_net, manager_factory, log=log,
                   protocol=protocol, protocol_why=why)

    def on_train_begin(self, logs=None):
        kimg = float(self.model.images_seen.numpy()) / 1000
        if self.next_kimg is None:
            self.next_kimg = (int(kimg // self.every) + 1) * self.every
        if self.manager is None:
            self.manager = self.manager_factory(runs.best_dir(self.run_dir))

    def on_epoch_end(self, epoch, logs=None):
        from keras_gans.metrics.evaluate import gan_sampler, score
        from keras_gans.metrics.specs import primary_value

        seen = int(self.model.images_seen.numpy())
        if seen / 1000 < self.next_kimg:
            return
        self.next_kimg = (int(seen / 1000 // self.every) + 1) * self.every
        sample = gan_sampler(self.model, seed=0, protocol=self.protocol)
        record = score(sample, self.data_dir, [self.spec], self.net,
                       log=lambda *a: None, pair_net=self.pair_net)
        record["protocol"] = {**sample.protocol, "why": self.protocol_why}
        value = primary_value(self.spec, record["results"])
        better = self.best is None or (value < self.best if self.lower else value > self.best)
        with self.writer.as_default():
            for k, v in record["results"].items():
                tf.summary.scalar(f"eval/{k}", v, step=seen)
        self.writer.flush()
        if better:
            self.best = value
            self.manager.save(checkpoint_number=seen)
        runs.append_metrics(self.run_dir, {"eval": record, "kimg": seen / 1000, "best": better})
        self.log(f"  eval {self.spec.name} {value:.4f} at {seen / 1000:g} kimg"
                 f"{f' (best: saved to {runs.BEST}/)' if better else f' (best {self.best:.4f})'}")
