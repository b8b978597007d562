"""pytest plugin: every cases/<ID>/case.yaml is a test item; fixtures for repro scripts written as tests.

- ``pytest cases/`` runs each case; an open case passes while it still reproduces, a fixed case passes while
  the bug stays absent. Failures show the verdict, the diffs and the command that reproduces them.
- ``reprokit_env`` is a fixture: ``box = reprokit_env("acme-bullseye")`` starts an environment of the project
  (removed after the test).
- ``@pytest.mark.reprokit_environments("baseline", "acme-bullseye")`` runs a test once per environment, with
  the started environment in the ``reprokit_box`` fixture.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

MARKER = "reprokit_environments"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}(*names): run the test once per reprokit environment "
                                       "(the started environment is the `reprokit_box` fixture)")


def pytest_collect_file(file_path: Path, parent):
    if file_path.name == "case.yaml" and file_path.parent.parent.name == "cases":
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self):
        yield CaseItem.from_parent(self, name=self.path.parent.name)


class CaseFailed(Exception):
    pass


class CaseItem(pytest.Item):
    """One case, run in its environment and its baseline; passes when the outcome matches its status."""

    def runtest(self):
        from reprokit.contract.load import Project, load_case
        from reprokit.case.reproduce import run_case
        from reprokit.engine.registry import use_registry_of

        project = Project(self.path.parent.parent.parent)
        use_registry_of(project.root)  # images shared as the project's reprokit.toml or REPROKIT_REGISTRY says
        case = load_case(self.path.parent, root=project.root)
        self.result = run_case(case, project=project)
        self.user_properties.append(("verdict", self.result.verdict.value))
        if not self.result.as_expected:
            raise CaseFailed(self.result)

    def repr_failure(self, excinfo):
        from reprokit.errors import ReprokitError

        if isinstance(excinfo.value, ReprokitError):
            return str(excinfo.value)
        if not isinstance(excinfo.value, CaseFailed):
            return super().repr_failure(excinfo)
        result = excinfo.value.args[0]
        lines = [f"{result.case.id}: {result.verdict.value} — {result.explain()}"]
        for item in result.diffs["spec"][:20]:
            lines.append(f"  declared  {item['field']}: {item['baseline'][:60]!r} -> {item['environment'][:60]!r}")
        for stream, diff in result.diffs["output"].items():
            if diff:
                lines += [f"  {stream} (baseline -> environment):", *("    " + l for l in diff.splitlines()[:40])]
        lines.append(f"reproduce: {result.reproduce}")
        return "\n".join(lines)

    def reportinfo(self):
        return self.path, None, f"case {self.name}"


def _project_root(request) -> Path:
    """The project of the test file: the nearest folder up from it that has environments/."""
    from reprokit.contract.load import Project

    test_file = Path(request.path)
    found = next((f for f in test_file.parents if (f / "environments").is_dir()), None)
    return Project.at(found).root


@pytest.fixture
def reprokit_env(request):
    """Start an environment by name: ``box = reprokit_env("baseline")``; removed after the test."""
    from reprokit.contract.load import load_environment

    root = _project_root(request)
    with ExitStack() as stack:
        def start(name: str):
            return stack.enter_context(load_environment(name, root=root).start())

        yield start


@pytest.fixture
def reprokit_box(request, reprokit_env):
    """The started environment of a test marked ``reprokit_environments`` (one run per environment)."""
    return reprokit_env(request.param)


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is not None and "reprokit_box" in metafunc.fixturenames:
        metafunc.parametrize("reprokit_box", list(marker.args), indirect=True, ids=list(marker.args))
