"""``tracegrad.autograd.grad_mode``, PyTorch's path for the grad-mode switches.

They live in ``tracegrad._grad_mode``, beside the Tensor, because recording a node and guarding an
in-place write both read the mode, below every layer that records.
"""

from .._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
]
