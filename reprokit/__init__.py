"""reprokit: reproduce customers' bugs in containers that match their environment.

The flow, one folder per stage (each imports only the ones below it):

    cli/ ─> handoff/ (report, bundle, triage)   isolate/ (atoms, ddmin, probes, bisect)
              └──────────────> case/ (run a case, compare, history, replay, shard) <──┘
                                 └─> run/ (box, facts) ─> services/ (kinds, Debian recipes, lifecycle)
                                       └─> image/ (render, build, base images, retention) ─> engine/ (protocol, docker)
    contract/ (file contract: models, load, schema) is built from aspects/: one module per dimension of a
    machine (os, python, packages, env, files, user, timezone, locale, limits, network, arch, read_only,
    hostname, umask, clock, ca_certificates, hosts, services), listed in aspects/registry.py; render, facts,
    atoms, import and the schema iterate that list. collect/ turns what a customer sends into a spec.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> (module, attribute). Loaded on first use so `reprokit --help` does not import pydantic or
# docker. No public name equals a submodule's name: importing the submodule would rebind it to the module.
_EXPORTS = {
    **{name: ("errors", name) for name in ("ReprokitError", "SpecError", "BuildError", "EngineError", "RunError",
                                           "IsolateError", "BundleError")},
    **{name: ("contract.models", name) for name in ("EnvironmentSpec", "Limits", "Case", "Step", "Signature", "Status",
                                         "Verdict")},
    "Project": ("contract.load", "Project"), "load_environment": ("contract.load", "load_environment"),
    "load_case": ("contract.load", "load_case"),
    "render_dockerfile": ("image.render", "render"), "Rendering": ("image.render", "Rendering"),
    "build_image": ("image.build", "build"), "Image": ("image.build", "Image"),
    "start": ("run.box", "start"), "Box": ("run.box", "Box"), "RunResult": ("run.box", "RunResult"),
    "bootstrap": ("image.base", "bootstrap"),
    "stored_images": ("image.retention", "stored_images"), "needed_images": ("image.retention", "needed_images"),
    "plan_prune": ("image.retention", "plan"), "prune_images": ("image.retention", "prune"),
    "run_case": ("case.reproduce", "run_case"), "CaseResult": ("case.reproduce", "CaseResult"),
    "EnvironmentRun": ("case.reproduce", "EnvironmentRun"),
    "replay_cases": ("case.replay", "replay_cases"), "History": ("case.history", "History"),
    "isolate_case": ("isolate.isolation", "isolate"), "Isolation": ("isolate.isolation", "Isolation"), "Atom": ("isolate.isolation", "Atom"),
    "write_bundle": ("handoff.bundle", "write_bundle"), "open_bundle": ("handoff.bundle", "open_bundle"),
    "import_bundle": ("handoff.bundle", "import_bundle"),
    "match_log": ("handoff.triage", "triage"), "knowledge_base": ("handoff.triage", "knowledge_base"),
}
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reprokit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
