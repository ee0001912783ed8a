"""The command line of the demos: ``python -m hessianfree.demos NAME``."""

import argparse
import inspect

from hessianfree.demos._registry import DEMOS, run_demo
from hessianfree.run.training import resume_hint


def _summary(func):
    """The first paragraph of ``func``'s docstring, on one line."""
    paragraph = (inspect.getdoc(func) or "").partition("\n\n")[0]
    return " ".join(paragraph.split())


def _taking(parameter):
    """The demos that take ``parameter``, as ``"a, b"``."""
    return ", ".join(name for name, func in DEMOS.items()
                     if parameter in inspect.signature(func).parameters)


def main(argv=None):
    """Command line: ``python -m hessianfree.demos NAME [--no-plots]
    [--no-curves] [--resume] [--seed N] [--data DATA [--allow-pickle]]``, or
    ``--list``."""
    parser = argparse.ArgumentParser(
        prog="python -m hessianfree.demos",
        description="Run one of the hessianfree demos.")
    parser.add_argument("name", nargs="?",
                        help=f"demo to run: {', '.join(DEMOS)}")
    parser.add_argument("--no-plots", action="store_true",
                        help="do not draw figures (for headless runs)")
    parser.add_argument("--no-curves", action="store_true",
                        help="do not record the training curves (nor write the "
                             "model, weights and checkpoint files)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint an earlier, interrupted "
                             "run of the demo wrote (NAME_checkpoint.npz; give the "
                             "same --seed)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the demo's random numbers (the same seed "
                             "gives the same run)")
    parser.add_argument("--list", action="store_true",
                        help="list the demos and exit")
    parser.add_argument("--data", default=None,
                        help="data set of the mnist and autoencoder demos: "
                             "'fashion-mnist', 'embedded', 'mnist' (files in the "
                             "current directory) or a path (default: the embedded "
                             "digits for mnist; Fashion-MNIST if installed for "
                             "autoencoder)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="let --data read a pickled MNIST (mnist.pkl[.gz]); "
                             "unpickling a crafted file runs code, so only for "
                             "files you trust")
    args = parser.parse_args(argv)
    if args.list:
        for name, func in DEMOS.items():
            print(f"{name:14s} {_summary(func)}")
        return 0
    if args.name is None:
        parser.error(f"give a demo name: {', '.join(DEMOS)}")
    if args.name not in DEMOS:
        parser.error(f"unknown demo {args.name!r}; available demos: "
                     f"{', '.join(DEMOS)}")
    parameters = inspect.signature(DEMOS[args.name]).parameters
    kwargs = {} if args.data is None else {"data": args.data}
    for flag, key in ((args.allow_pickle, "allow_pickle"), (args.resume, "resume")):
        if flag:
            kwargs[key] = True
    if args.resume and args.no_curves:
        parser.error("--resume continues from the checkpoint that --no-curves turns off")
    for option, key in (("--data", "data"), ("--allow-pickle", "allow_pickle"),
                        ("--resume", "resume")):
        if key in kwargs and key not in parameters:
            parser.error(f"{option} is for the {_taking(key)} demos, not {args.name!r}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.seed is not None and not {"rng", "seed", "model_args"} & set(parameters):
        parser.error(f"the {args.name} demo takes no --seed")
    with resume_hint("--resume"):  # what the run's messages tell the user to pass
        run_demo(args.name, plots=not args.no_plots, curves=not args.no_curves,
                 seed=args.seed, **kwargs)
    return 0

