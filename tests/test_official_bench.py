"""benchmarks/official_bench.py: our side on tiny networks (JSON shape) and its usage errors."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import official_bench  # noqa: E402


def test_ours_only_tiny_prints_the_json(capsys):
    rc = official_bench.main(["--configs", "bmsg", "--tiny", "--batch", "2", "--warmup", "1",
                              "--iters", "2", "--matmul-n", "64", "--no-flops", "--set", "seed=3",
                              "--variant", "other_seed", "seed=4"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "official" and out["settings"]["ours_set"] == ["seed=3"]
    assert {"cpu", "cores", "tensorflow"} <= set(out["machine"])
    entry = out["configs"]["bmsg"]
    ours = entry["ours"]
    assert ours["status"] == "ok", entry["runs"]
    assert ours["images_per_iter"] == 2
    assert len(ours["iter_s_all"]) == 2 and ours["s_per_iter"] > 0
    # s_per_iter is rounded to 1 ms: allow that rounding on a fast tiny iteration
    assert ours["img_per_s"] == pytest.approx(2 / ours["s_per_iter"],
                                              rel=max(0.01, 0.0006 / ours["s_per_iter"]))
    assert ours["peak_rss_mib"] > 0
    run = entry["runs"]["ours"][0]
    assert run["preset"] == "msggan-cifar10" and run["d_steps"] == 1
    assert "<family tiny networks>" in run["overrides"] and "seed=3" in run["overrides"]
    phases = run["rss_peak_mib_by_phase"]
    assert list(phases) == ["start", "build", "fit_setup", "first_step", "warmup_steps", "timed_steps"]
    assert 0 < phases["start"] <= max(phases.values()) <= ours["peak_rss_mib"] + 1
    assert "official" not in entry and "ours_over_official" not in entry  # no --official
    variant = entry["variants"]["other_seed"]
    assert variant["set"] == ["seed=4"] and variant["ours"]["status"] == "ok"
    overrides = variant["runs"][0]["overrides"]
    assert overrides.index("seed=3") < overrides.index("seed=4")  # --variant after --set
    assert out["matmul_peak"]["tensorflow_gflop_per_s"] > 0
    assert out["matmul_peak"]["torch_gflop_per_s"] is None


def test_missing_official_path_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        official_bench.main(["--configs", "bmsg", "--official", str(tmp_path / "nowhere"),
                             "--torch-python", sys.executable])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "is not a directory" in err and "git clone https://github.com/akanimax/BMSG-GAN" in err


def test_official_folder_without_the_checkout_names_what_it_looked_for(capsys, tmp_path):
    with pytest.raises(SystemExit):
        official_bench.main(["--configs", "biggan", "projected", "--official", str(tmp_path),
                             "--torch-python", sys.executable])
    err = capsys.readouterr().err
    assert "no official checkout for 'biggan'" in err and "train_fns.py" in err


def test_official_checkout_is_found_by_its_marker(tmp_path):
    (tmp_path / "BigGAN-PyTorch").mkdir()
    (tmp_path / "BigGAN-PyTorch" / "train_fns.py").write_text("")
    assert official_bench.find_official(str(tmp_path), "biggan", single=False) == str(tmp_path / "BigGAN-PyTorch")
    # One configuration: the folder may be the checkout itself.
    assert official_bench.find_official(str(tmp_path / "BigGAN-PyTorch"), "biggan", single=True) == str(
        tmp_path / "BigGAN-PyTorch")


@pytest.mark.parametrize("argv, message", [
    (["--official", "/tmp"], "--official and --torch-python go together"),
    (["--tiny", "--official", "/tmp", "--torch-python", sys.executable], "cannot be compared"),
    (["--iters", "0"], "must be >= 1"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--official", "/tmp", "--torch-python", "/nonexistent/python"], "not an executable file"),
])
def test_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        official_bench.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
