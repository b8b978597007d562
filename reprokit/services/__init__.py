"""Services a case starts next to its steps (postgres, mariadb, redis), and Debian recipes standing in for them.

Where a registry answers, a service runs its official image. Where none does, ``recipe_for(image)`` says how
to build an equivalent from the Debian suite that ships that release: a Dockerfile, its context (the entry
point script, which gives the image the official image's variables and first-start behaviour), and a
provenance line saying what was built instead of what. Pure: nothing here talks to Docker.
"""
from __future__ import annotations

import importlib

# Loaded on first use (PEP 562): a case without services imports none of the kinds and recipes (CLI start time).
_WHERE = {"Kind": "kind", "Release": "kind", "ServiceKind": "kind", "StandIn": "kind", "version_in": "kind",
          "Recipe": "recipes", "recipe_for": "recipes",
          "KINDS": "registry", "available_images": "registry", "get_kind": "registry", "kind_for": "registry"}

__all__ = ["KINDS", "Kind", "Recipe", "Release", "ServiceKind", "StandIn", "available_images", "get_kind", "kind_for",
           "recipe_for", "version_in"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
