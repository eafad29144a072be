"""benchmarks/train_bench.py: its memory trace, the --baseline usage errors, and (slow) one
before/after pair."""

import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import train_bench  # noqa: E402


def test_rss_trace_keeps_the_peak_of_each_phase():
    trace = train_bench.RssTrace(interval=0.01)
    trace.mark("alloc")
    block = bytearray(64 * 2**20)  # 64 MiB, touched
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.05)
    trace.mark("freed")
    del block
    time.sleep(0.05)
    peaks = trace.result()
    assert list(peaks) == ["start", "alloc", "freed"]
    assert peaks["alloc"] >= peaks["start"] + 60
    assert peaks["freed"] >= peaks["alloc"] - 1  # the mark samples once more before switching


def _bench(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "train_bench.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_baseline_usage_errors(tmp_path):
    proc = _bench("--baseline-set", "seed=1")
    assert proc.returncode == 2 and "--baseline-set needs --baseline" in proc.stderr
    proc = _bench("--baseline", str(tmp_path))
    assert proc.returncode == 2 and "no keras_gans package there" in proc.stderr


@pytest.mark.slow
def test_baseline_pair_on_this_tree():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "train_bench.py"), "--presets", "dcgan-mnist32",
         "--baseline", ROOT, "--baseline-set", "seed=1", "--measure-s", "2", "--warmup-steps", "2",
         "--warmup-s", "0.5", "--min-steps", "3"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    runs = out["presets"]["dcgan-mnist32"]["runs"]
    assert set(runs) == {"replicas_1_no_xla", "baseline_replicas_1_no_xla"}
    assert all(r["status"] == "ok" and r["keras_gans"] == ROOT for r in runs.values()), runs
    assert out["summary"]["dcgan-mnist32"]["ours_over_baseline"] > 0
    assert out["settings"]["baseline_set"] == ["seed=1"]
