"""Learning-rate schedules of the papers, as Optax schedules over optimiser *steps*.

Optax counts optimiser steps; the papers count epochs. Each constructor takes
``steps_per_epoch`` and returns a schedule whose value is constant within an epoch.

Every argument is checked when the schedule is built: learning rates and factors must be
finite and > 0, step counts positive ints (``TypeError`` / ``ValueError`` naming the argument).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optax

from snnjax.train._checks import positive_int
from snnjax.validation import check_int, check_number, describe

__all__ = ["step_lr", "multistep_lr", "cosine_lr"]


def _lr(lr: float) -> float:
    return check_number("lr", lr, low=0.0, low_open=True)


def _spe(steps_per_epoch: int) -> int:
    return positive_int("steps_per_epoch", steps_per_epoch)


def step_lr(lr: float, steps_per_epoch: int, *, step_size: int = 2, gamma: float = 0.8) -> optax.Schedule:
    """PyTorch ``StepLR``: ``lr · gamma^(epoch // step_size)`` (POLARA: step 2, ×0.8)."""
    lr = _lr(lr)
    spe = _spe(steps_per_epoch)
    gamma = check_number("gamma", gamma, low=0.0, low_open=True)
    step_size = positive_int("step_size", step_size)
    return optax.exponential_decay(lr, transition_steps=step_size * spe, decay_rate=gamma, staircase=True)


def multistep_lr(lr: float, steps_per_epoch: int, *, milestones: Sequence[int], gamma: float = 0.1) -> optax.Schedule:
    """PyTorch ``MultiStepLR``: multiply by ``gamma`` at each milestone epoch (POLARA CIFAR: 50, 60).

    ``milestones``: distinct epochs (ints >= 1, any order)."""
    lr = _lr(lr)
    spe = _spe(steps_per_epoch)
    gamma = check_number("gamma", gamma, low=0.0, low_open=True)
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, (Sequence, np.ndarray)):
        raise TypeError(f"milestones must be a sequence of epochs (ints >= 1), got {describe(milestones)}")
    ms = [check_int(f"milestones[{i}]", m, low=1) for i, m in enumerate(milestones)]
    if len(set(ms)) != len(ms):
        raise ValueError(f"milestones must be distinct epochs, got {list(ms)}")
    return optax.piecewise_constant_schedule(lr, {m * spe: gamma for m in sorted(ms)})


def cosine_lr(lr: float, steps_per_epoch: int, *, epochs: int) -> optax.Schedule:
    """PyTorch ``CosineAnnealingLR(T_max=epochs)`` stepped per epoch (ILIF: 200 epochs)."""
    lr = _lr(lr)
    spe = _spe(steps_per_epoch)
    epochs = positive_int("epochs", epochs)
    per_epoch = optax.cosine_decay_schedule(lr, decay_steps=epochs)
    return lambda step: per_epoch(step // spe)
