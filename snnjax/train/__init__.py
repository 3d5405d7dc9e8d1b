"""Training utilities: losses over time-major outputs (more to come: loop, metrics, checkpoints)."""

from snnjax.train.losses import accuracy, max_over_time_ce, max_over_time_logits, mean_over_time_ce, tet_loss

__all__ = ["accuracy", "max_over_time_ce", "max_over_time_logits", "mean_over_time_ce", "tet_loss"]
