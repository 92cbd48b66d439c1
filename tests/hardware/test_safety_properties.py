"""Property tests of the safety layer: whatever a policy sends, nothing unsafe comes out.

Each interface gets hypothesis-generated command streams (NaN, ±inf, huge and ordinary values,
shrunk to a minimal counter-example on failure) and a 10,000-command seeded fuzz stream. States
are consistent with the commands (the joints follow the commanded motion), as on a robot that
tracks its commands.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.command import Command
from hardware.safety import SafetyLayer
from hardware.spec import CommandInterface, RobotSpec
from hardware.state import RobotState
from tests.hardware.specs import make_spec

INTERFACES: tuple[CommandInterface, ...] = ("position", "velocity", "effort", "twist")
TOL = 1e-9  # floating-point slack on rate bounds; limits themselves are checked exactly

#: Any float: NaN, ±inf, subnormals, ±1e308, and ordinary magnitudes.
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10.0, max_value=10.0),
)


class Checker:
    """Runs a command stream through a layer and checks every output against the spec."""

    def __init__(self, spec: RobotSpec, start: np.ndarray | None = None) -> None:
        self.spec = spec
        self.layer = SafetyLayer(spec)
        self.dt = spec.control_period_s
        self.now_ns = 0
        self.position = start if start is not None else _inside(spec, 0.5)
        self.previous: np.ndarray | None = None
        self.previous_velocity = np.zeros(spec.command_size)
        self.count = 0

    def state(self) -> RobotState:
        return RobotState(stamp_ns=self.now_ns, position=self.position.copy())

    def step(self, values: np.ndarray) -> np.ndarray:
        out, report = self.layer.filter(Command(self.spec.command_interface, values), self.state(), self.now_ns)
        self.check(out.values, nonfinite=not np.all(np.isfinite(values)))
        assert not report.held
        assert report.nonfinite == (not np.all(np.isfinite(values)))
        self.advance(out.values)
        return out.values

    def advance(self, out: np.ndarray) -> None:
        if self.spec.command_interface == "position":
            self.position = out.copy()
        elif self.spec.command_interface == "velocity":
            self.position = self.position + out * self.dt
        self.now_ns += int(self.dt * 1e9)
        self.count += 1

    def check(self, out: np.ndarray, *, nonfinite: bool) -> None:
        spec, dt, interface = self.spec, self.dt, self.spec.command_interface
        assert out.shape == (spec.command_size,)
        assert np.all(np.isfinite(out)), f"non-finite output {out}"
        if interface == "position":
            assert np.all(out >= spec.position_lower) and np.all(out <= spec.position_upper), out
            velocity = (out - self.position) / dt
            assert np.all(np.abs(velocity) <= spec.max_velocity * (1 + TOL) + TOL), velocity
            assert np.all(np.abs(velocity - self.previous_velocity) <= spec.max_acceleration * dt + 1e-6)
            if nonfinite:  # a rejected command brings the joints to rest: never speeds them up
                assert np.all(np.abs(velocity) <= np.abs(self.previous_velocity) + 1e-9)
            self.previous_velocity = velocity
        elif interface == "velocity":
            assert np.all(np.abs(out) <= spec.max_velocity), out
            previous = self.previous if self.previous is not None else np.zeros_like(out)
            assert np.all(np.abs(out - previous) <= spec.max_acceleration * dt + 1e-9)
            reached = self.position + out * dt
            assert np.all(reached >= spec.position_lower - 1e-9) and np.all(reached <= spec.position_upper + 1e-9)
        elif interface == "effort":
            assert np.all(np.abs(out) <= spec.max_effort), out
            previous = self.previous if self.previous is not None else np.zeros_like(out)
            assert np.all(np.abs(out - previous) <= spec.max_effort_rate * dt * (1 + TOL))
        else:
            assert np.all(np.abs(out) <= spec.twist_limit), out
            assert out[1] == 0.0, "a differential drive cannot move sideways"
            previous = self.previous if self.previous is not None else np.zeros_like(out)
            assert np.all(np.abs(out - previous) <= spec.twist_acceleration_limit * dt * (1 + TOL) + TOL)
        self.previous = out.copy()


def _inside(spec: RobotSpec, fraction: float) -> np.ndarray:
    """A position ``fraction`` of the way through each joint's range (0 for unbounded joints)."""
    lower = np.where(np.isfinite(spec.position_lower), spec.position_lower, 0.0)
    upper = np.where(np.isfinite(spec.position_upper), spec.position_upper, 0.0)
    return lower + fraction * (upper - lower)


@pytest.mark.parametrize("interface", INTERFACES)
@settings(max_examples=200)
@given(data=st.data())
def test_no_command_stream_leaves_the_limits(interface: CommandInterface, data: st.DataObject) -> None:
    spec = make_spec(interface)
    start = data.draw(st.floats(min_value=0.0, max_value=1.0), label="start fraction")
    checker = Checker(spec, _inside(spec, start))
    stream = data.draw(
        st.lists(st.lists(ANY_FLOAT, min_size=spec.command_size, max_size=spec.command_size),
                 min_size=1, max_size=60),
        label="commands",
    )  # fmt: skip
    for values in stream:
        checker.step(np.array(values, dtype=np.float64))


@pytest.mark.parametrize("interface", INTERFACES)
def test_ten_thousand_random_nan_inf_and_huge_commands(interface: CommandInterface) -> None:
    spec = make_spec(interface)
    rng = np.random.default_rng(7)
    checker = Checker(spec)
    n = 10_000
    values = rng.normal(scale=2.0, size=(n, spec.command_size))
    # Salt the stream: a fifth of all values are NaN, ±inf or ±1e6..1e300.
    kinds = rng.integers(0, 10, size=values.shape)
    values[kinds == 0] = np.nan
    values[kinds == 1] = rng.choice([np.inf, -np.inf], size=int((kinds == 1).sum()))
    huge = kinds == 2
    values[huge] = rng.choice([-1.0, 1.0], size=int(huge.sum())) * 10.0 ** rng.uniform(6, 300, size=int(huge.sum()))
    for row in values:
        checker.step(row)
    assert checker.count == n


@pytest.mark.parametrize("interface", INTERFACES)
@settings(max_examples=100)
@given(events=st.lists(st.tuples(st.sampled_from(["fresh", "stale", "engage", "reset"]),
                                 st.lists(ANY_FLOAT, min_size=3, max_size=3)), min_size=1, max_size=40))  # fmt: skip
def test_watchdog_and_estop_hold_exactly_when_they_should(
    interface: CommandInterface, events: list[tuple[str, list[float]]]
) -> None:
    spec = make_spec(interface, watchdog_timeout_s=0.05)
    layer = SafetyLayer(spec)
    position = _inside(spec, 0.3)
    now_ns = 0
    latched = False
    last_out: np.ndarray | None = None
    for event, raw in events:
        values = np.resize(np.array(raw, dtype=np.float64), spec.command_size)
        if event == "engage":
            layer.engage_estop("test")
            latched = True
        elif event == "reset":
            layer.reset_estop()
            latched = False
        now_ns += 10_000_000  # 10 ms per event
        stamp = now_ns - (60_000_000 if event == "stale" else 0)  # 60 ms old is past the 50 ms watchdog
        out, report = layer.filter(Command(interface, values), RobotState(stamp, position.copy()), now_ns)
        assert layer.estopped == latched
        assert report.held == (latched or event == "stale")
        assert report.estop == latched and report.watchdog == (event == "stale")
        assert np.all(np.isfinite(out.values))
        if report.held:
            if interface == "position":  # hold = stay at the last target (or where the robot is)
                expected = last_out if last_out is not None else position
                np.testing.assert_array_equal(out.values, expected)
            else:
                np.testing.assert_array_equal(out.values, np.zeros(spec.command_size))
        if interface == "position":
            position = out.values.copy()
        last_out = out.values.copy()


def test_estop_stays_latched_until_reset_however_many_commands_follow() -> None:
    spec = make_spec("twist")
    layer = SafetyLayer(spec)
    state_time = 0
    layer.engage_estop("operator")
    layer.engage_estop("second press")  # the first reason is kept
    for _ in range(500):
        state_time += 50_000_000
        out, report = layer.filter(Command.twist(0.2, 1.0), RobotState(state_time, np.zeros(2)), state_time)
        assert report.held and report.estop and not np.any(out.values)
    assert layer.estop_reason == "operator"
    layer.reset_estop()
    out, report = layer.filter(Command.twist(0.2, 1.0), RobotState(state_time, np.zeros(2)), state_time)
    assert not report.held
    # Resumes from rest within the acceleration limit, not with a jump to the commanded twist.
    dt = spec.control_period_s
    np.testing.assert_allclose(out.values, [1.0 * dt, 0.0, 4.0 * dt])


def test_watchdog_releases_when_fresh_state_returns_and_motion_resumes_smoothly() -> None:
    spec = make_spec("position", watchdog_timeout_s=0.1)
    layer = SafetyLayer(spec)
    q = _inside(spec, 0.5)
    target = q + np.array([1.0, 1.0, 0.1])
    now = 0
    outputs = []
    for k in range(60):
        now += 10_000_000
        stale = 20 <= k < 30
        stamp = now - (200_000_000 if stale else 0)
        out, report = layer.filter(Command.position(target), RobotState(stamp, q), now)
        assert report.held == stale
        q = out.values.copy()
        outputs.append(q)
    path = np.array(outputs)
    held = path[20:30]
    assert np.all(held == held[0]), "held at one position while the state was stale"
    step = np.abs(np.diff(path, axis=0))
    assert np.all(step <= spec.max_velocity * spec.control_period_s + 1e-12)


def test_low_pass_filter_has_the_configured_time_constant() -> None:
    cutoff_hz = 2.0
    spec = make_spec("effort", low_pass_cutoff_hz=cutoff_hz)
    layer = SafetyLayer(spec)
    now = 0
    outputs = []
    for _ in range(200):
        now += 10_000_000
        out, _ = layer.filter(Command.effort([1.0, 1.0, 1.0]), RobotState(now, np.zeros(3)), now)
        outputs.append(out.values[0])
    # A first-order filter reaches 1 - 1/e of a step after one time constant, 1 / (2 pi fc).
    tau_steps = 1.0 / (2 * np.pi * cutoff_hz) / spec.control_period_s
    assert outputs[int(round(tau_steps)) - 1] == pytest.approx(1 - np.exp(-1), abs=0.02)
    assert outputs[-1] == pytest.approx(1.0, abs=1e-3)


def test_position_targets_reach_the_goal_without_overshoot() -> None:
    spec = make_spec("position")
    layer = SafetyLayer(spec)
    q = _inside(spec, 0.2)
    goal = _inside(spec, 0.8) + np.array([0.0, 2.5, 0.0])
    now = 0
    for _ in range(400):
        now += 10_000_000
        out, _ = layer.filter(Command.position(goal), RobotState(now, q), now)
        assert np.all((out.values - goal) * np.sign(goal - _inside(spec, 0.2)) <= 1e-12), "overshoot"
        q = out.values.copy()
    np.testing.assert_allclose(q, goal, atol=1e-12)
