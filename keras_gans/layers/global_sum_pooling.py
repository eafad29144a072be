"""Global sum pooling (SN-GAN / BigGAN discriminators)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable("keras_gans")
class GlobalSumPooling2D(keras.layers.Layer):
    """``[B, H, W, C] -> [B, C]``, the sum over positions (not the mean).

    BigGAN's discriminator sums its last ReLU features over the image ("global sum pooling as in
    SN-GAN", ajbrock/BigGAN-PyTorch BigGAN.py ``Discriminator.forward``) before the linear output
    and the class projection.

    Example:
        >>> h = GlobalSumPooling2D(name="sum_pool")(h)  # [B, C]

    Reference: Miyato et al., "Spectral Normalization for GANs" (arXiv 1802.05957).
    """

    def call(self, inputs):
        return ops.sum(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
