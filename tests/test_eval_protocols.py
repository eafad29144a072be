"""Evaluation protocols (``keras_gans.metrics.protocols``): each paper's way of sampling for
metrics, chosen by preset, recorded in every result, and actually applied (raw vs EMA weights,
batch vs running statistics, fresh vs fixed noise, truncation off)."""

from __future__ import annotations

import json
import os
import types

import keras
import numpy as np
import pytest

from helpers.datasets import mnist32, write_dataset

from keras_gans.commands import evaluate as evaluate_cmd
from keras_gans.errors import UsageError
from keras_gans.metrics import evaluate as ev, protocols
from keras_gans.models import registry
from keras_gans.training import config as config_lib


def _restored(generator, latent_dim, num_classes=0):
    """A stand-in for ``RestoredGenerator`` around a bare generator (EMA weights)."""
    return types.SimpleNamespace(
        generator=generator, ema=True, latent_dim=latent_dim, num_classes=num_classes,
        generator_inputs=lambda z, labels=None: [z, labels] if num_classes else z)


# --- the registry and the defaults ----------------------------------------------------------


def test_presets_default_to_their_papers_protocols():
    """cdcgan-*-cifar10: MSGAN's (raw G in eval mode: DCGAN-Mode-Seeking/test.py:29,
    model.py:102-107); biggan-cifar10: EMA G with batch statistics (BigGAN-PyTorch
    scripts/launch_cifar_ema.sh has no --G_eval_mode; train.py:176-179, 210-212);
    biggan-imagenet128: --G_eval_mode (launch_BigGAN_bs256x8.sh:13); MSG-StyleGAN:
    randomize_noise=True, is_validation=True (msg-stylegan-tf
    metrics/frechet_inception_distance.py:58-60); FastGAN: fresh noise in eval mode
    (projected_gan pg_modules/blocks.py:259-264, metrics/metric_utils.py:269)."""
    expected = {"cdcgan-cifar10": "msgan-dcgan", "cdcgan-msgan-cifar10": "msgan-dcgan",
                "biggan-cifar10": "biggan-cifar", "biggan-imagenet128": "biggan-imagenet",
                "biggan-paper-imagenet128": "biggan-imagenet", "msggan-ffhq1024": "msg-stylegan",
                "msgstylegan-celebahq1024": "msg-stylegan", "msgstylegan-mnist32": "msg-stylegan",
                "projected-pokemon256": "projected-fastgan", "projected-mnist32": "projected-fastgan",
                "dcgan-mnist32": "keras-gans", "biggan-mnist32": "keras-gans"}
    for preset, name in expected.items():
        protocol, why = protocols.protocol_for(config_lib.resolve(preset))
        assert protocol.name == name, (preset, protocol.name, why)
    # Every preset the table names exists (a renamed preset would silently lose its protocol).
    assert set(protocols.PRESET_PROTOCOLS) <= set(registry.PRESETS)
    assert set(protocols.PRESET_PROTOCOLS.values()) <= set(protocols.PROTOCOLS)
    p = protocols.get("msgan-dcgan")
    assert (p.generator, p.batchnorm, p.truncation) == ("raw", "inference", "off")
    p = protocols.get("biggan-cifar")
    assert (p.generator, p.batchnorm, p.batch) == ("ema", "batch", 50)  # train.py:141
    assert protocols.get("msg-stylegan").noise == protocols.get("projected-fastgan").noise == "fresh"
    # An explicit name wins over the preset's; eval.protocol is the run's own choice.
    cfg = config_lib.resolve("cdcgan-cifar10")
    assert protocols.protocol_for(cfg, "keras-gans")[0].name == "keras-gans"
    assert protocols.protocol_for(cfg, "default")[0].name == "msgan-dcgan"
    cfg = config_lib.resolve("cdcgan-cifar10", ['eval={"kimg": 1, "protocol": "biggan-cifar"}'])
    assert protocols.protocol_for(cfg) == (protocols.get("biggan-cifar"),
                                           "the run's config (eval.protocol)")


def test_unknown_protocol_is_a_usage_error_listing_the_choices():
    with pytest.raises(UsageError, match="unknown evaluation protocol 'nope'; choices: default, "
                                         "biggan-cifar, biggan-imagenet, keras-gans"):
        protocols.get("nope")
    with pytest.raises(UsageError, match="eval: unknown evaluation protocol 'msgan'"):
        config_lib.resolve("dcgan-mnist32", ['eval={"kimg": 1, "protocol": "msgan"}'])


def test_msgan_presets_use_pytorch_batchnorm_settings():
    """MSGAN's networks.py:13-19 (G) and :48-51 (D) use ``nn.BatchNorm2d`` defaults: momentum
    0.1 (running = 0.9 * running + 0.1 * batch: Keras momentum 0.9) and eps 1e-5. The CPU
    preset without MSGAN's layout keeps Keras' defaults (0.99, 1e-3)."""
    from keras_gans import manifest as manifest_lib

    manifest = manifest_lib.Manifest(resolution=32, channels=3, encoding="png", compression="none",
                                     labels=[str(i) for i in range(10)], splits={})
    for preset in ("cdcgan-cifar10", "cdcgan-msgan-cifar10", "cdcgan-mnist32", "cdcgan-msgan-mnist32"):
        cfg = config_lib.resolve(preset)
        cfg.model = registry.family("dcgan").tiny_model(cfg.model)
        nets = registry.build(cfg, manifest)
        bns = [l for net in (nets.generator, nets.discriminator) for l in net.layers
               if isinstance(l, keras.layers.BatchNormalization)]
        assert len(bns) == 5, preset  # G: 4x4, 8x8, 16x16; D: 8x8, 4x4 at 32x32
        assert all((l.momentum, l.epsilon) == (0.9, 1e-5) for l in bns), preset
    cfg = config_lib.resolve("dcgan-mnist32")
    nets = registry.build(cfg, manifest_lib.Manifest(resolution=32, channels=1, encoding="png",
                                                     compression="none", splits={}))
    assert {(l.momentum, l.epsilon) for l in nets.generator.layers
            if isinstance(l, keras.layers.BatchNormalization)} == {(0.99, 1e-3)}
    # One moving-average step in Keras' convention equals PyTorch's momentum-0.1 update.
    bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    x = np.random.default_rng(0).normal(2.0, 1.0, (8, 3)).astype("float32")
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)


# --- the protocol's choices, applied ----------------------------------------------------------


def _dcgan(seed=0):
    from keras_gans.models.dcgan import DCGANGenerator

    keras.utils.set_random_seed(seed)
    g = DCGANGenerator(latent_dim=8, resolution=8, channels=1, base_filters=4, bn_momentum=0.9,
                       bn_epsilon=1e-5)
    g(np.random.default_rng(1).normal(size=(16, 8)).astype("float32"), training=True)  # move stats
    return g


def test_batch_statistics_differ_from_running_statistics_and_leave_the_model_unchanged():
    """biggan-cifar samples in train mode (BigGAN-PyTorch train.py:176-179 without
    --G_eval_mode): each batch normalized by its own statistics, ``batch`` images at a time."""
    g = _dcgan()
    before = [v.numpy().copy() for v in g.non_trainable_variables]
    z = np.random.default_rng(2).normal(size=(4, 8)).astype("float32")
    batch = protocols.Protocol("t-batch", batchnorm="batch", batch=4)
    running = protocols.generate(g, z, protocols.get("keras-gans")).numpy()
    batchwise = protocols.generate(g, z, batch).numpy()
    np.testing.assert_allclose(running, g(z, training=False).numpy(), atol=1e-6)
    assert np.abs(batchwise - running).max() > 1e-3
    for v, old in zip(g.non_trainable_variables, before):  # moving statistics put back
        np.testing.assert_array_equal(v.numpy(), old)
    # The sampler pushes `batch` images at a time: 6 images = a full batch + 2 padded to 4.
    sample = ev.gan_sampler(_restored(g, 8), seed=3, protocol=batch)
    images = sample(6, 0)
    import tensorflow as tf

    z6 = tf.random.stateless_normal([6, 8], seed=[3, 0]).numpy()
    np.testing.assert_array_equal(images[:4], ev.to_uint8(protocols.generate(g, z6[:4], batch).numpy()))
    assert images.shape == (6, 8, 8, 1) and sample.protocol["name"] == "t-batch"
    assert not np.array_equal(images[:4], ev.gan_sampler(_restored(g, 8), seed=3)(6, 0)[:4])


def _msg_stylegan(psi=None):
    from keras_gans.models.msggan.msg_stylegan_generator import MSGStyleGANGenerator

    keras.utils.set_random_seed(0)
    g = MSGStyleGANGenerator(resolution=8, channels=1, latent_dim=8, dlatent_dim=8,
                             mapping_layers=1, mapping_fmaps=8, fmap_base=16, fmap_max=8,
                             truncation_psi=psi, noise_seed=5)
    for layer in protocols.noise_layers(g):  # zero-initialized strengths: make noise visible
        layer.weight.assign(np.ones(layer.weight.shape, "float32"))
    return g


def test_fresh_noise_differs_per_call_fixed_noise_does_not():
    """MSG-StyleGAN's metrics sample with randomize_noise=True (msg-stylegan-tf
    metrics/frechet_inception_distance.py:58-60; apply_noise, networks_stylegan.py:320-323):
    fresh noise for every image; the library default (and exports) use the fixed maps."""
    g = _msg_stylegan()
    z = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    states = [l.seed_generator.state.numpy().copy() for l in protocols.noise_layers(g)]
    fresh, fixed = protocols.get("msg-stylegan"), protocols.get("keras-gans")
    a = protocols.generate(g, z, fresh, seed=0, index=0).numpy()
    b = protocols.generate(g, z, fresh, seed=0, index=1).numpy()
    assert np.abs(a - b).max() > 1e-3                                           # fresh per call
    np.testing.assert_array_equal(a, protocols.generate(g, z, fresh, 0, 0).numpy())  # reproducible
    f0 = protocols.generate(g, z, fixed, 0, 0).numpy()
    np.testing.assert_array_equal(f0, protocols.generate(g, z, fixed, 0, 1).numpy())
    np.testing.assert_array_equal(f0, g(z, training=False)[-1].numpy())
    assert np.abs(a - f0).max() > 1e-3
    for layer, old in zip(protocols.noise_layers(g), states):  # the noise streams untouched
        np.testing.assert_array_equal(layer.seed_generator.state.numpy(), old)
        assert layer.fixed_noise is not None                    # the fixed maps are back


def test_fastgan_fresh_noise_covers_both_maps_of_a_conditional_block():
    """projected_gan pg_modules/blocks.py:259-264: NoiseInjection draws torch.randn in eval mode
    too; UpBlockBigCond (L109-138) applies one noise module twice (our ``fixed_noise_2``)."""
    from keras_gans.layers.fastgan import FastGANUpBlock
    from keras_gans.models.projected.fastgan import FastGANGenerator

    keras.utils.set_random_seed(0)
    g = FastGANGenerator(latent_dim=8, resolution=16, channels=1, ngf=4, num_classes=2)
    g.build()
    for layer in protocols.noise_layers(g):
        layer.weight.assign(np.ones(layer.weight.shape, "float32"))
    blocks = [l for l in protocols._layers(g) if isinstance(l, FastGANUpBlock) and l.fixed_noise_2 is not None]
    assert blocks
    inputs = [np.random.default_rng(0).normal(size=(2, 8)).astype("float32"), np.array([0, 1], "int32")]
    fresh, fixed = protocols.get("projected-fastgan"), protocols.get("keras-gans")
    a = protocols.generate(g, inputs, fresh, 0, 0).numpy()
    assert np.abs(a - protocols.generate(g, inputs, fresh, 0, 1).numpy()).max() > 1e-4
    f = protocols.generate(g, inputs, fixed, 0, 0).numpy()
    np.testing.assert_array_equal(f, protocols.generate(g, inputs, fixed, 0, 1).numpy())
    assert all(b.fixed_noise_2 is not None for b in blocks)


def test_truncation_off_disables_w_truncation_for_the_call():
    """is_validation=True: truncation_psi_val None (msg-stylegan-tf
    training/networks_stylegan.py:376-390)."""
    g = _msg_stylegan(psi=0.5)
    layer = g.get_layer("dlatent_avg")
    layer.dlatent_avg.assign(np.full(layer.dlatent_avg.shape, 0.7, "float32"))
    z = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    off = protocols.Protocol("t-off", truncation="off")
    truncated = protocols.generate(g, z, protocols.get("keras-gans")).numpy()
    untruncated = protocols.generate(g, z, off).numpy()
    assert np.abs(truncated - untruncated).max() > 1e-4
    assert layer.truncation_psi == 0.5
    layer.truncation_psi = None
    np.testing.assert_array_equal(untruncated, g(z, training=False)[-1].numpy())


def test_fresh_noise_export_draws_new_noise_per_request():
    """``keras-gans export --noise fresh`` traces the generator drawing fresh noise; the default
    export (fixed maps) is a deterministic function of z."""
    import tensorflow as tf

    from keras_gans.serving import export

    g = _msg_stylegan()
    z = tf.constant(np.random.default_rng(0).normal(size=(2, 8)).astype("float32"))
    with protocols.fresh_noise(g):
        _, fresh = export.build_module(g, 8, 0)
    _, fixed = export.build_module(g, 8, 0)
    assert not np.array_equal(fresh["serving_default"](z)["images"].numpy(),
                              fresh["serving_default"](z)["images"].numpy())
    np.testing.assert_array_equal(fixed["serving_default"](z)["images"].numpy(),
                                  fixed["serving_default"](z)["images"].numpy())


# --- a run: raw vs EMA, the record, the in-training evaluator, its export -----------------------


@pytest.fixture(scope="module")
def msgan_run(tmp_path_factory):
    """A tiny run of the cdcgan-cifar10 preset (default protocol msgan-dcgan), evaluated during
    training, and its export."""
    from keras_gans.serving import export
    from keras_gans.training import loop

    data = str(tmp_path_factory.mktemp("digits"))
    write_dataset(data, *mnist32(300), num_shards=1)
    cfg = config_lib.resolve("cdcgan-cifar10", [
        "model.latent_dim=8", "model.base_filters=4", "batch=16", "total_kimg=0.032",
        "tick_kimg=0.032", "regularizers=[]",
        'eval={"kimg": 0.032, "metric": "fid100", "feature_net": "digits"}'])
    run = loop.train(cfg, data, runs_dir=str(tmp_path_factory.mktemp("runs")), log=lambda *a: None)
    version = export.export_run(run, "msgan", str(tmp_path_factory.mktemp("models")))
    return data, run, version


def test_msgan_run_is_scored_with_the_raw_generator_and_says_so(msgan_run, tmp_path, capsys):
    """MSGAN keeps one generator (model.py:12, resume loads 'gen', L102-107) and samples it in
    eval mode (test.py:29): the run's EMA copy is not what its numbers came from."""
    from keras_gans import cli
    from keras_gans.training.checkpoint import restore_generator

    data, run, _ = msgan_run
    raw, ema = restore_generator(run, which="raw"), restore_generator(run)
    assert not raw.ema and ema.ema
    w_raw = raw.generator.get_layer("deconv_4x4").kernel.numpy()
    assert np.abs(w_raw - ema.generator.get_layer("deconv_4x4").kernel.numpy()).max() > 1e-6
    sample = evaluate_cmd.run_sampler(run, seed=0)
    assert sample.protocol["name"] == "msgan-dcgan" and sample.protocol["ema_used"] is False
    assert sample.protocol["why"] == "the default of preset cdcgan-cifar10"
    classes = [1, 2, 3, 4]
    import tensorflow as tf

    z = tf.random.stateless_normal([4, 8], seed=[0, 0])
    np.testing.assert_array_equal(sample(4, 0, classes=classes),
                                  ev.to_uint8(raw.sample(z, tf.constant(classes)).numpy()))
    ema_sample = evaluate_cmd.run_sampler(run, seed=0, protocol="keras-gans")
    assert ema_sample.protocol["ema_used"] is True
    np.testing.assert_array_equal(ema_sample(4, 0, classes=classes),
                                  ev.to_uint8(ema.sample(z, tf.constant(classes)).numpy()))
    assert not np.array_equal(sample(4, 0, classes=classes), ema_sample(4, 0, classes=classes))

    # The record: printed, --out, metrics.jsonl; an explicit --protocol wins.
    out = tmp_path / "m.json"
    assert cli.main(["evaluate", run, "--data", data, "--metrics", "fid100", "--feature-net",
                     "digits", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "protocol msgan-dcgan: raw generator, batch norm inference" in printed
    rec = json.loads(out.read_text())
    assert rec["protocol"]["name"] == "msgan-dcgan" and rec["protocol"]["generator"] == "raw"
    last = json.loads(open(os.path.join(run, "metrics.jsonl")).read().splitlines()[-1])
    assert last["evaluate"]["protocol"]["name"] == "msgan-dcgan"
    assert cli.main(["evaluate", run, "--data", data, "--metrics", "fid100", "--feature-net",
                     "digits", "--protocol", "biggan-cifar", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["protocol"]["name"] == "biggan-cifar" and rec["protocol"]["why"] == "given explicitly"
    capsys.readouterr()
    assert cli.main(["evaluate", run, "--data", data, "--metrics", "fid100", "--feature-net",
                     "digits", "--protocol", "msgan"]) == 2
    assert "unknown evaluation protocol 'msgan'; choices: default, biggan-cifar" in capsys.readouterr().err


def test_in_training_evaluation_uses_the_run_protocol(msgan_run):
    _, run, _ = msgan_run
    (record,) = [json.loads(l)["eval"] for l in open(os.path.join(run, "metrics.jsonl")) if '"eval"' in l]
    assert record["protocol"]["name"] == "msgan-dcgan" and record["protocol"]["ema_used"] is False
    assert np.isfinite(record["results"]["fid100"])


def test_an_export_is_scored_as_exported(msgan_run):
    """The export holds the EMA generator: MSGAN's protocol (raw) cannot apply. Asked for, it is
    an error; by default the record says so."""
    data, _, version = msgan_run
    rec = evaluate_cmd.evaluate(version, data, "fid100", feature_net="digits", log=lambda *a: None)
    p = rec["protocol"]
    assert p["name"] == "as-exported" and p["generator"] == "ema" and "matches" not in p
    assert any("msgan-dcgan, not applied to this export" in n for n in p["notes"])
    with pytest.raises(UsageError, match="protocol msgan-dcgan cannot be applied to the export"):
        evaluate_cmd.evaluate(version, data, "fid100", feature_net="digits", protocol="msgan-dcgan",
                              log=lambda *a: None)
    rec = evaluate_cmd.evaluate(version, data, "fid100", feature_net="digits",
                                protocol="keras-gans", log=lambda *a: None)
    assert rec["protocol"]["matches"] == "keras-gans"
