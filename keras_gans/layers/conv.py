"""2-D convolution whose kernel gradient is computed as matrix products where that is faster.

TensorFlow's CPU kernel for a convolution's filter gradient (oneDNN ``Conv2DBackpropFilter``,
NHWC) runs well below the machine's matmul peak on the large-image / wide-channel 3x3 layers of
FastGAN (Projected GAN's generator), and below PyTorch's on its 64 and 128 px layers (168 vs
126 GFLOP/s at 128 px, torch 2.13 with 2 threads on the same machine). The filter
gradient of a stride-1 convolution is a sum over taps of one matrix product each::

    dW[i, j] = sum over n, h, w of  x_pad[n, h + i, w + j, :]^T  dy[n, h, w, :]   ([C_in, C_out])

``conv2d`` keeps the forward and input-gradient kernels and, where it is faster, computes ``dW``
that way, over chunks of the batch of at most ``CHUNK_BYTES`` of shifted input, one product
after another (the extra memory stays one chunk's padded copy and one shifted slice); the
values are the same up to float32 summation order. ``benchmarks/conv_bench.py`` measures both
ways per layer shape; on a 2-core AMD EPYC (TF 2.21, float32), per 3x3 layer:

=====================================  ==========  =============  =====
layer ([batch, side, C_in, C_out])     TF kernel   tap products   ratio
=====================================  ==========  =============  =====
[32, 128, 256, 256] (FastGAN 128 px)   146 GF/s    177 GF/s       1.21x
[32, 64, 256, 512]                     132         173            1.31x
[32, 16, 1024, 1024]                   175         193            1.10x
[32, 8, 2048, 2048]                    139         197            1.42x
[100, 32, 256, 256] (BigGAN CIFAR D)   203         177            0.87x
[100, 16, 256, 256]                    211         174            0.82x
[50, 32, 256, 256]                     192         176            0.92x
[32, 32, 512, 512] (MSG-GAN)           198         201            1.02x
[64, 32, 128, 128]                     174         138            0.80x
=====================================  ==========  =============  =====

hence the rule ``use_tap_products``: 3x3, stride 1, no dilation, float32, and either
``side^2 >= 4096`` with both channel counts >= 256, or ``C_in * C_out >= 1024^2``. Everything
else (and every other backend or dtype) is ``keras.ops.conv`` unchanged.
"""

from __future__ import annotations

import keras
from keras import ops

CHUNK_BYTES = 32 << 20  # shifted input held at once per chunk of the batch


def use_tap_products(x_shape, kernel_shape, strides, dilation_rate, dtype) -> bool:
    """Whether ``conv2d`` computes the filter gradient by tap products (see the module table)."""
    if keras.backend.backend() != "tensorflow" or str(dtype) != "float32":
        return False
    if len(x_shape) != 4 or any(d is None for d in x_shape[1:]) or x_shape[0] is None:
        return False
    kh, kw, ci, co = kernel_shape
    if (kh, kw) != (3, 3) or _pair(strides) != (1, 1) or _pair(dilation_rate) != (1, 1):
        return False
    side2 = int(x_shape[1]) * int(x_shape[2])
    return (side2 >= 4096 and min(ci, co) >= 256) or ci * co >= 1024 * 1024


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(a) for a in v)


def filter_gradient_by_taps(x, dy, kernel_size, padding):
    """``dW`` [kh, kw, C_in, C_out] of a stride-1 NHWC convolution from its input ``x`` and
    output gradient ``dy``: one ``x_shifted^T dy`` product per tap, over batch chunks of at most
    ``CHUNK_BYTES`` of shifted input. Every slice waits for the product before it, so one
    chunk's padded copy and one shifted slice are all the extra memory alive at a time."""
    import tensorflow as tf

    kh, kw = kernel_size
    batch, ci = int(x.shape[0]), int(x.shape[-1])
    ho, wo, co = int(dy.shape[1]), int(dy.shape[2]), int(dy.shape[-1])
    pads = None
    if padding == "same":
        ph, pw = kh - 1, kw - 1
        pads = [[0, 0], [ph // 2, ph - ph // 2], [pw // 2, pw - pw // 2], [0, 0]]
    per_image = ho * wo * ci * x.dtype.size
    chunk = max(1, min(batch, CHUNK_BYTES // per_image))
    taps = [None] * (kh * kw)
    last = []
    for start in range(0, batch, chunk):
        with tf.control_dependencies(last):
            xs = x[start:start + chunk]
            xs = tf.pad(xs, pads) if pads else xs
            grads = tf.reshape(dy[start:start + chunk], [-1, co])
        for t in range(kh * kw):
            i, j = divmod(t, kw)
            with tf.control_dependencies(last):
                product = tf.matmul(tf.reshape(xs[:, i:i + ho, j:j + wo, :], [-1, ci]), grads,
                                    transpose_a=True)
            taps[t] = product if taps[t] is None else taps[t] + product
            last = [taps[t]]
    return tf.reshape(tf.stack(taps), [kh, kw, ci, co])


def conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1):
    """``keras.ops.conv(x, kernel, strides, padding, "channels_last", dilation_rate)`` whose
    kernel gradient is ``filter_gradient_by_taps`` where ``use_tap_products`` says it is faster."""
    padding = padding.lower()
    if not use_tap_products(tuple(x.shape), tuple(kernel.shape), strides, dilation_rate,
                            keras.backend.standardize_dtype(x.dtype)):
        return ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)
    import tensorflow as tf

    kernel_size = (int(kernel.shape[0]), int(kernel.shape[1]))

    @tf.custom_gradient
    def conv(x, kernel):
        y = tf.nn.conv2d(x, kernel, 1, padding.upper())

        def grad(dy):
            dx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, strides=[1, 1, 1, 1],
                padding=padding.upper())
            return dx, filter_gradient_by_taps(x, dy, kernel_size, padding)

        return y, grad

    return conv(x, kernel)


# --- resampling folded into the convolution ------------------------------------------------------
# Nearest 2x upsampling then a 3x3 "same" convolution (BigGAN's G blocks, FastGAN's up blocks) is
# one stride-2 transposed convolution with a 4x4 kernel, and a 3x3 "same" convolution then 2x2
# average pooling (BigGAN's D blocks) one stride-2 convolution with a 4x4 kernel: the same linear
# map, with 16 instead of 36 multiply-adds per output-resolution pixel pair, and the low-resolution
# tensor (not the upsampled one) kept for the backward pass. Per spatial axis, the 4 taps are
# fixed sums of the 3: row a of the matrix holds the weights of the 3x3 taps in 4x4 tap a.
#   up:   output 2p   = w[-1] x[p-1] + (w[0] + w[1]) x[p];   output 2p+1 = (w[-1] + w[0]) x[p] + w[1] x[p+1]
#         (TensorFlow's transposed convolution sends x[q] to output r with tap r - 2q + 1, "same")
#   down: output q    = mean of the 3x3 outputs 2q, 2q+1 = taps 2q-1 .. 2q+2 of the input
UP_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))
DOWN_TAPS = ((0.5, 0.0, 0.0), (0.5, 0.5, 0.0), (0.0, 0.5, 0.5), (0.0, 0.0, 0.5))
RESAMPLES = (None, "up", "down")


def folded_kernel(kernel, taps):
    """The 4x4 kernel [4, 4, C_in, C_out] of a 3x3 ``kernel`` for ``UP_TAPS`` or ``DOWN_TAPS``
    (summed in float32, then cast back to the kernel's dtype)."""
    m = ops.convert_to_tensor(taps, "float32")
    k = ops.einsum("ai,bj,ijcd->abcd", m, m, ops.cast(kernel, "float32"))
    return ops.cast(k, kernel.dtype)


def upsample_nearest(x):
    """Nearest-neighbour 2x upsampling of NHWC ``x`` (each pixel to a 2x2 block)."""
    _, h, w, c = x.shape
    y = ops.broadcast_to(ops.expand_dims(ops.expand_dims(x, 2), 4),
                         (ops.shape(x)[0], h, 2, w, 2, c))
    return ops.reshape(y, (-1, 2 * h, 2 * w, c))


def avg_pool2(x):
    """2x2 average pooling, stride 2, of NHWC ``x``."""
    return ops.average_pool(x, 2, 2, padding="valid")


def can_fold(x_shape, kernel_shape, resample, strides=1, padding="same", dilation_rate=1) -> bool:
    """Whether ``resampled_conv2d`` folds ``resample`` into the convolution: 3x3 or 1x1 kernels,
    stride 1, no dilation, "same" padding, the TensorFlow backend, and (down) even sides."""
    if resample is None or keras.backend.backend() != "tensorflow":
        return False
    if (_pair(strides) != (1, 1) or _pair(dilation_rate) != (1, 1) or padding.lower() != "same"
            or tuple(kernel_shape[:2]) not in ((3, 3), (1, 1)) or len(x_shape) != 4
            or x_shape[1] is None or x_shape[2] is None):
        return False
    return resample == "up" or (int(x_shape[1]) % 2 == 0 and int(x_shape[2]) % 2 == 0)


def resampled_conv2d(x, kernel, resample=None, strides=1, padding="valid", dilation_rate=1):
    """``conv2d`` of ``upsample_nearest(x)`` (``resample="up"``), or ``avg_pool2`` of ``conv2d(x)``
    (``"down"``), or plain ``conv2d`` (``None``); no bias: both commute with adding one.

    Where ``can_fold`` holds, the resampling is folded into one convolution (see above): a 3x3
    kernel becomes a stride-2 4x4 (transposed) convolution with ``folded_kernel``; a 1x1 kernel
    runs at the low resolution (convolve, then upsample; pool, then convolve). The values equal
    the composition up to float32 summation order (``tests/test_conv.py`` checks both against a
    NumPy transcription); anything else runs the composition itself.
    """
    if resample not in RESAMPLES:
        raise ValueError(f"resample must be one of {RESAMPLES}, got {resample!r}")
    if not can_fold(tuple(x.shape), tuple(kernel.shape), resample, strides, padding, dilation_rate):
        if resample == "up":
            x = upsample_nearest(x)
        y = conv2d(x, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)
        return avg_pool2(y) if resample == "down" else y
    if tuple(kernel.shape[:2]) == (1, 1):
        if resample == "up":
            return upsample_nearest(conv2d(x, kernel, padding="same"))
        return conv2d(avg_pool2(x), kernel, padding="same")
    import tensorflow as tf

    if resample == "down":
        return tf.nn.conv2d(x, folded_kernel(kernel, DOWN_TAPS), 2, "SAME")
    _, h, w, _ = x.shape
    co = int(kernel.shape[-1])
    k = tf.transpose(folded_kernel(kernel, UP_TAPS), (0, 1, 3, 2))  # [4, 4, C_out, C_in]
    y = tf.nn.conv2d_transpose(x, k, tf.stack([tf.shape(x)[0], 2 * h, 2 * w, co]), 2, "SAME")
    return tf.ensure_shape(y, [x.shape[0], 2 * h, 2 * w, co])
