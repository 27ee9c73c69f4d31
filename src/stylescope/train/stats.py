"""Per-tick statistics: report scalars from anywhere in a minibatch, read their means per tick."""

from __future__ import annotations

import torch


class StatsCollector:
    """Running sums of named scalars; `means()` gives one value per name since `reset()`."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, value: torch.Tensor | float) -> None:
        value = float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else value
        self._sums[name] = self._sums.get(name, 0.0) + value
        self._counts[name] = self._counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        return {name: self._sums[name] / self._counts[name] for name in sorted(self._sums)}

    def reset(self) -> None:
        self._sums.clear()
        self._counts.clear()
