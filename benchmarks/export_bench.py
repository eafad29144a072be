"""Export benchmark: seconds and peak RSS of ``keras-gans export`` per preset, optionally beside a
baseline checkout of keras-gans (before/after a change, measured alternately in one run).

For each preset (default: ``projected-mnist32`` and ``biggan-mnist32``) it prepares 64 bundled
digits at 32x32, trains a short run with this checkout (Projected GAN with random frozen
features: no weights file needed), then exports the run in fresh processes, alternating this
checkout and the baseline (``--baseline PATH``: another keras-gans source tree, e.g. a
``git worktree add /tmp/before <commit>``), ``--repeats`` times each. Each export process reports
its wall time (import to SavedModel written) and peak RSS (``VmHWM``). The run directory format
is shared, so both read the same checkpoint.

Prints one JSON object: ``machine``, and per preset the median / min / max seconds and peak RSS of
each side and the ratios baseline/ours.

Run: ``python benchmarks/export_bench.py [--baseline PATH] [--repeats 3] [--presets NAME ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import machine_info  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_EXPORT = r"""
import os, sys, time
t0 = time.time()
sys.path.insert(0, sys.argv[1])
from keras_gans import cli
rc = cli.main(["export", sys.argv[2], "--name", "bench", "--out", sys.argv[3]])
seconds = time.time() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print("RESULT", rc, seconds, int(hwm) / 1024)
"""

_TRAIN = r"""
import sys
sys.path.insert(0, sys.argv[1])
from keras_gans.training import config as config_lib, loop
overrides = sys.argv[4:]
cfg = config_lib.resolve(sys.argv[2], overrides)
print("RUN", loop.train(cfg, sys.argv[3], runs_dir=sys.argv[3] + "-runs", log=lambda *a: None))
"""

TRAIN_OVERRIDES = {
    "projected-mnist32": ["model.backbone_weights=\"random\"", "batch=16", "total_kimg=0.032",
                          "tick_kimg=0.032"],
    "biggan-mnist32": ["batch=16", "total_kimg=0.032", "tick_kimg=0.032"],
}


def _python(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-3000:])
    return proc.stdout


def prepare_data(tmp: str) -> str:
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from helpers.datasets import mnist32, write_dataset

    data = os.path.join(tmp, "digits")
    write_dataset(data, *mnist32(64), num_shards=1)
    return data


def export_once(checkout: str, run_dir: str, out: str) -> dict:
    line = [x for x in _python(_EXPORT, checkout, run_dir, out).splitlines() if x.startswith("RESULT")][0]
    _, rc, seconds, rss = line.split()
    if rc != "0":
        raise RuntimeError(f"export exited {rc}")
    return {"seconds": float(seconds), "peak_rss_mib": float(rss)}


def _stats(samples: list[dict], key: str) -> dict:
    values = [s[key] for s in samples]
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="another keras-gans source tree to compare against")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", nargs="+", default=sorted(TRAIN_OVERRIDES))
    args = parser.parse_args()
    result = {"benchmark": "export", "machine": machine_info.machine(("tensorflow", "keras")),
              "baseline": os.path.abspath(args.baseline) if args.baseline else None,
              "repeats": args.repeats, "presets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(tmp)
        for preset in args.presets:
            out = _python(_TRAIN, ROOT, preset, data, *TRAIN_OVERRIDES.get(preset, []))
            run_dir = [x for x in out.splitlines() if x.startswith("RUN ")][0][4:]
            sides = {"ours": ROOT, **({"baseline": args.baseline} if args.baseline else {})}
            samples = {name: [] for name in sides}
            for i in range(args.repeats):
                for name, checkout in sides.items():  # alternating: drift hits both alike
                    samples[name].append(export_once(checkout, run_dir, os.path.join(tmp, f"m-{name}-{i}")))
            entry = {name: {"seconds": _stats(s, "seconds"), "peak_rss_mib": _stats(s, "peak_rss_mib")}
                     for name, s in samples.items()}
            if args.baseline:
                entry["baseline_over_ours"] = {
                    key: round(entry["baseline"][key]["median"] / entry["ours"][key]["median"], 2)
                    for key in ("seconds", "peak_rss_mib")}
            result["presets"][preset] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
