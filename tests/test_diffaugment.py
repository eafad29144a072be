"""DiffAugment (keras_gans/layers/diffaugment.py) against a numpy port of the official NCHW code
(autonomousvision/projected_gan pg_modules/diffaug.py), given the same uniforms.

The port below follows diffaug.py line by line on NCHW arrays (``x.size(2)`` = H, ``x.size(3)``
= W; padding + clamped index grids for the translation; a clamped scatter of zeros for the
cutout), in float64; only the random draws differ from the official: ``torch.rand`` values are
the recorded uniforms, ``torch.randint(low, high)`` values are ``floor(u * (high - low)) + low``
(the module's documented mapping, computed in float32 as it is).
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_gans.layers.diffaugment import (DIFFAUGMENT_POLICIES, diff_augment, rand_brightness,
                                           rand_contrast, rand_cutout, rand_saturation,
                                           rand_translation, stateless_draw)

# (H, W): non-square so that an axis mix-up fails; odd (3, 5) and even (6, 4) cutout sizes;
# translation shifts (2, 3) and (4, 3).
SHAPES = [(16, 24), (32, 20)]


def images(batch, h, w, c=3, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, size=(batch, h, w, c)).astype("float32")


class Recorder:
    """A ``draw`` that returns given (or random) uniforms and records every request."""

    def __init__(self, batch, seed=0, fixed=None):
        self.batch, self.rng, self.fixed = batch, np.random.RandomState(seed), fixed or {}
        self.u, self.shapes = {}, {}

    def __call__(self, index, shape):
        if index in self.fixed:
            u = np.asarray(self.fixed[index], "float32").reshape((self.batch, *shape))
        else:
            u = self.rng.uniform(size=(self.batch, *shape)).astype("float32")
        assert index not in self.u, f"quantity {index} drawn twice"
        self.u[index], self.shapes[index] = u, tuple(shape)
        return tf.constant(u)


def np_randint(u, low, high):
    """``torch.randint(low, high)`` from the uniform ``u`` (float32 arithmetic)."""
    n = np.float32(high - low)
    k = np.floor(u.reshape(-1).astype("float32") * n)
    return np.clip(k, 0, n - 1).astype(np.int64) + low


# --- the numpy port of diffaug.py (NCHW) -------------------------------------------------------

def official_brightness(x, u):        # L22-24
    return x + (u.reshape(-1, 1, 1, 1) - 0.5)


def official_saturation(x, u):        # L27-30
    x_mean = x.mean(axis=1, keepdims=True)
    return (x - x_mean) * (u.reshape(-1, 1, 1, 1) * 2) + x_mean


def official_contrast(x, u):          # L33-36
    x_mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - x_mean) * (u.reshape(-1, 1, 1, 1) + 0.5) + x_mean


def official_translation(x, u_x, u_y, ratio=0.125):   # L39-52
    b, _, h, w = x.shape
    shift_x, shift_y = int(h * ratio + 0.5), int(w * ratio + 0.5)
    translation_x = np_randint(u_x, -shift_x, shift_x + 1).reshape(-1, 1, 1)
    translation_y = np_randint(u_y, -shift_y, shift_y + 1).reshape(-1, 1, 1)
    grid_batch, grid_x, grid_y = np.meshgrid(np.arange(b), np.arange(h), np.arange(w),
                                             indexing="ij")
    grid_x = np.clip(grid_x + translation_x + 1, 0, h + 1)
    grid_y = np.clip(grid_y + translation_y + 1, 0, w + 1)
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return x_pad.transpose(0, 2, 3, 1)[grid_batch, grid_x, grid_y].transpose(0, 3, 1, 2)


def official_cutout(x, u_x, u_y, ratio=0.2):          # L55-69
    b, _, h, w = x.shape
    cutout_size = int(h * ratio + 0.5), int(w * ratio + 0.5)
    offset_x = np_randint(u_x, 0, h + (1 - cutout_size[0] % 2)).reshape(-1, 1, 1)
    offset_y = np_randint(u_y, 0, w + (1 - cutout_size[1] % 2)).reshape(-1, 1, 1)
    grid_batch, grid_x, grid_y = np.meshgrid(np.arange(b), np.arange(cutout_size[0]),
                                             np.arange(cutout_size[1]), indexing="ij")
    grid_x = np.clip(grid_x + offset_x - cutout_size[0] // 2, 0, h - 1)
    grid_y = np.clip(grid_y + offset_y - cutout_size[1] // 2, 0, w - 1)
    mask = np.ones((b, h, w), x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask[:, None]


def official_diff_augment(x_nhwc, policy, u):
    """diffaug.py ``DiffAugment(x, policy, channels_first=False)`` (L9-19) with the uniforms
    ``u[index]`` (brightness 0, saturation 1, contrast 2, translation 3/4, cutout 5/6)."""
    x = x_nhwc.astype("float64").transpose(0, 3, 1, 2)
    for p in policy.split(","):
        if p == "color":
            x = official_brightness(x, u[0])
            x = official_saturation(x, u[1])
            x = official_contrast(x, u[2])
        elif p == "translation":
            x = official_translation(x, u[3], u[4])
        elif p == "cutout":
            x = official_cutout(x, u[5], u[6])
    return x.transpose(0, 2, 3, 1)


# --- against the port ----------------------------------------------------------------------

# Extreme uniforms too: 0 and the largest float32 below 1 (largest shifts and offsets).
EDGE = np.float32(1.0) - np.float32(2.0 ** -24)


def edge_uniforms(batch, seed):
    u = np.random.RandomState(seed).uniform(size=batch).astype("float32")
    u[:3] = [0.0, EDGE, 0.5]
    return u


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout",
                                    "cutout,color"])
def test_matches_the_official_semantics(hw, policy):
    batch = 8
    x = images(batch, *hw, seed=1)
    fixed = {i: edge_uniforms(batch, 10 + i) for i in range(7)}
    draw = Recorder(batch, fixed=fixed)
    out = diff_augment(tf.constant(x), policy, draw=draw).numpy()
    expected = official_diff_augment(x, policy, draw.u)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    used = {"color": {0, 1, 2}, "translation": {3, 4}, "cutout": {5, 6}}
    assert set(draw.u) == set().union(*(used[p] for p in policy.split(",")))
    assert set(draw.shapes.values()) == {(1, 1, 1)}


@pytest.mark.parametrize("hw", SHAPES)
def test_each_op_matches_the_official_with_random_uniforms(hw):
    batch = 16
    x = images(batch, *hw, seed=2)
    u = {i: np.random.RandomState(20 + i).uniform(size=(batch, 1, 1, 1)).astype("float32")
         for i in range(7)}
    nchw = x.astype("float64").transpose(0, 3, 1, 2)

    def back(y):
        return y.transpose(0, 2, 3, 1)

    cases = [
        (rand_brightness(x, u[0]), back(official_brightness(nchw, u[0]))),
        (rand_saturation(x, u[1]), back(official_saturation(nchw, u[1]))),
        (rand_contrast(x, u[2]), back(official_contrast(nchw, u[2]))),
        (rand_translation(x, u[3], u[4]), back(official_translation(nchw, u[3], u[4]))),
        (rand_cutout(x, u[5], u[6]), back(official_cutout(nchw, u[5], u[6]))),
    ]
    for i, (ours, theirs) in enumerate(cases):
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-6, atol=1e-6, err_msg=str(i))


def test_default_draw_is_the_documented_stateless_uniform():
    x = images(5, 16, 16, seed=3)
    seed = tf.constant([7, 11], tf.int64)
    recorded = {}
    base = stateless_draw(seed, 5)

    def spy(index, shape):
        t = base(index, shape)
        recorded[index] = t.numpy()
        return t

    out = diff_augment(tf.constant(x), seed=seed).numpy()
    np.testing.assert_array_equal(diff_augment(tf.constant(x), draw=spy).numpy(), out)
    for i in range(7):
        expected = tf.random.stateless_uniform(
            [5, 1, 1, 1], seed=tf.random.experimental.stateless_fold_in(seed, i)).numpy()
        np.testing.assert_array_equal(recorded[i], expected)
    np.testing.assert_allclose(out, official_diff_augment(x, "color,translation,cutout",
                                                          recorded), rtol=1e-6, atol=1e-6)


# --- properties --------------------------------------------------------------------------------

def test_translation_moves_a_one_hot_pixel_by_the_drawn_shift():
    h, w, batch = 16, 24, 9
    shift_h, shift_w = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)   # 2, 3
    i0, j0 = 7, 11
    x = np.zeros((batch, h, w, 2), "float32")
    x[:, i0, j0, :] = [1.0, 2.0]
    u_h = np.linspace(0.0, float(EDGE), batch).astype("float32")
    u_w = u_h[::-1].copy()
    draw = Recorder(batch, fixed={3: u_h, 4: u_w})
    out = diff_augment(tf.constant(x), "translation", draw=draw).numpy()
    t_h = np.floor(u_h * (2 * shift_h + 1)).astype(int) - shift_h
    t_w = np.floor(u_w * (2 * shift_w + 1)).astype(int) - shift_w
    assert set(t_h) == set(range(-shift_h, shift_h + 1))   # every shift occurs
    assert set(t_w) == set(range(-shift_w, shift_w + 1))
    for b in range(batch):
        expected = np.zeros((h, w, 2), "float32")
        expected[i0 - t_h[b], j0 - t_w[b]] = [1.0, 2.0]   # out[i, j] = x[i + t_h, j + t_w]
        np.testing.assert_array_equal(out[b], expected)
    # a constant image: the vacated border is zero-filled, everything else kept
    ones = np.ones((batch, h, w, 1), "float32")
    moved = diff_augment(tf.constant(ones), "translation", draw=Recorder(
        batch, fixed={3: u_h, 4: u_w})).numpy()
    for b in range(batch):
        rows = (np.arange(h) + t_h[b] >= 0) & (np.arange(h) + t_h[b] < h)
        cols = (np.arange(w) + t_w[b] >= 0) & (np.arange(w) + t_w[b] < w)
        np.testing.assert_array_equal(moved[b, ..., 0], np.outer(rows, cols).astype("float32"))


@pytest.mark.parametrize("hw", SHAPES)
def test_cutout_zeroes_exactly_one_clipped_square(hw):
    h, w = hw
    size_h, size_w = int(h * 0.2 + 0.5), int(w * 0.2 + 0.5)
    batch = 12
    u_h = np.linspace(0.0, float(EDGE), batch).astype("float32")
    u_w = np.random.RandomState(4).uniform(size=batch).astype("float32")
    u_w[:2] = [0.0, EDGE]
    ones = np.ones((batch, h, w, 3), "float32")
    out = diff_augment(tf.constant(ones), "cutout", draw=Recorder(
        batch, fixed={5: u_h, 6: u_w})).numpy()
    o_h = np.floor(u_h * (h + 1 - size_h % 2)).astype(int)
    o_w = np.floor(u_w * (w + 1 - size_w % 2)).astype(int)
    assert o_h.min() == 0 and o_h.max() == h - size_h % 2  # the full offset range is reached
    clipped = 0
    for b in range(batch):
        r0, c0 = o_h[b] - size_h // 2, o_w[b] - size_w // 2
        rows = (np.arange(h) >= r0) & (np.arange(h) < r0 + size_h)
        cols = (np.arange(w) >= c0) & (np.arange(w) < c0 + size_w)
        expected = 1.0 - np.outer(rows, cols)
        np.testing.assert_array_equal(out[b], np.repeat(expected[..., None], 3, -1))
        zeros = int((out[b, ..., 0] == 0).sum())
        assert 0 < zeros <= size_h * size_w
        clipped += zeros < size_h * size_w
    assert clipped >= 1  # some squares cross the border and are clipped


def test_gradients_flow_and_equal_the_analytic_ones():
    batch, h, w, c = 4, 8, 8, 3
    x = tf.constant(images(batch, h, w, c, seed=5))
    weights = tf.constant(np.random.RandomState(6).normal(size=(batch, h, w, c)).astype("float32"))
    u = np.random.RandomState(7).uniform(size=(batch, 1, 1, 1)).astype("float32")

    def grad(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x) * weights)
        return tape.gradient(loss, x).numpy()

    wn = weights.numpy()
    np.testing.assert_allclose(grad(lambda t: rand_brightness(t, u)), np.ones_like(wn) * wn,
                               rtol=1e-6)
    # contrast: d/dx [(x - m) c + m] . w = c w + (1 - c) mean_hwc(w)
    cc = u + 0.5
    np.testing.assert_allclose(grad(lambda t: rand_contrast(t, u)),
                               cc * wn + (1 - cc) * wn.mean(axis=(1, 2, 3), keepdims=True),
                               rtol=1e-5, atol=1e-6)
    # saturation: s w + (1 - s) mean_c(w)
    s = 2 * u
    np.testing.assert_allclose(grad(lambda t: rand_saturation(t, u)),
                               s * wn + (1 - s) * wn.mean(axis=-1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    # translation and cutout are linear in x: the gradient g is their adjoint applied to w,
    # so <g, x> = <op(x), w>; both keep some of the pixels
    for policy in ("translation", "cutout"):
        fixed = {i: np.random.RandomState(30 + i).uniform(size=batch) for i in range(7)}
        def op(t, p=policy, f=fixed):
            return diff_augment(t, p, draw=Recorder(batch, fixed=f))

        g = grad(op)
        assert np.abs(g).sum() > 0
        np.testing.assert_allclose((g * x.numpy()).sum(), (op(x).numpy() * wn).sum(),
                                   rtol=1e-5)
    full = grad(lambda t: diff_augment(t, seed=tf.constant([1, 2])))
    assert np.isfinite(full).all() and np.abs(full).sum() > 0


def test_stateless_same_seed_same_output_and_tf_function():
    x = tf.constant(images(6, 16, 16, seed=8))
    a = diff_augment(x, seed=tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(diff_augment(x, seed=tf.constant([3, 4])).numpy(), a)
    assert np.abs(diff_augment(x, seed=tf.constant([3, 5])).numpy() - a).max() > 1e-3
    assert np.abs(a - x.numpy()).max() > 1e-3
    static = tf.function(lambda t, s: diff_augment(t, seed=s))
    np.testing.assert_allclose(static(x, tf.constant([3, 4])).numpy(), a, rtol=1e-6, atol=1e-6)
    unknown = tf.function(lambda t, s: diff_augment(t, seed=s), input_signature=[
        tf.TensorSpec([None, 16, 16, 3], tf.float32), tf.TensorSpec([2], tf.int32)])
    np.testing.assert_allclose(unknown(x, tf.constant([3, 4])).numpy(), a, rtol=1e-6, atol=1e-6)
    # with a user draw under tf.function too
    calls = []

    def draw(index, shape):
        calls.append((index, tuple(shape)))
        return tf.random.stateless_uniform(tf.concat([tf.shape(x)[:1], list(shape)], 0),
                                           seed=[index, 0])

    out = tf.function(lambda t: diff_augment(t, draw=draw))(x)
    assert tuple(out.shape) == (6, 16, 16, 3)
    assert sorted(calls) == [(i, (1, 1, 1)) for i in range(7)]


def test_policy_validation_and_edge_cases():
    x = tf.constant(images(2, 8, 8))
    assert DIFFAUGMENT_POLICIES == ("color", "translation", "cutout")
    with pytest.raises(ValueError, match="known: color, translation, cutout"):
        diff_augment(x, "color,flip", seed=tf.constant([1, 2]))
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        diff_augment(x, ["colour"], seed=tf.constant([1, 2]))
    with pytest.raises(ValueError, match="seed"):
        diff_augment(x, "color")
    with pytest.raises(ValueError, match="NHWC"):
        diff_augment(tf.zeros([2, 8, 8]), "color", seed=tf.constant([1, 2]))
    with pytest.raises(ValueError, match="float"):
        diff_augment(tf.zeros([2, 8, 8, 3], tf.int32), "color", seed=tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"\[2\]"):
        diff_augment(x, "color", seed=tf.constant([1, 2, 3]))
    assert diff_augment(x, "") is x and diff_augment(x, None) is x   # official: no policy
    # whitespace and list forms; a repeated entry draws new quantities (index + 7)
    draw = Recorder(2)
    diff_augment(x, [" color", "translation ", "color"], draw=draw)
    assert sorted(draw.u) == [0, 1, 2, 3, 4, 7, 8, 9]
