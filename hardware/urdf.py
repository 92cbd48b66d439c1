"""Reading URDF files: joints, limits and the link tree, and finding the meshes they name.

Written on the standard library on purpose: ``hardware`` must import on a robot computer with
only numpy and PyYAML, and the URDF parsers on PyPI (urdfpy, yourdfpy) pull in trimesh and
networkx. We read only what the robot contract needs; the simulators read the full file.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

from hardware.errors import MeshNotFoundError, UrdfError

JointType = Literal["revolute", "continuous", "prismatic", "fixed", "floating", "planar"]
_JOINT_TYPES: tuple[str, ...] = get_args(JointType)

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class UrdfJoint:
    """One ``<joint>`` of a URDF.

    Limits are as the file gives them: ``lower``/``upper`` in rad (m for prismatic joints),
    ``velocity`` in rad/s (m/s), ``effort`` in N·m (N); ``None`` where the file has none.
    """

    name: str
    type: JointType
    parent: str
    child: str
    origin_xyz: Vec3
    origin_rpy: Vec3
    axis: Vec3
    lower: float | None
    upper: float | None
    velocity: float | None
    effort: float | None
    mimic: str | None

    @property
    def movable(self) -> bool:
        """True for the one-degree-of-freedom joints a controller can command."""
        return self.type in ("revolute", "continuous", "prismatic")


@dataclass(frozen=True)
class UrdfModel:
    """The parts of a URDF the robot contract needs."""

    path: Path
    name: str
    links: tuple[str, ...]
    joints: tuple[UrdfJoint, ...]
    root_link: str

    def joint(self, name: str) -> UrdfJoint:
        """The joint called ``name``; raises ``KeyError`` listing the joints there are."""
        for joint in self.joints:
            if joint.name == name:
                return joint
        raise KeyError(f"joint '{name}' is not in {self.path.name} (joints: {self.joint_names})")

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(joint.name for joint in self.joints)

    @property
    def movable_joint_names(self) -> tuple[str, ...]:
        return tuple(joint.name for joint in self.joints if joint.movable and joint.mimic is None)


def load_urdf(path: Path | str) -> UrdfModel:
    """Read and check a URDF file.

    :param path: the ``.urdf`` file (xacro must be expanded first).
    :raises UrdfError: the file is missing, not XML, or not a valid robot tree; the message names
        the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UrdfError(path, f"cannot read the URDF ({err.strerror}); check the path") from err
    return parse_urdf(text, path=path)


def parse_urdf(text: str, *, path: Path | str = "<string>") -> UrdfModel:
    """Parse URDF text; ``path`` is used in error messages and to resolve relative meshes."""
    path = Path(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise UrdfError(path, f"not valid XML ({err}); fix the markup (is it still xacro?)") from err
    if root.tag != "robot":
        raise UrdfError(path, f"root element is <{root.tag}>, expected <robot>; is this a URDF?")
    name = root.get("name")
    if not name:
        raise UrdfError(path, '<robot> has no name attribute; add name="..."')

    links = tuple(_required(link, "name", path, "<link>") for link in root.findall("link"))
    if not links:
        raise UrdfError(path, "the robot has no <link>; a URDF needs at least one")
    duplicates = sorted({link for link in links if links.count(link) > 1})
    if duplicates:
        raise UrdfError(path, f"link names used twice: {duplicates}; link names must be unique")

    joints = tuple(_parse_joint(element, path, set(links)) for element in root.findall("joint"))
    root_link = _check_tree(path, links, joints)
    return UrdfModel(path=path, name=name, links=links, joints=joints, root_link=root_link)


def _parse_joint(element: ET.Element, path: Path, links: set[str]) -> UrdfJoint:
    name = _required(element, "name", path, "<joint>")
    joint_type = _required(element, "type", path, f"joint '{name}'")
    if joint_type not in _JOINT_TYPES:
        raise UrdfError(path, f"joint '{name}' has type '{joint_type}'; use one of {_JOINT_TYPES}")
    ends = {}
    for end in ("parent", "child"):
        tag = element.find(end)
        link = tag.get("link") if tag is not None else None
        if not link:
            raise UrdfError(path, f"joint '{name}' has no <{end} link=...>; add it")
        if link not in links:
            raise UrdfError(path, f"joint '{name}' names {end} link '{link}', which is not defined")
        ends[end] = link

    origin = element.find("origin")
    xyz = _vector(origin, "xyz", (0.0, 0.0, 0.0), path, name)
    rpy = _vector(origin, "rpy", (0.0, 0.0, 0.0), path, name)
    axis = _vector(element.find("axis"), "xyz", (1.0, 0.0, 0.0), path, name)
    if joint_type in ("revolute", "continuous", "prismatic") and math.hypot(*axis) < 1e-9:
        raise UrdfError(path, f"joint '{name}' has a zero axis; give <axis xyz> a direction")

    limit = element.find("limit")
    lower = upper = velocity = effort = None
    if limit is None and joint_type in ("revolute", "prismatic"):
        raise UrdfError(path, f"joint '{name}' ({joint_type}) has no <limit>; URDF requires one for it")
    if limit is not None:
        lower = _number(limit, "lower", path, name)
        upper = _number(limit, "upper", path, name)
        velocity = _number(limit, "velocity", path, name)
        effort = _number(limit, "effort", path, name)
        if joint_type in ("revolute", "prismatic"):
            lower = 0.0 if lower is None else lower  # the URDF spec's defaults
            upper = 0.0 if upper is None else upper
            if lower > upper:
                raise UrdfError(
                    path,
                    f"joint '{name}' has lower limit {lower} above upper limit {upper}; swap them",
                )
        for label, value in (("velocity", velocity), ("effort", effort)):
            if value is not None and value < 0:
                raise UrdfError(
                    path,
                    f"joint '{name}' has a negative {label} limit ({value}); "
                    "URDF limits are magnitudes, make it positive",
                )
    mimic = element.find("mimic")
    return UrdfJoint(
        name=name,
        type=cast(JointType, joint_type),
        parent=ends["parent"],
        child=ends["child"],
        origin_xyz=xyz,
        origin_rpy=rpy,
        axis=axis,
        lower=lower,
        upper=upper,
        velocity=velocity,
        effort=effort,
        mimic=mimic.get("joint") if mimic is not None else None,
    )


def _check_tree(path: Path, links: Sequence[str], joints: Sequence[UrdfJoint]) -> str:
    """Check the joints form one tree over the links; returns the root link."""
    names = [joint.name for joint in joints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UrdfError(path, f"joint names used twice: {duplicates}; joint names must be unique")
    parent_of: dict[str, str] = {}
    for joint in joints:
        if joint.child in parent_of:
            raise UrdfError(path, f"link '{joint.child}' is the child of two joints; a URDF must be a tree")
        parent_of[joint.child] = joint.parent
    roots = [link for link in links if link not in parent_of]
    if len(roots) != 1:
        problem = "no root link (the joints form a cycle)" if not roots else f"roots {roots}"
        raise UrdfError(path, f"the links do not form one tree: {problem}; connect them")
    for link in links:  # walk up from every link: a cycle would never reach the root
        seen = {link}
        while link in parent_of:
            link = parent_of[link]
            if link in seen:
                raise UrdfError(path, f"the joints form a cycle through link '{link}'")
            seen.add(link)
    return roots[0]


def _required(element: ET.Element, attribute: str, path: Path, what: str) -> str:
    value = element.get(attribute)
    if not value:
        raise UrdfError(path, f"{what} has no '{attribute}' attribute; add it")
    return value


def _number(element: ET.Element, attribute: str, path: Path, joint: str) -> float | None:
    text = element.get(attribute)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError as err:
        raise UrdfError(path, f"joint '{joint}': {attribute}=\"{text}\" is not a number; write a number") from err
    if math.isnan(value):
        raise UrdfError(path, f"joint '{joint}': {attribute} is NaN; write a number")
    return value


def _vector(element: ET.Element | None, attribute: str, default: Vec3, path: Path, joint: str) -> Vec3:
    if element is None or element.get(attribute) is None:
        return default
    text = element.get(attribute, "")
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError as err:
        raise UrdfError(path, f"joint '{joint}': {attribute}=\"{text}\" is not 3 numbers") from err
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise UrdfError(path, f"joint '{joint}': {attribute}=\"{text}\" is not 3 finite numbers")
    return (values[0], values[1], values[2])


# --- meshes -------------------------------------------------------------------------------------


def mesh_search_path(urdf_path: Path | str, extra: Iterable[Path | str] = ()) -> list[Path]:
    """The folders searched for ``package://`` and relative mesh paths, in order.

    ``extra`` first (what the user asked for), then the URDF's folder and three of its parents
    (``pkg/urdf/robot.urdf`` next to ``pkg/meshes/``), then ``ROS_PACKAGE_PATH`` and the ``share``
    folder of every ``AMENT_PREFIX_PATH`` prefix, as ROS 1 and ROS 2 resolve packages.
    """
    folder = Path(urdf_path).resolve().parent
    paths = [Path(p) for p in extra]
    paths += [folder, *list(folder.parents)[:3]]
    for variable, suffix in (("ROS_PACKAGE_PATH", ""), ("AMENT_PREFIX_PATH", "share")):
        for entry in os.environ.get(variable, "").split(os.pathsep):
            if entry:
                paths.append(Path(entry) / suffix)
    return paths


def resolve_mesh_path(uri: str, *, urdf_path: Path | str, search_path: Sequence[Path]) -> Path:
    """Find the file a URDF ``filename`` names.

    :param uri: ``package://PKG/rest``, ``file:///abs``, an absolute path or one relative to the
        URDF's folder.
    :param urdf_path: the URDF, for relative paths and error messages.
    :param search_path: folders to look in (see :func:`mesh_search_path`).
    :raises MeshNotFoundError: nothing matched; the message lists where it looked.
    """
    urdf_path = Path(urdf_path)
    candidates: list[Path] = []
    if uri.startswith("package://"):
        package, _, rest = uri.removeprefix("package://").partition("/")
        for folder in search_path:
            candidates.append(folder / package / rest)
            if folder.name == package:
                candidates.append(folder / rest)
    elif uri.startswith("file://"):
        candidates.append(Path(uri.removeprefix("file://")))
    elif Path(uri).is_absolute():
        candidates.append(Path(uri))
    else:
        candidates.append(urdf_path.resolve().parent / uri)
        candidates += [folder / uri for folder in search_path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(sorted({str(c.parent) for c in candidates})[:6])
    raise MeshNotFoundError(
        urdf_path,
        f"mesh '{uri}' not found (looked in {looked}); pass its package's parent folder in "
        "the search path or set ROS_PACKAGE_PATH",
    )


def urdf_with_absolute_mesh_paths(urdf_path: Path | str, *, search_path: Iterable[Path | str] = ()) -> str:
    """The URDF's text with every ``<mesh filename>`` replaced by an absolute path.

    Simulators then load it from a string without knowing about ROS packages.
    """
    urdf_path = Path(urdf_path)
    load_urdf(urdf_path)  # validates first, so simulators never see a malformed file
    root = ET.fromstring(urdf_path.read_text())
    folders = mesh_search_path(urdf_path, search_path)
    for mesh in root.iter("mesh"):
        uri = mesh.get("filename")
        if uri:
            resolved = resolve_mesh_path(uri, urdf_path=urdf_path, search_path=folders)
            mesh.set("filename", str(resolved))
    return ET.tostring(root, encoding="unicode")
