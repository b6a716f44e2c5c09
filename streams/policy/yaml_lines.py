"""A YAML loader that remembers the line of every value, for error messages."""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and sequence indexes."""


class YamlError(ValueError):
    """The text is not the YAML the loader accepts; ``line`` is 1-based (0 if unknown)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse one YAML document; return the data and a map from each value's path to its line.

    A mapping entry's line is the line of its key. Duplicate keys and
    non-scalar keys are errors (plain PyYAML silently keeps the last one).
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise YamlError(mark.line + 1 if mark else 0, _yaml_message(exc)) from None
        except yaml.YAMLError as exc:
            raise YamlError(0, str(exc)) from None
        lines: dict[Path, int] = {}
        if root is None:
            return None, lines
        return _build(loader, root, (), lines, set()), lines
    finally:
        loader.dispose()


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "invalid YAML: " + ", ".join(parts) if parts else "invalid YAML"


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int], active: set[int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlError(node.start_mark.line + 1, _yaml_message(exc)) from None
    if id(node) in active:
        raise YamlError(node.start_mark.line + 1, "invalid YAML: recursive alias")
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_build(loader, item, path + (i,), lines, active) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlError(key_line, "invalid YAML: mapping keys must be plain values")
                key = loader.construct_object(key_node, deep=True)
                if key in result:
                    raise YamlError(key_line, f"duplicate key {key!r}")
                child = path + (key,)
                lines[child] = key_line
                result[key] = _build(loader, value_node, child, lines, active)
            return result
    finally:
        active.discard(id(node))
    raise YamlError(node.start_mark.line + 1, f"invalid YAML: unsupported node {type(node).__name__}")
