"""``train()``: one training run, callable from the CLI, a test or a notebook.

Run directory ``runs/NNNNN-<arch>-<data>/``: ``config.json`` (the resolved config),
``checkpoints/`` (G, D, EMA, both optimizers, images seen, step counter, the networks' noise
seed states: everything a resume needs), ``tb/`` (TensorBoard), ``samples/`` (grids from fixed
latents), ``metrics.jsonl`` and ``run.json`` (data, strategy, status). Progress is counted in
images seen: a resumed run continues the counter, the data stream
(``load_dataset(start_example=...)``), the stateless random draws, the noise streams and the EMA
exactly where the checkpoint left them.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gans import data as data_lib, manifest as manifest_lib
from keras_gans.errors import UsageError
from keras_gans.losses import regularizers as regularizers_lib
from keras_gans.models import registry
from keras_gans.training import callbacks as cb, distribute
from keras_gans.training.config import TrainConfig
from keras_gans.training.ema import EmaSchedule
from keras_gans.training.gan import GAN
from keras_gans.training.growth import GrowthSchedule

RUN_RE = re.compile(r"^(\d{5})-")


def new_run_dir(runs_dir: str, config: TrainConfig) -> str:
    os.makedirs(runs_dir, exist_ok=True)
    numbers = [int(m.group(1)) for n in os.listdir(runs_dir) if (m := RUN_RE.match(n))]
    name = f"{max(numbers, default=0) + 1:05d}-{config.arch}-{config.data_name or 'data'}"
    path = os.path.join(runs_dir, name)
    os.makedirs(path)
    return path


def latest_run_dir(runs_dir: str) -> str:
    runs = sorted(n for n in (os.listdir(runs_dir) if os.path.isdir(runs_dir) else []) if RUN_RE.match(n))
    if not runs:
        raise UsageError(f"--resume latest: no runs in {runs_dir}")
    return os.path.join(runs_dir, runs[-1])


def load_run_config(run_dir: str) -> TrainConfig:
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise UsageError(f"--resume {run_dir}: no config.json; not a keras-gans run directory")
    with open(path) as f:
        return TrainConfig.from_dict(json.load(f))


def _optimizer(config: TrainConfig, lr: float):
    if config.optimizer == "adam":
        opt = keras.optimizers.Adam(lr, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon)
    else:
        opt = keras.optimizers.RMSprop(lr, epsilon=config.epsilon)
    if config.mixed_precision == "float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def build_gan(config: TrainConfig, manifest, strategy,
              restoring: bool = False) -> tuple[GAN, registry.Networks]:
    """Models, GAN and compiled optimizers under ``strategy.scope()``. ``restoring``: a
    checkpoint supplies every weight next (pretrained parts are not read from their files)."""
    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        nets = registry.build(config, manifest, restoring=restoring)
        gan = GAN(nets.generator, nets.discriminator, latent_dim=nets.latent_dim,
                  num_classes=nets.num_classes, real_key=nets.real_key, seed=config.seed,
                  name=f"{config.arch}_gan")
        try:
            regs = [regularizers_lib.from_config(r) for r in config.regularizers]
            have = {(type(r), r.target) for r in regs}
            for needed in map(regularizers_lib.from_config, nets.regularizers):
                if (type(needed), needed.target) not in have:  # the networks need it
                    regs.append(needed)
            ema = EmaSchedule(**config.ema)
        except (ValueError, TypeError) as e:
            raise UsageError(f"invalid config: {e}") from e
        jit = config.jit
        if jit:
            ok, why = distribute.xla_supported(strategy)
            if not ok:
                jit = False
                print(f"note: {why}")
        gan.compile(g_optimizer=_optimizer(config, config.g_lr), d_optimizer=_optimizer(config, config.d_lr),
                    loss=config.loss, regularizers=regs, d_steps=config.d_steps,
                    accumulation_steps=config.accumulation_steps, ema=ema,
                    fake_labels=config.fake_labels, augment=config.augment, jit_compile=jit)
    return gan, nets


def growth_schedule(config: TrainConfig, manifest) -> GrowthSchedule | None:
    """The run's ``GrowthSchedule`` (None without ``config.growth``); the config's batch and
    learning rates are the defaults of its tables."""
    if not config.growth:
        return None
    kw = {"batch_base": config.batch, "g_lr_base": config.g_lr, "d_lr_base": config.d_lr,
          **config.growth}
    try:
        return GrowthSchedule(final_resolution=manifest.resolution, **kw)
    except (ValueError, TypeError) as e:
        raise UsageError(f"invalid growth config: {e}") from e


def reset_optimizer_state(optimizer):
    """Zero an optimizer's slots and step count, keeping its learning rate (ProGAN
    ``reset_opt_for_new_lod``: tfutil ``Optimizer.reset_optimizer_state`` re-initializes Adam's
    moments and its beta powers)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    keep = {id(getattr(inner, "_learning_rate", None))}
    for v in inner.variables:
        if id(v) not in keep and "learning_rate" not in v.path:
            v.assign(tf.zeros(v.shape, v.dtype))


SEED_STATE = "seed_generator_state"
SEED_STATES = "seed_states"  # their entry in the checkpoint


def _networks(gan: GAN) -> list:
    return [n for n in (gan.generator, gan.discriminator, gan.ema_generator) if n is not None]


def _seed_states(gan: GAN) -> list:
    return [v.value for net in _networks(gan) for v in net.variables if v.path.endswith(SEED_STATE)]


def _checkpoint(gan: GAN, seed_states: bool = True) -> tf.train.Checkpoint:
    """The run's checkpoint. ``seed_states``: include the networks' Keras ``SeedGenerator``
    states (StyleGAN / FastGAN training noise), which TensorFlow's object graph does not reach
    through the layers, as one list in network-variable order, so a resumed run continues those
    noise streams exactly; False only to restore a checkpoint written before they were saved."""
    items = dict(generator=gan.generator, discriminator=gan.discriminator,
                 g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                 images_seen=gan.images_seen.value, step_counter=gan.step_counter.value,
                 seed_offset=gan.seed_offset.value, growth_segment=gan.growth_segment.value)
    if gan.ema_generator is not None:
        items["ema_generator"] = gan.ema_generator
    states = _seed_states(gan)
    if seed_states and states:
        items[SEED_STATES] = states
    ckpt = tf.train.Checkpoint(**items)
    _check_every_variable_saved(ckpt, gan, allow_seed_states=not seed_states)
    return ckpt


def _check_every_variable_saved(ckpt: tf.train.Checkpoint, gan: GAN, allow_seed_states: bool = False):
    """A network variable the checkpoint's object graph does not reach would be silently left
    out of every checkpoint (and come back freshly initialized on resume or export): TensorFlow
    follows attributes, not layers kept in Keras-tracked Python lists. Fail loudly instead."""
    from tensorflow.python.checkpoint import trackable_view

    objects = trackable_view.TrackableView(ckpt).descendants()
    reached = {id(obj) for obj in objects} | {id(getattr(obj, "value", obj)) for obj in objects}
    missing = [f"{net.name}: {v.path}" for net in _networks(gan) for v in net.variables
               if id(v) not in reached and id(getattr(v, "value", v)) not in reached
               and not (allow_seed_states and v.path.endswith(SEED_STATE))]
    if missing:
        raise RuntimeError(
            f"{len(missing)} variable(s) would not be saved in checkpoints (keep layers as model "
            f"attributes, not in Python lists): {', '.join(missing[:8])}")


def _run_info(run_dir: str) -> dict:
    """The run's ``run.json`` ({} before the run wrote one)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _restore(path: str, gan: GAN, run_info: dict, log=None):
    """Restore ``path`` into a GAN built with ``restoring=True``. Every network and optimizer
    variable must come from the checkpoint (the frozen pretrained features included): a mismatch
    would otherwise export or train on partly initial weights silently."""
    from keras_gans.models.projected.efficientnet_lite import FROM_CHECKPOINT

    saved = {name for name, _ in tf.train.list_variables(path)}
    with_states = any(name.startswith(f"{SEED_STATES}/") for name in saved)
    ckpt = _checkpoint(gan, seed_states=with_states)
    ckpt.restore(path).assert_existing_objects_matched()
    if not with_states and _seed_states(gan) and log:
        log("  note: this checkpoint predates saved noise states: the training noise streams "
            "restart (the resumed run is not bit-identical to an uninterrupted one)")
    d = gan.discriminator
    if getattr(d, "weights_source", None) == FROM_CHECKPOINT:
        # Projected GAN: label the restored features as the run recorded them when it started.
        d.weights_source = run_info.get("discriminator_features", f"checkpoint {path}")


def restore_gan(run_dir: str, checkpoint: str | None = None, strategy=None) -> tuple[GAN, TrainConfig]:
    """Rebuild a run's GAN and restore its latest (or the given) checkpoint (export, evaluate).
    Needs only the run directory: pretrained parts come from the checkpoint, not their files."""
    config = load_run_config(run_dir)
    info = _run_info(run_dir)
    if "data_manifest" not in info:
        raise UsageError(f"{run_dir} has no run.json with its data manifest; not a keras-gans run "
                         "directory, or its training never started")
    manifest = manifest_lib.Manifest(**{**info["data_manifest"], "splits": {}})
    path = checkpoint or tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if path is None:
        raise UsageError(f"{run_dir} has no checkpoint yet")
    strategy = strategy or tf.distribute.get_strategy()
    gan, _ = build_gan(config, manifest, strategy, restoring=True)
    _restore(path, gan, info)
    schedule = growth_schedule(config, manifest)
    if schedule is not None:  # the networks at the checkpoint's stage
        gan.set_growth(schedule)
    return gan, config


def _set_precision(config: TrainConfig):
    policy = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[config.mixed_precision]
    keras.mixed_precision.set_global_policy(policy)


def train(config: TrainConfig, data_dir: str, runs_dir: str = "runs", resume: str | None = None,
          log=print, strategy=None) -> str:
    """Train (or resume) a run; returns its directory. See the module docstring."""
    if resume:
        run_dir = latest_run_dir(runs_dir) if resume == "latest" else resume
        saved = load_run_config(run_dir)
        if config is None:
            config = saved
        # The networks must match the checkpoint; schedule, length, lr, etc. may change.
        fixed = ("arch", "model", "conditional", "latent_dim")
        changed = [k for k in fixed if getattr(config, k, None) != getattr(saved, k, None)]
        if changed:
            raise UsageError(f"--resume {run_dir}: {', '.join(changed)} differ from the run's "
                             "config.json; the checkpoint cannot be loaded into other networks")
    config.validate()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    _set_precision(config)
    strategy = strategy or distribute.make_strategy(config.replicas)
    distribute.patch_keras_for_strategy(strategy)  # multi-worker: Keras fit() fix (no-op otherwise)
    chief = distribute.is_chief(strategy)
    if resume and chief and config != saved:  # multi-worker: only the chief writes the run dir
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            f.write(config.to_json())
    # Multi-worker: the other workers take part in every checkpoint save (a collective), but into
    # a private temporary directory that is removed at the end; the chief writes the run.
    worker_dir = None if chief else tempfile.mkdtemp(prefix="keras-gans-worker-")
    manifest = manifest_lib.load(data_dir)
    if not config.data_name:
        config.data_name = os.path.basename(os.path.normpath(data_dir))
    if not resume:
        run_dir = new_run_dir(runs_dir, config) if chief else worker_dir
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            f.write(config.to_json())
    replicas = strategy.num_replicas_in_sync
    step_images = config.batch * config.d_steps
    schedule = growth_schedule(config, manifest)
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
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")) if resume else None
    gan, nets = build_gan(config, manifest, strategy, restoring=latest is not None)
    if schedule is not None and not gan.growing_networks():
        raise UsageError(f"growth is set but the {config.arch} networks cannot grow (ProGAN can)")
    log(f"  generator {gan.generator.count_params():,} params, discriminator "
        f"{gan.discriminator.count_params():,} params, mixed precision {config.mixed_precision}")
    ckpt = _checkpoint(gan)
    ckpt_dir = os.path.join(run_dir if chief else worker_dir, "checkpoints")
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=config.keep_checkpoints)
    if resume:
        if latest is None:
            log("  no checkpoint yet: starting from scratch")
        else:
            _restore(latest, gan, _run_info(run_dir), log)
            # Learning rates are optimizer variables (restored above); the config decides them.
            for opt, lr in ((gan.g_optimizer, config.g_lr), (gan.d_optimizer, config.d_lr)):
                getattr(opt, "inner_optimizer", opt).learning_rate.assign(lr)
            log(f"  resumed from {latest} at {int(gan.images_seen.numpy()) / 1000:.1f} kimg")
    info = {"data_dir": os.path.abspath(data_dir), "data_manifest": {
        k: v for k, v in json.loads(manifest.to_json()).items()
        if k in ("resolution", "channels", "encoding", "compression", "labels", "fingerprint", "source")},
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
        with open(os.path.join(run_dir, "run.json"), "w") as f:
            json.dump({**info, "status": "running"}, f, indent=2)

    rng = np.random.default_rng(config.seed + 12345)
    if nets.num_classes:
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
        from keras_gans.metrics.evaluate import make_eval_callback

        callbacks.append(make_eval_callback(
            config, data_dir, run_dir,
            lambda d: tf.train.CheckpointManager(ckpt, d, max_to_keep=1), log=log))
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
                for opt, lr in ((gan.g_optimizer, segment.g_lr), (gan.d_optimizer, segment.d_lr)):
                    getattr(opt, "inner_optimizer", opt).learning_rate.assign(lr)
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
                    with_labels=bool(nets.num_classes))
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
        with open(os.path.join(run_dir, "run.json"), "w") as f:
            json.dump({**info, "status": status, "kimg": int(gan.images_seen.numpy()) / 1000,
                       "seconds": round(seconds, 1), "checkpoint": manager.latest_checkpoint}, f, indent=2)
    if worker_dir:
        shutil.rmtree(worker_dir, ignore_errors=True)
    if status == "diverged":
        raise cb.TrainingDiverged(guard.message)
    log(f"done: {int(gan.images_seen.numpy()) / 1000:.1f} kimg in {seconds:.0f} s; checkpoint "
        f"{manager.latest_checkpoint}; TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'tb')}")
    return run_dir
