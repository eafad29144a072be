"""DCGAN discriminator (Radford et al. 2015), as in MSGAN's CDCGAN baseline."""

from __future__ import annotations

import math

import keras

from keras_gans.layers import BatchNorm


def _check_resolution(resolution):
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"DCGAN resolution must be a power of two >= 8, got {resolution}")


@keras.saving.register_keras_serializable("keras_gans")
class ClassMaps(keras.layers.Layer):
    """Class ids [B] -> one-hot maps [B, size, size, num_classes] (conditional DCGAN input)."""

    def __init__(self, num_classes, size, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.size = size

    def call(self, class_id):
        onehot = keras.ops.one_hot(keras.ops.cast(class_id, "int32"), self.num_classes)
        onehot = keras.ops.cast(onehot, self.compute_dtype)
        return keras.ops.broadcast_to(onehot[:, None, None, :], (
            keras.ops.shape(class_id)[0], self.size, self.size, self.num_classes))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "size": self.size}


@keras.saving.register_keras_serializable("keras_gans")
class DCGANDiscriminator(keras.Model):
    """Strided-conv discriminator: image [+ class maps] -> 4x4 -> one logit.

    Layout of HelenMao/MSGAN DCGAN-Mode-Seeking/networks.py ``discriminator`` (d=128 at
    32x32): 4x4 stride-2 convs doubling the channels, LeakyReLU(0.2), BatchNorm on all but the
    first, then a 4x4 valid conv to one output. The official model ends in a sigmoid trained
    with BCE; we output the logit and use the equivalent (numerically stabler) non-saturating
    logistic loss. Conditional: the one-hot class is broadcast to HxW maps and concatenated to
    the image channels.

    Args:
        resolution: input side, a power of two >= 8.
        channels: input channels.
        base_filters: d, the width of the first block (MSGAN: 128).
        num_classes: > 0 adds the ``class_id`` input.
        bn_momentum, bn_epsilon: the batch norms' momentum (Keras convention) and epsilon;
            Keras' defaults, PyTorch's (0.9, 1e-5) in MSGAN's presets (networks.py:48,51).
    """

    def __init__(self, resolution=32, channels=3, base_filters=128, num_classes=0,
                 bn_momentum=0.99, bn_epsilon=1e-3, **kwargs):
        _check_resolution(resolution)
        bn = dict(momentum=float(bn_momentum), epsilon=float(bn_epsilon))
        # === Functional Model ===
        images = keras.Input(shape=(resolution, resolution, channels), name="images")
        inputs = [images]
        x = images
        if num_classes:
            class_id = keras.Input(shape=(), dtype="int32", name="class_id")
            inputs.append(class_id)
            maps = ClassMaps(num_classes, resolution, name="class_maps")(class_id)
            x = keras.layers.Concatenate(name="image_and_class")([x, maps])
        init = keras.initializers.RandomNormal(0.0, 0.02)
        blocks = int(math.log2(resolution)) - 2
        for i in range(blocks):
            size = resolution // 2 ** (i + 1)
            x = keras.layers.Conv2D(base_filters * 2**i, 4, strides=2, padding="same",
                                    kernel_initializer=init, name=f"conv_{size}")(x)
            if i:
                x = BatchNorm(**bn, name=f"bn_{size}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"lrelu_{size}")(x)
        x = keras.layers.Conv2D(1, 4, padding="valid", kernel_initializer=init, name="conv_out")(x)
        logits = keras.layers.Reshape((1,), dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs if num_classes else images, outputs=logits, **kwargs)
        # === Config ===
        self.resolution = resolution
        self.channels = channels
        self.base_filters = base_filters
        self.num_classes = num_classes
        self.bn_momentum = bn["momentum"]
        self.bn_epsilon = bn["epsilon"]

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels,
                "base_filters": self.base_filters, "num_classes": self.num_classes,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
