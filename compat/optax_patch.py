"""A pytest plugin that runs Optax's own tests with gradtx's implementations patched in.

Loaded by ``compat/optax_suite.py`` (``-p compat.optax_patch``); not part of the test suite.

Before any test module is imported, every public name of every Optax namespace that gradtx
also has (``optax.X`` and ``gradtx.X``, ``optax.transforms.X`` and ``gradtx.transforms.X``, and
so on) is replaced, in every loaded ``optax`` module that holds the same object, by gradtx's.
Tests import from Optax's private modules (``from optax._src import alias``), so the patch is
by object identity, not by name. gradtx's functions are wrapped in a counter: a test
*exercises* gradtx when it calls at least one of them, and only those tests are counted.

The results (one row per test: file, name, outcome, exercising, first line of the error) go
to the JSON file named by ``$GRADTX_OPTAX_SUITE_OUT``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import json
import os
import pkgutil
import sys
from typing import Any

import pytest

# Optax's public namespaces and their gradtx counterparts.
NAMESPACES = [
    "",
    "assignment",
    "contrib",
    "losses",
    "microbatching",
    "perturbations",
    "projections",
    "schedules",
    "second_order",
    "transforms",
    "tree",
    "tree_utils",
]

_calls = [0]
_rows: list[dict[str, Any]] = []
_exercising = [False]


def _counted(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _calls[0] += 1
        return fn(*args, **kwargs)

    return wrapper


def _public(module) -> list[str]:
    # ``__all__`` leaves out names Optax documents and users import (optax.freeze,
    # optax.MaskedNode, optax.tree_map_params...): every public attribute counts.
    names = set(getattr(module, "__all__", ())) | {n for n in dir(module) if not n.startswith("_")}
    return sorted(n for n in names if not inspect.ismodule(getattr(module, n, None)))


def namespace_names() -> dict[str, tuple[list[str], list[str]]]:
    """For each Optax namespace: (names gradtx has, names gradtx lacks)."""
    out = {}
    for ns in NAMESPACES:
        opt = importlib.import_module("optax" + (f".{ns}" if ns else ""))
        try:
            gtx = importlib.import_module("gradtx" + (f".{ns}" if ns else ""))
        except ImportError:
            gtx = None
        have, lack = [], []
        for name in _public(opt):
            (have if gtx is not None and hasattr(gtx, name) else lack).append(name)
        out[ns or "optax"] = (have, lack)
    return out


def _patch() -> None:
    import optax

    for info in pkgutil.walk_packages(optax.__path__, "optax."):
        if not info.name.endswith("_test") and "test_utils" not in info.name:
            # Some optional modules need optional dependencies.
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)
    # Optax aliases some names (AddDecayedWeightsState is EmptyState): an object is replaced
    # by gradtx's object of the object's own name when gradtx has it, else by the first alias.
    candidates: list[tuple[bool, int, Any]] = []
    for ns in NAMESPACES:
        opt = importlib.import_module("optax" + (f".{ns}" if ns else ""))
        try:
            gtx = importlib.import_module("gradtx" + (f".{ns}" if ns else ""))
        except ImportError:
            continue
        for name in _public(opt):
            if hasattr(gtx, name):
                old = getattr(opt, name)
                own = getattr(old, "__name__", None) == name
                candidates.append((not own, id(old), getattr(gtx, name)))
    replacement: dict[int, Any] = {}
    for _, key, new in sorted(candidates, key=lambda c: c[0]):
        replacement.setdefault(key, _counted(new) if inspect.isfunction(new) else new)
    # A class counts when it is built (MultiSteps, Accumulator...): its own __init__ is wrapped.
    for new in replacement.values():
        init = vars(new).get("__init__") if inspect.isclass(new) else None
        if inspect.isfunction(init) and not hasattr(init, "__wrapped__"):
            new.__init__ = _counted(init)
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith("optax") or mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            if attr.startswith("__") or inspect.ismodule(value):
                continue
            new = replacement.get(id(value))
            if new is not None:
                setattr(mod, attr, new)


def pytest_configure(config):
    # GRADTX_OPTAX_NOPATCH=1: Optax alone, to tell the tests that fail with Optax itself.
    if not os.environ.get("GRADTX_OPTAX_NOPATCH"):
        _patch()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _calls[0] = 0
    yield
    _rows[-1]["exercising"] = _calls[0] > 0 if _rows and _rows[-1]["id"] == item.nodeid else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    failed = report.failed
    if report.when == "setup" and not failed and not report.skipped:
        return
    if report.when == "teardown" and not failed:
        return
    if report.when == "call" or failed or report.skipped:
        reason = ""
        if call.excinfo is not None:
            reason = f"{call.excinfo.typename}: {str(call.excinfo.value).strip()}"
            reason = reason.splitlines()[0][:300] if reason else call.excinfo.typename
        if _rows and _rows[-1]["id"] == item.nodeid:
            if failed:
                _rows[-1].update(outcome="failed", reason=reason)
            return
        _rows.append(
            {
                "id": item.nodeid,
                "file": item.nodeid.split("::")[0],
                "outcome": "failed" if failed else ("skipped" if report.skipped else "passed"),
                "reason": reason,
            }
        )


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("GRADTX_OPTAX_SUITE_OUT")
    if path:
        with open(path, "w") as f:
            json.dump(_rows, f)
