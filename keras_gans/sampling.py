"""Stateless latent sampling: truncated normals (BigGAN's truncation trick), latents, classes.

Every function is a pure TensorFlow computation of its ``seed``, so it runs the same eagerly,
inside a ``tf.function`` and inside an exported SavedModel (``keras_gans.serving.export``): the
same seed gives the same numbers on every machine and every call.

Seeds: an int (or int64 scalar tensor) ``s`` is the stateless seed pair ``[s, stream]``; a
``[2]`` tensor is used as is. Latents use stream 0 and random class ids stream 1, so ``z`` and
the classes drawn from one seed are independent.

Truncation trick (Brock et al., "Large Scale GAN Training for High Fidelity Natural Image
Synthesis", ICLR 2019, section 3.1): sample z from a normal distribution whose components with
a magnitude above a threshold are resampled until they fall inside it. (The BigGAN authors'
TF-Hub sampler, ajbrock/BigGAN-PyTorch ``TFHub/biggan_v1.py`` ``truncated_z_sample``, draws
``truncation * truncnorm(-2, 2)`` instead: a scaled variant of the same distribution family.)
"""

from __future__ import annotations

import tensorflow as tf

Z_STREAM = 0
CLASS_STREAM = 1
MAX_ROUNDS = 64


def seed_pair(seed, stream: int = Z_STREAM) -> tf.Tensor:
    """``int64 [2]`` stateless seed: ``[seed, stream]`` for a scalar seed, else ``seed`` itself."""
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"seed must be an integer, got {seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        return tf.stack([seed, tf.constant(stream, tf.int64)])
    if seed.shape.rank != 1 or seed.shape[0] != 2:
        raise ValueError(f"seed must be a scalar or a [2] vector, got shape {seed.shape}")
    return seed


def truncated_normal(shape, seed, threshold, max_rounds: int = MAX_ROUNDS, dtype=tf.float32) -> tf.Tensor:
    """Standard normal samples with every component inside ``[-threshold, threshold]``.

    Components of the first draw whose magnitude exceeds ``threshold`` are resampled from fresh
    stateless draws (``seed`` folded with the round number) in a bounded ``tf.while_loop`` of at
    most ``max_rounds`` rounds; components still outside after that (only likely for
    thresholds below ~0.1) take an inverse-CDF draw from the truncated normal, and a final clip
    guards against float rounding. The result follows the normal distribution truncated to
    ``[-threshold, threshold]`` exactly, and components of the first draw that were inside the
    threshold are returned unchanged.

    Args:
        shape: output shape (a list or an int32 tensor).
        seed: an int / int64 scalar (stream 0 of ``seed_pair``) or an int ``[2]`` seed.
        threshold: float (or float scalar tensor); ``<= 0`` means no truncation.
        max_rounds: resampling rounds before the inverse-CDF fallback.
        dtype: float dtype of the result.

    Returns:
        ``dtype`` tensor of ``shape``; deterministic for a given seed.
    """
    seed = seed_pair(seed)
    threshold = tf.cast(tf.convert_to_tensor(threshold), dtype)
    first = tf.random.stateless_normal(shape, seed, dtype=dtype)
    active = threshold > 0

    def outside(z):
        return tf.logical_and(active, tf.abs(z) > threshold)

    def cond(i, z):
        return tf.reduce_any(outside(z))

    def body(i, z):
        fresh = tf.random.stateless_normal(
            shape, tf.random.experimental.stateless_fold_in(seed, i + 1), dtype=dtype)
        return i + 1, tf.where(outside(z), fresh, z)

    _, z = tf.while_loop(cond, body, (tf.constant(0, tf.int32), first),
                         maximum_iterations=max_rounds)
    # Fallback for what is left after max_rounds: inverse CDF of U(Phi(-t), Phi(t)).
    safe_t = tf.where(active, threshold, tf.ones_like(threshold))
    lo = 0.5 * tf.math.erfc(safe_t / tf.sqrt(tf.constant(2.0, dtype)))  # Phi(-t)
    u = tf.random.stateless_uniform(
        shape, tf.random.experimental.stateless_fold_in(seed, max_rounds + 1),
        minval=lo, maxval=1.0 - lo, dtype=dtype)
    z = tf.where(outside(z), tf.math.ndtri(u), z)
    return tf.where(active, tf.clip_by_value(z, -safe_t, safe_t), first)


def sample_latents(num, latent_dim: int, seed, truncation=0.0) -> tf.Tensor:
    """``float32 [num, latent_dim]`` latents from ``seed`` (stream 0), truncated if ``truncation > 0``."""
    shape = tf.stack([tf.cast(num, tf.int32), tf.constant(int(latent_dim), tf.int32)])
    return truncated_normal(shape, seed_pair(seed, Z_STREAM), truncation)


def sample_class_ids(num, num_classes: int, seed) -> tf.Tensor:
    """``int32 [num]`` uniform class ids in ``[0, num_classes)`` from ``seed`` (stream 1)."""
    return tf.random.stateless_uniform(
        tf.reshape(tf.cast(num, tf.int32), [1]), seed_pair(seed, CLASS_STREAM),
        minval=0, maxval=int(num_classes), dtype=tf.int32)


# --- standing statistics ----------------------------------------------------------------------
def batch_norm_layers(model) -> list:
    """Every batch-norm layer of ``model`` (nested ones included, e.g. the ``batch_norm`` inside
    ``keras_gans.layers.ConditionalBatchNorm``), in the model's layer order.

    A layer counts when it keeps ``moving_mean`` / ``moving_variance`` variables and a
    ``momentum`` (``keras.layers.BatchNormalization`` and anything built like it).
    """
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [layer for layer in layers
            if all(hasattr(layer, a) for a in ("moving_mean", "moving_variance", "momentum"))
            and getattr(layer, "built", True)]


def standing_stats_inputs(latent_dim: int, num_classes: int, index: int, batch_size: int = 64,
                          truncation=0.0, seed=0):
    """The generator inputs of batch ``index`` of ``accumulate_standing_stats``.

    ``z`` (``float32 [batch_size, latent_dim]``, truncated at ``truncation`` if ``> 0``) and
    uniform class ids (``int32 [batch_size]``, ``None`` when ``num_classes`` is 0), drawn
    statelessly from ``seed`` folded with ``index`` (z on stream 0, classes on stream 1).
    """
    z_seed = tf.random.experimental.stateless_fold_in(seed_pair(seed, Z_STREAM), int(index))
    z = truncated_normal([int(batch_size), int(latent_dim)], z_seed, truncation)
    if not num_classes:
        return z, None
    class_seed = tf.random.experimental.stateless_fold_in(seed_pair(seed, CLASS_STREAM), int(index))
    return z, sample_class_ids(int(batch_size), int(num_classes), class_seed)


def accumulate_standing_stats(generator, latent_dim: int, num_classes: int, *, num_batches: int = 16,
                              batch_size: int = 64, truncation=0.0, seed=0) -> list:
    """Replace the generator's batch-norm moving statistics by standing statistics.

    BigGAN (Brock et al. 2019, section 3 and appendix; ajbrock/BigGAN-PyTorch utils.py
    ``accumulate_standing_stats``, ``sample.py --accumulate_stats --num_standing_accumulations``):
    the moving averages kept during training lag behind the weights (and the EMA generator's
    are not its own), so before sampling the statistics are recomputed by running the generator
    in training mode over ``num_batches`` batches of random latents and uniformly random
    classes, and setting every batch-norm layer's moving mean and variance to the plain average
    of its batch means and biased batch variances over those batches (BigGAN-PyTorch layers.py
    ``myBN`` / ``manual_bn``: ``var = mean(x^2) - mean(x)^2``; ``keras_gans.layers.BatchNorm``
    switches its training update to the biased variance for this, ``unbiased_moving_variance``). Inference
    (``training=False``) then normalizes with them.

    Every batch-norm layer is covered, including the ones inside ``ConditionalBatchNorm``
    (``batch_norm_layers``); their statistics are reset (mean 0, variance 1, as PyTorch's
    ``reset_running_stats``) before the first batch. Nothing else changes: spectral-norm ``u``
    vectors (which a training-mode call would advance) are restored after every batch, so each
    batch sees the generator as it was and the result does not depend on the batch order, and
    the layers' ``trainable`` flags and ``momentum`` are restored at the end (batch norm uses
    batch statistics only in trainable layers, so the generator is made trainable meanwhile:
    an EMA generator is frozen). On an error the original statistics are put back.

    Args:
        generator: a Keras generator, conventions of ``keras_gans.training.gan``: input ``z``,
            or ``[z, class_id]`` when ``num_classes > 0``.
        latent_dim: size of z.
        num_classes: number of classes (0: unconditional).
        num_batches: batches to average (BigGAN's ``--num_standing_accumulations``, 16).
        batch_size: images per batch (the statistics are per batch, so this matters: use the
            batch the samples will be drawn at, or the training batch per replica).
        truncation: truncate z at this threshold (``truncated_normal``); ``<= 0``: none.
        seed: stateless seed (``standing_stats_inputs``): the result is deterministic.

    Returns:
        The batch-norm layers updated (``batch_norm_layers``).

    Raises:
        ValueError: bad arguments, or a generator without batch-norm layers.
    """
    import numpy as np

    num_batches, batch_size = int(num_batches), int(batch_size)
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if float(truncation) < 0:
        raise ValueError(f"truncation must be >= 0 (0: none), got {truncation}")
    bns = batch_norm_layers(generator)
    if not bns:
        raise ValueError(f"{generator.name} has no batch-norm layers: standing statistics do not apply")

    stats = [v for bn in bns for v in (bn.moving_mean, bn.moving_variance)]
    stat_ids = {id(v) for v in stats}
    original_stats = [np.array(v.numpy()) for v in stats]
    all_layers = list(generator._flatten_layers(include_self=True, recursive=True))  # parents first
    flags = [(layer, layer.trainable) for layer in all_layers]
    momenta = [bn.momentum for bn in bns]
    unbiased = [getattr(bn, "unbiased_moving_variance", None) for bn in bns]
    ok = False
    try:
        generator.trainable = True  # BatchNormalization uses batch statistics only when trainable
        # What a forward pass in training mode may write besides the statistics (SN u vectors).
        state = [v for v in generator.non_trainable_variables if id(v) not in stat_ids]
        state_values = [tf.identity(v.value) for v in state]
        for bn, flag in zip(bns, unbiased):
            bn.momentum = 0.0  # moving statistic := this batch's statistic
            if flag is not None:
                bn.unbiased_moving_variance = False  # myBN's biased variance
            bn.moving_mean.assign(tf.zeros_like(bn.moving_mean))
            bn.moving_variance.assign(tf.ones_like(bn.moving_variance))
        sums = [np.zeros(v.shape, np.float64) for v in stats]
        for i in range(num_batches):
            z, class_id = standing_stats_inputs(latent_dim, num_classes, i, batch_size, truncation, seed)
            generator([z, class_id] if num_classes else z, training=True)
            for total, v in zip(sums, stats):
                total += np.asarray(v.numpy(), np.float64)
            for v, value in zip(state, state_values):
                v.assign(value)
        for v, total in zip(stats, sums):
            v.assign(np.asarray(total / num_batches, dtype=v.dtype))
        ok = True
    finally:
        for bn, momentum, flag in zip(bns, momenta, unbiased):
            bn.momentum = momentum
            if flag is not None:
                bn.unbiased_moving_variance = flag
        for layer, flag in flags:
            layer.trainable = flag
        if not ok:
            for v, value in zip(stats, original_stats):
                v.assign(value)
    return bns
