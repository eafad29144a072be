"""Outputs of our Projected StyleGAN2 generator and separable patch discriminator against the
official PyTorch modules, with the same weights.

Not part of the test suite (it needs PyTorch). Two steps, two environments:

    # 1. with torch==2.13.0, numpy and scipy in a separate venv (never in the project's):
    python tests/scripts/projected_sg2_parity.py torch PROJECTED_GAN_DIR OUT.npz
    # 2. with the project's venv:
    python tests/scripts/projected_sg2_parity.py keras OUT.npz

PROJECTED_GAN_DIR is a checkout of autonomousvision/projected_gan (its ``torch_utils`` custom ops
fall back to their reference implementations on a CPU). Step 1 builds the official
``pg_modules.networks_stylegan2.Generator`` (32x32x3, z 64, w 128, 2 mapping layers, cbase 1024,
cmax 128; unconditional and with 5 classes) with random biases and noise strengths, runs it with
``noise_mode='const'`` in both modulated-conv formulations (``fused_modconv`` False / True), and
builds ``pg_modules.discriminator.SingleDisc(nc=32, start_sz=32, separable=True)`` with spectral
norm converged (eval mode: stored u, v) and random batch-norm statistics, run on random features.
Step 2 loads the weights into ``StyleGAN2Generator`` / ``PatchDiscriminator(separable=True)``
(OIHW -> HWIO, ``noise_const`` -> ``fixed_noise``) and prints the largest differences.
"""

import sys

RES, CH, Z, W, CBASE, CMAX, BATCH, CLASSES = 32, 3, 64, 128, 1024, 128, 4, 5


def run_torch(source_dir, out):
    import types

    import numpy as np
    import torch as th

    sys.path.insert(0, source_dir)
    sys.modules.setdefault("timm", types.ModuleType("timm"))  # projector.py imports it; unused
    sys.modules.setdefault("requests", types.ModuleType("requests"))  # dnnlib.util; unused
    from pg_modules.discriminator import SingleDisc
    from pg_modules.networks_stylegan2 import Generator

    th.manual_seed(0)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((BATCH, Z)).astype("float32")
    labels = np.arange(BATCH) % CLASSES
    arrays = {"z": z, "labels": labels}
    for tag, c_dim in (("u", 0), ("c", CLASSES)):
        g = Generator(z_dim=Z, c_dim=c_dim, w_dim=W, img_resolution=RES, img_channels=CH,
                      mapping_kwargs={"num_layers": 2}, channel_base=CBASE, channel_max=CMAX)
        g.eval()
        with th.no_grad():
            for name, p in g.named_parameters():
                if name.endswith("bias") or name.endswith("noise_strength"):
                    p.normal_(0, 0.3)
        c = th.from_numpy(np.eye(CLASSES, dtype="float32")[labels]) if c_dim else None
        with th.no_grad():
            for fused in (False, True):
                img = g(th.from_numpy(z), c, noise_mode="const", fused_modconv=fused)
                arrays[f"{tag}_img_fused{int(fused)}"] = img.permute(0, 2, 3, 1).numpy()
        for name, t in (*g.named_parameters(), *g.named_buffers()):
            arrays[f"{tag}:{name}"] = t.detach().numpy()

    d = SingleDisc(nc=32, start_sz=32, end_sz=8, separable=True)
    d.train()
    x = th.from_numpy(rng.standard_normal((BATCH, 32, 32, 32)).astype("float32"))
    with th.no_grad():
        for _ in range(200):  # converge the spectral norms' u and v
            d(x, None)
        for m in d.modules():
            if isinstance(m, th.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.2)
    d.eval()
    with th.no_grad():
        arrays["d_x"] = x.permute(0, 2, 3, 1).numpy()
        arrays["d_out"] = d(x, None).permute(0, 2, 3, 1).numpy()
    for name, t in d.state_dict().items():
        arrays[f"d:{name}"] = t.detach().numpy()
    np.savez(out, **arrays)
    print(f"saved {len(arrays)} arrays to {out}")


def run_keras(path):
    import os

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import numpy as np

    from keras_gans.models.projected.discriminator import PatchDiscriminator
    from keras_gans.models.projected.stylegan2 import StyleGAN2Generator

    a = dict(np.load(path))
    hwio = lambda w: np.transpose(w, (2, 3, 1, 0))  # noqa: E731

    def load_modconv(layer, prefix, t):
        layer.affine.kernel.assign(a[f"{t}:{prefix}.affine.weight"].T)
        layer.affine.bias.assign(a[f"{t}:{prefix}.affine.bias"])
        layer.kernel.assign(hwio(a[f"{t}:{prefix}.weight"]))
        layer.bias.assign(a[f"{t}:{prefix}.bias"])
        if layer.noise is not None:
            layer.noise.weight.assign(a[f"{t}:{prefix}.noise_strength"].reshape(1))
            layer.noise.fixed_noise.assign(a[f"{t}:{prefix}.noise_const"][None, :, :, None])

    worst = {}
    for tag, classes in (("u", 0), ("c", CLASSES)):
        g = StyleGAN2Generator(latent_dim=Z, resolution=RES, channels=CH, w_dim=W, cbase=CBASE,
                               cmax=CMAX, num_classes=classes)
        g.build()
        for i in range(2):
            fc = getattr(g.mapping, f"fc{i}")
            fc.kernel.assign(a[f"{tag}:mapping.fc{i}.weight"].T)
            fc.bias.assign(a[f"{tag}:mapping.fc{i}.bias"])
        if classes:
            g.mapping.embed.kernel.assign(a[f"{tag}:mapping.embed.weight"].T)
            g.mapping.embed.bias.assign(a[f"{tag}:mapping.embed.bias"])
        for res in g.block_resolutions:
            block = getattr(g, f"b{res}")
            p = f"synthesis.b{res}"
            if res == 4:
                block.const.assign(np.transpose(a[f"{tag}:{p}.const"], (1, 2, 0)))
            else:
                load_modconv(block.conv0, f"{p}.conv0", tag)
            load_modconv(block.conv1, f"{p}.conv1", tag)
            load_modconv(block.torgb, f"{p}.torgb", tag)
        inputs = [a["z"], a["labels"].astype("int32")] if classes else a["z"]
        ours = np.asarray(g(inputs, training=False))
        for fused in (0, 1):
            ref = a[f"{tag}_img_fused{fused}"]
            worst[f"G {tag} fused_modconv={fused}"] = (float(np.abs(ours - ref).max()),
                                                       float(np.abs(ref).max()))

    d = PatchDiscriminator(32, 32, separable=True)
    d(a["d_x"][:1])
    for i in range(d.num_blocks):
        p = f"d:main.{i}.main"
        dw, pw, bn = getattr(d, f"dw{i}"), getattr(d, f"pw{i}"), getattr(d, f"bn{i}")
        dw.kernel.assign(np.transpose(a[f"{p}.0.depthwise.weight_orig"], (2, 3, 0, 1)))
        dw.sn_u.assign(a[f"{p}.0.depthwise.weight_u"][None])
        pw.kernel.assign(hwio(a[f"{p}.0.pointwise.weight_orig"]))
        pw.sn_u.assign(a[f"{p}.0.pointwise.weight_u"][None])
        bn.set_weights([a[f"{p}.1.weight"], a[f"{p}.1.bias"], a[f"{p}.1.running_mean"],
                        a[f"{p}.1.running_var"]])
    d.out_conv.kernel.assign(hwio(a[f"d:main.{d.num_blocks}.weight_orig"]))
    d.out_conv.sn_u.assign(a[f"d:main.{d.num_blocks}.weight_u"][None])
    out = np.asarray(d(a["d_x"], training=False))
    worst["D separable"] = (float(np.abs(out - a["d_out"]).max()), float(np.abs(a["d_out"]).max()))
    for name, (diff, scale) in worst.items():
        print(f"{name}: max |ours - official| = {diff:.3g} (official max |value| {scale:.3g})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["torch"]:
        run_torch(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["keras"]:
        run_keras(sys.argv[2])
    else:
        sys.exit(__doc__)
