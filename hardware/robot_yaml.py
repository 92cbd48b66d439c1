"""Reading a robot YAML (format: ``robots/README.md``) and checking it against its URDF.

Every problem raises :class:`RobotConfigError` with one line naming the file and what to change.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import yaml

from hardware.errors import RobotConfigError, UrdfError
from hardware.spec import (
    BaseSpec,
    CameraSpec,
    CommandInterface,
    JointSpec,
    LaserSpec,
    RobotKind,
    RobotSpec,
    RosTopics,
    SafetyConfig,
    SensorSpec,
    SimConfig,
)
from hardware.urdf import UrdfModel, load_urdf

_TOP_KEYS = {
    "name", "urdf", "kind", "command_interface", "control_rate_hz", "joints", "end_effector_link",
    "limits", "base", "sensors", "safety", "ros", "sim", "calibration", "home",
}  # fmt: skip
_INTERFACES: dict[str, tuple[str, ...]] = {
    "arm": ("position", "velocity", "effort"),
    "base": ("twist",),
}
_SIM_DEFAULTS = {"kp": 1000.0, "kv": 50.0, "damping": 0.5, "armature": 0.05, "friction_loss": 0.0}


def load_robot_spec(path: Path | str) -> RobotSpec:
    """Build a :class:`RobotSpec` from a robot YAML and the URDF it names."""
    path = Path(path)
    doc = _Doc(path, _read_yaml(path))
    doc.check_keys(doc.data, _TOP_KEYS, "the top level")

    urdf_path = (path.parent / doc.string(doc.data, "urdf")).resolve()
    try:
        urdf = load_urdf(urdf_path)
    except UrdfError as err:
        if not urdf_path.exists():
            doc.fail(f"urdf: {urdf_path.name} does not exist next to the YAML; fix the path")
        raise err
    kind = cast(RobotKind, doc.choice(doc.data, "kind", tuple(_INTERFACES)))
    interface = cast(CommandInterface, doc.choice(doc.data, "command_interface", _INTERFACES[kind]))
    rate = doc.positive(doc.data, "control_rate_hz")

    base = _base(doc, urdf) if kind == "base" else None
    if kind == "base":
        assert base is not None
        default_names: list[str] = [base.left_wheel_joint, base.right_wheel_joint]
        names = doc.string_list(doc.data, "joints", default=default_names)
    else:
        if "base" in doc.data:
            doc.fail("'base' is only for kind: base; remove it or set kind: base")
        names = doc.string_list(doc.data, "joints")
    joints = _joints(doc, urdf, names, interface=interface, needs_acceleration=kind == "arm")

    end_effector = doc.data.get("end_effector_link")
    if kind == "arm":
        end_effector = doc.string(doc.data, "end_effector_link")
        if end_effector not in urdf.links:
            doc.fail(f"end_effector_link '{end_effector}' is not a link of {urdf_path.name}")

    calibration = doc.data.get("calibration")
    return RobotSpec(
        name=doc.string(doc.data, "name"),
        kind=kind,
        command_interface=interface,
        control_rate_hz=rate,
        joints=joints,
        end_effector_link=end_effector,
        base=base,
        sensors=_sensors(doc, urdf, kind),
        safety=_safety(doc),
        ros=_ros(doc),
        sim=_sim(doc, names),
        urdf_path=urdf_path,
        yaml_path=path.resolve(),
        calibration_path=(path.parent / str(calibration)).resolve() if calibration else None,
        home=_home(doc, joints),
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RobotConfigError(path, f"cannot read the robot YAML ({err.strerror})") from err
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise RobotConfigError(path, f"not valid YAML{line}; fix the syntax") from err
    if not isinstance(data, dict):
        raise RobotConfigError(path, "expected a mapping of keys (name, urdf, kind, ...) at the top")
    return data


def _joints(
    doc: _Doc,
    urdf: UrdfModel,
    names: Sequence[str],
    *,
    interface: CommandInterface,
    needs_acceleration: bool,
) -> tuple[JointSpec, ...]:
    if len(set(names)) != len(names):
        doc.fail(f"joints lists a joint twice: {list(names)}")
    for name in names:
        if name not in urdf.joint_names:
            doc.fail(
                f"joint '{name}' is not in {urdf.path.name} "
                f"(movable joints there: {', '.join(urdf.movable_joint_names)})"
            )
        joint = urdf.joint(name)
        if not joint.movable or joint.mimic is not None:
            doc.fail(f"joint '{name}' is {joint.type}{' (mimic)' * bool(joint.mimic)}; list only "
                     "joints a controller moves")  # fmt: skip

    limits = doc.mapping(doc.data, "limits")
    doc.check_keys(limits, {"acceleration", "velocity", "position", "effort_rate"}, "limits")
    acceleration = doc.per_joint(limits, "acceleration", names, default=None if needs_acceleration else math.inf)
    velocity = doc.per_joint(limits, "velocity", names, default=math.inf)
    effort_rate = doc.per_joint(limits, "effort_rate", names, default=math.inf)
    position = doc.mapping(limits, "position")
    doc.check_keys(position, set(names), "limits.position")

    joints = []
    for name in names:
        joint = urdf.joint(name)
        lower, upper = (-math.inf, math.inf) if joint.type == "continuous" else (joint.lower, joint.upper)
        assert lower is not None and upper is not None  # the URDF parser guarantees them
        if name in position:
            bounds = position[name]
            if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
                doc.fail(f"limits.position.{name} must be [lower, upper] in rad, got {bounds!r}")
            tight_lower, tight_upper = float(bounds[0]), float(bounds[1])
            if tight_lower > tight_upper:
                doc.fail(f"limits.position.{name} has lower {tight_lower} above upper {tight_upper}; swap them")
            if tight_lower < lower or tight_upper > upper:
                doc.fail(f"limits.position.{name} {bounds} is wider than the URDF's "
                         f"[{lower}, {upper}]; a YAML may only tighten limits")  # fmt: skip
            lower, upper = tight_lower, tight_upper
        urdf_velocity = joint.velocity if joint.velocity else math.inf
        max_velocity = min(velocity[name], urdf_velocity)
        if math.isfinite(velocity[name]) and velocity[name] > urdf_velocity:
            doc.fail(f"limits.velocity for '{name}' ({velocity[name]}) is above the URDF's "
                     f"({urdf_velocity}); a YAML may only tighten limits")  # fmt: skip
        if not math.isfinite(max_velocity):
            doc.fail(f"joint '{name}' has no velocity limit (the URDF's is missing or 0); add "
                     "<limit velocity=...> to the URDF or limits.velocity to the YAML")  # fmt: skip
        max_effort = joint.effort if joint.effort else math.inf
        if interface == "effort" and not math.isfinite(max_effort):
            doc.fail(f"joint '{name}' has no effort limit in the URDF; effort control needs one")
        joints.append(
            JointSpec(
                name=name,
                type=joint.type,  # type: ignore[arg-type]  # movable checked above
                lower=lower,
                upper=upper,
                max_velocity=max_velocity,
                max_effort=max_effort,
                max_acceleration=acceleration[name],
                max_effort_rate=effort_rate[name],
            )
        )
    return tuple(joints)


def _base(doc: _Doc, urdf: UrdfModel) -> BaseSpec:
    section = doc.mapping(doc.data, "base", required=True)
    fields = {
        "left_wheel_joint", "right_wheel_joint", "wheel_radius_m", "wheel_separation_m",
        "max_linear_mps", "max_angular_radps", "max_linear_accel_mps2", "max_angular_accel_radps2",
    }  # fmt: skip
    doc.check_keys(section, fields, "base")
    for side in ("left_wheel_joint", "right_wheel_joint"):
        name = doc.string(section, side, where="base")
        if name not in urdf.joint_names:
            doc.fail(f"base.{side} '{name}' is not a joint of {urdf.path.name}")
        if urdf.joint(name).type != "continuous":
            doc.fail(f"base.{side} '{name}' is {urdf.joint(name).type}; wheels must be continuous")
    numbers = {key: doc.positive(section, key, where="base") for key in fields if "joint" not in key}
    return BaseSpec(
        left_wheel_joint=doc.string(section, "left_wheel_joint", where="base"),
        right_wheel_joint=doc.string(section, "right_wheel_joint", where="base"),
        **numbers,
    )


def _sensors(doc: _Doc, urdf: UrdfModel, kind: RobotKind) -> SensorSpec:
    section = doc.mapping(doc.data, "sensors")
    doc.check_keys(section, {"laser", "cameras"}, "sensors")
    laser = None
    if "laser" in section:
        raw = doc.mapping(section, "laser", required=True)
        doc.check_keys(raw, {"link", "num_beams", "angle_min_rad", "angle_max_rad", "range_min_m",
                             "range_max_m", "rate_hz"}, "sensors.laser")  # fmt: skip
        laser = LaserSpec(
            link=doc.link(raw, "link", urdf, where="sensors.laser"),
            num_beams=int(doc.positive(raw, "num_beams", where="sensors.laser")),
            angle_min_rad=doc.number(raw, "angle_min_rad", where="sensors.laser"),
            angle_max_rad=doc.number(raw, "angle_max_rad", where="sensors.laser"),
            range_min_m=doc.number(raw, "range_min_m", where="sensors.laser"),
            range_max_m=doc.positive(raw, "range_max_m", where="sensors.laser"),
            rate_hz=doc.positive(raw, "rate_hz", where="sensors.laser"),
        )
        if not 0 <= laser.range_min_m < laser.range_max_m:
            doc.fail("sensors.laser needs 0 <= range_min_m < range_max_m")
        if laser.angle_min_rad >= laser.angle_max_rad:
            doc.fail("sensors.laser needs angle_min_rad < angle_max_rad")
    cameras = []
    for index, raw in enumerate(section.get("cameras") or []):
        where = f"sensors.cameras[{index}]"
        if not isinstance(raw, dict):
            doc.fail(f"{where} must be a mapping (name, link, width, height, fovy_deg, rate_hz)")
        doc.check_keys(raw, {"name", "link", "width", "height", "fovy_deg", "rate_hz"}, where)
        cameras.append(
            CameraSpec(
                name=doc.string(raw, "name", where=where),
                link=doc.link(raw, "link", urdf, where=where),
                width=int(doc.positive(raw, "width", where=where)),
                height=int(doc.positive(raw, "height", where=where)),
                fovy_deg=doc.positive(raw, "fovy_deg", where=where),
                rate_hz=doc.positive(raw, "rate_hz", where=where),
            )
        )
    return SensorSpec(laser=laser, cameras=tuple(cameras), odometry=kind == "base")


def _safety(doc: _Doc) -> SafetyConfig:
    section = doc.mapping(doc.data, "safety")
    doc.check_keys(section, {"watchdog_timeout_s", "low_pass_cutoff_hz"}, "safety")
    timeout = doc.positive(section, "watchdog_timeout_s", where="safety", default=0.1)
    cutoff = section.get("low_pass_cutoff_hz")
    return SafetyConfig(
        watchdog_timeout_s=timeout,
        low_pass_cutoff_hz=None if cutoff is None else doc.positive(section, "low_pass_cutoff_hz", where="safety"),
    )


def _ros(doc: _Doc) -> RosTopics:
    section = doc.mapping(doc.data, "ros")
    defaults = RosTopics()
    doc.check_keys(section, set(defaults.__dataclass_fields__), "ros")
    values: dict[str, Any] = {}
    for key, default in vars(defaults).items():
        value = section.get(key, default)
        if type(value) is not type(default):
            doc.fail(f"ros.{key} must be a {type(default).__name__}, got {value!r}")
        values[key] = value
    if values["command_type"] not in ("forward", "trajectory"):
        doc.fail(f"ros.command_type is '{values['command_type']}'; use forward or trajectory")
    return RosTopics(**values)


def _sim(doc: _Doc, names: Sequence[str]) -> SimConfig:
    section = doc.mapping(doc.data, "sim")
    doc.check_keys(section, {"timestep_s", "gravity_compensation", *_SIM_DEFAULTS}, "sim")
    per_joint = {
        key: tuple(doc.per_joint(section, key, names, default=default, allow_zero=True, where="sim").values())
        for key, default in _SIM_DEFAULTS.items()
    }
    gravity_compensation = section.get("gravity_compensation", False)
    if not isinstance(gravity_compensation, bool):
        doc.fail(f"sim.gravity_compensation is {gravity_compensation!r}; use true or false")
    return SimConfig(
        timestep_s=doc.positive(section, "timestep_s", where="sim", default=0.002),
        gravity_compensation=gravity_compensation,
        **per_joint,
    )


def _home(doc: _Doc, joints: Sequence[JointSpec]) -> tuple[float, ...]:
    """The optional ``home`` pose: {joint: rad} (missing joints 0), inside the position limits."""
    raw = doc.data.get("home")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        doc.fail(f"home must be a mapping of joint name to position (rad), got {raw!r}")
    names = [joint.name for joint in joints]
    doc.check_keys(raw, set(names), "home (keys are joint names)")
    home = []
    for joint in joints:
        value = doc.number(raw, joint.name, where="home", default=0.0)
        if not joint.lower <= value <= joint.upper:
            doc.fail(f"home.{joint.name} is {value}, outside its limits [{joint.lower}, {joint.upper}]; move it inside")
        home.append(value)
    return tuple(home)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Doc:
    """A parsed YAML file and helpers that read typed values from it or fail naming the key."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, problem: str) -> NoReturn:
        raise RobotConfigError(self.path, problem)

    def check_keys(self, section: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in section:
            if key not in allowed and key != "default":
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {sorted(allowed)}"
                self.fail(f"unknown key '{key}' in {where}{hint}")

    def mapping(self, section: Mapping[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
        value = section.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(f"'{key}' must be a mapping, got {value!r}")
        return cast(dict[str, Any], value)

    def string(self, section: Mapping[str, Any], key: str, *, where: str = "") -> str:
        value = section.get(key)
        if not isinstance(value, str) or not value:
            self.fail(f"{where + '.' if where else ''}{key} must be a non-empty string, got {value!r}")
        return value

    def string_list(self, section: Mapping[str, Any], key: str, *, default: list[str] | None = None) -> list[str]:
        value = section.get(key, default)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(f"'{key}' must be a non-empty list of joint names, got {value!r}")
        return cast(list[str], value)

    def choice(self, section: Mapping[str, Any], key: str, options: Sequence[str]) -> str:
        value = section.get(key)
        if value not in options:
            self.fail(f"{key} is {value!r}; use one of {list(options)}")
        return cast(str, value)

    def number(self, section: Mapping[str, Any], key: str, *, where: str = "", default: float | None = None) -> float:
        value = section.get(key, default)
        label = f"{where + '.' if where else ''}{key}"
        if not _is_number(value) or not math.isfinite(float(value)):
            self.fail(f"{label} must be a finite number, got {value!r}")
        return float(value)

    def positive(self, section: Mapping[str, Any], key: str, *, where: str = "", default: float | None = None) -> float:
        value = self.number(section, key, where=where, default=default)
        if value <= 0:
            label = f"{where + '.' if where else ''}{key}"
            self.fail(f"{label} is {value}; it must be positive (limits and rates are magnitudes)")
        return value

    def link(self, section: Mapping[str, Any], key: str, urdf: UrdfModel, *, where: str) -> str:
        name = self.string(section, key, where=where)
        if name not in urdf.links:
            self.fail(f"{where}.{key} '{name}' is not a link of {urdf.path.name}")
        return name

    def per_joint(
        self,
        section: Mapping[str, Any],
        key: str,
        names: Sequence[str],
        *,
        default: float | None,
        allow_zero: bool = False,
        where: str = "limits",
    ) -> dict[str, float]:
        """A value for each joint from a number, or a {joint: number, default: number} mapping."""
        raw = section.get(key)
        entries: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {"default": raw}
        if not isinstance(raw, dict) and raw is None:
            entries = {}
        self.check_keys(entries, set(names), f"{where}.{key} (keys are joint names)")
        fallback = entries.get("default", default)
        values: dict[str, float] = {}
        for name in names:
            value = entries.get(name, fallback)
            if value is None:
                self.fail(f"{where}.{key} gives no value for joint '{name}'; add it or a 'default'")
            if not _is_number(value) or math.isnan(float(value)):
                self.fail(f"{where}.{key} for joint '{name}' must be a number, got {value!r}")
            if float(value) < 0 or (float(value) == 0 and not allow_zero):
                self.fail(f"{where}.{key} for joint '{name}' is {value}; limits are magnitudes, "
                          "make it positive")  # fmt: skip
            values[name] = float(value)
        return values
