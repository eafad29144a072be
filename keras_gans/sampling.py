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
