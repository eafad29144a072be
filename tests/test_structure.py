"""The project's structure: import layers without circles, the run directory's one owner, a
TensorFlow-free ``metrics.scores``, and a wheel that holds (and runs) every module.

Layers, bottom to top (a module may import its own layer or any layer below, never above)::

    0 base      errors, fileio, records, manifest, runs, pretrained, image_grid, package faces
    1 layers    2 losses    3 models
    4 data      data, sampling, inspect, pipelines (Beam prepare: reads base only)
    5 metrics   6 training  7 serving (and explore: pictures from exports, servers and runs)
    8 commands  cli, demo, commands/

This is the issue's order with two placements it leaves open: the pieces every layer shares
(the run directory, image <-> uint8, pretrained-weight paths) sit at the base, and ``pipelines``
sits with the data reader, since both speak the prepared format and nothing above them.
Every import counts, function-level ones too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("keras_gans", "pipelines")

LAYERS = [
    ("base", ["keras_gans", "keras_gans.errors", "keras_gans.fileio", "keras_gans.records",
              "keras_gans.manifest", "keras_gans.runs", "keras_gans.pretrained",
              "keras_gans.image_grid"]),
    ("layers", ["keras_gans.layers"]),
    ("losses", ["keras_gans.losses"]),
    ("models", ["keras_gans.models"]),
    ("data", ["keras_gans.data", "keras_gans.sampling", "keras_gans.inspect", "pipelines"]),
    ("metrics", ["keras_gans.metrics"]),
    ("training", ["keras_gans.training"]),
    ("serving", ["keras_gans.serving", "keras_gans.explore"]),
    ("commands", ["keras_gans.commands", "keras_gans.cli", "keras_gans.demo"]),
]


def source_modules() -> dict[str, str]:
    """Module name -> file, for every .py under the packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            if "__pycache__" in folder:
                continue
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return found


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            # The package face "keras_gans" is exact; the others cover their subpackages.
            hit = module == p if p == "keras_gans" else (module == p or module.startswith(p + "."))
            if hit and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, f"{module} has no layer: add it to LAYERS"
    return rank


def import_edges(modules: dict[str, str]) -> dict[str, set[str]]:
    """module -> the project modules it imports (``from pkg import mod`` is an edge to mod)."""
    edges = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.endswith("__init__.py")
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative
                    parts = module.split(".")
                    parts = parts if is_package else parts[:-1]
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # a.b.c where only a.b is ours
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges[module].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_circles():
    edges = import_edges(source_modules())
    # Importing a module runs its parent packages first; that implicit edge is not a circle.
    explicit = {m: {t for t in ts if t not in _parents(m)} for m, ts in edges.items()}
    assert _cycles(explicit) == []


def test_no_upward_imports():
    edges = import_edges(source_modules())
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in sorted(edges.items()) for t in sorted(targets)
              if layer_of(t) > layer_of(m)]
    assert upward == []


def test_the_layering_check_catches_a_circle_and_an_upward_import():
    """The checks above can fail: a made-up graph with both faults."""
    edges = {"keras_gans.models.a": {"keras_gans.training.b"}, "keras_gans.training.b": {"keras_gans.models.a"}}
    assert _cycles(edges) == [["keras_gans.models.a", "keras_gans.training.b"]]
    assert layer_of("keras_gans.training.b") > layer_of("keras_gans.models.a")


def test_metrics_is_a_leaf_above_models():
    edges = import_edges(source_modules())
    for m, targets in edges.items():
        if m.startswith("keras_gans.metrics"):
            bad = {t for t in targets if t.startswith(("keras_gans.training", "keras_gans.serving",
                                                       "keras_gans.commands", "keras_gans.cli"))}
            assert not bad, (m, bad)


# The run directory's file names, and its folders as path components (a "samples" dict key is
# not the samples folder).
RUN_FILE_NAMES = re.compile(
    r'config\.json|run\.json|metrics\.jsonl|join\([^)]*"(?:checkpoints|samples|tb|best)"')


def _code_without_docstrings(path: str) -> str:
    """The file's source with docstrings and comments blanked (they may name files freely)."""
    text = open(path, encoding="utf-8").read()
    tree = ast.parse(text)
    lines = text.splitlines()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            for i in range(body[0].lineno - 1, body[0].end_lineno):
                lines[i] = ""
    return "\n".join(re.sub(r"#.*$", "", line) for line in lines)


def test_only_runs_py_names_the_run_directory_files():
    offenders = []
    for module, path in source_modules().items():
        if module == "keras_gans.runs":
            continue
        code = _code_without_docstrings(path)
        offenders += [f"{module}: {m.group(0)}" for m in RUN_FILE_NAMES.finditer(code)]
    # The export copies the run's config under the same name: it asks runs.py for it.
    assert offenders == []


def test_metrics_scores_imports_without_tensorflow():
    code = ("import sys; import keras_gans.metrics.scores, keras_gans.metrics.specs; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_code_folder_is_a_package():
    missing = []
    for package in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, package)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            if any(f.endswith(".py") for f in files) and "__init__.py" not in files:
                missing.append(os.path.relpath(folder, ROOT))
    assert missing == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """``pip wheel --no-deps .`` of the checkout (a regular, non-editable build)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "-q", "-w", str(out), ROOT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = [os.path.join(out, n) for n in os.listdir(out) if n.endswith(".whl")]
    return path


def test_the_wheel_holds_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {os.path.relpath(p, ROOT).replace(os.sep, "/") for p in source_modules().values()}
    assert sorted(expected - names) == []


def test_a_wheel_install_trains_exports_and_serves(wheel, tmp_path):
    """A regular install of the wheel, with the checkout off ``sys.path``: the console script
    lists the presets; prepare, train a tiny run, export it, serve it and request a sample."""
    import site

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # The test environment's third-party packages (TensorFlow...) without installing them again:
    # its site-packages as plain path entries. Their .pth files are not run, so the checkout's
    # editable install stays out; keras_gans can only come from the wheel.
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(purelib, "test-env.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", wheel],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = subprocess.run([str(venv / "bin" / "keras-gans"), "train", "--list-presets"],
                            cwd=str(tmp_path), capture_output=True, text=True)
    assert listed.returncode == 0 and "dcgan-mnist32" in listed.stdout, listed.stderr[-3000:]
    work = tmp_path / "work"  # not the checkout: only the installed package can be imported
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    script = r'''
import json, os, sys
import keras_gans, pipelines
assert not keras_gans.__file__.startswith(sys.argv[1]), keras_gans.__file__
from keras_gans import cli
from keras_gans.serving.client import Client
from keras_gans.serving.server import ModelServer
assert cli.main(["prepare", "--source", "mnist", "--out", "data", "--resolution", "32",
                 "--shards", "1", "--quiet"]) == 0
assert cli.main(["train", "--preset", "dcgan-mnist32", "--data", "data", "--runs-dir", "runs",
                 "--set", "model.base_filters=4", "--batch", "16", "--kimg", "0.032",
                 "--set", "tick_kimg=0.032"]) == 0
assert cli.main(["export", "latest", "--runs-dir", "runs", "--name", "digits", "--out", "models"]) == 0
server = ModelServer("models", rest_port=0, grpc_port=0, poll_seconds=0)
ports = server.start()
try:
    assert server.wait_until_ready(60)
    images, z = Client(f"http://127.0.0.1:{ports.rest}").sample("digits", num=2, seed=0)
    assert images.shape == (2, 32, 32, 1), images.shape
finally:
    server.stop()
print("WHEEL-OK", keras_gans.__file__)
'''
    proc = subprocess.run([python, "-c", script, ROOT], cwd=str(work), env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and "WHEEL-OK" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert str(venv) in proc.stdout.split("WHEEL-OK")[1]
