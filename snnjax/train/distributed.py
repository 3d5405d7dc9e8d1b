"""Several processes, one run: JAX's multi-controller runtime, as :func:`~snnjax.train.fit` uses it.

One process per host (per GPU node, per TPU VM); every process runs the same script::

    from snnjax import train
    train.distributed.initialize()                         # first, before anything touches JAX
    ...
    rows = train.fit(model, optimizer, ..., devices=jax.device_count(), out_dir=SHARED_DIR)
    if train.distributed.is_primary():
        ...                                                # plots, reports: one process writes

:func:`initialize` wraps ``jax.distributed.initialize``. On a GPU cluster pass the
coordinator (``host:port`` of process 0, reachable from every host), the number of
processes and this process's index — or nothing under SLURM / Open MPI, where JAX reads
them from the environment; on a TPU pod pass nothing (the TPU runtime knows the slice).
CPU processes (the tests: several processes on 127.0.0.1) exchange data over gloo.

After it, ``jax.devices()`` lists every device of every process, ``fit(devices=N)`` builds
its mesh over them, each process transfers only its rows of each global batch, process 0
writes the metrics files and all processes write the Orbax checkpoints (``out_dir`` on a
file system every host sees). :func:`to_local` turns a trained model's replicated global
arrays into this process's own copy, for work done by one process alone (analysis, export).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from snnjax.validation import check_int, describe

__all__ = ["initialize", "is_primary", "barrier", "to_local", "add_arguments", "join_from_args"]


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    cpu_collectives: str = "gloo",
) -> None:
    """Join the multi-process runtime (``jax.distributed.initialize``); call it first.

    Args:
      coordinator_address: ``"host:port"`` of process 0 (``None``: from the cluster
        environment — SLURM, Open MPI, TPU pods).
      num_processes: the number of processes (``None``: from the environment).
      process_id: this process's index in ``[0, num_processes)`` (``None``: from the environment).
      cpu_collectives: how CPU devices of different processes communicate (``"gloo"``, or
        ``"mpi"`` where jaxlib was built with it); ignored by GPU/TPU devices.

    Raises:
      TypeError / ValueError: a bad argument (before JAX is touched).
    """
    if coordinator_address is not None and not isinstance(coordinator_address, str):
        raise TypeError(f"coordinator_address must be a 'host:port' str or None, got {describe(coordinator_address)}")
    if coordinator_address is not None and ":" not in coordinator_address:
        raise ValueError(f"coordinator_address must be 'host:port', got {coordinator_address!r}")
    num_processes = check_int("num_processes", num_processes, low=1, allow_none=True)
    process_id = check_int("process_id", process_id, low=0, allow_none=True)
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise ValueError(f"process_id must be < num_processes ({num_processes}), got {process_id}")
    if cpu_collectives not in ("gloo", "mpi"):
        raise ValueError(f"cpu_collectives must be 'gloo' or 'mpi', got {cpu_collectives!r}")
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def is_primary() -> bool:
    """True in the process that writes a run's files: the only one, or process 0 of several."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier ``name`` (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def to_local(*objs: Any) -> None:
    """Replace, in place, every array of the NNX objects ``objs`` that spans several
    processes by this process's own copy (its first addressable shard), so that one process
    can go on alone (analysis, plotting, export) after a multi-process :func:`fit`.

    Raises:
      ValueError: an array is not replicated (it has no complete copy on this process).
    """
    state = nnx.state(objs)

    def local(path, a):
        if not isinstance(a, jax.Array) or a.is_fully_addressable:
            return a
        if not a.is_fully_replicated:
            name = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
            raise ValueError(
                f"{name} is sharded across processes (sharding {a.sharding}); only replicated state can be made local"
            )
        return a.addressable_data(0)

    nnx.update(objs, jax.tree_util.tree_map_with_path(local, state))


def add_arguments(parser: Any) -> None:
    """Add a training script's multi-process options to an ``argparse`` parser:
    ``--distributed`` (this is one of several processes, all started with the same arguments),
    ``--coordinator`` (host:port of process 0), ``--num-processes``, ``--process-id`` (each
    defaulting to what the cluster says: SLURM, Open MPI, TPU pods). The script then calls
    :func:`join_from_args` right after parsing, before anything else touches JAX; it needs a
    ``--devices`` option of its own (data parallelism over N devices)."""
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="this is one of several processes (one per host, all with the same arguments): join JAX's "
        "multi-process runtime first; --devices then defaults to every device of every process",
    )
    parser.add_argument(
        "--coordinator", default=None, help="with --distributed: host:port of process 0 (default: the cluster's)"
    )
    parser.add_argument("--num-processes", type=int, default=None, help="with --distributed (default: the cluster's)")
    parser.add_argument("--process-id", type=int, default=None, help="with --distributed (default: the cluster's)")


def join_from_args(parser: Any, args: Any, *, batch_sizes: tuple[str, ...] = ("batch_size",)) -> None:
    """Act on :func:`add_arguments`' options: without ``--distributed`` only check that the other
    three are not given; with it :func:`initialize`, then set ``args.devices`` to every device of
    every process (a ``--devices`` that is not that count is an error) and check that each
    ``args.<name>`` of ``batch_sizes`` is a multiple of it. Every problem is ``parser.error``
    (exit 2, the usage and the option's name)."""
    if not args.distributed:
        for name in ("coordinator", "num_processes", "process_id"):
            if getattr(args, name) is not None:
                parser.error(f"--{name.replace('_', '-')} needs --distributed")
        return
    try:
        initialize(args.coordinator, args.num_processes, args.process_id)
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    if args.devices is None:
        args.devices = jax.device_count()
    if args.devices != jax.device_count():
        parser.error(f"--devices must be every device of every process ({jax.device_count()}) with --distributed")
    for name in batch_sizes:
        if getattr(args, name) % args.devices:
            flag = f"--{name.replace('_', '-')}"
            parser.error(f"{flag} ({getattr(args, name)}) must be a multiple of the {args.devices} devices")
