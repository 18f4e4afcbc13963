"""Train the DCNN atom/defect segmenter (``stemscan train dcnn``).

Training images are generated on the fly: scenes of the atomically resolved
families (``lattice-defects`` graphene and MoS2, ``ferroelectric-domains``)
at random pixel sizes, probe sizes and defect densities, measured by the
env's microscope model at random doses (Poisson shot noise), randomly
cropped, flipped and rotated by multiples of 90°, then normalised with
:func:`~stemscan.agents.dcnn.normalise_image` exactly as at inference.  The
target is a per-pixel class map (:data:`~stemscan.agents.dcnn.CLASS_NAMES`)
painted from the scene's ground truth (:func:`~stemscan.agents.train.dcnn_data.class_map`).

All randomness flows from ``--seed``: a ``numpy`` generator for the data and
a ``torch.Generator`` for the weight initialisation, on one CPU thread, so
the documented command reproduces the shipped weights::

    stemscan train dcnn --seed 0 --steps 1500 -o stemscan/agents/weights/dcnn.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from stemscan.agents.dcnn import CLASS_NAMES, DEFECT_CLASSES, normalise_image
from stemscan.agents.train.dcnn_data import atom_radius, class_map, measure, random_scene
from stemscan.atomic import write_bytes_atomic
from stemscan.cli_types import int_in, seed
from stemscan.scenes import Scene
from stemscan.scenes import make as make_scene
from stemscan.validation import check_int, check_number, check_positive

__all__ = ["TrainConfig", "configure", "evaluate_scene", "make_batch", "run", "segmentation_loss", "train_dcnn"]



@dataclass
class TrainConfig:
    """Options of one training run (recorded beside the weights).

    Attributes:
        seed: Seed of the data generator and of the weight initialisation.
        steps: Optimiser steps per ensemble member.
        batch_size: Crops per step.
        crop: Side of a training crop, pixels (a multiple of 8).
        scene_size: Side of the generated scenes crops are cut from, pixels.
        crops_per_scene: Crops cut from each generated scene.
        learning_rate: Adam step size.
        base_channels: U-Net width at full resolution.
        levels: U-Net down-samplings.
        ensemble: Number of members (each trained from ``seed + member``), averaged at inference.
        dose_range: Imaging dose range, e⁻/pixel (sampled log-uniformly).
        class_weights: Cross-entropy weight of each class (defects are rare).
        defect_crop_fraction: Fraction of crops centred (with jitter) on a
            random feature of the scene, so rare defects are seen often.
        patch_crop: Side of the crops of every other step, pixels (a
            multiple of 8; 0: never).  The env's default sub-scan is 32×32,
            so half the steps train at exactly that size (with
            ``2 * batch_size`` crops), where zero padding reaches most pixels.
        dice_weight: Weight of a soft Dice loss over the rare defect classes
            (dopant, vacancy, extended-defect), added to the weighted cross
            entropy; it rewards overlap of whole defect regions, which the
            pixel-wise loss undervalues when a class covers < 1% of pixels.
    """

    seed: int = 0
    steps: int = 1500
    batch_size: int = 16
    crop: int = 64
    scene_size: int = 128
    crops_per_scene: int = 8
    learning_rate: float = 2e-3
    base_channels: int = 16
    levels: int = 3
    ensemble: int = 1
    dose_range: tuple[float, float] = (100.0, 5000.0)
    class_weights: tuple[float, ...] = field(default=(1.0, 1.0, 8.0, 8.0, 3.0))
    defect_crop_fraction: float = 0.5
    patch_crop: int = 32
    dice_weight: float = 1.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        for name in ("steps", "batch_size", "crop", "scene_size", "crops_per_scene", "base_channels", "ensemble"):
            check_int(name, getattr(self, name), 1)  # steps >= 1: zero steps would write untrained weights
        if self.crop % 2**self.levels:
            raise ValueError(f"crop must be a multiple of {2**self.levels} pixels, got {self.crop}")
        if isinstance(self.patch_crop, bool) or not isinstance(self.patch_crop, int) or self.patch_crop < 0 \
                or self.patch_crop % 2**self.levels or self.patch_crop > self.scene_size:
            raise ValueError(
                f"patch_crop must be 0 or a multiple of {2**self.levels} pixels up to scene_size, got {self.patch_crop!r}"
            )
        check_number("dice_weight", self.dice_weight, 0.0)
        if self.crop > self.scene_size:
            raise ValueError(f"crop {self.crop} is larger than scene_size {self.scene_size}")
        check_positive("learning_rate", self.learning_rate)
        low, high = self.dose_range
        if not 0 < low <= high:
            raise ValueError(f"dose_range must be (low, high) with 0 < low <= high e⁻/pixel, got {self.dose_range}")
        check_number("defect_crop_fraction", self.defect_crop_fraction, 0.0, 1.0)
        if len(self.class_weights) != len(CLASS_NAMES) or min(self.class_weights) <= 0:
            raise ValueError(f"class_weights must be {len(CLASS_NAMES)} positive numbers, got {self.class_weights}")


# ------------------------------------------------------------------ targets


# --------------------------------------------------------------------- data


def make_batch(
    config: TrainConfig, rng: np.random.Generator, crop: int | None = None, batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One training batch: ``float32`` (B, 1, crop, crop) inputs and ``int64`` (B, crop, crop) targets.

    ``crop`` and ``batch_size`` default to the config's.
    """
    crop = config.crop if crop is None else int(crop)
    batch_size = config.batch_size if batch_size is None else int(batch_size)
    inputs = np.empty((batch_size, 1, crop, crop), dtype=np.float32)
    targets = np.empty((batch_size, crop, crop), dtype=np.int64)
    low, high = np.log(config.dose_range[0]), np.log(config.dose_range[1])
    for index in range(batch_size):
        if index % config.crops_per_scene == 0:
            scene = random_scene(rng, config.scene_size)
            image = measure(scene, float(np.exp(rng.uniform(low, high))), rng)
            target = class_map(scene)
            centroids = np.array([f.centroid for f in scene.features], dtype=np.float64).reshape(-1, 2)
        top = config.scene_size - crop
        if len(centroids) and rng.random() < config.defect_crop_fraction:
            centre = centroids[rng.integers(len(centroids))] + rng.uniform(-crop / 4, crop / 4, 2)
            r0, c0 = np.clip(np.rint(centre - crop / 2).astype(np.int64), 0, top)
        else:
            r0, c0 = rng.integers(0, top + 1, size=2)
        crop_image = image[r0 : r0 + crop, c0 : c0 + crop]
        crop_target = target[r0 : r0 + crop, c0 : c0 + crop]
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        crop_image, crop_target = np.rot90(crop_image, turns), np.rot90(crop_target, turns)
        if flip:
            crop_image, crop_target = crop_image[:, ::-1], crop_target[:, ::-1]
        inputs[index, 0] = normalise_image(np.ascontiguousarray(crop_image))
        targets[index] = crop_target
    return inputs, targets


# ----------------------------------------------------------------- training
def segmentation_loss(logits: Any, targets: Any, class_weights: Any, dice_weight: float) -> Any:
    """Class-weighted cross entropy plus ``dice_weight`` × soft Dice loss of the rare defect classes.

    Args:
        logits: ``(B, C, H, W)`` network output.
        targets: ``(B, H, W)`` class indices.
        class_weights: ``(C,)`` cross-entropy weights.
        dice_weight: Weight of the Dice term (0: cross entropy only).

    Returns:
        Scalar loss tensor.
    """
    import torch

    loss = torch.nn.functional.cross_entropy(logits, targets, weight=class_weights)
    if dice_weight > 0:
        probs = torch.softmax(logits, dim=1)
        terms = []
        for index in (CLASS_NAMES.index(name) for name in DEFECT_CLASSES):
            truth = (targets == index).to(probs.dtype)
            p = probs[:, index]
            overlap = (p * truth).sum()
            terms.append(1.0 - (2.0 * overlap + 1.0) / (p.sum() + truth.sum() + 1.0))
        loss = loss + dice_weight * torch.stack(terms).mean()
    return loss


def _initialise(model: Any, generator: Any) -> None:
    """Kaiming-uniform weights and zero biases drawn from ``generator`` (no global RNG)."""
    import torch

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_uniform_(module.weight, nonlinearity="relu", generator=generator)
            torch.nn.init.zeros_(module.bias)


def train_dcnn(
    config: TrainConfig | None = None,
    log: Callable[[str], None] | None = None,
    log_every: int = 100,
) -> tuple[Any, list[float]]:
    """Train the segmenter (an ensemble of ``config.ensemble`` U-Nets).

    Args:
        config: Options; defaults reproduce the shipped weights.
        log: Called with a progress line every ``log_every`` steps (e.g. ``print``).
        log_every: Steps between progress lines.

    Returns:
        ``(finder, losses)``: an :class:`~stemscan.agents.dcnn.AtomFinder` on
        the CPU with the training config in its metadata, and the training
        loss of every step (all members, in order).
    """
    import torch

    from stemscan.agents.dcnn import AtomFinder
    from stemscan.agents.nets.unet import UNet

    config = config or TrainConfig()
    config.validate()
    weights = torch.tensor(config.class_weights, dtype=torch.float32)
    models, losses = [], []
    start = time.perf_counter()
    for member in range(config.ensemble):
        member_seed = config.seed + member
        generator = torch.Generator().manual_seed(member_seed)
        rng = np.random.default_rng(member_seed)
        model = UNet(n_classes=len(CLASS_NAMES), base_channels=config.base_channels, levels=config.levels)
        _initialise(model, generator)
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(config.steps, 1))
        model.train()
        for step in range(config.steps):
            if config.patch_crop and step % 2 == 1:
                inputs, targets = make_batch(config, rng, config.patch_crop, 2 * config.batch_size)
            else:
                inputs, targets = make_batch(config, rng)
            logits = model(torch.from_numpy(inputs))
            loss = segmentation_loss(logits, torch.from_numpy(targets), weights, config.dice_weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if log is not None and (step + 1) % log_every == 0:
                recent = float(np.mean(losses[-log_every:]))
                log(f"member {member} step {step + 1}/{config.steps} loss {recent:.4f} ({time.perf_counter() - start:.0f} s)")
        model.eval()
        models.append(model)
    metadata = {"train_config": _jsonable(asdict(config)), "command": command_line(config)}
    return AtomFinder(models, CLASS_NAMES, device="cpu", metadata=metadata), losses


def command_line(config: TrainConfig) -> str:
    """The ``stemscan train dcnn`` command that reproduces ``config``."""
    return (
        f"stemscan train dcnn --seed {config.seed} --steps {config.steps} --batch-size {config.batch_size} "
        f"--ensemble {config.ensemble}"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``stemscan train dcnn``."""
    defaults = TrainConfig()
    parser.add_argument("--seed", type=seed, default=defaults.seed, help="seed of data and initialisation (default: %(default)s)")
    parser.add_argument("--steps", type=int_in(1, 10_000_000), default=defaults.steps,
                        help="optimiser steps per member, >= 1 (default: %(default)s)")
    parser.add_argument("--batch-size", type=int_in(1, 4096), default=defaults.batch_size, help="crops per step (default: %(default)s)")
    parser.add_argument("--ensemble", type=int_in(1, 64), default=defaults.ensemble, help="ensemble members, averaged (default: %(default)s)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=1,
                        help="torch CPU threads; 1 reproduces the shipped weights (default: %(default)s)")
    parser.add_argument("-o", "--out", type=Path, default=Path("dcnn.safetensors"),
                        help="weights file to write (.safetensors); a .json with the config is written beside it (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Train, then write the weights (safetensors) and ``<out>.json`` atomically."""
    import hashlib

    import torch

    from stemscan.agents.weights_file import check_weights_output

    check_weights_output(args.out, "--out")  # before training, not after
    torch.set_num_threads(args.threads)
    config = TrainConfig(seed=args.seed, steps=args.steps, batch_size=args.batch_size, ensemble=args.ensemble)
    config.validate()
    start = time.perf_counter()
    finder, losses = train_dcnn(config, log=print)
    seconds = time.perf_counter() - start
    out = finder.save(args.out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    record = {
        "command": command_line(config),
        "train_config": _jsonable(asdict(config)),
        "class_names": list(CLASS_NAMES),
        "sha256": digest,
        "final_loss_mean_last_100": float(np.mean(losses[-100:])) if losses else None,
        "train_seconds": round(seconds, 1),
        "torch_threads": args.threads,
        "torch_version": torch.__version__,
        "reference_prediction": reference_prediction(finder),
    }
    write_bytes_atomic(out.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())
    print(f"wrote {out} (sha256 {digest[:16]}..., {out.stat().st_size / 1e6:.2f} MB) in {seconds:.0f} s")
    return 0


# --------------------------------------------------------------- evaluation
def reference_prediction(finder: Any) -> dict[str, Any]:
    """A prediction recorded beside the weights, so a test can check they load and predict the same.

    The fixed input: ``lattice-defects`` seed 11, 64 px, measured at
    500 e⁻/px with ``numpy.random.default_rng(0)``.  Records the mean
    probability of each class on every 8th pixel and the first five atoms
    found.
    """
    scene = make_scene("lattice-defects", seed=11, size=64)
    image = measure(scene, 500.0, np.random.default_rng(0))
    probs = finder.probabilities(image)
    return {
        "input": "lattice-defects seed 11, 64 px, 500 e/px, noise default_rng(0)",
        "class_means": [float(v) for v in probs[:, ::8, ::8].mean(axis=(1, 2))],
        "first_atoms": finder.find(image)[:5].tolist(),
    }


def evaluate_scene(finder: Any, scene: Scene, electrons_per_pixel: float, rng: np.random.Generator,
                   border: float = 3.0) -> dict[str, float]:
    """Atom-finding precision/recall and defect recall of ``finder`` on one noisy measurement of ``scene``.

    Atoms match within 0.3 × the median nearest-neighbour distance; points
    within ``border`` pixels of the image edge are not scored.  A vacancy or
    dopant counts as recalled when a region of its class lies within 1.5 ×
    the atom radius of its true position.

    Returns:
        ``atom_precision``, ``atom_recall``, ``n_atoms`` and, for each of
        ``vacancy`` / ``dopant`` present, ``<kind>_recall`` and ``n_<kind>``.
    """
    from stemscan.agents.features.lattice import match_points

    image = measure(scene, electrons_per_pixel, rng)
    height, width = scene.shape

    def inner(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        keep = ((points[:, 0] >= border) & (points[:, 0] <= height - 1 - border)
                & (points[:, 1] >= border) & (points[:, 1] <= width - 1 - border))
        return points[keep]

    radius = atom_radius(scene)
    truth = inner(scene.atoms)
    found = inner(finder.find(image))
    _, precision, recall = match_points(found, truth, radius)
    result = {"atom_precision": precision, "atom_recall": recall, "n_atoms": float(len(truth))}
    for kind in ("vacancy", "dopant"):
        centres = inner(np.array([f.centroid for f in scene.features if f.kind == kind]))
        if len(centres):
            _, _, kind_recall = match_points(inner(finder.find_class(image, kind)), centres, 1.5 * radius)
            result[f"{kind}_recall"] = kind_recall
            result[f"n_{kind}"] = float(len(centres))
    return result
