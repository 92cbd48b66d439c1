"""Quality-of-service profiles: what ros2_control drivers and Nav2 use, so our nodes match them.

A subscriber that asks for *best effort* receives from both reliable and best-effort
publishers, while a *reliable* subscriber receives nothing from a best-effort one. So every
state subscription here is best effort (it only ever wants the newest message), and every
publisher uses what the real driver uses.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

#: Commands to controllers and ``cmd_vel``: reliable, newest only (ros2_control's command
#: subscriptions are reliable; an old command is worthless).
COMMAND = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)

#: Subscribing to robot state (joint states, odometry, scan): newest only, matches any publisher.
STATE_SUBSCRIPTION = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)

#: Publishing joint states and odometry, as joint_state_broadcaster and diff_drive_controller do
#: (system default QoS: reliable, volatile, depth 10).
STATE_PUBLISHER = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)

#: Laser scans: the sensor-data profile (best effort, depth 5) that laser drivers publish with.
SENSOR_DATA = qos_profile_sensor_data

#: The e-stop topic is latched: a node that starts (or restarts) after the e-stop was pressed
#: still receives it.
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

#: Diagnostics, the policy's observation and action (for recording): reliable, a short queue.
STATUS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
