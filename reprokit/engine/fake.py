"""A fake container engine: records every call, builds nothing, runs nothing for real.

It implements every method of `reprokit.engine.protocol.Engine` the flow uses, so unit tests (and a library
user's own tests) can run a case, a probe or an isolation without Docker: `set_engine(FakeEngine())`."""
from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from reprokit.engine import registry
from reprokit.engine.protocol import (BatchOutcome, BuildFailure, BuildOutcome, BuildProxy, ContainerConfig,
                                      EngineImage, FileEntry, Moved, RunResult, Transfer)
from reprokit.errors import EngineError


@dataclass
class FakeContainer:
    """A container whose commands answer from a table (command -> RunResult) or exit 0 silently."""

    id: str
    image: str
    config: ContainerConfig
    answers: dict[str, RunResult] = field(default_factory=dict)
    commands: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def exec(self, command: str, *, timeout: float, user: str | None = None, workdir: str | None = None,
             env: dict[str, str] | None = None) -> RunResult:
        self.commands.append({"command": command, "timeout": timeout, "user": user, "workdir": workdir, "env": env})
        return self.answers.get(command, RunResult(command, 0, "", "", 0.01))

    def put_files(self, folder: str, files: dict[str, bytes], *, owner: str | None = None) -> None:
        for name, data in files.items():
            self.files[f"{folder.rstrip('/')}/{name}"] = data

    def logs(self, *, tail: int = 200) -> str:
        return ""

    def exit_code(self) -> int | None:
        return None


class FakeRegistry:
    """Container registries in memory, shared by fake engines: reference -> (image id, labels). ``up`` False makes
    every registry refuse connections, like one that is down; ``fail_pushes_after`` lets that many pushes through,
    then the registry disappears (mid-run)."""

    def __init__(self) -> None:
        self.images: dict[str, tuple[str, dict]] = {}
        self.up = True
        self.fail_pushes_after: int | None = None
        self.pushes: list[str] = []
        self.lookups: list[str] = []

    def refused(self, reference: str) -> Transfer:
        host = reference.split("/")[0]
        return Transfer(Moved.UNREACHABLE, f'Get "http://{host}/v2/": dial tcp {host}: connect: connection refused')


class FakeEngine:
    """Implements reprokit.engine.Engine in memory. ``fail_build`` makes the next builds fail like Docker's.
    ``registry`` (a FakeRegistry) is what its pull, push and lookup reach; ``answering`` False makes it a lost
    engine (``reconnect`` says whether it came back)."""

    facts_scope = ""

    def __init__(self, *, images: dict[str, str] | None = None, pullable: tuple[str, ...] = (),
                 fail_build: BuildFailure | None = None, cached_steps: int = 0,
                 registry: FakeRegistry | None = None, endpoint: str = "fake://engine"):
        self.endpoint = endpoint
        self.registry = registry
        self.answering = True
        self.reconnects: list[float] = []
        self.tagged: list[tuple[str, str]] = []
        self.tags: dict[str, str] = dict(images if images is not None else {  # reference -> image id
            "debian:bullseye": "sha256:bullseye", "debian:bookworm": "sha256:bookworm", "debian:trixie": "sha256:trixie"})
        self.stored: dict[str, dict] = {}  # image id -> labels, size, created, layers (what `images()` lists)
        self.in_use: set[str] = set()  # image ids a container uses: remove_image refuses them, as Docker does
        self.removed_images: list[str] = []
        self.pullable = pullable
        self.fail_build = fail_build
        self.cached_steps = cached_steps
        self.builds: list[dict] = []
        self.pulls: list[str] = []
        self.loads: list[dict] = []
        self.architectures: dict[str, str] = {}  # image id -> the architecture its config records (default amd64)
        self.containers: list[FakeContainer] = []
        self.running: list[FakeContainer] = []
        self.removed: list[tuple[str, str]] = []
        self.answers: dict[str, RunResult] = {}  # a command (or a step of a batch) -> what it did
        self.batches: list[dict] = []  # every run_batch call: image, config, files (with owners), command
        self.networks: list[str] = []
        # What the facts script prints in a batch (see reprokit/run/facts.py); or a function of image and config.
        self.facts_output: str | Callable[[str, ContainerConfig], str] = ""
        self.fail_start: Exception | None = None  # raised by run_batch, as the engine does when a start fails
        self.on_step: Callable[[str, ContainerConfig, str], RunResult | None] | None = None

    def version(self) -> str:
        return "fake"

    def image_id(self, reference: str) -> str | None:
        return self.tags.get(reference)

    def obtain(self, reference: str) -> tuple[str, bool] | None:
        return registry.obtain(self, reference)

    def share(self, reference: str) -> bool:
        return registry.push(self, reference)

    def add_image(self, *tags: str, id: str | None = None, labels: dict[str, str] | None = None, size: int = 0,
                  created: float = 0.0, layers: tuple[tuple[str, int], ...] | None = None,
                  arch: str | None = None) -> str:
        """Put an image in the engine (for `images()`); ``layers`` default to one layer of ``size`` of its own;
        ``arch`` is what its config records (amd64 when not given)."""
        image = id or "sha256:" + hashlib.sha256(repr((tags, labels, size, created)).encode()).hexdigest()
        if arch:
            self.architectures[image] = arch
        self.stored[image] = {"labels": dict(labels or {}), "size": size, "created": created,
                              "layers": layers if layers is not None else ((image, size),)}
        self.tags.update({tag: image for tag in tags})
        return image

    def images(self) -> list[EngineImage]:
        ids = dict.fromkeys([*self.stored, *self.tags.values()])
        listed = []
        for image in ids:
            stored = self.stored.get(image, {})
            listed.append(EngineImage(image, tuple(t for t, i in self.tags.items() if i == image),
                                      dict(stored.get("labels", {})), stored.get("size", 0), stored.get("created", 0.0)))
        return listed

    def image_layers(self, image_id: str) -> tuple[tuple[str, int], ...]:
        return tuple(self.stored.get(image_id, {}).get("layers", ()))

    def remove_image(self, reference: str) -> None:
        image = self.tags.get(reference, reference)
        tags = [t for t, i in self.tags.items() if i == image]
        if image not in self.stored and not tags:
            return
        by_id = reference == image
        if by_id and len(tags) > 1:
            raise EngineError(f"the engine did not remove {reference}: referenced in multiple repositories")
        goes = by_id or tags == [reference]  # the image itself goes, not only one of its tags
        if goes and image in self.in_use:
            raise EngineError(f"the engine did not remove {reference}: a container uses it")
        self.removed_images.append(reference)
        for tag in tags if by_id else [reference]:
            del self.tags[tag]
        if goes:
            self.stored.pop(image, None)

    def build(self, dockerfile: str, context: dict[str, bytes], *, tag: str, labels: dict[str, str],
              on_line: Callable[[str], None], proxy: BuildProxy | None = None) -> BuildOutcome:
        self.builds.append({"dockerfile": dockerfile, "context": dict(context), "tag": tag, "labels": dict(labels),
                            "proxy": proxy})
        steps = [line for line in dockerfile.splitlines() if line[:1].isupper() and line.split()[0].isupper()]
        log = [f"Step {i}/{len(steps)} : {line}" for i, line in enumerate(steps, 1)]
        if self.fail_build is not None:
            for line in self.fail_build.log:
                on_line(line)
            raise self.fail_build
        for line in log:
            on_line(line)
        image = "sha256:" + hashlib.sha256(dockerfile.encode()).hexdigest()
        self.add_image(tag, id=image, labels=labels, size=len(dockerfile), created=time.time())
        # dockerd's classic builder: the result has its base's architecture, whatever the build asked for.
        base = next((line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")), None)
        self.architectures[image] = (self.image_architecture(base) if base else None) or "amd64"
        return BuildOutcome(image, min(self.cached_steps, len(steps)), len(steps), log)

    def pull(self, reference: str, *, platform: str | None = None) -> Transfer:
        self.pulls.append(reference)
        if reference in self.pullable:
            self.tags[reference] = "sha256:pulled-" + reference
            if platform:
                self.architectures[self.tags[reference]] = platform.split("/")[1]
            return Transfer(Moved.DONE)
        if self.registry is None or "." not in reference.split("/")[0] and ":" not in reference.split("/")[0]:
            return Transfer(Moved.UNREACHABLE, "no registry here")
        if not self.registry.up:
            return self.registry.refused(reference)
        if reference not in self.registry.images:
            return Transfer(Moved.ABSENT, f"manifest for {reference} not found: manifest unknown")
        image, labels = self.registry.images[reference]
        self.add_image(reference, id=image, labels=labels)
        return Transfer(Moved.DONE)

    def push(self, reference: str) -> Transfer:
        if reference not in self.tags:
            return Transfer(Moved.UNREACHABLE, f"An image does not exist locally with the tag: {reference}")
        registry = self.registry
        if registry is None or not registry.up:
            return (registry or FakeRegistry()).refused(reference)
        if registry.fail_pushes_after is not None and len(registry.pushes) >= registry.fail_pushes_after:
            registry.up = False  # it went away in the middle of the push
            return Transfer(Moved.UNREACHABLE, "Put http://x/v2/blobs/uploads/: EOF")
        registry.pushes.append(reference)
        image = self.tags[reference]
        registry.images[reference] = (image, dict(self.stored.get(image, {}).get("labels", {})))
        return Transfer(Moved.DONE)

    def lookup(self, reference: str) -> Transfer:
        if self.registry is None or not self.registry.up:
            return (self.registry or FakeRegistry()).refused(reference)
        self.registry.lookups.append(reference)
        return Transfer(Moved.DONE) if reference in self.registry.images else Transfer(Moved.ABSENT, "manifest unknown")

    def tag(self, image: str, reference: str) -> None:
        self.tagged.append((image, reference))
        self.tags[reference] = self.tags.get(image, image)

    def reconnect(self, timeout: float) -> bool:
        self.reconnects.append(timeout)
        return self.answering

    def image_architecture(self, reference: str) -> str | None:
        """What the image's config records: as loaded or built; amd64 for any other image, as on this host."""
        image = self.tags.get(reference, reference if reference in self.stored else None)
        return None if image is None else self.architectures.get(image, "amd64")

    def load_rootfs(self, tarball: str, reference: str, *, arch: str, labels: dict[str, str] | None = None) -> str:
        self.loads.append({"tarball": tarball, "reference": reference, "arch": arch, "labels": dict(labels or {})})
        image = self.add_image(reference, id="sha256:loaded-" + reference, labels=labels)
        self.architectures[image] = arch
        return image

    @contextmanager
    def start(self, image: str, config: ContainerConfig, *, command: list[str] | None = None,
              files: dict[str, bytes] | None = None) -> Iterator[FakeContainer]:
        container = FakeContainer(f"fake{len(self.containers):08d}", image, config, self.answers)
        container.files.update({"/" + name: data for name, data in (files or {}).items()})
        self.containers.append(container)
        self.running.append(container)
        try:
            yield container
        finally:
            self.running.remove(container)

    @contextmanager
    def network(self, labels: dict[str, str]) -> Iterator[str]:
        name = f"fake-net-{len(self.networks)}"
        self.networks.append(name)
        yield name

    def run_batch(self, image: str, config: ContainerConfig, *, files: dict[str, bytes | FileEntry],
                  command: list[str], collect: str, timeout: float, owner: str | None = None) -> BatchOutcome:
        """Run reprokit's step runner as the real one would: every ``<collect>/../steps/<i>.sh`` in order, each
        answered from ``answers`` (by the step's last line: the step itself, after the aspects' prelude) or
        exiting 0, unless ``on_step(image, config, step)`` answers first (a different outcome per environment);
        it stops at the first step that fails. ``facts.sh``, when sent, prints ``facts_output``."""
        self.batches.append({"image": image, "config": config, "files": dict(files), "command": list(command),
                             "collect": collect, "timeout": timeout, "owner": owner})
        if self.fail_start is not None:
            raise self.fail_start
        run_dir = collect.rsplit("/", 1)[0].lstrip("/")
        out: dict[str, bytes] = {}
        if f"{run_dir}/facts.sh" in files:
            facts = self.facts_output(image, config) if callable(self.facts_output) else self.facts_output
            out["out/facts"] = facts.encode()
        code = 0
        for i in range(len([name for name in files if name.startswith(f"{run_dir}/steps/")])):
            data = files.get(f"{run_dir}/steps/{i}.sh")
            if data is None:
                break
            text = (data.data if isinstance(data, FileEntry) else data).decode()
            step = text.rstrip("\n").rsplit("\n", 1)[-1]
            result = (self.on_step(image, config, step) if self.on_step else None) or \
                self.answers.get(step, RunResult(step, 0, "", "", 0.01))
            out |= {f"out/{i}.stdout": result.stdout.encode(), f"out/{i}.stderr": result.stderr.encode(),
                    f"out/{i}.status": f"{result.exit_code} 100.0 {100 + result.duration_s}".encode()}
            code = result.exit_code
            if code != 0:
                break
        oom = any(r.oom_killed for r in self.answers.values()) and code == 137
        return BatchOutcome(code, out, oom_killed=oom)

    def leftovers(self, *, include_live: bool = False) -> list[tuple[str, str, dict[str, str]]]:
        return []

    def remove(self, kind: str, resource_id: str) -> None:
        self.removed.append((kind, resource_id))

    def abort(self) -> None:
        self.removed.append(("abort", "*"))
