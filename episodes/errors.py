"""Errors of reading and writing episodes: one line each, naming the bag, the topic and the fix."""

from __future__ import annotations


class EpisodeError(Exception):
    """Base class of every episode error (the command line prints it as one line, exit 2)."""


class BagNotFoundError(EpisodeError):
    """The bag path does not exist, or is not a rosbag2 folder, MCAP/db3 file or ROS 1 ``.bag``."""


class BagFormatError(EpisodeError):
    """The bag exists but cannot be read: truncated, corrupted, or an unsupported layout."""


class MissingTopicError(EpisodeError):
    """A topic the mapping names is not in the bag."""


class UnknownMessageTypeError(EpisodeError):
    """A mapped topic carries a message type the reader cannot convert (or has no definition for)."""


class MappingError(EpisodeError):
    """A topic-mapping YAML is malformed (unknown key, non-string topic)."""


class RecordingError(EpisodeError):
    """The recorder was misused (bag exists already, write after close, a value of the wrong size)."""


class EpisodeWarning(UserWarning):
    """Something in a bag was skipped (a stream that does not fit the robot, corrupt messages)."""
