"""Diversity benchmark: does MSGAN's mode-seeking term make conditional samples more diverse?

MSGAN (Mao et al. 2019, arXiv 1903.05628) reports the mean LPIPS distance between samples of the
same class; LPIPS's backbone weights are not available offline, so this measures the same
protocol with the mean pairwise pixel L1 distance and with the L1 distance between the
penultimate features of a digit classifier (``keras_gans.metrics``). Steps, all in one process:

1. prepare the bundled MNIST digits at 32x32 (``pipelines.prepare``, 4497 train / 503 validation);
2. train the digit classifier (``keras_gans.metrics.classifier.train_classifier``) and report its
   validation accuracy;
3. the real data's per-class diversity as reference: the first ``--per-class`` train images of
   each class, and all validation images of each class (held out from the classifier, so its
   feature distances there are not shrunk by fitting);
4. train ``cdcgan-mnist32`` and ``cdcgan-msgan-mnist32`` (the same plus the mode-seeking term,
   lambda 1) with the same seed(s) and length (``--kimg``), and ``biggan-mnist32`` with
   ``--biggan`` (ch 32 since session 2: about 15-40 img/s on 2 cores, 15-30 min for 30 kimg); for each, ``--per-class`` EMA samples per
   class from fixed latents (the same latents for every class and model): per-class pixel L1 and
   classifier-feature L1 diversity, pixel RMS (L2) diversity, and the classifier's accuracy on
   them (is the requested class produced), plus train img/s (overall, and the median tick
   after the first, which holds the tracing);
5. ``comparison``: with vs without mode seeking for each metric (mean over classes and seeds),
   their ratio, the real data's value, in how many classes the mode-seeking model is more
   diverse, and the diversity among the samples recognised as their requested class only
   (samples of other classes inflate a weakly conditioned model's per-class distance).

Prints ONE JSON object on stdout (progress goes to stderr). Run:
``python benchmarks/diversity_bench.py [--kimg 40] [--quick] [--seeds 0 1] [--biggan]``;
the default (2 seeds x 2 presets x 40 kimg) takes about 3-4 minutes on 2 CPU cores,
``--quick`` (10 kimg) about 1.5.

``--task image`` measures the same question for image-to-image translation (MSGAN's Table 2,
Pix2Pix vs Pix2Pix-MS), on the bundled edges -> digits pairs (``--source edges2digits``, the same
4497 / 503 digits, each with its edge map as the input):

1. prepare the pairs at 32x32 and train the digit classifier on their targets (as above);
2. train ``pix2pix-edges2digits32`` and ``pix2pix-ms-edges2digits32`` (the same plus the
   mode-seeking term, lambda 1) with the same seed(s) and length (default 3 kimg: batch 1, so
   3000 steps);
3. for each: ``--outputs-per-input`` K outputs for each of the first ``--inputs`` validation
   inputs, from K fixed latents (the same for every input and model); per-input diversity = the
   mean pairwise distance among the K outputs of one input (pixel L1, the classifier's feature
   L1, and LPIPS when its converted weights are installed), averaged over the inputs; fidelity =
   the Fréchet distance between the classifier features of all outputs and of the inputs'
   targets (``keras_gans.metrics.scores.fid_from_features``; train vs validation targets of the
   same count is reported for scale), the mean L1 distance of the outputs to their target, the
   best of K per input, and the classifier's accuracy on the outputs (is the target's digit
   drawn);
4. ``comparison``: MS vs baseline per metric (mean over seeds), ratio, per-seed ratios, and in how
   many inputs MS's outputs are more diverse; with ``--figures DIR`` one PNG per run: rows = 8
   inputs, columns = the input edge map, its target, then 8 outputs (8 latents, the same in every
   row).

``python benchmarks/diversity_bench.py --task image [--kimg 3] [--seeds 0 1] [--figures DIR]``
took 18 minutes on 2 CPU cores shared with two other trainings (2 seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import machine_info  # noqa: E402
import numpy as np  # noqa: E402

BASELINE, MODE_SEEKING, BIGGAN = "cdcgan-mnist32", "cdcgan-msgan-mnist32", "biggan-mnist32"
# --task image: pix2pix without and with the mode-seeking term (same recipe otherwise).
I2I_BASELINE, I2I_MODE_SEEKING = "pix2pix-edges2digits32", "pix2pix-ms-edges2digits32"


def _log(*args):
    print(*args, file=sys.stderr, flush=True)


def _round(d: dict, digits: int = 4) -> dict:
    return {str(k): (round(v, digits) if isinstance(v, float) else v) for k, v in d.items()}


def prepare_data(out_dir: str, source: str = "mnist") -> dict:
    from pipelines import prepare

    t0 = time.time()
    prepare.prepare(prepare.PrepareOptions(source=source, out=out_dir, resolution=32),
                    log=lambda *a: None)
    from keras_gans import data as data_lib
    return {"seconds": round(time.time() - t0, 1),
            "train": data_lib.num_examples(out_dir, "train"),
            "validation": data_lib.num_examples(out_dir, "validation")}


def diversity_block(sample_fn, num_classes, per_class, features_fn, clf, latent_note=None) -> dict:
    """Per-class pixel L1 / feature L1 diversity, pixel L2 mean, accuracy of the samples."""
    from keras_gans.metrics import classifier as clf_lib, diversity

    samples = {c: sample_fn(c, per_class) for c in range(num_classes)}
    cached = lambda c, n: samples[c][:n]  # noqa: E731
    pixel_l1 = diversity.per_class_diversity(cached, num_classes, per_class, metric="l1")
    pixel_l2 = diversity.per_class_diversity(cached, num_classes, per_class, metric="l2")
    feature_l1 = diversity.per_class_diversity(cached, num_classes, per_class, metric="l1",
                                               features_fn=features_fn)
    predicted = {c: clf_lib.predict_classes(clf, samples[c]) for c in range(num_classes)}
    acc = {c: float(np.mean(predicted[c] == c)) for c in range(num_classes)}
    # Diversity among the samples recognised as the requested class only: samples of other
    # classes (a weakly conditioned generator) inflate the per-class distance.
    recognised = {"pixel_l1": [], "feature_l1": []}
    for c in range(num_classes):
        keep = samples[c][predicted[c] == c]
        if len(keep) >= 2:
            recognised["pixel_l1"].append(diversity.mean_pairwise_distance(keep))
            recognised["feature_l1"].append(
                diversity.mean_pairwise_distance(keep, features_fn=features_fn))
    block = {"per_class": per_class,
             "pixel_l1": _round(pixel_l1), "feature_l1": _round(feature_l1),
             "pixel_l2_mean": round(pixel_l2["mean"], 4),
             "pixel_l1_recognised_mean": round(float(np.mean(recognised["pixel_l1"])), 4)
             if recognised["pixel_l1"] else None,
             "feature_l1_recognised_mean": round(float(np.mean(recognised["feature_l1"])), 4)
             if recognised["feature_l1"] else None,
             "accuracy": round(float(np.mean(list(acc.values()))), 4),
             "accuracy_per_class": _round(acc, 3)}
    if latent_note:
        block["latents"] = latent_note
    return block


def train_run(preset, seed, kimg, data_dir, runs_dir, tick=None, sample_ticks=1000):
    """Train ``preset`` for ``kimg`` with ``seed``; returns (the restored GAN, the run's record:
    preset, seed, length, times, img/s overall and steady (median tick after the first), final
    losses)."""
    from keras_gans.training import config as config_lib, checkpoint as ckpt_lib, loop

    tick = tick or max(kimg / 5, 1.0)
    cfg = config_lib.resolve(preset, [f"total_kimg={kimg}", f"tick_kimg={tick}", f"seed={seed}",
                                      "snapshot_ticks=1000", f"sample_ticks={sample_ticks}"])
    _log(f"training {preset} seed {seed} for {kimg} kimg")
    t0 = time.time()
    run = loop.train(cfg, data_dir, runs_dir, log=_log)
    wall = time.time() - t0
    with open(os.path.join(run, "run.json")) as f:
        info = json.load(f)
    ticks = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    rates = [t["img_per_s"] for t in ticks[1:]] or [t["img_per_s"] for t in ticks]
    gan, _ = ckpt_lib.restore_gan(run)
    return gan, {"preset": preset, "seed": seed, "kimg": info["kimg"], "run": run,
                 "train_s": info["seconds"], "wall_s": round(wall, 1),
                 "img_per_s": round(info["kimg"] * 1000 / info["seconds"], 1),
                 "img_per_s_steady": round(statistics.median(rates), 1),
                 "generator_params": int(gan.generator.count_params()),
                 "final_losses": {k: round(ticks[-1][k], 4)
                                  for k in ("d_loss", "g_loss", "reg_ms", "reg_l1")
                                  if k in ticks[-1]}}


def train_and_measure(preset, seed, kimg, data_dir, runs_dir, per_class, features_fn, clf,
                      latent_seed) -> dict:
    from keras_gans.metrics import diversity

    gan, record = train_run(preset, seed, kimg, data_dir, runs_dir)
    record.pop("run")
    t1 = time.time()
    block = diversity_block(diversity.gan_sample_fn(gan, seed=latent_seed), gan.num_classes,
                            per_class, features_fn, clf)
    return {**record, **block, "eval_s": round(time.time() - t1, 1)}


def compare(runs: list, real: dict) -> dict:
    def mean_of(preset, key):
        vals = [r[key]["mean"] if isinstance(r[key], dict) else r[key]
                for r in runs if r["preset"] == preset]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals else float("nan")

    out = {}
    for key in ("pixel_l1", "feature_l1", "pixel_l2_mean", "pixel_l1_recognised_mean",
                "feature_l1_recognised_mean", "accuracy"):
        base, ms = mean_of(BASELINE, key), mean_of(MODE_SEEKING, key)
        entry = {"without_ms": round(base, 4), "with_ms": round(ms, 4),
                 "ratio_with_over_without": round(ms / base, 4) if base else None}
        if key == "accuracy":
            entry["note"] = "classifier's accuracy on the samples: is the requested class produced"
        elif key.endswith("_recognised_mean"):
            entry["note"] = ("diversity among the samples the classifier assigns to the requested "
                             "class only (classes with >= 2 such samples)")
        ref = real["train"].get(key)
        if ref is not None:
            entry["real_train"] = ref["mean"] if isinstance(ref, dict) else ref
            entry["real_validation"] = (real["validation"][key]["mean"]
                                        if isinstance(real["validation"][key], dict)
                                        else real["validation"][key])
        if any(r["preset"] == BIGGAN for r in runs):
            entry["biggan"] = round(mean_of(BIGGAN, key), 4)
        out[key] = entry
    # Per-class: classes where the mode-seeking model is more diverse (same seeds paired).
    for key in ("pixel_l1", "feature_l1"):
        wins, total = 0, 0
        seeds = sorted({r["seed"] for r in runs})
        for s in seeds:
            base = next(r for r in runs if r["preset"] == BASELINE and r["seed"] == s)[key]
            ms = next(r for r in runs if r["preset"] == MODE_SEEKING and r["seed"] == s)[key]
            for c in base:
                if c != "mean":
                    total += 1
                    wins += ms[c] > base[c]
        out[key]["classes_more_diverse_with_ms"] = f"{wins}/{total}"
    per_seed = {}
    for s in sorted({r["seed"] for r in runs}):
        base = next(r for r in runs if r["preset"] == BASELINE and r["seed"] == s)
        ms = next(r for r in runs if r["preset"] == MODE_SEEKING and r["seed"] == s)
        per_seed[str(s)] = {k: round(ms[k]["mean"] / base[k]["mean"], 4)
                            for k in ("pixel_l1", "feature_l1")}
    out["ratio_per_seed"] = per_seed
    out["img_per_s"] = {"without_ms": round(mean_of(BASELINE, "img_per_s_steady"), 1),
                        "with_ms": round(mean_of(MODE_SEEKING, "img_per_s_steady"), 1)}
    return out


# --- --task image: per-input diversity of image-to-image translation (Pix2Pix vs Pix2Pix-MS) ---

def paired_split(data_dir: str, split: str, n: int | None = None):
    """The first ``n`` pairs of ``split`` in stored order (no flips, no jitter): (conditions,
    targets, labels), images float32 in [-1, 1]."""
    from keras_gans import data as data_lib

    ds = data_lib.load_dataset(data_dir, split, 256, shuffle=False, repeat=False,
                               drop_remainder=False, with_labels=True)
    conds, targets, labels = [], [], []
    for batch in ds:
        conds.append(batch["condition"].numpy())
        targets.append(batch["image"].numpy())
        labels.append(batch["label"].numpy())
    conds, targets, labels = (np.concatenate(x) for x in (conds, targets, labels))
    return conds[:n], targets[:n], labels[:n]


def image_outputs(gan, conditions, k: int, latent_seed: int, batch: int = 256) -> np.ndarray:
    """``[n, k, H, W, C]``: ``k`` outputs of every condition, from the latents
    ``diversity.fixed_latents(latent_dim, k, latent_seed)`` (the same k for every input and
    model, so two models differ only by their training), clipped to [-1, 1]."""
    from keras_gans.metrics import diversity

    z = diversity.fixed_latents(gan.latent_dim, k, latent_seed)
    per_chunk = max(1, batch // k)
    out = []
    for s in range(0, len(conditions), per_chunk):
        c = conditions[s:s + per_chunk]
        images = gan.sample(np.tile(z, (len(c), 1)), condition=np.repeat(c, k, axis=0))
        out.append(np.asarray(images, np.float32).reshape(len(c), k, *images.shape[1:]))
    return np.clip(np.concatenate(out), -1.0, 1.0)


def _batched(fn, x, batch: int = 512) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)])


def per_input_block(outputs, targets, labels, features_fn, clf, target_features,
                    lpips_model=None) -> tuple[dict, dict]:
    """Diversity among the outputs of one input and fidelity to the targets.

    Returns (the JSON block, per-input diversity arrays for the paired comparison)."""
    from keras_gans.metrics import classifier as clf_lib, diversity, scores

    n, k = outputs.shape[:2]
    flat = outputs.reshape(n * k, *outputs.shape[2:])
    feats = _batched(features_fn, flat).reshape(n, k, -1)
    per_input = {
        "pixel_l1": np.array([diversity.mean_pairwise_distance(outputs[i]) for i in range(n)]),
        "feature_l1": np.array([diversity.mean_pairwise_distance(feats[i]) for i in range(n)]),
    }
    if lpips_model is not None:
        per_input["lpips"] = np.array([diversity.mean_pairwise_distance(
            outputs[i], metric="lpips", lpips_model=lpips_model) for i in range(n)])
    l1 = np.abs(outputs - targets[:, None]).reshape(n, k, -1).mean(-1)  # [n, k]
    predicted = clf_lib.predict_classes(clf, flat).reshape(n, k)
    block = {"inputs": n, "outputs_per_input": k}
    for key, values in per_input.items():
        block[key] = {"mean": round(float(values.mean()), 4),
                      "sem": round(float(values.std(ddof=1) / np.sqrt(n)), 4),
                      "inputs_near_zero": int(np.sum(values < 1e-3))}
    block.update({
        "feature_frechet": round(scores.fid_from_features(target_features,
                                                          feats.reshape(n * k, -1)), 3),
        "feature_frechet_first_output": round(scores.fid_from_features(target_features,
                                                                       feats[:, 0]), 3),
        "l1_to_target": round(float(l1.mean()), 4),
        "best_of_k_l1_to_target": round(float(l1.min(axis=1).mean()), 4),
        "accuracy": round(float(np.mean(predicted == labels[:, None])), 4),
    })
    return block, per_input


def figure(path: str, conditions, targets, outputs, rows: int = 8, cols: int = 8) -> str:
    """The paper's figure: rows = inputs, columns = the input, its target, then ``cols`` outputs
    (latents shared by every row)."""
    from keras_gans import image_grid

    c = min(cols, outputs.shape[1])
    cells = np.concatenate([conditions[:rows, None], targets[:rows, None], outputs[:rows, :c]],
                           axis=1)
    image_grid.save_grid(path, cells.reshape(-1, *cells.shape[2:]), cols=c + 2,
                         text={"columns": f"input edge map, target, {c} outputs (one latent "
                                          "per column)"})
    return path


def compare_image(runs: list, per_input: dict) -> dict:
    """MS vs baseline for each metric (mean over seeds), ratios, per-seed ratios, and in how
    many (seed, input) pairs the MS model's outputs are more diverse."""
    seeds = sorted({r["seed"] for r in runs})

    def run_of(preset, seed):
        return next(r for r in runs if r["preset"] == preset and r["seed"] == seed)

    def value(r, key):
        return r[key]["mean"] if isinstance(r[key], dict) else r[key]

    out = {}
    keys = [k for k in ("pixel_l1", "feature_l1", "lpips", "feature_frechet",
                        "feature_frechet_first_output", "l1_to_target", "best_of_k_l1_to_target",
                        "accuracy") if k in runs[0]]
    for key in keys:
        base = float(np.mean([value(run_of(I2I_BASELINE, s), key) for s in seeds]))
        ms = float(np.mean([value(run_of(I2I_MODE_SEEKING, s), key) for s in seeds]))
        entry = {"without_ms": round(base, 4), "with_ms": round(ms, 4),
                 "ratio_with_over_without": round(ms / base, 4) if base else None,
                 "per_seed": {str(s): [value(run_of(I2I_BASELINE, s), key),
                                       value(run_of(I2I_MODE_SEEKING, s), key)] for s in seeds}}
        if key in per_input[(I2I_BASELINE, seeds[0])]:
            wins = sum(int(np.sum(per_input[(I2I_MODE_SEEKING, s)][key]
                                  > per_input[(I2I_BASELINE, s)][key])) for s in seeds)
            total = sum(len(per_input[(I2I_BASELINE, s)][key]) for s in seeds)
            entry["inputs_more_diverse_with_ms"] = f"{wins}/{total}"
            entry["note"] = "per-input diversity: mean pairwise distance among one input's outputs"
        out[key] = entry
    out["feature_frechet"]["note"] = ("Fréchet distance, classifier features of all outputs vs "
                                      "the inputs' targets (lower = closer)")
    out["img_per_s"] = {"without_ms": round(float(np.mean(
        [run_of(I2I_BASELINE, s)["img_per_s_steady"] for s in seeds])), 1),
        "with_ms": round(float(np.mean(
            [run_of(I2I_MODE_SEEKING, s)["img_per_s_steady"] for s in seeds])), 1)}
    return out


def main_image(args) -> dict:
    """``--task image``: Pix2Pix vs Pix2Pix-MS on the edges -> digits pairs (module docstring)."""
    from keras_gans.metrics import classifier as clf_lib, lpips, scores

    kimg = args.kimg if args.kimg is not None else (1.0 if args.quick else 3.0)
    t_start = time.time()
    work = args.work_dir or tempfile.mkdtemp(prefix="diversity-bench-i2i-")
    data_dir, runs_dir = os.path.join(work, "edges2digits32"), os.path.join(work, "runs")
    _log(f"work dir {work}")
    if os.path.exists(os.path.join(data_dir, "dataset.json")):
        from keras_gans import data as data_lib
        data_info = {"train": data_lib.num_examples(data_dir, "train"),
                     "validation": data_lib.num_examples(data_dir, "validation"), "reused": True}
    else:
        data_info = prepare_data(data_dir, source="edges2digits")

    t0 = time.time()
    clf = clf_lib.train_classifier(data_dir, epochs=args.classifier_epochs, seed=0, log=_log)
    clf_info = {"epochs": args.classifier_epochs,
                "trained_on": "the train split's targets (digits)",
                "train_s": round(time.time() - t0, 1),
                "validation_accuracy": round(clf_lib.evaluate_split(clf, data_dir), 4),
                "features": "penultimate Dense(128, relu) ('features' layer)"}
    _log(f"classifier: {clf_info}")
    features_fn = clf_lib.penultimate_features(clf)

    conditions, targets, labels = paired_split(data_dir, "validation", args.inputs)
    target_features = _batched(features_fn, targets)
    _, train_targets, _ = paired_split(data_dir, "train", len(targets))
    real = {"inputs": len(targets),
            "feature_frechet_train_vs_validation_targets": round(scores.fid_from_features(
                target_features, _batched(features_fn, train_targets)), 3),
            "note": "the Fréchet distance between two different real sets of the same size "
                    "(train vs validation targets), for scale: outputs of the validation inputs "
                    "share their targets' shapes and can come closer than this"}

    lpips_model, lpips_note = None, None
    if os.path.exists(lpips.default_weights_path("alex")):
        lpips_model = lpips.load_lpips("alex")
    else:
        lpips_note = (f"LPIPS not measured: no converted weights at "
                      f"{lpips.default_weights_path('alex')} ({lpips.convert_command('alex')})")
        _log(lpips_note)

    runs, per_input, figures = [], {}, {}
    for seed in args.seeds:
        for preset in (I2I_BASELINE, I2I_MODE_SEEKING):
            gan, record = train_run(preset, seed, kimg, data_dir, runs_dir,
                                    tick=max(kimg / 5, 0.5), sample_ticks=5)
            t1 = time.time()
            outputs = image_outputs(gan, conditions, args.outputs_per_input, args.latent_seed)
            block, per_input[(preset, seed)] = per_input_block(
                outputs, targets, labels, features_fn, clf, target_features, lpips_model)
            record["samples_grid"] = sorted(os.listdir(os.path.join(record.pop("run"), "samples")))
            if args.figures:
                figures[f"{preset}-seed{seed}"] = figure(
                    os.path.join(args.figures, f"{preset}-seed{seed}.png"), conditions, targets,
                    outputs)
            runs.append({**record, **block, "eval_s": round(time.time() - t1, 1)})
            _log(json.dumps({k: runs[-1][k] for k in ("preset", "seed", "pixel_l1",
                                                      "feature_frechet", "l1_to_target")}))

    result = {
        "benchmark": "diversity",
        "task": "image",
        "machine": machine_info.machine(("tensorflow", "keras")),
        "settings": {"kimg": kimg, "seeds": args.seeds, "presets": [I2I_BASELINE, I2I_MODE_SEEKING],
                     "inputs": len(targets), "outputs_per_input": args.outputs_per_input,
                     "latent_seed": args.latent_seed,
                     "distances": "per input: the mean over all pairs of its K outputs of the "
                                  "mean |a - b| of images in [-1, 1] (pixel_l1) or of the "
                                  "classifier's penultimate features (feature_l1), or LPIPS "
                                  "(MSGAN's metric) when its weights are installed; then the "
                                  "mean over inputs (sem over inputs)",
                     "lpips": lpips_note or "alex, v0.1"},
        "data": data_info,
        "classifier": clf_info,
        "real": real,
        "runs": runs,
        "comparison": compare_image(runs, per_input),
        "figures": figures,
        "total_s": round(time.time() - t_start, 1),
    }
    if not args.work_dir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("class", "image"), default="class",
                        help="class: class-conditional MSGAN (cdcgan); image: image-to-image "
                             "Pix2Pix vs Pix2Pix-MS on edges -> digits")
    parser.add_argument("--kimg", type=float, default=None,
                        help="training length (default 40; --task image: 3)")
    parser.add_argument("--quick", action="store_true", help="10 kimg (--task image: 1)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="training seeds (each trains both presets)")
    parser.add_argument("--per-class", type=int, default=100, help="samples per class")
    parser.add_argument("--latent-seed", type=int, default=1234, help="seed of the fixed latents")
    parser.add_argument("--classifier-epochs", type=int, default=12)
    parser.add_argument("--biggan", action="store_true", help="also biggan-mnist32 (slow on CPU)")
    parser.add_argument("--biggan-kimg", type=float, default=None, help="default: --kimg")
    parser.add_argument("--inputs", type=int, default=None,
                        help="--task image: validation inputs measured (default all 503)")
    parser.add_argument("--outputs-per-input", type=int, default=10,
                        help="--task image: outputs (latents) per input")
    parser.add_argument("--figures", default=None,
                        help="--task image: write one figure per run here (rows = inputs)")
    parser.add_argument("--work-dir", default=None, help="keep data and runs here (default: temp)")
    args = parser.parse_args(argv)
    if args.task == "image":
        if args.outputs_per_input < 2:
            parser.error("--outputs-per-input must be at least 2 (diversity is over pairs)")
        if args.inputs is not None and args.inputs < 2:
            parser.error("--inputs must be at least 2")
        return main_image(args)
    kimg = args.kimg if args.kimg is not None else (10.0 if args.quick else 40.0)

    t_start = time.time()
    work = args.work_dir or tempfile.mkdtemp(prefix="diversity-bench-")
    data_dir, runs_dir = os.path.join(work, "mnist32"), os.path.join(work, "runs")
    _log(f"work dir {work}")
    data_info = prepare_data(data_dir)

    from keras_gans.metrics import classifier as clf_lib, diversity

    t0 = time.time()
    clf = clf_lib.train_classifier(data_dir, epochs=args.classifier_epochs, seed=0, log=_log)
    clf_info = {"epochs": args.classifier_epochs, "params": int(clf.count_params()),
                "train_s": round(time.time() - t0, 1),
                "validation_accuracy": round(clf_lib.evaluate_split(clf, data_dir), 4),
                "features": "penultimate Dense(128, relu) ('features' layer)"}
    _log(f"classifier: {clf_info}")
    features_fn = clf_lib.penultimate_features(clf)

    real = {}
    for split, n in (("train", args.per_class), ("validation", None)):
        images, labels = clf_lib.load_split(data_dir, split)
        counts = np.bincount(labels, minlength=10)
        per_class = int(n if n is not None else min(counts.min(), args.per_class))
        real[split] = diversity_block(diversity.array_sample_fn(images, labels), len(counts),
                                      per_class, features_fn, clf)
    real["train"]["note"] = "first per_class train images of each class (classifier's training data)"
    real["validation"]["note"] = "validation images of each class (held out), smallest class size"

    runs = []
    presets = [BASELINE, MODE_SEEKING] + ([BIGGAN] if args.biggan else [])
    for seed in args.seeds:
        for preset in presets:
            length = args.biggan_kimg if (preset == BIGGAN and args.biggan_kimg) else kimg
            runs.append(train_and_measure(preset, seed, length, data_dir, runs_dir, args.per_class,
                                          features_fn, clf, args.latent_seed))
            _log(json.dumps({k: runs[-1][k] for k in ("preset", "seed", "img_per_s_steady",
                                                      "accuracy")}))

    result = {
        "benchmark": "diversity",
        "machine": machine_info.machine(("tensorflow", "keras")),
        "settings": {"kimg": kimg, "seeds": args.seeds, "per_class": args.per_class,
                     "latent_seed": args.latent_seed, "biggan": args.biggan,
                     "distances": "pixel_l1: mean over same-class pairs of the mean |a - b| of "
                                  "images in [-1, 1]; pixel_l2_mean: same with RMS; feature_l1: "
                                  "mean |a - b| of the classifier's penultimate features; "
                                  "LPIPS (MSGAN's metric) needs backbone weights not available "
                                  "offline"},
        "data": data_info,
        "classifier": clf_info,
        "real": real,
        "runs": runs,
        "comparison": compare(runs, real),
        "total_s": round(time.time() - t_start, 1),
    }
    if not args.work_dir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
