"""The README's two commands are the contract: CI must run the second one verbatim."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_readme_opens_with_the_demo_and_the_test_command():
    first, second = _readme_commands()[:2]
    # A regular install, as a user gets it (an editable one would hide a module missing from
    # the wheel; tests/test_structure.py also installs the built wheel).
    assert first.endswith("keras-gans demo") and "pip install . " in first and " -e " not in first
    assert "pytest" in second and '".[test]"' in second


def test_ci_runs_exactly_the_readme_test_command():
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert _readme_commands()[1] in ci.splitlines()


def test_every_command_named_in_the_cli_help_exists():
    from keras_gans import cli

    for name in cli.COMMANDS:  # every command module has the command shape
        module = cli.command_module(name)
        assert module.HELP and callable(module.add_arguments) and callable(module.run), name
    text = open(os.path.join(ROOT, "README.md")).read()
    for command in re.findall(r"(?:^|`)keras-gans ([\w-]+)", text, flags=re.M):
        assert command in cli.COMMANDS or command in ("train", "export", "serve", "sample", "evaluate"), command
