"""Training benchmark: img/s of the real train step, model FLOPs, CPU FLOP utilisation.

Prints one JSON object:
- ``machine``: CPU model and SIMD flags, cores, memory, versions.
- ``peak``: a dense float32 matmul (n x n, ``tf.function``, best of several runs, FLOP/s =
  2 n^3 / t), measured in its own process before and after the training runs and inside every
  training process; utilisation divides by the best sample.
- ``presets``: for every preset whose name ends in ``mnist32`` (``list_presets()``, so new CPU
  architectures are benchmarked automatically), trained with ``GAN.fit`` on the bundled MNIST
  digits prepared by ``keras-gans prepare`` (the reader of a real run, ``load_dataset``):
  - ``runs``: 1 and 2 replicas (logical CPU devices), each without and with XLA (``jit=true``),
    one process per configuration (the CPU split must happen before TensorFlow starts): img/s
    in steady state (per-step timestamps inside one ``fit`` call, after warm-up steps that hold
    the tracing / XLA compilation), the first step's time, peak RSS of the process, and the
    FLOP utilisation. XLA with 2 replicas on CPU is refused by ``distribute.xla_supported``:
    reported as skipped, with its reason.
  - ``runs.replicas_1_no_xla_res64``: the ProGAN / MSG-GAN presets again on the digits
    prepared at 64x64 (1 replica, no XLA; ProGAN timed at its final resolution, the slowest
    stage of its growth).
  - ``flops``: model FLOPs per image of one train step, and of the G and D forward passes,
    counted by TensorFlow's profiler on concrete functions (see ``flops_method`` in the output).
- ``summary``: the img/s table (mean over the timed window, and from the fastest tenth of the
  steps), XLA speed-up, 2-replica ratio, utilisation, RSS, errors.
- ``contention``: CPU that other processes used while timings ran (/proc/stat); on a shared
  machine it explains noisy numbers.

``--baseline PATH`` (another keras-gans source tree, e.g. ``git worktree add /tmp/before COMMIT``)
measures a change: every preset trains at 1 replica without XLA once with that tree's
``keras_gans`` (``PYTHONPATH``) and once with this one, alternating which goes first, and
``summary.<preset>.ours_over_baseline`` is the img/s ratio (each run records the tree it imported,
``keras_gans``). ``--set KEY=VALUE`` adds a config override to every run (e.g.
``mixed_precision="bfloat16"``), ``--baseline-set`` one to the baseline runs only (so ``--baseline .
--set mixed_precision='"bfloat16"' --baseline-set mixed_precision='"none"'`` compares bfloat16 with
float32 on this tree).

Run: ``python benchmarks/train_bench.py [--measure-s 12] [--presets NAME ...] [--quick]`` (about
5 minutes on 2 cores for three presets; ``--quick`` under 2). Ratios are measured in one run;
absolute numbers drift on shared machines (see ``contention`` and ``peak.samples_gflop_per_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys as _sys

_sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine_info  # noqa: E402
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULT_PREFIX = "TRAIN_BENCH_RESULT "
FLOPS_METHOD = (
    "tf.compat.v1.profiler.profile(graph, ProfileOptionBuilder.float_operation()) on the graph of "
    "a concrete function (static batch): the sum of the ops with a registered 'flops' statistic. "
    "MatMul / Conv2D / Conv2DBackpropInput / Conv2DBackpropFilter count a multiply-add as 2 "
    "FLOPs; elementwise ops (Add, Mul, Rsqrt, Sum, ...) 1 per element; ops with no registered "
    "statistic count 0 (FusedBatchNorm and its gradient, Relu/LeakyRelu and their gradients, "
    "Tanh, Sqrt, random number generation). 'train_step' is one GAN.train_step (d_steps D "
    "updates + 1 G update + EMA) divided by the real images it consumes (batch * d_steps); "
    "'g_forward' / 'd_forward' are one inference-mode call (training=False) divided by its batch. "
    "'corrected' replaces the profiler's Conv2DBackpropInput / Conv2DBackpropFilter estimate "
    "(2 * backprop-side elements * kernel / (depth * stride^2), which assumes every output "
    "position sees the whole kernel and over-counts 4x4 'valid' convolutions on 1x1 / 4x4 maps, "
    "such as the generator's first transposed conv and the discriminator's last conv, 16x) with "
    "the exact count 2 * elements(out_backprop) * kh * kw * in_channels, the multiply-adds of the "
    "forward convolution they mirror. Utilisation uses the corrected count. "
    "'train_step_over_4g_plus_8d' compares the step with the usual estimate (D update: G forward "
    "+ 2 D forwards + their backward at 2x; G update: G and D forwards, D's input gradient 1x, "
    "G's backward 2x): near 1 means the profiled graph holds the whole step.")


# --- machine --------------------------------------------------------------------------------------
def machine() -> dict:
    return machine_info.machine(("tensorflow", "keras"))


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- workers (each in a fresh process) ------------------------------------------------------------
def _matmul_peak(n: int, repeats: int) -> dict:
    """Dense float32 matmul FLOP/s: best of ``repeats`` n x n products in a tf.function."""
    import tensorflow as tf

    a = tf.random.stateless_normal([n, n], seed=[1, 2])
    b = tf.random.stateless_normal([n, n], seed=[3, 4])
    # The reduction makes the call return a scalar (n^2 adds: 1/n of the matmul's work).
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    product(a, b).numpy()
    product(a, b).numpy()
    times = []
    cpu = CpuWindow()
    for _ in range(repeats):
        t0 = time.perf_counter()
        product(a, b).numpy()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"op": f"tf.matmul float32 {n}x{n} @ {n}x{n} in a tf.function",
            "repeats": repeats, "best_s": round(best, 4), "median_s": round(statistics.median(times), 4),
            "gflop_per_s": round(2 * n**3 / best / 1e9, 1),
            "gflop_per_s_median": round(2 * n**3 / statistics.median(times) / 1e9, 1),
            "cpu_during_timing": cpu.result()}


def worker_peak(spec: dict) -> dict:
    return {"status": "ok", **_matmul_peak(int(spec["n"]), int(spec["repeats"])), "peak_rss_mib": _rss_mib()}


def _busy_jiffies() -> int | None:
    """Busy CPU time of the whole machine (all processes), in clock ticks, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle, iowait


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuWindow:
    """CPU cores used by this process and by everything else over a wall-clock window."""

    def __init__(self):
        self.t, self.own, self.busy = time.perf_counter(), _own_cpu_s(), _busy_jiffies()

    def result(self) -> dict:
        wall = time.perf_counter() - self.t
        own = (_own_cpu_s() - self.own) / wall
        out = {"this_process_cores": round(own, 2)}
        busy = _busy_jiffies()
        if busy is not None and self.busy is not None:
            machine_cores = (busy - self.busy) / os.sysconf("SC_CLK_TCK") / wall
            out["other_processes_cores"] = round(max(0.0, machine_cores - own), 2)
        return out


class RssTrace:
    """Resident memory of this process over time, by phase: a thread reads ``/proc/self/statm``
    every ``interval`` seconds and keeps the peak since the last ``mark(name)``.

    ``ru_maxrss`` gives one number for the whole process; this says whether the peak comes from
    building the networks, from the first step (tracing, graph optimization) or from the steady
    steps. ``result()`` is ``{phase: peak MiB}`` in the order marked. ``memory()`` adds the
    same peaks of the anonymous part (resident minus file-backed: what the process allocated,
    ``anon_peak_mib_by_phase``) and the peak of the file-backed part (``file_peak_mib``: the
    pages of the shared libraries the process touched, e.g. TensorFlow's or torch's code).
    It uses only the standard library, so the official side's driver (a Python with torch)
    measures itself with it too.
    """

    def __init__(self, interval: float = 0.05):
        import threading

        self._page = os.sysconf("SC_PAGE_SIZE") / 2**20
        self._phase, self._lock = "start", threading.Lock()
        self._peaks, self._anon, self._file = {}, {}, 0.0
        self._sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _now(self) -> tuple[float, float]:
        """(resident, file-backed) MiB now."""
        try:
            with open("/proc/self/statm") as f:
                fields = f.read().split()
            return int(fields[1]) * self._page, int(fields[2]) * self._page
        except OSError:  # not Linux: fall back to the process peak, split unknown
            return _rss_mib(), 0.0

    def _run(self, interval):
        while not self._stop.wait(interval):
            self._sample()

    def _sample(self):
        resident, shared = self._now()
        with self._lock:
            self._peaks[self._phase] = max(self._peaks.get(self._phase, 0.0), resident)
            self._anon[self._phase] = max(self._anon.get(self._phase, 0.0), resident - shared)
            self._file = max(self._file, shared)

    def mark(self, phase: str) -> None:
        """End the current phase (sampled once more) and start ``phase``."""
        self._sample()
        with self._lock:
            self._phase = phase
        self._sample()

    def result(self) -> dict:
        self._sample()
        self._stop.set()
        return {k: round(v, 1) for k, v in self._peaks.items()}

    def memory(self) -> dict:
        """``rss_peak_mib_by_phase``, ``anon_peak_mib_by_phase`` and ``file_peak_mib``."""
        rss = self.result()
        return {"rss_peak_mib_by_phase": rss,
                "anon_peak_mib_by_phase": {k: round(v, 1) for k, v in self._anon.items()},
                "file_peak_mib": round(self._file, 1)}


def _step_timer(warmup_steps: int, warmup_s: float, measure_s: float, min_steps: int,
                rss: RssTrace | None = None):
    """A Keras callback: per-step timestamps; stops fit() once enough steady-state time is timed.

    Warm-up ends after ``warmup_steps`` steps (the first traces / compiles) and at least
    ``warmup_s`` seconds of steps after the first; timing runs from there for ``measure_s``
    seconds and at least ``min_steps`` steps. With ``rss``, marks its phases "first_step",
    "warmup_steps" and "timed_steps".
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t_begin = None
            self.ends = []
            self.warm = None  # index of the last warm-up step
            self.cpu = None

        def on_train_batch_begin(self, batch, logs=None):
            if self.t_begin is None:
                self.t_begin = time.perf_counter()
                if rss is not None:
                    rss.mark("first_step")

        def on_train_batch_end(self, batch, logs=None):
            # TF runs a tf.function call synchronously on CPU: the step is done here.
            now = time.perf_counter()
            self.ends.append(now)
            if rss is not None and len(self.ends) == 1:
                rss.mark("warmup_steps")
            if self.warm is None:
                if len(self.ends) >= warmup_steps and now - self.ends[0] >= warmup_s:
                    self.warm = len(self.ends) - 1
                    self.cpu = CpuWindow()
                    if rss is not None:
                        rss.mark("timed_steps")
            elif (len(self.ends) - 1 - self.warm >= min_steps
                  and now - self.ends[self.warm] >= measure_s):
                self.cpu = self.cpu.result()
                self.model.stop_training = True

    return StepTimer()


def _profile_flops(concrete_fn) -> dict:
    """Profiler FLOPs of a concrete function's graph, the per-op-type split, and the correction."""
    import tensorflow as tf
    from tensorflow.python.framework import ops as tf_ops

    graph = concrete_fn.graph
    opts = (tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build())
    total = int(tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops)

    by_type, correction, uncounted_calls = {}, 0, []
    for op in graph.get_operations():
        if op.type in ("PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile", "If",
                       "StatelessIf", "Case", "StatelessCase"):
            uncounted_calls.append(op.type)
        try:
            stat = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except Exception:  # no registered statistic, or shapes not fully known
            stat = None
        if not stat:
            continue
        by_type[op.type] = by_type.get(op.type, 0) + int(stat)
        if op.type in ("Conv2DBackpropInput", "Conv2DBackpropFilter"):
            out_backprop = op.inputs[2].shape
            kernel = op.inputs[1].shape if op.type == "Conv2DBackpropInput" else op.outputs[0].shape
            if out_backprop.is_fully_defined() and kernel.is_fully_defined():
                exact = 2 * out_backprop.num_elements() * kernel[0] * kernel[1] * kernel[2]
                correction += exact - int(stat)
    conv_matmul = sum(v for k, v in by_type.items()
                      if k in ("MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"))
    return {"profiler_total": total, "corrected_total": total + correction,
            "by_op_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
            "conv_matmul_share": round(conv_matmul / total, 4) if total else None,
            "nested_function_ops_not_counted": sorted(set(uncounted_calls))}


def _flops(gan, dataset, nets, step_images: int) -> dict:
    import tensorflow as tf

    spec = dataset.element_spec
    train = _profile_flops(tf.function(gan.train_step).get_concrete_function(spec))
    batch = int(tf.nest.flatten(spec)[0].shape[0])
    z = tf.TensorSpec([batch, nets.latent_dim], tf.float32)
    label = tf.TensorSpec([batch], tf.int32)
    real = gan.preprocess_real(spec)
    if nets.num_classes:
        g_fn = tf.function(lambda z, c: gan.generator([z, c], training=False)).get_concrete_function(z, label)
        d_fn = tf.function(lambda x, c: gan.discriminator(gan.discriminator_inputs(x, c), training=False)
                           ).get_concrete_function(real, label)
    else:
        g_fn = tf.function(lambda z: gan.generator(z, training=False)).get_concrete_function(z)
        d_fn = tf.function(lambda x: gan.discriminator(x, training=False)).get_concrete_function(real)
    g, d = _profile_flops(g_fn), _profile_flops(d_fn)
    per = lambda prof, n: {"profiler": round(prof["profiler_total"] / n),  # noqa: E731
                           "corrected": round(prof["corrected_total"] / n)}
    t, g1, d1 = per(train, step_images), per(g, batch), per(d, batch)
    return {
        "per_image": {"train_step": t, "g_forward": g1, "d_forward": d1},
        "train_step_over_4g_plus_8d": round(t["corrected"] / (4 * g1["corrected"] + 8 * d1["corrected"]), 3),
        "train_step_detail": {**train, "images_per_step": step_images},
        "g_forward_detail": {**g, "batch": batch},
        "d_forward_detail": {**d, "batch": batch},
        "params": {"generator": gan.generator.count_params(), "discriminator": gan.discriminator.count_params()},
    }


def worker_train(spec: dict) -> dict:
    """One (preset, replicas, jit) configuration: steady-state img/s of GAN.fit, optional FLOPs."""
    from keras_gans.training import distribute

    replicas, jit = int(spec["replicas"]), bool(spec["jit"])
    # First TensorFlow work of the process: the CPU is split into logical devices here.
    strategy = distribute.make_strategy(replicas)
    xla_ok, xla_why = distribute.xla_supported(strategy)
    import keras_gans

    info = {"preset": spec["preset"], "replicas": strategy.num_replicas_in_sync, "jit": jit,
            "strategy": distribute.describe(strategy), "xla_supported": xla_ok,
            "keras_gans": os.path.dirname(os.path.dirname(os.path.abspath(keras_gans.__file__)))}
    if not xla_ok:
        info["xla_refused_reason"] = xla_why
    if jit and not xla_ok:
        return {**info, "status": "skipped", "reason": xla_why}

    # A peak sample in this process too: the machine peak used for utilisation is the best
    # sample of the run (other processes may hold a core during any one of them).
    info["matmul_peak"] = _matmul_peak(int(spec["matmul_n"]), int(spec["matmul_repeats"]))

    from keras_gans import data as data_lib, manifest as manifest_lib
    from keras_gans.training import checkpoint as ckpt_lib, loop
    from keras_gans.training.config import resolve

    overrides = [f"jit={json.dumps(jit)}", f"replicas={replicas}", *spec.get("set", [])]
    if resolve(spec["preset"]).arch == "projected":
        # Speed does not depend on the values of the frozen feature weights: use the converted
        # ones when present, else random ones (recorded).
        from keras_gans.models.projected import efficientnet_lite

        path = efficientnet_lite.default_weights_path("lite0")
        info["feature_weights"] = path if os.path.isfile(path) else "random"
        overrides.append(f"model.backbone_weights={json.dumps(info['feature_weights'])}")
    config = resolve(spec["preset"], overrides)
    loop._set_precision(config)
    manifest = manifest_lib.load(spec["data"])
    gan, nets = ckpt_lib.build_gan(config, manifest, strategy)
    step_images = config.batch * config.d_steps
    # As loop.train builds its stream (the same reader, seed and strategy handling).
    distribute.patch_keras_for_strategy(strategy)
    with distribute.static_batches(strategy):
        dataset = data_lib.load_dataset(
            spec["data"], "train", step_images, strategy=strategy if replicas > 1 else None,
            seed=config.seed, flip=config.flip, pyramid_min_resolution=nets.pyramid_min_resolution,
            with_labels=bool(nets.num_classes))
    timer = _step_timer(int(spec["warmup_steps"]), float(spec["warmup_s"]), float(spec["measure_s"]),
                        int(spec["min_steps"]))
    gan.fit(dataset, epochs=1, steps_per_epoch=int(spec["max_steps"]), callbacks=[timer], verbose=0)
    rss = _rss_mib()
    ends, warm = timer.ends, timer.warm
    if warm is None or len(ends) - 1 - warm < 2:
        raise RuntimeError(f"only {len(ends)} steps ran (warm-up ended at {warm})")
    steps = [b - a for a, b in zip(ends[warm:], ends[warm + 1:])]
    window = ends[-1] - ends[warm]
    median = statistics.median(steps)
    ordered = sorted(steps)
    half = len(steps) // 2
    result = {
        **info, "status": "ok", "jit_compile_effective": bool(gan.jit_compile),
        "batch": config.batch, "images_per_step": step_images,
        "first_step_s": round(ends[0] - timer.t_begin, 2),
        "warmup_steps": warm + 1, "warmup_s": round(ends[warm] - timer.t_begin, 2),
        "timed_steps": len(steps), "timed_s": round(window, 2),
        "images_per_s": round(len(steps) * step_images / window, 1),
        "images_per_s_median_step": round(step_images / median, 1),
        # The fastest tenth of the steps: closest to the speed of an idle machine when other
        # processes compete for the cores (see cpu_during_timing).
        "images_per_s_p10_step": round(step_images / ordered[len(steps) // 10], 1),
        "step_ms": {"median": round(median * 1e3, 1), "p10": round(ordered[len(steps) // 10] * 1e3, 1),
                    "p90": round(ordered[(len(steps) * 9) // 10] * 1e3, 1)},
        # Steady state: the second half of the timed steps runs as fast as the first (~1.0).
        "second_half_over_first_half_speed": (round(sum(steps[:half]) / sum(steps[half:2 * half]), 3)
                                              if half else None),
        "cpu_during_timing": timer.cpu if isinstance(timer.cpu, dict) else None,
        "peak_rss_mib": rss,
    }
    if spec.get("flops"):
        try:
            result["flops"] = _flops(gan, dataset, nets, step_images)
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            result["flops"] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
        result["peak_rss_mib_after_flops"] = _rss_mib()
    return result


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    try:
        result = {"peak": worker_peak, "train": worker_train}[spec["kind"]](spec)
    except Exception as e:  # noqa: BLE001 - the parent reports it
        result = {"status": "error", "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc()[-3000:]}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --- parent ----------------------------------------------------------------------------------------
def run_worker(spec: dict, timeout_s: float, checkout: str | None = None) -> dict:
    """Run a worker in a fresh Python process and parse its one result line; with ``checkout``
    (another keras-gans source tree) the worker imports ``keras_gans`` from there."""
    t0 = time.perf_counter()
    env = None
    if checkout:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [os.path.abspath(checkout), *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as e:
        tail = (e.stderr or b"")[-1500:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return {**{k: spec[k] for k in ("preset", "replicas", "jit") if k in spec},
                "status": "error", "error": f"timed out after {timeout_s:.0f} s", "stderr_tail": tail}
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if not lines:
        return {**{k: spec[k] for k in ("preset", "replicas", "jit") if k in spec},
                "status": "error", "error": f"worker exited {proc.returncode} without a result",
                "stderr_tail": proc.stderr[-1500:]}
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    if spec.get("kind") == "train" and "preset" not in result:  # an error before the worker knew
        result = {"preset": spec["preset"], "replicas": spec["replicas"], "jit": spec["jit"], **result}
    notes = [x for x in proc.stdout.splitlines() if x.startswith("note:")]
    if notes:
        result["notes"] = notes
    result["process_s"] = round(time.perf_counter() - t0, 1)
    return result


def prepare_data(out: str, resolution: int = 32) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "keras_gans.cli", "prepare", "--source", "mnist",
                           "--out", out, "--resolution", str(resolution)], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode != 0:
        raise RuntimeError(f"prepare failed ({proc.returncode}): {proc.stderr[-2000:]}")
    with open(os.path.join(out, "dataset.json")) as f:
        manifest = json.load(f)
    return {"source": f"bundled MNIST digits via `keras-gans prepare --source mnist --resolution {resolution}`",
            "train_examples": manifest["splits"]["train"]["num_examples"],
            "resolution": manifest["resolution"], "channels": manifest["channels"],
            "encoding": manifest["encoding"], "prepare_s": round(time.perf_counter() - t0, 1)}


def cpu_presets() -> list[str]:
    from keras_gans.training.config import list_presets

    # The shortest name (the plain architecture) first: --quick runs the full matrix on it.
    return sorted((name for name in list_presets() if name.endswith("mnist32")), key=lambda n: (len(n), n))


def _utilisation(run: dict, flops: dict | None, peak_flops: float | None) -> None:
    if run.get("status") != "ok" or not flops or "per_image" not in flops or not peak_flops:
        return
    achieved = flops["per_image"]["train_step"]["corrected"] * run["images_per_s"]
    run["achieved_gflop_per_s"] = round(achieved / 1e9, 2)
    run["flop_utilisation"] = round(achieved / peak_flops, 4)
    run["flop_utilisation_p10_step"] = round(
        flops["per_image"]["train_step"]["corrected"] * run["images_per_s_p10_step"] / peak_flops, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--measure-s", type=float, default=12.0,
                        help="steady-state seconds timed per configuration (after warm-up)")
    parser.add_argument("--warmup-steps", type=int, default=4,
                        help="steps before timing starts (the first one traces / compiles)")
    parser.add_argument("--warmup-s", type=float, default=2.0,
                        help="and at least this many seconds of steps after the first")
    parser.add_argument("--min-steps", type=int, default=8, help="timed steps at least")
    parser.add_argument("--matmul-n", type=int, default=2048)
    parser.add_argument("--worker-timeout-s", type=float, default=300.0)
    parser.add_argument("--presets", nargs="*", help="default: every preset ending in mnist32")
    parser.add_argument("--res64-presets", nargs="*",
                        help="presets also timed on 64x64 data (1 replica, no XLA; the networks "
                             "follow the data's resolution); default: the ProGAN / MSG-GAN ones")
    parser.add_argument("--baseline", metavar="PATH",
                        help="another keras-gans source tree (e.g. `git worktree add /tmp/before "
                             "COMMIT`): every preset runs 1 replica without XLA on it and on this "
                             "tree, alternating (before/after a change in one run); no XLA or "
                             "2-replica runs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every run (repeatable)")
    parser.add_argument("--baseline-set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --baseline: an override for the baseline runs only, after "
                             "--set (e.g. --baseline . --set mixed_precision='\"bfloat16\"' "
                             "--baseline-set mixed_precision='\"none\"': bfloat16 vs float32)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: short timings; every preset at 1 replica without XLA (with "
                             "FLOPs), the XLA and 2-replica runs for the first preset only")
    args = parser.parse_args()
    if args.baseline_set and not args.baseline:
        parser.error("--baseline-set needs --baseline (the tree whose runs it changes; '.' for this one)")
    if args.baseline and not os.path.isdir(os.path.join(args.baseline, "keras_gans")):
        parser.error(f"--baseline {args.baseline}: no keras_gans package there (give a keras-gans "
                     "source tree, e.g. `git worktree add /tmp/before COMMIT`)")
    if args.worker:
        worker_main(args.worker)
        return
    if args.quick:
        args.measure_s, args.warmup_steps, args.warmup_s, args.min_steps = 2.5, 3, 0.5, 4

    t_start = time.perf_counter()
    presets = args.presets or cpu_presets()
    if not presets:
        parser.error("no preset ends in mnist32 (keras_gans.training.config.list_presets())")
    peak_spec = {"kind": "peak", "n": args.matmul_n, "repeats": 5 if args.quick else 10}
    result = {"benchmark": "train", "machine": machine(),
              "settings": {"measure_s": args.measure_s, "warmup_steps": args.warmup_steps,
                           "warmup_s": args.warmup_s, "min_steps": args.min_steps, "quick": args.quick,
                           "set": args.set,
                           "timing": "one GAN.fit call per configuration on load_dataset's stream; "
                                     "per-step timestamps from a callback; img/s = timed steps x "
                                     "images per step / time from the end of the last warm-up "
                                     "step to the end of the last step"},
              "peak": {}, "presets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "mnist32")
        try:
            result["data"] = prepare_data(data_dir)
        except Exception as e:  # noqa: BLE001 - reported in the JSON; nothing can train
            result["data"] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
            presets = []
        result["peak"]["before"] = run_worker(peak_spec, args.worker_timeout_s)
        base = {"kind": "train", "data": data_dir, "warmup_steps": args.warmup_steps, "warmup_s": args.warmup_s,
                "measure_s": args.measure_s, "min_steps": args.min_steps, "max_steps": 100_000,
                "matmul_n": args.matmul_n, "matmul_repeats": 5, "set": args.set}
        if args.baseline:
            result["settings"]["baseline"] = os.path.abspath(args.baseline)
            result["settings"]["baseline_set"] = args.baseline_set
        res64 = [] if args.baseline else (args.res64_presets if args.res64_presets is not None else
                  [p for p in presets if p.split("-")[0] in ("progan", "msggan", "msgstylegan")])
        data64 = os.path.join(tmp, "mnist64")
        if res64:
            try:
                result["data_64"] = prepare_data(data64, 64)
            except Exception as e:  # noqa: BLE001 - reported in the JSON
                result["data_64"] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
                res64 = []
        for index, preset in enumerate(presets):
            runs = {}
            if args.baseline:
                spec = {**base, "preset": preset, "replicas": 1, "jit": False, "flops": False}
                for side in ("baseline", "ours") if index % 2 else ("ours", "baseline"):
                    if side == "ours":
                        runs["replicas_1_no_xla"] = run_worker(spec, args.worker_timeout_s)
                    else:
                        runs["baseline_replicas_1_no_xla"] = run_worker(
                            {**spec, "set": [*args.set, *args.baseline_set]}, args.worker_timeout_s,
                            args.baseline)
                result["presets"][preset] = {"flops": None, "runs": runs}
                continue
            if preset in res64:
                runs["replicas_1_no_xla_res64"] = run_worker(
                    {**base, "data": data64, "preset": preset, "replicas": 1, "jit": False,
                     "flops": False}, args.worker_timeout_s)
            for replicas in (1, 2):
                for jit in (False, True):
                    key = f"replicas_{replicas}_{'xla' if jit else 'no_xla'}"
                    if args.quick and index > 0 and (replicas > 1 or jit):
                        runs[key] = {"preset": preset, "replicas": replicas, "jit": jit,
                                     "status": "not_run",
                                     "reason": "--quick runs the full matrix for the first preset only"}
                        continue
                    plain = runs.get(f"replicas_{replicas}_no_xla", {})
                    if jit and plain.get("xla_supported") is False:
                        # The plain run asked distribute.xla_supported on this very strategy.
                        runs[key] = {"preset": preset, "replicas": replicas, "jit": True,
                                     "status": "skipped", "reason": plain.get("xla_refused_reason"),
                                     "decided_by": "distribute.xla_supported in the replicas="
                                                   f"{replicas} no-XLA worker"}
                        continue
                    spec = {**base, "preset": preset, "replicas": replicas, "jit": jit,
                            "flops": replicas == 1 and not jit}
                    runs[key] = run_worker(spec, args.worker_timeout_s)
            flops = runs["replicas_1_no_xla"].pop("flops", None)
            result["presets"][preset] = {"flops": flops, "runs": runs}
        if not args.quick:
            result["peak"]["after"] = run_worker(peak_spec, args.worker_timeout_s)

    samples = {f"peak_worker_{k}": p["gflop_per_s"] for k, p in result["peak"].items() if p.get("status") == "ok"}
    for preset, entry in result["presets"].items():
        for key, run in entry["runs"].items():
            if "matmul_peak" in run:
                samples[f"{preset}/{key}"] = run["matmul_peak"]["gflop_per_s"]
    peak_flops = max(samples.values()) * 1e9 if samples else None
    result["peak"]["samples_gflop_per_s"] = samples
    result["peak"]["used_gflop_per_s"] = round(peak_flops / 1e9, 1) if peak_flops else None
    result["peak"]["used"] = "the best sample of the run (each: best of several products)"
    result["flops_method"] = FLOPS_METHOD
    summary = {}
    for preset, entry in result["presets"].items():
        for run in entry["runs"].values():
            _utilisation(run, entry["flops"], peak_flops)
        row = {}
        for field, suffix in (("images_per_s", ""), ("images_per_s_p10_step", "_p10_step")):
            ips = {k: (r[field] if r.get("status") == "ok" else r.get("status"))
                   for k, r in entry["runs"].items()}
            row[field] = ips
            num = lambda k: ips.get(k) if isinstance(ips.get(k), (int, float)) else None  # noqa: E731
            if num("replicas_1_xla") and num("replicas_1_no_xla"):
                row["xla_speedup_1_replica" + suffix] = round(num("replicas_1_xla") / num("replicas_1_no_xla"), 2)
            if num("baseline_replicas_1_no_xla") and num("replicas_1_no_xla"):
                row["ours_over_baseline" + suffix] = round(
                    num("replicas_1_no_xla") / num("baseline_replicas_1_no_xla"), 3)
            if num("replicas_2_no_xla") and num("replicas_1_no_xla"):
                row["replicas_2_over_1_no_xla" + suffix] = round(
                    num("replicas_2_no_xla") / num("replicas_1_no_xla"), 2)
        row["other_processes_cores"] = {k: (r.get("cpu_during_timing") or {}).get("other_processes_cores")
                                        for k, r in entry["runs"].items() if r.get("status") == "ok"}
        f = entry["flops"]
        if f and "per_image" in f:
            row["mflop_per_image"] = {k: round(v["corrected"] / 1e6, 2) for k, v in f["per_image"].items()}
        row["flop_utilisation"] = {k: r.get("flop_utilisation") for k, r in entry["runs"].items()
                                   if r.get("status") == "ok"}
        row["peak_rss_mib"] = {k: r.get("peak_rss_mib") for k, r in entry["runs"].items()
                               if r.get("status") == "ok"}
        row["errors"] = {k: r["error"] for k, r in entry["runs"].items() if r.get("status") == "error"}
        summary[preset] = row
    result["summary"] = summary
    others = [r["cpu_during_timing"]["other_processes_cores"]
              for r in [*(run for e in result["presets"].values() for run in e["runs"].values()),
                        *(p for p in result["peak"].values() if isinstance(p, dict))]
              if isinstance(r.get("cpu_during_timing"), dict) and "other_processes_cores" in r["cpu_during_timing"]]
    if others:
        result["contention"] = {
            "other_processes_cores_max": max(others), "other_processes_cores_mean": round(sum(others) / len(others), 2),
            "note": "CPU used by other processes while a timing ran (/proc/stat minus this process); "
                    "above ~0.2 cores on a 2-core machine the img/s, the peak and the ratios are "
                    "disturbed: re-run on an idle machine for reference numbers"}
    result["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
