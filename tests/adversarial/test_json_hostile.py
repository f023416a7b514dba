"""Hostile JSON inputs: every one finishes under a generous bound with a result or a FormboundError.

The bound (2 s) is far above what each input takes on an idle machine (well under 0.5 s); it catches
quadratic or exponential work, not slowness. Each case is ~1 MB (the size the limits promise to handle)
or just under the repair limit, where the pure-Python repair reader does the most work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

import formbound as fb
from formbound.formats.json.spec import MAX_REPAIR_CHARS

BOUND_S = 2.0
MB = 1_000_000
R = MAX_REPAIR_CHARS - 1_000  # just under the repair limit: the repair reader runs in full

HOSTILE: dict[str, Callable[[], str]] = {
    # ~1 MB: refused or read by the C decoder
    "open_brace_key_storm": lambda: "{x" * (MB // 2),
    "open_brackets": lambda: "[" * MB,
    "open_objects": lambda: '{"a":' * (MB // 5),
    "quote_storm": lambda: '"' * MB,
    "prose_with_brackets": lambda: "a [b " * (MB // 5),
    "many_small_values": lambda: "{} " * (MB // 3),
    "comma_storm": lambda: "[" + "," * MB + "]",
    "valid_big_array": lambda: json.dumps(list(range(140_000))),
    "valid_big_array_trailing_comma": lambda: json.dumps(list(range(140_000)))[:-1] + ",]",
    "unclosed_big_string": lambda: '{"a": "' + "x" * MB,
    "lone_surrogate_escapes": lambda: '["' + "\\ud800" * (MB // 6) + '"]',
    "huge_integer": lambda: "1" * MB,
    "overflowing_floats": lambda: "[" + "1e999," * (MB // 6) + "1]",
    "block_comment_openers": lambda: "/*" * (MB // 2),
    "fence_openers": lambda: "```json\n" * (MB // 8),
    "unclosed_fence_big": lambda: "```json\n" + "[1," * (MB // 3),
    "ideographic_space_then_value": lambda: "\u3000" * MB + "{}",
    "duplicate_keys": lambda: "{" + ",".join(f'"k":{i}' for i in range(100_000)) + "}",
    "closers": lambda: "]" * MB,
    "quoted_prose_with_braces": lambda: '"a{" ' * (MB // 5),
    "deep_valid_nesting": lambda: "[" * 5_000 + "]" * 5_000,
    # just under the repair limit: the repair reader does all of its work
    "r_open_brace_key_storm": lambda: "{x" * (R // 2),
    "r_missing_commas": lambda: "[" + " 1" * (R // 2) + "]",
    "r_trailing_commas": lambda: "[" + "1," * (R // 2) + "]",
    "r_python_literals": lambda: str([True] * (R // 6)),
    "r_single_quoted_object": lambda: str({f"k{i}": i for i in range(R // 14)}),
    "r_unquoted_keys": lambda: "{" + ",".join(f"k{i}: 1" for i in range(R // 10)) + "}",
    "r_invalid_escapes": lambda: '["' + "\\q" * (R // 2) + '",]',
    "r_raw_newlines": lambda: '{"a": "' + "x\n" * (R // 2) + '"}',
    "r_line_comments": lambda: "//\n" * (R // 3),
    "r_hash_comments": lambda: "[#\n" * (R // 3),
    "r_truncated_object": lambda: json.dumps({f"k{i}": "v" * 5 for i in range(R // 14)})[:-5],
    "r_key_colon_storm": lambda: '"a":' * (R // 4) + "{}",
    "r_members_before_values": lambda: '"a": {} ' * (R // 8),
    "r_open_mixed": lambda: "[{" * (R // 2),
    "r_prose_values": lambda: "see {} and " * (R // 11),
}


@pytest.mark.parametrize("allow_truncated", [False, True])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_json_is_bounded(name: str, allow_truncated: bool) -> None:
    text = HOSTILE[name]()
    t0 = time.perf_counter()
    try:
        result = fb.enforce(text, {}, allow_truncated=allow_truncated)
    except fb.EnforcementError as err:
        assert err.errors and str(err)
    else:
        json.loads(result.text)  # what is handed back is JSON
    elapsed = time.perf_counter() - t0
    assert elapsed < BOUND_S, f"{name}: {elapsed:.2f} s for {len(text):,} characters"


def test_large_invalid_text_is_refused_with_a_clear_error() -> None:
    text = "{x" * 400_000
    t0 = time.perf_counter()
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce(text, {})
    assert time.perf_counter() - t0 < BOUND_S
    assert info.value.errors[0].kind == "too_large_to_repair"
    assert "100,000" in str(info.value) or f"{MAX_REPAIR_CHARS:,}" in str(info.value)


def test_size_cap_is_a_clear_error() -> None:
    with pytest.raises(fb.EnforcementError) as info:
        fb.enforce("[" + "1," * 600 + "1]", {}, max_chars=1_000)
    assert info.value.errors[0].kind == "too_large"
    assert "max_chars" in str(info.value)
