"""Projected GAN presets: the official FastGAN and StyleGAN2 configurations and CPU presets.

Numbers from autonomousvision/projected_gan ``train.py``:

- ``--cfg fastgan`` / ``fastgan_lite`` (L209-213): ``pg_modules.networks_fastgan.Generator``
  with its defaults (z_dim 256, ngf 128: the ``z_dim=64`` set at L166 is replaced with the
  whole ``G_kwargs`` dict at L210), G and D lr 0.0002;
- Adam betas (0, 0.99), eps 1e-8 (L167-168);
- G EMA with a half-life of ``batch * 10 / 32`` kimg (L203) and the ramp-up 0.05 of
  ``training_loop.py`` (``ema_rampup``, L112; buffers are copied, L332-333);
- ``ProjectedDiscriminator`` with DiffAugment, ``interp224`` below 224 pixels, EfficientNet-Lite0,
  CCM + CSM (``proj_type=2``), ``cout=64``, ``expand=True``, 4 discriminators (L237-249);
- the hinge loss of ``training/loss.py`` ``ProjectedGANLoss`` (no regularization, no blur:
  ``blur_init_sigma`` is left at 0);
- the README's command: ``--batch=64 --mirror=1 --snap=50 --kimg=10000``; ``--tick`` 4 kimg.

One D step per G step, the G phase first (``training_loop.py`` lines 205-217 build the phases
G, then D, and run them in that order each iteration). D's Adam runs with lr ``2e-4 * 16/17``
and betas ``(0, 0.99 ** (16/17))``: the lazy-regularization bookkeeping for
``D_reg_interval = 16`` (``training_loop.py`` line 114, ``mb_ratio`` lines 211-214) stays on
although the "Dreg" phase computes nothing (``loss.py`` line 52); ``d_reg_interval=16``. Our losses sum the 4 discriminators' means where the official takes one
mean over their concatenated logits (a constant factor 4; see
``keras_gans.losses.adversarial.per_example``).

``--cfg stylegan2`` (``projected-sg2-*``; train.py L202-207):

- ``pg_modules.networks_stylegan2.Generator`` with ``z_dim=64``, ``w_dim=128`` (L166), a 2-layer
  mapping network (L184), ``channel_base`` / ``channel_max`` from ``--cbase`` 32768 / ``--cmax``
  512 (L142-143, L182-183), the synthesis defaults (skip architecture, [1, 3, 3, 1] filter, conv
  clamp 256; ``fused_modconv_default='inference_only'`` only changes the formulation, L206);
- G lr 0.002 (L185: ``0.002 if opts.cfg == 'stylegan2'``), D lr ``--dlr`` 0.002 (L145, L186),
  Adam betas (0, 0.99), eps 1e-8 (L167-168), the same EMA (L203), phase order and D
  lazy-regularization bookkeeping as above; no path-length or R1 regularization (the loss has
  none: training/loss.py L52; ``G_reg_interval`` is None, training_loop.py L113, so G's Adam is
  unscaled);
- the discriminator with separable down blocks (``use_separable_discs = True``, L207, L248);
- the README's command with ``--cfg=stylegan2`` (README L53-58): batch 64, mirror, snap 50,
  10000 kimg.
"""


_DIFFAUG = "color,translation,cutout"


def _official(data_name, generator="fastgan", batch=64, total_kimg=10000.0, flip=True, **kw):
    base = dict(model={"generator": generator, "latent_dim": 256, "ngf": 128, "backbone": "lite0",
                       "projection": "ccm+csm", "cout": 64, "expand": True, "num_discs": 4},
                batch=batch, total_kimg=total_kimg, tick_kimg=4.0, snapshot_ticks=50,
                loss="hinge", g_lr=2e-4, d_lr=2e-4, beta_1=0.0, beta_2=0.99, epsilon=1e-8,
                ema={"beta": None, "half_life_kimg": batch * 10 / 32, "rampup": 0.05,
                     "non_trainable": "copy"},
                augment=_DIFFAUG, flip=flip, g_first=True, d_reg_interval=16, data_name=data_name)
    base.update(kw)
    return base


def projected_pokemon256():
    return _official("pokemon256")


def projected_lsunchurch256():
    return _official("lsunchurch256", flip=False)


def projected_ffhq256():
    return _official("ffhq256")


def projected_mnist32():
    # The official recipe (hinge, Adam 2e-4 (0, 0.99), DiffAugment, CCM+CSM, 4 discriminators,
    # EfficientNet-Lite0 features) with two CPU economies: the images go to the feature network
    # at 64x64 instead of 224x224 (12x fewer FLOPs; the discriminators' nominal sizes scale
    # along, see discriminator.py), and a narrow FastGAN-lite generator (ngf 16: 3.0M parameters,
    # 256 channels at 4x4 down to 32 at 32x32; ngf 128 would be 90M). EMA half-life
    # batch * 10 / 32 kimg as official.
    batch = 32
    return dict(
        model={"generator": "fastgan_lite", "latent_dim": 256, "ngf": 16, "backbone": "lite0",
               "projection": "ccm+csm", "cout": 64, "expand": True, "num_discs": 4,
               "input_size": 64},
        batch=batch, total_kimg=30.0, tick_kimg=2.0, snapshot_ticks=5, loss="hinge",
        g_lr=2e-4, d_lr=2e-4, beta_1=0.0, beta_2=0.99, epsilon=1e-8,
        ema={"beta": None, "half_life_kimg": batch * 10 / 32, "rampup": 0.05,
             "non_trainable": "copy"},
        augment=_DIFFAUG, flip=False, g_first=True, d_reg_interval=16, data_name="mnist32")


def _official_sg2(data_name, batch=64, total_kimg=10000.0, flip=True):
    base = _official(data_name, batch=batch, total_kimg=total_kimg, flip=flip)
    base["model"] = {"generator": "stylegan2", "latent_dim": 64, "w_dim": 128, "cbase": 32768,
                     "cmax": 512, "mapping_layers": 2, "backbone": "lite0",
                     "projection": "ccm+csm", "cout": 64, "expand": True, "num_discs": 4,
                     "separable": True}
    base.update(g_lr=2e-3, d_lr=2e-3)
    return base


def projected_sg2_pokemon256():
    return _official_sg2("pokemon256")


def projected_sg2_lsunchurch256():
    return _official_sg2("lsunchurch256", flip=False)


def projected_sg2_ffhq256():
    return _official_sg2("ffhq256")


def projected_sg2_mnist32():
    # The official StyleGAN2 recipe (hinge, G and D Adam 0.002 (0, 0.99), DiffAugment, CCM+CSM,
    # separable discriminators, EfficientNet-Lite0 features, z 64, w 128, 2 mapping layers) with
    # the CPU economies of projected-mnist32: the feature network sees 64x64 images, and the
    # generator is narrow (cbase 1024, cmax 128: 128 channels at 4 and 8, 64 at 16, 32 at 32).
    base = projected_mnist32()
    base["model"] = {"generator": "stylegan2", "latent_dim": 64, "w_dim": 128, "cbase": 1024,
                     "cmax": 128, "mapping_layers": 2, "backbone": "lite0",
                     "projection": "ccm+csm", "cout": 64, "expand": True, "num_discs": 4,
                     "input_size": 64, "separable": True}
    base.update(g_lr=2e-3, d_lr=2e-3)
    return base


# The presets: plain data, registered by the family's __init__ (keras_gans.models.registry).
PRESETS = {
    "projected-pokemon256": {
        "description": "Projected GAN (FastGAN) on Pokemon 256x256: the official README command (batch 64, mirror).",
        "config": projected_pokemon256(),
    },
    "projected-lsunchurch256": {
        "description": "Projected GAN (FastGAN) on LSUN Church 256x256 (train.py defaults, batch 64, no mirror).",
        "config": projected_lsunchurch256(),
    },
    "projected-ffhq256": {
        "description": "Projected GAN (FastGAN) on FFHQ 256x256 (train.py defaults, batch 64, mirror).",
        "config": projected_ffhq256(),
    },
    "projected-mnist32": {
        "description": "Small Projected GAN (FastGAN-lite, Lite0 features at 64x64) for the bundled digits on a CPU.",
        "config": projected_mnist32(),
    },
    "projected-sg2-pokemon256": {
        "description": "Projected GAN with the StyleGAN2 generator (--cfg stylegan2) on Pokemon 256x256: batch 64, mirror.",
        "config": projected_sg2_pokemon256(),
    },
    "projected-sg2-lsunchurch256": {
        "description": "Projected GAN (StyleGAN2 G, separable D blocks) on LSUN Church 256x256 (batch 64, no mirror).",
        "config": projected_sg2_lsunchurch256(),
    },
    "projected-sg2-ffhq256": {
        "description": "Projected GAN (StyleGAN2 G, separable D blocks) on FFHQ 256x256 (batch 64, mirror).",
        "config": projected_sg2_ffhq256(),
    },
    "projected-sg2-mnist32": {
        "description": "Small Projected StyleGAN2 (cbase 1024, cmax 128; Lite0 features at 64x64) for the bundled digits on a CPU.",
        "config": projected_sg2_mnist32(),
    },
}
