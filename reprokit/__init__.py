"""reprokit: reproduce customers' bugs in containers that match their environment."""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> (module, attribute). Loaded on first use so `reprokit --help` does not import pydantic or
# docker. No public name equals a submodule's name: importing the submodule would rebind it to the module.
_EXPORTS = {
    **{name: ("errors", name) for name in ("ReprokitError", "SpecError", "BuildError", "EngineError", "RunError",
                                           "IsolateError", "BundleError")},
    **{name: ("spec", name) for name in ("EnvironmentSpec", "Limits", "Case", "Step", "Signature", "Status",
                                         "Verdict")},
    "Project": ("load", "Project"), "load_environment": ("load", "load_environment"),
    "load_case": ("load", "load_case"),
    "render_dockerfile": ("render", "render"), "Rendering": ("render", "Rendering"),
    "build_image": ("build", "build"), "Image": ("build", "Image"),
    "start": ("run", "start"), "Box": ("run", "Box"), "RunResult": ("run", "RunResult"),
    "bootstrap": ("images", "bootstrap"),
    "run_case": ("reproduce", "run_case"), "CaseResult": ("reproduce", "CaseResult"),
    "EnvironmentRun": ("reproduce", "EnvironmentRun"),
    "replay_cases": ("replay", "replay_cases"), "History": ("history", "History"),
    "isolate_case": ("isolate", "isolate"), "Isolation": ("isolate", "Isolation"), "Atom": ("isolate", "Atom"),
    "write_bundle": ("bundle", "write_bundle"), "open_bundle": ("bundle", "open_bundle"),
    "import_bundle": ("bundle", "import_bundle"),
    "match_log": ("triage", "triage"), "knowledge_base": ("triage", "knowledge_base"),
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
