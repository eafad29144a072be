"""Sample diversity: the mean pairwise distance among images, overall or per class.

MSGAN (Mao et al., "Mode Seeking Generative Adversarial Networks for Diverse Image Synthesis",
CVPR 2019, arXiv 1903.05628) measures diversity as the mean LPIPS distance (Zhang et al. 2018)
between samples of the same condition (for the categorical CIFAR-10 experiment: pairs of samples
of the same class); higher means more diverse, and the mode-seeking term raises it. Three
distances are available:

- ``metric="lpips"``: LPIPS v0.1 itself (``keras_gans.metrics.lpips``; the ``lpips`` package's
  default AlexNet unless ``lpips_model`` is a VGG one). Its weights are converted offline
  (``keras-gans convert-weights lpips-alex --from alexnet.pth``: the torchvision backbone file
  made on a machine with internet, plus the linear heads the ``lpips`` package ships); with the
  real ImageNet backbone these values compare with the paper's. Each pair costs two backbone
  forward passes, so ``max_pairs`` is worth setting for large N;
- pixel space: the per-pair mean absolute difference (``metric="l1"``) or root-mean-square
  difference (``metric="l2"``) of the images, in the units of the images (``[-1, 1]`` for the
  GAN's samples and ``keras_gans.data``'s real images, so the L1 distance lies in ``[0, 2]``);
- a feature space (``l1``/``l2`` with ``features_fn``): the same distance between
  ``features_fn(images)``, e.g. the penultimate layer of a digit classifier
  (``keras_gans.metrics.classifier.penultimate_features``), which, like LPIPS, weighs
  differences by what a trained network distinguishes rather than by pixels; it needs no
  downloaded weights, and is not comparable to published LPIPS values.

Compare values between models (with and without mode seeking) and against the real data's value
for the same classes (``per_class_diversity`` with ``array_sample_fn``). ``keras-gans evaluate
--metrics lpips2k`` computes the same LPIPS diversity over pairs of a run's or export's samples.

Example:
    >>> gan, _ = keras_gans.training.checkpoint.restore_gan(run_dir)
    >>> per_class_diversity(gan_sample_fn(gan), gan.num_classes, per_class=100)
    {0: ..., 1: ..., ..., 9: ..., 'mean': ...}      # pixel L1; real MNIST digits: ~0.27
    >>> per_class_diversity(gan_sample_fn(gan), gan.num_classes,
    ...                     features_fn=penultimate_features(train_classifier(data_dir)))
    >>> per_class_diversity(gan_sample_fn(gan), gan.num_classes, metric="lpips",
    ...                     max_pairs=2000)      # needs converted LPIPS weights (see above)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

METRICS = ("l1", "l2", "lpips")

# Elements of one chunk of differences (rows x columns x features): ~32 MiB of float32.
_CHUNK_ELEMENTS = 1 << 23


def _as_numpy(x) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _features(images, features_fn: Callable | None, batch_size: int) -> np.ndarray:
    """``[N, ...]`` -> ``[N, D]`` float32: the flattened images or their features."""
    if features_fn is None:
        x = _as_numpy(images)
    else:
        n = len(images)
        parts = [_as_numpy(features_fn(images[i:i + batch_size])) for i in range(0, n, batch_size)]
        x = np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), np.float32)
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(len(x), -1)


def _pair_distances(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Row-wise distances of broadcastable ``[..., D]`` arrays -> ``[...]`` float64."""
    diff = a - b
    if metric == "l1":
        return np.abs(diff).mean(axis=-1, dtype=np.float64)
    return np.sqrt(np.square(diff).mean(axis=-1, dtype=np.float64))


def _sample_pairs(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` pairs ``(i, j)``, ``i != j``, drawn uniformly with replacement."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=m)
    j = rng.integers(0, n - 1, size=m)
    return i, j + (j >= i)  # uniform over j != i


def _lpips_mean(images, lpips_model, max_pairs, seed: int, batch_size: int) -> float:
    """Mean LPIPS distance over all pairs ``i < j`` (or ``max_pairs`` sampled ones)."""
    from keras_gans.metrics import lpips

    model = lpips_model if lpips_model is not None else lpips.load_lpips("alex")
    x = lpips.prepare_images(_as_numpy(images), lpips.net_of(model))
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 images for a pairwise distance, got {n}")
    if max_pairs is not None and n * (n - 1) // 2 > int(max_pairs):
        i, j = _sample_pairs(n, int(max_pairs), seed)
    else:
        i, j = np.triu_indices(n, k=1)
    total = 0.0
    for s in range(0, len(i), batch_size):  # only one batch of pairs in memory at a time
        total += lpips.lpips_distance(x[i[s:s + batch_size]], x[j[s:s + batch_size]], model,
                                      batch_size=batch_size).sum(dtype=np.float64)
    return float(total / len(i))


def mean_pairwise_distance(images, metric: str = "l1", features_fn: Callable | None = None,
                           max_pairs: int | None = None, seed: int = 0,
                           batch_size: int | None = None, lpips_model=None) -> float:
    """Mean distance over all unordered pairs ``i < j`` of ``images``.

    The distance of a pair is the mean absolute difference (``"l1"``) or the root of the mean
    squared difference (``"l2"``, RMS) over all elements (pixels x channels, or features), or
    the LPIPS distance of the two images (``"lpips"``). L1/L2 are computed in chunks of rows
    against the rows that follow them, so memory stays around ``_CHUNK_ELEMENTS`` floats
    whatever N (never an ``N x N x pixels`` array); LPIPS runs the network on ``batch_size``
    pairs at a time.

    Args:
        images: ``[N, ...]`` array (numpy or a tensor), N >= 2; for ``"lpips"`` ``[N, H, W, C]``
            images (C 1 or 3), uint8 or floats in ``[-1, 1]`` (``lpips.prepare_images``).
        metric: ``"l1"``, ``"l2"`` or ``"lpips"``.
        features_fn: optional callable ``[n, ...] -> [n, ...]`` (l1/l2 only); the distance is
            then measured between ``features_fn(images)`` (called on batches of ``batch_size``).
        max_pairs: if the number of pairs ``N (N - 1) / 2`` exceeds it, estimate the mean from
            ``max_pairs`` pairs drawn uniformly (with replacement, ``i != j``; an unbiased
            estimate) with ``seed``; ``None`` uses every pair.
        seed: seed of the pair sampling (only used with ``max_pairs``).
        batch_size: batch of ``features_fn`` calls (default 256), or of LPIPS pairs (default 50).
        lpips_model: for ``"lpips"``: a ``keras_gans.metrics.lpips.load_lpips`` model; None loads
            AlexNet from the default weights path (``UsageError`` naming the conversion command
            when there are none).

    Returns:
        The mean pairwise distance as a Python float (0 for identical images).

    Reference: MSGAN (Mao et al. 2019, arXiv 1903.05628) reports the mean LPIPS distance between
    same-class samples; see the module docstring for the pixel and feature alternatives.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if max_pairs is not None and int(max_pairs) < 1:
        raise ValueError(f"max_pairs must be a positive number or None, got {max_pairs!r}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive number or None, got {batch_size!r}")
    if metric == "lpips":
        if features_fn is not None:
            raise ValueError("metric='lpips' measures the images themselves: drop features_fn "
                             "(or use l1/l2 for a feature space)")
        return _lpips_mean(images, lpips_model, max_pairs, seed, int(batch_size or 50))
    if lpips_model is not None:
        raise ValueError(f"lpips_model is only used with metric='lpips', not {metric!r}")
    x = _features(images, features_fn, int(batch_size or 256))
    n, d = x.shape
    if n < 2:
        raise ValueError(f"need at least 2 images for a pairwise distance, got {n}")
    num_pairs = n * (n - 1) // 2
    if max_pairs is not None and num_pairs > int(max_pairs):
        m = int(max_pairs)
        i, j = _sample_pairs(n, m, seed)
        total, step = 0.0, max(1, _CHUNK_ELEMENTS // max(d, 1))
        for s in range(0, m, step):
            total += _pair_distances(x[i[s:s + step]], x[j[s:s + step]], metric).sum()
        return float(total / m)

    total = 0.0
    rows = max(1, _CHUNK_ELEMENTS // max(n * d, 1))
    for start in range(0, n - 1, rows):
        stop = min(start + rows, n - 1)
        block = x[start:stop]                         # rows i in [start, stop)
        others = x[start + 1:]                        # columns j in (start, n)
        dist = _pair_distances(block[:, None, :], others[None, :, :], metric)  # [r, n - start - 1]
        # Keep j > i: row r (i = start + r) pairs with column c (j = start + 1 + c) when c >= r.
        r = np.arange(stop - start)[:, None]
        c = np.arange(n - start - 1)[None, :]
        total += dist[c >= r].sum()
    return float(total / num_pairs)


def per_class_diversity(sample_fn: Callable[[int, int], object], num_classes: int,
                        per_class: int = 100, metric: str = "l1",
                        features_fn: Callable | None = None, max_pairs: int | None = None,
                        seed: int = 0, classes=None, lpips_model=None) -> dict:
    """Mean pairwise distance among ``per_class`` samples of each class (MSGAN's protocol).

    Args:
        sample_fn: ``sample_fn(class_index, n) -> [n, ...]`` images of that class, e.g.
            ``gan_sample_fn(gan)`` (generated) or ``array_sample_fn(images, labels)`` (real).
        num_classes: number of classes (``gan.num_classes``).
        per_class: samples drawn per class.
        metric, features_fn, max_pairs, seed: as ``mean_pairwise_distance``.
        classes: the classes to measure (default ``range(num_classes)``).
        lpips_model: for ``metric="lpips"``: the LPIPS model (None: AlexNet from the default
            weights path, loaded once for all classes).

    Returns:
        ``{class_index: distance, ..., "mean": mean over the measured classes}``.
    """
    classes = range(num_classes) if classes is None else classes
    if metric == "lpips" and lpips_model is None:
        from keras_gans.metrics import lpips

        lpips_model = lpips.load_lpips("alex")
    out: dict = {}
    for c in classes:
        images = sample_fn(int(c), int(per_class))
        out[int(c)] = mean_pairwise_distance(images, metric=metric, features_fn=features_fn,
                                             max_pairs=max_pairs, seed=seed,
                                             lpips_model=lpips_model)
    values = [out[int(c)] for c in classes]
    out["mean"] = float(np.mean(values)) if values else float("nan")
    return out


def fixed_latents(latent_dim: int, n: int, seed: int = 0) -> np.ndarray:
    """``[n, latent_dim]`` standard normal latents, the same for a given seed (and every class)."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def gan_sample_fn(gan, seed: int = 0, use_ema: bool = True, batch_size: int = 256) -> Callable:
    """``sample_fn`` for ``per_class_diversity``: ``gan.sample`` of class c from fixed latents.

    Every class uses the same latents ``fixed_latents(gan.latent_dim, n, seed)``, so differences
    between classes come from the condition only; images are float32 numpy in ``[-1, 1]``.
    """
    def sample(c: int, n: int) -> np.ndarray:
        z = fixed_latents(gan.latent_dim, n, seed)
        out = []
        for s in range(0, n, batch_size):
            zb = z[s:s + batch_size]
            labels = np.full((len(zb),), c, dtype=np.int32) if gan.num_classes else None
            out.append(_as_numpy(gan.sample(zb, labels, use_ema=use_ema)))
        return np.concatenate(out, axis=0).astype(np.float32)
    return sample


def array_sample_fn(images, labels) -> Callable:
    """``sample_fn`` over a labelled array (real data): the first ``n`` images of class c.

    Raises ``ValueError`` when a class has fewer than ``n`` images.
    """
    images, labels = _as_numpy(images), _as_numpy(labels).reshape(-1)

    def sample(c: int, n: int) -> np.ndarray:
        members = np.flatnonzero(labels == c)
        if len(members) < n:
            raise ValueError(f"class {c} has {len(members)} images, fewer than the {n} requested")
        return images[members[:n]]
    return sample
