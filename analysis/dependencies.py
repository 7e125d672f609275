"""What code a result depends on: the package modules a piece of code imports, followed through the package.

Read from the syntax tree, so every form counts — `from analysis.models import ehcp
as em`, `import analysis.report.charts`, imports inside functions — and a
package's `__init__` counts with its modules. The book uses it to decide which
chapters are stale; stored grid results use it to stamp the code that made them.
A stamp hashes what the package's code does, not its wording: its docstrings and
comments can be corrected without sending a chapter or an hour-long grid back to be
recomputed (a chapter's own cells count as written).
"""

from __future__ import annotations

import ast
import hashlib

from analysis import paths


def imported_modules(code: str) -> set[str]:
    """The `analysis` modules `code` uses, and every package module those import in turn.

    The package root (which only pins the numerics) is left out.
    """
    found: set[str] = set()
    todo = direct_imports(code)
    while todo:
        name = todo.pop()
        if name not in found and name != "analysis":
            found.add(name)
            todo |= direct_imports(paths.module_file(name).read_text(encoding="utf-8"))
    return found


def direct_imports(code: str) -> set[str]:
    """Package modules named by the import statements of `code` (absolute imports, as the package uses)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in candidates:
            if name.split(".")[0] == "analysis" and _is_module(name):
                names.add(name)
                names |= {".".join(name.split(".")[:k]) for k in range(2, name.count(".") + 1)}  # parent packages
    return names


def named_strings(code: str) -> set[str]:
    """Every string literal in `code`: the panel columns and registry keys it can name."""
    return {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def code_hash(modules: set[str]) -> str:
    """Hash of what `modules` do: their syntax trees without docstrings (`meaning`)."""
    digest = hashlib.sha256()
    for module in sorted(modules):
        digest.update(module.encode() + meaning(paths.module_file(module).read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def meaning(code: str) -> str:
    """`code`'s syntax tree without its docstrings, as text: rewording a docstring or a comment, or laying the code
    out differently, leaves it (and so every stamp made from it) unchanged; changing what the code does does not."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and _has_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _has_docstring(node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _is_module(name: str) -> bool:
    base = paths.ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()
