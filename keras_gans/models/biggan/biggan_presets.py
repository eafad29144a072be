"""BigGAN presets: the official CIFAR-10 and ImageNet 128 settings, BigGAN-deep at 128 and 256,
and CPU presets.

Every number below is from ajbrock/BigGAN-PyTorch (``scripts/*.sh`` and the argparse defaults
of ``utils.py`` ``prepare_parser``); the arguments a script does not set take those defaults.

Units: ``batch`` is the global batch of one D (or G) update, ``accumulation_steps`` cuts it
into micro-batches (``--num_D_accumulations``); one training step shows D
``batch * d_steps`` real images (train.py ``D_batch_size``), which is what ``images_seen``
and hence every kimg count (``total_kimg``, EMA ``start_kimg``) measure. An official
iteration count ``N`` is therefore ``N * batch * d_steps / 1000`` kimg.

Fakes use uniformly sampled classes (``fake_labels="sample"``, ``utils.prepare_z_y``), the
loss is the hinge loss (``losses.py`` ``loss_hinge_dis`` / ``loss_hinge_gen``), Adam betas
(0, 0.999) (``--G_B1/--D_B1 0``, ``--G_B2/--D_B2 0.999``).
"""



def _kimg(iterations, batch, d_steps=1):
    """Official iterations -> kimg of real images shown to D."""
    return iterations * batch * d_steps / 1000.0


def _cifar(**kw) -> dict:
    # scripts/launch_cifar_ema.sh: --batch_size 50 --num_D_steps 4 --G_lr 2e-4 --D_lr 2e-4
    # --G_ortho 0.0 --G_attn 0 --D_attn 0 --G_init N02 --D_init N02 --ema --use_ema
    # --ema_start 1000 --num_epochs 500; defaults: --G_ch/--D_ch 64, --dim_z 128, no --G_shared,
    # no --hier, --SN_eps 1e-8, --adam_eps 1e-8, --ema_decay 0.9999. 500 epochs of 50k images.
    batch, d_steps = 50, 4
    base = dict(conditional=True, fake_labels="sample",
                model={"ch": 64, "dim_z": 128, "shared_embedding": False, "hierarchical": False,
                       "attention": 0, "init": "N02", "sn_epsilon": 1e-8},
                batch=batch, d_steps=d_steps, total_kimg=500 * 50.0, tick_kimg=50.0,
                snapshot_ticks=10, loss="hinge", g_lr=2e-4, d_lr=2e-4, beta_1=0.0, beta_2=0.999,
                epsilon=1e-8, ema={"beta": 0.9999, "start_kimg": _kimg(1000, batch, d_steps)},
                data_name="cifar10")
    base.update(kw)
    return base


def biggan_cifar10():
    return _cifar()


def _imagenet128(**kw) -> dict:
    # scripts/launch_BigGAN_bs256x8.sh: --batch_size 256 --num_G_accumulations 8
    # --num_D_accumulations 8 --num_D_steps 1 --G_lr 1e-4 --D_lr 4e-4 --D_B2 0.999 --G_B2 0.999
    # --G_attn 64 --D_attn 64 --SN_eps 1e-6 --BN_eps 1e-5 --adam_eps 1e-6 --G_ortho 0.0
    # --G_shared --G_init ortho --D_init ortho --hier --dim_z 120 --shared_dim 128
    # --G_ch 96 --D_ch 96 --ema --use_ema --ema_start 20000 (--ema_decay default 0.9999).
    # The README: "15 days to train to 150k iterations" on 8xV100.
    batch = 256 * 8
    base = dict(conditional=True, fake_labels="sample",
                model={"ch": 96, "dim_z": 120, "shared_dim": 128, "shared_embedding": True,
                       "hierarchical": True, "attention": 64, "init": "ortho",
                       "sn_epsilon": 1e-6, "bn_epsilon": 1e-5},
                batch=batch, accumulation_steps=8, d_steps=1, total_kimg=_kimg(150_000, batch),
                tick_kimg=500.0, snapshot_ticks=4, loss="hinge", g_lr=1e-4, d_lr=4e-4,
                beta_1=0.0, beta_2=0.999, epsilon=1e-6,
                ema={"beta": 0.9999, "start_kimg": _kimg(20_000, batch)},
                regularizers=[], data_name="imagenet128")
    base.update(kw)
    return base


def biggan_imagenet128():
    # The script's lrs are the SA-GAN settings (1e-4 / 4e-4, 1 D step, also in
    # launch_SAGAN_bs128x2_ema.sh); the released models were trained this way, without
    # orthogonal regularization (--G_ortho 0.0; README "not trained with orthogonal
    # regularization"). Turn it on with --set 'regularizers=[{"type": "ortho", "beta": 1e-4,
    # "target": "generator"}]' or use biggan-paper-imagenet128.
    return _imagenet128()


def biggan_paper_imagenet128():
    # Brock et al. 2018 (arXiv 1809.11096) section 3: lr 5e-5 (G) / 2e-4 (D), two D steps per
    # G step; section 3.1: orthogonal regularization beta 1e-4. They are also the utils.py
    # defaults (--G_lr 5e-5 --D_lr 2e-4 --num_D_steps 2; "1e-4 is default for BigGAN" beside
    # --G_ortho, whose default is 0.0).
    batch = 2048
    return _imagenet128(g_lr=5e-5, d_lr=2e-4, d_steps=2,
                        total_kimg=_kimg(150_000, batch, 2),
                        ema={"beta": 0.9999, "start_kimg": _kimg(20_000, batch, 2)},
                        regularizers=[{"type": "ortho", "beta": 1e-4, "target": "generator"}])


def biggan_mnist32():
    # The ImageNet layout (shared embedding of 128, hierarchical z, orthogonal init, SN eps
    # 1e-6) at CPU width; the CIFAR optimizer (lr 2e-4 both, betas (0, 0.999)) with 1 D step.
    # The EMA is BigGAN's fixed-decay form, shortened for a 30 kimg run (0.9999 from 20k steps
    # would never leave the start): decay 0.99 (a ~100-step window) from 5 kimg.
    # Measured at 30 kimg (classifier accuracy on 1000 EMA samples, chance 10%): ch 16 /
    # shared 32: 15%; + SA-GAN lrs 1e-4/4e-4: 10%; + 2 D steps (40 kimg): 12%; shared 128 at
    # ch 16: 19%; ch 32 / shared 128: 51%. Width is what lets the class through in a short run.
    return dict(
        conditional=True, fake_labels="sample",
        model={"ch": 32, "dim_z": 64, "shared_dim": 128, "shared_embedding": True,
               "hierarchical": True, "attention": 0, "init": "ortho", "sn_epsilon": 1e-6},
        batch=64, d_steps=1, total_kimg=30.0, tick_kimg=2.0, snapshot_ticks=5, loss="hinge",
        g_lr=2e-4, d_lr=2e-4, beta_1=0.0, beta_2=0.999, epsilon=1e-6,
        ema={"beta": 0.99, "start_kimg": 5.0}, data_name="mnist32")


def _deep(resolution, **kw) -> dict:
    # scripts/launch_BigGAN_deep.sh (the repository's only BigGAN-deep script, ImageNet 128):
    #   :3 --model BigGANdeep; :4-5 --batch_size 256 --num_G_accumulations 8
    #   --num_D_accumulations 8 (batch 2048); :6 --num_D_steps 1 --G_lr 1e-4 --D_lr 4e-4
    #   --D_B2 0.999 --G_B2 0.999; :7 --G_attn 64 --D_attn 64; :8 --G_ch 128 --D_ch 128;
    #   :9 --G_depth 2 --D_depth 2; :11 --SN_eps 1e-6 --BN_eps 1e-5 --adam_eps 1e-6;
    #   :12 --G_ortho 0.0; :13 --G_shared; :14 --G_init ortho --D_init ortho;
    #   :15 --hier --dim_z 128 --shared_dim 128; :16 --ema --use_ema --ema_start 20000
    #   --G_eval_mode (protocol biggan-imagenet).
    # utils.py defaults for what it does not set: --G_B1/--D_B1 0.0 (:153-157), --ema_decay
    # 0.9999 (:284), hinge loss. The 256 preset is the same script at resolution 256 (the paper's
    # BigGAN-deep 256 row; the repository has no 256 script). The script sets no length
    # (--use_multiepoch_sampler with the default --num_epochs): 150k iterations here, the
    # length of the BigGAN 128 preset (README "15 days to 150k iterations").
    batch = 256 * 8
    base = dict(conditional=True, fake_labels="sample",
                model={"variant": "deep", "ch": 128, "depth": 2, "dim_z": 128, "shared_dim": 128,
                       "attention": 64, "init": "ortho", "sn_epsilon": 1e-6, "bn_epsilon": 1e-5},
                batch=batch, accumulation_steps=8, d_steps=1, total_kimg=_kimg(150_000, batch),
                tick_kimg=500.0, snapshot_ticks=4, loss="hinge", g_lr=1e-4, d_lr=4e-4,
                beta_1=0.0, beta_2=0.999, epsilon=1e-6,
                ema={"beta": 0.9999, "start_kimg": _kimg(20_000, batch)},
                regularizers=[], data_name=f"imagenet{resolution}")
    base.update(kw)
    return base


def biggan_deep_imagenet128():
    return _deep(128)


def biggan_deep_imagenet256():
    return _deep(256)


def biggan_deep_mnist32():
    # The launch script's layout (shared embedding 128, the whole z in every cBN, 2 blocks per
    # resolution, orthogonal init, SN eps 1e-6) at CPU width on the official 32x32 tables
    # (BigGANdeep.py:87-92, 351-356: 4*ch everywhere, so no channel drop or concat at 32); the
    # CPU optimizer and EMA of biggan-mnist32 (lr 2e-4 both, betas (0, 0.999), 1 D step, EMA
    # 0.99 from 5 kimg) for a 30 kimg run. No attention (as biggan-mnist32).
    return dict(
        conditional=True, fake_labels="sample",
        model={"variant": "deep", "ch": 32, "depth": 2, "dim_z": 64, "shared_dim": 128,
               "attention": 0, "init": "ortho", "sn_epsilon": 1e-6, "bn_epsilon": 1e-5},
        batch=64, d_steps=1, total_kimg=30.0, tick_kimg=2.0, snapshot_ticks=5, loss="hinge",
        g_lr=2e-4, d_lr=2e-4, beta_1=0.0, beta_2=0.999, epsilon=1e-6,
        ema={"beta": 0.99, "start_kimg": 5.0}, data_name="mnist32")


# The presets: plain data, registered by the family's __init__ (keras_gans.models.registry).
PRESETS = {
    "biggan-cifar10": {
        "description": "BigGAN on CIFAR-10 as scripts/launch_cifar_ema.sh (batch 50, 4 D steps, lr 2e-4, ch 64).",
        "config": biggan_cifar10(),
    },
    "biggan-imagenet128": {
        "description": "BigGAN 128x128 as scripts/launch_BigGAN_bs256x8.sh (batch 2048 = 8 x 256, G/D lr 1e-4/4e-4).",
        "config": biggan_imagenet128(),
    },
    "biggan-paper-imagenet128": {
        "description": "BigGAN 128x128 with the paper's optimizer: G/D lr 5e-5/2e-4, 2 D steps, ortho reg 1e-4.",
        "config": biggan_paper_imagenet128(),
    },
    "biggan-mnist32": {
        "description": "Small BigGAN (ch 32, hierarchical z, shared embedding 128) on the bundled 32x32 MNIST, for a CPU.",
        "config": biggan_mnist32(),
    },
    "biggan-deep-imagenet128": {
        "description": "BigGAN-deep 128x128 as scripts/launch_BigGAN_deep.sh (ch 128, 2 blocks per resolution, batch 2048 = 8 x 256).",
        "config": biggan_deep_imagenet128(),
    },
    "biggan-deep-imagenet256": {
        "description": "BigGAN-deep 256x256: scripts/launch_BigGAN_deep.sh's settings at 256 (ch 128, 2 blocks per resolution).",
        "config": biggan_deep_imagenet256(),
    },
    "biggan-deep-mnist32": {
        "description": "Small BigGAN-deep (ch 32, 2 bottleneck blocks per resolution) on the bundled 32x32 MNIST, for a CPU.",
        "config": biggan_deep_mnist32(),
    },
}
