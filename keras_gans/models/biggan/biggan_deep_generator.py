"""BigGAN-deep generator (Brock et al. 2018, appendix B), after ajbrock/BigGAN-PyTorch
``BigGANdeep.py`` ``Generator`` and ``GBlock``."""

from __future__ import annotations

import functools

import keras

from keras_gans.layers import BatchNorm, ConditionalBatchNorm, SelfAttention, SNDense
from keras_gans.models.biggan.biggan_generator import biggan_initializer, biggan_sn_conv

# ``G_arch`` (BigGANdeep.py:67-94): stage i maps ch * IN[i] -> ch * OUT[i] channels and doubles
# the side, from a 4x4 bottom (``bottom_width=4``) to the output resolution.
DEEP_G_ARCH = {
    32: ([4, 4, 4], [4, 4, 4]),
    64: ([16, 16, 8, 4], [16, 8, 4, 2]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1]),
    256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]),
}
# ``GBlock(..., channel_ratio=4)`` / ``DBlock(..., channel_ratio=4)`` (BigGANdeep.py:26, 286):
# the bottleneck width is the block's input (G) or output (D) width over 4.
CHANNEL_RATIO = 4


def stage_blocks(in_channels, out_channels, depth):
    """``[(block input width, block output width, resamples)]`` of one stage of G.

    BigGANdeep.py:192-200: ``G_depth`` blocks per stage; the first keeps the stage's input width,
    the last (``g_index == G_depth - 1``) changes it to the stage's output width and upsamples.
    At ``G_depth`` 2 (the launch script) that is the official layout exactly. At other depths
    the official constructor gives every block ``in_channels=arch['in_channels']`` and so builds
    blocks whose widths do not chain where a stage narrows; here the blocks before the last keep
    the input width and the last one narrows.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return [(in_channels, in_channels, False)] * (depth - 1) + [(in_channels, out_channels, True)]


@keras.saving.register_keras_serializable("keras_gans")
class BigGANDeepGenerator(keras.Model):
    """BigGAN-deep: bottleneck residual blocks, ``depth`` per resolution, one full z for all.

    Layout of ajbrock/BigGAN-PyTorch ``BigGANdeep.py`` ``Generator`` (launch script
    ``scripts/launch_BigGAN_deep.sh``: ``--G_shared --hier``, which the deep forward needs):

    - conditioning (BigGANdeep.py:265-269): ``y = cat(shared_embedding(class), z)``: the whole z,
      not split into chunks, concatenated after the shared class embedding (``--G_shared``, a
      plain, not spectrally normalized ``[num_classes, shared_dim]`` table, BigGANdeep.py:166-168,
      183); the same ``y`` feeds the first linear and every conditional BN (``ccbn`` with bias-free
      SN linears of input size ``shared_dim + dim_z``, BigGANdeep.py:169-178);
    - an SN linear ``y -> 4 x 4 x ch * IN[0]`` (BigGANdeep.py:186, 271-273);
    - per stage, ``depth`` ``GBlock``s (BigGANdeep.py:23-65, 192-200): with ``C_in``, ``C_out``
      the block widths and ``C_h = C_in / 4``::

          h = conv1x1(relu(cbn1(x)))        # C_in -> C_h
          h = relu(cbn2(h))
          x = x[..., :C_out]                # where C_out < C_in: keep the first channels
          h, x = up(h), up(x)               # nearest 2x, last block of the stage only
          h = conv3x3(h)                    # C_h -> C_h
          h = conv3x3(relu(cbn3(h)))        # C_h -> C_h
          h = conv1x1(relu(cbn4(h)))        # C_h -> C_out
          out = h + x                       # no learnable shortcut

      The first ``depth - 1`` blocks keep the stage's input width; the last narrows and upsamples
      (``stage_blocks``);
    - ``SelfAttention`` after the stage whose output side is ``attention`` (BigGANdeep.py:203-205);
    - output (BigGANdeep.py:212-216, 281): BN (affine) - ReLU - SNconv3x3 - tanh.

    All convs, linears and the shared embedding use ``init`` (BigGANdeep.py:243-258); biases
    start at 0.

    Args:
        num_classes: number of classes (class-conditional only).
        resolution: output side: 32, 64, 128 or 256.
        channels: output channels (the official code: 3).
        ch: width multiplier (``--G_ch``: 128 in the launch script).
        depth: blocks per resolution (``--G_depth``: 2).
        dim_z: size of z (``--dim_z 128``).
        shared_dim: size of the shared class embedding (``--shared_dim 128``; 0 = dim_z).
        attention: output side of the stage followed by self-attention (``--G_attn 64``); 0 = none.
        init: "ortho", "N02" or "glorot" (``--G_init ortho``).
        sn_epsilon: spectral-norm epsilon (``--SN_eps 1e-6``).
        bn_epsilon: batch-norm epsilon of the conditional BNs (``--BN_eps 1e-5``); the output BN
            keeps ``layers.bn``'s default 1e-5 (BigGANdeep.py:212, not passed ``BN_eps``).

    Example:
        >>> g = BigGANDeepGenerator(num_classes=1000, resolution=128, ch=128, dim_z=128,
        ...                         shared_dim=128, attention=64)
        >>> images = g([z, class_id])  # [B, 128, 128, 3] in [-1, 1]

    Reference: Brock et al., "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis" (ICLR 2019, arXiv 1809.11096), appendix B; ajbrock/BigGAN-PyTorch BigGANdeep.py.
    """

    def __init__(self, num_classes, resolution=128, channels=3, ch=128, depth=2, dim_z=128,
                 shared_dim=128, attention=64, init="ortho", sn_epsilon=1e-6, bn_epsilon=1e-5,
                 **kwargs):
        if resolution not in DEEP_G_ARCH:
            raise ValueError(f"BigGAN-deep generator resolution must be one of "
                             f"{sorted(DEEP_G_ARCH)}, got {resolution}")
        if num_classes < 1:
            raise ValueError("BigGAN is class-conditional: num_classes must be >= 1")
        biggan_initializer(init)  # validates
        in_mult, out_mult = DEEP_G_ARCH[resolution]
        sides = [8 * 2**i for i in range(len(out_mult))]
        if attention and attention not in sides:
            raise ValueError(f"attention must be 0 or a stage resolution {sides}, got {attention}")
        if (ch * min(in_mult)) % CHANNEL_RATIO:
            raise ValueError(f"ch * {min(in_mult)} must be divisible by {CHANNEL_RATIO} (the "
                             f"bottleneck width), got ch={ch}")
        blocks = [stage_blocks(ch * i, ch * o, depth) for i, o in zip(in_mult, out_mult)]
        embed_dim = shared_dim or dim_z

        sn_conv = functools.partial(biggan_sn_conv, sn_epsilon=sn_epsilon, init=init)

        def cbn(name):
            return ConditionalBatchNorm(spectral_norm=True, epsilon=bn_epsilon,
                                        sn_epsilon=sn_epsilon,
                                        kernel_initializer=biggan_initializer(init), name=name)

        # === Functional Model ===
        z = keras.Input(shape=(dim_z,), name="z")
        class_id = keras.Input(shape=(), dtype="int32", name="class_id")
        shared = keras.layers.Embedding(num_classes, embed_dim,
                                        embeddings_initializer=biggan_initializer(init),
                                        name="shared_embedding")(class_id)
        # BigGANdeep.py:267-268 (hier): z = cat([y, z]); y = z.
        y = keras.layers.Concatenate(name="cond")([shared, z])
        h = SNDense(ch * in_mult[0] * 16, epsilon=sn_epsilon,
                    kernel_initializer=biggan_initializer(init), name="linear")(y)
        h = keras.layers.Reshape((4, 4, ch * in_mult[0]), name="to_4x4")(h)
        for s, (stage, side) in enumerate(zip(blocks, sides)):
            for b, (c_in, c_out, upsample) in enumerate(stage):
                p = f"block{s + 1}_{b + 1}"
                hidden = c_in // CHANNEL_RATIO
                x = h
                h = cbn(f"{p}_cbn1")([h, y])
                h = keras.layers.ReLU(name=f"{p}_relu1")(h)
                h = sn_conv(hidden, 1, f"{p}_conv1")(h)
                h = cbn(f"{p}_cbn2")([h, y])
                h = keras.layers.ReLU(name=f"{p}_relu2")(h)
                if c_out != c_in:  # BigGANdeep.py:54-55: drop channels, keep the first
                    x = x[..., :c_out]
                if upsample:  # h's upsampling is folded into conv2 (SNConv2D resample="up")
                    x = keras.layers.UpSampling2D(2, interpolation="nearest",
                                                  name=f"{p}_shortcut_up")(x)
                h = sn_conv(hidden, 3, f"{p}_conv2", resample="up" if upsample else None)(h)
                h = cbn(f"{p}_cbn3")([h, y])
                h = keras.layers.ReLU(name=f"{p}_relu3")(h)
                h = sn_conv(hidden, 3, f"{p}_conv3")(h)
                h = cbn(f"{p}_cbn4")([h, y])
                h = keras.layers.ReLU(name=f"{p}_relu4")(h)
                h = sn_conv(c_out, 1, f"{p}_conv4")(h)
                h = keras.layers.Add(name=f"{p}_add")([h, x])
            if side == attention:
                h = SelfAttention(sn_epsilon=sn_epsilon, kernel_initializer=biggan_initializer(init),
                                  name=f"attention_{side}")(h)
        h = BatchNorm(momentum=0.9, epsilon=1e-5, name="output_bn")(h)
        h = keras.layers.ReLU(name="output_relu")(h)
        h = sn_conv(channels, 3, "output_conv")(h)
        images = keras.layers.Activation("tanh", dtype="float32", name="images")(h)
        super().__init__(inputs=[z, class_id], outputs=images, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.resolution = resolution
        self.channels = channels
        self.ch = ch
        self.depth = depth
        self.dim_z = dim_z
        self.shared_dim = shared_dim
        self.attention = attention
        self.init = init
        self.sn_epsilon = sn_epsilon
        self.bn_epsilon = bn_epsilon

    @property
    def block_widths(self):
        """``[[(input width, output width, upsamples)] per block] per stage``."""
        in_mult, out_mult = DEEP_G_ARCH[self.resolution]
        return [stage_blocks(self.ch * i, self.ch * o, self.depth) for i, o in zip(in_mult, out_mult)]

    def get_config(self):
        return {"num_classes": self.num_classes, "resolution": self.resolution,
                "channels": self.channels, "ch": self.ch, "depth": self.depth,
                "dim_z": self.dim_z, "shared_dim": self.shared_dim, "attention": self.attention,
                "init": self.init, "sn_epsilon": self.sn_epsilon, "bn_epsilon": self.bn_epsilon,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
