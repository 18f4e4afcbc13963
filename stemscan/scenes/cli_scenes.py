"""``stemscan scenes``: list the families, draw a gallery, or simulate a scene by multislice.

    stemscan scenes                                  # list families
    stemscan scenes --gallery gallery.png            # one sample of each
    stemscan scenes simulate -o graphene.h5 --material graphene --size 256 --seed 0
"""

from __future__ import annotations

import argparse

from stemscan.cli_types import float_in, int_in, positive_float, seed

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery", metavar="PNG", help="write a picture with a sample of every family")
    parser.add_argument("--seed", type=seed, default=0, help="scene seed (default 0)")
    parser.add_argument("--size", type=int_in(32, 4096), default=256, help="image side in pixels, 32-4096 (default 256)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    simulate = actions.add_parser(
        "simulate", help="simulate a defective 2-D material with abTEM into a scene file (needs stemscan[physics])",
        description="Build a monolayer with point defects (ASE), simulate its HAADF image by multislice "
                    "(abTEM PRISM) and write a stemscan scene file (.h5) with exact labels.",
    )
    simulate.add_argument("-o", "--output", required=True, help="scene file to write (.h5)")
    simulate.add_argument("--material", choices=("graphene", "mos2"), default="graphene")
    simulate.add_argument("--size", type=int_in(16, 4096), default=256, dest="sim_size", help="field side, pixels (256)")
    simulate.add_argument("--seed", type=seed, default=0, dest="sim_seed", help="defect placement seed (0)")
    simulate.add_argument("--pixel-size", type=positive_float, default=0.2, help="Å per pixel (0.2)")
    simulate.add_argument("--vacancy-fraction", type=float_in(0.0, 1.0), default=0.004, help="vacancies per eligible column")
    simulate.add_argument("--dopant-fraction", type=float_in(0.0, 1.0), default=0.004, help="dopants per eligible column")
    simulate.add_argument("--dopant-z", type=int_in(1, 92), default=None, help="dopant atomic number (Si / W)")
    simulate.add_argument("--voltage-kv", type=positive_float, default=None, help="kV (60 graphene, 80 MoS2)")
    simulate.add_argument("--convergence-mrad", type=positive_float, default=30.0)
    simulate.add_argument("--detector", type=positive_float, nargs=2, default=(80.0, 200.0), metavar=("INNER", "OUTER"),
                          help="annular detector, mrad (80 200)")
    simulate.add_argument("--interpolation", type=int_in(1, 64), default=4, help="PRISM interpolation (4; 1 = exact)")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from stemscan import scenes

    if getattr(args, "action", None) == "simulate":
        from stemscan.atomic import check_output_file
        from stemscan.scenes.scene_file import save_scene
        from stemscan.scenes.simulate import simulate_scene

        check_output_file(args.output, "--output")  # before the (long) simulation

        scene = simulate_scene(
            material=args.material, size=args.sim_size, seed=args.sim_seed, pixel_size=args.pixel_size,
            vacancy_fraction=args.vacancy_fraction, dopant_fraction=args.dopant_fraction, dopant_z=args.dopant_z,
            voltage_kv=args.voltage_kv, convergence_mrad=args.convergence_mrad,
            detector_inner_mrad=args.detector[0], detector_outer_mrad=args.detector[1],
            interpolation=args.interpolation, progress=not args.no_progress,
        )
        save_scene(scene, args.output)
        kinds = scene.feature_kinds()
        print(f"wrote {args.output}: {scene.shape[0]}x{scene.shape[1]} px at {scene.pixel_size} Å/px, "
              f"mean scattered fraction {float(scene.image.mean()):.3g}, {kinds.count('vacancy')} vacancies, "
              f"{kinds.count('dopant')} dopants, simulated in {scene.params['simulation_seconds']} s")
        return 0
    if args.gallery:
        from stemscan.atomic import check_output_file
        from stemscan.scenes.gallery import save_gallery

        check_output_file(args.gallery, "--gallery")
        save_gallery(args.gallery, seed=args.seed, size=args.size)
        print(f"wrote {args.gallery}")
        return 0
    for name in scenes.names():
        print(name)
    return 0
