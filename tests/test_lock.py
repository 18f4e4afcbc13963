"""The lock that scripts/setup.sh installs agrees with setup.cfg's version ranges."""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = sorted((ROOT / "requirements").glob("lock-py*.txt"))


def _pins(path: Path) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert match, f"{path.name}:{number}: not a 'name==version' pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{path.name}:{number}: {name} pinned twice"
        pins[name] = Version(match.group(2))
    return pins


def _requirements(extras: tuple[str, ...] = ("dev",)) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    for extra in extras:
        lines += config["options.extras_require"][extra].splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def test_there_is_a_lock_for_the_python_ci_uses():
    assert (ROOT / "requirements" / "lock-py3.11.txt") in LOCKS


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_setup_cfg_ranges_admit_the_locked_versions(lock):
    pins = _pins(lock)
    python = lock.name[len("lock-py"):-len(".txt")]
    for requirement in _requirements():
        if requirement.marker is not None and not requirement.marker.evaluate({"python_version": python}):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} does not pin {requirement.name}, a dependency in setup.cfg"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name} pins {name}=={pins[name]}, outside setup.cfg's range {requirement}"
        )


def test_the_lock_pins_torch_without_a_local_label():
    for lock in LOCKS:
        assert "+" not in str(_pins(lock)[canonicalize_name("torch")]), "pin torch==X.Y.Z so CPU and CUDA builds both satisfy it"


@pytest.mark.skipif(f"{sys.version_info[0]}.{sys.version_info[1]}" != "3.11", reason="the lock checked here is for Python 3.11")
def test_setup_script_installs_with_the_lock():
    script = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'lock="requirements/lock-py$version.txt"' in script
    assert '"${constraints[@]}" -e ".[dev]"' in script
