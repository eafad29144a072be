"""``GAN``: the one ``keras.Model`` that trains every architecture in keras-gans.

A GAN is a generator and a discriminator (any Keras models) plus an EMA copy of the generator.
``compile()`` takes both optimizers, an adversarial loss (``keras_gans.losses``) and a list of
regularizers (gradient penalty, R1, drift, orthogonal, mode seeking: ``keras_gans.losses.
regularizers``); ``train_step`` runs ``d_steps`` discriminator updates, then one generator
update, then the EMA update, each optionally accumulated over micro-batches.

Model call conventions (every architecture follows them):

- generator input: ``z`` [B, latent_dim], or ``[z, condition]`` when conditional: the
  ``class_id`` [B] when ``num_classes > 0``, the condition image [B, H, W, C] in [-1, 1] when
  ``condition_shape`` is set (image-to-image translation, Pix2Pix-MS); output: images
  [B, H, W, C] in [-1, 1], or a tuple of images from the lowest to the highest resolution
  (multi-scale generators, MSG-GAN).
- discriminator input: the images (a tensor, or a list for multi-scale), with the condition
  (``class_id`` or the condition image) appended as the last list element when conditional;
  output: logits of any shape per example (a tensor, or a list for several discriminators, as
  Projected GAN and Pix2Pix-MS's two PatchGANs): losses reduce them.
- conditions flow as one thing, class ids or images alike: the reals' from the batch
  (``"label"``, or ``"condition"`` for image-conditioned GANs), the fakes' the real batch's
  (image conditions always; classes with ``fake_labels="real"``), shared by a mode-seeking
  pair. D regularizers differentiate with respect to the image only (the condition is bound).
- augmentation: with ``compile(augment="color,translation,cutout")`` every image D sees in
  training (reals, fakes, and the images of D regularizers) first goes through DiffAugment
  (``keras_gans.layers.diffaugment``, Zhao et al. 2020), differentiably, with stateless draws.
- data: dicts from ``keras_gans.data.load_dataset``; ``real_key`` picks ``"image"`` or
  ``"pyramid"`` (multi-scale). With a growth schedule (ProGAN, ``set_growth``) the real
  images are processed for the current stage and the networks' fade weight is set each step.

Distribution (traps measured on TF 2.21 / Keras 3.15 with 2 logical CPU devices: a raw mean
loss doubled the update of a 1-parameter SGD test): gradients are summed across
replicas, so every loss is reduced as ``sum(per_example) / global_batch`` and batch-level terms
are divided by the number of replicas; batch means inside losses (relativistic losses, mode
seeking) are cross-replica means. The gradients are all-reduced once here (the optimizers'
own all-reduce is switched off) so that the logged gradient norms are the global ones, and
logged values are all-reduced so they equal the single-device values exactly.

Randomness is stateless: latents, fake labels and penalty interpolation draw from seeds made
of (seed, purpose, step counter, micro-batch, replica id), so a run is reproducible with
``--deterministic`` and resumes exactly from a checkpoint (the step counter is checkpointed).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras
import tensorflow as tf

from keras_gans.losses import adversarial
from keras_gans.training.ema import EmaSchedule

_PURPOSES = {"z": 1, "fake_labels": 2, "regularizer": 3, "z_g": 4, "labels_g": 5, "augment": 6}


@dataclasses.dataclass
class StepContext:
    """What a regularizer sees during one micro-batch of a D or G update."""

    real: Any
    fake: Any
    real_logits: Any
    fake_logits: Any
    labels: tf.Tensor | None                      # the reals' conditions (class ids or images)
    fake_labels: tf.Tensor | None                 # the fakes' conditions
    z: tf.Tensor
    discriminator_fn: Callable[[Any], Any]      # images -> logits (labels bound: the real ones)
    generator_fn: Callable[[tf.Tensor, Any], Any]  # (z, labels) -> images
    generator: keras.Model
    discriminator: keras.Model
    seed: tf.Tensor                              # a fresh stateless seed [2] for this term
    uniform: Callable[[], tf.Tensor]             # per-example U[0,1) [B], replica-count independent
    sum_fn: Callable[[tf.Tensor], tf.Tensor]     # cross-replica sum
    mean_fn: Callable[[tf.Tensor], tf.Tensor]    # cross-replica batch mean (axis 0)
    num_replicas: int
    # An auxiliary classifier's logits [B, classes] (AC-GAN discriminators), else None.
    real_class_logits: Any = None
    fake_class_logits: Any = None
    # Image-conditioned GANs: the real images paired with ``fake``'s conditions, row for row
    # (the targets of a reconstruction term such as pix2pix's L1), else None.
    targets: Any = None


def split_discriminator_output(out):
    """(score logits, class logits or None): a discriminator with an auxiliary classifier
    (``auxiliary_classes``) returns ``{"score", "class_logits"}``; others return the logits."""
    if isinstance(out, dict):
        return out["score"], out["class_logits"]
    return out, None


def _first(structure):
    return tf.nest.flatten(structure)[0]


def _take(structure, start, size):
    return tf.nest.map_structure(lambda t: t[start:start + size], structure)


def _concat(structures):
    """Concatenate a list of same-structure tensors (or nests of them) along the batch axis."""
    if len(structures) == 1:
        return structures[0]
    return tf.nest.map_structure(lambda *t: tf.concat(t, axis=0), *structures)


def generator_inputs(z, condition, num_classes: int, condition_shape):
    """The one place that builds a generator's inputs: ``z`` for unconditional generators,
    ``[z, condition]`` (class ids [N], or condition images [N, H, W, C] in [-1, 1]) otherwise."""
    if not num_classes and condition_shape is None:
        return z
    if condition is None:
        raise ValueError("this generator is conditional: pass "
                         + ("condition images of shape [N, %d, %d, %d]" % tuple(condition_shape)
                            if condition_shape is not None else "class ids [N]"))
    return [z, condition]


def final_output(images):
    """The highest-resolution image of a multi-scale output (or the image itself)."""
    return images[-1] if isinstance(images, (list, tuple)) else images


def _add_grads(acc, grads):
    """Accumulate micro-batch gradients (IndexedSlices from embeddings become dense)."""
    if acc is None:
        return list(grads)
    out = []
    for a, g in zip(acc, grads):
        if g is None or a is None:
            out.append(a if g is None else g)
        else:
            out.append(tf.convert_to_tensor(a) + tf.convert_to_tensor(g))
    return out


def _after(updated, structure):
    """``structure`` (latents) gated on a read of every ``updated`` variable, i.e. on their
    last update: a network call fed by it starts only when that update has finished.

    The G phase's generator forward (whose activations are kept for G's backward) depends on
    nothing of the D phase before it, so TensorFlow's executor may start it during the D steps
    and keep those activations alive across them; PyTorch runs the phases in program order.
    Gating it cut BigGAN-PyTorch's CIFAR step (4 D steps, ``benchmarks/official_bench.py
    --configs biggan``) from 2431-2596 to ~2060 MiB peak RSS at the same speed. Gating each D
    step's generator forward as well saved little more (2012-2043 MiB) and was not faster, so
    only the G phase waits. Values are unchanged.
    """
    if not updated:
        return structure
    reads = [tf.convert_to_tensor(v.value if hasattr(v, "value") else v) for v in updated]
    with tf.control_dependencies(reads):
        return tf.nest.map_structure(
            lambda t: None if t is None else tf.identity(t, name="after_update"), structure)


def _all_reduce_sum(values):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return values
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


def _disable_builtin_all_reduce(optimizer):
    """We all-reduce gradients ourselves (once, before norms and loss-scale checks)."""
    for opt in (optimizer, getattr(optimizer, "inner_optimizer", None)):
        if opt is not None and hasattr(opt, "_all_reduce_sum_gradients"):
            opt._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)


@keras.saving.register_keras_serializable("keras_gans")
class GAN(keras.Model):
    """A generator, a discriminator, and an EMA generator trained with ``fit()``.

    Args:
        generator: Keras model, conventions in the module docstring.
        discriminator: Keras model, conventions in the module docstring.
        latent_dim: size of z.
        num_classes: > 0 for class-conditional models (labels from the data for real images,
            uniformly sampled classes for fakes, as BigGAN does).
        condition_shape: (H, W, C) of a condition image for image-conditioned models
            (image-to-image translation): the batch's ``"condition"`` entry conditions the reals
            and, row for row, the fakes. Exclusive with ``num_classes``.
        use_ema: keep an EMA copy of the generator (for samples and export).
        real_key: which data entry holds the real images: "image", or "pyramid" (multi-scale).
        seed: base of every stateless random draw in ``train_step``.
        joint_discriminator: D sees the fakes and the reals of an update in one call on their
            concatenation (fakes first), as BigGAN-PyTorch's ``G_D.forward`` (BigGAN.py: one
            spectral-norm power step per D update). Only for discriminators without batch
            statistics (no batch norm, no minibatch stddev), where the scores are unchanged.

    Example:
        >>> gan = GAN(make_generator(), make_discriminator(), latent_dim=100)
        >>> gan.compile(g_optimizer=keras.optimizers.Adam(2e-4, 0.5),
        ...             d_optimizer=keras.optimizers.Adam(2e-4, 0.5), loss="ns")
        >>> gan.fit(data.load_dataset("data/mnist32", "train", 64), steps_per_epoch=100)

    Reference: Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *, latent_dim: int,
                 num_classes: int = 0, condition_shape=None, use_ema: bool = True,
                 real_key: str = "image", seed: int = 0, joint_discriminator: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if condition_shape is not None:
            condition_shape = tuple(int(d) for d in condition_shape)
            if len(condition_shape) != 3 or min(condition_shape) < 1:
                raise ValueError(f"condition_shape must be (H, W, C), got {condition_shape}")
            if num_classes:
                raise ValueError("a GAN is conditioned on classes or on an image, not both")
        # === Sub-models ===
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = None
        if use_ema:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.name = f"{generator.name}_ema"
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        # === Config ===
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.condition_shape = condition_shape
        self.real_key = real_key
        self.seed = int(seed)
        self.joint_discriminator = bool(joint_discriminator)
        # === State (checkpointed) ===
        self.images_seen = keras.Variable(0, dtype="int64", trainable=False, name="images_seen",
                                          aggregation="only_first_replica")
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="train_steps",
                                           aggregation="only_first_replica")
        # Bumped by a NaN rollback so the retried steps draw fresh randomness.
        self.seed_offset = keras.Variable(0, dtype="int64", trainable=False, name="seed_offset",
                                          aggregation="only_first_replica")
        # Index of the growth segment whose optimizer reset has been done (ProGAN).
        self.growth_segment = keras.Variable(-1, dtype="int64", trainable=False,
                                             name="growth_segment", aggregation="only_first_replica")
        self.paired_latents = False
        self.fake_labels = "sample"
        self.g_first = False
        # ProGAN growing (keras_gans.training.growth): the schedule and the current segment.
        self.growth = None
        self.segment = None
        self.built = True  # G and D are built; fit() under MirroredStrategy needs this

    # --- conventions -------------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        """Whether G and D take a condition (class ids or a condition image)."""
        return bool(self.num_classes) or self.condition_shape is not None

    def generator_inputs(self, z, condition=None):
        """G's inputs: ``z``, or ``[z, condition]`` (class ids [B], or condition images
        [B, H, W, C] in [-1, 1]) for conditional models (``generator_inputs``)."""
        return generator_inputs(z, condition, self.num_classes, self.condition_shape)

    def discriminator_takes_labels(self):
        """Whether D gets the condition as an input: conditional, unless D says it does not
        (an AC-GAN discriminator classifies instead: ``takes_labels = False``)."""
        return self.conditional and getattr(self.discriminator, "takes_labels", True)

    def _condition(self, x):
        """A condition batch in its dtype: int32 class ids, or float32 images."""
        return tf.cast(x, tf.float32 if self.condition_shape is not None else tf.int32)

    def data_conditions(self, data):
        """The batch's conditions (``"label"`` or ``"condition"``), or None when unconditional."""
        if not self.conditional:
            return None
        key = "condition" if self.condition_shape is not None else "label"
        if not isinstance(data, dict) or key not in data:
            raise ValueError(
                "an image-conditioned GAN needs paired data (batches with a 'condition' image: "
                "prepare the dataset with --pairs)" if self.condition_shape is not None else
                "a conditional GAN needs labelled data (the manifest has no labels)")
        return data[key]

    def discriminator_inputs(self, images, labels=None):
        if not self.discriminator_takes_labels():
            return list(images) if isinstance(images, (list, tuple)) else images
        flat = list(images) if isinstance(images, (list, tuple)) else [images]
        return flat + [labels]

    def preprocess_real(self, data, alpha=None):
        """The real-image structure fed to D: ``data[real_key]``; while growing, the images as
        the current stage sees them (``growth.process_reals``)."""
        if isinstance(data, dict):
            if self.real_key not in data:
                raise ValueError(
                    f"the data has no {self.real_key!r} entry (it has {sorted(data)}); for "
                    "multi-scale models load it with pyramid_min_resolution")
            data = data[self.real_key]
        if self.segment is not None:
            from keras_gans.training.growth import process_reals

            data = process_reals(data, self.segment.resolution, alpha, self.segment.fading)
        return data

    def growing_networks(self):
        """The networks that follow the growth stage (those with ``set_stage``)."""
        nets = (self.generator, self.ema_generator, self.discriminator)
        return [n for n in nets if n is not None and hasattr(n, "set_stage")]

    def set_growth(self, schedule, images_seen=None):
        """Follow a ``GrowthSchedule`` (None: stop growing); sets the stage of ``images_seen``
        (default: the current count)."""
        self.growth = schedule
        if schedule is None:
            self.segment = None
            return
        if not self.growing_networks():
            raise ValueError("growth needs networks with set_stage (ProGAN)")
        seen = int(self.images_seen.numpy()) if images_seen is None else int(images_seen)
        self.set_segment(schedule.segment_at(seen))

    def set_segment(self, segment):
        """Enter a growth segment: set every network's stage and fade weight, and drop the traced
        train function (one trace per segment)."""
        self.segment = segment
        alpha = self.growth.alpha(int(self.images_seen.numpy()), segment)
        for net in self.growing_networks():
            net.set_stage(segment.resolution, segment.fading)
            net.fade_alpha.assign(alpha)
        self.train_function = None

    def call(self, inputs, training=False):
        """Generate with the training generator: ``inputs`` follow the generator convention."""
        return self.generator(inputs, training=training)

    def sample(self, z, labels=None, use_ema=True, training=False, *, condition=None):
        """Images in [-1, 1] from z (final resolution), with the EMA generator by default.

        ``labels`` (class ids) or ``condition`` (condition images [N, H, W, C] in [-1, 1], one
        per row of z) for conditional models."""
        if labels is not None and condition is not None:
            raise ValueError("pass labels (class-conditional) or condition (image-conditioned), "
                             "not both")
        net = self.ema_generator if (use_ema and self.ema_generator is not None) else self.generator
        cond = labels if condition is None else condition
        return final_output(net(self.generator_inputs(z, cond), training=training))

    # --- compile -------------------------------------------------------------------------
    def compile(self, *, g_optimizer, d_optimizer, loss="ns", regularizers: Sequence = (),
                d_steps: int = 1, accumulation_steps: int = 1,
                ema: EmaSchedule | None = None, fake_labels: str = "sample", augment: str = "",
                g_first: bool = False, reuse_fakes: bool = False, jit_compile=False, **kwargs):
        """Configure training.

        Args:
            g_optimizer, d_optimizer: Keras optimizers (LossScaleOptimizer for float16).
            loss: an ``AdversarialLoss`` or its name ("ns", "wgan", "hinge", "rahinge").
            regularizers: ``keras_gans.losses.regularizers`` objects; each names its target
                network ("discriminator" or "generator") and lazy interval.
            d_steps: discriminator updates per generator update; each uses its own slice of
                the real batch, so the reader's batch is ``batch * d_steps``.
            accumulation_steps: micro-batches per update (gradient accumulation).
            ema: EMA schedule of the generator copy (default beta 0.999).
            fake_labels: classes of the fakes in conditional models: "sample" (uniform, as
                BigGAN) or "real" (the real batch's classes, as MSGAN's CDCGAN).
            augment: DiffAugment policy applied to every image D sees in training
                ("color,translation,cutout" as Projected GAN; "" = none). Single-image
                discriminators only (not the multi-scale pyramid of MSG-GAN).
            g_first: run the generator update before the discriminator updates (Projected
                GAN: its training_loop.py builds the phases G then D, lines 205-217); by
                default D first (ProGAN, StyleGAN, BigGAN, MSGAN, BMSG-GAN).
            reuse_fakes: with ``g_first``, the D update scores the G update's fakes (detached,
                the same latents, conditions and dropout masks) instead of generating new ones
                with the updated G, as HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/
                pix2pix_model.py ``optimize_parameters`` (lines 156-159: ``forward`` once, then
                ``update_G``, then ``update_D`` on the same ``fake_B``). Needs ``d_steps=1``.
            jit_compile: XLA-compile the train step.

        Mode seeking (a regularizer with ``needs_paired_latents``, MSGAN): every step draws B
        pairs (z1, z2) with the same classes for B reals, 2B fakes from one generator call, and
        each adversarial loss is the *sum* of the two halves' means, ``adv(fake1) + adv(fake2)``
        for G and ``adv_D(real, fake1) + adv_D(real, fake2)`` for D, with D called on each
        half separately (HelenMao/MSGAN DCGAN-Mode-Seeking/model.py lines 44-79: ``forward``,
        ``update_D``, ``update_G``). D's regularizers see the first half of the pairs.
        """
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.adversarial_loss = adversarial.get_loss(loss) if isinstance(loss, str) else loss
        self.d_regularizers = [r for r in regularizers if r.target == "discriminator"]
        self.g_regularizers = [r for r in regularizers if r.target == "generator"]
        bad = [r for r in regularizers if r.target not in ("discriminator", "generator")]
        if bad:
            raise ValueError(f"regularizer {bad[0]!r} has target {bad[0].target!r}")
        if d_steps < 1 or accumulation_steps < 1:
            raise ValueError("d_steps and accumulation_steps must be >= 1")
        self.d_steps, self.accumulation_steps = int(d_steps), int(accumulation_steps)
        if fake_labels not in ("sample", "real"):
            raise ValueError(f"fake_labels must be 'sample' or 'real', got {fake_labels!r}")
        self.fake_labels = fake_labels
        self.g_first = bool(g_first)
        if reuse_fakes and not (self.g_first and self.d_steps == 1):
            raise ValueError("reuse_fakes needs g_first=True and d_steps=1 (the D update scores "
                             "the fakes of the G update that ran just before it)")
        self.reuse_fakes = bool(reuse_fakes)
        if augment:
            from keras_gans.layers.diffaugment import parse_policy

            parse_policy(augment)
            if self.real_key != "image":
                raise ValueError(f"augment needs a single-image discriminator; real_key is "
                                 f"{self.real_key!r} (multi-scale inputs are not augmented)")
            if self.condition_shape is not None:
                raise ValueError("augment is not supported for image-conditioned GANs (DiffAugment "
                                 "would move the image but not its condition); set augment=''")
        self.augment_policy = augment or ""
        self.paired_latents = any(getattr(r, "needs_paired_latents", False) for r in regularizers)
        targets = [r.name for r in regularizers if getattr(r, "needs_targets", False)]
        if targets and self.condition_shape is None:
            raise ValueError(f"regularizer(s) {', '.join(targets)} compare fakes with the real "
                             "images of their conditions: they need an image-conditioned GAN "
                             "(paired data)")
        classifier = bool(self.num_classes) and getattr(self.discriminator, "auxiliary_classes", False)
        wants = [r.name for r in regularizers if getattr(r, "needs_class_logits", False)]
        if wants and not classifier:
            raise ValueError(f"regularizer(s) {', '.join(wants)} need a conditional discriminator "
                             "with an auxiliary classifier (ProGAN label_conditioning='acgan')")
        if classifier and {r.target for r in regularizers
                           if getattr(r, "needs_class_logits", False)} != {"discriminator", "generator"}:
            raise ValueError("the discriminator has an auxiliary classifier: add the label penalty "
                             "for both networks (regularizers type 'label', targets "
                             "discriminator and generator), or nothing trains it")
        self.ema_schedule = ema or EmaSchedule()
        for opt in (g_optimizer, d_optimizer):
            _disable_builtin_all_reduce(opt)
        with self.distribute_strategy.scope():
            # Built outside the strategy scope, the first distributed step fails on TF 2.21 with
            # "You must feed a value for placeholder tensor" (a cond/Placeholder in the step).
            g_optimizer.build(self.generator.trainable_variables)
            d_optimizer.build(self.discriminator.trainable_variables)
        names = ["d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"]
        names += [f"reg_{r.name}" for r in (*self.d_regularizers, *self.g_regularizers)]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", {}).values())

    # --- train step ------------------------------------------------------------------------
    def _seed(self, purpose: str, index: int):
        """A stateless seed from (seed, purpose, step counter, index): the same on every replica."""
        counter = tf.cast(self.step_counter.value, tf.int64) * 4096 + index
        base = tf.constant(self.seed * 7919 + _PURPOSES[purpose], tf.int64)
        return tf.stack([base + self.seed_offset.value * 1_000_003, counter])

    def _local_rows(self, full, n_local):
        """This replica's rows of a tensor drawn for the global batch.

        Every replica draws the same global tensor and keeps its slice, so a run on R replicas
        sees exactly the random numbers a single-device run sees: the replica count changes
        nothing but speed (and the 2-replica test can compare updates exactly).
        """
        R = self.distribute_strategy.num_replicas_in_sync
        if R == 1:
            return full
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return full[replica * n_local:(replica + 1) * n_local]

    def _latents(self, n, purpose_z, purpose_labels, index):
        """Latents for one update of n local fakes; returns ``micro(m, size, real_labels)``.

        Drawn once per update (global rows, this replica's slice), then cut into micro-batches,
        so accumulating N micro-batches sees exactly the latents of one big batch. With paired
        latents (mode seeking, MSGAN model.py ``forward`` lines 44-51) a micro-batch of ``size``
        is ``size`` pairs: ``2 * size`` rows, z1 then z2, with the same classes, so G(c, z1) and
        G(c, z2) can be compared.
        """
        R = self.distribute_strategy.num_replicas_in_sync
        paired = self.paired_latents
        rows = n
        normal = lambda k: self._local_rows(tf.random.stateless_normal(  # noqa: E731
            [rows * R, self.latent_dim], seed=self._seed(purpose_z, index + 2048 * k)), rows)
        zs = [normal(0), normal(1)] if paired else [normal(0)]
        sampled = None
        if self.num_classes and (self.fake_labels == "sample"):  # image conditions: the reals'
            sampled = self._local_rows(tf.random.stateless_uniform(
                [rows * R], seed=self._seed(purpose_labels, index), minval=0,
                maxval=self.num_classes, dtype=tf.int32), rows)

        def micro(m, size, real_labels=None):
            k = size
            z = tf.concat([zz[m * k:(m + 1) * k] for zz in zs], axis=0)
            labels = None
            if self.conditional:
                labels = (self._condition(real_labels[:k]) if sampled is None
                          else sampled[m * k:(m + 1) * k])
                if paired:
                    labels = tf.concat([labels, labels], axis=0)
            return z, labels

        return micro

    def _augment(self, images, index):
        """DiffAugment ``images`` (when configured) with draws made for the global batch and
        sliced to this replica's rows, so the replica count does not change the augmentation."""
        if not self.augment_policy:
            return images
        from keras_gans.layers.diffaugment import diff_augment

        n_local = int(images.shape[0])
        R = self.distribute_strategy.num_replicas_in_sync
        seed = self._seed("augment", index)

        def draw(k, shape):
            full = tf.random.stateless_uniform(
                [n_local * R, *shape], seed=tf.random.experimental.stateless_fold_in(seed, k))
            return self._local_rows(full, n_local)

        return diff_augment(images, self.augment_policy, draw=draw)

    def _d_outputs(self, images, labels, augment_index):
        """D's (score logits, class logits or None) of (augmented) ``images`` in training mode."""
        images = self._augment(images, augment_index)
        return split_discriminator_output(
            self.discriminator(self.discriminator_inputs(images, labels), training=True))

    def _d(self, images, labels, augment_index):
        """D's score logits of (augmented) ``images`` in training mode."""
        return self._d_outputs(images, labels, augment_index)[0]

    def _halves(self, fake, fake_labels, micro):
        """``[(fake, labels)]``, or with paired latents the two halves ``[(G(z1), c), (G(z2), c)]``
        of the ``2 * micro`` fakes (MSGAN model.py line 51 ``torch.split``)."""
        if not self.paired_latents:
            return [(fake, fake_labels)]
        return [(_take(fake, h * micro, micro),
                 None if fake_labels is None else fake_labels[h * micro:(h + 1) * micro])
                for h in range(2)]

    def _d_calls(self, parts):
        """D's (score logits, class logits or None) for each ``(images, labels, augment_index)``
        of ``parts``: one call each, or with ``joint_discriminator`` one call on their
        concatenation, split back (BigGAN-PyTorch BigGAN.py ``G_D.forward``)."""
        if not self.joint_discriminator or len(parts) == 1:
            return [self._d_outputs(*p) for p in parts]
        images = [self._augment(im, index) for im, _, index in parts]
        sizes = [int(_first(im).shape[0]) for im in images]
        labels = None
        if self.discriminator_takes_labels():
            labels = tf.concat([self._condition(lab) for _, lab, _ in parts], axis=0)
        out = split_discriminator_output(self.discriminator(
            self.discriminator_inputs(_concat(images), labels), training=True))
        results, start = [], 0
        for size in sizes:
            results.append(tuple(None if o is None else _take(o, start, size) for o in out))
            start += size
        return results

    def _context(self, real, fake, real_logits, fake_logits, labels, fake_labels, z, seed, n_global,
                 augment_index=0, class_logits=(None, None), targets=None):
        R = self.distribute_strategy.num_replicas_in_sync
        n_local = int(n_global) // R

        def mean_fn(x):
            return _all_reduce_sum(tf.reduce_sum(tf.cast(x, tf.float32), axis=0)) / n_global

        return StepContext(
            real=real, fake=fake, real_logits=real_logits, fake_logits=fake_logits, labels=labels,
            fake_labels=fake_labels, z=z,
            discriminator_fn=lambda images: self._d(images, labels, augment_index),
            generator_fn=lambda z_, labels_: self.generator(
                self.generator_inputs(z_, labels_), training=True),
            generator=self.generator, discriminator=self.discriminator, seed=seed,
            uniform=lambda: self._local_rows(tf.random.stateless_uniform(
                [n_local * R], seed=seed if seed is not None else self._seed("regularizer", 0)), n_local),
            sum_fn=_all_reduce_sum, mean_fn=mean_fn, num_replicas=R,
            real_class_logits=class_logits[0], fake_class_logits=class_logits[1], targets=targets)

    def _regularize(self, regs, ctx_fn, n_global, active_flags):
        """Sum of regularizer terms for the gradient, and their logged values."""
        R = self.distribute_strategy.num_replicas_in_sync
        total = tf.constant(0.0)
        logged = {}
        for i, reg in enumerate(regs):
            interval = int(getattr(reg, "interval", 1))

            def term(reg=reg, i=i):
                per_example, batch = reg(ctx_fn(i))
                value = tf.constant(0.0)
                grad_term = tf.constant(0.0)
                if per_example is not None:
                    s = tf.reduce_sum(tf.cast(per_example, tf.float32))
                    grad_term += s / n_global
                    value += s
                if batch is not None:
                    grad_term += tf.cast(batch, tf.float32) / R
                    value += tf.cast(batch, tf.float32) * n_global / R  # same on every replica
                return grad_term, value

            if interval > 1:  # lazy regularization (StyleGAN2): every `interval` steps, scaled up
                active = tf.equal(self.step_counter.value % interval, 0)
                grad_term, value = tf.cond(active, term, lambda: (tf.constant(0.0), tf.constant(0.0)))
                grad_term *= float(interval)
                active_flags[f"reg_{reg.name}"] = tf.cast(active, tf.float32)
            else:
                grad_term, value = term()
            total += grad_term
            logged[f"reg_{reg.name}"] = value  # a sum over the local examples
        return total, logged

    def _apply(self, optimizer, grads, variables):
        # Dense gradients: an embedding's IndexedSlices can repeat rows, which would make the
        # logged norm wrong (and GAN embeddings are small).
        # Layers outside the current growth stage (ProGAN) get no gradient: leave them out.
        pairs = [(tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g, v)
                 for g, v in zip(grads, variables) if g is not None]
        grads = _all_reduce_sum([g for g, _ in pairs])
        scale = getattr(optimizer, "dynamic_scale", None)
        norm = tf.linalg.global_norm(grads)
        if scale is not None:
            norm = norm / tf.cast(scale, norm.dtype)
        optimizer.apply(grads, [v for _, v in pairs])
        return norm

    def _scaled(self, optimizer, loss):
        return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss

    def _objective(self, optimizer, regs, ctx, loss_sum, seed_base, n_global, acc, active_flags):
        """One micro-batch's loss for the gradient (``sum / global batch`` + regularizers, over
        the accumulation steps, loss-scaled), and the regularizers' logged sums."""
        reg_total, reg_logged = self._regularize(
            regs, lambda i: dataclasses.replace(ctx, seed=self._seed("regularizer", seed_base + i)),
            n_global, active_flags)
        return self._scaled(optimizer, (loss_sum / n_global + reg_total) / acc), reg_logged

    def train_step(self, data):
        strategy = self.distribute_strategy
        R = strategy.num_replicas_in_sync
        alpha = None
        if self.segment is not None:
            alpha = self.growth.alpha(self.images_seen.value, self.segment)
            for net in self.growing_networks():
                net.fade_alpha.assign(alpha)
        real_all = self.preprocess_real(data, alpha)
        labels_all = self.data_conditions(data)  # class ids or condition images (or None)
        local = _first(real_all).shape[0]
        if local is None:
            raise ValueError("the per-replica batch size must be static: load the data with "
                             "drop_remainder=True")
        per_update = local // self.d_steps
        micro = per_update // self.accumulation_steps
        if micro * self.accumulation_steps * self.d_steps != local or micro == 0:
            raise ValueError(
                f"per-replica batch {local} is not divisible into d_steps={self.d_steps} x "
                f"accumulation_steps={self.accumulation_steps} micro-batches")
        n_global = float(micro * R)
        acc = float(self.accumulation_steps)
        sums = {k: tf.constant(0.0) for k in self._trackers}
        active_flags = {}
        D, G = self.discriminator, self.generator
        d_vars, g_vars = D.trainable_variables, G.trainable_variables
        loss = self.adversarial_loss

        def d_phase(shared=None):
            """``shared``: per micro-batch ``(z, conditions, fakes)`` of the G phase (reuse_fakes)."""
            last = (None, None)
            for step in range(self.d_steps):
                grads_acc = None
                latents = self._latents(per_update, "z", "fake_labels", step)
                # D step `step` takes every d_steps-th row: the same global rows whatever the
                # replica count (a contiguous cut would depend on how the batch was split).
                step_real = tf.nest.map_structure(lambda t: t[step::self.d_steps], real_all)
                step_labels = None if labels_all is None else labels_all[step::self.d_steps]
                for m in range(self.accumulation_steps):
                    index = step * self.accumulation_steps + m
                    real = _take(step_real, m * micro, micro)
                    labels = None if step_labels is None else self._condition(
                        step_labels[m * micro:(m + 1) * micro])
                    if shared is None:
                        z, fake_labels = latents(m, micro, labels)
                    else:
                        z, fake_labels, g_fake = shared[index]
                    with tf.GradientTape() as tape:
                        fake = tf.nest.map_structure(tf.stop_gradient, G(
                            self.generator_inputs(z, fake_labels), training=True)
                            if shared is None else g_fake)
                        halves = self._halves(fake, fake_labels, micro)
                        outs = self._d_calls([(real, labels, 4 * index)] + [
                            (f, l, 4 * index + 1 + h) for h, (f, l) in enumerate(halves)])
                        (real_logits, real_classes), fake_outs = outs[0], outs[1:]
                        ctx = self._context(real, halves[0][0], real_logits, fake_outs[0][0], labels,
                                            halves[0][1], z[:micro], None, n_global,
                                            augment_index=4 * index,
                                            class_logits=(real_classes, fake_outs[0][1]),
                                            targets=real if self.condition_shape else None)
                        per_example = tf.add_n([loss.discriminator(real_logits, f, mean_fn=ctx.mean_fn)
                                                for f, _ in fake_outs])
                        d_sum = tf.reduce_sum(per_example)
                        scaled, reg_logged = self._objective(
                            self.d_optimizer, self.d_regularizers, ctx, d_sum, index * 64,
                            n_global, acc, active_flags)
                    grads = tape.gradient(scaled, d_vars)
                    grads_acc = _add_grads(grads_acc, grads)
                    sums["d_loss"] += d_sum
                    sums["d_real"] += tf.reduce_sum(adversarial.per_example(real_logits))
                    sums["d_fake"] += tf.add_n([tf.reduce_sum(adversarial.per_example(f))
                                                for f, _ in fake_outs]) / len(fake_outs)
                    for k, v in reg_logged.items():
                        sums[k] += v
                    last = (real, labels)
                sums["d_grad_norm"] += self._apply(self.d_optimizer, grads_acc, d_vars)
            return last

        def g_phase(g_real, g_labels, updated=()):
            """Returns each micro-batch's ``(z, conditions, fakes)``."""
            grads_acc = None
            made = []
            latents = self._latents(per_update, "z_g", "labels_g", 0)
            for m in range(self.accumulation_steps):
                g_real_labels = None if labels_all is None else labels_all[m * micro:(m + 1) * micro]
                # The reals whose conditions the fakes take, row for row (image conditions).
                g_targets = (_take(real_all, m * micro, micro) if self.condition_shape is not None
                             else None)
                z, fake_labels = _after(updated, latents(m, micro, g_real_labels))
                with tf.GradientTape() as tape:
                    fake = G(self.generator_inputs(z, fake_labels), training=True)
                    halves = self._halves(fake, fake_labels, micro)
                    parts = [(f, l, 2048 + 4 * m + (2 if h == 0 else 1)) for h, (f, l) in enumerate(halves)]
                    if loss.needs_real_logits_for_generator:
                        parts.append((g_real, g_labels, 2048 + 4 * m + 3))
                    outs = self._d_calls(parts)
                    fake_outs = outs[:len(halves)]
                    real_logits = outs[-1][0] if loss.needs_real_logits_for_generator else None
                    fake_logits = _concat([f for f, _ in fake_outs])
                    fake_classes = (None if fake_outs[0][1] is None
                                    else _concat([c for _, c in fake_outs]))
                    ctx = self._context(g_real, fake, real_logits, fake_logits, g_labels,
                                        fake_labels, z, None, n_global,
                                        augment_index=2048 + 4 * m + 3,
                                        class_logits=(None, fake_classes), targets=g_targets)
                    per_example = tf.add_n([loss.generator(f, real_logits, mean_fn=ctx.mean_fn)
                                            for f, _ in fake_outs])
                    g_sum = tf.reduce_sum(per_example)
                    scaled, reg_logged = self._objective(
                        self.g_optimizer, self.g_regularizers, ctx, g_sum, 100_000 + m * 64,
                        n_global, acc, active_flags)
                grads = tape.gradient(scaled, g_vars)
                grads_acc = _add_grads(grads_acc, grads)
                made.append((z, fake_labels, fake))
                sums["g_loss"] += g_sum
                for k, v in reg_logged.items():
                    sums[k] += v
            sums["g_grad_norm"] += self._apply(self.g_optimizer, grads_acc, g_vars)
            return made

        if self.g_first:
            # The G phase's reals (relativistic losses, regularizer context): the first
            # micro-batch of the first D step.
            first_labels = None if labels_all is None else self._condition(
                labels_all[0::self.d_steps][:micro])
            made = g_phase(_take(tf.nest.map_structure(lambda t: t[0::self.d_steps], real_all), 0,
                                 micro), first_labels)
            d_phase(made if self.reuse_fakes else None)
        else:
            g_phase(*d_phase(), updated=d_vars)

        # --- EMA, counters ---
        global_images = local * R
        if self.ema_generator is not None:
            beta = self.ema_schedule.beta_at(self.images_seen.value, global_images)
            self._update_ema(beta)
        self.images_seen.assign_add(global_images)
        self.step_counter.assign_add(1)

        # --- logging: exact global means, identical on every replica ---
        names = list(self._trackers)
        # Norms are global already (same on every replica): average over the updates.
        counts = {"d_loss": local, "d_real": local, "d_fake": local, "d_grad_norm": self.d_steps,
                  "g_loss": micro * self.accumulation_steps, "g_grad_norm": 1}
        for r in self.d_regularizers:
            counts[f"reg_{r.name}"] = local
        for r in self.g_regularizers:
            counts[f"reg_{r.name}"] = micro * self.accumulation_steps
        totals = _all_reduce_sum(tf.stack([sums[n] for n in names]))
        for i, n in enumerate(names):
            # Lazy regularizers are logged on the steps they run, not averaged with zeros.
            weight = active_flags.get(n, 1.0)
            self._trackers[n].update_state(totals[i] / (counts[n] * R), sample_weight=weight)
        logs = {n: t.result() for n, t in self._trackers.items()}
        logs["kimg"] = tf.cast(self.images_seen.value, tf.float32) / 1000.0
        if self.segment is not None:
            logs["resolution"] = tf.constant(float(self.segment.resolution))
            logs["fade_alpha"] = tf.cast(alpha, tf.float32)
        return logs

    def _update_ema(self, beta):
        pairs = [(e, g) for e, g in zip(self.ema_generator.variables, self.generator.variables)]

        def average(v, src, beta):
            return v.assign(src + tf.cast(beta, v.dtype) * (v - src))

        def copy(v, src, beta):
            return v.assign(src)

        def update(strategy, beta):
            # Cross-replica context: `beta` may be per-replica (identical values); update()
            # hands each device its own component.
            copy_frozen = self.ema_schedule.non_trainable == "copy"
            for e, g in pairs:
                fn = average if e.value.dtype.is_floating and (g.trainable or not copy_frozen) else copy
                strategy.extended.update(e.value, fn, args=(g.value, beta), group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(update, self.distribute_strategy, beta)
