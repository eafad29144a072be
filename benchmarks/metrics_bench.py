"""Metrics benchmark: feature-extraction speed against the bare forward pass, and sanity FIDs.

Prints one JSON object:
- ``extraction``: images/s of ``keras_gans.metrics.evaluate`` feature extraction (uint8 ->
  resize to 299 -> network, in batches) against the bare forward pass of the same network on
  inputs already at 299 (``model(x)`` only), their ratio, and peak RSS;
- ``fid``: FID of the bundled digits' train split against its validation split (two samples of
  one distribution: small) and against uniform noise images (large), plus KID and
  precision/recall for the same pairs: sanity figures, not paper numbers (these are MNIST
  digits, not a paper's data set);
- ``lpips``: LPIPS pairs/s of ``keras_gans.metrics.lpips.lpips_distance`` (uint8 digit pairs ->
  [-1, 1], tiled to RGB, both images through the backbone, heads, averages) against the bare
  backbone forward of the same two images per pair (``backbone(x)`` only, traced like the
  model), each the best of 3 timings, their ratio, and the
  mean distance of train digit pairs. With converted weights (``--lpips-weights`` or the cache)
  ``weights`` names the file; without them the network has Keras' random initialisation and
  ``weights`` says ``RANDOM (no converted weights): timing only, the distance is meaningless``.

Feature net: ``--feature-net inception`` (default; needs converted weights: ``keras-gans
convert-weights inception-fid``) or ``digits`` (the small digit classifier; no weights needed).
Run: ``python benchmarks/metrics_bench.py [--feature-net digits] [--num 2000]
[--lpips-net alex|vgg] [--lpips-weights PATH] [--lpips-only]``.
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


def lpips_timing(args, data: str) -> dict:
    """LPIPS pairs/s against the bare backbone forward (see the module docstring)."""
    import numpy as np

    from keras_gans.metrics import evaluate as ev, lpips

    path = args.lpips_weights or lpips.default_weights_path(args.lpips_net)
    if os.path.isfile(path):
        model, weights = lpips.load_lpips(args.lpips_net, path), path
    else:
        model = lpips.build_lpips(args.lpips_net)
        weights = "RANDOM (no converted weights): timing only, the distance is meaningless"
    n, batch = args.lpips_pairs, args.lpips_batch
    images = np.concatenate(list(ev.real_batches(data, "train", 2 * n, 250)))
    a, b = images[:n], images[n:2 * n]
    lpips.lpips_distance(a[:batch], b[:batch], model, batch_size=batch)  # warm-up (tracing)
    pairs_per_s = 0.0
    for _ in range(3):  # best of 3: the machine may be shared
        t = time.perf_counter()
        distances = lpips.lpips_distance(a, b, model, batch_size=batch)
        pairs_per_s = max(pairs_per_s, n / (time.perf_counter() - t))

    # The bare backbone, traced as lpips_distance's model is (tf.function), on prepared and
    # scaled inputs: the floor of any LPIPS implementation on this network.
    import tensorflow as tf

    backbone = lpips.backbone_of(model)
    forward = tf.function(lambda images: backbone(images, training=False), autograph=False)
    scaling = model.get_layer("scaling")
    xa, xb = (scaling(lpips.prepare_images(v[:batch], args.lpips_net)) for v in (a, b))
    forward(xa)  # warm-up
    reps, bare = max(1, n // batch), 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):  # two batches per batch of pairs, as the LPIPS model runs them
            forward(xa)
            forward(xb)
        bare = max(bare, reps * batch / (time.perf_counter() - t))  # pairs/s: 2 images per pair
    return {"net": model.name, "weights": weights, "input": f"{images.shape[1]}x{images.shape[2]} "
            f"digits x{images.shape[3]} (tiled to RGB)", "pairs": n, "batch_pairs": batch,
            "pairs_per_s": round(pairs_per_s, 1), "bare_backbone_pairs_per_s": round(bare, 1),
            "lpips_over_bare": round(pairs_per_s / bare, 3),
            "mean_distance_train_pairs": (round(float(distances.mean()), 5)
                                          if os.path.isfile(path) else None),
            "peak_rss_mib": _rss_mib()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feature-net", default="inception", choices=["inception", "digits"])
    p.add_argument("--weights", help="converted Inception weights (default: the cache location)")
    p.add_argument("--resize", default="clean")
    p.add_argument("--num", type=int, default=2000, help="train images (validation: all 503)")
    p.add_argument("--timing-images", type=int, default=200)
    p.add_argument("--lpips-net", default="alex", choices=["alex", "vgg"])
    p.add_argument("--lpips-weights", help="converted LPIPS weights (default: the cache location; "
                                           "random weights, labelled as such, when there are none)")
    p.add_argument("--lpips-pairs", type=int, default=500)
    p.add_argument("--lpips-batch", type=int, default=50)
    p.add_argument("--lpips-only", action="store_true", help="skip the feature-network figures")
    args = p.parse_args()

    import numpy as np

    from keras_gans.metrics import evaluate as ev, features, scores
    from pipelines import prepare

    result = {"benchmark": "metrics", "machine": machine_info.machine(("tensorflow", "keras")),
              "settings": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "mnist32")
        prepare.prepare(prepare.PrepareOptions(source="mnist", out=data, resolution=32),
                        log=lambda *x: None)
        result["lpips"] = lpips_timing(args, data)
        if args.lpips_only:
            print(json.dumps(result, indent=2))
            return
        net = features.make_feature_net(args.feature_net, data, args.weights, args.resize)
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
