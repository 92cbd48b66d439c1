"""Probes that ``sim2real doctor`` runs in a child process: ``python -m sim2real.doctor_probes NAME``.

These are the checks that can hang or kill their process when an install is broken: rcl exits
the whole process (status 102) on ``import rclpy`` when ``RMW_IMPLEMENTATION`` names an RMW that
is not installed, a DDS discovery can wait forever, and a broken GL driver can abort MuJoCo's
renderer or PyBullet. In a child process with a timeout, doctor survives all of these and
reports them.

Each probe prints one line ``PROBE_MARKER {"ok": bool, "detail": str, ...}`` on stdout (with
``"missing": module`` when an import failed); every other line is library noise (PyBullet's C
code prints its build time, and C stdio may flush that after our line, hence the marker).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

TINY_MJCF = """
<mujoco model="doctor">
  <worldbody>
    <light pos="0 0 1"/>
    <geom type="box" size=".1 .1 .1" rgba="1 0 0 1"/>
    <body pos="0 0 0.5"><freejoint/><geom type="sphere" size="0.05" mass="1"/></body>
  </worldbody>
</mujoco>
"""

# How long the rclpy probe publishes before it gives up on receiving its own message (s).
RCLPY_RECEIVE_TIMEOUT_S = 10.0

Report = dict[str, Any]

# Prefix of the one stdout line that carries a probe's JSON report.
PROBE_MARKER = "SIM2REAL_PROBE_REPORT"


def probe_rclpy() -> Report:
    """Publish one std_msgs/String and receive it on a subscription of the same node."""
    import rclpy
    from rclpy.utilities import get_rmw_implementation_identifier
    from std_msgs.msg import String

    rclpy.init()
    try:
        node = rclpy.create_node(f"sim2real_doctor_{os.getpid()}")
        topic = "sim2real_doctor"
        nonce = uuid.uuid4().hex  # another doctor on the same domain must not count as ours
        received: list[str] = []
        node.create_subscription(String, topic, lambda msg: received.append(msg.data), 10)
        publisher = node.create_publisher(String, topic, 10)
        start = time.monotonic()
        # Publish until the subscription has matched the publisher (discovery takes a few ms).
        while nonce not in received and time.monotonic() - start < RCLPY_RECEIVE_TIMEOUT_S:
            publisher.publish(String(data=nonce))
            rclpy.spin_once(node, timeout_sec=0.05)
        elapsed_ms = (time.monotonic() - start) * 1e3
        node.destroy_node()
    finally:
        rclpy.shutdown()
    rmw = get_rmw_implementation_identifier()
    domain = os.environ.get("ROS_DOMAIN_ID", "0")
    if nonce not in received:
        return {
            "ok": False,
            "rmw": rmw,
            "detail": f"{rmw}: no std_msgs/String came back within {RCLPY_RECEIVE_TIMEOUT_S:.0f} s "
            f"(ROS_DOMAIN_ID={domain})",
        }
    return {
        "ok": True,
        "rmw": rmw,
        "detail": f"{rmw}, published and received std_msgs/String in {elapsed_ms:.1f} ms (ROS_DOMAIN_ID={domain})",
    }


def probe_mujoco_render() -> Report:
    """Render a 64x64 image offscreen with ``mujoco.Renderer`` under ``MUJOCO_GL``."""
    import mujoco

    model = mujoco.MjModel.from_xml_string(TINY_MJCF)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    renderer = mujoco.Renderer(model, 64, 64)
    try:
        renderer.update_scene(data)
        image = renderer.render()
    finally:
        renderer.close()
    backend = os.environ.get("MUJOCO_GL", "(unset)")
    if image.shape != (64, 64, 3) or int(image.max()) == 0:
        return {"ok": False, "detail": f"MUJOCO_GL={backend} rendered a blank or misshapen image"}
    return {"ok": True, "detail": f"MUJOCO_GL={backend}, rendered 64x64 offscreen"}


def probe_pybullet() -> Report:
    """Connect a DIRECT (headless) PyBullet client, step it, and disconnect."""
    import pybullet

    client = pybullet.connect(pybullet.DIRECT)
    if client < 0:
        return {"ok": False, "detail": "pybullet.connect(pybullet.DIRECT) failed"}
    try:
        pybullet.setGravity(0, 0, -9.81, physicsClientId=client)
        body = pybullet.createMultiBody(
            baseMass=1.0,
            baseCollisionShapeIndex=pybullet.createCollisionShape(
                pybullet.GEOM_SPHERE, radius=0.05, physicsClientId=client
            ),
            basePosition=[0, 0, 1],
            physicsClientId=client,
        )
        for _ in range(10):
            pybullet.stepSimulation(physicsClientId=client)
        z = pybullet.getBasePositionAndOrientation(body, physicsClientId=client)[0][2]
    finally:
        pybullet.disconnect(client)
    if not z < 1.0:
        return {"ok": False, "detail": f"a falling sphere did not fall (z={z})"}
    from importlib.metadata import version

    return {"ok": True, "detail": f"{version('pybullet')}, DIRECT connect, step, disconnect"}


PROBES: dict[str, Callable[[], Report]] = {
    "rclpy": probe_rclpy,
    "mujoco-render": probe_mujoco_render,
    "pybullet": probe_pybullet,
}


def main(argv: list[str]) -> int:
    """Run the probe named ``argv[0]`` and print its report line (see the module docstring)."""
    if len(argv) != 1 or argv[0] not in PROBES:
        print(f"usage: python -m sim2real.doctor_probes {{{','.join(PROBES)}}}", file=sys.stderr)
        return 2
    try:
        report = PROBES[argv[0]]()
    except ImportError as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        report = {"ok": False, "missing": err.name, "detail": f"cannot import {err.name}: {first_line}"}
    except Exception as err:  # any failure is a report, not a traceback for doctor to parse
        report = {"ok": False, "detail": f"{type(err).__name__}: {err}"}
    sys.stdout.flush()
    print(PROBE_MARKER, json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
