"""masked, partition / multi_transform, by_path, explain, freeze and friends."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


def mlp_params():
    """An MLP with a layer norm: weights, biases and norm scales."""
    rng = np.random.RandomState(0)

    def arr(*shape):
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    return {
        "dense0": {"w": arr(3, 4), "bias": arr(4)},
        "layernorm": {"scale": arr(4), "bias": arr(4)},
        "dense1": {"w": arr(4, 2), "bias": arr(2)},
    }


def grads_like(params, k=0):
    rng = np.random.RandomState(10 + k)
    return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)


def leaf_paths(tree):
    return [gradtx.tree.path_str(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]


SELECT_W = {"dense0/w", "dense1/w"}  # the leaves every mask below selects

MASKS = {
    "full_tree": {
        "dense0": {"w": True, "bias": False},
        "layernorm": {"scale": False, "bias": False},
        "dense1": {"w": True, "bias": False},
    },
    "prefix_tree": {
        "dense0": {"w": True, "bias": False},
        "layernorm": False,
        "dense1": {"w": True, "bias": False},
    },
    "callable_on_params": lambda p: jax.tree.map(lambda x: x.ndim == 2, p),
    "glob": "*/w",
    "glob_list": ["dense0/w", "dense1/*"],
    "path_callable": gradtx.by_path(lambda path: path.endswith("/w")),
    "path_dict": gradtx.by_path({"*norm*": False, "*/w": True}),
}


def _selected_for(name):
    return SELECT_W | ({"dense1/bias"} if name == "glob_list" else set())


@pytest.mark.parametrize("name", list(MASKS))
@pytest.mark.parametrize("zero", [False, True], ids=["pass", "zero"])
def test_masked_applies_inner_to_selected_leaves_only(name, zero):
    params = mlp_params()
    grads = grads_like(params)
    tx = gradtx.masked(gradtx.chain(gradtx.trace(0.5), gradtx.scale(-2.0)), MASKS[name],
                       zero_masked_out=zero)  # fmt: skip
    state = tx.init(params)
    selected = _selected_for(name)
    update = jax.jit(tx.update)
    for k in range(2):
        grads = grads_like(params, k)
        updates, state = update(grads, state)
    g0, g1 = (grads_like(params, k) for k in range(2))
    for path, u, a, b in zip(leaf_paths(params), jax.tree.leaves(updates), jax.tree.leaves(g0),
                             jax.tree.leaves(g1), strict=True):  # fmt: skip
        if path in selected:  # momentum: t2 = 0.5 g0 + g1, scaled by -2
            np.testing.assert_allclose(u, -2.0 * (0.5 * np.asarray(a) + np.asarray(b)), rtol=1e-6)
        elif zero:
            np.testing.assert_array_equal(u, np.zeros_like(b))
        else:
            np.testing.assert_array_equal(u, b)
    # The inner state holds only the selected leaves.
    trace_state = state.inner_state[0].trace
    assert set(leaf_paths(trace_state)) == selected


def test_masked_inside_masked_applies_where_both_select():
    params = mlp_params()
    grads = grads_like(params)
    inner = gradtx.masked(gradtx.scale(3.0), lambda p: jax.tree.map(lambda x: x.shape[-1] == 4, p))
    tx = gradtx.masked(inner, "dense0")
    updates, _ = tx.update(grads, tx.init(params))
    for path, u, g in zip(leaf_paths(params), jax.tree.leaves(updates), jax.tree.leaves(grads),
                          strict=True):  # fmt: skip
        factor = 3.0 if path in {"dense0/w", "dense0/bias"} else 1.0
        np.testing.assert_array_equal(u, factor * np.asarray(g))
    # Three levels, with zeroing in the middle one.
    tx3 = gradtx.masked(gradtx.masked(gradtx.masked(gradtx.scale(5.0), "*/w"), "dense*",
                                      zero_masked_out=True), "dense0")  # fmt: skip
    updates, _ = tx3.update(grads, tx3.init(params))
    expected = {"dense0/w": 5.0, "dense0/bias": 1.0, "dense1/w": 1.0}
    for path, u, g in zip(leaf_paths(params), jax.tree.leaves(updates), jax.tree.leaves(grads),
                          strict=True):  # fmt: skip
        np.testing.assert_array_equal(u, expected.get(path, 1.0) * np.asarray(g))


def test_masked_with_an_optimizer_that_needs_params():
    params = mlp_params()
    grads = grads_like(params)
    tx = gradtx.masked(gradtx.adamw(0.1, weight_decay=0.5), "*/w")
    updates, state = jax.jit(tx.update)(grads, tx.init(params), params)
    for path, u, g, p in zip(leaf_paths(params), jax.tree.leaves(updates), jax.tree.leaves(grads),
                             jax.tree.leaves(params), strict=True):  # fmt: skip
        if path.endswith("/w"):  # Adam's first step is sign(g), plus decay
            np.testing.assert_allclose(u, -0.1 * (np.sign(g) + 0.5 * np.asarray(p)), rtol=1e-5)
        else:
            np.testing.assert_array_equal(u, g)
    assert set(leaf_paths(state.inner_state[0].mu)) == SELECT_W


def test_by_path_patterns_match_leaves_and_ancestors():
    params = {"layers": [{"w": 1.0, "b": 2.0}, {"w": 3.0, "b": 4.0}], "head": {"w": 5.0}}
    assert gradtx.by_path("layers")(params) == {
        "layers": [{"w": True, "b": True}, {"w": True, "b": True}],
        "head": {"w": False},
    }
    assert gradtx.by_path("layers/1/*")(params)["layers"] == [
        {"w": False, "b": False},
        {"w": True, "b": True},
    ]
    labels = gradtx.by_path({"*/b": "bias", "head": "head"}, default="rest")(params)
    assert labels == {
        "layers": [{"w": "rest", "b": "bias"}, {"w": "rest", "b": "bias"}],
        "head": {"w": "head"},
    }
    with pytest.raises(TypeError, match="patterns must be strings"):
        gradtx.by_path([1, 2])  # type: ignore[list-item]


LABELS = {
    "tree": {
        "dense0": {"w": "decay", "bias": "no_decay"},
        "layernorm": {"scale": "no_decay", "bias": "no_decay"},
        "dense1": {"w": "decay", "bias": "no_decay"},
    },
    "prefix_tree": {
        "dense0": {"w": "decay", "bias": "no_decay"},
        "layernorm": "no_decay",
        "dense1": {"w": "decay", "bias": "no_decay"},
    },
    "callable": lambda p: jax.tree.map(lambda x: "decay" if x.ndim == 2 else "no_decay", p),
    "patterns": gradtx.by_path({"*/bias": "no_decay", "*norm*": "no_decay"}, default="decay"),
}


@pytest.mark.parametrize("name", list(LABELS))
@pytest.mark.parametrize("factory", [gradtx.partition, gradtx.multi_transform])
def test_partition_equals_separate_optimizers_on_each_group(name, factory):
    params = mlp_params()
    tx = factory(
        {"decay": gradtx.adamw(0.01, weight_decay=0.1), "no_decay": gradtx.sgd(0.1, 0.9)},
        LABELS[name],
    )
    state = tx.init(params)
    decay_keys = {"dense0": ["w"], "dense1": ["w"]}
    # Independent runs on the two groups, as plain dicts.
    sub = {k: {n: params[k][n] for n in names} for k, names in decay_keys.items()}
    rest = {
        "dense0": {"bias": params["dense0"]["bias"]},
        "layernorm": params["layernorm"],
        "dense1": {"bias": params["dense1"]["bias"]},
    }
    adamw, sgd = gradtx.adamw(0.01, weight_decay=0.1), gradtx.sgd(0.1, 0.9)
    s_adamw, s_sgd = adamw.init(sub), sgd.init(rest)
    p = params
    for k in range(3):
        grads = grads_like(p, k)
        updates, state = tx.update(grads, state, p)
        g_sub = {key: {n: grads[key][n] for n in names} for key, names in decay_keys.items()}
        g_rest = {
            "dense0": {"bias": grads["dense0"]["bias"]},
            "layernorm": grads["layernorm"],
            "dense1": {"bias": grads["dense1"]["bias"]},
        }
        u_sub, s_adamw = adamw.update(g_sub, s_adamw, sub)
        u_rest, s_sgd = sgd.update(g_rest, s_sgd, rest)
        for key, names in decay_keys.items():
            for n in names:
                np.testing.assert_array_equal(updates[key][n], u_sub[key][n])
        for key in rest:
            for n in rest[key]:
                np.testing.assert_array_equal(updates[key][n], u_rest[key][n])
        p = gradtx.apply_updates(p, updates)
        sub = gradtx.apply_updates(sub, u_sub)
        rest = gradtx.apply_updates(rest, u_rest)
    # Each group's state holds only its own leaves.
    mu = state.inner_states["decay"].inner_state[0].mu
    assert set(leaf_paths(mu)) == SELECT_W
    trace = state.inner_states["no_decay"].inner_state[0].trace
    assert set(leaf_paths(trace)) == set(leaf_paths(params)) - SELECT_W


def test_partition_names_a_leaf_whose_label_has_no_transformation():
    params = mlp_params()
    tx = gradtx.partition({"decay": gradtx.sgd(0.1)}, LABELS["patterns"])
    with pytest.raises(ValueError, match=r"leaf 'dense0/bias' has the label 'no_decay'"):
        tx.init(params)
    with pytest.raises(ValueError, match="structure of the parameters"):
        gradtx.partition({"a": gradtx.sgd(0.1)}, {"x": "a"}).init(params)
    with pytest.raises(TypeError, match="one Python bool per leaf"):
        gradtx.masked(gradtx.sgd(0.1), {"dense0": 1.0, "layernorm": True, "dense1": True}).init(
            params
        )


def test_partition_under_jit_and_vmap():
    params = mlp_params()
    labels = gradtx.by_path({"*/w": "a"}, default="b")
    tx = gradtx.partition({"a": gradtx.adam(0.01), "b": gradtx.set_to_zero()}, labels)
    state = tx.init(params)
    batched = jax.jit(jax.vmap(lambda g: tx.update(g, state)[0]))(
        jax.tree.map(lambda x: jnp.stack([x, -x]), grads_like(params))
    )
    for path, u in zip(leaf_paths(params), jax.tree.leaves(batched), strict=True):
        if path in SELECT_W:  # Adam's first step: -lr * sign(g)
            np.testing.assert_allclose(u[0], -u[1], rtol=1e-6)
            np.testing.assert_allclose(np.abs(u), 0.01, rtol=1e-5)
        else:
            np.testing.assert_array_equal(u, 0.0)
    jitted = jax.jit(tx.update)(grads_like(params), state)[0]
    assert jax.tree.structure(jitted) == jax.tree.structure(params)


def test_explain_an_mlp_with_norm_layers():
    params = mlp_params()
    labels = gradtx.by_path({"*/bias": "no_decay", "*norm*": "no_decay"}, default="decay")
    tx = gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.partition(
            {"decay": gradtx.adamw(1e-3, weight_decay=1e-4), "no_decay": gradtx.adam(1e-3)},
            labels,
        ),
    )
    decay = ("clip_by_global_norm", "partition[decay]", "scale_by_adam",
             "add_decayed_weights", "scale")  # fmt: skip
    no_decay = ("clip_by_global_norm", "partition[no_decay]", "scale_by_adam", "scale")
    expected = {
        "dense0/bias": no_decay,
        "dense0/w": decay,
        "dense1/bias": no_decay,
        "dense1/w": decay,
        "layernorm/bias": no_decay,
        "layernorm/scale": no_decay,
    }
    explanation = gradtx.explain(tx, params)
    assert dict(explanation) == expected
    width = len("layernorm/scale")
    rows = [f"{'leaf':<{width}}  transformations"] + [
        f"{path:<{width}}  {' > '.join(names)}" for path, names in sorted(expected.items())
    ]
    assert str(explanation) == "\n".join(rows)
    # adamw's own mask, a frozen head, injected hyperparameters, nested masks.
    tx = gradtx.chain(
        gradtx.inject_hyperparams(gradtx.adamw)(1e-3, mask=gradtx.by_path("*/w")),
        gradtx.masked(gradtx.masked(gradtx.scale(2.0), "dense*"), "*/bias"),
        gradtx.freeze("dense1"),
    )
    explained = gradtx.explain(tx, jax.eval_shape(lambda: params))
    assert explained["dense0/w"] == ("scale_by_adam", "add_decayed_weights", "scale")
    assert explained["layernorm/scale"] == ("scale_by_adam", "scale")
    assert explained["dense0/bias"] == ("scale_by_adam", "scale", "scale")
    assert explained["layernorm/bias"] == ("scale_by_adam", "scale")
    assert explained["dense1/bias"] == ("scale_by_adam", "scale", "scale", "set_to_zero")
    zeroed = gradtx.explain(gradtx.masked(gradtx.sgd(0.1), "*/w", zero_masked_out=True), params)
    assert zeroed["dense0/bias"] == ("zeroed (masked out)",)


def test_freeze_and_selective_transform():
    params = mlp_params()
    grads = grads_like(params)
    frozen = gradtx.chain(gradtx.sgd(0.1), gradtx.freeze("layernorm"))
    updates, _ = frozen.update(grads, frozen.init(params))
    selective = gradtx.selective_transform(gradtx.sgd(0.1, momentum=0.9), freeze_mask="layernorm")
    state = selective.init(params)
    updates2, state = selective.update(grads, state)
    for path, u, u2, g in zip(leaf_paths(params), jax.tree.leaves(updates),
                              jax.tree.leaves(updates2), jax.tree.leaves(grads),
                              strict=True):  # fmt: skip
        expected = 0.0 if path.startswith("layernorm") else -np.float32(0.1) * np.asarray(g)
        np.testing.assert_array_equal(u, expected)
        np.testing.assert_array_equal(u2, expected)
    trace = state.inner_states["train"].inner_state[0].trace
    assert not any(p.startswith("layernorm") for p in leaf_paths(trace))


def test_keep_params_nonnegative():
    p = {"a": jnp.array([1.0, 0.5, 0.0, 2.0]), "b": jnp.array([3.0])}
    u = {"a": jnp.array([-0.5, -2.0, -1.0, 1.0]), "b": jnp.array([-3.5])}
    tx = gradtx.chain(gradtx.identity(), gradtx.keep_params_nonnegative())
    out, _ = tx.update(u, tx.init(p), p)
    pa, ua = np.asarray(p["a"]), np.asarray(u["a"])
    np.testing.assert_array_equal(out["a"], np.where(pa + ua < 0, -pa, ua))
    np.testing.assert_array_equal(out["b"], [-3.0])
    new = gradtx.apply_updates(p, out)
    assert all(np.all(np.asarray(x) >= 0) for x in jax.tree.leaves(new))
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(u, tx.init(p))


WEIGHT_DECAY_MASKS = {
    "glob": "*/bias",
    "glob_list": ["dense0/bias", "*norm*/bias", "dense1/bias"],
    "by_path": gradtx.by_path({"*/bias": True}),
    "prefix_tree": {"dense0": {"w": False, "bias": True}, "layernorm": {"scale": False,
                    "bias": True}, "dense1": {"w": False, "bias": True}},
}  # fmt: skip
BIAS_TREE = {
    "dense0": {"w": False, "bias": True},
    "layernorm": {"scale": False, "bias": True},
    "dense1": {"w": False, "bias": True},
}


@pytest.mark.parametrize("name", list(WEIGHT_DECAY_MASKS))
@pytest.mark.parametrize(
    "factory",
    [
        lambda m: gradtx.add_decayed_weights(0.5, mask=m),
        lambda m: gradtx.add_l2_regularization(0.5, mask=m),
        lambda m: gradtx.add_l1_regularization(0.5, mask=m),
        lambda m: gradtx.adamw(0.1, weight_decay=0.5, mask=m),
        lambda m: gradtx.lion(0.1, weight_decay=0.5, mask=m),
    ],
    ids=["add_decayed_weights", "l2", "l1", "adamw", "lion"],
)
def test_weight_decay_masks_take_every_form_masked_takes(name, factory):
    params = mlp_params()
    grads = grads_like(params)
    tx, reference = factory(WEIGHT_DECAY_MASKS[name]), factory(BIAS_TREE)
    updates = jax.jit(tx.update)(grads, tx.init(params), params)[0]
    expected = jax.jit(reference.update)(grads, reference.init(params), params)[0]
    for u, e in zip(jax.tree.leaves(updates), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(u, e)
    decayed = {"dense0/bias", "layernorm/bias", "dense1/bias"}
    explained = gradtx.explain(tx, params)
    for path, names in explained.items():
        has_decay = any(n.startswith("add_") for n in names)
        assert has_decay == (path in decayed), (path, names)


def test_add_decayed_weights_with_a_glob_mask_decays_only_the_matching_leaves():
    params = mlp_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    tx = gradtx.add_decayed_weights(0.5, mask="*/bias")
    updates = tx.update(zeros, tx.init(params), params)[0]
    for path, u, p in zip(leaf_paths(params), jax.tree.leaves(updates), jax.tree.leaves(params),
                          strict=True):  # fmt: skip
        np.testing.assert_array_equal(u, 0.5 * np.asarray(p) if path.endswith("bias") else 0.0)


def test_weight_decay_masks_may_be_traced():
    params = mlp_params()
    zeros = jax.tree.map(jnp.zeros_like, params)

    def decay(flag):
        tx = gradtx.add_decayed_weights(0.5, mask={"dense0": flag, "layernorm": False,
                                                    "dense1": True})  # fmt: skip
        return tx.update(zeros, tx.init(params), params)[0]["dense0"]["w"]

    out = jax.vmap(decay)(jnp.array([True, False]))
    np.testing.assert_array_equal(out[0], 0.5 * np.asarray(params["dense0"]["w"]))
    np.testing.assert_array_equal(out[1], 0.0)


# --- Optax's forms: prefix masks collapse subtrees, callable pytrees, masked extra args --------


def _same_structure(ours, theirs):
    """Same tree structure, node classes compared by name (gradtx's and Optax's state
    classes are different classes with the same names and fields)."""
    return str(jax.tree.structure(ours)) == str(jax.tree.structure(theirs))


@pytest.mark.parametrize(
    "mask",
    [
        {"a": [True, (True, False)], "b": False},
        {"a": False, "b": {"c": True, "d": False}},
        lambda p: {"a": [False, True], "b": True},
    ],
)
def test_masked_and_partition_states_have_optax_structure(mask):
    import optax

    params = {"a": [jnp.ones(1), (jnp.ones(2), jnp.ones(3))], "b": {"c": jnp.ones(4), "d": 5.0}}
    params = jax.tree.map(jnp.asarray, params)
    ours = gradtx.masked(gradtx.sgd(1.0, momentum=0.9), mask).init(params)
    theirs = optax.masked(optax.sgd(1.0, momentum=0.9), mask).init(params)
    assert _same_structure(ours, theirs)
    grads = jax.tree.map(lambda p: p * 0.5, params)
    tx_ours = gradtx.masked(gradtx.sgd(1.0, momentum=0.9), mask)
    tx_theirs = optax.masked(optax.sgd(1.0, momentum=0.9), mask)
    s_ours, s_theirs = tx_ours.init(params), tx_theirs.init(params)
    for _ in range(2):
        u_ours, s_ours = tx_ours.update(grads, s_ours)
        u_theirs, s_theirs = tx_theirs.update(grads, s_theirs)
        jax.tree.map(np.testing.assert_allclose, u_ours, u_theirs)
    # partition builds its label masks the same way
    labels = jax.tree.map(lambda m: "on" if m else "off", mask(params) if callable(mask) else mask)
    txs = {"on": gradtx.sgd(1.0, momentum=0.9), "off": gradtx.sgd(0.1)}
    ours = gradtx.partition(txs, labels).init(params)
    theirs = optax.partition(
        {"on": optax.sgd(1.0, momentum=0.9), "off": optax.sgd(0.1)}, labels
    ).init(params)
    assert _same_structure(ours, theirs)


def test_a_callable_pytree_mask_is_a_tree_not_a_function():
    @jax.tree_util.register_pytree_node_class
    class Module:  # an Equinox-like module: a pytree that is also callable
        def __init__(self, w):
            self.w = w

        def __call__(self, x):
            return self.w * x

        def tree_flatten(self):
            return (self.w,), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    module = Module(jnp.array([1.0, 2.0]))
    for flag, expected in ((False, [1.0, 2.0]), (True, [-1.0, -2.0])):
        tx = gradtx.masked(gradtx.scale(-1.0), Module(flag))
        new, _ = tx.update(module, tx.init(module))
        np.testing.assert_array_equal(new.w, expected)


def test_mask_compatible_extra_args_masks_tagged_trees():
    seen = {}

    def init(params):
        return ()

    def update(updates, state, params=None, *, tags=None, **extra):
        seen["tags"] = tags
        return updates, state

    params = {"w": jnp.ones(2), "b": jnp.ones(1)}
    tags = {"w": "matrix", "b": "vector"}
    mask = {"w": True, "b": False}
    tx = gradtx.masked(gradtx.GradientTransformation(init, update), mask,
                       mask_compatible_extra_args=True)  # fmt: skip
    tx.update(params, tx.init(params), tags=tags)
    assert seen["tags"]["w"] == "matrix" and isinstance(seen["tags"]["b"], gradtx.MaskedNode)
    tx = gradtx.masked(gradtx.GradientTransformation(init, update), mask)
    tx.update(params, tx.init(params), tags=tags)
    assert seen["tags"] == tags


def test_a_mask_with_missing_keys_names_them():
    with pytest.raises(ValueError, match=r"Dict key mismatch; expected keys: \['w'\]"):
        gradtx.masked(gradtx.sgd(1.0), {"w": True}).init({"w": jnp.ones(1), "b": jnp.ones(1)})


def test_map_params_matches_optax_through_masks_and_partitions():
    import optax

    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    specs = {"w": ("data", "model"), "b": ("model",)}
    cases = [
        (gradtx.adam(1e-3), optax.adam(1e-3)),
        (gradtx.masked(gradtx.adam(1e-3), {"w": True, "b": False}),
         optax.masked(optax.adam(1e-3), {"w": True, "b": False})),
        (gradtx.partition({"x": gradtx.sgd(0.1, 0.9), "y": gradtx.adam(0.1)}, {"w": "x", "b": "y"}),
         optax.partition({"x": optax.sgd(0.1, 0.9), "y": optax.adam(0.1)}, {"w": "x", "b": "y"})),
    ]  # fmt: skip
    is_spec = lambda x: isinstance(x, tuple) and all(isinstance(s, str) for s in x)  # noqa: E731
    for ours, theirs in cases:
        got = gradtx.tree.map_params(
            ours,
            lambda p, s: None if isinstance(p, gradtx.MaskedNode) else s,
            ours.init(params),
            specs,
            transform_non_params=lambda _: None,
            is_leaf=lambda x: isinstance(x, gradtx.MaskedNode),
        )
        want = optax.tree.map_params(
            theirs,
            lambda p, s: None if isinstance(p, optax.MaskedNode) else s,
            theirs.init(params),
            specs,
            transform_non_params=lambda _: None,
            is_leaf=lambda x: isinstance(x, optax.MaskedNode),
        )
        assert jax.tree.leaves(got, is_leaf=is_spec) == jax.tree.leaves(want, is_leaf=is_spec)
        assert gradtx.tree_map_params is gradtx.tree.map_params
