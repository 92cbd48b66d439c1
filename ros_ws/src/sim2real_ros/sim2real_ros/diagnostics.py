"""The policy node's ``/diagnostics`` message (``diagnostic_msgs/DiagnosticArray``).

One status per node: OK while it acts, WARN while it holds (watchdog, waiting for state or a
goal, inactive), ERROR when the e-stop is engaged or configuration failed. The values carry the
loop's timing (:class:`~sim2real_ros.loop_stats.LoopStats`) and the safety state, as strings,
as ``diagnostic_msgs/KeyValue`` requires.
"""

from __future__ import annotations

from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from sim2real_ros.conversions import to_time

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def diagnostic_array(
    name: str, hardware_id: str, level: bytes, message: str, values: Mapping[str, object], stamp_ns: int
) -> DiagnosticArray:
    """A one-status ``DiagnosticArray``.

    :param name: the status name (the node's fully qualified name).
    :param hardware_id: the robot's name. :param level: ``OK``, ``WARN`` or ``ERROR``.
    :param message: one line saying what the node is doing.
    :param values: key -> value, formatted with ``str`` (floats with 4 significant digits).
    :param stamp_ns: the header stamp (the node's ROS clock), ns.
    """
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=key, value=_text(value)) for key, value in values.items()]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = to_time(stamp_ns)
    return msg


def status_values(msg: DiagnosticArray) -> dict[str, str]:
    """The first status's values as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in msg.status[0].values} if msg.status else {}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
