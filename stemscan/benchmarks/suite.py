"""Suite files: a benchmark grid in TOML.

A suite is a TOML file with these keys (all but ``agents``/``scenes``
optional)::

    description = "what it is for"
    agents  = ["random", "raster", "oracle"]    # names from stemscan.agents.names(), or navigator+analyst pairs
    analysts = ["peaks", "dcnn", "self"]        # characterisation track: analysts watching every navigator
    scenes  = ["lattice-defects"]               # names from stemscan.scenes.names()
    seeds   = 10                                # count (0..9), or a list [0, 3, 7]
    budgets = [0.05, 0.1]                       # dose budgets, fractions of a full frame
    [env]                                       # STEMScan-v0 keywords shared by all episodes
    image_size = 256
    [agent_kwargs.raster]                       # per-agent keywords
    serpentine = true
    [scene_agent_kwargs.lattice-defects.raster] # per-scene overrides, merged over [agent_kwargs.raster]
    serpentine = false
    [scene_kwargs."file:data/image.npy"]        # a scene from a file: stemscan.scenes.load's keywords
    labels = "data/features.json"               # (or family parameters for a family name)
    pixel_size = 0.2

Built-in suites (package data) are named ``smoke`` and ``paper``; see
:func:`builtin_suites`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from stemscan.benchmarks.spec import EpisodeSpec, expand_grid
from stemscan.safejson import check_depth, loads_toml
from stemscan.validation import check_number

__all__ = ["SUITE_KEYS", "Suite", "builtin_suites", "load_suite", "parse_suite"]

#: Largest suite file read, bytes.
MAX_SUITE_BYTES = 1_000_000

#: Keys a suite file may contain.
SUITE_KEYS = ("description", "agents", "analysts", "scenes", "seeds", "budgets", "env", "agent_kwargs", "scene_agent_kwargs", "scene_kwargs")


@dataclass(frozen=True)
class Suite:
    """A validated benchmark grid (see the module docstring for the fields)."""

    name: str
    agents: list[str]
    scenes: list[str]
    seeds: int | list[int]
    budgets: list[float] | None = None
    env: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    scene_agent_kwargs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    scene_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    analysts: list[str] = field(default_factory=list)

    def episodes(self) -> list[EpisodeSpec]:
        """The grid's episodes."""
        return expand_grid(
            self.agents, self.scenes, self.seeds, self.budgets, self.env, self.agent_kwargs, self.scene_agent_kwargs,
            self.scene_kwargs, self.analysts,
        )


def builtin_suites() -> list[str]:
    """Names of the suites shipped with the package."""
    folder = resources.files("stemscan.benchmarks") / "suites"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _list_of(name: str, value: Any, kind: type | tuple[type, ...], source: str) -> list:
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{source}: {name!r} must be a list of {getattr(kind, '__name__', 'numbers')}, got {value!r}")
    return value


def parse_suite(data: dict[str, Any], name: str = "suite") -> Suite:
    """Validate a parsed suite mapping.

    Raises:
        ValueError: Unknown keys (listing the valid ones), missing keys,
            wrong types, unknown agent/scene names (listing the valid ones),
            unknown env keywords.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{name}: a suite must be a table of keys, got {type(data).__name__}")
    check_depth(data, name)
    unknown = [key for key in data if key not in SUITE_KEYS]
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {unknown}; valid keys: {', '.join(SUITE_KEYS)}")
    for required in ("agents", "scenes"):
        if required not in data:
            raise ValueError(f"{name}: missing required key {required!r}")
    agents = _list_of("agents", data["agents"], str, name)
    scenes = _list_of("scenes", data["scenes"], str, name)
    seeds = data.get("seeds", 1)
    if not (isinstance(seeds, int) and not isinstance(seeds, bool)) and not isinstance(seeds, list):
        raise ValueError(f"{name}: 'seeds' must be a count or a list of integers, got {seeds!r}")
    budgets = data.get("budgets")
    if budgets is not None:
        budgets = [check_number(f"{name}: budgets", b) for b in _list_of("budgets", budgets, (int, float), name)]
    env = data.get("env", {})
    if not isinstance(env, dict):
        raise ValueError(f"{name}: [env] must be a table of STEMScan-v0 keywords, got {env!r}")
    agent_kwargs = data.get("agent_kwargs", {})
    if not isinstance(agent_kwargs, dict) or not all(isinstance(v, dict) for v in agent_kwargs.values()):
        raise ValueError(f"{name}: [agent_kwargs.<agent>] must be tables of keywords, got {agent_kwargs!r}")
    scene_agent_kwargs = data.get("scene_agent_kwargs", {})
    if not isinstance(scene_agent_kwargs, dict) or not all(
        isinstance(table, dict) and all(isinstance(v, dict) for v in table.values()) for table in scene_agent_kwargs.values()
    ):
        raise ValueError(
            f"{name}: [scene_agent_kwargs.<scene>.<agent>] must be tables of keywords, got {scene_agent_kwargs!r}"
        )
    scene_kwargs = data.get("scene_kwargs", {})
    if not isinstance(scene_kwargs, dict) or not all(isinstance(v, dict) for v in scene_kwargs.values()):
        raise ValueError(f"{name}: [scene_kwargs.<scene>] must be tables of keywords, got {scene_kwargs!r}")
    analysts = _list_of("analysts", data.get("analysts", []), str, name)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{name}: 'description' must be a string")
    suite = Suite(
        name, agents, scenes, seeds, budgets, dict(env), {k: dict(v) for k, v in agent_kwargs.items()}, description,
        {scene: {agent: dict(kw) for agent, kw in table.items()} for scene, table in scene_agent_kwargs.items()},
        {scene: dict(kw) for scene, kw in scene_kwargs.items()}, list(analysts),
    )  # fmt: skip
    try:
        suite.episodes()  # validates names, seeds, budgets and kwargs
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from error
    return suite


def load_suite(name_or_path: str | os.PathLike[str]) -> Suite:
    """A built-in suite by name (``"smoke"``, ``"paper"``) or a suite file by path.

    Raises:
        FileNotFoundError: Neither a built-in name nor an existing file.
        ValueError: Invalid TOML or an invalid suite.
    """
    text_name = str(name_or_path)
    if text_name in builtin_suites():
        resource = resources.files("stemscan.benchmarks") / "suites" / f"{text_name}.toml"
        source, text = text_name, resource.read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"no suite file {text_name!r}; built-in suites: {', '.join(builtin_suites())}")
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise ValueError(f"{path}: larger than {MAX_SUITE_BYTES // 1_000_000} MB; not a suite file")
        try:
            source, text = str(path), path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not a suite file (not UTF-8 text: {error})") from None
    data = loads_toml(text, source)
    return parse_suite(data, name=Path(source).stem if source.endswith(".toml") else source)
