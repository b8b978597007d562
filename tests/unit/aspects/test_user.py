"""The user aspect (moved; tests/unit/test_render.py covers its layer): who the steps run as."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.user import User
from reprokit.image.render import render

USER = User()


def test_a_user_that_is_neither_a_name_nor_uid_gid_is_refused_naming_file_line_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nuser: 'root; rm'\n")
    assert message == ("environments/bad.yaml:2: user: 'root; rm' is not a user name or 'uid:gid'; write e.g. 'app' "
                       "or '1000:1000'")


def test_a_childs_user_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = "os: debian:bookworm\nuser: '1000:1000'\n"
    assert load(tmp_path, base=base, child="extends: base\nuser: app\n").user == "app"
    assert load(tmp_path, base=base, child="extends: base\nremove: [user]\n").user is None


def test_the_user_is_created_owns_the_workdir_and_runs_what_follows():
    dockerfile = render(spec(user="1000:1000", workdir="/srv/app")).dockerfile
    assert "chown 1000:1000 /srv/app\nUSER 1000:1000" in dockerfile
    assert "USER" not in render(spec()).dockerfile


def test_a_user_is_one_atom_that_needs_a_rebuild_and_is_observed_with_id():
    assert atom_named(spec(), spec(user="app"), "user").rebuild is True
    assert USER.read_facts({"user": ["uid=1000(app) gid=1000(app) groups=1000(app)"]}) == \
        {"user": "uid=1000(app) gid=1000(app) groups=1000(app)"}


def test_import_takes_a_non_root_uid_and_gid_and_says_the_name_is_not_kept():
    fields, lost = imported(USER, {"user": {"name": "acme", "uid": 1001, "gid": 1002}})
    assert fields == {"user": "1001:1002"}
    assert lost == ["user: the customer's user is named 'acme'; the image runs as uid 1001:1002"]
    assert imported(USER, {"user": {"name": "root", "uid": 0, "gid": 0}}) == ({}, [])
