"""ruamel.yaml plumbing for :mod:`~formbound.formats.yaml.load`: a JSON-only constructor with linear merge
keys, and the expansion budget checked on the composed node graph *before* anything is constructed.

Aliases and merge keys (``<<: [*a, *b]``) make a short text stand for a huge value. Each document's
node graph is walked once (memoised per node, so shared nodes cost nothing extra) to count the values it
expands to; over ``max_nodes`` it is refused before construction starts. Merge keys are then flattened
once per mapping node with duplicate keys dropped, so the work stays proportional to that count
(ruamel's own flattening copies every merged pair again at each level, which doubles per line).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["BudgetError", "load_nodes"]

_NON_JSON_TAGS = ("binary", "set", "omap", "pairs")
_MERGE = "tag:yaml.org,2002:merge"
_SURROGATE = re.compile("[\ud800-\udfff]")


class BudgetError(Exception):
    """The node graph breaks a limit; ``kind`` is the issue kind, ``mark`` the ruamel mark (or None)."""

    def __init__(self, message: str, kind: str, mark: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.mark = mark


def _make_yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, SafeConstructor
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    class JsonConstructor(SafeConstructor):
        """SafeConstructor limited to JSON data (a subclass: the library's tables stay untouched)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # id -> (node, flattened): holding the node keeps its id from being reused
            self._flat: dict[int, tuple[Any, list[tuple[Any, Any, Any]]]] = {}

        def _key(self, key_node: Any, node: Any) -> Any:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list):
                key = tuple(key)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                ) from None
            return key

        def _flatten(self, node: Any) -> list[tuple[Any, Any, Any]]:
            """``(key, key_node, value_node)`` of a mapping, merge keys expanded, one entry per key."""
            done = self._flat.get(id(node))
            if done is not None:
                return done[1]
            self._flat[id(node)] = (node, [])  # a mapping merged into itself contributes nothing more
            own: list[tuple[Any, Any, Any]] = []
            first: dict[Any, Any] = {}
            sources: list[Any] | None = None
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    if sources is not None:
                        raise DuplicateKeyError(
                            "while constructing a mapping",
                            node.start_mark,
                            'found duplicate merge key "<<"',
                            key_node.start_mark,
                        )
                    subs = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                    for sub in subs:
                        if not isinstance(sub, MappingNode):
                            raise ConstructorError(
                                "while constructing a mapping",
                                node.start_mark,
                                f"expected a mapping or list of mappings for merging, but found {sub.id}",
                                sub.start_mark,
                            )
                    sources = list(subs)
                    continue
                key = self._key(key_node, node)
                if key in first:
                    raise DuplicateKeyError(
                        "while constructing a mapping",
                        first[key].start_mark,
                        f'found duplicate key "{key}"',
                        key_node.start_mark,
                    )
                first[key] = key_node
                own.append((key, key_node, value_node))
            out = own
            if sources:
                out = list(own)
                for sub in sources:  # earlier sources win, the mapping's own keys win over all
                    for key, key_node, value_node in self._flatten(sub):
                        if key not in first:
                            first[key] = key_node
                            out.append((key, key_node, value_node))
            self._flat[id(node)] = (node, out)
            return out

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if not isinstance(node, MappingNode):
                raise ConstructorError(
                    None, None, f"expected a mapping node, but found {node.id}", node.start_mark
                )
            return {
                key: self.construct_object(value_node, deep=deep)
                for key, _, value_node in self._flatten(node)
            }

    def keep_string(self: Any, node: Any) -> Any:
        return self.construct_scalar(node)

    def string(self: Any, node: Any) -> Any:
        # "\ud83d\ude00" is one character in JSON, which YAML 1.2 reads; lone halves stay (and are refused)
        value = SafeConstructor.construct_yaml_str(self, node)
        if isinstance(value, str) and _SURROGATE.search(value):
            try:
                value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
            except UnicodeDecodeError:
                pass
        return value

    def reject(self: Any, node: Any) -> Any:
        raise ConstructorError(
            None,
            None,
            f"tag {node.tag!r} has no JSON equivalent; write the value as a plain string, list or mapping",
            node.start_mark,
        )

    JsonConstructor.add_constructor("tag:yaml.org,2002:timestamp", keep_string)
    JsonConstructor.add_constructor("tag:yaml.org,2002:str", string)
    for tag in _NON_JSON_TAGS:
        JsonConstructor.add_constructor(f"tag:yaml.org,2002:{tag}", reject)
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = JsonConstructor
    return yaml


def _budget(root: Any, max_nodes: int, max_depth: int, used: int) -> int:
    """Values ``root`` expands to (aliases and merges counted each time they are used), plus ``used``.

    Raises:
        BudgetError: over ``max_nodes`` in all, deeper than ``max_depth``, or a node that contains itself.
    """
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    done: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    on_path: set[int] = set()

    def children(node: Any) -> Iterator[Any]:
        if isinstance(node, SequenceNode):
            return iter(node.value)
        # a scalar key is not a value; a complex key is counted (it is refused later anyway)
        return (n for pair in node.value for n in (pair if not isinstance(pair[0].value, str) else pair[1:]))

    def too_many(mark: Any) -> BudgetError:
        return BudgetError(
            f"document expands to more than {max_nodes:,} values (alias or merge-key expansion); "
            "write it without anchors/aliases/merge keys or raise max_nodes=",
            "too_many_nodes",
            mark,
        )

    def too_deep(mark: Any) -> BudgetError:
        return BudgetError(
            f"document is nested deeper than {max_depth} levels (max_depth=)", "too_deep", mark
        )

    if not isinstance(root, (MappingNode, SequenceNode)):
        return used + 1
    stack: list[list[Any]] = [[root, children(root), 1, 0]]  # node, children, size, height
    on_path.add(id(root))
    while stack:
        frame = stack[-1]
        child = next(frame[1], None)
        if child is None:
            stack.pop()
            on_path.discard(id(frame[0]))
            done[id(frame[0])] = (frame[2], frame[3] + 1)
            if stack:
                stack[-1][2] += frame[2]
                stack[-1][3] = max(stack[-1][3], frame[3] + 1)
                if used + stack[-1][2] > max_nodes:
                    raise too_many(frame[0].start_mark)
            continue
        if not isinstance(child, (MappingNode, SequenceNode)):
            got: tuple[int, int] | None = (1, 0)
        else:
            got = done.get(id(child))
        if got is None:
            if id(child) in on_path:
                raise BudgetError(
                    "recursive alias: a value contains itself", "recursive_alias", child.start_mark
                )
            if len(stack) >= max_depth:
                raise too_deep(child.start_mark)
            on_path.add(id(child))
            stack.append([child, children(child), 1, 0])
            continue
        frame[2] += got[0]
        frame[3] = max(frame[3], got[1])
        if len(stack) + got[1] > max_depth:
            raise too_deep(child.start_mark)
        if used + frame[2] > max_nodes:
            raise too_many(child.start_mark)
    return used + done[id(root)][0]


def load_nodes(text: str, max_nodes: int, max_depth: int, single: bool = False) -> list[Any]:
    """Every document of ``text``, each checked against the budget before it is constructed.

    With ``single``, a second document stops the parse at once (the rest of the stream is not read).

    Raises:
        BudgetError: a limit is broken.
        ruamel.yaml.error.YAMLError: the text is not YAML the JSON-only constructor accepts.
    """
    yaml = _make_yaml()
    yaml.composer.warn_double_anchors = False  # YAML allows redefining an anchor: the later one counts
    docs: list[Any] = []
    used = 0
    for node in yaml.compose_all(text):
        if single and docs:
            raise BudgetError(
                "the text holds more than one YAML document (separated by '---') but one is expected; "
                "answer with one document, or build the spec with multi_document=True",
                "multi_document",
                node.start_mark,
            )
        used = _budget(node, max_nodes, max_depth, used)
        docs.append(yaml.constructor.construct_document(node))
    return docs
