"""The Dockerfile fragments every service recipe shares: a Debian base, apt without daemons, the entry point."""
from __future__ import annotations

from importlib import resources

# Manuals and docs are not needed to serve; copyright files stay (what slim Debian images keep).
NO_DOCS = ("printf 'path-exclude /usr/share/doc/*\\npath-include /usr/share/doc/*/copyright\\n"
           "path-exclude /usr/share/man/*\\npath-exclude /usr/share/info/*\\n' > /etc/dpkg/dpkg.cfg.d/reprokit-nodoc")
# Debian's maintainer scripts start a server they just installed (invoke-rc.d); in a build that server
# would be killed with the build step. The official debian images refuse it with this policy-rc.d too.
NO_DAEMONS = "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d"
ENTRYPOINT_PATH = "/usr/local/bin/docker-entrypoint.sh"


def header(suite: str, *, provenance: str) -> str:
    """A comment saying what the recipe builds, and ``FROM debian:<suite>``."""
    return f"# reprokit service recipe: {provenance}\nFROM debian:{suite}\n"


def labels(*, image: str, provenance: str) -> str:
    """Labels naming the official image this stands in for; last, so every tag of a release shares the layers.

    Not ``reprokit.session``: containers inherit image labels, and that one is per process.
    """
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "").replace('"', "").replace("\n", " ") + '"'
    return f"LABEL reprokit.service.image={quoted(image)} reprokit.service.provenance={quoted(provenance)}\n"


def apt_install(*packages: str, before: str = "", after: str = "") -> str:
    """One RUN that installs ``packages`` without recommends and leaves no apt lists behind.

    ``before`` runs after `apt-get update` and before the install (e.g. to turn a postinst feature off),
    ``after`` once the packages are in. This is the expensive layer (tens of seconds, 100-350 MB); it
    changes only when the recipe's packages do.
    """
    steps = ["set -eux", NO_DAEMONS, NO_DOCS, "apt-get update"]
    if before:
        steps.append(before)
    steps.append("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " + " ".join(packages))
    # debootstrapped images, unlike Docker Hub's debian images, keep downloaded .debs: clean them too
    steps.append("apt-get clean; rm -rf /var/lib/apt/lists/*")
    if after:
        steps.append(after)
    return "RUN " + "; \\\n    ".join(steps) + "\n"


def entrypoint(*, cmd: list[str], port: int, stopsignal: str | None = None) -> str:
    """Copy the entry point script (from the context) in, and make it the image's ENTRYPOINT.

    Cheap and last, so editing the script rebuilds only this layer.
    """
    cmd_json = "[" + ", ".join(f'"{word}"' for word in cmd) + "]"
    lines = [f"COPY docker-entrypoint.sh {ENTRYPOINT_PATH}",
             f"RUN chmod 755 {ENTRYPOINT_PATH}",
             'ENTRYPOINT ["docker-entrypoint.sh"]']
    if stopsignal:
        lines.append(f"STOPSIGNAL {stopsignal}")
    lines += [f"EXPOSE {port}", f"CMD {cmd_json}"]
    return "\n".join(lines) + "\n"


def entrypoint_script(name: str) -> bytes:
    """The POSIX sh entry point shipped in ``reprokit/services/entrypoints/<name>.sh``."""
    return resources.files(__package__).joinpath("entrypoints", f"{name}.sh").read_bytes()
