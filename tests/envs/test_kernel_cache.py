"""Numba's cached kernels are dropped when any kernel module's source changes (stemscan.envs.kernel_cache)."""

from __future__ import annotations

from pathlib import Path

from stemscan.envs import kernel_cache
from stemscan.envs.kernel_cache import KERNEL_MODULES, refresh_cache


def _tree(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    folder, cache = tmp_path / "envs", tmp_path / "envs" / "__pycache__"
    cache.mkdir(parents=True)
    for name in KERNEL_MODULES:
        (folder / f"{name}.py").write_text(f"# {name}\n")
    cached = [cache / f"{name}.kernel-10.py311.nbi" for name in KERNEL_MODULES]
    cached += [cache / f"{name}.kernel-10.py311.1.nbc" for name in KERNEL_MODULES]
    return folder, cache, cached


def _touch(paths: list[Path]) -> None:
    for path in paths:
        path.write_bytes(b"cache")


def test_cache_is_kept_while_sources_are_unchanged_and_dropped_when_one_changes(tmp_path):
    folder, cache, cached = _tree(tmp_path)
    other = cache / "overview.cpython-311.pyc"  # not a kernel cache: never touched
    _touch(cached + [other])
    assert refresh_cache(folder, cache)  # no stamp yet: whatever is cached may be stale
    assert not any(path.exists() for path in cached) and other.exists()
    _touch(cached)
    assert not refresh_cache(folder, cache)  # same sources: the cache stands
    assert all(path.exists() for path in cached)
    (folder / "shot_noise.py").write_text("# shot_noise, edited\n")  # one module changes: every kernel's cache goes
    assert refresh_cache(folder, cache)
    assert not any(path.exists() for path in cached) and other.exists()
    assert not refresh_cache(folder, cache)


def test_unreadable_sources_or_a_read_only_folder_are_left_alone(tmp_path):
    folder, cache, cached = _tree(tmp_path)
    (folder / "record.py").unlink()
    _touch(cached)
    assert not refresh_cache(folder, cache)
    assert all(path.exists() for path in cached)


def test_the_installed_package_is_consistent():
    kernel_cache.ensure_consistent()
    folder = Path(kernel_cache.__file__).resolve().parent
    assert not refresh_cache(folder, folder / "__pycache__")  # the import already brought the stamp up to date
