"""DiffAugment (Zhao et al. 2020), the augmentation of Projected GAN's discriminator.

After autonomousvision/projected_gan ``pg_modules/diffaug.py`` (mit-han-lab/data-efficient-gans
``DiffAugment_pytorch.py``), on NHWC images. The official code is NCHW: its ``x.size(2)`` is the
height and ``x.size(3)`` the width, so its "x" axis (``translation_x``, ``offset_x``,
``cutout_size[0]``) is our H axis (1) and its "y" axis our W axis (2). Projected GAN applies
``policy='color,translation,cutout'`` to every image the discriminator sees
(pg_modules/discriminator.py L177-178).

Every op is differentiable with respect to the images (the integer shifts and offsets only
select or zero pixels). Randomness is explicit: every random quantity is a float32 U[0, 1)
tensor ``draw(index, shape)`` of shape ``[B, *shape]`` (here always ``shape == (1, 1, 1)``,
so ``[B, 1, 1, 1]``); integers are derived from those uniforms, which makes the ops testable
and lets a distributed train step draw for the global batch and slice per replica. TensorFlow
ops (``tf.gather`` with ``batch_dims``, the stateless RNG): the training core is TensorFlow.
"""

from __future__ import annotations

import tensorflow as tf

# Index of each random quantity passed to ``draw`` (repeated policy entries add 7 per repeat).
BRIGHTNESS, SATURATION, CONTRAST, TRANSLATION_X, TRANSLATION_Y, CUTOUT_X, CUTOUT_Y = range(7)
NUM_DRAWS = 7
DRAW_SHAPE = (1, 1, 1)
TRANSLATION_RATIO = 0.125  # diffaug.py L39 rand_translation(ratio=0.125)
CUTOUT_RATIO = 0.2         # diffaug.py L55 rand_cutout(ratio=0.2)

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")  # diffaug.py L72-76 AUGMENT_FNS


def parse_policy(policy) -> list:
    """``"color,translation"`` (or a list of names) -> ``["color", "translation"]``; raises
    ``ValueError`` naming the known policies on anything else. Empty = no augmentation."""
    if policy is None:
        return []
    if isinstance(policy, str):
        names = [p.strip() for p in policy.split(",")]
    elif isinstance(policy, (list, tuple)):
        names = [str(p).strip() for p in policy]
    else:
        raise ValueError(f"DiffAugment policy must be a comma-separated string or a list of "
                         f"names, got {policy!r}")
    names = [n for n in names if n]
    unknown = [n for n in names if n not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {', '.join(map(repr, unknown))} in "
                         f"{policy!r}; known: {', '.join(DIFFAUGMENT_POLICIES)}")
    return names


def stateless_draw(seed, batch):
    """The default ``draw``: ``stateless_uniform([batch, *shape], seed=fold_in(seed, index))``."""
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank != 1 or (seed.shape[0] is not None and seed.shape[0] != 2):
        raise ValueError(f"seed must be a [2] integer tensor, got shape {seed.shape}")
    if not seed.dtype.is_integer:
        raise ValueError(f"seed must be an integer tensor, got {seed.dtype}")

    def draw(index, shape):
        return tf.random.stateless_uniform(
            tf.concat([[batch], tf.constant(list(shape), tf.int32)], axis=0),
            seed=tf.random.experimental.stateless_fold_in(seed, index), dtype=tf.float32)

    return draw


def uniform_to_int(u, low, high):
    """An integer in ``[low, high]`` (inclusive) from ``u ~ U[0, 1)``: ``floor(u * (high - low +
    1)) + low``, clipped (float32 rounding can reach ``high + 1``); int32."""
    n = float(high - low + 1)
    k = tf.floor(tf.cast(u, tf.float32) * n)
    return tf.cast(tf.clip_by_value(k, 0.0, n - 1.0), tf.int32) + int(low)


def rand_brightness(x, u):
    """``x + (u - 0.5)`` per example (diffaug.py L22-24)."""
    return x + (tf.cast(u, x.dtype) - 0.5)


def rand_saturation(x, u):
    """``(x - mean_c) * 2u + mean_c``, the mean over channels per pixel (L27-30)."""
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    return (x - mean) * (tf.cast(u, x.dtype) * 2.0) + mean


def rand_contrast(x, u):
    """``(x - mean_hwc) * (u + 0.5) + mean_hwc``, the mean over the whole example (L33-36)."""
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (tf.cast(u, x.dtype) + 0.5) + mean


def translation_shift(size, ratio=TRANSLATION_RATIO):
    """Largest shift along an axis of ``size`` pixels: ``int(size * ratio + 0.5)`` (L40)."""
    return int(size * ratio + 0.5)


def rand_translation(x, u_h, u_w, ratio=TRANSLATION_RATIO):
    """Integer translation with zero fill (diffaug.py L39-52).

    ``t_h`` in ``[-s_h, s_h]`` with ``s_h = int(H * ratio + 0.5)`` (official ``translation_x``),
    ``t_w`` likewise along W; ``out[b, i, j] = x[b, i + t_h, j + t_w]``, zero where that is
    outside the image (the official pads by one zero pixel and clamps the indices into the
    padding: the same result). The content moves by ``(-t_h, -t_w)``.
    """
    height, width = x.shape[1], x.shape[2]
    shift_h, shift_w = translation_shift(height, ratio), translation_shift(width, ratio)
    t_h = tf.reshape(uniform_to_int(u_h, -shift_h, shift_h), [-1, 1])
    t_w = tf.reshape(uniform_to_int(u_w, -shift_w, shift_w), [-1, 1])
    x_pad = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = tf.clip_by_value(tf.range(height)[None, :] + t_h + 1, 0, height + 1)  # [B, H]
    cols = tf.clip_by_value(tf.range(width)[None, :] + t_w + 1, 0, width + 1)    # [B, W]
    x = tf.gather(x_pad, rows, axis=1, batch_dims=1)   # [B, H, W + 2, C]
    return tf.gather(x, cols, axis=2, batch_dims=1)    # [B, H, W, C]


def cutout_size(size, ratio=CUTOUT_RATIO):
    """Side of the cutout square along an axis of ``size`` pixels: ``int(size * ratio + 0.5)``."""
    return int(size * ratio + 0.5)


def rand_cutout(x, u_h, u_w, ratio=CUTOUT_RATIO):
    """Zero a rectangle per example (diffaug.py L55-69).

    Sizes ``c_h = int(H * ratio + 0.5)``, ``c_w`` likewise; the centre ``o_h`` is drawn in
    ``[0, H + (1 - c_h % 2))`` (official ``offset_x``), ``o_w`` likewise; rows ``o_h - c_h // 2
    ... o_h - c_h // 2 + c_h - 1`` and the corresponding columns are zeroed, clipped to the
    image. The official clamps the indices into the image and zeroes those: since every
    square overlaps the image, that is exactly the square's intersection with the image.
    """
    height, width = x.shape[1], x.shape[2]
    size_h, size_w = cutout_size(height, ratio), cutout_size(width, ratio)
    o_h = uniform_to_int(u_h, 0, height - size_h % 2)
    o_w = uniform_to_int(u_w, 0, width - size_w % 2)
    start_h = tf.reshape(o_h - size_h // 2, [-1, 1, 1, 1])
    start_w = tf.reshape(o_w - size_w // 2, [-1, 1, 1, 1])
    rows = tf.reshape(tf.range(height), [1, -1, 1, 1])
    cols = tf.reshape(tf.range(width), [1, 1, -1, 1])
    inside = ((rows >= start_h) & (rows < start_h + size_h)
              & (cols >= start_w) & (cols < start_w + size_w))  # [B, H, W, 1]
    return x * tf.cast(tf.logical_not(inside), x.dtype)


def diff_augment(x, policy="color,translation,cutout", seed=None, draw=None):
    """Apply DiffAugment ``policy`` to NHWC float images ``x`` (diffaug.py L9-19).

    ``policy``: comma-separated names from ``DIFFAUGMENT_POLICIES``, applied in the order given
    (official ``policy.split(',')``): ``color`` = brightness, saturation, contrast;
    ``translation``; ``cutout``. Empty = ``x`` unchanged.

    Randomness: ``draw(index, shape)`` returns float32 U[0, 1) of shape ``[B, *shape]`` for the
    quantity ``index`` (brightness 0, saturation 1, contrast 2, translation along H 3, along W
    4, cutout centre along H 5, along W 6; a policy's k-th repeat adds 7 * k). Without
    ``draw``, ``seed`` (a [2] integer tensor) is required and ``draw`` is
    ``tf.random.stateless_uniform([B, *shape], seed=tf.random.experimental.stateless_fold_in(
    seed, index))``. Integers come from uniforms as ``floor(u * n) + low`` (clipped), e.g. a
    translation ``floor(u * (2s + 1)) - s``.

    The official draws with ``torch.rand`` / ``torch.randint`` from the global generator; the
    distributions are the same, the streams are not. H and W must be static; the batch may be
    unknown (``tf.function`` with ``[None, H, W, C]``).

    Example:
        >>> y = diff_augment(images, "color,translation,cutout", seed=tf.constant([1, 2]))
    """
    names = parse_policy(policy)
    if not names:
        return x
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 4:
        raise ValueError(f"diff_augment expects NHWC images, got shape {x.shape}")
    if x.shape[1] is None or x.shape[2] is None:
        raise ValueError(f"diff_augment needs a static height and width, got shape {x.shape}")
    if not x.dtype.is_floating:
        raise ValueError(f"diff_augment expects float images, got {x.dtype}")
    if draw is None:
        if seed is None:
            raise ValueError("diff_augment needs a seed ([2] integer tensor) or a draw function")
        batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
        draw = stateless_draw(seed, batch)
    repeats = {}
    for name in names:
        offset = NUM_DRAWS * repeats.get(name, 0)
        repeats[name] = repeats.get(name, 0) + 1

        def u(index, offset=offset):
            return draw(index + offset, DRAW_SHAPE)

        if name == "color":
            x = rand_brightness(x, u(BRIGHTNESS))
            x = rand_saturation(x, u(SATURATION))
            x = rand_contrast(x, u(CONTRAST))
        elif name == "translation":
            x = rand_translation(x, u(TRANSLATION_X), u(TRANSLATION_Y))
        else:  # "cutout" (parse_policy allows nothing else)
            x = rand_cutout(x, u(CUTOUT_X), u(CUTOUT_Y))
    return x
