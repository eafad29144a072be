"""Shared pytest setup: the opt-in `slow` marker and small real-image fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def skip_or_fail(reason: str):
    """Skip when optional system data is missing on a developer machine; fail under CI, whose
    .ci/run installs it, so a broken install step cannot hide behind a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run tests marked @pytest.mark.slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bundled_digits(tmp_path_factory):
    """The bundled MNIST digits prepared at 32x32 by ``keras-gans prepare`` (4497 / 503)."""
    from pipelines import prepare

    data_dir = str(tmp_path_factory.mktemp("digits") / "mnist32")
    prepare.prepare(prepare.PrepareOptions(source="mnist", out=data_dir, resolution=32),
                    log=lambda *a: None)
    return data_dir
