"""The user the steps run as (`user: "1000:1000"` or a name), created in the image if missing."""
from __future__ import annotations

import re
import shlex
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, SpecField, mapping


def _user(value: str | None) -> str | None:
    if value is not None and not re.match(r"^([a-z_][a-z0-9_-]{0,31}|\d+(:\d+)?)$", value):
        raise ValueError(f"{value!r} is not a user name or 'uid:gid'; write e.g. 'app' or '1000:1000'")
    return value


def owner(user: str) -> str:
    uid, _, gid = user.partition(":")
    return f"{uid}:{gid}" if gid else uid


def create_user(user: str) -> str:
    uid, _, gid = user.partition(":")
    if uid.isdigit():
        gid = gid or uid
        return (f"(getent group {gid} >/dev/null || groupadd -g {gid} reprokit) \\\n"
                f" && (getent passwd {uid} >/dev/null || useradd -m -u {uid} -g {gid} -s /bin/sh reprokit)")
    return f"(id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/sh {user})"


class User(Aspect):
    """`user: app` or `user: "1000:1000"`; the workdir is theirs."""

    name = "user"
    fields = {"user": SpecField(Annotated[str | None, AfterValidator(_user)], None)}
    layer = Layer.USER
    fact_script = "section user; id"

    def render(self, spec, options) -> str:
        """Create the user (if missing) and give them the workdir. ~1 s; rebuilt when the user changes."""
        if not spec.user:
            return ""
        workdir = shlex.quote(spec.workdir)
        return (f"RUN {create_user(spec.user)} \\\n && mkdir -p {workdir} && chown {owner(spec.user)} {workdir}\n"
                f"USER {spec.user}")

    def read_facts(self, sections) -> dict[str, Any]:
        return {"user": (sections.get("user") or [""])[0]}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        user = mapping(context.facts.get("user"))
        uid, gid = str(user.get("uid", "")), str(user.get("gid", ""))
        if not uid.isdigit() or uid == "0":
            return {}
        if user.get("name"):
            context.lost.append(f"user: the customer's user is named {user['name']!r}; the image runs as uid {uid}:{gid}")
        return {"user": f"{uid}:{gid}" if gid.isdigit() else uid}
