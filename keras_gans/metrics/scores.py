"""The numerical core of GAN evaluation metrics, computed on feature arrays.

Everything here works on ``[N, D]`` arrays of features (Inception pool3 features for FID/KID,
class probabilities for IS, VGG/Inception features for precision/recall, density/coverage and
NDB) and is pure numpy/scipy/scikit-learn: no TensorFlow. Extracting the features is someone
else's job; this module only turns features into numbers, the way the reference implementations
do, so that results are comparable with published ones given the same features.

- ``FeatureStats``: streaming mean/covariance accumulator (float64), mergeable, cacheable as
  ``.npz``; optionally keeps the first ``keep_features`` rows for sample-based metrics.
- ``frechet_distance`` / ``fid_from_stats`` / ``fid_from_features``: FID (Heusel et al. 2017).
- ``kernel_inception_distance``: KID (Bińkowski et al. 2018).
- ``inception_score``: IS (Salimans et al. 2016).
- ``precision_recall``: improved precision and recall (Kynkäänniemi et al. 2019).
- ``density_coverage``: density and coverage (Naeem et al. 2020).
- ``NDBBins`` / ``ndb_jsd`` / ``two_proportion_z_test`` / ``jensen_shannon_divergence``: the
  number of statistically different bins and the bin-histogram JSD (Richardson & Weiss 2018), the
  mode-coverage metrics of MSGAN (Mao et al. 2019).

Invalid input (wrong rank, mismatched feature dimensions, too few samples, NaN/inf) raises
``ValueError`` with a message naming the problem.

Pairwise distances (precision/recall, density/coverage, NDB bin assignment) are computed in
float64 blocks of at most ``_BLOCK_ELEMENTS`` entries via ``|x|^2 + |y|^2 - 2 x.y`` (BLAS), clamped
at 0, and compared as *squared* distances (monotone, so the comparisons equal those on distances;
this avoids the ``sqrt`` amplifying rounding near 0). Memory is therefore bounded by the inputs
(converted once to float64) plus one block, never ``N x M``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from scipy import linalg, special, stats

__all__ = [
    "FeatureStats", "NDBBins", "density_coverage", "fid_from_features", "fid_from_stats",
    "frechet_distance", "inception_score", "jensen_shannon_divergence",
    "kernel_inception_distance", "ndb_jsd", "precision_recall", "two_proportion_z_test",
]

# Entries of one block of pairwise distances: 2^22 float64 = 32 MiB.
_BLOCK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------------------------
# Input validation


def _as_features(x, name: str, min_rows: int = 0, dtype=np.float64) -> np.ndarray:
    """``x`` as a finite 2-D ``[N, D]`` array of ``dtype``, or a ValueError naming ``name``."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # tf / torch tensors
        x = x.numpy()
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [N, D] array of features, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real-valued, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} has {arr.shape[0]} samples; at least {min_rows} are needed")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise ValueError(f"{name} contains NaN or inf values (in {bad} of {arr.shape[0]} rows)")
    return arr


def _check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {name_a} has D={a.shape[1]}, "
                         f"{name_b} has D={b.shape[1]}")


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------
# Streaming feature statistics (FID)


class _NpzFile:
    """``save`` / ``load`` of ``to_dict()`` / ``from_dict()`` as one ``.npz`` file."""

    def save(self, path: str | os.PathLike) -> str:
        """Writes ``to_dict()`` to ``path`` as ``.npz`` (adding the suffix); returns the path."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        np.savez(path, **self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Reads ``save``'s file."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            return cls.from_dict({key: data[key] for key in data.files})


class FeatureStats(_NpzFile):
    """Streaming accumulator of the mean and covariance of ``[N, D]`` feature batches.

    Accumulates, in float64, the count ``n``, the sum ``s = sum_i (x_i - c)`` and the sum of outer
    products ``S = sum_i (x_i - c)(x_i - c)^T`` of the features shifted by a constant ``c`` (the
    mean of the first batch; shifting keeps ``S - s s^T / n`` free of the cancellation the raw
    sums suffer when the mean is large relative to the spread). Then

        mean = c + s / n
        covariance = (S - s s^T / n) / (n - 1)      (unbiased, equal to ``np.cov(x, rowvar=False)``)

    This mirrors ``FeatureStats`` in NVlabs/stylegan2-ada-pytorch ``metrics/metric_utils.py``
    (float64 ``raw_mean``/``raw_cov`` sums; it divides by ``n``, pytorch-fid's and clean-fid's
    ``np.cov`` by ``n - 1``, which this class follows) without ever storing all rows.

    Args:
        dim: the feature dimension ``D``; taken from the first batch when ``None``.
        keep_features: also keep the first ``keep_features`` rows (float32, like StyleGAN2-ADA's
            ``capture_all``) for sample-based metrics (KID, precision/recall); 0 keeps none.

    Example:
        >>> stats = FeatureStats()
        >>> for batch in batches: stats.update(batch)
        >>> stats.save("reference_stats.npz")
        >>> fid = fid_from_stats(FeatureStats.load("reference_stats.npz"), generated_stats)
    """

    def __init__(self, dim: int | None = None, keep_features: int = 0):
        if dim is not None:
            dim = _check_positive_int(dim, "dim")
        self.keep_features = _check_positive_int(keep_features, "keep_features", minimum=0)
        self._dim = dim
        self._count = 0
        self._shift: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._sum_outer: np.ndarray | None = None
        self._kept: list[np.ndarray] = []
        self._num_kept = 0

    # -- accumulation ---------------------------------------------------------------------------

    def _init_accumulators(self, dim: int, shift: np.ndarray) -> None:
        self._dim = dim
        self._shift = np.array(shift, dtype=np.float64)
        self._sum = np.zeros(dim, np.float64)
        self._sum_outer = np.zeros((dim, dim), np.float64)

    def update(self, batch) -> "FeatureStats":
        """Adds a ``[N, D]`` batch (any real dtype; ``N`` may be 0). Returns ``self``."""
        x = _as_features(batch, "batch")
        if self._dim is not None and x.shape[1] != self._dim:
            raise ValueError(f"feature dimensions differ: batch has D={x.shape[1]}, "
                             f"these FeatureStats have D={self._dim}")
        if len(x) == 0:
            if self._dim is None:
                self._dim = x.shape[1]
            return self
        if self._sum is None:
            self._init_accumulators(x.shape[1], x.mean(axis=0))
        xc = x - self._shift
        self._count += len(x)
        self._sum += xc.sum(axis=0)
        self._sum_outer += xc.T @ xc
        self._keep(x)
        return self

    def _keep(self, x: np.ndarray) -> None:
        room = self.keep_features - self._num_kept
        if room > 0 and len(x):
            rows = np.array(x[:room], dtype=np.float32)
            self._kept.append(rows)
            self._num_kept += len(rows)

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Adds the statistics of ``other`` (e.g. another worker's shard) to ``self``.

        Kept rows of ``other`` are appended while room is left. Returns ``self``.
        """
        if not isinstance(other, FeatureStats):
            raise ValueError(f"can only merge FeatureStats, got {type(other).__name__}")
        if self._dim is not None and other._dim is not None and self._dim != other._dim:
            raise ValueError(f"feature dimensions differ: these FeatureStats have D={self._dim}, "
                             f"the other has D={other._dim}")
        if other._count == 0:
            if self._dim is None:
                self._dim = other._dim
            return self
        if self._sum is None:
            self._init_accumulators(other._dim, other._shift)
        # Re-express other's sums around self's shift: x - c_a = (x - c_b) + d, d = c_b - c_a.
        d = other._shift - self._shift
        s_b, n_b = other._sum, other._count
        self._sum_outer += (other._sum_outer + np.outer(s_b, d) + np.outer(d, s_b)
                            + n_b * np.outer(d, d))
        self._sum += s_b + n_b * d
        self._count += n_b
        for rows in other._kept:
            self._keep(rows)
        return self

    # -- results --------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of rows accumulated."""
        return self._count

    @property
    def dim(self) -> int | None:
        """Feature dimension ``D`` (``None`` before the first batch when not given)."""
        return self._dim

    @property
    def mean(self) -> np.ndarray:
        """``[D]`` float64 mean of all rows."""
        if self._count < 1:
            raise ValueError("FeatureStats is empty: the mean needs at least 1 sample")
        return self._shift + self._sum / self._count

    @property
    def covariance(self) -> np.ndarray:
        """``[D, D]`` float64 unbiased covariance (divides by ``n - 1``, like ``np.cov``)."""
        if self._count < 2:
            raise ValueError(f"FeatureStats has {self._count} sample(s): the covariance needs "
                             "at least 2")
        scatter = self._sum_outer - np.outer(self._sum, self._sum) / self._count
        cov = scatter / (self._count - 1)
        return (cov + cov.T) / 2  # exactly symmetric

    @property
    def features(self) -> np.ndarray:
        """The kept rows: ``[min(count, keep_features), D]`` float32 (the first rows seen)."""
        if not self._kept:
            return np.zeros((0, self._dim or 0), np.float32)
        return np.concatenate(self._kept, axis=0)

    # -- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """``{"mean", "cov", "count"[, "features"]}`` numpy arrays (the ``.npz`` contents).

        ``cov`` is the unbiased covariance (zeros when ``count < 2``); the accumulators are
        rebuilt exactly from ``(mean, cov, count)``.
        """
        if self._dim is None:
            raise ValueError("FeatureStats has no feature dimension yet: update it or give dim")
        d = self._dim
        mean = self.mean if self._count else np.zeros(d)
        cov = self.covariance if self._count >= 2 else np.zeros((d, d))
        out = {"mean": mean, "cov": cov, "count": np.array(self._count, np.int64),
               "keep_features": np.array(self.keep_features, np.int64)}
        if self._num_kept:
            out["features"] = self.features
        return out

    @classmethod
    def from_dict(cls, data) -> "FeatureStats":
        """Inverse of ``to_dict`` (also accepts an opened ``.npz``)."""
        missing = [key for key in ("mean", "cov", "count") if key not in data]
        if missing:
            raise ValueError(f"feature statistics lack {missing}: expected mean, cov and count")
        mean = np.asarray(data["mean"], np.float64)
        cov = np.asarray(data["cov"], np.float64)
        count = int(np.asarray(data["count"]))
        if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
            raise ValueError(f"inconsistent feature statistics: mean has shape {mean.shape}, "
                             f"cov has shape {cov.shape}")
        if count < 0:
            raise ValueError(f"feature statistics have a negative count {count}")
        keep = int(np.asarray(data["keep_features"])) if "keep_features" in data else 0
        stats = cls(dim=mean.size, keep_features=keep)
        if count:
            stats._init_accumulators(mean.size, mean)
            stats._count = count
            stats._sum_outer = cov * (count - 1) if count >= 2 else np.zeros_like(cov)
        if "features" in data:
            feats = np.asarray(data["features"], np.float32)
            stats.keep_features = max(stats.keep_features, len(feats))
            stats._keep(feats)
        return stats


    def __repr__(self) -> str:
        return (f"FeatureStats(dim={self._dim}, count={self._count}, "
                f"kept={self._num_kept}/{self.keep_features})")


# ----------------------------------------------------------------------------------------------
# FID


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """``scipy.linalg.sqrtm`` without its deprecated ``disp`` argument or singularity warning."""
    with warnings.catch_warnings():
        # Singular products are expected (rank-deficient covariances); the caller checks the
        # result for non-finite values instead, as pytorch-fid does.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return linalg.sqrtm(a)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between the Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

        d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

    (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017, arXiv 1706.08500; Dowson & Landau 1982.) Mirrors
    ``calculate_frechet_distance`` in mseitzer/pytorch-fid ``src/pytorch_fid/fid_score.py``
    (same as GaParmar/clean-fid ``cleanfid/fid.py`` ``frechet_distance``): in float64, the
    matrix square root of the product by ``scipy.linalg.sqrtm``; if it is not finite (a
    near-singular product), ``eps * I`` is added to both covariances and it is recomputed; a
    complex result whose diagonal has an imaginary part above 1e-3 raises ValueError, otherwise
    the imaginary part (rounding noise) is dropped. Unlike pytorch-fid, ``sqrtm`` is called
    without ``disp=False``: SciPy 1.16 deprecated that argument (removed in 1.18); the result is
    the same.

    Returns:
        the squared distance (FID when the inputs are Inception pool3 statistics), a float.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.ndim != 1 or mu2.ndim != 1:
        raise ValueError(f"means must be vectors, got shapes {mu1.shape} and {mu2.shape}")
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: mu1 has D={mu1.size}, mu2 has D={mu2.size}")
    d = mu1.size
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (d, d):
            raise ValueError(f"{name} has shape {sigma.shape}, expected ({d}, {d}) to match "
                             "the means")
    for name, arr in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf values")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")

    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(d) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.all(np.isfinite(covmean)):
            raise ValueError("the matrix square root of sigma1 @ sigma2 is not finite even after "
                             f"adding eps={eps} to the diagonals; check the covariances")
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = float(np.max(np.abs(covmean.imag)))
            raise ValueError(f"the matrix square root of sigma1 @ sigma2 has a large imaginary "
                             f"component ({m:.3g}); the covariances are probably not positive "
                             "semi-definite or too few samples were used to estimate them")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_stats(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> float:
    """``frechet_distance`` between two ``FeatureStats`` (each needs at least 2 samples)."""
    for name, s in (("a", a), ("b", b)):
        if not isinstance(s, FeatureStats):
            raise ValueError(f"{name} must be a FeatureStats, got {type(s).__name__}")
        if s.count < 2:
            raise ValueError(f"FID needs at least 2 samples per set; {name} has {s.count}")
    if a.dim != b.dim:
        raise ValueError(f"feature dimensions differ: a has D={a.dim}, b has D={b.dim}")
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance, eps=eps)


def fid_from_features(real, fake, eps: float = 1e-6) -> float:
    """FID between two ``[N, D]`` feature arrays (``np.mean`` / ``np.cov`` statistics)."""
    real = _as_features(real, "real", min_rows=2)
    fake = _as_features(fake, "fake", min_rows=2)
    _check_same_dim(real, fake, "real", "fake")
    return fid_from_stats(FeatureStats().update(real), FeatureStats().update(fake), eps=eps)


# ----------------------------------------------------------------------------------------------
# KID


def kernel_inception_distance(real, fake, num_subsets: int = 100, max_subset_size: int = 1000,
                              seed: int | None = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel, over subsets.

    (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018, arXiv 1801.01401.) With
    ``k(x, y) = (x.y / D + 1)^3`` and ``m = min(len(real), len(fake), max_subset_size)``, each
    of ``num_subsets`` subsets draws ``m`` fake rows ``x`` and ``m`` real rows ``y`` without
    replacement and computes

        MMD^2_u = sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] / (m (m - 1))
                  - 2 sum_{i, j} k(x_i, y_j) / m^2

    exactly as NVlabs/stylegan2-ada-pytorch ``metrics/kernel_inception_distance.py`` (and
    GaParmar/clean-fid ``cleanfid/fid.py`` ``kernel_distance``) do. Subsets come from
    ``np.random.default_rng(seed)`` (the references use the global ``np.random`` state), in
    float64.

    Returns:
        ``(mean, std)`` over the subsets; StyleGAN2-ADA reports only the mean, the original
        mbinkowski/MMD-GAN ``compute_scores.py`` also the (population, ddof=0) std.
    """
    real = _as_features(real, "real", min_rows=2)
    fake = _as_features(fake, "fake", min_rows=2)
    _check_same_dim(real, fake, "real", "fake")
    num_subsets = _check_positive_int(num_subsets, "num_subsets")
    max_subset_size = _check_positive_int(max_subset_size, "max_subset_size", minimum=2)
    n = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, np.float64)
    for i in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        values[i] = (a.sum() - np.trace(a)) / (m * (m - 1)) - 2.0 * b.sum() / (m * m)
    return float(values.mean()), float(values.std())


# ----------------------------------------------------------------------------------------------
# IS


def inception_score(probs_or_logits, splits: int = 10,
                    from_logits: bool = False) -> tuple[float, float]:
    """Inception Score: ``exp(E_x KL(p(y|x) || p(y)))`` per split; ``(mean, std)`` over splits.

    (Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv 1606.03498.)
    Mirrors ``get_inception_score`` in openai/improved-gan ``inception_score/model.py``: the
    ``N`` rows are cut into ``splits`` contiguous parts ``[i N // splits, (i + 1) N // splits)``;
    in each part ``p(y)`` is the mean of the rows and the score is ``exp`` of the mean over rows
    of ``sum_c p(c|x) (log p(c|x) - log p(c))`` (natural log; ``0 log 0 = 0``); the result is the
    mean and the (population, ddof=0) std of the per-split scores.

    Number of classes: no class is dropped; the formula runs over all ``C`` columns given. The
    original code's softmax is over all 1008 outputs of the 2015 TF Inception graph (``pool3 @ W``
    with the 2048 x 1008 ``softmax/logits`` weights, no bias), not over the first 1000; NVlabs/
    stylegan2-ada-pytorch ``metrics/inception_score.py`` reproduces that (``no_output_bias=True``,
    1008 probabilities). For numbers comparable with papers pass those 1008 logits with
    ``from_logits=True`` (or their softmax); slicing to 1000 classes changes the score.

    Args:
        probs_or_logits: ``[N, C]`` class probabilities (rows summing to 1), or logits.
        splits: number of contiguous parts (10 in the paper); ``N >= splits`` is required.
        from_logits: apply a (numerically stable, float64) softmax to the rows first.
    """
    x = _as_features(probs_or_logits, "probs_or_logits", min_rows=1)
    splits = _check_positive_int(splits, "splits")
    if len(x) < splits:
        raise ValueError(f"inception_score needs at least one sample per split: got {len(x)} "
                         f"samples for splits={splits}")
    if from_logits:
        log_p = special.log_softmax(x, axis=1)
        p = np.exp(log_p)
    else:
        if np.any(x < 0):
            raise ValueError("probabilities must be >= 0; pass from_logits=True for logits")
        sums = x.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise ValueError(f"probability rows must sum to 1 (one sums to {worst:.6g}); pass "
                             "from_logits=True for logits")
        p = x
        with np.errstate(divide="ignore"):
            log_p = np.log(p)
    n = len(p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        part, log_part = p[lo:hi], log_p[lo:hi]
        py = part.mean(axis=0)
        with np.errstate(divide="ignore"):
            log_py = np.log(py)
        # Terms with p(c|x) = 0 contribute 0 (py > 0 wherever p > 0, since py is their mean).
        with np.errstate(invalid="ignore"):
            terms = np.where(part > 0, part * (log_part - log_py), 0.0)
        scores.append(np.exp(terms.sum(axis=1).mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())


# ----------------------------------------------------------------------------------------------
# k-NN manifold metrics


def _rows_per_block(num_cols: int, batch_size: int | None) -> int:
    if batch_size is not None:
        return _check_positive_int(batch_size, "batch_size")
    return max(1, _BLOCK_ELEMENTS // max(1, num_cols))


def _sq_dists(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` squared Euclidean distances (float64, clamped at 0)."""
    d = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return d


def _kth_nn_sq_radii(x: np.ndarray, k: int, rows: int) -> np.ndarray:
    """Squared distance of each row of ``x`` to its k-th nearest *other* row of ``x``.

    As in the references, the (k+1)-th smallest distance to all rows including the row itself
    (whose self-distance is set to exactly 0), so exact duplicates count as neighbours.
    """
    sq = np.einsum("ij,ij->i", x, x)
    radii = np.empty(len(x), np.float64)
    for lo in range(0, len(x), rows):
        hi = min(lo + rows, len(x))
        d = _sq_dists(x[lo:hi], x, sq[lo:hi], sq)
        d[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        radii[lo:hi] = np.partition(d, k, axis=1)[:, k]
    return radii


def _check_k(k, n: int, name: str) -> int:
    k = _check_positive_int(k, "k")
    if n <= k:
        raise ValueError(f"k-NN radii with k={k} need more than k samples; {name} has {n}")
    return k


def precision_recall(real, fake, k: int = 3, batch_size: int | None = None) -> dict:
    """Improved precision and recall of Kynkäänniemi et al. (NeurIPS 2019, arXiv 1904.06991).

    Each set's manifold is the union of balls around its points with radius ``r_j`` = the
    distance from point ``j`` to its k-th nearest neighbour in the same set (itself excluded).
    A sample ``q`` lies in the manifold of set ``S`` if ``|q - s_j| <= r_j`` for some ``s_j``.

        precision = fraction of fake samples in the real manifold
        recall    = fraction of real samples in the fake manifold

    Mirrors kynkaanniemi/improved-precision-and-recall-metric ``precision_recall.py``
    (``ManifoldEstimator``, ``knn_precision_recall_features``; ``<=``, k = 3) and NVlabs/
    stylegan2-ada-pytorch ``metrics/precision_recall.py`` (``kthvalue(nhood_size + 1)``,
    ``dist <= kth``). Those use float16/float32 distances; this uses float64 and compares
    squared distances, in blocks of ``batch_size`` rows (default: about 4M distances a block).

    Returns:
        ``{"precision": float, "recall": float}``.
    """
    real = _as_features(real, "real", min_rows=1)
    fake = _as_features(fake, "fake", min_rows=1)
    _check_same_dim(real, fake, "real", "fake")
    k = _check_positive_int(k, "k")
    _check_k(k, len(real), "real")
    _check_k(k, len(fake), "fake")
    results = {}
    for name, manifold, probes in (("precision", real, fake), ("recall", fake, real)):
        rows = _rows_per_block(len(manifold), batch_size)
        radii = _kth_nn_sq_radii(manifold, k, rows)
        m_sq = np.einsum("ij,ij->i", manifold, manifold)
        p_sq = np.einsum("ij,ij->i", probes, probes)
        inside = np.empty(len(probes), bool)
        for lo in range(0, len(probes), rows):
            hi = min(lo + rows, len(probes))
            d = _sq_dists(probes[lo:hi], manifold, p_sq[lo:hi], m_sq)
            inside[lo:hi] = (d <= radii[None, :]).any(axis=1)
        results[name] = float(inside.mean())
    return results


def density_coverage(real, fake, k: int = 5, batch_size: int | None = None) -> dict:
    """Density and coverage of Naeem et al. (ICML 2020, arXiv 2002.09797).

    With ``r_j`` the distance of real sample ``j`` to its k-th nearest other real sample,

        density  = 1 / (k M) sum_{i<=M fake} sum_{j<=N real} 1[|y_i - x_j| < r_j]
        coverage = 1 / N sum_{j<=N real} 1[min_i |y_i - x_j| < r_j]

    Mirrors clovaai/generative-evaluation-prdc ``prdc/prdc.py`` (``compute_prdc``; strict ``<``,
    radii from ``get_kth_value(..., k + 1)`` including the zero self-distance; k = 5 is their
    recommended value), computed in float64 blocks of ``batch_size`` fake rows.

    Returns:
        ``{"density": float, "coverage": float}``; density is unbounded above (1 is "as dense
        as the real data"), coverage lies in [0, 1].
    """
    real = _as_features(real, "real", min_rows=1)
    fake = _as_features(fake, "fake", min_rows=1)
    _check_same_dim(real, fake, "real", "fake")
    k = _check_k(k, len(real), "real")
    rows = _rows_per_block(len(real), batch_size)
    radii = _kth_nn_sq_radii(real, k, rows)
    r_sq = np.einsum("ij,ij->i", real, real)
    f_sq = np.einsum("ij,ij->i", fake, fake)
    count = 0
    nearest_fake = np.full(len(real), np.inf)
    for lo in range(0, len(fake), rows):
        hi = min(lo + rows, len(fake))
        d = _sq_dists(fake[lo:hi], real, f_sq[lo:hi], r_sq)
        count += int(np.count_nonzero(d < radii[None, :]))
        np.minimum(nearest_fake, d.min(axis=0), out=nearest_fake)
    return {"density": count / (k * len(fake)),
            "coverage": float(np.mean(nearest_fake < radii))}


# ----------------------------------------------------------------------------------------------
# NDB / JSD


def two_proportion_z_test(p1, n1: int, p2, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided two-proportion z-test with the pooled proportion, elementwise.

        p = (n1 p1 + n2 p2) / (n1 + n2),  se = sqrt(p (1 - p) (1/n1 + 1/n2)),
        z = (p1 - p2) / se,  p_value = 2 Phi(-|z|)

    as ``NDB.two_proportions_z_test`` in eitanrich/gans-n-gmms ``utils/ndb.py``. Where
    ``se == 0`` (both proportions 0, or both 1) the reference's 0/0 yields NaN, which never
    counts as different; here ``z = 0`` and ``p_value = 1`` (same outcome, no NaN).

    Returns:
        ``(z, p_value)`` arrays shaped like ``p1``/``p2``.
    """
    p1 = np.asarray(p1, np.float64)
    p2 = np.asarray(p2, np.float64)
    n1 = _check_positive_int(n1, "n1")
    n2 = _check_positive_int(n2, "n2")
    p = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(np.clip(p * (1 - p), 0.0, None) * (1.0 / n1 + 1.0 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p1 - p2) / np.where(se > 0, se, 1.0), 0.0)
    p_value = 2.0 * stats.norm.cdf(-np.abs(z))
    return z, p_value


def jensen_shannon_divergence(p, q) -> float:
    """``JSD(p, q) = (KL(p || m) + KL(q || m)) / 2``, ``m = (p + q) / 2``, natural log (nats).

    Natural log, as ``NDB.jensen_shannon_divergence`` / ``kl_divergence`` in eitanrich/
    gans-n-gmms ``utils/ndb.py`` (``np.log``), so the values are comparable with the NDB/JS
    tables of Richardson & Weiss and MSGAN; the maximum is ``log 2 ~ 0.693`` (1 in bits).
    """
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must be 1-D histograms of the same length, got shapes "
                         f"{p.shape} and {q.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("p and q must be finite")
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError("p and q must be non-negative")
    m = (p + q) / 2

    def kl(a):
        pos = a > 0
        return float(np.sum(a[pos] * np.log(a[pos] / m[pos])))

    return 0.5 * (kl(p) + kl(q))


class NDBBins(_NpzFile):
    """Reference binning for NDB (number of statistically different bins) and JSD.

    (Richardson & Weiss, "On GANs and GMMs", NeurIPS 2018, arXiv 1805.12462; used by MSGAN,
    HelenMao/MSGAN, to measure mode coverage.) ``fit(real)`` clusters the real samples into
    ``num_bins`` bins with k-means; ``evaluate(fake)`` assigns each fake sample to its nearest
    bin centre (L2), compares each bin's fake proportion with its real proportion by a two-sided
    pooled two-proportion z-test at level ``alpha`` (NDB = number of bins with p < alpha), and
    computes the Jensen-Shannon divergence of the two bin histograms in nats.

    Mirrors the ``NDB`` class of eitanrich/gans-n-gmms ``utils/ndb.py``: k-means with
    ``max_iter=100`` (here scikit-learn ``KMeans`` with fixed ``n_init`` and ``random_state=seed``
    so that bins are reproducible), bin centres recomputed as the means of their members, bins
    ordered by decreasing real proportion, optional per-dimension whitening ``(x - mean) /
    (std + 1e-6)``. Not mirrored: the reference clusters a random sixth of the dimensions when
    ``D > 1000`` (a speed shortcut); here all dimensions are used.

    The fitted binning can be cached with ``save``/``load`` (``.npz``) and reused for every model.
    """

    def __init__(self, num_bins: int = 100, seed: int | None = 0, n_init: int = 10,
                 max_iter: int = 100, whiten: bool = False):
        self.num_bins = _check_positive_int(num_bins, "num_bins", minimum=2)
        self.seed = seed
        self.n_init = _check_positive_int(n_init, "n_init")
        self.max_iter = _check_positive_int(max_iter, "max_iter")
        self.whiten = bool(whiten)
        self.centers: np.ndarray | None = None      # [num_bins, D], whitened space
        self.proportions: np.ndarray | None = None  # [num_bins] real bin proportions
        self.num_real: int | None = None
        self.shift: np.ndarray | None = None        # whitening mean (zeros when not whitening)
        self.scale: np.ndarray | None = None        # whitening std + 1e-6 (ones when not)

    @property
    def fitted(self) -> bool:
        return self.centers is not None

    def fit(self, real) -> "NDBBins":
        """Clusters ``real`` ``[N, D]`` into ``num_bins`` bins (``N >= num_bins``). Returns self."""
        from sklearn.cluster import KMeans

        real = _as_features(real, "real", min_rows=1)
        n, d = real.shape
        if n < self.num_bins:
            raise ValueError(f"NDB with num_bins={self.num_bins} needs at least that many real "
                             f"samples; got {n} (use ~100+ per bin)")
        if self.whiten:
            shift, scale = real.mean(axis=0), real.std(axis=0) + 1e-6
        else:
            shift, scale = np.zeros(d), np.ones(d)
        x = (real - shift) / scale
        kmeans = KMeans(n_clusters=self.num_bins, n_init=self.n_init, max_iter=self.max_iter,
                        random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points: checked below
            labels = kmeans.fit_predict(x)
        counts = np.bincount(labels, minlength=self.num_bins)
        if np.any(counts == 0):
            raise ValueError(f"k-means left {int(np.sum(counts == 0))} of {self.num_bins} bins "
                             "empty: the real samples have fewer distinct points than bins")
        centers = np.zeros((self.num_bins, d))
        np.add.at(centers, labels, x)
        centers /= counts[:, None]
        order = np.argsort(-counts, kind="stable")
        self.centers = centers[order]
        self.proportions = counts[order] / n
        self.num_real = n
        self.shift, self.scale = shift, scale
        return self

    def assign(self, samples, batch_size: int | None = None) -> np.ndarray:
        """Index of the nearest bin centre (L2, after whitening) of each ``[N, D]`` sample."""
        self._check_fitted()
        x = _as_features(samples, "samples", min_rows=1)
        if x.shape[1] != self.centers.shape[1]:
            raise ValueError(f"feature dimensions differ: samples have D={x.shape[1]}, the bins "
                             f"were fitted on D={self.centers.shape[1]}")
        x = (x - self.shift) / self.scale
        c_sq = np.einsum("ij,ij->i", self.centers, self.centers)
        x_sq = np.einsum("ij,ij->i", x, x)
        rows = _rows_per_block(len(self.centers), batch_size)
        labels = np.empty(len(x), np.int64)
        for lo in range(0, len(x), rows):
            hi = min(lo + rows, len(x))
            labels[lo:hi] = _sq_dists(x[lo:hi], self.centers, x_sq[lo:hi], c_sq).argmin(axis=1)
        return labels

    def evaluate(self, fake, alpha: float = 0.05) -> dict:
        """NDB and JSD of ``fake`` ``[M, D]`` against the fitted real bins.

        Returns a dict: ``ndb`` (int), ``ndb_fraction`` (ndb / num_bins, the paper's NDB/K),
        ``jsd`` (nats), ``num_bins``, ``real_proportions``, ``fake_proportions``, ``z``,
        ``p_values``, ``different_bins`` (bool mask), ``fake_bins`` (assigned bin per sample),
        ``num_real``, ``num_fake``.
        """
        self._check_fitted()
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        labels = self.assign(fake)
        m = len(labels)
        fake_props = np.bincount(labels, minlength=self.num_bins) / m
        z, p_values = two_proportion_z_test(self.proportions, self.num_real, fake_props, m)
        different = p_values < alpha
        ndb = int(np.count_nonzero(different))
        return {
            "ndb": ndb,
            "ndb_fraction": ndb / self.num_bins,
            "jsd": jensen_shannon_divergence(self.proportions, fake_props),
            "num_bins": self.num_bins,
            "real_proportions": self.proportions.copy(),
            "fake_proportions": fake_props,
            "z": z,
            "p_values": p_values,
            "different_bins": different,
            "fake_bins": labels,
            "num_real": self.num_real,
            "num_fake": m,
        }

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ValueError("NDBBins is not fitted: call fit(real) or NDBBins.load(path) first")

    # -- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        self._check_fitted()
        return {"centers": self.centers, "proportions": self.proportions,
                "num_real": np.array(self.num_real, np.int64), "shift": self.shift,
                "scale": self.scale, "whiten": np.array(self.whiten)}

    @classmethod
    def from_dict(cls, data) -> "NDBBins":
        centers = np.asarray(data["centers"], np.float64)
        proportions = np.asarray(data["proportions"], np.float64)
        if centers.ndim != 2 or proportions.shape != (len(centers),):
            raise ValueError(f"inconsistent NDB bins: centers {centers.shape}, proportions "
                             f"{proportions.shape}")
        bins = cls(num_bins=len(centers), whiten=bool(np.asarray(data["whiten"])))
        bins.centers, bins.proportions = centers, proportions
        bins.num_real = int(np.asarray(data["num_real"]))
        bins.shift = np.asarray(data["shift"], np.float64)
        bins.scale = np.asarray(data["scale"], np.float64)
        return bins



def ndb_jsd(real, fake, num_bins: int = 100, seed: int | None = 0, alpha: float = 0.05,
            **kwargs) -> dict:
    """``NDBBins(num_bins, seed, **kwargs).fit(real).evaluate(fake, alpha)``; see ``NDBBins``."""
    real = _as_features(real, "real", min_rows=1)
    fake = _as_features(fake, "fake", min_rows=1)
    _check_same_dim(real, fake, "real", "fake")
    return NDBBins(num_bins=num_bins, seed=seed, **kwargs).fit(real).evaluate(fake, alpha=alpha)
