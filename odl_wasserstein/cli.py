"""The ``odl-wasserstein`` command.

Subcommands:

- ``demo``: CT reconstruction of a phantom with the classical baselines
  (`odl_wasserstein.demo.ct_demo`); writes a figure and a metrics JSON.
"""

import argparse
import sys

__all__ = ('main',)


def _demo(args):
    from odl_wasserstein.demo import ct_demo

    metrics = ct_demo(args.output, size=args.size, num_angles=args.num_angles,
                      noise_level=args.noise_level, tv_alpha=args.tv_alpha,
                      tv_iterations=args.tv_iterations, seed=args.seed)
    print(f'{"method":<8}{"PSNR [dB]":>10}{"SSIM":>8}{"time [s]":>10}')
    for name, m in metrics['methods'].items():
        print(f'{name:<8}{m["psnr"]:>10.2f}{m["ssim"]:>8.3f}{m["seconds"]:>10.2f}')
    print(f'wrote {args.output}/ct_demo.png and {args.output}/metrics.json')
    return metrics


def build_parser():
    """Return the argument parser of the ``odl-wasserstein`` command."""
    parser = argparse.ArgumentParser(
        prog='odl-wasserstein',
        description='Optimal transport and adversarial learning for inverse '
                    'problems with ODL.')
    commands = parser.add_subparsers(dest='command', required=True)
    demo = commands.add_parser(
        'demo', help='reconstruct a CT phantom with FBP and TV; write a figure '
                     'and metrics')
    demo.add_argument('--output', default='results/demo',
                      help='output folder (default: %(default)s)')
    demo.add_argument('--size', type=int, default=128, help='image side in pixels')
    demo.add_argument('--num-angles', type=int, default=30, help='number of views')
    demo.add_argument('--noise-level', type=float, default=0.05,
                      help='noise std relative to mean |data|')
    demo.add_argument('--tv-alpha', type=float, default=3e-3,
                      help='TV regularisation weight')
    demo.add_argument('--tv-iterations', type=int, default=500,
                      help='PDHG iterations')
    demo.add_argument('--seed', type=int, default=0, help='noise seed')
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    """Run the ``odl-wasserstein`` command with ``argv`` (default: sys.argv).

    Examples
    --------
    >>> main(['--help'])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    SystemExit: 0
    """
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
