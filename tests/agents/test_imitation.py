"""Imitation of the oracle before PPO: targets, DAgger rounds, provenance, seeds, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import stemscan  # noqa: F401  (registers the env id)
from stemscan.agents.oracle import OracleAgent
from stemscan.agents.train.imitation import ImitationConfig, cell_targets
from stemscan.agents.train.ppo import DEFAULT_HYPERPARAMS, PPOTrainConfig, train_ppo

from .helpers import TINY


def _hyperparams(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "ppo.toml"
    text = DEFAULT_HYPERPARAMS.read_text()
    start = text.index("[STEMScan-v0.imitation]")
    path.write_text(text[:start] + "[STEMScan-v0.imitation]\n" + table)  # the shipped table (off) replaced
    return path


def _train(tmp_path: Path, name: str, table: str, seed: int = 0) -> Path:
    config = PPOTrainConfig(
        seed=seed, timesteps=64, scenes=["lattice-defects"], n_envs=2, env_overrides=TINY, hyperparams=_hyperparams(tmp_path, table),
        log_dir=tmp_path / "runs", eval_freq=10**6, tensorboard=False, progress_bar=False, num_scenes=2,
    )  # fmt: skip
    return train_ppo(tmp_path / f"{name}.safetensors", config).policy_path


def test_cell_targets_are_distributions_and_name_the_oracles_choice() -> None:
    env = gym.make("STEMScan-v0", scene="lattice-defects", action_mode="grid", **TINY)
    oracle = OracleAgent(env)
    observation, _ = env.reset(seed=3)
    for _ in range(4):
        targets, actions = cell_targets([oracle])
        assert targets.shape == (1, env.action_space.n) and targets.dtype == np.float32
        assert np.all(targets >= 0) and np.isclose(targets.sum(), 1.0)
        assert actions[0] == oracle.predict(observation)[0]
        assert targets[0, actions[0]] > 0  # the oracle's choice always gains something (or is the freshest cell)
        observation, *_ = env.step(actions[0])


def test_imitation_is_recorded_and_reproducible(tmp_path: Path) -> None:
    table = "rounds = 2\nsteps_per_round = 32\nepochs = 2\nbatch_size = 16\n"
    first = _train(tmp_path, "a", table)
    record = json.loads(first.with_suffix(".json").read_text())["training"]["imitation"]
    assert record["rounds"] == 2 and record["samples"] == 64 and len(record["loss"]) == 2
    assert record["oracle_share"][0] == 1.0 and record["oracle_share"][1] < 1.0
    again = _train(tmp_path, "b", table)
    assert first.read_bytes() == again.read_bytes()  # same seed, same policy, bit for bit
    other = _train(tmp_path, "c", table, seed=1)
    assert first.read_bytes() != other.read_bytes()


def test_imitation_lowers_the_cross_entropy() -> None:
    from stable_baselines3 import PPO

    from stemscan.agents.ppo import extractor_class
    from stemscan.agents.train.imitation import imitate
    from stemscan.agents.train.ppo_envs import make_vec_env

    env = make_vec_env(["nanoparticles"], 2, {**TINY, "action_mode": "grid", "num_scenes": 2}, "dummy")
    model = PPO("MultiInputPolicy", env, seed=0, device="cpu", n_steps=16, batch_size=16,
                policy_kwargs={"features_extractor_class": extractor_class("CellBlockExtractor"),
                               "features_extractor_kwargs": {"cell_grid": [4, 4]}})  # fmt: skip
    result = imitate(model, env, ImitationConfig(rounds=1, steps_per_round=64, epochs=30, batch_size=32), seed=0)
    assert result.samples == 64
    assert result.loss[0] < np.log(env.action_space.n) - 0.05  # below a uniform policy's cross-entropy


def test_bad_imitation_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown imitation keys"):
        ImitationConfig.from_table({"round": 2})
    for key, value in (("rounds", -1), ("beta", 1.5), ("epochs", 0), ("learning_rate", 0.0), ("steps_per_round", 2.5)):
        with pytest.raises(ValueError, match=f"imitation.{key}"):
            ImitationConfig(**{key: value})
    text = DEFAULT_HYPERPARAMS.read_text().replace('vec_env = "dummy"', 'vec_env = "subproc"')
    path = tmp_path / "subproc.toml"
    path.write_text(text.replace("\nrounds = 0\n", "\nrounds = 1\n"))
    assert "rounds = 1" in path.read_text()
    with pytest.raises(ValueError, match="vec_env = 'dummy'"):
        train_ppo(tmp_path / "x.safetensors", PPOTrainConfig(hyperparams=path, env_overrides=TINY, timesteps=8, n_envs=1))



def test_imitation_needs_grid_actions() -> None:
    from types import SimpleNamespace

    from stemscan.agents.train.imitation import imitate

    continuous = SimpleNamespace(action_space=gym.spaces.Box(0.0, 1.0, (2,), dtype=np.float32))
    with pytest.raises(ValueError, match="action_mode='grid'"):
        imitate(None, continuous, ImitationConfig(rounds=1), seed=0)


def test_imitation_alone_with_zero_ppo_steps(tmp_path: Path) -> None:
    config = PPOTrainConfig(
        seed=0, timesteps=0, scenes=["lattice-defects"], n_envs=2, env_overrides=TINY,
        hyperparams=_hyperparams(tmp_path, "rounds = 1\nsteps_per_round = 16\nepochs = 1\n"),
        log_dir=tmp_path / "runs", tensorboard=False, progress_bar=False, num_scenes=2,
    )  # fmt: skip
    result = train_ppo(tmp_path / "imitated.safetensors", config)
    training = json.loads(result.policy_path.with_suffix(".json").read_text())["training"]
    assert result.timesteps == 0 and training["imitation"]["samples"] == 16
    with pytest.raises(ValueError, match="0 is for imitation alone"):
        train_ppo(tmp_path / "nothing.safetensors", PPOTrainConfig(timesteps=0, env_overrides=TINY))
