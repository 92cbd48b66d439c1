"""The YAML launch file loader: every supported construct, and every refusal with its message.

No process is started here (sim2real_ros.launch_runner's tests start them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim2real_ros.launch_file import (
    ConditionError,
    ExecutableNotFoundError,
    LaunchArgumentError,
    LaunchDescription,
    LaunchFileError,
    PackageNotFoundError,
    SubstitutionError,
    declared_arguments,
    load_launch,
)
from sim2real_ros.launch_node import render_parameter, yaml_typed
from tests.ros.launch_helpers import PACKAGE, make_prefix, write


@pytest.fixture(autouse=True)
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary ament prefix with executables ``a`` and ``b`` of package ``launchtest``."""
    root = make_prefix(tmp_path / "prefix", {"a": "print('a')\n", "b": "print('b')\n"})
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(root))
    return root


def load(tmp_path: Path, text: str, arguments: dict[str, str] | None = None, **kwargs: bool) -> LaunchDescription:
    return load_launch(write(tmp_path / "main.launch.yaml", text), arguments, **kwargs)


def node(text: str) -> str:
    """A launch file with one node of executable ``a`` (``text``: its extra keys, YAML flow)."""
    return f"launch:\n- node: {{pkg: {PACKAGE}, exec: a{', ' + text if text else ''}}}\n"


def ros_args(description: LaunchDescription, index: int = 0) -> list[str]:
    cmd = list(description.nodes[index].cmd)
    return cmd[cmd.index("--ros-args") + 1 :]


def test_node_command_line_has_executable_args_name_namespace_params_remaps_env(tmp_path: Path, prefix: Path) -> None:
    params = write(tmp_path / "params.yaml", "/**:\n  ros__parameters: {k: 1}\n")
    description = load(
        tmp_path,
        f"""
        launch:
        - node:
            pkg: {PACKAGE}
            exec: a
            name: talker
            namespace: robot
            args: "--flag 'two words' x"
            ros_args: "--log-level debug"
            param:
            - {{name: i, value: "5"}}
            - {{name: s, value: "'5'"}}
            - {{name: f, value: 1.5}}
            - {{name: b, value: true}}
            - {{name: l, value: [1, 2]}}
            - {{name: ls, value: [x, "$(var missing y)"]}}
            - {{name: group, param: [{{name: inner, value: hello}}]}}
            - {{from: {params}}}
            remap: [{{from: chatter, to: /other}}]
            env: [{{name: FOO, value: bar}}]
            output: both
            respawn: "True"
            respawn_delay: 0.5
            on_exit: shutdown
        """,
    )
    (spec,) = description.nodes
    assert spec.cmd[: spec.cmd.index("--ros-args")] == (str(prefix / "lib" / PACKAGE / "a"), "--flag", "two words", "x")
    assert ros_args(description) == [
        "--log-level", "debug",
        "-r", "__node:=talker", "-r", "__ns:=/robot",
        "-p", "i:=5", "-p", "s:='5'", "-p", "f:=1.5", "-p", "b:=true", "-p", "l:=[1, 2]", "-p", "ls:=[x, y]",
        "-p", "group.inner:=hello", "--params-file", str(params),
        "-r", "chatter:=/other",
    ]  # fmt: skip
    assert (spec.label, spec.name, spec.namespace, dict(spec.env)) == ("talker", "talker", "/robot", {"FOO": "bar"})
    assert (spec.output, spec.respawn, spec.respawn_delay_s, spec.shutdown_on_exit) == ("both", True, 0.5, True)


def test_arguments_command_line_over_default_and_required(tmp_path: Path) -> None:
    text = """
    launch:
    - arg: {name: robot, default: arm}
    - arg: {name: bundle, description: the policy bundle}
    - node: {pkg: launchtest, exec: a, name: $(var robot), args: $(var bundle)}
    """
    description = load(tmp_path, text, {"bundle": "b1"})
    assert description.nodes[0].name == "arm" and description.nodes[0].cmd[1] == "b1"
    assert load(tmp_path, text, {"bundle": "b1", "robot": "base"}).nodes[0].name == "base"
    assert [(a.name, a.value, a.default) for a in description.arguments] == [
        ("robot", "arm", "arm"),
        ("bundle", "b1", None),
    ]
    with pytest.raises(
        LaunchArgumentError,
        match=r"main.launch.yaml: launch argument 'bundle' \(the policy bundle\) is required.*pass bundle:=VALUE",
    ):
        load(tmp_path, text)
    with pytest.raises(LaunchArgumentError, match=r"robto:= is not a launch argument .*declared: bundle, robot"):
        load(tmp_path, text, {"bundle": "b", "robto": "x"})


def test_argument_choices(tmp_path: Path) -> None:
    text = "launch:\n- arg: {name: backend, default: mujoco, choice: [{value: mujoco}, {value: pybullet}]}\n"
    assert load(tmp_path, text, {"backend": "pybullet"}).configurations["backend"] == "pybullet"
    with pytest.raises(LaunchArgumentError, match="'backend' is 'gazebo'; it must be one of mujoco, pybullet"):
        load(tmp_path, text, {"backend": "gazebo"})


def test_include_arguments_override_defaults_and_flow_from_the_command_line(tmp_path: Path) -> None:
    write(
        tmp_path / "inner.launch.yaml",
        """
        launch:
        - arg: {name: rate, default: "10"}
        - arg: {name: mode, default: sim}
        - arg: {name: only_inner, default: "no"}
        - node: {pkg: launchtest, exec: a, name: inner, args: "$(var rate) $(var mode) $(var only_inner)"}
        """,
    )
    text = """
    launch:
    - arg: {name: rate, default: "50"}
    - include:
        file: $(dirname)/inner.launch.yaml
        arg: [{name: rate, value: $(var rate)}, {name: mode, value: real}]
    """
    # include arg > included default; the command line reaches the include through $(var rate)
    assert load(tmp_path, text).nodes[0].cmd[1:4] == ("50", "real", "no")
    assert load(tmp_path, text, {"rate": "20"}).nodes[0].cmd[1:4] == ("20", "real", "no")
    # an argument only the included file declares is accepted on the command line
    assert load(tmp_path, text, {"only_inner": "yes"}).nodes[0].cmd[3] == "yes"
    # ROS semantics: the include's literal value is set when the include runs, after the command line
    assert load(tmp_path, text, {"mode": "cli"}).nodes[0].cmd[2] == "real"


def test_let_include_scope_and_group_scope(tmp_path: Path) -> None:
    write(tmp_path / "inner.launch.yaml", "launch:\n- let: {name: leaked, value: from_inner}\n")
    description = load(
        tmp_path,
        """
        launch:
        - let: {name: x, value: outer}
        - let: {name: which, value: x}
        - include: $(dirname)/inner.launch.yaml
        - group:
            children:
            - let: {name: x, value: inner}
            - node: {pkg: launchtest, exec: a, name: in_group, args: "$(var x) $(var leaked)"}
        - group:
            forwarding: false
            keep: [{name: kept, value: $(var x)}]
            children:
            - node: {pkg: launchtest, exec: a, name: isolated, args: "$(var kept) $(var x unset)"}
        - node: {pkg: launchtest, exec: a, name: after, args: "$(var x) $(var $(var which))"}
        """,
    )
    assert [n.cmd[1:3] for n in description.nodes] == [("inner", "from_inner"), ("outer", "unset"), ("outer", "outer")]
    assert description.configurations["leaked"] == "from_inner"  # includes are not scoped, as in ROS 2


def test_unscoped_group_keeps_its_variables(tmp_path: Path) -> None:
    text = """
    launch:
    - group: {scoped: false, children: [{let: {name: x, value: set_in_group}}]}
    - node: {pkg: launchtest, exec: a, args: $(var x)}
    """
    assert load(tmp_path, text).nodes[0].cmd[1] == "set_in_group"


def test_push_ros_namespace_nests_and_pops_with_the_group(tmp_path: Path) -> None:
    description = load(
        tmp_path,
        """
        launch:
        - group:
            children:
            - push-ros-namespace: {namespace: robot1}
            - node: {pkg: launchtest, exec: a, name: n1}
            - node: {pkg: launchtest, exec: a, name: n2, namespace: arm}
            - node: {pkg: launchtest, exec: a, name: n3, namespace: /absolute}
            - group:
                children:
                - push_ros_namespace: {namespace: inner}
                - node: {pkg: launchtest, exec: a, name: n4}
        - node: {pkg: launchtest, exec: a, name: n5}
        """,
    )
    assert [n.namespace for n in description.nodes] == ["/robot1", "/robot1/arm", "/absolute", "/robot1/inner", None]
    assert "-r" in ros_args(description, 1) and "__ns:=/robot1/arm" in ros_args(description, 1)
    assert not any(arg.startswith("__ns:=") for arg in ros_args(description, 4))


@pytest.mark.parametrize(
    ("value", "started"), [("true", True), ("True", True), ("1", True), ("FALSE", False), ("0", False)]
)
def test_if_and_unless_on_node_group_include_and_arg(tmp_path: Path, value: str, started: bool) -> None:
    write(tmp_path / "inner.launch.yaml", "launch:\n- node: {pkg: launchtest, exec: a, name: included}\n")
    description = load(
        tmp_path,
        f"""
        launch:
        - arg: {{name: c, default: "{value}"}}
        - arg: {{name: only_if, if: $(var c)}}
        - node: {{pkg: launchtest, exec: a, name: if_node, if: $(var c)}}
        - node: {{pkg: launchtest, exec: a, name: unless_node, unless: $(var c)}}
        - group: {{if: $(var c), children: [{{node: {{pkg: launchtest, exec: a, name: grouped}}}}]}}
        - include: {{file: $(dirname)/inner.launch.yaml, unless: $(var c)}}
        """,
        {"only_if": "given"} if started else {},
    )
    names = [n.name for n in description.nodes]
    assert names == (["if_node", "grouped"] if started else ["unless_node", "included"])


def test_a_skipped_argument_may_still_be_given(tmp_path: Path) -> None:
    text = "launch:\n- group: {if: 'false', children: [{arg: {name: hidden}}]}\n"
    assert load(tmp_path, text, {"hidden": "x"}).nodes == ()


def test_bad_condition_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConditionError, match=r"main.launch.yaml: node if is 'yes'; it must be true, false, 1 or 0"):
        load(tmp_path, node("if: 'yes'"))
    with pytest.raises(LaunchFileError, match="node has both if and unless; use one"):
        load(tmp_path, node("if: 'true', unless: 'false'"))


def test_environment_dirname_filename_and_package_substitutions(
    tmp_path: Path, prefix: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCH_TEST_VAR", "from_env")
    monkeypatch.delenv("LAUNCH_TEST_UNSET", raising=False)
    description = load(
        tmp_path,
        node(
            'args: "$(env LAUNCH_TEST_VAR) $(env LAUNCH_TEST_UNSET fallback) x$(optenv LAUNCH_TEST_UNSET)x '
            '$(dirname) $(filename) $(find-pkg-share launchtest) $(find-pkg-prefix launchtest)"'
        ),
    )
    main = tmp_path / "main.launch.yaml"
    expected = ("from_env", "fallback", "xx", str(tmp_path), str(main), str(prefix / "share" / PACKAGE), str(prefix))
    assert description.nodes[0].cmd[1:8] == expected
    with pytest.raises(SubstitutionError, match=r"\$\(env LAUNCH_TEST_UNSET\): environment variable .* is not set"):
        load(tmp_path, node("args: $(env LAUNCH_TEST_UNSET)"))
    with pytest.raises(
        PackageNotFoundError, match=r"main.launch.yaml: package 'nope' is not in the ament index.*source"
    ):
        load(tmp_path, node("args: $(find-pkg-share nope)"))


def test_substituted_values_stay_one_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCH_TEST_VAR", "has spaces")
    assert load(tmp_path, node('args: "--path=$(env LAUNCH_TEST_VAR)/x y"')).nodes[0].cmd[1:] == (
        "--path=has spaces/x",
        "y",
        "--ros-args",
    )


def test_eval_and_command_are_refused_unless_allowed(tmp_path: Path) -> None:
    text = node("""args: "$(eval '2 * pi > 6') $(command 'echo -n hi')" """)
    for refused in ("eval", "command"):
        with pytest.raises(SubstitutionError, match=rf"main.launch.yaml: \$\({refused} .* is refused.*--allow-eval"):
            load(tmp_path, node(f"args: \"$({refused} 'x')\""))
    assert load(tmp_path, text, allow_unsafe=True).nodes[0].cmd[1:3] == ("True", "hi")
    with pytest.raises(SubstitutionError, match=r"\$\(eval 1/0\) failed: ZeroDivisionError"):
        load(tmp_path, node("args: $(eval 1/0)"), allow_unsafe=True)
    with pytest.raises(SubstitutionError, match="exited with status 1"):
        load(tmp_path, node("args: $(command false)"), allow_unsafe=True)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "launch:\n- timer: {period: 1}\n",
            LaunchFileError,
            r"main.launch.yaml: unsupported action 'timer'; .*supports arg, let",
        ),
        ("launch:\n- executable: {cmd: ls}\n", LaunchFileError, "unsupported action 'executable'"),
        ("launch:\n- set_env: {name: A, value: b}\n", LaunchFileError, "unsupported action 'set_env'"),
        (node("launch-prefix: gdb"), LaunchFileError, r"unsupported key 'launch-prefix' in node; .*supports pkg, exec"),
        (node("param: [{name: x, value: 1, type: int}]"), LaunchFileError, "unsupported key 'type' in param"),
        ("launch:\n- group: {namespace: x, children: []}\n", LaunchFileError, "unsupported key 'namespace' in group"),
        (
            node("output: own_log"),
            LaunchFileError,
            "node output is 'own_log'; sim2real launch supports screen, log, both",
        ),
        (node("on_exit: restart"), LaunchFileError, "the only on_exit action supported is shutdown"),
        (
            node("args: $(anon x)"),
            SubstitutionError,
            r"unknown substitution \$\(anon x\); sim2real launch supports \$\(var\)",
        ),
        (node("args: $(var x"), SubstitutionError, "unterminated substitution"),
        (node("args: $(var x) $(var y)"), SubstitutionError, r"\$\(var x\): no launch argument or let variable 'x'"),
        (
            node("param: [{name: l, value: [1, a]}]"),
            LaunchFileError,
            "parameter 'l': a list value must be .* of one type",
        ),
        (node("param: [{from: /no/such.yaml}]"), LaunchFileError, r"parameter file /no/such.yaml does not exist"),
        (
            "launch:\n- node: {pkg: launchtest, exec: nope}\n",
            ExecutableNotFoundError,
            "exec 'nope': found no executable",
        ),
        (
            "launch:\n- include: {file: $(dirname)/missing.launch.yaml}\n",
            LaunchFileError,
            r"missing.launch.yaml does not exist",
        ),
        ("launch: [node: 1", LaunchFileError, r"main.launch.yaml: not valid YAML \(line"),
        ("nodes: []\n", LaunchFileError, "a YAML launch file is a mapping with the one key 'launch'"),
        ("launch:\n- {node: {}, arg: {}}\n", LaunchFileError, "each action is a mapping with one key"),
        ("launch:\n- node: {exec: a}\n", LaunchFileError, "node needs 'pkg'"),
    ],
)
def test_refusals_name_the_file_the_tag_and_what_is_supported(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        load(tmp_path, text)
    assert "\n" not in str(caught.value)


def test_unsupported_keys_are_refused_in_skipped_branches_too(tmp_path: Path) -> None:
    text = "launch:\n- group: {if: 'false', children: [{node: {pkg: launchtest, exec: a, prefix: gdb}}]}\n"
    with pytest.raises(LaunchFileError, match="unsupported key 'prefix' in node"):
        load(tmp_path, text)


def test_include_cycles_and_non_yaml_includes_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "loop.launch.yaml", "launch:\n- include: $(filename)\n")
    with pytest.raises(LaunchFileError, match="an include cycle"):
        load_launch(tmp_path / "loop.launch.yaml")
    write(tmp_path / "x.launch.py", "")
    with pytest.raises(LaunchFileError, match=r"reads YAML launch files \(\*.launch.yaml\) only"):
        load(tmp_path, "launch:\n- include: $(dirname)/x.launch.py\n")


def test_executable_falls_back_to_a_python_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "modules" / "launchmodpkg"
    write(package / "__init__.py", "")
    write(package / "some_node.py", "print('module')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    text = "launch:\n- node: {pkg: launchmodpkg, exec: some_node}\n"
    assert load(tmp_path, text).nodes[0].cmd[:3] == (sys.executable, "-m", "launchmodpkg.some_node")
    assert "launchmodpkg" not in sys.modules  # looked up, not imported


def test_labels_are_unique(tmp_path: Path) -> None:
    text = (
        "launch:\n"
        + "- node: {pkg: launchtest, exec: a}\n" * 3
        + "- node: {pkg: launchtest, exec: b, exec_name: a-2x}\n"
    )
    assert [n.label for n in load(tmp_path, text).nodes] == ["a", "a-2", "a-3", "a-2x"]


def test_parameter_values_are_typed_like_ros_launch() -> None:
    assert [yaml_typed(t) for t in ("5", "1.5", "true", "'5'", "[1, 2]", "hello", "", "a: b", "[1, a]")] == [
        5, 1.5, True, "5", [1, 2], "hello", "", "a: b", "[1, a]",
    ]  # fmt: skip
    assert [render_parameter(v) for v in (5, "5", "", "a b", [0.5, 1.0], ["x", "y z"], False)] == [
        "5", "'5'", "''", "a b", "[0.5, 1.0]", "[x, y z]", "false",
    ]  # fmt: skip


def test_declared_arguments_are_listed_without_evaluating(tmp_path: Path) -> None:
    path = write(
        tmp_path / "args.launch.yaml",
        """
        launch:
        - arg: {name: bundle, description: the bundle}
        - group: {children: [{arg: {name: rate, default: $(env NOT_EVALUATED)}}]}
        """,
    )
    listed = [(a.name, a.default, a.description) for a in declared_arguments(path)]
    assert listed == [("bundle", None, "the bundle"), ("rate", "$(env NOT_EVALUATED)", "")]
