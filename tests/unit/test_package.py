"""The package as installed: one top-level name, an acyclic import graph, layers that run one way,
and CLI client commands that load no model or engine libraries."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("api", "workers", "encoders", "infra")
# A layer may import the layers after it, never one before it (the API enqueues through
# workers.dispatch only; infra.runtime builds encoders).
LAYERS = ("api", "workers", "infra", "encoders")
# What sends tasks: batches and listings (dispatch), source syncs and their schedule (schedule).
API_MAY_IMPORT_FROM_WORKERS = {
    "mmsearch.workers.dispatch",
    "mmsearch.workers.celery_app",
    "mmsearch.workers.schedule",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["mmsearch", *parts])


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for f in FOLDERS for p in (ROOT / f).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules `name` imports anywhere in its body (functions and TYPE_CHECKING included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([package.rsplit(".", node.level - 1)[0], base]).strip(".")
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    for name in graph:  # importing a package runs its __init__: drop the parent edge it implies
        graph[name] = {t for t in graph[name] if not name.startswith(f"{t}.")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_layers_import_downwards_only() -> None:
    wrong = []
    for name, targets in _graph().items():
        layer = LAYERS.index(name.split(".")[1])
        for target in targets:
            below = LAYERS.index(target.split(".")[1])
            if below < layer or (
                layer == 0 and below == 1 and target not in API_MAY_IMPORT_FROM_WORKERS
            ):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_client_commands_load_no_model_or_engine() -> None:
    script = """
import sys
from mmsearch.api.cli.main import main
for argv in (
    ["collections", "list"],
    ["jobs", "show", "j"],
    ["search", "--collection", "c", "a dog"],
    ["ingest", "--collection", "c", "--detach", "s3://bucket/prefix/"],
):
    try:
        main([*argv, "--api-url", "http://127.0.0.1:9"])
    except SystemExit:
        pass
heavy = ("torch", "open_clip", "transformers", "qdrant_client", "qdrant_edge", "celery", "flask")
print(",".join(m for m in heavy if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), done.stdout


def _tree_copy(target: Path) -> Path:
    """The files git would commit (tracked, or new and not ignored), copied: no build leftovers."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.slow
def test_wheel_has_one_top_level_name_and_exactly_the_folders(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files are the project's")
    tree = _tree_copy(tmp_path / "tree")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(tree)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    wheel = next((tmp_path / "dist").glob("mmsearch-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = wheel.name.split("-py")[0] + ".dist-info"
    assert {n.split("/")[0] for n in names} == {"mmsearch", dist_info}
    for folder in FOLDERS:
        assert f"mmsearch/{folder}/py.typed" in names
    assert "mmsearch/encoders/model_configs/mmsearch-tiny.json" in names
    assert any(n.startswith("mmsearch/api/static/ui/") for n in names)
    shipped = {n for n in names if n.endswith(".py")}
    sources = {
        f"mmsearch/{p.relative_to(tree).as_posix()}"
        for folder in FOLDERS
        for p in (tree / folder).rglob("*.py")
        if "testing" not in p.relative_to(tree).parts
    }
    assert shipped == sources  # every module, nothing stale, and no test support


def test_import_from_any_folder(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-c", "import mmsearch.api, mmsearch.infra.settings"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    for bare in FOLDERS:
        gone = subprocess.run(
            [sys.executable, "-c", f"import {bare}"], cwd=tmp_path, capture_output=True, timeout=60
        )
        assert gone.returncode != 0, f"`import {bare}` should fail outside the repository"
