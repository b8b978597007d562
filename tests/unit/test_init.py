"""The public surface: every name in reprokit.__all__ resolves, and the CLI starts without heavy imports."""
from __future__ import annotations

import subprocess
import sys

import reprokit


def test_every_name_in_all_resolves():
    missing = [name for name in reprokit.__all__ if getattr(reprokit, name, None) is None]
    assert missing == []


def test_public_names_stay_functions_and_classes_after_every_submodule_is_imported():
    import importlib
    import pkgutil
    import types

    for module in pkgutil.iter_modules(reprokit.__path__):
        if module.name != "__main__":  # that one runs the CLI
            importlib.import_module(f"reprokit.{module.name}")
    for name in reprokit.__all__:
        if name != "__version__":
            assert not isinstance(getattr(reprokit, name), types.ModuleType), name


def test_all_is_sorted_and_without_private_names():
    assert reprokit.__all__ == sorted(reprokit.__all__)
    assert not [name for name in reprokit.__all__ if name.startswith("_") and name != "__version__"]


def test_unknown_attribute_is_an_attribute_error():
    try:
        reprokit.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("reprokit.no_such_name resolved")


def test_reprokit_help_imports_neither_docker_nor_pydantic():
    probe = ("import sys\nfrom reprokit.cli.main import app\n"
             "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
             "print('LOADED', sorted(m for m in ('docker', 'pydantic', 'testcontainers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED []", result.stdout[-500:] + result.stderr[-500:]


def test_test_files_have_unique_basenames_so_pytest_can_collect_them_all():
    """pytest's default import mode keys test modules by file name: two test_x.py in different folders break
    collection of the whole suite."""
    from collections import Counter
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    names = Counter(path.name for path in tests.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
