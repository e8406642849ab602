"""gradtx against Optax and torch.optim, step by step, on the same inputs.

Every case runs gradtx for 50 steps in float32 on a small pytree (a (3, 4) matrix and a (4,)
vector) from the same initial parameters and the same sequence of gradients, drawn once from a
NumPy ``RandomState``. The gradients change scale from step to step (so clipping thresholds are
sometimes hit and sometimes not) and one coordinate is exactly zero for the first steps (the
zero branches of the accumulators).

* Optax: the updates are compared at every step and the parameters after every step, with
  Optax's code evaluated in float64 on the same float32 inputs and float32 hyperparameters
  (see the comment above ``OPTAX_TRANSFORMS`` for why).
* torch.optim (which only exposes parameters): the parameters after every step, torch in
  float32.

The tolerance is ``rtol=1e-5`` with an absolute tolerance of ``1e-7`` times the magnitude of
the computation (see :class:`_Magnitudes`), so that an entry that cancels to nearly zero is
judged on the scale of the terms that produced it.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import gradtx

N_STEPS = 50
RTOL = 1e-5
ATOL = 1e-7


# --- shared inputs and loop -------------------------------------------------------------------


def _initial_params() -> dict[str, np.ndarray]:
    rs = np.random.RandomState(0)
    return {
        "w": rs.standard_normal((3, 4)).astype(np.float32),
        "b": rs.standard_normal(4).astype(np.float32),
    }


def _gradients(n_steps: int = N_STEPS) -> list[dict[str, np.ndarray]]:
    rs = np.random.RandomState(1)
    grads = []
    for k in range(n_steps):
        scale = np.float32(np.exp(rs.uniform(-2.0, 2.0)))
        g = {
            "w": (scale * rs.standard_normal((3, 4))).astype(np.float32),
            "b": (scale * rs.standard_normal(4)).astype(np.float32),
        }
        if k < 5:
            g["b"][0] = 0.0
        grads.append(g)
    return grads


def _values(n_steps: int = N_STEPS) -> list[np.float32]:
    """A loss value for each step, for the transforms that take one (Polyak's step): some
    below the default ``f_min = 0``, some large enough that the step hits its maximum."""
    rs = np.random.RandomState(2)
    return [np.float32(v) for v in rs.uniform(-0.5, 3.0, n_steps)]


def _max_abs(tree: Any) -> float:
    return max(float(np.max(np.abs(np.asarray(leaf)))) for leaf in jax.tree_util.tree_leaves(tree))


def _assert_tree_close(actual: Any, expected: Any, what: str, step: int, scale: float) -> None:
    """``rtol=1e-5`` and ``atol=1e-7 * scale``; ``scale`` is the magnitude of the computation.

    ``actual`` is gradtx's output and must be float32; ``expected`` may be float64.
    """
    actual_leaves = jax.tree_util.tree_leaves_with_path(actual)
    expected_leaves = jax.tree_util.tree_leaves_with_path(expected)
    assert [p for p, _ in actual_leaves] == [p for p, _ in expected_leaves], what
    for (path, a), (_, e) in zip(actual_leaves, expected_leaves, strict=True):
        a, e = np.asarray(a), np.asarray(e)
        where = f"{what}{jax.tree_util.keystr(path)} at step {step}"
        assert a.dtype == np.float32, f"{where}: dtype {a.dtype}, expected float32"
        assert a.shape == e.shape, f"{where}: shape {a.shape} vs {e.shape}"
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL * scale, err_msg=where)


class _Magnitudes:
    """The scales of the absolute tolerance, from the reference's trajectory.

    An update entry can be the small difference of large terms (a momentum buffer summing
    steps of both signs, decoupled weight decay against the adaptive step), so its absolute
    error is relative to the largest update seen so far. A parameter accumulates the rounding
    of every step, so its absolute error is relative to the distance travelled: the initial
    magnitude plus the sum of the largest step of each update.
    """

    def __init__(self, params: Any) -> None:
        self.update = 0.0
        self.path = _max_abs(params)

    def add_step(self, step_size: float) -> None:
        self.update = max(self.update, step_size)
        self.path += step_size


def _gradtx_trajectory(
    tx: gradtx.GradientTransformation, with_value: bool = False
) -> Iterator[tuple[Any, Any, Any]]:
    """Yields ``(grads, updates, new_params)`` for 50 steps, float32, the step jitted once.

    ``with_value``: ``update`` is also given the loss value of :func:`_values`.
    """

    def step(grads, state, params, value):
        extra = {"value": value} if with_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return updates, state, gradtx.apply_updates(params, updates)

    step = jax.jit(step)
    params = {name: jnp.asarray(value) for name, value in _initial_params().items()}
    state = tx.init(params)
    for grads, value in zip(_gradients(), _values(), strict=True):
        updates, state, params = step(grads, state, params, value)
        yield grads, updates, params


def _optax_trajectory(tx: Any, dtype: Any, with_value: bool = False) -> list[tuple[Any, Any]]:
    """``(updates, new_params)`` of each of 50 Optax steps, computed in ``dtype``.

    The reference runs op by op: every case compiles its own jitted gradtx step, but eager
    primitives are compiled once for the whole file, which keeps the file fast.
    """

    def cast(tree):
        return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), tree)

    with jax.enable_x64(dtype == jnp.float64):
        params = cast(_initial_params())
        state = tx.init(params)
        out = []
        for grads, value in zip(_gradients(), _values(), strict=True):
            extra = {"value": jnp.asarray(value, dtype)} if with_value else {}
            updates, state = tx.update(cast(grads), state, params, **extra)
            params = optax.apply_updates(params, updates)
            out.append(jax.tree_util.tree_map(np.asarray, (updates, params)))
    return out


def _compare_with_optax(
    tx: gradtx.GradientTransformation, reference: Any, dtype: Any, with_value: bool = False
) -> None:
    """Updates and parameters agree with Optax's at every one of 50 steps."""
    expected = _optax_trajectory(reference, dtype, with_value)
    scale = _Magnitudes(_initial_params())
    for k, ((_, updates, params), (ref_updates, ref_params)) in enumerate(
        zip(_gradtx_trajectory(tx, with_value), expected, strict=True)
    ):
        scale.add_step(_max_abs(ref_updates))
        _assert_tree_close(updates, ref_updates, "updates", k, scale.update)
        _assert_tree_close(params, ref_params, "params", k, scale.path)


def _compare_with_torch(
    tx: gradtx.GradientTransformation, make_optimizer: Callable[[list[torch.Tensor]], Any]
) -> None:
    """The parameters agree with torch's after every one of 50 steps from the same gradients."""
    tparams = {
        name: torch.tensor(value, requires_grad=True) for name, value in _initial_params().items()
    }
    optimizer = make_optimizer(list(tparams.values()))
    scale = _Magnitudes(_initial_params())
    for k, (grads, _, params) in enumerate(_gradtx_trajectory(tx)):
        before = {name: p.detach().numpy().astype(np.float64) for name, p in tparams.items()}
        for name, p in tparams.items():
            p.grad = torch.tensor(grads[name])
        optimizer.step()
        expected = {name: p.detach().numpy().copy() for name, p in tparams.items()}
        scale.add_step(max(float(np.max(np.abs(expected[n] - before[n]))) for n in expected))
        _assert_tree_close(params, expected, "params", k, scale.path)


def _schedule(count):
    """A learning rate that decays geometrically from 0.1; the same callable for both."""
    return 0.1 * 0.95**count


def _f32(value: Any) -> Any:
    """A Python float rounded to float32, so that both libraries are given the same number."""
    return float(np.float32(value)) if isinstance(value, float) else value


def _case(
    case_id: str,
    gradtx_fn: Callable[..., Any],
    optax_fn: Callable[..., Any],
    *args: Any,
    reference_dtype: Any = jnp.float64,
    with_value: bool = False,
    **kwargs: Any,
) -> Any:
    """gradtx's and Optax's factories called with the same arguments.

    Float arguments are rounded to float32 for both, and Optax's defaults are made explicit
    and rounded too (gradtx rounds its own, which are the same numbers), so that the float64
    reference runs with exactly the hyperparameters that gradtx uses.
    """
    args = tuple(_f32(a) for a in args)
    kwargs = {k: _f32(v) for k, v in kwargs.items()}

    def make_optax():
        bound = inspect.signature(optax_fn).bind(*args, **kwargs)
        bound.apply_defaults()
        return optax_fn(
            *(_f32(a) for a in bound.args), **{k: _f32(v) for k, v in bound.kwargs.items()}
        )

    return pytest.param(
        lambda: gradtx_fn(*args, **kwargs), make_optax, reference_dtype, with_value, id=case_id
    )


def _same(case_id: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """A case for the gradtx and Optax functions called ``name``."""
    return _case(case_id, getattr(gradtx, name), getattr(optax, name), *args, **kwargs)


_MASK = {"w": True, "b": False}


def _mask_fn(params):
    del params
    return {"w": False, "b": True}


def _quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its DeprecationWarning silenced (optimistic_adam warns in both libraries)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fn(*args, **kwargs)

    return call


def _then_small(make: Callable[..., Any], library: Any) -> Callable[..., Any]:
    """``make(*args)`` followed by ``scale(0.01)`` in the same library."""

    def chained(*args):
        return library.chain(make(*args), library.scale(0.01))

    return chained


def _centered_rms(*args, **kwargs):
    return gradtx.scale_by_rms(*args, **kwargs, centered=True)


# --- Optax ------------------------------------------------------------------------------------
#
# The reference is Optax's code evaluated in float64 on the same float32 inputs and the same
# float32-representable hyperparameters, so that the comparison measures gradtx's error rather
# than Optax's own float32 rounding: float32 Optax computes 1 - b2 from the Python double but
# 1 - b2**t from float32(b2), which disagree by 1.3e-5 relative for b2 = 0.999 (its first Adam
# step misses sign(g) by 7e-6 relative, its updates are up to 1e-5 off the float64 values),
# while gradtx uses float32(b2) in both and stays within about 2e-7. The exception is
# add_noise: float64 draws different samples, so its reference is float32 Optax, whose noise
# gradtx reproduces exactly from the same integer seed.

# fmt: off
OPTAX_TRANSFORMS = [
    _same("scale", "scale", -0.3),
    _same("scale_by_learning_rate", "scale_by_learning_rate", 0.1),
    _same("scale_by_learning_rate-ascent", "scale_by_learning_rate", 0.1, flip_sign=False),
    _same("scale_by_learning_rate-schedule", "scale_by_learning_rate", _schedule),
    _same("scale_by_schedule", "scale_by_schedule", _schedule),
    _same("scale_by_sign", "scale_by_sign"),
    _same("scale_by_trust_ratio", "scale_by_trust_ratio"),
    _same("scale_by_trust_ratio-options", "scale_by_trust_ratio",
          min_norm=1.0, trust_coefficient=0.01, eps=0.5),
    _same("trace", "trace", 0.9),
    _same("trace-nesterov", "trace", 0.9, nesterov=True),
    _same("ema", "ema", 0.9),
    _same("ema-no-debias", "ema", 0.9, debias=False),
    _same("scale_by_rss", "scale_by_rss"),
    _same("scale_by_rss-zero-init", "scale_by_rss", 0.0, 1e-10),
    # A zero accumulator gives a zero update, not 0 * inf.
    _same("scale_by_rss-no-eps", "scale_by_rss", 0.0, 0.0),
    _same("scale_by_rss-large-eps", "scale_by_rss", 0.5, 0.1),
    _same("scale_by_rms", "scale_by_rms"),
    *[
        _same(f"scale_by_rms-eps-{'in' if in_sqrt else 'out'}-bc-{bc}", "scale_by_rms",
              0.8, 0.1, 0.1, eps_in_sqrt=in_sqrt, bias_correction=bc)
        for in_sqrt in (True, False)
        for bc in (False, True)
    ],
    # gradtx's centered scale_by_rms is Optax's scale_by_stddev.
    _case("scale_by_rms-centered", _centered_rms, optax.scale_by_stddev),
    _same("scale_by_stddev", "scale_by_stddev"),
    *[
        _same(f"scale_by_stddev-eps-{'in' if in_sqrt else 'out'}-bc-{bc}", "scale_by_stddev",
              0.8, 0.1, 0.1, eps_in_sqrt=in_sqrt, bias_correction=bc)
        for in_sqrt in (True, False)
        for bc in (False, True)
    ],
    _same("scale_by_adam", "scale_by_adam"),
    _same("scale_by_adam-options", "scale_by_adam", 0.8, 0.99, 0.1, 0.01),
    _same("scale_by_adam-nesterov", "scale_by_adam", nesterov=True),
    _same("scale_by_adam-nesterov-eps-root", "scale_by_adam", 0.8, 0.99, 0.1, 0.01,
          nesterov=True),
    _same("scale_by_amsgrad", "scale_by_amsgrad"),
    _same("scale_by_amsgrad-eps-root", "scale_by_amsgrad", 0.8, 0.99, 0.1, 0.01),
    _same("scale_by_amsgrad-no-bias-correction", "scale_by_amsgrad",
          bias_correction_mu=False, bias_correction_nu=False),
    _same("scale_by_adamax", "scale_by_adamax"),
    _same("scale_by_adamax-options", "scale_by_adamax", 0.8, 0.99, 0.1),
    _same("scale_by_belief", "scale_by_belief"),
    _same("scale_by_belief-nesterov", "scale_by_belief", 0.8, 0.99, 0.1, 1e-3, nesterov=True),
    _same("scale_by_lion", "scale_by_lion"),
    _same("scale_by_lion-options", "scale_by_lion", 0.8, 0.95),
    _same("scale_by_lion-smooth", "scale_by_lion", 0.5, mode="smooth", smooth_beta=2.0),
    _same("scale_by_lion-refined", "scale_by_lion", mode="refined"),
    _same("scale_by_radam", "scale_by_radam"),
    _same("scale_by_radam-options", "scale_by_radam", 0.8, 0.99, 0.1, 0.01, 4.0),
    _same("scale_by_radam-nesterov", "scale_by_radam", nesterov=True),
    _same("scale_by_yogi", "scale_by_yogi"),
    _same("scale_by_yogi-options", "scale_by_yogi", 0.8, 0.99, 0.1, 0.01, 0.5),
    _same("scale_by_adan", "scale_by_adan"),
    _same("scale_by_adan-options", "scale_by_adan", 0.9, 0.8, 0.95, 0.1, 0.01),
    _same("scale_by_novograd", "scale_by_novograd"),
    _same("scale_by_novograd-options", "scale_by_novograd", 0.5, 0.8, 0.1, 0.01, 0.1),
    _same("scale_by_adadelta", "scale_by_adadelta"),
    _same("scale_by_adadelta-options", "scale_by_adadelta", 0.5, 0.1),
    _same("scale_by_rprop", "scale_by_rprop", 0.1),
    _same("scale_by_rprop-options", "scale_by_rprop", 0.05, 0.3, 1.5, 0.01, 0.2),
    _same("scale_by_sm3", "scale_by_sm3"),
    _same("scale_by_sm3-options", "scale_by_sm3", 0.5, 0.9, 0.1),
    _same("scale_by_sm3-no-momentum", "scale_by_sm3", 0.0, 0.99, 0.0),
    _same("scale_by_factored_rms", "scale_by_factored_rms"),
    _same("scale_by_factored_rms-factored", "scale_by_factored_rms", min_dim_size_to_factor=3),
    _same("scale_by_factored_rms-options", "scale_by_factored_rms", True, 0.5, -3, 2, 1e-3),
    _same("clip", "clip", 0.5),
    _same("clip_by_global_norm", "clip_by_global_norm", 3.0),
    _same("clip_by_block_rms", "clip_by_block_rms", 0.7),
    _same("adaptive_grad_clip", "adaptive_grad_clip", 0.3),
    _same("adaptive_grad_clip-options", "adaptive_grad_clip", 0.5, 0.1, -1),
    _same("centralize", "centralize"),
    _same("normalize_by_update_norm", "normalize_by_update_norm"),
    _same("normalize_by_update_norm-options", "normalize_by_update_norm", -0.3, 0.1),
    _same("zero_nans", "zero_nans"),
    _same("keep_params_nonnegative", "keep_params_nonnegative"),
    _same("add_decayed_weights", "add_decayed_weights", 0.1),
    _same("add_decayed_weights-mask", "add_decayed_weights", 0.1, _MASK),
    _same("add_decayed_weights-mask-fn", "add_decayed_weights", 0.1, _mask_fn),
    _same("add_decayed_weights-schedule", "add_decayed_weights", _schedule),
    _same("add_decayed_weights-negative", "add_decayed_weights", -0.1),
    _same("add_noise", "add_noise", 0.01, 0.55, key=42, reference_dtype=jnp.float32),
    # Scaled by 0.01 so that the parameters, which multiply the updates, do not blow up.
    *[
        _case(f"{name}{suffix}", _then_small(getattr(gradtx, name), gradtx),
              _then_small(getattr(optax, name), optax), *args)
        for name in ("scale_by_param_block_norm", "scale_by_param_block_rms")
        for suffix, args in (("", ()), ("-large-min", (1.0,)))
    ],
    _same("scale_by_optimistic_gradient", "scale_by_optimistic_gradient"),
    _same("scale_by_optimistic_gradient-options", "scale_by_optimistic_gradient", 0.3, -0.7),
    _same("scale_by_polyak", "scale_by_polyak", with_value=True),
    _same("scale_by_polyak-options", "scale_by_polyak", 0.5, 0.3, 0.1, with_value=True),
    _same("scale_by_polyak-sps+", "scale_by_polyak", variant="sps+", with_value=True),
    # With the default reps_rel = 1e-6 the early steps depend on |w_k - w_0| ~ 1e-6 |w|, which
    # float32 parameters only hold to a few digits: the reference is float32 Optax there.
    _same("scale_by_distance_over_gradients", "scale_by_distance_over_gradients",
          reference_dtype=jnp.float32),
    _same("scale_by_distance_over_gradients-options", "scale_by_distance_over_gradients",
          1e-2, 1e-3, jnp.float32, -0.5),
]

OPTAX_OPTIMIZERS = [
    _same("sgd", "sgd", 0.1),
    _same("sgd-momentum", "sgd", 0.1, 0.9),
    _same("sgd-nesterov", "sgd", 0.1, 0.9, nesterov=True),
    _same("adagrad", "adagrad", 0.1),
    _same("adagrad-options", "adagrad", 0.1, 0.0, 0.1),
    _same("rmsprop", "rmsprop", 0.01),
    _same("rmsprop-centered", "rmsprop", 0.01, centered=True),
    _same("rmsprop-momentum", "rmsprop", 0.01, momentum=0.9),
    _same("rmsprop-nesterov", "rmsprop", 0.01, momentum=0.9, nesterov=True),
    _same("rmsprop-all-options", "rmsprop", 0.01, 0.8, 0.1, 0.1, eps_in_sqrt=False,
          centered=True, momentum=0.5, nesterov=True, bias_correction=True),
    _same("adam", "adam", 1e-2),
    _same("adamw", "adamw", 1e-2, weight_decay=0.1),
    _same("adamw-negative-decay", "adamw", 1e-2, weight_decay=-0.1),
    _same("adamw-schedules", "adamw", _schedule, weight_decay=_schedule),
    _same("nadam", "nadam", 1e-2),
    _same("nadamw", "nadamw", 1e-2, weight_decay=0.1),
    _same("amsgrad", "amsgrad", 1e-2),
    _same("adamax", "adamax", 1e-2),
    _same("adabelief", "adabelief", 1e-2),
    _same("lion", "lion", 1e-3),
    _same("lion-mask", "lion", 1e-3, 0.8, 0.95, weight_decay=0.1, mask=_mask_fn),
    _same("lamb", "lamb", 1e-2),
    _same("lamb-weight-decay", "lamb", 1e-2, weight_decay=0.1),
    _same("radam", "radam", 1e-2),
    _same("radam-schedule-nesterov", "radam", _schedule, nesterov=True),
    _same("radam-threshold", "radam", 1e-2, 0.8, 0.99, threshold=6.0),
    _same("yogi", "yogi", 1e-2),
    _same("yogi-schedule", "yogi", _schedule, 0.8, 0.99, 0.1),
    _same("adan", "adan", 1e-2),
    _same("adan-weight-decay", "adan", 1e-2, weight_decay=0.1, mask=_MASK),
    _same("adan-schedules", "adan", _schedule, weight_decay=_schedule),
    _same("novograd", "novograd", 1e-2),
    _same("novograd-weight-decay", "novograd", _schedule, 0.8, 0.5, weight_decay=0.1),
    _same("adamaxw", "adamaxw", 1e-2),
    _same("adamaxw-mask", "adamaxw", 1e-2, weight_decay=0.1, mask=_mask_fn),
    _same("adamaxw-schedules", "adamaxw", _schedule, weight_decay=_schedule),
    _same("adadelta", "adadelta", 1.0),
    _same("adadelta-no-lr", "adadelta"),
    _same("adadelta-weight-decay", "adadelta", _schedule, 0.5, 1e-3, weight_decay=0.1,
          weight_decay_mask=_MASK),
    _same("rprop", "rprop", 0.01),
    _same("rprop-options", "rprop", 0.05, 0.3, 1.5, 0.001, 0.2),
    _same("sm3", "sm3", 0.1),
    _same("sm3-momentum", "sm3", 0.1, 0.5),
    _same("adafactor", "adafactor", 1e-2),
    _same("adafactor-factored", "adafactor", 1e-2, 3),
    _same("adafactor-no-lr", "adafactor", None, 3),
    # A negative decay_offset: a positive one makes the first decays 1 - 0**-c or NaN.
    _same("adafactor-all-options", "adafactor", _schedule, 2, 0.6, -2, False, 0.5,
          momentum=0.9, weight_decay_rate=0.1, eps=1e-3, weight_decay_mask=_MASK),
    _same("adafactor-unfactored-momentum", "adafactor", 1e-2, 3, factored=False, momentum=0.8,
          clipping_threshold=None, weight_decay_rate=_schedule),
    _same("sign_sgd", "sign_sgd", 0.01),
    _same("noisy_sgd", "noisy_sgd", 0.1, 0.5, 0.3, key=7, reference_dtype=jnp.float32),
    _same("signum", "signum", 0.01),
    _same("signum-schedule", "signum", _schedule, 0.5),
    _same("lars", "lars", 0.1),
    _same("lars-options", "lars", 0.1, 0.01, _mask_fn, 0.5, 0.1, _MASK, 0.8, True),
    _same("lars-schedules", "lars", _schedule, weight_decay=_schedule),
    _same("fromage", "fromage", 0.1),
    _same("fromage-min-norm", "fromage", 0.5, 2.0),
    _same("fromage-schedule", "fromage", _schedule),
    _same("optimistic_gradient_descent", "optimistic_gradient_descent", 0.1),
    _same("optimistic_gradient_descent-options", "optimistic_gradient_descent",
          _schedule, 0.5, 0.3),
    _case("optimistic_adam", _quiet(gradtx.optimistic_adam), _quiet(optax.optimistic_adam),
          1e-2),
    _case("optimistic_adam-options", _quiet(gradtx.optimistic_adam),
          _quiet(optax.optimistic_adam), 1e-2, 0.5, 0.8, 0.99, 1e-3, 1e-4, nesterov=False),
    _same("optimistic_adam_v2", "optimistic_adam_v2", 1e-2),
    _same("optimistic_adam_v2-options", "optimistic_adam_v2", _schedule, alpha=0.5, beta=2.0,
          b1=0.8, b2=0.99, eps=1e-3, eps_root=1e-4, nesterov=False),
    _same("polyak_sgd", "polyak_sgd", with_value=True),
    _same("polyak_sgd-options", "polyak_sgd", 0.5, 0.3, 0.1, 0.01, "sps+", with_value=True),
    _same("polyak_sgd-schedule", "polyak_sgd", 2.0, _schedule, with_value=True),
]
# fmt: on


_PARAMS = ("make_gradtx", "make_optax", "reference_dtype", "with_value")


@pytest.mark.parametrize(_PARAMS, OPTAX_TRANSFORMS)
def test_transform_matches_optax(make_gradtx, make_optax, reference_dtype, with_value):
    _compare_with_optax(make_gradtx(), make_optax(), reference_dtype, with_value)


@pytest.mark.parametrize(_PARAMS, OPTAX_OPTIMIZERS)
def test_optimizer_matches_optax(make_gradtx, make_optax, reference_dtype, with_value):
    _compare_with_optax(make_gradtx(), make_optax(), reference_dtype, with_value)


def test_chain_matches_optax():
    _compare_with_optax(
        gradtx.chain(
            gradtx.clip_by_global_norm(3.0),
            gradtx.adamw(_schedule, weight_decay=0.1, mask=_MASK),
        ),
        optax.chain(
            optax.clip_by_global_norm(3.0),
            optax.adamw(_schedule, weight_decay=0.1, mask=_MASK),
        ),
        jnp.float64,
    )


# --- torch.optim ------------------------------------------------------------------------------
#
# Not compared, because the algorithms are defined differently:
# * torch.optim.NAdam multiplies beta_1 by a momentum-decay schedule
#   mu_t = beta_1 (1 - 0.5 * 0.96^(t psi)) (psi = 0.004) and debiases with the product of the
#   mu_t; gradtx.nadam is Optax's (Dozat's) NAdam without that schedule. NAdam(decoupled_weight
#   decay=True) differs from gradtx.nadamw for the same reason.
# * torch.optim.RMSprop has no Nesterov option and no bias correction; torch.optim.Adagrad has
#   its eps outside the root only (gradtx's eps_in_sqrt=False), which is what is compared.
# * gradtx.amsgrad() defaults to Optax's AMSGrad (maximum of the bias-corrected second
#   moment); torch.optim.Adam(amsgrad=True) takes the maximum of the raw second moment, which
#   gradtx offers as amsgrad(..., max_before_bias_correction=True) and as adam(amsgrad=True).
# * ASGD and SparseAdam have no gradtx counterpart; Rprop has its own test below (Optax's
#   rprop lags torch's by one step), LBFGS is compared with SciPy and Optax elsewhere.


def _relative_step(lr):
    """torch's Adafactor step size min(lr, 1/sqrt(t)), t = count + 1, as a schedule."""

    def schedule(count):
        return jnp.minimum(lr, jax.lax.rsqrt(count.astype(jnp.float32) + 1.0))

    return schedule


@pytest.fixture
def torch_float32():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(previous)


# fmt: off
TORCH_CASES = [
    pytest.param(lambda: gradtx.sgd(0.1), lambda p: torch.optim.SGD(p, lr=0.1), id="sgd"),
    pytest.param(lambda: gradtx.sgd(0.1, 0.9),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.0),
                 id="sgd-momentum"),
    pytest.param(lambda: gradtx.sgd(0.1, 0.9, nesterov=True),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.0,
                                           nesterov=True),
                 id="sgd-nesterov"),
    # torch starts a dampened buffer at g_1; gradtx.sgd does too (trace(dampen_first_step=False)).
    pytest.param(lambda: gradtx.sgd(0.1, 0.9, dampening=0.3),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3),
                 id="sgd-dampening"),
    pytest.param(lambda: gradtx.sgd(0.1, 0.9, dampening=0.9),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.9),
                 id="sgd-dampening-ema"),
    # torch's weight_decay in SGD and Adam is an L2 term added to the gradient.
    pytest.param(lambda: gradtx.chain(gradtx.add_l2_regularization(0.01), gradtx.sgd(0.1, 0.9)),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
                 id="sgd-l2"),
    pytest.param(lambda: gradtx.adagrad(0.1, 0.0, 1e-10, eps_in_sqrt=False),
                 lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.0,
                                               eps=1e-10),
                 id="adagrad"),
    pytest.param(lambda: gradtx.adagrad(0.1, 0.1, 0.1, lr_decay=0.05, eps_in_sqrt=False),
                 lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.05,
                                               initial_accumulator_value=0.1, eps=0.1),
                 id="adagrad-lr-decay"),
    *[
        pytest.param(
            lambda centered=centered, momentum=momentum: gradtx.rmsprop(
                0.01, decay=0.9, eps=0.1, eps_in_sqrt=False, centered=centered,
                momentum=momentum),
            lambda p, centered=centered, momentum=momentum: torch.optim.RMSprop(
                p, lr=0.01, alpha=0.9, eps=0.1, centered=centered, momentum=momentum or 0.0),
            id=f"rmsprop-centered-{centered}-momentum-{momentum}",
        )
        for centered in (False, True)
        for momentum in (None, 0.9)
    ],
    pytest.param(lambda: gradtx.adam(1e-2), lambda p: torch.optim.Adam(p, lr=1e-2), id="adam"),
    pytest.param(lambda: gradtx.adam(1e-2, 0.8, 0.99, 0.1),
                 lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=0.1),
                 id="adam-options"),
    pytest.param(lambda: gradtx.chain(gradtx.add_l2_regularization(0.01), gradtx.adam(1e-2)),
                 lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.01),
                 id="adam-l2"),
    pytest.param(lambda: gradtx.adamw(1e-2, weight_decay=0.1),
                 lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
                 id="adamw"),
    pytest.param(lambda: gradtx.amsgrad(1e-2, max_before_bias_correction=True),
                 lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True),
                 id="amsgrad-max-before-bias-correction"),
    pytest.param(lambda: gradtx.adam(1e-2, amsgrad=True),
                 lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True),
                 id="adam-amsgrad"),
    pytest.param(lambda: gradtx.adamax(1e-2), lambda p: torch.optim.Adamax(p, lr=1e-2),
                 id="adamax"),
    pytest.param(lambda: gradtx.adamax(1e-2, 0.8, 0.99, 0.1),
                 lambda p: torch.optim.Adamax(p, lr=1e-2, betas=(0.8, 0.99), eps=0.1),
                 id="adamax-options"),
    # torch.optim.Adadelta: the same rule, its weight decay an L2 term as adadelta's.
    pytest.param(lambda: gradtx.adadelta(1.0), lambda p: torch.optim.Adadelta(p, lr=1.0),
                 id="adadelta"),
    pytest.param(lambda: gradtx.adadelta(0.5, 0.8, 1e-4, weight_decay=0.1),
                 lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, eps=1e-4,
                                                weight_decay=0.1),
                 id="adadelta-options"),
    # torch.optim.RAdam divides by sqrt(v) + eps before the bias correction
    # (sqrt(1 - b2^t) / (sqrt(v) + eps)), Optax by sqrt(v_hat) + eps: the same with eps = 0
    # (the unrectified first steps of RAdam do not divide).
    pytest.param(lambda: gradtx.radam(1e-2, eps=0.0),
                 lambda p: torch.optim.RAdam(p, lr=1e-2, eps=0.0), id="radam"),
    pytest.param(lambda: gradtx.radam(1e-2, 0.8, 0.99, eps=0.0),
                 lambda p: torch.optim.RAdam(p, lr=1e-2, betas=(0.8, 0.99), eps=0.0),
                 id="radam-betas"),
    # torch.optim.Adafactor is the paper's algorithm with its relative step
    # rho_t = min(lr, 1/sqrt(t)) times max(RMS(w), 1e-3): Optax's adafactor with that schedule
    # and every matrix factored (torch factors all; its eps clamps bind only for tiny
    # gradients). Clipping at d = 1 both, then at d = 2 (torch refuses d < 1).
    pytest.param(lambda: gradtx.adafactor(_relative_step(0.01), min_dim_size_to_factor=1),
                 lambda p: torch.optim.Adafactor(p, lr=0.01), id="adafactor"),
    pytest.param(lambda: gradtx.adafactor(_relative_step(0.5), min_dim_size_to_factor=1,
                                          clipping_threshold=2.0),
                 lambda p: torch.optim.Adafactor(p, lr=0.5, d=2.0),
                 id="adafactor-relative-step-clipping"),
]
# fmt: on


@pytest.mark.usefixtures("torch_float32")
@pytest.mark.parametrize(("make_gradtx", "make_torch"), TORCH_CASES)
def test_optimizer_matches_torch(make_gradtx, make_torch):
    _compare_with_torch(make_gradtx(), make_torch)


@pytest.mark.usefixtures("torch_float32")
def test_sgd_dampening_takes_the_first_gradient_whole_as_torch_does():
    """torch's first buffer is g_1; trace's own default rule gives (1 - d) g_1."""
    lr, momentum, dampening = 0.1, 0.9, 0.3
    params = _initial_params()
    grads = _gradients(1)[0]
    tparams = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    optimizer = torch.optim.SGD(
        list(tparams.values()), lr=lr, momentum=momentum, dampening=dampening
    )
    for name, p in tparams.items():
        p.grad = torch.tensor(grads[name])
    optimizer.step()
    torch_params = {name: p.detach().numpy().copy() for name, p in tparams.items()}

    def one_step(tx):
        updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
        return gradtx.apply_updates(params, updates)

    def descend(factor):
        return {n: params[n] - np.float32(factor * lr) * grads[n] for n in params}

    scale = _max_abs(params)
    sgd = one_step(gradtx.sgd(lr, momentum, dampening=dampening))
    dampened = one_step(
        gradtx.chain(gradtx.trace(momentum, dampening=dampening), gradtx.scale(-lr))
    )
    _assert_tree_close(torch_params, descend(1.0), "torch params", 0, scale)
    _assert_tree_close(sgd, descend(1.0), "gradtx.sgd params", 0, scale)
    _assert_tree_close(dampened, descend(1.0 - dampening), "gradtx.trace params", 0, scale)


@pytest.mark.usefixtures("torch_float32")
def test_rprop_is_torch_rprop_one_step_late():
    """Optax's (and gradtx's) rprop moves at step k by the step torch.optim.Rprop takes at k - 1.

    Both keep the same per-coordinate step sizes and store the same direction (zero after a
    sign change); Optax returns the direction stored at the previous step. So gradtx's stored
    ``prev_updates`` after step k, negated, is torch's parameter change at step k, and gradtx's
    update at step k + 1 is that change.
    """
    lr, etas, sizes = 0.01, (0.3, 1.5), (1e-4, 0.2)
    tx = gradtx.rprop(lr, *etas, *sizes)
    params = _initial_params()
    tparams = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    optimizer = torch.optim.Rprop(list(tparams.values()), lr=lr, etas=etas, step_sizes=sizes)
    state = tx.init(params)
    update = jax.jit(tx.update)
    previous_change, previous_ulp, update_prev = None, {}, None
    for k, grads in enumerate(_gradients(20)):
        before = {name: p.detach().numpy().copy() for name, p in tparams.items()}
        for name, p in tparams.items():
            p.grad = torch.tensor(grads[name])
        optimizer.step()
        change = {n: p.detach().numpy() - before[n] for n, p in tparams.items()}
        # torch's change is the difference of two float32 parameters: exact to an ulp of them.
        ulp = {n: float(np.max(np.spacing(np.abs(before[n])))) for n in before}
        updates, state = update(grads, state, params)
        stored = state[0].prev_updates
        for n in change:
            np.testing.assert_allclose(
                -np.asarray(stored[n]),
                change[n],
                rtol=1e-5,
                atol=ulp[n],
                err_msg=f"stored direction {n} at step {k}",
            )
            expected = np.zeros_like(change[n]) if previous_change is None else previous_change[n]
            # Optax zeroes the update where the sign flips now; torch moved one step earlier.
            flipped = (
                grads[n] * np.asarray(update_prev[n]) < 0 if k else np.zeros(grads[n].shape, bool)
            )
            np.testing.assert_allclose(
                np.asarray(updates[n]),
                np.where(flipped, 0.0, expected),
                rtol=1e-5,
                atol=previous_ulp.get(n, 0.0),
                err_msg=f"update {n} at step {k}",
            )
        update_prev, previous_change, previous_ulp = stored, change, ulp


# --- tree moment helpers and parameter averaging ----------------------------------------------


def test_moment_helpers_match_optax_tree():
    rs = np.random.RandomState(5)
    g = {"w": rs.standard_normal((3, 4)).astype(np.float32), "b": None}
    c = {"w": (rs.standard_normal((3, 4)) + 1j * rs.standard_normal((3, 4))).astype(np.complex64)}
    t = {"w": rs.uniform(0.1, 2.0, (3, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}
    tc = {"w": t["w"]}
    pairs = [
        ("update_moment", (g, t, 0.9, 1)),
        ("update_moment", (g, t, 0.9, 2)),
        ("update_moment_per_elem_norm", (g, t, 0.9, 2)),
        ("update_moment_per_elem_norm", (c, tc, 0.9, 2)),
        ("update_moment_per_elem_norm", (c, tc, 0.9, 3)),
        ("update_infinity_moment", (g, t, 0.9, 1e-3)),
        ("bias_correction", (tc, 0.999, jnp.asarray(7, jnp.int32))),
    ]
    for name, args in pairs:
        ours = getattr(gradtx.tree, name)(*args)
        theirs = getattr(optax.tree, name)(*args)
        assert getattr(optax, name) is getattr(optax.tree, name)  # the top level, in both
        assert jax.tree.structure(ours, is_leaf=lambda x: x is None) == jax.tree.structure(
            theirs, is_leaf=lambda x: x is None
        )
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
            assert a.dtype == b.dtype, name
            np.testing.assert_allclose(a, b, rtol=2e-6, err_msg=name)


def test_incremental_and_periodic_update_match_optax():
    rs = np.random.RandomState(6)
    new = {"w": rs.standard_normal((3, 4)).astype(np.float32), "b": None}
    old = {"w": rs.standard_normal((3, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}
    for s in (0.0, 0.1, 1.0):
        ours = gradtx.incremental_update(new, old, s)
        theirs = optax.incremental_update(new, old, s)
        assert ours["b"] is None and theirs["b"] is None
        np.testing.assert_allclose(ours["w"], theirs["w"], rtol=1e-6, atol=1e-7)
    new = {"w": new["w"]}
    old = {"w": old["w"]}
    for k in range(6):
        ours = gradtx.periodic_update(new, old, jnp.int32(k), 4)
        theirs = optax.periodic_update(new, old, jnp.int32(k), 4)
        np.testing.assert_array_equal(ours["w"], theirs["w"])
