"""The run directory: the one owner of its layout, numbering and records.

``keras-gans train`` writes one directory per run, ``RUNS_DIR/NNNNN-<arch>-<data>/``::

    config.json      the resolved TrainConfig (``--dry-run`` prints the same JSON)
    run.json         data directory and manifest summary, strategy, status, last checkpoint
    checkpoints/     tf.train checkpoints (every weight, optimizer slot and counter)
    best/            the best checkpoint by the in-training eval metric (when ``eval`` is on)
    metrics.jsonl    one JSON record per tick (losses, lr, kimg) and per evaluation
    samples/         PNG grids from fixed latents, ``fakes<images seen, 9 digits>.png``
    tb/              TensorBoard event files

Every other module asks this one for these names; none spells them. Numbers count up from the
largest existing one, and ``latest`` is the run with the largest number.
"""

from __future__ import annotations

import json
import os
import re

from keras_gans.errors import UsageError

CONFIG = "config.json"
INFO = "run.json"
CHECKPOINTS = "checkpoints"
BEST = "best"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
TENSORBOARD = "tb"
LATEST = "latest"

_RUN_RE = re.compile(r"^(\d{5})-")


def config_path(run_dir: str) -> str:
    return os.path.join(run_dir, CONFIG)


def info_path(run_dir: str) -> str:
    return os.path.join(run_dir, INFO)


def checkpoints_dir(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS)


def best_dir(run_dir: str) -> str:
    return os.path.join(run_dir, BEST)


def metrics_path(run_dir: str) -> str:
    return os.path.join(run_dir, METRICS)


def samples_dir(run_dir: str) -> str:
    return os.path.join(run_dir, SAMPLES)


def sample_path(run_dir: str, images_seen: int) -> str:
    """The training grid written at ``images_seen`` images."""
    return os.path.join(run_dir, SAMPLES, f"fakes{int(images_seen):09d}.png")


def tensorboard_dir(run_dir: str) -> str:
    return os.path.join(run_dir, TENSORBOARD)


# --- numbering ------------------------------------------------------------------------------
def _numbered(runs_dir: str) -> list[str]:
    names = os.listdir(runs_dir) if os.path.isdir(runs_dir) else []
    return sorted(n for n in names if _RUN_RE.match(n))


def new_run_dir(runs_dir: str, arch: str, data_name: str) -> str:
    """Create and return ``runs_dir/NNNNN-<arch>-<data>`` with the next free number."""
    os.makedirs(runs_dir, exist_ok=True)
    numbers = [int(_RUN_RE.match(n).group(1)) for n in _numbered(runs_dir)]
    path = os.path.join(runs_dir, f"{max(numbers, default=0) + 1:05d}-{arch}-{data_name or 'data'}")
    os.makedirs(path)
    return path


def latest_run_dir(runs_dir: str) -> str:
    runs = _numbered(runs_dir)
    if not runs:
        raise UsageError(f"no runs in {runs_dir} (`latest` names the newest NNNNN-* run there)")
    return os.path.join(runs_dir, runs[-1])


def resolve(run: str, runs_dir: str = "runs") -> str:
    """``run`` as a directory: ``latest`` is the newest run in ``runs_dir``."""
    return latest_run_dir(runs_dir) if run == LATEST else run


# --- records --------------------------------------------------------------------------------
def is_run_dir(path: str) -> bool:
    return os.path.exists(info_path(path))


def check_run_dir(run_dir: str) -> None:
    """A UsageError naming what is missing unless ``run_dir`` is a run that has started."""
    if not os.path.isdir(run_dir):
        raise UsageError(f"run directory {run_dir} does not exist")
    for path in (config_path(run_dir), info_path(run_dir)):
        if not os.path.exists(path):
            raise UsageError(f"{run_dir} is not a keras-gans run directory (no "
                             f"{os.path.basename(path)}); pass a runs/NNNNN-<arch>-<data>/ folder "
                             "written by `keras-gans train`")


def read_config(run_dir: str) -> dict:
    """The run's ``config.json`` as a dict (``TrainConfig.from_dict`` makes it a config)."""
    path = config_path(run_dir)
    if not os.path.exists(path):
        raise UsageError(f"{run_dir}: no {CONFIG}; not a keras-gans run directory")
    with open(path) as f:
        return json.load(f)


def write_config(run_dir: str, config_json: str) -> None:
    with open(config_path(run_dir), "w") as f:
        f.write(config_json)


def read_info(run_dir: str) -> dict:
    """The run's ``run.json`` ({} before the run wrote one)."""
    path = info_path(run_dir)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_info(run_dir: str, info: dict) -> None:
    with open(info_path(run_dir), "w") as f:
        json.dump(info, f, indent=2)


def data_manifest(run_dir: str) -> dict:
    """The manifest summary the run recorded when it started (resolution, channels, labels...)."""
    info = read_info(run_dir)
    if "data_manifest" not in info:
        raise UsageError(f"{run_dir} has no {INFO} with its data manifest; not a keras-gans run "
                         "directory, or its training never started")
    return info["data_manifest"]


def append_metrics(run_dir: str, record: dict) -> None:
    """One JSON line; a line a crash left unterminated is closed first, so it costs only itself."""
    path = metrics_path(run_dir)
    with open(path, "a+b") as f:
        end = f.tell()
        if end:
            f.seek(end - 1)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write((json.dumps(record) + "\n").encode())


def read_metrics(run_dir: str) -> list[dict]:
    """Every record of ``metrics.jsonl`` ([] when there is none); a line cut short by a crash
    is skipped (the records before it stand)."""
    path = metrics_path(run_dir)
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def latest_checkpoint(run_dir: str) -> str | None:
    """The newest checkpoint prefix in ``checkpoints/`` (None before the first snapshot)."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(checkpoints_dir(run_dir))
