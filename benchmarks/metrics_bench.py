"""Metrics benchmark: feature-extraction speed against the bare forward pass, and sanity FIDs.

Prints one JSON object:
- ``extraction``: images/s of ``keras_gans.metrics.evaluate`` feature extraction (uint8 ->
  resize to 299 -> network, in batches) against the bare forward pass of the same network on
  inputs already at 299 (``model(x)`` only), their ratio, and peak RSS;
- ``fid``: FID of the bundled digits' train split against its validation split (two samples of
  one distribution: small) and against uniform noise images (large), plus KID and
  precision/recall for the same pairs: sanity figures, not paper numbers (these are MNIST
  digits, not a paper's data set).

Feature net: ``--feature-net inception`` (default; needs converted weights: ``keras-gans
convert-weights inception-fid``) or ``digits`` (the small digit classifier; no weights needed).
Run: ``python benchmarks/metrics_bench.py [--feature-net digits] [--num 2000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import machine_info  # noqa: E402


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feature-net", default="inception", choices=["inception", "digits"])
    p.add_argument("--weights", help="converted Inception weights (default: the cache location)")
    p.add_argument("--resize", default="clean")
    p.add_argument("--num", type=int, default=2000, help="train images (validation: all 503)")
    p.add_argument("--timing-images", type=int, default=200)
    args = p.parse_args()

    import numpy as np

    from keras_gans.metrics import evaluate as ev, scores
    from pipelines import prepare

    result = {"benchmark": "metrics", "machine": machine_info.machine(("tensorflow", "keras")),
              "settings": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "mnist32")
        a, b = prepare.build_parser().parse_known_args(
            ["--source", "mnist", "--out", data, "--resolution", "32"])
        prepare.prepare(a, b, log=lambda *x: None)
        net = ev.make_feature_net(args.feature_net, data, args.weights, args.resize)
        result["feature_net"] = {"name": net.name, "resize": net.describe}

        images = next(ev.real_batches(data, "train", args.timing_images, args.timing_images))
        net.features(images[: net.batch_size])  # warm-up (tracing)
        t = time.perf_counter()
        for i in range(0, len(images), net.batch_size):
            net.features(images[i:i + net.batch_size])
        extraction = len(images) / (time.perf_counter() - t)
        bare = None
        if args.feature_net == "inception":
            from keras_gans.metrics import inception

            model = inception.load_fid_inception(args.weights)
            x = inception.preprocess(images[: net.batch_size], args.resize)
            model(x, training=False)
            t = time.perf_counter()
            reps = max(1, len(images) // net.batch_size)
            for _ in range(reps):
                model(x, training=False)
            bare = reps * len(x) / (time.perf_counter() - t)
        result["extraction"] = {
            "images_per_s": round(extraction, 1),
            "bare_forward_images_per_s": None if bare is None else round(bare, 1),
            "extraction_over_bare": None if bare is None else round(extraction / bare, 3),
            "batch_size": net.batch_size, "peak_rss_mib": _rss_mib()}

        t = time.perf_counter()
        train, _, n_train = ev._extract(net, ev.real_batches(data, "train", args.num, 250), args.num, False)
        val, _, n_val = ev._extract(net, ev.real_batches(data, "validation", 10_000, 250), 10_000, False)
        rng = np.random.default_rng(0)
        noise_images = rng.integers(0, 256, size=(n_val, 32, 32, 1), dtype=np.uint8)
        noise, _, _ = ev._extract(net, [noise_images], n_val, False)
        m = min(n_val, n_train)
        result["fid"] = {
            "num_train": n_train, "num_validation": n_val,
            "train_vs_validation": round(scores.fid_from_stats(train, val), 3),
            "train_vs_noise": round(scores.fid_from_stats(train, noise), 3),
            "kid_train_vs_validation_x1e3": round(1e3 * scores.kernel_inception_distance(
                train.features[:m], val.features[:m])[0], 3),
            "kid_train_vs_noise_x1e3": round(1e3 * scores.kernel_inception_distance(
                train.features[:m], noise.features[:m])[0], 3),
            "pr_train_vs_validation": scores.precision_recall(train.features[:m], val.features[:m]),
            "pr_train_vs_noise": scores.precision_recall(train.features[:m], noise.features[:m]),
            "seconds": round(time.perf_counter() - t, 1), "peak_rss_mib": _rss_mib()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
