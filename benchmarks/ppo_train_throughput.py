"""PPO training throughput: env steps per second of ``stemscan train ppo``'s loop (rollouts + updates).

    python benchmarks/ppo_train_throughput.py [--timesteps 16384] [--threads 2] [--skip-first]

Trains for a short run into a temporary folder, evaluation off, TensorBoard
off, with

* the shipped configuration (``stemscan/agents/hyperparams/ppo.toml``:
  ``CellBlockExtractor``, 32 envs over the four families, a pool of 64
  scenes per family, 1,024 transitions per update, batches of 256), and
* the first policy's configuration (``ScanMapExtractor``, 4 envs, a new
  scene every episode, 512 transitions per update, batches of 128),

and prints env steps/s of each (model, env and pool set-up excluded, the
samplers' per-scene tables built during the run included).  Nothing shipped
is written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from stemscan.agents.train.ppo import DEFAULT_HYPERPARAMS, PPOTrainConfig, train_ppo

#: Hyperparameter lines of the shipped file and what the first policy used instead.
FIRST_POLICY = {
    'features_extractor = "CellBlockExtractor"': 'features_extractor = "ScanMapExtractor"',
    "n_envs = 32 ": "n_envs = 4 ",
    "num_scenes = 64 ": "num_scenes = 0 ",
    "n_steps = 32 ": "n_steps = 128 ",
    "batch_size = 256": "batch_size = 128",
}


def first_policy_hyperparams(folder: Path) -> Path:
    """The shipped TOML with the first policy's extractor, envs, pool and batch sizes."""
    text = DEFAULT_HYPERPARAMS.read_text()
    for shipped, first in FIRST_POLICY.items():
        if shipped not in text:
            raise SystemExit(f"{DEFAULT_HYPERPARAMS} no longer has {shipped!r}; update FIRST_POLICY")
        text = text.replace(shipped, first)
    path = folder / "first_policy.toml"
    path.write_text(text)
    return path


def rate(timesteps: int, threads: int, folder: Path, hyperparams: Path | None) -> float:
    config = PPOTrainConfig(
        seed=0, timesteps=timesteps, hyperparams=hyperparams, log_dir=folder, eval_freq=10**9, tensorboard=False,
        num_threads=threads, progress_bar=False,
    )  # fmt: skip
    result = train_ppo(folder / "policy.safetensors", config)
    return result.timesteps / result.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=16_384)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the target is on 2 cores)")
    parser.add_argument("--skip-first", action="store_true", help="time the shipped configuration only")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"PPO training, {args.timesteps:,} env steps, torch threads {args.threads}, load average {load:.1f}")
    print("| configuration | env steps/s | wall incl. set-up (s) |")
    print("|---|---:|---:|")
    runs = [("shipped: CellBlockExtractor, 32 envs, pool of 64 per family", False)]
    if not args.skip_first:
        runs.append(("first policy: ScanMapExtractor, 4 envs, a new scene every episode", True))
    for label, first in runs:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            start = time.perf_counter()
            sps = rate(args.timesteps, args.threads, folder, first_policy_hyperparams(folder) if first else None)
            print(f"| {label} | {sps:,.0f} | {time.perf_counter() - start:.0f} |")


if __name__ == "__main__":
    main()
