"""Training of the zoo's models, one shape for each: a config dataclass, a train function, a CLI.

* :mod:`~stemscan.agents.train.dcnn` — the DCNN segmenter (``TrainConfig``,
  ``train_dcnn``, ``stemscan train dcnn``);
* :mod:`~stemscan.agents.train.rvae` — rVAE pre-training (``RVAETrainConfig``,
  ``pretrain_rvae``, ``stemscan train rvae``), on
  :mod:`~stemscan.agents.train.rvae_data` (windows from scenes) and
  :mod:`~stemscan.agents.train.rvae_loss` (ELBO, offline loop);
  :mod:`~stemscan.agents.train.rvae_online` is the in-episode trainer of ``rvae-bo``;
* :mod:`~stemscan.agents.train.ppo` — the PPO policy (``PPOTrainConfig``,
  ``train_ppo``), reading :mod:`~stemscan.agents.train.ppo_hyperparams`, on the
  envs of :mod:`~stemscan.agents.train.ppo_envs`; ``stemscan train ppo`` is
  :mod:`~stemscan.agents.train.ppo_cli`.

Every command writes to its ``--out`` (default: the working directory or
``runs/``), never into the installed package.  Modules import torch only
when they train.
"""
