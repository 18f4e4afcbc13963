"""PPO training throughput: env steps per second of ``stemscan train ppo``'s loop (rollouts + updates).

    python benchmarks/ppo_train_throughput.py [--timesteps 4096] [--num-scenes 16] [--n-envs 4] [--threads 1]

Trains the shipped configuration (``stemscan/agents/hyperparams/ppo.toml``,
four families, SB3 ``DummyVecEnv``) for a short run into a temporary
folder, evaluation off, twice: a new scene every episode (the shipped
policy's setting) and a scene pool of ``--num-scenes`` scenes per family.
Prints env steps/s of each; the shipped policy (90k steps) took 994 s.
Nothing shipped is written.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from stemscan.agents.train.ppo import PPOTrainConfig, train_ppo


def rate(timesteps: int, num_scenes: int | None, n_envs: int | None, threads: int, vec_env_dir: Path) -> float:
    config = PPOTrainConfig(
        seed=0, timesteps=timesteps, n_envs=n_envs, log_dir=vec_env_dir, eval_freq=10**9, tensorboard=False,
        num_threads=threads, progress_bar=False, num_scenes=num_scenes,
    )  # fmt: skip
    result = train_ppo(vec_env_dir / "policy.safetensors", config)
    return result.timesteps / result.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096)
    parser.add_argument("--num-scenes", type=int, default=16)
    parser.add_argument("--n-envs", type=int, default=None, help="default: the hyperparameter file's (4)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    print(f"PPO training, shipped config, {args.timesteps} env steps, torch threads {args.threads}")
    print("| scenes | env steps/s |")
    print("|---|---:|")
    for num_scenes in (None, args.num_scenes):
        with tempfile.TemporaryDirectory() as tmp:
            sps = rate(args.timesteps, num_scenes, args.n_envs, args.threads, Path(tmp))
        label = "new scene every episode" if num_scenes is None else f"pool of {num_scenes} per family"
        print(f"| {label} | {sps:,.0f} |")


if __name__ == "__main__":
    main()
