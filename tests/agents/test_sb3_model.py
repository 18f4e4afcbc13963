"""Any SB3 model saved with .save() is benchmarked by the CLI as sb3:PATH, without unpickling the file."""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import pytest
from stable_baselines3 import PPO

import stemscan.agents
from stemscan.cli import main

ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    env = gym.make("STEMScan-v0", action_mode="grid", **ENV)
    model = PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, seed=0, device="cpu", verbose=0)
    path = tmp_path_factory.mktemp("sb3") / "ppo.zip"
    model.save(path)
    return path, model


def test_saved_ppo_is_benchmarked_by_the_cli(saved, tmp_path, capsys, monkeypatch):
    path, _ = saved
    import cloudpickle

    def refuse(*args, **kwargs):
        raise AssertionError("a user's file was unpickled")

    monkeypatch.setattr(cloudpickle, "loads", refuse)  # SB3's load deserialises through cloudpickle.loads
    out = tmp_path / "r.sqlite"
    env = json.dumps({**ENV, "action_mode": "grid"})
    args = ["bench", "--agents", f"sb3:{path},sb3:ppo:{path},random", "--scenes", "lattice-defects", "--seeds", "2",
            "--budgets", "0.3", "--env-kwargs", env, "--workers", "1", "--no-progress", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr()
    assert "6 run now, 0 failed" in capsys.readouterr().out
    assert main(["leaderboard", str(out)]) == 0
    assert f"| sb3:{path} |" in capsys.readouterr().out


def test_same_decisions_as_the_model(saved):
    path, model = saved
    env = gym.make("STEMScan-v0", action_mode="grid", **ENV)
    agent = stemscan.agents.make(f"sb3:{path}", env)
    obs, _ = env.reset(seed=2)
    assert agent.config()["algorithm"] == "PPO"
    assert int(agent.predict(obs)[0]) == int(model.predict(obs, deterministic=True)[0])


def test_bad_files_and_pickled_policy_kwargs_are_refused(saved, tmp_path):
    path, _ = saved
    env = gym.make("STEMScan-v0", action_mode="grid", **ENV)
    with pytest.raises(ValueError, match="no SB3 model file"):
        stemscan.agents.agent_class(f"sb3:{tmp_path / 'none.zip'}")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a stable-baselines3 model"):
        stemscan.agents.make(f"sb3:{junk}", env)
    tampered = tmp_path / "custom.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "data":
                content = json.loads(data)
                content["policy_kwargs"] = {":type:": "<class 'dict'>", ":serialized:": "gASV"}
                data = json.dumps(content).encode()
            dst.writestr(item, data)
    with pytest.raises(ValueError, match="never unpickles"):
        stemscan.agents.make(f"sb3:{tampered}", env)
    with pytest.raises(ValueError, match="action_space"):
        stemscan.agents.make(f"sb3:{path}", gym.make("STEMScan-v0", **ENV))
