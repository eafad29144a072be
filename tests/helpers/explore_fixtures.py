"""Tiny trained-and-exported models of every family, for the explore / explorer tests.

Each preset is made tiny as the family contract does it (``registry.Family.tiny_model``, batch 4,
one step), trained one step on 64 synthetic digits and exported with ``export_run``. One step
from the initial weights gives near-constant images, which would make picture comparisons
vacuous; like ``tests/test_export.py``, the EMA generator's last weighted layer is rescaled so
its images span [-1, 1] before the export.
"""

from __future__ import annotations

import json
import os

# One preset per family (and both DCGAN kinds): conditional BigGAN (shared embedding) and
# cDCGAN, multi-scale MSG-GAN (BMSG) and MSG-StyleGAN (w truncation), progressive ProGAN,
# Projected GAN (FastGAN-lite generator).
PRESETS = {
    "dcgan": "dcgan-mnist32",
    "cdcgan": "cdcgan-mnist32",
    "progan": "progan-mnist32",
    "msggan": "msggan-mnist32",
    "msgstylegan": "msgstylegan-mnist32",
    "biggan": "biggan-mnist32",
    "projected": "projected-mnist32",
}
BATCH = 4


def tiny_config(preset: str, extra=()):
    from keras_gans.models import registry
    from keras_gans.training import config as config_lib

    data = registry.preset_config(preset)
    family = registry.family(data["arch"])
    overrides = [f"model={json.dumps(family.tiny_model(data.get('model', {})))}",
                 "accumulation_steps=1", f"batch={BATCH}", "d_steps=1",
                 f"total_kimg={BATCH / 1000}", f"tick_kimg={BATCH / 1000}", "snapshot_ticks=1",
                 "sample_ticks=1", "data_name=digits", "eval={}", "max_minutes=0", *extra]
    if data.get("growth"):
        overrides += ["growth.batch={}", "growth.stable_kimg=0.004", "growth.fade_kimg=0.004"]
    return config_lib.resolve(preset, overrides)


def _spread_outputs(run_dir):
    """Rescale the EMA generator's last weighted layer so its images span [-1, 1]."""
    import numpy as np
    import tensorflow as tf

    from keras_gans.training import checkpoint as ckpt_lib

    gan, _ = ckpt_lib.restore_gan(run_dir)
    net = gan.ema_generator if gan.ema_generator is not None else gan.generator
    z = tf.random.stateless_normal([16, gan.latent_dim], [0, 0])
    out = net(gan.generator_inputs(z, tf.range(16) % max(gan.num_classes, 1)), training=False)
    final = out[-1] if isinstance(out, (list, tuple)) else out
    std = float(tf.math.reduce_std(final))
    if std <= 0 or not np.isfinite(std):
        return
    # The last kernel, or (spectrally normalized layers undo a kernel's scale) the last
    # batch-norm gain before it.
    for suffix in ("kernel", "gamma"):
        params = [w for w in net.weights if w.path.endswith(suffix)]
        if not params:
            continue
        params[-1].assign(params[-1] * (0.8 / std))
        out = net(gan.generator_inputs(z, tf.range(16) % max(gan.num_classes, 1)), training=False)
        new = float(tf.math.reduce_std(out[-1] if isinstance(out, (list, tuple)) else out))
        if abs(new - std) > 0.1 * std:
            break
    tf.train.CheckpointManager(ckpt_lib.make_checkpoint(gan), os.path.join(run_dir, "checkpoints"),
                               max_to_keep=5).save()


def train_and_export(preset: str, name: str, data_dir: str, root: str, models: str, extra=()):
    """Train ``preset`` tiny for one step, spread its outputs, export it as ``models/name``.

    Returns ``(run_dir, version_dir)``.
    """
    from keras_gans.serving import export
    from keras_gans.training import loop

    run_dir = loop.train(tiny_config(preset, extra), data_dir, runs_dir=os.path.join(root, f"runs-{name}"),
                         log=lambda *a: None)
    _spread_outputs(run_dir)
    return run_dir, export.export_run(run_dir, name, models)
