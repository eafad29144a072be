"""The run directory's owner (``keras_gans.runs``) and the registry's rules, without training."""

from __future__ import annotations

import json
import os

import pytest

from keras_gans import cli, runs
from keras_gans.errors import UsageError
from keras_gans.models import registry


def test_numbering_latest_and_resolve(tmp_path):
    root = str(tmp_path / "runs")
    with pytest.raises(UsageError, match="no runs"):
        runs.latest_run_dir(root)
    first = runs.new_run_dir(root, "dcgan", "mnist32")
    os.makedirs(os.path.join(root, "notes"))  # not a run: ignored by numbering and latest
    second = runs.new_run_dir(root, "biggan", "")
    assert os.path.basename(first) == "00001-dcgan-mnist32"
    assert os.path.basename(second) == "00002-biggan-data"
    os.makedirs(os.path.join(root, "00007-progan-x"))  # numbers continue from the largest
    assert os.path.basename(runs.new_run_dir(root, "dcgan", "d")) == "00008-dcgan-d"
    assert runs.resolve("latest", root).endswith("00008-dcgan-d")
    assert runs.resolve(first, root) == first


def test_records_round_trip_and_a_cut_metrics_line_is_skipped(tmp_path):
    run = str(tmp_path / "00001-dcgan-d")
    os.makedirs(run)
    assert runs.read_info(run) == {} and runs.read_metrics(run) == [] and not runs.is_run_dir(run)
    with pytest.raises(UsageError, match="not a keras-gans run directory"):
        runs.check_run_dir(run)
    with pytest.raises(UsageError, match="no config.json"):
        runs.read_config(run)
    runs.write_config(run, json.dumps({"preset": "x"}))
    runs.write_info(run, {"status": "running"})
    runs.check_run_dir(run)
    assert runs.is_run_dir(run) and runs.read_config(run) == {"preset": "x"}
    with pytest.raises(UsageError, match="data manifest"):
        runs.data_manifest(run)
    runs.append_metrics(run, {"kimg": 1})
    with open(runs.metrics_path(run), "a") as f:
        f.write('{"kimg": 2, "d_lo')  # a crash mid-write
    runs.append_metrics(run, {"kimg": 3})
    assert [r["kimg"] for r in runs.read_metrics(run)] == [1, 3]
    assert open(runs.metrics_path(run)).read().count("\n") == 3  # no blank lines added
    assert runs.sample_path(run, 64).endswith(os.path.join("samples", "fakes000000064.png"))
    assert runs.latest_checkpoint(run) is None


def test_the_registry_refuses_a_preset_of_two_families():
    existing = next(iter(registry.PRESETS))
    owner = registry.PRESETS[existing]["arch"]
    other = next(name for name in registry.FAMILIES if name != owner)
    fam = registry.FAMILIES[other]
    with pytest.raises(ValueError, match="already registered"):
        registry.register_family(other, fam.builder, fam.check,
                                 {existing: {"description": "x", "config": {}}}, tiny={})
    with pytest.raises(ValueError, match="already registered"):
        registry.register_family(other, lambda c, m: None, fam.check, {}, tiny={})
    assert registry.PRESETS[existing]["arch"] == owner


@pytest.mark.parametrize("preset", sorted(registry.PRESETS))
def test_every_preset_dry_runs(preset, capsys):
    assert cli.main(["train", "--preset", preset, "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["preset"] == preset and config["arch"] == registry.PRESETS[preset]["arch"]


@pytest.mark.parametrize("override, message", [
    ("model.nope=1", "unknown model arguments ['nope']"),
    ('regularizers=[{"type": "r2"}]', "unknown regularizer type 'r2'"),
    ('ema={"beta": 0.9, "non_trainable": "keep"}', "non_trainable must be average or copy"),
    ('eval={"kimg": 1, "metric": "fid"}', "unknown metric 'fid'"),
    ('loss="l2"', "loss must be"),
    ("conditional=false", "class-conditional only"),
])
def test_dry_run_refuses_what_the_run_would_refuse(override, message, capsys):
    assert cli.main(["train", "--preset", "biggan-mnist32", "--dry-run", "--set", override]) == 2
    assert message in capsys.readouterr().err
