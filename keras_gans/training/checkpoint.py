"""Checkpoints of a run: what they hold, building the GAN they restore into, and two restores.

A checkpoint holds G, D, the EMA generator, both optimizers, ``images_seen``, the step counter,
the NaN-rollback seed offset, the growth segment and the networks' noise ``SeedGenerator``
states: everything a resume needs to continue bit-exactly.

- ``restore_gan``: the whole GAN (networks, optimizers, compile) for resuming or inspecting
  training state.
- ``restore_generator``: only the EMA generator, its growth stage and noise states, and the
  images seen (a partial restore): what export, evaluate and sampling need. No discriminator,
  no optimizers, no pretrained feature network is built.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from keras_gans import manifest as manifest_lib, runs
from keras_gans.errors import UsageError
from keras_gans.losses import regularizers as regularizers_lib
from keras_gans.models import registry
from keras_gans.models.networks import Networks
from keras_gans.training import distribute
from keras_gans.training.config import TrainConfig
from keras_gans.training.ema import EmaSchedule
from keras_gans.training.gan import GAN, final_output, generator_inputs
from keras_gans.training.growth import growth_schedule

SEED_STATE = "seed_generator_state"
SEED_STATES = "seed_states"  # their entry in the checkpoint
EMA_GENERATOR = "ema_generator"
GENERATOR = "generator"


def load_run_config(run_dir: str) -> TrainConfig:
    return TrainConfig.from_dict(runs.read_config(run_dir))


def run_manifest(run_dir: str) -> manifest_lib.Manifest:
    """The data manifest summary the run recorded (enough to rebuild its networks)."""
    return manifest_lib.Manifest(**{**runs.data_manifest(run_dir), "splits": {}})


def _lazy_ratio(reg_interval: int) -> float:
    """``I / (I + 1)`` for a lazy-regularization interval I > 0, else 1 (StyleGAN2-ADA /
    projected_gan training_loop.py lines 210-214, ``mb_ratio``)."""
    return reg_interval / (reg_interval + 1) if reg_interval else 1.0


def set_learning_rates(gan: GAN, config: TrainConfig, g_lr: float, d_lr: float) -> None:
    """Assign the learning rates the config asks for (D's scaled by ``d_reg_interval``)."""
    for opt, lr in ((gan.g_optimizer, g_lr), (gan.d_optimizer, d_lr * _lazy_ratio(config.d_reg_interval))):
        getattr(opt, "inner_optimizer", opt).learning_rate.assign(lr)


def _optimizer(config: TrainConfig, lr: float, reg_interval: int = 0):
    """The network's optimizer. ``reg_interval`` I > 0 scales lr by ``c = I / (I + 1)`` and
    Adam's betas to ``beta ** c`` (``_lazy_ratio``)."""
    c = _lazy_ratio(reg_interval)
    if config.optimizer == "adam":
        opt = keras.optimizers.Adam(lr * c, beta_1=config.beta_1 ** c, beta_2=config.beta_2 ** c,
                                    epsilon=config.epsilon)
    else:
        opt = keras.optimizers.RMSprop(lr * c, epsilon=config.epsilon)
    if config.mixed_precision == "float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def build_gan(config: TrainConfig, manifest, strategy,
              restoring: bool = False) -> tuple[GAN, Networks]:
    """Models, GAN and compiled optimizers under ``strategy.scope()``. ``restoring``: a
    checkpoint supplies every weight next (pretrained parts are not read from their files)."""
    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        nets = registry.build(config, manifest, restoring=restoring)
        gan = GAN(nets.generator, nets.discriminator, latent_dim=nets.latent_dim,
                  num_classes=nets.num_classes, condition_shape=nets.condition_shape,
                  real_key=nets.real_key, seed=config.seed,
                  joint_discriminator=nets.joint_discriminator, name=f"{config.arch}_gan")
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
        gan.compile(g_optimizer=_optimizer(config, config.g_lr),
                    d_optimizer=_optimizer(config, config.d_lr, config.d_reg_interval),
                    loss=config.loss, regularizers=regs, d_steps=config.d_steps,
                    accumulation_steps=config.accumulation_steps, ema=ema,
                    fake_labels=config.fake_labels, augment=config.augment,
                    g_first=config.g_first, reuse_fakes=config.reuse_fakes, jit_compile=jit)
    return gan, nets


# --- the checkpoint object ------------------------------------------------------------------
def _networks(gan: GAN) -> list:
    return [n for n in (gan.generator, gan.discriminator, gan.ema_generator) if n is not None]


def _seed_state_vars(net) -> list:
    return [v for v in net.variables if v.path.endswith(SEED_STATE)]


def _seed_states(gan: GAN) -> list:
    return [v.value for net in _networks(gan) for v in _seed_state_vars(net)]


def make_checkpoint(gan: GAN, seed_states: bool = True) -> tf.train.Checkpoint:
    """The run's checkpoint. ``seed_states``: include the networks' Keras ``SeedGenerator``
    states (StyleGAN / FastGAN training noise), which TensorFlow's object graph does not reach
    through the layers, as one list in network-variable order (G, D, EMA G), so a resumed run
    continues those noise streams exactly; False only to restore a checkpoint written before
    they were saved."""
    items = {GENERATOR: gan.generator, "discriminator": gan.discriminator,
             "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer,
             "images_seen": gan.images_seen.value, "step_counter": gan.step_counter.value,
             "seed_offset": gan.seed_offset.value, "growth_segment": gan.growth_segment.value}
    if gan.ema_generator is not None:
        items[EMA_GENERATOR] = gan.ema_generator
    states = _seed_states(gan)
    if seed_states and states:
        items[SEED_STATES] = states
    ckpt = tf.train.Checkpoint(**items)
    check_every_variable_saved(ckpt, _networks(gan), allow_seed_states=not seed_states)
    return ckpt


def check_every_variable_saved(ckpt: tf.train.Checkpoint, networks, allow_seed_states: bool = False):
    """A network variable the checkpoint's object graph does not reach would be silently left
    out of every checkpoint (and come back freshly initialized on resume or export): TensorFlow
    follows attributes, not layers kept in Keras-tracked Python lists. Fail loudly instead."""
    from tensorflow.python.checkpoint import trackable_view

    objects = trackable_view.TrackableView(ckpt).descendants()
    reached = {id(obj) for obj in objects} | {id(getattr(obj, "value", obj)) for obj in objects}
    missing = [f"{net.name}: {v.path}" for net in networks for v in net.variables
               if id(v) not in reached and id(getattr(v, "value", v)) not in reached
               and not (allow_seed_states and v.path.endswith(SEED_STATE))]
    if missing:
        raise RuntimeError(
            f"{len(missing)} variable(s) would not be saved in checkpoints (keep layers as model "
            f"attributes, not in Python lists): {', '.join(missing[:8])}")


def _saved_names(path: str) -> set[str]:
    return {name for name, _ in tf.train.list_variables(path)}


def _has_seed_states(saved: set[str]) -> bool:
    return any(name.startswith(f"{SEED_STATES}/") for name in saved)


def restore(path: str, gan: GAN, run_info: dict, log=None):
    """Restore ``path`` into a GAN built with ``restoring=True``. Every network and optimizer
    variable must come from the checkpoint (the frozen pretrained features included): a mismatch
    would otherwise export or train on partly initial weights silently."""
    from keras_gans.models.projected.efficientnet_lite import FROM_CHECKPOINT

    with_states = _has_seed_states(_saved_names(path))
    ckpt = make_checkpoint(gan, seed_states=with_states)
    ckpt.restore(path).assert_existing_objects_matched()
    if not with_states and _seed_states(gan) and log:
        log("  note: this checkpoint predates saved noise states: the training noise streams "
            "restart (the resumed run is not bit-identical to an uninterrupted one)")
    d = gan.discriminator
    if getattr(d, "weights_source", None) == FROM_CHECKPOINT:
        # Projected GAN: label the restored features as the run recorded them when it started.
        d.weights_source = run_info.get("discriminator_features", f"checkpoint {path}")


def _checkpoint_path(run_dir: str, checkpoint: str | None) -> str:
    path = checkpoint or runs.latest_checkpoint(run_dir)
    if path is None:
        raise UsageError(f"{run_dir} has no checkpoint yet; train it (or let it reach a snapshot) "
                         "first")
    return path


def restore_gan(run_dir: str, checkpoint: str | None = None, strategy=None) -> tuple[GAN, TrainConfig]:
    """Rebuild a run's whole GAN and restore its latest (or the given) checkpoint. Needs only
    the run directory: pretrained parts come from the checkpoint, not their files."""
    config = load_run_config(run_dir)
    manifest = run_manifest(run_dir)
    path = _checkpoint_path(run_dir, checkpoint)
    strategy = strategy or tf.distribute.get_strategy()
    gan, _ = build_gan(config, manifest, strategy, restoring=True)
    restore(path, gan, runs.read_info(run_dir))
    schedule = growth_schedule(config, manifest.resolution)
    if schedule is not None:  # the networks at the checkpoint's stage
        gan.set_growth(schedule)
    return gan, config


# --- generator-only restore -----------------------------------------------------------------
@dataclasses.dataclass
class RestoredGenerator:
    """A run's sampling generator (the EMA one when the run keeps it), restored alone.

    Attributes:
        generator: the Keras model, at the checkpoint's growth stage, with its noise states.
        config: the run's ``TrainConfig``.
        latent_dim, num_classes: the generator's conventions.
        condition_shape: (H, W, C) of the condition image of an image-conditioned generator
            (``G([z, condition])``), else None.
        images_seen: training images shown to D at the checkpoint.
        ema: whether ``generator`` holds the EMA weights.
        checkpoint: the checkpoint path it came from.
        run_info: the run's ``run.json``.
    """

    generator: keras.Model
    config: TrainConfig
    latent_dim: int
    num_classes: int
    images_seen: int
    ema: bool
    checkpoint: str
    run_info: dict
    condition_shape: tuple | None = None

    @property
    def conditional(self) -> bool:
        return bool(self.num_classes) or self.condition_shape is not None

    def generator_inputs(self, z, condition=None):
        """As ``GAN.generator_inputs``: ``z`` or ``[z, condition]`` (class ids or images)."""
        return generator_inputs(z, condition, self.num_classes, self.condition_shape)

    def sample(self, z, labels=None, training=False, *, condition=None):
        """Images from z (the final resolution), as ``GAN.sample`` with the EMA generator."""
        if labels is not None and condition is not None:
            raise ValueError("pass labels (class-conditional) or condition (image-conditioned), "
                             "not both")
        cond = labels if condition is None else condition
        return final_output(self.generator(self.generator_inputs(z, cond), training=training))

    @property
    def discriminator_features(self):
        """Projected GAN: the frozen feature weights the run trained against (None otherwise)."""
        return self.run_info.get("discriminator_features")


def _restore_seed_states(generator, reader, saved: set[str], first_index: int) -> bool:
    """Assign the generator's noise states from the checkpoint's ``seed_states`` list, whose
    entries ``first_index..`` belong to it (the list is G's, then D's, then the EMA G's)."""
    variables = _seed_state_vars(generator)
    keys = [f"{SEED_STATES}/{first_index + i}/.ATTRIBUTES/VARIABLE_VALUE" for i in range(len(variables))]
    if not variables or any(k not in saved for k in keys):
        return False
    for var, key in zip(variables, keys):
        var.assign(reader.get_tensor(key))
    return True


def restore_generator(run_dir: str, checkpoint: str | None = None,
                      which: str = "ema") -> RestoredGenerator:
    """The run's EMA generator from its latest (or the given) checkpoint, without building the
    discriminator, the optimizers or any pretrained feature network.

    ``which="raw"`` restores the trained (non-EMA) generator instead, the checkpoint's
    ``generator`` entry (evaluation protocols that sample it, ``keras_gans.metrics.protocols``).

    The generator is built by the family's builder (``discriminator=False``), restored from the
    checkpoint's ``ema_generator`` entry (``generator`` for a run without EMA) with every one of
    its variables required, set to the growth stage of the checkpoint's ``images_seen`` and given
    its noise ``SeedGenerator`` states, so its outputs equal those of the EMA generator of
    ``restore_gan`` bit for bit.
    """
    config = load_run_config(run_dir)
    manifest = run_manifest(run_dir)
    path = _checkpoint_path(run_dir, checkpoint)
    saved = _saved_names(path)
    if which not in ("ema", "raw"):
        raise ValueError(f"which must be 'ema' or 'raw', got {which!r}")
    has_ema = any(n.startswith(f"{EMA_GENERATOR}/") for n in saved)
    key = EMA_GENERATOR if (has_ema and which == "ema") else GENERATOR
    keras.utils.set_random_seed(config.seed)
    nets = registry.build(config, manifest, restoring=True, discriminator=False)
    generator = nets.generator
    images_seen = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(**{key: generator, "images_seen": images_seen})
    check_every_variable_saved(ckpt, [generator], allow_seed_states=True)
    ckpt.restore(path).expect_partial().assert_existing_objects_matched()
    if _has_seed_states(saved):
        reader = tf.train.load_checkpoint(path)
        count = sum(1 for n in saved if n.startswith(f"{SEED_STATES}/")
                    and n.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))
        own = len(_seed_state_vars(generator))
        # The EMA generator's states are the list's last ones; a run without EMA: the first.
        _restore_seed_states(generator, reader, saved, count - own if key == EMA_GENERATOR else 0)
    schedule = growth_schedule(config, manifest.resolution)
    if schedule is not None and hasattr(generator, "set_stage"):
        segment = schedule.segment_at(int(images_seen.numpy()))
        generator.set_stage(segment.resolution, segment.fading)
        generator.fade_alpha.assign(schedule.alpha(int(images_seen.numpy()), segment))
    return RestoredGenerator(generator=generator, config=config, latent_dim=nets.latent_dim,
                             num_classes=nets.num_classes, condition_shape=nets.condition_shape,
                             images_seen=int(images_seen.numpy()),
                             ema=key == EMA_GENERATOR, checkpoint=path,
                             run_info=runs.read_info(run_dir))

