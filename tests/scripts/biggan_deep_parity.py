"""Outputs of our BigGAN-deep networks against the official PyTorch ones, with the same weights.

Not part of the test suite (it needs PyTorch). Two steps, two environments:

    # 1. with torch==2.13.0 and numpy in a separate venv (never in the project's):
    python tests/scripts/biggan_deep_parity.py torch BIGGAN_PYTORCH_DIR OUT.npz
    # 2. with the project's venv:
    python tests/scripts/biggan_deep_parity.py keras OUT.npz

BIGGAN_PYTORCH_DIR is a checkout of ajbrock/BigGAN-PyTorch (it holds ``BigGANdeep.py``). Step 1
builds the official ``BigGANdeep.Generator`` / ``Discriminator`` at 64x64 with ch 8 (so the G
skip drops channels, the D skip concatenates a 1x1 conv's channels, and both attention blocks
are used: G at 32, D at 16), draws random biases, BN statistics and attention gains, sets every
SN vector ``u`` to the top singular vector (so the eval-mode power step returns the exact
singular value on both sides: the official SN embedding keeps ``u`` over the classes, ours over
the embedding axis), runs both in eval mode and saves weights, inputs and outputs. Step 2 loads
the same weights into ``BigGANDeepGenerator`` / ``BigGANDeepDiscriminator`` (OIHW -> HWIO; the
first linear's outputs permuted from NCHW to NHWC order) and prints the largest differences;
measured: G images <= 1.1e-6 (std 0.34), D logits <= 4.8e-6 (|logit| up to 28), i.e. float32
rounding.
"""

import sys

RES, CH, DIM_Z, SHARED, CLASSES, BATCH, DEPTH = 64, 8, 16, 16, 5, 4, 2
G_ATTN, D_ATTN = 32, 16


def run_torch(source_dir, out):
    import contextlib
    import io

    import numpy as np
    import torch as th

    sys.path.insert(0, source_dir)
    import BigGANdeep
    import layers

    kw = dict(resolution=RES, G_ch=CH, D_ch=CH, G_depth=DEPTH, D_depth=DEPTH, dim_z=DIM_Z,
              shared_dim=SHARED, n_classes=CLASSES, G_attn=str(G_ATTN), D_attn=str(D_ATTN),
              G_shared=True, hier=True, SN_eps=1e-6, BN_eps=1e-5)
    th.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        g, d = BigGANdeep.Generator(**kw), BigGANdeep.Discriminator(**kw)
    with th.no_grad():
        for m in (g, d):
            for name, p in m.named_parameters():
                if name.endswith("bias") or name.endswith("gain") or name.endswith("gamma"):
                    p.normal_(0.2 if name.endswith("gain") else 0.0, 0.3)
            for mod in m.modules():
                if isinstance(mod, layers.SN):
                    w = mod.weight.view(mod.weight.size(0), -1)
                    u, _, _ = th.linalg.svd(w, full_matrices=False)
                    mod.u0.copy_(u[:, :1].T)
                if hasattr(mod, "stored_mean"):
                    mod.stored_mean.normal_(0, 0.2)
                    mod.stored_var.uniform_(0.5, 2.0)
    g.eval()
    d.eval()
    rng = np.random.default_rng(0)
    z = rng.standard_normal((BATCH, DIM_Z)).astype("float32")
    classes = np.arange(BATCH, dtype="int64") % CLASSES
    images = rng.uniform(-1, 1, (BATCH, 3, RES, RES)).astype("float32")
    with th.no_grad():
        fake = g(th.from_numpy(z), g.shared(th.from_numpy(classes)))
        real_logits = d(th.from_numpy(images), th.from_numpy(classes))
        fake_logits = d(fake, th.from_numpy(classes))
    saved = {f"g.{k}": v.numpy() for k, v in g.state_dict().items()}
    saved.update({f"d.{k}": v.numpy() for k, v in d.state_dict().items()})
    saved.update(z=z, classes=classes, images=images, fake=fake.numpy(),
                 real_logits=real_logits.numpy(), fake_logits=fake_logits.numpy())
    np.savez(out, **saved)


def run_keras(path):
    import numpy as np

    from keras_gans.layers import SNEmbedding
    from keras_gans.models.biggan import BigGANDeepDiscriminator, BigGANDeepGenerator

    w = dict(np.load(path))
    g = BigGANDeepGenerator(CLASSES, RES, 3, ch=CH, depth=DEPTH, dim_z=DIM_Z, shared_dim=SHARED,
                            attention=G_ATTN)
    d = BigGANDeepDiscriminator(CLASSES, RES, 3, ch=CH, depth=DEPTH, attention=D_ATTN)
    used = set()

    def get(key):
        used.add(key)
        return w[key]

    def conv(layer, prefix):
        layer.kernel.assign(get(f"{prefix}.weight").transpose(2, 3, 1, 0))
        if layer.use_bias:
            layer.bias.assign(get(f"{prefix}.bias"))
        layer.sn_u.assign(get(f"{prefix}.u0"))
        used.add(f"{prefix}.sv0")

    def dense(layer, prefix, perm=None):
        kernel, u = get(f"{prefix}.weight").T, get(f"{prefix}.u0")
        if perm is not None:
            kernel, u = kernel[:, perm], u[:, perm]
        layer.kernel.assign(kernel)
        layer.sn_u.assign(u)
        if layer.use_bias:
            bias = get(f"{prefix}.bias")
            layer.bias.assign(bias if perm is None else bias[perm])
        used.add(f"{prefix}.sv0")

    def cbn(layer, prefix):
        dense(layer.gain_linear, f"{prefix}.gain")
        dense(layer.bias_linear, f"{prefix}.bias")
        layer.batch_norm.moving_mean.assign(get(f"{prefix}.stored_mean"))
        layer.batch_norm.moving_variance.assign(get(f"{prefix}.stored_var"))

    def attention(layer, prefix):
        for name in ("theta", "phi", "g", "o"):
            conv(getattr(layer, name), f"{prefix}.{name}")
        layer.gamma.assign(get(f"{prefix}.gamma"))

    # G: the linear's outputs are (C, 4, 4) in torch, (4, 4, C) here.
    c0 = g.get_layer("to_4x4").output.shape[-1]
    perm = np.arange(16 * c0).reshape(c0, 4, 4).transpose(1, 2, 0).reshape(-1)
    g.get_layer("shared_embedding").embeddings.assign(get("g.shared.weight"))
    dense(g.get_layer("linear"), "g.linear", perm)
    for s in range(len(g.block_widths)):
        for b in range(DEPTH):
            p, q = f"block{s + 1}_{b + 1}", f"g.blocks.{s * DEPTH + b}.0"
            for k in (1, 2, 3, 4):
                conv(g.get_layer(f"{p}_conv{k}"), f"{q}.conv{k}")
                cbn(g.get_layer(f"{p}_cbn{k}"), f"{q}.bn{k}")
        if 8 * 2**s == G_ATTN:
            attention(g.get_layer(f"attention_{G_ATTN}"), f"g.blocks.{s * DEPTH + DEPTH - 1}.1")
    bn = g.get_layer("output_bn")
    bn.gamma.assign(get("g.output_layer.0.gain"))
    bn.beta.assign(get("g.output_layer.0.bias"))
    bn.moving_mean.assign(get("g.output_layer.0.stored_mean"))
    bn.moving_variance.assign(get("g.output_layer.0.stored_var"))
    conv(g.get_layer("output_conv"), "g.output_layer.2")

    conv(d.get_layer("input_conv"), "d.input_conv")
    for s, stage in enumerate(d.block_widths):
        for b, (c_in, c_out, _) in enumerate(stage):
            p, q = f"block{s + 1}_{b + 1}", f"d.blocks.{s}.{b}"
            for k in (1, 2, 3, 4):
                conv(d.get_layer(f"{p}_conv{k}"), f"{q}.conv{k}")
            if c_in != c_out:
                conv(d.get_layer(f"{p}_shortcut"), f"{q}.conv_sc")
        if RES // 2 ** (s + 1) == D_ATTN:
            attention(d.get_layer(f"attention_{D_ATTN}"), f"d.blocks.{s}.{DEPTH}")
    dense(d.get_layer("linear"), "d.linear")
    emb = d.get_layer("embedding")
    assert isinstance(emb, SNEmbedding)
    table = get("d.embed.weight")
    emb.embeddings.assign(table)
    used.add("d.embed.u0")
    used.add("d.embed.sv0")
    emb.sn_u.assign(np.linalg.svd(table)[2][:1])  # ours keeps u over the embedding axis
    left = sorted(k for k in w if k[:2] in ("g.", "d.") and k not in used
                  and not k.endswith("num_batches_tracked"))
    assert not left, f"official weights not loaded: {left}"

    nhwc = lambda a: a.transpose(0, 2, 3, 1)  # noqa: E731
    fake = np.asarray(g([w["z"], w["classes"].astype("int32")], training=False))
    print(f"G images: max |diff| {np.abs(fake - nhwc(w['fake'])).max():.3g} "
          f"(images within [-1, 1], std {fake.std():.3g})")
    for name, images, key in (("D(reals)", w["images"], "real_logits"),
                              ("D(G(z))", w["fake"], "fake_logits")):
        logits = np.asarray(d([nhwc(images), w["classes"].astype("int32")], training=False))
        print(f"{name}: max |diff| {np.abs(logits - w[key]).max():.3g} "
              f"(max |logit| {np.abs(w[key]).max():.3g})")


if __name__ == "__main__":
    if sys.argv[1] == "torch":
        run_torch(sys.argv[2], sys.argv[3])
    else:
        run_keras(sys.argv[2])
