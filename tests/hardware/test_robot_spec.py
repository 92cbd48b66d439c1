"""Building a RobotSpec from URDF + YAML, and the one-line errors for bad files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from hardware import RobotConfigError, RobotSpec, UrdfError
from hardware.urdf import MeshNotFoundError, load_urdf, urdf_with_absolute_mesh_paths

URDF = """<?xml version="1.0"?>
<robot name="twolink">
  <link name="base"/>
  <link name="upper"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="lower"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><geometry><mesh filename="{mesh}"/></geometry></visual></link>
  <link name="tool"/>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="upper"/>
    <origin xyz="0 0 0.1" rpy="0 0 0"/><axis xyz="0 0 1"/>
    <limit lower="{lower}" upper="2.0" velocity="{velocity}" effort="30"/></joint>
  <joint name="elbow" type="continuous"><parent link="upper"/><child link="lower"/>
    <origin xyz="0.3 0 0"/><axis xyz="0 1 0"/><limit velocity="3.0" effort="10"/></joint>
  <joint name="tool_joint" type="fixed"><parent link="lower"/><child link="tool"/><origin xyz="0.2 0 0"/></joint>
</robot>
"""  # noqa: E501


def write_robot(tmp_path: Path, *, lower: str = "-2.0", velocity: str = "2.0", mesh: str = "package://twolink/meshes/lower.stl",
                **yaml_changes: object) -> Path:  # fmt: skip
    (tmp_path / "twolink" / "meshes").mkdir(parents=True, exist_ok=True)
    (tmp_path / "twolink" / "meshes" / "lower.stl").write_text("solid empty\nendsolid empty\n")
    (tmp_path / "twolink.urdf").write_text(URDF.format(lower=lower, velocity=velocity, mesh=mesh))
    doc: dict[str, object] = {
        "name": "twolink",
        "urdf": "twolink.urdf",
        "kind": "arm",
        "command_interface": "position",
        "control_rate_hz": 50.0,
        "joints": ["elbow", "shoulder"],  # not URDF order: the YAML's order is the contract
        "end_effector_link": "tool",
        "limits": {"acceleration": {"default": 5.0, "elbow": 9.0}, "velocity": {"shoulder": 1.5}},
    }
    doc.update(yaml_changes)
    path = tmp_path / "twolink.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def one_line_error(excinfo: pytest.ExceptionInfo[Exception], *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, f"error spans lines: {message!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_spec_follows_the_yaml_order_and_tightens_urdf_limits(tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(write_robot(tmp_path))
    assert spec.joint_names == ("elbow", "shoulder")
    assert spec.dof == 2 and spec.command_size == 2
    assert spec.position_lower[0] == -math.inf and spec.position_upper[0] == math.inf  # continuous
    assert list(spec.position_lower[1:]) == [-2.0] and list(spec.position_upper[1:]) == [2.0]
    assert list(spec.max_velocity) == [3.0, 1.5]  # shoulder tightened from the URDF's 2.0
    assert list(spec.max_acceleration) == [9.0, 5.0]
    assert list(spec.max_effort) == [10.0, 30.0]
    assert spec.control_period_s == pytest.approx(0.02)
    assert spec.ros.arm_command_topic == "/forward_position_controller/commands"
    assert spec.sim.kp == (1000.0, 1000.0)  # defaults from the README
    with pytest.raises(ValueError):
        spec.max_velocity[0] = 10.0  # the contract is read-only


def test_malformed_urdf_names_the_file(tmp_path: Path) -> None:
    path = write_robot(tmp_path)
    urdf = tmp_path / "twolink.urdf"
    urdf.write_text(urdf.read_text().replace("</robot>", ""))
    with pytest.raises(UrdfError) as excinfo:
        RobotSpec.from_yaml(path)
    one_line_error(excinfo, "twolink.urdf", "not valid XML")


def test_yaml_naming_a_joint_the_urdf_lacks(tmp_path: Path) -> None:
    path = write_robot(tmp_path, joints=["shoulder", "wrist_3_joint"])
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(path)
    one_line_error(excinfo, "twolink.yaml", "'wrist_3_joint' is not in twolink.urdf", "shoulder, elbow")


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"limits": {"acceleration": -5.0}}, ("limits.acceleration", "'elbow'", "-5.0", "positive")),
        ({"control_rate_hz": -100}, ("control_rate_hz is -100.0", "positive")),
        ({"safety": {"watchdog_timeout_s": 0}}, ("safety.watchdog_timeout_s", "positive")),
        ({"limits": {"acceleration": 5.0, "velocity": {"shoulder": 9.0}}}, ("above the URDF's", "tighten")),
        ({"limits": {"acceleration": 5.0, "position": {"shoulder": [1.0, -1.0]}}}, ("above upper", "swap")),
    ],
)
def test_limits_of_the_wrong_sign_or_size_in_the_yaml(
    tmp_path: Path, changes: dict[str, object], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, **changes))
    one_line_error(excinfo, "twolink.yaml", *fragments)


@pytest.mark.parametrize(
    ("urdf_change", "fragments"),
    [
        ({"lower": "3.0"}, ("joint 'shoulder'", "lower limit 3.0 above upper limit 2.0")),
        ({"velocity": "-2.0"}, ("joint 'shoulder'", "negative velocity limit", "positive")),
        ({"velocity": "fast"}, ("joint 'shoulder'", 'velocity="fast" is not a number')),
    ],
)
def test_limits_of_the_wrong_sign_in_the_urdf(
    tmp_path: Path, urdf_change: dict[str, str], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(UrdfError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, **urdf_change))  # type: ignore[arg-type]
    one_line_error(excinfo, "twolink.urdf", *fragments)


def test_typo_in_a_key_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, control_rate=100))
    one_line_error(excinfo, "unknown key 'control_rate'", "did you mean 'control_rate_hz'")


def test_arm_needs_acceleration_limits_and_an_end_effector(tmp_path: Path) -> None:
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, limits={}))
    one_line_error(excinfo, "limits.acceleration gives no value for joint 'elbow'")
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, end_effector_link="gripper"))
    one_line_error(excinfo, "end_effector_link 'gripper' is not a link of twolink.urdf")


def test_fixed_joints_and_wrong_interfaces_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, joints=["shoulder", "tool_joint"]))
    one_line_error(excinfo, "'tool_joint' is fixed")
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, command_interface="twist"))
    one_line_error(excinfo, "command_interface is 'twist'", "position")


def test_missing_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(tmp_path / "nope.yaml")
    one_line_error(excinfo, "nope.yaml", "cannot read")
    with pytest.raises(RobotConfigError) as excinfo:
        RobotSpec.from_yaml(write_robot(tmp_path, urdf="elsewhere.urdf"))
    one_line_error(excinfo, "elsewhere.urdf does not exist")


def test_urdf_tree_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.urdf"
    path.write_text('<robot name="r"><link name="a"/><link name="b"/></robot>')
    with pytest.raises(UrdfError) as excinfo:
        load_urdf(path)
    one_line_error(excinfo, "bad.urdf", "do not form one tree")
    path.write_text(
        '<robot name="r"><link name="a"/>'
        '<joint name="j" type="hinge"><parent link="a"/><child link="a"/></joint></robot>'
    )
    with pytest.raises(UrdfError) as excinfo:
        load_urdf(path)
    one_line_error(excinfo, "joint 'j' has type 'hinge'")


def test_meshes_resolve_through_package_uris_and_relative_paths(tmp_path: Path) -> None:
    write_robot(tmp_path)
    text = urdf_with_absolute_mesh_paths(tmp_path / "twolink.urdf")
    assert str((tmp_path / "twolink" / "meshes" / "lower.stl").resolve()) in text
    write_robot(tmp_path, mesh="twolink/meshes/lower.stl")  # relative to the URDF's folder
    assert str((tmp_path / "twolink" / "meshes" / "lower.stl").resolve()) in urdf_with_absolute_mesh_paths(
        tmp_path / "twolink.urdf"
    )


def test_missing_mesh_says_where_it_looked(tmp_path: Path) -> None:
    write_robot(tmp_path, mesh="package://otherpkg/meshes/arm.stl")
    with pytest.raises(MeshNotFoundError) as excinfo:
        urdf_with_absolute_mesh_paths(tmp_path / "twolink.urdf", search_path=[tmp_path / "extra"])
    one_line_error(excinfo, "package://otherpkg/meshes/arm.stl", "ROS_PACKAGE_PATH")


def test_hardware_imports_on_a_robot_computer_without_simulators_or_torch() -> None:
    """``hardware`` (and the robot files) must work where only numpy and PyYAML are installed."""
    import subprocess
    import sys

    blocked = ["mujoco", "pybullet", "torch", "rclpy", "onnxruntime", "cv2", "gymnasium", "sim", "policies"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None  # importing any of them now fails\n"
        "import hardware, hardware.safety, hardware.limits, robots\n"
        "from hardware import RobotSpec, Command, RobotState\n"
        "from hardware.safety import SafetyLayer\n"
        "spec = RobotSpec.from_yaml(robots.robot_yaml('ur5e'))\n"
        "out, _ = SafetyLayer(spec).filter(Command.position([9.0] * 6), RobotState(0, [0.0] * 6), 0)\n"
        "print(out.values.max())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert 0 < float(done.stdout) <= 8.0 * 0.1**2 + 1e-9  # one rate-limited step from rest: a dt²
