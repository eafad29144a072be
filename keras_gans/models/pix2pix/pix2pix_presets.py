"""Pix2Pix-MS presets: MSGAN's image-to-image runs (facades, maps) and CPU presets on the
bundled edges -> digits pairs.

Official hyperparameters: HelenMao/MSGAN Pix2Pix-Mode-Seeking, run as its README says
(``python train.py --dataroot ./datasets/facades``, so every option at its default):
options/base_options.py (batch_size 1 line 15; loadSize = fineSize = 256 lines 16-17, i.e. no
crop jitter; nz 8, ngf 64, ndf 64 lines 20-23; direction BtoA line 29; use_dropout off line 34;
flips on line 36; num_Ds 2, n_layers_D 3, lsgan, basic_256_multi, unet_256, instance norm,
basic upsampling, relu lines 39-47; where_add "all" line 50; xavier init line 52) and
options/train_options.py (niter 100 + niter_decay 100 epochs lines 20-21, beta1 0.5 line 22,
lr 2e-4 line 25, lambda_L1 10 line 33, lambda_GAN 1 line 34). pix2pix_model.py: mode-seeking
lambda 1 (lines 131-136), G updated first and D on the same fakes (lines 156-159).

Learning rate: constant for ``niter`` epochs, then linearly lowered once per epoch over
``niter_decay`` epochs (networks.py ``get_scheduler`` lines 45-49, stepped at the end of each
epoch, train.py line 61): ``lr_decay`` with ``epoch_kimg`` = the training set's size / 1000
(facades 400 pairs, maps 1,096). Lengths in images: facades 400 x 200 epochs = 80 kimg; maps
1,096 x 200 = 219.2 kimg. A training set of another size needs its own ``lr_decay.epoch_kimg``.
The released checkpoints are epoch 400 (README.md's test commands, ``--epoch 400``): longer
than the README's training command (every option at its default: 200 epochs), which the presets
follow. Prepare with ``--pairs ab --direction BtoA``: the direction is a property of the
prepared data here (``pairing.direction``).
"""

# The official G/D options (base_options.py): model arguments of the pix2pix family.
_OFFICIAL_MODEL = {"latent_dim": 8, "ngf": 64, "ndf": 64, "where_add": "all",
                   "use_dropout": False, "n_layers": 3, "num_ds": 2}


def _decay(pairs: int) -> dict:
    """options/train_options.py lines 20-21: niter 100, niter_decay 100 (epochs of ``pairs``)."""
    return {"epoch_kimg": pairs / 1000, "constant_epochs": 100, "decay_epochs": 100}


def _official(**kw) -> dict:
    base = dict(model=dict(_OFFICIAL_MODEL), batch=1, loss="lsgan", g_lr=2e-4, d_lr=2e-4,
                beta_1=0.5, beta_2=0.999,
                regularizers=[{"type": "l1", "weight": 10.0}, {"type": "ms", "lam": 1.0}],
                g_first=True, reuse_fakes=True, flip=True, jitter_load_size=None,
                # The official samples and tests with the trained G (no EMA copy).
                ema={"beta": 0.0}, tick_kimg=4.0, snapshot_ticks=5)
    base.update(kw)
    return base


def _edges2digits(ms: bool) -> dict:
    """The official recipe at 32x32 on the bundled edges -> digits pairs: U-Net of 5 levels,
    PatchGANs of 2 layers (``basic_128_multi``'s depth: 3 layers leave no output on the
    half-scale 16x16 input), ngf/ndf 32, batch 1 as the official; no flips (digits are not
    mirror-symmetric)."""
    regs = [{"type": "l1", "weight": 10.0}] + ([{"type": "ms", "lam": 1.0}] if ms else [])
    return _official(model={**_OFFICIAL_MODEL, "ngf": 32, "ndf": 32, "n_layers": 2},
                     regularizers=regs, flip=False, total_kimg=10.0, tick_kimg=1.0,
                     snapshot_ticks=5, data_name="edges2digits")


PRESETS = {
    "pix2pix-ms-facades256": {
        "description": "MSGAN's Pix2Pix-MS on facades (labels -> photos, 256x256): BicycleGAN U-Net "
                       "with z at every level, two PatchGANs, LSGAN, L1 x 10, mode seeking, batch 1.",
        "config": _official(total_kimg=80.0, lr_decay=_decay(400), data_name="facades"),
    },
    "pix2pix-ms-maps256": {
        "description": "MSGAN's Pix2Pix-MS on maps (map -> aerial, 256x256), the facades recipe.",
        "config": _official(total_kimg=219.2, lr_decay=_decay(1096), data_name="maps"),
    },
    "pix2pix-ms-edges2digits32": {
        "description": "Pix2Pix-MS on the bundled edges -> digits pairs (32x32), sized for a CPU.",
        "config": _edges2digits(ms=True),
    },
    "pix2pix-edges2digits32": {
        "description": "The pix2pix baseline of pix2pix-ms-edges2digits32 (no mode-seeking term).",
        "config": _edges2digits(ms=False),
    },
}
