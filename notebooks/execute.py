"""Run a notebook's code cells in order, without Jupyter; optionally store the outputs.

    python notebooks/execute.py notebooks/differentiating_dynamics.ipynb            # check it runs
    python notebooks/execute.py --write notebooks/differentiating_dynamics.ipynb    # and save outputs

The cells run in one namespace in this process (matplotlib's ``Agg`` backend); each cell's
printed text and the figures it shows (``plt.show()``) become its outputs, as Jupyter would
store them. Any exception stops the run with the failing cell's number and a non-zero exit
status, so the notebooks' own checks (``assert`` against finite differences, closed forms and
NumPy loops) make this a test: ``tests/test_notebooks.py`` runs every notebook this way.
Only the standard library and matplotlib are needed (no nbformat / nbclient / kernel).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import sys
import time
import traceback


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def run_notebook(path: str, *, write: bool = False) -> list[float]:
    """Execute ``path``'s code cells; returns each code cell's wall time (s). Raises on failure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    figures: list[str] = []

    def show(*_args, **_kwargs):
        for num in plt.get_fignums():
            buf = io.BytesIO()
            plt.figure(num).savefig(buf, format="png", dpi=72, bbox_inches="tight")
            figures.append(base64.b64encode(buf.getvalue()).decode("ascii"))
        plt.close("all")

    plt.show = show
    namespace: dict = {"__name__": "__main__"}
    times = []
    count = 0
    cwd = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(path)))  # as Jupyter: relative paths from the notebook
    try:
        for index, cell in enumerate(nb["cells"]):
            if cell.get("cell_type") != "code":
                continue
            count += 1
            figures.clear()
            out = io.StringIO()
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(_source(cell), f"<{os.path.basename(path)} cell {count}>", "exec"), namespace)
            except Exception as e:
                sys.stdout.write(out.getvalue())
                raise RuntimeError(f"{path}: code cell {count} (cell index {index}) failed") from e
            show()  # figures created but not shown are output too, as inline matplotlib does
            times.append(time.perf_counter() - t0)
            outputs = []
            if out.getvalue():
                outputs.append({"output_type": "stream", "name": "stdout", "text": _lines(out.getvalue())})
            for png in figures:
                outputs.append({"output_type": "display_data", "metadata": {},
                                "data": {"image/png": png, "text/plain": ["<Figure>"]}})
            cell["outputs"], cell["execution_count"] = outputs, count
    finally:
        os.chdir(cwd)
    if write:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--write", action="store_true", help="store the outputs in the notebook")
    args = p.parse_args(argv)
    for path in args.notebooks:
        try:
            times = run_notebook(path, write=args.write)
        except RuntimeError:
            traceback.print_exc()
            return 1
        print(f"{path}: {len(times)} code cells ran in {sum(times):.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
