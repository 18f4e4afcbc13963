"""Train the PPO scanning policy (stable-baselines3) on STEMScan-v0 and save it as safetensors.

The options (:class:`PPOTrainConfig`) and the plain function
:func:`train_ppo`; the command ``stemscan train ppo`` is
:mod:`stemscan.agents.train.ppo_cli`, the envs :mod:`stemscan.agents.train.ppo_envs`.  Hyperparameters come from a TOML file in the style of
rl-baselines3-zoo (default: ``stemscan/agents/hyperparams/ppo.toml``, read by
:mod:`stemscan.agents.train.ppo_hyperparams`); the
vectorised envs cycle over scene families, SB3's ``EvalCallback`` evaluates
periodically, TensorBoard logs go to ``--log-dir``.  Training runs inside an
isolated RNG context: SB3 seeds Python's, NumPy's and torch's global
generators, and their states are restored afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from typing import Any

import numpy as np

from stemscan.agents.train.imitation import ImitationConfig, imitate
from stemscan.agents.train.ppo_envs import isolated_global_rngs, make_vec_env
from stemscan.agents.train.ppo_hyperparams import (
    DEFAULT_EXTRACTOR,
    DEFAULT_HYPERPARAMS,
    ENV_ID,
    PPO_KEYS,
    load_hyperparams,
    schedule,
)
from stemscan.atomic import atomic_path, check_output_file
from stemscan.validation import check_int

__all__ = [
    "DEFAULT_HYPERPARAMS", "HELD_OUT_START_SCENE", "PPOTrainConfig", "TrainResult", "load_hyperparams", "schedule", "train_ppo",
]

#: First scene seed of the evaluation pool when training on a pool (disjoint from training's ``0 … N − 1``).
HELD_OUT_START_SCENE = 1_000_000


@dataclass
class TrainResult:
    """What :func:`train_ppo` produced.

    Attributes:
        policy_path: The saved ``.safetensors`` policy (``.json`` beside it).
        timesteps: Env steps trained.
        wall_s: Wall time of the training loop, s.
        eval_timesteps: Timesteps of the EvalCallback evaluations.
        eval_mean_reward: Mean episode reward (feature weight found) at each.
        curve_path: The learning-curve PNG, if one was drawn.
    """

    policy_path: Path
    timesteps: int
    wall_s: float
    eval_timesteps: np.ndarray
    eval_mean_reward: np.ndarray
    curve_path: Path | None


def _plot_curve(timesteps: np.ndarray, rewards: np.ndarray, stds: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(timesteps, rewards, marker="o", color="C0", label="EvalCallback mean episode reward (same episodes each time)")
    ax.fill_between(timesteps, rewards - stds, rewards + stds, color="C0", alpha=0.2, label="± 1 std over episodes")
    ax.set_xlabel("training timesteps (env steps)")
    ax.set_ylabel("feature weight found per episode")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


@dataclass
class PPOTrainConfig:
    """Options of PPO training; ``None`` fields take their value from the hyperparameter file."""

    seed: int = 0
    """Seed of the model (init, sampling) and of the training envs (env ``i`` gets ``seed + i``; eval envs ``seed + eval_seed_offset + i``)."""
    timesteps: int | None = None
    """Env steps of PPO in total (0: none, only the imitation of the oracle, which then needs ``[imitation] rounds``)."""
    scenes: Sequence[str] | None = None
    """Scene families to train on; ``None``: every family of :func:`stemscan.scenes.names`."""
    hyperparams: str | os.PathLike | None = None
    """Zoo-style TOML file; ``None``: the packaged ``ppo.toml``."""
    n_envs: int | None = None
    """Number of vectorised envs."""
    env_overrides: dict[str, Any] | None = None
    """Extra ``STEMScan-v0`` kwargs (e.g. a small ``image_size`` for tests)."""
    log_dir: str | os.PathLike = "runs/ppo"
    """TensorBoard logs and ``evaluations.npz`` go here."""
    eval_freq: int | None = None
    """Env steps (all envs together) between evaluations."""
    n_eval_episodes: int | None = None
    """Episodes per evaluation."""
    curve_path: str | os.PathLike | None = None
    """Where to draw the learning curve (PNG); ``None`` draws none."""
    tensorboard: bool = True
    """Log to TensorBoard under ``log_dir``."""
    num_threads: int = 1
    """``torch.set_num_threads`` during training (restored after)."""
    progress_bar: bool = True
    """Show a tqdm bar on stderr: env steps done, env steps/s, time left."""
    num_scenes: int | None = None
    """Scene pool per family (:mod:`stemscan.envs.scene_pool`): train on the scenes of seeds ``0 … N − 1``,
    evaluate on the held-out ones from :data:`HELD_OUT_START_SCENE`; ``0``: a new scene every episode;
    ``None``: the hyperparameter file's ``num_scenes`` (none there: a new scene every episode)."""


def train_ppo(out: str | os.PathLike, config: PPOTrainConfig | None = None, command: str | None = None) -> TrainResult:
    """Train SB3 PPO (``MultiInputPolicy`` with the file's features extractor, :data:`stemscan.agents.ppo.EXTRACTORS`) and save it.

    Args:
        out: Output ``.safetensors`` path (the ``.json`` config is written beside it).
        config: The options (default: :class:`PPOTrainConfig`'s).
        command: The command line recorded in the policy's provenance.
    """
    config = config or PPOTrainConfig()
    seed, timesteps, scenes, hyperparams = config.seed, config.timesteps, config.scenes, config.hyperparams
    n_envs, env_overrides, log_dir, eval_freq = config.n_envs, config.env_overrides, config.log_dir, config.eval_freq
    n_eval_episodes, curve_path, tensorboard = config.n_eval_episodes, config.curve_path, config.tensorboard
    num_threads, progress_bar, num_scenes = config.num_threads, config.progress_bar, config.num_scenes
    import stable_baselines3
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList, EvalCallback

    from stemscan import __version__
    from stemscan.agents.ppo import extractor_class, init_cell_head, policy_spec, save_policy
    from stemscan.scenes import names as scene_names

    from stemscan.agents.weights_file import check_weights_output

    out = check_weights_output(out, "--out")  # as every trainer: a .safetensors path, checked before training
    params = load_hyperparams(hyperparams)
    extractor = extractor_class(params.get("features_extractor", DEFAULT_EXTRACTOR))
    families = list(scene_names() if not scenes else scenes)
    for family in families:
        if family not in scene_names():
            raise ValueError(f"unknown scene family {family!r}; valid names: {', '.join(scene_names())}")
    timesteps = check_int("timesteps", params.get("n_timesteps", 90_000) if timesteps is None else timesteps, 0)
    n_envs = check_int("n_envs", params.get("n_envs", len(families)) if n_envs is None else n_envs, 1)
    env_kwargs = {**params.get("env_kwargs", {}), **(env_overrides or {})}
    if env_kwargs.get("action_mode", "grid") != "grid":
        raise ValueError("the PPO policy acts on grid cells: env_kwargs action_mode must be 'grid'")
    env_kwargs["action_mode"] = "grid"
    if "scene" in env_kwargs:
        raise ValueError("choose scene families with `scenes`, not env_kwargs['scene']")
    if {"num_scenes", "start_scene"} & set(env_kwargs):
        raise ValueError("choose the scene pool with num_scenes (PPOTrainConfig / --num-scenes), not env_kwargs")
    train_kwargs, eval_kwargs = env_kwargs, env_kwargs
    if num_scenes is None:
        num_scenes = params.get("num_scenes", 0)
    if isinstance(num_scenes, bool) or not isinstance(num_scenes, int) or num_scenes < 0:
        raise ValueError(f"num_scenes must be a non-negative integer (0: a new scene every episode), got {num_scenes!r}")
    if num_scenes == 0:
        num_scenes = None
    else:
        train_kwargs = {**env_kwargs, "num_scenes": num_scenes, "start_scene": 0}
        eval_kwargs = {**env_kwargs, "start_scene": HELD_OUT_START_SCENE}
    evaluation = dict(params.get("eval", {}))
    eval_freq = check_int("eval_freq", evaluation.get("eval_freq", 5_000) if eval_freq is None else eval_freq, 1)
    n_eval_episodes = check_int("n_eval_episodes", evaluation.get("n_eval_episodes", 16) if n_eval_episodes is None
                                else n_eval_episodes, 1)
    eval_offset = check_int("eval_seed_offset", evaluation.get("eval_seed_offset", 10_000), 0)
    if num_scenes is not None:  # held-out evaluation pool: as many scenes as evaluation episodes, at most N
        eval_kwargs["num_scenes"] = min(num_scenes, n_eval_episodes)
    n_steps = params.get("n_steps", 2048)  # SB3's default
    if params.get("normalize_advantage", True) and n_steps * n_envs < 2:
        raise ValueError(f"n_steps * n_envs must be >= 2 to normalise advantages (n_steps = {n_steps} in "
                         f"[{ENV_ID}] of the hyperparameter file, n_envs = {n_envs}): raise one of them")
    imitation = ImitationConfig.from_table(params.get("imitation"))
    if timesteps == 0 and not imitation.rounds:
        raise ValueError("timesteps must be >= 1 (0 is for imitation alone: set [imitation] rounds in the hyperparameter file)")
    if imitation.rounds and params.get("vec_env", "dummy") != "dummy":
        raise ValueError("imitation reads the training envs' scenes: it needs vec_env = 'dummy'")
    check_int("num_threads", num_threads, 1)
    if curve_path is not None:
        check_output_file(curve_path, "--curve")
    if Path(log_dir).exists() and not Path(log_dir).is_dir():
        raise ValueError(f"--log-dir {log_dir} is a file; give a folder")

    policy_kwargs_json = dict(params.get("policy_kwargs", {}))
    activation = policy_kwargs_json.get("activation_fn", "tanh")
    activations = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    if activation not in activations:
        raise ValueError(f"policy_kwargs.activation_fn must be one of {sorted(activations)}, got {activation!r}")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)

    from threadpoolctl import threadpool_limits

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        with isolated_global_rngs(), threadpool_limits(limits=int(num_threads)):
            train_env = make_vec_env(families, n_envs, train_kwargs, params.get("vec_env", "dummy"))
            eval_env = make_vec_env(families, n_envs, eval_kwargs, "dummy", fixed_seed=seed + eval_offset)
            geometry = train_env.envs[0].unwrapped.geometry if hasattr(train_env, "envs") else None
            if geometry is None:
                geometry = make_vec_env(families[:1], 1, env_kwargs, "dummy").envs[0].unwrapped.geometry
            extractor_kwargs = {**policy_kwargs_json.get("features_extractor_kwargs", {}), "cell_grid": [geometry.n_rows, geometry.n_cols]}
            policy_kwargs_json["features_extractor_kwargs"] = extractor_kwargs
            policy_kwargs_json["activation_fn"] = activation
            policy_kwargs = {
                **policy_kwargs_json,
                "activation_fn": activations[activation],
                "features_extractor_class": extractor,
            }
            ppo_kwargs = {key: params[key] for key in PPO_KEYS if key in params}
            rates = {key: schedule(key, ppo_kwargs[key]) for key in ("learning_rate", "clip_range") if key in ppo_kwargs}
            model = PPO(
                "MultiInputPolicy",
                train_env,
                policy_kwargs=policy_kwargs,
                tensorboard_log=str(log_dir) if tensorboard else None,
                seed=seed,
                device="cpu",
                verbose=0,
                **{**ppo_kwargs, **rates},
            )
            init_cell_head(model.policy)
            imitated = None
            if imitation.rounds:  # DAgger on the oracle's cell targets before PPO (stemscan.agents.train.imitation)
                imitated = imitate(model, train_env, imitation, seed, progress=progress_bar)
            callback = EvalCallback(
                eval_env,
                n_eval_episodes=n_eval_episodes,
                eval_freq=max(eval_freq // n_envs, 1),
                log_path=str(log_dir),
                deterministic=True,
                verbose=0,
            )
            callbacks = CallbackList([callback, _progress_callback(timesteps)]) if progress_bar else callback
            start = time.perf_counter()
            if timesteps:  # 0: the imitated policy as it is
                model.learn(total_timesteps=timesteps, callback=callbacks, tb_log_name="PPO")
            wall_s = time.perf_counter() - start
            train_env.close()
            eval_env.close()
    finally:
        torch.set_num_threads(previous_threads)

    eval_timesteps = np.asarray(callback.evaluations_timesteps, dtype=np.int64)
    results = np.asarray(callback.evaluations_results, dtype=np.float64).reshape(len(eval_timesteps), n_eval_episodes)
    eval_mean = results.mean(axis=1) if results.size else np.zeros(0)
    eval_std = results.std(axis=1) if results.size else np.zeros(0)
    training = {
        "command": command,
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "wall_s": round(wall_s, 1),
        "scenes": families,
        "n_envs": n_envs,
        "num_scenes": num_scenes,
        "env_steps_per_s": round(model.num_timesteps / wall_s, 1) if wall_s > 0 else None,
        "ppo_kwargs": ppo_kwargs,
        "torch_threads": int(num_threads),
        "stemscan_version": __version__,
        "stable_baselines3_version": stable_baselines3.__version__,
        "torch_version": torch.__version__,
        "imitation": None if imitated is None else {
            **dataclasses.asdict(imitation), "samples": imitated.samples, "wall_s": round(imitated.wall_s, 1),
            "loss": [round(v, 4) for v in imitated.loss], "oracle_share": [round(v, 3) for v in imitated.oracle_share],
        },
        "eval_timesteps": eval_timesteps.tolist(),
        "eval_mean_reward": [round(float(v), 3) for v in eval_mean],
    }
    spec = policy_spec(model.policy, policy_kwargs_json, {**env_kwargs}, training)
    save_policy(model.policy, out, spec)
    drawn: Path | None = None
    if curve_path is not None and eval_timesteps.size:
        drawn = Path(curve_path)
        title = f"PPO on STEMScan-v0, seed {seed}, {wall_s / 60:.1f} min wall\n({', '.join(families)})"
        _plot_curve(eval_timesteps, eval_mean, eval_std, drawn, title)
    return TrainResult(out, int(model.num_timesteps), wall_s, eval_timesteps, eval_mean, drawn)


def _progress_callback(total: int) -> Any:
    """An SB3 callback drawing a tqdm bar over the env steps of ``model.learn`` (SB3's own bar needs ``rich``)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class TqdmSteps(BaseCallback):

        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = int(total)
            self.bar: Any = None

        def _on_training_start(self) -> None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc="train ppo", unit="step", unit_scale=True, dynamic_ncols=True)

        def _on_step(self) -> bool:
            self.bar.update(self.model.num_timesteps - self.bar.n)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return TqdmSteps(total)
