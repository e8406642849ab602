"""Saving and restoring optimizer state and parameters.

A checkpoint is a directory holding two files in open formats:

* ``arrays.npz``: every leaf as a NumPy array (readable with ``numpy.load``). bfloat16 and
  other ML dtypes are stored as unsigned integers of the same width, random keys as their
  key data.
* ``manifest.json``: the format version, the gradtx and JAX versions, the tree's structure
  (``str`` of its treedef: the transform's state classes and fields) and, for every leaf, its
  key path, shape, dtype and the name of its array.

Save any pytree, typically ``{"params": params, "opt_state": state}``; restore it with a
template of the same structure, such as a freshly initialised state::

    gradtx.checkpoint.save(f"ckpt/{step:08d}", {"params": params, "opt_state": state})
    ...
    like = {"params": params, "opt_state": tx.init(params)}
    restored = gradtx.checkpoint.restore(f"ckpt/{step:08d}", like)

:func:`restore` compares the checkpoint with the template and names every key path that
differs (missing, unexpected, another shape or dtype) before reading any array; a restored
state continues bit for bit as the uninterrupted run would have, step counts, schedules and
random keys included.

Writing is atomic: :func:`save` writes into a hidden temporary directory next to the target
and renames it into place once both files are complete and flushed to disk, so a writer
killed at any point never leaves a partial checkpoint that restores: the target holds the
previous checkpoint or nothing (saving each step to its own directory keeps the previous
steps in place whatever happens).

Sharded arrays are gathered on save and placed with the template's shardings on restore.
With several processes (``jax.distributed``), call both functions on every process: the
arrays are gathered across processes, process 0 writes (to a file system every process can
read) and the others wait until the checkpoint is complete.

Example:
    >>> import tempfile, pathlib
    >>> tx = gradtx.adam(0.1)
    >>> params = {"w": jnp.ones(3)}
    >>> state = tx.update({"w": jnp.ones(3)}, tx.init(params))[1]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "step_1"
    >>> _ = gradtx.checkpoint.save(path, {"params": params, "opt_state": state})
    >>> restored = gradtx.checkpoint.restore(path, {"params": params, "opt_state": tx.init(params)})
    >>> restored["opt_state"][0].count, restored["opt_state"][0].mu["w"]
    (Array(1, dtype=int32), Array([0.1, 0.1, 0.1], dtype=float32))
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import shutil
import struct
import uuid
import zipfile
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["read_manifest", "restore", "save"]

FORMAT = "gradtx-checkpoint"
FORMAT_VERSION = 1
ARRAYS = "arrays.npz"
MANIFEST = "manifest.json"

_SCALARS = (bool, int, float, complex)


def _is_key(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jax.dtypes.prng_key)


def _to_numpy(path: str, x: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """One leaf as a host array and its manifest entry (without the array name)."""
    entry: dict[str, Any] = {"path": path}
    if isinstance(x, (*_SCALARS, np.ndarray, np.generic)):
        arr = np.asarray(x)
        entry["kind"] = type(x).__name__ if isinstance(x, _SCALARS) else "numpy"
    elif isinstance(x, jax.Array):
        entry["kind"] = "array"
        if _is_key(x):
            entry["kind"] = "prng_key"
            entry["key_dtype"] = str(x.dtype)
            entry["impl"] = str(jax.random.key_impl(x))
            x = jax.random.key_data(x)
        if not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            x = multihost_utils.process_allgather(x, tiled=True)
        arr = np.asarray(x)
    else:
        kind = "a function" if callable(x) else f"a {type(x).__name__}"
        raise TypeError(
            f"checkpoint.save(): the leaf at {path} is {kind} ({x!r}); a checkpoint holds "
            "arrays and Python numbers only."
        )
    entry["shape"] = list(arr.shape)
    entry["dtype"] = arr.dtype.name
    if arr.dtype.kind == "V":  # bfloat16, float8...: raw bits as an unsigned integer
        arr = arr.view(np.dtype(f"uint{8 * arr.dtype.itemsize}"))
    return arr, entry


def _fsync(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(tmp: pathlib.Path, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    with open(tmp / ARRAYS, "wb") as f:
        np.savez(f, **arrays)  # pyright: ignore[reportArgumentType]
        f.flush()
        os.fsync(f.fileno())
    manifest["arrays_bytes"] = (tmp / ARRAYS).stat().st_size
    with open(tmp / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    _fsync(tmp)


def _commit(tmp: pathlib.Path, directory: pathlib.Path, overwrite: bool) -> None:
    old = None
    if directory.exists() and overwrite:
        old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(directory, old)
    try:
        os.rename(tmp, directory)  # atomic; fails if another writer got there first
    except OSError:
        if old is not None:
            os.rename(old, directory)
        raise
    _fsync(directory.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save(
    directory: str | os.PathLike[str],
    tree: Any,
    *,
    overwrite: bool = False,
    metadata: dict[str, Any] | None = None,
) -> pathlib.Path:
    """Writes ``tree`` (params, optimizer state, anything made of arrays) to ``directory``.

    Args:
        directory: the checkpoint directory to create; its parent is created if needed.
        tree: a pytree whose leaves are arrays (``jax.Array``, sharded or not, including
            random keys; NumPy arrays) or Python numbers.
        overwrite: replace an existing checkpoint at ``directory`` (otherwise a
            ``FileExistsError``). The old one is moved to a hidden ``.<name>.old-*``
            directory and deleted once the new one is in place; a writer killed between the
            two renames leaves it there.
        metadata: JSON-serialisable information stored in the manifest (a step, a config).

    Returns:
        The checkpoint directory.

    Raises:
        FileExistsError: ``directory`` exists and ``overwrite`` is false.
        TypeError: a leaf is neither an array nor a number (the message names its path).

    Example:
        >>> import tempfile
        >>> tx = gradtx.adam(1e-3)
        >>> params = {"w": jnp.ones(3)}
        >>> state = tx.update({"w": jnp.ones(3)}, tx.init(params), params)[1]
        >>> path = gradtx.checkpoint.save(tempfile.mkdtemp() + "/step_1", (params, state))
        >>> restored = gradtx.checkpoint.restore(path, like=(params, tx.init(params)))
        >>> int(restored[1][0].count)
        1
    """
    directory = pathlib.Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(
            f"checkpoint.save(): {directory} already exists; pass overwrite=True to replace it "
            "or save each step to its own directory."
        )
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    arrays, entries = {}, []
    for i, (path, leaf) in enumerate(flat):
        arr, entry = _to_numpy(jax.tree_util.keystr(path), leaf)
        entry["array"] = f"a{i}"
        arrays[entry["array"]] = arr
        entries.append(entry)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gradtx_version": importlib.import_module("gradtx").__version__,
        "jax_version": jax.__version__,
        "treedef": str(treedef),
        "leaves": entries,
        "metadata": metadata or {},
    }
    if jax.process_count() > 1:  # every process has checked that directory is free
        _barrier(f"gradtx.checkpoint.save:{directory}:gathered")
    if jax.process_index() == 0:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            _write(tmp, arrays, manifest)
            _commit(tmp, directory, overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if jax.process_count() > 1:  # nobody reads it before it is complete
        _barrier(f"gradtx.checkpoint.save:{directory}:written")
    return directory


def _barrier(name: str) -> None:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of the checkpoint at ``directory`` (a dict read from its JSON file).

    Raises:
        FileNotFoundError: there is no complete checkpoint at ``directory``.
        ValueError: the manifest is not a gradtx checkpoint manifest.

    Example:
        >>> import tempfile
        >>> path = gradtx.checkpoint.save(tempfile.mkdtemp() + "/ckpt", {"w": jnp.ones(2)})
        >>> [(leaf["path"], leaf["shape"], leaf["dtype"]) for leaf in
        ...  gradtx.checkpoint.read_manifest(path)["leaves"]]
        [("['w']", [2], 'float32')]
    """
    directory = pathlib.Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint: no gradtx checkpoint at {directory} ({MANIFEST} is missing). A save "
            "that did not finish leaves only a hidden temporary directory next to it, which is "
            "never read."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"checkpoint: {path} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"checkpoint: {path} is not a gradtx checkpoint manifest.")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"checkpoint: {directory} has format version {manifest['format_version']}; this "
            f"gradtx reads versions up to {FORMAT_VERSION}. Upgrade gradtx."
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise ValueError(f"checkpoint: {path} is damaged: {problem}.")
    return manifest


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with a parsed manifest's fields, or None."""
    if not isinstance(manifest.get("treedef"), str):
        return "no 'treedef' string"
    if not isinstance(manifest.get("arrays_bytes"), int):
        return "no 'arrays_bytes' integer"
    leaves = manifest.get("leaves")
    if not isinstance(leaves, list):
        return "no 'leaves' list"
    for i, entry in enumerate(leaves):
        if not isinstance(entry, dict):
            return f"leaf {i} is not an object"
        for key in ("path", "array", "dtype"):
            if not isinstance(entry.get(key), str):
                return f"leaf {i} has no '{key}' string"
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            return f"leaf {i} has no 'shape' list of sizes"
        is_key = entry.get("kind") == "prng_key"
        if any(is_key != isinstance(entry.get(k), str) for k in ("key_dtype", "impl")):
            return f"leaf {i} has a damaged kind, key_dtype or impl"
        try:
            jnp.dtype(entry["dtype"])
        except TypeError:
            return f"leaf {i} has an unknown dtype"
    return None


def _expected(path: str, leaf: Any) -> dict[str, Any]:
    if isinstance(leaf, _SCALARS):
        return {"path": path, "shape": [], "dtype": np.asarray(leaf).dtype.name}
    if _is_key(leaf):
        data = jax.eval_shape(jax.random.key_data, leaf)
        return {
            "path": path,
            "shape": list(data.shape),
            "dtype": np.dtype(data.dtype).name,
            "key_dtype": str(leaf.dtype),
        }
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        return {"path": path, "shape": list(np.shape(leaf)), "dtype": jnp.dtype(leaf.dtype).name}
    raise TypeError(
        f"checkpoint.restore(): the template leaf at {path} is a {type(leaf).__name__}; use "
        "arrays, jax.ShapeDtypeStruct or Python numbers."
    )


def _differences(saved: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[str]:
    by_path = {e["path"]: e for e in saved}
    wanted_paths = {e["path"] for e in wanted}
    out = []
    for e in wanted:
        s = by_path.get(e["path"])
        if s is None:
            out.append(f"{e['path']}: in the template but not in the checkpoint")
            continue
        for key in ("key_dtype", "shape", "dtype"):
            if key in e and s.get(key) != e[key]:
                out.append(
                    f"{e['path']}: {key} {s.get(key)} in the checkpoint, {e[key]} in the template"
                )
    out += [
        f"{e['path']}: in the checkpoint but not in the template"
        for e in saved
        if e["path"] not in wanted_paths
    ]
    return out


def _place(arr: np.ndarray, entry: dict[str, Any], leaf: Any) -> Any:
    if "impl" in entry:
        key = jax.random.wrap_key_data(jnp.asarray(arr), impl=entry["impl"])
        sharding = getattr(leaf, "sharding", None)
        return key if sharding is None else jax.device_put(key, sharding)
    if isinstance(leaf, _SCALARS):
        return type(leaf)(arr.item())
    if isinstance(leaf, np.generic):
        return arr[()]
    if isinstance(leaf, np.ndarray):
        return arr
    sharding = getattr(leaf, "sharding", None)
    if sharding is None:
        return jnp.asarray(arr)
    return jax.make_array_from_callback(arr.shape, sharding, lambda index: arr[index])


# What zipfile and numpy raise on a damaged .npz: besides BadZipFile, a flipped byte in a
# header's version, flag or compression fields gives NotImplementedError (e.g. "That
# compression method is not supported") or RuntimeError (an "encrypted" flag); damaged
# lengths give struct.error, EOFError or OverflowError; damaged deflate data zlib.error.
_DAMAGED_ZIP = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    NotImplementedError,
    OverflowError,
    RuntimeError,
    struct.error,
    zipfile.BadZipFile,
    zlib.error,
)


def restore(directory: str | os.PathLike[str], like: Any) -> Any:
    """Reads the checkpoint at ``directory`` into the structure of ``like``.

    ``like`` is a template: a freshly initialised state (``tx.init(params)``), the same tree
    from ``jax.eval_shape``, or any tree with the structure, shapes and dtypes of what was
    saved. Arrays are placed with the template leaf's sharding when it has one (sharded
    arrays, or ``jax.ShapeDtypeStruct(..., sharding=...)``), so a state saved from one mesh
    restores onto another; NumPy and Python-number leaves come back as such.

    Args:
        directory: the checkpoint directory.
        like: the template.

    Returns:
        The saved tree, with ``like``'s structure.

    Raises:
        FileNotFoundError: there is no complete checkpoint at ``directory``.
        ValueError: the checkpoint does not match the template (the message lists every key
            path that differs), or one of its files is damaged (the message names it).

    Example:
        >>> import tempfile
        >>> path = gradtx.checkpoint.save(tempfile.mkdtemp() + "/ckpt", {"w": jnp.ones(2)})
        >>> gradtx.checkpoint.restore(path, like={"w": jnp.zeros(2)})["w"]
        Array([1., 1.], dtype=float32)
    """
    directory = pathlib.Path(directory)
    manifest = read_manifest(directory)
    arrays_path = directory / ARRAYS
    size = arrays_path.stat().st_size if arrays_path.is_file() else None
    if size != manifest.get("arrays_bytes"):
        raise ValueError(
            f"checkpoint.restore(): {arrays_path} has {size} bytes but the manifest records "
            f"{manifest.get('arrays_bytes')}; the checkpoint is damaged."
        )
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    wanted = [_expected(jax.tree_util.keystr(p), leaf) for p, leaf in flat]
    saved = manifest["leaves"]
    problems = _differences(saved, wanted)
    if not problems and manifest["treedef"] != str(treedef):
        problems.append(
            "the leaves match but the containers differ (another transform's state class?):\n"
            f"    checkpoint: {manifest['treedef']}\n    template:   {treedef}"
        )
    if problems:
        raise ValueError(
            f"checkpoint.restore(): {directory} does not match the template "
            f"({len(problems)} difference{'s' if len(problems) > 1 else ''}):\n  "
            + "\n  ".join(problems)
            + "\nRestore with a template built like the saved tree, e.g. tx.init(params) for "
            "the same tx (gradtx "
            f"{manifest.get('gradtx_version')} wrote this checkpoint)."
        )
    by_path = {e["path"]: e for e in saved}
    leaves = []
    try:
        # Opened here, so that a file np.load fails to parse is closed all the same.
        with open(arrays_path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            for (_, leaf), want in zip(flat, wanted, strict=True):
                entry = by_path[want["path"]]
                arr = npz[entry["array"]]
                dtype = jnp.dtype(entry["dtype"])
                if arr.dtype != dtype:
                    arr = arr.view(dtype)
                leaves.append(_place(arr.reshape(entry["shape"]), entry, leaf))
    except _DAMAGED_ZIP as e:
        raise ValueError(f"checkpoint.restore(): cannot read {arrays_path}: {e}") from e
    return jax.tree_util.tree_unflatten(treedef, leaves)
