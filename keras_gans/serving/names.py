"""The naming rules of TF Serving's on-disk layout ``MODEL_BASE/NAME/<int version>/``.

One owner for the model-name rule, so that what ``keras-gans export --name`` writes is exactly
what ``keras-gans serve`` loads and what its REST and gRPC front ends accept in a request:

- a model name is letters, digits, ``_``, ``-`` and ``.``, starting with a letter or digit (so
  never ``.``, ``..``, a hidden ``.tmp-*`` directory or something that reads as an option), and
  not all digits: an all-digit directory is what TF Serving takes for a version, so a model
  named ``7`` would be ambiguous in the layout and in the REST path ``/v1/models/NAME``;
- a version directory is all digits (``VERSION_DIR_RE``); anything else in a model directory
  (an export's ``.tmp-*``, ``labels.json``, notes) is not a version.

No imports beyond ``re``: the export path and the server both use it.
"""

from __future__ import annotations

import re

# Both for fullmatch (``$`` would also match before a trailing newline).
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
VERSION_DIR_RE = re.compile(r"[0-9]+")


class InvalidModelName(ValueError):
    """A name that breaks the model-name rule; the message states the rule. Callers turn it into
    their own error (export: ``UsageError`` naming ``--name``; the server: INVALID_ARGUMENT)."""


def is_model_name(name) -> bool:
    return isinstance(name, str) and bool(MODEL_NAME_RE.fullmatch(name)) and not name.isdigit()


def check_model_name(name) -> str:
    """``name`` if it is a valid model name, else ``InvalidModelName`` (a ValueError)."""
    if not is_model_name(name):
        raise InvalidModelName(
            f"Invalid model name {name!r}: use letters, digits, '_', '-' and '.', starting with a "
            "letter or digit, not all digits (it is the directory MODEL_BASE/NAME and the REST "
            "path /v1/models/NAME)")
    return name
