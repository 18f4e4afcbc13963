"""Train the survey-saliency CNN on simulated surveys and their ground truth (``stemscan train survey-saliency``).

Each example is one reset of ``STEMScan-v0`` (a scene of a family at a
training seed, its survey at a dose drawn from ``survey_doses``): the
input is the survey the agents see (``observation["overview"]``), the
target is the ground-truth feature weight inside each survey pixel's
footprint (each feature's weight spread evenly over its labelled pixels,
as :func:`cell_targets` computes).  The network is fitted by a listwise
ranking loss: the softmax of its cell-averaged scores against the share of
the feature weight each grid cell holds (cross-entropy), with the eight
flips and quarter turns of each survey drawn at random.  Scenes without a
feature are skipped.

Seeds start at 1000 by default: the paper suite reports on seeds 0-19 and
the workflows were tuned on 100-199, so the training scenes are neither.
Everything is seeded (``numpy.random.Generator`` for the doses,
``torch.Generator`` for initialisation, order and augmentation): the same
options and thread count give the same weights (the scene-generating
workers do not change them).  ``run`` writes ``--out`` (default
``survey_saliency.safetensors`` in the working directory, never the
installed package) and the ``.json`` beside it, atomically.  The shipped
weights were made with the default options on 2 threads (11 min on this
project's 2-core machine: 4.4 min generating 3,200 scenes, 6.2 min training)::

    stemscan train survey-saliency --workers 2 --threads 2 --out stemscan/agents/weights/survey_saliency.safetensors
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from stemscan.cli_types import int_in, positive_float, seed
from stemscan.validation import check_int

__all__ = ["SaliencyTrainConfig", "cell_targets", "configure", "make_examples", "run", "train_survey_saliency"]


@dataclass
class SaliencyTrainConfig:
    """Options of survey-saliency training (the defaults reproduce the shipped weights)."""

    scenes: list[str] = field(default_factory=list)
    """Scene families; empty = every family."""
    n_scenes: int = 800
    """Scenes (env resets) per family."""
    first_seed: int = 1000
    """Seed of each family's first scene (then consecutive)."""
    survey_doses: tuple[float, ...] = (0.005, 0.01, 0.02)
    """Survey doses (fractions of the imaging dose), one drawn per scene."""
    image_size: int = 512
    """Field side, pixels."""
    overview_size: int = 64
    """Survey side, pixels."""
    patch_size: int = 32
    """Grid cell side, pixels: the unit of the ranking loss."""
    channels: int = 32
    """Hidden channels of the network."""
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    """Peak learning rate of the one-cycle schedule (AdamW, weight decay 1e-4)."""
    seed: int = 0
    """Seed of the survey doses, initialisation, order and augmentation."""
    workers: int = 1
    """Processes generating scenes."""

    def check(self) -> None:
        from stemscan.scenes import names

        unknown = sorted(set(self.scenes) - set(names()))
        if unknown:
            raise ValueError(f"unknown scene families {unknown}; valid: {', '.join(names())}")
        check_int("n_scenes", self.n_scenes, 1)
        check_int("first_seed", self.first_seed, 0)
        check_int("overview_size", self.overview_size, 4)
        check_int("patch_size", self.patch_size, 1)
        check_int("workers", self.workers, 1)
        if self.image_size % self.overview_size or self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of overview_size {self.overview_size} and "
                             f"of patch_size {self.patch_size}")
        if (self.image_size // self.patch_size) > self.overview_size:
            raise ValueError("overview_size must give every grid cell at least one survey pixel")
        if not self.survey_doses or not all(0 < d <= 1 for d in self.survey_doses):
            raise ValueError(f"survey_doses must be fractions in (0, 1], got {self.survey_doses}")


def cell_targets(labels: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``float32 (size, size)``: the feature weight inside each survey pixel's footprint.

    Each feature's weight is spread evenly over its labelled pixels (label
    0 is no feature); ``labels`` is ``(H, W)`` with H and W multiples of ``size``.
    """
    area = np.bincount(labels.ravel(), minlength=len(weights)).astype(np.float64)
    area[0] = np.inf
    per_pixel = (np.asarray(weights, dtype=np.float64) / np.maximum(area, 1))[labels]
    height, width = labels.shape
    return per_pixel.reshape(size, height // size, size, width // size).sum(axis=(1, 3)).astype(np.float32)


def _examples_of(family: str, seeds: Sequence[int], doses: Sequence[float], config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Surveys ``(n, S, S) uint8`` and targets ``(n, S, S) float32`` of ``family`` at ``seeds``, survey dose ``doses[i]``."""
    import gymnasium as gym

    import stemscan  # noqa: F401  (registers STEMScan-v0)

    envs: dict[float, Any] = {}
    surveys, targets = [], []
    for scene_seed, dose in zip(seeds, doses):
        if dose not in envs:
            envs[dose] = gym.make("STEMScan-v0", scene=family, image_size=config["image_size"], patch_size=config["patch_size"],
                                  overview_size=config["overview_size"], survey_dose=dose)
        env = envs[dose]
        observation, _ = env.reset(seed=int(scene_seed))
        base = env.unwrapped
        surveys.append(observation["overview"][0].copy())
        targets.append(cell_targets(base._labels, base.tracker.weights, config["overview_size"]))
    for env in envs.values():
        env.close()
    return np.stack(surveys), np.stack(targets)


def make_examples(config: SaliencyTrainConfig, progress: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The training surveys ``(n, S, S) uint8``, targets ``(n, S, S) float32`` and each one's family."""
    from stemscan.scenes import names

    families = config.scenes or list(names())
    rng = np.random.default_rng(config.seed)
    chunk = 100
    jobs = []
    for family in families:
        doses = rng.choice(np.asarray(config.survey_doses, dtype=np.float64), size=config.n_scenes)
        for start in range(0, config.n_scenes, chunk):
            seeds = list(range(config.first_seed + start, config.first_seed + min(start + chunk, config.n_scenes)))
            jobs.append((family, seeds, [float(d) for d in doses[start:start + len(seeds)]]))
    settings = {"image_size": config.image_size, "patch_size": config.patch_size, "overview_size": config.overview_size}
    from tqdm import tqdm

    bar = tqdm(total=len(families) * config.n_scenes, unit="scene", disable=not progress, desc="scenes")
    results = []
    if config.workers == 1:
        for job in jobs:
            results.append(_examples_of(*job, settings))
            bar.update(len(job[1]))
    else:
        import multiprocessing

        with ProcessPoolExecutor(config.workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            for result, job in zip(pool.map(_examples_of, *zip(*jobs), [settings] * len(jobs)), jobs):
                results.append(result)
                bar.update(len(job[1]))
    bar.close()
    labels = [family for family, seeds, _ in jobs for _ in seeds]
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]), labels


def _initialise(net: Any, generator: Any) -> None:
    """Every parameter uniform in ±1/sqrt(fan-in) of its layer, from ``generator`` (PyTorch's default bound)."""
    import torch

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                bound = 1.0 / np.sqrt(module.in_channels * module.kernel_size[0] * module.kernel_size[1])
                for parameter in (module.weight, module.bias):
                    parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)


def _cell_shares(target: Any, cell: int) -> Any:
    """``(B, cells)`` share of each sample's feature weight per grid cell of ``cell`` survey pixels."""
    import torch.nn.functional as functional

    sums = functional.avg_pool2d(target[:, None], cell)[:, 0].flatten(1)
    return sums / sums.sum(dim=1, keepdim=True)


def train_survey_saliency(
    config: SaliencyTrainConfig, progress: bool = False, log: Callable[[str], None] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Generate the examples and train; returns ``(network in eval mode, training facts)``."""
    import torch
    import torch.nn.functional as functional

    from stemscan.agents.nets.survey_saliency import SaliencyConfig, SurveySaliencyNet, standardise_survey

    config.check()
    started = time.perf_counter()
    surveys, targets, families = make_examples(config, progress)
    keep = targets.sum(axis=(1, 2)) > 0
    inputs = torch.from_numpy(standardise_survey(surveys[keep].astype(np.float32) / 255.0))
    target = torch.from_numpy(targets[keep])
    generated = time.perf_counter() - started
    cell = config.overview_size * config.patch_size // config.image_size
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        net = SurveySaliencyNet(SaliencyConfig(channels=config.channels))
    _initialise(net, generator)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    n = len(inputs)
    batches = max(n // config.batch_size, 1)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=config.epochs * batches)
    losses = []
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        net.train()
        total = 0.0
        for b in range(batches):
            index = order[b * config.batch_size:(b + 1) * config.batch_size]
            x, y = inputs[index], target[index]
            turns = int(torch.randint(4, (1,), generator=generator))
            x, y = torch.rot90(x, turns, (1, 2)), torch.rot90(y, turns, (1, 2))
            if bool(torch.randint(2, (1,), generator=generator)):
                x, y = x.flip(2), y.flip(2)
            scores = functional.avg_pool2d(net(x[:, None])[:, None], cell)[:, 0].flatten(1)
            loss = -(_cell_shares(y, cell) * functional.log_softmax(scores, dim=1)).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        losses.append(total / batches)
        if log is not None:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]:.4f}")
    net.eval()
    facts = {
        **{k: v for k, v in asdict(config).items() if k != "workers"},
        "survey_doses": list(config.survey_doses),
        "scenes": sorted(set(families)),
        "n_examples": int(n),
        "n_without_features": int((~keep).sum()),
        "final_loss": losses[-1],
        "generate_seconds": round(generated, 1),
        "train_seconds": round(time.perf_counter() - started - generated, 1),
        "threads": torch.get_num_threads(),
    }
    return net, facts


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``stemscan train survey-saliency``'s options."""
    d = SaliencyTrainConfig()
    parser.add_argument("--scenes", default="all", help="comma-separated scene families, or 'all' (default)")
    parser.add_argument("--n-scenes", type=int_in(1, 100_000), default=d.n_scenes, help="scenes per family (default %(default)s)")
    parser.add_argument("--first-seed", type=seed, default=d.first_seed, help="seed of the first scene (default %(default)s)")
    parser.add_argument("--epochs", type=int_in(1, 10_000), default=d.epochs, help="training epochs (default %(default)s)")
    parser.add_argument("--channels", type=int_in(1, 256), default=d.channels, help="hidden channels (default %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=d.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--seed", type=seed, default=d.seed, help="training seed (default %(default)s)")
    parser.add_argument("--workers", type=int_in(1, 256), default=d.workers, help="processes generating scenes (default %(default)s)")
    parser.add_argument("--threads", type=int_in(1, 256), default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", default="survey_saliency.safetensors",
                        help="weights file (.safetensors; a .json is written beside it; default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """``stemscan train survey-saliency``: train and write the weights."""
    import torch

    from stemscan.agents.survey_saliency import save_survey_saliency
    from stemscan.agents.weights_file import check_weights_output

    out = check_weights_output(args.out)
    scenes = [] if args.scenes == "all" else [name.strip() for name in args.scenes.split(",") if name.strip()]
    config = SaliencyTrainConfig(scenes=scenes, n_scenes=args.n_scenes, first_seed=args.first_seed, epochs=args.epochs,
                                 channels=args.channels, lr=args.lr, seed=args.seed, workers=args.workers)
    config.check()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    net, facts = train_survey_saliency(config, progress=not args.no_progress, log=print)
    save_survey_saliency(net, out, metadata=facts)
    print(f"wrote {out} ({facts['n_examples']} surveys, final loss {facts['final_loss']:.4f}, "
          f"{facts['generate_seconds']} s generating, {facts['train_seconds']} s training)")
    return 0
