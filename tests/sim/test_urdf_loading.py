"""Any URDF into MuJoCo and PyBullet: links kept as bodies, meshes found (or a clear error),
formats MuJoCo cannot read handled, URDF extensions respected."""

from __future__ import annotations

import warnings
from pathlib import Path

import mujoco
import numpy as np
import pytest

from hardware import MeshNotFoundError, UrdfError
from hardware.urdf import load_urdf
from sim import FLOATING_BASE_JOINT, MeshFormatWarning, load_pybullet, mjspec_from_urdf
from tests.sim.helpers import PANDA_URDF, ROBOTS_DIR

# A tetrahedron, small enough to write inline.
TETRAHEDRON_OBJ = "v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\nv 0 0 0.1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
INERTIAL = '<inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>'


def write_urdf(folder: Path, *, collision: str, visual: str, extension: str = "") -> Path:
    """A two-link arm whose tip link has the given collision and visual geometry elements."""
    path = folder / "robot" / "urdf" / "two_link.urdf"
    path.parent.mkdir(parents=True)
    path.write_text(f"""<robot name="two_link">
  <link name="base">{INERTIAL}</link>
  <link name="tip">{INERTIAL}
    <visual><geometry>{visual}</geometry></visual>
    <collision><geometry>{collision}</geometry></collision>
  </link>
  <link name="marker"/>
  <joint name="hinge" type="revolute"><parent link="base"/><child link="tip"/>
    <origin xyz="0 0 0.2"/><axis xyz="0 1 0"/>
    <limit lower="-1" upper="1" effort="10" velocity="1"/></joint>
  <joint name="fixed_marker" type="fixed"><parent link="tip"/><child link="marker"/>
    <origin xyz="0.1 0 0"/></joint>
  {extension}
</robot>""")
    return path


def write_mesh(folder: Path, name: str, text: str = TETRAHEDRON_OBJ) -> Path:
    path = folder / "robot" / "meshes" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_link_is_a_body_with_its_name_fixed_links_too() -> None:
    for urdf_path in (ROBOTS_DIR / "ur5e.urdf", ROBOTS_DIR / "burger.urdf", PANDA_URDF):
        model = mjspec_from_urdf(urdf_path).compile()
        bodies = [model.body(i).name for i in range(1, model.nbody)]
        assert sorted(bodies) == sorted(load_urdf(urdf_path).links), urdf_path.name


def test_missing_mesh_raises_mesh_not_found_naming_it(tmp_path: Path, pybullet_client: int) -> None:
    urdf = write_urdf(
        tmp_path,
        collision='<mesh filename="package://robot/meshes/missing_part.stl"/>',
        visual='<box size="0.1 0.1 0.1"/>',
    )
    with pytest.raises(MeshNotFoundError, match="missing_part.stl"):
        mjspec_from_urdf(urdf)
    with pytest.raises(MeshNotFoundError, match="missing_part.stl"):
        load_pybullet(urdf, pybullet_client)


def test_dae_collision_mesh_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    dae = write_mesh(tmp_path, "shell.dae", "<COLLADA/>")
    urdf = write_urdf(
        tmp_path,
        collision='<mesh filename="package://robot/meshes/shell.dae"/>',
        visual='<box size="0.1 0.1 0.1"/>',
    )
    with pytest.raises(UrdfError) as info:
        mjspec_from_urdf(urdf)
    assert info.value.problem == (f"collision mesh {dae} is .dae, which MuJoCo cannot read; convert it to .stl or .obj")
    assert info.value.path == urdf


def test_dae_visual_mesh_is_dropped_with_a_warning(tmp_path: Path) -> None:
    write_mesh(tmp_path, "shell.dae", "<COLLADA/>")
    write_mesh(tmp_path, "hull.obj")
    urdf = write_urdf(
        tmp_path,
        collision='<mesh filename="../meshes/hull.obj"/>',  # relative to the URDF's folder
        visual='<mesh filename="package://robot/meshes/shell.dae"/>',
    )
    with pytest.warns(MeshFormatWarning, match=r"tip: .*shell\.dae"):
        spec = mjspec_from_urdf(urdf)
    model = spec.compile()
    tip = model.body("tip").id
    geoms = np.flatnonzero(model.geom_bodyid == tip)
    assert geoms.size == 1, "the collision mesh stays, the visual is gone"
    assert model.geom_type[geoms[0]] == mujoco.mjtGeom.mjGEOM_MESH.value
    assert model.geom_contype[geoms[0]] != 0


def test_an_existing_mujoco_compiler_element_cannot_fuse_links(tmp_path: Path) -> None:
    write_mesh(tmp_path, "hull.obj")
    urdf = write_urdf(
        tmp_path,
        collision='<mesh filename="package://robot/meshes/hull.obj"/>',
        visual='<mesh filename="package://robot/meshes/hull.obj"/>',
        extension='<mujoco><compiler fusestatic="true" strippath="true" discardvisual="true" '
        'meshdir="elsewhere"/></mujoco>',
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped
        model = mjspec_from_urdf(urdf).compile()
    assert {model.body(i).name for i in range(model.nbody)} == {"world", "base", "tip", "marker"}
    tip = model.body("tip").id
    assert np.count_nonzero(model.geom_bodyid == tip) == 2, "the visual geom is kept"


def test_floating_base_adds_a_free_joint_to_the_root(tmp_path: Path) -> None:
    urdf = write_urdf(tmp_path, collision='<sphere radius="0.05"/>', visual='<sphere radius="0.05"/>')
    fixed = mjspec_from_urdf(urdf).compile()
    floating = mjspec_from_urdf(urdf, floating_base=True).compile()
    assert fixed.nq == 1 and floating.nq == 8
    joint = floating.joint(FLOATING_BASE_JOINT)
    assert joint.type[0] == mujoco.mjtJoint.mjJNT_FREE.value
    assert floating.body(joint.bodyid[0]).name == "base"


def test_floating_base_refuses_a_robot_fixed_to_the_world(tmp_path: Path) -> None:
    urdf = write_urdf(
        tmp_path,
        collision='<sphere radius="0.05"/>',
        visual='<sphere radius="0.05"/>',
        extension='<link name="world"/><joint name="to_world" type="fixed">'
        '<parent link="world"/><child link="base"/></joint>',
    )
    assert mjspec_from_urdf(urdf).compile().nq == 1
    with pytest.raises(UrdfError, match="'world'"):
        mjspec_from_urdf(urdf, floating_base=True)


def test_contact_friction_extension_is_applied() -> None:
    """burger.urdf gives its ball caster PyBullet's <contact> friction 0: frictionless in
    MuJoCo too, and winning over the floor's friction."""
    model = mjspec_from_urdf(ROBOTS_DIR / "burger.urdf").compile()
    caster = model.body("caster_back_link").id
    collision = [g for g in np.flatnonzero(model.geom_bodyid == caster) if model.geom_contype[g] != 0]
    assert collision
    for geom in collision:
        np.testing.assert_array_equal(model.geom_friction[geom], [0.0, 0.0, 0.0])
        assert model.geom_condim[geom] == 1 and model.geom_priority[geom] == 1


def test_the_two_links_of_a_joint_do_not_collide_even_at_the_world(tmp_path: Path) -> None:
    """MuJoCo filters parent-child contacts only between moving bodies; a link fixed to the
    world would collide with the first moving link, which URDF tools never do."""
    urdf = tmp_path / "overlap.urdf"
    box = '<collision><geometry><box size="0.2 0.2 0.2"/></geometry></collision>'
    urdf.write_text(f"""<robot name="overlap">
  <link name="base">{INERTIAL}{box}</link>
  <link name="arm">{INERTIAL}{box}</link>
  <joint name="hinge" type="revolute"><parent link="base"/><child link="arm"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-1" upper="1" effort="1" velocity="1"/></joint>
</robot>""")  # the boxes overlap by 0.1 m
    spec = mjspec_from_urdf(urdf)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert data.ncon == 0
    for exclude in list(spec.excludes):  # without the exclusion, they do collide
        spec.delete(exclude)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert data.ncon > 0
