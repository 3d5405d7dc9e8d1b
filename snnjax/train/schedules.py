"""Learning-rate schedules of the papers, as Optax schedules over optimiser *steps*.

Optax counts optimiser steps; the papers count epochs. Each constructor takes
``steps_per_epoch`` and returns a schedule whose value is constant within an epoch.
"""

from __future__ import annotations

import optax

from snnjax._src import check_positive

__all__ = ["step_lr", "multistep_lr", "cosine_lr"]


def _spe(steps_per_epoch: int) -> int:
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch!r}")
    return steps_per_epoch


def step_lr(lr: float, steps_per_epoch: int, *, step_size: int = 2, gamma: float = 0.8) -> optax.Schedule:
    """PyTorch ``StepLR``: ``lr · gamma^(epoch // step_size)`` (POLARA: step 2, ×0.8)."""
    check_positive("lr", lr)
    check_positive("gamma", gamma)
    if not isinstance(step_size, int) or step_size < 1:
        raise ValueError(f"step_size must be a positive int (epochs), got {step_size!r}")
    return optax.exponential_decay(
        lr, transition_steps=step_size * _spe(steps_per_epoch), decay_rate=gamma, staircase=True
    )


def multistep_lr(lr: float, steps_per_epoch: int, *, milestones: tuple[int, ...], gamma: float = 0.1) -> optax.Schedule:
    """PyTorch ``MultiStepLR``: multiply by ``gamma`` at each milestone epoch (POLARA CIFAR: 50, 60)."""
    check_positive("lr", lr)
    spe = _spe(steps_per_epoch)
    return optax.piecewise_constant_schedule(lr, {int(m) * spe: gamma for m in milestones})


def cosine_lr(lr: float, steps_per_epoch: int, *, epochs: int) -> optax.Schedule:
    """PyTorch ``CosineAnnealingLR(T_max=epochs)`` stepped per epoch (ILIF: 200 epochs)."""
    check_positive("lr", lr)
    spe = _spe(steps_per_epoch)
    per_epoch = optax.cosine_decay_schedule(lr, decay_steps=epochs)
    return lambda step: per_epoch(step // spe)
