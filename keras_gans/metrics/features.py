"""Feature networks of the metrics (``FeatureNet``) and the LPIPS pair distance (``PairNet``).

- ``inception``: the TF inception-2015-12-05 FID network (``keras_gans.metrics.inception``).
- ``digits``: the penultimate layer of the small digit classifier trained on the data's train
  split (``keras_gans.metrics.classifier``): CPU-cheap, never comparable with published numbers.
- LPIPS v0.1 (``keras_gans.metrics.lpips``) for MSGAN's diversity protocol.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from keras_gans.errors import UsageError
from keras_gans.image_grid import from_uint8

FEATURE_NETS = ("inception", "digits")
LPIPS_NETS = ("alex", "vgg")


@dataclasses.dataclass
class FeatureNet:
    """``features(uint8 NHWC) -> {"pool": [N, D], "logits": [N, C] or missing}``."""

    name: str
    resize: str
    describe: str
    features: Callable[[np.ndarray], dict]
    has_logits: bool
    batch_size: int = 50


def inception_net(weights: str | None = None, resize: str = "clean", batch_size: int = 50) -> FeatureNet:
    from keras_gans.metrics import inception

    if resize not in inception.RESIZERS:
        raise UsageError(f"--resize must be one of {sorted(inception.RESIZERS)}, got {resize!r}")
    model = inception.load_fid_inception(weights)
    has_logits = isinstance(model.output, dict) and "logits" in model.output

    def features(images):
        out = model(inception.preprocess(images, resize), training=False)
        return {k: np.asarray(v, np.float64) for k, v in out.items()}

    return FeatureNet("inception-2015-12-05", resize, inception.RESIZERS[resize], features,
                      has_logits, batch_size)


def digits_net(data_dir: str, seed: int = 0, batch_size: int = 250) -> FeatureNet:
    import keras

    from keras_gans.metrics import classifier

    model = classifier.train_classifier(data_dir, seed=seed)
    both = keras.Model(model.inputs, {"pool": model.get_layer(classifier.FEATURES_LAYER).output,
                                      "logits": model.output})

    def features(images):
        x = from_uint8(images)
        out = both([x], training=False)
        return {k: np.asarray(v, np.float64) for k, v in out.items()}

    return FeatureNet(f"digits-classifier-seed{seed}", "none", "none: the data's resolution",
                      features, True, batch_size)


@dataclasses.dataclass
class PairNet:
    """``distance(a, b) -> [n]``: a perceptual distance of image pairs (uint8 NHWC batches)."""

    name: str
    net: str
    weights: str
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray]
    batch_size: int = 50


def make_lpips_net(net: str = "alex", weights: str | None = None, batch_size: int = 50) -> PairNet:
    """LPIPS v0.1 (``keras_gans.metrics.lpips``) with converted weights (default: the cache);
    ``UsageError`` naming the conversion recipe when they are missing."""
    from keras_gans.metrics import lpips

    if net not in LPIPS_NETS:
        raise UsageError(f"--lpips-net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    path = os.path.abspath(os.path.expanduser(weights)) if weights else lpips.default_weights_path(net)
    model = lpips.load_lpips(net, path)

    def distance(a, b):
        return lpips.lpips_distance(a, b, model, batch_size=batch_size)

    return PairNet(f"lpips-{net}-v{lpips.VERSION}", net, path, distance, batch_size)


def make_feature_net(feature_net: str, data_dir: str, weights: str | None = None,
                     resize: str = "clean", batch_size: int | None = None) -> FeatureNet:
    if feature_net == "inception":
        # Peak RSS on CPU (measured): 2.2 GB at batch 10, 7.5 GB at batch 50 (1.4x the img/s).
        return inception_net(weights, resize, batch_size or 50)
    if feature_net == "digits":
        return digits_net(data_dir, seed=0)
    raise UsageError(f"--feature-net must be one of {FEATURE_NETS}, got {feature_net!r}")
