"""Training: losses over time-major outputs, schedules, metrics, checkpoints and the loop."""

from snnjax.train import distributed
from snnjax.train.checkpoint import (
    CheckpointCorruptError,
    Checkpointer,
    CheckpointError,
    CheckpointMismatchError,
)
from snnjax.train.loop import (
    NonFiniteLossError,
    batch_key,
    data_parallel_mesh,
    evaluate,
    fit,
    layer_rates,
    make_steps,
    recorded_forward,
)
from snnjax.train.losses import (
    accuracy,
    max_over_time_ce,
    max_over_time_logits,
    mean_over_time_ce,
    tet_loss,
)
from snnjax.train.metrics import MetricsWriter, firing_rate
from snnjax.train.schedules import cosine_lr, multistep_lr, step_lr

__all__ = [
    "distributed",
    "accuracy",
    "max_over_time_ce",
    "max_over_time_logits",
    "mean_over_time_ce",
    "tet_loss",
    "fit",
    "make_steps",
    "layer_rates",
    "recorded_forward",
    "batch_key",
    "data_parallel_mesh",
    "evaluate",
    "NonFiniteLossError",
    "Checkpointer",
    "CheckpointError",
    "CheckpointCorruptError",
    "CheckpointMismatchError",
    "MetricsWriter",
    "firing_rate",
    "step_lr",
    "multistep_lr",
    "cosine_lr",
]
