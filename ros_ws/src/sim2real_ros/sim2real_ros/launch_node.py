"""The ``node`` action of a YAML launch file, resolved to the command line that starts it.

The command line is the one ``launch_ros.actions.Node`` builds::

    EXECUTABLE ARGS... --ros-args ROS_ARGS... [-r __node:=NAME] [-r __ns:=NS]
        (-p NAME:=VALUE | --params-file FILE)... (-r FROM:=TO)...

rclpy parses everything after ``--ros-args`` itself. Parameters keep the order they are written
in (a later one overrides an earlier one); each value is written as YAML (``5``, ``'5'``,
``[1, 2]``) so that its type survives. ``ROS_ARGS`` come first because the first remapping rule
that matches wins in rcl, which lets a user's ``-r __node:=...`` override ``name``.

The executable: ``<prefix>/lib/<pkg>/<exec>`` under a prefix of :func:`ament_prefixes` (where
colcon installs an ament_python package's console scripts), else the Python module
``<pkg>.<exec>`` run with ``python -m`` (a pip-installed package such as ``sim2real_ros``).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import yaml

from sim2real_ros.launch_errors import ExecutableNotFoundError, LaunchFileError
from sim2real_ros.launch_substitutions import (
    SubstitutionContext,
    ament_prefixes,
    as_bool,
    parse_template,
    resolve_pieces,
    scalar_text,
    substitute,
)

Output = Literal["screen", "log", "both"]
OUTPUTS: tuple[Output, ...] = ("screen", "log", "both")
NODE_KEYS = (
    "pkg",
    "exec",
    "name",
    "namespace",
    "exec_name",
    "args",
    "ros_args",
    "param",
    "remap",
    "env",
    "cwd",
    "output",
    "respawn",
    "respawn_delay",
    "respawn_max_retries",
    "on_exit",
    "if",
    "unless",
)
Scalar = bool | int | float | str
ParameterValue = Scalar | list[Scalar]


@dataclass(frozen=True)
class NodeSpec:
    """A node as it will be started.

    :param label: the node's name in the runner's output (``[label] line``) and log file name:
        ``exec_name``, else ``name``, else ``exec``, made unique within the launch.
    :param package: ``pkg``.
    :param executable: ``exec``.
    :param name: the node name it is given (``-r __node:=``), or ``None`` for the node's own.
    :param namespace: its absolute namespace, pushed group namespaces included, or ``None``.
    :param cmd: the full command line, executable first.
    :param env: environment variables added to the runner's for this node.
    :param cwd: its working directory, or ``None`` for the runner's.
    :param output: ``screen`` (lines printed with the label), ``log`` (written to a file), ``both``.
    :param respawn: restart it when it exits (unless the launch is shutting down).
    :param respawn_delay_s: seconds between its exit and the restart.
    :param respawn_max_retries: restarts allowed; negative: no limit.
    :param shutdown_on_exit: ``on_exit: shutdown``: its exit shuts the whole launch down.
    :param file: the launch file that declares it.
    """

    label: str
    package: str
    executable: str
    name: str | None
    namespace: str | None
    cmd: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    output: Output = "screen"
    respawn: bool = False
    respawn_delay_s: float = 0.0
    respawn_max_retries: int = -1
    shutdown_on_exit: bool = False
    file: Path = Path()

    def command_line(self) -> str:
        """The command as a shell line, with its added environment in front (``A=1 cmd ...``)."""
        env = [f"{key}={shlex.quote(value)}" for key, value in self.env.items()]
        return " ".join([*env, shlex.join(self.cmd)])


def check_keys(tag: str, body: Mapping[str, object], allowed: tuple[str, ...], file: Path) -> None:
    """Refuse a key of ``tag`` that is not in ``allowed``, naming it, the file, and what is supported."""
    for key in body:
        if key not in allowed:
            raise LaunchFileError(
                f"{file}: unsupported key {key!r} in {tag}; sim2real launch supports {', '.join(allowed)}"
            )


def mapping_list(value: object, what: str, file: Path) -> list[dict[str, object]]:
    """``value`` as a list of mappings (``param:``, ``remap:``, ``env:`` entries)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise LaunchFileError(f"{file}: {what} must be a list of mappings (- name: ... value: ...), got {value!r}")
    return cast(list[dict[str, object]], value)


def required(body: Mapping[str, object], key: str, tag: str, file: Path) -> object:
    """``body[key]``, or an error saying that ``tag`` needs ``key``."""
    if key not in body or body[key] is None:
        raise LaunchFileError(f"{file}: {tag} needs {key!r}")
    return body[key]


def prefix_namespace(base: str | None, namespace: str | None) -> str | None:
    """``namespace`` under ``base`` unless it is absolute (``launch_ros.utilities.prefix_namespace``)."""
    if namespace is None:
        combined = base
    elif base is None or namespace.startswith("/"):
        combined = namespace
    else:
        combined = base.rstrip("/") + "/" + namespace
    if combined is not None and combined != "/":
        combined = combined.rstrip("/")
    return combined


def make_namespace_absolute(namespace: str | None) -> str | None:
    """``namespace`` with a leading ``/``."""
    if namespace is None or namespace.startswith("/"):
        return namespace
    return "/" + namespace


def split_command_line(raw: object, context: SubstitutionContext, what: str) -> list[str]:
    """``args``/``ros_args`` as arguments: literal text is split like a shell line, a
    substitution's value stays inside the argument it is part of (ROS ``_parse_cmdline``)."""
    if raw is None:
        return []
    if not isinstance(raw, str):
        return [scalar_text(raw, context, what)]
    text = raw
    result: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            result.append("".join(current))
            current.clear()

    for piece, literal in resolve_pieces(parse_template(text, context.file), context):
        if not literal:
            current.append(piece)
            continue
        try:
            tokens = shlex.split(piece)
        except ValueError as err:
            raise LaunchFileError(f"{context.file}: {what} {text!r} cannot be split: {err}") from err
        if not tokens:
            close()
            continue
        if piece[0].isspace():
            close()
        current.append(tokens[0])
        if len(tokens) > 1:
            close()
            result.extend(tokens[1:-1])
            current.append(tokens[-1])
        if piece[-1].isspace():
            close()
    close()
    return result


def yaml_typed(text: str) -> ParameterValue:
    """A substituted parameter string read as YAML, as launch_ros does: ``"5"`` -> 5,
    ``"[1, 2]"`` -> [1, 2], ``"'5'"`` -> ``"5"``; anything else stays the string."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(loaded, (bool, int, float, str)):
        return loaded
    if isinstance(loaded, list) and _uniform(loaded):
        return cast(list[Scalar], loaded)
    return text


def _uniform(values: list[object]) -> bool:
    scalars = all(isinstance(v, (bool, int, float, str)) for v in values)
    return bool(values) and scalars and len(set(map(type, values))) == 1


def parameter_value(raw: object, context: SubstitutionContext, name: str) -> ParameterValue:
    """A ``param`` entry's ``value``: strings substituted then YAML-typed, numbers and booleans as
    they are, lists element by element (strings substituted, not retyped) and of one type."""
    if isinstance(raw, str):
        return yaml_typed(substitute(raw, context))
    if isinstance(raw, (bool, int, float)):
        return raw
    if isinstance(raw, list):
        values = [substitute(v, context) if isinstance(v, str) else v for v in raw]
        if not _uniform(values):
            raise LaunchFileError(
                f"{context.file}: parameter {name!r}: a list value must be non-empty and of one type "
                f"(all integers, all floats, all strings or all booleans), got {raw!r}"
            )
        return cast(list[Scalar], values)
    raise LaunchFileError(
        f"{context.file}: parameter {name!r}: value must be a scalar or a list, got {type(raw).__name__} {raw!r}; "
        "nest parameters with param: [...] instead of a mapping"
    )


def render_parameter(value: ParameterValue) -> str:
    """``value`` as the YAML text of a ``-p NAME:=VALUE`` rule (rcl reads it as YAML)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2**31 - 1, allow_unicode=True)
    return text.removesuffix("\n...\n").rstrip("\n")


def _parameter_rules(
    entry: Mapping[str, object], prefix: str, context: SubstitutionContext
) -> list[tuple[str, ParameterValue]]:
    check_keys("param", entry, ("name", "value", "param"), context.file)
    name = prefix + scalar_text(required(entry, "name", "param", context.file), context, "param name")
    if "value" in entry and "param" in entry:
        raise LaunchFileError(f"{context.file}: parameter {name!r} has both value and nested param; keep one")
    if "value" in entry:
        return [(name, parameter_value(entry["value"], context, name))]
    if "param" in entry:
        rules: list[tuple[str, ParameterValue]] = []
        for child in mapping_list(entry["param"], f"parameter {name!r} param", context.file):
            rules += _parameter_rules(child, name + ".", context)
        return rules
    raise LaunchFileError(f"{context.file}: parameter {name!r} needs a value (or nested param entries)")


def parameter_arguments(entries: list[dict[str, object]], context: SubstitutionContext) -> list[str]:
    """The ``-p``/``--params-file`` arguments of a node's ``param`` list, in order."""
    arguments: list[str] = []
    for entry in entries:
        if "from" not in entry:
            for name, value in _parameter_rules(entry, "", context):
                arguments += ["-p", f"{name}:={render_parameter(value)}"]
            continue
        check_keys("param (with from)", entry, ("from",), context.file)
        path = Path(scalar_text(entry["from"], context, "param from")).absolute()
        if not path.is_file():
            raise LaunchFileError(
                f"{context.file}: parameter file {path} does not exist; write its path relative to this "
                "launch file as $(dirname)/NAME.yaml"
            )
        arguments += ["--params-file", str(path)]
    return arguments


def _python_module(package: str, executable: str) -> str | None:
    """``package.executable`` if it is a Python module (looked up without importing anything)."""
    if not (package.isidentifier() and executable.isidentifier()):
        return None
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        folder = Path(location)
        if (folder / f"{executable}.py").is_file() or (folder / executable / "__main__.py").is_file():
            return f"{package}.{executable}"
    return None


def resolve_executable(package: str, executable: str, file: Path) -> tuple[str, ...]:
    """The command that runs ``executable`` of ``package`` (see the module docstring).

    :raises ExecutableNotFoundError: neither an installed executable nor a Python module.
    """
    prefixes = ament_prefixes()
    for prefix in prefixes:
        candidate = prefix / "lib" / package / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return (str(candidate),)
    module = _python_module(package, executable)
    if module is not None:
        return (sys.executable, "-m", module)
    raise ExecutableNotFoundError(
        f"{file}: node pkg {package!r} exec {executable!r}: found no executable lib/{package}/{executable} under "
        f"{', '.join(str(p) for p in prefixes)} and no Python module {package}.{executable}; install the package "
        "(colcon build, then source install/setup.bash; or pip install) or correct pkg/exec"
    )


def build_node(body: Mapping[str, object], context: SubstitutionContext) -> NodeSpec:
    """The :class:`NodeSpec` of one ``node`` action (its condition already checked).

    :param body: the action's mapping; every key is checked against :data:`NODE_KEYS`.
    :param context: substitutions in scope; ``ros_namespace`` in its configurations is the
        namespace pushed by ``push-ros-namespace``.
    """
    file = context.file
    check_keys("node", body, NODE_KEYS, file)

    def text(key: str) -> str | None:
        return None if body.get(key) is None else scalar_text(body[key], context, f"node {key}")

    package = scalar_text(required(body, "pkg", "node", file), context, "node pkg")
    executable = scalar_text(required(body, "exec", "node", file), context, "node exec")
    name = text("name")
    namespace = make_namespace_absolute(
        prefix_namespace(context.configurations.get("ros_namespace"), text("namespace"))
    )
    cmd = [*resolve_executable(package, executable, file)]
    cmd += split_command_line(body.get("args"), context, "node args")
    cmd += ["--ros-args", *split_command_line(body.get("ros_args"), context, "node ros_args")]
    if name is not None:
        cmd += ["-r", f"__node:={name}"]
    if namespace is not None:
        cmd += ["-r", f"__ns:={namespace}"]
    cmd += parameter_arguments(mapping_list(body.get("param"), "node param", file), context)
    for remap in mapping_list(body.get("remap"), "node remap", file):
        check_keys("remap", remap, ("from", "to"), file)
        source = scalar_text(required(remap, "from", "remap", file), context, "remap from")
        cmd += ["-r", f"{source}:={scalar_text(required(remap, 'to', 'remap', file), context, 'remap to')}"]
    env: dict[str, str] = {}
    for entry in mapping_list(body.get("env"), "node env", file):
        check_keys("env", entry, ("name", "value"), file)
        key = scalar_text(required(entry, "name", "env", file), context, "env name")
        env[key] = scalar_text(required(entry, "value", "env", file), context, "env value")

    output = text("output") or "screen"
    if output not in OUTPUTS:
        raise LaunchFileError(f"{file}: node output is {output!r}; sim2real launch supports {', '.join(OUTPUTS)}")
    on_exit = text("on_exit")
    if on_exit not in (None, "shutdown"):
        raise LaunchFileError(f"{file}: node on_exit is {on_exit!r}; the only on_exit action supported is shutdown")
    try:
        delay_s = float(text("respawn_delay") or 0.0)
        retries = int(text("respawn_max_retries") or -1)
    except ValueError as err:
        raise LaunchFileError(f"{file}: node respawn_delay/respawn_max_retries must be numbers: {err}") from err
    if delay_s < 0.0:
        raise LaunchFileError(f"{file}: node respawn_delay is {delay_s}; it must be 0 or more seconds")
    return NodeSpec(
        label=text("exec_name") or name or executable,
        package=package,
        executable=executable,
        name=name,
        namespace=namespace,
        cmd=tuple(cmd),
        env=env,
        cwd=text("cwd"),
        output=output,
        respawn=as_bool(text("respawn") or "false", file, "node respawn"),
        respawn_delay_s=delay_s,
        respawn_max_retries=retries,
        shutdown_on_exit=on_exit == "shutdown",
        file=file,
    )
