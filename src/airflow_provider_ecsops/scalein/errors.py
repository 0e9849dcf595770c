"""The scale-in guard's error classes: what a call into backlog, demand or retire may raise, and nothing else.

Every message is one line, ``[ecsops] scalein_<option>: problem. Fix: ...``, so a worker log says what to change.
``ConfigurationError`` is raised at worker start (a setup that can never work); ``BacklogError`` and
``RetireError`` are transient: the guard logs them and tries again on a later tick.
"""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A setup that cannot work; raised when the guard starts, never at the first idle moment."""


class BacklogError(RuntimeError):
    """The backlog could not be counted this time (broker or DB unreachable, timed out, refused)."""

    kind = "transient"


class DemandError(RuntimeError):
    """The fleet's demand could not be read this time: nothing is published for that interval."""

    kind = "transient"


class RetireError(RuntimeError):
    """Self-retire failed this time; desiredCount is unchanged."""

    kind = "transient"


class RetireLockBusy(RetireError):
    """Another worker holds the retire lock for longer than we wait."""
