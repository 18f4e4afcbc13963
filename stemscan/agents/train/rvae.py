"""Pre-train the rotationally invariant VAE on atom windows from the synthetic scenes (``stemscan train rvae``).

:class:`RVAETrainConfig` holds the options, :func:`pretrain_rvae` measures
scenes with the env's shot-noise model, cuts atom-centred windows as the
``rvae-bo`` agent does (rotated at random so the latents learn rotation
invariance) and trains with the ELBO (:func:`~stemscan.agents.train.rvae_loss.train_rvae`);
``configure`` / ``run`` are the command.  ``run`` writes ``--out``
(safetensors, default ``rvae.safetensors`` in the working directory, never
the installed package) plus the same path with suffix ``.json`` (config and
training facts), atomically.  The shipped lattice weights were made with::

    stemscan train rvae --scenes ferroelectric-domains --n-scenes 6 --patches 1000 --window 10 \
        --latent-dim 1 --angle-prior 3.14159 --standardise --centring lattice --lattice-px 26.333 \
        --no-translation --epochs 30 --out stemscan/agents/weights/rvae_lattice.safetensors
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from stemscan.cli_types import float_in, int_in, positive_float, seed
from stemscan.validation import check_int, check_number

if TYPE_CHECKING:
    from stemscan.agents.nets.rvae import RVAE

__all__ = ["RVAETrainConfig", "configure", "pretrain_rvae", "run"]


@dataclass
class RVAETrainConfig:
    """Options of rVAE pre-training (the defaults reproduce ``rvae.safetensors``)."""

    scenes: list[str] = field(default_factory=list)
    """Scene families to cut windows from; empty = every family."""
    n_scenes: int = 3
    """Scenes per family."""
    patches: int = 160
    """Random patches per scene."""
    window: int = 16
    """Window side, pixels."""
    latent_dim: int = 2
    """Number of structural latents z."""
    rotate_deg: float = 45.0
    """Random rotation of windows, ± degrees (peak centring only)."""
    centring: str = "peak"
    """``"peak"`` (windows on atom peaks) or ``"lattice"`` (on ideal B sites)."""
    lattice_px: float | None = None
    """Bright sublattice's cell side, pixels (needed for lattice centring)."""
    translation: bool = True
    """Keep the translation latent (off with lattice centring)."""
    angle_prior: float | None = None
    """Standard deviation of the angle prior, radians (``None``: the model's default, π/4)."""
    standardise: bool = False
    """Standardise each window before encoding and as the reconstruction target."""
    epochs: int = 12
    """Passes over the windows."""
    batch_size: int = 64
    """Windows per gradient step."""
    lr: float = 3e-3
    """Adam learning rate."""
    seed: int = 0
    """Seed of scenes, noise, initialisation and batches."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        for name in ("n_scenes", "patches", "epochs", "batch_size", "window", "latent_dim"):
            check_int(name, getattr(self, name), 1)
        check_number("rotate_deg", self.rotate_deg, 0.0, 180.0)
        check_number("lr", self.lr, 0.0, low_open=True)
        if self.lattice_px is not None:
            check_number("lattice_px", self.lattice_px, 0.0, low_open=True)
        if self.angle_prior is not None:
            check_number("angle_prior", self.angle_prior, 0.0, low_open=True)


def pretrain_rvae(config: RVAETrainConfig, log: Callable[[str], None] | None = None) -> tuple[RVAE, dict[str, Any]]:
    """Build the window set and train on it.

    Args:
        config: The options.
        log: Called with progress lines (e.g. ``print``).

    Returns:
        ``(model, metadata)``: the trained model in eval mode, and the facts
        stored beside its weights (options, window count, final loss).
    """
    from stemscan import __version__
    from stemscan.agents.nets.rvae import RVAEConfig
    from stemscan.agents.train.rvae_data import windows_from_scenes
    from stemscan.agents.train.rvae_loss import train_rvae
    from stemscan.scenes import names as scene_names

    config.validate()
    families = list(config.scenes) or scene_names()
    start = time.perf_counter()
    windows = windows_from_scenes(
        families, n_scenes=config.n_scenes, patches_per_scene=config.patches, window=config.window,
        rotate_deg=config.rotate_deg, seed=config.seed, centring=config.centring, lattice_px=config.lattice_px,
    )
    if log is not None:
        log(f"{len(windows)} windows of {config.window}×{config.window} px from {', '.join(families)} "
            f"({time.perf_counter() - start:.1f} s)")
    priors = {} if config.angle_prior is None else {"angle_prior": float(config.angle_prior)}
    model_config = RVAEConfig(window=config.window, latent_dim=config.latent_dim, translation=config.translation,
                              standardise=config.standardise, **priors)

    def progress(epoch: int, loss: float) -> None:
        if log is not None:
            log(f"epoch {epoch + 1:3d}/{config.epochs}  -ELBO/window {loss:10.2f}")

    train_start = time.perf_counter()
    result = train_rvae(windows, config=model_config, epochs=config.epochs, batch_size=config.batch_size,
                        lr=config.lr, seed=config.seed, progress=progress)
    metadata = {
        **asdict(config), "scenes": families, "stemscan_version": __version__, "n_windows": int(len(windows)),
        "final_loss": result.losses[-1], "train_seconds": round(time.perf_counter() - train_start, 1),
    }
    return result.model, metadata


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the trainer's arguments (no heavy imports here: ``stemscan --help`` stays instant)."""
    d = RVAETrainConfig()
    parser.add_argument("--scenes", default="all", help="comma-separated scene families, or 'all' (default)")
    parser.add_argument("--n-scenes", type=int_in(1, 10_000), default=d.n_scenes, help="scenes per family (default %(default)s)")
    parser.add_argument("--patches", type=int_in(1, 1_000_000), default=d.patches, help="random patches per scene (default %(default)s)")
    parser.add_argument("--window", type=int_in(4, 256), default=d.window, help="window side, pixels (default %(default)s)")
    parser.add_argument("--latent-dim", type=int_in(1, 64), default=d.latent_dim, help="number of structural latents z (default %(default)s)")
    parser.add_argument("--rotate-deg", type=float_in(0.0, 180.0), default=d.rotate_deg,
                        help="random rotation of windows, ± degrees, 0-180 (default %(default)s)")
    parser.add_argument("--centring", default=d.centring, choices=("peak", "lattice"),
                        help="windows on atom peaks (default) or on the ideal cell-centre sites of the bright sublattice")
    parser.add_argument("--lattice-px", type=float_in(2.0, 1000.0), default=None,
                        help="bright sublattice's cell side in pixels (needed for --centring lattice)")
    parser.add_argument("--no-translation", action="store_true",
                        help="switch the translation latent off (pyroVED coord=1); use with --centring lattice")
    parser.add_argument("--angle-prior", type=positive_float, default=None,
                        help="standard deviation of the angle prior, radians (default pi/4)")
    parser.add_argument("--standardise", action="store_true",
                        help="standardise each window (zero mean, fixed spread) before encoding and as the target")
    parser.add_argument("--epochs", type=int_in(1, 100_000), default=d.epochs, help="passes over the windows (default %(default)s)")
    parser.add_argument("--batch-size", type=int_in(1, 1_000_000), default=d.batch_size, help="windows per gradient step (default %(default)s)")
    parser.add_argument("--lr", type=float_in(0.0, 10.0, low_open=True), default=d.lr, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--seed", type=seed, default=d.seed, help="seed of scenes, noise, initialisation and batches (default %(default)s)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=1, help="torch CPU threads (default 1)")
    parser.add_argument("-o", "--out", default="rvae.safetensors",
                        help="output .safetensors path; a .json is written beside it (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Build the window set, train, save; prints progress and the wall time."""
    import torch

    from stemscan.agents.rvae import save_rvae
    from stemscan.agents.weights_file import check_weights_output

    check_int("--threads", args.threads, 1)
    check_weights_output(args.out, "--out")  # before training, not after
    config = RVAETrainConfig(
        scenes=[] if args.scenes == "all" else [s.strip() for s in args.scenes.split(",") if s.strip()],
        n_scenes=args.n_scenes, patches=args.patches, window=args.window, latent_dim=args.latent_dim,
        rotate_deg=args.rotate_deg, centring=args.centring, lattice_px=args.lattice_px,
        translation=not args.no_translation, angle_prior=args.angle_prior, standardise=bool(args.standardise),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
    )
    config.validate()
    torch.set_num_threads(int(args.threads))
    model, metadata = pretrain_rvae(config, log=lambda line: print(line, flush=True))
    path = save_rvae(model, args.out, {**metadata, "threads": args.threads})
    print(f"trained in {metadata['train_seconds']:.1f} s on {args.threads} thread(s); wrote {path} and {path.with_suffix('.json')}")
    return 0
