"""A 3x3 convolution's filter gradient: TensorFlow's kernel against tap products, per layer shape.

``keras_gans.layers.conv`` computes a stride-1 convolution's kernel gradient as one matrix
product per tap where ``use_tap_products`` says that is faster. This prints, per shape, both
ways' GFLOP/s (best of ``--repeats`` after two warm-up calls, in one process, alternating), the
ratio, the largest relative difference, whether the rule picks tap products, the machine and
the peak RSS, as one JSON object. Run it on a new machine before trusting the rule there::

    python benchmarks/conv_bench.py
    python benchmarks/conv_bench.py --shapes 32x128x256x256 100x32x256x256
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=None,
                        help="BATCHxSIDExC_INxC_OUT (3x3 kernel, stride 1, same padding)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per way (after 2 warm-ups)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    shapes = args.shapes or [parse_shape(s) for s in DEFAULT_SHAPES]
    started = time.perf_counter()
    rows = [measure(s, args.repeats) for s in shapes]
    print(json.dumps({
        "benchmark": "conv_filter_gradient", "machine": machine_info.machine(("tensorflow", "keras")),
        "settings": {"repeats": args.repeats, "kernel": "3x3, stride 1, same padding, float32",
                     "timing": "best of the repeats after 2 warm-up calls, both ways alternating"},
        "shapes": rows,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "total_s": round(time.perf_counter() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
