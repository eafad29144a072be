"""``keras-gans prepare``: an image set -> validated, resized, sharded TFRecords + dataset.json,
with Apache Beam (``pipelines.prepare.prepare``). Every flag is a ``PrepareOptions`` field (its
default is the dataclass's); any other ``--option`` goes to Beam untouched.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

HELP = "image folder / TFDS / bundled data -> sharded TFRecords + dataset.json (Apache Beam)"
FORMATTER = argparse.ArgumentDefaultsHelpFormatter
PASS_UNKNOWN = True  # Beam's pipeline options (--runner=DataflowRunner --project=P ...)

_HELP = {
    "source": "folder or glob of images (local, gs://, s3://...), mnist, fashion_mnist[:train|test], "
              "tfds:NAME[:SPLIT], or the bundled pairs edges2digits, edges2fashion[:train|test]; "
              "with --pairs a folder of paired images",
    "out": "output folder (local or any Beam filesystem URL)",
    "resolution": "output side in pixels",
    "channels": "3 = RGB, 1 = grayscale; default 1 for mnist/fashion_mnist/edges2*, else 3 (paired "
                "sources: the target image's)",
    "labels": "none | folders (sub-folder names) | FILE (CSV `path,label` or JSON {path: label}); "
              "auto = the dataset's own labels for bundled/TFDS sources, none for files",
    "crop": "make images square by center-cropping or by padding with black",
    "encoding": "raw uint8 (fastest to read) or PNG (smaller)",
    "resize_filter": "resampling filter (antialiased when downscaling)",
    "compression": "TFRecord compression",
    "shards": "shards of the train split",
    "val_shards": "shards of the validation split",
    "val_fraction": "fraction of inputs (by key hash) in the validation split; 0 = none",
    "min_size": "reject inputs smaller than this side",
    "max_pixels": "reject inputs with more pixels (decompression-bomb guard)",
    "max_aspect": "reject inputs more elongated than this",
    "tfds_data_dir": "TFDS data_dir for tfds: sources",
    "pairs": "paired images for image-to-image models: ab (pix2pix's A|B side by side in one file, "
             "width = 2 x height) or folders (SOURCE/A/ and SOURCE/B/ matched by relative path)",
    "direction": "paired sources: AtoB (A is the condition, B the target; default) or BtoA",
    "condition_channels": "paired sources: channels of the condition image; default 1 for "
                          "edges2*, else 3",
    "workers": "local worker processes (local runner only; >1 uses multi_processing)",
    "overwrite": "replace an existing dataset in --out (only our files are touched)",
    "skip_if_unchanged": "exit 0 without work when --out holds a dataset with the same input "
                         "fingerprint (for scheduled runs)",
}


def add_arguments(parser) -> None:
    from pipelines.prepare import PrepareOptions

    parser.description = (
        f"{HELP}. Any other --option is passed to Beam untouched (e.g. --runner=DataflowRunner "
        "--project=P --region=R --temp_location=gs://B/tmp --setup_file=./setup.py).")
    for field in dataclasses.fields(PrepareOptions):
        flag = "--" + field.name.replace("_", "-")
        kw = {"help": _HELP[field.name]}
        if field.default is dataclasses.MISSING:
            kw["required"] = True
        else:
            kw["default"] = field.default
        if isinstance(field.default, bool):
            kw["action"] = "store_true"
        elif field.name in PrepareOptions.CHOICES:
            kw["choices"] = [c for c in PrepareOptions.CHOICES[field.name] if c is not None]
            kw["type"] = type(kw["choices"][0])
        elif field.name in ("resolution",) + PrepareOptions.POSITIVE:
            kw["type"] = int
        elif field.name in ("val_fraction", "max_aspect"):
            kw["type"] = float
        parser.add_argument(flag, **kw)
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")


def run(args) -> int:
    from pipelines.prepare import PrepareOptions, prepare, summary

    if not args.quiet:
        logging.getLogger().setLevel(logging.WARNING)
    options = PrepareOptions.from_namespace(args)
    result = prepare(options, args.extra, log=(lambda *_: None) if args.quiet else print)
    print(summary(result))
    return 0
