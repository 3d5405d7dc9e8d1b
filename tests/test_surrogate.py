"""Surrogate spike functions: exact Heaviside forward, documented derivative backward.

The backward of every registered surrogate is checked against the formula of
the table in NEURONS.md / surrogate.py (written out in ``conftest.surrogate_grad``)
on a grid that includes 0 and the edges of the support, for two widths each,
and against ``jax.grad`` of the documented smooth primitive away from its kinks.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import surrogate
from snnjax.surrogate import Surrogate

# Two widths per surrogate (powers of two where the support has edges, so the
# edges are exact in float32), the grid's natural scale, and the kinks of g.
WIDTHS = {
    "rectangle": (1.0, 0.5),
    "triangle": (1.0, 0.25),
    "sigmoid": (4.0, 1.0),
    "atan": (2.0, 0.5),
    "superspike": (100.0, 10.0),
    "gaussian": (0.5, 0.25),
    "erf": (2.0, 0.5),
    "piecewise_quadratic": (1.0, 4.0),
    "straight_through": (None,),
}
ALIASES = {"fast_sigmoid": "superspike", "rect": "rectangle", "ste": "straight_through"}
WIDTH_NAMES = {
    "rectangle": "gamma",
    "triangle": "gamma",
    "sigmoid": "alpha",
    "atan": "alpha",
    "superspike": "beta",
    "gaussian": "sigma",
    "erf": "alpha",
    "piecewise_quadratic": "alpha",
}
DEFAULT_WIDTHS = {
    "rectangle": 1.0,
    "triangle": 1.0,
    "sigmoid": 4.0,
    "atan": 2.0,
    "superspike": 100.0,
    "gaussian": 0.5,
    "erf": 2.0,
    "piecewise_quadratic": 1.0,
}


def _scale(name, w):
    """Length scale of g: the grid spans a few of these."""
    if w is None:
        return 1.0
    return {"rectangle": w, "triangle": w, "gaussian": w}.get(name, 1.0 / w)


def _edges(name, w):
    """Points where g has a kink or a jump (the support edges, and 0 for |v|)."""
    if name == "rectangle":
        return [-w / 2, w / 2]
    if name == "triangle":
        return [-w, 0.0, w]
    if name == "piecewise_quadratic":
        return [-1.0 / w, 0.0, 1.0 / w]
    if name == "superspike":
        return [0.0]
    return []


def _grid(name, w):
    s = _scale(name, w)
    rng = np.random.default_rng(abs(hash((name, w))) % 2**32)
    special = np.array([0.0, -0.5, 0.5, -1.0, 1.0, 0.25, -0.25, 2.0, -2.0, 3.0]) * s
    pts = np.concatenate([special, np.array(_edges(name, w)), rng.uniform(-3 * s, 3 * s, 40)])
    # one float32 ulp inside / outside the edges (for the kink at 0: ±1e-30, since
    # XLA on CPU flushes float32 subnormals to zero)
    for e in _edges(name, w):
        if e == 0.0:
            near = [1e-30, -1e-30]
        else:
            near = [
                np.nextafter(np.float32(e), np.float32(np.inf)),
                np.nextafter(np.float32(e), np.float32(-np.inf)),
            ]
        pts = np.concatenate([pts, near])
    return pts.astype(np.float32)


CASES = [(n, w) for n, ws in WIDTHS.items() for w in ws]
IDS = [f"{n}-{w}" for n, w in CASES]


def _make(name, w):
    return Surrogate(name) if w is None else Surrogate(name, w)


def test_names_cover_the_table():
    names = surrogate.names()
    assert set(WIDTHS) | set(ALIASES) == set(names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name, w", CASES, ids=IDS)
def test_forward_is_exact_heaviside(name, w):
    f = _make(name, w)
    v = _grid(name, w)
    out = f(jnp.asarray(v))
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out), (v >= 0).astype(np.float32))
    assert float(f(jnp.float32(0.0))) == 1.0  # H(0) = 1
    assert float(f(jnp.float32(-1e-30))) == 0.0
    assert float(f(jnp.float32(1e-30))) == 1.0
    assert set(np.unique(np.asarray(out))) <= {0.0, 1.0}


@jax.jit
def _grad_and_derivative(f, v):
    return jax.grad(lambda x: f(x).sum())(v), f.derivative(v)


@pytest.mark.parametrize("name, w", CASES, ids=IDS)
def test_backward_equals_table_formula(name, w, np_ref):
    f = _make(name, w)
    v = _grid(name, w)
    g, d = _grad_and_derivative(f, jnp.asarray(v))
    expected = np_ref.surrogate_grad(name, v.astype(np.float64), 1.0 if w is None else w)
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(g), expected, rtol=2e-6, atol=1e-7 * expected.max())
    # at 0 and at the support edges (included in the grid) to float32 rounding only
    at = np.isin(v, np.array([0.0] + _edges(name, w), np.float32))
    assert at.sum() >= 1
    np.testing.assert_allclose(np.asarray(g)[at], expected[at], rtol=1e-6, atol=0.0)
    # derivative() evaluates the same g directly
    np.testing.assert_allclose(np.asarray(d), expected, rtol=2e-6, atol=1e-7 * expected.max())


def test_support_edges_exactly():
    """Spot values at the support edges, written out by hand."""
    grad = lambda f, v: float(jax.grad(f)(jnp.float32(v)))  # noqa: E731
    r = Surrogate("rectangle", 0.5)
    assert grad(r, 0.25) == 0.0 and grad(r, -0.25) == 0.0  # |v| < γ/2 is strict
    assert grad(r, 0.2499) == 2.0 and grad(r, 0.0) == 2.0
    t = Surrogate("triangle", 0.25)
    assert grad(t, 0.25) == 0.0 and grad(t, -0.25) == 0.0 and grad(t, 0.0) == 4.0
    assert grad(t, 0.125) == pytest.approx(2.0, rel=1e-6)
    q = Surrogate("piecewise_quadratic", 4.0)
    assert grad(q, 0.25) == 0.0 and grad(q, -0.25) == 0.0 and grad(q, 0.0) == 4.0
    assert grad(q, 0.125) == pytest.approx(2.0, rel=1e-6)
    assert grad(Surrogate("atan", 2.0), 0.0) == pytest.approx(1.0)
    assert grad(Surrogate("sigmoid", 4.0), 0.0) == pytest.approx(1.0)
    assert grad(Surrogate("superspike", 100.0), 0.0) == pytest.approx(1.0)
    assert grad(Surrogate("superspike", 100.0), 0.01) == pytest.approx(0.25)
    assert grad(Surrogate("gaussian", 0.5), 0.0) == pytest.approx(1 / (0.5 * math.sqrt(2 * math.pi)))
    assert grad(Surrogate("erf", 2.0), 0.0) == pytest.approx(2 / math.sqrt(math.pi))
    assert grad(Surrogate("straight_through"), 7.0) == 1.0


@pytest.mark.parametrize("name, w", CASES, ids=IDS)
def test_backward_equals_grad_of_primitive(name, w):
    f = _make(name, w)
    prim = surrogate.spec(name).primitive
    width = jnp.float32(1.0 if w is None else w)
    v = _grid(name, w)
    # away from kinks (relative distance > 1e-3 of the scale)
    s = _scale(name, w)
    keep = (
        np.all([np.abs(v - e) > 1e-3 * s for e in _edges(name, w)], axis=0)
        if _edges(name, w)
        else np.ones(v.shape, bool)
    )
    v = jnp.asarray(v[keep])
    g_prim = jax.vmap(jax.grad(lambda x: prim(x, width)))(v)
    g = jax.grad(lambda x: f(x).sum())(v)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_prim), rtol=1e-5, atol=1e-6 * float(np.max(np.abs(g_prim))))


@pytest.mark.parametrize(
    "name, w",
    [c for c in CASES if c[1] is not None],
    ids=[i for i, c in zip(IDS, CASES, strict=True) if c[1] is not None],
)
def test_primitive_is_a_smoothed_step(name, w):
    """F is a smoothed step (F -> H as the width shrinks): F(-inf) = 0, F(0) = 1/2, F(inf) = 1."""
    prim = surrogate.spec(name).primitive
    if name == "superspike":  # v / (1 + β|v|) -> ±1/β: a rescaled, centred step
        big = prim(jnp.float32(1e6), jnp.float32(w))
        assert float(big) == pytest.approx(1.0 / w, rel=1e-3)
        return
    assert float(prim(jnp.float32(0.0), jnp.float32(w))) == pytest.approx(0.5, abs=1e-7)
    assert float(prim(jnp.float32(1e7 * _scale(name, w)), jnp.float32(w))) == pytest.approx(1.0, abs=1e-6)
    assert float(prim(jnp.float32(-1e7 * _scale(name, w)), jnp.float32(w))) == pytest.approx(0.0, abs=1e-6)


def test_cotangent_is_scaled_and_width_gets_zero_gradient():
    f = Surrogate("atan", 2.0)
    v = jnp.array([-0.3, 0.0, 0.2, 1.5], jnp.float32)
    ct = jnp.array([2.0, -1.0, 0.5, 3.0], jnp.float32)
    out, vjp = jax.vjp(f, v)
    (gv,) = vjp(ct)
    np.testing.assert_allclose(gv, np.asarray(ct) * (1.0 / (1.0 + (np.pi / 2 * 2.0 * np.asarray(v)) ** 2)), rtol=1e-6)
    # the width is a leaf but the forward does not depend on it
    gw = jax.grad(lambda s: s(v).sum())(Surrogate("rectangle", jnp.float32(1.0)))
    assert float(gw.width) == 0.0


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_dtype_is_preserved(dtype):
    f = Surrogate("triangle", 1.0)
    v = jnp.array([-0.5, 0.0, 0.5], dtype)
    assert f(v).dtype == dtype
    assert jax.grad(lambda x: f(x).astype(jnp.float32).sum())(v).dtype == dtype


def test_float64(x64, np_ref):
    v = np.linspace(-2, 2, 41)
    for name in ("atan", "triangle", "sigmoid"):
        f = Surrogate(name, 1.0)
        out = f(jnp.asarray(v))
        assert out.dtype == jnp.float64
        g = jax.grad(lambda x, f=f: f(x).sum())(jnp.asarray(v))
        assert g.dtype == jnp.float64
        np.testing.assert_allclose(g, np_ref.surrogate_grad(name, v, 1.0), rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- get / constructors


def test_get_forms():
    a = surrogate.get("atan", alpha=2.0)
    assert isinstance(a, Surrogate) and a.name == "atan" and float(a.width) == 2.0
    r1, r2 = surrogate.get("rectangle", 0.5), surrogate.get("rectangle", gamma=0.5)
    assert r1 == r2 and float(r1.width) == 0.5
    assert surrogate.get("rectangle") == Surrogate("rectangle", 1.0)
    assert surrogate.get(r1) is r1  # a Surrogate passes through
    # aliases select the same derivative
    assert surrogate.get("fast_sigmoid", beta=3.0).grad is surrogate.get("superspike").grad
    x = jnp.array([0.1, -0.02, 0.0])
    for name, target in ALIASES.items():
        np.testing.assert_array_equal(
            jax.grad(lambda v, n=name: surrogate.get(n)(v).sum())(x),
            jax.grad(lambda v, n=target: surrogate.get(n)(v).sum())(x),
        )


@pytest.mark.parametrize("name", sorted(DEFAULT_WIDTHS))
def test_defaults_and_named_constructors(name):
    """Default widths are those of the table; module-level constructors equal get()."""
    s = surrogate.get(name)
    assert float(s.width) == DEFAULT_WIDTHS[name]
    assert surrogate.spec(name).width_name == WIDTH_NAMES[name]
    assert getattr(surrogate, name)() == s
    assert getattr(surrogate, name)(0.75) == surrogate.get(name, **{WIDTH_NAMES[name]: 0.75})


def test_custom_grad():
    def my_g(v, w):
        return jnp.full_like(v, 3.0) * w

    f = Surrogate("mine", 2.0, grad=my_g)
    v = jnp.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(f(v), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(jax.grad(lambda x: f(x).sum())(v), [6.0, 6.0, 6.0])


def test_get_errors():
    with pytest.raises(ValueError, match=r"surrogate name must be one of .*'rectangle'.*'atan'.*, got 'nope'"):
        surrogate.get("nope")
    with pytest.raises(ValueError, match="atan.*takes one width argument named 'alpha'"):
        surrogate.get("atan", gamma=2.0)
    with pytest.raises(ValueError, match="takes one width argument"):
        surrogate.get("rectangle", 0.5, gamma=0.5)
    with pytest.raises(ValueError, match="takes one width argument"):
        surrogate.get("straight_through", alpha=1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"surrogate width \(gamma\) of 'rectangle'"):
            surrogate.get("rectangle", bad)
    with pytest.raises(ValueError, match=r"surrogate width \(alpha\) of 'atan' must be > 0"):
        surrogate.get("atan", alpha=-2.0)
    with pytest.raises(ValueError, match="must be > 0"):
        Surrogate("sigmoid", jnp.array([1.0, 0.0]))
    with pytest.raises(TypeError, match="surrogate must be a name"):
        surrogate.get(3)
    with pytest.raises(TypeError, match="v must have a floating dtype"):
        Surrogate("atan")(jnp.array([1, 2]))


def test_surrogate_is_a_pytree_with_width_leaf():
    s = Surrogate("triangle", 0.5)
    leaves, treedef = jax.tree_util.tree_flatten(s)
    assert leaves == [0.5]
    s2 = jax.tree_util.tree_unflatten(treedef, [0.25])
    assert s2.name == "triangle" and s2.width == 0.25 and s2.grad is s.grad
