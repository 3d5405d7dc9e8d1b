r"""Neuron-dynamics studies: temporal gradients, the γ dilemma, POLARA's polarization cycle.

    python experiments/neuron_dynamics.py RESULTS_DIR [--quick] [--seed 0]

Three studies; each writes ``<name>.png`` and ``<name>.json`` under
``RESULTS_DIR`` and prints a short summary. Every random number comes from
``--seed`` (default 0). ``--quick`` shrinks every study (about 25 s on 2 CPU
cores); the default run takes about 100 s on 2 CPU cores and peaks at about
2.5 GB of memory (study (a)'s backward pass over T = 4096). All runs use plain
autodiff through ``lax.scan`` (``backend="scan"``).

(a) ``gradient_vs_T`` — how far back in time a gradient reaches.
    A single layer of ``B×N`` unconnected neurons (default 16×128) is driven by
    i.i.d. currents ``x[t, b, n] = g·u``, ``u ~ U[0, 1)``, for ``T_max`` steps.
    The gain ``g`` is calibrated per neuron model by bisection on ``log g`` so
    that the mean firing rate over the first ``calib_T = 256`` steps is
    ``target_rate = 0.15``. A "spike" is ``output > 0`` for every model (LIF
    and ILIF emit 0/1; POLARA's output is continuous in (0, 1) above threshold
    and exactly 0 below, so this counts threshold crossings). Models: LIF and
    ILIF (NEURONS.md defaults: τ = 1.1, V_th = 1, λ_U = 1, λ_I = 0.03,
    rectangle surrogate γ = 1) and POLARA (library defaults) in each gradient
    mode ``exact``, ``eq13``, ``mask`` (the three share one forward pass, hence
    one gain). For each ``T`` in ``Ts`` (16, 32, …, 4096) we report
    ``‖∂L/∂x[0]‖₂`` (Frobenius norm over the ``B×N`` entries of ``x[0]``) for
    two losses, both on the run's outputs ``s[t, b, n]``:

    * ``last``: ``L_T = Σ_{b,n} s[T-1, b, n]`` (sum of the final-step outputs),
      the primary measure: how much the input at t = 0 moves the output T-1
      steps later;
    * ``mean``: ``L_T = mean_{t<T, b, n} s[t, b, n]``; once the influence of
      ``x[0]`` has died out (T beyond the gradient's reach) this is ``∝ 1/T``.

    Because the dynamics are causal, the gradient of a loss on the first ``T``
    outputs equals the gradient through a run truncated at ``T``; so each model
    is run once for ``T_max`` steps and jitted once, and the ``2·len(Ts)``
    losses are pulled back with one ``jax.vjp`` (cotangents vmapped). Also
    recorded per ``T``: the rate over the first ``T`` steps and over the second
    half ``[T/2, T)``, the fraction of the ``B×N`` neurons silent throughout
    ``[T/2, T)``, the fraction of exactly-zero gradient entries (``last``
    loss), and the mean at step ``T-1`` of the slow state variable (ILIF's MPIU
    ``Iu``, POLARA's threshold ``ϑ``).

(b) ``gamma_dilemma`` — the ILIF paper's "dilemma of γ" (its Sec. 4.1, Fig. 5),
    whose claim is that a wider rectangle surrogate makes LIF over-fire after
    training while ILIF's rate stays controlled. A 100 → 128 → 10 MLP:
    Bernoulli rate-coded input spikes over ``T = 8`` steps → linear (with
    bias) → LIF or ILIF hidden layer → linear readout of the hidden spikes
    averaged over time (logits = ``mean_t(s_t)·W2 + b2``), cross-entropy.
    Task: 10 random prototypes ``p_c ~ U[0, 1)^100``; a sample is
    ``clip(p_c + N(0, noise²), 0, 1)`` (the spike probabilities; noise = 0.7,
    2048 training / 1024 held-out samples). Init
    ``W1 ~ N(0, (ws1/√100)²)``, ``W2 ~ N(0, 1/128)``, zero biases, the same
    init for every γ. Optimiser: SGD with momentum 0.9 (the paper's CIFAR
    setting), lr 0.1, batch 128, 600 steps, the same minibatches and
    input spikes for every γ. For γ ∈ {0.5, 1, 2, 3, 4, 5} each neuron type is
    trained once per γ, all γ in one ``jax.vmap`` (γ is the traced width of
    ``Surrogate("rectangle", γ)``, so nothing recompiles). Recorded after
    training (mean ± std over ``n_seeds = 3`` repetitions of the whole
    experiment with seeds ``seed, seed + 1, …``): hidden firing rate (spikes
    per neuron per step) and accuracy on the training and the held-out set
    (the same for the untrained init), the fraction of hidden neurons that
    never fire on the training set,
    ``‖W1‖_F``, ``‖W2‖_F``, ``mean(b1)``; during training the minibatch hidden
    rate and loss (means over blocks of steps).

(c) ``polara_traces`` — one POLARA neuron (library defaults) per drive
    protocol, ``T = 100``: a step current (``step_amp`` for 10 <= t < 80) and
    a pulse train (``pulse_amp`` every ``pulse_every`` steps from t = 5). With
    ``return_states=True`` we record the membrane ``u`` after step 6
    (refractory-scaled), the threshold ``ϑ`` after step 7 and the output ``s``;
    the pre-spike membrane ``ua`` (after the decay, input and amplification of
    steps 1–3) is recomputed from the previous state by the library's
    ``polara.step`` with the refractory term off (and ``us``, before the
    amplification, with ``B = 0`` too) and checked against
    ``u = ua·(1 + Σ_i h(i)·ŝ_i)``. Spikes are ``s > 0``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import snnjax  # noqa: E402
from snnjax import neurons  # noqa: E402
from snnjax.surrogate import Surrogate  # noqa: E402

__all__ = ["study_gradient_vs_T", "study_gamma_dilemma", "study_polara_traces", "main"]

DPI = 90
# Every run uses plain autodiff through ``lax.scan``: the studies measure the
# neurons' own gradients, independent of the library's fused/Pallas backends.
BACKEND = "scan"


# --- shared helpers -----------------------------------------------------------


def _finite_or_none(v: float) -> float | None:
    """JSON has no NaN/inf: store non-finite numbers as ``null``."""
    v = float(v)
    return v if np.isfinite(v) else None


def _floats(a: Any) -> list[float | None]:
    return [_finite_or_none(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def _write(out_dir: str, name: str, result: dict, fig: plt.Figure) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
    fig.savefig(os.path.join(out_dir, name + ".png"), dpi=DPI, bbox_inches="tight")
    plt.close(fig)


# --- (a) gradient norm vs T ---------------------------------------------------


def _models_a() -> dict[str, tuple[Any, Any, str]]:
    """name -> (step, params, forward family); one family shares one forward pass (one gain)."""
    return {
        "LIF": (neurons.lif.step, neurons.LIFParams(), "LIF"),
        "ILIF": (neurons.ilif.step, neurons.ILIFParams(), "ILIF"),
        "POLARA-exact": (neurons.polara.step, neurons.PolaraParams(grad="exact"), "POLARA"),
        "POLARA-eq13": (neurons.polara.step, neurons.PolaraParams(grad="eq13"), "POLARA"),
        "POLARA-mask": (neurons.polara.step, neurons.PolaraParams(grad="mask"), "POLARA"),
    }


def _calibrate_gain(step, params, u: jax.Array, target: float, iters: int = 30) -> tuple[float, float]:
    """Bisection on ``log g`` in [1e-3, 1e3] so that ``mean(run(g·u) > 0) ≈ target``.

    Assumes the rate grows with the gain (true for all three models here).
    Returns ``(g, rate at g)``.
    """
    rate = jax.jit(lambda g: jnp.mean(snnjax.run(step, params, g * u, backend=BACKEND)[1] > 0))
    lo, hi = np.log(1e-3), np.log(1e3)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if float(rate(np.float32(np.exp(mid)))) < target:
            lo = mid
        else:
            hi = mid
    g = float(np.exp(0.5 * (lo + hi)))
    return g, float(rate(np.float32(g)))


def _x0_grads(step, params, xs: jax.Array, cotangents: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Outputs ``[T, B, N]`` and ``∂(Σ_t w_k[t]·Σ_{b,n} s[t]·c)/∂x[0]`` for each row ``w_k``.

    ``cotangents`` is ``[K, T]`` (weights over time, broadcast over ``B, N``);
    returns ``(ys, g0)`` with ``g0`` of shape ``[K, B, N]``.
    """
    ys, vjp = jax.vjp(lambda x: snnjax.run(step, params, x, backend=BACKEND)[1], xs)

    def pull(w):
        return vjp(jnp.broadcast_to(w[:, None, None], ys.shape).astype(ys.dtype))[0][0]

    return ys, jax.vmap(pull)(cotangents)


def study_gradient_vs_T(
    out_dir: str,
    Ts: Sequence[int] = tuple(2**k for k in range(4, 13)),
    *,
    batch: int = 16,
    n_neurons: int = 128,
    calib_T: int = 256,
    target_rate: float = 0.15,
    models: Sequence[str] | None = None,
    seed: int = 0,
) -> dict:
    """Study (a): ``‖∂L/∂x[0]‖`` vs T for LIF, ILIF, POLARA (exact / eq13 / mask).

    ``models`` picks a subset of ``LIF``, ``ILIF``, ``POLARA-exact``, ``POLARA-eq13``,
    ``POLARA-mask`` (default: all). Writes ``gradient_vs_T.{json,png}`` under
    ``out_dir`` and returns the JSON dict.
    """
    t_start = time.perf_counter()
    Ts = sorted(int(t) for t in Ts)
    t_max = Ts[-1]
    calib_T = min(calib_T, t_max)
    u = jax.random.uniform(jax.random.PRNGKey(seed), (t_max, batch, n_neurons), jnp.float32)
    t_idx = np.arange(t_max)
    w_last = np.stack([(t_idx == T - 1).astype(np.float32) for T in Ts])  # Σ_{b,n} s[T-1]
    w_mean = np.stack([(t_idx < T) / np.float32(T * batch * n_neurons) for T in Ts])  # mean_{t<T,b,n}
    cot = jnp.asarray(np.concatenate([w_last, w_mean]), jnp.float32)
    K = len(Ts)

    catalogue = _models_a()
    names = list(catalogue) if models is None else list(models)
    gains: dict[str, tuple[float, float]] = {}
    results: dict[str, dict] = {}
    for name in names:
        step, params, family = catalogue[name]
        t0 = time.perf_counter()
        if family not in gains:
            gains[family] = _calibrate_gain(step, params, u[:calib_T], target_rate)
        gain, calib_rate = gains[family]
        xs = jnp.float32(gain) * u
        ys, g0 = jax.jit(_x0_grads, static_argnums=0)(step, params, xs, cot)
        ys, g0 = np.asarray(ys), np.asarray(g0, np.float64)
        norms = np.sqrt(np.sum(g0**2, axis=(1, 2)))
        spikes = (ys > 0).mean(axis=(1, 2))
        rate_at_T = np.cumsum(spikes)[np.array(Ts) - 1] / np.array(Ts)
        entry = {
            "family": family,
            "params": repr(params),
            "gain": gain,
            "rate_at_calib_T": calib_rate,
            "rate_at_T": _floats(rate_at_T),
            "grad_norm_last": _floats(norms[:K]),
            "grad_norm_mean": _floats(norms[K:]),
            "rate_second_half_at_T": _floats([(ys[T // 2 : T] > 0).mean() for T in Ts]),
            "silent_fraction_second_half_at_T": _floats([np.mean(~(ys[T // 2 : T] > 0).any(axis=0)) for T in Ts]),
            "zero_grad_fraction_last": _floats((g0[:K] == 0).mean(axis=(1, 2))),
            "nonfinite_grad_entries": int(np.sum(~np.isfinite(g0))),
        }
        if family in ("ILIF", "POLARA"):  # the slow state variable, mean over B×N at step T-1
            field = "i_u" if family == "ILIF" else "theta"
            _, _, states = jax.jit(
                lambda x, s=step, p=params: snnjax.run(s, p, x, return_states=True, backend=BACKEND)
            )(xs)
            slow = np.asarray(getattr(states, field)).mean(axis=(1, 2))
            entry[f"mean_{field}_at_T"] = _floats(slow[np.array(Ts) - 1])
        entry["seconds"] = time.perf_counter() - t0
        results[name] = entry

    result = {
        "study": "gradient_vs_T",
        "config": {
            "Ts": Ts,
            "batch": batch,
            "n_neurons": n_neurons,
            "calib_T": calib_T,
            "target_rate": target_rate,
            "seed": seed,
            "input": "x[t,b,n] = gain * u, u ~ U[0,1) i.i.d. (jax.random.PRNGKey(seed)); one gain per model family",
            "calibration": "bisection on log(gain) in [1e-3, 1e3], 30 iterations, rate over the first calib_T steps",
            "spike": "output > 0 (LIF/ILIF: 0/1; POLARA: continuous s in (0,1) above threshold, 0 below)",
            "loss_last": "L_T = sum over b,n of s[T-1, b, n] (sum of the final-step outputs)",
            "loss_mean": "L_T = mean over t < T, b, n of s[t, b, n]",
            "grad_norm": "Frobenius norm of dL_T/dx[0] over its B x N entries",
            "neurons": "NEURONS.md defaults (LIF/ILIF: tau=1.1, V_th=1, rectangle gamma=1; "
            "ILIF lambda_U=1, lambda_I=0.03; POLARA: library defaults, grad modes exact/eq13/mask)",
        },
        "models": results,
        "runtime_s": time.perf_counter() - t_start,
    }
    _write(out_dir, "gradient_vs_T", result, _plot_gradient_vs_T(result))
    return result


_STYLE = {
    "LIF": dict(color="C0", marker="o"),
    "ILIF": dict(color="C1", marker="s"),
    "POLARA-exact": dict(color="C2", marker="^"),
    "POLARA-eq13": dict(color="C3", marker="v", ls="--"),
    "POLARA-mask": dict(color="C4", marker="D", ls=":"),
}


def _plot_gradient_vs_T(res: dict) -> plt.Figure:
    Ts = np.array(res["config"]["Ts"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    models = res["models"]
    nonzero = [v for m in models.values() for v in m["grad_norm_last"] if v]
    floor = min(nonzero) / 30 if nonzero else 1e-10
    for name, m in models.items():
        st = _STYLE.get(name, {})
        last = np.array([np.nan if v is None else v for v in m["grad_norm_last"]])
        zero = last == 0
        axes[0].loglog(Ts[~zero], last[~zero], label=name, ms=4, **st)
        if zero.any():
            axes[0].loglog(
                Ts[zero],
                np.full(zero.sum(), floor),
                ls="none",
                marker="x",
                color=st.get("color"),
                ms=7,
            )
        mean = np.array([np.nan if v is None else v for v in m["grad_norm_mean"]])
        axes[1].loglog(Ts, mean, label=name, ms=4, **st)
        axes[2].plot(Ts, m["rate_at_T"], label=name, ms=4, **st)
        half = {k: v for k, v in st.items() if k != "ls"}
        axes[2].plot(Ts, m["rate_second_half_at_T"], ls=":", lw=1, ms=2, **half)
    axes[0].axhline(floor, color="gray", lw=0.5)
    axes[0].text(Ts[0], floor * 1.4, "× = exactly 0", fontsize=8, color="gray")
    axes[0].set_title("‖∂L/∂x[0]‖, L = Σ final-step outputs")
    m0 = next(iter(models.values()))["grad_norm_mean"][0] or 1.0
    axes[1].loglog(Ts, m0 * Ts[0] / Ts, color="gray", lw=0.8, ls="--", label="∝ 1/T")
    axes[1].set_title("‖∂L/∂x[0]‖, L = mean over t<T of outputs")
    axes[2].axhline(res["config"]["target_rate"], color="gray", lw=0.5)
    axes[2].axvline(res["config"]["calib_T"], color="gray", lw=0.5, ls=":")
    axes[2].set_title(
        f"firing rate over [0, T) (solid) and [T/2, T) (dotted)\n(gain calibrated at T={res['config']['calib_T']})",
        fontsize=10,
    )
    axes[2].set_ylim(0, None)
    for ax in axes:
        ax.set_xlabel("T (steps)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ts, [str(t) for t in Ts], fontsize=7)
        ax.minorticks_off()
        ax.grid(alpha=0.3, lw=0.4)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"Gradient reach: single layer B×N = {res['config']['batch']}×{res['config']['n_neurons']},"
        f" random input x = gain·U[0,1), rate matched to {res['config']['target_rate']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# --- (b) the dilemma of γ -----------------------------------------------------


def _make_task(rng: np.random.Generator, n_classes: int, n_in: int, n: int, protos: np.ndarray, noise: float):
    y = rng.integers(0, n_classes, n)
    p = np.clip(protos[y] + noise * rng.standard_normal((n, n_in)), 0.0, 1.0)
    return p.astype(np.float32), y.astype(np.int32)


def _neuron_b(kind: str, gamma: jax.Array):
    """(step, params) of the hidden layer; γ is a traced leaf of the surrogate."""
    sg = Surrogate("rectangle", gamma)
    if kind == "LIF":
        return neurons.lif.step, neurons.LIFParams(tau=1.1, v_th=1.0, surrogate=sg)
    return neurons.ilif.step, neurons.ILIFParams(tau=1.1, v_th=1.0, lambda_u=1.0, lambda_i=0.03, surrogate=sg)


def _mlp(kind: str, gamma, w: dict, spikes_in: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``spikes_in [T, B, n_in]`` -> ``(logits [B, C], hidden spikes [T, B, H])``."""
    step, params = _neuron_b(kind, gamma)
    cur = spikes_in @ w["w1"] + w["b1"]
    _, s = snnjax.run(step, params, cur, backend=BACKEND)
    return jnp.mean(s, 0) @ w["w2"] + w["b2"], s


def _encode(key: jax.Array, p: jax.Array, T: int) -> jax.Array:
    """Bernoulli rate coding (:func:`snnjax.encoding.rate`): ``[B, n_in]`` probabilities in
    [0, 1] -> ``[T, B, n_in]`` 0/1 spikes (float32, like ``p``)."""
    return snnjax.encoding.rate(p, T, key=key)


def _optimizer(name: str, lr: float, momentum: float) -> optax.GradientTransformation:
    if name == "sgd":
        return optax.sgd(lr, momentum=momentum)
    if name == "adam":
        return optax.adam(lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


@functools.partial(jax.jit, static_argnames=("kind", "T", "optimizer", "lr", "momentum"))
def _train_sweep_jit(
    gammas,
    w0,
    x_tr,
    y_tr,
    x_te,
    y_te,
    idx,
    step_keys,
    eval_key,
    *,
    kind,
    T,
    optimizer,
    lr,
    momentum,
):
    """The vmapped (over γ) training loop; compiled once per neuron kind and static config."""
    opt = _optimizer(optimizer, lr, momentum)

    def loss_fn(w, gamma, xb, yb, k):
        logits, s = _mlp(kind, gamma, w, _encode(k, xb, T))
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        return loss, jnp.mean(s)

    def evaluate(w, gamma, x, y):
        logits, s = _mlp(kind, gamma, w, _encode(eval_key, x, T))
        return jnp.mean(jnp.argmax(logits, -1) == y), jnp.mean(s), jnp.mean(jnp.sum(s, (0, 1)) == 0)

    def train_one(gamma):
        def body(carry, inp):
            w, o = carry
            ib, k = inp
            (loss, rate), g = jax.value_and_grad(loss_fn, has_aux=True)(w, gamma, x_tr[ib], y_tr[ib], k)
            upd, o = opt.update(g, o, w)
            return (optax.apply_updates(w, upd), o), (loss, rate)

        (w, _), (losses, rates) = jax.lax.scan(body, (w0, opt.init(w0)), (idx, step_keys))
        acc_tr, rate_tr, dead_tr = evaluate(w, gamma, x_tr, y_tr)
        acc_te, rate_te, _ = evaluate(w, gamma, x_te, y_te)
        acc_0, rate_0, dead_0 = evaluate(w0, gamma, x_tr, y_tr)
        return dict(
            train_acc=acc_tr,
            test_acc=acc_te,
            train_rate=rate_tr,
            test_rate=rate_te,
            init_rate=rate_0,
            init_acc=acc_0,
            dead_fraction=dead_tr,
            init_dead_fraction=dead_0,
            b1_mean=jnp.mean(w["b1"]),
            w1_norm=jnp.linalg.norm(w["w1"]),
            w2_norm=jnp.linalg.norm(w["w2"]),
            loss_curve=losses,
            rate_curve=rates,
        )

    return jax.vmap(train_one)(gammas)


def _train_sweep(kind: str, gammas, w0, x_tr, y_tr, x_te, y_te, *, steps, batch, T, optimizer, lr, momentum, seed):
    """Train one network per γ (vmapped), return per-γ final metrics and per-step curves."""
    key = jax.random.PRNGKey(seed + 1)
    # the same minibatches and input spikes for every γ (keys are not vmapped)
    idx = jax.random.randint(jax.random.fold_in(key, 0), (steps, batch), 0, x_tr.shape[0])
    step_keys = jax.random.split(jax.random.fold_in(key, 1), steps)
    eval_key = jax.random.fold_in(key, 2)
    out = _train_sweep_jit(
        jnp.asarray(gammas, jnp.float32),
        w0,
        x_tr,
        y_tr,
        x_te,
        y_te,
        idx,
        step_keys,
        eval_key,
        kind=kind,
        T=T,
        optimizer=optimizer,
        lr=float(lr),
        momentum=float(momentum),
    )
    return jax.tree.map(np.asarray, out)


def study_gamma_dilemma(
    out_dir: str,
    gammas: Sequence[float] = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0),
    *,
    steps: int = 600,
    batch: int = 128,
    T: int = 8,
    n_in: int = 100,
    n_hidden: int = 128,
    n_classes: int = 10,
    n_train: int = 2048,
    n_test: int = 1024,
    noise: float = 0.7,
    ws1: float = 1.0,
    optimizer: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    n_seeds: int = 3,
    seed: int = 0,
) -> dict:
    """Study (b): hidden firing rate and accuracy after training vs surrogate width γ, LIF vs ILIF.

    The whole experiment (task, init, minibatches, input spikes) is repeated for
    the seeds ``seed, …, seed + n_seeds - 1``. In the JSON, ``models[kind][metric]``
    is the mean over seeds per γ, ``metric + "_std"`` the standard deviation,
    ``per_seed[metric]`` the ``[n_seeds, len(gammas)]`` values, and
    ``loss_curve`` / ``rate_curve`` (``[len(gammas), steps // block]``, the
    minibatch values averaged over blocks of ``block = max(1, steps // 60)``
    steps) are those of the first seed. Writes ``gamma_dilemma.{json,png}`` under
    ``out_dir`` and returns the JSON dict.
    """
    t_start = time.perf_counter()
    seeds = [seed + i for i in range(n_seeds)]
    block = max(1, steps // 60)  # the stored training curves are means over blocks of steps
    _optimizer(optimizer, lr, momentum)  # validate the name early
    raw: dict[str, list[dict]] = {"LIF": [], "ILIF": []}
    seconds = {"LIF": 0.0, "ILIF": 0.0}
    for sd in seeds:
        rng = np.random.default_rng(sd)
        protos = rng.uniform(0.0, 1.0, (n_classes, n_in))
        x_tr, y_tr = _make_task(rng, n_classes, n_in, n_train, protos, noise)
        x_te, y_te = _make_task(rng, n_classes, n_in, n_test, protos, noise)
        w0 = {
            "w1": jnp.asarray(rng.standard_normal((n_in, n_hidden)) * ws1 / np.sqrt(n_in), jnp.float32),
            "b1": jnp.zeros((n_hidden,), jnp.float32),
            "w2": jnp.asarray(rng.standard_normal((n_hidden, n_classes)) / np.sqrt(n_hidden), jnp.float32),
            "b2": jnp.zeros((n_classes,), jnp.float32),
        }
        data = [jnp.asarray(a) for a in (x_tr, y_tr, x_te, y_te)]
        for kind in raw:
            t0 = time.perf_counter()
            r = _train_sweep(
                kind,
                gammas,
                w0,
                *data,
                steps=steps,
                batch=batch,
                T=T,
                optimizer=optimizer,
                lr=lr,
                momentum=momentum,
                seed=sd,
            )
            raw[kind].append(r)
            seconds[kind] += time.perf_counter() - t0

    per_kind = {}
    for kind, runs in raw.items():
        entry: dict[str, Any] = {}
        scalars = [k for k in runs[0] if not k.endswith("_curve")]
        for k in scalars:
            v = np.stack([r[k] for r in runs]).astype(np.float64)  # [n_seeds, n_gammas]
            entry[k] = _floats(v.mean(0))
            entry[k + "_std"] = _floats(v.std(0))
        entry["per_seed"] = {k: [_floats(r[k]) for r in runs] for k in scalars}
        for k in ("loss_curve", "rate_curve"):  # block means keep the JSON small
            c = runs[0][k][:, : (steps // block) * block].reshape(len(gammas), -1, block)
            entry[k] = [_floats(np.round(row, 5)) for row in c.mean(-1)]
        entry["seconds"] = seconds[kind]
        per_kind[kind] = entry

    result = {
        "study": "gamma_dilemma",
        "config": {
            "gammas": [float(g) for g in gammas],
            "network": f"{n_in} -> {n_hidden} (LIF or ILIF) -> {n_classes}; logits = mean_t(s_t) @ W2 + b2",
            "encoding": f"Bernoulli rate coding over T={T} steps (fresh spikes every step)",
            "task": f"{n_classes} prototypes ~ U[0,1)^{n_in}; "
            f"sample = clip(proto + N(0, {noise}^2), 0, 1); {n_train} train / {n_test} test",
            "init": f"W1 ~ N(0, ({ws1}/sqrt({n_in}))^2), W2 ~ N(0, 1/{n_hidden}), zero biases; "
            "same init for all gamma (per seed)",
            "optimizer": (f"SGD momentum {momentum}" if optimizer == "sgd" else "Adam")
            + f", lr {lr}, batch {batch}, {steps} steps, "
            "same minibatches/spikes for all gamma",
            "surrogate": "rectangle, g(v) = 1/gamma for |v| < gamma/2",
            "neurons": "LIF: tau=1.1, V_th=1, soft reset; ILIF: tau=1.1, V_th=1, lambda_U=1.0, lambda_I=0.03",
            "rate": "hidden spikes per neuron per time step, mean over samples (train/test set, after training)",
            "dead_fraction": "fraction of hidden neurons with no spike on the whole training set",
            "T": T,
            "steps": steps,
            "curve_block": block,
            "curves": "loss_curve/rate_curve: minibatch loss / hidden rate, mean over blocks of "
            "curve_block consecutive training steps, first seed",
            "seeds": seeds,
            "aggregation": "models[kind][metric] = mean over seeds, metric_std = std over seeds; curves: first seed",
        },
        "models": per_kind,
        "runtime_s": time.perf_counter() - t_start,
    }
    _write(out_dir, "gamma_dilemma", result, _plot_gamma_dilemma(result))
    return result


def _plot_gamma_dilemma(res: dict) -> plt.Figure:
    g = np.array(res["config"]["gammas"])
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    colors = {"LIF": "C0", "ILIF": "C1"}
    dead_ax = axes[2].twinx()
    for kind, m in res["models"].items():
        c = colors[kind]
        axes[0].errorbar(
            g,
            m["train_rate"],
            m["train_rate_std"],
            marker="o",
            color=c,
            capsize=3,
            label=f"{kind} (after training)",
        )
        axes[0].plot(g, m["init_rate"], ls=":", color=c, lw=1, label=f"{kind} (init)")
        axes[1].errorbar(
            g,
            m["train_acc"],
            m["train_acc_std"],
            marker="o",
            color=c,
            capsize=3,
            label=f"{kind} train",
        )
        axes[1].errorbar(
            g,
            m["test_acc"],
            m["test_acc_std"],
            marker="s",
            ls="--",
            color=c,
            capsize=3,
            label=f"{kind} held-out",
        )
        axes[2].errorbar(g, m["w1_norm"], m["w1_norm_std"], marker="o", color=c, capsize=3, label=f"{kind} ‖W1‖")
        dead_ax.plot(g, m["dead_fraction"], marker="x", ls=":", color=c, label=f"{kind} dead fraction")
        curves = np.array(m["rate_curve"], dtype=float)
        block = res["config"]["curve_block"]
        steps_axis = (np.arange(curves.shape[1]) + 0.5) * block
        for i in range(len(g)):
            alpha = 0.35 + 0.65 * i / max(1, len(g) - 1)
            ls = "-" if kind == "LIF" else "--"
            axes[3].plot(steps_axis, curves[i], color=c, alpha=alpha, lw=1, ls=ls)
    axes[0].set_title("hidden firing rate vs γ")
    axes[0].set_ylabel("spikes / neuron / step")
    axes[1].set_title("accuracy vs γ")
    axes[2].set_title("‖W1‖_F (solid) and dead hidden fraction (dotted)\nafter training", fontsize=9)
    dead_ax.set_ylabel("fraction of hidden neurons never firing")
    dead_ax.set_ylim(0, None)
    axes[3].set_title(
        f"minibatch hidden rate during training, seed {res['config']['seeds'][0]}\n"
        "(LIF solid, ILIF dashed; darker = larger γ)",
        fontsize=9,
    )
    axes[3].set_xlabel("training step")
    for ax in axes[:3]:
        ax.set_xlabel("rectangle surrogate width γ")
        ax.legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3, lw=0.4)
    axes[0].set_ylim(0, None)
    fig.suptitle(
        f"Dilemma of γ: {res['config']['network']}, T={res['config']['T']}, "
        f"{res['config']['steps']} steps; mean ± std over seeds {res['config']['seeds']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# --- (c) POLARA traces --------------------------------------------------------


def _polara_pre_spike(params: neurons.PolaraParams, prev: neurons.PolaraState, xs: jax.Array):
    """Steps 1–3 of POLARA recomputed by the library's own step: ``(us, ua)``, ``[T, ...]``.

    ``prev`` is the state entering each step (leading time axis). ``ua`` is the membrane
    :func:`snnjax.neurons.polara.step` gives with the refractory term off (step 6 then keeps
    ``u = ua``); ``us`` the same with the amplification off as well (``B = 0``: step 3 gives
    ``us·(1 + 0) = us``). Only the new membrane is read, so ϑ and the history are unaffected.
    """
    no_refr = dataclasses.replace(params, refractory=False)

    def membrane(p):
        return jax.vmap(lambda s, x: neurons.polara.step(p, s, x)[0].u)(prev, xs)

    return membrane(dataclasses.replace(no_refr, B=0.0)), membrane(no_refr)


def study_polara_traces(
    out_dir: str,
    T: int = 100,
    *,
    step_amp: float = 0.3,
    step_on: tuple[int, int] = (10, 80),
    pulse_amp: float = 1.2,
    pulse_every: int = 6,
    pulse_start: int = 5,
    seed: int = 0,
) -> dict:
    """Study (c): u, ua, ϑ and s of one POLARA neuron under a step current and a pulse train.

    Writes ``polara_traces.{json,png}`` under ``out_dir`` and returns the JSON dict.
    (Deterministic; ``seed`` is recorded only.)
    """
    t_start = time.perf_counter()
    params = neurons.PolaraParams()
    t = np.arange(T)
    drives = {
        "step": np.where((t >= step_on[0]) & (t < step_on[1]), step_amp, 0.0),
        "pulses": np.where((t >= pulse_start) & ((t - pulse_start) % pulse_every == 0), pulse_amp, 0.0),
    }
    xs = jnp.asarray(np.stack(list(drives.values()), axis=1), jnp.float32)  # [T, 2]
    _, s, st = snnjax.run(neurons.polara.step, params, xs, return_states=True, backend=BACKEND)
    init = neurons.polara.init_state(xs.shape[1:], params=params)
    # the state entering each step: the initial state, then the states after steps 0..T-2
    prev = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b[:-1]]), init, st)
    us, ua = _polara_pre_spike(params, prev, xs)
    ker = neurons.polara.kernels(params)
    # step 6: u = ua·(1 + Σ_i h(i)·ŝ_i); st.hist is [T, k, *shape] (history axis after time)
    refr = 1.0 + jnp.tensordot(ker.h, st.hist, axes=([0], [1]))
    check = float(jnp.max(jnp.abs(ua * refr - st.u)))
    trace = {}
    for i, (name, x) in enumerate(drives.items()):
        si = np.asarray(s[:, i])
        trace[name] = {
            "x": _floats(x),
            "us": _floats(us[:, i]),
            "ua": _floats(ua[:, i]),
            "u": _floats(st.u[:, i]),
            "theta": _floats(st.theta[:, i]),
            "s": _floats(si),
            "refractory_factor": _floats(refr[:, i]),
            "spike_times": [int(k) for k in np.flatnonzero(si > 0)],
        }
    result = {
        "study": "polara_traces",
        "config": {
            "T": T,
            "params": repr(params),
            "kernels": {
                "leak_L": float(ker.leak),
                "h": _floats(ker.h),
                "Theta": _floats(ker.theta),
            },
            "drives": {
                "step": f"x = {step_amp} for {step_on[0]} <= t < {step_on[1]}, else 0",
                "pulses": f"x = {pulse_amp} at t = {pulse_start} + {pulse_every}k, else 0",
            },
            "traces": "u: membrane after step 6 (refractory-scaled); "
            "ua: pre-spike membrane after steps 1-3 (recomputed); us: after decay+input (step 2); "
            "theta: after step 7; s: output; "
            "refractory_factor = 1 + sum_i h(i) s_hat_i",
            "spike": "s > 0",
            "seed": seed,
        },
        "max_abs_u_minus_ua_times_refractory_factor": check,
        "traces": trace,
        "runtime_s": time.perf_counter() - t_start,
    }
    _write(out_dir, "polara_traces", result, _plot_polara_traces(result))
    return result


def _plot_polara_traces(res: dict) -> plt.Figure:
    names = list(res["traces"])
    fig, axes = plt.subplots(3, len(names), figsize=(7 * len(names), 7), sharex=True)
    for j, name in enumerate(names):
        tr = res["traces"][name]
        t = np.arange(len(tr["u"]))
        spk = np.array(tr["spike_times"], dtype=int)
        ax = axes[0, j]
        ax.plot(t, tr["ua"], color="C1", lw=1, label="ua (pre-spike, after amplification)")
        ax.plot(t, tr["u"], color="C0", lw=1.3, label="u (after refractory scaling)")
        ax.plot(t, tr["theta"], color="k", lw=1, ls="--", label="ϑ (threshold)")
        if len(spk):
            ax.plot(spk, np.array(tr["ua"])[spk], "r.", ms=6, label="spike (s > 0)")
        ax.set_title(f"POLARA, drive = {name}: {res['config']['drives'][name]}", fontsize=9)
        ax.set_ylabel("membrane / threshold")
        ax = axes[1, j]
        ax.vlines(t, 0, tr["s"], color="r", lw=1.5)
        ax.set_ylabel("output s")
        ax.set_ylim(0, 1.05)
        ax2 = ax.twinx()
        ax2.plot(t, tr["refractory_factor"], color="C2", lw=1)
        ax2.set_ylabel("1 + Σ h(i)ŝ_i", color="C2")
        ax = axes[2, j]
        ax.step(t, tr["x"], where="mid", color="C7")
        ax.set_ylabel("input x")
        ax.set_xlabel("time step")
        for a in axes[:, j]:
            a.grid(alpha=0.3, lw=0.4)
            for k in spk:
                a.axvline(k, color="r", lw=0.3, alpha=0.4)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


# --- main -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir")
    p.add_argument("--quick", action="store_true", help="small settings (< 1 min on 2 CPU cores)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = args.results_dir
    t0 = time.perf_counter()

    if args.quick:
        a = study_gradient_vs_T(
            out,
            tuple(2**k for k in range(4, 9)),
            batch=8,
            n_neurons=64,
            calib_T=128,
            seed=args.seed,
        )
        b = study_gamma_dilemma(out, steps=80, n_train=512, n_test=256, batch=64, n_seeds=1, seed=args.seed)
    else:
        a = study_gradient_vs_T(out, seed=args.seed)
        b = study_gamma_dilemma(out, seed=args.seed)
    c = study_polara_traces(out, seed=args.seed)

    print(f"(a) gradient_vs_T ({a['runtime_s']:.1f} s): ||dL/dx[0]||, L = sum of final-step outputs")
    print("    T: " + " ".join(f"{T:>8d}" for T in a["config"]["Ts"]))
    for name, m in a["models"].items():
        vals = " ".join(f"{v:8.1e}" if v is not None else f"{'nan':>8}" for v in m["grad_norm_last"])
        print(f"    {name:>12s} (gain {m['gain']:.3f}, rate {m['rate_at_calib_T']:.3f}): {vals}")
    print(
        f"(b) gamma_dilemma ({b['runtime_s']:.1f} s): hidden rate / train acc after training, "
        f"mean over seeds {b['config']['seeds']}"
    )
    print("    gamma: " + " ".join(f"{g:>11.1f}" for g in b["config"]["gammas"]))
    for kind, m in b["models"].items():
        cells = " ".join(f"{r:.3f}/{acc:.2f}" for r, acc in zip(m["train_rate"], m["train_acc"], strict=True))
        print(f"    {kind:>5s}: {cells}")
    for name, tr in c["traces"].items():
        th = tr["theta"]
        spk = tr["spike_times"]
        more = "..." if len(spk) > 12 else ""
        print(
            f"(c) polara_traces[{name}]: {len(spk)} spikes at {spk[:12]}{more}; threshold {th[0]:.4f} -> {max(th):.4f}"
        )
    print(f"total {time.perf_counter() - t0:.1f} s; results in {out}")
    return {"gradient_vs_T": a, "gamma_dilemma": b, "polara_traces": c}


if __name__ == "__main__":
    main()
