"""Serving benchmark: `keras-gans serve` over REST and gRPC vs calling the signature in-process.

Prints one JSON object:
- ``machine``: CPU model, cores, memory, versions.
- ``results``: per model, mode (``in-process``, ``rest``, ``grpc``), batch (1 and 64) and client
  threads: requests/s, images/s, p50/p99/mean latency in ms. The server runs in its own process
  (`keras-gans serve`: ``keras_gans.cli.main``); the clients are ``keras_gans.serving.client``
  (REST: JSON over keep-alive HTTP/1.1, gRPC: TensorProtos), so client-side encoding is included.
  ``in-process`` calls the ``serving_default`` signature of the same SavedModel directly.
- ``overhead_ms``: p50 latency of each protocol minus the in-process p50, per model and batch.

Models: ``fixture-tiny`` (latent 4 -> 8x8x1: pure serving overhead), ``fixture-medium`` (latent
128 -> a 512-unit layer -> 32x32x3, roughly a small generator's payload), and, with
``--model-base DIR [--model NAME]``, an exported model (``keras-gans export``).

Run: ``python benchmarks/serving_bench.py [--quick] [--seconds S] [--model-base DIR]``. Default
about 1.5 minutes, ``--quick`` about 20 s (tiny fixture only). Shared machines drift: compare
ratios within one run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys as _sys

_sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine_info  # noqa: E402
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def machine() -> dict:
    return machine_info.machine(("tensorflow", "grpcio", "tensorflow-serving-api", "numpy"))


class ServerProcess:
    """`keras-gans serve MODEL_BASE` in a child process on free loopback ports."""

    def __init__(self, model_base: str):
        code = "import sys; from keras_gans.cli import main; sys.exit(main(['serve', *sys.argv[1:]]))"
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, model_base, "--rest-port", "0", "--grpc-port", "0",
             "--poll-seconds", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.rest = self.grpc = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "REST http://" in line:
                self.rest = line.split("REST ")[1].split(",")[0]
                self.grpc = line.split("gRPC ")[1].split(" ")[0]
            if "ready:" in line:
                return
        self.stop()
        raise RuntimeError("the server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_inputs(signature: dict, batch: int, rng) -> dict:
    out = {}
    for name, info in signature["inputs"].items():
        dims = [int(d["size"]) for d in info["tensor_shape"].get("dim", [])]
        shape = [batch] + dims[1:] if dims else []
        if any(d < 0 for d in shape):
            raise ValueError(f"input {name} has unknown non-batch dimensions {dims}")
        if info["dtype"] in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF"):
            out[name] = rng.standard_normal(shape).astype(np.float32)
        else:
            out[name] = np.zeros(shape, np.int32 if info["dtype"] == "DT_INT32" else np.int64)
    return out


def measure(fn, seconds: float, threads: int = 1, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def loop():
        mine = []
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "requests_per_s": round(len(ms) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2)}


def bench_model(label: str, model_base: str, model: str, seconds: float, batches, threads: int) -> list[dict]:
    import tensorflow as tf

    from keras_gans.serving.client import Client

    server = ServerProcess(model_base)
    results = []
    try:
        rest, grpc_ = Client(server.rest), Client(server.grpc, protocol="grpc")
        meta = rest.metadata(model)
        version = int(meta["model_spec"]["version"])
        sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
        path = os.path.join(model_base, model, str(version))
        loaded = tf.saved_model.load(path).signatures["serving_default"]
        # This process imported TensorFlow (for the in-process baseline): keep its objects out of
        # the collector's sight, as in the server, so that the REST client's JSON decoding is
        # timed as in a TF-free client process rather than with full-GC stalls.
        gc.collect()
        gc.freeze()
        rng = np.random.default_rng(0)
        for batch in batches:
            inputs = make_inputs(sig, batch, rng)
            feed = {k: tf.constant(v) for k, v in inputs.items()}
            want = loaded(**feed)["images"].numpy()
            got_rest = rest.predict(model, inputs)["images"]
            got_grpc = grpc_.predict(model, inputs)["images"]
            assert np.array_equal(got_rest, want) and np.array_equal(got_grpc, want), "outputs differ"
            modes = {"in-process": lambda: {k: v.numpy() for k, v in loaded(**feed).items()},
                     "rest": lambda: rest.predict(model, inputs),
                     "grpc": lambda: grpc_.predict(model, inputs)}
            for mode, fn in modes.items():
                for n_threads in sorted({1, threads}) if batch == 1 else [1]:
                    r = measure(fn, seconds, n_threads)
                    r = {"model": label, "mode": mode, "batch": batch, "client_threads": n_threads, **r,
                         "images_per_s": round(r["requests_per_s"] * batch, 1)}
                    results.append(r)
                    print(json.dumps(r), file=sys.stderr, flush=True)
        rest.close()
        grpc_.close()
    finally:
        server.stop()
    return results


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="about 20 s: tiny fixture, short runs")
    p.add_argument("--seconds", type=float, help="duration of each measurement")
    p.add_argument("--threads", type=int, default=4, help="client threads for the concurrent runs")
    p.add_argument("--model-base", help="also benchmark an exported model under this MODEL_BASE")
    p.add_argument("--model", help="model name under --model-base (default: the first one)")
    args = p.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    batches = (1, 64)
    from helpers import serving_fixtures as fx

    t_start = time.time()
    out = {"machine": machine(), "config": {"seconds_per_measurement": seconds, "batches": list(batches),
                                            "concurrent_client_threads": args.threads, "quick": args.quick},
           "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        fx.export_fixture(tmp, "tiny", 1)
        models = [("fixture-tiny", tmp, "tiny")]
        if not args.quick:
            fx.export_fixture(tmp, "medium", 1, latent_dim=128, height=32, width=32, channels=3, hidden=512)
            models.append(("fixture-medium", tmp, "medium"))
        if args.model_base:
            name = args.model or sorted(d for d in os.listdir(args.model_base)
                                        if os.path.isdir(os.path.join(args.model_base, d)))[0]
            models.append((f"exported:{name}", args.model_base, name))
        for label, mb, name in models:
            out["results"] += bench_model(label, mb, name, seconds, batches, args.threads)
    overhead = {}
    for r in out["results"]:
        if r["client_threads"] != 1 or r["mode"] == "in-process":
            continue
        base = next(x for x in out["results"] if x["model"] == r["model"] and x["batch"] == r["batch"]
                    and x["mode"] == "in-process" and x["client_threads"] == 1)
        overhead[f"{r['model']} {r['mode']} batch {r['batch']}"] = round(r["p50_ms"] - base["p50_ms"], 2)
    out["overhead_ms"] = overhead
    out["notes"] = ["server in its own process (`keras-gans serve`); client and in-process calls in this one",
                    "gc.freeze() in both processes after loading TF/models (the server does it itself)",
                    "the machine's cores are shared by server, client and other work: compare within a run"]
    out["seconds_total"] = round(time.time() - t_start, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
