"""The agent of docs/write_an_agent.md runs under the official protocol and is deterministic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gymnasium as gym

import stemscan

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "survey_contrast_agent.py"
ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}


def _agent_class():
    spec = importlib.util.spec_from_file_location("survey_contrast_agent", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SurveyContrastAgent


def test_example_agent_is_evaluated_like_the_zoo():
    cls = _agent_class()
    agent = cls(gym.make("STEMScan-v0", scene="nanoparticles", **ENV))
    rows = stemscan.evaluate(agent, scenes="nanoparticles", seeds=2, budgets=[0.3], env_kwargs=ENV)
    again = stemscan.evaluate(agent, scenes="nanoparticles", seeds=2, budgets=[0.3], env_kwargs=ENV)
    assert len(rows) == 2 and all(r["steps"] > 0 for r in rows)
    assert [r["curve"] for r in rows] == [r["curve"] for r in again]
    cells = [r["coverage"] for r in rows]
    assert all(0 < c <= 1 for c in cells)
