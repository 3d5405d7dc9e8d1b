"""Every notebook in notebooks/ runs top to bottom, and its own checks pass.

The notebooks assert against finite differences, closed forms and NumPy loops, so running
them is a test. Each runs in a subprocess: they enable float64 (``jax_enable_x64``), which
must not leak into the other tests.
"""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXECUTE = ROOT / "notebooks" / "execute.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _run(*paths, timeout=600):
    return subprocess.run(
        [sys.executable, str(EXECUTE), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_its_checks_pass(path):
    proc = _run(path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("outputs") is not None for c in code)


def _notebook(tmp_path, *sources):
    cells = [
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s} for s in sources
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_executor_reports_a_failing_check(tmp_path):
    path = _notebook(tmp_path, "x = 1\nprint('first')", "assert x == 2, 'x is not 2'")
    proc = _run(path, timeout=120)
    assert proc.returncode == 1
    assert "code cell 2" in proc.stderr and "x is not 2" in proc.stderr


def test_executor_stores_text_and_figures(tmp_path):
    path = _notebook(
        tmp_path,
        "import matplotlib.pyplot as plt\nprint('hello')",
        "plt.plot([0, 1], [1, 0])\nplt.show()",
    )
    proc = subprocess.run(
        [sys.executable, str(EXECUTE), "--write", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["outputs"][0]["text"] == ["hello\n"] and cells[0]["execution_count"] == 1
    png = cells[1]["outputs"][0]["data"]["image/png"]
    import base64

    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
