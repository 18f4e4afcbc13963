"""A saved stemscan PPO policy as a stable-baselines3 ``PPO`` model: evaluate, fine-tune, continue training.

The policy file holds tensors (safetensors) and a JSON config, nothing
pickled; :func:`load_sb3_ppo` rebuilds SB3's ``PPO`` around it with the
hyperparameters it was trained with::

    env = gymnasium.make("STEMScan-v0", action_mode="grid")
    model = load_sb3_ppo(env)                      # the shipped policy
    evaluate_policy(model, env, n_eval_episodes=10)
    model.learn(20_000)                            # continue training
    save_policy(model.policy, "mine.safetensors", spec)   # stemscan's format again

The optimiser's state is not stored with a policy, so training continues
with a fresh Adam state; the network weights, architecture and PPO
hyperparameters are the saved ones.  A saved ``"lin_<x>"`` schedule runs
from x to 0 over each ``learn()`` call, as in SB3 (the shipped policy's
learning rate does); pass ``learning_rate=`` to continue at a fixed rate.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from stemscan.agents.ppo import _ACTIVATIONS, extractor_class, load_policy
from stemscan.agents.train.ppo_hyperparams import check_ppo_kwargs, schedule

__all__ = ["load_sb3_ppo"]


def load_sb3_ppo(env: gym.Env | Any, path: str | os.PathLike | None = None, seed: int | None = 0, **ppo_overrides: Any) -> Any:
    """Build ``stable_baselines3.PPO`` on ``env`` with the weights of a saved stemscan policy.

    Args:
        env: A grid-mode ``STEMScan-v0`` env (or a VecEnv of them) whose
            spaces equal the policy's (e.g. ``gymnasium.make("STEMScan-v0",
            action_mode="grid")`` for the shipped policy).
        path: The ``.safetensors`` policy (``.json`` beside it); ``None``
            for the shipped one.
        seed: SB3's seed for training from here on.
        ppo_overrides: PPO keywords replacing the saved hyperparameters
            (e.g. ``learning_rate=3e-4``).

    Raises:
        ValueError: The env's spaces differ from the policy's (names which), or
            the saved PPO hyperparameters are unknown or out of range.
    """
    from stable_baselines3 import PPO

    policy, spec = load_policy(path)
    for name in ("observation_space", "action_space"):
        if getattr(env, name) != getattr(policy, name):
            raise ValueError(
                f"the env's {name} {getattr(env, name)} differs from the policy's {getattr(policy, name)}; "
                f"make the env with the policy's keywords {spec.get('env_kwargs')}"
            )
    kwargs = dict(spec.get("policy_kwargs") or {})
    kwargs["activation_fn"] = _ACTIVATIONS[kwargs.get("activation_fn", "tanh")]
    kwargs["features_extractor_class"] = extractor_class(spec["features_extractor"])
    saved = (spec.get("training") or {}).get("ppo_kwargs") or {}
    where = f"policy config {'(shipped)' if path is None else repr(str(path))} training.ppo_kwargs"
    if not isinstance(saved, dict):
        raise ValueError(f"{where} must be a JSON object, got {saved!r}")
    check_ppo_kwargs(saved, where)  # the hyperparameter file's checks: a hand-edited config fails here, not in SB3
    hyper = {**saved, **ppo_overrides}
    for key in ("learning_rate", "clip_range"):  # "lin_<x>" schedules as in the hyperparameter file
        if isinstance(hyper.get(key), str):
            hyper[key] = schedule(key, hyper[key])
    model = PPO("MultiInputPolicy", env, policy_kwargs=kwargs, seed=seed, device="cpu", verbose=0, **hyper)
    model.policy.load_state_dict(policy.state_dict())
    return model
