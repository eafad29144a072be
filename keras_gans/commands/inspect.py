"""``keras-gans inspect DATA_DIR``: a prepared dataset's manifest summary, a PNG grid of its
records, and (``--verify``) a checksum and count pass over every record."""

from __future__ import annotations

from keras_gans.commands import quiet_tensorflow

HELP = "print a prepared dataset's manifest and write a PNG grid of its records"


def add_arguments(parser) -> None:
    parser.add_argument("data_dir", help="a folder written by `keras-gans prepare`")
    parser.add_argument("--out", default=None, help="write a PNG grid of records here")
    parser.add_argument("--per-class", type=int, default=8, help="records per class in the grid")
    parser.add_argument("--verify", action="store_true",
                        help="also read every record and check checksums and counts")


def run(args) -> int:
    quiet_tensorflow()
    from keras_gans import data
    from keras_gans.inspect import inspect_dataset

    print(inspect_dataset(args.data_dir, out_png=args.out, per_class=args.per_class))
    if args.verify:
        print(data.format_verify_report(data.verify_records(args.data_dir)))
    return 0
