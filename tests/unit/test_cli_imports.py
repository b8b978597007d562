"""What `reprokit --help` and `reprokit case run` import, pinned: a later change cannot silently bring back the
start-up cost (issue 13). A module newly needed goes into the list below; one that only some commands need is
imported inside them instead."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = """
import atexit, json, sys
sys.path.insert(0, {fakes!r})
atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
if {fake!r}:
    from fakes import FakeEngine
    from reprokit.engine import set_engine
    from reprokit.errors import RunError

    class NoContainers(FakeEngine):
        def run_batch(self, *args, **kwargs):
            raise RunError("no containers in this test")

    set_engine(NoContainers(images={{"debian:bookworm": "sha256:b", "debian:bullseye": "sha256:a"}}))
sys.argv = ["reprokit", *{argv!r}]
from reprokit.cli.main import main
main()
"""
CLI = {"reprokit", "reprokit._console", "reprokit.cli", "reprokit.cli.case", "reprokit.cli.collect",
       "reprokit.cli.handoff", "reprokit.cli.images", "reprokit.cli.isolate", "reprokit.cli.main", "reprokit.errors"}
CASE_RUN = CLI | {
    "reprokit.aspects", *(f"reprokit.aspects.{name}" for name in (
        "arch", "base", "base_os", "certs", "clock", "env", "files", "hostname", "hosts", "limits", "locale", "network",
        "python", "python_packages", "readonly", "registry", "services", "system_packages", "timezone", "umask",
        "user", "workdir")),
    "reprokit.case", "reprokit.case.compare", "reprokit.case.history", "reprokit.case.reproduce",
    "reprokit.case.result", "reprokit.collect", "reprokit.collect.collector",
    "reprokit.collect.collector.collector",  # redaction patterns
    "reprokit.contract", "reprokit.contract.load", "reprokit.contract.models", "reprokit.contract.values",
    "reprokit.engine", "reprokit.engine.fake", "reprokit.engine.podman", "reprokit.engine.protocol",
    "reprokit.image", "reprokit.image.base", "reprokit.image.build", "reprokit.image.caches",
    "reprokit.engine.registry",
    "reprokit.image.emulation", "reprokit.image.render", "reprokit.image.retention", "reprokit.image.usage",
    "reprokit.aspects.atoms", "reprokit.redact", "reprokit.run", "reprokit.run.launch",
    "reprokit.run.steps", "reprokit.run.facts", "reprokit.services", "reprokit.services.lifecycle"}
# Never for --help: the libraries behind the commands. Never for a case without services: the service kinds.
HEAVY = ("pydantic", "pydantic_core", "docker", "requests", "testcontainers", "ruamel", "yaml", "packaging",
         "sqlite3", "ssl", "urllib.request", "http.client", "zoneinfo")


def imported(*argv: str, fake_engine: bool, home: Path) -> set[str]:
    code = DRIVER.format(fakes=str(ROOT / "tests" / "unit"), fake=fake_engine, argv=list(argv))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=home, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "HOME": str(home)})
    line = next((line for line in done.stderr.splitlines() if line.startswith("MODULES ")), None)
    assert line, f"no module list; stderr: {done.stderr[-2000:]}"
    return set(json.loads(line.removeprefix("MODULES ")))


def test_help_imports_the_cli_modules_and_none_of_the_libraries_behind_the_commands(tmp_path):
    modules = imported("--help", fake_engine=False, home=tmp_path)
    ours = {m for m in modules if m.split(".")[0] == "reprokit"}
    assert ours == CLI, f"new: {sorted(ours - CLI)}; gone: {sorted(CLI - ours)}"
    assert not [m for m in modules if m.startswith(HEAVY)]


def test_case_run_imports_what_a_run_needs_and_no_other_stage(tmp_path):
    project = tmp_path / "project"  # the run records its history in the project: a copy of this one's
    shutil.copytree(ROOT / "environments", project / "environments")
    shutil.copytree(ROOT / "cases" / "SUP-4521", project / "cases" / "SUP-4521")
    modules = imported("case", "run", "SUP-4521", "-C", str(project), "--json", fake_engine=True, home=tmp_path)
    ours = {m for m in modules if m.split(".")[0] == "reprokit"}
    assert ours == CASE_RUN, f"new: {sorted(ours - CASE_RUN)}; gone: {sorted(CASE_RUN - ours)}"
    assert not [m for m in modules if m.startswith(("docker", "requests", "testcontainers", "urllib.request"))]
    assert not [m for m in modules if m.startswith(("reprokit.handoff", "reprokit.services.", "reprokit.isolate."))
                and m not in ("reprokit.services.lifecycle", "reprokit.aspects.atoms")]


def test_the_docker_backend_imports_the_docker_sdk_and_nothing_heavier(tmp_path):
    """A case run on Docker adds only engine/ and the docker SDK (no testcontainers: containers go through the SDK's
    API client) to what the pin above lists."""
    code = "import json, sys; import reprokit.engine.docker; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    modules = set(json.loads(done.stdout))
    ours = {m for m in modules if m.split(".")[0] == "reprokit"}
    engine = {"reprokit", "reprokit.errors", *(f"reprokit.engine{name}" for name in (
        "", ".archive", ".docker", ".endpoints", ".inline_io", ".podman", ".protocol", ".registry"))}
    assert ours == engine, f"new: {sorted(ours - engine)}; gone: {sorted(engine - ours)}"
    assert "docker" in modules
    assert not [m for m in modules if m.startswith(("testcontainers", "pydantic", "ruamel", "rich", "typer"))]
