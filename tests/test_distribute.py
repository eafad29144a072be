"""Strategy selection (distribute.py) and distributed training on CPU.

- two local worker processes under ``MultiWorkerMirroredStrategy`` (TF_CONFIG on 127.0.0.1):
  the chief writes the run, the other worker nothing lasting, both end with the same weights,
  each reads its own shards; a resume of such a run continues exactly;
- ``--replicas 2``: ``MirroredStrategy`` over 2 logical CPU devices, end to end through the CLI;
- ``make_strategy`` / ``is_chief`` / ``xla_supported`` / TF_CONFIG errors.

Multi-replica runs need fresh processes (logical devices and collectives are configured before
TensorFlow starts), so they run in subprocesses, CPU only.
"""

import json
import os
import socket
import subprocess
import sys
import time
import types

import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from keras_gans.errors import UsageError
from keras_gans.training import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "scripts", "multiworker_train.py")
N_IMAGES, N_SHARDS = 1024, 4  # 4 contiguous shards of 256: key index // 256 = shard
# Not deterministic=true: on CPU these runs are bit-reproducible without it (checked), and op
# determinism makes them 2.5x slower. Add it if the exact-resume comparison ever flakes.
TINY = ["total_kimg=0.5", "tick_kimg=0.25", "model.base_filters=8", "batch=16"]
TOTAL_IMAGES = 512  # 0.5 kimg in whole steps of 16: ceil(500 / 16) * 16
TIMEOUT_S = 240


def _env(**extra):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    images, labels = mnist32(N_IMAGES)
    d = str(tmp_path_factory.mktemp("mnist32"))
    write_dataset(d, images, labels, num_shards=N_SHARDS)
    return d


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def run_workers(tmp_path, name, data_dir, runs_dirs, overrides, timeout=TIMEOUT_S):
    """Start one process per worker (TF_CONFIG on 127.0.0.1), wait for all of them; if any fails
    or the time runs out, kill the others (a lone worker would wait forever in a collective)."""
    ports = free_ports(len(runs_dirs))
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, logs, outs = [], [], []
    for i, runs_dir in enumerate(runs_dirs):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        outs.append(str(tmp_path / f"{name}-worker{i}.json"))
        logs.append(open(tmp_path / f"{name}-worker{i}.log", "w+"))
        procs.append(subprocess.Popen(
            [sys.executable, SCRIPT, data_dir, str(runs_dir), outs[-1], *overrides],
            stdout=logs[-1], stderr=subprocess.STDOUT, cwd=ROOT, env=_env(TF_CONFIG=tf_config)))
    deadline = time.monotonic() + timeout
    failed = None
    try:
        while any(p.poll() is None for p in procs):
            bad = [i for i, p in enumerate(procs) if p.poll() not in (None, 0)]
            if bad:
                failed = f"worker {bad[0]} exited with {procs[bad[0]].returncode}"
                break
            if time.monotonic() > deadline:
                failed = f"timed out after {timeout} s"
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    texts = []
    for f in logs:
        f.seek(0)
        texts.append(f.read())
        f.close()
    if failed is None and any(p.returncode for p in procs):
        failed = "exit codes " + ", ".join(str(p.returncode) for p in procs)
    assert failed is None, failed + "".join(
        f"\n--- worker {i} (last lines) ---\n{t[-3000:]}" for i, t in enumerate(texts))
    return [json.load(open(o)) for o in outs]


def shard_of(key):
    return int(key.rsplit("/", 1)[1]) // (N_IMAGES // N_SHARDS)


@pytest.fixture(scope="module")
def two_workers(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multiworker")
    runs = [tmp / "runs0", tmp / "runs1"]
    t0 = time.monotonic()
    results = run_workers(tmp, "full", data_dir, runs, TINY)
    print(f"2-worker training: {time.monotonic() - t0:.1f} s")
    return tmp, runs, results


def test_two_workers_train_like_one_model(two_workers):
    _, (runs0, runs1), (chief, worker) = two_workers
    for r in (chief, worker):
        assert r["strategy"] == "CollectiveAllReduceStrategy"
        assert r["replicas"] == 2
        assert r["images_seen"] == TOTAL_IMAGES
        # the global batch is the per-replica batch times the 2 replicas (one per worker)
        assert any("global batch 16 (= 8 per replica x 2)" in line for line in r["log"]), r["log"][:3]
    assert chief["chief"] and not worker["chief"]
    # Synchronous data parallelism: the trained weights are bit-identical on both workers.
    for net in ("generator", "ema_generator", "discriminator"):
        assert chief[net] == worker[net], net
    # Only BatchNorm moving statistics may differ: Keras 3 keeps them per replica (each replica's
    # copy follows its own batches; the chief's checkpoint holds the chief's).
    differ = {k for k in chief["non_trainable"] if chief["non_trainable"][k] != worker["non_trainable"][k]}
    assert all(k.endswith(("/moving_mean", "/moving_variance")) for k in differ), differ
    # The checkpoint holds the trained weights.
    assert chief["checkpoint_generator"] == chief["generator"]


def test_only_the_chief_writes_the_run(two_workers):
    _, (runs0, runs1), (chief, worker) = two_workers
    run_dir = chief["run_dir"]
    assert os.path.dirname(run_dir) == str(runs0) and os.path.basename(run_dir).startswith("00001-dcgan")
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["batch"] == 16
    ckpt = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    assert ckpt is not None and ckpt.endswith(f"ckpt-{TOTAL_IMAGES}")  # counter = images seen
    reader = tf.train.load_checkpoint(ckpt)
    assert int(reader.get_tensor("images_seen/.ATTRIBUTES/VARIABLE_VALUE")) == TOTAL_IMAGES
    samples = sorted(os.listdir(os.path.join(run_dir, "samples")))
    assert samples == ["fakes000000000.png", "fakes000000256.png", "fakes000000512.png"]
    metrics = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert [m["kimg"] for m in metrics] == [0.256, 0.512]
    assert any(n.startswith("events.out") for n in os.listdir(os.path.join(run_dir, "tb")))
    info = json.load(open(os.path.join(run_dir, "run.json")))
    assert info["status"] == "finished" and info["replicas"] == 2
    assert info["strategy"].startswith("MultiWorkerMirroredStrategy over 2 workers (this is worker 0), "
                                       "2 replica(s) on /job:worker/replica:0/task:0/device:CPU:0")
    # The other worker wrote nothing in its runs dir, and its private checkpoints are gone.
    assert not os.path.exists(runs1) or os.listdir(runs1) == []
    assert not worker["run_dir_exists"] and "not the chief" in worker["log"][0]


def test_each_worker_reads_its_own_shards(two_workers):
    _, _, (chief, worker) = two_workers
    shards = [{shard_of(k) for k in r["keys"]} for r in (chief, worker)]
    assert len(chief["keys"]) == len(worker["keys"]) == 8 * 8  # 8 batches of 8 per replica
    assert not set(chief["keys"]) & set(worker["keys"])
    assert not shards[0] & shards[1] and len(shards[0]) == len(shards[1]) == 2, shards  # file-level


def test_two_workers_resume_exactly(two_workers, data_dir):
    """Half the run, then `resume` on both workers (every worker restores the chief's checkpoint):
    the same weights as the uninterrupted run."""
    tmp, _, (straight, _) = two_workers
    runs = [tmp / "half0", tmp / "half1"]
    half = TINY[1:] + ["total_kimg=0.25"]
    first, _ = run_workers(tmp, "half", data_dir, runs, half)
    assert first["images_seen"] == TOTAL_IMAGES // 2
    resumed = run_workers(tmp, "resume", data_dir, runs, TINY + [f"--resume={first['run_dir']}"])
    for r in resumed:
        assert r["images_seen"] == TOTAL_IMAGES
        assert any("resumed from" in line for line in r["log"]), r["log"][:4]
        for net in ("generator", "ema_generator", "discriminator"):
            assert r[net] == straight[net], net
    assert resumed[0]["run_dir"] == first["run_dir"]
    assert tf.train.latest_checkpoint(os.path.join(first["run_dir"], "checkpoints")).endswith(
        f"ckpt-{TOTAL_IMAGES}")
    assert not os.path.exists(runs[1]) or os.listdir(runs[1]) == []


def test_two_replica_training_through_the_cli(data_dir, tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "keras_gans.cli", "train", "--preset", "dcgan-mnist32", "--data", data_dir,
         "--runs-dir", str(runs), "--kimg", "0.5", "--replicas", "2", "--set", "tick_kimg=0.25",
         "--set", "model.base_filters=8", "--set", "batch=16"],
        capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "MirroredStrategy, 2 replica(s)" in proc.stdout
    assert "global batch 16 (= 8 per replica x 2)" in proc.stdout
    (run_dir,) = [runs / n for n in os.listdir(runs)]
    info = json.load(open(run_dir / "run.json"))
    assert info["replicas"] == 2 and info["status"] == "finished" and info["kimg"] == TOTAL_IMAGES / 1000
    assert "MirroredStrategy, 2 replica(s)" in info["strategy"]
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith(f"ckpt-{TOTAL_IMAGES}")


MAKE_STRATEGY_2 = """
import json
import tensorflow as tf
from keras_gans.errors import UsageError
from keras_gans.training import distribute
s = distribute.make_strategy(2)
again = distribute.make_strategy(2)  # the CPU is already split in 2: reuse it
try:
    distribute.make_strategy(3)
    late = None
except UsageError as e:
    late = str(e)
print(json.dumps({"type": type(s).__name__, "replicas": s.num_replicas_in_sync,
                  "devices": list(s.extended.worker_devices), "again": again.num_replicas_in_sync,
                  "describe": distribute.describe(s), "xla": distribute.xla_supported(s),
                  "chief": distribute.is_chief(s), "multi_worker": distribute.is_multi_worker(s),
                  "late": late}))
"""


def test_make_strategy_splits_the_cpu_into_replicas():
    proc = subprocess.run([sys.executable, "-c", MAKE_STRATEGY_2], capture_output=True, text=True,
                          timeout=TIMEOUT_S, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["type"] == "MirroredStrategy" and r["replicas"] == 2 and r["again"] == 2
    assert [d.rsplit("/", 1)[1] for d in r["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert r["describe"].startswith("MirroredStrategy, 2 replica(s) on ")
    ok, why = r["xla"]
    assert not ok and "XLA is off" in why and "CPU" in why
    assert r["chief"] and not r["multi_worker"]
    assert r["late"] and "after TensorFlow started" in r["late"]


@pytest.fixture
def no_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="CPU-only behaviour")
def test_default_strategy_on_cpu(no_tf_config, monkeypatch):
    s = distribute.make_strategy(0)
    assert s is tf.distribute.get_strategy() and s.num_replicas_in_sync == 1
    assert distribute.describe(s) == "default strategy, 1 replica(s)"
    assert distribute.is_chief(s) and not distribute.is_multi_worker(s)
    assert distribute.xla_supported(s) == (True, "")
    # a TF_CONFIG naming one worker is no cluster
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert distribute.make_strategy(0).num_replicas_in_sync == 1


def test_bad_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UsageError, match="TF_CONFIG is not valid JSON"):
        distribute.make_strategy(0)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(UsageError, match="replicas applies to a single machine"):
        distribute.make_strategy(2)


def _with_resolver(cluster, task_type, task_id):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize("cluster, task_type, task_id, chief", [
    ({"worker": ["a:1", "b:1"]}, "worker", 0, True),
    ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
    ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, "chief", 0, True),
    ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, "worker", 0, False),
    ({"worker": ["a:1", "b:1"]}, None, None, True),  # a resolver without a task: no cluster role
])
def test_is_chief(cluster, task_type, task_id, chief):
    assert distribute.is_chief(_with_resolver(cluster, task_type, task_id)) is chief


def test_is_chief_without_a_cluster():
    assert distribute.is_chief(tf.distribute.get_strategy())
    assert distribute.is_chief(types.SimpleNamespace())


def test_xla_refused_for_several_replicas_on_cpu():
    ok, why = distribute.xla_supported(types.SimpleNamespace(num_replicas_in_sync=2))
    if tf.config.list_physical_devices("GPU"):
        assert (ok, why) == (True, "")  # XLA under a strategy works on GPUs
    else:
        assert not ok and "jit_compile" in why and "CPU" in why
    assert distribute.xla_supported(types.SimpleNamespace(num_replicas_in_sync=1)) == (True, "")


def test_multi_worker_fixes_leave_other_strategies_alone():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    before = (tf_trainer.TensorFlowTrainer._maybe_symbolic_build, tf_trainer.reduce_per_replica)
    s = tf.distribute.get_strategy()
    distribute.patch_keras_for_strategy(s)
    assert (tf_trainer.TensorFlowTrainer._maybe_symbolic_build, tf_trainer.reduce_per_replica) == before
    with distribute.static_batches(s):
        assert not hasattr(s.extended, "enable_partial_batch_handling")


def test_bfloat16_hint_only_for_float32_on_a_bfloat16_cpu(tmp_path):
    with_bf16, without = tmp_path / "bf16", tmp_path / "plain"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n")
    hint = distribute.bfloat16_hint("none", str(with_bf16))
    assert hint and "--mixed-precision bfloat16" in hint
    assert distribute.bfloat16_hint("bfloat16", str(with_bf16)) is None
    assert distribute.bfloat16_hint("none", str(without)) is None
    assert distribute.bfloat16_hint("none", str(tmp_path / "missing")) is None
