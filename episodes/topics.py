"""The topics of an episode, their message types, and the mapping from a foreign bag's topics.

An episode bag written by :class:`~episodes.recording.EpisodeRecorder` holds, for robot ``spec``:

==================  ===========================  ==============================================
stream              topic                        message type
==================  ===========================  ==============================================
joint_states        ``spec.ros.joint_states``    ``sensor_msgs/msg/JointState``
odom (bases)        ``spec.ros.odom``            ``nav_msgs/msg/Odometry``
scan (a laser)      ``spec.ros.scan``            ``sensor_msgs/msg/LaserScan``
cmd_vel (bases)     ``spec.ros.cmd_vel``         ``geometry_msgs/msg/TwistStamped`` (or ``Twist``)
command (arms)      ``/sim2real/command``        ``std_msgs/msg/Float64MultiArray``
observation         ``/sim2real/observation``    ``std_msgs/msg/Float64MultiArray``
action              ``/sim2real/action``         ``std_msgs/msg/Float64MultiArray``
reward              ``/sim2real/reward``         ``std_msgs/msg/Float64``
episode             ``/sim2real/episode``        ``std_msgs/msg/String``: ``"start <i>"``, ``"end <i> <outcome>"``
==================  ===========================  ==============================================

An arm's command is recorded as what was sent, whatever controller carries it on a robot: one
value per joint in spec order, the interface (position / velocity / effort) in ``layout.dim[0].label``.

A bag recorded on the ROS graph (``recorder_node robot:=NAME``) has the deployment's topics
instead, and reads without a mapping (:meth:`TopicMapping.for_bag`): the arm's commands on the
driver's controller topic (``Float64MultiArray``, or ``JointTrajectory`` whose last point is the
target, joints matched by name), the policy's on ``/policy_node/observation`` and ``/policy_node/action``.

A mapping YAML names, for a bag we did not write, the topic of each stream it has; streams it does
not name are not read, and ``cmd_vel`` may be ``Twist`` or ``TwistStamped`` (detected per bag)::

    joint_states: /joint_states
    cmd_vel: /cmd_vel
    odom: /odom
    scan: /scan
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import NamedTuple

import yaml

from episodes.errors import MappingError
from hardware.spec import RobotSpec

COMMAND_TOPIC = "/sim2real/command"
OBSERVATION_TOPIC = "/sim2real/observation"
ACTION_TOPIC = "/sim2real/action"
REWARD_TOPIC = "/sim2real/reward"
EPISODE_TOPIC = "/sim2real/episode"
#: Where a ROS deployment's policy node publishes what it saw and did (``sim2real_ros.policy_node``).
POLICY_NODE_OBSERVATION_TOPIC = "/policy_node/observation"
POLICY_NODE_ACTION_TOPIC = "/policy_node/action"

JOINT_STATE = "sensor_msgs/msg/JointState"
ODOMETRY = "nav_msgs/msg/Odometry"
LASER_SCAN = "sensor_msgs/msg/LaserScan"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
FLOAT64_ARRAY = "std_msgs/msg/Float64MultiArray"
JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
FLOAT64 = "std_msgs/msg/Float64"
STRING = "std_msgs/msg/String"

# The message types each stream accepts when reading (the first is what the recorder writes).
STREAM_TYPES: dict[str, tuple[str, ...]] = {
    "joint_states": (JOINT_STATE,),
    "odom": (ODOMETRY,),
    "scan": (LASER_SCAN,),
    "cmd_vel": (TWIST_STAMPED, TWIST),
    "command": (FLOAT64_ARRAY, JOINT_TRAJECTORY),
    "observation": (FLOAT64_ARRAY,),
    "action": (FLOAT64_ARRAY,),
    "reward": (FLOAT64,),
    "episode": (STRING,),
}


@dataclass(frozen=True)
class TopicMapping:
    """Which topic carries each stream; ``None``: the stream is not read (or not recorded).

    :param required: streams whose topic must be in the bag (a missing one is an error rather
        than an empty stream); an explicit mapping requires every topic it names.
    """

    joint_states: str | None = None
    odom: str | None = None
    scan: str | None = None
    cmd_vel: str | None = None
    command: str | None = None
    observation: str | None = None
    action: str | None = None
    reward: str | None = None
    episode: str | None = None
    required: frozenset[str] = frozenset()

    @classmethod
    def for_spec(cls, spec: RobotSpec) -> TopicMapping:
        """The topics the recorder writes for ``spec`` (only joint states are required to read)."""
        base = spec.kind == "base"
        return cls(
            joint_states=spec.ros.joint_states,
            odom=spec.ros.odom if base else None,
            scan=spec.ros.scan if spec.sensors.laser is not None else None,
            cmd_vel=spec.ros.cmd_vel if base else None,
            command=None if base else COMMAND_TOPIC,
            observation=OBSERVATION_TOPIC,
            action=ACTION_TOPIC,
            reward=REWARD_TOPIC,
            episode=EPISODE_TOPIC,
            required=frozenset({"joint_states"}),
        )

    @classmethod
    def for_bag(cls, spec: RobotSpec, present: Collection[str]) -> TopicMapping:
        """What to read from a bag with topics ``present`` when no mapping is given: the recorder's
        topics (:meth:`for_spec`); for a stream whose recorder topic is absent, the topic a ROS
        deployment carries it on, if the bag has that one (a bag of ``recorder_node``)."""
        mapping = cls.for_spec(spec)
        deployment = {
            "command": spec.ros.arm_command_topic if spec.kind == "arm" else None,
            "observation": POLICY_NODE_OBSERVATION_TOPIC,
            "action": POLICY_NODE_ACTION_TOPIC,
        }
        moved = {
            stream: topic
            for stream, topic in deployment.items()
            if topic is not None and topic in present and getattr(mapping, stream) not in present
        }
        return replace(mapping, **moved)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: object, source: str = "mapping") -> TopicMapping:
        """A mapping from ``{stream: topic}``; every named topic is required.

        :param source: what to call the mapping in errors (its file name).
        :raises MappingError: not a dict, an unknown stream, or a topic that is not a string.
        """
        if not isinstance(data, dict):
            raise MappingError(f"{source} must be a YAML mapping of stream: topic, e.g. 'cmd_vel: /cmd_vel'")
        streams = stream_names()
        unknown = sorted(set(map(str, data)) - set(streams))
        if unknown:
            raise MappingError(f"{source} has unknown streams {unknown}; use some of {list(streams)}")
        topics: dict[str, str] = {}
        for key, topic in data.items():
            if topic is None:
                continue
            if not isinstance(topic, str) or not topic:
                raise MappingError(f"{source}: '{key}' must name a topic such as '/{key}', got {topic!r}")
            topics[str(key)] = topic if topic.startswith("/") else f"/{topic}"
        return cls(**topics, required=frozenset(topics))  # type: ignore[arg-type]

    @classmethod
    def from_yaml(cls, path: Path | str) -> TopicMapping:
        """Load a mapping YAML (see the module docstring).

        :raises MappingError: the file is missing, not YAML, or malformed.
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError as err:
            raise MappingError(f"topic mapping {path} does not exist; pass a YAML of stream: topic") from err
        except yaml.YAMLError as err:
            raise MappingError(f"topic mapping {path} is not valid YAML: {one_line(err)}") from err
        return cls.from_dict(data, source=f"topic mapping {path.name}")

    def topics(self) -> dict[str, str]:
        """``{stream: topic}`` of the streams that are mapped."""
        return {name: topic for name in stream_names() if (topic := getattr(self, name)) is not None}


class ParsedMarker(NamedTuple):
    """An episode marker read back: ``start <index>`` or ``end <index> [<outcome>]``."""

    kind: str  # "start" or "end"
    episode: int | None  # the episode index of a start marker (an end marker's is not needed)
    outcome: str | None  # the outcome of an end marker, if it names one


def parse_marker(text: str) -> ParsedMarker | None:
    """The marker in ``text``, or ``None`` if it is not one (see the table above)."""
    words = text.split()
    if len(words) >= 2 and words[0] == "start" and words[1].isdigit():
        return ParsedMarker("start", int(words[1]), None)
    if len(words) >= 2 and words[0] == "end":
        return ParsedMarker("end", None, words[2] if len(words) > 2 else None)
    return None


def stream_names() -> tuple[str, ...]:
    """The streams a mapping may name, in table order."""
    return tuple(f.name for f in fields(TopicMapping) if f.name != "required")


def one_line(err: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(err).split()) or type(err).__name__
