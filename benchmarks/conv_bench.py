"""A 3x3 convolution's filter gradient: TensorFlow's kernel against tap products, per layer shape.

``keras_gans.layers.conv`` computes a stride-1 convolution's kernel gradient as one matrix
product per tap where ``use_tap_products`` says that is faster. This prints, per shape, both
ways' GFLOP/s (best of ``--repeats`` after two warm-up calls, in one process, alternating), the
ratio, the largest relative difference, whether the rule picks tap products, the machine and
the peak RSS, as one JSON object. Run it on a new machine before trusting the rule there::

    python benchmarks/conv_bench.py
    python benchmarks/conv_bench.py --shapes 32x128x256x256 100x32x256x256

``--resample up`` / ``--resample down`` instead times a 3x3 layer with its resampling
(``keras_gans.layers.conv.resampled_conv2d``): nearest 2x upsampling then the convolution, or
the convolution then 2x2 average pooling, as the separate ops against the folded stride-2
convolution, forward and both gradients; SIDE is the layer's input side::

    python benchmarks/conv_bench.py --resample up      # BigGAN G and FastGAN up blocks
    python benchmarks/conv_bench.py --resample down    # BigGAN D blocks
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine_info  # noqa: E402

# [batch, side, C_in, C_out]: FastGAN's generator at 128 px (Projected GAN), BigGAN's and
# MSG-GAN's CIFAR layers, a narrow ProGAN-like layer.
DEFAULT_SHAPES = ["32x128x256x256", "32x64x256x512", "32x16x1024x1024", "32x8x2048x2048",
                  "100x32x256x256", "100x16x256x256", "50x32x256x256", "32x32x512x512",
                  "64x32x128x128"]


# [batch, input side, C_in, C_out] of the layers that resample: BigGAN CIFAR G blocks (up) and D
# blocks (down, D sees reals and fakes: batch 100), FastGAN's 128 and 64 px up blocks.
RESAMPLE_SHAPES = {"up": ["50x4x256x256", "50x8x256x256", "50x16x256x256", "32x64x256x256",
                          "32x32x512x512"],
                   "down": ["100x32x256x256", "100x16x256x256"]}


def parse_shape(text: str) -> tuple[int, int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"shape must be BATCHxSIDExC_INxC_OUT, e.g. 32x128x256x256, "
                                         f"got {text!r}")
    return tuple(int(p) for p in parts)


def measure(shape, repeats: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from keras_gans.layers import conv

    batch, side, ci, co = shape
    x = tf.random.normal([batch, side, side, ci])
    dy = tf.random.normal([batch, side, side, co])
    native = tf.function(lambda x, dy: tf.raw_ops.Conv2DBackpropFilter(
        input=x, filter_sizes=[3, 3, ci, co], out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME"))
    taps = tf.function(lambda x, dy: conv.filter_gradient_by_taps(x, dy, (3, 3), "same"))
    a, b = native(x, dy).numpy(), taps(x, dy).numpy()  # warm-up 1, and the difference
    native(x, dy).numpy(), taps(x, dy).numpy()  # warm-up 2
    times = {"tf_kernel": [], "tap_products": []}
    for _ in range(repeats):
        for name, fn in (("tf_kernel", native), ("tap_products", taps)):
            start = time.perf_counter()
            fn(x, dy).numpy()
            times[name].append(time.perf_counter() - start)
    gflop = 2.0 * batch * side * side * ci * co * 9 / 1e9
    best = {k: min(v) for k, v in times.items()}
    return {"shape": [batch, side, ci, co], "gflop": round(gflop, 2),
            "tf_kernel_gflop_per_s": round(gflop / best["tf_kernel"], 1),
            "tap_products_gflop_per_s": round(gflop / best["tap_products"], 1),
            "tap_products_speedup": round(best["tf_kernel"] / best["tap_products"], 3),
            "max_relative_difference": float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)),
            "rule_uses_tap_products": conv.use_tap_products(
                (batch, side, side, ci), (3, 3, ci, co), 1, 1, "float32")}


def measure_resample(shape, resample: str, repeats: int) -> dict:
    """Forward + input and kernel gradients of a 3x3 layer with its resampling, the separate ops
    against ``resampled_conv2d``'s folded convolution."""
    import numpy as np
    import tensorflow as tf

    from keras_gans.layers import conv

    batch, side, ci, co = shape
    x = tf.random.normal([batch, side, side, ci])
    w = tf.random.normal([3, 3, ci, co], stddev=(9 * ci) ** -0.5)

    def separate(x, w):
        if resample == "up":
            return tf.nn.conv2d(conv.upsample_nearest(x), w, 1, "SAME")
        return conv.avg_pool2(tf.nn.conv2d(x, w, 1, "SAME"))

    def step(f):
        @tf.function
        def run(x, w):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = f(x, w)
                loss = tf.reduce_sum(y * y)
            return (y, *tape.gradient(loss, [x, w]))
        return run

    ways = {"separate": step(separate),
            "folded": step(lambda x, w: conv.resampled_conv2d(x, w, resample, padding="same"))}
    outs = {k: [t.numpy() for t in f(x, w)] for k, f in ways.items()}  # warm-up 1
    for f in ways.values():
        f(x, w)  # warm-up 2
    times = {k: [] for k in ways}
    for _ in range(repeats):
        for name, fn in ways.items():
            start = time.perf_counter()
            [t.numpy() for t in fn(x, w)]
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    diff = max(float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))
               for a, b in zip(outs["separate"], outs["folded"]))
    return {"shape": [batch, side, ci, co], "resample": resample,
            "separate_s": round(best["separate"], 4), "folded_s": round(best["folded"], 4),
            "folded_speedup": round(best["separate"] / best["folded"], 3),
            "max_relative_difference": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=None,
                        help="BATCHxSIDExC_INxC_OUT (3x3 kernel, stride 1, same padding)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per way (after 2 warm-ups)")
    parser.add_argument("--resample", choices=["up", "down"],
                        help="time a layer with its resampling, separate ops against folded")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    started = time.perf_counter()
    if args.resample:
        shapes = args.shapes or [parse_shape(s) for s in RESAMPLE_SHAPES[args.resample]]
        rows = [measure_resample(s, args.resample, args.repeats) for s in shapes]
        benchmark, kernel = "conv_resample", f"3x3, same padding, float32, resample {args.resample}"
    else:
        shapes = args.shapes or [parse_shape(s) for s in DEFAULT_SHAPES]
        rows = [measure(s, args.repeats) for s in shapes]
        benchmark, kernel = "conv_filter_gradient", "3x3, stride 1, same padding, float32"
    print(json.dumps({
        "benchmark": benchmark, "machine": machine_info.machine(("tensorflow", "keras")),
        "settings": {"repeats": args.repeats, "kernel": kernel,
                     "timing": "best of the repeats after 2 warm-up calls, both ways alternating"},
        "shapes": rows,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "total_s": round(time.perf_counter() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
