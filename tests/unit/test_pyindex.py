"""Python pins against the configured index (reprokit/collect/pyindex.py), with index answers given as data."""
from __future__ import annotations

from reprokit.collect.pyindex import check_python_pins, index_url

SIX = {"files": [{"filename": "six-1.16.0-py2.py3-none-any.whl"}, {"filename": "six-1.16.0.tar.gz"},
                 {"filename": "six-1.15.0.tar.gz"}]}
REQUESTS = {"files": [{"filename": "requests-2.32.0-py3-none-any.whl", "yanked": "conflicts with a CVE fix"},
                      {"filename": "requests-2.32.0.tar.gz", "yanked": True}]}
NEW_ONLY = {"files": [{"filename": "newlib-2.0-py3-none-any.whl", "requires-python": ">=3.12"}]}


def fetch(url: str):
    return {"six": SIX, "requests": REQUESTS, "newlib": NEW_ONLY}.get(url.rstrip("/").rsplit("/", 1)[-1])


def test_missing_yanked_and_other_python_releases_are_each_reported_and_good_pins_are_not():
    problems = check_python_pins(["six==1.16.0", "six-extra>=1", "Six==1.99", "requests==2.32.0", "newlib==2.0",
                                  "nothere==1.0"], python="3.11", url="https://pypi.org/simple", fetch=fetch)
    assert problems == {
        "Six==1.99": "missing: https://pypi.org/simple has no six 1.99",
        "requests==2.32.0": "yanked: requests 2.32.0 is yanked on https://pypi.org/simple (conflicts with a CVE fix)",
        "newlib==2.0": "python: newlib 2.0 requires Python >=3.12, the image has 3.11",
        "nothere==1.0": "missing: https://pypi.org/simple has no project 'nothere'"}


def test_an_index_that_does_not_answer_leaves_the_pin_unchecked():
    def down(url):
        raise OSError("connection refused")
    assert check_python_pins(["six==1.16.0"], url="https://idx", fetch=down) == \
        {"six==1.16.0": "unchecked: https://idx did not answer (connection refused)"}


def test_the_index_is_pip_index_url_first(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.acme.internal/simple/")
    assert index_url() == "https://mirror.acme.internal/simple"
