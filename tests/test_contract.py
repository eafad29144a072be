"""The family contract: every registered preset, made tiny, goes through the whole life of a model.

resolve -> build -> one train step -> checkpoint -> generator-only restore (weights equal to the
trained EMA generator's) -> export (outputs byte-identical to the serving functions over the
trained EMA generator, for the same latents and seed) -> the ``serving_default`` and ``sample``
signatures' shapes and dtypes -> ``.keras`` round trip of the generator.

The cases are the registry's presets (``keras-gans train --list-presets``), so a new family is
covered by registering it; its ``tiny`` overrides (``keras_gans.models.registry``) keep each case
to seconds. Per-family test files keep only what is specific to a family.

Presets whose tiny configs take the same code path (``code_path``: the same family, tiny model
switches, loss, regularizer types, growth, augmentation, EMA kind, ...; they differ only in
numbers such as learning rates, EMA half-lives and dataset names) are one case in the default
suite, the CPU preset where there is one; the others run with ``--slow``.
"""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.datasets import mnist32, write_dataset
from helpers.paired_datasets import make_paired_dataset
from keras_gans import cli, image_grid, runs
from keras_gans.models import registry
from keras_gans.serving import export
from keras_gans.training import checkpoint as ckpt_lib, config as config_lib, loop

PRESETS = sorted(registry.list_presets())
BATCH = 4


def test_the_cases_are_every_listed_preset(capsys):
    assert cli.main(["train", "--list-presets"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert listed == PRESETS and len(PRESETS) >= 23


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """64 real digits, 32x32x1, 10 classes (BigGAN's smallest resolution is 32)."""
    root = str(tmp_path_factory.mktemp("contract") / "digits")
    write_dataset(root, *mnist32(64), num_shards=1)
    return root


# Families that translate a condition image (they refuse unpaired data): trained on pairs.
PAIRED_FAMILIES = {"pix2pix"}


@pytest.fixture(scope="module")
def paired_digits(tmp_path_factory):
    """16 edges -> digits pairs, 32x32x1 (image-conditioned families, Pix2Pix-MS)."""
    return make_paired_dataset(tmp_path_factory.mktemp("contract_pairs"), n=16, resolution=32)


def tiny_config(preset: str):
    """The preset with its family's tiny networks, batch 4, one step of one D update."""
    data = registry.preset_config(preset)
    family = registry.family(data["arch"])
    # One D step, no accumulation: the schedule is tested by the GAN's own tests; here it is the
    # life cycle, and the seconds count (every preset runs in the default suite).
    overrides = [f"model={json.dumps(family.tiny_model(data.get('model', {})))}",
                 "accumulation_steps=1", f"batch={BATCH}", "d_steps=1",
                 f"total_kimg={BATCH / 1000}", f"tick_kimg={BATCH / 1000}", "snapshot_ticks=1",
                 "sample_ticks=1", "data_name=digits", "eval={}", "max_minutes=0"]
    if data.get("growth"):  # the official per-resolution batch tables would replace batch 4
        overrides += ["growth.batch={}", "growth.stable_kimg=0.004", "growth.fade_kimg=0.004"]
    return config_lib.resolve(preset, overrides)


def code_path(preset: str) -> str:
    """What decides which code a tiny preset runs: its config without the plain numbers."""
    c = dataclasses.asdict(tiny_config(preset))
    model = {k: v for k, v in c["model"].items() if not isinstance(v, float)}
    return json.dumps({"arch": c["arch"], "model": model, "conditional": c["conditional"],
                       "loss": c["loss"], "regularizers": sorted(r["type"] for r in c["regularizers"]),
                       "growth": bool(c["growth"]), "augment": c["augment"],
                       "fake_labels": c["fake_labels"], "ema": sorted(c["ema"] or {}),
                       "g_first": c["g_first"], "lazy": c["d_reg_interval"] > 1,
                       "mixed_precision": c.get("mixed_precision")}, sort_keys=True, default=str)


def _cases() -> list:
    """One default-suite case per code path (the CPU preset where there is one), the rest slow."""
    groups: dict[str, list[str]] = {}
    for preset in PRESETS:
        groups.setdefault(code_path(preset), []).append(preset)
    default = {min(names, key=lambda n: (not n.endswith("mnist32"), n)) for names in groups.values()}
    return [p if p in default else pytest.param(p, marks=pytest.mark.slow) for p in PRESETS]


def test_every_code_path_has_a_default_case():
    cases = _cases()
    fast = {c for c in cases if isinstance(c, str)}
    assert {code_path(p) for p in fast} == {code_path(p) for p in PRESETS}
    assert len(fast) == len({code_path(p) for p in PRESETS}) < len(PRESETS)


def _inputs(latent_dim, num_classes, n=3, seed=0, condition_shape=None):
    """z and the conditions: class ids, or uint8 condition images (image-conditioned)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent_dim)).astype("float32")
    labels = np.arange(n, dtype=np.int32) % num_classes if num_classes else None
    if condition_shape is not None:
        labels = rng.integers(0, 256, (n, *condition_shape)).astype(np.uint8)
    return z, labels


def _condition(labels):
    return tf.constant(image_grid.from_uint8(labels) if labels.dtype == np.uint8 else labels)


def _generate(net, num_classes, z, labels):
    x = [tf.constant(z), _condition(labels)] if labels is not None else tf.constant(z)
    out = net(x, training=False)
    return np.asarray(out[-1] if isinstance(out, (list, tuple)) else out)


@pytest.mark.parametrize("preset", _cases())
def test_family_contract(preset, digits, paired_digits, tmp_path, monkeypatch):
    config = tiny_config(preset)
    assert config.preset == preset and config.arch == registry.PRESETS[preset]["arch"]

    # Train one step (keeping the trained GAN); the run directory holds what its owner says.
    built = []

    def build_gan(*args, **kwargs):
        built.append(real_build_gan(*args, **kwargs))
        return built[-1]

    real_build_gan = ckpt_lib.build_gan
    monkeypatch.setattr(ckpt_lib, "build_gan", build_gan)
    data = paired_digits if config.arch in PAIRED_FAMILIES else digits
    run_dir = loop.train(config, data, runs_dir=str(tmp_path / "runs"), log=lambda *a: None)
    monkeypatch.undo()
    (gan, _), = built
    if gan.growth is not None:  # the stage of the images seen, as any restore sets it
        gan.set_growth(gan.growth)
    info = runs.read_info(run_dir)
    assert info["status"] == "finished" and info["kimg"] > 0
    assert runs.latest_checkpoint(run_dir) is not None
    assert runs.read_metrics(run_dir) and runs.read_config(run_dir)["preset"] == preset

    # Generator-only restore: the trained EMA generator's weights, no discriminator built.
    restored = ckpt_lib.restore_generator(run_dir)
    assert restored.ema and restored.images_seen == int(gan.images_seen.numpy())
    assert (restored.latent_dim, restored.num_classes) == (gan.latent_dim, gan.num_classes)
    assert restored.condition_shape == gan.condition_shape
    full = gan.ema_generator
    assert len(full.weights) == len(restored.generator.weights)
    for a, b in zip(full.weights, restored.generator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{preset}: {a.path}")
    z, labels = _inputs(restored.latent_dim, restored.num_classes,
                        condition_shape=gan.condition_shape)
    np.testing.assert_array_equal(_generate(full, gan.num_classes, z, labels),
                                  _generate(restored.generator, restored.num_classes, z, labels))

    # Export: byte-identical outputs with the serving functions over the trained EMA generator.
    version = export.export_run(run_dir, "contract", str(tmp_path / "models"))
    loaded = tf.saved_model.load(version)
    module, _ = export.build_module(full, gan.latent_dim, gan.num_classes, gan.condition_shape)
    args = {"z": tf.constant(z)}
    if gan.num_classes:
        args["class_id"] = tf.constant(labels)
    if gan.condition_shape is not None:
        args["condition"] = tf.constant(labels)
    served = loaded.signatures["serving_default"](**args)
    reference = module.serve(**args)
    n, res, ch = len(z), 32, 1
    assert served["images"].dtype == tf.uint8 and tuple(served["images"].shape) == (n, res, res, ch)
    assert served["images_png_bytes"].dtype == tf.string and served["images_png_bytes"].shape == (n,)
    np.testing.assert_array_equal(served["images"].numpy(), reference["images"].numpy())
    if gan.condition_shape is not None:
        in_process = image_grid.to_uint8(
            restored.sample(tf.constant(z), condition=_condition(labels)).numpy())
    else:
        in_process = image_grid.to_uint8(restored.sample(tf.constant(z), None if labels is None
                                                          else tf.constant(labels)).numpy())
    # Traced and eager convolutions may round differently (~1e-6); the tiny MSG-StyleGAN (8 maps,
    # instance norm over near-constant maps after one step) amplifies that to a few levels on a
    # few pixels (measured: max 2-4 of 255 on ~4%). The served graph itself is byte-identical
    # to the reference graph (above); this only checks that eager and served agree.
    diff = np.abs(served["images"].numpy().astype(int) - in_process.astype(int))
    assert diff.max() <= 8 and (diff > 0).mean() < 0.1

    sample_args = {"seed": tf.constant(7, tf.int64), "num": tf.constant(2, tf.int32),
                   "truncation": tf.constant(0.0, tf.float32)}
    if gan.condition_shape is not None:  # one condition image, num outputs (no truncation)
        sample_args = {"condition": tf.constant(labels[:1]), "seed": sample_args["seed"],
                       "num": sample_args["num"]}
    if gan.num_classes:
        sample_args["class_id"] = tf.constant([3], tf.int32)
    drawn = loaded.signatures["sample"](**sample_args)
    again = module.sample(**sample_args)
    assert drawn["images"].dtype == tf.uint8 and tuple(drawn["images"].shape) == (2, res, res, ch)
    assert drawn["z"].dtype == tf.float32 and tuple(drawn["z"].shape) == (2, gan.latent_dim)
    np.testing.assert_array_equal(drawn["images"].numpy(), again["images"].numpy())
    if gan.num_classes:
        assert drawn["class_id"].numpy().tolist() == [3, 3]
    meta = export.read_export_metadata(version)
    assert meta["arch"] == config.arch and meta["preset"] == preset and meta["ema"]

    # The generator survives a .keras round trip.
    path = str(tmp_path / "generator.keras")
    restored.generator.save(path)
    revived = keras.models.load_model(path)
    if hasattr(revived, "set_stage"):  # the growth stage is run state, not architecture
        revived.set_stage(restored.generator.stage_resolution, restored.generator.stage_fading)
        revived.fade_alpha.assign(restored.generator.fade_alpha)
    np.testing.assert_allclose(_generate(revived, restored.num_classes, z, labels),
                               _generate(restored.generator, restored.num_classes, z, labels),
                               atol=1e-6)


def _bfloat16_cases() -> list:
    """Every code path's default preset; in the default suite only the StyleGAN2 synthesis
    (its float32 image skip once met a bfloat16 upsample under the mixed policy), the rest slow."""
    default = sorted(c for c in _cases() if isinstance(c, str))
    return [p if p == "projected-sg2-mnist32" else pytest.param(p, marks=pytest.mark.slow)
            for p in default]


@pytest.mark.parametrize("preset", _bfloat16_cases())
def test_bfloat16_mixed_precision_trains(preset, digits, paired_digits, tmp_path):
    """``--mixed-precision bfloat16`` (README: 1.1-1.8x faster on CPUs with bfloat16
    instructions) trains every code path: one step with finite losses."""
    config = dataclasses.replace(tiny_config(preset), mixed_precision="bfloat16").validate()
    data = paired_digits if config.arch in PAIRED_FAMILIES else digits
    try:
        run_dir = loop.train(config, data, runs_dir=str(tmp_path / "runs"), log=lambda *a: None)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with open(f"{run_dir}/metrics.jsonl") as f:
        record = json.loads(f.readline())
    assert np.isfinite(record["d_loss"]) and np.isfinite(record["g_loss"]), record
