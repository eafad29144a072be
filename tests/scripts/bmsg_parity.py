"""Outputs of our BMSG-GAN networks against the official PyTorch ones, with the same weights.

Not part of the test suite (it needs PyTorch). Two steps, two environments:

    # 1. with torch==2.13.0 and numpy in a separate venv (never in the project's):
    python tests/scripts/bmsg_parity.py torch BMSG_SOURCECODE_DIR OUT.npz
    # 2. with the project's venv:
    python tests/scripts/bmsg_parity.py keras OUT.npz

BMSG_SOURCECODE_DIR is akanimax/BMSG-GAN's ``sourcecode/`` (it holds ``MSG_GAN/``). Step 1 builds
the official ``Generator(5, 16)`` / ``Discriminator(5, 16)`` (64x64: the halving "i > 2" widths
are exercised), draws random biases, runs G on normalized latents (GAN.py:432-436) and D on random
images and on G's outputs, and saves weights, inputs and outputs. Step 2 loads the same weights
into ``BMSGGenerator`` / ``BMSGDiscriminator`` (NCHW -> NHWC, OIHW -> HWIO; the 4x4 valid conv of
the final block as the dense of the flattened map) and prints the largest differences; measured:
G outputs <= 3e-5 (values up to ~5), D scores <= 5e-7, i.e. float32 rounding.
"""

import sys

DEPTH, LATENT, BATCH = 5, 16, 6


def run_torch(source_dir, out):
    import numpy as np
    import torch as th

    sys.path.insert(0, source_dir)
    from MSG_GAN.GAN import Discriminator, Generator

    th.manual_seed(0)
    g, d = Generator(DEPTH, LATENT), Discriminator(DEPTH, LATENT)
    for m in (g, d):
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                with th.no_grad():
                    p.normal_(0, 0.3)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((BATCH, LATENT)).astype("float32")
    zt = th.from_numpy(z)
    zt = zt / zt.norm(dim=-1, keepdim=True) * LATENT ** 0.5
    with th.no_grad():
        outs = g(zt)
        images = [th.from_numpy(rng.standard_normal((BATCH, 3, 2 ** (k + 2), 2 ** (k + 2))).astype("float32"))
                  for k in range(DEPTH)]
        scores, fake_scores = d(images), d(outs)
    saved = {f"g.{k}": v.numpy() for k, v in g.state_dict().items()}
    saved.update({f"d.{k}": v.numpy() for k, v in d.state_dict().items()})
    saved.update(z=z, dscore=scores.numpy(), dfscore=fake_scores.numpy())
    saved.update({f"gout{k}": o.numpy() for k, o in enumerate(outs)})
    saved.update({f"dimg{k}": o.numpy() for k, o in enumerate(images)})
    np.savez(out, **saved)


def run_keras(path):
    import numpy as np

    from keras_gans.models.msggan import BMSGDiscriminator, BMSGGenerator

    w = np.load(path)
    res = 2 ** (DEPTH + 1)
    g, d = BMSGGenerator(res, 3, LATENT), BMSGDiscriminator(res, 3, LATENT)
    g.build()
    d.build()

    def put(layer, prefix, kernel=lambda a: a.transpose(2, 3, 1, 0)):
        layer.kernel.assign(kernel(w[f"{prefix}.weight"]))
        layer.bias.assign(w[f"{prefix}.bias"])

    nhwc = lambda a: a.transpose(0, 2, 3, 1)  # noqa: E731
    put(g.deconv4, "g.layers.0.conv_1", lambda a: a.transpose(0, 2, 3, 1))
    put(g.conv4, "g.layers.0.conv_2")
    for k in range(1, DEPTH):
        for j in (0, 1):
            put(getattr(g, f"conv{2 ** (k + 2)}_{j}"), f"g.layers.{k}.conv_{j + 1}")
    for k in range(DEPTH):
        put(getattr(g, f"to_rgb{2 ** (k + 2)}"), f"g.rgb_converters.{k}")
    for k, o in enumerate(g(w["z"])):
        print(f"G {2 ** (k + 2)}x{2 ** (k + 2)}: max |diff| "
              f"{np.abs(np.asarray(o) - nhwc(w[f'gout{k}'])).max():.3g}")
    for i in range(DEPTH - 1):
        r = 2 ** (i + 3)
        put(getattr(d, f"from_rgb{r}"), f"d.rgb_to_features.{i}")
        for j in (0, 1):
            put(getattr(d, f"conv{r}_{j}"), f"d.layers.{i}.conv_{j + 1}")
    put(d.from_rgb4, "d.final_converter")
    put(d.conv4, "d.final_block.conv_1")
    put(d.conv4x4, "d.final_block.conv_2", lambda a: a.transpose(2, 3, 1, 0).reshape(16 * LATENT, LATENT))
    put(d.score, "d.final_block.conv_3", lambda a: a[:, :, 0, 0].T)
    for name, key, prefix in (("D(reals)", "dscore", "dimg"), ("D(G(z))", "dfscore", "gout")):
        s = np.asarray(d([nhwc(w[f"{prefix}{k}"]) for k in range(DEPTH)]))[:, 0]
        print(f"{name}: max |diff| {np.abs(s - w[key]).max():.3g}")


if __name__ == "__main__":
    if sys.argv[1] == "torch":
        run_torch(sys.argv[2], sys.argv[3])
    else:
        run_keras(sys.argv[2])
