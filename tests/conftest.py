"""Settings for the whole test suite: ROS 2 isolation, headless rendering, hypothesis.

- ROS 2 traffic stays on this machine: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` for the
  session and for every process a test starts (they inherit the environment).
- Every test gets its own ``ROS_DOMAIN_ID`` (the autouse fixture :func:`ros_domain_id`). Two
  ROS 2 processes on the same domain discover each other, so two tests running at once (the
  suite runs with ``pytest -n 2``), or a test and a leftover node of the previous test, would
  hear each other's topics and fail at random. DDS maps a domain to UDP ports; 0..101 is the
  range that is safe on Linux for any number of participants, and 0 is everyone's default, so
  tests use 1..101: each xdist worker owns a disjoint block, and successive tests of a worker
  step through it. A per-session random offset (shared by the workers through the environment)
  keeps two test sessions on the same machine apart most of the time.
- MuJoCo renders offscreen with EGL unless the caller chose another ``MUJOCO_GL``.
- Hypothesis runs with the ``ci`` profile (no deadline: the first call into a simulator or a
  ROS 2 node can be slow, which is not a failure). ``HYPOTHESIS_PROFILE`` picks another.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Set at import, before any test module imports rclpy or mujoco (both read them when loaded).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")

settings.register_profile("ci", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIRST_DOMAIN_ID = 1
LAST_DOMAIN_ID = 101
_DOMAIN_IDS = LAST_DOMAIN_ID - FIRST_DOMAIN_ID + 1
# The controller process imports this file before it starts the xdist workers, which inherit it.
_OFFSET = int(os.environ.setdefault("SIM2REAL_TEST_DOMAIN_OFFSET", str(random.randrange(_DOMAIN_IDS))))
_test_counter = itertools.count()


def _worker() -> tuple[int, int]:
    """This process's xdist worker index and the number of workers (0 and 1 without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3" -> 3
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return int(worker.removeprefix("gw")), max(count, 1)


def next_domain_id() -> int:
    """A ROS_DOMAIN_ID in 1..101 that no other worker of this session uses, and that differs
    from the previous tests' of this worker until its block of IDs wraps around."""
    index, count = _worker()
    block = max(_DOMAIN_IDS // count, 1)
    slot = index * block + next(_test_counter) % block
    return FIRST_DOMAIN_ID + (_OFFSET + slot) % _DOMAIN_IDS


@pytest.fixture(autouse=True)
def ros_domain_id(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The test's own ROS_DOMAIN_ID, set in the environment for the test and its subprocesses."""
    domain_id = next_domain_id()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    yield domain_id
