"""Loading routing-policy YAML files, with errors that name file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path as FsPath

from pydantic import ValidationError

from .checks import check_spec
from .compiled import CompiledPolicy, compile_policy
from .spec import MODELS, PolicySpec
from .yaml_lines import Path, YamlError, load_with_lines

REFERENCE_PACKAGE = "dispatchbus.policy.reference"
"""Package shipping the reference policies, one ``<model>.yaml`` per dispatch model."""


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file."""

    source: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be loaded; ``issues`` lists every problem found."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


def format_path(path: Path) -> str:
    """``("teams", 1, "hours", "mon")`` → ``teams[1].hours.mon``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _line_of(path: Path, lines: dict[Path, int]) -> int:
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return 1


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def _pydantic_issues(exc: ValidationError, source: str, lines: dict[Path, int]) -> list[PolicyIssue]:
    issues = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(err["loc"])
        message = _MESSAGES.get(err["type"], err["msg"])
        issues.append(PolicyIssue(source, _line_of(loc, lines), format_path(loc), message))
    return issues


def parse_policy(text: str, *, source: str = "<policy>") -> CompiledPolicy:
    """Validate and compile policy YAML text; raises :class:`PolicyError`."""
    try:
        data, lines = load_with_lines(text)
    except YamlError as exc:
        raise PolicyError([PolicyIssue(source, exc.line, "", exc.message)]) from None
    if not isinstance(data, dict):
        raise PolicyError([PolicyIssue(source, 1, "", "expected a mapping of policy fields")])
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(sorted(_pydantic_issues(exc, source, lines), key=lambda issue: issue.line)) from None
    problems = check_spec(spec)
    if problems:
        issues = [PolicyIssue(source, _line_of(path, lines), format_path(path), message) for path, message in problems]
        raise PolicyError(sorted(issues, key=lambda issue: issue.line))
    return compile_policy(spec, source=source)


def load_policy(path: str | FsPath) -> CompiledPolicy:
    """Load a policy file; errors name the file as given, the line and the field path."""
    source = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError([PolicyIssue(source, 0, "", f"cannot read: {reason}")]) from None
    return parse_policy(text, source=source)


@lru_cache(maxsize=None)
def load_reference_policy(model: str) -> CompiledPolicy:
    """The shipped reference policy for a dispatch model (``911-led`` ...)."""
    if model not in MODELS:
        raise ValueError(f"unknown dispatch model {model!r} (expected one of {', '.join(MODELS)})")
    name = f"{model}.yaml"
    text = resources.files(REFERENCE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    return parse_policy(text, source=f"{REFERENCE_PACKAGE}/{name}")
