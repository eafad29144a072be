"""DCGAN presets: CPU presets for the bundled data and the MSGAN paper's CIFAR-10 baseline.

MSGAN's categorical baseline (HelenMao/MSGAN DCGAN-Mode-Seeking, model.py / train.py): a
conditional DCGAN (d=128, one-hot class concatenated to z and to D's input), BCE (= our
non-saturating logistic loss on logits), Adam lr 2e-4 betas (0.5, 0.999) with PyTorch's coupled
weight decay 1e-4 on both networks, batch 32, nz 100, fakes conditioned on the real batch's
classes, mode-seeking lambda 1. Batch norm as ``nn.BatchNorm2d``'s defaults (networks.py:13-19, 48-51):
PyTorch momentum 0.1 (Keras ``bn_momentum`` 0.9) and eps 1e-5, in every preset with MSGAN's
layout (``cdcgan-*``).

Evaluation: the paper presets (``cdcgan-cifar10``, ``cdcgan-msgan-cifar10``) default to the
``msgan-dcgan`` protocol (``keras_gans.metrics.protocols``): the trained generator, not the EMA
one these presets also keep for sample grids, in inference mode (test.py:29 ``model.eval()``).
"""

# nn.BatchNorm2d(momentum=0.1, eps=1e-5) in Keras' convention.
_TORCH_BN = {"bn_momentum": 0.9, "bn_epsilon": 1e-5}



def _mnist(**kw) -> dict:
    base = dict(model={"latent_dim": 64, "base_filters": 32}, batch=64,
                total_kimg=30.0, tick_kimg=2.0, snapshot_ticks=5, loss="ns", g_lr=2e-4,
                d_lr=2e-4, beta_1=0.5, beta_2=0.999, data_name="mnist32",
                # Short CPU runs: StyleGAN2-ADA's EMA (10 kimg half-life, ramp-up 0.05), which
                # follows G early on; a fixed 0.999 would still be ~70% the random init at 20 kimg.
                ema={"beta": None, "half_life_kimg": 10.0, "rampup": 0.05})
    base.update(kw)
    return base


def dcgan_mnist32():
    return _mnist()


def cdcgan_mnist32():
    return _mnist(conditional=True, fake_labels="real",
                  model={"latent_dim": 64, "base_filters": 32, **_TORCH_BN})


def cdcgan_msgan_mnist32():
    return _mnist(conditional=True, fake_labels="real",
                  model={"latent_dim": 64, "base_filters": 32, **_TORCH_BN},
                  regularizers=[{"type": "ms", "lam": 1.0}])


def _msgan_cifar(**kw) -> dict:
    base = dict(model={"latent_dim": 100, "base_filters": 128, **_TORCH_BN}, conditional=True,
                fake_labels="real", batch=32, total_kimg=10000.0, tick_kimg=50.0,
                snapshot_ticks=4, loss="ns", g_lr=2e-4, d_lr=2e-4, beta_1=0.5, beta_2=0.999,
                regularizers=[{"type": "l2", "weight": 1e-4, "target": "generator"},
                              {"type": "l2", "weight": 1e-4, "target": "discriminator"}],
                ema={"beta": 0.999}, data_name="cifar10")
    base.update(kw)
    return base


def cdcgan_cifar10():
    return _msgan_cifar()


def cdcgan_msgan_cifar10():
    cfg = _msgan_cifar()
    cfg["regularizers"] = [*cfg["regularizers"], {"type": "ms", "lam": 1.0}]
    return cfg


# The presets: plain data, registered by the family's __init__ (keras_gans.models.registry).
PRESETS = {
    "dcgan-mnist32": {
        "description": "Unconditional DCGAN on the bundled 32x32 MNIST digits, sized for a CPU (minutes).",
        "config": dcgan_mnist32(),
    },
    "cdcgan-mnist32": {
        "description": "Conditional DCGAN (one-hot classes, MSGAN's layout) on the bundled 32x32 MNIST digits.",
        "config": cdcgan_mnist32(),
    },
    "cdcgan-msgan-mnist32": {
        "description": "cdcgan-mnist32 with MSGAN's mode-seeking term (lambda 1).",
        "config": cdcgan_msgan_mnist32(),
    },
    "cdcgan-cifar10": {
        "description": "MSGAN's categorical baseline: conditional DCGAN on CIFAR-10 (batch 32, Adam 2e-4 (0.5, 0.999)).",
        "config": cdcgan_cifar10(),
    },
    "cdcgan-msgan-cifar10": {
        "description": "MSGAN on CIFAR-10: the conditional DCGAN baseline plus the mode-seeking term (lambda 1).",
        "config": cdcgan_msgan_cifar10(),
    },
}
