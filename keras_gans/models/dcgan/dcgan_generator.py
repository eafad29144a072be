"""DCGAN generator (Radford et al. 2015, arXiv 1511.06434), as in MSGAN's CDCGAN baseline."""

from __future__ import annotations

import math

import keras

from keras_gans.layers import BatchNorm
from keras_gans.models.dcgan.dcgan_discriminator import _check_resolution


@keras.saving.register_keras_serializable("keras_gans")
class DCGANGenerator(keras.Model):
    """Transposed-conv generator: z [+ one-hot class] -> 4x4 -> ... -> resolution, tanh.

    Layout of HelenMao/MSGAN DCGAN-Mode-Seeking/networks.py ``generator`` (d=128 at 32x32):
    ConvTranspose 4x4 (valid) to 4x4x4d, then stride-2 4x4 transposed convs halving the
    channels, BatchNorm + ReLU after each but the last, tanh output; the class enters as a
    one-hot vector concatenated to z; conv weights N(0, 0.02) (``gaussian_weights_init``).

    Args:
        latent_dim: size of z (MSGAN: nz=100).
        resolution: output side, a power of two >= 8.
        channels: output channels (1 or 3).
        base_filters: d, the width of the last hidden block (MSGAN: 128).
        num_classes: > 0 adds the ``class_id`` input (one-hot concatenated to z).
        bn_momentum, bn_epsilon: the batch norms' moving-statistics momentum (Keras convention:
            PyTorch's ``nn.BatchNorm2d`` momentum 0.1 is 0.9) and epsilon. Defaults: Keras'
            (0.99, 1e-3); MSGAN's presets use PyTorch's (0.9, 1e-5), as networks.py:13-19
            ``nn.BatchNorm2d(...)`` with its defaults. Keras updates the moving variance with
            the biased batch variance (PyTorch: unbiased, a factor n / (n - 1), n = B*H*W):
            inference differs negligibly, training not at all.

    Example:
        >>> g = DCGANGenerator(latent_dim=100, resolution=32, channels=3, num_classes=10)
        >>> images = g([z, class_id])  # [B, 32, 32, 3] in [-1, 1]
    """

    def __init__(self, latent_dim=100, resolution=32, channels=3, base_filters=128,
                 num_classes=0, bn_momentum=0.99, bn_epsilon=1e-3, **kwargs):
        _check_resolution(resolution)
        bn = dict(momentum=float(bn_momentum), epsilon=float(bn_epsilon))
        # === Functional Model ===
        z = keras.Input(shape=(latent_dim,), name="z")
        inputs = [z]
        x = z
        if num_classes:
            class_id = keras.Input(shape=(), dtype="int32", name="class_id")
            inputs.append(class_id)
            x = keras.layers.Concatenate(name="z_and_class")(
                [z, keras.ops.one_hot(class_id, num_classes)])
        init = keras.initializers.RandomNormal(0.0, 0.02)
        blocks = int(math.log2(resolution)) - 2
        x = keras.layers.Reshape((1, 1, -1), name="to_1x1")(x)
        filters = base_filters * 2 ** (blocks - 1)
        x = keras.layers.Conv2DTranspose(filters, 4, padding="valid", kernel_initializer=init,
                                         name="deconv_4x4")(x)
        x = BatchNorm(**bn, name="bn_4x4")(x)
        x = keras.layers.ReLU(name="relu_4x4")(x)
        for i in range(1, blocks):
            size = 4 * 2**i
            filters = base_filters * 2 ** (blocks - 1 - i)
            x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                             kernel_initializer=init, name=f"deconv_{size}")(x)
            x = BatchNorm(**bn, name=f"bn_{size}")(x)
            x = keras.layers.ReLU(name=f"relu_{size}")(x)
        x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                         kernel_initializer=init, name=f"deconv_{resolution}")(x)
        images = keras.layers.Activation("tanh", dtype="float32", name="images")(x)
        super().__init__(inputs=inputs if num_classes else z, outputs=images, **kwargs)
        # === Config ===
        self.latent_dim = latent_dim
        self.resolution = resolution
        self.channels = channels
        self.base_filters = base_filters
        self.num_classes = num_classes
        self.bn_momentum = bn["momentum"]
        self.bn_epsilon = bn["epsilon"]

    def get_config(self):
        return {"latent_dim": self.latent_dim, "resolution": self.resolution,
                "channels": self.channels, "base_filters": self.base_filters,
                "num_classes": self.num_classes, "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
