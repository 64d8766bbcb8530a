"""Reading an operator's YAML file (sites file, clouds.yaml, exporter config): bounded in size
(probes.files) and in what aliases may expand to. YAML anchors are fine for sharing a block, but
a few hundred bytes of nested aliases ("billion laughs") expand to billions of values that merging,
validating or printing would walk for minutes; a recursive alias never ends. PyYAML has no limit
of its own, so the composed node graph is measured here (each node counted as often as it is
reached, without expanding anything) before any Python value is built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from probes import files

MAX_NODES = 100_000  # far beyond any real config, far below a slow one


class YamlProblem(Exception):
    """The file is not YAML fedprobe will read; a few words (the caller names the file)."""


def where(exc: yaml.YAMLError) -> str:
    """' at line L, column C: what is wrong' from a YAML error (as an editor counts, from 1)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return at + (f": {problem}" if problem else "")


def _expanded(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (YamlProblem if it is more
    than MAX_NODES, or if an alias contains itself)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise YamlProblem("an alias refers to a node that contains it (recursive YAML)")
        open_.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_.discard(key)
        if total > MAX_NODES:
            raise YamlProblem(f"its aliases expand to more than {MAX_NODES} values")
        sizes[key] = total
        return total

    return size(root)


def loads(text: str) -> Any:
    """The document's value (safe types only), or YamlProblem."""
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters already
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML{where(exc)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML{where(exc)}") from None
    except RecursionError:  # nesting deeper than Python's stack: no config is like that
        raise YamlProblem("nested too deeply") from None
    finally:
        loader.dispose()


def load(path: Path) -> Any:
    """The value of a YAML file of at most files.CONFIG_LIMIT bytes, or FileProblem/YamlProblem."""
    return loads(files.read_text(path, files.CONFIG_LIMIT))
