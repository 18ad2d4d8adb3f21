"""The YAML a sweep reads: safe, strict and with clear errors.

:class:`ConfigLoader` is PyYAML's ``SafeLoader`` (nothing is constructed but plain data) that
also reads ``1e-5`` (no dot) as a number, as YAML 1.2 does, and refuses what a config never
needs and what hides mistakes: a key given twice in one mapping (YAML would silently keep the
last) and aliases (``*name``; a few hundred bytes of nested aliases expand to billions of
values). :func:`read_yaml_file` turns every problem with a file - missing, unreadable, not
UTF-8, not YAML, empty - into one :class:`~orchestrator.errors.ConfigError` line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import ConfigError, first_line

_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigLoader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e-5`` (no dot) as a number, as YAML 1.2 does.

    It refuses what a config never needs and what hides mistakes: a key given twice in one
    mapping (YAML would silently keep the last) and aliases (``*name``; a few hundred bytes
    of nested aliases expand to billions of values).
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML aliases (*name) are not accepted in a sweep config; write the "
                "value out in full",
                self.peek_event().start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in first
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {first[key] + 1}); keep one",
                        key_node.start_mark,
                    )
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Plain data from YAML text (raises ``yaml.YAMLError`` on bad input)."""
    return yaml.load(text, Loader=ConfigLoader)


def read_yaml_file(path: Path) -> Any:
    """The data of a YAML file; every problem is one ConfigError line naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (line {line}, column {column}); save it as UTF-8"
        ) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = first_line(getattr(exc, "problem", None) or exc)
        raise ConfigError(f"{path}: not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    return data


__all__ = ["ConfigLoader", "load_yaml", "read_yaml_file"]
