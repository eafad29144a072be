"""BigGAN-deep projection discriminator, after ajbrock/BigGAN-PyTorch ``BigGANdeep.py``
``Discriminator`` and ``DBlock``."""

from __future__ import annotations

import functools

import keras

from keras_gans.layers import GlobalSumPooling2D, SelfAttention, SNDense, SNEmbedding
from keras_gans.models.biggan.biggan_deep_generator import CHANNEL_RATIO
from keras_gans.models.biggan.biggan_generator import biggan_initializer, biggan_sn_conv

# ``D_arch`` (BigGANdeep.py:331-357): stage i maps ch * IN[i] -> ch * OUT[i] channels, halving
# the side where DOWN[i]; the stem conv maps the image to ch * IN[0]. The official table labels
# every 32x32 stage "resolution 16"; ``attention`` here uses the real output sides (16, 8, 8).
DEEP_D_ARCH = {
    32: ([4, 4, 4], [4, 4, 4], [True, True, False]),
    64: ([1, 2, 4, 8], [2, 4, 8, 16], [True] * 4),
    128: ([1, 2, 4, 8, 16], [2, 4, 8, 16, 16], [True] * 5),
    256: ([1, 2, 4, 8, 8, 16], [2, 4, 8, 8, 16, 16], [True] * 6),
}


def stage_blocks(in_channels, out_channels, depth, downsample):
    """``[(block input width, block output width, downsamples)]`` of one stage of D.

    BigGANdeep.py:417-425: ``D_depth`` blocks; the first maps the stage's input width to its
    output width and downsamples (``d_index == 0``), the others keep the output width.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return [(in_channels, out_channels, downsample)] + [(out_channels, out_channels, False)] * (depth - 1)


@keras.saving.register_keras_serializable("keras_gans")
class BigGANDeepDiscriminator(keras.Model):
    """BigGAN-deep D: a stem conv, bottleneck residual down-blocks, class projection.

    Layout of ajbrock/BigGAN-PyTorch ``BigGANdeep.py`` ``Discriminator``:

    - stem (BigGANdeep.py:413, 477): SNconv3x3 ``channels -> ch * IN[0]``;
    - per stage, ``depth`` ``DBlock``s (BigGANdeep.py:283-328, 417-425): with ``C_in``, ``C_out``
      the block widths and ``C_h = C_out / 4``::

          h = conv1x1(relu(x))              # C_in -> C_h (always pre-activated)
          h = conv3x3(relu(h))              # C_h -> C_h
          h = conv3x3(relu(h))              # C_h -> C_h
          h = avgpool2(relu(h))             # first block of the stage only
          h = conv1x1(h)                    # C_h -> C_out
          x = avgpool2(x)                   # first block of the stage only
          x = cat(x, conv1x1(x))            # where C_out > C_in: C_in -> C_out - C_in extra
          out = h + x

      so the shortcut is the identity (plus pooling) except where the width grows, and there the
      input channels pass unchanged beside the 1x1 conv's new ones (BigGANdeep.py:304-313);
    - ``SelfAttention`` after the first stage whose output side is ``attention``
      (BigGANdeep.py:427-430);
    - ReLU, global sum pooling -> ``h``; ``logit = linear(h) + <embed(class), h>`` with an SN
      linear and an SN class embedding (BigGANdeep.py:435-437, 483-488).

    Args:
        num_classes: number of classes (size of the projection embedding).
        resolution: input side: 32, 64, 128 or 256.
        channels: input channels (the official code: 3).
        ch: width multiplier (``--D_ch``: 128 in the launch script).
        depth: blocks per resolution (``--D_depth``: 2).
        attention: output side of the stage followed by self-attention (``--D_attn 64``); 0 = none.
        init: "ortho", "N02" or "glorot" (``--D_init ortho``).
        sn_epsilon: spectral-norm epsilon (``--SN_eps 1e-6``).

    Example:
        >>> d = BigGANDeepDiscriminator(num_classes=1000, resolution=128, ch=128, attention=64)
        >>> logits = d([images, class_id])  # [B, 1] float32

    Reference: Brock et al. 2018 (arXiv 1809.11096), appendix B; Miyato & Koyama, "cGANs with
    Projection Discriminator" (ICLR 2018); ajbrock/BigGAN-PyTorch BigGANdeep.py.
    """

    def __init__(self, num_classes, resolution=128, channels=3, ch=128, depth=2, attention=64,
                 init="ortho", sn_epsilon=1e-6, **kwargs):
        if resolution not in DEEP_D_ARCH:
            raise ValueError(f"BigGAN-deep discriminator resolution must be one of "
                             f"{sorted(DEEP_D_ARCH)}, got {resolution}")
        if num_classes < 1:
            raise ValueError("BigGAN is class-conditional: num_classes must be >= 1")
        biggan_initializer(init)  # validates
        in_mult, out_mult, down = DEEP_D_ARCH[resolution]
        sides, side = [], resolution
        for d in down:
            side = side // 2 if d else side
            sides.append(side)
        if attention and attention not in sides:
            raise ValueError(f"attention must be 0 or a stage resolution {sorted(set(sides))}, "
                             f"got {attention}")
        if (ch * min(out_mult)) % CHANNEL_RATIO:
            raise ValueError(f"ch * {min(out_mult)} must be divisible by {CHANNEL_RATIO} (the "
                             f"bottleneck width), got ch={ch}")
        blocks = [stage_blocks(ch * i, ch * o, depth, d) for i, o, d in zip(in_mult, out_mult, down)]

        sn_conv = functools.partial(biggan_sn_conv, sn_epsilon=sn_epsilon, init=init)

        # === Functional Model ===
        images = keras.Input(shape=(resolution, resolution, channels), name="images")
        class_id = keras.Input(shape=(), dtype="int32", name="class_id")
        h = sn_conv(ch * in_mult[0], 3, "input_conv")(images)
        attended = False
        for s, (stage, side) in enumerate(zip(blocks, sides)):
            for b, (c_in, c_out, downsample) in enumerate(stage):
                p = f"block{s + 1}_{b + 1}"
                hidden = c_out // CHANNEL_RATIO
                x = h
                h = keras.layers.ReLU(name=f"{p}_relu1")(h)
                h = sn_conv(hidden, 1, f"{p}_conv1")(h)
                h = keras.layers.ReLU(name=f"{p}_relu2")(h)
                h = sn_conv(hidden, 3, f"{p}_conv2")(h)
                h = keras.layers.ReLU(name=f"{p}_relu3")(h)
                h = sn_conv(hidden, 3, f"{p}_conv3")(h)
                h = keras.layers.ReLU(name=f"{p}_relu4")(h)
                if downsample:
                    h = keras.layers.AveragePooling2D(2, name=f"{p}_pool")(h)
                h = sn_conv(c_out, 1, f"{p}_conv4")(h)
                if downsample:
                    x = keras.layers.AveragePooling2D(2, name=f"{p}_shortcut_pool")(x)
                if c_out != c_in:  # BigGANdeep.py:304-306, 312: cat([x, conv_sc(x)])
                    extra = sn_conv(c_out - c_in, 1, f"{p}_shortcut")(x)
                    x = keras.layers.Concatenate(name=f"{p}_shortcut_concat")([x, extra])
                h = keras.layers.Add(name=f"{p}_add")([h, x])
            if side == attention and not attended:
                attended = True
                h = SelfAttention(sn_epsilon=sn_epsilon, kernel_initializer=biggan_initializer(init),
                                  name=f"attention_{side}")(h)
        h = keras.layers.ReLU(name="output_relu")(h)
        h = GlobalSumPooling2D(name="sum_pool")(h)
        unconditional = SNDense(1, epsilon=sn_epsilon, kernel_initializer=biggan_initializer(init),
                                name="linear")(h)
        embedding = SNEmbedding(num_classes, ch * out_mult[-1], epsilon=sn_epsilon,
                                embeddings_initializer=biggan_initializer(init),
                                name="embedding")(class_id)
        projection = keras.ops.sum(embedding * h, axis=-1, keepdims=True)
        logits = keras.layers.Add(dtype="float32", name="logits")([unconditional, projection])
        super().__init__(inputs=[images, class_id], outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.resolution = resolution
        self.channels = channels
        self.ch = ch
        self.depth = depth
        self.attention = attention
        self.init = init
        self.sn_epsilon = sn_epsilon

    @property
    def block_widths(self):
        """``[[(input width, output width, downsamples)] per block] per stage``."""
        in_mult, out_mult, down = DEEP_D_ARCH[self.resolution]
        return [stage_blocks(self.ch * i, self.ch * o, self.depth, d)
                for i, o, d in zip(in_mult, out_mult, down)]

    def get_config(self):
        return {"num_classes": self.num_classes, "resolution": self.resolution,
                "channels": self.channels, "ch": self.ch, "depth": self.depth,
                "attention": self.attention, "init": self.init, "sn_epsilon": self.sn_epsilon,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
