"""Robot specs built in code for the safety tests: joints with deliberately different limits
(a revolute, a continuous joint with infinite position limits, a prismatic), so that no test
passes only because every joint looks alike."""

from __future__ import annotations

import math
from pathlib import Path

from hardware.spec import (
    BaseSpec,
    CommandInterface,
    JointSpec,
    RobotSpec,
    RosTopics,
    SafetyConfig,
    SensorSpec,
    SimConfig,
)

JOINTS = (
    JointSpec("shoulder", "revolute", -1.5, 2.0, max_velocity=2.0, max_effort=50.0, max_acceleration=8.0,
              max_effort_rate=400.0),
    JointSpec("wrist", "continuous", -math.inf, math.inf, max_velocity=3.0, max_effort=10.0,
              max_acceleration=20.0, max_effort_rate=100.0),
    JointSpec("slide", "prismatic", 0.0, 0.3, max_velocity=0.25, max_effort=200.0, max_acceleration=1.0,
              max_effort_rate=1000.0),
)  # fmt: skip


def make_spec(
    interface: CommandInterface,
    *,
    rate_hz: float = 100.0,
    watchdog_timeout_s: float = 0.1,
    low_pass_cutoff_hz: float | None = None,
) -> RobotSpec:
    """A 3-joint arm, or for ``twist`` a differential-drive base."""
    is_base = interface == "twist"
    joints = (
        (
            JointSpec("wheel_left", "continuous", -math.inf, math.inf, 6.67, 1.5, math.inf),
            JointSpec("wheel_right", "continuous", -math.inf, math.inf, 6.67, 1.5, math.inf),
        )
        if is_base
        else JOINTS
    )
    n = len(joints)
    return RobotSpec(
        name="testbot",
        kind="base" if is_base else "arm",
        command_interface=interface,
        control_rate_hz=rate_hz,
        joints=joints,
        end_effector_link=None if is_base else "tool",
        base=BaseSpec("wheel_left", "wheel_right", 0.033, 0.16, 0.22, 2.84, 1.0, 4.0) if is_base else None,
        sensors=SensorSpec(odometry=is_base),
        safety=SafetyConfig(watchdog_timeout_s=watchdog_timeout_s, low_pass_cutoff_hz=low_pass_cutoff_hz),
        ros=RosTopics(),
        sim=SimConfig(0.002, (1.0,) * n, (1.0,) * n, (0.0,) * n, (0.0,) * n, (0.0,) * n),
        urdf_path=Path("testbot.urdf"),
        yaml_path=Path("testbot.yaml"),
    )
