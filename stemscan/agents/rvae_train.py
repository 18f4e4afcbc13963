"""Pre-train the rotationally invariant VAE on atom windows from the synthetic scenes.

``stemscan train rvae [--scenes A,B] [--out PATH] ...`` measures scenes with
the env's shot-noise model, cuts atom-centred windows as the ``rvae-bo``
agent does (rotated at random so the latents learn rotation invariance),
trains with the ELBO on one CPU thread and writes ``PATH`` (safetensors)
plus ``PATH`` with suffix ``.json`` (config and training facts), atomically.
The default output replaces the shipped weights of the chosen centring
(``rvae.safetensors`` for peak-centred windows, ``rvae_lattice.safetensors``
for lattice-centred ones).  The shipped lattice weights were made with::

    stemscan train rvae --scenes ferroelectric-domains --n-scenes 6 --patches 1000 --window 10 \
        --latent-dim 1 --angle-prior 3.14159 --standardise --centring lattice --lattice-px 26.333 \
        --no-translation --epochs 30
"""

from __future__ import annotations

import argparse
import time

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the trainer's arguments (no heavy imports here: ``stemscan --help`` stays instant)."""
    parser.add_argument("--scenes", default="all", help="comma-separated scene families, or 'all' (default)")
    parser.add_argument("--n-scenes", type=int, default=3, help="scenes per family (default 3)")
    parser.add_argument("--patches", type=int, default=160, help="random patches per scene (default 160)")
    parser.add_argument("--window", type=int, default=16, help="window side, pixels (default 16)")
    parser.add_argument("--latent-dim", type=int, default=2, help="number of structural latents z (default 2)")
    parser.add_argument("--rotate-deg", type=float, default=45.0, help="random rotation of windows, ± degrees (default 45)")
    parser.add_argument("--centring", default="peak", choices=("peak", "lattice"),
                        help="windows on atom peaks (default) or on the ideal cell-centre sites of the bright sublattice")
    parser.add_argument("--lattice-px", type=float, default=None,
                        help="bright sublattice's cell side in pixels (needed for --centring lattice)")
    parser.add_argument("--no-translation", action="store_true",
                        help="switch the translation latent off (pyroVED coord=1); use with --centring lattice")
    parser.add_argument("--angle-prior", type=float, default=None,
                        help="standard deviation of the angle prior, radians (default pi/4)")
    parser.add_argument("--standardise", action="store_true",
                        help="standardise each window (zero mean, fixed spread) before encoding and as the target")
    parser.add_argument("--epochs", type=int, default=12, help="passes over the windows (default 12)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per gradient step (default 64)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of scenes, noise, initialisation and batches (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", default=None, help="output .safetensors path (default: the shipped weights)")


def run(args: argparse.Namespace) -> int:
    """Build the window set, train, save; prints progress and the wall time."""
    import torch

    from stemscan import __version__
    from stemscan.agents.nets.rvae import RVAEConfig
    from stemscan.agents.rvae import pretrained_path, save_rvae
    from stemscan.agents.train.rvae_data import windows_from_scenes
    from stemscan.agents.train.rvae_loss import train_rvae
    from stemscan.scenes import names as scene_names

    for name in ("n_scenes", "patches", "epochs", "batch_size", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    families = scene_names() if args.scenes == "all" else [s.strip() for s in args.scenes.split(",") if s.strip()]
    torch.set_num_threads(int(args.threads))
    start = time.perf_counter()
    windows = windows_from_scenes(
        families, n_scenes=args.n_scenes, patches_per_scene=args.patches, window=args.window,
        rotate_deg=args.rotate_deg, seed=args.seed, centring=args.centring, lattice_px=args.lattice_px,
    )
    print(f"{len(windows)} windows of {args.window}×{args.window} px from {', '.join(families)} "
          f"({time.perf_counter() - start:.1f} s)")
    priors = {} if args.angle_prior is None else {"angle_prior": float(args.angle_prior)}
    config = RVAEConfig(window=args.window, latent_dim=args.latent_dim, translation=not args.no_translation,
                        standardise=bool(args.standardise), **priors)
    train_start = time.perf_counter()
    result = train_rvae(
        windows, config=config, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        progress=lambda epoch, loss: print(f"epoch {epoch + 1:3d}/{args.epochs}  -ELBO/window {loss:10.2f}", flush=True),
    )
    train_s = time.perf_counter() - train_start
    out = args.out if args.out is not None else str(pretrained_path(args.centring))
    metadata = {
        "stemscan_version": __version__, "scenes": families, "n_scenes": args.n_scenes, "patches": args.patches,
        "rotate_deg": args.rotate_deg, "centring": args.centring, "lattice_px": args.lattice_px, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "seed": args.seed, "n_windows": int(len(windows)), "final_loss": result.losses[-1],
        "train_seconds": round(train_s, 1), "threads": args.threads,
    }
    path = save_rvae(result.model, out, metadata)
    print(f"trained in {train_s:.1f} s on {args.threads} thread(s); wrote {path} and {path.with_suffix('.json')}")
    return 0
