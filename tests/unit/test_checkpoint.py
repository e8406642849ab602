"""gradtx.checkpoint: open format, validation against a template, bit-identical restarts,
atomic writes. Sharded arrays are covered in tests/unit/test_sharding.py (it needs 8 devices)."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import checkpoint
from tests.helpers import counted_update, example_grads, numeric_leaves


def _params():
    rng = np.random.default_rng(0)
    return {
        "dense": {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
                  "b": jnp.asarray(rng.normal(size=4), jnp.bfloat16)},
        "z": jnp.asarray(rng.normal(size=2) + 1j * rng.normal(size=2), jnp.complex64),
    }  # fmt: skip


def _optimizer():
    """Counts, a schedule, a random key, a skip counter and an accumulator all in the state."""
    schedule = gradtx.warmup_cosine_decay_schedule(0.0, 0.1, 3, 20)
    inner = gradtx.chain(
        gradtx.add_noise(0.01, 0.55, key=7),
        gradtx.clip_by_global_norm(1.0),
        gradtx.inject_hyperparams(gradtx.adamw)(learning_rate=schedule, weight_decay=1e-2),
    )
    return gradtx.apply_if_finite(gradtx.MultiSteps(inner, every_k_schedule=2), 3)


def _grads(k, params):
    g = example_grads(k, params)
    if k == 5:  # a non-finite step, skipped by apply_if_finite
        g = jax.tree.map(lambda x: x.at[0].set(jnp.nan) if x.ndim else x, g)
    return g


def _train(step, params, state, steps):
    for k in steps:
        u, state = step(_grads(k, params), state, params)
        params = gradtx.apply_updates(params, u)
    return params, state


def _assert_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert jnp.result_type(x) == jnp.result_type(y)
    for x, y in zip(numeric_leaves(a), numeric_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_restored_run_continues_bit_identically(tmp_path):
    tx = _optimizer()
    step, traces = counted_update(tx)
    params0 = _params()
    full_params, full_state = _train(step, params0, tx.init(params0), range(12))

    params, state = _train(step, params0, tx.init(params0), range(7))
    checkpoint.save(tmp_path / "step_7", {"params": params, "opt_state": state})
    del params, state
    like = {"params": params0, "opt_state": tx.init(params0)}
    restored = checkpoint.restore(tmp_path / "step_7", like)
    params, state = _train(step, restored["params"], restored["opt_state"], range(7, 12))
    assert len(traces) == 1  # the restored state has the exact types: no recompilation

    _assert_identical(params, full_params)
    _assert_identical(state, full_state)
    # The run really used every part of the state: counts moved, a step was skipped, the
    # schedule is past its warmup and the noise key advanced.
    assert int(state.total_notfinite) == 1
    inner = state.inner_state.inner_opt_state
    assert int(inner[2].count) == 5 and int(inner[0].count) == 5
    assert float(inner[2].hyperparams["learning_rate"]) > 0.05
    assert not np.array_equal(
        jax.random.key_data(inner[0].rng_key), jax.random.key_data(jax.random.key(7))
    )


def test_round_trip_of_keys_numpy_and_python_leaves(tmp_path):
    keys = jax.random.split(jax.random.key(3), 4)
    tree = {
        "key": jax.random.key(5),
        "keys": keys,
        "rbg": jax.random.key(1, impl="rbg"),
        "bf16": jnp.arange(6, dtype=jnp.bfloat16).reshape(2, 3) / 3,
        "f16": jnp.asarray([1e-3, 6e4], jnp.float16),
        "i8": np.arange(3, dtype=np.int8),
        "np_scalar": np.float32(2.5),
        "step": 12,
        "flag": True,
        "empty": jnp.zeros((0, 3)),
    }
    checkpoint.save(tmp_path / "c", tree)
    out = checkpoint.restore(tmp_path / "c", tree)
    _assert_identical(out, tree)
    assert out["step"] == 12 and type(out["step"]) is int and out["flag"] is True
    assert isinstance(out["i8"], np.ndarray) and isinstance(out["np_scalar"], np.float32)
    assert str(out["rbg"].dtype) == "key<rbg>"
    # The restored keys draw the same numbers.
    np.testing.assert_array_equal(
        jax.random.normal(out["keys"][2], (3,)), jax.random.normal(keys[2], (3,))
    )
    # A template of shapes (jax.eval_shape) works too.
    shapes = jax.eval_shape(lambda: {k: v for k, v in tree.items() if isinstance(v, jax.Array)})
    out = checkpoint.restore(tmp_path / "c", {**tree, **shapes})
    _assert_identical(out, tree)


def test_the_format_is_open_and_the_manifest_complete(tmp_path):
    tx = gradtx.adam(0.1)
    params = _params()
    state = tx.update(example_grads(0, params), tx.init(params))[1]
    checkpoint.save(tmp_path / "c", {"opt_state": state}, metadata={"step": 1})
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest == checkpoint.read_manifest(tmp_path / "c")
    assert manifest["format"] == "gradtx-checkpoint" and manifest["format_version"] == 1
    assert manifest["gradtx_version"] == gradtx.__version__
    assert manifest["jax_version"] == jax.__version__
    assert manifest["metadata"] == {"step": 1}
    assert "ScaleByAdamState" in manifest["treedef"]
    assert manifest["treedef"] == str(jax.tree.structure({"opt_state": state}))
    flat = jax.tree_util.tree_flatten_with_path({"opt_state": state})[0]
    assert [e["path"] for e in manifest["leaves"]] == [jax.tree_util.keystr(p) for p, _ in flat]
    # Plain numpy reads every array; bfloat16 is stored as its raw uint16 bits.
    with np.load(tmp_path / "c" / "arrays.npz") as npz:
        for entry, (_, leaf) in zip(manifest["leaves"], flat, strict=True):
            assert entry["shape"] == list(leaf.shape)
            assert entry["dtype"] == jnp.dtype(leaf.dtype).name
            raw = npz[entry["array"]]
            if leaf.dtype == jnp.bfloat16:
                assert raw.dtype == np.uint16
                raw = raw.view(jnp.bfloat16)
            np.testing.assert_array_equal(raw, np.asarray(leaf))


def test_restore_names_every_differing_path(tmp_path):
    params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    tx = gradtx.adam(0.1)
    checkpoint.save(tmp_path / "c", {"params": params, "opt_state": tx.init(params)})

    other = {"w": jnp.zeros((2, 4)), "bias": jnp.zeros(3)}
    like = {"params": other, "opt_state": gradtx.adam(0.1, mu_dtype=jnp.bfloat16).init(other)}
    with pytest.raises(ValueError, match="does not match the template") as e:
        checkpoint.restore(tmp_path / "c", like)
    msg = str(e.value)
    assert "['params']['w']: shape [2, 3] in the checkpoint, [2, 4] in the template" in msg
    assert "['params']['bias']: in the template but not in the checkpoint" in msg
    assert "['params']['b']: in the checkpoint but not in the template" in msg
    assert "[0].mu['w']: shape [2, 3] in the checkpoint, [2, 4]" in msg
    assert "[0].mu['w']: dtype float32 in the checkpoint, bfloat16 in the template" in msg

    # Same leaves, another state class: the containers are reported.
    belief = gradtx.scale_by_belief()
    with pytest.raises(ValueError, match="containers differ") as e:
        checkpoint.restore(
            tmp_path / "c",
            {"params": params, "opt_state": (belief.init(params), gradtx.EmptyState())},
        )
    assert "ScaleByAdamState" in str(e.value) and "ScaleByBeliefState" in str(e.value)


def test_save_refuses_to_overwrite_and_non_array_leaves(tmp_path):
    checkpoint.save(tmp_path / "c", {"a": jnp.ones(2)})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        checkpoint.save(tmp_path / "c", {"a": jnp.zeros(2)})
    checkpoint.save(tmp_path / "c", {"a": jnp.zeros(2)}, overwrite=True)
    np.testing.assert_array_equal(checkpoint.restore(tmp_path / "c", {"a": jnp.ones(2)})["a"], 0)
    with pytest.raises(TypeError, match=r"\['f'\] is a function"):
        checkpoint.save(tmp_path / "d", {"f": jnp.sin})
    assert not (tmp_path / "d").exists()
    with pytest.raises(FileNotFoundError, match="no gradtx checkpoint"):
        checkpoint.restore(tmp_path / "nothing", {"a": jnp.ones(2)})


def _leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path / "c", {"a": jnp.ones(2)})
    assert not (tmp_path / "c").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("stage", ["arrays", "manifest", "rename"])
def test_a_killed_writer_never_leaves_a_checkpoint_that_restores(tmp_path, monkeypatch, stage):
    """A writer killed mid-save runs no cleanup: simulate it by stopping at ``stage`` with
    cleanup disabled, then check what a later reader sees."""
    like = {"a": jnp.ones(1000)}
    checkpoint.save(tmp_path / "old", {"a": jnp.full(1000, 2.0)})

    class Killed(BaseException):
        pass

    real_savez, real_dump = checkpoint.np.savez, checkpoint.json.dump

    def savez(f, **arrays):
        real_savez(f, **arrays)
        if stage == "arrays":
            f.truncate(f.tell() // 2)  # half of the array file reached the disk
            raise Killed

    def dump(obj, f, **kwargs):
        if stage == "manifest":
            f.write(json.dumps(obj)[:50])  # half a manifest
            raise Killed
        real_dump(obj, f, **kwargs)

    def commit(*args):
        raise Killed

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    monkeypatch.setattr(checkpoint.json, "dump", dump)
    if stage == "rename":
        monkeypatch.setattr(checkpoint, "_commit", commit)
    monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *a, **k: None)  # no cleanup

    for target, overwrite in [(tmp_path / "new", False), (tmp_path / "old", True)]:
        with pytest.raises(Killed):
            checkpoint.save(target, {"a": jnp.zeros(1000)}, overwrite=overwrite)
    monkeypatch.undo()

    # The interrupted writes left hidden temporary directories only ...
    assert [n.split(".tmp-")[0] for n in _leftovers(tmp_path)] == [".new", ".old"]
    # ... a new checkpoint does not exist, and the old one is intact.
    with pytest.raises(FileNotFoundError, match="no gradtx checkpoint"):
        checkpoint.restore(tmp_path / "new", like)
    np.testing.assert_array_equal(checkpoint.restore(tmp_path / "old", like)["a"], 2.0)
    if stage != "rename":
        # A partial temporary directory moved into place by hand does not restore either.
        tmp = next(p for p in tmp_path.iterdir() if p.name.startswith(".new"))
        shutil.copytree(tmp, tmp_path / "renamed")
        with pytest.raises((FileNotFoundError, ValueError)):
            checkpoint.restore(tmp_path / "renamed", like)


def test_a_damaged_array_file_is_reported(tmp_path):
    like = {"a": jnp.arange(1000.0)}
    checkpoint.save(tmp_path / "c", like)
    path = tmp_path / "c" / "arrays.npz"
    data = bytearray(path.read_bytes())
    path.write_bytes(data[:-100])
    with pytest.raises(ValueError, match="the checkpoint is damaged"):
        checkpoint.restore(tmp_path / "c", like)
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte: the zip CRC catches it
    path.write_bytes(data)
    with pytest.raises(ValueError, match="cannot read"):
        checkpoint.restore(tmp_path / "c", like)


def _leaves_equal(a, b):
    def data(x):
        return (
            jax.random.key_data(x) if jnp.issubdtype(jnp.result_type(x), jax.dtypes.prng_key) else x
        )

    return all(
        type(x) is type(y)
        and getattr(x, "dtype", None) == getattr(y, "dtype", None)
        and np.array_equal(data(x), data(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


@pytest.mark.parametrize("name", ["arrays.npz", "manifest.json"])
def test_every_damaged_byte_restores_the_data_or_raises_value_error_naming_the_file(tmp_path, name):
    """Each byte of the file flipped (all bits, then the lowest): restore gives back the saved
    tree (a field nothing reads, such as a zip timestamp) or raises ValueError naming the
    checkpoint, never zipfile's NotImplementedError/RuntimeError or a KeyError."""
    tree = {
        "w": jnp.arange(6.0).reshape(2, 3),
        "b": jnp.ones(3, jnp.int32),
        "key": jax.random.key(0),
        "n": np.ones(2),
        "s": 1.5,
    }
    directory = checkpoint.save(tmp_path / "c", tree)
    path = tmp_path / "c" / name
    original = path.read_bytes()
    restored, messages = 0, []
    for i in range(len(original)):
        for flip in (0xFF, 0x01):
            damaged = bytearray(original)
            damaged[i] ^= flip
            path.write_bytes(damaged)
            try:
                out = checkpoint.restore(directory, tree)
            except ValueError as e:
                messages.append(str(e))
            else:
                assert _leaves_equal(out, tree), (i, flip)
                restored += 1
    assert [m for m in messages if str(tmp_path / "c") not in m] == []
    assert len(messages) > len(original)  # most damage is detected
    assert restored > 0
