"""``tracegrad.autograd.grad_mode``, PyTorch's path for the grad-mode switches.

They live in ``tracegrad._grad_mode``, beside the Tensor, because recording a node and guarding an
in-place write both read the mode, below every layer that records.
"""

from .._grad_mode import *  # noqa: F403
from .._grad_mode import __all__  # noqa: F401
