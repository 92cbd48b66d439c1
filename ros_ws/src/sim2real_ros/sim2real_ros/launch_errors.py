"""Errors of ``sim2real launch``: one line each, naming the launch file, the bad input and the fix.

The command line reports any :class:`LaunchError` as ``sim2real: error: <message>`` (exit status 2).
:mod:`sim2real_ros.launch_file` re-exports them all.
"""

from __future__ import annotations


class LaunchError(Exception):
    """Base class of every error the launch file loader and the runner raise on purpose."""


class LaunchFileError(LaunchError):
    """The launch file cannot be read, is not YAML, or uses a tag or key ``sim2real launch`` does not support."""


class LaunchArgumentError(LaunchError):
    """A launch argument is missing, undeclared, or not one of its choices."""


class ConditionError(LaunchError):
    """An ``if``/``unless`` value is not one of true, false, 1, 0 (any case)."""


class SubstitutionError(LaunchError):
    """A ``$(...)`` substitution is unknown, malformed, refused (eval, command) or failed."""


class PackageNotFoundError(SubstitutionError):
    """A package is not in the ament index of any prefix (``AMENT_PREFIX_PATH``, ``sys.prefix``)."""


class ExecutableNotFoundError(LaunchError):
    """A node's ``pkg``/``exec`` names neither an installed executable nor a Python module."""


class LaunchRunError(LaunchError):
    """A node process could not be started."""
