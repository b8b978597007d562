"""Services a case starts next to its steps (postgres, mariadb, redis), and Debian recipes standing in for them.

Where a registry answers, a service runs its official image. Where none does, ``recipe_for(image)`` says how
to build an equivalent from the Debian suite that ships that release: a Dockerfile, its context (the entry
point script, which gives the image the official image's variables and first-start behaviour), and a
provenance line saying what was built instead of what. Pure: nothing here talks to Docker.
"""
from __future__ import annotations

from .kind import Kind, Release, ServiceKind, StandIn, version_in
from .recipes import Recipe, recipe_for
from .reference import ImageReference, parse_reference
from .registry import KINDS, available_images, get_kind, kind_for

__all__ = ["KINDS", "ImageReference", "Kind", "Recipe", "Release", "ServiceKind", "StandIn", "available_images",
           "get_kind", "kind_for", "parse_reference", "recipe_for", "version_in"]
