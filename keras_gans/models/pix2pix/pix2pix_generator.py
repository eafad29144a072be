"""BicycleGAN's U-Net generators with a latent code, as MSGAN's Pix2Pix-Mode-Seeking builds them.

HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/networks.py (copied from junyanz/BicycleGAN
models/networks.py): ``G_Unet_add_all`` (lines 615-640) with ``UnetBlock_with_z`` (lines
642-716) tiles z to every level's input; ``G_Unet_add_input`` (lines 393-425) with
``UnetBlock`` (lines 447-507) tiles it to the image input only. ``define_G`` (lines 89-114)
picks them with ``where_add`` "all" (the MSGAN default, options/base_options.py line 50) or
"input".
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_gans.layers.stylegan import InstanceNorm


def official_init():
    """``init_weights(net, 'xavier', gain=0.02)`` (networks.py lines 12-33, the default
    ``--init_type xavier``, base_options.py line 52): conv weights ``xavier_normal_`` with gain
    0.02, i.e. N(0, 0.02^2 * 2 / (fan_in + fan_out)) untruncated; biases 0 (Keras' default)."""
    return keras.initializers.VarianceScaling(scale=0.02 ** 2, mode="fan_avg",
                                              distribution="untruncated_normal")


@keras.saving.register_keras_serializable("keras_gans")
class TileLatent(keras.layers.Layer):
    """z [B, nz] tiled to the spatial size of ``like`` [B, h, w, c] -> [B, h, w, nz]
    (``z.view(B, nz, 1, 1).expand(B, nz, h, w)``, networks.py lines 701 and 419-420)."""

    def call(self, z, like):
        shape = ops.shape(like)
        z = ops.cast(z, self.compute_dtype)
        return ops.broadcast_to(z[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(z)[-1]))

    def compute_output_shape(self, z_shape, like_shape):
        return (like_shape[0], like_shape[1], like_shape[2], z_shape[-1])


def unet_channels(depth: int, ngf: int) -> list[tuple[int, int]]:
    """``(input channels, inner channels)`` of each U-Net level, outermost first, as the
    official constructors chain them: level i reads ``ngf * min(2^(i-1), 8)`` channels (the
    image's at level 0) and its down conv writes ``ngf * min(2^i, 8)``."""
    return [(0 if i == 0 else ngf * min(2 ** (i - 1), 8), ngf * min(2 ** i, 8)) for i in range(depth)]


@keras.saving.register_keras_serializable("keras_gans")
class UNetGenerator(keras.Model):
    """``G([z, condition])``: a U-Net from the condition image to the output, z tiled and
    concatenated (after the level's input, ``cat([x, z_img])``) at every level's input
    (``where_add="all"``) or at the image input only (``"input"``).

    Level i of ``depth = log2(resolution)`` (outermost i = 0, the innermost reaching 1x1):

    - down: LeakyReLU(0.2) (not at level 0), Conv 4x4 stride 2 pad 1 (bias), InstanceNorm (not
      at level 0 nor the innermost);
    - up: ReLU, ConvTranspose 4x4 stride 2 pad 1 (bias) from ``inner`` (innermost) or
      ``2 * inner`` (skip concatenated) channels, then InstanceNorm (not at level 0), Dropout(0.5)
      on the levels whose input has ``8 * ngf`` channels except the innermost when
      ``use_dropout`` (networks.py lines 692-693 / 496-497: the official default is off,
      ``--use_dropout`` store_true, base_options.py line 34); level 0 ends with tanh;
    - the output of level i > 0 is ``cat([up, x])`` (networks.py lines 712, 716).

    Instance norm without affine parameters, eps 1e-5 (``get_norm_layer('instance')``,
    networks.py lines 62-72; ``nn.InstanceNorm2d`` defaults). The official nets are
    ``unet_256`` (8 levels) and ``unet_128`` (7); other powers of two follow the same chaining
    (32x32: 5 levels, 1x1 at the bottleneck as in the official ones).

    Args:
        latent_dim: nz (official 8); 0 = no latent (pix2pix).
        resolution: image side, a power of two >= 4.
        condition_channels: input_nc of the condition image.
        channels: output_nc.
        ngf: generator width (official 64).
        where_add: "all" (G_Unet_add_all) or "input" (G_Unet_add_input).
        use_dropout: dropout 0.5 on the 8*ngf levels (off in MSGAN's runs).
    """

    def __init__(self, latent_dim=8, resolution=256, condition_channels=3, channels=3, ngf=64,
                 where_add="all", use_dropout=False, **kwargs):
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"the U-Net needs a power-of-two resolution >= 4, got {resolution}")
        if where_add not in ("all", "input"):
            raise ValueError(f"where_add must be 'all' or 'input', got {where_add!r}")
        depth = int(math.log2(resolution))
        init = official_init
        # === Functional Model ===
        z = keras.Input(shape=(latent_dim,), name="z")
        condition = keras.Input(shape=(resolution, resolution, condition_channels), name="condition")
        levels = unet_channels(depth, ngf)

        def with_z(x, i):
            if latent_dim == 0 or (where_add == "input" and i > 0):
                return x
            return keras.layers.Concatenate(name=f"z_in_{i}")(
                [x, TileLatent(name=f"tile_z_{i}")(z, x)])

        def level(x, i):
            _, inner = levels[i]
            outer = channels if i == 0 else levels[i][0]
            innermost = i == depth - 1
            h = with_z(x, i)
            if i > 0:
                h = keras.layers.LeakyReLU(0.2, name=f"down_lrelu_{i}")(h)
            h = keras.layers.ZeroPadding2D(1, name=f"down_pad_{i}")(h)
            h = keras.layers.Conv2D(inner, 4, strides=2, kernel_initializer=init(),
                                    name=f"down_conv_{i}")(h)
            if 0 < i < depth - 1:
                h = InstanceNorm(1e-5, name=f"down_norm_{i}")(h)
            if not innermost:
                h = level(h, i + 1)
            h = keras.layers.ReLU(name=f"up_relu_{i}")(h)
            h = keras.layers.Conv2DTranspose(outer, 4, strides=2, padding="same",
                                             kernel_initializer=init(), name=f"up_conv_{i}")(h)
            if i == 0:
                return keras.layers.Activation("tanh", dtype="float32", name="images")(h)
            h = InstanceNorm(1e-5, name=f"up_norm_{i}")(h)
            if use_dropout and levels[i][0] == 8 * ngf and not innermost:
                h = keras.layers.Dropout(0.5, name=f"dropout_{i}")(h)
            return keras.layers.Concatenate(name=f"skip_{i}")([h, x])

        images = level(condition, 0)
        super().__init__(inputs=[z, condition], outputs=images, **kwargs)
        # === Config ===
        self.latent_dim = latent_dim
        self.resolution = resolution
        self.condition_channels = condition_channels
        self.channels = channels
        self.ngf = ngf
        self.where_add = where_add
        self.use_dropout = use_dropout

    def get_config(self):
        return {"latent_dim": self.latent_dim, "resolution": self.resolution,
                "condition_channels": self.condition_channels, "channels": self.channels,
                "ngf": self.ngf, "where_add": self.where_add, "use_dropout": self.use_dropout,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
