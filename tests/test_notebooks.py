"""Every notebook in notebooks/ runs top to bottom in a Jupyter kernel, and its own checks pass.

The notebooks assert against finite differences, closed forms and NumPy loops, so running
them is a test. They run through nbclient with an ipykernel (``notebooks/run.py``), each in
its own kernel process, so a notebook's ``jax_enable_x64`` cannot leak into other tests.
"""

import base64
import json
import pathlib
import sys

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))
import run as runner  # notebooks/run.py

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    for want in ("01_composing_neurons.ipynb", "02_ilif_inhibition.ipynb", "03_polara_polarization.ipynb",
                 "04_training.ipynb", "differentiating_dynamics.ipynb"):  # fmt: skip
        assert want in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_its_checks_pass(path, tmp_path):
    # run a copy, so the stored outputs of the committed notebook stay as they are
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    runner.execute(str(copy), write=True, cwd=str(path.parent))  # relative paths as in notebooks/
    nb = json.loads(copy.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] is not None for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    # the committed notebook carries its outputs (it reads on a repository page)
    stored = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    assert any(c["outputs"] for c in stored), f"{path.name} is stored without outputs (run notebooks/run.py --write)"


def _notebook(tmp_path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_runner_fails_on_a_failing_check(tmp_path):
    path = _notebook(tmp_path, "x = 1\nprint('first')", "assert x == 2, 'x is not 2'", "print('never')")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="x is not 2"):
        runner.execute(str(path))
    assert runner.main([str(path)]) == 1


def test_runner_stores_text_and_figures(tmp_path):
    path = _notebook(
        tmp_path,
        "%matplotlib inline\nprint('hello')",
        "from matplotlib.figure import Figure\nfig = Figure()\nfig.subplots().plot([0, 1], [1, 0])\nfig",
    )
    assert runner.main(["--write", str(path)]) == 0
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[0]["outputs"][0]["text"]) == "hello\n" and cells[0]["execution_count"] == 1
    png = cells[1]["outputs"][0]["data"]["image/png"]
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
