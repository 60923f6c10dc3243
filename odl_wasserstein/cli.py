"""The ``odl-wasserstein`` command.

Subcommands:

- ``demo``: the flagship demo (`odl_wasserstein.experiments.learned_ct.flagship_demo`):
  learned primal-dual trained with MSE and with the Wasserstein loss on
  misaligned rings at 128 x 128, evaluated against FBP and TV on held-out
  samples; writes a figure and a metrics JSON.
- ``train CONFIG``: train the network of a configuration (a shipped name or
  a TOML file), with ``--set section.key=value`` overrides and
  ``--resume``; under ``torchrun`` on several processes.
- ``evaluate RUN [RUN ...]``: evaluate trained runs and the baselines on
  held-out samples.
- ``configs``: list the shipped configurations.
- ``wwgan``: WGAN-GP against the Wasserstein-of-Wasserstein GAN on digits
  (`odl_wasserstein.experiments.wwgan.wwgan_demo`): same networks and
  budget, then the critics' continuity under translations, their response
  to salt-and-pepper noise, sample quality and time per step.
"""

import argparse
import ast
import sys
from pathlib import Path

__all__ = ('main', 'build_parser', 'parse_overrides')


def parse_overrides(items):
    """Turn ``['train.steps=10', 'data.size=64']`` into nested overrides.

    Values are read as Python literals (numbers, strings in quotes, lists,
    ``None``, ``True``) and otherwise kept as strings.

    Examples
    --------
    >>> parse_overrides(['train.steps=10', 'loss.name=mse', 'train.betas=[0.5, 0.9]'])
    {'train': {'steps': 10, 'betas': [0.5, 0.9]}, 'loss': {'name': 'mse'}}
    >>> parse_overrides(['steps=10'])
    Traceback (most recent call last):
        ...
    ValueError: --set expects section.key=value, e.g. train.steps=100, got 'steps=10'
    """
    overrides = {}
    for item in items or ():
        key, sep, raw = item.partition('=')
        section, dot, name = key.strip().partition('.')
        if not (sep and dot and section and name):
            raise ValueError(f'--set expects section.key=value, e.g. train.steps=100, '
                             f'got {item!r}')
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        overrides.setdefault(section, {})[name] = value
    return overrides


def _demo(args):
    from odl_wasserstein.experiments.learned_ct import flagship_demo, format_report

    report = flagship_demo(args.output, steps=args.steps, n_samples=args.samples,
                           progress=not args.quiet,
                           resume=False if args.restart else 'auto')
    print(format_report(report))
    print(f'wrote {args.output}/reconstructions.png and {args.output}/metrics.json')
    return report


def _train(args):
    from odl_wasserstein.config import load_config
    from odl_wasserstein.experiments.learned_ct import train

    config = load_config(args.config, parse_overrides(args.set))
    output = Path(args.output or Path('results') / config.name)
    result = train(config, output, resume=args.resume, progress=not args.quiet)
    state = 'interrupted at' if result.interrupted else 'finished at'
    print(f'{config.name}: {state} step {result.step}; checkpoint {result.checkpoint}')
    return result


def _evaluate(args):
    from odl_wasserstein.experiments.learned_ct import evaluate, format_report

    runs = {}
    for run in args.runs:
        label, sep, folder = run.partition('=')
        label, folder = (label, folder) if sep else (Path(run).name, run)
        runs[label] = Path(folder)
    report = evaluate(runs, args.output, n_samples=args.samples,
                      baselines=not args.no_baselines)
    print(format_report(report))
    print(f'wrote {args.output}/reconstructions.png and {args.output}/metrics.json')
    return report


def _wwgan(args):
    from odl_wasserstein.experiments.wwgan import format_gan_report, wwgan_demo

    settings = {key: value for key, value in (('filters', args.filters),
                                              ('size', args.size)) if value is not None}
    report = wwgan_demo(args.output, steps=args.steps, progress=not args.quiet,
                        resume=False if args.restart else 'auto', **settings)
    print(format_gan_report(report))
    print(f'wrote {args.output}/wwgan_critics.png and {args.output}/wwgan_metrics.json')
    return report


def _configs(args):
    from odl_wasserstein.config import available_configs

    for name in available_configs():
        print(name)


def build_parser():
    """Return the argument parser of the ``odl-wasserstein`` command."""
    parser = argparse.ArgumentParser(
        prog='odl-wasserstein',
        description='Optimal transport and adversarial learning for inverse '
                    'problems with ODL.')
    commands = parser.add_subparsers(dest='command', required=True)

    demo = commands.add_parser(
        'demo', help='train learned primal-dual with MSE and Wasserstein loss on '
                     'misaligned rings (128 x 128, CPU) and compare with FBP and TV')
    demo.add_argument('--output', default='results/demo',
                      help='output folder (default: %(default)s)')
    demo.add_argument('--steps', type=int, default=None,
                      help='training steps per model (default: the configurations\')')
    demo.add_argument('--samples', type=int, default=None,
                      help='held-out samples (default: the configurations\')')
    demo.add_argument('--restart', action='store_true',
                      help='start the runs afresh instead of continuing those in --output')
    demo.add_argument('--quiet', action='store_true', help='no progress bars')
    demo.set_defaults(run=_demo)

    train = commands.add_parser(
        'train', help='train the network of a configuration',
        description='Train the network of a configuration. Under torchrun, e.g. '
                    '`torchrun --nproc_per_node 4 -m odl_wasserstein.cli train ...`, '
                    'each process trains on its share of every step.')
    train.add_argument('config', help='a shipped configuration (see `odl-wasserstein '
                                      'configs`) or a .toml file')
    train.add_argument('--set', action='append', metavar='SECTION.KEY=VALUE',
                       help='override a setting, e.g. --set train.steps=100 (repeatable)')
    train.add_argument('--output', default=None,
                       help='run folder (default: results/<config name>)')
    train.add_argument('--resume', action='store_true',
                       help='continue the run in --output from its last checkpoint')
    train.add_argument('--quiet', action='store_true', help='no progress bar')
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        'evaluate', help='evaluate trained runs and the baselines on held-out samples')
    evaluate.add_argument('runs', nargs='+', metavar='[LABEL=]RUN',
                          help='run folders written by `train` (label: folder name)')
    evaluate.add_argument('--output', default='results/evaluation',
                          help='output folder (default: %(default)s)')
    evaluate.add_argument('--samples', type=int, default=None,
                          help='held-out samples (default: the configuration\'s)')
    evaluate.add_argument('--no-baselines', action='store_true',
                          help='skip FBP and TV')
    evaluate.set_defaults(run=_evaluate)

    gan = commands.add_parser(
        'wwgan', help='train WGAN-GP and WWGAN on digits with the same budget and compare '
                      'their critics (Dukler et al. 2019)')
    gan.add_argument('--output', default='results/wwgan',
                     help='output folder (default: %(default)s)')
    gan.add_argument('--steps', type=int, default=None,
                     help='generator updates per run (default: 2000)')
    gan.add_argument('--size', type=int, default=None, help='image side (default: 32)')
    gan.add_argument('--filters', type=int, default=None,
                     help='width of the generator and critic (default: 32)')
    gan.add_argument('--restart', action='store_true',
                     help='start the runs afresh instead of continuing those in --output')
    gan.add_argument('--quiet', action='store_true', help='no progress bars')
    gan.set_defaults(run=_wwgan)

    configs = commands.add_parser('configs', help='list the shipped configurations')
    configs.set_defaults(run=_configs)
    return parser


def main(argv=None):
    """Run the ``odl-wasserstein`` command with ``argv`` (default: sys.argv).

    Examples
    --------
    >>> main(['configs'])  # doctest: +ELLIPSIS
    ct_ellipses_lpd_128
    ct_rings_mse_128
    ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        parser.exit(2, f'odl-wasserstein {args.command}: error: {error}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
