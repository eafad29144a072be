"""BigGAN generator (Brock et al. 2018), after ajbrock/BigGAN-PyTorch BigGAN.py ``Generator``."""

from __future__ import annotations

import functools

import keras

from keras_gans.layers import BatchNorm, ConditionalBatchNorm, SelfAttention, SNConv2D, SNDense

# Channel multipliers of ``G_arch`` (BigGAN.py): block i maps ch * IN[i] -> ch * OUT[i] channels
# and doubles the side, from a 4x4 bottom to the output resolution.
G_ARCH = {
    32: ([4, 4, 4], [4, 4, 4]),
    64: ([16, 16, 8, 4], [16, 8, 4, 2]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1]),
    256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]),
    512: ([16, 16, 8, 8, 4, 2, 1], [16, 8, 8, 4, 2, 1, 1]),
}
INITS = ("ortho", "N02", "glorot")


def biggan_initializer(init):
    """A fresh weight initializer for ``--G_init``/``--D_init`` (BigGAN.py ``init_weights``):
    "ortho" (orthogonal, the ImageNet scripts), "N02" (N(0, 0.02), the CIFAR script) or
    "glorot" (xavier uniform, the SA-GAN script). Biases start at 0 (PyTorch's default uniform
    bias init is not reproduced)."""
    if init == "ortho":
        return keras.initializers.Orthogonal()
    if init == "N02":
        return keras.initializers.RandomNormal(0.0, 0.02)
    if init in ("glorot", "xavier"):
        return keras.initializers.GlorotUniform()
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


def biggan_sn_conv(filters, size, name, *, sn_epsilon, init, resample=None):
    """BigGAN's ``SNConv2d``: "same" padding, the model's SN epsilon and initializer, and the
    block's resampling folded in (``SNConv2D(resample=...)``)."""
    return SNConv2D(filters, size, padding="same", epsilon=sn_epsilon, resample=resample,
                    kernel_initializer=biggan_initializer(init), name=name)


def hierarchical_chunks(dim_z, num_blocks):
    """Sizes of the z chunks: one for the initial linear, one per residual block (skip-z)."""
    slots = num_blocks + 1
    if dim_z % slots:
        raise ValueError(
            f"hierarchical z: dim_z {dim_z} does not split into {slots} equal chunks (1 + "
            f"{num_blocks} blocks); use a multiple of {slots} (the official code silently "
            f"drops the remainder)")
    return [dim_z // slots] * slots


@keras.saving.register_keras_serializable("keras_gans")
class BigGANGenerator(keras.Model):
    """Class-conditional residual generator with shared embedding and hierarchical latents.

    Layout of ajbrock/BigGAN-PyTorch BigGAN.py ``Generator`` with ``G_arch`` channel tables:

    - hierarchical z (``--hier``): z is split into ``num_blocks + 1`` equal chunks; the first
      goes through an SN linear to a 4x4 x ``ch * G_ARCH[res][0][0]`` map, each other chunk is
      concatenated with the shared class embedding (``--G_shared``, one ``[num_classes,
      shared_dim]`` table for all blocks) to condition one block. Without ``hierarchical`` the
      whole z goes to the linear and every block sees only the embedding;
    - residual up-blocks (layers.py ``GBlock``): CBN-ReLU-up(nearest 2x)-SNconv3x3-CBN-ReLU-
      SNconv3x3, plus an up + SNconv1x1 shortcut; CBN is ``ConditionalBatchNorm`` with SN
      linears (gain ``1 + W_g y``, bias ``W_b y``);
    - ``SelfAttention`` after the block whose output side is ``attention``;
    - output: BN (affine) - ReLU - SNconv3x3 - tanh, float32 images in [-1, 1].

    Without ``shared_embedding`` (the CIFAR script, no ``--G_shared``) each CBN has its own
    plain per-class gain and bias embeddings (the one-hot class through bias-free linears),
    and the latent is not split. All convs, linears and embeddings use ``init``; the shared
    embedding and per-class embeddings are not spectrally normalized ("applying SN to G's
    embedding seems to randomly cripple G", BigGAN.py).

    Args:
        num_classes: number of classes (BigGAN is class-conditional only).
        resolution: output side: 32, 64, 128, 256 or 512.
        channels: output channels.
        ch: width multiplier (``--G_ch``: 96 for ImageNet 128, the default 64 for CIFAR).
        dim_z: size of z (``--dim_z``: 120 for ImageNet 128, default 128).
        shared_dim: size of the shared class embedding (``--shared_dim 128``; 0 = dim_z, as
            the official code).
        shared_embedding: one class embedding shared by all blocks (``--G_shared``).
        hierarchical: split z over the blocks (``--hier``); needs ``shared_embedding``.
        attention: output side of the block followed by self-attention (``--G_attn 64``);
            0 = none.
        init: "ortho", "N02" or "glorot" (``--G_init``).
        sn_epsilon: spectral-norm epsilon (``--SN_eps``: 1e-6 ImageNet, 1e-8 default).
        bn_epsilon: batch-norm epsilon (``--BN_eps 1e-5``).

    Example:
        >>> g = BigGANGenerator(num_classes=1000, resolution=128, ch=96, dim_z=120,
        ...                     shared_dim=128, attention=64)
        >>> images = g([z, class_id])  # [B, 128, 128, 3] in [-1, 1]

    Reference: Brock et al., "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis" (ICLR 2019, arXiv 1809.11096); ajbrock/BigGAN-PyTorch BigGAN.py, layers.py.
    """

    def __init__(self, num_classes, resolution=128, channels=3, ch=96, dim_z=120, shared_dim=128,
                 shared_embedding=True, hierarchical=True, attention=64, init="ortho",
                 sn_epsilon=1e-6, bn_epsilon=1e-5, **kwargs):
        if resolution not in G_ARCH:
            raise ValueError(f"BigGAN generator resolution must be one of {sorted(G_ARCH)}, got {resolution}")
        if num_classes < 1:
            raise ValueError("BigGAN is class-conditional: num_classes must be >= 1")
        biggan_initializer(init)  # validates
        if hierarchical and not shared_embedding:
            raise ValueError("hierarchical z needs shared_embedding (as the official ccbn input size)")
        in_mult, out_mult = G_ARCH[resolution]
        block_sides = [8 * 2**i for i in range(len(out_mult))]
        if attention and attention not in block_sides:
            raise ValueError(f"attention must be 0 or a block resolution {block_sides}, got {attention}")
        embed_dim = (shared_dim or dim_z) if shared_embedding else 0

        # === Functional Model ===
        z = keras.Input(shape=(dim_z,), name="z")
        class_id = keras.Input(shape=(), dtype="int32", name="class_id")
        if shared_embedding:
            y = keras.layers.Embedding(num_classes, embed_dim,
                                       embeddings_initializer=biggan_initializer(init),
                                       name="shared_embedding")(class_id)
        else:
            y = keras.ops.one_hot(class_id, num_classes)
        if hierarchical:
            sizes = hierarchical_chunks(dim_z, len(out_mult))
            starts = [sum(sizes[:i]) for i in range(len(sizes))]
            chunks = [z[:, s:s + n] for s, n in zip(starts, sizes)]
            z0 = chunks[0]
            conds = [keras.layers.Concatenate(name=f"block{i + 1}_cond")([y, c])
                     for i, c in enumerate(chunks[1:])]
        else:
            z0, conds = z, [y] * len(out_mult)

        sn_conv = functools.partial(biggan_sn_conv, sn_epsilon=sn_epsilon, init=init)

        def cbn(name):
            return ConditionalBatchNorm(spectral_norm=shared_embedding, epsilon=bn_epsilon,
                                        sn_epsilon=sn_epsilon,
                                        kernel_initializer=biggan_initializer(init), name=name)

        h = SNDense(ch * in_mult[0] * 16, epsilon=sn_epsilon,
                    kernel_initializer=biggan_initializer(init), name="linear")(z0)
        h = keras.layers.Reshape((4, 4, ch * in_mult[0]), name="to_4x4")(h)
        for i, (mult, side) in enumerate(zip(out_mult, block_sides)):
            p = f"block{i + 1}"
            x = h
            h = cbn(f"{p}_cbn1")([h, conds[i]])
            h = keras.layers.ReLU(name=f"{p}_relu1")(h)
            # Nearest 2x upsampling of h and x (layers.py L398-403 GBlock.forward), folded into the
            # convolutions that follow it (SNConv2D resample="up": the same values, less work).
            h = sn_conv(ch * mult, 3, f"{p}_conv1", resample="up")(h)
            h = cbn(f"{p}_cbn2")([h, conds[i]])
            h = keras.layers.ReLU(name=f"{p}_relu2")(h)
            h = sn_conv(ch * mult, 3, f"{p}_conv2")(h)
            # learnable shortcut (the block upsamples): upsample, then 1x1 conv
            x = sn_conv(ch * mult, 1, f"{p}_shortcut", resample="up")(x)
            h = keras.layers.Add(name=f"{p}_add")([h, x])
            if side == attention:
                h = SelfAttention(sn_epsilon=sn_epsilon, kernel_initializer=biggan_initializer(init),
                                  name=f"attention_{side}")(h)
        h = BatchNorm(momentum=0.9, epsilon=bn_epsilon, name="output_bn")(h)
        h = keras.layers.ReLU(name="output_relu")(h)
        h = sn_conv(channels, 3, "output_conv")(h)
        images = keras.layers.Activation("tanh", dtype="float32", name="images")(h)
        super().__init__(inputs=[z, class_id], outputs=images, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.resolution = resolution
        self.channels = channels
        self.ch = ch
        self.dim_z = dim_z
        self.shared_dim = shared_dim
        self.shared_embedding = shared_embedding
        self.hierarchical = hierarchical
        self.attention = attention
        self.init = init
        self.sn_epsilon = sn_epsilon
        self.bn_epsilon = bn_epsilon

    @property
    def z_chunks(self):
        """Sizes of the z chunks (linear first, then one per block); ``[dim_z]`` if not hierarchical."""
        blocks = len(G_ARCH[self.resolution][1])
        return hierarchical_chunks(self.dim_z, blocks) if self.hierarchical else [self.dim_z]

    def get_config(self):
        return {"num_classes": self.num_classes, "resolution": self.resolution,
                "channels": self.channels, "ch": self.ch, "dim_z": self.dim_z,
                "shared_dim": self.shared_dim, "shared_embedding": self.shared_embedding,
                "hierarchical": self.hierarchical, "attention": self.attention,
                "init": self.init, "sn_epsilon": self.sn_epsilon, "bn_epsilon": self.bn_epsilon,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
