"""Execute notebooks with Jupyter's own machinery (nbclient + an ipykernel); optionally store outputs.

    python notebooks/run.py notebooks/01_composing_neurons.ipynb           # check it runs
    python notebooks/run.py --write notebooks/*.ipynb                      # and save the outputs

Each notebook runs in a fresh ``python3`` kernel (its working directory is ``notebooks/``), as
``jupyter execute`` would run it; any cell that raises stops the run with a non-zero exit
status and the cell's error, so the notebooks' own checks (``assert`` against finite
differences, closed forms and NumPy loops) make running them a test:
``tests/test_notebooks.py`` calls :func:`execute` on every notebook. ``--write`` stores the
outputs in place (so the notebooks read on a repository page and in the docs site).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def execute(path: str, *, write: bool = False, timeout: int = 900, cwd: str | None = None) -> float:
    """Run every cell of ``path`` in a new kernel; returns the wall time (s).

    The kernel starts in ``cwd`` (default: the notebook's own directory), so a copy of a
    notebook run elsewhere still finds the files its cells name by relative path.

    Raises ``nbclient.exceptions.CellExecutionError`` (the failing cell's source and
    traceback) when a cell raises, and ``nbclient.exceptions.CellTimeoutError`` when a cell
    runs past ``timeout`` seconds.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": cwd or os.path.dirname(os.path.abspath(path))}},
        # figures in the stored outputs at a size that reads on a repository page
        extra_arguments=["--InlineBackend.rc={'figure.dpi': 72}"],
    )
    t0 = time.perf_counter()
    client.execute()
    if write:
        nbformat.write(nb, path)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+")
    p.add_argument("--write", action="store_true", help="store the outputs in the notebooks")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = p.parse_args(argv)
    for path in args.paths:
        try:
            dt = execute(path, write=args.write, timeout=args.timeout)
        except Exception as e:  # noqa: BLE001 - report which notebook failed, then fail
            print(f"{path}: FAILED\n{e}", file=sys.stderr)
            return 1
        print(f"{path}: ok in {dt:.1f} s" + (" (outputs written)" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
