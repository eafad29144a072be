"""Recipe evidence: does a change to a training recipe matter at small scale?

Trains one preset on the bundled MNIST digits (32x32) for each *variant* (a list of ``--set``
overrides), with the same seeds and length, and reports for each run the Fréchet distance
between 500 EMA samples and the 500 first validation digits in the feature space of the digit
classifier (``keras_gans.metrics.classifier``, penultimate layer; the measure of the slow
tests ``test_cpu_run_moves_samples_away_from_noise``), the distance of the untrained
generator (the same measure at 64 images of training), and for conditional models the
classifier's accuracy on samples of requested classes (50 per class).

The "before" side of a change that is not a config switch is measured by running this same
script against an older checkout: ``PYTHONPATH=/path/to/old/checkout python
benchmarks/recipe_evidence.py ...`` (it only uses ``config.resolve``, ``loop.train``,
``checkpoint.restore_gan`` and the classifier, which every version since session 3 has).
``keras_gans.__file__`` is printed so the JSON says which code ran.

Prints ONE JSON object on stdout (progress goes to stderr). Examples::

    python benchmarks/recipe_evidence.py --preset msgstylegan-mnist32 --kimg 20 \\
        --variant joint 'regularizers=[{"type": "r1", "gamma": 10, "scales": "joint"}]' \\
        --variant mean ''
    python benchmarks/recipe_evidence.py --preset progan-mnist32 --kimg 30 \\
        --set conditional=true --variant sample fake_labels=sample --variant real fake_labels=real
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
if not os.environ.get("PYTHONPATH"):  # an explicit PYTHONPATH picks the checkout under test
    sys.path.insert(0, os.path.dirname(_HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import machine_info  # noqa: E402
import numpy as np  # noqa: E402


def _log(*args):
    print(*args, file=sys.stderr, flush=True)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets (float64 NumPy)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s_a) + np.trace(s_b)
                 - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))


def _samples(run: str, n: int = 500, labels=None) -> np.ndarray:
    import tensorflow as tf

    from keras_gans.training import checkpoint as ckpt_lib

    gan, _ = ckpt_lib.restore_gan(run)
    z = tf.random.stateless_normal([n, gan.latent_dim], seed=[1, 2])
    if gan.num_classes and labels is None:
        labels = np.arange(n) % gan.num_classes
    out = []
    for i in range(0, n, 100):
        lab = None if labels is None else tf.constant(labels[i:i + 100], tf.int32)
        out.append(gan.sample(z[i:i + 100], lab).numpy())
    # generators' outputs may be linear: clip to the image range as an export does
    return np.clip(np.concatenate(out), -1, 1), gan.num_classes


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--kimg", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="override for every variant (repeatable)")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "SET"),
                        default=None, help="a variant: its name, then its --set overrides")
    parser.add_argument("--at", default=None, metavar="KIMG,KIMG,...",
                        help="also measure at these lengths (the run resumes from each; resume is "
                             "exact, so this is one run measured along the way)")
    parser.add_argument("--work-dir", default=None, help="keep data and runs here (default: temp)")
    args = parser.parse_args(argv)
    variants = args.variant or [["default"]]

    import keras_gans
    from keras_gans import data as data_lib
    from keras_gans.metrics import classifier as clf_lib
    from keras_gans.training import config as config_lib, loop
    from pipelines import prepare

    work = args.work_dir or tempfile.mkdtemp(prefix="recipe-evidence-")
    data_dir = os.path.join(work, "mnist32")
    if not os.path.exists(os.path.join(data_dir, "dataset.json")):
        prepare.prepare(prepare.PrepareOptions(source="mnist", out=data_dir, resolution=32),
                        log=lambda *a: None)
    clf = clf_lib.train_classifier(data_dir, seed=0)
    features = clf_lib.penultimate_features(clf)
    real = np.concatenate([b["image"].numpy() for b in data_lib.load_dataset(
        data_dir, "validation", 500, shuffle=False, repeat=False, drop_remainder=False)])[:500]
    f_real = features(real)
    # Runs stop at tick ends: the ticks are 1/5 of --kimg (at least 1 kimg), so a length in
    # --at that is not a multiple of the tick is passed by up to one tick (the JSON says where).
    milestones = sorted({float(k) for k in (args.at or "").split(",") if k.strip()} | {args.kimg})
    if milestones[0] <= 0 or milestones[-1] != args.kimg:
        parser.error(f"--at lengths must lie in (0, --kimg {args.kimg}]")
    results = []
    for name, *sets in variants:
        sets = [s for s in sets if s]
        for seed in args.seeds:
            common = [*args.sets, *sets, f"seed={seed}", "snapshot_ticks=1000", "sample_ticks=1000"]
            runs_dir = os.path.join(work, "runs", f"{name}-{seed}")
            start = loop.train(config_lib.resolve(args.preset, [*common, "total_kimg=0.064",
                                                                "tick_kimg=0.064"]),
                               data_dir, runs_dir=runs_dir + "-start", log=lambda *a: None)
            fake0, _ = _samples(start)
            _log(f"training {args.preset} [{name}] seed {seed} for {args.kimg} kimg")
            t0 = time.time()
            run, curve = None, []
            for kimg in milestones:
                cfg = config_lib.resolve(args.preset, [*common, f"total_kimg={kimg}",
                                                       f"tick_kimg={max(args.kimg / 5, 1.0)}"])
                run = loop.train(cfg, data_dir, runs_dir=runs_dir, resume=run, log=_log)
                if kimg != args.kimg:
                    fake, _ = _samples(run)
                    reached = json.load(open(os.path.join(run, "run.json")))["kimg"]
                    curve.append({"kimg": reached, "feature_frechet": round(
                        frechet_distance(features(fake), f_real), 2)})
                    _log(json.dumps(curve[-1]))
            seconds = time.time() - t0
            fake, classes = _samples(run)
            entry = {"variant": name, "sets": sets, "seed": seed, "kimg": args.kimg,
                     "train_s": round(seconds, 1),
                     "feature_frechet_start": round(frechet_distance(features(fake0), f_real), 2),
                     "feature_frechet_end": round(frechet_distance(features(fake), f_real), 2)}
            if curve:
                entry["feature_frechet_along"] = curve
            if classes:
                labels = np.repeat(np.arange(classes), 50)
                cond, _ = _samples(run, len(labels), labels)
                entry["requested_class_accuracy"] = round(
                    float(np.mean(clf_lib.predict_classes(clf, cond) == labels)), 4)
            _log(json.dumps(entry))
            results.append(entry)
    summary = {}
    for name, *_ in variants:
        mine = [r for r in results if r["variant"] == name]
        summary[name] = {"feature_frechet_end_mean": round(float(np.mean(
            [r["feature_frechet_end"] for r in mine])), 2)}
        if "requested_class_accuracy" in mine[0]:
            summary[name]["requested_class_accuracy_mean"] = round(float(np.mean(
                [r["requested_class_accuracy"] for r in mine])), 4)
    out = {"benchmark": "recipe_evidence", "preset": args.preset, "common_sets": args.sets,
           "code": os.path.dirname(os.path.abspath(keras_gans.__file__)),
           "machine": machine_info.machine(), "runs": results, "summary": summary}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
