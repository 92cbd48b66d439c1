"""Errors of the sim2real command line and the glue it holds.

The command line prints any :class:`Sim2RealError` (and ``hardware.errors.HardwareError``) as one
line, ``sim2real: error: <message>``, and exits with status 2. So every message is one sentence
that names the bad input and says how to fix it; anything else is a bug and shows a traceback.
"""

from __future__ import annotations


class Sim2RealError(Exception):
    """Base class of every error the command line reports without a traceback."""


class UsageError(Sim2RealError):
    """A command-line argument is invalid in a way argparse cannot check (a name, a file)."""
