"""Every dimension of a machine reprokit can declare, in the order atoms, facts and `env show` list them.

The pipeline iterates this list and never names a field: adding a dimension is one module and one line here.
"""
from __future__ import annotations

from reprokit.aspects.arch import Arch
from reprokit.aspects.base import Aspect
from reprokit.aspects.base_os import BaseOS
from reprokit.aspects.certs import Certificates
from reprokit.aspects.clock import Clock
from reprokit.aspects.env import Env
from reprokit.aspects.files import Files
from reprokit.aspects.hostname import Hostname
from reprokit.aspects.hosts import Hosts
from reprokit.aspects.limits import LimitsAspect
from reprokit.aspects.locale import Locale
from reprokit.aspects.network import Network
from reprokit.aspects.python import Python
from reprokit.aspects.python_packages import PythonPackages
from reprokit.aspects.readonly import ReadOnly
from reprokit.aspects.services import Services
from reprokit.aspects.system_packages import SystemPackages
from reprokit.aspects.timezone import Timezone
from reprokit.aspects.umask import Umask
from reprokit.aspects.user import User
from reprokit.aspects.workdir import Workdir

ASPECTS: list[Aspect] = [
    BaseOS(),          # os: the base image
    Python(),          # python: system or X.Y; the platform layer
    User(),            # user: created if missing
    Workdir(),         # workdir: where the steps run
    Timezone(),        # timezone: /etc/localtime
    Locale(),          # locale: generated, LANG
    Network(),         # network: bridge | none
    SystemPackages(),  # system_packages: Debian packages, pinned
    PythonPackages(),  # python_packages: pip requirements in a venv
    Env(),             # env: variables
    Files(),           # files: config files at absolute paths
    LimitsAspect(),    # limits: memory, cpus, pids, nofile, shm
    Arch(),            # arch: amd64 | arm64, emulated where the host differs
    ReadOnly(),        # read_only, tmpfs: a hardened pod's filesystem
    Hostname(),        # hostname
    Umask(),           # umask of the step processes
    Clock(),           # clock: a faked time for the steps (libfaketime)
    Certificates(),    # ca_certificates: extra trusted CAs
    Hosts(),           # hosts: extra /etc/hosts names
    Services(),        # services: databases, caches, brokers at the customer's version
]


def aspect_of(field_name: str) -> Aspect:
    """The aspect that owns a spec field ('limits' -> the limits aspect)."""
    for aspect in ASPECTS:
        if field_name in aspect.fields:
            return aspect
    raise KeyError(field_name)


def spec_fields() -> dict:
    """Every field the registered aspects own, in registry order."""
    return {name: spec_field for aspect in ASPECTS for name, spec_field in aspect.fields.items()}
