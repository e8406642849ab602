"""gradtx._mask: the one resolver behind every mask argument."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradtx import _mask
from gradtx._mask import MaskedNode

PARAMS = {
    "dense0": {"w": jnp.ones((3, 4)), "bias": jnp.ones(4)},
    "layernorm": {"scale": jnp.ones(4), "bias": jnp.ones(4)},
}
# Leaves in order: dense0/bias, dense0/w, layernorm/bias, layernorm/scale.
BIASES = [True, False, True, False]


@pytest.mark.parametrize(
    "mask",
    [
        {"dense0": {"w": False, "bias": True}, "layernorm": {"scale": False, "bias": True}},
        lambda p: jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key == "bias", p),
        "*/bias",
        ["dense0/bias", "layernorm/b*"],
        _mask.by_path("*/bias"),
        _mask.by_path(lambda path: path.endswith("bias")),
        _mask.by_path({"*/w": False, "*/scale": False}, default=True),
    ],
    ids=["tree", "callable", "glob", "glob_list", "by_path", "path_callable", "path_dict"],
)  # fmt: skip
def test_every_form_selects_the_same_leaves(mask):
    assert _mask.resolve(mask, PARAMS, "test()") == BIASES
    assert _mask.resolve(mask, PARAMS, "test()", traceable=True) == BIASES


def test_prefix_trees_cover_every_leaf_below():
    assert _mask.resolve({"dense0": True, "layernorm": False}, PARAMS, "t()") == [
        True,
        True,
        False,
        False,
    ]
    assert _mask.resolve(True, PARAMS, "t()") == [True] * 4


def test_none_selects_everything_but_masked_nodes():
    tree = {"a": jnp.ones(1), "b": MaskedNode()}
    assert _mask.resolve(None, tree, "t()") == [True, False]
    assert _mask.resolve({"a": True, "b": True}, tree, "t()") == [True, False]
    assert _mask.resolve("*", tree, "t()") == [True, False]


def test_select_replaces_the_leaves_left_out():
    out = _mask.select(PARAMS, BIASES)
    assert out["dense0"]["w"] == MaskedNode() and out["layernorm"]["scale"] == MaskedNode()
    assert out["dense0"]["bias"] is PARAMS["dense0"]["bias"]
    # Selecting again inside a selection keeps the masked nodes out.
    assert _mask.resolve(None, out, "t()") == BIASES


def test_static_masks_need_python_booleans():
    with pytest.raises(TypeError, match=r"t\(\): a mask holds one Python bool per leaf, got 1.0"):
        _mask.resolve({"dense0": 1.0, "layernorm": True}, PARAMS, "t()")

    def traced(flag):
        return _mask.resolve({"dense0": flag, "layernorm": True}, PARAMS, "t()")

    with pytest.raises(TypeError, match="must be known before tracing"):
        jax.jit(traced)(jnp.array(True))
    # Concrete boolean scalars are fine.
    assert _mask.resolve({"dense0": np.bool_(False), "layernorm": jnp.array(True)}, PARAMS,
                         "t()") == [False, False, True, True]  # fmt: skip


def test_traceable_masks_keep_boolean_arrays():
    def resolve(flag):
        keep = _mask.resolve({"dense0": flag, "layernorm": False}, PARAMS, "t()", traceable=True)
        assert keep[2:] == [False, False]
        return keep[0], keep[1]

    out = jax.jit(resolve)(jnp.array(True))
    assert [bool(x) for x in out] == [True, True]
    elementwise = {"dense0": {"w": jnp.ones((3, 4), bool), "bias": False}, "layernorm": True}
    keep = _mask.resolve(elementwise, PARAMS, "t()", traceable=True)
    assert keep[0] is False and keep[1].shape == (3, 4) and keep[2:] == [True, True]
    with pytest.raises(TypeError, match=r"one boolean per leaf \(a Python bool or a boolean"):
        _mask.resolve({"dense0": 1, "layernorm": True}, PARAMS, "t()", traceable=True)


def test_structure_errors_name_the_caller_and_the_forms():
    with pytest.raises(
        ValueError,
        match=r"f\(\): the mask must be a tree with the structure of "
        r"the parameters.*glob patterns.*tree of booleans",
    ):
        _mask.resolve({"x": True}, PARAMS, "f()")
    with pytest.raises(ValueError, match=r"g\(\): the labels must be a tree with the structure"):
        _mask.leaf_values({"x": "a"}, PARAMS, "g()", "labels")  # fmt: skip


def test_labels_are_values_and_strings_are_not_patterns_there():
    assert _mask.leaf_values("decay", PARAMS, "p()", "labels") == ["decay"] * 4
    labels = _mask.by_path({"*/bias": "no_decay"}, default="decay")
    assert _mask.leaf_values(labels, PARAMS, "p()", "labels") == [
        "no_decay",
        "decay",
        "no_decay",
        "decay",
    ]
