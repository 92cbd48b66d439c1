"""Fixtures for the simulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pybullet
import pytest


@pytest.fixture
def pybullet_client() -> Iterator[int]:
    """A headless PyBullet client, disconnected after the test."""
    client = pybullet.connect(pybullet.DIRECT)
    try:
        yield client
    finally:
        pybullet.disconnect(client)
