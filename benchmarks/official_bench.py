"""Side-by-side benchmark: our train step against the official PyTorch iteration, same settings.

For each configuration of issue 16's table it times one training iteration of ours (the
preset through ``registry.build`` and the loop's ``compile``: ``checkpoint.build_gan``, then
``GAN.fit``, as ``benchmarks/train_bench.py`` does) and, given the official code and a Python with
torch, one iteration of the official code with the same settings; each side runs in its own fresh
process, the two alternating (``--rounds``). Both sides train on random data (no reader, no
decoding), run ``--warmup`` iterations (default 3) and then time ``--iters`` (default 5; the issue
asks for 5-9) and report the median; logging, sampling and checkpoints are left out. Torch runs
with ``torch.set_num_threads(--threads)`` (default 2).

Configurations (``--configs``):

- ``bmsg``: BMSG-GAN depth 4 (32x32), z 512, batch 32, relativistic-average hinge, EMA 0.999,
  Adam 0.003 (0, 0.99) (akanimax/BMSG-GAN ``sourcecode/train.py`` with ``--depth 4 --batch_size
  32``) against ``msggan-cifar10`` with ``batch=32`` (its ``generator="bmsg"``, ``rahinge``, no
  gradient penalty).
- ``biggan``: BigGAN-PyTorch ``scripts/launch_cifar_ema.sh`` (batch 50, 4 D steps, ch 64, EMA;
  ``--parallel`` dropped: ``DataParallel`` does nothing on a CPU) against ``biggan-cifar10``.
- ``projected``: projected_gan ``train.py --cfg fastgan_lite`` at 128x128, batch 32 (the
  discriminator upsamples to 224 for the feature network, ``interp224``) against
  ``projected-pokemon256`` with ``model.generator=fastgan_lite`` and ``batch=32`` on 128x128 data
  (our networks follow the data's resolution; the feature network sees 224x224 too). The
  EfficientNet-Lite0 feature weights: ours use the converted file when present, else random;
  the official side asks timm for the pretrained weights and, offline, falls back to random
  ones (``feature_weights`` in the output). Speed does not depend on the weights' values.

Printed JSON: ``machine``; ``matmul_peak`` (dense float32 n x n matmul, best of several, of
TensorFlow in every one of our processes and of torch in every official process, same run);
per configuration, each side's s/iter (median of the timed iterations, pooled over rounds),
img/s (real images one iteration consumes: batch x D steps / s), FLOPs per iteration (ours:
TensorFlow's profiler on the train step's graph, with the conv/matmul part; official:
``torch.utils.flop_counter.FlopCounterMode`` over one iteration, which counts convolutions and
matrix products only: compare it with ours' ``conv_matmul``), peak RSS (``ru_maxrss``) of each
process, and ``ours_over_official`` (img/s ratio, s/iter ratio, peak RSS ratio); ``contention``:
CPU used by other processes while the timings ran.

Getting the official code (never committed here)::

    git clone https://github.com/akanimax/BMSG-GAN            OFFICIAL/BMSG-GAN
    git clone https://github.com/ajbrock/BigGAN-PyTorch       OFFICIAL/BigGAN-PyTorch
    git clone https://github.com/autonomousvision/projected_gan OFFICIAL/projected_gan
    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy pillow && /tmp/torchvenv/bin/pip install --no-deps timm==0.4.12
    # pillow: timm 0.4.12 reads PIL.__version__ at import
    # timm 0.4.12: projected_gan environment.yml (newer timm lacks EfficientNet.act1)

(``--official`` may also name one checkout directly when one configuration is selected; the
folder names ``owner+name`` of a mirror, e.g. ``akanimax+BMSG-GAN``, are found too.) The official
modules import packages the iteration never uses (torchvision, h5py, tqdm, PIL, dill, psutil,
click): where one is missing or fails to import (torchvision's CUDA wheels on a CPU torch), the
driver puts a placeholder module in its place that raises on any use, and lists it under
``import_placeholders``. The official side is run by a driver script that this file writes to a
temporary folder at run time (``OFFICIAL_DRIVER`` below): it imports the official modules from
the checkout and builds one iteration as the official loop does (BMSG-GAN ``MSG_GAN.train``'s
loop body; BigGAN-PyTorch ``train_fns.GAN_training_function`` with ``train.py``'s setup;
projected_gan ``training/training_loop.py``'s phases G, Dmain, Dreg and its G EMA).

Run::

    python benchmarks/official_bench.py --official OFFICIAL --torch-python /tmp/torchvenv/bin/python
    python benchmarks/official_bench.py --configs bmsg --iters 2 --warmup 1 --batch 4   # smoke
    python benchmarks/official_bench.py --configs biggan --profile /tmp/i16/prof         # op classes

Without ``--official`` only our side runs. ``--jit`` times ours with XLA (``jit=true``);
``--joint-d`` makes ours call D once on concat(real, fake) (``GAN.joint_discriminator``; exact only
for discriminators without batch statistics: BMSG-GAN's D has a whole-batch minibatch stddev, so
there it changes the scores); ``--profile DIR`` records a TensorFlow profiler trace of extra
iterations of ours and prints the time per op class (``profile`` in the output); ``--tiny`` uses
the families' tiny networks (tests; not comparable, refused with ``--official``). ``--set
KEY=VALUE`` adds a config override to ours; ``--variant NAME KEY=VALUE ...`` runs ours once more
per configuration with those overrides and compares it with the same official runs
(``variants.NAME``), e.g. ``--variant bfloat16 mixed_precision='"bfloat16"'``. Each of our runs
reports ``rss_peak_mib_by_phase`` (``train_bench.RssTrace``: after the imports, building the
networks and optimizers, the first step, the timed steps), the official driver the same trace
(after importing torch, building, the iterations); each side's ``memory_by_owner_mib`` splits its
peak into the libraries' file pages and the anonymous memory of the imports, the build and the
iterations (ours also by TensorFlow's allocator: tensors, and the rest), and
``ours_minus_official_memory_mib`` says which owner the difference comes from. Where the official FLOP count is
missing, ``official.conv_matmul_gflop_per_s_from_our_flops`` divides our count (the same
networks) by the official time. On a 2-core
machine the full table takes about an hour (the full-width configurations run ~1 minute per
iteration on each side).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine_info  # noqa: E402
import train_bench  # noqa: E402  (its matmul peak, CPU window, step timer and FLOP counting)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULT_PREFIX = "OFFICIAL_BENCH_RESULT "

# name -> what both sides run. ``ours``: preset + overrides and the random data it trains on;
# ``official``: the checkout (marker file, folder names) and the driver's settings.
CONFIGS = {
    "bmsg": {
        "description": "BMSG-GAN depth 4 (32x32), z 512, batch 32, RaHinge, EMA 0.999 vs "
                       "msggan-cifar10 (bmsg networks, rahinge, no GP), batch 32",
        "ours": {"preset": "msggan-cifar10", "overrides": ["batch=32"], "resolution": 32,
                 "channels": 3, "classes": 0},
        "official": {"kind": "bmsg", "marker": "sourcecode/MSG_GAN/GAN.py",
                     "names": ["BMSG-GAN", "akanimax+BMSG-GAN"], "batch": 32, "depth": 4,
                     "latent": 512, "images_per_iter": 32},
    },
    "biggan": {
        "description": "BigGAN-PyTorch scripts/launch_cifar_ema.sh (batch 50, 4 D steps, ch 64, EMA) "
                       "vs biggan-cifar10",
        "ours": {"preset": "biggan-cifar10", "overrides": [], "resolution": 32, "channels": 3,
                 "classes": 10},
        "official": {"kind": "biggan", "marker": "train_fns.py",
                     "names": ["BigGAN-PyTorch", "ajbrock+BigGAN-PyTorch"], "batch": 50,
                     "d_steps": 4, "images_per_iter": 200},
    },
    "projected": {
        "description": "projected_gan --cfg fastgan_lite, 128x128, batch 32 (interp224) vs "
                       "projected-pokemon256 with generator fastgan_lite, batch 32, 128x128 data",
        "ours": {"preset": "projected-pokemon256",
                 "overrides": ["batch=32", 'model.generator="fastgan_lite"'], "resolution": 128,
                 "channels": 3, "classes": 0},
        "official": {"kind": "projected", "marker": "pg_modules/discriminator.py",
                     "names": ["projected_gan", "projected-gan", "autonomousvision+projected_gan"],
                     "batch": 32, "resolution": 128, "images_per_iter": 32},
    },
}


class BenchError(Exception):
    """A usage or setup problem, reported as one clear message."""


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- our side (a fresh process per run) -------------------------------------------------------
def _random_batch(ours: dict, images: int, nets, seed: int = 0) -> dict:
    """A batch as ``data.load_dataset`` yields it, of uniform random images in [-1, 1]."""
    import tensorflow as tf

    from keras_gans import data as data_lib

    res, ch = int(ours["resolution"]), int(ours["channels"])
    image = tf.random.stateless_uniform([images, res, res, ch], seed=[seed, 1], minval=-1.0, maxval=1.0)
    batch = {"image": image}
    if ours["classes"]:
        batch["label"] = tf.random.stateless_uniform([images], seed=[seed, 2], minval=0,
                                                     maxval=int(ours["classes"]), dtype=tf.int32)
    if nets.pyramid_min_resolution is not None:
        batch["pyramid"] = data_lib.build_pyramid(image, nets.pyramid_min_resolution)
    return batch


def _manifest(ours: dict):
    from keras_gans import manifest as manifest_lib

    classes = int(ours["classes"])
    return manifest_lib.Manifest(
        resolution=int(ours["resolution"]), channels=int(ours["channels"]), encoding="png",
        compression="", splits={}, labels=[f"class{i}" for i in range(classes)] if classes else None,
        root="<random data: benchmarks/official_bench.py>")


def _is_conv(t: str) -> bool:
    return "Conv2D" in t or "Conv2d" in t or "DepthwiseConv" in t or "Conv3D" in t


def _sn_scopes(ops) -> set:
    """Layer scopes holding a spectral-norm power iteration: ``l2_normalize``'s Sqrt and Maximum
    (keras_gans.layers.spectral_normalization) next to each other (gradient scopes folded in)."""
    seen = {}
    for name, t in ops:
        scope = name.replace("gradient_tape/", "").rsplit("/", 1)[0]
        seen.setdefault(scope, set()).add(t)
    return {s for s, types in seen.items() if {"Sqrt", "Maximum"} <= types}


def _op_class(op_type: str, name: str, sn_scopes=frozenset()) -> str:
    """The class of one TF op for the time breakdown (type first, then its name scope).

    Spectral norm: every non-convolution op in a layer scope that holds a power iteration (its
    matmuls, norms, the weight division, the ``u`` update); a spectrally normalised Dense
    layer's own matmul lands there too (small beside the convolutions)."""
    t, n = op_type, name.lower()
    if t in ("IteratorGetNext", "IteratorGetNextSync", "OptionalGetValue", "MultiDeviceIteratorGetNextFromShard"):
        return "data"
    if sn_scopes and not _is_conv(t) and t != "BiasAdd":
        key = name.replace("gradient_tape/", "")
        if any(key.startswith(s + "/") for s in sn_scopes):
            return "spectral_norm"
    # GAN._update_ema's lerp and assign (v = src + beta (v - src)) run at the step's top level, outside
    # every network and optimizer scope (so do the step counters' few assigns).
    top = name.split("/", 1)[-1] if name.startswith("StatefulPartitionedCall/") else name
    if (top.count("/") <= 1 and not top.startswith(("adam", "gradient_tape"))
            and t in ("Sub", "Mul", "AddV2", "AssignVariableOp", "ReadVariableOp", "Cast")):
        return "ema_and_counters"
    if any(k in n for k in ("adam", "optimizer", "rmsprop")) or t.startswith("ResourceApply"):
        return "optimizer"
    if _is_conv(t):
        return "conv"
    if "MatMul" in t or t in ("Einsum",):
        return "matmul"
    if "Pool" in t or "Resize" in t:
        return "pooling_resize"
    if "gradient_tape" in n or "/grad" in n or "gradients" in n:
        return "elementwise_backward"
    if t in ("ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
             "VarHandleOp", "Const", "Identity", "NoOp", "_Retval", "_Arg", "Shape", "Reshape",
             "StridedSlice", "Pack", "ConcatV2", "Split", "SplitV", "Slice", "Transpose", "Fill",
             "ZerosLike", "OnesLike", "StopGradient", "Squeeze", "ExpandDims"):
        return "variables_and_shapes"
    if t.startswith("StatelessRandom") or t.startswith("Random") or "Philox" in t:
        return "random"
    return "elementwise_forward"


def _profile_breakdown(logdir: str, steps: int, wall_s: float) -> dict:
    """Time per op class from the profiler's xplane (host plane: TF ops on the executor threads),
    and the part of the steps' wall time in which no op ran (Python, Keras, executor scheduling)."""
    import glob

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))
    if not files:
        raise RuntimeError(f"no .xplane.pb under {logdir}")
    space = xplane_pb2.XSpace()
    with open(files[-1], "rb") as f:
        space.ParseFromString(f.read())
    events = []
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        meta = plane.event_metadata
        for line in plane.lines:
            for ev in line.events:
                md = meta[ev.metadata_id]
                label = md.name
                # TF op events are named "scope/op_name:OpType" (display name: the type);
                # executor / thread-pool / eager events have "::" or no ":".
                if ":" not in label or "::" in label or label.startswith(("$", "Iterator")):
                    continue
                name, op_type = label.rsplit(":", 1)
                if not op_type or not (op_type[0].isupper() or op_type.startswith("_")) or " " in op_type:
                    continue
                if op_type in ("__inference", "PartitionedCall", "StatefulPartitionedCall"):
                    continue
                start = (line.timestamp_ns * 1e-9) + ev.offset_ps / 1e12
                events.append((name, op_type, start, ev.duration_ps / 1e12))
    sn_scopes = _sn_scopes((name, t) for name, t, _, _ in events)
    by_class, by_type, intervals = {}, {}, []
    for name, op_type, start, dur in events:
        cls = _op_class(op_type, name, sn_scopes)
        by_class[cls] = by_class.get(cls, 0.0) + dur
        by_type[op_type] = by_type.get(op_type, 0.0) + dur
        intervals.append((start, start + dur))
    intervals.sort()
    covered, end = 0.0, None
    for a, b in intervals:
        if end is None or a > end:
            covered += b - a
            end = b
        elif b > end:
            covered += b - end
            end = b
    total = sum(by_class.values())
    return {
        "trace": files[-1], "steps": steps, "wall_s_per_step": round(wall_s / steps, 3),
        "op_time_s_per_step": round(total / steps, 3),
        "share_of_op_time": {k: round(v / total, 4) for k, v in sorted(by_class.items(), key=lambda kv: -kv[1])}
        if total else {},
        "top_op_types_s_per_step": {k: round(v / steps, 4) for k, v in
                                    sorted(by_type.items(), key=lambda kv: -kv[1])[:15]},
        "no_op_running_s_per_step": round(max(0.0, wall_s - covered) / steps, 3),
        "no_op_running_share_of_wall": round(max(0.0, wall_s - covered) / wall_s, 4) if wall_s else None,
        "note": "op time sums the TF ops' own durations on all executor threads (it can exceed "
                "wall time when ops overlap); 'no_op_running' is the wall time of the profiled "
                "steps in which no TF op ran: Python, Keras fit() and executor overhead",
    }


def worker_ours(spec: dict) -> dict:
    import tensorflow as tf

    from keras_gans.models import registry
    from keras_gans.training import checkpoint as ckpt_lib, distribute, loop
    from keras_gans.training.config import resolve

    rss = train_bench.RssTrace()  # "start": after importing TensorFlow and keras_gans
    ours = spec["ours"]
    strategy = distribute.make_strategy(1)
    info = {"side": "ours", "preset": ours["preset"]}
    info["matmul_peak"] = train_bench._matmul_peak(int(spec["matmul_n"]), int(spec["matmul_repeats"]))
    overrides = (list(ours["overrides"]) + [f"jit={json.dumps(bool(spec['jit']))}"]
                 + list(spec.get("set") or []))
    if spec.get("batch"):
        overrides.append(f"batch={int(spec['batch'])}")
    if registry.PRESETS[ours["preset"]]["arch"] == "projected":
        from keras_gans.models.projected import efficientnet_lite

        path = efficientnet_lite.default_weights_path("lite0")
        info["feature_weights"] = path if os.path.isfile(path) else "random"
        overrides.append(f"model.backbone_weights={json.dumps(info['feature_weights'])}")
    config = resolve(ours["preset"], overrides)
    if spec.get("tiny"):
        import dataclasses

        fam = registry.family(config.arch)
        config = dataclasses.replace(config, model=fam.tiny_model(dict(config.model))).validate()
    info["overrides"] = overrides + (["<family tiny networks>"] if spec.get("tiny") else [])
    loop._set_precision(config)
    rss.mark("build")
    gan, nets = ckpt_lib.build_gan(config, _manifest(ours), strategy)
    live_after_build = tf.config.experimental.get_memory_info("CPU:0")["current"]
    if spec.get("joint_d"):
        gan.joint_discriminator = True
    info["joint_discriminator"] = bool(gan.joint_discriminator)
    info["jit_compile_effective"] = bool(gan.jit_compile)
    images = config.batch * config.d_steps
    batch = _random_batch(ours, images, nets)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    warmup, iters = int(spec["warmup"]), int(spec["iters"])
    rss.mark("fit_setup")
    timer = train_bench._step_timer(warmup, 0.0, 0.0, iters, rss=rss)
    t0 = time.perf_counter()
    tf.config.experimental.reset_memory_stats("CPU:0")
    gan.fit(dataset, epochs=1, steps_per_epoch=warmup + iters + 1, callbacks=[timer], verbose=0)
    step_peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    ends, warm = timer.ends, timer.warm
    if warm is None or len(ends) - 1 - warm < iters:
        raise RuntimeError(f"only {len(ends)} steps ran (warm-up ended at {warm})")
    steps = [b - a for a, b in zip(ends[warm:], ends[warm + 1:])][:iters]
    result = {**info, "status": "ok", "batch": config.batch, "d_steps": config.d_steps,
              "images_per_iter": images, "warmup_iters": warmup, "first_iter_s": round(ends[0] - timer.t_begin, 2),
              "iter_s": [round(s, 4) for s in steps], "cpu_during_timing": timer.cpu if isinstance(timer.cpu, dict) else None,
              "fit_s": round(time.perf_counter() - t0, 1),
              "params": {"generator": gan.generator.count_params(),
                         "discriminator": gan.discriminator.count_params()},
              "peak_rss_mib": _rss_mib(), **rss.memory(),
              # TensorFlow's CPU allocator: its tensors (variables, optimizer slots, activations)
              "tensor_mib": {"live_after_build": round(live_after_build / 2**20, 1),
                             "peak_in_steps": round(step_peak / 2**20, 1)}}
    if spec.get("profile"):
        logdir = os.path.join(spec["profile"], f"{spec['config']}{'_xla' if spec['jit'] else ''}")
        os.makedirs(logdir, exist_ok=True)
        n = int(spec["profile_steps"])
        tf.profiler.experimental.start(logdir)
        t1 = time.perf_counter()
        gan.fit(dataset, epochs=1, steps_per_epoch=n, verbose=0)
        wall = time.perf_counter() - t1
        tf.profiler.experimental.stop()
        try:
            result["profile"] = _profile_breakdown(logdir, n, wall)
        except Exception as e:  # noqa: BLE001 - reported, the timing stands
            result["profile"] = {"status": "error", "error": f"{type(e).__name__}: {e}", "logdir": logdir}
    if spec.get("flops"):
        try:
            prof = train_bench._profile_flops(
                tf.function(gan.train_step).get_concrete_function(dataset.element_spec))
            conv_types = ("MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
                          "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                          "DepthwiseConv2dNativeBackpropFilter")
            conv = sum(v for k, v in prof["by_op_type"].items() if k in conv_types)
            conv += prof["corrected_total"] - prof["profiler_total"]
            result["flops_per_iter"] = {"total": prof["corrected_total"], "conv_matmul": conv,
                                        "method": "TF profiler on the train step's graph, conv "
                                                  "backprop counts corrected (train_bench.FLOPS_METHOD)",
                                        "nested_function_ops_not_counted": prof["nested_function_ops_not_counted"]}
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            result["flops_per_iter"] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
        result["peak_rss_mib_after_flops"] = _rss_mib()
    return result


# --- the official side: a driver run by the torch Python ----------------------------------------
OFFICIAL_DRIVER = r'''
"""Written by keras-gans benchmarks/official_bench.py: one official training iteration, timed."""
import copy, importlib, importlib.abc, importlib.util, json, os, resource, statistics, sys, time, types

RESULT_PREFIX = "OFFICIAL_BENCH_RESULT "
spec = json.loads(sys.argv[1])
placeholders = []


def _absent_class(qual):
    def fail(*a, **k):
        raise RuntimeError(f"{qual}: this package is not usable in the benchmark's torch Python; "
                           "the official code imports it, but one training iteration must not use it")

    def getattr_(cls, n):
        if n.startswith("__"):
            raise AttributeError(n)
        return _absent_class(f"{qual}.{n}")

    meta = type("Absent", (type,), {"__getattr__": getattr_, "__call__": fail})
    return meta(qual.rsplit(".", 1)[-1], (), {})


class _AbsentModule(types.ModuleType):
    def __getattr__(self, n):
        if n.startswith("__"):
            raise AttributeError(n)
        return _absent_class(f"{self.__name__}.{n}")


class _AbsentFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec_):
        return _AbsentModule(spec_.name)

    def exec_module(self, module):
        module.__path__ = []


def _placeholders(names):
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - missing, or a broken build (CUDA-only wheel)
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]
            missing.append(f"{name} ({type(e).__name__}: {str(e)[:120]})")
    roots = [m.split(" ")[0] for m in missing]
    if roots:
        sys.meta_path.insert(0, _AbsentFinder(roots))
    placeholders.extend(missing)


import torch

torch.set_num_threads(int(spec["threads"]))
torch.manual_seed(0)


def matmul_peak(n, repeats):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b); torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return {"op": f"torch.mm float32 {n}x{n} @ {n}x{n}", "repeats": repeats, "best_s": round(min(times), 4),
            "gflop_per_s": round(2 * n ** 3 / min(times) / 1e9, 1),
            "gflop_per_s_median": round(2 * n ** 3 / statistics.median(times) / 1e9, 1)}


def build_bmsg(root, o):
    sys.path.insert(0, os.path.join(root, "sourcecode"))
    from torch.nn.functional import avg_pool2d
    from MSG_GAN.GAN import MSG_GAN
    from MSG_GAN import Losses as lses
    depth, latent, B = int(o["depth"]), int(o["latent"]), int(o["batch"])
    # sourcecode/train.py: use_eql True, use_ema True, ema_decay 0.999, Adam(lr 0.003, [0, 0.99]),
    # relativistic-hinge.
    gan = MSG_GAN(depth=depth, latent_size=latent, use_eql=True, use_ema=True, ema_decay=0.999,
                  device=torch.device("cpu"))
    gen_optim = torch.optim.Adam(gan.gen.parameters(), 0.003, [0.0, 0.99])
    dis_optim = torch.optim.Adam(gan.dis.parameters(), 0.003, [0.0, 0.99])
    loss_fn = lses.RelativisticAverageHingeGAN(gan.dis)
    gan.gen.train(); gan.dis.train()  # MSG_GAN.train
    res = 4 * 2 ** (depth - 1)
    batch = torch.rand(B, 3, res, res) * 2 - 1

    def iteration():
        # MSG_GAN.train's loop body (GAN.py:411-444), logging and sampling left out.
        images = [batch] + [avg_pool2d(batch, int(2 ** i)) for i in range(1, depth)]
        images = list(reversed(images))
        gan_input = torch.randn(B, latent)
        gan_input = gan_input / gan_input.norm(dim=-1, keepdim=True) * (latent ** 0.5)
        gan.optimize_discriminator(dis_optim, gan_input, images, loss_fn)
        gan.optimize_generator(gen_optim, gan_input, images, loss_fn)

    params = {"generator": sum(p.numel() for p in gan.gen.parameters()),
              "discriminator": sum(p.numel() for p in gan.dis.parameters())}
    return iteration, params, {"batch": B, "depth": depth, "latent": latent}


def build_biggan(root, o):
    sys.path.insert(0, root)
    _placeholders(["torchvision", "h5py", "tqdm", "PIL"])
    import utils
    import train_fns
    B, d_steps = int(o["batch"]), int(o["d_steps"])
    # scripts/launch_cifar_ema.sh without --parallel (DataParallel is a no-op on a CPU) and
    # without the test/save intervals (left out).
    argv = ["--shuffle", "--batch_size", str(B), "--num_G_accumulations", "1",
            "--num_D_accumulations", "1", "--num_epochs", "500", "--num_D_steps", str(d_steps),
            "--G_lr", "2e-4", "--D_lr", "2e-4", "--dataset", "C10", "--G_ortho", "0.0",
            "--G_attn", "0", "--D_attn", "0", "--G_init", "N02", "--D_init", "N02",
            "--ema", "--use_ema", "--ema_start", "1000", "--seed", "0"]
    config = vars(utils.prepare_parser().parse_args(argv))
    # train.py run(): derived settings, then the models, EMA, G_D, z_/y_ and the train function.
    config["resolution"] = utils.imsize_dict[config["dataset"]]
    config["n_classes"] = utils.nclass_dict[config["dataset"]]
    config["G_activation"] = utils.activation_dict[config["G_nl"]]
    config["D_activation"] = utils.activation_dict[config["D_nl"]]
    torch.manual_seed(config["seed"])
    model = __import__(config["model"])
    G = model.Generator(**config)
    D = model.Discriminator(**config)
    G_ema = model.Generator(**{**config, "skip_init": True, "no_optim": True})
    ema = utils.ema(G, G_ema, config["ema_decay"], config["ema_start"])
    GD = model.G_D(G, D)
    state_dict = {"itr": 0, "epoch": 0, "save_num": 0, "save_best_num": 0, "best_IS": 0,
                  "best_FID": 999999, "config": config}
    G_batch_size = max(config["G_batch_size"], config["batch_size"])
    z_, y_ = utils.prepare_z_y(G_batch_size, G.dim_z, config["n_classes"], device="cpu",
                               fp16=config["G_fp16"])
    train = train_fns.GAN_training_function(G, D, GD, z_, y_, ema, state_dict, config)
    D_batch = config["batch_size"] * config["num_D_steps"] * config["num_D_accumulations"]
    x = torch.rand(D_batch, 3, config["resolution"], config["resolution"]) * 2 - 1
    y = torch.randint(0, config["n_classes"], (D_batch,))

    def iteration():
        # train.py's loop body (lines 171-184), logging / saving / testing left out.
        state_dict["itr"] += 1
        G.train(); D.train(); G_ema.train()
        train(x, y)

    params = {"generator": sum(p.numel() for p in G.parameters()),
              "discriminator": sum(p.numel() for p in D.parameters())}
    return iteration, params, {"batch": B, "d_steps": d_steps, "images_per_iter": D_batch}


def build_projected(root, o):
    sys.path.insert(0, root)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _placeholders(["torchvision", "PIL", "dill", "psutil", "click", "requests"])
    import timm
    feature = {"weights": "pretrained (timm)"}
    create = timm.create_model

    def create_model(name, pretrained=False, **kw):
        if not pretrained:
            return create(name, pretrained=False, **kw)
        try:
            return create(name, pretrained=True, **kw)
        except Exception as e:  # noqa: BLE001 - offline: random weights, recorded
            feature["weights"] = "random (timm pretrained weights unavailable: %s: %s)" % (
                type(e).__name__, str(e)[:160])
            return create(name, pretrained=False, **kw)

    timm.create_model = create_model
    import dnnlib
    from torch_utils import misc
    B, res = int(o["batch"]), int(o["resolution"])
    common = dict(c_dim=0, img_resolution=res, img_channels=3)
    # train.py --cfg fastgan_lite (L209-213, L227-249) and training_loop.py's construction.
    G = dnnlib.util.construct_class_by_name(
        class_name="pg_modules.networks_fastgan.Generator", cond=False,
        synthesis_kwargs=dnnlib.EasyDict(lite=True), **common).train().requires_grad_(False)
    D = dnnlib.util.construct_class_by_name(
        class_name="pg_modules.discriminator.ProjectedDiscriminator", diffaug=True,
        interp224=(res < 224), backbone_kwargs=dnnlib.EasyDict(
            cout=64, expand=True, proj_type=2, num_discs=4, separable=False, cond=False),
        **common).train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    loss = dnnlib.util.construct_class_by_name(class_name="training.loss.ProjectedGANLoss",
                                               device=torch.device("cpu"), G=G, G_ema=G_ema, D=D)
    phases = []
    for name, module, lr, reg_interval in [("G", G, 0.0002, None), ("D", D, 0.0002, 16)]:
        kw = dict(lr=lr, betas=[0.0, 0.99], eps=1e-8)  # train.py: [0, 0.99]; floats for torch 2
        if reg_interval is None:
            phases.append(dnnlib.EasyDict(name=name + "both", module=module, interval=1,
                                          opt=torch.optim.Adam(module.parameters(), **kw)))
        else:
            mb_ratio = reg_interval / (reg_interval + 1)
            kw["lr"] *= mb_ratio
            kw["betas"] = [b ** mb_ratio for b in kw["betas"]]
            opt = torch.optim.Adam(module.parameters(), **kw)
            phases.append(dnnlib.EasyDict(name=name + "main", module=module, opt=opt, interval=1))
            phases.append(dnnlib.EasyDict(name=name + "reg", module=module, opt=opt, interval=reg_interval))
    batch_size = batch_gpu = B
    ema_kimg, ema_rampup = batch_size * 10 / 32, 0.05
    real_uint8 = torch.randint(0, 256, (B, 3, res, res), dtype=torch.uint8)
    state = {"cur_nimg": 0, "batch_idx": 0}

    def iteration():
        # training_loop.py's loop body (lines 257-335), stats / snapshots / metrics left out.
        cur_nimg, batch_idx = state["cur_nimg"], state["batch_idx"]
        phase_real_img = (real_uint8.to(torch.float32) / 127.5 - 1).split(batch_gpu)
        phase_real_c = torch.zeros(B, 0).split(batch_gpu)
        all_gen_z = torch.randn([len(phases) * batch_size, G.z_dim])
        all_gen_z = [z.split(batch_gpu) for z in all_gen_z.split(batch_size)]
        all_gen_c = torch.zeros(len(phases) * batch_size, 0)
        all_gen_c = [c.split(batch_gpu) for c in all_gen_c.split(batch_size)]
        for phase, phase_gen_z, phase_gen_c in zip(phases, all_gen_z, all_gen_c):
            if batch_idx % phase.interval != 0:
                continue
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            if phase.name in ["Dmain", "Dboth", "Dreg"]:
                phase.module.feature_network.requires_grad_(False)
            for real_img, real_c, gen_z, gen_c in zip(phase_real_img, phase_real_c, phase_gen_z, phase_gen_c):
                loss.accumulate_gradients(phase=phase.name, real_img=real_img, real_c=real_c, gen_z=gen_z,
                                          gen_c=gen_c, gain=phase.interval, cur_nimg=cur_nimg)
            phase.module.requires_grad_(False)
            params = [p for p in phase.module.parameters() if p.grad is not None]
            if len(params) > 0:
                flat = torch.cat([p.grad.flatten() for p in params])
                misc.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
                grads = flat.split([p.numel() for p in params])
                for p, g in zip(params, grads):
                    p.grad = g.reshape(p.shape)
            phase.opt.step()
        with torch.no_grad():
            ema_nimg = ema_kimg * 1000
            if ema_rampup is not None:
                ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
            ema_beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        state["cur_nimg"] = cur_nimg + batch_size
        state["batch_idx"] = batch_idx + 1

    params = {"generator": sum(p.numel() for p in G.parameters()),
              "discriminator_trainable": sum(p.numel() for p in D.discriminator.parameters()),
              "feature_network": sum(p.numel() for p in D.feature_network.parameters())}
    return iteration, params, {"batch": B, "resolution": res, "feature_weights": feature}


def main():
    sys.path.insert(0, spec["bench_dir"])
    from train_bench import RssTrace  # the standard library only: the same trace as our side's
    rss = RssTrace()  # "start": after importing torch
    out = {"side": "official", "kind": spec["kind"], "torch": torch.__version__,
           "torch_threads": torch.get_num_threads()}
    out["matmul_peak"] = matmul_peak(int(spec["matmul_n"]), int(spec["matmul_repeats"]))
    build = {"bmsg": build_bmsg, "biggan": build_biggan, "projected": build_projected}[spec["kind"]]
    rss.mark("build")
    iteration, params, settings = build(spec["root"], spec)
    out.update(params=params, settings=settings)
    rss.mark("steps")
    t0 = time.perf_counter()
    iteration()
    out["first_iter_s"] = round(time.perf_counter() - t0, 2)
    for _ in range(int(spec["warmup"]) - 1):
        iteration()
    times = []
    for _ in range(int(spec["iters"])):
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    out["iter_s"] = [round(t, 4) for t in times]
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out.update(rss.memory())
    if spec.get("flops"):
        from torch.utils.flop_counter import FlopCounterMode
        try:
            counter = FlopCounterMode(display=False)
            with counter:
                iteration()
            out["flops_per_iter"] = {"conv_matmul": int(counter.get_total_flops()),
                                     "method": "torch.utils.flop_counter.FlopCounterMode over one "
                                               "iteration (convolutions and matrix products, fwd + bwd)"}
        except Exception as e:  # noqa: BLE001 - BigGAN's z_/y_ Distribution tensor subclass
            out["flops_per_iter"] = {"status": "error", "error": f"{type(e).__name__}: {str(e)[:300]}"}
    out["import_placeholders"] = placeholders
    out["status"] = "ok"
    return out


try:
    result = main()
except Exception as e:  # noqa: BLE001 - the parent reports it
    import traceback
    result = {"side": "official", "status": "error", "error": f"{type(e).__name__}: {e}",
              "traceback": traceback.format_exc()[-3000:], "import_placeholders": placeholders}
print(RESULT_PREFIX + json.dumps(result), flush=True)
'''


# --- parent -------------------------------------------------------------------------------------
def find_official(root: str, name: str, single: bool) -> str:
    """The checkout of configuration ``name``'s official code under ``root`` (or ``root`` itself)."""
    off = CONFIGS[name]["official"]
    if not os.path.isdir(root):
        raise BenchError(f"--official {root!r} is not a directory. Get the official code with "
                         f"`git clone https://github.com/{off['names'][-1].replace('+', '/')}` (see "
                         "the docstring of benchmarks/official_bench.py for all three)")
    candidates = ([root] if single else []) + [os.path.join(root, n) for n in off["names"]]
    for c in candidates:
        if os.path.isfile(os.path.join(c, off["marker"])):
            return os.path.abspath(c)
    raise BenchError(f"no official checkout for {name!r} under {root!r}: looked for "
                     f"{off['marker']} in {', '.join(candidates)}; clone "
                     f"https://github.com/{off['names'][-1].replace('+', '/')} there")


def _run(cmd: list[str], timeout_s: float, what: dict) -> dict:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        tail = e.stderr or b""
        tail = (tail.decode(errors="replace") if isinstance(tail, bytes) else tail)[-1500:]
        return {**what, "status": "error", "error": f"timed out after {timeout_s:.0f} s", "stderr_tail": tail}
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if not lines:
        return {**what, "status": "error", "error": f"worker exited {proc.returncode} without a result",
                "stderr_tail": proc.stderr[-2000:]}
    result = {**what, **json.loads(lines[-1][len(RESULT_PREFIX):])}
    result["process_s"] = round(time.perf_counter() - t0, 1)
    return result


def run_ours(spec: dict, timeout_s: float) -> dict:
    return _run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)], timeout_s,
                {"side": "ours", "preset": spec["ours"]["preset"]})


def run_official(python: str, driver: str, spec: dict, timeout_s: float) -> dict:
    return _run([python, driver, json.dumps(spec)], timeout_s, {"side": "official", "kind": spec["kind"]})


# RssTrace phases that build the networks and optimizers (ours: "build", "fit_setup"; the
# official driver: "build"); every phase after them runs training iterations.
BUILD_PHASES = ("build", "fit_setup")


def memory_by_owner(run: dict) -> dict | None:
    """Where one process's peak memory went (MiB), from its ``RssTrace.memory()``.

    ``libraries_file``: resident pages of shared libraries (the framework's code, read from
    disk); ``import_anon``: what the imports (and the matmul peak) allocated; ``build_anon``:
    what building the networks, the optimizers and the EMA copy added; ``steps_anon``: what
    the training iterations added on top (activations, gradients, the framework's runtime).
    Ours also splits ``steps_anon`` by TensorFlow's CPU allocator into ``steps_tensors`` (its
    peak in the steps less the tensors live after building) and ``steps_other`` (the rest: the
    traced graph, graph optimization, the executor, allocator pools).
    """
    anon = run.get("anon_peak_mib_by_phase")
    if not anon or "start" not in anon:
        return None
    start = anon["start"]
    built = max([anon[p] for p in BUILD_PHASES if p in anon] + [start])
    steps = max([v for p, v in anon.items() if p != "start" and p not in BUILD_PHASES] + [built])
    out = {"libraries_file": run.get("file_peak_mib"), "import_anon": start,
           "build_anon": round(built - start, 1), "steps_anon": round(steps - built, 1)}
    tensors = run.get("tensor_mib")
    if tensors:
        out["steps_tensors"] = round(tensors["peak_in_steps"] - tensors["live_after_build"], 1)
        out["steps_other"] = round(out["steps_anon"] - out["steps_tensors"], 1)
    return out


def _side_summary(runs: list[dict]) -> dict:
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return {"status": "error", "errors": [r.get("error") for r in runs]}
    times = [t for r in ok for t in r["iter_s"]]
    median = statistics.median(times)
    images = ok[0].get("images_per_iter") or ok[0]["settings"].get("images_per_iter")
    peak = max(ok, key=lambda r: r["peak_rss_mib"])
    out = {"status": "ok", "s_per_iter": round(median, 3), "images_per_iter": images,
           "img_per_s": round(images / median, 2), "iter_s_all": times,
           "peak_rss_mib": peak["peak_rss_mib"], "params": ok[0].get("params")}
    owners = memory_by_owner(peak)
    if owners:
        out["memory_by_owner_mib"] = owners  # of the process with the highest peak
    flops = next((r["flops_per_iter"] for r in ok if "flops_per_iter" in r), None)
    if flops is not None:
        out["flops_per_iter"] = flops
        if "conv_matmul" in flops:
            out["conv_matmul_gflop_per_s"] = round(flops["conv_matmul"] / median / 1e9, 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--official", help="folder holding the official checkouts (or one checkout)")
    parser.add_argument("--torch-python", help="a Python with torch (and timm for projected)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default 3)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per process (default 5)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="ours/official process pairs per configuration, alternating who goes first")
    parser.add_argument("--batch", type=int, help="override the batch of both sides (smoke runs; "
                                                  "not the table's settings)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--matmul-n", type=int, default=2048)
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP counts")
    parser.add_argument("--jit", action="store_true", help="ours with XLA (jit=true)")
    parser.add_argument("--joint-d", action="store_true",
                        help="ours: one D call on concat(real, fake) (GAN.joint_discriminator)")
    parser.add_argument("--profile", metavar="DIR", help="ours: profiler trace of extra iterations "
                                                         "into DIR and the time per op class")
    parser.add_argument("--profile-steps", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="one more config override for ours (repeatable), e.g. "
                             "mixed_precision=\"bfloat16\"; not the official settings")
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                        help="one more run of ours per configuration with these overrides (after "
                             "--set), reported under variants.NAME with its own ratios to the same "
                             "official runs, e.g. --variant bfloat16 mixed_precision='\"bfloat16\"'")
    parser.add_argument("--tiny", action="store_true", help="ours with the families' tiny networks (tests)")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per process")
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        try:
            result = worker_ours(spec)
        except Exception as e:  # noqa: BLE001 - the parent reports it
            result = {"status": "error", "error": f"{type(e).__name__}: {e}",
                      "traceback": traceback.format_exc()[-3000:]}
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    if args.warmup < 1 or args.iters < 1 or args.rounds < 1:
        parser.error("--warmup, --iters and --rounds must be >= 1")
    if args.batch is not None and args.batch < 1:
        parser.error("--batch must be >= 1")
    if (args.official is None) != (args.torch_python is None):
        parser.error("--official and --torch-python go together (the official code runs in the "
                     "torch Python)")
    if args.official and args.tiny:
        parser.error("--tiny changes our networks only: it cannot be compared with the official code")
    roots = {}
    if args.official:
        if not (os.path.isfile(args.torch_python) and os.access(args.torch_python, os.X_OK)):
            parser.error(f"--torch-python {args.torch_python!r} is not an executable file")
        try:
            for name in args.configs:
                roots[name] = find_official(args.official, name, single=len(args.configs) == 1)
        except BenchError as e:
            parser.error(str(e))
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)

    t_start = time.perf_counter()
    result = {"benchmark": "official", "machine": machine_info.machine(("tensorflow", "keras")),
              "settings": {"warmup": args.warmup, "iters": args.iters, "rounds": args.rounds,
                           "batch_override": args.batch, "torch_threads": args.threads,
                           "jit": args.jit, "joint_d": args.joint_d, "tiny": args.tiny, "ours_set": args.set,
                           "variants": {v[0]: v[1:] for v in args.variant},
                           "data": "random images (uniform in [-1, 1]; official projected_gan: uniform uint8 "
                                   "scaled as its loop does), no reader",
                           "timing": "median over the timed iterations of every process of a side; "
                                     "img/s = real images per iteration / s per iteration"},
              "configs": {}}
    matmul = {"tensorflow": [], "torch": []}
    others = []

    def note_contention(run):
        """Keep the CPU other processes used while this run timed (the contention record)."""
        cpu = run.get("cpu_during_timing") or {}
        if "other_processes_cores" in cpu:
            others.append(cpu["other_processes_cores"])

    with tempfile.TemporaryDirectory(prefix="official_bench_") as tmp:
        driver = os.path.join(tmp, "official_driver.py")
        with open(driver, "w") as f:
            f.write(OFFICIAL_DRIVER)
        for name in args.configs:
            cfg = CONFIGS[name]
            base = {"warmup": args.warmup, "iters": args.iters, "matmul_n": args.matmul_n,
                    "matmul_repeats": 5}
            ours_spec = {**base, "config": name, "ours": cfg["ours"], "jit": args.jit,
                         "joint_d": args.joint_d, "tiny": args.tiny, "batch": args.batch,
                         "flops": not args.no_flops, "profile": args.profile,
                         "profile_steps": args.profile_steps, "set": args.set}
            off = dict(cfg["official"])
            if args.batch:
                off["batch"] = args.batch
                off["images_per_iter"] = args.batch * int(off.get("d_steps", 1))
            off_spec = {**base, **off, "root": roots.get(name), "threads": args.threads,
                        "flops": not args.no_flops, "bench_dir": os.path.dirname(os.path.abspath(__file__))}
            runs = {"ours": [], "official": []}
            for r in range(args.rounds):
                order = ["ours", "official"] if r % 2 == 0 else ["official", "ours"]
                for side in order:
                    if side == "ours":
                        run = run_ours(ours_spec, args.timeout_s)
                    elif roots:
                        run = run_official(args.torch_python, driver, off_spec, args.timeout_s)
                        if run.get("status") == "ok":
                            run["images_per_iter"] = off["images_per_iter"]
                    else:
                        continue
                    runs[side].append(run)
                    if "matmul_peak" in run:
                        matmul["tensorflow" if side == "ours" else "torch"].append(run["matmul_peak"]["gflop_per_s"])
                    note_contention(run)
            entry = {"description": cfg["description"], "ours": _side_summary(runs["ours"]), "runs": runs}
            for vname, *sets in args.variant:
                vruns = []
                for _ in range(args.rounds):
                    vruns.append(run_ours({**ours_spec, "set": [*args.set, *sets], "flops": False},
                                          args.timeout_s))
                    note_contention(vruns[-1])
                entry.setdefault("variants", {})[vname] = {"set": sets, "ours": _side_summary(vruns),
                                                           "runs": vruns}
            if roots:
                entry["official"] = t = _side_summary(runs["official"])
                flops = (entry["ours"].get("flops_per_iter") or {}).get("conv_matmul")
                if t.get("status") == "ok" and flops and "conv_matmul_gflop_per_s" not in t:
                    # The same networks (parameter counts equal): our count over their time.
                    t["conv_matmul_gflop_per_s_from_our_flops"] = round(flops / t["s_per_iter"] / 1e9, 2)
                for side in [entry, *entry.get("variants", {}).values()]:
                    o = side["ours"]
                    if o.get("status") == "ok" and t.get("status") == "ok":
                        side["ours_over_official"] = {
                            "img_per_s": round(o["img_per_s"] / t["img_per_s"], 3),
                            "s_per_iter": round(o["s_per_iter"] / t["s_per_iter"], 3),
                            "peak_rss": round(o["peak_rss_mib"] / t["peak_rss_mib"], 3)}
                        mo, mt = o.get("memory_by_owner_mib"), t.get("memory_by_owner_mib")
                        if mo and mt:
                            side["ours_minus_official_memory_mib"] = {
                                k: round(mo[k] - mt[k], 1) for k in mt if mo.get(k) is not None
                                and mt[k] is not None}
            result["configs"][name] = entry
    result["matmul_peak"] = {
        "tensorflow_gflop_per_s": max(matmul["tensorflow"]) if matmul["tensorflow"] else None,
        "torch_gflop_per_s": max(matmul["torch"]) if matmul["torch"] else None,
        "samples": matmul, "n": args.matmul_n,
        "note": "best of 5 products in each process of the run (TF in ours, torch in the official ones)"}
    if matmul["tensorflow"] and matmul["torch"]:
        result["matmul_peak"]["tensorflow_over_torch"] = round(max(matmul["tensorflow"]) / max(matmul["torch"]), 3)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result["contention"] = {"other_processes_cores_during_our_timings": others,
                            "load_average_at_end": [round(x, 2) for x in load] if load else None,
                            "note": "CPU used by other processes while our iterations ran; above ~0.2 "
                                    "cores on 2 cores the numbers are disturbed"}
    result["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
