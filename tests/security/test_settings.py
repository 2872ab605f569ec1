"""The settings module: strict yes/no variables, and no special case for the test run."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from alliance.settings import env_flag

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "alliance" / "settings.py"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", " on ", "On\n"])
def test_a_yes_value_in_any_case_turns_a_flag_on(monkeypatch, value):
    monkeypatch.setenv("ALLIANCE_SOME_FLAG", value)
    assert env_flag("ALLIANCE_SOME_FLAG") is True


@pytest.mark.parametrize("value", ["0", "false", "False", "NO", " off "])
def test_a_no_value_in_any_case_turns_a_flag_off_even_when_the_default_is_on(monkeypatch, value):
    monkeypatch.setenv("ALLIANCE_SOME_FLAG", value)
    assert env_flag("ALLIANCE_SOME_FLAG", default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_an_unset_or_empty_flag_takes_the_default(monkeypatch, default):
    monkeypatch.delenv("ALLIANCE_SOME_FLAG", raising=False)
    assert env_flag("ALLIANCE_SOME_FLAG", default=default) is default
    monkeypatch.setenv("ALLIANCE_SOME_FLAG", "  ")
    assert env_flag("ALLIANCE_SOME_FLAG", default=default) is default


@pytest.mark.parametrize("value", ["ture", "2", "enabled", "y", "nope", "1 0"])
def test_a_typo_in_a_flag_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("SECURE_SSL_REDIRECT", value)
    with pytest.raises(ImproperlyConfigured, match="SECURE_SSL_REDIRECT") as refused:
        env_flag("SECURE_SSL_REDIRECT")
    assert repr(value) in str(refused.value)


def test_the_settings_refuse_to_load_with_a_mistyped_flag(monkeypatch):
    monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", "yess")
    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER"):
        runpy.run_path(str(SETTINGS_FILE))


def test_the_application_settings_want_a_secret_key_even_inside_a_test_run(monkeypatch):
    for name in ("SECRET_KEY", "DEBUG", "ALLIANCE_INSECURE_DEV_KEY", "SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        runpy.run_path(str(SETTINGS_FILE))
    monkeypatch.setenv("ALLIANCE_INSECURE_DEV_KEY", "1")
    loaded = runpy.run_path(str(SETTINGS_FILE))
    assert loaded["SESSION_COOKIE_SECURE"] is True  # secure unless DEBUG or SECURE_COOKIES=0


def test_the_test_run_uses_its_own_settings_module():
    assert settings.SETTINGS_MODULE == "tests.settings"
    assert settings.SESSION_COOKIE_SECURE is False and settings.CSRF_COOKIE_SECURE is False


def test_only_the_demo_turns_secure_cookies_off():
    """`alliance serve` keeps the settings' default (Secure unless DEBUG or SECURE_COOKIES=0);
    the one line of the application that sets SECURE_COOKIES=0 is the demo's."""
    import ast
    import inspect

    from alliance.cli import web

    root = Path(SETTINGS_FILE).parent
    setters = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "SECURE_COOKIES":
                setters.append(path.relative_to(root).as_posix())
    assert sorted(setters) == ["cli/web.py", "settings.py"]
    assert 'os.environ.setdefault("SECURE_COOKIES", "0")' in inspect.getsource(web.run_demo)
    assert "SECURE_COOKIES" not in inspect.getsource(web.run_serve)
    assert "SECURE_COOKIES" not in inspect.getsource(web.local_environment)
