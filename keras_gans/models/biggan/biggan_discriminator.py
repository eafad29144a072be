"""BigGAN projection discriminator, after ajbrock/BigGAN-PyTorch BigGAN.py ``Discriminator``."""

from __future__ import annotations

import functools

import keras

from keras_gans.layers import GlobalSumPooling2D, SelfAttention, SNDense, SNEmbedding
from keras_gans.models.biggan.biggan_generator import biggan_initializer, biggan_sn_conv

# ``D_arch`` (BigGAN.py): block i maps IN[i] -> ch * OUT[i] channels (IN[0] = the image's
# channels), halving the side where DOWN[i]. The official table labels every 32x32 block
# "resolution 16"; ``attention`` here uses the real output sides (16, 8, 8, 8 at 32).
D_ARCH = {
    32: ([4, 4, 4], [4, 4, 4, 4], [True, True, False, False]),
    64: ([1, 2, 4, 8], [1, 2, 4, 8, 16], [True] * 4 + [False]),
    128: ([1, 2, 4, 8, 16], [1, 2, 4, 8, 16, 16], [True] * 5 + [False]),
    256: ([1, 2, 4, 8, 8, 16], [1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False]),
}


@keras.saving.register_keras_serializable("keras_gans")
class BigGANDiscriminator(keras.Model):
    """Residual SN discriminator with a class projection: ``[images, class_id]`` -> one logit.

    Layout of ajbrock/BigGAN-PyTorch BigGAN.py ``Discriminator`` ("wide" D of SA-GAN/BigGAN):

    - residual down-blocks (layers.py ``DBlock``): [ReLU] - SNconv3x3 - ReLU - SNconv3x3 -
      avgpool 2x2; the first block has no pre-activation ReLU (``preactivation=(index > 0)``);
      shortcut: SNconv1x1 (when the channels change or the block downsamples) and avgpool
      (the official code pools first in the first block and convolves first in the others;
      they commute, and both run pool-then-conv here). The pooling is folded into the
      convolutions (``SNConv2D(resample="down")``: conv3x3 + avgpool as one stride-2 4x4
      convolution), the same values up to float32 summation order;
    - ``SelfAttention`` after the first block whose output side is ``attention``;
    - ReLU, global sum pooling -> ``h``; ``logit = linear(h) + <embed(class), h>``, an SN
      linear and an SN class embedding: the projection discriminator.

    Every training-mode call takes one power-iteration step in each SN layer; the ``GAN``
    train step calls D on the real and the fake batch separately (two steps per D update),
    where the official ``G_D`` concatenates them into one call (one step).

    Args:
        num_classes: number of classes (size of the projection embedding).
        resolution: input side: 32, 64, 128 or 256.
        channels: input channels.
        ch: width multiplier (``--D_ch``: 96 for ImageNet 128, default 64).
        attention: output side of the block followed by self-attention (``--D_attn 64``);
            0 = none.
        init: "ortho", "N02" or "glorot" (``--D_init``).
        sn_epsilon: spectral-norm epsilon (``--SN_eps``: 1e-6 ImageNet, 1e-8 default).

    Example:
        >>> d = BigGANDiscriminator(num_classes=1000, resolution=128, ch=96, attention=64)
        >>> logits = d([images, class_id])  # [B, 1] float32

    Reference: Miyato & Koyama, "cGANs with Projection Discriminator" (ICLR 2018,
    arXiv 1802.05637); Brock et al. 2018 (arXiv 1809.11096); ajbrock/BigGAN-PyTorch BigGAN.py.
    """

    def __init__(self, num_classes, resolution=128, channels=3, ch=96, attention=64, init="ortho",
                 sn_epsilon=1e-6, **kwargs):
        if resolution not in D_ARCH:
            raise ValueError(f"BigGAN discriminator resolution must be one of {sorted(D_ARCH)}, got {resolution}")
        if num_classes < 1:
            raise ValueError("BigGAN is class-conditional: num_classes must be >= 1")
        biggan_initializer(init)  # validates
        in_mult, out_mult, down = D_ARCH[resolution]
        sides, side = [], resolution
        for d in down:
            side = side // 2 if d else side
            sides.append(side)
        if attention and attention not in sides:
            raise ValueError(f"attention must be 0 or a block resolution {sorted(set(sides))}, got {attention}")

        sn_conv = functools.partial(biggan_sn_conv, sn_epsilon=sn_epsilon, init=init)

        # === Functional Model ===
        images = keras.Input(shape=(resolution, resolution, channels), name="images")
        class_id = keras.Input(shape=(), dtype="int32", name="class_id")
        h = images
        in_channels = [channels] + [ch * m for m in in_mult]
        attended = False
        for i, (mult, downsample, side) in enumerate(zip(out_mult, down, sides)):
            p = f"block{i + 1}"
            filters = ch * mult
            x = h
            if i > 0:
                h = keras.layers.ReLU(name=f"{p}_relu0")(h)
            h = sn_conv(filters, 3, f"{p}_conv1")(h)  # wide D: hidden width = output width
            h = keras.layers.ReLU(name=f"{p}_relu1")(h)
            # conv2, then 2x2 average pooling when the block downsamples (layers.py L455,
            # DBlock.forward), folded into one convolution (SNConv2D resample="down").
            resample = "down" if downsample else None
            h = sn_conv(filters, 3, f"{p}_conv2", resample=resample)(h)
            learnable = in_channels[i] != filters or downsample
            if learnable:
                # The official shortcut pools first in the first block and convolves first in
                # the others; a 1x1 conv commutes with pooling, so both run pool-then-conv.
                x = sn_conv(filters, 1, f"{p}_shortcut", resample=resample)(x)
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
        self.attention = attention
        self.init = init
        self.sn_epsilon = sn_epsilon

    def get_config(self):
        return {"num_classes": self.num_classes, "resolution": self.resolution,
                "channels": self.channels, "ch": self.ch, "attention": self.attention,
                "init": self.init, "sn_epsilon": self.sn_epsilon, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
