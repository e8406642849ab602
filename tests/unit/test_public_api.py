"""The top-level namespace: exactly the packages' own public lists, nothing assembled by hand.

``gradtx/__init__.py`` re-exports, name by name, the ``__all__`` of the modules whose names are
flattened into ``gradtx`` (a user writes ``gradtx.adam``, ``gradtx.masked``,
``gradtx.cosine_decay_schedule``), three names under Optax's top-level spelling, and the
subpackages themselves. A name added to one of those lists and forgotten at the top level, or
a top-level name that no package owns, fails here.
"""

from __future__ import annotations

import importlib
import types

import pytest

import gradtx

FLATTENED = (
    "base",
    "introspection",
    "linesearch",
    "optimizers",
    "schedules",
    "second_order",
    "stopping",
    "transforms",
    "wrappers",
)
# Single names from packages that are not flattened whole (tree.get is Optax's tree_get; the
# moment helpers are at Optax's top level too).
SINGLE = {
    "bias_correction": "tree.bias_correction",
    "microbatch": "microbatching.microbatch",
    "safe_increment": "numerics.safe_increment",
    "tree_get": "tree.get",
    "tree_map_params": "tree.map_params",
    "tree_set": "tree.set",
    "update_infinity_moment": "tree.update_infinity_moment",
    "update_moment": "tree.update_moment",
    "update_moment_per_elem_norm": "tree.update_moment_per_elem_norm",
}
SUBPACKAGES = (
    "checkpoint",
    "linesearch",
    "losses",
    "microbatching",
    "nn",
    "numerics",
    "optimizers",
    "schedules",
    "second_order",
    "sharding",
    "transforms",
    "tree",
    "wrappers",
)


def _owner(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(f"gradtx.{module}"), name)


def test_all_is_sorted_and_has_no_duplicates():
    assert gradtx.__all__ == sorted(set(gradtx.__all__))


def test_all_is_the_union_of_the_packages_lists():
    expected = set(SINGLE) | set(SUBPACKAGES)
    for module in FLATTENED:
        expected |= set(importlib.import_module(f"gradtx.{module}").__all__)
    assert set(gradtx.__all__) == expected


@pytest.mark.parametrize("module", FLATTENED)
def test_each_flattened_name_is_the_packages_object(module):
    package = importlib.import_module(f"gradtx.{module}")
    for name in package.__all__:
        assert getattr(gradtx, name) is getattr(package, name), f"gradtx.{name}"


def test_single_names_and_subpackages_are_the_same_objects():
    for name, dotted in SINGLE.items():
        assert getattr(gradtx, name) is _owner(dotted), name
    for name in SUBPACKAGES:
        assert isinstance(getattr(gradtx, name), types.ModuleType), name
        assert getattr(gradtx, name) is importlib.import_module(f"gradtx.{name}")


def test_every_package_list_names_only_what_the_package_defines():
    for module in (*FLATTENED, *SUBPACKAGES):
        package = importlib.import_module(f"gradtx.{module}")
        missing = [n for n in package.__all__ if not hasattr(package, n)]
        assert not missing, (module, missing)
