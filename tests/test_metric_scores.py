"""keras_gans.metrics.scores against small independent references (closed forms, brute force)."""

import math

import numpy as np
import pytest

from keras_gans.metrics import scores
from keras_gans.metrics.scores import (
    FeatureStats,
    NDBBins,
    density_coverage,
    fid_from_features,
    fid_from_stats,
    frechet_distance,
    inception_score,
    jensen_shannon_divergence,
    kernel_inception_distance,
    ndb_jsd,
    precision_recall,
    two_proportion_z_test,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# FeatureStats


def _uneven_batches(x, sizes):
    out, lo = [], 0
    for s in sizes:
        out.append(x[lo:lo + s])
        lo += s
    assert lo == len(x)
    return out


def test_feature_stats_streaming_matches_numpy():
    # A large offset relative to the spread: the naive sum-of-squares formula would lose digits.
    x = (_rng().normal(size=(103, 6)) * 0.5 + 1000.0).astype(np.float32)
    stats = FeatureStats()
    for batch in _uneven_batches(x, [1, 0, 17, 40, 2, 43]):
        stats.update(batch)
    ref = x.astype(np.float64)
    assert stats.count == 103 and stats.dim == 6
    np.testing.assert_allclose(stats.mean, ref.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(ref, rowvar=False), rtol=1e-9, atol=1e-12)


def test_feature_stats_merge_and_kept_rows():
    x = _rng(1).normal(size=(60, 4)) + 3.0
    whole = FeatureStats(keep_features=50).update(x)
    a = FeatureStats(keep_features=50).update(x[:35])
    b = FeatureStats(keep_features=50).update(x[35:41]).update(x[41:])
    a.merge(b)
    assert a.count == 60
    np.testing.assert_allclose(a.mean, np.mean(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(a.covariance, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(a.covariance, whole.covariance, rtol=1e-10, atol=1e-13)
    # The first 50 rows, in order, as float32.
    np.testing.assert_array_equal(a.features, x[:50].astype(np.float32))
    np.testing.assert_array_equal(whole.features, x[:50].astype(np.float32))
    # Merging into an empty accumulator.
    empty = FeatureStats().merge(whole)
    np.testing.assert_allclose(empty.covariance, whole.covariance, rtol=1e-12)


def test_feature_stats_save_load_round_trip(tmp_path):
    x = _rng(2).normal(size=(40, 5))
    stats = FeatureStats(keep_features=10).update(x)
    path = stats.save(tmp_path / "ref")
    assert path.endswith(".npz")
    with np.load(path) as data:
        assert {"mean", "cov", "count"} <= set(data.files)
    loaded = FeatureStats.load(path)
    assert loaded.count == 40
    np.testing.assert_allclose(loaded.mean, np.mean(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(loaded.covariance, np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_array_equal(loaded.features, x[:10].astype(np.float32))
    # The loaded accumulator keeps accumulating correctly.
    y = _rng(3).normal(size=(7, 5))
    loaded.update(y)
    both = np.concatenate([x, y])
    np.testing.assert_allclose(loaded.covariance, np.cov(both, rowvar=False), rtol=1e-10)
    np.testing.assert_allclose(FeatureStats.from_dict(stats.to_dict()).mean, stats.mean)


def test_feature_stats_errors():
    stats = FeatureStats().update(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        stats.update(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="2-D"):
        stats.update(np.zeros(4))
    bad = np.ones((2, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        stats.update(bad)
    with pytest.raises(ValueError, match="at least 2"):
        _ = FeatureStats().update(np.ones((1, 4))).covariance
    with pytest.raises(ValueError, match="empty"):
        _ = FeatureStats().mean
    with pytest.raises(ValueError, match="feature dimensions differ"):
        FeatureStats().update(np.ones((2, 3))).merge(stats)


# ----------------------------------------------------------------------------------------------
# Fréchet distance


def test_frechet_distance_diagonal_closed_form():
    rng = _rng(4)
    mu1, mu2 = rng.normal(size=7), rng.normal(size=7)
    s1, s2 = rng.uniform(0.1, 3.0, size=7), rng.uniform(0.1, 3.0, size=7)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected,
                                                                                 rel=1e-10)


def _psd_sqrt(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_frechet_distance_general_matches_eigen_formula():
    rng = _rng(5)
    for _ in range(3):
        a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        s1, s2 = a @ a.T + 0.1 * np.eye(2), b @ b.T + 0.1 * np.eye(2)
        mu1, mu2 = rng.normal(size=2), rng.normal(size=2)
        # Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2), a symmetric PSD matrix.
        r1 = _psd_sqrt(s1)
        tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)))
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_identical_and_from_features():
    x = _rng(6).normal(size=(50, 8))
    mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8
    assert abs(fid_from_features(x, x)) < 1e-8
    y = x + 2.0  # a pure shift: FID = |shift|^2 = 8 * 4
    assert fid_from_features(x, y) == pytest.approx(32.0, rel=1e-7)
    sa, sb = FeatureStats().update(x), FeatureStats().update(y)
    assert fid_from_stats(sa, sb) == pytest.approx(32.0, rel=1e-7)


def test_frechet_distance_singular_covariances():
    # Rank-deficient covariances: product diag(0, 0, 4) -> trace of its square root is 2,
    # so d^2 = Tr s1 + Tr s2 - 2 * 2 = 3 + 5 - 4 (the diagonal closed form, per dimension).
    s1, s2 = np.diag([1.0, 0.0, 2.0]), np.diag([0.0, 3.0, 2.0])
    mu = np.zeros(3)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(3.0 + 5.0 - 4.0, rel=1e-10)
    # Fewer samples than dimensions (singular sample covariances) still gives a finite value.
    rng = _rng(7)
    x, y = rng.normal(size=(5, 10)), rng.normal(size=(6, 10))
    r1 = _psd_sqrt(np.cov(x, rowvar=False))
    tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ np.cov(y, rowvar=False) @ r1),
                                     0, None)))
    expected = (np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(np.cov(x, rowvar=False))
                + np.trace(np.cov(y, rowvar=False)) - 2 * tr_sqrt)
    assert fid_from_features(x, y) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_eps_fallback(monkeypatch):
    calls = []
    real_sqrtm = scores._sqrtm

    def flaky_sqrtm(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(scores, "_sqrtm", flaky_sqrtm)
    s1, s2, eps = np.diag([1.0, 2.0]), np.diag([3.0, 0.0]), 1e-3
    value = frechet_distance(np.zeros(2), s1, np.zeros(2), s2, eps=eps)
    # The retry used (s1 + eps I)(s2 + eps I); the traces stay those of s1 and s2.
    a, b = np.array([1.0, 2.0]) + eps, np.array([3.0, 0.0]) + eps
    assert len(calls) == 2
    assert value == pytest.approx(3.0 + 3.0 - 2 * np.sum(np.sqrt(a * b)), rel=1e-10)


def test_frechet_distance_errors():
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(2), np.diag([-1.0, 1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="sigma2 has shape"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        frechet_distance(np.array([0.0, np.inf]), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_features(np.ones((1, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="at least 2 samples per set"):
        fid_from_stats(FeatureStats().update(np.ones((1, 3))),
                       FeatureStats().update(np.ones((4, 3))))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        fid_from_features(np.ones((4, 3)), np.ones((4, 2)))


# ----------------------------------------------------------------------------------------------
# KID


def _brute_mmd2(x, y):
    d = x.shape[1]
    k = lambda u, v: (float(np.dot(u, v)) / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_matches_brute_force_mmd():
    rng = _rng(8)
    real, fake = rng.normal(size=(9, 3)), rng.normal(size=(9, 3)) + 0.3
    mean, std = kernel_inception_distance(real, fake, num_subsets=1, max_subset_size=100)
    assert mean == pytest.approx(_brute_mmd2(fake, real), rel=1e-10, abs=1e-12)
    assert std == 0.0


def test_kid_same_vs_shifted_distribution():
    rng = _rng(9)
    real, same = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + 0.5
    m_same, s_same = kernel_inception_distance(real, same, num_subsets=20, max_subset_size=200)
    m_shift, _ = kernel_inception_distance(real, shifted, num_subsets=20, max_subset_size=200)
    assert abs(m_same) < 0.01 and s_same > 0
    assert m_shift > 0.05 and m_shift > 10 * abs(m_same)
    # Seeded: the same seed gives the same subsets.
    again = kernel_inception_distance(real, same, num_subsets=20, max_subset_size=200)
    assert again == (m_same, s_same)


def test_kid_errors():
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(np.ones((1, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        kernel_inception_distance(np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        kernel_inception_distance(np.full((5, 3), np.nan), np.ones((5, 3)))


# ----------------------------------------------------------------------------------------------
# Inception score


def test_inception_score_uniform_and_one_hot():
    mean, std = inception_score(np.full((40, 8), 1 / 8), splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    one_hot = np.tile(np.eye(5), (10, 1))  # every contiguous split of 10 rows: 2 per class
    mean, std = inception_score(one_hot, splits=5)
    assert mean == pytest.approx(5.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # Same from (large-margin) logits.
    mean, _ = inception_score(one_hot * 60.0, splits=5, from_logits=True)
    assert mean == pytest.approx(5.0, rel=1e-9)


def test_inception_score_hand_computed():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    # p(y) = (0.75, 0.25); KL1 = log(1/0.75); KL2 = 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25).
    kl1 = math.log(1 / 0.75)
    kl2 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    expected = math.exp((kl1 + kl2) / 2)
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(expected, rel=1e-12) and std == 0.0
    # Two splits: [one-hot row, one-hot row] -> exp(0) = 1 and [uniform, one-hot] -> expected.
    probs2 = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [1.0, 0.0]])
    mean, std = inception_score(probs2, splits=2)
    assert mean == pytest.approx((1 + expected) / 2, rel=1e-12)
    assert std == pytest.approx(abs(expected - 1) / 2, rel=1e-12)
    # Logits -> softmax.
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]))
    from_probs = inception_score(np.exp(logits), splits=1)
    assert inception_score(logits + 3.0, splits=1, from_logits=True)[0] == pytest.approx(
        from_probs[0], rel=1e-12)


def test_inception_score_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.ones((10, 3)), splits=2)
    with pytest.raises(ValueError, match="one sample per split"):
        inception_score(np.full((3, 2), 0.5), splits=10)
    with pytest.raises(ValueError, match=">= 0"):
        inception_score(np.array([[1.5, -0.5]] * 4), splits=2)


# ----------------------------------------------------------------------------------------------
# Precision / recall, density / coverage


def _brute_dists(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _brute_radii(x, k):
    d = _brute_dists(x, x)
    return np.array([np.sort(np.delete(d[i], i))[k - 1] for i in range(len(x))])


def _brute_pr(real, fake, k):
    r_real, r_fake = _brute_radii(real, k), _brute_radii(fake, k)
    d = _brute_dists(fake, real)  # [fake, real]
    precision = np.mean([any(d[i, j] <= r_real[j] for j in range(len(real)))
                         for i in range(len(fake))])
    recall = np.mean([any(d[i, j] <= r_fake[i] for i in range(len(fake)))
                      for j in range(len(real))])
    return precision, recall


def test_precision_recall_matches_brute_force():
    rng = _rng(10)
    real = rng.normal(size=(30, 4))
    fake = rng.normal(size=(27, 4)) * 0.7 + 0.8
    for k in (1, 3, 5):
        expected = _brute_pr(real, fake, k)
        assert 0 < expected[0] < 1 and 0 < expected[1] < 1
        for batch_size in (None, 7):
            got = precision_recall(real, fake, k=k, batch_size=batch_size)
            assert (got["precision"], got["recall"]) == expected


def test_precision_recall_identical_and_disjoint():
    x = _rng(11).normal(size=(25, 3))
    assert precision_recall(x, x.copy(), k=3) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(x, x + 100.0, k=3) == {"precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(x[:3], x, k=3)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        precision_recall(x, x[:, :2])


def test_density_coverage_matches_brute_force():
    rng = _rng(12)
    real = rng.normal(size=(30, 4))
    fake = rng.normal(size=(33, 4)) * 0.8 + 0.3
    for k in (2, 5):
        r = _brute_radii(real, k)
        d = _brute_dists(real, fake)  # [real, fake]
        density = (d < r[:, None]).sum() / (k * len(fake))
        coverage = np.mean(d.min(axis=1) < r)
        for batch_size in (None, 4):
            got = density_coverage(real, fake, k=k, batch_size=batch_size)
            assert got["density"] == pytest.approx(density, rel=1e-12)
            assert got["coverage"] == coverage
    x = rng.normal(size=(20, 3))
    assert density_coverage(x, x.copy(), k=5)["coverage"] == 1.0
    with pytest.raises(ValueError, match="more than k"):
        density_coverage(x[:5], x, k=5)
    with pytest.raises(ValueError, match="NaN or inf"):
        density_coverage(x, np.full((4, 3), np.inf))


# ----------------------------------------------------------------------------------------------
# NDB / JSD


def _mixture(rng, n, modes):
    centers = np.stack([np.cos(2 * np.pi * np.arange(8) / 8),
                        np.sin(2 * np.pi * np.arange(8) / 8)], axis=1) * 5.0
    idx = rng.choice(modes, size=n)
    return centers[idx] + rng.normal(size=(n, 2)) * 0.3


def test_two_proportion_z_test_hand_computed():
    # Bin with 10% of 1000 real samples and 5% of 500 fake samples.
    p = (0.10 * 1000 + 0.05 * 500) / 1500
    se = math.sqrt(p * (1 - p) * (1 / 1000 + 1 / 500))
    z_expected = (0.10 - 0.05) / se
    z, pv = two_proportion_z_test(np.array([0.10]), 1000, np.array([0.05]), 500)
    assert z[0] == pytest.approx(z_expected, rel=1e-12)
    assert pv[0] == pytest.approx(math.erfc(z_expected / math.sqrt(2)), rel=1e-9)
    # Both proportions 0: no evidence of a difference.
    z, pv = two_proportion_z_test(np.array([0.0]), 10, np.array([0.0]), 10)
    assert z[0] == 0 and pv[0] == 1


def test_jensen_shannon_divergence_natural_log():
    assert jensen_shannon_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.log(2))
    expected = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
                      + math.log(1 / 0.75))
    assert jensen_shannon_divergence([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected)
    assert jensen_shannon_divergence([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_ndb_same_vs_dropped_modes(tmp_path):
    rng = _rng(13)
    real = _mixture(rng, 2000, np.arange(8))
    bins = NDBBins(num_bins=16, seed=0, n_init=3).fit(real)
    assert bins.proportions.sum() == pytest.approx(1.0)
    assert np.all(np.diff(bins.proportions) <= 0)  # ordered by size
    same = bins.evaluate(_mixture(rng, 1000, np.arange(8)))
    dropped = bins.evaluate(_mixture(rng, 1000, np.arange(4)))
    assert same["ndb"] <= 3 and same["jsd"] < 0.01
    assert dropped["ndb"] >= 8 and dropped["jsd"] > 0.2
    assert dropped["ndb_fraction"] == dropped["ndb"] / 16
    # Hand check of one bin's z statistic from the counts.
    j = int(np.argmax(np.abs(dropped["z"])))
    p1, p2 = bins.proportions[j], np.mean(dropped["fake_bins"] == j)
    p = (p1 * 2000 + p2 * 1000) / 3000
    z = (p1 - p2) / math.sqrt(p * (1 - p) * (1 / 2000 + 1 / 1000))
    assert dropped["z"][j] == pytest.approx(z, rel=1e-12)
    assert dropped["different_bins"][j]
    # The cached binning gives the same results; ndb_jsd fits the same (seeded) bins.
    loaded = NDBBins.load(bins.save(tmp_path / "bins"))
    again = loaded.evaluate(_mixture(_rng(14), 500, np.arange(4)))
    direct = bins.evaluate(_mixture(_rng(14), 500, np.arange(4)))
    assert again["ndb"] == direct["ndb"] and again["jsd"] == pytest.approx(direct["jsd"])
    one_shot = ndb_jsd(real, _mixture(_rng(14), 500, np.arange(4)), num_bins=16, seed=0, n_init=3)
    assert one_shot["ndb"] == direct["ndb"] and one_shot["jsd"] == pytest.approx(direct["jsd"])


def test_ndb_errors():
    x = _rng(15).normal(size=(10, 2))
    with pytest.raises(ValueError, match="at least that many"):
        NDBBins(num_bins=20).fit(x)
    with pytest.raises(ValueError, match="not fitted"):
        NDBBins(num_bins=4).evaluate(x)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        ndb_jsd(x, np.ones((5, 3)), num_bins=4)
    with pytest.raises(ValueError, match="empty"):
        NDBBins(num_bins=4).fit(np.ones((10, 2)))
