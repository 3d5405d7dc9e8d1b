"""What the benchmark scripts share: host memory settings (import before jax / torch), the
timers (:func:`median_seconds`, :func:`interleaved_times`) and the JSON-lines record
(:class:`JsonLines`).

On the virtual machines we measure on, a page fault costs ~2.5 µs: glibc serves every
allocation of 32 MB or more with a fresh ``mmap`` and returns it on ``free``, so each
call of a jitted function (or a torch op) that allocates a large output first touches
every 4 KB page of it again, at ~3 GB/s instead of the ~15–30 GB/s of a memory pass.
Such arrays are common here (a ``(500, 16, 1024)`` float32 sequence is 32 MB), and the
effect swamps what the benchmarks measure — the same copy took 2.6 ms or 21 ms depending
on the size of its output.

:func:`keep_freed_memory` tells glibc (``mallopt``) to serve every allocation from one
heap and never give freed memory back, so after the warm-up runs no page is faulted in
again. JAX and torch both allocate with malloc, so in one process every library is
measured the same way. The scripts apply it by default and record it (``"malloc"`` in
each JSON line); ``--malloc system`` measures with the system's default instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util

MALLOC_MODES = ("keep", "system")

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8


def keep_freed_memory() -> bool:
    """Serve all allocations from one never-trimmed heap (glibc); ``False`` where unsupported."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(
        mallopt(param, value)
        for param, value in (
            (_M_ARENA_MAX, 1),  # one arena: thread arenas would mmap their own 64 MB heaps
            (_M_MMAP_MAX, 0),  # never mmap a block: large ones come from the heap too
            (_M_TRIM_THRESHOLD, 2**31 - 1),  # never return the heap's top to the system
            (_M_TOP_PAD, 256 * 2**20),  # grow the heap in 256 MB steps
        )
    )
    return bool(ok)


def apply(mode: str) -> str:
    """Apply ``mode`` (``"keep"`` or ``"system"``); returns what is in effect, for the record."""
    if mode not in MALLOC_MODES:
        raise ValueError(f"malloc mode must be one of {MALLOC_MODES}, got {mode!r}")
    if mode == "keep":
        return "keep" if keep_freed_memory() else "system (mallopt unavailable)"
    return "system"


def apply_from_argv(argv: list[str] | None = None) -> str:
    """Apply the ``--malloc MODE`` given on the command line (default ``keep``), before argparse runs.

    It has to happen before jax / torch are imported (they start threads that allocate), so the
    scripts call this at import time; their argparse declares the same option to document and
    validate it.
    """
    import sys

    argv = sys.argv[1:] if argv is None else argv
    mode = "keep"
    for i, arg in enumerate(argv):
        if arg == "--malloc" and i + 1 < len(argv):
            mode = argv[i + 1]
        elif arg.startswith("--malloc="):
            mode = arg.split("=", 1)[1]
    return apply(mode) if mode in MALLOC_MODES else mode  # argparse rejects an unknown mode


def add_argument(parser) -> None:
    """The ``--malloc`` option, as every benchmark script declares it."""
    parser.add_argument(
        "--malloc",
        choices=MALLOC_MODES,
        default="keep",
        help="keep: glibc keeps freed memory (no page faults after warm-up; default); system: glibc defaults",
    )


class JsonLines:
    """The benchmark record: each ``emit(rec)`` prints ``{**meta, **rec}`` as a JSON line and
    appends it to ``path`` (if given); ``rows`` keeps the records for the Markdown table."""

    def __init__(self, path: str | None, meta: dict):
        import os

        self.meta, self.rows = meta, []
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._file = open(path, "a") if path else None  # noqa: SIM115

    def emit(self, rec: dict) -> None:
        import json

        self.rows.append(rec)
        line = json.dumps({**self.meta, **rec})
        print(line, flush=True)
        if self._file:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()


def xla_memory(compiled) -> dict | None:
    """XLA's memory account of a compiled function, in bytes: ``arguments``, ``outputs``,
    ``temp`` (saved residuals and scratch, one block), ``alias`` (donated) and ``peak`` =
    arguments + outputs + temp − alias; ``None`` where the backend gives none."""
    m = compiled.memory_analysis()
    if m is None:
        return None
    a, o, t, al = m.argument_size_in_bytes, m.output_size_in_bytes, m.temp_size_in_bytes, m.alias_size_in_bytes
    return {"arguments": a, "outputs": o, "temp": t, "alias": al, "peak": a + o + t - al}


def median_seconds(fn, args, repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn(*args)`` over ``repeats`` runs after ``warmup`` runs, each ended
    with ``jax.block_until_ready``."""
    import statistics
    import time

    import jax

    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_times(run_fns, repeats: int, warmup: int = 2) -> list[list[float]]:
    """Wall times of each zero-argument ``run_fns[i]()`` (which must block until its result is
    ready): ``warmup`` runs each, then ``repeats`` rounds of every function once, so that drift of
    a shared machine's speed hits all of them alike. ``times[i]`` lists function i's rounds."""
    import time

    for fn in run_fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in run_fns]
    for _ in range(repeats):
        for ts, fn in zip(times, run_fns):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return times


def run_meta(malloc: str) -> dict:
    """The fields every line of a training-step record shares: the date, the machine, JAX's
    device and version, the native kernels' instruction set and the malloc mode."""
    import datetime
    import os
    import platform

    import jax

    from snnjax.kernels import native

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "native_isa": native.instruction_set(),
        "malloc": malloc,
    }
