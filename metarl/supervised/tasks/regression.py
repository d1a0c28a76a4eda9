"""What the few-shot regression families share: K support and Q query points per task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FewShotRegressionConfig:
    """Support and query sizes of a regression family (a base for its settings dataclass)."""

    family: ClassVar[str]
    """The family's name under ``task.`` (for messages)."""

    support: int = 10
    """Support points per task, K (the inner loop adapts on these)."""
    query: int = 10
    """Query points per task (the meta-objective and evaluation score these)."""

    def __post_init__(self) -> None:
        for key in ("support", "query"):
            if getattr(self, key) < 1:
                raise ValueError(f"task.{self.family}.{key} must be >= 1, got {getattr(self, key)}")

    def support_size(self, num_tasks: int, support: int | None) -> int:
        """The support size of a draw of ``num_tasks`` tasks (``support`` overrides K)."""
        support = self.support if support is None else support
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        if support < 1:
            raise ValueError(f"support must be >= 1, got {support}")
        return support
