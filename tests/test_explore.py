"""Looking at a model (issue 17): the interpolation maths, the sweeps on every family in-process
and over REST and gRPC, the PNG text chunk and animations, the CLI's usage errors, the explorer
page served offline, and the page driven in a real headless Chromium.

One module fixture trains every family tiny for one step (``helpers.explore_fixtures``), exports
them into one model base and serves it on 127.0.0.1 (REST and gRPC, free ports).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import skip_or_fail
from helpers import explore_fixtures as ef
from helpers.browser import NoBrowser, chromium_driver, wait
from helpers.datasets import mnist32, write_dataset
from keras_gans import explore, image_grid
from keras_gans.cli import main as cli_main
from keras_gans.errors import UsageError

FAMILIES = sorted(ef.PRESETS)
CONDITIONAL = {"cdcgan", "biggan"}


# --- the maths ----------------------------------------------------------------------------------
def _numpy_slerp(a, b, t):
    """Shoemake's slerp written independently with NumPy (the formula as usually printed)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    omega = np.arccos(np.clip(np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b)), -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def test_slerp_is_the_formula_stays_on_the_sphere_and_moves_at_constant_speed():
    rng = np.random.default_rng(0)
    for d in (2, 8, 128):
        a, b = rng.standard_normal(d), rng.standard_normal(d)
        for t in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
            np.testing.assert_allclose(explore.slerp(a, b, t), _numpy_slerp(a, b, t), rtol=1e-12, atol=1e-12)
        assert np.array_equal(explore.slerp(a, b, 0.0), a) and np.array_equal(explore.slerp(a, b, 1.0), b)
        # unit vectors: the whole path on the unit sphere, equal angles between frames
        ua, ub = a / np.linalg.norm(a), b / np.linalg.norm(b)
        path = np.stack([explore.slerp(ua, ub, t) for t in explore.interpolation_times(9)])
        np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-12)
        steps = np.arccos(np.clip(np.sum(path[1:] * path[:-1], axis=1), -1, 1))
        np.testing.assert_allclose(steps, steps[0], atol=1e-9)
        # not the straight line: its midpoint of unit vectors has norm < 1
        assert np.linalg.norm(explore.lerp(ua, ub, 0.5)) < 1 - 1e-3
    # parallel (and identical) latents fall back to lerp instead of dividing by sin(0)
    a = rng.standard_normal(6)
    np.testing.assert_allclose(explore.slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-12)
    np.testing.assert_allclose(explore.slerp(a, a, 0.3), a, rtol=1e-12)


def test_interpolation_path_legs_share_their_joints():
    rng = np.random.default_rng(1)
    keys = rng.standard_normal((3, 5))
    path = explore.interpolation_path(keys, 4)
    assert path.dtype == np.float32 and path.shape == (explore.path_length(3, 4), 5) == (7, 5)
    for row, key in ((0, 0), (3, 1), (6, 2)):
        np.testing.assert_array_equal(path[row], keys[key].astype(np.float32))
    np.testing.assert_allclose(path[1], _numpy_slerp(keys[0], keys[1], 1 / 3), rtol=1e-6)
    with pytest.raises(ValueError):
        explore.interpolation_path(keys[:1], 4)
    with pytest.raises(ValueError):
        explore.interpolation_times(1)


def test_argument_lists_refuse_what_they_cannot_use():
    assert explore.parse_ints("3,0-2,7", "--x") == [3, 0, 1, 2, 7]
    assert explore.parse_ints("-4,5", "--x") == [-4, 5]
    for bad in ("1,x", "", "3-1", "1.5"):
        with pytest.raises(UsageError, match="--x"):
            explore.parse_ints(bad, "--x")
    with pytest.raises(UsageError, match="at least 2"):
        explore.parse_ints("4", "--interpolate", at_least=2)
    assert explore.parse_floats("0.2, 1,2", "--t") == [0.2, 1.0, 2.0]
    for bad in ("a", "-1", "nan", ""):
        with pytest.raises(UsageError, match="--t"):
            explore.parse_floats(bad, "--t")


# --- the models ---------------------------------------------------------------------------------
class Zoo:
    """Tiny exports trained on first use (``helpers.explore_fixtures``) into one model base, which
    one server on 127.0.0.1 serves (REST and gRPC, free ports) and polls for new versions."""

    def __init__(self, root):
        from keras_gans.serving import server as server_lib

        self.root = root
        self.data = os.path.join(root, "digits")
        write_dataset(self.data, *mnist32(64), num_shards=1)
        self.models = os.path.join(root, "models")
        os.makedirs(self.models)
        self._runs, self._versions = {}, {}
        self.server = server_lib.ModelServer(self.models, rest_port=0, grpc_port=0, poll_seconds=0.2)
        self.server.start()

    def _ensure(self, name):
        import time

        if name not in self._versions:
            self._runs[name], self._versions[name] = ef.train_and_export(
                ef.PRESETS[name], name, self.data, self.root, self.models)
            deadline = time.monotonic() + 120
            while not self.server.manager.available_versions(name):
                assert time.monotonic() < deadline, f"the server did not load {name}"
                time.sleep(0.1)
        return name

    def run(self, name):
        return self._runs[self._ensure(name)]

    def version(self, name):
        return self._versions[self._ensure(name)]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    z = Zoo(str(tmp_path_factory.mktemp("explore")))
    yield z
    z.server.stop()


def _sources(zoo, name):
    from keras_gans.serving.client import Client

    server = zoo.server
    yield "export", explore.ExportSource(zoo.version(name))
    for protocol, target in (("rest", server.rest_url), ("grpc", server.grpc_target)):
        yield protocol, explore.ServerSource(Client(target, protocol=protocol), name,
                                             num_classes=10 if name in CONDITIONAL else None)


# The default suite trains three families (conditional with a shared embedding, conditional
# DCGAN, multi-scale); --slow adds the rest (seconds each to train on 2 CPUs: ~5-25).
QUICK = ("biggan", "cdcgan", "msggan")


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow)
                                  for n in FAMILIES])
def test_sweeps_agree_in_process_and_over_rest_and_grpc(zoo, name):
    """The interpolation, the truncation sweep and the class grid of every family: the same
    pictures from the export loaded in-process and from the server over REST and gRPC, built from
    what the documented signatures return."""
    conditional = name in CONDITIONAL
    results = {}
    for kind, source in _sources(zoo, name):
        try:
            assert source.latent_dim > 0 and source.conditional == conditional
            cls = 2 if conditional else None
            strip = explore.interpolation(source, [3, 7, 5], 4, truncation=0.0, class_id=cls)
            assert strip.images.shape[0] == 7 and strip.info["seeds"] == [3, 7, 5]
            # The ends are the seeds' own images: the latent of seed s is sample(seed=s, num=1)'s z.
            for row, seed in ((0, 3), (3, 7), (6, 5)):
                own, z, _ = source.sample(seed, 1, 0.0, cls)
                np.testing.assert_array_equal(strip.images[row], own[0])
                np.testing.assert_array_equal(strip.z[row], z[0])
            np.testing.assert_array_equal(
                strip.z, explore.interpolation_path(source.latents([3, 7, 5], 0.0, cls)[0], 4))
            sweep = explore.truncation_sweep(source, [0.5, 1.0, 0.0], seed=4, num=3, class_id=cls)
            assert sweep.images.shape[0] == 9 and sweep.row_labels == ["trunc 0.5", "trunc 1", "no trunc"]
            np.testing.assert_array_equal(sweep.images[6:], source.sample(4, 3, 0.0, cls)[0])
            _, z_half, _ = source.sample(4, 3, 0.5, cls)
            assert np.abs(z_half).max() <= 0.5
            picture = {"strip": strip.images, "sweep": sweep.images}
            if conditional:
                grid = explore.class_grid(source, seed=1, num=2, classes=[0, 4, 9])
                assert grid.images.shape[0] == 6 and grid.row_labels[1].startswith("4")
                np.testing.assert_array_equal(grid.images[2:4], source.sample(1, 2, 0.0, 4)[0])
                picture["grid"] = grid.images
                ends = explore.class_interpolation(source, 6, (1, 8), frames=3)
                assert ends.info["class_mode"] == "ends" and ends.images.shape[0] == 2  # both ends
                np.testing.assert_array_equal(ends.images[:1], source.sample(6, 1, 0.0, 1)[0])
                np.testing.assert_array_equal(ends.images[1:], source.sample(6, 1, 0.0, 8)[0])
                with pytest.raises(UsageError, match="has 10 classes"):
                    explore.class_grid(source, classes=[10])
            else:
                with pytest.raises(UsageError, match="not class-conditional"):
                    explore.class_grid(source)
            results[kind] = picture
        finally:
            source.close()
    for kind in ("rest", "grpc"):
        for key, images in results["export"].items():
            np.testing.assert_array_equal(results[kind][key], images, err_msg=f"{name} {kind} {key}")
    # seeds give different pictures (the tiny models are not constant)
    assert not np.array_equal(results["export"]["strip"][0], results["export"]["strip"][3])


def test_run_directories_show_scales_class_embeddings_and_psi(zoo):
    from keras_gans import sampling

    # BigGAN: the shared class embedding is lerped; its ends are the two classes' images.
    big = explore.RunSource(zoo.run("biggan"))
    exported = explore.ExportSource(zoo.version("biggan"))
    _, z_export, ids_export = exported.sample(5, 3, 0.7, None)
    _, z_run, ids_run = big.sample(5, 3, 0.7, None)
    np.testing.assert_array_equal(z_run, z_export)  # one definition of a seed's latent and classes
    np.testing.assert_array_equal(ids_run, ids_export)
    np.testing.assert_array_equal(z_run, sampling.sample_latents(3, big.latent_dim, 5, 0.7).numpy())
    picture = explore.class_interpolation(big, 5, (1, 8), frames=5)
    assert picture.info["class_mode"] == "embedding-lerp" and picture.images.shape[0] == 5
    z5 = big.latents([5], 0.0)[0]  # the latent of seed 5 (no truncation)
    np.testing.assert_array_equal(picture.z, np.repeat(z5, 5, axis=0))
    np.testing.assert_array_equal(picture.images[0], big.generate(z5, 1)[0])
    np.testing.assert_array_equal(picture.images[-1], big.generate(z5, 8)[0])
    assert not np.array_equal(picture.images[2], picture.images[0])
    assert not np.array_equal(picture.images[2], picture.images[-1])
    # eager and exported agree up to float rounding (see keras_gans.serving.export)
    diff = np.abs(big.generate(z_run, ids_run).astype(int) - exported.generate(z_export, ids_export).astype(int))
    assert diff.max() <= 8 and (diff > 0).mean() < 0.1

    # MSG-GAN: every scale side by side (4, 8, 16, 32 for the 32x32 digits).
    msg = explore.RunSource(zoo.run("msggan"), scales=True)
    images, _, _ = msg.sample(0, 2)
    assert images.shape[1:3] == (32, 32 * msg.num_scales()) and msg.num_scales() == 4
    final = explore.RunSource(zoo.run("msggan")).sample(0, 2)[0]
    np.testing.assert_array_equal(images[:, :, -32:], final)


@pytest.mark.slow  # trains the tiny MSG-StyleGAN (~17 s on 2 CPUs)
def test_run_directory_psi_sweep_of_msg_stylegan(zoo):
    # MSG-StyleGAN: psi 1 is no truncation; psi 0 puts every latent on the average w (the tiny
    # generator's cutoff covers all its styles), so every column is the same image.
    style = explore.RunSource(zoo.run("msgstylegan"))
    sweep = explore.truncation_sweep(style, [1.0, 0.0], seed=2, num=3, psi=True)
    np.testing.assert_array_equal(sweep.images[:3], style.sample(2, 3)[0])
    assert np.array_equal(sweep.images[3], sweep.images[4]) and np.array_equal(sweep.images[4], sweep.images[5])
    assert not np.array_equal(sweep.images[0], sweep.images[1])
    assert style.psi is None and all(layer.truncation_psi is None for layer in style.psi_layers())
    with pytest.raises(UsageError, match="psi-sweep"):
        explore.truncation_sweep(explore.ExportSource(zoo.version("msgstylegan")), [0.5], psi=True)


# --- files: PNG text chunk, animations ------------------------------------------------------------
def test_cli_writes_strip_with_text_chunk_and_animations(zoo, tmp_path, capsys):
    export_dir = zoo.version("cdcgan")
    out, gif, webp = (str(tmp_path / n) for n in ("strip.png", "strip.gif", "strip.webp"))
    argv = ["sample", "--export", export_dir, "--interpolate", "4,9", "--frames", "5",
            "--class-id", "3", "--out", out, "--zoom", "2"]
    assert cli_main([*argv, "--animation", gif]) == 0
    assert capsys.readouterr().out.split() == [out, gif]
    text = image_grid.read_png_text(out)
    info = json.loads(text[explore.PNG_TEXT_KEY])
    assert info["model"] == "cdcgan" and info["version"] == 1 and info["seeds"] == [4, 9]
    assert info["picture"] == "interpolation" and info["class_id"] == 3 and info["mode"] == "slerp"
    assert info["arguments"]["export"] == export_dir and info["arguments"]["frames"] == 5
    assert text["Software"].startswith("keras-gans ")
    # reproducible: the arguments in the chunk give the same picture
    again = str(tmp_path / "again.png")
    assert cli_main(["sample", "--export", info["arguments"]["export"], "--interpolate",
                     info["arguments"]["interpolate"], "--frames", "5", "--class-id", "3",
                     "--zoom", "2", "--out", again]) == 0
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(out)))
    with Image.open(gif) as im:  # 5 frames there and 3 back, 64x64 (zoom 2), looping
        assert im.n_frames == 8 and im.size == (64, 64) and im.info.get("loop") == 0
    assert cli_main([*argv, "--animation", webp]) == 0
    strip = explore.interpolation(explore.ExportSource(export_dir), [4, 9], 5, class_id=3)
    with Image.open(webp) as im:  # lossless: the frames' pixels exactly
        assert im.n_frames == 8
        for i in range(im.n_frames):
            im.seek(i)
            k = i if i < 5 else 8 - i
            frame = np.asarray(im.convert("L"))
            np.testing.assert_array_equal(frame, image_grid.upscale(strip.images[k], 2)[..., 0])
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        assert cli_main([*argv, "--animation", str(tmp_path / "x.mp4")]) == 2
        assert "imageio-ffmpeg" in capsys.readouterr().err


def test_cli_sweeps_and_grids_write_labelled_pictures(zoo, tmp_path, capsys):
    zoo.version("biggan"), zoo.version("cdcgan")  # trained and served
    server = zoo.server
    out = str(tmp_path / "sweep.png")
    assert cli_main(["sample", "--server", server.grpc_target, "--protocol", "grpc", "--model", "biggan",
                     "--truncation-sweep", "0.2,0.5,1.0,2.0", "--num", "4", "--class-id", "7",
                     "--seed", "11", "--out", out]) == 0
    info = json.loads(image_grid.read_png_text(out)[explore.PNG_TEXT_KEY])
    assert info["truncation"] == [0.2, 0.5, 1.0, 2.0] and info["source"] == "server"
    assert info["arguments"]["protocol"] == "grpc" and info["class_id"] == 7
    w, h = Image.open(out).size
    assert h == 4 * 34 + 2 and w > 4 * 34 + 2  # four rows of 32 px cells, a label column
    grid = str(tmp_path / "grid.png")
    assert cli_main(["sample", "--server", server.rest_url, "--model", "cdcgan", "--class-grid",
                     "0-9", "--num", "3", "--out", grid]) == 0
    assert Image.open(grid).size[1] == 10 * 34 + 2
    assert cli_main(["sample", "--export", os.path.dirname(zoo.version("cdcgan")), "--class-grid",
                     "--num", "2", "--out", grid]) == 0  # every class: the export says how many
    assert Image.open(grid).size[1] == 10 * 34 + 2
    scales = str(tmp_path / "scales.png")
    assert cli_main(["sample", "--run", zoo.run("msggan"), "--scales", "--num", "2",
                     "--out", scales]) == 0
    classes = str(tmp_path / "classes.png")
    assert cli_main(["sample", "--run", zoo.run("biggan"), "--interpolate-classes", "1,8",
                     "--frames", "6", "--out", classes]) == 0
    assert json.loads(image_grid.read_png_text(classes)[explore.PNG_TEXT_KEY])["class_mode"] == "embedding-lerp"
    capsys.readouterr()


@pytest.mark.parametrize("argv, message", [
    (["--interpolate", "1"], "at least 2"),
    (["--interpolate", "1,x"], "expected integers"),
    (["--interpolate", "1,2", "--frames", "1"], "at least 2 frames"),
    (["--interpolate", "1,2", "--frames", "1100"], "at most 1024"),
    (["--interpolate", "1,2", "--class-id", "10"], "has 10 classes"),
    (["--class-id", "-1", "--num", "2"], "class ids are >= 0"),
    (["--interpolate-classes", "1,2,3"], "two class ids"),
    (["--truncation-sweep", "0.5,-1"], "finite and >= 0"),
    (["--truncation-sweep", "0.5", "--class-grid"], "choose one of"),
    (["--num", "2", "--animation", "a.gif"], "goes with --interpolate"),
    (["--interpolate", "1,2", "--animation", "a.avi"], "must end in"),
    (["--num", "2", "--scales"], "--scales needs --run"),
    (["--psi-sweep", "0.5"], "w truncation"),
    ([], "--num is required"),
])
def test_cli_usage_errors_name_what_to_do(zoo, tmp_path, capsys, argv, message):
    rc = cli_main(["sample", "--export", zoo.version("cdcgan"), "--out", str(tmp_path / "x.png"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("keras-gans sample: error: ") and message in err, err


def test_cli_needs_exactly_one_model(tmp_path, capsys):
    out = str(tmp_path / "x.png")
    assert cli_main(["sample", "--num", "1", "--out", out]) == 2
    assert "exactly one of --server" in capsys.readouterr().err
    assert cli_main(["sample", "--export", str(tmp_path), "--run", str(tmp_path), "--num", "1", "--out", out]) == 2
    assert "got --export, --run" in capsys.readouterr().err
    assert cli_main(["sample", "--export", str(tmp_path), "--num", "1", "--out", out]) == 2
    assert "no saved_model.pb" in capsys.readouterr().err


# --- the explorer page --------------------------------------------------------------------------
def _get(url, method="GET", body=None):
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_the_page_is_self_contained_and_adds_nothing_that_writes(zoo):
    zoo.version("biggan")
    url = zoo.server.rest_url
    status, headers, body = _get(url + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert _get(url + "/explore")[2] == body
    html = body.decode("utf-8")
    # offline: nothing is loaded from anywhere (no URLs, no @import / url(), and a CSP forbidding it)
    assert not re.search(r"(https?:)?//[a-z0-9]", html, flags=re.I), re.search(r"(https?:)?//[a-z0-9]", html).group(0)
    assert "@import" not in html and "url(" not in html and "<link" not in html
    assert not re.search(r"<script[^>]*\bsrc=", html) and not re.search(r"<img[^>]*\bsrc=", html)
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "img-src data:" in csp
    # it names the models the server holds, with their exports' class counts
    data = json.loads(re.search(r'<script type="application/json" id="kg-models">(.*?)</script>', html, re.S).group(1))
    assert set(data["models"]) <= set(FAMILIES) and data["models"]["biggan"]["1"]["num_classes"] == 10
    # it only calls the documented REST endpoints
    paths = set(re.findall(r'"(/v1/models/[^"]*)"', html)) | set(re.findall(r'"(:predict|/metadata|/versions/)"', html))
    assert paths <= {"/v1/models/", ":predict", "/metadata", "/versions/"}, paths
    assert "fetch(" in html and html.count("fetch(") == 1  # one place talks to the server: api()
    # nothing that writes: POST/PUT/DELETE on the page are refused, the API is unchanged
    for method in ("POST", "PUT", "DELETE"):
        status, headers, body = _get(url + "/explore", method=method, body=b"{}")
        assert status == 405 and json.loads(body)["error"].startswith(method)
    status, _, body = _get(url + "/explore/other")
    assert status == 404 and "error" in json.loads(body)
    head = urllib.request.Request(url + "/", method="HEAD")
    with urllib.request.urlopen(head, timeout=30) as resp:
        assert resp.status == 200 and resp.read() == b""


# --- a real browser -------------------------------------------------------------------------------
def _browser():
    try:
        return chromium_driver()
    except NoBrowser as e:
        skip_or_fail(str(e))


def _wait(browser, script, timeout=60.0):
    return wait(browser, script, timeout)


def _pixels(png_b64_or_bytes) -> np.ndarray:
    data = png_b64_or_bytes if isinstance(png_b64_or_bytes, bytes) else base64.b64decode(png_b64_or_bytes)
    return np.asarray(Image.open(io.BytesIO(data)))


def _shown(browser, box):
    srcs = browser.execute_script(f"return [...document.querySelectorAll('#{box} img')].map(i => i.src)")
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    return [_pixels(s.split(",", 1)[1]) for s in srcs]


IDLE = "return document.body.dataset.busy === '0'"


def test_the_page_in_headless_chromium(zoo, tmp_path):
    from keras_gans.serving.client import Client

    browser = _browser()
    zoo.version("biggan"), zoo.version("cdcgan")
    server = zoo.server
    client = Client(server.rest_url)
    try:
        browser.get(server.rest_url + "/explore")
        _wait(browser, IDLE + " && document.querySelectorAll('#grid img').length === 16")
        assert browser.execute_script("return window.kgExplorer.errors") == []
        names = browser.execute_script("return [...document.querySelectorAll('#model option')].map(o => o.value)")
        assert names == sorted(names) and {"biggan", "cdcgan"} <= set(names)
        # another model, then BigGAN (conditional, 10 classes): pick a class, move the truncation
        for name in ("cdcgan", "biggan"):
            browser.execute_script("const s = document.getElementById('model'); s.value = arguments[0];"
                                   "s.dispatchEvent(new Event('change'))", name)
            _wait(browser, IDLE + f" && window.kgExplorer.lastGrid.model === '{name}'")
        assert browser.execute_script("return document.getElementById('classbox').style.display") == ""
        options = browser.execute_script("return [...document.querySelectorAll('#class option')].map(o => o.value)")
        assert options == [str(i) for i in range(-1, 10)]  # random + the export's 10 classes
        browser.execute_script("const s = document.getElementById('class'); s.value = '3';"
                               "s.dispatchEvent(new Event('change'))")
        _wait(browser, IDLE + " && window.kgExplorer.lastGrid.inputs.class_id[0] === 3")
        browser.execute_script("const r = document.getElementById('truncation'); r.value = '0.6';"
                               "r.dispatchEvent(new Event('input'))")
        _wait(browser, IDLE + " && window.kgExplorer.lastGrid.inputs.truncation === 0.6")
        last = browser.execute_script("return window.kgExplorer.lastGrid")
        assert last["inputs"] == {"seed": 0, "num": 16, "truncation": 0.6, "class_id": [3]}
        shown = _shown(browser, "grid")
        out = client.predict("biggan", {"seed": 0, "num": 16, "truncation": 0.6, "class_id": [3]},
                             signature_name="sample")
        assert len(shown) == 16
        for img, png in zip(shown, out["images_png_bytes"]):
            np.testing.assert_array_equal(img, _pixels(png))
        assert out["class_id"].tolist() == [3] * 16

        # an interpolation between two seeds: the page's slerp is the Python one
        browser.execute_script("document.getElementById('seedA').value = '5';"
                               "document.getElementById('seedB').value = '12';"
                               "document.getElementById('frames').value = '7';"
                               "document.getElementById('interpolate').click()")
        _wait(browser, IDLE + " && window.kgExplorer.lastInterpolation")
        assert browser.execute_script("return window.kgExplorer.errors") == []
        page = browser.execute_script("return window.kgExplorer.lastInterpolation")
        source = explore.ServerSource(client, "biggan", num_classes=10)
        keys, _ = source.latents([5, 12], 0.6, 3)
        np.testing.assert_array_equal(np.asarray(page["keys"], np.float32), keys)
        z = explore.interpolation_path(keys, 7)
        np.testing.assert_array_equal(np.asarray(page["z"], np.float64).astype(np.float32), z)
        served = client.predict("biggan", {"z": z, "class_id": [3] * 7})["images_png_bytes"]
        shown = _shown(browser, "strip")
        assert len(shown) == 7
        for img, png in zip(shown, served):
            np.testing.assert_array_equal(img, _pixels(png))
        strip = explore.interpolation(source, [5, 12], 7, 0.6, 3).images
        np.testing.assert_array_equal(np.stack(shown).reshape(strip.shape), strip)
        # the JavaScript slerp on arbitrary latents, against the Python one
        rng = np.random.default_rng(3)
        for d in (3, 64):
            a, b = rng.standard_normal(d).tolist(), rng.standard_normal(d).tolist()
            for t in (0.0, 0.3, 0.5, 1.0):
                js = browser.execute_script("return window.kgMaths.slerp(arguments[0], arguments[1], arguments[2])", a, b, t)
                np.testing.assert_allclose(js, explore.slerp(a, b, t), rtol=1e-14, atol=1e-15)
        path = tmp_path / "explorer.png"
        browser.save_screenshot(str(path))
        assert path.stat().st_size > 10_000
        if os.environ.get("KERAS_GANS_SCREENSHOT"):  # docs/explorer.png: see README
            shutil.copy(path, os.environ["KERAS_GANS_SCREENSHOT"])
        # a refusal by the server shows its message (the limits are the server's)
        browser.execute_script("const n = document.getElementById('num'); n.value = '5000';"
                               "n.dispatchEvent(new Event('change'))")
        _wait(browser, IDLE + " && document.getElementById('error').textContent.length > 0")
        assert "num" in browser.execute_script("return document.getElementById('error').textContent")
        # nothing left the machine: every request went to this server
        urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls and all(u.startswith(server.rest_url + "/v1/models/") for u in urls), urls
    finally:
        browser.quit()
        client.close()
