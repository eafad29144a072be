"""Evaluation metrics for trained GANs. A leaf package: it imports nothing from training or
serving, and importing it imports no TensorFlow (each module imports what it needs).

- ``specs``: metric names (``fid50k``, ``kid10k``, ..., ``lpips2k``) and how a best checkpoint
  is chosen by them.
- ``scores``: FID, KID, IS, precision/recall, density/coverage, NDB/JSD on feature arrays
  (numpy / scipy / scikit-learn; no TensorFlow).
- ``features``: the feature networks (FID Inception, the digit classifier) and LPIPS pairs.
- ``evaluate``: scores of a sampler against a prepared dataset, cached reference statistics.
- ``diversity``: mean pairwise distance among samples, per class (MSGAN's diversity protocol,
  Mao et al. 2019, arXiv 1903.05628): LPIPS, or pixel space, or a classifier's feature space.
- ``lpips``: LPIPS v0.1 (Zhang et al. 2018; AlexNet / VGG16) as a Keras model;
  ``convert_lpips`` ports a torchvision backbone file plus the ``lpips`` package's linear heads
  (torch needed only there).
- ``classifier``: a small CNN trained on a prepared labelled dataset: accuracy of conditional
  samples (is the requested class produced) and penultimate features for ``diversity``.
- ``inception``: the FID Inception (TF inception-2015-12-05) as a Keras model;
  ``convert_inception`` ports its weights (torch needed only there).
"""
