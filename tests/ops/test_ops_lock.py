"""The dependency locks: every requirement of pyproject.toml pinned with its hashes, the server's
lock at the same versions as the developers' one, and the virtualenv built from it (`make setup`
installs with --require-hashes; `make lock` renews both files)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements.lock"
SERVER_LOCK = ROOT / "deploy" / "requirements.lock"
PIN = re.compile(
    r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s\\;]+)((?:\s*\\\n\s*--hash=sha256:[0-9a-f]{64})*)",
    re.M,
)
EXTRAS_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)\[([^\]]*)\]==", re.M)


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    found = {}
    for name, version, hashes in PIN.findall(lock.read_text(encoding="utf-8")):
        found[canonicalize_name(name)] = (version, hashes.count("--hash=sha256:"))
    return found


def requirements(group: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = project["dependencies"] if group == "main" else project["optional-dependencies"][group]
    return [Requirement(line) for line in listed]


def test_every_pinned_package_carries_its_hashes():
    for lock in (DEV_LOCK, SERVER_LOCK):
        locked = pins(lock)
        assert len(locked) > 20, lock
        unhashed = sorted(name for name, (_, hashes) in locked.items() if hashes == 0)
        assert unhashed == [], f"{lock.name}: no hash for {unhashed}"


def test_every_requirement_of_pyproject_is_pinned_within_its_range():
    locked_dev, locked_server = pins(DEV_LOCK), pins(SERVER_LOCK)
    for requirement in requirements("main") + requirements("dev"):
        name = canonicalize_name(requirement.name)
        assert name in locked_dev, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(locked_dev[name][0], prereleases=True), (
            f"requirements.lock pins {name} {locked_dev[name][0]}, outside {requirement}"
        )
    for requirement in requirements("main"):
        assert canonicalize_name(requirement.name) in locked_server, requirement.name


def test_the_server_installs_the_same_versions_without_the_developers_tools():
    locked_dev, locked_server = pins(DEV_LOCK), pins(SERVER_LOCK)
    differing = {
        name: (version, locked_dev.get(name, ("missing", 0))[0])
        for name, (version, _) in locked_server.items()
        if locked_dev.get(name, ("missing", 0))[0] != version
    }
    assert differing == {}
    for tool in ("pytest", "playwright", "mypy", "schemathesis"):
        assert tool not in locked_server


def test_the_virtualenv_holds_exactly_the_locked_versions():
    wrong = {}
    for name, (version, _) in pins(DEV_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = (installed, version)
    assert wrong == {}, f"installed vs locked (run scripts/bootstrap): {wrong}"


def pinned_extras(lock: Path) -> dict[str, set[str]]:
    """name -> the extras its pin names (`cachecontrol[filecache]==0.14.4`)."""
    found: dict[str, set[str]] = {}
    for name, extras in EXTRAS_PIN.findall(lock.read_text(encoding="utf-8")):
        found[canonicalize_name(name)] = {extra.strip() for extra in extras.split(",")}
    return found


def extras_asked_for(names: set[str], group_requirements: list[Requirement]) -> dict[str, set[str]]:
    """Every extra that pyproject or a locked package asks for without a condition."""
    asked: dict[str, set[str]] = {}
    wanted = list(group_requirements)
    for name in names:
        wanted += [Requirement(line) for line in metadata.requires(name) or []]
    for requirement in wanted:
        if requirement.extras and "extra" not in str(requirement.marker or ""):
            asked.setdefault(canonicalize_name(requirement.name), set()).update(requirement.extras)
    return asked


def test_every_extra_a_package_asks_for_is_pinned_with_that_extra():
    # pip before 23.3 resolves `cachecontrol[filecache]>=0.13` (asked for by pip-audit) apart from
    # the plain `cachecontrol==0.14.4` pin, takes the newest release and then refuses it as
    # unpinned in --require-hashes mode: a fresh install broke the day a newer release came out.
    for lock, group in (
        (DEV_LOCK, requirements("main") + requirements("dev")),
        (SERVER_LOCK, requirements("main")),
    ):
        asked = extras_asked_for(set(pins(lock)), group)
        pinned = pinned_extras(lock)
        missing = {
            name: sorted(extras - pinned.get(name, set()))
            for name, extras in asked.items()
            if extras - pinned.get(name, set())
        }
        assert missing == {}, f"{lock.name}: pin these with their extras (make lock): {missing}"
