"""FastGAN generator of Projected GAN (keras_gans/models/projected/fastgan.py) and its layers
(keras_gans/layers/fastgan.py), plus the additive options it needed: ``SNConv2DTranspose``,
``ConditionalBatchNorm(use_bias=True)``, ``NoiseInjection(per_channel=False)``.

Reference: autonomousvision/projected_gan pg_modules/networks_fastgan.py (``FastganSynthesis``,
``FastganSynthesisCond``) and pg_modules/blocks.py (``InitLayer``, ``UpBlock*``, ``SEBlock``,
``NoiseInjection``, ``CCBN``). The official parameter count is computed here from those
definitions, independently of the model code.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gans.layers import (ConditionalBatchNorm, FastGANInitLayer, FastGANSEBlock,
                               FastGANUpBlock, NoiseInjection, SNConv2D, SNConv2DTranspose, SNDense)
from keras_gans.models.projected.fastgan import FastGANGenerator, normalize_second_moment
from helpers.keras_test_case import run_layer_test, run_model_saving_test, run_serialization_test

RNG = np.random.RandomState(0)


def np_(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype("float32")


def inputs_for(g, batch=4, seed=0):
    z = rand(batch, g.latent_dim, seed=seed)
    if g.num_classes:
        return [z, (np.arange(batch) % g.num_classes).astype("int32")]
    return z


# --- the official parameter count, from networks_fastgan.py / blocks.py -----------------------

def official_parameter_count(ngf=128, z_dim=256, nc=3, resolution=256, lite=False, num_classes=0):
    """Trainable parameters of projected_gan's FastGAN synthesis network (nn.Parameters, i.e.
    ``weight_orig`` of the SN layers, biases, BN affine, noise strengths, the embedding)."""
    multi = {2: 16, 4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
    nfc = {k: int(v * ngf) for k, v in multi.items()}
    cond = num_classes > 0

    def ccbn(c):  # two spectral_norm(nn.Linear(z_dim, c)) with bias, BN without affine
        return 2 * (z_dim * c + c)

    def up(i, o):
        if lite:  # conv3x3 i -> 2o (no bias), BN(2o) or CCBN(2o)
            return 9 * i * 2 * o + (ccbn(2 * o) if cond else 2 * 2 * o)
        if cond:  # conv1, conv2, bn1, bn2, ONE shared NoiseInjection
            return 9 * i * 2 * o + 9 * o * 2 * o + 2 * ccbn(2 * o) + 1
        return 9 * i * 2 * o + 1 + 4 * o + 9 * o * 2 * o + 1 + 4 * o

    def se(i, o):  # conv4x4 i -> o, conv1x1 o -> o, no biases
        return 16 * i * o + o * o

    # InitLayer(z_dim, nfc[2]): ConvTranspose2d(z, 2*nfc[2], 4) without bias, BN(2*nfc[2])
    n = z_dim * 2 * nfc[2] * 16 + 2 * 2 * nfc[2]
    for side in (8, 16, 32, 64, 128, 256):      # always built (L39-44)
        n += up(nfc[side // 2], nfc[side])
    n += se(nfc[4], nfc[64]) + se(nfc[8], nfc[128]) + se(nfc[16], nfc[256])  # L46-48
    n += 9 * nfc[resolution] * nc + nc          # to_big, with bias (L50)
    if resolution > 256:
        n += up(nfc[256], nfc[512]) + se(nfc[32], nfc[512])
    if resolution > 512:
        n += up(nfc[512], nfc[1024])
    return n + num_classes * z_dim               # nn.Embedding(num_classes, z_dim)


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("lite", [False, True])
def test_official_parameter_count_at_256_ngf_128(lite):
    g = FastGANGenerator(latent_dim=256, resolution=256, ngf=128, lite=lite)
    g.build()
    assert trainable_count(g) == official_parameter_count(lite=lite)
    assert trainable_count(g) == (105_684_175 if not lite else 79_354_307)
    names = ["init"] + [f"feat_{s}" for s in (8, 16, 32, 64, 128, 256)] + \
            ["se_64", "se_128", "se_256", "to_big"]
    assert [layer.name for layer in g.layers] == names  # the official module order
    del g
    # class-conditional (FastganSynthesisCond), same formula at a smaller ngf
    g = FastGANGenerator(latent_dim=64, resolution=256, ngf=16, lite=lite, num_classes=10)
    g.build()
    assert trainable_count(g) == official_parameter_count(16, 64, 3, 256, lite, num_classes=10)
    assert [layer.name for layer in g.layers] == names + ["embed"]


def test_official_parameter_count_at_other_resolutions():
    for resolution, ngf in [(512, 16), (1024, 8)]:
        for lite in (False, True):
            g = FastGANGenerator(latent_dim=32, resolution=resolution, ngf=ngf, lite=lite)
            g.build()
            assert trainable_count(g) == official_parameter_count(ngf, 32, 3, resolution, lite)
    g = FastGANGenerator(latent_dim=32, resolution=1024, ngf=8)
    assert [layer.name for layer in g.layers][-5:] == ["se_256", "to_big", "feat_512", "se_512",
                                                       "feat_1024"]
    # 128: the official also builds feat_256 and se_256, never used by its forward pass.
    g = FastGANGenerator(latent_dim=32, resolution=128, ngf=16)
    g.build()
    nfc128, nfc256, nfc16 = 16, 8, 64
    dead = (9 * nfc128 * 2 * nfc256 + 9 * nfc256 * 2 * nfc256 + 8 * nfc256 + 2
            + 16 * nfc16 * nfc256 + nfc256 ** 2)
    # the official to_big at 128 reads nfc[128], as ours
    assert trainable_count(g) == official_parameter_count(16, 32, 3, 128) - dead


# --- shapes, structure, behaviour -----------------------------------------------------------

# (resolution, ngf, lite, num_classes, training): every resolution with a full and a lite
# network, conditional and not, both modes; all four variants at the CPU sizes (the other
# variants at 64 to 512 run in test_skip_layer_excitation_wiring).
SHAPE_CASES = [(r, ngf, lite, classes, training)
               for r, ngf in [(16, 8), (32, 8)]
               for lite, classes, training in [(False, 0, False), (True, 0, True),
                                               (False, 3, True), (True, 3, False)]] + \
              [(r, 4, lite, classes, training)
               for r in (64, 128, 256)
               for lite, classes, training in [(False, 0, True), (True, 3, False)]]


@pytest.mark.parametrize("resolution, ngf, lite, num_classes, training", SHAPE_CASES)
def test_output_shapes(resolution, ngf, lite, num_classes, training):
    g = FastGANGenerator(latent_dim=16, resolution=resolution, channels=3, ngf=ngf, lite=lite,
                         num_classes=num_classes)
    out = g(inputs_for(g, batch=2), training=training)
    assert tuple(out.shape) == (2, resolution, resolution, 3)
    assert out.dtype == "float32" and np.isfinite(np_(out)).all()


def test_single_channel_output():
    g = FastGANGenerator(latent_dim=8, resolution=16, channels=1, ngf=4)
    assert tuple(g(rand(3, 8)).shape) == (3, 16, 16, 1)


def test_attributes_and_argument_errors():
    g = FastGANGenerator(latent_dim=24, resolution=32, ngf=8, num_classes=5)
    assert (g.latent_dim, g.resolution, g.num_classes) == (24, 32, 5)
    for bad in (48, 8, 2048, 0, -16, "x", None, 32.5):
        with pytest.raises(ValueError, match="resolution|integer"):
            FastGANGenerator(resolution=bad, ngf=8)
    with pytest.raises(ValueError, match="ngf=4 gives no channel at side"):
        FastGANGenerator(resolution=1024, ngf=4)
    for kw in ({"latent_dim": 0}, {"channels": 0}, {"ngf": 0}, {"num_classes": -1},
               {"lite": False, "ngf": True}):
        with pytest.raises(ValueError):
            FastGANGenerator(resolution=16, **{"ngf": 8, **kw})
    cond = FastGANGenerator(latent_dim=8, resolution=16, ngf=4, num_classes=2)
    with pytest.raises(ValueError, match=r"\[z, class_id\]"):
        cond(rand(2, 8))


def _manual_forward(g, z, y=None):
    """networks_fastgan.py ``forward`` (L58-81 / L122-147) written out with g's sub-layers."""
    def up(side, x):
        block = getattr(g, f"feat_{side}")
        return block([x, y]) if y is not None else block(x)

    feat_4 = g.init(normalize_second_moment(keras.ops.convert_to_tensor(z)))
    feat_8 = up(8, feat_4)
    feat_16 = up(16, feat_8)
    if g.resolution == 16:
        return g.to_big(g.se_16([feat_4, feat_16]))    # our extension below 64
    feat_32 = up(32, feat_16)
    if g.resolution == 32:
        return g.to_big(g.se_32([feat_4, feat_32]))    # our extension below 64
    feat_64 = g.se_64([feat_4, up(64, feat_32)])
    if g.resolution == 64:
        return g.to_big(feat_64)
    feat_128 = g.se_128([feat_8, up(128, feat_64)])
    feat_last = feat_128
    if g.resolution >= 256:
        feat_last = g.se_256([feat_16, up(256, feat_last)])
    if g.resolution >= 512:
        feat_last = g.se_512([feat_32, up(512, feat_last)])
    if g.resolution >= 1024:
        feat_last = up(1024, feat_last)
    return g.to_big(feat_last)


@pytest.mark.parametrize("resolution, ngf, num_classes", [(16, 4, 0), (32, 4, 3), (64, 4, 0),
                                                          (256, 4, 2), (512, 8, 0)])
def test_skip_layer_excitation_wiring(resolution, ngf, num_classes):
    g = FastGANGenerator(latent_dim=8, resolution=resolution, ngf=ngf, lite=True,
                         num_classes=num_classes)
    inputs = inputs_for(g, batch=2)
    expected = {16: [(4, 16)], 32: [(4, 32)], 64: [(4, 64)],
                256: [(4, 64), (8, 128), (16, 256)],
                512: [(4, 64), (8, 128), (16, 256), (32, 512)]}[resolution]
    assert g.se_links == expected
    for small, big in expected:
        se = getattr(g, f"se_{big}")
        assert isinstance(se, FastGANSEBlock) and se.filters == g.nfc[big]
    out = g(inputs)
    z, y = (inputs[0], g.embed(inputs[1])) if num_classes else (inputs, None)
    np.testing.assert_allclose(np_(out), np_(_manual_forward(g, z, y)), rtol=1e-5, atol=1e-5)
    # Each excitation is live: flipping its last conv flips its gate (sigmoid(a) -> sigmoid(-a))
    # and changes the image (training mode: batch norm rescales the differences; the SN u and
    # BN statistics updates are undone between calls).
    snapshot = _non_trainable_snapshot(g)
    base = np_(g(inputs, training=True))
    _restore(g, snapshot)
    for _, big in expected:
        conv2 = getattr(g, f"se_{big}").conv2
        conv2.kernel.assign(-conv2.kernel)
        changed = np_(g(inputs, training=True))
        _restore(g, snapshot)
        conv2.kernel.assign(-conv2.kernel)
        assert np.abs(changed - base).max() > 1e-3 * np.abs(base).max(), big
    # No excitation links other sides.
    assert not [l for l in g.layers if isinstance(l, FastGANSEBlock)
                and int(l.name.split("_")[1]) not in [b for _, b in expected]]


def test_output_is_linear_no_tanh():
    g = FastGANGenerator(latent_dim=8, resolution=16, ngf=4)
    z = rand(2, 8)
    g(z)
    assert isinstance(g.to_big, SNConv2D) and g.to_big.activation is keras.activations.linear
    assert g.to_big.use_bias
    g.to_big.bias.assign(np.full((3,), 5.0, "float32"))
    out = np_(g(z))
    assert out.min() > 1.0  # a tanh output could not exceed 1


def test_conditional_classes_change_the_output():
    g = FastGANGenerator(latent_dim=8, resolution=16, ngf=4, num_classes=3)
    z = np.repeat(rand(1, 8), 3, axis=0)
    out = np_(g([z, np.array([0, 1, 2], "int32")]))
    assert np.abs(out[0] - out[1]).max() > 1e-4 and np.abs(out[1] - out[2]).max() > 1e-4
    again = np_(g([z, np.array([2, 1, 0], "int32")]))
    np.testing.assert_allclose(again[0], out[2], rtol=1e-5, atol=1e-6)
    # the embedding is plain (not spectrally normalized), N(0, 1) initialized
    assert type(g.embed) is keras.layers.Embedding
    assert g.feat_8.conditional and g.feat_16.conditional  # every up-block is conditional
    assert not hasattr(g.init, "gain_linear")


def _non_trainable_snapshot(g):
    return {v.path: np_(v) for v in g.non_trainable_variables
            if not v.path.endswith("seed_generator_state")}


def _restore(g, snapshot):
    for v in g.non_trainable_variables:
        if v.path in snapshot:
            v.assign(snapshot[v.path])


@pytest.mark.parametrize("lite, num_classes", [(False, 0), (False, 2), (True, 0)])
def test_noise_fixed_at_inference_fresh_in_training(lite, num_classes):
    g = FastGANGenerator(latent_dim=8, resolution=16, ngf=4, lite=lite, num_classes=num_classes)
    inputs = inputs_for(g)
    g(inputs)
    noise_weights = [v for v in g.trainable_variables if "noise" in v.path]
    assert len(noise_weights) == (0 if lite else (2 if num_classes else 4))
    assert all(tuple(v.shape) == (1,) for v in noise_weights)  # one scalar strength
    for v in noise_weights:
        v.assign([0.5])
    first = np_(g(inputs))
    np.testing.assert_array_equal(np_(g(inputs)), first)  # inference: deterministic
    snapshot = _non_trainable_snapshot(g)
    a = np_(g(inputs, training=True))
    _restore(g, snapshot)  # undo the SN u / BN statistics updates of the training call
    b = np_(g(inputs, training=True))
    _restore(g, snapshot)
    if lite:  # no noise: training is deterministic too once the state updates are undone
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    else:
        assert np.abs(a - b).max() > 1e-3  # fresh noise on every training call
        for v in noise_weights:
            v.assign([0.0])
        a = np_(g(inputs, training=True))
        _restore(g, snapshot)
        np.testing.assert_allclose(a, np_(g(inputs, training=True)), rtol=1e-6, atol=1e-6)
        # randomize_noise: the official behaviour, fresh noise in eval mode too
        r = FastGANGenerator(latent_dim=8, resolution=16, ngf=4, lite=lite,
                             num_classes=num_classes, randomize_noise=True)
        r(inputs)
        for v in r.trainable_variables:
            if "noise" in v.path:
                v.assign([0.5])
        assert np.abs(np_(r(inputs)) - np_(r(inputs))).max() > 1e-3
        assert not [v for v in r.non_trainable_variables if "fixed_noise" in v.path]


def test_conditional_big_block_shares_one_strength_with_independent_maps():
    block = FastGANUpBlock(4, conditional=True, noise_seed=3)
    x, y = rand(2, 4, 4, 6), rand(2, 5, seed=1)
    block([x, y])
    assert block.fixed_noise_2 is not None and block.noise.fixed_noise is not None
    assert not np.allclose(np_(block.fixed_noise_2), np_(block.noise.fixed_noise))
    assert len([v for v in block.trainable_variables if "noise" in v.path]) == 1


def test_every_trainable_weight_gets_a_gradient():
    for kw in (dict(num_classes=2), dict(lite=True)):
        g = FastGANGenerator(latent_dim=8, resolution=32, ngf=4, **kw)
        inputs = inputs_for(g)
        with tf.GradientTape() as tape:
            out = g(inputs, training=True)
            loss = tf.reduce_sum(out * rand(*out.shape, seed=5))
        grads = tape.gradient(loss, g.trainable_variables)
        missing = [v.path for v, gr in zip(g.trainable_variables, grads)
                   if gr is None or not np.abs(np_(gr)).sum() > 0]
        assert not missing, missing


def test_tf_function_with_unknown_batch_and_mixed_precision():
    g = FastGANGenerator(latent_dim=8, resolution=16, ngf=4, num_classes=2)
    fn = tf.function(lambda z, c: g([z, c], training=True), input_signature=[
        tf.TensorSpec([None, 8], tf.float32), tf.TensorSpec([None], tf.int32)])
    out = fn(rand(3, 8), np.array([0, 1, 1], "int32"))
    assert tuple(out.shape) == (3, 16, 16, 3)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        h = FastGANGenerator(latent_dim=8, resolution=16, ngf=4, num_classes=2)
        out = h([rand(2, 8), np.array([0, 1], "int32")], training=True)
        assert out.dtype == "float32" and np.isfinite(np_(out)).all()
        assert h.feat_8.conv1.compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_checkpoint_reaches_every_variable():
    """The training loop's check (keras_gans/training/loop.py ``_check_every_variable_saved``):
    every variable must be reachable by tf.train.Checkpoint (layers kept as attributes)."""
    from tensorflow.python.checkpoint import trackable_view

    g = FastGANGenerator(latent_dim=8, resolution=32, ngf=4, num_classes=2)
    g(inputs_for(g))
    ckpt = tf.train.Checkpoint(generator=g)  # TrackableView keeps only a weak reference
    objects = trackable_view.TrackableView(ckpt).descendants()
    reached = {id(o) for o in objects} | {id(getattr(o, "value", o)) for o in objects}
    missing = [v.path for v in g.variables if id(v) not in reached
               and id(getattr(v, "value", v)) not in reached
               and not v.path.endswith("seed_generator_state")]
    assert not missing, missing


def test_pytorch_default_initialization():
    # Seeded: the embedding's sample std (256 draws of N(0, 1), std error ~0.044) leaves the
    # +-0.2 band with probability ~6e-6 per unseeded draw.
    keras.utils.set_random_seed(0)
    g = FastGANGenerator(latent_dim=64, resolution=32, ngf=16, num_classes=4)
    g(inputs_for(g))

    def check_uniform(w, fan_in):
        w, bound = np_(w), 1.0 / np.sqrt(fan_in)
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        if w.size > 1000:  # U(-b, b): std b / sqrt(3)
            assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound / np.sqrt(3)

    check_uniform(g.feat_8.conv1.kernel, 9 * g.nfc[4])
    check_uniform(g.init.conv.kernel, 16 * 2 * g.nfc[2])  # PyTorch's ConvTranspose fan-in
    check_uniform(g.to_big.kernel, 9 * g.nfc[32])
    check_uniform(g.to_big.bias, 9 * g.nfc[32])
    check_uniform(g.feat_8.bn1.gain_linear.kernel, 64)
    check_uniform(g.feat_8.bn1.gain_linear.bias, 64)
    assert abs(np_(g.embed.embeddings).std() - 1.0) < 0.2   # nn.Embedding: N(0, 1)
    assert g.feat_8.conv1.epsilon == 1e-12 and g.se_32.conv1.epsilon == 1e-12
    assert g.feat_8.bn1.batch_norm.momentum == 0.9 and g.feat_8.bn1.batch_norm.epsilon == 1e-5
    assert isinstance(g.feat_8.bn1.gain_linear, SNDense) and g.feat_8.bn1.gain_linear.use_bias


@pytest.mark.parametrize("kw", [dict(), dict(lite=True, num_classes=3), dict(num_classes=3)])
def test_keras_round_trip(kw, tmp_path):
    g = FastGANGenerator(latent_dim=8, resolution=32, ngf=4, noise_seed=7, name="generator", **kw)
    inputs = inputs_for(g)
    g(inputs, training=True)  # moving statistics and SN u away from their initial values
    for v in g.trainable_variables:
        if "noise" in v.path:
            v.assign([0.3])
    restored = run_model_saving_test(g, inputs, tmp_path)
    assert restored.name == "generator" and restored.se_links == g.se_links
    json.dumps(g.get_config())
    assert run_serialization_test(g).get_config() == g.get_config()


# --- the layers against their definitions -----------------------------------------------------

def _bn_inference(x, bn):
    mean, var = np_(bn.moving_mean), np_(bn.moving_variance)
    out = (x - mean) / np.sqrt(var + bn.epsilon)
    if bn.scale:
        out = out * np_(bn.gamma)
    if bn.center:
        out = out + np_(bn.beta)
    return out


def _glu(x):
    c = x.shape[-1] // 2
    return x[..., :c] / (1 + np.exp(-x[..., c:]))


def _conv_same3(x, k):
    b, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(np.einsum("bhwc,co->bhwo", xp[:, i:i + h, j:j + w], k[i, j])
               for i in range(3) for j in range(3))


def _randomize_bn(bn, seed):
    r = np.random.RandomState(seed)
    bn.moving_mean.assign(r.normal(size=bn.moving_mean.shape).astype("float32"))
    bn.moving_variance.assign(r.uniform(0.5, 2.0, size=bn.moving_variance.shape).astype("float32"))
    if bn.scale:
        bn.gamma.assign(r.uniform(0.5, 1.5, size=bn.gamma.shape).astype("float32"))
        bn.beta.assign(r.normal(size=bn.beta.shape).astype("float32"))


@pytest.mark.parametrize("lite", [False, True])
def test_up_block_matches_its_definition(lite):
    """UpBlockBig (blocks.py L96-106): up, conv, noise, BN, GLU, conv, noise, BN, GLU;
    UpBlockSmall (L68-73): up, conv, BN, GLU. Inference, fixed noise maps."""
    block = FastGANUpBlock(5, lite=lite, noise_seed=1)
    x = rand(2, 4, 4, 6)
    block(x)
    up = x.repeat(2, axis=1).repeat(2, axis=2)
    if lite:
        _randomize_bn(block.bn, 0)
        h = _conv_same3(up, np_(block.conv.normalized_kernel()))
        expected = _glu(_bn_inference(h, block.bn))
    else:
        for i, bn in enumerate((block.bn1, block.bn2)):
            _randomize_bn(bn, i)
        block.noise1.weight.assign([0.7])
        block.noise2.weight.assign([-1.3])
        h = _conv_same3(up, np_(block.conv1.normalized_kernel()))
        h = h + 0.7 * np_(block.noise1.fixed_noise)
        h = _glu(_bn_inference(h, block.bn1))
        h = _conv_same3(h, np_(block.conv2.normalized_kernel()))
        h = h - 1.3 * np_(block.noise2.fixed_noise)
        expected = _glu(_bn_inference(h, block.bn2))
    out = np_(block(x))
    assert out.shape == (2, 8, 8, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_conditional_up_block_matches_ccbn():
    """UpBlockSmallCond (L76-93) with CCBN (L267-291): BN(x) * (1 + linear(y)) + linear(y)."""
    block = FastGANUpBlock(3, lite=True, conditional=True)
    x, y = rand(2, 4, 4, 4), rand(2, 7, seed=1)
    block([x, y])
    cbn = block.bn
    _randomize_bn(cbn.batch_norm, 2)
    h = _conv_same3(x.repeat(2, 1).repeat(2, 2), np_(block.conv.normalized_kernel()))
    gain = 1 + y @ np_(cbn.gain_linear.normalized_kernel()) + np_(cbn.gain_linear.bias)
    bias = y @ np_(cbn.bias_linear.normalized_kernel()) + np_(cbn.bias_linear.bias)
    expected = _glu(_bn_inference(h, cbn.batch_norm) * gain[:, None, None] + bias[:, None, None])
    np.testing.assert_allclose(np_(block([x, y])), expected, rtol=1e-4, atol=1e-4)


def test_se_block_matches_its_definition():
    """SEBlock (L141-153): AdaptiveAvgPool2d(4), conv4x4, Swish, conv1x1, sigmoid, multiply."""
    se = FastGANSEBlock(5)
    small, big = rand(2, 8, 8, 3), rand(2, 16, 16, 5, seed=1)
    out = np_(se([small, big]))
    pooled = small.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    h = np.einsum("bijc,ijco->bo", pooled, np_(se.conv1.normalized_kernel()))
    h = h / (1 + np.exp(-h))
    h = h @ np_(se.conv2.normalized_kernel())[0, 0]
    gate = 1 / (1 + np.exp(-h))
    np.testing.assert_allclose(out, big * gate[:, None, None, :], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of 4"):
        FastGANSEBlock(5)([rand(1, 6, 6, 3), rand(1, 12, 12, 5)])


def test_init_layer_matches_its_definition():
    """InitLayer (L53-65): ConvTranspose2d(nz, 2C, 4, 1, 0) on the 1x1 latent, BN, GLU."""
    layer = FastGANInitLayer(3)
    z = rand(2, 6)
    layer(z)
    _randomize_bn(layer.bn, 3)
    # normalized_kernel() is in the power iteration's (kh, kw, in, out) layout; PyTorch's
    # weight is [in, out, kh, kw]
    weight = np_(layer.conv.normalized_kernel()).transpose(2, 3, 0, 1)
    h = np.einsum("bi,ioac->baco", z, weight)  # [B, 4, 4, 2C]
    expected = _glu(_bn_inference(h, layer.bn))
    np.testing.assert_allclose(np_(layer(z)), expected, rtol=1e-4, atol=1e-4)


def test_layer_serialization(tmp_path):
    run_layer_test(FastGANInitLayer, {"channels": 4}, rand(2, 6),
                   expected_output_shape=(2, 4, 4, 4),
                   expected_num_trainable_weights=3, expected_num_non_trainable_weights=3,
                   directory=tmp_path)
    # conv1, noise1, bn1 (2), conv2, noise2, bn2 (2); u x2, fixed noise x2, moving stats x4
    run_layer_test(FastGANUpBlock, {"filters": 3, "noise_seed": 2}, rand(2, 4, 4, 5),
                   expected_output_shape=(2, 8, 8, 3), expected_num_trainable_weights=8,
                   expected_num_non_trainable_weights=8, directory=tmp_path)
    run_layer_test(FastGANSEBlock, {"filters": 5}, [rand(2, 4, 4, 3), rand(2, 8, 8, 5)],
                   expected_output_shape=(2, 8, 8, 5), expected_num_trainable_weights=2,
                   expected_num_non_trainable_weights=2, directory=tmp_path)


# --- additive options of the shared layers -------------------------------------------------

def test_sn_conv2d_transpose_sigma_is_pytorchs():
    """torch.nn.utils.spectral_norm on ConvTranspose2d normalizes along dim=1: the matrix is
    weight [in, out, kh, kw] permuted to [out, in * kh * kw]."""
    # Seeded: the power iteration's convergence depends on the gap between the two largest
    # singular values, which an unseeded kernel leaves to chance (it made this test flaky).
    keras.utils.set_random_seed(0)
    layer = SNConv2DTranspose(6, 4, padding="valid", use_bias=False, power_iterations=300,
                              epsilon=1e-12)
    x = rand(3, 1, 1, 5)
    layer(x)
    k = np_(layer.kernel)                           # Keras (kh, kw, out, in)
    assert k.shape == (4, 4, 6, 5) and tuple(layer.sn_u.shape) == (1, 6)
    torch_weight = k.transpose(3, 2, 0, 1)          # PyTorch (in, out, kh, kw)
    matrix = torch_weight.transpose(1, 0, 2, 3).reshape(6, -1)
    sigma = np.linalg.svd(matrix.astype("float64"), compute_uv=False)[0]
    normalized = np_(layer.normalized_kernel()).transpose(0, 1, 3, 2)  # back to (kh, kw, out, in)
    np.testing.assert_allclose(k / normalized, np.full(k.shape, sigma), rtol=1e-4)
    # the naive view of Keras' kernel ([kh*kw*out, in]) has another largest singular value
    naive = np.linalg.svd(k.reshape(-1, 5).astype("float64"), compute_uv=False)[0]
    assert abs(naive - sigma) / sigma > 1e-2
    # the output is the transposed convolution with W / sigma: on a 1x1 input,
    # out[b, a, c, o] = sum_i x[b, i] * weight[i, o, a, c] / sigma (PyTorch's semantics)
    expected = np.einsum("bi,ioac->baco", x[:, 0, 0], torch_weight / sigma)
    np.testing.assert_allclose(np_(layer(x)), expected, rtol=1e-4, atol=1e-5)


def test_sn_conv2d_transpose_serialization_and_training_update(tmp_path):
    layer, _ = run_layer_test(SNConv2DTranspose, {"filters": 4, "kernel_size": 3, "strides": 2,
                                                  "padding": "same", "epsilon": 1e-12},
                              rand(2, 3, 3, 2), expected_output_shape=(2, 6, 6, 4),
                              expected_num_trainable_weights=2,
                              expected_num_non_trainable_weights=1, directory=tmp_path)
    assert layer.get_config()["epsilon"] == 1e-12
    u = np_(layer.sn_u)
    layer(rand(2, 3, 3, 2), training=True)
    assert not np.allclose(np_(layer.sn_u), u)
    layer(rand(2, 3, 3, 2))
    before = np_(layer.sn_u)
    layer(rand(2, 3, 3, 2), training=False)
    np.testing.assert_array_equal(np_(layer.sn_u), before)


def test_conditional_batch_norm_bias_option(tmp_path):
    x, y = rand(4, 3, 3, 6), rand(4, 5, seed=1)
    default = ConditionalBatchNorm()
    default([x, y])
    assert default.gain_linear.bias is None and not default.get_config()["use_bias"]
    layer, _ = run_layer_test(ConditionalBatchNorm,
                              {"use_bias": True, "bias_initializer": "ones", "sn_epsilon": 1e-12},
                              [x, y], expected_output_shape=(4, 3, 3, 6),
                              expected_num_trainable_weights=4,
                              expected_num_non_trainable_weights=4, directory=tmp_path)
    np.testing.assert_array_equal(np_(layer.gain_linear.bias), np.ones(6))
    plain = ConditionalBatchNorm(spectral_norm=False, use_bias=True, bias_initializer="ones")
    plain([x, y])
    plain.gain_linear.bias.assign(np.linspace(-1, 1, 6).astype("float32"))
    out = np_(plain([x, y], training=True))
    normed = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-5)
    gain = 1 + y @ np_(plain.gain_linear.kernel) + np.linspace(-1, 1, 6)
    bias = y @ np_(plain.bias_linear.kernel) + 1.0
    np.testing.assert_allclose(out, normed * gain[:, None, None] + bias[:, None, None],
                               rtol=1e-4, atol=1e-4)
    # configs saved before the option existed still load (default: no bias)
    old = {k: v for k, v in default.get_config().items()
           if k not in ("use_bias", "bias_initializer")}
    assert not ConditionalBatchNorm.from_config(old).use_bias


def test_noise_injection_scalar_option(tmp_path):
    x = rand(2, 4, 5, 3)
    layer = NoiseInjection(seed=1, per_channel=False)
    np.testing.assert_array_equal(np_(layer(x)), x)
    assert tuple(layer.weight.shape) == (1,)
    layer.weight.assign([0.5])
    noise = rand(2, 4, 5, 1, seed=4)
    np.testing.assert_allclose(np_(layer(x, noise=noise)), x + 0.5 * noise, atol=1e-6)
    fresh = (np_(layer(x, training=True)) - x) / 0.5
    np.testing.assert_allclose(fresh[..., 0], fresh[..., 2], atol=1e-5)  # shared by channels
    assert not np.allclose(fresh, (np_(layer(x, training=True)) - x) / 0.5)
    fixed = (np_(layer(x)) - x) / 0.5
    np.testing.assert_allclose(fixed[1, ..., 1], np_(layer.fixed_noise)[0, ..., 0], atol=1e-5)
    assert tuple(NoiseInjection()(x).shape) == x.shape
    per_channel = NoiseInjection()
    per_channel(x)
    assert tuple(per_channel.weight.shape) == (3,) and per_channel.get_config()["per_channel"]
    run_layer_test(NoiseInjection, {"per_channel": False, "seed": 3}, x,
                   expected_output_shape=x.shape, expected_num_trainable_weights=1,
                   expected_num_non_trainable_weights=1, directory=tmp_path)
