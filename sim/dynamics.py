"""The physical parameters a simulated robot runs with, and that domain randomization varies.

:class:`DynamicsParams` is what ``MujocoRobot.set_dynamics`` and ``PybulletRobot.set_dynamics``
take. Every field defaults to "as the robot YAML says" (``None``, or no scaling), so
``DynamicsParams()`` is the nominal robot. :mod:`sim.randomization` samples them per episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from hardware.spec import RobotSpec


@dataclass(frozen=True)
class DynamicsParams:
    """One draw of the simulated world's physics; per-joint tuples follow the spec's joint order.

    :param friction_scale: multiplies the sliding friction of every geom (wheels on the floor,
        a block on the table), 1 = nominal.
    :param damping: joint damping, N·m·s/rad; ``None``: ``spec.sim.damping``.
    :param armature: reflected rotor inertia, kg·m²; ``None``: ``spec.sim.armature``.
        (PyBullet has no armature; it ignores this field.)
    :param friction_loss: dry joint friction, N·m; ``None``: ``spec.sim.friction_loss``.
    :param kp: position-servo gain, N·m/rad; ``None``: ``spec.sim.kp``.
    :param kv: velocity gain, N·m·s/rad; ``None``: ``spec.sim.kv``.
    :param mass_scale: link (body) name -> multiplier of its mass and inertia; missing links 1.
        World objects (e.g. ``"block"``) may be named too.
    :param action_delay_steps: commands take effect this many control steps after ``write``.
    :param position_noise_std: Gaussian noise added to reported joint positions, rad (m).
    :param velocity_noise_std: Gaussian noise added to reported joint velocities, rad/s (m/s).
    :param odometry_noise_std: Gaussian noise added to the reported odometry x, y (m) and yaw (rad).
    :param scan_noise_std: Gaussian noise added to each finite laser range, m.
    :param initial_position_noise: half-width of a uniform perturbation of the start joint
        positions at ``reset``, rad (m); drawn from the reset's seed.
    """

    friction_scale: float = 1.0
    damping: tuple[float, ...] | None = None
    armature: tuple[float, ...] | None = None
    friction_loss: tuple[float, ...] | None = None
    kp: tuple[float, ...] | None = None
    kv: tuple[float, ...] | None = None
    mass_scale: dict[str, float] = field(default_factory=dict)
    action_delay_steps: int = 0
    position_noise_std: float = 0.0
    velocity_noise_std: float = 0.0
    odometry_noise_std: float = 0.0
    scan_noise_std: float = 0.0
    initial_position_noise: float = 0.0

    def check_for(self, spec: RobotSpec) -> None:
        """Raise ``ValueError`` naming the field unless every value fits ``spec`` and is sane."""
        for name in ("damping", "armature", "friction_loss", "kp", "kv"):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) != spec.dof:
                raise ValueError(f"dynamics.{name} has {len(values)} values; '{spec.name}' has {spec.dof} joints")
            if not all(np.isfinite(v) and v >= 0 for v in values):
                raise ValueError(f"dynamics.{name} must be finite and >= 0, got {values}")
        scalars = ("friction_scale", "position_noise_std", "velocity_noise_std", "odometry_noise_std")
        for name in (*scalars, "scan_noise_std", "initial_position_noise"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"dynamics.{name} must be finite and >= 0, got {value}")
        if self.action_delay_steps < 0:
            raise ValueError(f"dynamics.action_delay_steps must be >= 0, got {self.action_delay_steps}")
        for link, scale in self.mass_scale.items():
            if not np.isfinite(scale) or scale <= 0:
                raise ValueError(f"dynamics.mass_scale[{link!r}] must be positive, got {scale}")

    def resolved(self, spec: RobotSpec) -> DynamicsParams:
        """A copy with every ``None`` replaced by the spec's nominal value."""
        nominal = {name: getattr(spec.sim, name) for name in ("damping", "armature", "friction_loss", "kp", "kv")}
        changes = {name: value for name, value in nominal.items() if getattr(self, name) is None}
        return replace(self, **changes)

    def as_info(self) -> dict[str, Any]:
        """Plain values (floats, lists, dicts) for ``info`` and YAML: what this episode ran with."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value
        return out
