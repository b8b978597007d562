"""Hostile and malformed YAML to the environment and case loaders: a valid spec or a SpecError naming the file."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprokit.errors import ReprokitError
from reprokit.contract.load import load_case, load_environment
from reprokit.contract.models import Case, EnvironmentSpec

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENV_FIELDS = ["os", "python", "system_packages", "python_packages", "env", "files", "user", "workdir", "timezone",
              "locale", "limits", "network", "extends", "remove", "description"]
CASE_FIELDS = ["id", "title", "environment", "baseline", "files", "steps", "expect", "status", "masks"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30), st.floats(),
                    st.text(max_size=30), st.sampled_from(["debian:bookworm", "3.9", "system", "/etc/x", "256m",
                                                           "jinja2==2.11.3", "requests=2.25", "baseline", "UTC",
                                                           "1000:1000", "none", "\x00", "${HOME}", "a" * 5000]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(st.text(max_size=10) | st.sampled_from(ENV_FIELDS), inner, max_size=4),
                      max_leaves=20)


def documents(fields: list[str]) -> st.SearchStrategy[bytes]:
    """YAML text: structured mappings (JSON is YAML), then hostile edits of them, or raw junk."""
    mapping = st.dictionaries(st.sampled_from(fields) | st.text(max_size=12), values, max_size=8)
    structured = mapping.map(lambda d: json.dumps(d).encode())
    hostile = st.tuples(mapping, st.sampled_from([
        lambda t: t.replace('{"', '{!!python/object:os.system "', 1),   # a YAML tag
        lambda t: "os: !!binary aGVsbG8=\n",                             # a typed value
        lambda t: t[:-1] + ', "os": 1, "os": 2}' if len(t) > 2 else t,   # duplicate keys
        lambda t: "os: " + "[" * 3000 + "]" * 3000,                      # deep nesting
        lambda t: "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 8)}]\n" for p, c in zip("abcdef", "bcdefg")),  # alias bomb
        lambda t: "- " + t,                                              # a list, not a mapping
        lambda t: t.replace(":", "\t:", 1),                              # broken syntax
        lambda t: "? [a, b]\n: 1\n",                                     # a non-string key
        lambda t: "%YAML 1.1\n---\nos: yes\n",                           # directives
        lambda t: t + "\n---\nos: debian:bookworm\n",                    # two documents
    ])).map(lambda pair: pair[1](json.dumps(pair[0])).encode())
    junk = st.binary(max_size=200)
    return st.one_of(structured, hostile, junk)


def check(outcome_of, expected_type, shown: str) -> None:
    try:
        result = outcome_of()
    except ReprokitError as error:
        assert str(error).startswith(shown), str(error)[:300]
    else:
        assert isinstance(result, expected_type)


@FAST
@given(documents(ENV_FIELDS))
def test_environment_loader_returns_a_spec_or_an_error_naming_the_file(text):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "environments").mkdir()
        (root / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
        (root / "environments" / "fuzz.yaml").write_bytes(text)
        # An error may name a parent's file (extends), so any environments/ path is acceptable.
        check(lambda: load_environment("fuzz", root=root), EnvironmentSpec, "environments/")


@FAST
@given(documents(CASE_FIELDS))
def test_case_loader_returns_a_case_or_an_error_naming_the_file(text):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "environments").mkdir()
        (root / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
        (root / "cases" / "C").mkdir(parents=True)
        (root / "cases" / "C" / "case.yaml").write_bytes(text)
        check(lambda: load_case("C", root=root), Case, ("cases/C/case.yaml", "environments/"))


@FAST
@given(st.dictionaries(st.sampled_from(["environment", "baseline"]), values, min_size=1))
def test_case_environments_of_any_shape_load_or_fail_cleanly(environments):
    document = {"id": "C", "title": "t", "steps": ["true"], "expect": {"exit_code": 1}, **environments}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "environments").mkdir()
        (root / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
        (root / "cases" / "C").mkdir(parents=True)
        (root / "cases" / "C" / "case.yaml").write_text(json.dumps(document))
        check(lambda: load_case("C", root=root), Case, ("cases/C/case.yaml", "environments/"))
