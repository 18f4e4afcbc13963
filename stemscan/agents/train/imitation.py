"""Imitation of the oracle: pretrain the PPO scanning policy on what the oracle would gain in each cell (DAgger).

The oracle (:class:`~stemscan.agents.oracle.OracleAgent`) reads the hidden
scene; the policy only sees the observation.  So the policy is taught, for
the states it visits, *where the undiscovered features are likely to be*
given what it has seen: at every step the oracle scores each grid cell by
the undiscovered feature weight a sub-scan there would complete plus the
weight it would advance (:meth:`~stemscan.agents.oracle.OracleAgent.candidate_values`),
the scores are normalised into a distribution over cells (all mass on the
cells with the most unscanned pixels when no cell gains anything), and the
policy's action distribution is fitted to it by cross-entropy.  Trained to
the optimum, the policy's probability of a cell is the expected share of
the gain it holds given the observation: a learned posterior of where the
features are, which PPO then refines on the reward.

States come from DAgger (Ross, Gordon & Bagnell, AISTATS 2011): round
``k`` acts with the oracle with probability ``beta ** k`` and otherwise
samples the policy being trained, so later rounds visit the states the
policy itself reaches; the demonstrations of all rounds are pooled.

Everything random flows from ``seed`` (the env seeds, a
``numpy.random.Generator`` for the mixing, a ``torch.Generator`` for
sampling and minibatches).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemscan.validation import check_int, check_number

__all__ = ["ImitationConfig", "ImitationResult", "cell_targets", "imitate"]


@dataclass(frozen=True)
class ImitationConfig:
    """Options of :func:`imitate` (the ``[STEMScan-v0.imitation]`` table of the hyperparameter file).

    Attributes:
        rounds: DAgger rounds (0: no imitation).
        steps_per_round: Env steps collected per round (all envs together).
        beta: The oracle acts with probability ``beta ** round`` (round 0: always).
        epochs: Passes over the pooled demonstrations after each round.
        batch_size: Minibatch size.
        learning_rate: Adam learning rate.
    """

    rounds: int = 0
    steps_per_round: int = 20_000
    beta: float = 0.5
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        check_int("imitation.rounds", self.rounds, 0)
        check_int("imitation.steps_per_round", self.steps_per_round, 1)
        check_number("imitation.beta", self.beta, 0.0, 1.0)
        check_int("imitation.epochs", self.epochs, 1)
        check_int("imitation.batch_size", self.batch_size, 1)
        check_number("imitation.learning_rate", self.learning_rate, 0.0)
        if not self.learning_rate > 0:
            raise ValueError(f"imitation.learning_rate must be > 0, got {self.learning_rate!r}")

    @classmethod
    def from_table(cls, table: dict[str, Any] | None) -> ImitationConfig:
        """From a TOML table; unknown keys are an error that names them."""
        table = dict(table or {})
        unknown = set(table) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown imitation keys {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}")
        return cls(**table)


@dataclass
class ImitationResult:
    """What :func:`imitate` did.

    Attributes:
        samples: Demonstrations collected (env steps, all rounds).
        loss: Per round, the last epoch's mean cross-entropy (nats; a uniform policy scores ``log n_cells``).
        oracle_share: Per round, the fraction of steps the oracle acted.
        wall_s: Wall time, s.
    """

    samples: int
    loss: list[float]
    oracle_share: list[float]
    wall_s: float


def cell_targets(oracles: list) -> tuple[np.ndarray, np.ndarray]:
    """Targets and the oracle's own choices for each sub-env's current state (grid actions).

    Returns:
        ``(targets (n_envs, n_cells) float32, actions (n_envs,) int64)``: the
        distributions over cells of the module docstring, and the cell the
        oracle would scan (its :meth:`~stemscan.agents.oracle.OracleAgent.predict`).
    """
    from stemscan.agents.oracle import best_candidate

    rows, actions = [], []
    for oracle in oracles:
        _, value, progress, fresh = oracle.candidate_values()
        actions.append(best_candidate(value, progress, fresh))
        score = value + progress
        if not score.max() > 0:
            score = (fresh == fresh.max()).astype(np.float64)
        rows.append(score / score.sum())
    return np.asarray(rows, dtype=np.float32), np.asarray(actions, dtype=np.int64)


def imitate(model: Any, vec_env: Any, config: ImitationConfig, seed: int, progress: bool = False) -> ImitationResult:
    """Pretrain ``model.policy`` (SB3 PPO, grid actions) by DAgger on the oracle's cell targets.

    Args:
        model: An SB3 ``PPO`` whose env acts on grid cells.
        vec_env: A ``DummyVecEnv`` of STEMScan envs (its sub-envs are read by the oracles).
        config: Rounds, steps, epochs, ...
        seed: Seeds the envs, the mixing and the minibatches.
        progress: Show a tqdm bar over the collected steps.
    """
    import torch
    from tqdm.auto import tqdm

    from stemscan.agents.oracle import OracleAgent

    import gymnasium as gym

    if not isinstance(vec_env.action_space, gym.spaces.Discrete):
        raise ValueError(f"imitation targets grid cells: the envs need action_mode='grid', got {vec_env.action_space}")
    policy = model.policy
    oracles = [OracleAgent(env) for env in vec_env.envs]
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    n_envs = vec_env.num_envs
    store: dict[str, list[np.ndarray]] = {}
    targets: list[np.ndarray] = []
    losses: list[float] = []
    shares: list[float] = []
    start = time.perf_counter()
    vec_env.seed(int(seed))
    observation = vec_env.reset()
    bar = tqdm(total=config.rounds * config.steps_per_round, desc="imitate oracle", unit="step", disable=not progress)
    for round_ in range(config.rounds):
        beta = config.beta**round_
        collected = 0
        oracle_steps = 0
        while collected < config.steps_per_round:
            target, actions = cell_targets(oracles)
            for key, value in observation.items():
                store.setdefault(key, []).append(np.array(value))
            targets.append(target)
            expert = rng.random(n_envs) < beta
            if not expert.all():
                with torch.no_grad():
                    logits = _logits(policy, observation)
                sampled = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1).numpy()
                actions = np.where(expert, actions, sampled)
            observation, _, _, _ = vec_env.step(actions)
            collected += n_envs
            oracle_steps += int(expert.sum())
            bar.update(n_envs)
        shares.append(oracle_steps / collected)
        losses.append(_fit(policy, optimizer, store, targets, config, generator))
    bar.close()
    return ImitationResult(sum(len(t) for t in targets), losses, shares, time.perf_counter() - start)


def _logits(policy: Any, observation: dict[str, np.ndarray]) -> Any:
    tensors, _ = policy.obs_to_tensor(observation)
    return policy.get_distribution(tensors).distribution.logits


def _fit(policy: Any, optimizer: Any, store: dict[str, list[np.ndarray]], targets: list[np.ndarray], config: ImitationConfig,
         generator: Any) -> float:
    """``config.epochs`` passes of cross-entropy over every demonstration so far; returns the last epoch's mean loss."""
    import torch

    data = {key: np.concatenate(value) for key, value in store.items()}
    target = torch.from_numpy(np.concatenate(targets))
    n = len(target)
    policy.set_training_mode(True)
    mean = float("nan")
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator).numpy()
        total = 0.0
        for first in range(0, n, config.batch_size):
            index = order[first : first + config.batch_size]
            logits = _logits(policy, {key: value[index] for key, value in data.items()})
            loss = -(target[index] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            optimizer.step()
            total += loss.item() * len(index)
        mean = total / n
    policy.set_training_mode(False)
    return mean
