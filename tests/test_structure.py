"""The package's modules import each other without cycles.

The imports are read from the source (AST), including those inside
functions, which only postpone a cycle to run time.  The package's
``__init__`` re-exports everything and is left out.
"""

import ast
import pathlib

import hessianfree

PACKAGE_DIR = pathlib.Path(hessianfree.__file__).parent


def module_imports(package_dir, package="hessianfree"):
    """``{module: set of package modules it imports}`` for every ``.py``
    file directly in ``package_dir``."""
    modules = {f"{package}.{path.stem}": path for path in package_dir.glob("*.py")
               if path.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package if node.level else (node.module or "")
                if node.level and node.module:
                    base = f"{package}.{node.module}"
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph):
    """One import cycle as a list ``[a, b, ..., a]``, or None."""
    state = {}  # module -> "active" while on the path, "done" after

    def visit(node, path):
        state[node] = "active"
        for target in sorted(graph[node]):
            if state.get(target) == "active":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_package_has_no_import_cycle():
    graph = module_imports(PACKAGE_DIR)
    assert "hessianfree.ffnet" in graph and "hessianfree.training" in graph
    assert "hessianfree.training" in graph["hessianfree.distributed"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_detection_sees_imports_inside_functions(tmp_path):
    (tmp_path / "a.py").write_text("from pkg import b\n")
    (tmp_path / "b.py").write_text("import pkg.c\n")
    (tmp_path / "c.py").write_text("def f():\n    from . import a\n")
    graph = module_imports(tmp_path, "pkg")
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    (tmp_path / "c.py").write_text("from pkg.b import thing\n")
    assert find_cycle(module_imports(tmp_path, "pkg")) == ["pkg.b", "pkg.c", "pkg.b"]
    (tmp_path / "c.py").write_text("import numpy\n")
    assert find_cycle(module_imports(tmp_path, "pkg")) is None


#: Largest class and module (in lines) the package keeps to; the demo
#: scripts are exempt from the module limit.
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 500
EXEMPT_MODULES = {"demos"}


def oversized(package_dir, max_class=MAX_CLASS_LINES, max_module=MAX_MODULE_LINES):
    """``["module: n lines", "module.Class: n lines", ...]`` for the modules
    directly in ``package_dir`` and their classes (nested ones included)
    that are longer than the limits."""
    found = []
    for path in sorted(package_dir.glob("*.py")):
        source = path.read_text()
        n_lines = source.count("\n")
        if path.stem not in EXEMPT_MODULES and n_lines > max_module:
            found.append(f"{path.stem}: {n_lines} lines")
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                if length > max_class:
                    found.append(f"{path.stem}.{node.name}: {length} lines")
    return found


def test_no_class_or_module_over_the_size_limits():
    assert oversized(PACKAGE_DIR) == []


def test_size_limits_catch_a_long_class_and_module(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(6))
    (tmp_path / "big.py").write_text("class Big:\n" + body)  # 7 lines, 7 newlines
    (tmp_path / "demos.py").write_text("pass\n" * 20)
    assert oversized(tmp_path, max_class=7, max_module=7) == []
    assert oversized(tmp_path, max_class=6, max_module=7) == ["big.Big: 7 lines"]
    assert oversized(tmp_path, max_class=7, max_module=6) == ["big: 7 lines"]
