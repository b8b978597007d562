"""Redaction: secret names and values become stable markers; the summary names places, never values."""
from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest

from reprokit import redact as r
from reprokit.collect.importer import collector_script
from reprokit.collect.collector import collector

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAplanted\nmorekeybytes\n-----END OPENSSH PRIVATE KEY-----"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-nature_value"


def test_secret_named_env_value_becomes_a_stable_marker():
    redacted, summary = r.redact({"env": {"DB_PASSWORD": "hunter2", "MODE": "strict"}})
    assert redacted["env"] == {"DB_PASSWORD": r.marker("hunter2"), "MODE": "strict"}
    assert r.is_marker(redacted["env"]["DB_PASSWORD"]) and summary.places() == ["env.DB_PASSWORD"]


def test_the_same_value_gives_the_same_marker_so_two_collections_compare():
    first, _ = r.redact({"env": {"API_TOKEN": "abc"}})
    second, _ = r.redact({"env": {"OTHER_TOKEN": "abc", "THIRD_TOKEN": "abd"}})
    assert first["env"]["API_TOKEN"] == second["env"]["OTHER_TOKEN"] != second["env"]["THIRD_TOKEN"]


@pytest.mark.parametrize("name", ["PGPASSWORD", "SECRET_KEY", "apiKey", "GITHUB_TOKEN", "SENTRY_DSN", "auth",
                                  "SESSION_ID", "AWS_SECRET_ACCESS_KEY", "private_key_path", "db.credentials"])
def test_names_that_look_secret_are_secret(name):
    assert r.secret_name(name)


@pytest.mark.parametrize("name", ["KEYBOARD", "MONKEY", "AUTHOR", "PATH", "ACME_MODE", "TIMEOUT"])
def test_names_are_matched_by_token_so_lookalikes_stay(name):
    assert not r.secret_name(name)


def test_url_password_is_redacted_but_scheme_user_and_host_stay():
    text, summary = r.redact_text("connect postgres://app:pa55word@db:5432/acme now")
    assert text == f"connect postgres://app:{r.marker('pa55word')}@db:5432/acme now"
    assert summary.redactions[0].why == "url-password"


@pytest.mark.parametrize("value, kind", [(PEM, "pem-private-key"), (JWT, "jwt"), ("AKIAIOSFODNN7EXAMPLE", "cloud-access-key"),
                                         ("Authorization: Bearer abc.def-123", "bearer-token"),
                                         ("ghp_" + "a1" * 18, "github-token")])
def test_secret_looking_values_are_redacted_wherever_they_appear(value, kind):
    redacted, summary = r.redact({"env": {"NOTES": f"x {value} y"}, "python": {"pip_freeze": [f"pkg @ {value}"]}})
    assert value not in json.dumps(redacted)
    assert [x.why for x in summary.redactions] == [kind, kind]


def test_config_files_lose_the_values_of_secret_keys_line_by_line():
    config = 'host = db\npassword = "p1"\napi_key: p2\n  "client_secret": "p3",\nexport AUTH_TOKEN=p4\ntimeout=30\n'
    redacted, summary = r.redact({"files": {"/etc/app.ini": config}})
    text = redacted["files"]["/etc/app.ini"]
    assert all(p not in text for p in ("p1", "p2", "p3", "p4")) and "host = db" in text and "timeout=30" in text
    assert f'password = "{r.marker("p1")}"' in text and f'"client_secret": "{r.marker("p3")}",' in text
    assert summary.places() == ["files./etc/app.ini:2 (password)", "files./etc/app.ini:3 (api_key)",
                                "files./etc/app.ini:4 (client_secret)", "files./etc/app.ini:5 (AUTH_TOKEN)"]


def test_allow_keeps_a_named_value():
    redacted, summary = r.redact({"env": {"SESSION_BACKEND": "redis", "DB_PASSWORD": "x"},
                                  "files": {"/a.ini": "session_backend = redis\n"}},
                                 allow=["SESSION_BACKEND", "session_backend"])
    assert redacted["env"]["SESSION_BACKEND"] == "redis" and "redis" in redacted["files"]["/a.ini"]
    assert summary.places() == ["env.DB_PASSWORD"]


def test_redacting_twice_changes_nothing():
    once, _ = r.redact({"env": {"DB_PASSWORD": "x", "URL": "http://u:p@h/"}, "files": {"/a": f"key = v\n{PEM}"}})
    twice, summary = r.redact(once)
    assert twice == once and not summary


def test_the_summary_names_places_and_never_values():
    _, summary = r.redact({"env": {"DB_PASSWORD": "hunter2", "URL": "http://u:hunter3@h/"}})
    assert "hunter" not in summary.describe() + json.dumps(summary.to_list())
    assert summary.describe() == "2 value(s) redacted: env.DB_PASSWORD (secret name), env.URL (url-password)"


def test_package_names_that_look_secret_keep_their_versions():
    redacted, summary = r.redact({"debian_packages": {"libsecret-1-0": "0.20.4-2", "python3-keyring": "23.0"}})
    assert redacted["debian_packages"]["libsecret-1-0"] == "0.20.4-2" and not summary


def test_secret_named_numbers_are_redacted_too():
    redacted, _ = r.redact({"db": {"password": 123456, "port": 5432}})
    assert redacted["db"] == {"password": r.marker("123456"), "port": 5432}


def test_the_patterns_have_one_source():
    assert r.SECRET_WORDS is collector.SECRET_WORDS and r.SECRET_VALUES is collector.SECRET_VALUES
    template = (Path(collector.__file__).parent / "collector.sh").read_text()
    assert "AKIA" not in template and "#@@PATTERNS@@" in template
    rendered = collector_script(sh=True)
    assert r.awk_patterns() in rendered and "__RENDERED__" not in rendered


def test_the_collector_is_python_36_code_with_the_standard_library_only():
    source = collector_script()
    tree = ast.parse(source, feature_version=(3, 6))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"argparse", "fnmatch", "hashlib", "json", "os", "platform", "re", "subprocess", "sys",
                        "time", "resource", "pwd", "struct"}
    assert "capture_output" not in source and "text=True" not in source  # both are Python 3.7+


def test_the_sh_fallback_redacts_exactly_as_the_python_collector(tmp_path):
    script = tmp_path / "c.sh"
    script.write_text(collector_script(sh=True))
    config = tmp_path / "app.ini"
    config.write_text(f"password = 'p1'\nurl = https://u:p2@h/\n{PEM}\njwt={JWT}\nplain = 1\n")
    env = {**os.environ, "DB_PASSWORD": "p3", "NOTE": f"Bearer {JWT}", "MULTI": "a\nb", "QUOTE": 'say "hi" \\o/'}
    result = subprocess.run(["sh", str(script), "--packages", "no-such-package", "--file", str(config)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)["facts"]
    expected, _ = collector.redact_document({"env": {k: env[k] for k in ("DB_PASSWORD", "NOTE", "MULTI", "QUOTE")},
                                             "files": {str(config): config.read_text()}})
    assert {k: facts["env"][k] for k in expected["env"]} == expected["env"]
    assert facts["files"] == expected["files"]
