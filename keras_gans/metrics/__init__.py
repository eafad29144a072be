"""Evaluation metrics for trained GANs.

- ``diversity``: mean pairwise distance among samples, per class (MSGAN's diversity protocol,
  Mao et al. 2019, arXiv 1903.05628): LPIPS, or pixel space, or a classifier's feature space.
- ``lpips``: LPIPS v0.1 (Zhang et al. 2018; AlexNet / VGG16) as a Keras model;
  ``convert_lpips`` ports a torchvision backbone file plus the ``lpips`` package's linear heads
  (torch needed only there).
- ``classifier``: a small CNN trained on a prepared labelled dataset: accuracy of conditional
  samples (is the requested class produced) and penultimate features for ``diversity``.
- ``scores``: FID, KID, IS, precision/recall, density/coverage, NDB/JSD on feature arrays
  (numpy / scipy / scikit-learn; no TensorFlow).
- ``inception``: the FID Inception (TF inception-2015-12-05) as a Keras model;
  ``convert_inception`` ports its weights (torch needed only there).
- ``evaluate``: ``keras-gans evaluate``: feature networks, cached reference statistics, the
  metric registry by name (``fid50k``, ``kid10k``, ..., ``lpips2k``).
"""

from keras_gans.metrics.classifier import (
    build_classifier,
    classifier_accuracy,
    evaluate_split,
    load_split,
    penultimate_features,
    predict_classes,
    train_classifier,
)
from keras_gans.metrics.diversity import (
    array_sample_fn,
    fixed_latents,
    gan_sample_fn,
    mean_pairwise_distance,
    per_class_diversity,
)

__all__ = [
    "array_sample_fn", "build_classifier", "classifier_accuracy", "evaluate_split",
    "fixed_latents", "gan_sample_fn", "load_split", "mean_pairwise_distance",
    "per_class_diversity", "penultimate_features", "predict_classes", "train_classifier",
]
