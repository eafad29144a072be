"""`keras-gans demo` end to end (short training): every stage runs and leaves its outputs."""

import os

import numpy as np
from PIL import Image


def test_demo_runs_every_stage(tmp_path):
    from keras_gans.demo import run_demo

    out = run_demo(str(tmp_path), kimg=1.0, read_batches=5)
    assert out["prepare"] == "written" and out["grpc_matches_rest"]
    assert os.path.exists(os.path.join(out["data_dir"], "dataset.json"))
    assert os.path.isdir(os.path.join(out["model"], "variables"))
    grid = np.asarray(Image.open(out["samples"]))
    assert grid.shape == (10 * 32 + 11 * 2, 8 * 32 + 9 * 2)  # one row per digit
    assert Image.open(out["grid"]).size[0] > 0
    # A second run reuses the prepared data (fingerprint unchanged) and exports version 2.
    again = run_demo(str(tmp_path), kimg=1.0, read_batches=5)
    assert again["prepare"] == "unchanged" and again["model"].endswith(os.sep + "2")
