"""The robot contract: which joints, in which order, which units, limits, interface and rates.

A :class:`RobotSpec` is built once from a URDF plus a robot YAML (``RobotSpec.from_yaml``) and is
the single answer every consumer (simulators, the ROS driver, replay, policies) asks. Units are
SI and in the names: positions in rad (m for prismatic joints), velocities in rad/s, efforts in
N·m, rates in Hz, times in s.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

RobotKind = Literal["arm", "base"]
ArmInterface = Literal["position", "velocity", "effort"]
CommandInterface = Literal["position", "velocity", "effort", "twist"]
ArmCommandType = Literal["forward", "trajectory"]

#: The components of a twist command, in order: forward, sideways (0 for a differential drive),
#: and yaw rate. Base commands are vectors of these three numbers.
TWIST_COMPONENTS: tuple[str, str, str] = ("linear_x_mps", "linear_y_mps", "angular_z_radps")


@dataclass(frozen=True)
class JointSpec:
    """One commanded joint.

    :param lower: lowest position, rad (m); ``-inf`` for a continuous joint.
    :param upper: highest position, rad (m); ``+inf`` for a continuous joint.
    :param max_velocity: speed limit, rad/s (m/s), > 0.
    :param max_effort: torque (force) limit, N·m (N), > 0.
    :param max_acceleration: rad/s² (m/s²), > 0; ``inf`` where the robot sets none (wheels).
    :param max_effort_rate: how fast an effort command may change, N·m/s; ``inf`` for no limit.
    """

    name: str
    type: Literal["revolute", "continuous", "prismatic"]
    lower: float
    upper: float
    max_velocity: float
    max_effort: float
    max_acceleration: float
    max_effort_rate: float = math.inf


@dataclass(frozen=True)
class BaseSpec:
    """A differential-drive base: two wheel joints and the limits of the body twist."""

    left_wheel_joint: str
    right_wheel_joint: str
    wheel_radius_m: float
    wheel_separation_m: float
    max_linear_mps: float
    max_angular_radps: float
    max_linear_accel_mps2: float
    max_angular_accel_radps2: float


@dataclass(frozen=True)
class LaserSpec:
    """A planar laser scanner, as ``sensor_msgs/LaserScan`` describes one."""

    link: str
    num_beams: int
    angle_min_rad: float
    angle_max_rad: float
    range_min_m: float
    range_max_m: float
    rate_hz: float

    @property
    def angles_rad(self) -> NDArray[np.float64]:
        """The beam angles in the laser frame, first to last."""
        return np.linspace(self.angle_min_rad, self.angle_max_rad, self.num_beams)


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera mounted on ``link`` (looking along the link's +x axis, ROS convention)."""

    name: str
    link: str
    width: int
    height: int
    fovy_deg: float
    rate_hz: float


@dataclass(frozen=True)
class SensorSpec:
    """Sensors besides joint states (which every robot has)."""

    laser: LaserSpec | None = None
    cameras: tuple[CameraSpec, ...] = ()
    odometry: bool = False


@dataclass(frozen=True)
class SafetyConfig:
    """Settings of the safety layer (see ``hardware.safety``).

    :param watchdog_timeout_s: state older than this makes the layer hold (position) or stop
        (velocity, effort, twist).
    :param low_pass_cutoff_hz: cut-off of a first-order low-pass filter on commands; ``None`` = off.
    """

    watchdog_timeout_s: float = 0.1
    low_pass_cutoff_hz: float | None = None


@dataclass(frozen=True)
class RosTopics:
    """ROS 2 names, following ros2_control (arms) and Nav2 (bases) conventions."""

    joint_states: str = "/joint_states"
    controller: str = "forward_position_controller"
    command_type: ArmCommandType = "forward"
    cmd_vel: str = "/cmd_vel"
    cmd_vel_stamped: bool = True
    odom: str = "/odom"
    scan: str = "/scan"

    @property
    def arm_command_topic(self) -> str:
        """``/<controller>/commands`` (forward) or ``/<controller>/joint_trajectory``."""
        suffix = "commands" if self.command_type == "forward" else "joint_trajectory"
        return f"/{self.controller.strip('/')}/{suffix}"


@dataclass(frozen=True)
class SimConfig:
    """Simulator extras, one value per commanded joint where it is a tuple.

    :param timestep_s: physics step, s.
    :param kp: position gain, N·m/rad.
    :param kv: velocity gain, N·m·s/rad (damping of the position servo).
    :param damping: passive joint damping, N·m·s/rad.
    :param armature: reflected rotor inertia, kg·m².
    :param friction_loss: dry friction, N·m.
    :param gravity_compensation: the simulated joint controller cancels gravity on the robot's
        links (as the controllers of UR, Franka and most arms do); the cancelling torque counts
        against each joint's effort limit.
    """

    timestep_s: float
    kp: tuple[float, ...]
    kv: tuple[float, ...]
    damping: tuple[float, ...]
    armature: tuple[float, ...]
    friction_loss: tuple[float, ...]
    gravity_compensation: bool = False


@dataclass(frozen=True)
class RobotSpec:
    """Everything that is true of a robot whichever simulator or driver runs it.

    Build one with :meth:`from_yaml`. Arrays from the properties follow :attr:`joint_names`.
    """

    name: str
    kind: RobotKind
    command_interface: CommandInterface
    control_rate_hz: float
    joints: tuple[JointSpec, ...]
    end_effector_link: str | None
    base: BaseSpec | None
    sensors: SensorSpec
    safety: SafetyConfig
    ros: RosTopics
    sim: SimConfig
    urdf_path: Path
    yaml_path: Path
    calibration_path: Path | None = None
    home: tuple[float, ...] = ()

    @classmethod
    def from_yaml(cls, path: Path | str) -> RobotSpec:
        """Read a robot YAML and the URDF it names, and check them against each other.

        :raises RobotConfigError: the message names the file and the problem.
        """
        from hardware.robot_yaml import load_robot_spec  # the loader imports this module

        return load_robot_spec(path)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(joint.name for joint in self.joints)

    @property
    def dof(self) -> int:
        """Number of commanded joints."""
        return len(self.joints)

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def command_size(self) -> int:
        """Length of a command vector: one per joint, or 3 for a twist (see TWIST_COMPONENTS)."""
        return len(TWIST_COMPONENTS) if self.command_interface == "twist" else self.dof

    @functools.cached_property
    def home_position(self) -> NDArray[np.float64]:
        """Where the robot starts and rests, rad (m): the YAML's ``home``, else zero within limits."""
        if self.home:
            values = np.array(self.home, dtype=np.float64)
        else:
            values = np.clip(np.zeros(self.dof), self.position_lower, self.position_upper)
        values.setflags(write=False)
        return values

    @functools.cached_property
    def position_lower(self) -> NDArray[np.float64]:
        return self._array("lower")

    @functools.cached_property
    def position_upper(self) -> NDArray[np.float64]:
        return self._array("upper")

    @functools.cached_property
    def max_velocity(self) -> NDArray[np.float64]:
        return self._array("max_velocity")

    @functools.cached_property
    def max_effort(self) -> NDArray[np.float64]:
        return self._array("max_effort")

    @functools.cached_property
    def max_acceleration(self) -> NDArray[np.float64]:
        return self._array("max_acceleration")

    @functools.cached_property
    def max_effort_rate(self) -> NDArray[np.float64]:
        return self._array("max_effort_rate")

    @functools.cached_property
    def twist_limit(self) -> NDArray[np.float64]:
        """Largest magnitude of each twist component (``TWIST_COMPONENTS`` order)."""
        base = self._require_base()
        return np.array([base.max_linear_mps, 0.0, base.max_angular_radps])

    @functools.cached_property
    def twist_acceleration_limit(self) -> NDArray[np.float64]:
        """Largest change per second of each twist component."""
        base = self._require_base()
        return np.array([base.max_linear_accel_mps2, 0.0, base.max_angular_accel_radps2])

    def _array(self, field: str) -> NDArray[np.float64]:
        values = np.array([getattr(joint, field) for joint in self.joints], dtype=np.float64)
        values.setflags(write=False)  # shared by every caller: nobody may edit the contract
        return values

    def _require_base(self) -> BaseSpec:
        if self.base is None:
            raise AttributeError(f"robot '{self.name}' is an {self.kind}, it has no base twist")
        return self.base
