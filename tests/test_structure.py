"""The package's layers, read from its source.

The imports are read from the source (AST) of every module, subpackages and
``__init__`` files included, and counting imports inside functions, which
only postpone a cycle to run time.  Checked: no import cycle; the networks
import no optimizer, training loop or MPI module at module level; classes
and modules stay within sizes that keep one concept per module (the demos
are a subpackage of short scripts).
"""

import ast
import pathlib

import hessianfree

PACKAGE_DIR = pathlib.Path(hessianfree.__file__).parent


def module_names(package_dir, package="hessianfree"):
    """``{dotted module name: path}`` for every ``.py`` file below
    ``package_dir`` (``pkg/__init__.py`` is ``pkg``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join([package] + parts)] = path
    return modules


def _imported(node, module, is_package, modules):
    """The package modules an import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:  # relative: from the module's package, up level - 1
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names}


def module_imports(package_dir, package="hessianfree", top_level_only=False):
    """``{module: set of package modules it imports}``; with
    ``top_level_only``, only the imports run when the module is imported
    (module level, including under ``if`` and ``try``)."""
    modules = module_names(package_dir, package)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        nodes = ast.walk(tree)
        if top_level_only:
            nodes = [n for top in tree.body if isinstance(top, (ast.If, ast.Try))
                     for n in ast.walk(top)] + list(tree.body)
        targets = set()
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= _imported(node, name, path.name == "__init__.py", modules)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph, allowed=lambda source, target: False):
    """One import cycle as a list ``[a, b, ..., a]``, or None; edges for
    which ``allowed(source, target)`` holds are left out."""
    state = {}  # module -> "active" while on the path, "done" after

    def visit(node, path):
        state[node] = "active"
        for target in sorted(graph[node]):
            if allowed(node, target):
                continue
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


def _is_script(module):
    """The demos and presets, which may import the package root."""
    return ".demos" in module or module.endswith(".presets")


def test_package_has_no_import_cycle():
    graph = module_imports(PACKAGE_DIR)
    assert {"hessianfree", "hessianfree.nets.ffnet", "hessianfree.run.training"} <= set(graph)
    assert "hessianfree.run.training" in graph["hessianfree.parallel.distributed"]
    cycle = find_cycle(graph, allowed=lambda source, target:
                       target == "hessianfree" and _is_script(source))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_detection_sees_imports_inside_functions_and_packages(tmp_path):
    (tmp_path / "a.py").write_text("from pkg import b\n")
    (tmp_path / "b.py").write_text("import pkg.c\n")
    (tmp_path / "c.py").write_text("def f():\n    from . import a\n")
    graph = module_imports(tmp_path, "pkg")
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert module_imports(tmp_path, "pkg", top_level_only=True)["pkg.c"] == set()
    (tmp_path / "c.py").write_text("import numpy\n")
    assert find_cycle(module_imports(tmp_path, "pkg")) is None
    (tmp_path / "__init__.py").write_text("from pkg.sub import d\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "__init__.py").write_text("")
    (tmp_path / "sub" / "d.py").write_text("def f():\n    import pkg\n")
    assert find_cycle(module_imports(tmp_path, "pkg")) == ["pkg", "pkg.sub.d", "pkg"]


def _closure(graph, start):
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen and target != "hessianfree":
                seen.add(target)
                todo.append(target)
    return seen


def test_networks_import_no_optimizer_training_loop_or_mpi():
    """The networks sit below their trainers: what importing them imports
    holds no optimizer, training loop or MPI module (``run_epochs`` reaches
    the training loop through one import inside the method)."""
    graph = module_imports(PACKAGE_DIR, top_level_only=True)
    above = {"hessianfree.optim.optimizers", "hessianfree.run.training",
             "hessianfree.run.fitting", "hessianfree.parallel.distributed",
             "hessianfree.parallel.agreement"}
    for network in ("hessianfree.nets.ffnet", "hessianfree.nets.rnnet"):
        assert not _closure(graph, network) & above, network
    everywhere = module_imports(PACKAGE_DIR)
    late = {t for t in everywhere["hessianfree.nets.ffnet"] & above}
    assert late == {"hessianfree.run.fitting"}


#: Largest class and module (in lines) the package keeps to; the demo
#: scripts are modules of at most DEMO_MODULE_LINES.
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 500
DEMO_MODULE_LINES = 300


def oversized(package_dir, max_class=MAX_CLASS_LINES, max_module=MAX_MODULE_LINES,
              max_demo=DEMO_MODULE_LINES, package="hessianfree"):
    """``["module: n lines", "module.Class: n lines", ...]`` for the modules
    below ``package_dir`` and their classes (nested ones included) that are
    longer than the limits."""
    found = []
    for name, path in module_names(package_dir, package).items():
        source = path.read_text()
        n_lines = source.count("\n")
        limit = max_demo if ".demos" in name else max_module
        if n_lines > limit:
            found.append(f"{name}: {n_lines} lines")
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                if length > max_class:
                    found.append(f"{name}.{node.name}: {length} lines")
    return found


def test_no_class_or_module_over_the_size_limits():
    assert oversized(PACKAGE_DIR) == []
    assert any(".demos." in name for name in module_names(PACKAGE_DIR))


def test_size_limits_catch_a_long_class_and_module(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(6))
    (tmp_path / "big.py").write_text("class Big:\n" + body)  # 7 lines, 7 newlines
    (tmp_path / "demos").mkdir()
    (tmp_path / "demos" / "long.py").write_text("pass\n" * 5)
    assert oversized(tmp_path, max_class=7, max_module=7, max_demo=5, package="p") == []
    assert oversized(tmp_path, max_class=6, max_module=7, max_demo=5,
                     package="p") == ["p.big.Big: 7 lines"]
    assert oversized(tmp_path, max_class=7, max_module=6, max_demo=4,
                     package="p") == ["p.big: 7 lines", "p.demos.long: 5 lines"]
