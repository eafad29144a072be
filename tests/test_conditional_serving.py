"""Image-conditioned generators (Pix2Pix-MS) through export, serving, the client,
``keras-gans sample --condition`` and ``keras-gans evaluate``.

One module-scoped export of a tiny Keras generator ``G([z, condition]) -> tanh images`` (a
16x16 grayscale condition -> 16x16 RGB images) is served by one local server (free ports); the
expected values come from calling the Keras generator itself.
"""

import base64
import io
import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving.apis")

import keras  # noqa: E402

from keras_gans import image_grid  # noqa: E402
from keras_gans.cli import main as cli_main  # noqa: E402
from keras_gans.errors import UsageError  # noqa: E402
from keras_gans.serving import client as client_lib  # noqa: E402
from keras_gans.serving import export  # noqa: E402
from keras_gans.serving import server as server_lib  # noqa: E402

H, W, C_IN, C_OUT, LATENT = 16, 16, 1, 3, 4
EXPECTED = "[N, 16, 16, 1]"


def tiny_generator(seed=0):
    """``[z [N, 4], condition [N, 16, 16, 1] in [-1, 1]] -> tanh [N, 16, 16, 3]``: z tiled over
    the image and concatenated with the condition (as Pix2Pix-MS's input-level z), one conv."""
    keras.utils.set_random_seed(seed)
    z_in = keras.Input((LATENT,), name="z")
    c_in = keras.Input((H, W, C_IN), name="condition")
    t = keras.layers.Reshape((H, W, 1))(keras.layers.Dense(H * W)(z_in))
    x = keras.layers.Concatenate()([t, c_in])
    x = keras.layers.Conv2D(C_OUT, 3, padding="same", activation="tanh")(x)
    return keras.Model([z_in, c_in], x)


def png(image) -> bytes:
    return tf.io.encode_png(np.asarray(image, np.uint8)).numpy()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond-serving")
    base = str(root / "models")
    g = tiny_generator()
    module, signatures = export.build_module(g, LATENT, 0, (H, W, C_IN))
    path = os.path.join(base, "edges", "1")
    tf.saved_model.save(module, path, signatures=signatures)
    meta = {"name": "edges", "version": 1, "latent_dim": LATENT, "num_classes": 0,
            "condition_shape": [H, W, C_IN], "signatures": export.describe_signatures(signatures)}
    os.makedirs(os.path.join(path, export.EXTRA_DIR))
    with open(os.path.join(path, export.EXTRA_DIR, export.METADATA), "w") as f:
        json.dump(meta, f)
    rng = np.random.default_rng(0)
    conditions = rng.integers(0, 256, (3, H, W, C_IN)).astype(np.uint8)
    files = []
    for i, c in enumerate(conditions):
        p = root / f"in{i}.png"
        p.write_bytes(png(c))
        files.append(str(p))
    s = server_lib.ModelServer(base, host="127.0.0.1", rest_port=0, grpc_port=0, poll_seconds=0,
                               max_batch=64)
    s.start()
    s.wait_until_ready(120)
    yield {"g": g, "base": base, "path": path, "loaded": tf.saved_model.load(path),
           "conditions": conditions, "files": files, "server": s, "root": root}
    s.stop()


def expected_images(g, z, conditions):
    return image_grid.to_uint8(np.asarray(g([z, image_grid.from_uint8(conditions)], training=False)))


def assert_generator_output(images, g, z, conditions):
    """``images`` are G's for ``z`` and ``conditions``, up to a pixel on a .5 rounding boundary
    (traced and eager convolutions round differently by ~1e-6, see keras_gans.serving.export)."""
    want = expected_images(g, z, conditions).astype(int)
    assert images.shape == want.shape
    diff = np.abs(want - images)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


def call(fn, **inputs):
    return {k: v.numpy() for k, v in fn(**inputs).items()}


# --- the export ----------------------------------------------------------------------------------


def test_export_signatures_equal_the_generator(setup):
    sigs = setup["loaded"].signatures
    assert set(sigs) == {"serving_default", "serving_png", "sample", "sample_png"}
    assert set(sigs["serving_default"].structured_input_signature[1]) == {"z", "condition"}
    assert set(sigs["serving_png"].structured_input_signature[1]) == {"z", "condition_png_bytes"}
    assert set(sigs["sample"].structured_input_signature[1]) == {"condition", "seed", "num"}
    cond = setup["conditions"]
    z = np.random.default_rng(1).standard_normal((3, LATENT)).astype(np.float32)
    out = call(sigs["serving_default"], z=tf.constant(z), condition=tf.constant(cond))
    assert_generator_output(out["images"], setup["g"], z, cond)
    decoded = [tf.io.decode_png(p).numpy() for p in out["images_png_bytes"]]
    np.testing.assert_array_equal(np.stack(decoded), out["images"])
    # The PNG path decodes to exactly the uint8 path's input.
    out_png = call(sigs["serving_png"], z=tf.constant(z),
                   condition_png_bytes=tf.constant([png(c) for c in cond]))
    np.testing.assert_array_equal(out_png["images"], out["images"])


def test_sample_gives_num_diverse_outputs_per_input_reproducible_by_z(setup):
    sigs = setup["loaded"].signatures
    cond = setup["conditions"][:2]
    num = 4
    out = call(sigs["sample"], condition=tf.constant(cond), seed=tf.constant(7, tf.int64),
               num=tf.constant(num))
    assert out["images"].shape == (2 * num, H, W, C_OUT) and out["z"].shape == (2 * num, LATENT)
    rows = out["images"].reshape(2, num, -1)
    for i in range(2):  # every output of one input differs from the others
        assert len({r.tobytes() for r in rows[i]}) == num
    # input i's outputs are rows i*num..: the returned z reproduces them through serving_default
    repeated = np.repeat(cond, num, axis=0)
    again = call(sigs["serving_default"], z=tf.constant(out["z"]), condition=tf.constant(repeated))
    np.testing.assert_array_equal(again["images"], out["images"])
    assert_generator_output(out["images"], setup["g"], out["z"], repeated)
    again_png = call(sigs["sample_png"], condition_png_bytes=tf.constant([png(c) for c in cond]),
                 seed=tf.constant(7, tf.int64), num=tf.constant(num))
    np.testing.assert_array_equal(again_png["images"], out["images"])
    other = call(sigs["sample"], condition=tf.constant(cond), seed=tf.constant(8, tf.int64),
                 num=tf.constant(num))
    assert not np.array_equal(other["images"], out["images"])


@pytest.mark.parametrize("signature,inputs,message", [
    ("serving_default", dict(z=np.zeros((1, LATENT), np.float32),
                             condition=np.zeros((1, 8, 8, 1), np.uint8)), "got shape [1 8 8 1]"),
    ("serving_default", dict(z=np.zeros((1, LATENT), np.float32),
                             condition=np.zeros((1, 16, 16, 3), np.uint8)), "got shape [1 16 16 3]"),
    ("serving_default", dict(z=np.zeros((2, LATENT), np.float32),
                             condition=np.zeros((1, 16, 16, 1), np.uint8)), "one image per row of z"),
    ("serving_png", dict(z=np.zeros((1, LATENT), np.float32),
                         condition_png_bytes=np.array([b"GIF89a not a png"], object)),
     "condition_png_bytes[0] is not a PNG file"),
    ("serving_png", dict(z=np.zeros((2, LATENT), np.float32),
                         condition_png_bytes=np.array([png(np.zeros((16, 16, 1))),
                                                       png(np.zeros((16, 16, 3)))], object)),
     "condition_png_bytes[1] decodes to [height, width, channels] [16 16 3]"),
    ("sample", dict(condition=np.zeros((1, 16, 16, 1), np.uint8), seed=np.int64(0), num=np.int32(0)),
     "num must be in [1, 1024]"),
    ("sample", dict(condition=np.zeros((2, 16, 16, 1), np.uint8), seed=np.int64(0),
                    num=np.int32(600)), "at most 1024 in all"),
])
def test_in_graph_checks_name_what_was_expected(setup, signature, inputs, message):
    fn = setup["loaded"].signatures[signature]
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        fn(**{k: tf.constant(v) for k, v in inputs.items()})
    assert message in e.value.message
    if "shape" in message or "PNG" in message:
        assert EXPECTED in e.value.message


# --- the server and the client -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_generate_round_trip(setup, protocol):
    s = setup["server"]
    url = s.rest_url if protocol == "rest" else s.grpc_target
    sigs = setup["loaded"].signatures
    cond = setup["conditions"]
    with client_lib.Client(url, protocol=protocol) as c:
        images, z = c.generate("edges", [png(x) for x in cond], num=3, seed=5)  # sample_png
        want = call(sigs["sample"], condition=tf.constant(cond), seed=tf.constant(5, tf.int64),
                    num=tf.constant(3))
        np.testing.assert_array_equal(images, want["images"])
        np.testing.assert_allclose(z, want["z"])
        images2, _ = c.generate("edges", cond, num=3, seed=5)  # uint8 arrays: `sample`
        np.testing.assert_array_equal(images2, want["images"])
        z3 = np.random.default_rng(3).standard_normal((3, LATENT)).astype(np.float32)
        for condition in (cond, [png(x) for x in cond]):  # serving_default / serving_png
            images3, _ = c.generate("edges", condition, z=z3)
            assert_generator_output(images3, setup["g"], z3, cond)
        with pytest.raises(client_lib.ServingError) as e:
            c.generate("edges", png(np.zeros((8, 8, 1))), num=2)
        assert e.value.status == 400 and EXPECTED in e.value.message
        assert protocol == "rest" or e.value.code == "INVALID_ARGUMENT"
        with pytest.raises(ValueError, match="image-conditioned: use generate"):
            c.sample("edges", num=2)


def _post(server, body: dict):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.ports.rest, timeout=60)
    try:
        conn.request("POST", "/v1/models/edges:predict", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), json.loads(resp.read())
    finally:
        conn.close()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def test_rest_b64_request_and_bad_conditions_get_4xx_json(setup):
    s = setup["server"]
    cond = setup["conditions"][:1]
    z = np.zeros((1, LATENT), np.float32)
    # TF Serving's binary input form: {"b64": ...}; the row format batches it per instance
    status, ctype, doc = _post(s, {"signature_name": "serving_png",
                                   "instances": [{"z": z[0].tolist(), "condition_png_bytes": b64(png(cond[0]))}]})
    assert status == 200 and ctype == "application/json"
    got = tf.io.decode_png(base64.b64decode(doc["predictions"][0]["images_png_bytes"]["b64"])).numpy()
    assert_generator_output(got[None], setup["g"], z, cond)
    bad = [
        ({"signature_name": "serving_png", "inputs": {"z": z.tolist(),
                                                      "condition_png_bytes": [b64(b"not an image")]}},
         "is not a PNG file"),
        ({"signature_name": "serving_png", "inputs": {"z": z.tolist(), "condition_png_bytes": [
            b64(png(np.zeros((32, 32, 1))))]}}, "decodes to [height, width, channels] [32 32 1]"),
        ({"signature_name": "sample_png", "inputs": {"seed": 0, "num": 2, "condition_png_bytes": [
            b64(png(np.zeros((16, 16, 3))))]}}, "[16 16 3]"),
        ({"inputs": {"z": z.tolist(), "condition": np.zeros((1, 16, 16, 4), int).tolist()}},
         "got shape [1 16 16 4]"),
        ({"inputs": {"z": z.tolist()}}, "Missing named input(s): condition"),
        ({"inputs": {"z": z.tolist(), "condition": [[[[300]]]]}}, "out of range for DT_UINT8"),
    ]
    for body, message in bad:
        status, ctype, doc = _post(s, body)
        assert 400 <= status < 500 and ctype == "application/json", (status, doc)
        assert message in doc["error"], doc["error"]
        if "out of range" not in message:
            assert EXPECTED in doc["error"], doc["error"]
    assert _post(s, {"signature_name": "sample_png", "inputs": {
        "seed": 0, "num": 1, "condition_png_bytes": [b64(png(cond[0]))]}})[0] == 200  # still serving


# --- keras-gans sample --condition ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["export", "rest", "grpc"])
def test_sample_command_writes_the_condition_grid(setup, tmp_path, capsys, where):
    from PIL import Image

    s = setup["server"]
    loc = {"export": ["--export", os.path.join(setup["base"], "edges")],
           "rest": ["--server", s.rest_url, "--model", "edges"],
           "grpc": ["--server", s.grpc_target, "--model", "edges", "--protocol", "grpc"]}[where]
    out = str(tmp_path / "grid.png")
    files = setup["files"][:2]
    rc = cli_main(["sample", *loc, "--condition", *files, "--num", "4", "--seed", "3", "--out", out])
    assert rc == 0 and capsys.readouterr().out.strip() == out
    img = Image.open(out)
    info = json.loads(img.text["keras-gans"])
    assert info["picture"] == "condition-grid" and info["conditions"] == ["in0.png", "in1.png"]
    assert info["input_column"] is True
    cells = np.asarray(img.convert("RGB"))
    assert img.size[1] > 2 * H and img.size[0] > 5 * W  # 2 rows (+ labels) x (input + 4 outputs)
    want = call(setup["loaded"].signatures["sample"], condition=tf.constant(setup["conditions"][:2]),
                seed=tf.constant(3, tf.int64), num=tf.constant(4))["images"]
    # every output appears in the grid, in order (find each cell by its exact pixels)
    flat = cells.tobytes()
    for image in want:
        assert image[0].tobytes() in flat  # its first row of pixels
    bad = tmp_path / "big.png"
    bad.write_bytes(png(np.zeros((32, 32, 1))))
    assert cli_main(["sample", *loc, "--condition", str(bad), "--num", "2", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and EXPECTED in err
    assert cli_main(["sample", *loc, "--num", "2", "--out", out]) == 2  # no --condition
    assert "image-conditioned" in capsys.readouterr().err


def test_sample_command_condition_usage_errors(setup, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    loc = ["--export", os.path.join(setup["base"], "edges")]
    for extra, message in [(["--class-id", "1"], "--class-id does not go with --condition"),
                           (["--truncation", "1"], "--truncation does not go with --condition"),
                           (["--interpolate", "1,2"], "choose one of"),
                           ([], None)]:
        args = ["sample", *loc, "--condition", str(tmp_path / "missing.png"), "--out", out, *extra]
        assert cli_main(args) == 2
        err = capsys.readouterr().err
        assert (message or "no such file") in err, err


def test_explore_source_refuses_conditions_for_other_models(setup):
    from keras_gans import explore

    class Plain(explore.Source):
        name = "plain"

        def sample(self, seed, num, truncation=0.0, class_id=None):
            raise AssertionError

        def generate(self, z, class_id=None):
            raise AssertionError

    with pytest.raises(UsageError, match="not image-conditioned"):
        explore.condition_grid(Plain(), [("a", png(setup["conditions"][0]))], 0, 2)
    with pytest.raises(UsageError, match=r"expected uint8 images of shape \[N, 16, 16, 1\]"):
        explore.decode_condition_pngs([png(np.zeros((16, 16, 3)))], (H, W, C_IN))


# --- keras-gans evaluate (MSGAN's image-to-image protocol) ---------------------------------------


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    from helpers.paired_datasets import make_paired_dataset

    root = tmp_path_factory.mktemp("paired")
    # 16 px digits as RGB targets (the tiny generator's output), their edge maps as conditions;
    # a validation split of 6 pairs (the protocol scores the first of test / val / validation).
    return make_paired_dataset(root, n=64, resolution=16, image_channels=3, val_n=6)


def pooled_pixels(*args, **kwargs):
    """A CPU-free stand-in feature net (4x4 average-pooled pixels) for the protocol's plumbing;
    the digit classifier's training would take most of this module's time budget."""
    from keras_gans.metrics.features import FeatureNet

    def features(images):
        n, h, w = images.shape[:3]
        x = images.astype(np.float64).reshape(n, 4, h // 4, 4, w // 4, -1).mean(axis=(2, 4))
        return {"pool": x.reshape(n, -1)}

    return FeatureNet("pooled-pixels", "none", "none", features, has_logits=False, batch_size=16)


def test_evaluate_an_export_under_msgan_protocol(setup, paired, monkeypatch):
    from keras_gans.commands import evaluate as evaluate_cmd
    from keras_gans.metrics import features, protocols

    monkeypatch.setattr(features, "make_feature_net", pooled_pixels)
    rec = evaluate_cmd.evaluate(setup["path"], paired, "fid20,ndb20,lpips15", feature_net="digits",
                                outputs_per_input=4, log=lambda *a: None)
    ic = rec["image_conditioned"]
    assert rec["split"] == "validation" and ic["name"] == "msgan-pix2pix"
    assert ic["outputs_per_input"] == 4 and ic["pairs_per_input"] == 3
    assert ic["inputs"] == 5 and rec["num_fake"] == 20 and rec["num_real"] == 5  # ceil(20 / 4), ceil(15 / 3)
    assert ic["ndb_bins"] == protocols.MSGAN_PIX2PIX.ndb_bins(5) == 2
    r = rec["results"]
    assert set(r) == {"fid20", "ndb20_ndb", "ndb20_jsd", "lpips15", "lpips15_sem", "lpips15_l1",
                      "lpips15_l1_sem"}
    assert r["fid20"] > 0 and 0 <= r["ndb20_jsd"] <= np.log(2) + 1e-9
    # LPIPS needs 31 px and installed weights: null with a note; the pixel L1 is always there
    assert r["lpips15"] is None and any("pixel-L1" in n for n in ic["notes"])
    # the pixel L1: consecutive outputs of each input, as a NumPy transcription computes it
    conditions, _ = zip(*__import__("keras_gans.metrics.evaluate", fromlist=["x"]).paired_batches(
        paired, "validation", 5, 250))
    loaded = setup["loaded"].signatures["sample"]
    out = loaded(condition=tf.constant(conditions[0]), seed=tf.constant(0, tf.int64),
                 num=tf.constant(4))["images"].numpy().astype(np.float64) / 127.5 - 1
    groups = out.reshape(5, 4, -1)
    want = np.abs(groups[:, 1:] - groups[:, :-1]).mean(axis=2).reshape(-1)
    assert r["lpips15_l1"] == pytest.approx(want.mean(), rel=1e-6)
    # FID: all 20 outputs against the 5 inputs' targets, in the feature space
    from keras_gans.metrics import scores

    _, targets = zip(*__import__("keras_gans.metrics.evaluate", fromlist=["x"]).paired_batches(
        paired, "validation", 5, 250))
    outs = loaded(condition=tf.constant(conditions[0]), seed=tf.constant(0, tf.int64),
                  num=tf.constant(4))["images"].numpy()
    f_real = pooled_pixels().features(targets[0])["pool"]
    f_fake = pooled_pixels().features(outs)["pool"]
    want_fid = scores.frechet_distance(f_real.mean(0), np.cov(f_real, rowvar=False),
                                       f_fake.mean(0), np.cov(f_fake, rowvar=False))
    assert r["fid20"] == pytest.approx(want_fid, rel=1e-6)
    assert rec["protocol"]["name"] == "as-exported"
    from keras_gans.metrics.evaluate import format_table

    table = format_table(rec)
    assert "image-to-image protocol msgan-pix2pix: 5 test inputs x 4 outputs" in table
    with pytest.raises(UsageError, match="outputs-per-input 1"):
        evaluate_cmd.evaluate(setup["path"], paired, "lpips10", outputs_per_input=1)
    with pytest.raises(UsageError, match="--data DATA_DIR is required"):
        evaluate_cmd.evaluate(setup["path"], None, "lpips10")


# --- end to end: a real tiny Pix2Pix-MS run -------------------------------------------------------


@pytest.mark.slow  # a training run, export and four evaluations: ~30-50 s on 2 cores
def test_pix2pix_run_export_serve_sample_and_evaluate(tmp_path, monkeypatch, capsys):
    """A 4-step Pix2Pix-MS run on the edges -> digits pairs (32 px): ``keras-gans export`` writes
    the image-conditioned signatures and metadata, its outputs equal the run's generator, and
    ``sample --run/--export --condition`` and ``evaluate`` (run and export) work on it."""
    import dataclasses

    from helpers.paired_datasets import make_paired_dataset, paired_arrays

    from keras_gans.commands import evaluate as evaluate_cmd
    from keras_gans.metrics import features
    from keras_gans.models import registry
    from keras_gans.training import config as config_lib
    from keras_gans.training import loop
    from keras_gans.training.checkpoint import restore_generator

    data = make_paired_dataset(tmp_path, n=16, resolution=32, val_n=4)
    preset = "pix2pix-ms-edges2digits32"
    cfg = config_lib.resolve(preset, [
        f"model={json.dumps(registry.family('pix2pix').tiny_model(registry.preset_config(preset)['model']))}",
        "batch=2", "tick_kimg=0.004", "snapshot_ticks=1", "total_kimg=0.008", "seed=3"])
    run = loop.train(dataclasses.replace(cfg).validate(), data, runs_dir=str(tmp_path / "runs"),
                     log=lambda *a: None)
    version = export.export_run(run, "p2p", str(tmp_path / "models"))
    meta = export.read_export_metadata(version)
    assert meta["condition_shape"] == [32, 32, 1] and meta["arch"] == "pix2pix"
    assert set(meta["signatures"]) == {"serving_default", "serving_png", "sample", "sample_png"}
    card = open(os.path.join(version, export.EXTRA_DIR, "model_card.md")).read()
    assert "Image-conditioned" in card and "[N, 32, 32, 1]" in card
    restored = restore_generator(run)
    cond, _, _ = paired_arrays(20, 32)
    cond = cond[16:18]
    z = np.random.default_rng(0).standard_normal((2, restored.latent_dim)).astype(np.float32)
    loaded = tf.saved_model.load(version)
    out = call(loaded.signatures["serving_png"], z=tf.constant(z),
               condition_png_bytes=tf.constant([png(c) for c in cond]))
    want = image_grid.to_uint8(np.asarray(restored.sample(
        tf.constant(z), condition=tf.constant(image_grid.from_uint8(cond)))))
    diff = np.abs(want.astype(int) - out["images"])
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-2
    # keras-gans sample --condition from the run and from its export: the same figure
    files = []
    for i, c in enumerate(cond):
        (tmp_path / f"edge{i}.png").write_bytes(png(c))
        files.append(str(tmp_path / f"edge{i}.png"))
    grids = {}
    for where in (["--run", run], ["--export", version]):
        path = str(tmp_path / f"grid-{where[0][2:]}.png")
        assert cli_main(["sample", *where, "--condition", *files, "--num", "3", "--out", path]) == 0
        from PIL import Image

        grids[where[0]] = np.asarray(Image.open(path).convert("L"), int)
    capsys.readouterr()
    assert grids["--run"].shape == grids["--export"].shape
    assert np.abs(grids["--run"] - grids["--export"]).max() <= 1  # eager vs traced rounding
    # evaluate: the run under msgan-pix2pix (raw generator), the export as exported
    monkeypatch.setattr(features, "make_feature_net", pooled_pixels)
    for source in (run, version):
        rec = evaluate_cmd.evaluate(source, data, "fid8,ndb8,lpips4", feature_net="digits",
                                    outputs_per_input=2, log=lambda *a: None)
        ic = rec["image_conditioned"]
        assert rec["split"] == "validation" and ic["inputs"] == 4 and rec["num_fake"] == 8
        assert rec["results"]["lpips4"] is None and rec["results"]["lpips4_l1"] > 0
        assert np.isfinite(rec["results"]["fid8"]) and rec["results"]["ndb8_jsd"] >= 0
    assert evaluate_cmd.evaluate(run, data, "fid8", feature_net="digits", outputs_per_input=2,
                                 log=lambda *a: None)["protocol"]["name"] == "msgan-pix2pix"
