"""``keras-gans evaluate``: metric names, feature networks, cached reference statistics, and
evaluation of a real run and of its export (digit-classifier features: no downloaded weights)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers.datasets import mnist32, write_dataset

from keras_gans.errors import UsageError
from keras_gans.commands import evaluate as evaluate_cmd
from keras_gans.metrics import evaluate as ev, features as feature_nets, specs as metric_specs


def test_parse_metrics():
    specs = metric_specs.parse_metrics("fid50k, kid10k,pr2000,IS5k,dc10k,ndb10k")
    assert [(s.kind, s.num) for s in specs] == [("fid", 50000), ("kid", 10000), ("pr", 2000),
                                                ("is", 5000), ("dc", 10000), ("ndb", 10000)]
    for bad in ("fid", "fid10m", "lpips", "lpips1", "lpip2k", "fid1", ""):
        with pytest.raises(UsageError):
            metric_specs.parse_metrics(bad)
    (lp,) = metric_specs.parse_metrics("LPIPS2k")
    assert (lp.name, lp.kind, lp.num) == ("lpips2k", "lpips", 2000)


def test_missing_inception_weights_name_the_conversion(tmp_path):
    with pytest.raises(UsageError, match="convert-weights inception-fid"):
        feature_nets.inception_net(str(tmp_path / "none.weights.h5"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from keras_gans.serving import export
    from keras_gans.training import config as config_lib, loop

    data = str(tmp_path_factory.mktemp("digits"))
    write_dataset(data, *mnist32(600), num_shards=2)
    cfg = config_lib.resolve("dcgan-mnist32", ["model.base_filters=8", "batch=16",
                                               "total_kimg=0.048", "tick_kimg=0.048"])
    run = loop.train(cfg, data, runs_dir=str(tmp_path_factory.mktemp("runs")), log=lambda *a: None)
    version = export.export_run(run, "dcgan", str(tmp_path_factory.mktemp("models")))
    return data, run, version


def test_evaluate_a_run_and_its_export(trained, capsys):
    data, run, version = trained
    lines = []
    rec = evaluate_cmd.evaluate(run, data, "fid300,fid100,kid200,pr200,dc200,ndb300,is300", feature_net="digits",
                      log=lines.append)
    r = rec["results"]
    assert np.isfinite(r["fid100"]) and r["fid100"] != r["fid300"]  # fewer fakes, other value
    assert rec["num_fake"] == 300 and rec["num_real"] == 300 and rec["source_kind"] == "run"
    assert rec["feature_net"] == "digits-classifier-seed0" and rec["resize"].startswith("none")
    for key in ("fid300", "kid200", "pr200_precision", "pr200_recall", "dc200_density",
                "dc200_coverage", "ndb300_ndb", "ndb300_jsd", "is300"):
        assert np.isfinite(r[key]), (key, r)
    assert r["fid300"] > 1.0  # 48 images of training: far from the digits
    assert any("cached in" in line for line in lines)
    cache = os.listdir(os.path.join(data, "metrics-cache"))
    assert len(cache) == 1 and cache[0].startswith("digits-classifier-seed0-none-train-300-")
    # Again: the reference statistics come from the cache, and the run's numbers repeat.
    lines.clear()
    again = evaluate_cmd.evaluate(run, data, "fid300", feature_net="digits", log=lines.append)
    assert any("reference statistics from" in line for line in lines)
    assert again["results"]["fid300"] == pytest.approx(r["fid300"], rel=1e-6)
    # The export: its own sample signature (other latents), the same generator.
    exp = evaluate_cmd.evaluate(version, data, "fid300", feature_net="digits", log=lambda *a: None)
    assert exp["source_kind"] == "saved_model"
    assert exp["results"]["fid300"] == pytest.approx(r["fid300"], rel=0.25)


def test_score_feeds_each_metric_its_features(trained):
    """ev.score with a known feature map and fixed fakes equals the formulas applied directly."""
    from keras_gans.metrics import scores

    data, _, _ = trained
    weights = np.random.default_rng(1).normal(size=(16, 5))

    def features(images):  # 4x4 box means of the uint8 images, and a linear 5-way head
        pool = images.astype(np.float64).reshape(len(images), 4, 8, 4, 8).mean(axis=(2, 4)).reshape(-1, 16)
        return {"pool": pool, "logits": pool @ weights / 64.0}

    net = feature_nets.FeatureNet("boxes", "none", "none", features, has_logits=True, batch_size=64)
    fakes = np.random.default_rng(2).integers(0, 256, size=(300, 32, 32, 1), dtype=np.uint8)

    def sample(n, index):
        return fakes[index * 250:index * 250 + n]

    specs = metric_specs.parse_metrics("fid300,fid120,kid200,is300,pr200,dc200")
    r = ev.score(sample, data, specs, net, log=lambda *a: None)["results"]
    real = np.concatenate(list(ev.real_batches(data, "train", 300, 100)))
    fr, ff = features(real)["pool"], features(fakes)["pool"]
    assert r["fid300"] == pytest.approx(scores.fid_from_features(fr, ff), rel=1e-6)
    assert r["fid120"] == pytest.approx(scores.fid_from_features(fr, ff[:120]), rel=1e-6)
    assert r["kid200"] == pytest.approx(scores.kernel_inception_distance(fr[:200], ff[:200])[0], rel=1e-6)
    assert r["is300"] == pytest.approx(
        scores.inception_score(features(fakes)["logits"], from_logits=True)[0], rel=1e-6)
    pr = scores.precision_recall(fr[:200], ff[:200])
    assert (r["pr200_precision"], r["pr200_recall"]) == (pr["precision"], pr["recall"])
    assert r["dc200_coverage"] == scores.density_coverage(fr[:200], ff[:200])["coverage"]


def test_evaluate_cli_writes_the_record(trained, tmp_path, capsys):
    from keras_gans import cli

    data, run, _ = trained
    out = tmp_path / "m.json"
    # `latest` with --runs-dir names the same run
    assert cli.main(["evaluate", "latest", "--runs-dir", os.path.dirname(run), "--data", data,
                     "--metrics", "fid200,kid100", "--feature-net", "digits", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fid200" in printed and "kid100" in printed and "(x1e3)" in printed
    rec = json.loads(out.read_text())
    assert set(rec["results"]) == {"fid200", "kid100", "kid100_std"}
    assert rec["source"] == os.path.abspath(run) and rec["source_kind"] == "run"
    last = json.loads(open(os.path.join(run, "metrics.jsonl")).read().splitlines()[-1])
    assert last["evaluate"]["results"]["fid200"] == rec["results"]["fid200"]
    assert cli.main(["evaluate", run, "--data", data, "--metrics", "fid10", "--feature-net",
                     "inception", "--weights", str(tmp_path / "missing.weights.h5")]) == 2
    assert "convert-weights inception-fid" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path), "--data", data, "--metrics", "fid10",
                     "--feature-net", "digits"]) == 2


def test_training_evaluates_and_keeps_the_best_checkpoint(trained, tmp_path):
    import tensorflow as tf

    from keras_gans.training import config as config_lib, loop

    data, _, _ = trained
    cfg = config_lib.resolve("dcgan-mnist32", [
        "model.base_filters=8", "batch=16", "total_kimg=0.096", "tick_kimg=0.032",
        'eval={"kimg": 0.032, "metric": "fid100", "feature_net": "digits"}'])
    lines = []
    run = loop.train(cfg, data, runs_dir=str(tmp_path), log=lines.append)
    evals = [json.loads(l)["eval"] for l in open(os.path.join(run, "metrics.jsonl")) if '"eval"' in l]
    assert len(evals) == 3 and all(np.isfinite(e["results"]["fid100"]) for e in evals)
    assert sum("eval fid100" in l for l in lines) == 3
    best = tf.train.latest_checkpoint(os.path.join(run, "best"))
    assert best is not None
    values = [e["results"]["fid100"] for e in evals]
    assert best.endswith(f"ckpt-{32 * (1 + int(np.argmin(values)))}")
    tags = set()
    for f in os.listdir(os.path.join(run, "tb")):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(run, "tb", f)):
            tags |= {v.tag for v in event.summary.value}
    assert "eval/fid100" in tags
    # A bad metric is refused when the config is resolved (also by --dry-run), before training.
    with pytest.raises(UsageError, match="unknown metric"):
        config_lib.resolve("dcgan-mnist32", ['eval={"kimg": 1, "metric": "fid"}'])


# --- lpips: diversity of generated pairs (random LPIPS weights: the real backbone is not here) ---


@pytest.fixture(scope="module")
def lpips_weights(tmp_path_factory):
    """An LPIPS AlexNet weights file with Keras-initialised (random) backbone and |heads|."""
    from keras_gans.metrics import lpips

    model = lpips.build_lpips("alex")
    for k in range(5):
        lin = model.get_layer(f"lin{k}")
        lin.kernel.assign(np.abs(np.asarray(lin.kernel)))
    path = str(tmp_path_factory.mktemp("lpips") / "lpips-alex-random.weights.h5")
    model.save_weights(path)
    return path


def test_lpips_diversity_of_a_run_and_its_export(trained, lpips_weights, tmp_path, capsys):
    from keras_gans import cli
    from keras_gans.metrics import lpips

    data, run, version = trained
    rec = evaluate_cmd.evaluate(run, None, "lpips120,lpips50", lpips_weights=lpips_weights, log=lambda *a: None)
    r = rec["results"]
    assert set(r) == {"lpips120", "lpips120_sem", "lpips50", "lpips50_sem"}
    assert rec["data"] is None and rec["feature_net"] is None and rec["num_fake"] == 0
    assert rec["lpips"]["net"] == "lpips-alex-v0.1" and rec["lpips"]["weights"] == lpips_weights
    assert rec["lpips"]["pairs"] == 120 and "unconditional" in rec["lpips"]["pairing"]
    # The protocol by hand: 120 pairs from two independent sampler draws (one batch).
    sample = evaluate_cmd.run_sampler(run, 0)
    model = lpips.load_lpips("alex", lpips_weights)
    d = lpips.lpips_distance(sample(120, ev.LPIPS_INDEX_OFFSET), sample(120, ev.LPIPS_INDEX_OFFSET + 1),
                             model).astype(np.float64)
    assert r["lpips120"] == pytest.approx(d.mean(), rel=1e-5) and r["lpips120"] > 0
    assert r["lpips50"] == pytest.approx(d[:50].mean(), rel=1e-5)
    assert r["lpips120_sem"] == pytest.approx(d.std(ddof=1) / np.sqrt(120), rel=1e-4)
    # The export: its own sample signature (other latents), the same generator.
    exp = evaluate_cmd.evaluate(version, None, "lpips120", lpips_weights=lpips_weights, log=lambda *a: None)
    assert exp["source_kind"] == "saved_model"
    assert exp["results"]["lpips120"] == pytest.approx(r["lpips120"], rel=0.25)

    # Command line: lpips alone needs no --data; mixed with a feature metric it does.
    out = tmp_path / "m.json"
    assert cli.main(["evaluate", run, "--metrics", "lpips40", "--lpips-weights", lpips_weights,
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lpips40_sem" in printed and "higher = more diverse" in printed
    assert set(json.loads(out.read_text())["results"]) == {"lpips40", "lpips40_sem"}
    assert cli.main(["evaluate", run, "--data", data, "--metrics", "fid100,lpips40", "--feature-net",
                     "digits", "--lpips-net", "alex", "--lpips-weights", lpips_weights, "--out", str(out)]) == 0
    both = json.loads(out.read_text())
    assert set(both["results"]) == {"fid100", "lpips40", "lpips40_sem"}
    assert both["feature_net"] == "digits-classifier-seed0" and both["lpips"]["pairs"] == 40
    capsys.readouterr()
    assert cli.main(["evaluate", run, "--metrics", "fid100,lpips40", "--feature-net", "digits",
                     "--lpips-weights", lpips_weights]) == 2
    assert "--data DATA_DIR is required for fid100" in capsys.readouterr().err
    assert cli.main(["evaluate", run, "--metrics", "lpips40", "--lpips-weights",
                     str(tmp_path / "missing.weights.h5")]) == 2
    err = capsys.readouterr().err
    assert "convert-weights lpips-alex --from alexnet.pth" in err and "IMAGENET1K_V1" in err


def test_training_evaluates_lpips(trained, lpips_weights, tmp_path):
    from keras_gans.training import config as config_lib, loop

    data, _, _ = trained
    cfg = config_lib.resolve("dcgan-mnist32", [
        "model.base_filters=8", "batch=16", "total_kimg=0.032", "tick_kimg=0.032",
        'eval={"kimg": 0.032, "metric": "lpips50", "lpips_weights": "%s"}' % lpips_weights])
    run = loop.train(cfg, data, runs_dir=str(tmp_path), log=lambda *a: None)
    (record,) = [json.loads(l)["eval"] for l in open(os.path.join(run, "metrics.jsonl")) if '"eval"' in l]
    assert record["results"]["lpips50"] > 0 and record["lpips"]["pairs"] == 50
    missing = config_lib.resolve("dcgan-mnist32", [
        'eval={"kimg": 1, "metric": "lpips50", "lpips_weights": "%s"}' % (tmp_path / "none.weights.h5")])
    with pytest.raises(UsageError, match="convert-weights lpips-alex"):  # before training starts
        loop.train(missing, data, runs_dir=str(tmp_path / "missing"), log=lambda *a: None)


def test_lpips_pairs_of_a_conditional_run_and_export(trained, lpips_weights, tmp_path):
    """Conditional models: the run's and the export's samplers draw the requested classes, and
    the lpips record says pairs share a class."""
    from keras_gans.serving import export
    from keras_gans.training import config as config_lib, loop

    data, _, _ = trained
    cfg = config_lib.resolve("cdcgan-mnist32", ["model.base_filters=8", "batch=16",
                                                "total_kimg=0.016", "tick_kimg=0.016"])
    run = loop.train(cfg, data, runs_dir=str(tmp_path / "runs"), log=lambda *a: None)
    version = export.export_run(run, "cdcgan", str(tmp_path / "models"))
    for source in (run, version):
        kind, sample = evaluate_cmd.sampler(source, 0, None)
        assert sample.num_classes == 10, kind
        sevens = sample(3, 5, classes=[7, 7, 7])
        np.testing.assert_array_equal(sevens, sample(3, 5, classes=[7, 7, 7]))
        assert not np.array_equal(sevens, sample(3, 5, classes=[2, 2, 2]))  # same z, other class
        with pytest.raises(UsageError, match=r"ids in \[0, 10\)"):
            sample(3, 5, classes=[7, 7, 10])
        rec = evaluate_cmd.evaluate(source, None, "lpips20", lpips_weights=lpips_weights, log=lambda *a: None)
        assert "class i mod 10" in rec["lpips"]["pairing"] and rec["results"]["lpips20"] > 0
