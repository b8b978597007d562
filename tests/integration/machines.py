"""A second Docker engine and a container registry on this machine, started and stopped by the tests (and by
tests/bench_registry.py), so two "machines" can share images and one of them can die mid-replay; and a private
apt cache (`AptCacher`, for tests/integration/test_build_caches.py and tests/bench_overhead.py).

The second engine is a dockerd of its own: its own data root, exec root, pid file, unix socket and containerd
namespace, ``--iptables=false`` (the first engine's rules stay untouched) and a bridge of its own made with
``ip link`` (``--bridge none`` would make it delete the first engine's docker0). Its containers therefore have
no route out: it can run images, not build ones that download packages. The registry is Debian's
``docker-registry`` storing under a temporary folder, on 127.0.0.1 (an insecure registry by default in Docker,
for both engines). Everything here is removed by ``stop()``, which the fixtures call however the tests end.
"""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

DOCKERD = shutil.which("dockerd") or "/usr/bin/dockerd"
REGISTRY = "/usr/bin/docker-registry"


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child still "exists"
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line names ``text`` (one of this module's own folders: never someone else's)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if text in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found



def end_process(process: subprocess.Popen | None) -> None:
    """Terminate a server this module started (kill it if it does not end in 15 s)."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def wait_until_answering(server, name: str, log: Path, timeout: float) -> None:
    """Wait for ``server`` (its ``process`` just started) to answer; its log's tail if it exits or never does."""
    deadline = time.monotonic() + timeout
    while not server.answers():
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: " + log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)

class SecondEngine:
    """A dockerd of its own under ``root``, on bridge ``bridge`` (``address`` its gateway, CIDR)."""

    def __init__(self, root: Path, *, bridge: str = "rkbr1", address: str = "10.77.0.1/24",
                 pool: str = "10.77.128.0/17"):
        self.root, self.bridge, self.address, self.pool = Path(root), bridge, address, pool
        self.process: subprocess.Popen | None = None
        self.made_bridge = False

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, *, timeout: float = 60) -> None:
        """Start (or restart, after ``kill``) the daemon and wait until it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            for command in (("ip", "link", "add", self.bridge, "type", "bridge"),
                            ("ip", "addr", "add", self.address, "dev", self.bridge),
                            ("ip", "link", "set", self.bridge, "up")):
                done = _run(*command)
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
            self.made_bridge = True
        self._end_stale_daemon()
        self._forget_dead_containerd()
        # After a crash, dockerd deletes the stale default network it finds in its store, and that deletion took
        # the FIRST engine's docker0 with it (seen here with dockerd 20.10: kill -9, restart, docker0 gone). A
        # store without networks makes it create its bridge network afresh from --bridge instead.
        (self.root / "data" / "network" / "files" / "local-kv.db").unlink(missing_ok=True)
        log = open(self.root / "dockerd.log", "ab")
        namespace = f"reprokit-test-{self.bridge}"
        self.process = subprocess.Popen(
            [DOCKERD, "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "-H", self.url, "--iptables=false", "--ip-masq=false",
             "--bridge", self.bridge, "--default-address-pool", f"base={self.pool},size=24",
             "--containerd-namespace", namespace, "--containerd-plugins-namespace", f"{namespace}-plugins"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "dockerd.log").read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError("the second dockerd did not start:\n" + "\n".join(tail))
            time.sleep(0.3)

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        done = _run("docker", "-H", self.url, "version", "--format", "{{.Server.Version}}")
        return done.returncode == 0

    def kill(self) -> None:
        """SIGKILL the daemon, as a crash would (its containerd and containers live on until it restarts)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the daemon, its containerd and shims, unmount and delete its folders and its bridge."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(timeout=30)
        self._end_stale_daemon()
        for pid in _pids_mentioning(str(self.root / "exec")):  # containerd and shims started for this daemon
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.root))]
        for mount in sorted(mounts, key=len, reverse=True):
            _run("umount", "-l", mount)
        try:  # the daemon's log outlives it, beside its folder: what to read when a test failed
            shutil.copy(self.root / "dockerd.log", self.root.parent / f"{self.root.name}.log")
        except OSError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
        if self.made_bridge:
            _run("ip", "link", "delete", self.bridge)
        first_engine_bridge_stands()


    def _forget_dead_containerd(self) -> None:
        """After a SIGKILL the daemon's containerd dies too; where nothing reaps orphans (pid 1 of this machine
        does not), it stays a zombie that dockerd takes for a running containerd and waits for in vain."""
        pidfile = self.root / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        for _ in range(50):  # a containerd still shutting down gets a few seconds
            if not _alive(pid):
                pidfile.unlink(missing_ok=True)
                return
            time.sleep(0.2)

    def _end_stale_daemon(self) -> None:
        """A daemon left by an earlier session that was killed itself (its pid file names it): end it."""
        try:
            pid = int((self.root / "docker.pid").read_text().strip())
        except (OSError, ValueError):
            return
        if pid != (self.process.pid if self.process else None) and _alive(pid) and \
                str(self.root) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGTERM)
            for _ in range(150):
                if not _alive(pid):
                    break
                time.sleep(0.2)


def first_engine_bridge_stands() -> None:
    """The first engine's docker0 must have outlived the second engine (``--bridge none`` would have deleted it,
    and every other container on this machine would lose its network): recreate it if not, and say so."""
    if Path("/sys/class/net/docker0").exists():
        return
    for command in (("ip", "link", "add", "docker0", "type", "bridge"),
                    ("ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"), ("ip", "link", "set", "docker0", "up")):
        _run(*command)
    raise RuntimeError("the first engine's docker0 was gone after the second engine stopped (recreated)")


def free_port(preferred: int = 5000) -> int:
    """``preferred`` if nothing listens on it, else a port the kernel hands out."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


class LocalRegistry:
    """Debian's docker-registry on 127.0.0.1, storing under ``root``; with ``login`` (user, password), it asks
    for them (htpasswd, bcrypt) like a company's registry."""

    def __init__(self, root: Path, *, port: int | None = None, path: str = "reprokit-test",
                 login: tuple[str, str] | None = None):
        self.root, self.port, self.path, self.login = Path(root), port, path, login
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """What --registry takes: HOST:PORT/PATH."""
        return f"{self.host}/{self.path}"

    def start(self, *, timeout: float = 30) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.root / "config.yml"
        settings = {"version": 0.1, "log": {"level": "warn"},
                    "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
                    "http": {"addr": self.host, "secret": "reprokit-test"}}
        if self.login:
            (self.root / "htpasswd").write_text(f"{self.login[0]}:{_bcrypt(self.login[1])}\n")
            settings["auth"] = {"htpasswd": {"realm": "reprokit-test", "path": str(self.root / "htpasswd")}}
        config.write_text(json.dumps(settings))  # YAML is a superset of JSON
        log = open(self.root / "registry.log", "ab")
        self.process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        wait_until_answering(self, "docker-registry", self.root / "registry.log", timeout)

    def _get(self, path: str) -> urllib.request.Request:
        request = urllib.request.Request(f"http://{self.host}/v2/{path}")
        if self.login:
            token = base64.b64encode(":".join(self.login).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return request

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self._get(""), timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def tags(self, repository: str) -> list[str]:
        """The tags of ``<path>/<repository>`` in the registry ([] when it has none)."""
        try:
            with urllib.request.urlopen(self._get(f"{self.path}/{repository}/tags/list"), timeout=5) as r:
                return sorted(json.load(r).get("tags") or [])
        except OSError:
            return []

    def stop(self, *, keep_data: bool = False) -> None:
        end_process(self.process)
        if not keep_data:
            shutil.rmtree(self.root, ignore_errors=True)


def _bcrypt(password: str) -> str:
    """The registry's htpasswd takes bcrypt only; glibc's crypt(3) makes it (Python's crypt module, deprecated
    since 3.11, is the one way to reach it without a new dependency)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


class AptCacher:
    """A private apt-cacher-ng on 127.0.0.1 (Debian's package, which .ci/setup.sh installs), caching under
    ``root``, on a port of its own (its 3.7 binds no port above 32767), with the shared instance's config and
    backends (the host's mirror): the shared cache on 3142 is neither read nor filled."""

    BINARY = "/usr/sbin/apt-cacher-ng"

    def __init__(self, root: Path):
        self.root, self.port = Path(root), 0
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 20) -> None:
        for folder in ("cache", "log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.port = next(p for p in random.sample(range(20000, 32000), 200) if free_port(p) == p)
        log = open(self.root / "acng.out", "ab")
        self.process = subprocess.Popen(
            [self.BINARY, "-c", "/etc/apt-cacher-ng", "ForeGround=1", f"Port={self.port}", "BindAddress=127.0.0.1",
             f"CacheDir={self.root / 'cache'}", f"LogDir={self.root / 'log'}", f"PidFile={self.root / 'pid'}",
             f"SocketPath={self.root / 'socket'}"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until_answering(self, "apt-cacher-ng", self.root / "acng.out", timeout)

    def answers(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def packages(self) -> list[str]:
        """The .deb files it has cached (file names)."""
        return sorted(p.name for p in (self.root / "cache").rglob("*.deb"))

    def stop(self) -> None:
        end_process(self.process)
        shutil.rmtree(self.root, ignore_errors=True)
