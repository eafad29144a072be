"""``train()``: one training run, callable from the CLI, a test or a notebook.

Each run writes one run directory (its layout: ``keras_gans.runs``; its checkpoints:
``keras_gans.training.checkpoint``). Progress is counted in images seen: a resumed run continues the counter, the data stream
(``load_dataset(start_example=...)``), the stateless random draws, the noise streams and the EMA
exactly where the checkpoint left them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gans import data as data_lib, manifest as manifest_lib, runs
from keras_gans.errors import UsageError
from keras_gans.training import callbacks as cb, checkpoint as ckpt_lib, distribute
from keras_gans.training.config import TrainConfig
from keras_gans.training.growth import growth_schedule

def reset_optimizer_state(optimizer):
    """Zero an optimizer's slots and step count, keeping its learning rate (ProGAN
    ``reset_opt_for_new_lod``: tfutil ``Optimizer.reset_optimizer_state`` re-initializes Adam's
    moments and its beta powers)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    keep = {id(getattr(inner, "_learning_rate", None))}
    for v in inner.variables:
        if id(v) not in keep and "learning_rate" not in v.path:
            v.assign(tf.zeros(v.shape, v.dtype))


def _fixed_conditions(data_dir: str, manifest, n: int) -> np.ndarray:
    """The first ``n`` condition images of the data (test, else validation, else train split,
    in stored order, no flips): the inputs of an image-conditioned run's sample grids."""
    split = next((s for s in ("test", "validation", "val", "train") if s in manifest.splits), None)
    if split is None:
        raise UsageError(f"{data_dir} has no split to draw sample conditions from")
    n = min(n, manifest.splits[split].num_examples)
    dataset = data_lib.load_dataset(data_dir, split, n, shuffle=False, repeat=False,
                                    drop_remainder=False)
    batch = next(iter(dataset))
    if "condition" not in batch:
        raise UsageError(f"{data_dir} is not a paired dataset (no condition images); prepare it "
                         "with --pairs")
    return np.asarray(batch["condition"], np.float32)


def _set_precision(config: TrainConfig):
    policy = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[config.mixed_precision]
    keras.mixed_precision.set_global_policy(policy)


def train(config: TrainConfig, data_dir: str, runs_dir: str = "runs", resume: str | None = None,
          log=print, strategy=None) -> str:
    """Train (or resume) a run; returns its directory. See the module docstring."""
    if resume:
        run_dir = runs.resolve(resume, runs_dir)
        saved = ckpt_lib.load_run_config(run_dir)
        if config is None:
            config = saved
        # The networks must match the checkpoint; schedule, length, lr, etc. may change.
        fixed = ("arch", "model", "conditional", "latent_dim")
        changed = [k for k in fixed if getattr(config, k, None) != getattr(saved, k, None)]
        if changed:
            raise UsageError(f"--resume {run_dir}: {', '.join(changed)} differ from the run's "
                             f"{runs.CONFIG}; the checkpoint cannot be loaded into other networks")
    config.validate()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    _set_precision(config)
    strategy = strategy or distribute.make_strategy(config.replicas)
    distribute.patch_keras_for_strategy(strategy)  # multi-worker: Keras fit() fix (no-op otherwise)
    chief = distribute.is_chief(strategy)
    if resume and chief and config != saved:  # multi-worker: only the chief writes the run dir
        runs.write_config(run_dir, config.to_json())
    # Multi-worker: the other workers take part in every checkpoint save (a collective), but into
    # a private temporary directory that is removed at the end; the chief writes the run.
    worker_dir = None if chief else tempfile.mkdtemp(prefix="keras-gans-worker-")
    manifest = manifest_lib.load(data_dir)
    if not config.data_name:
        config.data_name = os.path.basename(os.path.normpath(data_dir))
    if not resume:
        run_dir = runs.new_run_dir(runs_dir, config.arch, config.data_name) if chief else worker_dir
        os.makedirs(run_dir, exist_ok=True)
        runs.write_config(run_dir, config.to_json())
    replicas = strategy.num_replicas_in_sync
    step_images = config.batch * config.d_steps
    schedule = growth_schedule(config, manifest.resolution)
    batches = sorted({config.batch} | {seg.batch for seg in (schedule.segments() if schedule else [])})
    for batch in batches:
        if batch % replicas:
            raise UsageError(f"batch {batch} does not divide over {replicas} replicas")
        if (batch // replicas) % config.accumulation_steps:
            raise UsageError(f"per-replica batch {batch // replicas} is not divisible by "
                             f"accumulation_steps {config.accumulation_steps}")
    log(f"run {run_dir}" + ("" if chief else " (not the chief: private checkpoints, removed at the end)"))
    log(f"  preset {config.preset}, {distribute.describe(strategy)}, global batch {config.batch} "
        f"(= {config.batch // replicas} per replica x {replicas}"
        f"{f', {config.accumulation_steps} micro-batches' if config.accumulation_steps > 1 else ''}) "
        f"x {config.d_steps} D step(s) = {step_images} real images per step")

    # Every worker restores the chief's checkpoint (the run dir must be on shared storage).
    latest = runs.latest_checkpoint(run_dir) if resume else None
    gan, nets = ckpt_lib.build_gan(config, manifest, strategy, restoring=latest is not None)
    if schedule is not None and not gan.growing_networks():
        raise UsageError(f"growth is set but the {config.arch} networks cannot grow (ProGAN can)")
    log(f"  generator {gan.generator.count_params():,} params, discriminator "
        f"{gan.discriminator.count_params():,} params, mixed precision {config.mixed_precision}")
    hint = distribute.bfloat16_hint(config.mixed_precision)
    if hint:
        log(f"  note: {hint}")
    ckpt = ckpt_lib.make_checkpoint(gan)
    ckpt_dir = runs.checkpoints_dir(run_dir if chief else worker_dir)
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=config.keep_checkpoints)
    if resume:
        if latest is None:
            log("  no checkpoint yet: starting from scratch")
        else:
            ckpt_lib.restore(latest, gan, runs.read_info(run_dir), log)
            # Learning rates are optimizer variables (restored above); the config decides them.
            ckpt_lib.set_learning_rates(gan, config, config.g_lr, config.d_lr)
            log(f"  resumed from {latest} at {int(gan.images_seen.numpy()) / 1000:.1f} kimg")
    info = {"data_dir": os.path.abspath(data_dir), "data_manifest": {
        k: v for k, v in json.loads(manifest.to_json()).items()
        if k in ("resolution", "channels", "encoding", "compression", "labels", "fingerprint", "source",
                 "condition_channels", "pairing")},
        "strategy": distribute.describe(strategy), "replicas": replicas}
    features = getattr(gan.discriminator, "weights_source", None)
    if features is not None:
        # Projected GAN: which pretrained weights the discriminator's frozen features have.
        info["discriminator_features"] = features
        if features == "random":
            log("  WARNING: the discriminator's feature network has RANDOM weights (tests only): "
                "this is not a Projected GAN; convert real weights with keras-gans "
                "convert-weights efficientnet-lite0")
        else:
            log(f"  discriminator features: {features}")
    if chief:
        runs.write_info(run_dir, {**info, "status": "running"})

    rng = np.random.default_rng(config.seed + 12345)
    if nets.condition_shape is not None:
        # Rows = 8 condition images of the data, columns = 8 latents (the same in every row).
        conditions = _fixed_conditions(data_dir, manifest, 8)
        z = rng.standard_normal((8, nets.latent_dim)).astype("float32")
        labels = np.repeat(conditions, 8, axis=0)
        fixed_z = np.tile(z, (len(conditions), 1))
    elif nets.num_classes:
        labels = np.repeat(np.arange(nets.num_classes, dtype=np.int32), 8)
        fixed_z = rng.standard_normal((len(labels), nets.latent_dim)).astype("float32")
    else:
        labels, fixed_z = None, rng.standard_normal((64, nets.latent_dim)).astype("float32")

    total_images = int(config.total_kimg * 1000)
    steps_per_tick = max(1, math.ceil(config.tick_kimg * 1000 / step_images))
    guard = cb.NanGuard(manager, ckpt, config.nan_policy, config.max_rollbacks, log=log)
    callbacks = [guard, cb.Progress(config.total_kimg, step_images, log=log if chief else (lambda *a: None))]
    if chief:
        callbacks.append(cb.Recorder(run_dir, fixed_z, labels, config.sample_ticks,
                                     class_names=manifest.labels,
                                     histogram_ticks=config.histogram_ticks, log=log))
    if chief and config.eval:
        callbacks.append(cb.Evaluator.from_config(
            config, data_dir, run_dir,
            lambda d: tf.train.CheckpointManager(ckpt, d, max_to_keep=1), log=log))
    decay = None
    if config.lr_decay:
        decay = cb.LearningRateDecay(config.lr_decay, step_images, lambda g, d: ckpt_lib.set_learning_rates(
            gan, config, g, d))
        decay.base = (config.g_lr, config.d_lr)
        callbacks.append(decay)
    callbacks.append(cb.Checkpointer(manager, config.snapshot_ticks, log=log))
    time_limit = cb.TimeLimit(config.max_minutes, log=log)
    if config.max_minutes:
        callbacks.append(time_limit)
    t0 = time.time()
    with data_lib.translate_errors(data_dir):
        while int(gan.images_seen.numpy()) < total_images and not getattr(gan, "_diverged", False):
            seen = int(gan.images_seen.numpy())
            end = total_images
            if schedule is not None:
                # One fit() per growth segment: its batch, learning rates and traced graph.
                segment = schedule.segment_at(seen)
                end = min(segment.end, total_images)
                step_images = segment.batch * config.d_steps
                steps_per_tick = max(1, math.ceil(config.tick_kimg * 1000 / step_images))
                if int(gan.growth_segment.numpy()) != segment.index:
                    if schedule.reset_optimizer:
                        reset_optimizer_state(gan.g_optimizer)
                        reset_optimizer_state(gan.d_optimizer)
                    gan.growth_segment.assign(segment.index)
                ckpt_lib.set_learning_rates(gan, config, segment.g_lr, segment.d_lr)
                if decay is not None:
                    decay.base, decay.images_per_step = (segment.g_lr, segment.d_lr), step_images
                gan.set_growth(schedule, seen)
                log(f"  stage {segment.resolution}x{segment.resolution} "
                    f"{'fade-in' if segment.fading else 'stable'} from {seen / 1000:g} kimg: batch "
                    f"{segment.batch}, lr G {segment.g_lr:g} D {segment.d_lr:g}")
            remaining_steps = math.ceil((end - seen) / step_images)
            ticks = math.ceil(remaining_steps / steps_per_tick)
            with distribute.static_batches(strategy):  # multi-worker: keep the static batch shape
                dataset = data_lib.load_dataset(
                    data_dir, "train", step_images, strategy=strategy if replicas > 1 else None,
                    seed=config.seed, flip=config.flip, start_example=seen,
                    pyramid_min_resolution=nets.pyramid_min_resolution,
                    with_labels=bool(nets.num_classes), jitter_load_size=config.jitter_load_size)
            gan.fit(dataset, epochs=ticks, steps_per_epoch=min(steps_per_tick, remaining_steps),
                    callbacks=callbacks, verbose=0, shuffle=False)
            if time_limit.reached:
                break
            if guard.rollbacks and not getattr(gan, "_diverged", False):
                continue  # a rollback rewound images_seen: train the rest
            if schedule is not None:
                continue  # the next growth segment
            break
    seconds = time.time() - t0
    status = ("diverged" if getattr(gan, "_diverged", False)
              else "time limit" if time_limit.reached else "finished")
    if chief:
        runs.write_info(run_dir, {**info, "status": status, "kimg": int(gan.images_seen.numpy()) / 1000,
                                  "seconds": round(seconds, 1), "checkpoint": manager.latest_checkpoint})
    if worker_dir:
        shutil.rmtree(worker_dir, ignore_errors=True)
    if status == "diverged":
        raise cb.TrainingDiverged(guard.message)
    log(f"done: {int(gan.images_seen.numpy()) / 1000:.1f} kimg in {seconds:.0f} s; checkpoint "
        f"{manager.latest_checkpoint}; TensorBoard: tensorboard --logdir {runs.tensorboard_dir(run_dir)}")
    return run_dir
