"""The package layering holds: data flows assistant -> agents -> {model, retrieval, voices}
(-> core); no import cycle among the project's modules; no project import hidden inside a
function (where one would only dodge a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assistant", "agents", "model", "retrieval", "voices", "core")
# what each package may import from the project
ALLOWED = {
    "assistant": {"assistant", "agents", "model", "retrieval", "voices", "core"},
    "agents": {"agents", "model", "retrieval", "voices", "core"},
    "model": {"model", "core"},
    "retrieval": {"retrieval", "core"},
    "voices": {"voices", "core"},
    "core": {"core"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            rel = f.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _project_imports(tree: ast.AST, top_level_only: bool) -> list[tuple[str, int]]:
    found = []
    body = tree.body if top_level_only else list(ast.walk(tree))  # type: ignore[attr-defined]
    for node in body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found += [(n, node.lineno) for n in names if n.split(".")[0] in PACKAGES]
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_packages_import_only_downwards():
    bad = []
    for mod, path in _modules().items():
        pkg = mod.split(".")[0]
        for name, line in _project_imports(ast.parse(path.read_text()), top_level_only=False):
            if name.split(".")[0] not in ALLOWED[pkg]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        deps = set()
        for name, _ in _project_imports(ast.parse(path.read_text()), top_level_only=True):
            target = _resolve(name, modules)
            if target and target != mod:
                deps.add(target)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        graph[mod] = deps | {p for d in deps for p in _parents(d) if p in modules and p != mod}
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    # a package's __init__ importing its own submodules is how packages re-export
    real = [c for c in cycles if not _init_reexport(c)]
    assert not real, "\n".join(real)


def _parents(mod: str) -> list[str]:
    parts = mod.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _init_reexport(cycle: str) -> bool:
    mods = cycle.split(" -> ")
    return any(b.startswith(a + ".") for a, b in zip(mods, mods[1:], strict=False))


def test_no_project_import_inside_functions():
    bad = []
    for path in _modules().values():
        if path.parent.name == "assistant" and path.name.startswith("cli"):
            continue  # the CLI loads each command's stack only when that command runs
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                names = _project_imports(ast.Module(body=[node], type_ignores=[]), True)
                if names and not _in_type_checking(tree, node):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {names[0][0]}")
    assert not bad, "\n".join(bad)


def _in_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            if any(node is c for c in ast.walk(n)):
                return True
    return False
