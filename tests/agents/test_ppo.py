"""The ``ppo`` agent: short training, safe loading, the shipped policy."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import stemscan  # noqa: F401
from stemscan.agents import make
from stemscan.agents.ppo import DEFAULT_POLICY_PATH, PPOAgent, load_policy
from stemscan.agents.train.ppo import DEFAULT_HYPERPARAMS, PPOTrainConfig, load_hyperparams, train_ppo

from .helpers import TINY
from stemscan.benchmarks import play_episode


def _train(out: Path, seed: int = 0) -> Path:
    config = PPOTrainConfig(
        seed=seed,
        timesteps=128,
        scenes=["lattice-defects"],
        n_envs=2,
        env_overrides=TINY,
        log_dir=out.parent / "runs",
        eval_freq=128,
        n_eval_episodes=1,
        curve_path=out.parent / "curve.png",
        tensorboard=False,
    )
    return train_ppo(out, config).policy_path


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("ppo") / "policy.safetensors")


def test_short_training_run_writes_a_loadable_policy_and_curve(tiny_policy: Path) -> None:
    assert tiny_policy.is_file() and tiny_policy.with_suffix(".json").is_file()
    assert (tiny_policy.parent / "curve.png").stat().st_size > 0
    spec = json.loads(tiny_policy.with_suffix(".json").read_text())
    assert spec["training"]["timesteps"] >= 128
    assert spec["policy_kwargs"]["features_extractor_kwargs"]["cell_grid"] == [4, 4]
    for mode in ("grid", "continuous"):
        env = gym.make("STEMScan-v0", action_mode=mode, **TINY)
        agent = make("ppo", env, policy_path=str(tiny_policy))
        actions = play_episode(env, agent, seed=3).actions
        assert actions and all(env.action_space.contains(action) for action in actions)


def test_training_is_reproducible_and_leaves_global_rngs_alone(tiny_policy: Path, tmp_path: Path) -> None:
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    expected = (random.random(), np.random.random(), torch.rand(1).item())
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    again = _train(tmp_path / "again.safetensors")
    assert (random.random(), np.random.random(), torch.rand(1).item()) == expected
    first, second = load_file(str(tiny_policy)), load_file(str(again))
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_missing_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    env = gym.make("STEMScan-v0", **TINY)
    with pytest.raises(FileNotFoundError, match="not found"):
        make("ppo", env, policy_path=str(tmp_path / "nothing.safetensors"))


def test_missing_json_config_is_a_clear_error(tiny_policy: Path, tmp_path: Path) -> None:
    lone = tmp_path / "lone.safetensors"
    shutil.copy(tiny_policy, lone)
    with pytest.raises(FileNotFoundError, match="config"):
        load_policy(lone)


def test_corrupt_policy_file_is_a_clear_error(tiny_policy: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage, not a safetensors header" * 3)
    shutil.copy(tiny_policy.with_suffix(".json"), bad.with_suffix(".json"))
    with pytest.raises(ValueError, match="not a valid safetensors"):
        load_policy(bad)


def test_truncated_policy_file_is_a_clear_error(tiny_policy: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_policy.read_bytes()[: tiny_policy.stat().st_size // 2])
    shutil.copy(tiny_policy.with_suffix(".json"), cut.with_suffix(".json"))
    with pytest.raises(ValueError, match="not a valid safetensors"):
        load_policy(cut)


def test_corrupt_json_config_is_a_clear_error(tiny_policy: Path, tmp_path: Path) -> None:
    target = tmp_path / "p.safetensors"
    shutil.copy(tiny_policy, target)
    target.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_policy(target)


def test_weights_that_do_not_fit_the_config_name_the_tensor(tiny_policy: Path, tmp_path: Path) -> None:
    target = tmp_path / "p.safetensors"
    shutil.copy(tiny_policy, target)
    spec = json.loads(tiny_policy.with_suffix(".json").read_text())
    spec["policy_kwargs"]["features_extractor_kwargs"]["channels"] = 8
    target.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="cell_net"):
        load_policy(target)


def test_policy_for_another_geometry_is_refused(tiny_policy: Path) -> None:
    env = gym.make("STEMScan-v0", image_size=128, overview_size=16, patch_size=16, dose_budget=0.3)
    with pytest.raises(ValueError, match="patch"):
        PPOAgent(env, policy_path=str(tiny_policy))


def test_stochastic_predictions_reproduce_from_the_seed(tiny_policy: Path) -> None:
    def actions(seed: int) -> list[int]:
        env = gym.make("STEMScan-v0", action_mode="grid", **TINY)
        agent = PPOAgent(env, seed=seed, policy_path=str(tiny_policy))
        obs, _ = env.reset(seed=0)
        out = []
        for step in range(4):
            action, _ = agent.predict(obs, episode_start=step == 0, deterministic=False)
            out.append(int(action))
            obs, *_ = env.step(action)
        return out

    assert actions(5) == actions(5)


def test_hyperparameter_file_parses_and_rejects_unknown_keys(tmp_path: Path) -> None:
    params = load_hyperparams()
    assert params["policy"] == "MultiInputPolicy" and params["env_kwargs"]["action_mode"] == "grid"
    bad = tmp_path / "bad.toml"
    bad.write_text('[STEMScan-v0]\nn_steps = 8\nlearnin_rate = 0.1\n')
    with pytest.raises(ValueError, match="learnin_rate"):
        load_hyperparams(bad)


@pytest.mark.skipif(not DEFAULT_POLICY_PATH.is_file(), reason="no shipped policy yet")
@pytest.mark.parametrize("mode", ["grid", "continuous"])
def test_shipped_policy_runs_an_episode_in_both_action_modes(mode: str) -> None:
    env = gym.make("STEMScan-v0", action_mode=mode)
    agent = make("ppo", env)
    assert agent.config() == {"seed": 0, "policy_path": None}
    played = play_episode(env, agent, seed=11)
    assert all(env.action_space.contains(action) for action in played.actions)
    assert played.info["steps"] == len(played.actions) > 10


def test_cli_trains_a_policy_and_records_the_command(tmp_path: Path) -> None:
    from stemscan.cli import main

    out = tmp_path / "cli.safetensors"
    argv = ["train", "ppo", "--out", str(out), "--timesteps", "64", "--n-envs", "1", "--scenes", "lattice-defects", "--num-scenes", "0",
            "--eval-freq", "64", "--eval-episodes", "1", "--log-dir", str(tmp_path / "runs"), "--no-tensorboard"]
    assert main(argv) == 0
    spec = json.loads(out.with_suffix(".json").read_text())
    assert spec["training"]["command"].startswith("stemscan train ppo --out")
    assert spec["training"]["scenes"] == ["lattice-defects"]
    env = gym.make("STEMScan-v0")
    obs, _ = env.reset(seed=0)
    action, _ = make("ppo", env, policy_path=str(out)).predict(obs)
    assert env.action_space.contains(action)


def test_cli_rejects_an_unknown_scene_family(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from stemscan.cli import main

    assert main(["train", "ppo", "--out", str(tmp_path / "x.safetensors"), "--scenes", "no-such-family"]) == 2
    assert "no-such-family" in capsys.readouterr().err


@pytest.mark.parametrize("extractor", ["CellBlockExtractor", "ScanMapExtractor"])
def test_initial_policy_is_uniform_over_unvisited_cells(extractor: str) -> None:
    from stable_baselines3.common.policies import MultiInputActorCriticPolicy

    from stemscan.agents.ppo import EXTRACTORS, init_cell_head

    env = gym.make("STEMScan-v0", action_mode="grid", **TINY)
    policy = MultiInputActorCriticPolicy(
        env.observation_space, env.action_space, lambda _: 0.0, net_arch={"pi": [], "vf": [8]},
        features_extractor_class=EXTRACTORS[extractor], features_extractor_kwargs={"cell_grid": [4, 4]},
    )
    init_cell_head(policy)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(5)  # scan cell 5 (row 1, col 1)
    tensor, _ = policy.obs_to_tensor(obs)
    with torch.no_grad():
        logits = policy.get_distribution(tensor).distribution.logits[0].numpy()
    others = np.delete(logits, 5)
    np.testing.assert_allclose(others, others[0], atol=1e-5)
    assert logits[5] < others[0] - 4.0




def test_training_shows_a_progress_bar_by_default(tmp_path, capsys):
    config = PPOTrainConfig(seed=0, timesteps=64, scenes=["lattice-defects"], n_envs=1, env_overrides=TINY,
                            log_dir=tmp_path / "runs", eval_freq=64, n_eval_episodes=1, tensorboard=False)
    assert config.progress_bar
    train_ppo(tmp_path / "p.safetensors", config)
    err = capsys.readouterr().err
    assert "train ppo" in err and "step" in err


def test_training_on_a_scene_pool_evaluates_on_held_out_scenes(tmp_path: Path) -> None:
    config = PPOTrainConfig(
        timesteps=64, scenes=["lattice-defects"], n_envs=1, env_overrides=TINY, log_dir=tmp_path / "runs",
        eval_freq=10**6, tensorboard=False, progress_bar=False, num_scenes=2,
    )  # fmt: skip
    result = train_ppo(tmp_path / "pool.safetensors", config)
    training = json.loads(result.policy_path.with_suffix(".json").read_text())["training"]
    assert training["num_scenes"] == 2 and training["env_steps_per_s"] > 0
    with pytest.raises(ValueError, match="num_scenes must be a non-negative integer"):
        train_ppo(tmp_path / "bad.safetensors", PPOTrainConfig(num_scenes=-1, env_overrides=TINY))
    with pytest.raises(ValueError, match="not env_kwargs"):
        train_ppo(tmp_path / "bad.safetensors", PPOTrainConfig(env_overrides={**TINY, "num_scenes": 3}))


def test_the_hyperparameter_file_chooses_the_extractor_and_old_policies_still_load(tmp_path: Path) -> None:
    text = DEFAULT_HYPERPARAMS.read_text()
    assert 'features_extractor = "CellBlockExtractor"' in text
    old = tmp_path / "old.toml"
    old.write_text(text.replace('features_extractor = "CellBlockExtractor"', 'features_extractor = "ScanMapExtractor"'))
    config = PPOTrainConfig(timesteps=32, scenes=["lattice-defects"], n_envs=1, env_overrides=TINY, hyperparams=old,
                            log_dir=tmp_path / "runs", eval_freq=10**6, tensorboard=False, progress_bar=False, num_scenes=0)
    result = train_ppo(tmp_path / "old.safetensors", config)
    spec = json.loads(result.policy_path.with_suffix(".json").read_text())
    assert spec["features_extractor"] == "ScanMapExtractor" and spec["training"]["num_scenes"] is None
    policy, _ = load_policy(result.policy_path)
    assert type(policy.features_extractor).__name__ == "ScanMapExtractor"
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(text.replace('"CellBlockExtractor"', '"NoSuchExtractor"'))
    with pytest.raises(ValueError, match="NoSuchExtractor.*CellBlockExtractor"):
        train_ppo(tmp_path / "x.safetensors", PPOTrainConfig(hyperparams=unknown, env_overrides=TINY))
    spec["features_extractor"] = "NoSuchExtractor"
    result.policy_path.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="unknown features_extractor 'NoSuchExtractor'"):
        load_policy(result.policy_path)


def test_rates_may_be_numbers_or_zoo_style_linear_schedules() -> None:
    from stemscan.agents.train.ppo import schedule

    assert schedule("learning_rate", 3e-4) == 3e-4
    linear = schedule("learning_rate", "lin_1.0e-3")
    assert linear(1.0) == pytest.approx(1e-3) and linear(0.25) == pytest.approx(2.5e-4) and linear(0.0) == 0.0
    for bad in ("lin_", "lin_x", "lin_-1", "exp_1e-3", -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="learning_rate"):
            schedule("learning_rate", bad)


def test_a_policy_trained_with_a_linear_schedule_rebuilds_as_an_sb3_model(tiny_policy: Path, tmp_path: Path) -> None:
    from stemscan.agents.ppo_sb3 import load_sb3_ppo

    target = tmp_path / "lin.safetensors"
    shutil.copy(tiny_policy, target)
    spec = json.loads(tiny_policy.with_suffix(".json").read_text())
    spec["training"]["ppo_kwargs"]["learning_rate"] = "lin_2.0e-3"
    target.with_suffix(".json").write_text(json.dumps(spec))
    model = load_sb3_ppo(gym.make("STEMScan-v0", action_mode="grid", **TINY), target)
    assert model.lr_schedule(1.0) == pytest.approx(2e-3) and model.lr_schedule(0.5) == pytest.approx(1e-3)
