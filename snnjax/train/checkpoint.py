"""Orbax checkpoints of an NNX model + optimiser, one per epoch, for exact resume."""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp
from flax import nnx

__all__ = ["Checkpointer"]


class Checkpointer:
    """Save / restore ``(model, optimizer, epoch)`` under ``directory`` (keeps the last ``max_to_keep``).

    The model's full NNX state is saved (parameters, batch statistics and any
    ``nnx.Rngs`` counters), so a resumed run continues with the same random
    streams; the data order depends only on ``(seed, epoch)``.
    """

    def __init__(self, directory: str, *, max_to_keep: int = 2):
        self.directory = os.path.abspath(directory)
        self._mgr = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep))

    @staticmethod
    def _tree(model: nnx.Module, optimizer: nnx.Optimizer) -> dict[str, Any]:
        return {"model": nnx.to_pure_dict(nnx.state(model)), "optimizer": nnx.to_pure_dict(nnx.state(optimizer))}

    def save(self, epoch: int, model: nnx.Module, optimizer: nnx.Optimizer) -> None:
        self._mgr.save(epoch, args=ocp.args.StandardSave(self._tree(model, optimizer)))
        self._mgr.wait_until_finished()

    def latest_epoch(self) -> int | None:
        return self._mgr.latest_step()

    def restore(self, model: nnx.Module, optimizer: nnx.Optimizer, epoch: int | None = None) -> int | None:
        """Load the checkpoint of ``epoch`` (default: the latest) into ``model`` and ``optimizer``
        in place; returns the epoch restored, or ``None`` if there is none."""
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch is None:
            return None
        target = self._tree(model, optimizer)
        restored = self._mgr.restore(epoch, args=ocp.args.StandardRestore(target))
        for obj, key in ((model, "model"), (optimizer, "optimizer")):
            state = nnx.state(obj)
            nnx.replace_by_pure_dict(state, restored[key])
            nnx.update(obj, state)
        return epoch

    def close(self) -> None:
        self._mgr.close()
