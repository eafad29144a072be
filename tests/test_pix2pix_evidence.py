"""Issue 15's diversity evidence (MSGAN's Table 2 at CPU scale): Pix2Pix-MS vs Pix2Pix on the
bundled edges -> digits pairs, measured by ``benchmarks/diversity_bench.py --task image`` (run
here with one training seed; the README's table is the same command with seeds 0 and 1).

Measured with ``python benchmarks/diversity_bench.py --task image --kimg 3 --seeds 0 1`` (3 kimg =
3000 steps of batch 1; all 503 validation inputs x 10 outputs; classifier seed 0; 2 CPU cores
shared with two other trainings; 18 min in all), seed 0 / seed 1:

======================  ===============  ===============  =============
                        pix2pix          pix2pix-ms       MS / baseline
======================  ===============  ===============  =============
pixel-L1 diversity      0.0151 / 0.0094  0.325 / 0.390    21.5 / 41.5
feature-L1 diversity    0.049 / 0.031    0.389 / 0.456    7.9 / 14.6
inputs more diverse                      503/503, 503/503
feature Fréchet         5.09 / 6.88      170.2 / 315.8
L1 to target            0.075 / 0.081    0.316 / 0.362
classifier accuracy     0.927 / 0.946    0.603 / 0.195
======================  ===============  ===============  =============

Table 2's diversity holds by a wide margin; its "similar fidelity" does NOT at this scale: the
term ``1 / (mean|G(z1) - G(z2)| / mean|z1 - z2|)`` with the official lambda 1 balances the L1
x 10 term only when two outputs of one input differ by about 0.3 (mean |a - b| in [-1, 1]), and a
digit (about 80% flat background) cannot differ that much and stay on its target: the MS
outputs carry background texture and checkerboard (the figure), their L1 to the target is 4x the
baseline's and the classifier recognises the target's digit in far fewer of them. The MS run's
L1 was still falling at 3 kimg (10 x L1: 8.7 -> 3.9 over the run; the baseline's settles at
0.76), so part of the gap is length. The test therefore asserts the diversity direction with a
margin the two seeds support (ratios 21.5 and 41.5 pixel, 7.9 and 14.6 feature: asserted > 5
and > 3, and more diverse for >= 95% of the inputs, measured 100%), a working baseline (its
fidelity well inside the measured values), and that the MS outputs still translate their input
(L1 to target < 0.5, measured 0.32-0.36; the MS preset after 50 steps is at 0.93); it does not
claim similar fidelity.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench():
    spec = importlib.util.spec_from_file_location(
        "diversity_bench", os.path.join(ROOT, "benchmarks", "diversity_bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 9 min on 2 shared CPU cores
def test_mode_seeking_diversifies_pix2pix(tmp_path):
    """Pix2Pix-MS's outputs of one input are far more diverse than Pix2Pix's (same seed, length,
    inputs and latents); the baseline is a working pix2pix and the MS outputs still follow their
    input. Bounds from the two measured seeds (module docstring)."""
    bench = _bench()
    figures = str(tmp_path / "figures")
    out = bench.main(["--task", "image", "--kimg", "3", "--seeds", "0",
                      "--work-dir", str(tmp_path / "work"), "--figures", figures])
    cmp = out["comparison"]
    summary = {k: {s: cmp[k][s] for s in ("without_ms", "with_ms")} for k in
               ("pixel_l1", "feature_l1", "feature_frechet", "l1_to_target", "accuracy")}
    # Diversity: direction with a wide margin, input by input.
    assert cmp["pixel_l1"]["with_ms"] > 5 * cmp["pixel_l1"]["without_ms"], summary
    assert cmp["feature_l1"]["with_ms"] > 3 * cmp["feature_l1"]["without_ms"], summary
    wins, total = map(int, cmp["pixel_l1"]["inputs_more_diverse_with_ms"].split("/"))
    assert total == 503 and wins >= 0.95 * total, cmp["pixel_l1"]
    # The baseline is a working pix2pix (measured FID 5.1-6.9, L1 0.075-0.081, accuracy 93-95%).
    assert cmp["feature_frechet"]["without_ms"] < 15, summary
    assert cmp["l1_to_target"]["without_ms"] < 0.15, summary
    assert cmp["accuracy"]["without_ms"] > 0.8, summary
    # The MS outputs still follow their input (0.93 after 50 steps), at a fidelity cost.
    assert cmp["l1_to_target"]["with_ms"] < 0.5, summary
    # The paper's figure, for both variants: rows = 8 inputs; input, target, 8 outputs.
    from PIL import Image

    for preset in (bench.I2I_BASELINE, bench.I2I_MODE_SEEKING):
        grid = Image.open(os.path.join(figures, f"{preset}-seed0.png"))
        assert grid.size == (10 * 32 + 11 * 2, 8 * 32 + 9 * 2), grid.size
    assert all(r["samples_grid"][-1] == "fakes000003000.png" for r in out["runs"]), out["runs"]
    assert np.isfinite([r["final_losses"]["g_loss"] for r in out["runs"]]).all()
