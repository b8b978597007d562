"""`reprokit env export`: the .devcontainer/ folder builds to the same image content as reprokit's own build and
is read by the devcontainer CLI; the Compose files pass `docker-compose config` and the compose-spec schema, and
their services come up and answer the app by name."""
from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT

# Every file's path, mode, owner and content in the image's own filesystem: not /proc, /sys, /dev, nor the
# files the engine writes into each container (hostname, hosts, resolv.conf).
SKIP = "\\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hostname -o -path /etc/hosts -o -path /etc/resolv.conf \\)"
DIGEST = (f"find / -xdev {SKIP} -prune -o -printf '%p %m %u:%g %y\\n' | LC_ALL=C sort | sha256sum; "
          f"find / -xdev {SKIP} -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum")


def reprokit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reprokit", *args], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "COLUMNS": "200"})


def digest(image: str) -> str:
    done = subprocess.run(["docker", "run", "--rm", image, "sh", "-c", DIGEST], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def config(image: str) -> dict:
    done = subprocess.run(["docker", "image", "inspect", image, "--format",
                           "{{json .Config.Env}} {{.Config.WorkingDir}} {{.Config.User}}"], capture_output=True,
                          text=True, check=True)
    return done.stdout


def compose_command() -> list[str] | None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_the_exported_devcontainer_builds_to_the_same_content_as_reprokits_build(tmp_path, docker_engine):
    built = reprokit("env", "build", "baseline", "-C", str(ROOT))
    assert built.returncode == 0, built.stderr
    ours = built.stdout.split(": ", 1)[1].split()[0]
    done = reprokit("env", "export", "baseline", "--devcontainer", str(tmp_path), "-C", str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / ".devcontainer"
    document = json.loads((folder / "devcontainer.json").read_text())
    assert document["build"] == {"dockerfile": "Dockerfile", "context": "."}
    assert document["workspaceFolder"] == "/work" and "--memory" in document["runArgs"]
    theirs = f"rkexport-{uuid.uuid4().hex[:8]}:baseline"
    try:  # the classic builder, as reprokit builds (`docker build` of the folder, no reprokit involved)
        build = subprocess.run(["docker", "build", "-q", "-t", theirs, str(folder)], capture_output=True, text=True,
                               timeout=1800, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        assert build.returncode == 0, build.stderr
        assert config(theirs) == config(ours)
        assert digest(theirs) == digest(ours)
    finally:
        docker_engine.remove_image(theirs)


@pytest.mark.skipif(shutil.which("devcontainer") is None, reason="the devcontainer CLI is not installed "
                    "(npm install -g @devcontainers/cli; .ci/setup.sh does where npm is)")
def test_the_devcontainer_cli_reads_the_exported_folder(tmp_path):
    done = reprokit("env", "export", "acme-bullseye", "--devcontainer", str(tmp_path), "-C", str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    read = subprocess.run(["devcontainer", "read-configuration", "--workspace-folder", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    configuration = json.loads(read.stdout)["configuration"]
    assert configuration["name"].startswith("reprokit: acme-bullseye")
    assert configuration["workspaceFolder"] == "/work"


def test_the_compose_files_pass_compose_and_its_schema_and_their_services_answer_by_name(tmp_path):
    import jsonschema

    case = "SUP-5301/environment"  # postgres 15 with a seed file, limits, a hostname
    compose_file = tmp_path / "compose" / "sup-5301.yaml"
    done = reprokit("env", "export", case, "--devcontainer", str(tmp_path), "--compose", str(compose_file),
                    "-C", str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    schema = json.loads(importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
                        .joinpath("compose-spec.json").read_text())
    from ruamel.yaml import YAML

    for path in (compose_file, tmp_path / ".devcontainer" / "compose.yaml"):
        jsonschema.validate(YAML(typ="safe").load(path.read_text()), schema)
    devcontainer = json.loads((tmp_path / ".devcontainer" / "devcontainer.json").read_text())
    assert devcontainer["dockerComposeFile"] == "compose.yaml" and devcontainer["service"] == "app"
    compose = compose_command()
    if compose is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed (.ci/setup.sh installs docker-compose)")
    for path in (compose_file, tmp_path / ".devcontainer" / "compose.yaml"):
        checked = subprocess.run([*compose, "-f", str(path), "config"], capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, f"{' '.join(compose)} -f {path} config: {checked.stderr}"
    # Up for real: the app waits for the database's healthcheck, then reaches it by name with the seeded role.
    project = ["-p", f"rkexport{uuid.uuid4().hex[:8]}", "-f", str(compose_file)]
    try:
        up = subprocess.run([*compose, *project, "up", "-d"], capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, up.stderr
        probe = ("import psycopg2; c = psycopg2.connect(host='db', user='reporter', password='reporter', dbname='app');"
                 "print(c.server_version // 10000)")
        ran = subprocess.run([*compose, *project, "exec", "-T", "app", "python3", "-c", probe], capture_output=True,
                             text=True, timeout=120)
        assert ran.returncode == 0 and ran.stdout.strip() == "15", ran.stdout + ran.stderr
        shown = subprocess.run([*compose, *project, "exec", "-T", "app", "sh", "-c", "hostname; ulimit -n"],
                               capture_output=True, text=True, timeout=60)
        assert shown.stdout.split() == ["umbrella-report01", "4096"], shown.stdout + shown.stderr
    finally:
        subprocess.run([*compose, *project, "down", "-v", "--remove-orphans"], capture_output=True, timeout=300)
