"""Extra CA certificates the customer's machine trusts (`ca_certificates: {corp-root: {source: corp-root.pem}}`),
in the system store and in python (certifi in the venv too): a customer behind a TLS-inspecting proxy."""
from __future__ import annotations

import re
import ssl
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, BuildOptions, ImportContext, Layer, Merge, SpecField, mapping

STORE = "/usr/local/share/ca-certificates/reprokit"
BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s+.*?-----END CERTIFICATE-----", re.S)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def pem_certificates(text: str) -> list[str]:
    """The certificate blocks of a PEM text, each checked to be base64 DER; ValueError when there is none."""
    blocks = BLOCK.findall(text)
    if not blocks:
        raise ValueError("no '-----BEGIN CERTIFICATE-----' block")
    for block in blocks:
        try:  # loading is the real check: PEM_cert_to_DER_cert alone accepts a block that is not a certificate
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=block)
        except ssl.SSLError as error:
            raise ValueError(f"a certificate block does not load: {error.reason or error}") from None
    return blocks


def _certificates(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a certificate name; use letters, digits, '.', '_' and '-'")
        try:
            pem_certificates(text)
        except ValueError as error:
            raise ValueError(f"{name}: not a PEM certificate ({error}); convert it with `openssl x509 -inform der "
                             f"-in {name}.cer -out {name}.pem` and point `source:` at the .pem") from None
    return value


class Certificates(Aspect):
    """`ca_certificates: {name: {source: file.pem}}`. Added after the python packages, so a new CA rebuilds only
    the last layers (~2 s): update-ca-certificates for the system store (openssl, curl, python's ssl), then
    appended to certifi's bundle where the venv has certifi (requests)."""

    name = "ca_certificates"
    fields = {"ca_certificates": SpecField(Annotated[dict[str, str], AfterValidator(_certificates)], {},
                                           merge=Merge.MAP, sources=True,
                                           description="name -> PEM text or {source: file}: extra trusted CAs")}
    layer = Layer.PYTHON_CERTIFICATES
    fact_script = (f"section ca_certificates; for f in {STORE}/*.crt; do [ -e \"$f\" ] || continue; "
                   "n=$(basename \"$f\" .crt); l=$(sed -n 2p \"$f\"); s=no; c=no; "
                   "grep -qF \"$l\" /etc/ssl/certs/ca-certificates.crt 2>/dev/null && s=yes; "
                   "b=$(python3 -c 'import certifi; print(certifi.where())' 2>/dev/null) && "
                   "{ grep -qF \"$l\" \"$b\" && c=yes; } || c=absent; echo \"$n system=$s certifi=$c\"; done")

    def platform_packages(self, spec) -> list[str]:
        return ["ca-certificates"] if spec.ca_certificates else []

    def render(self, spec, options: BuildOptions) -> str:
        if not spec.ca_certificates:
            return ""
        return (f"COPY ca-certificates/ {STORE}/\n"
                "RUN update-ca-certificates >/dev/null \\\n"
                " && for bundle in $(python3 -c 'import certifi; print(certifi.where())' 2>/dev/null); do "
                f"cat {STORE}/*.crt >> \"$bundle\"; done")

    def context(self, spec, options) -> dict[str, bytes]:
        return {f"ca-certificates/{name}.crt": ("\n".join(pem_certificates(text)) + "\n").encode()
                for name, text in spec.ca_certificates.items()}

    def read_facts(self, sections) -> dict[str, Any]:
        found = {}
        for line in sections.get("ca_certificates", []):
            name, _, where = line.partition(" ")
            found[name] = where
        return {"ca_certificates": found} if found else {}

    def check(self, spec, facts) -> str | None:
        seen = mapping(facts.get("ca_certificates"))
        missing = [name for name in spec.ca_certificates if "system=yes" not in seen.get(name, "")
                   or "certifi=no" in seen.get(name, "")]
        return f"not trusted inside: {', '.join(missing)}" if missing else None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """CAs in the customer's system store that Debian does not ship (the collector reads
        /usr/local/share/ca-certificates); certificates are public, so nothing here is a secret."""
        found = {}
        for name, text in mapping(context.facts.get("extra_ca_certificates")).items():
            stem = str(name).removeprefix("reprokit/").removesuffix(".crt")  # reprokit's own folder: same name back
            clean = re.sub(r"[^A-Za-z0-9._-]", "-", stem)[:64]
            try:
                pem_certificates(str(text))
            except ValueError:
                context.lost.append(f"CA certificate {name}: not a readable PEM certificate; not imported")
                continue
            found[clean] = str(text)
        return {"ca_certificates": found} if found else {}
