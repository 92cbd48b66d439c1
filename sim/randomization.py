"""Domain randomization as configuration: ranges that become one :class:`DynamicsParams` per episode.

A randomization config is a YAML file (or a dict) of the :class:`sim.dynamics.DynamicsParams`
fields, each a fixed number or a range to draw from::

    friction_scale: {uniform: [0.7, 1.3]}               # multiplies every geom's sliding friction
    damping: {scale: {log_uniform: [0.5, 2.0]}}         # per joint, independently, times spec.sim.damping
    armature: {scale: {uniform: [0.8, 1.2]}}            # times spec.sim.armature, kg·m²
    friction_loss: {uniform: [0.0, 0.2]}                # absolute N·m, every joint independently
    kp: {scale: {uniform: [0.9, 1.1]}}                  # times spec.sim.kp
    kv: {scale: {uniform: [0.9, 1.1]}}                  # times spec.sim.kv
    mass_scale: {links: [shoulder_link, upper_arm_link], uniform: [0.9, 1.1]}
    action_delay_steps: {integers: [0, 2]}              # control steps, both ends included
    position_noise_std: 0.001                           # a plain number is fixed, not sampled
    velocity_noise_std: 0.01
    odometry_noise_std: 0.0
    scan_noise_std: 0.01
    initial_position_noise: 0.05
    calibration: ur5e_calibration.yaml                  # optional, relative to this file
    calibration_sigmas: 2.0

- A range is ``{uniform: [low, high]}`` or ``{log_uniform: [low, high]}`` (uniform in log
  space, so a scale of 0.5 is as likely as 2; needs ``low > 0``).
- The per-joint keys (``damping``, ``armature``, ``friction_loss``, ``kp``, ``kv``) take a
  number or a range in absolute units (every joint draws on its own), or ``{scale: number or
  range}``: a multiplier of the robot YAML's ``sim`` value, drawn per joint.
- ``mass_scale`` multiplies each listed body's mass and inertia, each drawn on its own:
  ``links`` default to every link of the robot's URDF; ``objects`` may name world objects
  (e.g. ``[block]``); it also takes a plain number.
- A key left out stays nominal: the robot YAML's value, no noise, no delay.
- ``calibration`` names a calibration file (below). Every parameter it fitted becomes
  ``{uniform: [value - k std, value + k std]}`` (clipped at 0, ``k = calibration_sigmas``,
  default 2), replacing that key's range; keys it did not fit keep their range.

A calibration file (written by ``sim2real calibrate``; read with :func:`load_calibration`)::

    robot: ur5e                # must be the robot's name
    method: sysid              # free text: how it was fitted
    parameters:                # per joint by joint name (joints left out stay nominal)
      damping: {shoulder_pan_joint: {value: 1.2, std: 0.1}, elbow_joint: {value: 0.9, std: 0.2}}
      armature: {...}          # likewise friction_loss, kp, kv
      friction_scale: {value: 0.9, std: 0.05}   # scalars: friction_scale, action_delay_steps,
      action_delay_steps: {value: 1}            #   and the *_noise_std keys; std defaults to 0
    info: {...}                # optional, free: episodes used, residuals, date

Mistakes (an unknown key, a misspelt link, ``low > high``) raise
:class:`RandomizationConfigError`: one line naming the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hardware.spec import RobotSpec
from hardware.urdf import load_urdf
from sim.dynamics import DynamicsParams

JOINT_KEYS = ("damping", "armature", "friction_loss", "kp", "kv")
NOISE_KEYS = (
    "position_noise_std",
    "velocity_noise_std",
    "odometry_noise_std",
    "scan_noise_std",
    "initial_position_noise",
)
CONFIG_KEYS = (
    "friction_scale",
    *JOINT_KEYS,
    "mass_scale",
    "action_delay_steps",
    *NOISE_KEYS,
    "calibration",
    "calibration_sigmas",
)
CALIBRATED_SCALARS = ("friction_scale", "action_delay_steps", *NOISE_KEYS)
_DISTRIBUTIONS = ("uniform", "log_uniform")
_RANGE_HELP = "write a number, {uniform: [low, high]} or {log_uniform: [low, high]}"


class RandomizationConfigError(ValueError):
    """A randomization config is malformed; the message names the source, the key and the fix."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"{source}: {problem}")


class CalibrationError(RandomizationConfigError):
    """A calibration file is missing, malformed, or for another robot."""


@dataclass(frozen=True)
class Range:
    """Values between ``low`` and ``high``: uniform, or uniform in log space (``log``, ``low > 0``)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"range [{self.low}, {self.high}] must be finite")
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}; swap them")
        if self.log and self.low <= 0:
            raise ValueError(f"a log_uniform range needs low > 0, got [{self.low}, {self.high}]; use uniform")

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def scaled(self, factor: float) -> Range:
        """The range times ``factor >= 0`` (a nominal value); a zero nominal stays 0."""
        return Range(self.low * factor, self.high * factor, self.log and factor > 0)


@dataclass(frozen=True)
class IntegerRange:
    """Whole numbers ``low`` to ``high``, both included, equally likely."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}; swap them")

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))


@dataclass(frozen=True)
class Estimate:
    """A fitted value and its standard deviation (0: exact, or not known)."""

    value: float
    std: float = 0.0

    def range(self, sigmas: float) -> Range:
        return Range(max(0.0, self.value - sigmas * self.std), self.value + sigmas * self.std)


@dataclass(frozen=True)
class Calibration:
    """Fitted dynamics of one robot, from a calibration file (see the module docstring).

    :param joint_parameters: per-joint key -> one estimate per spec joint (``None``: not fitted).
    :param scalar_parameters: scalar key (:data:`CALIBRATED_SCALARS`) -> estimate.
    """

    robot: str
    method: str
    path: Path
    joint_parameters: Mapping[str, tuple[Estimate | None, ...]]
    scalar_parameters: Mapping[str, Estimate]
    spec: RobotSpec = field(repr=False)

    def nominal_dynamics(self) -> DynamicsParams:
        """The fitted values as the simulator's nominal dynamics (unfitted ones from the robot YAML)."""
        changes: dict[str, Any] = {}
        for key, estimates in self.joint_parameters.items():
            nominal = getattr(self.spec.sim, key)
            changes[key] = tuple(n if e is None else e.value for e, n in zip(estimates, nominal, strict=True))
        for key, estimate in self.scalar_parameters.items():
            changes[key] = round(estimate.value) if key == "action_delay_steps" else estimate.value
        return DynamicsParams(**changes)


def load_calibration(path: Path | str, spec: RobotSpec) -> Calibration:
    """Read a calibration file and check it against ``spec`` (robot name, joint and parameter names).

    :raises CalibrationError: the message names the file, the entry and the fix.
    """
    path = Path(path)
    source = str(path)
    doc = _read_yaml(path, CalibrationError, "calibration file")
    _check_keys(doc, ("robot", "method", "parameters", "info"), "", source, CalibrationError)
    if doc.get("robot") != spec.name:
        raise CalibrationError(
            source, f"robot is {doc.get('robot')!r} but this is '{spec.name}'; use a calibration of '{spec.name}'"
        )
    parameters = doc.get("parameters")
    if not isinstance(parameters, Mapping):
        raise CalibrationError(source, "parameters must be a mapping of parameter name to {value, std}; add it")
    _check_keys(parameters, (*JOINT_KEYS, *CALIBRATED_SCALARS), "parameters", source, CalibrationError)
    joints: dict[str, tuple[Estimate | None, ...]] = {}
    scalars: dict[str, Estimate] = {}
    for key, entry in parameters.items():
        where = f"parameters.{key}"
        if key in JOINT_KEYS:
            if not isinstance(entry, Mapping):
                raise CalibrationError(source, f"{where} must map joint names to {{value, std}}, got {entry!r}")
            _check_keys(entry, spec.joint_names, where, source, CalibrationError, what="joint")
            joints[key] = tuple(
                _estimate(entry[name], f"{where}.{name}", source) if name in entry else None
                for name in spec.joint_names
            )
        else:
            scalars[key] = _estimate(entry, where, source, integer=key == "action_delay_steps")
    return Calibration(str(doc["robot"]), str(doc.get("method", "")), path, joints, scalars, spec)


@dataclass(frozen=True)
class DomainRandomization:
    """Ranges of the simulated dynamics; :meth:`sample` draws one :class:`DynamicsParams`.

    Build one with :meth:`from_yaml`, :meth:`from_dict` or :meth:`from_calibration`. ``None``
    (or an empty ``mass_scale``) leaves a field nominal. Per-joint ranges are absolute (scales
    already multiplied by the robot YAML's values), in spec joint order.
    """

    spec: RobotSpec = field(repr=False)
    friction_scale: Range | None = None
    damping: tuple[Range, ...] | None = None
    armature: tuple[Range, ...] | None = None
    friction_loss: tuple[Range, ...] | None = None
    kp: tuple[Range, ...] | None = None
    kv: tuple[Range, ...] | None = None
    mass_scale: Mapping[str, Range] = field(default_factory=dict)
    action_delay_steps: IntegerRange | None = None
    noise: Mapping[str, Range] = field(default_factory=dict)
    calibration: Calibration | None = None
    source: str = "<dict>"

    @classmethod
    def from_yaml(cls, path: Path | str, spec: RobotSpec) -> DomainRandomization:
        """Read a randomization config file; a ``calibration`` path in it is relative to the file."""
        path = Path(path)
        config = _read_yaml(path, RandomizationConfigError, "randomization config")
        return cls.from_dict(config, spec, source=str(path), base_dir=path.parent)

    @classmethod
    def from_calibration(cls, path: Path | str, spec: RobotSpec, sigmas: float = 2.0) -> DomainRandomization:
        """Every fitted parameter drawn within ``sigmas`` standard deviations of its value; nothing else."""
        return cls.from_dict({"calibration": str(path), "calibration_sigmas": sigmas}, spec, source=str(path))

    @classmethod
    def from_dict(
        cls, config: Mapping[str, Any], spec: RobotSpec, *, source: str = "<dict>", base_dir: Path | None = None
    ) -> DomainRandomization:
        """Check and resolve a config (the format of the module docstring) against ``spec``.

        :param source: names the config in error messages (a file path).
        :param base_dir: folder a relative ``calibration`` path is taken from; default the
            current directory.
        :raises RandomizationConfigError: the message names the key and the fix.
        :raises CalibrationError: the calibration file is missing or wrong.
        """
        if not isinstance(config, Mapping):
            raise RandomizationConfigError(source, f"a randomization config is a mapping of keys, got {config!r}")
        _check_keys(config, CONFIG_KEYS, "", source, RandomizationConfigError)
        fields_: dict[str, Any] = {}
        if "friction_scale" in config:
            fields_["friction_scale"] = _range(config["friction_scale"], "friction_scale", source)
        for key in JOINT_KEYS:
            if key in config:
                fields_[key] = _joint_ranges(config[key], key, spec, source)
        if "mass_scale" in config:
            fields_["mass_scale"] = _mass_ranges(config["mass_scale"], spec, source)
        if "action_delay_steps" in config:
            fields_["action_delay_steps"] = _integer_range(config["action_delay_steps"], "action_delay_steps", source)
        fields_["noise"] = {key: _range(config[key], key, source) for key in NOISE_KEYS if key in config}
        if "calibration" in config:
            sigmas = _number(config.get("calibration_sigmas", 2.0), "calibration_sigmas", source)
            calibration_path = Path(str(config["calibration"]))
            if not calibration_path.is_absolute():
                calibration_path = (base_dir or Path.cwd()) / calibration_path
            calibration = load_calibration(calibration_path, spec)
            fields_["calibration"] = calibration
            _apply_calibration(fields_, calibration, sigmas, spec)
        elif "calibration_sigmas" in config:
            raise RandomizationConfigError(
                source, "calibration_sigmas is set without calibration; add a calibration file or remove it"
            )
        return cls(spec=spec, source=source, **fields_)

    @property
    def nominal(self) -> DynamicsParams:
        """No randomization: the calibrated values if there is a calibration, else ``DynamicsParams()``."""
        return self.calibration.nominal_dynamics() if self.calibration is not None else DynamicsParams()

    def sample(self, rng: np.random.Generator) -> DynamicsParams:
        """One draw of every range, in a fixed order (the same generator state gives the same draw)."""
        changes: dict[str, Any] = {}
        if self.friction_scale is not None:
            changes["friction_scale"] = self.friction_scale.sample(rng)
        for key in JOINT_KEYS:
            ranges: tuple[Range, ...] | None = getattr(self, key)
            if ranges is not None:
                changes[key] = tuple(r.sample(rng) for r in ranges)
        changes["mass_scale"] = {name: r.sample(rng) for name, r in self.mass_scale.items()}
        if self.action_delay_steps is not None:
            changes["action_delay_steps"] = self.action_delay_steps.sample(rng)
        changes.update({key: r.sample(rng) for key, r in self.noise.items()})
        return DynamicsParams(**changes)


def as_randomization(config: Any, spec: RobotSpec) -> DomainRandomization | None:
    """A :class:`DomainRandomization` from a config mapping, a YAML path or a built one, for
    ``spec``; ``None`` stays ``None`` (the nominal robot).

    :raises TypeError: ``config`` is none of those.
    """
    if config is None or isinstance(config, DomainRandomization):
        return config
    if isinstance(config, Mapping):
        return DomainRandomization.from_dict(dict(config), spec)
    if isinstance(config, str | Path):
        return DomainRandomization.from_yaml(config, spec)
    raise TypeError(
        f"randomization must be a mapping, a YAML path or a DomainRandomization, got {type(config).__name__}"
    )


def _apply_calibration(fields_: dict[str, Any], calibration: Calibration, sigmas: float, spec: RobotSpec) -> None:
    """Replace the configured ranges of every fitted parameter by value ± sigmas * std."""
    for key, estimates in calibration.joint_parameters.items():
        nominal = getattr(spec.sim, key)
        configured = fields_.get(key) or tuple(Range(n, n) for n in nominal)
        fields_[key] = tuple(c if e is None else e.range(sigmas) for e, c in zip(estimates, configured, strict=True))
    for key, estimate in calibration.scalar_parameters.items():
        fitted = estimate.range(sigmas)
        if key == "action_delay_steps":
            fields_[key] = IntegerRange(max(0, round(fitted.low)), round(fitted.high))
        elif key == "friction_scale":
            fields_[key] = fitted
        else:
            fields_["noise"][key] = fitted


def _range(value: Any, key: str, source: str, *, scale: bool = False) -> Range:
    """A number (fixed) or ``{uniform|log_uniform: [low, high]}``, values >= 0."""
    if _is_number(value):
        low = high = float(value)
        log = False
    elif isinstance(value, Mapping) and len(value) == 1:
        _check_keys(value, _DISTRIBUTIONS, key, source, RandomizationConfigError)
        ((kind, bounds),) = value.items()
        if not (isinstance(bounds, list | tuple) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
            raise RandomizationConfigError(source, f"{key}.{kind} must be [low, high], two numbers; got {bounds!r}")
        low, high, log = float(bounds[0]), float(bounds[1]), kind == "log_uniform"
    else:
        hint = "; for a multiplier of the robot's value use {scale: ...}" if scale else ""
        raise RandomizationConfigError(
            source, f"{key} must be a number or one range, got {value!r}; {_RANGE_HELP}{hint}"
        )
    if low < 0:
        raise RandomizationConfigError(source, f"{key} must not be negative, got low {low}; raise it to 0 or more")
    try:
        return Range(low, high, log)
    except ValueError as err:
        raise RandomizationConfigError(source, f"{key}: {err}") from err


def _joint_ranges(value: Any, key: str, spec: RobotSpec, source: str) -> tuple[Range, ...]:
    """Absolute per-joint ranges from a number, a range, or ``{scale: number | range}``."""
    if isinstance(value, Mapping):
        _check_keys(value, ("scale", *_DISTRIBUTIONS), key, source, RandomizationConfigError)
    if isinstance(value, Mapping) and "scale" in value:
        _check_keys(value, ("scale",), key, source, RandomizationConfigError)
        scale = _range(value["scale"], f"{key}.scale", source)
        return tuple(scale.scaled(nominal) for nominal in getattr(spec.sim, key))
    return (_range(value, key, source, scale=True),) * spec.dof


def _mass_ranges(value: Any, spec: RobotSpec, source: str) -> dict[str, Range]:
    """``{links?, objects?, uniform|log_uniform}`` or a number -> body name -> scale range."""
    links = [link for link in load_urdf(spec.urdf_path).links if link != "world"]  # "world" is MuJoCo's world
    if _is_number(value):
        value = {"uniform": [value, value]}
    if not isinstance(value, Mapping):
        raise RandomizationConfigError(
            source, f"mass_scale must be {{links: [...], uniform: [low, high]}} or a number, got {value!r}"
        )
    _check_keys(value, ("links", "objects", *_DISTRIBUTIONS), "mass_scale", source, RandomizationConfigError)
    names: list[str] = []
    for group, default in (("links", links), ("objects", [])):
        chosen = value.get(group, default)
        if not (isinstance(chosen, list | tuple) and all(isinstance(n, str) for n in chosen)):
            raise RandomizationConfigError(source, f"mass_scale.{group} must be a list of names, got {chosen!r}")
        if group == "links":
            _check_keys(chosen, links, "mass_scale.links", source, RandomizationConfigError, what="link")
        names.extend(chosen)
    distribution = {k: v for k, v in value.items() if k in _DISTRIBUTIONS}
    if len(distribution) != 1:
        raise RandomizationConfigError(
            source, f"mass_scale needs exactly one of uniform or log_uniform, got {sorted(distribution) or 'none'}"
        )
    scale = _range(distribution, "mass_scale", source)
    if scale.low <= 0:
        raise RandomizationConfigError(source, f"mass_scale must be positive, got low {scale.low}; raise it above 0")
    return dict.fromkeys(names, scale)


def _integer_range(value: Any, key: str, source: str) -> IntegerRange:
    """A whole number or ``{integers: [low, high]}`` (both included), >= 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, Mapping) and len(value) == 1:
        _check_keys(value, ("integers",), key, source, RandomizationConfigError)
        bounds = value["integers"]
        if not (
            isinstance(bounds, list | tuple)
            and len(bounds) == 2
            and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        ):
            raise RandomizationConfigError(
                source, f"{key}.integers must be [low, high], two whole numbers; got {bounds!r}"
            )
        low, high = bounds
    else:
        raise RandomizationConfigError(
            source, f"{key} must be a whole number or {{integers: [low, high]}}, got {value!r}"
        )
    if low < 0:
        raise RandomizationConfigError(source, f"{key} must not be negative, got {low}; use 0 or more")
    try:
        return IntegerRange(low, high)
    except ValueError as err:
        raise RandomizationConfigError(source, f"{key}: {err}") from err


def _estimate(entry: Any, where: str, source: str, *, integer: bool = False) -> Estimate:
    if not isinstance(entry, Mapping) or "value" not in entry:
        raise CalibrationError(source, f"{where} must be {{value: number, std: number}}, got {entry!r}")
    _check_keys(entry, ("value", "std"), where, source, CalibrationError)
    value = _number(entry["value"], f"{where}.value", source, error=CalibrationError)
    std = _number(entry.get("std", 0.0), f"{where}.std", source, error=CalibrationError)
    if integer and not float(value).is_integer():
        raise CalibrationError(source, f"{where}.value must be a whole number of steps, got {value}")
    return Estimate(value, std)


def _number(
    value: Any, key: str, source: str, *, error: type[RandomizationConfigError] = RandomizationConfigError
) -> float:
    """A finite number >= 0."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise error(source, f"{key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_keys(
    names: Iterable[Any],
    allowed: Iterable[str],
    where: str,
    source: str,
    error: type[RandomizationConfigError],
    *,
    what: str = "key",
) -> None:
    """Raise ``error`` for the first name not in ``allowed``, suggesting the closest allowed one.

    :param where: the enclosing key (``""`` at the top level), for the message.
    """
    allowed = list(allowed)
    for name in names:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"use one of {allowed}"
            inside = f" in {where}" if where else ""
            raise error(source, f"unknown {what} '{name}'{inside}; {fix}")


def _read_yaml(path: Path, error: type[RandomizationConfigError], what: str) -> dict[str, Any]:
    if not path.is_file():
        raise error(str(path), f"no such {what}; check the path")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise error(str(path), f"not valid YAML: {str(err).splitlines()[0]}") from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise error(str(path), f"a {what} is a mapping of keys, got {type(doc).__name__}")
    return doc
