"""Train the PPO scanning policy (stable-baselines3) on STEMScan-v0: the ``stemscan train ppo`` command.

The options map onto :class:`~stemscan.agents.train.ppo.PPOTrainConfig`;
training itself is :func:`~stemscan.agents.train.ppo.train_ppo`.
"""

from __future__ import annotations

import argparse
import shlex

from stemscan.agents.train.ppo import PPOTrainConfig, train_ppo
from stemscan.cli_types import int_in, positive_int, seed

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``stemscan train ppo``."""
    parser.add_argument("--out", default="runs/ppo/ppo_policy.safetensors", help="output policy (.safetensors; .json beside it)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the model and the envs (default 0)")
    parser.add_argument("--timesteps", type=int_in(0, 10**10), default=None, help="env steps in total (default: the hyperparameter file's n_timesteps; 0: imitation of the oracle only)")
    parser.add_argument("--scenes", default="all", help="comma-separated scene families, or 'all' (default)")
    parser.add_argument("--hyperparams", default=None, help="zoo-style TOML file (default: the packaged ppo.toml)")
    parser.add_argument("--n-envs", type=int_in(1, 1024), default=None, help="vectorised envs (default: from the file)")
    parser.add_argument("--log-dir", default="runs/ppo", help="TensorBoard logs and evaluations.npz (default runs/ppo)")
    parser.add_argument("--eval-freq", type=positive_int, default=None, help="env steps between evaluations (default: from the file)")
    parser.add_argument("--eval-episodes", type=int_in(1, 100_000), default=None, help="episodes per evaluation (default: from the file)")
    parser.add_argument("--curve", default=None, help="draw the learning curve to this PNG")
    parser.add_argument("--threads", type=int_in(1, 1024), default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--num-scenes", type=int_in(0, 100_000), default=None,
        help="train on a pool of N scenes per family (seeds 0..N-1), evaluate on held-out ones; 0: a new scene every "
             "episode (default: the hyperparameter file's num_scenes)",
    )  # fmt: skip
    parser.add_argument("--no-tensorboard", action="store_true", help="do not log to TensorBoard")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: a tqdm bar with env steps/s)")
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old commands


def _command_args(args: argparse.Namespace) -> list[str]:
    """The options of ``args`` as a command line (recorded in the policy's provenance)."""
    flags = {
        "out": "--out", "seed": "--seed", "timesteps": "--timesteps", "scenes": "--scenes",
        "hyperparams": "--hyperparams", "n_envs": "--n-envs", "log_dir": "--log-dir", "eval_freq": "--eval-freq",
        "eval_episodes": "--eval-episodes", "curve": "--curve", "threads": "--threads", "num_scenes": "--num-scenes",
    }
    words: list[str] = []
    for attr, flag in flags.items():
        value = getattr(args, attr, None)
        if value is not None:
            words += [flag, str(value)]
    for attr, flag in (("no_tensorboard", "--no-tensorboard"), ("no_progress", "--no-progress")):
        if getattr(args, attr, False):
            words.append(flag)
    return words


def run(args: argparse.Namespace) -> int:
    """Entry point of ``stemscan train ppo``."""
    scenes = None if args.scenes in (None, "", "all") else [s.strip() for s in args.scenes.split(",") if s.strip()]
    command = "stemscan train ppo " + " ".join(shlex.quote(a) for a in _command_args(args))
    config = PPOTrainConfig(
        seed=args.seed,
        timesteps=args.timesteps,
        scenes=scenes,
        hyperparams=args.hyperparams,
        n_envs=args.n_envs,
        log_dir=args.log_dir,
        eval_freq=args.eval_freq,
        n_eval_episodes=args.eval_episodes,
        curve_path=args.curve,
        tensorboard=not args.no_tensorboard,
        num_threads=args.threads,
        progress_bar=not args.no_progress,
        num_scenes=getattr(args, "num_scenes", None),
    )
    result = train_ppo(args.out, config, command=command)
    rate = result.timesteps / result.wall_s if result.wall_s > 0 else float("nan")
    print(f"trained {result.timesteps} steps in {result.wall_s:.0f} s ({rate:.0f} env steps/s) -> {result.policy_path}")
    if result.eval_timesteps.size:
        print(f"last evaluation: mean reward {result.eval_mean_reward[-1]:.2f} at {result.eval_timesteps[-1]} steps")
    if result.curve_path is not None:
        print(f"learning curve -> {result.curve_path}")
    return 0
