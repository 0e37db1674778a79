"""Shared fixtures: every test starts from fixed seeds."""

import numpy as np
import pytest
import torch
from hypothesis import settings


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


# No per-example deadline: a busy CI machine is slow, not wrong (timing belongs in benchmarks).
settings.register_profile("project", deadline=None)
settings.load_profile("project")
