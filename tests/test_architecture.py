"""The shape of the code base (docs/ARCHITECTURE.md), checked.

* imports flow one way: a module imports only modules of its own layer or
  lower ones (the layers are listed in ``LAYERS``), and there is no cycle;
* no library function is longer than 100 lines (docstrings excluded);
* every CLI command handler is at most 20 lines and calls the library;
* no tracked file names a path of one machine.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sea", "data_prep", "export")

# Lowest first. A module belongs to the first (longest) prefix that matches it.
LAYERS: dict[str, int] = {
    # 0: foundation, imports nothing but itself
    "sea._version": 0,
    "sea.errors": 0,
    "sea.constants": 0,
    "sea.utils": 0,
    "sea.progress": 0,
    "sea.tables": 0,
    "sea.splits": 0,
    "sea.config": 1,
    "sea.layout": 1,
    "sea.distributed": 1,
    # 2: data on disk
    "sea.resample": 2,
    "sea.audio": 2,
    "sea.framing": 2,
    "sea.manifest": 2,
    "sea.cache": 2,
    "sea.store": 2,
    "sea.runs": 2,
    "sea.lock": 2,
    "sea.integrity": 2,
    "sea.files": 2,
    "sea.overlap": 2,
    # 3: models
    "sea.teacher": 3,
    "sea.students": 3,
    "sea.checkpoint": 4,
    # 5..9: the stages, each may read the outputs of the stages before it
    "data_prep": 5,
    "sea.teacher.config": 6,
    "sea.teacher.stage": 6,
    "sea.targets": 7,
    "sea.distill": 8,
    "sea.evaluate": 9,
    "export": 10,
    # 11..: orchestration and the command line
    "sea.pipeline": 11,
    "sea.summary": 11,
    "sea.cli": 12,
    "sea.__main__": 13,
    "sea": 14,  # the package itself: lazy re-exports only
}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            mods[".".join(parts)] = (f, is_pkg)
    return mods


MODULES = _modules()


def _targets(mod: str, is_pkg: bool, node: ast.AST) -> list[str]:
    names = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = mod.split(".") if is_pkg else mod.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
    out = []
    for n in names:
        while n and n not in MODULES:
            n = n.rpartition(".")[0]
        if n and n != mod:
            out.append(n)
    return out


def _edges() -> dict[str, set[str]]:
    """Every import, at module level or inside functions. A package's ``__init__`` importing its own
    submodules (re-exports) is not an edge: the package sits above its contents."""
    edges: dict[str, set[str]] = {}
    for mod, (path, is_pkg) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(t for t in _targets(mod, is_pkg, node) if not (is_pkg and t.startswith(mod + ".")))
        edges[mod] = deps
    return edges


def _layer(mod: str) -> int:
    best = max((p for p in LAYERS if mod == p or mod.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise KeyError(mod)
    return LAYERS[best]


def test_every_module_has_a_layer():
    missing = []
    for m in MODULES:
        try:
            _layer(m)
        except KeyError:
            missing.append(m)
    assert not missing, f"modules without a layer in LAYERS (and docs/ARCHITECTURE.md): {missing}"


def test_no_upward_import():
    bad = []
    for mod, deps in _edges().items():
        for d in deps:
            upward = _layer(d) > _layer(mod)
            # a module importing its own package's __init__ imports what builds on it
            parent_init = MODULES[d][1] and mod.startswith(d + ".")
            if upward or parent_init:
                bad.append(f"{mod} (layer {_layer(mod)}) -> {d} (layer {_layer(d)})")
    assert not bad, "imports that run upward:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in MODULES:
        if m not in index:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = fn.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    if is_doc and len(fn.body) == 1:
        return 0
    start = fn.body[1].lineno if is_doc else fn.lineno
    return fn.end_lineno - start + 1


def _functions(paths):
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def test_no_function_over_100_lines():
    long = [
        f"{p.relative_to(ROOT)}:{fn.lineno} {fn.name} ({_body_lines(fn)} lines)"
        for p, fn in _functions(f for _, (f, _) in MODULES.items())
        if _body_lines(fn) > 100
    ]
    assert not long, "functions over 100 lines:\n" + "\n".join(long)


def test_cli_handlers_are_thin():
    handlers = [
        (p, fn)
        for p, fn in _functions(sorted((ROOT / "sea" / "cli").glob("*.py")))
        if fn.name.startswith("_run")
    ]
    assert len(handlers) >= 10, "expected one _run_* handler per command"
    fat = [f"{p.name}:{fn.lineno} {fn.name} ({_body_lines(fn)} lines)" for p, fn in handlers if _body_lines(fn) > 20]
    assert not fat, "CLI handlers over 20 lines (move the logic into the library):\n" + "\n".join(fat)


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: tracked files cannot be listed")
    return [ROOT / f for f in out.splitlines() if (ROOT / f).is_file()]


def test_no_tracked_file_names_a_machine_path():
    # paths of the machines sea was developed on; a user's clone has none of them
    machine = ("/work/main", "/work/shared", "/work/refenv", "/work/scratch", "/root/", "/home/")
    hits = []
    for f in _tracked_files():
        if f.suffix in (".wav", ".npz", ".npy", ".pt", ".png", ".gz") or f == Path(__file__):
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{f.relative_to(ROOT)}: {m}" for m in machine if m in text]
    assert not hits, "tracked files that name a machine's paths:\n" + "\n".join(hits)
