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
