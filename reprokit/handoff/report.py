"""Reports for bug trackers: one case's verdict, environments, steps, diffs and history as md, html or json."""
from __future__ import annotations

import difflib
import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Literal

from reprokit.case.result import CaseResult, EnvironmentRun, Role
from reprokit.aspects.atoms import flatten_spec
from reprokit.contract.models import Case, EnvironmentSpec, Verdict

Format = Literal["md", "html", "json"]
FORMATS = ("md", "html", "json")
EXCERPT_LINES = 40


def gather(case: Case, *, result: CaseResult | None = None, records: list[dict] | None = None,
           isolations: list[dict] | None = None, bundle_name: str | None = None) -> dict:
    """Everything a report shows, as plain data (this is the json format).

    ``result`` is the run to report on; without one, the newest run in ``records`` (history rows,
    `CaseResult.from_record`). ``isolations`` are the case's `History.isolations`."""
    from reprokit.redact import redact

    records = records or []
    result = result or CaseResult.from_record(case, records)
    runs = result.runs if result else {}
    diffs = result.diffs if result else {}
    return redact({  # a report leaves for a bug tracker: no secret-looking value goes with it
        "case": {"id": case.id, "title": case.title, "customer": case.customer, "status": case.status.value,
                 "fixed_in": case.fixed_in, "workaround": case.workaround, "notes": case.notes,
                 "expect": case.expect.model_dump(mode="json", exclude_none=True)},
        "verdict": _verdict(result),
        "environments": side_by_side(case.baseline, case.environment),
        "observed_differences": diffs.get("facts", []),
        "isolation": latest_isolation(isolations or []),
        "reproduce": reproduce_commands(case, bundle_name=bundle_name),
        "output": {stream: excerpt(diff) for stream, diff in diffs.get("output", {}).items()},
        "errors": {role: run.error for role, run in runs.items() if run.error},
        "services": {role: run.services for role, run in runs.items() if run.services},
        "history": history_summary(records),
        "not_reproduced": unreproduced(case.environment, runs.get(Role.ENVIRONMENT.value)),
    })[0]


def render_report(data: dict, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    if fmt == "html":
        return to_html(data)
    if fmt == "md":
        return to_markdown(data)
    raise ValueError(f"format must be one of {FORMATS}")


# -- the parts ----------------------------------------------------------------------------------------------------


def _verdict(result: CaseResult | None) -> dict:
    if not result:
        return {"value": None, "description": "no recorded run: run the case (reprokit case run ID), then report again",
                "when": None}
    return {"value": result.verdict.value, "description": result.verdict.describe(), "when": result.started_at,
            "repeat": result.repeat, "rates": {role: run.rate for role, run in result.runs.items()}}


def side_by_side(baseline: EnvironmentSpec, environment: EnvironmentSpec) -> dict:
    """Every declared field of both environments, one row each, with ``differs`` set where they differ."""
    before, after = flatten_spec(baseline), flatten_spec(environment)
    keys = list(before) + [k for k in after if k not in before]
    rows = [{"field": k, "baseline": _summary(k, before.get(k)), "environment": _summary(k, after.get(k)),
             "differs": before.get(k) != after.get(k)} for k in keys]
    files = {k: "".join(difflib.unified_diff(before.get(k, "").splitlines(True), after.get(k, "").splitlines(True),
                                             baseline.name, environment.name))
             for k in keys if k.startswith("files.") and before.get(k) != after.get(k)}
    return {"baseline": baseline.name, "environment": environment.name, "rows": rows, "file_diffs": files}


def _summary(key: str, value: str | None) -> str:
    """A table cell: files are summarized (their diff is shown apart), absent entries say so."""
    if value is None:
        return "(absent)"
    if key.startswith("files."):
        return f"{len(value.splitlines())} lines, sha256 {hashlib.sha256(value.encode()).hexdigest()[:10]}"
    return value


def latest_isolation(rows: list[dict]) -> dict | None:
    """The newest isolation result recorded for the case (`History.isolations`), if any."""
    if not rows:
        return None
    newest = max(rows, key=lambda r: (r["started_at"], r.get("id", 0)))
    found = newest.get("evidence", {})
    cause = lambda atoms: [f"{a.get('name')}: {a.get('baseline')} -> {a.get('customer')}" for a in atoms]  # noqa: E731
    return {"when": newest["started_at"], "cause": cause(found.get("minimal", [])),
            "further_causes": [cause(c) for c in found.get("further_causes", [])],
            "probes": len(found.get("probes", [])), "confidence": found.get("confidence"),
            "reproduce": found.get("reproduce"), "environment_yaml": found.get("environment_yaml")}


def history_summary(records: list[dict]) -> dict:
    """First seen, last replay and how often the bug showed, counted over customer-environment runs."""
    runs = [r for r in records if r.get("kind", "case") == "case" and r.get("role") == "environment"]
    if not runs:
        return {"runs": 0, "first_seen": None, "last_replay": None, "reproduced": 0, "verdicts": {}}
    seen = sorted(r["started_at"] for r in runs if r.get("matched"))
    verdicts: dict[str, int] = {}
    for r in runs:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    return {"runs": len(runs), "first_seen": seen[0] if seen else None,
            "last_replay": max(r["started_at"] for r in runs),
            "reproduced": verdicts.get(Verdict.REPRODUCED.value, 0), "verdicts": verdicts}


def excerpt(diff: str, *, lines: int = EXCERPT_LINES) -> str:
    kept = diff.splitlines()
    return "\n".join(kept[:lines] + ([f"... ({len(kept) - lines} more lines)"] if len(kept) > lines else []))


# -- how to reproduce -----------------------------------------------------------------------------------------------


def reproduce_commands(case: Case, *, bundle_name: str | None = None) -> dict:
    """Commands to copy: with reprokit (from the project or the bundle), and with plain docker."""
    bundle_name = bundle_name or f"{case.id}.tar.gz"
    return {"reprokit": [f"reprokit case run {case.id}", f"reprokit replay {bundle_name}"],
            "docker": docker_recipe(case, case.environment, "environment"),
            "docker_baseline": docker_recipe(case, case.baseline, "baseline")}


def docker_recipe(case: Case, spec: EnvironmentSpec, role: str) -> str:
    """A shell script that rebuilds ``spec`` from its rendered Dockerfile and runs the steps, no reprokit needed."""
    from reprokit.errors import SpecError
    from reprokit.image.render import render

    try:
        rendering = render(spec)
    except SpecError as error:
        return f"# cannot render {spec.name}: {error}"
    folder = f"{case.id}-{role}".lower()
    tag = f"reprokit-{case.id.lower()}:{role}"
    owner = f"--chown={spec.user} " if spec.user else ""
    dockerfile = rendering.dockerfile + (f"COPY {owner}case/ {spec.workdir}/\n" if case.files else "")
    lines = [f"# {role} '{spec.name}': the Dockerfile is what `reprokit env render` prints, plus the case's files",
             f"mkdir -p {folder} && cd {folder}", *_heredoc("Dockerfile", dockerfile)]
    for name, data in sorted(rendering.context.items()):
        lines += _heredoc(name, data.decode("utf-8", "replace"))
    for name, text in sorted(case.files.items()):
        lines += _heredoc(f"case/{name}", text)
    from reprokit.engine.options import docker_run_options
    from reprokit.run.box import container_config
    from reprokit.run.facts import step_prelude

    options = ["--rm", *docker_run_options(container_config(spec))]
    script = step_prelude(spec) + "\n".join(step.run for step in case.steps)
    lines += [f"docker build -t {tag} .", f"docker run {' '.join(options)} {tag} sh -ec {shlex.quote(script)}"]
    return "\n".join(lines)


def _heredoc(path: str, text: str) -> list[str]:
    marker = "REPROKIT_EOF"
    while marker in text:
        marker += "_"
    parent = str(Path(path).parent)
    make = f"mkdir -p {shlex.quote(parent)} && " if parent != "." else ""
    return [f"{make}cat > {shlex.quote(path)} <<'{marker}'", text.rstrip("\n"), marker]


# -- what a container cannot reproduce ------------------------------------------------------------------------------


def unreproduced(spec: EnvironmentSpec, run: EnvironmentRun | None) -> list[str]:
    """What of the customer's environment the reproduction did not have: always the kernel and hardware, and
    any declared value that the run's observed facts contradict."""
    facts = run.facts if run else {}
    gaps = [f"the kernel: containers share the host's ({facts.get('kernel') or 'unknown'}), not the customer's",
            f"the hardware and CPU architecture (ran on {facts.get('arch') or 'this host'})",
            "services, data and network peers outside the container"]
    if run and run.error:
        return gaps + [f"the whole environment: it could not be built or started ({run.error.splitlines()[0]})"]
    if not facts:
        return gaps + ["declared values were not checked: no recorded run with facts"]
    from reprokit.run.facts import not_in_effect

    return gaps + [why for part in not_in_effect(spec, facts).values() for why in part.split("; ")]


# -- markdown -------------------------------------------------------------------------------------------------------


def to_markdown(data: dict) -> str:
    """GitHub/Jira-friendly Markdown: tables, fenced code, no HTML except one collapsible block."""
    case, verdict, envs = data["case"], data["verdict"], data["environments"]
    out = [f"## {case['id']}: {_inline(case['title'])}", ""]
    out += [f"- **Customer:** {_inline(case['customer'] or '(not given)')}", f"- **Status:** {case['status']}"
            + (f" (fixed in {case['fixed_in']})" if case["fixed_in"] else ""),
            f"- **Verdict:** {'**' + verdict['value'] + '**' if verdict['value'] else 'not run yet'}: "
            f"{_inline(verdict['description'])}" + (f" ({verdict['when']})" if verdict.get("when") else ""),
            "- **Bug signature:** " + ", ".join(f"{k} `{_tick(v)}`" for k, v in case["expect"].items()), ""]
    if case["workaround"]:
        out += [f"**Workaround:** {_inline(case['workaround'])}", ""]
    out += ["### Environments", "", f"Differing rows are **bold**; `{envs['baseline']}` is the baseline.", "",
            f"| field | baseline: {envs['baseline']} | customer: {envs['environment']} |", "| --- | --- | --- |"]
    for row in envs["rows"]:
        cells = [row["field"], _short(row["baseline"]), _short(row["environment"])]
        cells = [f"**{_cell(c)}**" if row["differs"] and c else _cell(c) for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for key, diff in envs["file_diffs"].items():
        out += [f"`{key[len('files.'):]}` differs:", "", _fence(diff, "diff"), ""]
    if data["observed_differences"]:
        out += ["### Observed differences (from inside the containers)", "", "| fact | baseline | customer |",
                "| --- | --- | --- |"]
        out += [f"| {_cell(d['fact'])} | {_cell(_short(d['baseline']))} | {_cell(_short(d['environment']))} |"
                for d in data["observed_differences"][:30]]
        out.append("")
    if data["isolation"]:
        found = data["isolation"]
        out += ["### Isolation: the difference that causes the bug", ""]
        out += [f"- `{_tick(atom)}`" for atom in found["cause"]] or ["- (no single cause found)"]
        out += [f"- also enough on its own: {', '.join(f'`{_tick(a)}`' for a in cause)}"
                for cause in found["further_causes"]]
        out += ["", f"{found['probes']} probe(s), {found['when']}; reproduce: `{_tick(found['reproduce'])}`", ""]
    out += ["### Steps to reproduce", "", "With reprokit (in the project, or from the attached bundle):", "",
            _fence("\n".join(data["reproduce"]["reprokit"]), "sh"), "",
            "With plain docker (customer environment):", "", "<details><summary>shell script</summary>", "",
            _fence(data["reproduce"]["docker"], "sh"), "", "</details>", ""]
    for stream, diff in data["output"].items():
        if diff:
            out += [f"### {stream} (baseline → customer, noise masked)", "", _fence(diff, "diff"), ""]
    for role, error in data["errors"].items():
        out += [f"**{role} could not run:**", "", _fence(error, ""), ""]
    for role, services in data.get("services", {}).items():
        for name, service in services.items():
            died = f" — **died during the steps** (exit {service.get('exit_code')})" if service.get("died") else ""
            out += [f"**{role} service {_inline(name)}:** {_inline(service['provenance'])}; "
                    f"{_inline(service['version'])}{died}", "", _fence(service.get("log", ""), ""), ""]
    history = data["history"]
    out += ["### History", ""]
    out += [f"- runs recorded: {history['runs']}, bug reproduced in {history['reproduced']}",
            f"- first seen: {history['first_seen'] or 'never'}; last replay: {history['last_replay'] or 'never'}",
            ""]
    out += ["### Not reproduced from the customer's environment", ""]
    out += [f"- {_inline(gap)}" for gap in data["not_reproduced"]] + [""]
    if case["notes"]:
        out += ["### Notes", "", _inline(case["notes"]), ""]
    return "\n".join(out)


def _short(value: str, width: int = 80) -> str:
    text = str(value).replace("\n", "⏎ ")
    return text if len(text) <= width else text[:width - 1] + "…"


def _cell(text: str) -> str:
    return _escape(str(text)).replace("|", "\\|")


def _inline(text: str) -> str:
    """Free text on one line, with what Markdown would take for HTML, emphasis, code or links escaped."""
    return _escape(" ".join(str(text).split()))


def _escape(text: str) -> str:
    text = re.sub(r"([\\`*<>\[\]])", r"\\\1", text)
    return re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)


def _tick(value) -> str:
    return str(value).replace("`", "'")


def _fence(text: str, language: str) -> str:
    """A fenced block longer than any backtick run inside, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


# -- html -----------------------------------------------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;
vertical-align:top;font-family:ui-monospace,monospace;font-size:13px}th{background:#f6f8fa}
tr.differs td{background:#fff8c5;font-weight:600}pre{background:#f6f8fa;padding:.75rem;overflow:auto;font-size:13px}
.verdict{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;background:#57606a;font-weight:700}
.REPRODUCED,.EVERYWHERE{background:#cf222e}.NOT_REPRODUCED{background:#1a7f37}.FLAKY{background:#9a6700}
.add{color:#1a7f37}.del{color:#cf222e}
"""


def to_html(data: dict) -> str:
    """One self-contained page (inline CSS, no scripts, no external assets) that reads well in a browser."""
    from html import escape as e

    case, verdict, envs = data["case"], data["verdict"], data["environments"]
    value = verdict["value"] or "NOT RUN"
    rows = "".join(
        f'<tr class="{"differs" if r["differs"] else "same"}"><td>{e(r["field"])}</td>'
        f'<td>{e(_short(r["baseline"], 200))}</td><td>{e(_short(r["environment"], 200))}</td></tr>'
        for r in envs["rows"])
    parts = [
        f"<h1>{e(case['id'])}: {e(case['title'])}</h1>",
        f'<p><span class="verdict {e(value)}" id="verdict">{e(value)}</span> {e(verdict["description"])}</p>',
        "<ul>" + f"<li>Customer: {e(case['customer'] or '(not given)')}</li><li>Status: {e(case['status'])}</li>"
        + (f"<li>Workaround: {e(case['workaround'])}</li>" if case["workaround"] else "") + "</ul>",
        f"<h2>Environments</h2><p>{sum(r['differs'] for r in envs['rows'])} differing fields are highlighted.</p>",
        f'<table id="environments"><tr><th>field</th><th>baseline: {e(envs["baseline"])}</th>'
        f'<th>customer: {e(envs["environment"])}</th></tr>{rows}</table>',
    ]
    for key, diff in envs["file_diffs"].items():
        parts.append(f"<p>{e(key[len('files.'):])} differs:</p><pre>{e(diff)}</pre>")
    if data["observed_differences"]:
        facts = "".join(f"<tr><td>{e(d['fact'])}</td><td>{e(_short(d['baseline'], 200))}</td>"
                        f"<td>{e(_short(d['environment'], 200))}</td></tr>" for d in data["observed_differences"])
        parts.append(f"<h2>Observed differences</h2><table><tr><th>fact</th><th>baseline</th><th>customer</th>"
                     f"</tr>{facts}</table>")
    if data["isolation"]:
        parts.append(f"<h2>Isolation</h2><pre>{e(json.dumps(data['isolation'], indent=2, default=str))}</pre>")
    parts.append("<h2>Steps to reproduce</h2><p>With reprokit:</p><pre id=\"reprokit-commands\">"
                 + e("\n".join(data["reproduce"]["reprokit"])) + "</pre><p>With plain docker:</p><pre>"
                 + e(data["reproduce"]["docker"]) + "</pre>")
    for stream, diff in data["output"].items():
        if diff:
            lines = "\n".join(f'<span class="{"add" if l.startswith("+") else "del" if l.startswith("-") else ""}">'
                               f"{e(l)}</span>" for l in diff.splitlines())
            parts.append(f"<h2>{e(stream)} (baseline &rarr; customer)</h2><pre>{lines}</pre>")
    for role, error in data["errors"].items():
        parts.append(f"<h2>{e(role)} could not run</h2><pre>{e(error)}</pre>")
    for role, services in data.get("services", {}).items():
        for name, service in services.items():
            died = " &mdash; died during the steps" if service.get("died") else ""
            parts.append(f"<h2>{e(role)} service {e(name)}</h2><p>{e(service['provenance'])}; "
                         f"{e(service['version'])}{died}</p><pre>{e(service.get('log', ''))}</pre>")
    history = data["history"]
    parts.append(f"<h2>History</h2><p id=\"history\">{history['runs']} run(s), reproduced in "
                 f"{history['reproduced']}; first seen {e(str(history['first_seen'] or 'never'))}, last replay "
                 f"{e(str(history['last_replay'] or 'never'))}.</p>")
    parts.append("<h2>Not reproduced from the customer's environment</h2><ul>"
                 + "".join(f"<li>{e(gap)}</li>" for gap in data["not_reproduced"]) + "</ul>")
    if case["notes"]:
        parts.append(f"<h2>Notes</h2><p>{e(case['notes'])}</p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(case['id'])}: {e(case['title'])}</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")
