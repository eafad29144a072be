"""Training runs: exact resume, NaN guard, configs and presets, the train command."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from keras_gans import cli, runs
from keras_gans.errors import UsageError
from keras_gans.training import config as config_lib, checkpoint as ckpt_lib, loop
from keras_gans.training.callbacks import TrainingDiverged


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    images, labels = mnist32(512)
    d = str(tmp_path_factory.mktemp("mnist32"))
    write_dataset(d, images, labels, num_shards=4)
    return d


TINY_MODELS = {
    "dcgan-mnist32": {"latent_dim": 8, "base_filters": 8},
    # StyleGAN noise: the layers' SeedGenerator states must resume too
    "msgstylegan-mnist32": {"generator": "stylegan", "fmap_base": 32, "fmap_max": 8, "latent_dim": 8,
                            "dlatent_dim": 8, "mapping_fmaps": 8, "mapping_layers": 2},
}


def tiny(preset="dcgan-mnist32", **kw):
    """A few-second config: 8-filter networks (DCGAN's unless TINY_MODELS has the preset),
    batch 16, 4-step ticks, a checkpoint every tick."""
    model = TINY_MODELS.get(preset, TINY_MODELS["dcgan-mnist32"])
    cfg = config_lib.resolve(preset, [
        f"model={json.dumps(model)}", "batch=16", "tick_kimg=0.064", "snapshot_ticks=1",
        "total_kimg=0.128", "seed=3", "deterministic=true"])
    return dataclasses.replace(cfg, **kw).validate()


def weights(run_dir):
    gan, _ = ckpt_lib.restore_gan(run_dir)
    nets = [gan.generator, gan.discriminator, gan.ema_generator]
    out = [w.numpy() for n in nets for w in n.weights]
    out += [v.numpy() for opt in (gan.g_optimizer, gan.d_optimizer) for v in opt.variables]
    return out, int(gan.images_seen.numpy()), int(gan.step_counter.numpy())


@pytest.mark.parametrize("preset", sorted(TINY_MODELS))
def test_resume_continues_exactly(digits_dir, tmp_path, preset):
    straight = loop.train(tiny(preset), digits_dir, runs_dir=str(tmp_path / "a"), log=lambda *a: None)
    half = loop.train(tiny(preset, total_kimg=0.064), digits_dir, runs_dir=str(tmp_path / "b"),
                      log=lambda *a: None)
    resumed = loop.train(tiny(preset, total_kimg=0.128), digits_dir, runs_dir=str(tmp_path / "b"),
                         resume=half, log=lambda *a: None)
    assert resumed == half
    wa, seen_a, steps_a = weights(straight)
    wb, seen_b, steps_b = weights(resumed)
    assert (seen_a, steps_a) == (seen_b, steps_b) == (128, 8)  # kimg counter never reset
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(wa, wb)) == 0.0
    metrics = [json.loads(line) for line in open(os.path.join(resumed, "metrics.jsonl"))]
    assert [m["kimg"] for m in metrics] == [0.064, 0.128]
    assert os.path.exists(os.path.join(resumed, "samples", "fakes000000128.png"))
    assert json.load(open(os.path.join(resumed, "run.json")))["status"] == "finished"
    tb = os.listdir(os.path.join(resumed, "tb"))
    assert tb and any(n.startswith("events.out") for n in tb)


def test_lr_decay_factor_is_pix2pixs_lambda_policy():
    """HelenMao/MSGAN Pix2Pix-Mode-Seeking: train.py runs epochs ``epoch_count=1 ..
    niter + niter_decay`` and steps the LambdaLR scheduler after each (line 61); networks.py
    lines 47-48 ``lambda_rule(epoch) = 1 - max(0, epoch - niter) / (niter_decay + 1)``, where
    ``epoch`` is the number of steps taken. Transcribed: the factor in force during each epoch."""
    from keras_gans.training.callbacks import lr_decay_factor

    niter, niter_decay, pairs = 100, 100, 400
    decay = {"epoch_kimg": pairs / 1000, "constant_epochs": niter, "decay_epochs": niter_decay}
    steps = 0  # scheduler.step() calls so far
    for epoch in range(1, niter + niter_decay + 1):
        official = 1.0 - max(0, steps - niter) / float(niter_decay + 1)
        for image in (0, 1, pairs - 1):  # first, second and last image of the epoch
            seen = (epoch - 1) * pairs + image
            assert lr_decay_factor(decay, seen) == pytest.approx(official, abs=1e-12), (epoch, image)
        steps += 1
    assert lr_decay_factor(decay, 0) == 1.0 and lr_decay_factor({}, 10**9) == 1.0
    assert lr_decay_factor(decay, 10**9) == 0.0  # past the schedule: 0, never negative
    assert lr_decay_factor(decay, 101 * pairs) == pytest.approx(1 - 1 / 101)
    for bad in ({"epoch_kimg": 0.4}, {"epoch_kimg": 0.0, "constant_epochs": 1, "decay_epochs": 1},
                {"epoch_kimg": 0.4, "constant_epochs": 1, "decay_epochs": 0}):
        with pytest.raises(UsageError, match="lr_decay"):
            config_lib.resolve("dcgan-mnist32", [f"lr_decay={json.dumps(bad)}"])


def test_lr_decay_is_applied_per_epoch_and_resumes_exactly(digits_dir, tmp_path):
    """8 steps of 16 images with epochs of 2 steps, 1 constant and 4 decaying: the rates end at
    2e-4 x (1 - 3/5) (the optimizers' own variables: applied, not just recorded), and a run
    stopped after 4 steps and resumed equals the straight run bit for bit."""
    decay = {"epoch_kimg": 0.032, "constant_epochs": 1, "decay_epochs": 4}
    quiet = lambda *a: None  # noqa: E731
    straight = loop.train(tiny(lr_decay=decay), digits_dir, runs_dir=str(tmp_path / "a"), log=quiet)
    half = loop.train(tiny(lr_decay=decay, total_kimg=0.064), digits_dir, runs_dir=str(tmp_path / "b"),
                      log=quiet)
    resumed = loop.train(tiny(lr_decay=decay), digits_dir, runs_dir=str(tmp_path / "b"), resume=half,
                         log=quiet)
    (wa, *_), (wb, *_) = weights(straight), weights(resumed)
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(wa, wb)) == 0.0
    gan, _ = ckpt_lib.restore_gan(straight)
    for opt in (gan.g_optimizer, gan.d_optimizer):
        assert float(opt.learning_rate.numpy()) == pytest.approx(2e-4 * (1 - 3 / 5), rel=1e-6)


def test_checkpoints_without_noise_states_still_restore(digits_dir, tmp_path):
    """Checkpoints hold the noise SeedGenerator states; one written before they were saved
    restores everything else and says that the noise streams restart."""
    run = loop.train(tiny("msgstylegan-mnist32", total_kimg=0.064), digits_dir,
                     runs_dir=str(tmp_path), log=lambda *a: None)
    latest = tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
    assert any(name.startswith("seed_states/") for name, _ in tf.train.list_variables(latest))
    gan, _ = ckpt_lib.restore_gan(run)
    legacy = ckpt_lib.make_checkpoint(gan, seed_states=False).save(str(tmp_path / "legacy" / "ckpt"))
    assert not any(name.startswith("seed_states/") for name, _ in tf.train.list_variables(legacy))
    again, _ = ckpt_lib.restore_gan(run, checkpoint=legacy)
    for a, b in zip(gan.generator.weights + gan.discriminator.weights,
                    again.generator.weights + again.discriminator.weights):
        if not a.path.endswith(ckpt_lib.SEED_STATE):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    logs = []
    ckpt_lib.restore(legacy, again, {}, logs.append)
    assert len(logs) == 1 and "noise streams restart" in logs[0]


def test_resume_refuses_other_networks(digits_dir, tmp_path):
    run = loop.train(tiny(total_kimg=0.064), digits_dir, runs_dir=str(tmp_path), log=lambda *a: None)
    other = tiny(model={"latent_dim": 8, "base_filters": 16})
    with pytest.raises(UsageError, match="model differ"):
        loop.train(other, digits_dir, runs_dir=str(tmp_path), resume=run, log=lambda *a: None)


def test_conditional_run_writes_per_class_grids(digits_dir, tmp_path):
    run = loop.train(tiny("cdcgan-msgan-mnist32", total_kimg=0.064), digits_dir,
                     runs_dir=str(tmp_path), log=lambda *a: None)
    from PIL import Image

    grid = Image.open(os.path.join(run, "samples", "fakes000000064.png"))
    # 10 classes x 8 columns of 32x32 cells with 2-pixel padding.
    assert grid.size[0] == 8 * 32 + 9 * 2 and grid.size[1] == 10 * 32 + 11 * 2
    record = json.loads(open(os.path.join(run, "metrics.jsonl")).readline())
    assert "reg_ms" in record and np.isfinite(record["reg_ms"]) and record["lr_g"] == pytest.approx(2e-4)


def test_non_finite_loss_stops_and_names_the_checkpoint(digits_dir, tmp_path):
    run = loop.train(tiny(total_kimg=0.064), digits_dir, runs_dir=str(tmp_path), log=lambda *a: None)
    exploding = tiny(total_kimg=0.5, g_lr=3e38, d_lr=3e38, deterministic=False)
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at step \d+ .*ckpt-64"):
        loop.train(exploding, digits_dir, runs_dir=str(tmp_path), resume=run, log=lambda *a: None)
    assert json.load(open(os.path.join(run, "run.json")))["status"] == "diverged"
    # The diverged state was never checkpointed: the last checkpoint is still the good one.
    assert tf.train.latest_checkpoint(os.path.join(run, "checkpoints")).endswith("ckpt-64")


def test_rollback_policy_restores_then_gives_up(digits_dir, tmp_path):
    run = loop.train(tiny(total_kimg=0.064), digits_dir, runs_dir=str(tmp_path), log=lambda *a: None)
    lines = []
    exploding = tiny(total_kimg=0.5, g_lr=3e38, d_lr=3e38, deterministic=False,
                     nan_policy="rollback", max_rollbacks=2)
    with pytest.raises(TrainingDiverged):
        loop.train(exploding, digits_dir, runs_dir=str(tmp_path), resume=run, log=lines.append)
    assert sum("rolled back to" in line for line in lines) == 2


def test_config_round_trip_and_overrides():
    cfg = config_lib.resolve("cdcgan-msgan-mnist32", ["batch=32", "model.base_filters=16",
                                                      'loss="hinge"', "flip=true", "total_kimg=5"])
    assert (cfg.batch, cfg.model["base_filters"], cfg.loss, cfg.flip, cfg.total_kimg) == (32, 16, "hinge", True, 5.0)
    assert config_lib.TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    for bad, message in [("batch=abc", "expected a number"), ("nope=1", "unknown key"),
                         ("flip=3", "true or false"), ("batch", "key=value"),
                         ("mixed_precision=float8", "mixed_precision must be"),
                         ("batch=1.5", "integer")]:
        with pytest.raises(UsageError, match=message):
            config_lib.resolve("dcgan-mnist32", [bad])
    with pytest.raises(UsageError, match="unknown preset"):
        config_lib.resolve("nope-mnist32")
    assert {"dcgan-mnist32", "cdcgan-mnist32", "cdcgan-msgan-mnist32", "cdcgan-cifar10",
            "cdcgan-msgan-cifar10"} <= set(config_lib.list_presets())


def test_msgan_cifar_preset_matches_the_official_settings():
    cfg = config_lib.resolve("cdcgan-msgan-cifar10")
    assert (cfg.batch, cfg.model["latent_dim"], cfg.model["base_filters"]) == (32, 100, 128)
    assert (cfg.g_lr, cfg.d_lr, cfg.beta_1, cfg.beta_2) == (2e-4, 2e-4, 0.5, 0.999)
    assert {"type": "ms", "lam": 1.0} in cfg.regularizers and cfg.fake_labels == "real"


def test_train_cli_dry_run_list_and_errors(digits_dir, tmp_path, capsys):
    assert cli.main(["train", "--preset", "dcgan-mnist32", "--kimg", "7", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["total_kimg"] == 7.0
    assert cli.main(["train", "--list-presets"]) == 0
    assert "cdcgan-msgan-cifar10" in capsys.readouterr().out
    assert cli.main(["train", "--preset", "nope", "--data", digits_dir]) == 2
    assert cli.main(["train", "--preset", "dcgan-mnist32"]) == 2
    assert "--data" in capsys.readouterr().err
    assert cli.main(["train", "--preset", "dcgan-mnist32", "--data", str(tmp_path / "missing")]) == 2
    assert "no dataset.json" in capsys.readouterr().err
    # An unlabelled dataset refuses a conditional preset with a reason.
    images, _ = mnist32(64)
    write_dataset(str(tmp_path / "unlabelled"), images)
    assert cli.main(["train", "--preset", "cdcgan-mnist32", "--data", str(tmp_path / "unlabelled"),
                     "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "no labels" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_run_moves_samples_away_from_noise(tmp_path):
    """Real training on the bundled digits: EMA samples end up digit-like (mostly dark, sparse
    bright strokes, like MNIST), far from the initial near-constant output."""
    from pipelines import prepare

    data_dir = str(tmp_path / "mnist32")
    prepare.prepare(prepare.PrepareOptions(source="mnist", out=data_dir, resolution=32),
                    log=lambda *a: None)
    cfg = config_lib.resolve("dcgan-mnist32", ["total_kimg=20", "tick_kimg=5"])
    run = loop.train(cfg, data_dir, runs_dir=str(tmp_path / "runs"), log=print)
    gan, _ = ckpt_lib.restore_gan(run)
    z = tf.random.stateless_normal([256, gan.latent_dim], seed=[1, 2])
    fake = gan.sample(z).numpy()
    from keras_gans import data

    real = next(iter(data.load_dataset(data_dir, "validation", 256, shuffle=False)))["image"].numpy()
    # MNIST statistics: ~19% of pixels bright; the per-image pixel histogram is bimodal.
    frac_bright = lambda x: float((x > 0).mean())  # noqa: E731
    assert abs(frac_bright(fake) - frac_bright(real)) < 0.08
    assert np.mean(np.abs(fake.mean(0) - real.mean(0))) < 0.25
    assert fake.std(axis=0).mean() > 0.2  # diverse, not one mode


@pytest.mark.parametrize("overrides", [
    {"mixed_precision": "float16"}, {"mixed_precision": "bfloat16"}, {"jit": True}])
def test_mixed_precision_and_xla_train(digits_dir, tmp_path, overrides):
    import keras

    try:
        run = loop.train(tiny(total_kimg=0.064, deterministic=False, **overrides), digits_dir,
                         runs_dir=str(tmp_path), log=lambda *a: None)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    record = json.loads(open(os.path.join(run, "metrics.jsonl")).readline())
    assert np.isfinite(record["d_loss"]) and np.isfinite(record["g_loss"])
    if overrides.get("mixed_precision") == "float16":
        gan, _ = ckpt_lib.restore_gan(run)
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        keras.mixed_precision.set_global_policy("float32")


def test_time_limit_stops_with_a_checkpoint_and_resumes(digits_dir, tmp_path):
    """``max_minutes``: stop at the first tick past the budget, with a checkpoint and status
    "time limit"; ``--resume`` continues to the end."""
    cfg = tiny(total_kimg=1.0, max_minutes=0.0001)
    run = loop.train(cfg, digits_dir, runs_dir=str(tmp_path), log=lambda *a: None)
    info = runs.read_info(run)
    assert info["status"] == "time limit" and info["kimg"] == pytest.approx(0.064)  # one tick
    assert runs.latest_checkpoint(run).endswith("ckpt-64")
    run2 = loop.train(tiny(total_kimg=0.128), digits_dir, runs_dir=str(tmp_path), resume=run,
                      log=lambda *a: None)
    assert runs.read_info(run2)["kimg"] == pytest.approx(0.128)
