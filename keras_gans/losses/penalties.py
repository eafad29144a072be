"""Regularizers for GAN training: gradient penalty, R1, drift, orthogonal, mode seeking.

Conventions (as in :mod:`keras_gans.losses.adversarial`):

* The penalties on the discriminator (:func:`gradient_penalty`, :func:`r1_penalty`,
  :func:`drift_penalty`) return a float32 vector ``[B]``, one value per example, **without** their
  weight (lambda, gamma / 2, eps_drift): the caller multiplies and reduces
  ``sum(per_example) / global_batch_size``.
* Batch-level terms that cannot be split per example (:func:`orthogonal_regularization`,
  :func:`mode_seeking_ratio`, :func:`mode_seeking_loss`) return a float32 scalar.
* Images may be nested: MSG-GAN's discriminator takes a tuple of images, one per scale. The
  penalties treat such a structure as **one** input: the interpolation factor of an example is
  shared by all its scales, and gradient norms are taken over all scales together (the sum of
  squares over every tensor and every non-batch axis).
* All maths is float32; float16 / bfloat16 inputs are cast first.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence, Union

import tensorflow as tf

from keras_gans.losses.adversarial import per_example, to_float32

Images = Any  # a [B, H, W, C] tensor or a (nested) list / tuple / dict of them
DiscriminatorFn = Callable[[Images], Any]
SumFn = Callable[[tf.Tensor], tf.Tensor]

__all__ = [
    "drift_penalty",
    "gradient_penalty",
    "l1_reconstruction",
    "mode_seeking_loss",
    "mode_seeking_ratio",
    "orthogonal_regularization",
    "r1_penalty",
    "r1_penalty_pyramid",
]


# === Helpers ===


def _batch_size(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    return tf.shape(tensors[0])[0]


def _per_example_sum_of_squares(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    """``[B]``: the sum of squares of each example over every tensor and non-batch axis."""
    total = None
    for t in tensors:
        t = tf.reshape(tf.cast(t, tf.float32), [tf.shape(t)[0], -1])
        s = tf.reduce_sum(tf.square(t), axis=1)
        total = s if total is None else total + s
    return total


def _input_gradients(
    discriminator_fn: DiscriminatorFn,
    images: Images,
    loss_scale: Union[float, tf.Tensor],
) -> list[tf.Tensor]:
    """Gradients of ``sum(D(images))`` w.r.t. every tensor of ``images`` (float32 list).

    Summing the logits over the batch gives per-example gradients because each example's logits
    depend only on its own input (minibatch-stddev layers break that slightly; the official
    ProGAN / StyleGAN code differentiates the same sum). ``loss_scale`` multiplies the summed
    logits before differentiation and divides the gradients after, like
    ``opt.apply_loss_scaling`` / ``undo_loss_scaling`` in the official code, so float16
    backpropagation through D does not underflow.
    """
    flat = [tf.cast(t, tf.float32) for t in tf.nest.flatten(images)]
    if not flat:
        raise ValueError("the penalty needs at least one image tensor, got an empty structure")
    scale = tf.cast(loss_scale, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(flat)
        logits = discriminator_fn(tf.nest.pack_sequence_as(images, flat))
        total = tf.add_n(
            [tf.reduce_sum(tf.cast(t, tf.float32)) for t in tf.nest.flatten(logits)]
        )
        total = total * scale
    grads = tape.gradient(total, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [tf.cast(g, tf.float32) / scale for g in grads]


def _broadcast_alpha(alpha: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshapes a per-example ``[B]`` alpha to ``[B, 1, ..., 1]`` for a tensor like ``like``."""
    rank = like.shape.rank
    if rank is not None:  # static shape: keeps x_hat's static shape known for Keras layers
        return tf.reshape(alpha, [-1] + [1] * (rank - 1))
    ones = tf.ones([tf.rank(like) - 1], dtype=tf.int32)
    return tf.reshape(alpha, tf.concat([tf.shape(alpha), ones], axis=0))


# === Penalties on the discriminator (per example) ===


def gradient_penalty(
    discriminator_fn: DiscriminatorFn,
    real: Images,
    fake: Images,
    *,
    target: float = 1.0,
    seed: Optional[tf.Tensor] = None,
    alpha: Optional[tf.Tensor] = None,
    eps: float = 1e-10,
    loss_scale: Union[float, tf.Tensor] = 1.0,
) -> tf.Tensor:
    """WGAN-GP gradient penalty on real/fake interpolates, per example (lambda not applied).

    ``x_hat = x + alpha * (G(z) - x)`` with ``alpha ~ U[0, 1)``, one value per example, and::

        GP = (||grad_{x_hat} D(x_hat)||_2 - target)^2 / target^2
        ||g||_2 = sqrt(sum g^2 + eps)

    With ``target=1`` this is the paper's ``(||g|| - 1)^2``. Other targets follow the official
    ProGAN code, which adds ``gradient_penalty * (wgan_lambda / wgan_target**2)`` (its
    ``wgan_target``; 750 with lambda 10 in the CIFAR-10 configuration of its ``config.py``,
    paper Sec. 6.5), so the caller multiplies by lambda alone in both cases. ``eps`` inside the
    square root keeps the gradient of the penalty finite where D's input gradient is zero
    (``d sqrt(u)/du`` is infinite at 0: without ``eps`` a dead / constant D gives NaN weight
    gradients; the official code has no ``eps``). Alpha is uniform as in the paper (the keras-io
    ``wgan_gp.py`` example samples a normal). Note that ``tf.random.stateless_uniform`` gives
    different numbers with and without XLA for the same ``seed``.

    Nested images (MSG-GAN feeds a tuple of images, one per scale) are one input: every scale is
    interpolated with the **same** alpha of its example, and the norm is taken over the gradients
    of all scales together (sum of squares over all tensors and non-batch axes). BMSG-GAN's
    PyTorch code gets this wrong: its WGAN-GP does not support the multi-scale discriminator
    (akanimax/BMSG-GAN issue #34); the proposed fix (PR #35) drew a different epsilon per scale,
    which the author rejected ("the epsilon should be same ... at all scales"); a version of its
    ``sourcecode/MSG_GAN/Losses.py`` shares epsilon but, like the paper's text, averages separate
    per-scale penalties ``(||g_s|| - 1)^2``, which is not a penalty on the gradient of D as a
    function of its whole input (issue #41 asks which form is meant).

    References: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", arXiv 1704.00028,
    Algorithm 1 (lambda 10); Karras et al. 2018, "Progressive Growing of GANs", arXiv 1710.10196
    (official code: ``D_wgangp_acgan`` in tkarras/progressive_growing_of_gans ``loss.py``);
    Karnewar & Wang 2020, "MSG-GAN", arXiv 1903.06048.

    Args:
        discriminator_fn: maps images (same structure as ``real``) to logits (tensor or nested
            structure of tensors with a leading batch axis). Pass a closure such as
            ``lambda x: D(x, training=True)``; for a conditional D close over the labels.
        real: real images ``[B, H, W, C]`` or a nested structure of them.
        fake: generated images, same structure and shapes as ``real``.
        target: the gradient norm the penalty pulls towards (ProGAN's ``wgan_target``).
        seed: optional ``[2]`` int seed for ``tf.random.stateless_uniform`` (reproducible alpha);
            when None, ``tf.random.uniform`` is used.
        alpha: optional explicit mixing factors, shape ``[B]`` or ``[B, 1, 1, 1]`` (tests).
        eps: added to the squared norm inside the square root.
        loss_scale: multiplies the summed logits before the inner differentiation and divides
            the gradients after it (use the optimizer's loss scale with a float16 D).

    Returns:
        float32 ``[B]``.
    """
    flat_real = [tf.cast(t, tf.float32) for t in tf.nest.flatten(real)]
    tf.nest.assert_same_structure(real, fake)
    flat_fake = [tf.cast(t, tf.float32) for t in tf.nest.flatten(fake)]
    if not flat_real:
        raise ValueError("gradient_penalty needs at least one image tensor")
    if alpha is None:
        shape = tf.reshape(_batch_size(flat_real), [1])
        if seed is None:
            alpha = tf.random.uniform(shape, 0.0, 1.0, dtype=tf.float32)
        else:
            alpha = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
    else:
        alpha = tf.reshape(tf.cast(alpha, tf.float32), [-1])
    interpolates = [
        r + _broadcast_alpha(alpha, r) * (f - r) for r, f in zip(flat_real, flat_fake)
    ]
    grads = _input_gradients(
        discriminator_fn, tf.nest.pack_sequence_as(real, interpolates), loss_scale
    )
    norm = tf.sqrt(_per_example_sum_of_squares(grads) + tf.cast(eps, tf.float32))
    target = tf.cast(target, tf.float32)
    return tf.square(norm - target) / tf.square(target)


def r1_penalty(
    discriminator_fn: DiscriminatorFn,
    real: Images,
    *,
    loss_scale: Union[float, tf.Tensor] = 1.0,
) -> tf.Tensor:
    """R1 regularizer: squared gradient norm of D on real data, per example (gamma not applied).

    ``R1 = ||grad_x D(x)||_2^2`` = the sum over all scales and non-batch axes of
    ``(d sum(D(x)) / dx)^2``. The caller adds ``gamma / 2 * R1`` to D's loss (gamma 10 for
    MSG-StyleGAN / StyleGAN FFHQ).

    Multi-scale inputs: this sums the squares over all scales, each scale's image taken as an
    independent input (the squared norm of the gradient of D as a function of its whole
    input). The official MSG-StyleGAN penalty is :func:`r1_penalty_pyramid` (what the ``R1``
    regularizer uses by default on a pyramid).

    Reference: Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
    arXiv 1801.04406, Sec. 4.1. Official code: ``D_logistic_simplegp`` in NVlabs/stylegan
    ``training/loss.py``.

    Args:
        discriminator_fn: maps images (same structure as ``real``) to logits.
        real: real images ``[B, H, W, C]`` or a nested structure of them.
        loss_scale: as in :func:`gradient_penalty`.

    Returns:
        float32 ``[B]``.
    """
    return _per_example_sum_of_squares(_input_gradients(discriminator_fn, real, loss_scale))


def r1_penalty_pyramid(
    discriminator_fn: DiscriminatorFn,
    real: Sequence[tf.Tensor],
    *,
    loss_scale: Union[float, tf.Tensor] = 1.0,
) -> tf.Tensor:
    """MSG-StyleGAN's R1 on a multi-scale real input, per example (gamma not applied).

    akanimax/msg-stylegan-tf builds the real pyramid in the graph from the full-resolution image
    by repeated 2x2 average pooling (``training/training_loop.py`` ``process_reals``, lines
    19-46), and ``training/loss.py`` ``D_logistic_simplegp`` (lines 227-241) differentiates the
    summed real scores with respect to every level of that pyramid and averages the per-level
    squared norms::

        R1 = mean_s ||d sum(D(x_4, ..., x_R)) / d x_s||^2

    where each derivative is a *total* derivative: level ``x_s`` also reaches D through every
    coarser level pooled from it. Here the pyramid is rebuilt the same way from ``real[-1]``
    (the reader's pyramid is exactly that pooling, ``keras_gans.data.build_pyramid``; the
    coarser levels of ``real`` are not used).

    Args:
        discriminator_fn: maps a list of images, coarsest first, to logits.
        real: the real pyramid, coarsest first (``[B, r, r, C]`` with r doubling).
        loss_scale: as in :func:`gradient_penalty`.

    Returns:
        float32 ``[B]``.
    """
    real = list(real)
    if not real:
        raise ValueError("r1_penalty_pyramid needs at least one image level, got none")
    full = tf.cast(real[-1], tf.float32)
    scale = tf.cast(loss_scale, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(full)
        levels = [full]
        for _ in range(len(real) - 1):
            levels.append(tf.nn.avg_pool2d(levels[-1], 2, 2, "VALID"))
        levels = levels[::-1]
        logits = discriminator_fn(levels)
        total = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in tf.nest.flatten(logits)])
        total = total * scale
    grads = tape.gradient(total, levels, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    per_level = [_per_example_sum_of_squares([tf.cast(g, tf.float32) / scale]) for g in grads]
    return tf.add_n(per_level) / float(len(per_level))


def drift_penalty(real_logits: Any) -> tf.Tensor:
    """ProGAN's drift penalty, per example: ``D(x)^2`` (reduced with :func:`per_example`).

    Keeps WGAN critic scores from drifting far from zero. The caller multiplies by
    ``eps_drift = 1e-3``.

    Reference: Karras et al. 2018, "Progressive Growing of GANs", arXiv 1710.10196, Appendix A.1
    (epsilon_drift); official code: ``EpsilonPenalty`` in tkarras/progressive_growing_of_gans
    ``loss.py`` (``wgan_epsilon = 0.001``).

    Args:
        real_logits: D's scores on real images (tensor or nested structure).

    Returns:
        float32 ``[B]``.
    """
    return per_example(tf.nest.map_structure(tf.square, to_float32(real_logits)))


def label_penalty(class_logits: Any, labels: Any) -> tf.Tensor:
    """AC-GAN's label penalty, per example: softmax cross-entropy of an auxiliary classifier's
    logits against the class ids (official ``tf.nn.softmax_cross_entropy_with_logits_v2`` on
    one-hot labels in tkarras/progressive_growing_of_gans ``loss.py``; the same value).

    Args:
        class_logits: ``[B, num_classes]`` logits, or None when the discriminator has no
            auxiliary classifier (an error naming the fix).
        labels: ``[B]`` int class ids.

    Returns:
        float32 ``[B]``.
    """
    if class_logits is None:
        raise ValueError("the label penalty needs a discriminator with an auxiliary classifier "
                         "(class logits): a conditional ProGAN with model.label_conditioning=acgan")
    if labels is None:
        raise ValueError("the label penalty needs class labels: train a conditional model")
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(class_logits, tf.float32))


def l1_reconstruction(fake: Images, target: Images) -> tf.Tensor:
    """Mean absolute error between generated and target images, per example (weight not
    applied): ``mean_{h,w,c} |G(c, z) - y|``.

    Reduced as ``sum / batch`` by the caller this is ``torch.nn.L1Loss()(fake, target)`` (a mean
    over every element, examples being equally sized), HelenMao/MSGAN Pix2Pix-Mode-Seeking/
    models/pix2pix_model.py ``backward_G`` lines 124-128 (``criterionL1(fake_B_random1,
    real_B) * lambda_L1``). Multi-scale outputs: the final image.

    Args:
        fake: generated images ``[B, H, W, C]`` (or a low-to-high list: the last one).
        target: the real images of the same conditions, same shape.

    Returns:
        float32 ``[B]``.
    """
    fake = tf.cast(_final_image(fake), tf.float32)
    target = tf.cast(_final_image(target), tf.float32)
    if fake.shape.rank is not None and target.shape.rank is not None:
        if fake.shape[1:] != target.shape[1:]:
            raise ValueError(f"L1 reconstruction: fakes {fake.shape} and targets {target.shape} "
                             "differ in shape")
    return per_example(tf.abs(fake - target))


# === Batch-level terms (scalars) ===


def orthogonal_regularization(weights: Iterable[Any], *, beta: float = 1e-4) -> tf.Tensor:
    """BigGAN's modified orthogonal regularization, a scalar (already multiplied by beta).

    For each weight, ``W`` is its matrix with one row per output unit; the term penalises only
    the off-diagonal entries of ``W W^T`` (the rows' cosine similarities, not their norms)::

        R = (beta / 2) * sum_W || W W^T ⊙ (1 - I) ||_F^2

    **Scaling.** The paper writes ``beta * ||.||_F^2``, but the official code
    (ajbrock/BigGAN-PyTorch ``utils.py``, ``ortho``) never forms the loss: it adds
    ``strength * 2 * ((W W^T) ⊙ (1 - I)) W`` straight to ``param.grad``. Since
    ``d ||(W W^T) ⊙ (1 - I)||_F^2 / dW = 4 ((W W^T) ⊙ (1 - I)) W``, the loss with exactly that
    gradient is ``(strength / 2) * ||.||_F^2``, which is what this returns: its gradient equals
    the official update for the same ``beta`` (= the official ``strength``, 1e-4 in the paper; the
    released BigGAN models trained with ``G_ortho 0.0``). Add it to the loss of the step once
    (under ``tf.distribute`` gradients are summed over replicas: scale it by
    ``1 / num_replicas_in_sync`` like the per-replica losses).

    **Layout.** Keras kernels keep the output axis last (Dense ``[in, out]``, Conv2D
    ``[kh, kw, in, out]``), so ``W = transpose(reshape(kernel, [-1, out]))``, ``[out, fan_in]``:
    the same rows as PyTorch's ``param.view(param.shape[0], -1)`` of ``[out, in, kh, kw]`` (the
    column order differs, which ``W W^T`` does not see). Weights of rank < 2 (biases, gains) are
    skipped, as in the official code. Do not pass embedding tables: Keras stores them
    ``[input_dim, output_dim]``, and the official code excludes BigGAN's shared class embedding
    (``blacklist=G.shared.parameters()`` in ``train_fns.py``).

    Reference: Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis", arXiv 1809.11096, Sec. 3.1.

    Args:
        weights: iterable of kernels (tensors or variables), Keras layout (output axis last).
        beta: regularization strength (the official ``G_ortho`` / ``D_ortho``).

    Returns:
        float32 scalar.
    """
    terms = []
    for w in weights:
        w = tf.cast(tf.convert_to_tensor(w), tf.float32)
        if w.shape.rank is None or w.shape.rank < 2:
            continue
        out = w.shape[-1]
        m = tf.transpose(tf.reshape(w, [-1, out]))  # [out, fan_in]
        gram = tf.matmul(m, m, transpose_b=True)
        off_diagonal = gram * (1.0 - tf.eye(out, dtype=tf.float32))
        terms.append(tf.reduce_sum(tf.square(off_diagonal)))
    if not terms:
        return tf.constant(0.0, tf.float32)
    return 0.5 * tf.cast(beta, tf.float32) * tf.add_n(terms)


def _final_image(images: Images) -> tf.Tensor:
    if isinstance(images, dict):
        raise TypeError(
            "mode seeking needs a tensor or a list/tuple of images ordered from low to high "
            "resolution, got a dict"
        )
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("mode seeking got an empty list of images")
        return _final_image(images[-1])
    return images


def mode_seeking_ratio(
    images_1: Images,
    images_2: Images,
    z_1: Any,
    z_2: Any,
    *,
    sum_fn: Optional[SumFn] = None,
) -> tf.Tensor:
    """MSGAN's ratio of image distance to latent distance, a scalar.

    ``L_ms = mean|G(c, z1) - G(c, z2)| / mean|z1 - z2|`` (L1, means over every element of the
    batch), computed as ``(sum|dI| / count_I) / (sum|dz| / count_z)`` where the four sums and
    counts go through ``sum_fn`` together (one ``[4]`` vector): the training core passes a
    cross-replica SUM so the means are global, exactly as on one device.

    Multi-scale generators (a list / tuple of images from low to high resolution): only the final
    (last, highest-resolution) image is used, the one that is the generator's output; the
    lower-resolution images are its intermediate outputs and would re-weight the distance.

    Reference: Mao et al. 2019, "Mode Seeking Generative Adversarial Networks for Diverse Image
    Synthesis", arXiv 1903.05628, Sec. 3. Official code: HelenMao/MSGAN
    ``DCGAN-Mode-Seeking/model.py`` (``lz``).

    Args:
        images_1: ``G(c, z1)``: a tensor or a list / tuple of images (last one used).
        images_2: ``G(c, z2)``, same structure and shapes.
        z_1: the latents of ``images_1`` (a tensor or nested structure: all elements count).
        z_2: the latents of ``images_2``.
        sum_fn: maps a float32 tensor to its elementwise sum over replicas; default identity.

    Returns:
        float32 scalar.
    """
    sum_fn = sum_fn or (lambda v: v)
    image_diff = tf.abs(
        tf.cast(_final_image(images_1), tf.float32) - tf.cast(_final_image(images_2), tf.float32)
    )
    tf.nest.assert_same_structure(z_1, z_2)
    z_diffs = [
        tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32))
        for a, b in zip(tf.nest.flatten(z_1), tf.nest.flatten(z_2))
    ]
    if not z_diffs:
        raise ValueError("mode seeking needs at least one latent tensor")
    stats = tf.stack(
        [
            tf.reduce_sum(image_diff),
            tf.cast(tf.size(image_diff), tf.float32),
            tf.add_n([tf.reduce_sum(d) for d in z_diffs]),
            tf.cast(tf.add_n([tf.size(d) for d in z_diffs]), tf.float32),
        ]
    )
    stats = sum_fn(stats)
    return (stats[0] / stats[1]) / (stats[2] / stats[3])


def mode_seeking_loss(
    images_1: Images,
    images_2: Images,
    z_1: Any,
    z_2: Any,
    *,
    lam: float = 1.0,
    eps: float = 1e-5,
    sum_fn: Optional[SumFn] = None,
) -> tf.Tensor:
    """MSGAN's mode-seeking term for the generator, a scalar: ``lam / (L_ms + eps)``.

    ``L_ms`` is :func:`mode_seeking_ratio`; minimising ``1 / L_ms`` pushes images of distinct
    latents apart. The official code adds ``1 / (lz + 1e-5)`` (lambda 1) to G's loss. Under
    ``tf.distribute`` pass a cross-replica SUM as ``sum_fn``: the value is then the same on every
    replica, and (the gradient of an all-reduce SUM being an all-reduce SUM) adding
    ``loss / num_replicas_in_sync`` on each replica gives exactly the single-device gradient.

    Reference: Mao et al. 2019, arXiv 1903.05628, Sec. 3. Official code: HelenMao/MSGAN
    ``DCGAN-Mode-Seeking/model.py`` (``loss_lz = 1 / (lz + eps)``, ``eps = 1e-5``).

    Args:
        images_1, images_2, z_1, z_2, sum_fn: as in :func:`mode_seeking_ratio`.
        lam: weight lambda of the term.
        eps: added to ``L_ms`` before inverting.

    Returns:
        float32 scalar.
    """
    ratio = mode_seeking_ratio(images_1, images_2, z_1, z_2, sum_fn=sum_fn)
    return tf.cast(lam, tf.float32) / (ratio + tf.cast(eps, tf.float32))
