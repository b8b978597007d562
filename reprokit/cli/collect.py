"""CLI commands for the collect stage (registered on the main app by cli.py)."""
from __future__ import annotations

from typing import List, Optional

import typer

from reprokit._console import ProjectOption

OnlyOption = typer.Option(None, "--only", help="Pin only this python package and its dependency closure.")
SystemOption = typer.Option(None, "--system-packages", help="Also pin these Debian packages (globs, comma-separated or "
                            "repeated) besides those the app can feel: owners of the libraries its python "
                            "extensions load, python3, libssl, libsqlite3, libpq, tzdata, locales, libc6...")
AllSystemOption = typer.Option(False, "--all-system-packages", help="Pin every package added to the base system "
                               "(priority below 'important'), as reprokit did before.")
MirrorCheckOption = typer.Option(True, "--mirror-check/--no-mirror-check", help="Check pins against the base image's "
                                 "Debian mirror and the Python index (needs the engine and the network).")
OsOption = typer.Option(None, "--os", help="Base image, when the input cannot say (pip freeze, foreign distro).")
AllowOption = typer.Option(None, "--allow", help="Keep the value of this env var or config key (repeatable).")
ForceOption = typer.Option(False, "--force", help="Replace an existing environments/NAME.yaml.")
CollectedAtOption = typer.Option(None, "--collected-at", help="When the collection was really taken, ISO 8601 with "
                                 "Z or an offset (e.g. the ticket's time, 2026-11-30T10:00:00Z): the machine's "
                                 "own clock is compared with it, and a clock further off becomes `clock`.")


def register(app: typer.Typer, env_app: typer.Typer) -> None:
    """Add this stage's commands to the main app (and to `reprokit env` where they belong)."""
    app.command("collect")(collect)
    env_app.command("import")(env_import)
    env_app.command("from-image")(env_from_image)


def collect(script: str = typer.Option(..., "--script", help="Write the collector here ('-' for stdout)."),
            sh: bool = typer.Option(False, "--sh", help="The POSIX sh fallback, for hosts without Python.")):
    """Write the one-file collector a customer runs; it prints their environment as JSON, secrets redacted."""
    import sys
    from pathlib import Path

    from reprokit._console import err
    from reprokit.collect.importer import collector_script

    text = collector_script(sh=sh)
    if script == "-":
        sys.stdout.write(text)
        return
    path = Path(script)
    try:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
    except OSError as error:
        from reprokit.errors import ReprokitError

        raise ReprokitError(f"cannot write {script}: {error.strerror}", hint="choose a writable path") from None
    run = "sh" if sh else "python3"
    err.print(f"wrote {script}. Ask the customer to run, where the bug happens:\n"
              f"  {run} {path.name} [--file /etc/app/app.ini]... [--venv DIR] > collection.json\n"
              f"then: reprokit env import collection.json --name NAME", markup=False)


def env_import(file: str = typer.Argument(..., help="A collection, a pip freeze / requirements file, or dpkg -l output."),
               name: str = typer.Option(..., "--name", help="Write environments/NAME.yaml."),
               only: Optional[str] = OnlyOption, system_packages: Optional[List[str]] = SystemOption,
               os: Optional[str] = OsOption, allow: Optional[List[str]] = AllowOption, force: bool = ForceOption,
               collected_at: Optional[str] = CollectedAtOption, all_system_packages: bool = AllSystemOption,
               mirror_check: bool = MirrorCheckOption, project: Optional[str] = ProjectOption):
    """Turn what a customer sent into environments/NAME.yaml (secrets redacted again on the way in).

    A wrong clock on the customer's machine is carried over only with --collected-at: the collection's own
    timestamps come from that very clock, so on their own they cannot show it is wrong.
    """
    from reprokit.collect.importer import read_collection

    instant = _instant(collected_at, "--collected-at") if collected_at is not None else None
    collection = read_collection(file, allow=allow or ())
    _write(collection, name=name, only=only, system_packages=system_packages, os=os, force=force, project=project,
           collected_at=instant, all_system_packages=all_system_packages, mirror_check=mirror_check)


def env_from_image(image: str = typer.Argument(..., help="An image the customer provided (present or pullable)."),
                   name: str = typer.Option(..., "--name", help="Write environments/NAME.yaml."),
                   file: Optional[List[str]] = typer.Option(None, "--file", help="A config file to read from the image."),
                   only: Optional[str] = OnlyOption, system_packages: Optional[List[str]] = SystemOption,
                   allow: Optional[List[str]] = AllowOption, force: bool = ForceOption,
                   all_system_packages: bool = AllSystemOption, mirror_check: bool = MirrorCheckOption,
                   project: Optional[str] = ProjectOption):
    """Read the same facts from a container of IMAGE and write environments/NAME.yaml."""
    from reprokit._console import progress
    from reprokit.collect.importer import from_image

    with progress(f"collecting from {image}"):
        collection = from_image(image, files=file or (), allow=allow or ())
    _write(collection, name=name, only=only, system_packages=system_packages, os=None, force=force, project=project,
           all_system_packages=all_system_packages, mirror_check=mirror_check)


def _instant(value: str, option: str):
    """An ISO 8601 date and time with its time zone ('Z' or an offset), as an aware datetime."""
    from datetime import datetime

    from reprokit.errors import InvalidValue

    example = "2026-11-30T10:00:00Z or 2026-11-30T15:30:00+05:30"
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue(f"{option} {value!r} is not an ISO 8601 date and time", hint=f"write e.g. {example}") \
            from None
    if instant.utcoffset() is None:
        raise InvalidValue(f"{option} {value!r} has no time zone, so the time it names is unknown",
                           hint=f"add Z for UTC or the offset, e.g. {example}")
    return instant


def _write(collection, *, name, only, system_packages, os, force, project, collected_at=None,
           all_system_packages=False, mirror_check=True) -> None:
    from reprokit._console import out
    from reprokit.aspects.clock import THRESHOLD_S
    from reprokit.collect.importer import to_environment, write_environment
    from reprokit.contract.load import Project

    debian_index, debian_settle, python_index = _indexes() if mirror_check else (None, None, None)
    imported = to_environment(collection, name=name, only=only, system_packages=system_packages or None, os=os,
                              collected_at=collected_at, all_system_packages=all_system_packages,
                              debian_index=debian_index, debian_settle=debian_settle, python_index=python_index)
    where = Project.at(project)
    path = write_environment(imported, name=name, root=where.root, force=force)
    out.print(f"wrote {where.show(path)}: {imported.data['os']}, {len(imported.data.get('python_packages', []))} "
              f"python and {len(imported.data.get('system_packages', []))} system packages pinned")
    for suffix in imported.side_files:
        out.print(f"wrote {where.show(path.with_name(f'{name}.{suffix}'))}: every installed package, pinned or "
                  "not, and why", markup=False)
    out.print(f"redaction: {imported.redactions.describe()}", markup=False)
    for place in imported.placeholders:
        out.print(f"  placeholder to fill: {place}", markup=False)
    for fact in imported.unreproducible:
        out.print(f"  not reproduced: {fact}", markup=False)
    for fact in imported.inexact:
        out.print(f"  not exactly reproduced: {fact}", markup=False)
    if not mirror_check:
        out.print("  pins not checked against the mirror or the Python index (--no-mirror-check)", markup=False)
    if "clock" in imported.data:
        out.print(f"  clock: {imported.data['clock']} (the machine's clock was more than {THRESHOLD_S} s from "
                  "--collected-at)", markup=False)
    machine_time = collection.facts.get("time_epoch")
    if isinstance(machine_time, (int, float)) and "clock" not in imported.data and collection.kind != "image":
        if collected_at is None:
            out.print("  clock: not compared; give --collected-at (e.g. the ticket's time) to carry a wrong clock "
                      "over", markup=False)
        else:
            out.print(f"  clock: {machine_time - collected_at.timestamp():+.0f} s from --collected-at, within "
                      f"{THRESHOLD_S} s: not set", markup=False)


def _indexes():
    """The providers `to_environment` checks pins with: the base image's Debian mirror (read in a container of
    it, cached), apt's simulation of the install, and the configured Python index. One that cannot be asked
    is said, not fatal."""
    from reprokit._console import err, progress
    from reprokit.collect.mirror import read_package_index
    from reprokit.collect.pyindex import check_python_pins, index_url
    from reprokit.collect.settle import Settled, settle
    from reprokit.errors import ReprokitError

    def debian(image: str):
        try:
            with progress(f"reading the package index of {image}'s mirror"):
                return read_package_index(image)
        except ReprokitError as error:
            err.print(f"  pins not checked against {image}'s mirror: {error}", markup=False)
            return None

    def apt(image: str, pins: list[str], installed: dict[str, str], index) -> Settled:
        try:
            with progress(f"checking that apt installs the {len(pins)} pins together on {image}"):
                return settle(image, pins, installed, index)
        except ReprokitError as error:
            err.print(f"  pins not checked with apt on {image}: {error}", markup=False)
            return Settled(pins)

    def python(pins: list[str], version: str | None) -> dict[str, str]:
        with progress(f"checking {len(pins)} python pins against {index_url()}"):
            return check_python_pins(pins, python=version)

    return debian, apt, python
