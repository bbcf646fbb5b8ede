"""Fixtures of the unit tier (the package alone, no Streamlit)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small(mnist_train):
    """The first 1,200 training digits: enough for training runs of a few seconds."""
    return mnist_train.subset(range(1200))
