"""The house as its folders say: no import circle, the logic sees LiveKit and AWS only through ports,
and each top-level room is entered through its public surface (its __init__)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {  # top-level name -> folder
    "dispatch_verify": ROOT / "functions" / "dispatch_verify",
    "local_engine": ROOT / "local_engine",
    "livekit_sim": ROOT / "livekit_sim",
    "clocks": ROOT / "clocks",
    "dispatch_verify_cli": ROOT / "dispatch_verify_cli",
    "bench": ROOT / "bench",
}
ROOMS = {"local_engine", "livekit_sim", "clocks", "dispatch_verify_cli"}
OUTER_LAYERS = ("dispatch_verify.adapters", "dispatch_verify.handlers")
CLIENT_LIBRARIES = ("boto3", "botocore", "livekit")
OWN_TESTS = (ROOT / "tests" / "sim", ROOT / "tests" / "engine")  # a room's own tests may reach in


def module_name(path: Path) -> str:
    for top, folder in PACKAGES.items():
        if path.is_relative_to(folder):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise AssertionError(path)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (type-checking-only imports too: a circle is a circle)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for folder in PACKAGES.values() for p in folder.rglob("*.py")}
    return {
        name: {i for i in imports_of(path) if i in modules and i != name} for name, path in modules.items()
    }


def test_there_is_no_import_circle() -> None:
    # Given every module of the project's packages and what it imports
    edges = graph()

    # When the graph is searched for a cycle (depth first)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if nxt.startswith(node + "."):  # a package importing its own submodule is no circle
                continue
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [*path, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])

    # Then there is none
    assert cycles == []


def source_of(name: str) -> Path:
    top, _, rest = name.partition(".")
    folder = PACKAGES[top] / rest.replace(".", "/")
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def test_the_logic_and_the_ports_reach_livekit_and_aws_only_through_ports() -> None:
    # Given the modules of logic/ and ports/
    edges = graph()
    layered = [name for name in edges if name.startswith(("dispatch_verify.logic", "dispatch_verify.ports"))]

    # When what they import is read
    def crossing(name: str) -> list[str]:
        inward = [
            i for i in edges[name] if i.startswith(("dispatch_verify.adapters", "dispatch_verify.handlers"))
        ]
        clients = [
            i for i in imports_of(source_of(name)) if i.split(".")[0] in ("boto3", "botocore", "livekit")
        ]
        return sorted(inward + clients)

    # Then neither an adapter, a handler nor an AWS or LiveKit client library
    assert {name: crossing(name) for name in layered if crossing(name)} == {}


def imports_of_test(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_rooms_are_entered_through_their_public_surface() -> None:
    # Given every module outside a room (the room's own tests aside: tests/sim, tests/engine)
    importers = {name: imports_of(source_of(name)) for name in graph()}
    for path in (ROOT / "tests").rglob("*.py"):
        if not path.is_relative_to(ROOT / "tests" / "sim") and not path.is_relative_to(
            ROOT / "tests" / "engine"
        ):
            importers[str(path.relative_to(ROOT))] = imports_of_test(path)

    # When the room submodules each imports are listed (a name a room exports is not a submodule)
    def reaching_in(name: str, imported: set[str]) -> list[str]:
        own = name.split(".")[0]
        return sorted(
            i
            for i in imported
            if i.split(".")[0] in ROOMS and "." in i and i.split(".")[0] != own and not _is_exported(i)
        )

    # Then there are none
    assert {
        name: reaching_in(name, found) for name, found in importers.items() if reaching_in(name, found)
    } == {}


def _is_exported(name: str) -> bool:
    """``room.thing`` where ``thing`` is a name the room's __init__ exports (from room import thing)."""
    room, _, rest = name.partition(".")
    return "." not in rest and f'"{rest}"' in (PACKAGES[room] / "__init__.py").read_text()
