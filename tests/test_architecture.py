"""The import contract of the layout (README, "Code layout"): which app may import which.

    casesite (settings, urls, wsgi/asgi)  wires everything; nothing imports it back
    casesite (clock, forms, links, middleware, views)  shared by every app; imports no app
    accounts  identity and security; imports only casesite's shared modules
    partners  the directory; imports accounts and casesite, never cases
    cases     imports partners, accounts and casesite, never portal, api, bench or demo
    portal, api  use cases through its selectors, services and declarations, never its views
    bench, demo  imported by nobody

Every import counts, those inside functions included (a lazy import is still an arrow),
except those under `if TYPE_CHECKING:`. The test reads the source, so it needs no database.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("casesite", "accounts", "partners", "cases", "portal", "api", "bench", "demo")
WIRING = {"casesite.settings", "casesite.settings_test", "casesite.urls"}
WIRING |= {"casesite.wsgi", "casesite.asgi"}
# What the portal and the API may use of cases: its reads, its writes, the one visibility
# rule (cases.access) and its declarations (models' states, the record kinds, the
# permission names, the attachment response).
CASES_FOR_FRONT_ENDS = {
    "cases.access",
    "cases.selectors",
    "cases.services",
    "cases.models",
    "cases.records",
    "cases.permissions",
    "cases.downloads",
}
# Who may import what, by app (the importing module's own app is always allowed).
ALLOWED = {
    "casesite": set(),
    "accounts": {"casesite"},
    "partners": {"casesite", "accounts"},
    "cases": {"casesite", "accounts", "partners"},
    "portal": {"casesite", "accounts", "partners", "cases"},
    "api": {"casesite", "accounts", "partners", "cases"},
    "demo": {"casesite", "accounts", "partners", "cases"},
    "bench": set(APPS),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        folder = ROOT / app
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            if "migrations" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(
    name: str, path: Path, known: dict[str, Path], *, at_import_only: bool = False
) -> set[str]:
    """The project modules `name` imports, wherever the import statement is (or, with
    `at_import_only`, those that run when the module loads: not inside functions)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if at_import_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} & set(known)
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(module)
    return {module for module in found if module.split(".")[0] in APPS}


def arrows() -> list[tuple[str, str]]:
    known = project_modules()
    return sorted(
        (name, target)
        for name, path in known.items()
        for target in imported_modules(name, path, known)
    )


def _app(module: str) -> str:
    return module.split(".")[0]


def test_the_contract_sees_every_app_and_real_arrows():
    found = arrows()
    apps = {_app(name) for name, _ in found}
    assert {"accounts", "partners", "cases", "portal", "bench"} <= apps
    # A few arrows that must be there (a parser that sees nothing would pass the rest).
    assert ("cases.services", "accounts.roles") in found
    assert ("portal.views", "cases.selectors") in found
    assert ("accounts.mfa", "casesite.forms") in found  # an absolute import
    assert ("cases.views", "cases.records") in found  # a relative one


@pytest.mark.parametrize("app", [app for app in APPS if app not in ("bench",)])
def test_each_app_imports_only_what_the_layout_allows(app):
    wrong = [
        f"{name} imports {target}"
        for name, target in arrows()
        if _app(name) == app
        and name not in WIRING
        and _app(target) != app
        and _app(target) not in ALLOWED[app]
    ]
    assert wrong == []


def test_nothing_imports_the_wiring_the_front_ends_the_benchmark_or_the_demo():
    closed = {"portal", "api", "bench", "demo"}
    wrong = [
        f"{name} imports {target}"
        for name, target in arrows()
        if _app(name) not in ("bench",)
        and name not in WIRING
        and (
            (_app(target) in closed and _app(target) != _app(name))
            or (target in WIRING and _app(name) != "casesite")
        )
    ]
    assert wrong == []


def test_the_portal_and_the_api_use_cases_only_through_its_selectors_services_and_declarations():
    wrong = [
        f"{name} imports {target}"
        for name, target in arrows()
        if _app(name) in ("portal", "api")
        and _app(target) == "cases"
        and not any(
            target == allowed or target.startswith(allowed + ".")
            for allowed in CASES_FOR_FRONT_ENDS
        )
    ]
    assert wrong == []


def test_no_import_cycle_at_import_time_between_modules():
    """Imports run when a module loads (not those inside functions) form no cycle."""
    known = project_modules()
    graph = {
        name: {
            target
            for target in imported_modules(name, path, known, at_import_only=True)
            if target in known and target != name
        }
        for name, path in known.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        path, seen = [start], set()

        def visit(node: str) -> list[str] | None:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    path.append(nxt)
                    found = visit(nxt)
                    if found:
                        return found
                    path.pop()
            return None

        return visit(start)

    cycles = {" -> ".join(c) for name in graph if (c := cycle_from(name))}
    assert cycles == set()
