"""``$(...)`` substitutions of the ROS 2 launch frontends, and the ament index lookups they need.

The syntax is the one of ``launch/frontend/grammar.lark``: ``$(name arg arg ...)``, arguments
separated by spaces, an argument quoted with ``'...'`` or ``"..."`` when it holds spaces or
parentheses, substitutions nested inside arguments (``$(var $(var which))``), and a backslash
escaping the next character. Supported substitutions:

- ``$(var NAME [DEFAULT])``: a launch argument or ``let`` variable;
- ``$(env NAME [DEFAULT])``, ``$(optenv NAME [DEFAULT])``: an environment variable (``env``
  fails when it is unset and has no default, ``optenv`` gives ``DEFAULT`` or ``""``);
- ``$(find-pkg-share PKG)``, ``$(find-pkg-prefix PKG)``: ament's rule, see :func:`find_package_prefix`;
- ``$(dirname)``, ``$(filename)``: the folder and the path of the launch file being read;
- ``$(eval EXPR)`` (a Python expression, ``math`` in scope, as ``PythonExpression``) and
  ``$(command CMD [fail|ignore|warn|capture])`` (``CMD`` split like a shell line and run without
  a shell; its standard output): refused unless the loader was called with ``allow_unsafe=True``,
  because a launch file that someone hands you should not run code by being read.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sim2real_ros.launch_errors import (
    ConditionError,
    LaunchError,
    LaunchFileError,
    PackageNotFoundError,
    SubstitutionError,
)

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
UNSAFE = ("eval", "command")


@dataclass(frozen=True)
class Substitution:
    """One ``$(name args...)``.

    :param name: the substitution's name (``var``, ``env``, ...).
    :param args: its arguments, each a template (text and nested substitutions).
    :param source: the text it was parsed from, for messages.
    """

    name: str
    args: tuple[Template, ...]
    source: str


Template = tuple[str | Substitution, ...]


class _TemplateParser:
    """Recursive descent over one string; ``where`` (the launch file) prefixes every error."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.pos = 0

    def error(self, problem: str) -> SubstitutionError:
        return SubstitutionError(f"{self.where}: {problem} in {self.text!r}")

    def template(self) -> Template:
        parts: list[str | Substitution] = []
        buffer: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.text[self.pos + 1])
                self.pos += 2
            elif self.text.startswith("$(", self.pos):
                if buffer:
                    parts.append("".join(buffer))
                    buffer = []
                parts.append(self.substitution())
            else:
                buffer.append(char)
                self.pos += 1
        if buffer:
            parts.append("".join(buffer))
        return tuple(parts)

    def substitution(self) -> Substitution:
        start = self.pos
        self.pos += 2  # past "$("
        match = _IDENTIFIER.match(self.text, self.pos)
        if match is None:
            raise self.error("expected a substitution name after '$('")
        self.pos = match.end()
        args: list[Template] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error(f"unterminated substitution $({match.group()} (missing ')')")
            char = self.text[self.pos]
            if char == ")":
                self.pos += 1
                return Substitution(match.group(), tuple(args), self.text[start : self.pos])
            if not char.isspace():
                raise self.error(f"expected a space or ')' after $({match.group()}")
            while self.pos < len(self.text) and self.text[self.pos].isspace():
                self.pos += 1
            if self.pos < len(self.text) and self.text[self.pos] != ")":
                args.append(self.argument())

    def argument(self) -> Template:
        quote = self.text[self.pos] if self.text[self.pos] in "'\"" else None
        if quote is not None:
            self.pos += 1
        parts: list[str | Substitution] = []
        buffer: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error(f"unterminated {'quoted argument' if quote else 'substitution'} (missing ')')")
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if self.text.startswith("$(", self.pos):
                if buffer:
                    parts.append("".join(buffer))
                    buffer = []
                parts.append(self.substitution())
                continue
            if quote is not None and char == quote:
                self.pos += 1
                if self.pos < len(self.text) and not (self.text[self.pos].isspace() or self.text[self.pos] == ")"):
                    raise self.error("a quoted argument must be followed by a space or ')'")
                break
            if quote is None and (char.isspace() or char == ")"):
                break
            if quote is None and char == "(":
                raise self.error("'(' in an unquoted substitution argument; quote the argument")
            buffer.append(char)
            self.pos += 1
        if buffer:
            parts.append("".join(buffer))
        return tuple(parts)


def parse_template(text: str, where: str | Path) -> Template:
    """Split ``text`` into literal text and :class:`Substitution` parts.

    :param text: a string value from a launch file.
    :param where: the launch file, named in error messages.
    :raises SubstitutionError: the ``$(...)`` syntax is broken.
    """
    return _TemplateParser(text, str(where)).template()


@dataclass(frozen=True)
class SubstitutionContext:
    """What substitutions read.

    :param file: the launch file being read (absolute), for ``$(dirname)`` and messages.
    :param configurations: launch arguments and ``let`` variables, for ``$(var)``.
    :param allow_unsafe: allow ``$(eval)`` and ``$(command)``.
    """

    file: Path
    configurations: Mapping[str, str]
    allow_unsafe: bool = False


def evaluate(template: Template, context: SubstitutionContext) -> str:
    """The string ``template`` stands for."""
    return "".join(text for text, _ in resolve_pieces(template, context))


def resolve_pieces(template: Template, context: SubstitutionContext) -> list[tuple[str, bool]]:
    """Each part of ``template`` as ``(text, is_literal)``: literal text keeps its spaces as
    argument separators when a command line is split (the rule of ROS ``_parse_cmdline``), a
    substitution's value does not."""
    return [(part, True) if isinstance(part, str) else (_apply(part, context), False) for part in template]


def substitute(text: str, context: SubstitutionContext) -> str:
    """Parse and evaluate ``text`` in one step."""
    return evaluate(parse_template(text, context.file), context)


def _var(context: SubstitutionContext, name: str, *default: str) -> str:
    if name in context.configurations:
        return context.configurations[name]
    if default:
        return default[0]
    known = ", ".join(sorted(context.configurations)) or "none"
    raise SubstitutionError(
        f"{context.file}: $(var {name}): no launch argument or let variable {name!r} is defined at this point "
        f"(defined: {known}); declare it with arg or let before it is used"
    )


def _env(context: SubstitutionContext, name: str, *default: str) -> str:
    if name in os.environ:
        return os.environ[name]
    if default:
        return default[0]
    raise SubstitutionError(
        f"{context.file}: $(env {name}): environment variable {name} is not set; set it, "
        f"or give a default: $(env {name} DEFAULT)"
    )


def _optenv(context: SubstitutionContext, name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _eval(context: SubstitutionContext, expression: str) -> str:
    try:
        # PythonExpression's rule: the math module's names are in scope.
        return str(eval(expression, {}, dict(vars(math))))  # noqa: S307 - refused unless allow_unsafe
    except Exception as err:
        raise SubstitutionError(f"{context.file}: $(eval {expression}) failed: {type(err).__name__}: {err}") from err


def _command(context: SubstitutionContext, command: str, on_stderr: str = "fail") -> str:
    if on_stderr not in ("fail", "ignore", "warn", "capture"):
        raise SubstitutionError(
            f"{context.file}: $(command {command} {on_stderr}): "
            "the second argument must be fail, ignore, warn or capture"
        )
    try:
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    except (OSError, ValueError) as err:
        raise SubstitutionError(f"{context.file}: $(command {command}) could not run: {err}") from err
    if result.returncode != 0:
        raise SubstitutionError(
            f"{context.file}: $(command {command}) exited with status {result.returncode}: {result.stderr.strip()}"
        )
    if result.stderr and on_stderr == "fail":
        raise SubstitutionError(
            f"{context.file}: $(command {command}) wrote to stderr ({result.stderr.strip()}); "
            "pass 'ignore', 'warn' or 'capture' as its second argument to accept that"
        )
    if result.stderr and on_stderr == "warn":
        print(f"[launch] warning: $(command {command}) wrote to stderr: {result.stderr.strip()}", file=sys.stderr)
    return result.stdout + (result.stderr if on_stderr == "capture" else "")


# name -> (function, least arguments, most arguments)
_HANDLERS: dict[str, tuple[Callable[..., str], int, int]] = {
    "var": (_var, 1, 2),
    "env": (_env, 1, 2),
    "optenv": (_optenv, 1, 2),
    "find-pkg-share": (lambda context, package: str(package_share_directory(package)), 1, 1),
    "find-pkg-prefix": (lambda context, package: str(find_package_prefix(package)), 1, 1),
    "dirname": (lambda context: str(context.file.parent), 0, 0),
    "filename": (lambda context: str(context.file), 0, 0),
    "eval": (_eval, 1, 1),
    "command": (_command, 1, 2),
}
SUPPORTED = tuple(_HANDLERS)


def _apply(substitution: Substitution, context: SubstitutionContext) -> str:
    handler = _HANDLERS.get(substitution.name)
    if handler is None:
        raise SubstitutionError(
            f"{context.file}: unknown substitution {substitution.source}; sim2real launch supports "
            + ", ".join(f"$({name})" for name in SUPPORTED)
        )
    if substitution.name in UNSAFE and not context.allow_unsafe:
        raise SubstitutionError(
            f"{context.file}: {substitution.source} runs code while the launch file is read and is refused; "
            "if you trust this file, run with --allow-eval (load_launch(..., allow_unsafe=True))"
        )
    function, least, most = handler
    if not least <= len(substitution.args) <= most:
        wanted = str(least) if least == most else f"{least} to {most}"
        raise SubstitutionError(
            f"{context.file}: {substitution.source} takes {wanted} argument(s), got {len(substitution.args)}"
        )
    args = [evaluate(arg, context) for arg in substitution.args]
    try:
        return function(context, *args)
    except LaunchError as err:
        if str(context.file) in str(err):
            raise
        raise type(err)(f"{context.file}: {err}") from err


def ament_prefixes() -> tuple[Path, ...]:
    """Where packages are looked up, in order: the ``AMENT_PREFIX_PATH`` entries (a sourced
    workspace), then ``sys.prefix`` (where the ROS 2 pip wheels register their packages)."""
    entries = [Path(entry) for entry in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if entry]
    return tuple(dict.fromkeys([*entries, Path(sys.prefix)]))


def find_package_prefix(package: str) -> Path:
    """The first prefix whose ament index registers ``package``
    (``<prefix>/share/ament_index/resource_index/packages/<package>``).

    :raises PackageNotFoundError: no prefix registers it.
    """
    for prefix in ament_prefixes():
        if (prefix / "share" / "ament_index" / "resource_index" / "packages" / package).exists():
            return prefix
    raise PackageNotFoundError(
        f"package {package!r} is not in the ament index of any prefix "
        f"({', '.join(str(p) for p in ament_prefixes())}); source the workspace that builds it "
        "(install/setup.bash, which sets AMENT_PREFIX_PATH) or install it"
    )


def package_share_directory(package: str) -> Path:
    """``<prefix>/share/<package>`` for the prefix that registers ``package`` (ament's rule)."""
    return find_package_prefix(package) / "share" / package


def scalar_text(value: object, context: SubstitutionContext, what: str) -> str:
    """A YAML scalar of a launch file as the string ROS launch makes of it: strings have their
    substitutions evaluated, ``true``/``false`` become ``"true"``/``"false"``, numbers their text.

    :param what: the tag and key the value belongs to (``"node name"``), named in errors.
    :raises LaunchFileError: the value is a list, a mapping or empty.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return substitute(value, context)
    raise LaunchFileError(
        f"{context.file}: {what} must be a string, a number or true/false, got {type(value).__name__} {value!r}"
    )


def as_bool(text: str, where: str | Path, what: str) -> bool:
    """A condition's truth value, by ROS launch's rule: ``true``/``1`` or ``false``/``0``, any case.

    :raises ConditionError: any other value, named with ``what`` and ``where``.
    """
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ConditionError(f"{where}: {what} is {text!r}; it must be true, false, 1 or 0 (any case)")
