"""Speed benchmark of issue 7: reprokit's overhead as ratios against references measured in the same run.

Run it against the real engine (it builds images and starts containers; not collected by pytest):

    .venv/bin/python tests/bench_overhead.py [OUT.json] [--runs 5] [--cold-runs 2] [--only NAME ...]

It prints a table (figure, reference, ratio, target, met?) and writes the figures as JSON (default
.reprokit/bench_overhead.json). Every figure is the median of several runs. Cases live in a temporary
project whose environments are copies of the repository's baseline and acme-bullseye; cold builds use
a throw-away base image (debian:bookworm plus a unique LABEL, so it has a new image id: a mere
`docker tag` alias keeps the id and the classic builder would reuse every cached layer). The benchmark
removes the images it created, and only those.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPROKIT = str(ROOT / ".venv" / "bin" / "reprokit")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
sys.path.insert(0, str(ROOT))

from reprokit.image.build import build  # noqa: E402
from reprokit.image.render import render_for_build  # noqa: E402
from reprokit.engine import get_engine, set_engine  # noqa: E402
from reprokit.contract.load import Project, load_case, load_environment  # noqa: E402
from reprokit.case.reproduce import run_case  # noqa: E402

PROBE = '''import sqlite3
db = sqlite3.connect(":memory:")
db.execute("create table t (x)")
db.execute("insert into t values (1) returning x")
print("ok", sqlite3.sqlite_version)
'''
CASE = """id: {id}
title: Benchmark probe - RETURNING needs SQLite >= 3.35
environment: acme-bullseye
baseline: baseline
files:
  probe.py: {probe}
steps:
  - python3 probe.py
expect:
  exit_code: 1
  stderr_contains: near "returning"
status: open
"""
STEP = "python3 probe.py"
PINS = ["markupsafe==2.1.0", "markupsafe==2.1.1", "markupsafe==2.1.2", "markupsafe==2.1.3", "markupsafe==2.1.5",
        "markupsafe==2.0.0", "markupsafe==1.1.1"]


@dataclass
class Figure:
    """One row of the table: a measured value beside its reference and its target."""

    name: str
    value: float | None
    reference: float | None = None
    reference_name: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""
    samples: dict = field(default_factory=dict)
    why: str = ""  # shown only when the target is missed: by how much, and what costs the time

    @property
    def ratio(self) -> float | None:
        return None if not self.value or not self.reference else round(self.value / self.reference, 3)


# -- timing helpers ----------------------------------------------------------------------------------------


def clock(action, runs: int) -> list[float]:
    """Wall seconds of ``action()`` over ``runs`` runs."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(round(time.perf_counter() - started, 4))
    return times


def over(measured: float, limit: float) -> str:
    return f"{measured:.2f} against {limit:g}: {measured / limit - 1:.0%} over the target"


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def sh(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-800:]}")
    return done


class MeteredEngine:
    """The real engine with every call timed: builds counted, containers split into start, put files,
    exec and remove, so the breakdown shows where a case run spends its time."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def note(self, what: str, started: float) -> None:
        with self._lock:
            self.seconds[what].append(time.perf_counter() - started)

    def timed(self, what: str, call, *args, **kwargs):
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.note(what, started)

    def image_id(self, reference):
        return self.timed("image lookup", self.inner.image_id, reference)

    def obtain(self, reference):  # the inner engine's own lookups are not timed twice
        return self.timed("image lookup", self.inner.obtain, reference)

    def run_batch(self, *args, **kwargs):
        return self.timed("container life: create, copy, start, steps, collect, remove", self.inner.run_batch,
                          *args, **kwargs)

    def build(self, *args, **kwargs):
        return self.timed("engine build", self.inner.build, *args, **kwargs)

    @contextmanager
    def start(self, image, config):
        started, removing = time.perf_counter(), None
        try:
            with self.inner.start(image, config) as box:
                self.note("start", started)
                try:
                    yield MeteredBox(box, self)
                finally:
                    removing = time.perf_counter()
        finally:
            if removing is not None:
                self.note("remove", removing)


class MeteredBox:
    def __init__(self, box, engine: MeteredEngine):
        self.box, self.engine, self.id = box, engine, box.id

    def exec(self, command, **options):
        return self.engine.timed("exec", self.box.exec, command, **options)

    def put_files(self, folder, files, **options):
        return self.engine.timed("put files", self.box.put_files, folder, files, **options)


# -- the temporary project ----------------------------------------------------------------------------------


def make_project(root: Path, cases: int) -> Project:
    """environments/ copied from the repository (baseline, acme-bullseye and their files); ``cases`` small cases."""
    (root / "environments").mkdir(parents=True)
    for name in ("baseline.yaml", "acme-bullseye.yaml"):
        shutil.copy(ROOT / "environments" / name, root / "environments" / name)
    if (ROOT / "environments" / "files").is_dir():
        shutil.copytree(ROOT / "environments" / "files", root / "environments" / "files")
    for number in range(cases):
        folder = root / "cases" / f"BENCH-{number}"
        folder.mkdir(parents=True)
        (folder / "case.yaml").write_text(CASE.format(id=f"BENCH-{number}", probe=json.dumps(PROBE)))
    return Project(root)


def case_run_cli(project: Project, case_id: str = "BENCH-0") -> dict:
    done = sh(REPROKIT, "case", "run", case_id, "-C", str(project.root), "--json", check=False)
    if done.returncode != 0:
        raise RuntimeError(f"reprokit case run exited {done.returncode}: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout)


def docker_runs(tags: list[str], *, parallel: bool) -> None:
    """The case's step in each image through plain `docker run --rm`, the probe written by the same shell."""
    command = f"cat > probe.py <<'EOF'\n{PROBE}EOF\n{STEP}"
    processes = []
    for tag in tags:
        processes.append(subprocess.Popen(["docker", "run", "--rm", tag, "sh", "-c", command],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not parallel:
            processes[-1].wait()
    for process in processes:
        process.wait()


# -- the figures ----------------------------------------------------------------------------------------------


def help_time(runs: int) -> list[Figure]:
    help_s = clock(lambda: sh(REPROKIT, "--help"), runs)
    bare_s = clock(lambda: sh(PYTHON, "-c", "pass"), runs)
    import_s = clock(lambda: sh(PYTHON, "-c", "import reprokit.cli.main, typer.rich_utils"), runs)
    why = f"{over(median(help_s), 0.5)}; importing reprokit.cli.main with typer and rich takes {median(import_s):.2f} s " \
          f"of it; every figure here scales with the machine's load (see load_average)"
    return [Figure("reprokit --help wall time (s)", median(help_s), median(bare_s), "python -c pass",
                   "< 0.5 s", median(help_s) < 0.5, samples={"help": help_s, "bare_python": bare_s,
                                                              "imports": import_s}, why=why)]


def warm_case_run(project: Project, runs: int) -> list[Figure]:
    result = case_run_cli(project)  # warms images and the facts cache
    assert result["verdict"] == "REPRODUCED", result["verdict"]
    tags = [run["image"]["tag"] for run in result["runs"].values()]
    cli_s, docker_par_s, docker_seq_s = [], [], []
    for _ in range(runs):  # interleaved, so drift in the machine's load hits every series alike
        cli_s += clock(lambda: case_run_cli(project), 1)
        docker_par_s += clock(lambda: docker_runs(tags, parallel=True), 1)
        docker_seq_s += clock(lambda: docker_runs(tags, parallel=False), 1)
    engine = MeteredEngine(get_engine())
    set_engine(engine)
    case = load_case("BENCH-0", root=project.root)
    try:
        run_case(case, project=project)
        engine.seconds.clear()
        library_s = clock(lambda: run_case(case, project=project), runs)
        phases = {what: round(sum(values) / (2 * runs), 4) for what, values in engine.seconds.items()}
        imports_s = clock(lambda: sh(PYTHON, "-c", "import reprokit.cli.main, reprokit.cli.case, reprokit.case.reproduce, "
                                                   "reprokit.engine.docker"), runs)
        connect_s = clock(lambda: type(engine.inner)(), runs)
    finally:
        set_engine(None)
    floor = engine_floor(tags, runs)
    cli, par, seq, lib = median(cli_s), median(docker_par_s), median(docker_seq_s), median(library_s)
    breakdown = {f"{what} (per container)": s for what, s in sorted(phases.items())}
    breakdown.update({"python start + imports (CLI process)": median(imports_s), "engine connect + ping": median(connect_s)})
    breakdown.update({f"bare API {what}": s for what, s in floor.items()})
    note = "docker refs: both `docker run --rm` at once, as reprokit runs them; one after the other: " \
           f"{seq:.2f} s (ratio {cli / seq:.2f})"
    model = f"reprokit runs the steps as each container's own process (create, copy files, start, wait, collect " \
            f"outputs, remove): the same life on the bare Docker API takes {floor['wall']:.2f} s " \
            f"({floor['wall'] / par:.2f}x of plain docker run)"
    return [Figure("warm `reprokit case run` CLI (s)", cli, par, "2x docker run --rm, in parallel", "<= 1.5x",
                   cli / par <= 1.5, note, {"cli": cli_s, "docker_parallel": docker_par_s,
                                           "docker_sequential": docker_seq_s},
                   why=f"{over(cli / par, 1.5)}; {cli - lib:.2f} s is the CLI process (python start and imports "
                       f"{median(imports_s):.2f} s, then loading the case, printing JSON, exit cleanup), {lib:.2f} s the library call; {model}"),
            Figure("warm run_case() library call (s)", lib, par, "2x docker run --rm, in parallel", "<= 1.2x",
                   lib / par <= 1.2, "breakdown: " + ", ".join(f"{k} {v:.3f}" for k, v in breakdown.items()),
                   {"library": library_s, "breakdown_s": breakdown}, why=f"{over(lib / par, 1.2)}; {model}")]


def engine_floor(tags: list[str], runs: int) -> dict[str, float]:
    """The same container lives through the bare Docker API (no testcontainers, init, limits, timeout wrapper
    or OOM check), one thread per image as reprokit runs them: the floor for each phase."""
    import docker

    from reprokit.engine import LABELS

    api, seconds = docker.from_env().api, defaultdict(list)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("probe.py")
        info.size = len(PROBE.encode())
        tar.addfile(info, io.BytesIO(PROBE.encode()))

    def life(tag: str) -> None:
        started = time.perf_counter()
        container = api.create_container(tag, ["sh", "-c", f"{STEP} > /tmp/out 2>&1"], labels=dict(LABELS),
                                         working_dir="/work")["Id"]
        try:
            api.put_archive(container, "/work", archive.getvalue())
            api.start(container)
            seconds["create, copy, start"].append(time.perf_counter() - started)
            started = time.perf_counter()
            api.wait(container)
            seconds["steps (wait)"].append(time.perf_counter() - started)
            started = time.perf_counter()
            stream, _ = api.get_archive(container, "/tmp/out")
            b"".join(stream)
            seconds["collect"].append(time.perf_counter() - started)
        finally:
            started = time.perf_counter()
            api.remove_container(container, force=True, v=True)
            seconds["remove"].append(time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=len(tags)) as pool:
        wall = clock(lambda: list(pool.map(life, tags)), runs)
    return {**{f"{what} (per container)": median(values) for what, values in seconds.items()}, "wall": median(wall)}


def unchanged_build(project: Project, runs: int) -> list[Figure]:
    spec = load_environment("baseline", root=project.root)
    engine = MeteredEngine(get_engine())
    set_engine(engine)
    try:
        image = build(spec)
        engine.seconds.clear()
        library_s = clock(lambda: build(spec), max(runs, 10))
        builds = len(engine.seconds.get("engine build", []))
    finally:
        set_engine(None)
    inspect_s = clock(lambda: sh("docker", "image", "inspect", image.tag), runs)
    cli_s = clock(lambda: sh(REPROKIT, "env", "build", "baseline", "-C", str(project.root)), runs)
    value = median(library_s)
    note = f"{builds} engine build call(s) over {len(library_s)} builds; CLI `reprokit env build` (with " \
           f"interpreter start): {median(cli_s):.3f} s"
    return [Figure("build an unchanged spec, library (s)", value, median(inspect_s), "docker image inspect",
                   "< 0.5 s, 0 engine builds", value < 0.5 and builds == 0, note,
                   {"library": library_s, "cli": cli_s, "docker_inspect": inspect_s, "engine_builds": builds},
                   why=f"{builds} build call(s) reached the engine" if builds else over(value, 0.5))]


def fresh_base(created: list[str], *, debian: bool = False) -> str:
    """A base image nobody has built on: debian:bookworm plus a unique label, so a new image id. ``debian``:
    named <unique>/debian:bookworm, so reprokit knows its suite's python (the resolver asks pip for it)."""
    unique = uuid.uuid4().hex[:10]
    tag = f"reprokit-bench-{unique}/debian:bookworm" if debian else f"reprokit-bench/bookworm:{unique}"
    done = subprocess.run(["docker", "build", "-q", "-t", tag, "-"], capture_output=True, text=True,
                          input=f"FROM debian:bookworm\nLABEL reprokit.bench={tag}\n")
    if done.returncode != 0:
        raise RuntimeError(f"could not make {tag}: {done.stderr.strip()}")
    created.append(tag)
    return tag


def timed_build(spec, *, installer: str, created: list[str]) -> dict:
    """Build ``spec`` through reprokit, timing each Dockerfile step from the streamed log."""
    marks: list[tuple[float, str]] = []
    on_line = lambda line: marks.append((time.perf_counter(), line)) if line.startswith("Step ") else None  # noqa
    started = time.perf_counter()
    image = build(spec, render_for_build(spec, installer=installer), on_line=on_line)
    ended = time.perf_counter()
    created.append(image.tag)
    assert image.built, f"{image.tag} was expected to be built, not reused"
    steps = [(line, (marks[i + 1][0] if i + 1 < len(marks) else ended) - at) for i, (at, line) in enumerate(marks)]
    python_step = sum(s for line, s in steps if "/opt/reprokit/venv" in line)  # the venv and the install steps
    return {"total_s": round(ended - started, 2), "python_step_s": round(python_step, 2),
            "cached_steps": image.cached_steps, "total_steps": image.total_steps}


def pin_rebuild_and_installers(project: Project, rebuild_runs: int, cold_runs: int, created: list[str]) -> list[Figure]:
    """Cold builds on fresh bases, then rebuilds that each change one pin, for pip and uv (interleaved)."""
    baseline = load_environment("baseline", root=project.root)
    others = tuple(p for p in baseline.python_packages if not p.lower().startswith("markupsafe"))
    cold, rebuilds, specs = {"pip": [], "uv": []}, {"pip": [], "uv": []}, {}
    for _ in range(cold_runs):
        for installer in cold:
            specs[installer] = baseline.model_copy(update={"os": fresh_base(created), "name": f"bench-{installer}"})
            cold[installer].append(timed_build(specs[installer], installer=installer, created=created))
    for pin in PINS[:rebuild_runs]:
        for installer in cold:
            changed = specs[installer].model_copy(update={"python_packages": others + (pin,)})
            rebuilds[installer].append(timed_build(changed, installer=installer, created=created))
    default = default_installer(baseline)
    total = {name: median([b["total_s"] for b in builds]) for name, builds in cold.items()}
    rebuild = {name: median([b["total_s"] for b in builds]) for name, builds in rebuilds.items()}
    python = {name: median([b["python_step_s"] for b in cold[name] + rebuilds[name]]) for name in cold}
    faster = min(python, key=python.get)
    first = rebuilds[default][0]
    return [Figure(f"rebuild after one pin changes, {default} (s)", rebuild[default], total[default],
                   "cold build of the same spec", "<= 0.3x", rebuild[default] / total[default] <= 0.3,
                   f"{len(rebuilds[default])} rebuilds, {cold_runs} cold build(s); steps reused per rebuild: "
                   f"{first['cached_steps']}/{first['total_steps']}; the python-packages step (venv + install) "
                   f"is {median([b['python_step_s'] for b in rebuilds[default]]):.1f} s of each rebuild",
                   {"cold": cold[default], "rebuilds": rebuilds[default]},
                   why=f"{over(rebuild[default] / total[default], 0.3)}; a pin change reruns the install step "
                       "(the venv is its own cached layer) and the layers after it"),
            Figure("python-packages step with uv (s)", python["uv"], python["pip"], "the same step with pip",
                   "the faster one is the default", faster == default,
                   f"median over every cold build and rebuild; cold builds uv {total['uv']:.1f} s, pip "
                   f"{total['pip']:.1f} s; rebuilds uv {rebuild['uv']:.1f} s, pip {rebuild['pip']:.1f} s -> "
                   f"{faster} is faster; render_for_build's default is {default}",
                   {"cold": cold, "rebuilds": rebuilds, "default": default},
                   why=f"{faster} is faster but reprokit defaults to {default}")]


def default_installer(spec) -> str:
    """The installer reprokit uses when REPROKIT_INSTALLER is not set, read from what it renders."""
    saved = os.environ.pop("REPROKIT_INSTALLER", None)
    try:
        return "uv" if "uv pip install" in render_for_build(spec).dockerfile else "pip"
    finally:
        if saved is not None:
            os.environ["REPROKIT_INSTALLER"] = saved


def cpu_jiffies() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU since boot, from /proc/stat (idle and iowait are not busy)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def replay_jobs(project: Project, runs: int) -> list[Figure]:
    """replay --jobs 2 against --jobs 1, with how busy the machine's CPUs were meanwhile and how much of that was
    reprokit's own process (the rest: dockerd, containerd, the shims and runc, the containers)."""
    def replay(jobs: int) -> None:
        sh(REPROKIT, "replay", "-C", str(project.root), "--jobs", str(jobs), "--json")

    def profiled(jobs: int) -> tuple[float, float, float]:
        (busy, ticks), used = cpu_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        replay(jobs)
        wall = time.perf_counter() - started
        (busy_after, ticks_after), used_after = cpu_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = used_after.ru_utime + used_after.ru_stime - used.ru_utime - used.ru_stime
        return wall, (busy_after - busy) / max(1, ticks_after - ticks), ours

    replay(2)  # warm
    samples: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    for _ in range(runs):
        for jobs in (1, 2):
            samples[jobs].append(profiled(jobs))
    one_s, two_s = [s[0] for s in samples[1]], [s[0] for s in samples[2]]
    busy = {jobs: median([s[1] for s in samples[jobs]]) for jobs in (1, 2)}
    ours = {jobs: median([s[2] for s in samples[jobs]]) for jobs in (1, 2)}
    cpu_s = {jobs: busy[jobs] * median([s[0] for s in samples[jobs]]) * os.cpu_count() for jobs in (1, 2)}
    ratio = median(two_s) / median(one_s)
    profile = (f"CPUs busy {busy[1]:.0%} at --jobs 1, {busy[2]:.0%} at --jobs 2 ({os.cpu_count()} cores); CPU "
               f"seconds of a replay {cpu_s[1]:.1f} / {cpu_s[2]:.1f}, of which reprokit's own process "
               f"{ours[1]:.1f} / {ours[2]:.1f}, the engine and the containers the rest")
    floor = cpu_s[1] / os.cpu_count() / median(one_s)  # --jobs 1's CPU work spread over every core at once
    why = f"{over(ratio, 0.65)}; {profile}: with every core busy all the time, the same CPU work would take " \
          f"{floor:.2f}x"
    return [Figure("replay 10 cases --jobs 2 (s)", median(two_s), median(one_s), "replay 10 cases --jobs 1",
                   "<= 0.65x", ratio <= 0.65, profile, {"jobs_1": one_s, "jobs_2": two_s,
                   "cpu_busy": [busy[1], busy[2]], "reprokit_cpu_s": [ours[1], ours[2]]}, why=why)]


def replay_floor(project: Project, runs: int, jobs: int) -> list[Figure]:
    """`reprokit replay --jobs J` of the 10 cached cases against the physical floor: the same 20 containers by
    plain `docker run --rm`, 2J at a time (each case runs its two containers at once); and the library call."""
    from reprokit.case.replay import replay_cases

    cases = len(project.case_ids())
    tags = [run["image"]["tag"] for run in case_run_cli(project)["runs"].values()] * cases

    def replay() -> None:
        sh(REPROKIT, "replay", "-C", str(project.root), "--jobs", str(jobs), "--json")

    def floor() -> None:
        with ThreadPoolExecutor(max_workers=2 * jobs) as pool:
            list(pool.map(lambda tag: docker_runs([tag], parallel=False), tags))

    replay()  # images, facts and the history are warm from here on
    replay_cases([], project=project.root, jobs=jobs)  # and this process's engine connection and imports
    cli_s, library_s, floor_s = [], [], []
    for _ in range(runs):  # interleaved, so drift in the machine's load hits every series alike
        cli_s += clock(replay, 1)
        library_s += clock(lambda: replay_cases([], project=project.root, jobs=jobs), 1)
        floor_s += clock(floor, 1)
    cli, lib, par = median(cli_s), median(library_s), median(floor_s)
    reference = f"{len(tags)}x docker run --rm, {2 * jobs} at a time"
    return [Figure(f"replay {cases} cached cases --jobs {jobs} CLI (s)", cli, par, reference, "<= 1.3x",
                   cli / par <= 1.3, f"library replay_cases(): {lib:.2f} s (ratio {lib / par:.2f})",
                   {"cli": cli_s, "library": library_s, "floor": floor_s},
                   why=f"{over(cli / par, 1.3)}; {cli - lib:.2f} s of it is the CLI process (start, imports, "
                       "loading the cases, the summary)"),
            Figure(f"replay {cases} cached cases --jobs {jobs} library (s)", lib, par, reference, "<= 1.3x",
                   lib / par <= 1.3, samples={"library": library_s, "floor": floor_s}, why=over(lib / par, 1.3))]


LOUD_CASE = """id: BENCH-LOUD
title: Benchmark - a step that prints 200 MB, then the signature
environment: baseline
baseline: baseline
steps:
  - head -c 200000000 /dev/zero | tr '\\0' x; echo 'SIGNATURE-AFTER-200MB' >&2; exit 1
expect:
  exit_code: 1
  stderr_contains: SIGNATURE-AFTER-200MB
status: open
"""


def loud_replay_rss(project: Project) -> list[Figure]:
    """Peak RSS of `reprokit replay` of a case whose step prints 200 MB (stdout) before its signature (stderr)."""
    folder = project.root / "cases" / "BENCH-LOUD"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.yaml").write_text(LOUD_CASE)
    before = (project.root / ".reprokit" / "history.sqlite")
    size_before = before.stat().st_size if before.exists() else 0
    script = ("import json, resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True); "
              "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
              "json.loads(done.stdout or b'{}').get('verdict'), done.stderr.decode(errors='replace')[-2000:]]))")
    started = time.perf_counter()
    done = sh(PYTHON, "-c", script, REPROKIT, "case", "run", "BENCH-LOUD", "-C", str(project.root), "--json",
              check=False)
    seconds = time.perf_counter() - started
    peak_kib, verdict, stderr = json.loads(done.stdout)
    peak_mb = peak_kib / 1024
    if verdict is None:
        raise RuntimeError(f"reprokit case run BENCH-LOUD printed no verdict: {stderr}")
    grown = (before.stat().st_size if before.exists() else 0) - size_before
    return [Figure("peak RSS, a 200 MB-output step (MB)", round(peak_mb, 1), 200.0, "the target (MB)",
                   "< 200 MB", peak_mb < 200 and verdict in ("REPRODUCED", "EVERYWHERE"),
                   f"case run (both sides print 200 MB) in {seconds:.1f} s, verdict {verdict} (the signature is in "
                   f"the kept tail); history grew {grown / 1024:.0f} KiB", {"history_growth_bytes": grown},
                   why=f"{over(peak_mb, 200)} or the verdict ({verdict}) lost the signature")]


@contextmanager
def sup_4811_on_fresh_bases(created: list[str], count: int):
    """A temporary project holding SUP-4811 and the baseline, and a function that points the baseline at the
    i-th of ``count`` fresh bases (debian:bookworm under a new id, named so reprokit still knows the suite's
    python) and forgets earlier outcomes, dry runs and facts: each use starts from no images at all, reusing no
    layer of any other image on this engine. Only the images built on those bases are removed afterwards."""
    bases = [fresh_base(created, debian=True) for _ in range(count)]
    try:
        with tempfile.TemporaryDirectory(prefix="reprokit-bench-isolate-") as scratch:
            root = Path(scratch)
            shutil.copytree(ROOT / "cases" / "SUP-4811", root / "cases" / "SUP-4811")
            (root / "environments").mkdir()
            baseline = (ROOT / "environments" / "baseline.yaml").read_text()

            def on_base(i: int) -> Path:
                shutil.rmtree(root / ".reprokit", ignore_errors=True)
                (root / "environments" / "baseline.yaml").write_text(
                    baseline.replace("os: debian:bookworm", f"os: {bases[i]}"))
                return root
            yield on_base
    finally:
        created += [tag for base in bases for tag in built_on(base)]


def per_phase(result: dict) -> str:
    return "; ".join(f"{p['phase']} {p['wall_s']:.1f} s ({p['probes']} probes, {p['builds']} builds, "
                     f"{p['images_present']} images present, {p['layers_reused']} layers reused)"
                     for p in result["phases"])


def isolate_from_cold(created: list[str]) -> list[Figure]:
    """`reprokit isolate SUP-4811 --jobs 2` from no images at all, against one cold build of its customer
    environment, each on a base of its own."""
    with sup_4811_on_fresh_bases(created, 2) as on_base:
        root = on_base(0)
        started = time.perf_counter()
        assert build(load_case("SUP-4811", root=root).environment).built
        cold_s = time.perf_counter() - started
        on_base(1)
        started = time.perf_counter()
        done = sh(REPROKIT, "isolate", "SUP-4811", "--jobs", "2", "--json", "-C", str(root), check=False)
        isolate_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"reprokit isolate SUP-4811 exited {done.returncode}: {done.stderr.strip()[-800:]}")
    result, ratio = json.loads(done.stdout), isolate_s / cold_s
    minimal = [a["name"] for a in result["minimal"]]
    return [Figure("isolate SUP-4811 --jobs 2 from cold (s)", round(isolate_s, 2), round(cold_s, 2),
                   "cold build of its customer environment", "<= 2.5x",
                   ratio <= 2.5 and minimal == ["python_packages.markupsafe"],
                   f"minimal {minimal}; per phase: {per_phase(result)}",
                   {"isolate": isolate_s, "cold_build": cold_s, "phases": result["phases"],
                    "engine_builds": result["engine_builds"], "totals": result["totals"]},
                   why=f"{over(ratio, 2.5)}; per phase: {per_phase(result)}")]


def isolate_modes(created: list[str]) -> list[Figure]:
    """Cold isolations of SUP-4811 (library calls), each from no images: sequential (--jobs 1), parallel (--jobs 2,
    every build on its own) and staggered (--jobs 2, a build waits for first steps shared with one in progress:
    what isolate does)."""
    import reprokit.isolate.builds as builds
    from reprokit.isolate.isolation import isolate

    seconds, phases, waits = {}, {}, builds.shared_steps
    with sup_4811_on_fresh_bases(created, 3) as on_base:
        for i, (mode, jobs) in enumerate([("sequential", 1), ("parallel", 2), ("staggered", 2)]):
            root = on_base(i)
            builds.shared_steps = (lambda a, b: 0) if mode == "parallel" else waits
            try:
                started = time.perf_counter()
                result = isolate(load_case("SUP-4811", root=root), project=Project(root), jobs=jobs, record=False)
                seconds[mode], phases[mode] = time.perf_counter() - started, result.phases
            finally:
                builds.shared_steps = waits
    staggered, parallel, sequential = seconds["staggered"], seconds["parallel"], seconds["sequential"]
    note = "; ".join(f"{mode} {s:.1f} s ({sum(p['builds'] for p in phases[mode])} builds, "
                     f"{sum(p['layers_reused'] for p in phases[mode])} layers reused)" for mode, s in seconds.items())
    return [Figure("isolate SUP-4811 from cold, staggered (s)", round(staggered, 2), round(parallel, 2),
                   "the same, parallel builds that share nothing", "<= 1x", staggered <= parallel,
                   f"{note}; staggered vs sequential {staggered / sequential:.2f}x", {"seconds": seconds, "phases": phases},
                   why=f"{over(staggered / parallel, 1)}: {note}")]


def built_on(base: str) -> list[str]:
    """Tagged images whose history holds ``base``: what was built on it (a base of this run's own)."""
    short = sh("docker", "image", "inspect", "-f", "{{.Id}}", base).stdout.strip().removeprefix("sha256:")[:12]
    newer = sh("docker", "images", "--filter", f"since={base}", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return [tag for tag in newer if short in sh("docker", "history", "-q", tag, check=False).stdout.split()]


# -- main --------------------------------------------------------------------------------------------------------


def service_start(runs: int) -> list[Figure]:
    """postgres:15 from start to ready: reprokit's services (network, container, readiness by pg_isready) against
    plain `docker network create` + `docker run -d` + a `docker exec pg_isready` loop of the same image."""
    from reprokit.engine import get_engine
    from reprokit.services.images import service_image
    from reprokit.services.lifecycle import start_services
    from reprokit.contract.models import environment_model

    engine = get_engine()
    env = {"POSTGRES_PASSWORD": "example", "POSTGRES_USER": "app", "POSTGRES_DB": "app"}
    spec = environment_model().model_validate({"name": "bench-services", "os": "debian:bookworm",
                                                "services": {"db": {"image": "postgres:15", "env": env}}})
    image = service_image("postgres:15", engine=engine)  # built once (a Debian recipe here), not timed

    def reprokit_start() -> None:
        with start_services(spec, engine=engine, labels={"reprokit.purpose": "bench"}):
            pass

    def plain_start() -> None:
        network = f"rk-bench-{os.getpid()}"
        sh("/usr/bin/docker", "network", "create", "--label", "reprokit.session=bench", network)
        try:
            name = sh("/usr/bin/docker", "run", "-d", "--init", "--label", "reprokit.session=bench", "--network",
                      network, "--network-alias", "db", *(f"-e{k}={v}" for k, v in env.items()),
                      image.tag).stdout.strip()
            try:
                while sh("/usr/bin/docker", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "app",
                         check=False).returncode != 0:
                    time.sleep(0.1)
            finally:
                sh("/usr/bin/docker", "rm", "-f", name)
        finally:
            sh("/usr/bin/docker", "network", "rm", network)

    ours, plain = [], []
    for _ in range(runs):  # interleaved, so load drifts hit both alike
        ours += clock(reprokit_start, 1)
        plain += clock(plain_start, 1)
    return [Figure("service start to ready (postgres:15)", median(ours), median(plain),
                   "docker run + pg_isready loop", "<= 1.5x", median(ours) <= 1.5 * median(plain),
                   note=image.provenance, samples={"reprokit": ours, "plain": plain},
                   why=f"{median(ours) / median(plain):.2f}x: both wait for initdb; reprokit adds the network, "
                       "the version query and testcontainers' create/start")]


CACHE_PACKAGES = ["sqlite3", "curl", "libpq5"]  # with python3 and python3-venv (platform layer): ~30 Debian packages
CACHE_PYTHON = ["markupsafe==2.1.5"]


def package_caches(rounds: int, created: list[str]) -> list[Figure]:
    """Rounds of three cold builds, each on a fresh base so Docker reuses no layer: an environment through a
    private, empty apt-cacher-ng (tests/integration/machines.py), a second environment needing the same packages
    through the now-warm cache, and the first with the cache off. Medians over the rounds; mirror fetches counted
    from the cache's log. pip's share: the python-packages steps of the cold builds, and a `pip download` of the
    same pins inside the image (what a perfect wheel cache could save at most)."""
    from reprokit.contract.models import EnvironmentSpec
    from reprokit.image.caches import ADDRESS_VARIABLE, SWITCH_VARIABLE

    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from machines import AptCacher

    spec = EnvironmentSpec(name="bench-caches", os="debian:bookworm", system_packages=CACHE_PACKAGES,
                           python_packages=CACHE_PYTHON)
    second = spec.model_copy(update={"name": "bench-caches-2", "env": {"BENCH": "second environment"}})
    cold = lambda spec: timed_build(spec.model_copy(update={"os": fresh_base(created)}), installer="pip",  # noqa
                                    created=created)
    builds, fetched, profile = {"empty": [], "warm": [], "off": []}, {"empty": [], "warm": []}, {}
    saved = {name: os.environ.pop(name, None) for name in (ADDRESS_VARIABLE, SWITCH_VARIABLE)}
    try:
        for round_ in range(rounds):
            cacher = AptCacher(Path(tempfile.mkdtemp(prefix="reprokit-bench-acng-")))
            cacher.start()
            try:
                os.environ.pop(SWITCH_VARIABLE, None)
                os.environ[ADDRESS_VARIABLE] = cacher.address
                builds["empty"].append(cold(spec))
                fetched["empty"].append(mirror_fetches(cacher))
                builds["warm"].append(cold(second))
                fetched["warm"].append(tuple(now - then for now, then in zip(mirror_fetches(cacher),
                                                                             fetched["empty"][-1])))
                os.environ[SWITCH_VARIABLE] = "off"
                builds["off"].append(cold(spec))
                if round_ == rounds - 1:
                    wheels_s = pip_download_s(created[-1])
                    profile = apt_profile(fresh_base(created), cacher.address)
            finally:
                cacher.stop()
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
    total = {way: median([b["total_s"] for b in done]) for way, done in builds.items()}
    ratio, pip_s = total["warm"] / total["empty"], median([b["python_step_s"] for b in builds["empty"]])
    steps = ", ".join(f"{what} {profile['cache'][i]:.1f}/{profile['direct'][i]:.1f} s"
                      for i, what in enumerate(("apt-get update", "download", "unpack+configure")))
    files = lambda way: f"{fetched[way][-1][0]} files ({fetched[way][-1][1] / 2**20:.1f} MiB)"  # noqa: E731
    return [Figure("cold build, second env, warm apt cache (s)", total["warm"], total["empty"],
                   "cold build, empty apt cache", "<= 0.5x", ratio <= 0.5,
                   f"medians of {rounds} round(s); mirror fetches {files('empty')} -> {files('warm')}; cache off: "
                   f"{total['off']:.1f} s (warm cache {total['warm'] / total['off']:.2f}x of it, empty cache "
                   f"{total['empty'] / total['off']:.2f}x); apt in a container (warm cache/direct): {steps}",
                   {"builds": builds, "apt_profile": profile, "mirror_fetches": fetched},
                   why=f"{over(ratio, 0.5)}: the cache saves the downloads only ({profile['direct'][1]:.1f} s "
                       f"here, the mirror is fast); apt-get update still reads and parses the indexes and "
                       f"unpacking and configuring cost the same, and the rest of a cold build is unchanged"),
            Figure("pip: wheel download in a cold build (s)", wheels_s, total["empty"], "cold build, empty caches",
                   "choose by the figures", None,
                   f"options: none (direct HTTPS to PyPI, chosen) vs a perfect wheel cache, which saves at most the "
                   f"download: {wheels_s:.1f} s of the {pip_s:.1f} s python-packages steps -> "
                   f"{(total['empty'] - wheels_s) / total['empty']:.2f}x at best; a PyPI proxy needs TLS "
                   "interception or an index URL in the Dockerfile (both change the image or its hash)",
                   {"python_steps_s": pip_s, "pip_download_s": wheels_s})]


def mirror_fetches(cacher) -> tuple[int, int]:
    """(files, bytes) apt-cacher-ng fetched from the mirror so far: its log's 'I' (incoming) lines."""
    lines = [line.split("|") for log in (cacher.root / "log").glob("apt-cacher.log")
             for line in log.read_text().splitlines()]
    incoming = [int(fields[2]) for fields in lines if len(fields) > 4 and fields[1] == "I"]
    return len(incoming), sum(incoming)


def apt_profile(base: str, address: str) -> dict[str, list[float]]:
    """Seconds of apt-get update, --download-only and the install proper of the builds' Debian packages, in a
    container of ``base``: through the (warm) cache and directly."""
    words = " ".join(["python3", "python3-venv", *CACHE_PACKAGES])
    script = ('export DEBIAN_FRONTEND=noninteractive; for step in "apt-get update -qq" "apt-get install -y -qq '
              f'--no-install-recommends --download-only {words}" "apt-get install -y -qq --no-install-recommends '
              f'{words}"; do s=$EPOCHREALTIME; $step >/dev/null 2>&1 || exit 9; echo $s $EPOCHREALTIME; done')
    found = {}
    for way, proxy in (("cache", [f"-ehttp_proxy=http://{address}"]), ("direct", [])):
        done = sh("docker", "run", "--rm", "--network", "host", *proxy, base, "bash", "-c", script)
        found[way] = [round(float(end) - float(start), 2) for start, end in map(str.split, done.stdout.split("\n")[:3])]
    return found


def pip_download_s(image: str) -> float:
    """Seconds `pip download` of the pins takes inside ``image`` (its venv's pip, the host CA trusted as in builds)."""
    from reprokit.aspects.python_packages import find_ca_bundle

    bundle = find_ca_bundle()
    trust = ["-v", f"{bundle}:/tmp/ca.pem:ro", "-ePIP_CERT=/tmp/ca.pem"] if bundle else []
    script = (f"s=$EPOCHREALTIME; pip download -q --no-cache-dir --disable-pip-version-check --no-deps -d /tmp/wheels "
              f"{' '.join(CACHE_PYTHON)} >&2 || exit 9; echo $s $EPOCHREALTIME")
    start, end = sh("docker", "run", "--rm", *trust, image, "bash", "-c", script).stdout.split()
    return round(float(end) - float(start), 2)


def remove_images(created: list[str]) -> None:
    """Remove the images this run made (newest first: reprokit's builds before the bases they stand on)."""
    for tag in reversed(created):
        sh("docker", "rmi", tag, check=False)


def show(figures: list[Figure]) -> None:
    cell = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"\nload average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work on this machine "
          "skews every figure; see load_average in the JSON)")
    print(f"\n{'figure':40} {'value':>8} {'reference':>9}  {'ratio':>6}  {'target':26} met?  reference is")
    for f in figures:
        met = {True: "yes", False: "NO", None: "?"}[f.met]
        print(f"{f.name:40} {cell(f.value):>8} {cell(f.reference):>9}  {cell(f.ratio):>6}  {f.target:26} "
              f"{met:5} {f.reference_name}")
        if f.note:
            print(f"    {f.note}")
        if f.met is False and f.why:
            print(f"    MISSED: {f.why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / ".reprokit" / "bench_overhead.json"))
    parser.add_argument("--runs", type=int, default=5, help="runs per cheap figure (median)")
    parser.add_argument("--cold-runs", type=int, default=2,
                        help="cold builds per installer, and rounds of the caches figure (each 0.5-3 min)")
    parser.add_argument("--rebuild-runs", type=int, default=3, help="rebuilds per installer after a pin change (at most 7)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="help warm unchanged rebuild replay floor services rss caches isolate isolate-modes")
    parser.add_argument("--floor-jobs", type=int, default=1, help="replay --jobs for the floor figure")
    args = parser.parse_args(argv)
    chosen = set(args.only or ["help", "warm", "unchanged", "rebuild", "replay", "floor", "services", "rss", "caches",
                               "isolate"])
    # The sandbox sets PYTHONDONTWRITEBYTECODE=1: without this, every CLI start would compile reprokit again.
    sh(PYTHON, "-m", "compileall", "-q", str(ROOT / "reprokit"), check=False)
    figures, created = [], []
    with tempfile.TemporaryDirectory(prefix="reprokit-bench-") as scratch:
        project = make_project(Path(scratch), cases=10)
        plan = [("help", lambda: help_time(args.runs)), ("warm", lambda: warm_case_run(project, args.runs)),
                ("unchanged", lambda: unchanged_build(project, args.runs)),
                ("replay", lambda: replay_jobs(project, args.runs)),
                ("floor", lambda: replay_floor(project, args.runs, args.floor_jobs)),
                ("services", lambda: service_start(args.runs)),
                ("rebuild", lambda: pin_rebuild_and_installers(project, args.rebuild_runs, args.cold_runs, created)),
                ("rss", lambda: loud_replay_rss(project)),
                ("caches", lambda: package_caches(args.cold_runs, created)),
                ("isolate", lambda: isolate_from_cold(created)), ("isolate-modes", lambda: isolate_modes(created))]
        try:
            for name, measure in plan:
                if name in chosen:
                    print(f"measuring {name} ...", file=sys.stderr, flush=True)
                    load_before = os.getloadavg()[0]
                    try:
                        measured = measure()
                        for figure in measured:
                            figure.samples["load_average"] = [load_before, os.getloadavg()[0]]
                        figures += measured
                    except Exception as error:  # one broken figure must not hide the others
                        figures.append(Figure(name, None, note=f"FAILED: {type(error).__name__}: {error}"))
        finally:
            remove_images(created)
    show(figures)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps([{**asdict(f), "ratio": f.ratio} for f in figures], indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0 if all(f.met for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
