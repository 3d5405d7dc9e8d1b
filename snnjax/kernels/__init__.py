"""Fused multi-step neurons: whole-sequence custom_vjp (CPU and everywhere)."""

from snnjax.kernels.fused import fused_run

__all__ = ["fused_run"]
