"""Architecture rules, checked from the source: no module-level import cycle among evonas/,
genomes/ and operators/, and every user-error class under the one root, EvonasError."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from evonas.errors import EvonasError

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("evonas", "genomes", "operators")

#: Exception classes that are not user errors, each with why. A new exception class is either an
#: EvonasError (bad input: one line and exit 2 in the CLI) or listed here.
NOT_USER_ERRORS = {
    "evonas.tasks.errors.EvaluationFailure": "one failed evaluation, recorded; the run goes on",
    "operators.errors.OperatorNotApplicable": "control flow: the caller tries another operator",
    "evonas.evaluation.pool.WorkerStartupError": "the environment or a bug, not the input",
    "evonas.config._DocumentTooLarge": "private to the YAML loader, turned into a ConfigError",
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None


def _module_level_imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that importing ``module`` runs first: imports outside functions and outside
    ``if TYPE_CHECKING:``, plus the packages above each target (their ``__init__`` runs too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            parent = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parent + ([node.module] if node.module else []))
        # ``from pkg import sub`` needs the submodule; ``from pkg import name`` the whole pkg.
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in targets(node):
                    owner = _owner(name, modules)
                    if owner is not None:
                        found.add(owner)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                walk(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    sub = getattr(node, field, None)
                    if isinstance(sub, list):
                        walk(sub)

    walk(ast.parse(path.read_text(encoding="utf-8")).body)
    for target in list(found):
        parts = target.split(".")
        for i in range(1, len(parts)):
            found.add(".".join(parts[:i]))
    # A module's own packages are already running when it is imported: no edge back to them.
    return {t for t in found if t != module and not module.startswith(t + ".")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _module_level_imports(m, p, modules) for m, p in modules.items()}


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_level_import_cycle() -> None:
    graph = _graph()
    assert "evonas.errors" in graph and not graph["evonas.errors"], "evonas.errors must be a leaf"
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles (move the shared names to a leaf module): " \
        + "; ".join(" <-> ".join(c) for c in cycles)


def _exception_classes() -> list[str]:
    """Dotted names of every class defined at module level whose bases name an error."""
    out = []
    for module, path in _modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).split(".")[-1].endswith(("Error", "Exception", "Failure",
                                                            "Applicable"))
                    for b in node.bases):
                out.append(f"{module}.{node.name}")
    return out


def test_every_user_error_is_an_evonas_error() -> None:
    classes = _exception_classes()
    assert "evonas.errors.ConfigError" in classes and "evonas.storage.lock.RunInUseError" in classes
    for dotted in classes:
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, BaseException), dotted
        if dotted in NOT_USER_ERRORS:
            assert not issubclass(cls, EvonasError), f"{dotted} is listed as not a user error"
        else:
            assert issubclass(cls, EvonasError), f"{dotted}: a user error must be an EvonasError"


@pytest.mark.parametrize("where", [
    "evonas.config.ConfigError", "evonas.api.ConfigError", "genomes.GenomeError",
    "genomes.errors.GenomeError", "evonas.tasks.TaskError", "evonas.tasks.errors.TaskError",
    "evonas.storage.JournalError", "evonas.storage.lock.RunInUseError",
])
def test_the_old_homes_still_export_the_errors(where: str) -> None:
    module, _, name = where.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), name), EvonasError)


def test_the_cli_reports_any_evonas_error_as_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from evonas.cli import commands as cli

    assert list(cli.USER_ERRORS) == [EvonasError]

    def fail(args: object) -> int:
        raise EvonasError("somewhere.yaml: field: broken\nacross two lines")

    monkeypatch.setattr(cli, "cmd_status", fail)
    assert cli.main(["status", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err == "evonas: error: somewhere.yaml: field: broken across two lines\n"


def _loaded_after(statement: str) -> set[str]:
    code = (f"import sys; {statement}; "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in "
            "('evonas', 'genomes', 'operators', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    return set(out.split())


def test_the_leaves_and_the_genomes_load_no_engine() -> None:
    assert _loaded_after("import evonas.errors") == {"evonas", "evonas.errors"}
    leaves = {"evonas", "evonas.errors", "evonas.options"}  # errors; declared options
    assert _loaded_after("import evonas.options") == leaves
    loaded = _loaded_after("import genomes")
    assert {m for m in loaded if m.startswith("evonas")} == leaves


def test_the_cli_starts_without_torch() -> None:
    assert "torch" not in _loaded_after("import evonas.cli")


def test_the_package_is_lazy_but_keeps_its_api() -> None:
    import evonas
    import evonas.run as run_module  # the submodule is imported; evonas.run stays the function
    from evonas.api import run
    from evonas.run import Run

    assert evonas.run is run and run_module is run
    assert evonas.Run is Run and callable(evonas.open_run) and callable(evonas.resume)
    assert evonas.config is sys.modules["evonas.config"]
    with pytest.raises(AttributeError):
        _ = evonas.no_such_name
