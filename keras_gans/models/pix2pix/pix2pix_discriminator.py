"""Multi-scale PatchGAN discriminators on ``concat(condition, image)``, as MSGAN's Pix2Pix-MS.

HelenMao/MSGAN Pix2Pix-Mode-Seeking/models/networks.py ``D_NLayersMulti`` (lines 192-259,
from junyanz/BicycleGAN models/networks.py), ``define_D(netD='basic_256_multi', num_Ds=2)``
(lines 117-139; options/base_options.py lines 39-43: num_Ds 2, n_layers_D 3), fed
``torch.cat((real_A, fake_B), 1)`` (pix2pix_model.py lines 88-91).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_gans.layers.stylegan import InstanceNorm
from keras_gans.models.pix2pix.pix2pix_generator import official_init


@keras.saving.register_keras_serializable("keras_gans")
class AvgPoolExcludePad(keras.layers.Layer):
    """``nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`` (networks.py lines
    207-208): 3x3 windows every 2 pixels starting one pixel before the image, each averaged
    over its pixels inside the image. (Keras' "same" pooling starts at the first pixel and
    would shift the half-scale image by one pixel.)"""

    def call(self, x):
        pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
        total = ops.average_pool(ops.pad(x, pad), 3, 2, padding="valid") * 9.0
        ones = ops.ones_like(x[..., :1])
        count = ops.average_pool(ops.pad(ones, pad), 3, 2, padding="valid") * 9.0
        return total / count

    def compute_output_shape(self, shape):
        half = lambda n: None if n is None else (n - 1) // 2 + 1  # noqa: E731
        return (shape[0], half(shape[1]), half(shape[2]), shape[3])


def patch_layers(x, ndf: int, n_layers: int, prefix: str):
    """``D_NLayersMulti.get_layers`` (lines 215-248): Conv 4x4 s2 + LeakyReLU(0.2); n_layers - 1
    x (Conv 4x4 s2, InstanceNorm, LeakyReLU) doubling to at most 8 * ndf; Conv 4x4 s1 to
    ``ndf * min(2^n_layers, 8)``, InstanceNorm, LeakyReLU; Conv 4x4 s1 to one channel. Every
    conv pads 1 and has a bias; no sigmoid (LSGAN)."""
    init = official_init

    def conv(h, filters, stride, name):
        h = keras.layers.ZeroPadding2D(1, name=f"{prefix}_pad_{name}")(h)
        return keras.layers.Conv2D(filters, 4, strides=stride, kernel_initializer=init(),
                                   name=f"{prefix}_conv_{name}")(h)

    h = keras.layers.LeakyReLU(0.2, name=f"{prefix}_lrelu_0")(conv(x, ndf, 2, "0"))
    mult = 1
    for n in range(1, n_layers):
        mult = min(2 ** n, 8)
        h = conv(h, ndf * mult, 2, str(n))
        h = InstanceNorm(1e-5, name=f"{prefix}_norm_{n}")(h)
        h = keras.layers.LeakyReLU(0.2, name=f"{prefix}_lrelu_{n}")(h)
    h = conv(h, ndf * min(2 ** n_layers, 8), 1, str(n_layers))
    h = InstanceNorm(1e-5, name=f"{prefix}_norm_{n_layers}")(h)
    h = keras.layers.LeakyReLU(0.2, name=f"{prefix}_lrelu_{n_layers}")(h)
    h = conv(h, 1, 1, "out")
    return keras.layers.Activation("linear", dtype="float32", name=f"{prefix}_logits")(h)


def patch_size(resolution: int, n_layers: int) -> int:
    """The side of a PatchGAN's output map on a ``resolution`` input (0: too small)."""
    r = resolution
    for _ in range(n_layers):
        r = (r + 2 - 4) // 2 + 1
    return max(r - 2, 0)  # two stride-1 4x4 convs with pad 1


@keras.saving.register_keras_serializable("keras_gans")
class MultiPatchDiscriminator(keras.Model):
    """``D([image, condition])`` -> ``[patch logits at full scale, at half scale, ...]``.

    The input is ``concat(condition, image)`` (A first, pix2pix_model.py lines 88-91); D k
    sees it average-pooled k times (``AvgPoolExcludePad``) and has width
    ``round(ndf / 2^k)`` (networks.py line 210). The adversarial loss averages each map over
    its positions and sums the discriminators (``GANLoss.__call__``, lines 379-386).

    Args:
        resolution: image side.
        channels, condition_channels: output_nc and input_nc (D reads their sum).
        ndf: width of the first discriminator (official 64).
        n_layers: ``n_layers_D`` (official 3; ``basic_128_multi`` uses 2).
        num_ds: number of discriminators (official ``num_Ds`` 2).
    """

    def __init__(self, resolution=256, channels=3, condition_channels=3, ndf=64, n_layers=3,
                 num_ds=2, **kwargs):
        if num_ds < 1 or n_layers < 1:
            raise ValueError(f"num_ds and n_layers must be >= 1, got {num_ds}, {n_layers}")
        smallest = resolution // 2 ** (num_ds - 1)
        if patch_size(smallest, n_layers) < 1:
            raise ValueError(
                f"a {n_layers}-layer PatchGAN on the {smallest}x{smallest} input of discriminator "
                f"{num_ds} has no output left; use fewer layers (n_layers) or discriminators "
                f"(num_ds), or a larger resolution")
        # === Functional Model ===
        image = keras.Input(shape=(resolution, resolution, channels), name="images")
        condition = keras.Input(shape=(resolution, resolution, condition_channels), name="condition")
        x = keras.layers.Concatenate(name="condition_and_image")([condition, image])
        outputs = []
        for k in range(num_ds):
            if k:
                x = AvgPoolExcludePad(name=f"down_{k}")(x)
            outputs.append(patch_layers(x, int(round(ndf / 2 ** k)), n_layers, f"d{k}"))
        super().__init__(inputs=[image, condition], outputs=outputs, **kwargs)
        # === Config ===
        self.resolution = resolution
        self.channels = channels
        self.condition_channels = condition_channels
        self.ndf = ndf
        self.n_layers = n_layers
        self.num_ds = num_ds

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "condition_channels": self.condition_channels, "ndf": self.ndf,
                "n_layers": self.n_layers, "num_ds": self.num_ds, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
