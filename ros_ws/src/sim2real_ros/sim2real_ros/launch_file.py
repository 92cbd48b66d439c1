"""Read a ROS 2 YAML launch file (``*.launch.yaml``) into the nodes it starts.

Why this exists: on machines where ROS 2 comes from its pip wheels (rclpy and the message
packages), the ``launch``/``launch_ros`` Python packages and ``ros2cli`` are not available, so
``ros2 launch`` is not either. ``sim2real launch`` runs the same launch files there: this module
reads them with ROS launch's semantics, :mod:`sim2real_ros.launch_runner` starts the nodes. On a
full ROS 2 install, ``ros2 launch`` runs the same files unchanged.

Supported (``launch_yaml`` + ``launch_ros``; anything else is refused with a one-line error that
names the tag or key, the file, and what is supported; nothing is ignored silently):

- ``arg: {name, default?, description?, choice?: [{value}]}``: a launch argument. Its value comes
  from the command line (``name:=value``), else from an including file, else ``default``.
- ``let: {name, value}``: set a variable.
- ``include: {file, arg?: [{name, value}], let?: [...]}`` (or ``include: FILE``): read another
  YAML launch file as if written in place (ROS semantics: not scoped; wrap it in a ``group`` to
  scope it). Its ``arg`` entries are set before it is read, so they override the included file's
  defaults and, for that name, the command line.
- ``group: {scoped?, forwarding?, keep?: [{name, value}], children: [...]}``: scoped (default)
  restores variables and the pushed namespace afterwards; ``forwarding: false`` starts the group
  from the ``keep`` variables only.
- ``push-ros-namespace: {namespace}`` (or ``push_ros_namespace``): nodes after it, until the end
  of the enclosing scoped group, get this namespace (relative namespaces nest).
- ``node``: see :func:`sim2real_ros.launch_node.build_node`.
- ``if``/``unless`` on every action: true, false, 1, 0 in any case, else an error.
- substitutions: see :mod:`sim2real_ros.launch_substitutions`.

Command-line arguments that no ``arg`` of the file (or of the files it includes) declares are an
error, so that a misspelt ``robto:=arm`` does not go unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import yaml

from sim2real_ros.launch_errors import (
    ConditionError,
    ExecutableNotFoundError,
    LaunchArgumentError,
    LaunchError,
    LaunchFileError,
    LaunchRunError,
    PackageNotFoundError,
    SubstitutionError,
)
from sim2real_ros.launch_node import (
    NODE_KEYS,
    NodeSpec,
    build_node,
    check_keys,
    make_namespace_absolute,
    mapping_list,
    prefix_namespace,
    required,
)
from sim2real_ros.launch_substitutions import SubstitutionContext, as_bool, scalar_text

__all__ = [
    "ArgumentSpec",
    "ConditionError",
    "ExecutableNotFoundError",
    "LaunchArgumentError",
    "LaunchDescription",
    "LaunchError",
    "LaunchFileError",
    "LaunchRunError",
    "NodeSpec",
    "PackageNotFoundError",
    "SubstitutionError",
    "declared_arguments",
    "load_launch",
]

ACTIONS = ("arg", "let", "include", "group", "push-ros-namespace", "push_ros_namespace", "node")
_CONDITION = ("if", "unless")
_KEYS: dict[str, tuple[str, ...]] = {
    "arg": ("name", "default", "description", "choice", *_CONDITION),
    "let": ("name", "value", *_CONDITION),
    "include": ("file", "arg", "let", *_CONDITION),
    "group": ("scoped", "forwarding", "keep", "children", *_CONDITION),
    "push-ros-namespace": ("namespace", *_CONDITION),
    "push_ros_namespace": ("namespace", *_CONDITION),
    "node": NODE_KEYS,
}
MAX_INCLUDE_DEPTH = 32


@dataclass(frozen=True)
class ArgumentSpec:
    """A declared launch argument.

    :param name: its name (``name:=value`` on the command line).
    :param value: the value it took.
    :param default: the default as written (substitutions unevaluated), or ``None`` if required.
    :param description: its description, ``""`` if none.
    :param file: the launch file that declares it.
    """

    name: str
    value: str
    default: str | None
    description: str
    file: Path


@dataclass(frozen=True)
class LaunchDescription:
    """A launch file resolved: what :class:`~sim2real_ros.launch_runner.LaunchRunner` starts.

    :param file: the launch file that was loaded (absolute).
    :param nodes: the nodes to start, in order, with unique labels.
    :param arguments: the launch arguments declared on the way (included files' too).
    :param configurations: every variable's final value (launch arguments and ``let``).
    """

    file: Path
    nodes: tuple[NodeSpec, ...]
    arguments: tuple[ArgumentSpec, ...] = ()
    configurations: Mapping[str, str] = field(default_factory=dict)


def _read_actions(path: Path) -> list[object]:
    """The ``launch:`` list of a YAML launch file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise LaunchFileError(f"cannot read launch file {path}: {err.strerror}") from err
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise LaunchFileError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from err
    if not isinstance(tree, dict) or list(tree) != ["launch"]:
        raise LaunchFileError(f"{path}: a YAML launch file is a mapping with the one key 'launch' (a list of actions)")
    actions = tree["launch"]
    if actions is None:
        return []
    if not isinstance(actions, list):
        raise LaunchFileError(f"{path}: 'launch' must be a list of actions (- node: ..., - arg: ...)")
    return actions


def _split(entity: object, file: Path) -> tuple[str, dict[str, object]]:
    """An action's tag and body; refuses what is not one of :data:`ACTIONS`."""
    if not isinstance(entity, dict) or len(entity) != 1:
        raise LaunchFileError(
            f"{file}: each action is a mapping with one key, the action's tag ({', '.join(ACTIONS)}); got {entity!r}"
        )
    tag, body = next(iter(entity.items()))
    if tag not in ACTIONS:
        raise LaunchFileError(
            f"{file}: unsupported action {tag!r}; sim2real launch supports {', '.join(ACTIONS)} "
            "(the ROS 2 YAML launch frontend's other tags need ros2 launch)"
        )
    if tag == "include" and isinstance(body, str):
        body = {"file": body}
    if not isinstance(body, dict):
        raise LaunchFileError(f"{file}: {tag} must be a mapping of its keys, got {body!r}")
    return str(tag), cast(dict[str, object], body)


def _validate(actions: list[object], file: Path) -> None:
    """Check every action's tag and keys, in branches that will be skipped too: ROS launch
    parses the whole file before it runs anything, so a typo fails there whatever the arguments."""
    for entity in actions:
        tag, body = _split(entity, file)
        check_keys(tag, body, _KEYS[tag], file)
        if tag == "group" and isinstance(body.get("children"), list):
            _validate(cast(list[object], body["children"]), file)


class _Loader:
    """Visits actions in order, the way ROS launch executes them, keeping the variables."""

    def __init__(self, arguments: Mapping[str, str], allow_unsafe: bool) -> None:
        self.cli = dict(arguments)
        # Command-line arguments are variables from the start, as in ros2 launch.
        self.configurations: dict[str, str] = dict(arguments)
        self.allow_unsafe = allow_unsafe
        self.declared: list[ArgumentSpec] = []
        self.accepted: set[str] = set()  # argument names declared anywhere, skipped branches too
        self.nodes: list[NodeSpec] = []
        self.stack: list[Path] = []

    def context(self, file: Path) -> SubstitutionContext:
        return SubstitutionContext(file, self.configurations, self.allow_unsafe)

    def text(self, value: object, file: Path, what: str) -> str:
        return scalar_text(value, self.context(file), what)

    def load(self, path: Path) -> None:
        if path in self.stack:
            raise LaunchFileError(f"{self.stack[-1]}: includes {path}, which is already being read (an include cycle)")
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise LaunchFileError(f"{path}: includes nest deeper than {MAX_INCLUDE_DEPTH} files")
        self.stack.append(path)
        try:
            actions = _read_actions(path)
            _validate(actions, path)
            self.visit(actions, path)
        finally:
            self.stack.pop()

    def visit(self, actions: list[object], file: Path) -> None:
        for entity in actions:
            tag, body = _split(entity, file)
            if not self.condition(tag, body, file):
                self.note_skipped(tag, body)
                continue
            getattr(self, "do_" + tag.replace("-", "_"))(body, file)

    def condition(self, tag: str, body: Mapping[str, object], file: Path) -> bool:
        if "if" in body and "unless" in body:
            raise LaunchFileError(f"{file}: {tag} has both if and unless; use one")
        for key, wanted in (("if", True), ("unless", False)):
            if key in body:
                return as_bool(self.text(body[key], file, f"{tag} {key}"), file, f"{tag} {key}") is wanted
        return True

    def note_skipped(self, tag: str, body: Mapping[str, object]) -> None:
        """Accept, on the command line, the arguments that a skipped branch would declare."""
        if tag == "arg" and isinstance(body.get("name"), str):
            self.accepted.add(str(body["name"]))
        children = body.get("children") if tag == "group" else None
        for child in children if isinstance(children, list) else []:
            if isinstance(child, dict) and len(child) == 1:
                child_tag, child_body = next(iter(child.items()))
                if isinstance(child_body, dict):
                    self.note_skipped(child_tag, child_body)

    def do_arg(self, body: Mapping[str, object], file: Path) -> None:
        name = required(body, "name", "arg", file)
        if not isinstance(name, str):
            raise LaunchFileError(f"{file}: arg name must be a string, got {name!r}")
        self.accepted.add(name)
        description = str(body.get("description") or "")
        default = body.get("default")
        if name not in self.configurations:
            if default is None:
                about = f" ({description})" if description else ""
                raise LaunchArgumentError(
                    f"{file}: launch argument {name!r}{about} is required and has no default; pass {name}:=VALUE"
                )
            self.configurations[name] = self.text(default, file, f"arg {name} default")
        value = self.configurations[name]
        choices = [
            self.text(required(c, "value", "arg choice", file), file, "arg choice")
            for c in mapping_list(body.get("choice"), f"arg {name} choice", file)
        ]
        if choices and value not in choices:
            raise LaunchArgumentError(
                f"{file}: launch argument {name!r} is {value!r}; it must be one of {', '.join(choices)}"
            )
        shown = default if isinstance(default, str) or default is None else self.text(default, file, "arg default")
        self.declared.append(ArgumentSpec(name, value, shown, description, file))

    def do_let(self, body: Mapping[str, object], file: Path) -> None:
        name = self.text(required(body, "name", "let", file), file, "let name")
        self.configurations[name] = self.text(required(body, "value", "let", file), file, f"let {name} value")

    def do_include(self, body: Mapping[str, object], file: Path) -> None:
        written = self.text(required(body, "file", "include", file), file, "include file")
        path = Path(os.path.abspath(written))  # relative to the working directory, as in ROS
        if not path.is_file():
            raise LaunchFileError(
                f"{file}: included launch file {written} does not exist; write a path relative to the including "
                "file as $(dirname)/NAME.launch.yaml"
            )
        if not path.name.endswith((".yaml", ".yml")):
            raise LaunchFileError(
                f"{file}: cannot include {path}: sim2real launch reads YAML launch files (*.launch.yaml) only"
            )
        for key in ("arg", "let"):
            for entry in mapping_list(body.get(key), f"include {key}", file):
                check_keys(f"include {key}", entry, ("name", "value"), file)
                name = self.text(required(entry, "name", f"include {key}", file), file, f"include {key} name")
                value = required(entry, "value", f"include {key}", file)
                self.configurations[name] = self.text(value, file, f"include {key} {name} value")
        self.load(path)

    def do_group(self, body: Mapping[str, object], file: Path) -> None:
        def flag(key: str) -> bool:
            if body.get(key) is None:
                return True
            return as_bool(self.text(body[key], file, f"group {key}"), file, f"group {key}")

        scoped, forwarding = flag("scoped"), flag("forwarding")
        keep: dict[str, str] = {}
        for entry in mapping_list(body.get("keep"), "group keep", file):
            check_keys("group keep", entry, ("name", "value"), file)
            name = self.text(required(entry, "name", "group keep", file), file, "group keep name")
            keep[name] = self.text(required(entry, "value", "group keep", file), file, f"group keep {name} value")
        children = body.get("children")
        if children is not None and not isinstance(children, list):
            raise LaunchFileError(f"{file}: group children must be a list of actions, got {children!r}")
        saved = dict(self.configurations)
        if scoped and not forwarding:
            self.configurations.clear()
        self.configurations.update(keep)
        try:
            self.visit(children or [], file)
        finally:
            if scoped:
                self.configurations.clear()
                self.configurations.update(saved)

    def do_push_ros_namespace(self, body: Mapping[str, object], file: Path) -> None:
        pushed = self.text(required(body, "namespace", "push-ros-namespace", file), file, "push-ros-namespace")
        combined = prefix_namespace(self.configurations.get("ros_namespace"), pushed)
        self.configurations["ros_namespace"] = make_namespace_absolute(combined) or "/"

    def do_node(self, body: Mapping[str, object], file: Path) -> None:
        self.nodes.append(build_node(body, self.context(file)))


def _unique_labels(nodes: list[NodeSpec]) -> tuple[NodeSpec, ...]:
    """Labels made unique in launch order: ``talker``, ``talker-2``, ..."""
    taken: set[str] = set()
    result = []
    for node in nodes:
        label, count = node.label, 1
        while label in taken:
            count += 1
            label = f"{node.label}-{count}"
        taken.add(label)
        result.append(replace(node, label=label))
    return tuple(result)


def load_launch(
    path: str | os.PathLike[str], arguments: Mapping[str, str] | None = None, *, allow_unsafe: bool = False
) -> LaunchDescription:
    """Read a YAML launch file and everything it includes into the nodes to start.

    :param path: the ``*.launch.yaml`` file.
    :param arguments: launch argument values by name (``name:=value`` on the command line).
    :param allow_unsafe: allow ``$(eval ...)`` and ``$(command ...)``, which run code.
    :raises LaunchError: any problem, as a one-line message naming the file and the fix.
    """
    file = Path(os.path.abspath(path))
    if not file.is_file():
        raise LaunchFileError(f"launch file {path} does not exist")
    loader = _Loader(arguments or {}, allow_unsafe)
    loader.load(file)
    undeclared = sorted(set(loader.cli) - loader.accepted)
    if undeclared:
        declared = ", ".join(sorted(loader.accepted)) or "none"
        raise LaunchArgumentError(
            f"{file}: {', '.join(f'{name}:=' for name in undeclared)} is not a launch argument of this file or "
            f"of the files it includes (declared: {declared})"
        )
    return LaunchDescription(file, _unique_labels(loader.nodes), tuple(loader.declared), dict(loader.configurations))


def declared_arguments(path: str | os.PathLike[str]) -> tuple[ArgumentSpec, ...]:
    """The ``arg`` actions of a launch file (inside groups too, not in the files it includes),
    read without evaluating anything, so that it works before the required values are known:
    what ``sim2real launch FILE --show-args`` lists. ``value`` is the default as written, or
    ``""`` for a required argument.

    :raises LaunchFileError: the file cannot be read or is not a YAML launch file.
    """
    file = Path(os.path.abspath(path))
    found: list[ArgumentSpec] = []

    def walk(actions: list[object]) -> None:
        for entity in actions:
            tag, body = _split(entity, file)
            if tag == "arg" and isinstance(body.get("name"), str):
                default = body.get("default")
                shown = None if default is None else str(default)
                found.append(
                    ArgumentSpec(str(body["name"]), shown or "", shown, str(body.get("description") or ""), file)
                )
            elif tag == "group" and isinstance(body.get("children"), list):
                walk(cast(list[object], body["children"]))

    walk(_read_actions(file))
    return tuple(found)
