"""The shared hardware abstraction: one robot contract and one safety layer for sim, robot and replay.

Light on purpose (numpy and PyYAML only), so it imports on a robot computer.
"""

from hardware.command import Command
from hardware.errors import CommandError, HardwareError, MeshNotFoundError, RobotConfigError, UrdfError
from hardware.robot import Robot
from hardware.spec import (
    TWIST_COMPONENTS,
    BaseSpec,
    CameraSpec,
    JointSpec,
    LaserSpec,
    RobotSpec,
    RosTopics,
    SafetyConfig,
    SensorSpec,
    SimConfig,
)
from hardware.state import LaserScan, Odometry, RobotState

__all__ = [
    "TWIST_COMPONENTS",
    "BaseSpec",
    "CameraSpec",
    "Command",
    "CommandError",
    "HardwareError",
    "JointSpec",
    "LaserScan",
    "LaserSpec",
    "MeshNotFoundError",
    "Odometry",
    "Robot",
    "RobotConfigError",
    "RobotSpec",
    "RobotState",
    "RosTopics",
    "SafetyConfig",
    "SensorSpec",
    "SimConfig",
    "UrdfError",
]
