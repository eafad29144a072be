"""keras_gans.metrics.lpips / convert_lpips: LPIPS v0.1 (Zhang et al. 2018) in Keras.

Fast tests: the Keras forward against an independent numpy LPIPS (float64, convolutions by
``einsum`` over sliding windows, layer tables written here from torchvision's ``alexnet`` /
``vgg16`` definitions and lpips' ``pretrained_networks`` slices) on seeded random weights;
distance properties; the name-based weight mapping on synthetic torchvision-layout state dicts
plus the real lpips heads (read with torch when it is installed, synthetic otherwise); errors;
and the ``lpips`` metric's pairing protocol in ``keras_gans.metrics.evaluate.score``.

Slow test (``--slow``; needs torch and the lpips package's head files): a seeded random
torchvision-layout backbone saved as ``.pth``, converted with ``convert_weights`` (real heads),
against a hand-written ``torch.nn.functional`` LPIPS on the 20 foolbox ImageNet photos resized
to 64x64. No test can use the real ImageNet backbones: they are not available offline.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import skip_or_fail
from keras_gans.errors import UsageError
from keras_gans.metrics import convert_lpips
from keras_gans.metrics import evaluate as ev, features as feature_nets, specs as metric_specs
from keras_gans.metrics import lpips

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_LPIPS = importlib.util.find_spec("lpips") is not None  # located, never imported

# torchvision.models.alexnet().features / vgg16().features (cfg "D"), module by module:
# ("conv", in, out, kernel, stride, padding), "relu", ("pool", kernel, stride).
TV_ALEX = [("conv", 3, 64, 11, 4, 2), "relu", ("pool", 3, 2),
           ("conv", 64, 192, 5, 1, 2), "relu", ("pool", 3, 2),
           ("conv", 192, 384, 3, 1, 1), "relu",
           ("conv", 384, 256, 3, 1, 1), "relu",
           ("conv", 256, 256, 3, 1, 1), "relu", ("pool", 3, 2)]


def _tv_vgg16():
    layers, channels = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"]:
        if v == "M":
            layers.append(("pool", 2, 2))
        else:
            layers += [("conv", channels, v, 3, 1, 1), "relu"]
            channels = v
    return layers


TV = {"alex": TV_ALEX, "vgg": _tv_vgg16()}
# lpips/pretrained_networks.py: the modules of slice1..slice5 (alexnet / vgg16 classes).
SLICES = {"alex": [range(0, 2), range(2, 5), range(5, 8), range(8, 10), range(10, 12)],
          "vgg": [range(0, 4), range(4, 9), range(9, 16), range(16, 23), range(23, 30)]}
CHANNELS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}  # LPIPS.chns
# Sum of numel of torchvision's features tensors (alexnet: 2,469,696; vgg16: 14,714,688).
BACKBONE_NUMBERS = {"alex": 2_469_696, "vgg": 14_714_688}


def tv_state_dict(net: str, seed: int = 0, classifier: bool = True) -> dict:
    """A seeded torchvision-layout state dict (He-scaled conv weights, small biases). The
    ``classifier.*`` stand-ins are small (their real shapes are irrelevant: LPIPS ignores them)."""
    rng = np.random.default_rng(seed)
    state = {}
    for i, layer in enumerate(TV[net]):
        if isinstance(layer, tuple) and layer[0] == "conv":
            _, cin, cout, k, _, _ = layer
            state[f"features.{i}.weight"] = (rng.normal(size=(cout, cin, k, k))
                                             * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
            state[f"features.{i}.bias"] = (0.1 * rng.normal(size=(cout,))).astype(np.float32)
    if classifier:
        for j in ((1, 4, 6) if net == "alex" else (0, 3, 6)):
            state[f"classifier.{j}.weight"] = rng.normal(size=(8, 16)).astype(np.float32)
            state[f"classifier.{j}.bias"] = rng.normal(size=(8,)).astype(np.float32)
    return state


def synthetic_heads(net: str, seed: int = 1) -> dict:
    """Heads in the lpips layout (``lin<k>.model.1.weight`` [1, C, 1, 1], non-negative as the
    lpips trainer's clamp_weights keeps them)."""
    rng = np.random.default_rng(seed)
    return {f"lin{k}.model.1.weight": rng.uniform(0, 1, size=(1, c, 1, 1)).astype(np.float32)
            for k, c in enumerate(CHANNELS[net])}


def heads(net: str) -> tuple[dict, str]:
    """The lpips package's v0.1 heads when torch can read them, else synthetic ones."""
    if HAVE_TORCH and HAVE_LPIPS:
        return convert_lpips.load_heads(net), "lpips package"
    return synthetic_heads(net), "synthetic"


# ------------------------------------------------------------------ independent numpy LPIPS


def np_conv(x, w, b, stride, pad):
    """NCHW float64 conv2d with OIHW weights (torch semantics: symmetric zero padding)."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[-1]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]


def np_maxpool(x, k, stride):
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.max(axis=(-2, -1))  # floor division of the size: torch ceil_mode=False


def np_lpips(x0, x1, net: str, state: dict) -> np.ndarray:
    """LPIPS v0.1 of NHWC [-1, 1] pairs, following lpips.LPIPS.forward step by step."""
    shift = np.array([-.030, -.088, -.188])[None, :, None, None]
    scale = np.array([.458, .448, .450])[None, :, None, None]

    def taps(x):
        h = (np.asarray(x, np.float64).transpose(0, 3, 1, 2) - shift) / scale  # ScalingLayer
        outs = []
        for sl in SLICES[net]:
            for i in sl:
                layer = TV[net][i]
                if layer == "relu":
                    h = np.maximum(h, 0)
                elif layer[0] == "pool":
                    h = np_maxpool(h, layer[1], layer[2])
                else:
                    h = np_conv(h, state[f"features.{i}.weight"].astype(np.float64),
                                state[f"features.{i}.bias"].astype(np.float64), layer[4], layer[5])
            outs.append(h)
        return outs

    total = 0.0
    for k, (a, b) in enumerate(zip(taps(x0), taps(x1))):
        na = a / (np.sqrt(np.sum(a ** 2, axis=1, keepdims=True)) + 1e-10)  # normalize_tensor
        nb = b / (np.sqrt(np.sum(b ** 2, axis=1, keepdims=True)) + 1e-10)
        w = state[f"lin{k}.model.1.weight"].astype(np.float64)[0, :, 0, 0]
        total = total + np.einsum("nchw,c->nhw", (na - nb) ** 2, w).mean(axis=(1, 2))
    return total


@pytest.fixture(scope="module")
def models():
    """LPIPS alex and vgg with seeded random backbones and (real or synthetic) heads."""
    out = {}
    for net in lpips.NETS:
        head_state, where = heads(net)
        state = {**tv_state_dict(net), **head_state}
        model = lpips.build_lpips(net)
        convert_lpips.assign(model, state)
        out[net] = (model, state, where)
    return out


# --------------------------------------------------------------------------------- forward


def test_architecture_sizes_and_names():
    for net in lpips.NETS:
        model = lpips.build_lpips(net)
        backbone = lpips.backbone_of(model)
        assert backbone.count_params() == BACKBONE_NUMBERS[net]
        assert model.count_params() - backbone.count_params() == sum(CHANNELS[net])
        convs = sorted(int(l.name.split(".")[1]) for l in backbone.layers
                       if l.__class__.__name__ == "Conv2D")
        assert convs == [i for i, l in enumerate(TV[net][:SLICES[net][-1][-1] + 1])
                         if isinstance(l, tuple) and l[0] == "conv"]
        assert [model.get_layer(f"lin{k}").kernel.shape[2] for k in range(5)] == CHANNELS[net]
    # Tap sizes at 64x64 from the torch layer arithmetic, and the smallest usable inputs.
    taps = lpips.build_backbone("alex")(np.zeros((1, 64, 64, 3), np.float32))
    assert [tuple(t.shape[1:]) for t in taps] == [(15, 15, 64), (7, 7, 192), (3, 3, 384),
                                                   (3, 3, 256), (3, 3, 256)]
    assert lpips.min_image_size("alex") == 31 and lpips.min_image_size("vgg") == 16


@pytest.mark.parametrize("net,size,n", [("alex", 64, 4), ("vgg", 32, 2)])
def test_forward_matches_numpy_reference(models, net, size, n):
    model, state, where = models[net]
    rng = np.random.default_rng(size)
    a = rng.uniform(-1, 1, size=(n, size, size, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(scale=0.3, size=a.shape), -1, 1).astype(np.float32)
    got = lpips.lpips_distance(a, b, model, batch_size=3)
    want = np_lpips(a, b, net, state)
    diff = np.abs(got - want).max()
    print(f"\n[{net} {size}px, heads {where}] distances {np.round(want, 4)}, max|diff| {diff:.2e}")
    assert got.shape == (n,) and got.dtype == np.float32
    assert np.all(want > 0.01)  # a non-trivial value, not 0 == 0
    assert diff <= 1e-5 and (np.abs(got - want) / want).max() <= 1e-5


def test_distance_properties(models):
    model, _, _ = models["alex"]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3, 40, 40, 3)).astype(np.float32)
    y = rng.uniform(-1, 1, size=(3, 40, 40, 3)).astype(np.float32)
    assert np.all(lpips.lpips_distance(x, x, model) == 0.0)
    np.testing.assert_array_equal(lpips.lpips_distance(x, y, model), lpips.lpips_distance(y, x, model))
    noise = rng.normal(size=x.shape).astype(np.float32)
    near = lpips.lpips_distance(x, np.clip(x + 0.05 * noise, -1, 1), model)
    far = lpips.lpips_distance(x, np.clip(x + 0.5 * noise, -1, 1), model)
    assert np.all(0 < near) and np.all(near < far)
    # Batching does not change a pair's value.
    np.testing.assert_allclose(lpips.lpips_distance(x, y, model, batch_size=1),
                               lpips.lpips_distance(x, y, model, batch_size=50), rtol=1e-5)
    # uint8 pixels are x / 127.5 - 1; grayscale is the image tiled to 3 channels.
    pixels = rng.integers(0, 256, size=(2, 32, 32, 1), dtype=np.uint8)
    other = rng.integers(0, 256, size=(2, 32, 32, 1), dtype=np.uint8)
    as_float = [np.repeat(p.astype(np.float32) / 127.5 - 1, 3, axis=-1) for p in (pixels, other)]
    np.testing.assert_allclose(lpips.lpips_distance(pixels, other, model),
                               lpips.lpips_distance(*as_float, model), rtol=1e-6)


def test_bad_inputs_say_what_to_do(models):
    model, _, _ = models["alex"]
    x = np.zeros((2, 32, 32, 3), np.float32)
    with pytest.raises(UsageError, match="at least 31x31"):
        lpips.lpips_distance(x[:, :30, :30], x[:, :30, :30], model)
    lpips.prepare_images(x[:, :31, :31], "alex")  # the smallest size works
    with pytest.raises(UsageError, match=r"\[B, H, W, 1 or 3\]"):
        lpips.lpips_distance(x[..., :2], x[..., :2], model)
    with pytest.raises(UsageError, match="one shape"):
        lpips.lpips_distance(x, x[:1], model)
    with pytest.raises(UsageError, match=r"uint8 0..255 or floats in \[-1, 1\]"):
        lpips.lpips_distance(x + 200, x, model)
    with pytest.raises(UsageError, match="NaN"):
        lpips.lpips_distance(x * np.nan, x, model)
    with pytest.raises(UsageError, match="net must be one of"):
        lpips.build_lpips("squeeze")
    with pytest.raises(UsageError, match="expected an LPIPS model"):
        lpips.lpips_distance(x, x, lpips.build_backbone("alex"))


# ------------------------------------------------------------------------------ conversion


@pytest.mark.parametrize("net", lpips.NETS)
def test_assign_maps_every_tensor_once(net):
    model = lpips.build_lpips(net)
    head_state, _ = heads(net)
    state = {**tv_state_dict(net, seed=3), **head_state}
    counts = convert_lpips.assign(model, state)
    n_convs = sum(isinstance(l, tuple) and l[0] == "conv" for l in TV[net])
    assert counts["tensors"] == 2 * n_convs + 5 == len(model.weights)
    assert counts["backbone_numbers"] == BACKBONE_NUMBERS[net]
    assert counts["head_numbers"] == sum(CHANNELS[net])
    assert counts["ignored"] == sorted(k for k in state if k.startswith("classifier."))
    # Every Keras weight holds its own source tensor (each source tensor is distinct).
    backbone = lpips.backbone_of(model)
    for key, value in state.items():
        if key.startswith("features."):
            layer = backbone.get_layer(key.rsplit(".", 1)[0])
            got = layer.kernel if key.endswith("weight") else layer.bias
            want = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value
            np.testing.assert_array_equal(np.asarray(got), want)
        elif key.startswith("lin"):
            got = model.get_layer(key.split(".")[0]).kernel
            np.testing.assert_array_equal(np.asarray(got)[0, 0, :, 0], value[0, :, 0, 0])


def test_assign_refuses_missing_extra_and_misshapen_tensors():
    model = lpips.build_lpips("alex")
    good = {**tv_state_dict("alex", classifier=False), **synthetic_heads("alex")}
    missing = {k: v for k, v in good.items() if k != "features.3.bias"}
    with pytest.raises(UsageError, match=r"lacks 1 tensors: features\.3\.bias.*alexnet\(weights="):
        convert_lpips.assign(model, missing)
    with pytest.raises(UsageError, match="lacks .*lin2"):
        convert_lpips.assign(model, {k: v for k, v in good.items() if not k.startswith("lin2")})
    extra = {**good, "features.13.weight": np.zeros((4, 4, 3, 3), np.float32)}
    with pytest.raises(UsageError, match=r"features\.13\.weight .* no counterpart"):
        convert_lpips.assign(model, extra)
    bn = {**good, "features.1.running_mean": np.zeros((64,), np.float32)}  # e.g. vgg16_bn
    with pytest.raises(UsageError, match="unexpected tensor 'features.1.running_mean'"):
        convert_lpips.assign(model, bn)
    with pytest.raises(UsageError, match="lin5"):
        convert_lpips.assign(model, {**good, "lin5.model.1.weight": np.zeros((1, 8, 1, 1), np.float32)})
    bad_shape = {**good, "features.0.weight": np.zeros((64, 3, 7, 7), np.float32)}
    with pytest.raises(UsageError, match=r"features\.0\.weight has shape \(64, 3, 7, 7\)"):
        convert_lpips.assign(model, bad_shape)
    # A VGG16 backbone is not an AlexNet one.
    with pytest.raises(UsageError, match="does not fit LPIPS alex's features.0.weight .*torchvision alexnet"):
        convert_lpips.assign(model, {**tv_state_dict("vgg", classifier=False),
                                     **synthetic_heads("alex")})


def test_converted_file_round_trip_and_wrong_net(tmp_path, models):
    model, state, _ = models["alex"]
    out = str(tmp_path / "lpips-alex.weights.h5")
    summary = convert_lpips.convert_state_dict(state, "alex", out)
    assert summary["out_path"] == out and summary["network"] == "lpips-alex"
    assert summary["numbers"] == BACKBONE_NUMBERS["alex"] + sum(CHANNELS["alex"])
    loaded = lpips.load_lpips("alex", out)
    x = np.random.default_rng(5).uniform(-1, 1, size=(2, 48, 48, 3)).astype(np.float32)
    np.testing.assert_array_equal(lpips.lpips_distance(x, x[::-1], loaded),
                                  lpips.lpips_distance(x, x[::-1], model))
    with pytest.raises(UsageError, match="does not hold LPIPS vgg weights"):
        lpips.load_lpips("vgg", out)
    with pytest.raises(UsageError, match=r"\.weights\.h5"):
        convert_lpips.convert_state_dict(state, "alex", str(tmp_path / "w.h5"))


def test_missing_weights_name_the_conversion_command(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_GANS_HOME", str(tmp_path / "home"))
    for net, file, fn in (("alex", "alexnet.pth", "alexnet"), ("vgg", "vgg16.pth", "vgg16")):
        default = str(tmp_path / "home" / f"lpips-{net}-v0.1.weights.h5")
        assert lpips.default_weights_path(net) == default
        with pytest.raises(UsageError) as e:
            lpips.load_lpips(net)
        msg = str(e.value)
        assert default in msg and f"keras-gans convert-weights lpips-{net} --from {file}" in msg
        assert f"torchvision.models.{fn}(weights='IMAGENET1K_V1').state_dict(), '{file}'" in msg
        assert "pip install --no-deps lpips==0.1.4" in msg
    # The same through evaluate and the command line (exit 2, the recipe on stderr).
    with pytest.raises(UsageError, match="convert-weights lpips-alex"):
        feature_nets.make_lpips_net("alex", str(tmp_path / "none.weights.h5"))
    with pytest.raises(UsageError, match="--lpips-net must be one of"):
        feature_nets.make_lpips_net("squeeze")


def test_convert_weights_entry_errors(tmp_path, monkeypatch, capsys):
    from keras_gans import cli

    with pytest.raises(UsageError, match=r"needs --from FILE.*torchvision\.models\.vgg16"):
        convert_lpips.convert_weights("lpips-vgg")
    with pytest.raises(UsageError, match="does not exist"):
        convert_lpips.convert_weights("lpips-alex", source=str(tmp_path / "missing.pth"))
    with pytest.raises(UsageError, match="converts lpips-alex, lpips-vgg"):
        convert_lpips.convert_weights("lpips-squeeze", source="x.pth")
    assert cli.main(["convert-weights", "lpips-alex"]) == 2
    assert "torchvision.models.alexnet(weights='IMAGENET1K_V1')" in capsys.readouterr().err
    # Without torch the .pth files cannot be read; without lpips there are no heads.
    source = tmp_path / "alexnet.pth"
    source.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(UsageError, match="pip install torch==2.13.0"):
        convert_lpips.convert_weights("lpips-alex", str(tmp_path / "o.weights.h5"), str(source))
    monkeypatch.setattr(convert_lpips.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"pip install --no-deps lpips==0\.1\.4"):
        convert_lpips.heads_path("alex")


@pytest.mark.slow
def test_convert_weights_from_a_torch_file(tmp_path, capsys):
    """The command line on a torch.save'd torchvision-layout file (needs torch, not torchvision:
    the ``[convert]`` tools, which the default suite and CI do not install, hence slow)."""
    if not (HAVE_TORCH and HAVE_LPIPS):
        skip_or_fail("needs torch and the lpips package (pip install torch==2.13.0; "
                     "pip install --no-deps lpips==0.1.4)")
    import torch

    from keras_gans import cli

    state = tv_state_dict("alex", seed=7)
    source = str(tmp_path / "alexnet.pth")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, source)
    out = str(tmp_path / "out" / "lpips-alex.weights.h5")
    assert cli.main(["convert-weights", "lpips-alex", "--from", source, "--out", out]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["out_path"] == out and summary["heads"].endswith(os.path.join("v0.1", "alex.pth"))
    assert summary["tensors"] == 15 and len(summary["ignored"]) == 6
    model = lpips.load_lpips("alex", out)
    np.testing.assert_array_equal(np.asarray(model.get_layer("lin1").kernel)[0, 0, :, 0],
                                  convert_lpips.load_heads("alex")["lin1.model.1.weight"][0, :, 0, 0])
    torch.save(torch.nn.Linear(2, 2), str(tmp_path / "module.pth"))  # a module, not a state dict
    with pytest.raises(UsageError, match="not a loadable torch state dict|not a state dict"):
        convert_lpips.convert_weights("lpips-alex", out, str(tmp_path / "module.pth"))


# ---------------------------------------------------------------------- the lpips metric


def _pair_net(model):
    return feature_nets.PairNet("lpips-alex-test", "alex", "<random weights>",
                      lambda a, b: lpips.lpips_distance(a, b, model), 50)


def test_metric_pairs_same_class_samples(models):
    """Conditional samplers: both images of a pair share a class (classes cycle); a generator
    whose images depend only on the class is therefore not diverse at all (LPIPS exactly 0)."""
    model, _, _ = models["alex"]
    patterns = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    seen = []

    def by_class(n, index, classes=None):
        seen.append((index, None if classes is None else list(classes)))
        return patterns[classes]

    by_class.num_classes = 3
    specs = metric_specs.parse_metrics("lpips10,lpips7")
    rec = ev.score(by_class, None, specs, None, log=lambda *a: None, pair_net=_pair_net(model))
    assert rec["results"] == {"lpips10": 0.0, "lpips10_sem": 0.0, "lpips7": 0.0, "lpips7_sem": 0.0}
    assert seen == [(ev.LPIPS_INDEX_OFFSET, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]),
                    (ev.LPIPS_INDEX_OFFSET + 1, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0])]
    assert rec["lpips"]["pairs"] == 10 and "class i mod 3" in rec["lpips"]["pairing"]
    assert rec["feature_net"] is None and rec["num_real"] is None

    # Unconditional: independent draws; the values are the mean / standard error of the pairs.
    rng = np.random.default_rng(1)
    images = {}

    def random_images(n, index):
        images[index] = rng.integers(0, 256, size=(n, 32, 32, 1), dtype=np.uint8)
        return images[index]

    rec = ev.score(random_images, None, metric_specs.parse_metrics("lpips6"), None, log=lambda *a: None,
                   pair_net=_pair_net(model))
    d = lpips.lpips_distance(images[ev.LPIPS_INDEX_OFFSET], images[ev.LPIPS_INDEX_OFFSET + 1],
                             model).astype(np.float64)
    assert rec["results"]["lpips6"] == pytest.approx(d.mean(), rel=1e-12)
    assert rec["results"]["lpips6_sem"] == pytest.approx(d.std(ddof=1) / np.sqrt(6), rel=1e-12)
    assert "unconditional" in rec["lpips"]["pairing"]
    assert "lpips6" in ev.format_table(rec) and "higher = more diverse" in ev.format_table(rec)
    with pytest.raises(UsageError, match="needs the LPIPS network"):
        ev.score(random_images, None, metric_specs.parse_metrics("lpips6"), None)


def test_gan_sampler_draws_the_requested_classes():
    """``gan_sampler(..., classes=...)`` feeds those labels to ``gan.sample``."""
    import tensorflow as tf

    import keras

    class Painter(keras.Model):  # images whose pixels are the label; z must be [n, latent_dim]
        def call(self, inputs, training=False):
            z, labels = inputs
            assert tuple(z.shape) == (len(labels), 4)
            return tf.reshape(tf.cast(labels, tf.float32) / 4.0 * 2 - 1, [-1, 1, 1, 1]) * tf.ones([1, 2, 2, 1])

    class ClassPainter:  # the restored-generator interface gan_sampler reads
        latent_dim, num_classes, ema = 4, 5, False
        generator = Painter()

        def generator_inputs(self, z, labels):
            return [z, labels]

    sample = ev.gan_sampler(ClassPainter(), seed=0)
    assert sample.num_classes == 5
    out = sample(4, 9, classes=[4, 0, 2, 4])
    assert [int(round(v)) for v in out[:, 0, 0, 0] / 63.75] == [4, 0, 2, 4]
    with pytest.raises(UsageError, match=r"4 ids in \[0, 5\)"):
        sample(4, 9, classes=[5, 0, 0, 0])


# ------------------------------------------------------------------------------ diversity


def test_diversity_helpers_use_lpips(models):
    from keras_gans.metrics import diversity

    model, _, _ = models["alex"]
    x = np.random.default_rng(2).uniform(-1, 1, size=(5, 32, 32, 3)).astype(np.float32)
    brute = np.mean([lpips.lpips_distance(x[i:i + 1], x[j:j + 1], model)[0]
                     for i in range(5) for j in range(i + 1, 5)])
    got = diversity.mean_pairwise_distance(x, "lpips", lpips_model=model, batch_size=4)
    assert got == pytest.approx(brute, rel=1e-5)
    sampled = diversity.mean_pairwise_distance(x, "lpips", lpips_model=model, max_pairs=6, seed=1)
    assert sampled == diversity.mean_pairwise_distance(x, "lpips", lpips_model=model, max_pairs=6,
                                                       seed=1)
    out = diversity.per_class_diversity(diversity.array_sample_fn(x, np.array([0, 1, 0, 1, 0])), 2,
                                        per_class=2, metric="lpips", lpips_model=model)
    assert out[0] == pytest.approx(lpips.lpips_distance(x[:1], x[2:3], model)[0], rel=1e-5)
    assert out["mean"] == pytest.approx((out[0] + out[1]) / 2)
    with pytest.raises(ValueError, match="drop features_fn"):
        diversity.mean_pairwise_distance(x, "lpips", features_fn=lambda b: b, lpips_model=model)
    with pytest.raises(ValueError, match="only used with metric='lpips'"):
        diversity.mean_pairwise_distance(x, "l1", lpips_model=model)


# ------------------------------------------------------------------- slow: torch parity


def torch_lpips(x0, x1, net: str, backbone: dict, head_file: str):
    """LPIPS v0.1 with torch.nn.functional, NCHW, from the torchvision state dict ``backbone``
    (torch tensors) and the lpips head file read directly with torch.load."""
    import torch
    import torch.nn.functional as F

    lins = torch.load(head_file, map_location="cpu", weights_only=True)
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def taps(x):
        h = (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))) - shift) / scale
        outs = []
        for sl in SLICES[net]:
            for i in sl:
                layer = TV[net][i]
                if layer == "relu":
                    h = F.relu(h)
                elif layer[0] == "pool":
                    h = F.max_pool2d(h, layer[1], layer[2])
                else:
                    h = F.conv2d(h, backbone[f"features.{i}.weight"], backbone[f"features.{i}.bias"],
                                 stride=layer[4], padding=layer[5])
            outs.append(h)
        return outs

    with torch.no_grad():
        total = 0
        for k, (a, b) in enumerate(zip(taps(x0), taps(x1))):
            na = a / (torch.sqrt(torch.sum(a ** 2, dim=1, keepdim=True)) + 1e-10)
            nb = b / (torch.sqrt(torch.sum(b ** 2, dim=1, keepdim=True)) + 1e-10)
            total = total + F.conv2d((na - nb) ** 2, lins[f"lin{k}.model.1.weight"]).mean([2, 3])
    return total.reshape(-1).numpy()


def _photos(size: int) -> np.ndarray:
    spec = importlib.util.find_spec("foolbox")  # located, not imported (needs eagerpy)
    files = []
    if spec is not None and spec.submodule_search_locations:
        data = os.path.join(list(spec.submodule_search_locations)[0], "data")
        files = sorted(glob.glob(os.path.join(data, "imagenet_*.jpg")))
    if len(files) != 20:
        skip_or_fail("the parity test needs foolbox's 20 bundled ImageNet photos (pip install foolbox)")
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BICUBIC))
                     for f in files])


@pytest.mark.slow
@pytest.mark.parametrize("net", lpips.NETS)
def test_converted_lpips_matches_torch_on_real_photos(tmp_path, net):
    if not HAVE_TORCH:
        skip_or_fail("the parity test needs torch (pip install torch==2.13.0)")
    if not HAVE_LPIPS:
        skip_or_fail("the parity test needs the lpips heads (pip install --no-deps lpips==0.1.4)")
    import torch

    torch.manual_seed(0)
    backbone = {}
    for i, layer in enumerate(TV[net]):  # torchvision's own init scheme is irrelevant here
        if isinstance(layer, tuple) and layer[0] == "conv":
            _, cin, cout, k, _, _ = layer
            backbone[f"features.{i}.weight"] = torch.randn(cout, cin, k, k) * (2.0 / (cin * k * k)) ** 0.5
            backbone[f"features.{i}.bias"] = 0.1 * torch.randn(cout)
    backbone["classifier.6.weight"] = torch.randn(10, 16)  # ignored by the conversion
    source = str(tmp_path / f"{net}-random.pth")
    torch.save(backbone, source)
    out = str(tmp_path / f"lpips-{net}.weights.h5")
    summary = convert_lpips.convert_weights(f"lpips-{net}", out, source)
    assert summary["backbone_numbers"] == BACKBONE_NUMBERS[net]
    assert summary["ignored"] == ["classifier.6.weight"]
    model = lpips.load_lpips(net, out)

    photos = _photos(64)
    x = photos.astype(np.float32) / 127.5 - 1
    x0, x1 = x, np.roll(x, 1, axis=0)  # 20 pairs of different photos
    got = lpips.lpips_distance(photos, np.roll(photos, 1, axis=0), model, batch_size=10)
    want = torch_lpips(x0, x1, net, backbone, convert_lpips.heads_path(net))
    same = lpips.lpips_distance(photos, photos, model)
    diff = np.abs(got - want).max()
    print(f"\n[{net}, 20 foolbox photos at 64x64, random backbone + lpips heads] distances "
          f"{want.min():.4f}..{want.max():.4f}, max|keras - torch| {diff:.2e}")
    assert np.all(want > 1e-3) and np.all(same == 0)
    assert diff <= 1e-5
