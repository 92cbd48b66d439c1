"""The deployable policy bundle: a folder that runs a trained policy anywhere onnxruntime runs.

::

    BUNDLE/policy.onnx    the network: raw task observation -> deterministic action, in action-space
                          units (observation normalization folded in); one input per observation
                          key (sorted; ``observation`` for a flat Box), a dynamic batch axis first
    BUNDLE/bundle.yaml    the contract: robot (joint order, interface, rate, limits, base and laser
                          geometry), task (name, settings, rates, episode length), observation and
                          action layout, normalization (for humans), exploration and training
                          settings, versions, and the parity check
    BUNDLE/parity.npz     observations from real rollouts and the training framework's actions

:func:`load_bundle` checks the robot against the contract (a difference is a
:class:`BundleMismatchError` naming it), opens the network and replays the parity vectors (any
action further than ``atol`` from the training framework's is a :class:`BundleParityError`).
Loading never unpickles: YAML through ``safe_load``, arrays with ``allow_pickle=False``, the
network through onnxruntime. :mod:`policies.export` writes bundles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from hardware.spec import RobotSpec

FORMAT = "sim2real-policy-bundle"
FORMAT_VERSION = 1
METADATA_FILE = "bundle.yaml"
POLICY_FILE = "policy.onnx"
PARITY_FILE = "parity.npz"
#: The input name of a flat (Box) observation; Dict observations use their keys.
BOX_INPUT = "observation"
OUTPUT = "action"
#: Largest difference between the network's and the training framework's actions, per element.
DEFAULT_ATOL = 1e-5
#: Key of the actions in parity.npz; the inputs are under ``PARITY_INPUT_PREFIX + name``.
PARITY_ACTIONS = "actions"
PARITY_INPUT_PREFIX = "inputs/"
#: Joint fields of the robot contract: the observation features depend on them.
JOINT_FIELDS = ("home", "lower", "upper", "max_velocity")
#: Laser fields of the robot contract: the scan features depend on them (not the scan rate).
LASER_FIELDS = ("num_beams", "angle_min_rad", "angle_max_rad", "range_min_m", "range_max_m")


class BundleError(Exception):
    """A bundle that cannot be used; the message names the file and the fix."""


class BundleMismatchError(BundleError):
    """The robot, or the task built for it, differs from the bundle's contract."""


class BundleParityError(BundleError):
    """The network's actions differ from the training framework's on the parity vectors."""


# --- the robot contract ---------------------------------------------------------------------------


def robot_contract(spec: RobotSpec) -> dict[str, Any]:
    """What a policy trained on ``spec`` relies on, as plain YAML data (``bundle.yaml: robot``)."""
    laser = spec.sensors.laser
    return {
        "name": spec.name,
        "kind": spec.kind,
        "joint_names": list(spec.joint_names),
        "command_interface": spec.command_interface,
        "control_rate_hz": float(spec.control_rate_hz),
        "end_effector_link": spec.end_effector_link,
        "joints": {
            "home": _floats(spec.home_position),
            "lower": _floats(spec.position_lower),
            "upper": _floats(spec.position_upper),
            "max_velocity": _floats(spec.max_velocity),
        },
        "base": None if spec.base is None else dict(vars(spec.base)),
        "laser": None if laser is None else {key: getattr(laser, key) for key in LASER_FIELDS},
        # Where the robot YAML was at training; `sim2real run` falls back on it without --robot.
        "source": str(spec.yaml_path),
    }


def check_robot(contract: Mapping[str, Any], spec: RobotSpec, bundle: str = "bundle") -> None:
    """Refuse ``spec`` unless it matches the bundle's robot ``contract``.

    :param bundle: how to name the bundle in the message (its path).
    :raises BundleMismatchError: naming the first difference, the bundle's value and the robot's.
    """
    have = robot_contract(spec)
    robot = f"robot '{spec.name}'"

    def refuse(what: str, wanted: Any, got: Any) -> BundleMismatchError:
        return BundleMismatchError(
            f"{bundle} was trained for {what} {wanted}; {robot} has {got}: "
            "run it on the robot it was trained for, or train and export a bundle for this one"
        )

    for key in ("kind", "joint_names", "command_interface"):
        if contract.get(key) != have[key]:
            what = "joint order" if key == "joint_names" and set(contract.get(key) or ()) == set(have[key]) else key
            raise refuse(what.replace("_", " "), contract.get(key), have[key])
    if not _close(contract.get("control_rate_hz"), have["control_rate_hz"]):
        raise refuse("a control rate of", f"{contract.get('control_rate_hz'):g} Hz", f"{have['control_rate_hz']:g} Hz")
    if contract.get("end_effector_link") != have["end_effector_link"]:
        raise refuse("end-effector link", contract.get("end_effector_link"), have["end_effector_link"])
    joints = contract.get("joints") or {}
    for field in JOINT_FIELDS:
        for name, wanted, got in zip(have["joint_names"], joints.get(field, ()), have["joints"][field], strict=False):
            if not _close(wanted, got):
                raise refuse(f"{name} {field}", wanted, got)
    for section in ("base", "laser"):
        wanted_section, got_section = contract.get(section), have[section]
        if (wanted_section is None) != (got_section is None):
            raise refuse(f"a {section} of", wanted_section, got_section)
        for key, wanted in (wanted_section or {}).items():
            got = got_section.get(key)
            if not (_close(wanted, got) if isinstance(wanted, float) else wanted == got):
                raise refuse(f"{section} {key}", wanted, got)


def check_task(metadata: Mapping[str, Any], task: Any, bundle: str = "bundle") -> None:
    """Refuse ``task`` (built for the robot) unless its spaces and rates match the bundle's.

    :raises BundleMismatchError: naming the key, the bundle's layout and the task's.
    """
    from gymnasium import spaces

    def refuse(what: str, wanted: Any, got: Any) -> BundleMismatchError:
        return BundleMismatchError(
            f"{bundle} expects {what} {wanted}; the {metadata['task']['name']} task built for robot "
            f"'{task.spec.name}' gives {got}: the robot or the task code changed since training; export again"
        )

    space = task.observation_space
    layout = dict(space.spaces) if isinstance(space, spaces.Dict) else {BOX_INPUT: space}
    wanted_layout = metadata["observation"]["keys"]
    if sorted(layout) != sorted(wanted_layout):
        raise refuse("observation keys", sorted(wanted_layout), sorted(layout))
    for key, box in layout.items():
        _check_box(f"observation '{key}'", wanted_layout[key], box, refuse)
    _check_box("action", metadata["action"], task.action_space, refuse)
    steps = metadata["task"]["control_steps_per_action"]
    if task.control_steps_per_action != steps:
        raise refuse("control steps per action", steps, task.control_steps_per_action)


def _check_box(what: str, wanted: Mapping[str, Any], box: Any, refuse: Any) -> None:
    if list(wanted["shape"]) != list(box.shape):
        raise refuse(f"{what} of shape", tuple(wanted["shape"]), tuple(box.shape))
    for bound in ("low", "high"):
        if bound in wanted and not np.allclose(wanted[bound], getattr(box, bound), rtol=1e-6, atol=1e-7):
            raise refuse(f"{what} {bound}", wanted[bound], _floats(getattr(box, bound)))


def space_layout(box: Any) -> dict[str, Any]:
    """A Box as YAML data: shape, and low/high where every bound is finite."""
    layout: dict[str, Any] = {"shape": list(box.shape), "dtype": str(box.dtype)}
    if np.all(np.isfinite(box.low)) and np.all(np.isfinite(box.high)):
        layout["low"], layout["high"] = _floats(box.low), _floats(box.high)
    return layout


# --- the bundle -----------------------------------------------------------------------------------


class Bundle:
    """A loaded, checked policy bundle (see :func:`load_bundle`).

    :param path: the bundle folder. :param metadata: ``bundle.yaml``.
    :param session: the onnxruntime session of ``policy.onnx``.
    :param spec: the robot it was checked against.
    :param parity_max_error: largest parity difference found at loading (action units).
    """

    def __init__(
        self, path: Path, metadata: dict[str, Any], session: Any, spec: RobotSpec, parity_max_error: float
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.spec = spec
        self.parity_max_error = parity_max_error
        self._session = session
        self._inputs = [(item["name"], tuple(item["shape"])) for item in metadata["policy"]["inputs"]]
        self._dict_obs = metadata["observation"]["type"] == "dict"
        self._action_shape = tuple(metadata["action"]["shape"])

    @property
    def task_name(self) -> str:
        return str(self.metadata["task"]["name"])

    @property
    def task_kwargs(self) -> dict[str, Any]:
        """The task's settings at training (simulator-only ones left out)."""
        return dict(self.metadata["task"]["kwargs"])

    @property
    def policy_rate_hz(self) -> float:
        return float(self.metadata["task"]["policy_rate_hz"])

    @property
    def control_steps_per_action(self) -> int:
        return int(self.metadata["task"]["control_steps_per_action"])

    @property
    def max_episode_steps(self) -> int:
        """Episode length at training, policy steps."""
        return int(self.metadata["task"]["max_episode_steps"])

    @property
    def algorithm(self) -> str:
        return str(self.metadata["policy"]["algorithm"])

    def make_task(self, robot_spec: RobotSpec | None = None) -> Any:
        """A fresh task of the bundle's name and settings for ``robot_spec`` (the checked spec by default)."""
        from sim.tasks import make_task

        return make_task(self.task_name, robot_spec or self.spec, **self.task_kwargs)

    def act(self, observation: Mapping[str, Any] | NDArray[Any]) -> NDArray[np.float64]:
        """The deterministic action for one observation as the task gives it (a dict or an array).

        :returns: the action in action-space units, float64, shape ``action.shape``.
        :raises ValueError: a missing key or a wrong number of values.
        """
        feed = {name: self._input(observation, name, shape, batched=False) for name, shape in self._inputs}
        return self._session.run(None, feed)[0].reshape(self._action_shape).astype(np.float64)

    def act_batch(self, observations: Mapping[str, Any] | NDArray[Any]) -> NDArray[np.float64]:
        """Actions for a batch: arrays (or dict values) with a leading batch axis; ``(n, *action.shape)``."""
        feed = {name: self._input(observations, name, shape, batched=True) for name, shape in self._inputs}
        return self._session.run(None, feed)[0].astype(np.float64)

    def _input(self, observation: Any, name: str, shape: tuple[int, ...], *, batched: bool) -> NDArray[np.float32]:
        if self._dict_obs:
            if not isinstance(observation, Mapping) or name not in observation:
                raise ValueError(f"{self.path}: the policy needs a dict observation with key '{name}'")
            observation = observation[name]
        values = np.asarray(observation, dtype=np.float32)
        size = math.prod(shape)
        if (values.size % size if batched else values.size - size) != 0:
            raise ValueError(f"{self.path}: observation '{name}' has {values.size} values, expected {size} per step")
        return values.reshape((-1, *shape))


def load_bundle(path: str | Path, robot_spec: RobotSpec, *, atol: float | None = None) -> Bundle:
    """Load the bundle at ``path`` for the robot ``robot_spec``, after checking both.

    :param atol: parity tolerance (action units); the bundle's own (``parity.atol``) when ``None``.
    :raises BundleError: a missing or unreadable file (:class:`BundleMismatchError`: the robot or
        its task differs from the contract; :class:`BundleParityError`: the network disagrees
        with the training framework's actions).
    """
    folder = Path(path)
    metadata = read_metadata(folder)
    name = f"bundle {folder}"
    try:
        check_robot(metadata["robot"], robot_spec, name)
        try:
            task = _make_task(metadata, robot_spec)
        except (ValueError, TypeError, KeyError) as error:
            raise BundleMismatchError(
                f"{name}: its {metadata['task']['name']} task cannot be built for robot '{robot_spec.name}' ({error})"
            ) from error
        check_task(metadata, task, name)
        session = inference_session(folder / metadata["policy"]["file"])
        _check_io(session, metadata, folder)
        parity = metadata["parity"]
        tolerance = float(parity["atol"] if atol is None else atol)
        max_error = _parity_error(session, metadata, folder)
    except (KeyError, TypeError) as error:  # a field missing from, or malformed in, bundle.yaml
        raise BundleError(f"{folder / METADATA_FILE}: bad or missing field {error}; export the bundle again") from None
    if not max_error <= tolerance:  # NaN fails too
        raise BundleParityError(
            f"{name}: {metadata['policy']['file']} differs from the {metadata['policy']['algorithm']} actions in "
            f"{parity['file']} by up to {max_error:.3g} (tolerance {tolerance:g}, {parity['count']} vectors): "
            "the files do not belong together; export the bundle again"
        )
    return Bundle(folder, metadata, session, robot_spec, max_error)


def _parity_error(session: Any, metadata: Mapping[str, Any], folder: Path) -> float:
    """Largest difference between the network's actions and the stored ones on the parity inputs."""
    file = folder / metadata["parity"]["file"]
    inputs, expected = read_parity(file, [item["name"] for item in metadata["policy"]["inputs"]])
    try:
        actual = session.run(None, inputs)[0].astype(np.float64)
    except Exception as error:  # onnxruntime's own exception types: inputs that do not fit
        raise BundleParityError(
            f"{file}: its inputs do not fit the network ({_first_line(error)}); export again"
        ) from None
    if actual.shape != expected.shape:
        raise BundleParityError(
            f"{file}: actions of shape {expected.shape}, the network gives {actual.shape}; export the bundle again"
        )
    return float(np.max(np.abs(actual - expected))) if expected.size else 0.0


def read_metadata(folder: Path) -> dict[str, Any]:
    """``folder/bundle.yaml``, checked for the format and the sections loading needs.

    :raises BundleError: missing, not YAML, another format or version, or a section missing.
    """
    file = folder / METADATA_FILE
    if not file.is_file():
        hint = (
            " (it holds a training run: export it with `sim2real export`)" if (folder / "model.zip").is_file() else ""
        )
        raise BundleError(
            f"{file} not found: {folder} is not a policy bundle{hint}; give the folder `sim2real export` wrote"
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise BundleError(f"{file}: not valid YAML ({_first_line(error)}); export the bundle again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"{file}: not a {FORMAT} file; export the bundle again")
    if data.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{file}: format version {data.get('format_version')}, this sim2real reads {FORMAT_VERSION}; "
            "export the bundle again with this version"
        )
    for section in ("policy", "robot", "task", "observation", "action", "parity"):
        if not isinstance(data.get(section), dict):
            raise BundleError(f"{file}: the '{section}' section is missing; export the bundle again")
    return data


def inference_session(file: Path) -> Any:
    """An onnxruntime CPU session for ``file``: one thread (a control loop's latency, not throughput).

    :raises BundleError: the file is missing or not a valid ONNX model.
    """
    import onnxruntime

    if not file.is_file():
        raise BundleError(f"{file} not found; export the bundle again")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own (unexported) exception types
        raise BundleError(
            f"{file}: onnxruntime cannot load it ({_first_line(error)}); export the bundle again"
        ) from None


def read_parity(file: Path, names: Sequence[str]) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.float64]]:
    """The parity inputs (by input name, float32) and expected actions (float64) in ``file``.

    :raises BundleError: missing, unreadable, or without an input the network takes.
    """
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise BundleError(f"{file} not found; export the bundle again") from None
    except Exception as error:  # zip, header or pickle refusal: all mean a broken file
        raise BundleError(f"{file}: not a readable .npz ({_first_line(error)}); export the bundle again") from None
    missing = [key for key in [PARITY_ACTIONS, *(PARITY_INPUT_PREFIX + n for n in names)] if key not in arrays]
    if missing:
        raise BundleError(f"{file} lacks {missing}; export the bundle again")
    inputs = {name: arrays[PARITY_INPUT_PREFIX + name].astype(np.float32) for name in names}
    return inputs, arrays[PARITY_ACTIONS].astype(np.float64)


def _make_task(metadata: Mapping[str, Any], spec: RobotSpec) -> Any:
    from sim.tasks import make_task

    task = metadata["task"]
    return make_task(task["name"], spec, **dict(task.get("kwargs") or {}))


def _check_io(session: Any, metadata: Mapping[str, Any], folder: Path) -> None:
    wanted = [item["name"] for item in metadata["policy"]["inputs"]]
    got = [item.name for item in session.get_inputs()]
    if wanted != got:
        raise BundleError(
            f"{folder / metadata['policy']['file']} takes inputs {got}, {METADATA_FILE} says {wanted}; export again"
        )


def _close(wanted: Any, got: Any) -> bool:
    try:
        return math.isclose(float(wanted), float(got), rel_tol=1e-6, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
