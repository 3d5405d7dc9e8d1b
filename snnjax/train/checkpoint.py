"""Orbax checkpoints of an NNX model + optimiser, one per epoch, for exact resume.

Every checkpoint is verified before it is restored, and a bad one is never restored
silently:

* After Orbax has committed a checkpoint, :class:`Checkpointer` writes a manifest
  (``snnjax_checksums.json``: the size and SHA-256 of every file) into the step directory.
  On restore each file is checked against it, so a truncated, deleted or altered file is
  reported by name. (Orbax alone restores some truncated files without an error.)
* A checkpoint without a manifest (written by an older snnjax, or by a run killed between
  the commit and the manifest) is restored with Orbax's own checks only, and says so.
* Leftovers of a write that was killed before Orbax committed it
  (``<step>.orbax-checkpoint-tmp-*``) are never restored; they are removed (logged) when a
  :class:`Checkpointer` opens the directory.
* ``restore()`` without an ``epoch`` falls back to the newest good checkpoint: each newer
  bad one is logged with the reason and renamed to ``corrupt-<epoch>-<time>`` in the same
  directory (kept for inspection, invisible to Orbax, so the epoch can be saved again).
  If checkpoints exist but none is good, :class:`CheckpointCorruptError` names the
  directory and every reason, and nothing is moved: a run is never started over silently.
* A checkpoint whose files are intact but which does not fit the model/optimiser (another
  architecture, another optimiser) raises :class:`CheckpointMismatchError` at once: that is
  a wrong argument, not a damaged file, and older checkpoints would not fit either.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from snnjax.train._checks import positive_int
from snnjax.train.distributed import barrier as _barrier
from snnjax.validation import check_callable, check_int, describe

__all__ = ["Checkpointer", "CheckpointError", "CheckpointCorruptError", "CheckpointMismatchError"]

MANIFEST = "snnjax_checksums.json"
_TMP_MARK = ".orbax-checkpoint-tmp"
_ITEM = "default"  # the item name Orbax's CheckpointManager uses for a single item


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or restored."""


class CheckpointCorruptError(CheckpointError):
    """Checkpoint files are missing, truncated or altered, or Orbax cannot read them."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """An intact checkpoint does not fit the model / optimizer it is restored into."""


class _Corrupt(Exception):
    pass


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _short(e: BaseException, limit: int = 400) -> str:
    s = " ".join(str(e).split())
    return f"{type(e).__name__}: {s if len(s) <= limit else s[: limit - 3] + '...'}"


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _files(root: str) -> list[str]:
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), root)
            if rel != MANIFEST and not rel.startswith(MANIFEST + "."):
                out.append(rel)
    return sorted(out)


def _path_str(path) -> str:
    parts = []
    for k in path:
        for attr in ("key", "idx", "name"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _leaf_shape(leaf) -> tuple:
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return tuple(jax.random.key_data(leaf).shape)
    return tuple(getattr(leaf, "shape", ()))


class Checkpointer:
    """Save / restore ``(model, optimizer, epoch)`` under ``directory`` (keeps the last ``max_to_keep``).

    The model's full NNX state is saved (parameters, batch statistics and any
    ``nnx.Rngs`` counters), so a resumed run continues with the same random
    streams; the data order depends only on ``(seed, epoch)``. See the module
    docstring for how damaged checkpoints are detected and handled.

    Args:
      directory: the checkpoint directory (created on the first save).
      max_to_keep: how many of the newest checkpoints are kept (>= 1; 2 leaves a
        fallback if the newest is damaged).
      log: where notes about skipped / damaged checkpoints go (default: stderr).
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2, log: Callable[[str], None] | None = None):
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be a str or os.PathLike, got {describe(directory)}")
        max_to_keep = positive_int("max_to_keep", max_to_keep)
        self._log = check_callable("log", log, allow_none=True) or _stderr
        self.directory = os.path.abspath(os.fspath(directory))
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(f"directory must be a directory, got the file {self.directory}")
        if jax.process_index() == 0:  # in a multi-process run, process 0 tidies; the others wait
            self._remove_incomplete_writes()
        _barrier("snnjax.Checkpointer: opened")
        self._mgr = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep))

    # ------------------------------------------------------------------ helpers

    def step_dir(self, epoch: int) -> str:
        """The directory of the checkpoint of ``epoch``."""
        return os.path.join(self.directory, str(epoch))

    def _remove_incomplete_writes(self) -> None:
        if not os.path.isdir(self.directory):
            return
        for name in sorted(os.listdir(self.directory)):
            if _TMP_MARK in name:
                path = os.path.join(self.directory, name)
                self._log(
                    f"checkpoint: removing {path}, an incomplete write (the run stopped while saving); "
                    "it was never committed and is not restored"
                )
                shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def _tree(model: nnx.Module, optimizer: nnx.Optimizer | None) -> dict[str, Any]:
        tree = {"model": nnx.to_pure_dict(nnx.state(model))}
        if optimizer is not None:
            tree["optimizer"] = nnx.to_pure_dict(nnx.state(optimizer))
        return tree

    def _write_manifest(self, epoch: int) -> None:
        d = self.step_dir(epoch)
        files = {
            rel: {"size": os.path.getsize(os.path.join(d, rel)), "sha256": _sha256(os.path.join(d, rel))}
            for rel in _files(d)
        }
        tmp = os.path.join(d, MANIFEST + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"epoch": epoch, "files": files}, f, indent=0)
        os.replace(tmp, os.path.join(d, MANIFEST))

    def verify(self, epoch: int) -> tuple[bool | None, str]:
        """Check the files of the checkpoint of ``epoch`` against its manifest:
        ``(True, "")`` if they match, ``(False, why)`` if not, ``(None, why)`` without a manifest."""
        d = self.step_dir(epoch)
        if not os.path.isdir(d):
            return False, f"{d} does not exist"
        mpath = os.path.join(d, MANIFEST)
        if not os.path.exists(mpath):
            return None, f"{d} has no {MANIFEST} (older snnjax, or the run stopped right after the commit)"
        try:
            with open(mpath) as f:
                files = json.load(f)["files"]
        except Exception as e:  # noqa: BLE001 - any unreadable manifest is damage
            return False, f"its manifest {mpath} is unreadable ({_short(e)})"
        for rel, want in files.items():
            p = os.path.join(d, rel)
            if not os.path.isfile(p):
                return False, f"file {rel} is missing"
            size = os.path.getsize(p)
            if size != want["size"]:
                return False, f"file {rel} has {size} bytes, {want['size']} were written (truncated or altered)"
            if _sha256(p) != want["sha256"]:
                return False, f"file {rel} differs from what was written (SHA-256 mismatch)"
        return True, ""

    def _metadata(self, epoch: int):
        handler = ocp.StandardCheckpointHandler()
        try:
            md = handler.metadata(epath.Path(self.step_dir(epoch)) / _ITEM)
        finally:
            handler.close()
        return md.tree if hasattr(md, "tree") else md

    @staticmethod
    def _structure_diff(saved, target) -> list[str]:
        def leaves(tree):
            return {_path_str(p): _leaf_shape(leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}

        s, t = leaves(saved), leaves(target)
        diff = []
        missing = sorted(set(t) - set(s))
        extra = sorted(set(s) - set(t))
        if missing:
            diff.append(f"not in the checkpoint: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if extra:
            diff.append(f"only in the checkpoint: {extra[:5]}{' ...' if len(extra) > 5 else ''}")
        shapes = [f"{k}: checkpoint {s[k]}, model {t[k]}" for k in sorted(set(s) & set(t)) if s[k] != t[k]]
        if shapes:
            diff.append(f"shapes differ: {shapes[:5]}{' ...' if len(shapes) > 5 else ''}")
        return diff

    def _restore_epoch(self, epoch: int, model: nnx.Module, optimizer: nnx.Optimizer | None) -> str:
        """Restore one checkpoint in place; raises ``_Corrupt`` or ``CheckpointMismatchError``.
        Returns a note (non-empty when the checkpoint could not be verified)."""
        ok, why = self.verify(epoch)
        if ok is False:
            raise _Corrupt(why)
        note = "" if ok else f"not verified: {why}"
        target = self._tree(model, optimizer)
        path = self.step_dir(epoch)
        try:
            saved = self._metadata(epoch)
        except Exception as e:  # noqa: BLE001
            if ok:
                raise CheckpointMismatchError(
                    f"checkpoint {path} is intact but its metadata is not an snnjax checkpoint ({_short(e)})"
                ) from e
            raise _Corrupt(f"its metadata is unreadable ({_short(e)})") from e
        if not isinstance(saved, dict) or "model" not in saved or "optimizer" not in saved:
            raise _Corrupt(f"its metadata has no model/optimizer entries (got {describe(saved)})")
        if optimizer is None:
            target["optimizer"] = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), saved["optimizer"])
        # the saved tree (from its metadata) against the target: a mismatch is a wrong model or
        # optimiser, reported before Orbax is asked to read anything
        diff = self._structure_diff(saved, target)
        if diff:
            raise CheckpointMismatchError(
                f"checkpoint {path} does not fit this model/optimizer ({'; '.join(diff)}); was it written "
                "by another architecture or optimiser? Use another out_dir / checkpoint directory."
            )
        try:
            restored = self._mgr.restore(epoch, args=ocp.args.StandardRestore(target))
        except Exception as e:  # noqa: BLE001 - Orbax / TensorStore raise many kinds
            if ok:
                raise CheckpointMismatchError(
                    f"checkpoint {path} is intact (checksums match) but cannot be restored into this "
                    f"model/optimizer: {_short(e)}"
                ) from e
            raise _Corrupt(f"Orbax could not read it ({_short(e)})") from e
        objs = [(model, "model")] + ([(optimizer, "optimizer")] if optimizer is not None else [])
        states = []
        try:
            for obj, key in objs:
                state = nnx.state(obj)
                nnx.replace_by_pure_dict(state, restored[key])
                states.append(state)
        except Exception as e:  # noqa: BLE001
            raise CheckpointMismatchError(f"checkpoint {path} does not fit this model/optimizer: {_short(e)}") from e
        for (obj, _), state in zip(objs, states):
            nnx.update(obj, state)
        return note

    def _quarantine(self, epoch: int) -> str:
        src = self.step_dir(epoch)
        dst = os.path.join(self.directory, f"corrupt-{epoch}-{time.strftime('%Y%m%d-%H%M%S')}")
        i = 1
        while os.path.exists(dst):
            dst = os.path.join(self.directory, f"corrupt-{epoch}-{time.strftime('%Y%m%d-%H%M%S')}-{i}")
            i += 1
        if os.path.exists(src):
            os.rename(src, dst)
        return dst

    # ------------------------------------------------------------------ API

    def save(self, epoch: int, model: nnx.Module, optimizer: nnx.Optimizer) -> None:
        """Write the checkpoint of ``epoch`` (and its manifest); raises :class:`CheckpointError`
        if Orbax skips it (a checkpoint of this or a later epoch exists)."""
        epoch = check_int("epoch", epoch, low=0)
        if not isinstance(model, nnx.Module):
            raise TypeError(f"model must be an nnx.Module, got {describe(model)}")
        if not isinstance(optimizer, nnx.Optimizer):
            raise TypeError(f"optimizer must be an nnx.Optimizer, got {describe(optimizer)}")
        saved = self._mgr.save(epoch, args=ocp.args.StandardSave(self._tree(model, optimizer)))
        self._mgr.wait_until_finished()
        if not saved:
            raise CheckpointError(
                f"the checkpoint of epoch index {epoch} was not written to {self.directory}: it holds checkpoints of "
                f"epoch indices {self.all_epochs()} already and Orbax saves only newer ones"
            )
        if jax.process_index() == 0:
            self._write_manifest(epoch)
        _barrier(f"snnjax.Checkpointer: saved {epoch}")

    def all_epochs(self) -> list[int]:
        """The epochs with a (committed) checkpoint, oldest first."""
        return sorted(self._mgr.all_steps())

    def latest_epoch(self) -> int | None:
        return self._mgr.latest_step()

    def restore(
        self, model: nnx.Module, optimizer: nnx.Optimizer | None = None, epoch: int | None = None
    ) -> int | None:
        """Load a checkpoint into ``model`` (and ``optimizer``, if given: ``None`` restores
        the model alone, for inference) in place; returns the epoch restored, or ``None``
        if the directory holds no checkpoint.

        ``epoch=None`` (default): the newest *good* checkpoint; newer damaged ones are
        logged and moved aside (see the module docstring). With an explicit ``epoch``
        there is no fallback: a damaged checkpoint raises :class:`CheckpointCorruptError`.

        Raises:
          CheckpointCorruptError: checkpoints exist but none is good (or ``epoch`` is damaged).
          CheckpointMismatchError: a checkpoint is intact but does not fit ``model``/``optimizer``.
        """
        if not isinstance(model, nnx.Module):
            raise TypeError(f"model must be an nnx.Module, got {describe(model)}")
        if optimizer is not None and not isinstance(optimizer, nnx.Optimizer):
            raise TypeError(f"optimizer must be an nnx.Optimizer or None, got {describe(optimizer)}")
        self._mgr.reload()
        epochs = self.all_epochs()
        if epoch is not None:
            epoch = check_int("epoch", epoch, low=0)
            if epoch not in epochs:
                raise CheckpointError(
                    f"there is no checkpoint of epoch index {epoch} in {self.directory} "
                    f"(epoch indices with one: {epochs})"
                )
            try:
                note = self._restore_epoch(epoch, model, optimizer)
            except _Corrupt as e:
                raise CheckpointCorruptError(f"checkpoint {self.step_dir(epoch)} is corrupt: {e}") from None
            if note:
                self._log(f"checkpoint {self.step_dir(epoch)} (epoch index {epoch}): {note}")
            return epoch
        bad: list[tuple[int, str]] = []
        for e in reversed(epochs):
            try:
                note = self._restore_epoch(e, model, optimizer)
            except _Corrupt as err:
                bad.append((e, str(err)))
                self._log(f"checkpoint {self.step_dir(e)} (epoch index {e}) is corrupt: {err}")
                continue
            if note:
                self._log(f"checkpoint {self.step_dir(e)} (epoch index {e}): {note}")
            for b, _why in bad:  # the reasons were logged above
                if jax.process_index() != 0:  # in a multi-process run process 0 moves them
                    continue
                moved = self._quarantine(b)
                self._log(
                    f"checkpoint: fell back from epoch index {b} to epoch index {e}, the newest good one; the "
                    f"corrupt checkpoint was moved to {moved}"
                )
            if bad:
                _barrier("snnjax.Checkpointer: quarantined")
                self._mgr.reload()
            return e
        if bad:
            reasons = "; ".join(f"epoch index {b} ({self.step_dir(b)}): {why}" for b, why in bad)
            raise CheckpointCorruptError(
                f"no good checkpoint in {self.directory}: every checkpoint is damaged: {reasons}. Nothing was "
                "restored or moved; to start the run over, move or delete that directory (and the run's "
                "metrics files)"
            )
        return None

    def close(self) -> None:
        self._mgr.close()
