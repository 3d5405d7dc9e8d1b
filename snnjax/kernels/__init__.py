"""Fused multi-step neurons: whole-sequence custom_vjp (CPU and everywhere) and Pallas kernels."""

from snnjax.kernels.fused import fused_run
from snnjax.kernels.pallas import pallas_run

__all__ = ["fused_run", "pallas_run"]
