"""Hostile YAML inputs: each is answered (a value or a clear EnforcementError) within a generous bound.

The bound is wall-clock time on a shared machine; the real costs are far below it.
"""

from __future__ import annotations

import time

import pytest

from formbound.enforce import enforce
from formbound.errors import EnforcementError
from formbound.formats.yaml import YamlSpec, repair

BOUND_S = 2.0
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "x": {"type": "number", "minimum": 0, "maximum": 10}},
}


def _chain(levels: int, fan: int, merge: bool) -> str:
    lines = ["l0: &l0 {a: 1, b: 2}" if merge else 'l0: &l0 ["lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * fan)
        lines.append(f"l{i}: &l{i} {{<<: [{refs}]}}" if merge else f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


# Sized to fill the default max_chars (10,000): these reach the parser and the repairs.
N = 9_500
HOSTILE: dict[str, str] = {
    "merge_doubling_20_lines": _chain(20, 2, merge=True),
    "merge_doubling_60_lines": _chain(60, 2, merge=True),
    "merge_fan_9": _chain(12, 9, merge=True),
    "billion_laughs": _chain(9, 9, merge=False),
    "alias_fan_100": _chain(6, 100, merge=False),
    "spaces_between_words": "a" + " " * N + "b",
    "spaces_after_key_like_word": "key" + " " * N + "x: 1",
    "spaces_after_fence": "```" + " " * N + "x\nname: a\n",
    "tabs_after_fence": "```" + "\t" * N + "yaml x\n",
    "many_fences": "```\n" * (N // 4),
    "many_tagged_fences": "```yaml\nname: a\n```\n" * (N // 20),
    "leading_blank_lines": "\n" * N + "name: a\n",
    "leading_markers": "---\n" * (N // 4) + "name: a\n",
    "trailing_markers": "name: a\n" + "...\n" * (N // 4),
    "prose_and_blocks": "Some prose.\nname: a\n" * (N // 20),
    "prose_lines": "Just some words here.\n" * (N // 22),
    "single_quote_run": "'" + "''" * (N // 2) + ": 1",
    "double_quote_escapes": '"' + '\\"' * (N // 2) + ": 1",
    "brace_in_prose_then_garbage": "Answer {" + "x" * N,
    "open_braces": "{x" * (N // 2),
    "deep_flow": "[" * N,
    "deep_block": "".join(" " * i + "k:\n" for i in range(150)),
    "long_key": "k" * N + ": 1",
    "colons": ":" * N,
    "hashes_and_colons": "a#:" * (N // 3),
    # token-dense YAML is the pure-Python parser's slowest input (about 5 KB/s on a loaded machine)
    "dense_flow_list": "x: [" + "1," * 3_000 + "1]",
    # parsed twice (as given, then without the prose line): the slowest input per character
    "dense_flow_list_unclosed": "Here:\nx: [" + "1," * 2_000 + "1",
    "dense_block_list": "- 1\n" * 1_500,
    "dense_json": '{"x": [' + "1," * 4_500 + "1]}",
    "nan_bound": "x: .nan\n",
    "inf_in_json": '{\n\t"x": 1e999\n}',
    "lone_surrogate": 'name: "\\ud800"\n',
    "one_megabyte": "name: a\n" + "k: v\n" * 210_000,
    "one_megabyte_fenced": "```yaml\n" + "k: v\n" * 210_000 + "```\n",
    "just_over_the_cap": "k: " + "v" * 10_000,
    # several documents: each is parsed once more and validated (at most 16) to find the one that matches
    "many_documents": "name: a\n---\n" * (N // 12),
    # (token-dense ones sized like dense_flow_list: the stream is parsed in full a second time)
    "sixteen_dense_documents": ("x: [" + "1," * 180 + "1]\n---\n") * 16,
    "documents_then_dense_one": "name: a\n---\n" * 15 + "x: [" + "1," * 2_800 + "1]\n",
    "one_megabyte_of_documents": "name: a\n---\n" * 90_000,
}
# A quarter of a megabyte each (25 times max_chars), given to the repairs directly: every repair
# is linear in the text (the quadratic ones took minutes on inputs this size).
MB = 250_000
REPAIR_HOSTILE: dict[str, str] = {
    "spaces_between_words": "a" + " " * MB + "b",
    "spaces_after_key_like_word": "key" + " " * MB + "x: 1",
    "spaces_after_fence": "```" + " " * MB + "x\n",
    "many_fences": "```\n" * (MB // 4),
    "leading_blank_lines": "\n" * MB + "name: a\n",
    "leading_markers": "---\n" * (MB // 4) + "name: a\n",
    "prose_and_blocks": "Some prose.\nname: a\n" * (MB // 20),
    "single_quote_run": "'" + "''" * (MB // 2) + ": 1",
    "double_quote_escapes": '"' + '\\"' * (MB // 2) + ": 1",
    "colons": ":" * MB,
    "brace_then_lines": "Answer {\n" + "k: v\n" * (MB // 5),
    "tabs": "\t" * MB + "k: v",
}


@pytest.fixture(scope="module")
def spec() -> YamlSpec:
    built = YamlSpec(SCHEMA)
    built.check("name: warm")  # the first check imports the validator's dependencies
    return built


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_answered_quickly(name: str, spec: YamlSpec) -> None:
    text = HOSTILE[name]
    start = time.perf_counter()
    try:
        enforce(text, spec)
    except EnforcementError as err:
        assert err.errors and err.errors[0].message
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, f"{name}: {elapsed:.2f} s"


@pytest.mark.parametrize("name", sorted(REPAIR_HOSTILE))
def test_every_repair_is_linear(name: str) -> None:
    text = REPAIR_HOSTILE[name]
    start = time.perf_counter()
    list(repair.candidates(text, ("name",)))
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, f"{name}: {elapsed:.2f} s"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("merge_doubling_20_lines", "too_many_nodes"),
        ("billion_laughs", "too_many_nodes"),
        ("nan_bound", "non_json_number"),
        ("inf_in_json", "non_json_number"),
        ("lone_surrogate", "surrogate"),
        ("one_megabyte", "too_large"),
        ("just_over_the_cap", "too_large"),
    ],
)
def test_hostile_yaml_is_refused_with_a_clear_issue(name: str, kind: str, spec: YamlSpec) -> None:
    with pytest.raises(EnforcementError) as info:
        enforce(HOSTILE[name], spec)
    assert info.value.errors[0].kind == kind
