import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Every test starts from the same global state; tests pass their own generators."""
    torch.manual_seed(0)
    yield
