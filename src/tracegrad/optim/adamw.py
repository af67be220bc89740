"""``AdamW``: Adam with decoupled weight decay (the parameter decays, the gradient does not)."""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Tensor
from .adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam whose weight decay multiplies the parameter by
    ``1 - lr * weight_decay`` before the update instead of adding an L2 term to the gradient.
    The default ``weight_decay`` is ``1e-2``. Options and state are Adam's."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # an AdamW always decouples, whatever was loaded
            group["decoupled_weight_decay"] = True
