"""Does a dotted path (`pkg.mod:name`) name something, judged without importing the module?

Runtime objects named in a config (a `loss_fn`) live in modules that import torch, which
`noether-config validate` must not. So the module's file is found with importlib's finders (no
module is executed: only the top-level package is looked up through `sys.meta_path`, its
submodules through `PathFinder` on the package's folders) and its top-level names are read with
`ast`. A module that cannot be read that way (an extension module, a namespace package, a
module that makes names dynamically) is left for run time.
"""

import ast
import importlib.machinery
import importlib.util
from importlib.machinery import ModuleSpec

from noether.config.entry_points import split_dotted_path

_DYNAMIC_MARKERS = ("globals()", "sys.modules[__name__]")
"""Source text that may define module names at run time: such modules are not judged."""


def find_module_spec(module: str) -> ModuleSpec | None:
    """The spec of `module` (None: not found), without executing it or any of its packages.

    Raises:
        ValueError: `module` is in sys.modules without a spec (e.g. `__main__`).
    """
    top, *rest = module.split(".")
    if not top or not all(rest):
        return None
    # For a top-level name find_spec imports nothing; it consults every finder on
    # sys.meta_path (editable installs included).
    spec = importlib.util.find_spec(top)
    name = top
    for part in rest:
        if spec is None or spec.submodule_search_locations is None:
            return None
        name = f"{name}.{part}"
        spec = importlib.machinery.PathFinder.find_spec(name, list(spec.submodule_search_locations))
    return spec


def _targets(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    if isinstance(node, ast.Tuple | ast.List):
        return [name for element in node.elts for name in _targets(element)]
    return []


def _statement_names(statement: ast.stmt) -> list[str] | None:
    """Names a top-level statement binds; None when it binds names that cannot be known."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    if isinstance(statement, ast.Assign):
        return [name for target in statement.targets for name in _targets(target)]
    if isinstance(statement, ast.AnnAssign | ast.AugAssign):
        return _targets(statement.target)
    if isinstance(statement, ast.Import):
        return [alias.asname or alias.name.partition(".")[0] for alias in statement.names]
    if isinstance(statement, ast.ImportFrom):
        if any(alias.name == "*" for alias in statement.names):
            return None
        return [alias.asname or alias.name for alias in statement.names]
    names: list[str] = []
    if isinstance(statement, ast.For | ast.AsyncFor):
        names += _targets(statement.target)
    elif isinstance(statement, ast.With | ast.AsyncWith):
        for item in statement.items:
            if item.optional_vars is not None:
                names += _targets(item.optional_vars)
    # compound statements: the names of every branch
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(statement, field, ()):
            if isinstance(child, ast.ExceptHandler | ast.match_case):
                child_names = _block_names(child.body)
                if isinstance(child, ast.ExceptHandler) and child.name:
                    names.append(child.name)
            else:
                child_names = _statement_names(child)
            if child_names is None:
                return None
            names += child_names
    return names


def _block_names(body: list[ast.stmt]) -> list[str] | None:
    names: list[str] = []
    for statement in body:
        found = _statement_names(statement)
        if found is None:
            return None
        names += found
    return names


def top_level_names(source: str) -> set[str] | None:
    """Names a module's source binds at top level; None when that cannot be told statically
    (a star import, a module `__getattr__`, names made through globals())."""
    if any(marker in source for marker in _DYNAMIC_MARKERS):
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names = _block_names(tree.body)
    if names is None or "__getattr__" in names:
        return None
    # names bound elsewhere that may land at top level (`global x` in a function, `(x := 1)`):
    # counted wherever they are, so a doubtful name passes and is judged at run time
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names += node.names
        elif isinstance(node, ast.NamedExpr):
            names += _targets(node.target)
    return set(names)


def missing_name(path: str) -> str | None:
    """Why `path` (`pkg.mod:name` or `pkg.mod.name`) names nothing, or None when it does or
    when that cannot be told without importing."""
    try:
        module, attribute = split_dotted_path(path)
    except ValueError:
        return f"{path!r} is not a dotted path to a name (package.module:name)"
    try:
        spec = find_module_spec(module)
    except ValueError:  # imported already, without a spec: nothing to read
        return None
    if spec is None:
        return (
            f"cannot find module {module!r} of {path!r} (not installed, and not a module "
            "next to the config file)"
        )
    origin = spec.origin
    if not origin or not origin.endswith(".py"):
        return None  # an extension, built-in or namespace module: judged at run time
    try:
        with open(origin, "rb") as file:
            source = file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    names = top_level_names(source)
    first = attribute.split(".")[0]
    if names is None or first in names:
        return None
    locations = spec.submodule_search_locations
    if locations and importlib.machinery.PathFinder.find_spec(f"{module}.{first}", list(locations)):
        return None  # a submodule: the import decides
    from noether.config.similar_names import module_names_hint  # error messages only

    hint = module_names_hint(first, names)
    return f"module {module!r} ({origin}) has no top-level name {first!r}{hint}"
