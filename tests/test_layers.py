"""The package's layers only point down: spec → constraint → model → text → enforce → metrics → decision.

Every ``import formbound.X`` inside the package (module level or inside a function; imports under
``if TYPE_CHECKING:`` are annotations only and do not count) must go to the same layer or a lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import formbound

ROOT = Path(formbound.__file__).parent

#: Lowest first. A module belongs to the first layer whose prefix matches its dotted name.
LAYERS: list[tuple[str, ...]] = [
    (
        "formbound._util",
        "formbound._atomic",
        "formbound._version",
        "formbound._schema_walk",
        "formbound.errors",
    ),
    ("formbound.constraints",),
    ("formbound.formats", "formbound.spec", "formbound.enforce"),
    ("formbound.prompts", "formbound.models", "formbound.hooks"),
    ("formbound.strategies", "formbound.generate", "formbound.deployment"),
    ("formbound.measure",),
    ("formbound.escalate",),
    ("formbound.cli", "formbound.__main__", "formbound"),
]


def layer_of(module: str) -> int:
    best, best_len = len(LAYERS) - 1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("formbound")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("formbound"):
                out.append((node.lineno, node.module))
    return out


def test_no_module_imports_from_a_layer_above_it() -> None:
    violations = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = module_name(path)
        here = layer_of(mod)
        for lineno, target in imports_of(path):
            if target == "formbound" and mod != "formbound":
                # the package root re-exports the public API: only the top layer may use it
                there = len(LAYERS) - 1
            else:
                there = layer_of(target)
            if there > here:
                violations.append(f"{mod}:{lineno} imports {target} (layer {there} > {here})")
    assert not violations, "\n".join(violations)


def test_every_module_is_in_a_named_layer() -> None:
    named = {p for layer in LAYERS for p in layer}
    for path in ROOT.rglob("*.py"):
        mod = module_name(path)
        assert any(mod == p or mod.startswith(p + ".") for p in named), f"{mod} is in no layer"
