"""Shared fixtures: a small generated data set in the Omniglot layout (nothing is downloaded)."""

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from metarl.supervised.tasks import write_synthetic_omniglot


@dataclass(frozen=True)
class SyntheticOmniglot:
    root: Path
    alphabets: int
    characters_per_alphabet: int
    drawers: int

    @property
    def characters(self) -> int:
        return self.alphabets * self.characters_per_alphabet


@pytest.fixture(scope="session")
def omniglot(tmp_path_factory) -> SyntheticOmniglot:
    """3 alphabets x 4 characters x 6 drawers of 32x32 black-on-white PNGs."""
    data = SyntheticOmniglot(tmp_path_factory.mktemp("omniglot"), 3, 4, 6)
    write_synthetic_omniglot(
        data.root,
        data.alphabets,
        data.characters_per_alphabet,
        data.drawers,
        torch.Generator().manual_seed(0),
        image_size=32,
    )
    return data
