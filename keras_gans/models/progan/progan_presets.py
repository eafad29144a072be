"""ProGAN presets: the official configurations and a CPU preset for the bundled digits.

Numbers from tkarras/progressive_growing_of_gans ``config.py`` (the ``preset-v2-*`` lines) and
``train.py`` (``TrainingSchedule`` defaults: 600 kimg stable + 600 kimg fade-in per resolution,
start at 4x4, lr base 1e-3; ``G_smoothing=0.999``; ``reset_opt_for_new_lod=True``) and
``loss.py`` (``D_wgangp_acgan``: WGAN-GP lambda 10, target 1, drift epsilon 1e-3). Adam betas
(0, 0.99), eps 1e-8 (``G_opt`` / ``D_opt``). Feature maps: ``G_paper`` / ``D_paper`` defaults,
``fmap_base=8192, fmap_decay=1.0, fmap_max=512`` (so 512 channels up to 32x32, then 256, 128,
64, 32, 16 at 1024), latent 512. One D step per G step (``D_repeats=1``).

Conditional runs (``--set conditional=true``): the D step generates its fakes with the real
batch's labels (``loss.py`` ``D_wgangp_acgan`` line 50: ``G.get_output_for(latents, labels)``
with the reals' ``labels``), and the G step draws labels from the dataset's label distribution
(``G_wgan_acgan`` line 29, ``dataset.py`` ``get_random_labels_tf`` line 157: the labels of
uniformly drawn training examples). ``fake_labels="real"`` does the first exactly; for the
second it takes the labels of the step's shuffled real batch, a draw from the same
distribution (not an independent one).
"""


_WGAN_GP = [{"type": "gp", "weight": 10.0, "target_norm": 1.0}, {"type": "drift", "weight": 1e-3}]
# preset-v2-1gpu: minibatch_base 4, minibatch_dict, G/D lr {1024: 0.0015}, 12000 kimg.
_V2_1GPU_BATCH = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}
# preset-v2-8gpus: minibatch_base 32, lr {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}.
_V2_8GPU_BATCH = {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}
_V2_8GPU_LR = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}


def _official(data_name, batch_table, batch_base, lr_table, total_kimg=12000.0, flip=False,
              **kw) -> dict:
    base = dict(model={"fmap_base": 8192, "fmap_decay": 1.0, "fmap_max": 512,
                                      "latent_dim": 512},
                batch=batch_base, total_kimg=total_kimg, tick_kimg=160.0, snapshot_ticks=10,
                loss="wgan", regularizers=list(_WGAN_GP), g_lr=1e-3, d_lr=1e-3, beta_1=0.0,
                beta_2=0.99, epsilon=1e-8, ema={"beta": 0.999, "non_trainable": "copy"}, flip=flip,
                fake_labels="real", data_name=data_name,
                growth={"initial_resolution": 4, "stable_kimg": 600.0, "fade_kimg": 600.0,
                        "batch": {str(k): v for k, v in batch_table.items()},
                        "g_lr": {str(k): v for k, v in lr_table.items()},
                        "d_lr": {str(k): v for k, v in lr_table.items()}})
    base.update(kw)
    return base


def progan_cifar10():
    return _official("cifar10", _V2_1GPU_BATCH, 4, {1024: 0.0015})


def progan_lsun256():
    # config.py (TF release, fdc55b9) sets train.mirror_augment = True on every '-lsun-*' line
    # (the lsun-*-100k sets); the Theano original (18d4116) left bedroom and dog unflipped.
    return _official("lsun256", _V2_8GPU_BATCH, 32, _V2_8GPU_LR, flip=True)


def progan_celebahq1024():
    return _official("celebahq1024", _V2_8GPU_BATCH, 32, _V2_8GPU_LR, flip=True)


def progan_mnist32():
    # The official recipe (WGAN-GP + drift, Adam 1e-3 (0, 0.99), pixel norm, mbstd, optimizer
    # reset per phase) on a CPU budget: growth from 8x8 (not 4x4) in 10 kimg phases instead of
    # 600 (about 310 steps of batch 32 each), 60 kimg in all, and a narrow feature-map table
    # (nf = 256 / 2**stage, at most 64: 64, 32, 16 channels at 8, 16, 32). Measured on the
    # bundled digits: with 4 or 6 kimg phases from 4x4 the generator collapsed to one blob at
    # 8x8 and never recovered; from 8x8 with 10 kimg phases the 60 kimg samples are diverse
    # digits. (The critic's gradient penalty is taken at the full input resolution, as in the
    # official code, so a low stage asks for a 2-8x steeper critic on its own pixels; the
    # official phases of thousands of steps absorb that.) The EMA is a 0.99 decay (~100 steps)
    # instead of 0.999, which averages over longer than the run.
    # Conditional runs (--set conditional=true) use the LabelSwitch D here, not the official
    # AC-GAN head: over this 60 kimg budget (seed 0, 100 EMA samples per class) the digit
    # classifier recognised the requested class in 81.2% of LabelSwitch samples but 33.2% of
    # AC-GAN samples, whose label penalty was still falling (slow test in test_diversity.py).
    return dict(
        model={"fmap_base": 256, "fmap_decay": 1.0, "fmap_max": 64, "latent_dim": 64,
                              "label_conditioning": "switch"},
        batch=32, total_kimg=60.0, tick_kimg=10.0, snapshot_ticks=2, loss="wgan",
        regularizers=list(_WGAN_GP), g_lr=1e-3, d_lr=1e-3, beta_1=0.0, beta_2=0.99, epsilon=1e-8,
        ema={"beta": 0.99, "non_trainable": "copy"}, fake_labels="real", data_name="mnist32",
        growth={"initial_resolution": 8, "stable_kimg": 10.0, "fade_kimg": 10.0})


# The presets: plain data, registered by the family's __init__ (keras_gans.models.registry).
PRESETS = {
    "progan-cifar10": {
        "description": "ProGAN on CIFAR-10 32x32 (config.py '-cifar10' with preset-v2-1gpu; paper IS 8.80).",
        "config": progan_cifar10(),
    },
    "progan-lsun256": {
        "description": "ProGAN on an LSUN category at 256x256 (config.py '-lsun-*', mirror augment, preset-v2-8gpus tables).",
        "config": progan_lsun256(),
    },
    "progan-celebahq1024": {
        "description": "ProGAN on CelebA-HQ 1024x1024 (config.py '-celebahq', mirror augment, preset-v2-8gpus).",
        "config": progan_celebahq1024(),
    },
    "progan-mnist32": {
        "description": "Small ProGAN growing 4 -> 32 on the bundled 32x32 MNIST digits, sized for a CPU.",
        "config": progan_mnist32(),
    },
}
