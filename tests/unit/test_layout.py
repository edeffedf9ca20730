"""The layout stays easy to read: no package imports one that imports it back, one import path
for every tool, and each environment variable named in one place only (its settings field)."""

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("infra", "localcloud", "ops", "chaos", "bench", "scripts", "tests")
SOURCES = [path for folder in ("lambdas", *TOOLS) for path in (ROOT / folder).rglob("*.py")] + [ROOT / "app.py"]


def package_of(path: Path) -> str:
    """A function's package (lambdas/orders), a tool (bench), or a test suite (tests.bench):
    tests/ is a folder of suites, and tests/support the fixtures the suites and the bench share."""
    parts = path.relative_to(ROOT).parts
    if parts[0] == "lambdas":
        return parts[1]
    if parts[0] == "tests" and len(parts) > 2:
        return f"tests.{parts[1]}"
    return parts[0].removesuffix(".py")


def imports() -> dict[str, set[str]]:
    """Which package imports which, for the functions' packages and the tools'."""
    packages = {p.name for p in (ROOT / "lambdas").iterdir() if p.is_dir()} | set(TOOLS)
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                top = ".".join(name.split(".")[:2]) if name.startswith("tests.") else name.split(".")[0]
                if (top in packages or top.startswith("tests.")) and top != package_of(path):
                    edges[package_of(path)].add(top)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for following in edges.get(todo.pop(), set()) - seen:
                seen.add(following)
                todo.append(following)
        return seen

    return sorted((a, b) for a in list(edges) for b in edges[a] if a in reach(b))


def test_no_package_imports_one_that_imports_it_back():
    assert cycles(imports()) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"orders": {"projection"}, "projection": {"orders", "catalog"}}) == [
        ("orders", "projection"),
        ("projection", "orders"),
    ]


def test_no_module_edits_the_import_path():
    """make install writes the one path (the venv's order-platform.pth); only the cold-start
    probe puts the code asset first, as Lambda does."""
    editing = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if re.search(r"sys\.path(\.insert|\.append|\[:0\]|\s*=)", path.read_text()) and path != Path(__file__).resolve()
    ]
    assert editing == ["bench/coldstart.py"]


def test_each_settings_variable_is_named_in_its_field_only():
    from infra.consumers import FUNCTIONS

    variables = {spec.settings.variable(field) for spec in FUNCTIONS for field in spec.settings.fields()}
    assert "event_store_table_name".upper() in variables  # the check has something to find
    written = {
        variable: [str(path.relative_to(ROOT)) for path in SOURCES if variable in path.read_text()]
        for variable in variables
    }
    assert {variable: paths for variable, paths in written.items() if paths} == {}


def test_mypy_reads_every_cdk_module_the_code_imports():
    """pyproject.toml has mypy read only the aws_cdk modules the checked code imports (reading
    them all took 43 s of its 49): one imported but not listed would be Any, its calls unchecked."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    listed = {
        module
        for override in config["overrides"]
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }
    imported = set()
    checked = [
        path
        for entry in config["files"]
        for path in ([ROOT / entry] if entry.endswith(".py") else sorted((ROOT / entry).rglob("*.py")))
    ]
    for path in checked:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "aws_cdk":
                imported.add(node.module)
                imported |= {f"aws_cdk.{a.name}" for a in node.names if node.module == "aws_cdk" and a.name.islower()}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.split(".")[0] == "aws_cdk"}
    assert imported == listed


def test_no_function_runs_a_tracing_sdk_and_tracing_lives_in_one_module():
    """Lambda's active tracing alone (docs/DECISIONS.md, "Tracing"): the X-Ray SDK reaches its end
    of support on 2027-02-25, and changing the provider changes lambdas/common/tracing.py only."""
    import re

    root = Path(__file__).resolve().parents[2] / "lambdas"
    sdk = re.compile(
        r"^\s*(from|import)\s+(aws_xray_sdk|opentelemetry)|\bTracer\b|_X_AMZN_TRACE_ID|TraceHeader\b", re.MULTILINE
    )
    found = {str(path.relative_to(root)) for path in root.rglob("*.py") if sdk.search(path.read_text())}
    assert found <= {"common/tracing.py", "publisher/outbox.py"}  # the outbox sets the entry's TraceHeader
    assert "common/tracing.py" in found
