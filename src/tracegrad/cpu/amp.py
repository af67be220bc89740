"""``torch.cpu.amp``: PyTorch's deprecated spellings of ``torch.amp`` with ``device='cpu'``."""

from __future__ import annotations

from .. import amp as _amp

__all__ = ["GradScaler", "autocast"]


def _deprecated(name: str) -> None:
    _amp.warn_deprecated_spelling("cpu", name)


class autocast(_amp.autocast):  # noqa: N801 - PyTorch's name
    """``torch.amp.autocast('cpu', ...)``."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
        _deprecated("autocast")
        super().__init__(
            "cpu",
            dtype=_amp._dtype.bfloat16 if dtype is None else dtype,
            enabled=enabled,
            cache_enabled=cache_enabled,
        )


class GradScaler(_amp.GradScaler):
    """``torch.amp.GradScaler('cpu', ...)``."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        _deprecated("GradScaler")
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval, enabled)
