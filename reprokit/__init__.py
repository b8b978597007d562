"""reprokit: reproduce customers' bugs in containers that match their environment."""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> module. Loaded on first use so `reprokit --help` does not import pydantic or docker.
_EXPORTS = {
    "ReprokitError": "errors", "SpecError": "errors", "BuildError": "errors", "EngineError": "errors",
    "RunError": "errors", "IsolateError": "errors", "BundleError": "errors",
    "EnvironmentSpec": "spec", "Limits": "spec", "Case": "spec", "Step": "spec", "Signature": "spec",
    "Status": "spec", "Verdict": "spec",
    "Project": "load", "load_environment": "load", "load_case": "load",
    "render": "render", "Rendering": "render",
    "build": "build", "Image": "build",
    "start": "run", "Box": "run", "RunResult": "run",
    "bootstrap": "images",
    "run_case": "reproduce", "CaseResult": "reproduce", "EnvironmentRun": "reproduce",
    "replay_cases": "replay", "History": "history",
    "write_bundle": "bundle", "open_bundle": "bundle", "import_bundle": "bundle",
    "triage": "triage", "knowledge_base": "triage",
}
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reprokit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
