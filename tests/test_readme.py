"""The README's code examples run as written (```python blocks; ```py blocks need data sets
that are not shipped, e.g. CIFAR and DVS)."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
    with open(os.path.join(REPO, "README.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_examples_run():
    blocks = _python_blocks()
    assert len(blocks) >= 2
    ns: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - our own README
    # the functional example took a real gradient
    assert float(abs(ns["grads"].v_th)) > 0
    # the NNX example builds and runs
    import jax.numpy as jnp
    from flax import nnx

    net = ns["Net"](nnx.Rngs(0))
    assert net(jnp.ones((4, 2, 784)) * 0.1).shape == (4, 2, 10)
