"""docs/architecture.md's import rules, checked on the actual import graph of the package
(every `import` and `from ... import`, at module level or inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_PACKAGE = {"tests", "benchmarks", "docs", "build", "headcode.egg-info"}

# part -> the parts it may import (besides itself); docs/architecture.md, "What may import what"
ALLOWED = {
    "errors": set(),
    "progress": set(),
    "files": {"errors"},
    "grammars": set(),
    "dsl": {"errors", "grammars"},
    "models": {"dsl", "errors", "files", "progress"},
    "scoring": {"dsl", "models", "errors", "progress"},
    "synth": {"dsl", "models", "scoring", "errors", "files", "progress"},
    "eval": {"dsl", "models", "scoring", "errors", "files", "progress", "synth"},
    "workflow": {"dsl", "models", "scoring", "synth", "eval", "errors", "files", "progress"},
    "cli": {"dsl", "models", "scoring", "synth", "eval", "workflow", "errors", "files",
            "progress"},
    "__main__": {"cli"},
    "__init__": set(),
}
EVAL_READS_OF_SYNTH = {"headcode.synth.rundir", "headcode.synth.front"}  # the run format
EXCEPTIONS = {("headcode.models.train_demo", "headcode.eval.perplexity")}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(["headcode", *parts])


def _sources() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        top = path.relative_to(ROOT).parts[0]
        if top in NOT_PACKAGE or top.startswith("."):
            continue
        out[_module(path)] = path
    return out


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The headcode modules `module` imports (a name imported from a package counts as the
    submodule when there is one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin
                       for a in node.names]
        else:
            continue
        found |= {t for t in targets if t.startswith("headcode.") or t == "headcode"}
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    return {m: _imports(m, p, set(sources)) for m, p in sources.items()}


def test_every_import_follows_the_architecture():
    broken = []
    for module, targets in _graph().items():
        for target in targets:
            a, b = _part(module), _part(target)
            if a == b or (module, target) in EXCEPTIONS:
                continue
            if a == "eval" and b == "synth" and target not in EVAL_READS_OF_SYNTH:
                broken.append(f"{module} -> {target} (eval reads runs only)")
            elif b not in ALLOWED[a]:
                broken.append(f"{module} -> {target}")
    assert not broken, "imports against docs/architecture.md:\n" + "\n".join(sorted(broken))


def test_the_language_knows_no_model_library():
    heavy = {"transformers", "torch"}
    allowed_torch = {"headcode.dsl.torch_backend"}  # the torch back end
    for module, path in _sources().items():
        if _part(module) != "dsl" or module in allowed_torch:
            continue
        roots = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                roots.add(node.module.split(".")[0])
        assert not roots & heavy, f"{module} imports {roots & heavy}"


def test_every_part_of_the_package_has_a_rule_and_the_exceptions_exist():
    graph = _graph()
    assert {_part(m) for m in graph} <= set(ALLOWED)
    for module, target in EXCEPTIONS:
        assert target in graph[module], f"stale exception {module} -> {target}"


def test_the_checker_sees_lazy_and_relative_imports():
    graph = _graph()
    assert "headcode.workflow" in graph["headcode.cli.synthesis"]
    assert "headcode.eval.report" in graph["headcode.workflow"]  # inside a function
    assert "headcode.errors" in graph["headcode.dsl.errors"]  # relative, two levels
