"""The ``odl-wasserstein`` command.

Subcommands:

- ``demo``: the flagship demo (`odl_wasserstein.experiments.learned_ct.demo`):
  learned primal-dual trained with MSE and with the Wasserstein loss on
  misaligned rings at 128 x 128, evaluated against FBP and TV on held-out
  samples; writes a figure and a metrics JSON.
- ``train CONFIG``: one run of any experiment's configuration (a shipped
  name or a TOML file; the file's ``experiment`` picks the experiment),
  with ``--set section.key=value`` overrides and ``--resume [STEP|PATH]``;
  under ``torchrun`` on several processes.
- ``evaluate RUN [RUN ...]``: the evaluation of the runs' experiment
  (learned CT: against FBP and TV; WGANs: the critic experiments).
- ``configs``: list the shipped configurations.
- ``wwgan``: WGAN-GP against the Wasserstein-of-Wasserstein GAN on digits
  (`odl_wasserstein.experiments.wwgan.demo`): the shipped configurations
  ``wwgan_digits_wgan_gp`` and ``wwgan_digits_wwgan`` trained, then
  evaluated.
- ``mri``: accelerated MRI with the OT-cycleGAN against supervised and
  conventional cycleGAN training (`odl_wasserstein.experiments.ot_cyclegan_mri.demo`):
  ``mri_ot_cyclegan_64``, ``mri_supervised_64`` and ``mri_cyclegan_64``
  trained, then evaluated against the zero-filled input and CS-TV.
- ``priors``: generative priors (`odl_wasserstein.experiments.generative_priors.demo`):
  ``priors_shapes_ae``, ``priors_shapes_vae``, ``priors_shapes_gan`` and
  ``priors_digits_vae`` trained, then every latent-search form evaluated
  for the paper's forward operators against Tikhonov and TV, and the
  compressed-sensing curve against the Lasso.
- ``unpaired-mri``: multi-coil MRI with an unrolled data-consistent
  generator trained by the unpaired WGAN, by L1 and by both
  (`odl_wasserstein.experiments.unpaired_mri.demo`):
  ``mri_unpaired_wgan_64``, ``mri_paired_l1_64`` and ``mri_hybrid_64``
  trained, then evaluated against the zero-filled input and CS.

Every user error (a bad option or configuration value, an unusable output
folder, a run folder in use, a damaged checkpoint, a non-finite loss, not
enough memory, a full disk) ends the command with one line on stderr and
exit status 2; ``--traceback`` shows the Python traceback instead. A run
stopped by Ctrl-C or SIGTERM saves a checkpoint, says how to continue and
exits with 130 or 143.
"""

import argparse
import ast
import shlex
import sys
import warnings
from pathlib import Path

import torch

__all__ = ('main', 'build_parser', 'parse_overrides', 'CLI_WORDS')

CLI_WORDS = {'resume': '--resume', 'output': '--output'}
"""How the command names the choices an error message may suggest."""

USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError, MemoryError,
               torch.OutOfMemoryError)


def parse_overrides(items):
    """Turn ``['train.steps=10', 'data.size=64']`` into nested overrides.

    Values are read as Python literals (numbers, strings in quotes, lists,
    ``None``, ``True``) and otherwise kept as strings; the configuration's
    schema then checks them. ``name=...`` sets the top-level name.

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
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = raw.strip()
        if sep and section == 'name' and not dot:
            overrides['name'] = value
            continue
        if not (sep and dot and section and name):
            raise ValueError(f'--set expects section.key=value, e.g. train.steps=100, '
                             f'got {item!r}')
        overrides.setdefault(section, {})[name] = value
    return overrides


def _resume_argument(text):
    """``--resume``'s value: a step number or a checkpoint path."""
    return int(text) if text.isdigit() else Path(text)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text!r}')
    return value


def _interrupted(result, command, again):
    from odl_wasserstein.training import exit_status

    name = result.signal or 'SIGINT'
    print(f'odl-wasserstein {command}: stopped by {name} at step {result.step} of '
          f'{result.output_dir}; checkpoint {result.checkpoint}; continue with: {again}',
          file=sys.stderr, flush=True)
    return exit_status(name)


def _run_demo(args, module, outputs, **options):
    """Run ``module.demo`` into ``args.output`` and print its report."""
    from odl_wasserstein.experiments import TrainingInterrupted

    try:
        result = module.demo(args.output, steps=args.steps, progress=not args.quiet, **options)
    except TrainingInterrupted as stop:
        again = f'odl-wasserstein {args.command} --output {shlex.quote(str(args.output))}'
        return _interrupted(stop.result, args.command, again)
    print(module.report(result))
    print('wrote ' + ' and '.join(f'{args.output}/{name}' for name in outputs))
    return 0


def _demo(args):
    from odl_wasserstein.experiments import learned_ct

    return _run_demo(args, learned_ct, ('reconstructions.png', 'metrics.json'),
                     n_samples=args.samples)


def _mri(args):
    from odl_wasserstein.experiments import ot_cyclegan_mri

    return _run_demo(args, ot_cyclegan_mri, ('reconstructions.png', 'metrics.json'),
                     n_samples=args.samples)


def _unpaired_mri(args):
    from odl_wasserstein.experiments import unpaired_mri

    return _run_demo(args, unpaired_mri, ('reconstructions.png', 'metrics.json'),
                     n_samples=args.samples)


def _priors(args):
    from odl_wasserstein.experiments import generative_priors

    return _run_demo(args, generative_priors, ('shapes/priors_reconstructions.png',
                                               'digits/csgm.png', 'priors_metrics.json'),
                     n_samples=args.samples)


def _train(args):
    from odl_wasserstein.experiments import experiment_module, load_config

    config = load_config(args.config, parse_overrides(args.set))
    output = Path(args.output or Path('results') / config.name)
    result = experiment_module(config.experiment).train(
        config, output, resume=args.resume, progress=not args.quiet)
    if result.interrupted:
        sets = ''.join(f' --set {shlex.quote(item)}' for item in args.set or ())
        again = (f'odl-wasserstein train {shlex.quote(str(args.config))}{sets} '
                 f'--output {shlex.quote(str(output))} --resume')
        return _interrupted(result, 'train', again)
    print(f'{config.name}: finished at step {result.step}; checkpoint {result.checkpoint}')
    return 0


def _evaluate(args):
    from odl_wasserstein.experiments import load_run_config

    runs, modules = {}, set()
    for run in args.runs:
        label, sep, folder = run.partition('=')
        label, folder = (label, folder) if sep else (Path(run).name, run)
        if label in runs:
            raise ValueError(f'two runs have the label {label!r}; name them LABEL=RUN')
        config, module = load_run_config(folder)
        runs[label] = Path(folder)
        modules.add(module)
    if len(modules) > 1:
        raise ValueError('the runs belong to different experiments; evaluate them apart')
    module = modules.pop()
    result = module.evaluate(runs, args.output, n_samples=args.samples,
                             baselines=not args.no_baselines)
    print(module.report(result))
    print(f'wrote the figure and the metrics JSON in {args.output}')
    return 0


def _wwgan(args):
    from odl_wasserstein.experiments import wwgan

    overrides = {}
    if args.size is not None:
        overrides['data'] = {'size': args.size}
    if args.filters is not None:
        overrides['model'] = {'filters': args.filters}
    return _run_demo(args, wwgan, ('wwgan_critics.png', 'wwgan_metrics.json'), **overrides)


def _configs(args):
    from odl_wasserstein.config import available_configs

    for name in available_configs():
        print(name)
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def _add_demo(commands):
    demo = commands.add_parser(
        'demo', help='train learned primal-dual with MSE and Wasserstein loss on '
                     'misaligned rings (128 x 128, CPU) and compare with FBP and TV',
        description='The flagship demo. Runs found in --output are continued (an '
                    'interrupted demo resumes where it stopped); for a fresh start, '
                    'choose another --output.')
    demo.add_argument('--output', default='results/demo',
                      help='output folder (default: %(default)s)')
    demo.add_argument('--steps', type=_positive_int, default=None,
                      help='training steps per model (default: the configurations\')')
    demo.add_argument('--samples', type=_positive_int, default=None,
                      help='held-out samples (default: the configurations\')')
    demo.add_argument('--quiet', action='store_true', help='no progress bars')
    demo.set_defaults(run=_demo)


def _add_train(commands):
    train = commands.add_parser(
        'train', help='train one run of a configuration',
        description='Train one run of a configuration. Under torchrun, e.g. '
                    '`torchrun --nproc_per_node 4 -m odl_wasserstein.cli train ...`, '
                    'each process trains on its share of every step.')
    train.add_argument('config', help='a shipped configuration (see `odl-wasserstein '
                                      'configs`) or a .toml file')
    train.add_argument('--set', action='append', metavar='SECTION.KEY=VALUE',
                       help='override a setting, e.g. --set train.steps=100 (repeatable)')
    train.add_argument('--output', default=None,
                       help='run folder (default: results/<config name>)')
    train.add_argument('--resume', nargs='?', const=True, default=False,
                       type=_resume_argument, metavar='STEP|PATH',
                       help='continue the run in --output: from its newest intact '
                            'checkpoint, from the checkpoint of STEP, or from the '
                            'checkpoint file PATH')
    train.add_argument('--quiet', action='store_true', help='no progress bar')
    train.set_defaults(run=_train)


def _add_evaluate(commands):
    evaluate = commands.add_parser(
        'evaluate', help='evaluate trained runs (and the baselines) on held-out samples')
    evaluate.add_argument('runs', nargs='+', metavar='[LABEL=]RUN',
                          help='run folders written by `train` (label: folder name)')
    evaluate.add_argument('--output', default='results/evaluation',
                          help='output folder (default: %(default)s)')
    evaluate.add_argument('--samples', type=_positive_int, default=None,
                          help='held-out samples (default: the configuration\'s)')
    evaluate.add_argument('--no-baselines', action='store_true',
                          help='skip the baselines (FBP and TV; the train-vs-test '
                               'reference for GANs)')
    evaluate.set_defaults(run=_evaluate)


def _add_wwgan(commands):
    gan = commands.add_parser(
        'wwgan', help='train WGAN-GP and WWGAN on digits with the same budget and compare '
                      'their critics (Dukler et al. 2019)')
    gan.add_argument('--output', default='results/wwgan',
                     help='output folder (default: %(default)s)')
    gan.add_argument('--steps', type=_positive_int, default=None,
                     help='generator updates per run (default: 2000)')
    gan.add_argument('--size', type=_positive_int, default=None,
                     help='image side (default: 32)')
    gan.add_argument('--filters', type=_positive_int, default=None,
                     help='width of the generator and critic (default: 32)')
    gan.add_argument('--quiet', action='store_true', help='no progress bars')
    gan.set_defaults(run=_wwgan)


def _add_paper_demo(commands, name, run, output, help, description):
    """A subcommand that trains a paper's shipped CPU runs and evaluates them."""
    command = commands.add_parser(name, help=help, description=description)
    command.add_argument('--output', default=output,
                         help='output folder (default: %(default)s)')
    command.add_argument('--steps', type=_positive_int, default=None,
                         help='training steps per run (default: the configurations\')')
    command.add_argument('--samples', type=_positive_int, default=None,
                         help='held-out slices (default: the configurations\')')
    command.add_argument('--quiet', action='store_true', help='no progress bars')
    command.set_defaults(run=run)


def _add_mri(commands):
    _add_paper_demo(
        commands, 'mri', _mri, 'results/mri',
        help='train the OT-cycleGAN, a supervised U-Net and the conventional '
             'cycleGAN on simulated accelerated MRI (64 x 64, R = 4, CPU) and compare '
             'with the zero-filled input and CS-TV (Sim et al.)',
        description='The shipped configurations mri_ot_cyclegan_64, mri_supervised_64 and '
                    'mri_cyclegan_64 trained, then evaluated on held-out subjects. Runs '
                    'found in --output are continued.')


def _add_unpaired_mri(commands):
    _add_paper_demo(
        commands, 'unpaired-mri', _unpaired_mri, 'results/unpaired_mri',
        help='train an unrolled data-consistent generator on simulated 8-coil MRI '
             '(R = 10, CPU) with the unpaired WGAN, L1 and WGAN + L1, and compare with the '
             'zero-filled input and CS (Lei et al.)',
        description='The shipped configurations mri_unpaired_wgan_64, mri_paired_l1_64 and '
                    'mri_hybrid_64 trained, then evaluated on held-out subjects. Runs found '
                    'in --output are continued.')


def _add_priors(commands):
    _add_paper_demo(
        commands, 'priors', _priors, 'results/priors',
        help='train an AE, a VAE and a GAN on shapes and a VAE on digits, and reconstruct '
             'by latent search (hard, sparse, soft) for six forward operators against '
             'Tikhonov and TV, and compressed sensing against the Lasso (Duff et al., '
             'Bora et al.)',
        description='The shipped configurations priors_shapes_ae, priors_shapes_vae, '
                    'priors_shapes_gan and priors_digits_vae trained, then evaluated on '
                    'held-out images. Runs found in --output are continued.')


def build_parser():
    """Return the argument parser of the ``odl-wasserstein`` command."""
    parser = _Parser(prog='odl-wasserstein',
                     description='Optimal transport and adversarial learning for inverse '
                                 'problems with ODL.')
    parser.add_argument('--traceback', action='store_true',
                        help='show the Python traceback of an error instead of one line')
    commands = parser.add_subparsers(dest='command', required=True)
    _add_demo(commands)
    _add_train(commands)
    _add_evaluate(commands)
    _add_wwgan(commands)
    _add_mri(commands)
    _add_unpaired_mri(commands)
    _add_priors(commands)
    commands.add_parser('configs', help='list the shipped configurations').set_defaults(
        run=_configs)
    return parser


def _one_line(error):
    from odl_wasserstein.training import WordedError

    text = error.in_words(CLI_WORDS) if isinstance(error, WordedError) else str(error)
    text = ' '.join(text.split()) or type(error).__name__
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        text = f'out of memory ({text}); reduce the image size, batch size or network'
    return text


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f'odl-wasserstein: warning: {" ".join(str(message).split())}', file=sys.stderr)


def main(argv=None):
    """Run the ``odl-wasserstein`` command with ``argv`` (default: sys.argv).

    Returns the exit status: 0, or 130 / 143 for a run stopped by Ctrl-C /
    SIGTERM (after its checkpoint). User errors exit with status 2 and
    one line on stderr.

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
    command = f'odl-wasserstein {args.command}'
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except KeyboardInterrupt:
            if args.traceback:
                raise
            parser.exit(130, f'{command}: interrupted\n')
        except USER_ERRORS as error:
            if args.traceback:
                raise
            parser.exit(2, f'{command}: error: {_one_line(error)}\n')


if __name__ == '__main__':
    sys.exit(main())
