"""PPO hyperparameter files are range-checked when read; trainers' outputs; Ctrl-C at start-up of the command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stemscan.agents.train.ppo_hyperparams import DEFAULT_HYPERPARAMS, ENV_ID, load_hyperparams
from stemscan.cli import main

SHIPPED = DEFAULT_HYPERPARAMS.read_text()


def _copy(tmp_path: Path, old: str, new: str) -> Path:
    """The packaged ppo.toml with one change."""
    assert SHIPPED.count(old) == 1, old
    path = tmp_path / "X.toml"
    path.write_text(SHIPPED.replace(old, new))
    return path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# (line of the packaged file, its replacement, the table and the words the message must hold)
BAD = [
    ("n_steps = 32 ", "n_steps = -5 ", ENV_ID, "n_steps = -5", "integer in [1,"),
    ("batch_size = 256\nn_epochs", "batch_size = 0\nn_epochs", ENV_ID, "batch_size = 0", "integer in [2,"),
    ("batch_size = 256\nn_epochs", "batch_size = nan\nn_epochs", ENV_ID, "batch_size = nan", "integer in [2,"),
    ("batch_size = 256\nn_epochs", "batch_size = 1\nn_epochs", ENV_ID, "batch_size = 1", "normalize_advantage = false"),
    ("n_epochs = 4", "n_epochs = 1e9", ENV_ID, "n_epochs = 1000000000.0", "integer in [1,"),
    ("n_epochs = 4", "n_epochs = 0", ENV_ID, "n_epochs = 0", "integer in [1,"),
    ("gamma = 0.9 ", "gamma = 7 ", ENV_ID, "gamma = 7", "(0, 1]"),
    ("gamma = 0.9 ", "gamma = 0 ", ENV_ID, "gamma = 0", "(0, 1]"),
    ("gae_lambda = 0.9", "gae_lambda = 1.5", ENV_ID, "gae_lambda = 1.5", "(0, 1]"),
    ('learning_rate = "lin_1.0e-3"', 'learning_rate = "lin_-1"', ENV_ID, "learning_rate = 'lin_-1'", "lin_<x>"),
    ('learning_rate = "lin_1.0e-3"', "learning_rate = -0.1", ENV_ID, "learning_rate = -0.1", "> 0"),
    ("clip_range = 0.2", "clip_range = inf", ENV_ID, "clip_range = inf", "> 0"),
    ("ent_coef = 0.01", "ent_coef = inf", ENV_ID, "ent_coef = inf", ">= 0"),
    ("ent_coef = 0.01", "ent_coef = -1", ENV_ID, "ent_coef = -1", ">= 0"),
    ("vf_coef = 0.5", "vf_coef = nan", ENV_ID, "vf_coef = nan", ">= 0"),
    ("max_grad_norm = 0.5", "max_grad_norm = 0", ENV_ID, "max_grad_norm = 0", "> 0"),
    ("normalize_advantage = true", 'normalize_advantage = "yes"', ENV_ID, "normalize_advantage = 'yes'", "true or false"),
    ("n_envs = 32 ", "n_envs = 0 ", ENV_ID, "n_envs = 0", "integer in [1,"),
    ("num_scenes = 64 ", "num_scenes = -1 ", ENV_ID, "num_scenes = -1", "integer in [0,"),
    ("n_timesteps = 900_000", "n_timesteps = 1.5", ENV_ID, "n_timesteps = 1.5", "integer in [0,"),
    ('vec_env = "dummy"', 'vec_env = "ray"', ENV_ID, "vec_env = 'ray'", "'dummy' or 'subproc'"),
    ("net_arch = { pi = [], vf = [64, 64] }", "net_arch = { pi = [-1] }", f"{ENV_ID}.policy_kwargs", "net_arch.pi = [-1]",
     "layer sizes"),
    ("net_arch = { pi = [], vf = [64, 64] }", "net_arch = { pi = [], vf = [64.5] }", f"{ENV_ID}.policy_kwargs",
     "net_arch.vf = [64.5]", "integer in [1, 4096]"),
    ('activation_fn = "tanh"', 'activation_fn = "gelu"', f"{ENV_ID}.policy_kwargs", "activation_fn = 'gelu'", "'tanh'"),
    ("channels = 16,", "channels = 0,", f"{ENV_ID}.policy_kwargs", "features_extractor_kwargs.channels = 0", "[2, 512]"),
    ("n_eval_episodes = 16", "n_eval_episodes = 0", f"{ENV_ID}.eval", "n_eval_episodes = 0", "integer in [1,"),
    ("beta = 0.5 ", "beta = 2.0 ", f"{ENV_ID}.imitation", "imitation.beta", "<= 1.0"),
]


@pytest.mark.parametrize(("old", "new", "table", "shown", "allowed"), BAD, ids=[case[3] for case in BAD])
def test_every_known_key_is_range_checked_when_read(tmp_path, old, new, table, shown, allowed):
    path = _copy(tmp_path, old, new)
    with pytest.raises(ValueError) as caught:
        load_hyperparams(path)
    message = str(caught.value)
    for needle in (str(path), f"[{table}]", shown, allowed):
        assert needle in message, (needle, message)


def test_unknown_keys_of_the_sub_tables_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"\[STEMScan-v0.eval\]: unknown keys \['eval_frequency'\]"):
        load_hyperparams(_copy(tmp_path, "eval_freq = 5_000", "eval_frequency = 5_000"))
    with pytest.raises(ValueError, match="unknown keys \\['ortho'\\]"):
        load_hyperparams(_copy(tmp_path, 'activation_fn = "tanh"', 'activation_fn = "tanh"\northo = false'))


def test_a_renamed_or_empty_main_table_is_refused(tmp_path):
    with pytest.raises(ValueError) as caught:
        load_hyperparams(_copy(tmp_path, "[STEMScan-v0]\npolicy", "[STEMScan-v1]\npolicy"))
    message = str(caught.value)
    assert "no table [STEMScan-v0] with keys of its own" in message and "[STEMScan-v0.policy_kwargs]" in message
    assert "[STEMScan-v1]" in message
    empty = tmp_path / "empty.toml"
    empty.write_text("[STEMScan-v0]\n")
    with pytest.raises(ValueError, match=r"the table \[STEMScan-v0\] is empty"):
        load_hyperparams(empty)


def test_the_shipped_file_and_the_loaders_bounds_agree():
    from stemscan.agents import ppo
    from stemscan.agents.train import ppo_hyperparams as hp
    from stemscan.agents.train.ppo_hyperparams import check_ppo_kwargs

    assert load_hyperparams()["n_steps"] == 32
    assert set(hp.EXTRACTOR_NAMES) == set(ppo.EXTRACTORS)
    assert (hp.MAX_LAYER_WIDTH, hp.MAX_LAYERS, hp.MAX_CHANNELS) == (ppo.MAX_LAYER_WIDTH, ppo.MAX_LAYERS, ppo.MAX_CHANNELS)
    check_ppo_kwargs({"batch_size": 1, "normalize_advantage": False, "gamma": 1, "ent_coef": 0}, "here")
    with pytest.raises(ValueError, match="here: gamma = 10000"):
        check_ppo_kwargs({"gamma": 10**400}, "here")


def test_the_command_prints_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"

    def train(hyperparams: Path) -> int:
        return main(["train", "ppo", "--timesteps", "64", "--n-envs", "1", "--num-scenes", "1", "--no-tensorboard",
                     "--no-progress", "--hyperparams", str(hyperparams), "--out", str(out / "p.safetensors"),
                     "--log-dir", str(out / "runs")])

    assert train(_copy(tmp_path, "n_steps = 32 ", "n_steps = -5 ")) == 2
    assert "n_steps = -5" in _one_line(capsys)
    assert train(_copy(tmp_path, "n_steps = 32 ", "n_steps = 1 ")) == 2  # 1 step x 1 env: no advantage to normalise
    assert "n_steps * n_envs must be >= 2" in _one_line(capsys)
    assert not out.exists()


def test_load_sb3_ppo_checks_the_saved_hyperparameters(tmp_path):
    import gymnasium as gym

    from stemscan.agents.ppo import DEFAULT_POLICY_PATH
    from stemscan.agents.ppo_sb3 import load_sb3_ppo

    if not DEFAULT_POLICY_PATH.is_file():
        pytest.skip("no shipped policy")
    weights = tmp_path / "p.safetensors"
    shutil.copyfile(DEFAULT_POLICY_PATH, weights)
    spec = json.loads(DEFAULT_POLICY_PATH.with_suffix(".json").read_text())
    spec["training"]["ppo_kwargs"]["gamma"] = 7
    weights.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"training.ppo_kwargs: gamma = 7 is not allowed; allowed: a finite number in \(0, 1\]"):
        load_sb3_ppo(gym.make("STEMScan-v0", action_mode="grid"), weights)


# ------------------------------------------------------ trainers' outputs
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "dcnn", "--steps", "1", "--batch-size", "1"],
        ["train", "rvae", "--scenes", "lattice-defects", "--n-scenes", "1", "--patches", "4", "--epochs", "1"],
        ["train", "ppo", "--timesteps", "8", "--n-envs", "1", "--no-tensorboard", "--no-progress"],
    ],
    ids=["dcnn", "rvae", "ppo"],
)
def test_every_trainer_wants_a_safetensors_output_before_training(argv, tmp_path, capsys):
    out = tmp_path / "d.txt"
    assert main([*argv, "--out", str(out), *(["--log-dir", str(tmp_path / "runs")] if "ppo" in argv else [])]) == 2
    line = _one_line(capsys)
    assert f"--out must end in .safetensors (a .json is written beside it), got {str(out)!r}" in line
    assert list(tmp_path.iterdir()) == []
    capsys.readouterr()


# ------------------------------------------------------------- Ctrl-C
def test_ctrl_c_while_a_command_starts_or_runs_is_one_line_and_130(monkeypatch, capsys):
    import stemscan.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stemscan.cli, "_add", interrupted)  # importing the command's module
    try:
        status = main(["scenes"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped stemscan.cli.main")
    assert status == 130
    assert _one_line(capsys) == "stemscan: interrupted"


_INTERRUPT_IMPORT = """
import sys

class _Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "stemscan.envs.registration":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, _Interrupt())
"""


def test_ctrl_c_while_the_command_imports(tmp_path):
    script = Path(sys.executable).with_name("stemscan")
    if not script.is_file():
        pytest.skip("no stemscan console script beside the interpreter")
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(_INTERRUPT_IMPORT))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script), "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stderr.strip(), done.stdout) == (130, "stemscan: interrupted", "")
    library = subprocess.run([sys.executable, "-c", "import stemscan"], capture_output=True, text=True, env=env, timeout=60)
    assert library.returncode != 130 and library.stderr.strip().endswith("KeyboardInterrupt")  # a library user's own
