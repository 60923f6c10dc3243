"""The protocol every experiment follows, and the run-folder steps they share.

An experiment is one module of `odl_wasserstein.experiments` with

- ``Config``: its schema, an `odl_wasserstein.config.ExperimentConfig`
  subclass whose ``EXPERIMENT`` is the module's name;
- ``build(config)``: what a run needs (problem, networks, recipe, data);
- ``train(config, output_dir, resume=False, progress=True)``: one run on
  the shared `Trainer`, returning its `FitResult`;
- ``load_run(run_dir, checkpoint=None, device='cpu')``: the trained
  networks and configuration of a run folder;
- ``evaluate(runs, output_dir, n_samples=None, baselines=True)``: the
  paper's evaluation of trained runs, writing a figure and a metrics JSON
  and returning the report;
- ``report(report)``: that report as a text table.

`load_config` reads a configuration file and picks the schema by its
``experiment`` key; `load_run_config` does the same for a run folder, so
that ``odl-wasserstein train CONFIG`` and ``evaluate RUN...`` dispatch on
the experiment. `prepared_run` is the one place where a run folder is
checked, locked and given its configuration.
"""

import importlib
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from odl_wasserstein.config import plain, read_config_file
from odl_wasserstein.training import RunFolder, RunFolderError, Trainer
from odl_wasserstein.training import checkpoint as checkpoint_files

__all__ = ('EXPERIMENTS', 'experiment_module', 'load_config', 'load_run_config',
           'load_run_state', 'as_config', 'prepared_run', 'fit_run', 'train_run',
           'train_demo_runs', 'loaded_runs', 'fastmri_folder', 'TrainingInterrupted',
           'mean_std', 'write_json', 'seconds_per_step', 'resolve_output')

EXPERIMENTS = {
    'learned_ct': 'odl_wasserstein.experiments.learned_ct',
    'wwgan': 'odl_wasserstein.experiments.wwgan',
    'ot_cyclegan_mri': 'odl_wasserstein.experiments.ot_cyclegan_mri',
    'unpaired_mri': 'odl_wasserstein.experiments.unpaired_mri',
    'generative_priors': 'odl_wasserstein.experiments.generative_priors',
}
"""Experiment name -> module; the ``experiment`` key of a configuration names one."""

_DEFAULT_EXPERIMENT = 'learned_ct'  # files written before the key existed


def experiment_module(name):
    """The module of the experiment ``name`` (see `EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f'`experiment` must be one of {tuple(EXPERIMENTS)}, got {name!r}')
    return importlib.import_module(EXPERIMENTS[name])


def load_config(name_or_path, overrides=None):
    """Load a configuration of any experiment, validated by its schema.

    Parameters
    ----------
    name_or_path : str or path-like
        A shipped configuration (`odl_wasserstein.config.available_configs`)
        or a ``.toml`` file.
    overrides : dict, optional
        Nested values replacing the file's, validated the same way.

    Examples
    --------
    >>> config = load_config('ct_rings_wasserstein_512')
    >>> config.experiment, config.data.size, config.loss.name, config.train.steps
    ('learned_ct', 512, 'wasserstein_paper', 20001)
    """
    values, source = read_config_file(name_or_path, overrides)
    name = values.get('experiment', _DEFAULT_EXPERIMENT)
    try:
        module = experiment_module(name)
    except ValueError as error:
        raise ValueError(f'{source}: {error}') from None
    return module.Config.from_dict(dict(values, experiment=name), source)


def load_run_config(run_dir):
    """The configuration recorded in a run folder, and its experiment's module."""
    run = RunFolder(run_dir)
    values = run.read_config()
    if values is None:
        raise FileNotFoundError(f'{run_dir} has no {run.config_path.name}; is it a run folder '
                                'written by `odl-wasserstein train`?')
    module = experiment_module(values.get('experiment', _DEFAULT_EXPERIMENT))
    return module.Config.from_dict(values, str(run.config_path)), module


def load_run_state(run_dir, schema, checkpoint=None):
    """The configuration of a run of the experiment of ``schema`` and a checkpoint of it.

    Parameters
    ----------
    run_dir : str or path-like
    schema : type
        The experiment's ``Config``; a run of another experiment is refused.
    checkpoint : str or path-like, optional
        A checkpoint file; default the newest intact one of the run.

    Returns
    -------
    config : ``schema``
    state : dict
        The checkpoint (`odl_wasserstein.training.checkpoint.load_checkpoint`).
    """
    config, module = load_run_config(run_dir)
    if module.Config is not schema:
        raise ValueError(f'{run_dir} is a run of the experiment {config.experiment!r}, not '
                         f'{schema.EXPERIMENT!r}')
    return config, checkpoint_files.load_checkpoint(checkpoint or Path(run_dir) / 'checkpoints')


def as_config(config, schema):
    """``config`` if it is a ``schema``, else the configuration it names (a name or a path)."""
    if isinstance(config, schema):
        return config
    loaded = load_config(config)
    if not isinstance(loaded, schema):
        raise ValueError(f'{config} configures the experiment {loaded.experiment!r}, not '
                         f'{schema.EXPERIMENT!r}')
    return loaded


def fit_run(trainer, config, resume, may_differ=('train.steps',)):
    """Run ``trainer.fit`` in its output folder, checked, locked and recorded (`prepared_run`)."""
    with prepared_run(config, trainer.output_dir, resume, may_differ) as (_, start):
        return trainer.fit(resume=start or False)


def train_run(config, recipe, data, output_dir, resume=False, progress=True,
              validation=None, may_differ=('train.steps',), **trainer_options):
    """Train ``recipe`` on ``data`` with the settings of ``config.train``, in a prepared folder.

    The settings read are ``steps``, ``device``, ``seed``, ``log_every``,
    ``checkpoint_every``, ``validate_every`` (``validation`` is used only
    when it is set), ``figure_every`` (default ``validate_every``) and
    ``threads`` (if set); ``trainer_options`` go to the `Trainer` as they
    are. The folder is checked, locked and recorded by `fit_run`;
    ``may_differ`` are the keys a continued run may change (see
    `prepared_run`).

    Returns
    -------
    `odl_wasserstein.training.FitResult`
    """
    settings = config.train
    if getattr(settings, 'threads', None) is not None:
        torch.set_num_threads(settings.threads)
    every = settings.validate_every
    options = dict(figure_every=getattr(settings, 'figure_every', every), **trainer_options)
    trainer = Trainer(recipe, data, max_steps=settings.steps, output_dir=output_dir,
                      device=settings.device, seed=settings.seed,
                      log_every=settings.log_every, checkpoint_every=settings.checkpoint_every,
                      validation_data=None if every is None else validation,
                      validate_every=every, progress=progress, **options)
    return fit_run(trainer, config, resume, may_differ)


def train_demo_runs(module, configs, output_dir, folder, steps=None, progress=True,
                    resume='auto'):
    """Train the shipped configurations of a demo; ``label -> run folder``.

    Parameters
    ----------
    module : module
        The experiment (its ``train``).
    configs : sequence of (str, str)
        ``(label, shipped configuration name)``.
    output_dir : path-like
    folder : callable
        ``folder(label, config)``: the run's folder name inside
        ``output_dir``.
    steps : int, optional
        Overrides ``train.steps`` of every configuration.

    Raises
    ------
    TrainingInterrupted
        If a signal stopped a run; rerunning continues it.
    """
    overrides = {} if steps is None else {'train': {'steps': steps}}
    # Every configuration is checked before the first run starts.
    loaded = [(label, load_config(name, overrides)) for label, name in configs]
    runs = {}
    for label, config in loaded:
        run_dir = Path(output_dir) / folder(label, config)
        result = module.train(config, run_dir, resume=resume, progress=progress)
        if result.interrupted:
            raise TrainingInterrupted(result)
        runs[label] = run_dir
    return runs


def loaded_runs(runs, load_run, config=None, settings=lambda config: config.data):
    """Trained runs for an evaluation, and the configuration it uses.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` or ``label -> (network, config)``.
    load_run : callable
        The experiment's ``load_run``.
    config : ExperimentConfig, optional
        Default: the first run's.
    settings : callable, optional
        What every run must share with ``config`` (the data by default).

    Returns
    -------
    loaded : dict
        ``label -> (network, config)``.
    config : ExperimentConfig
    """
    loaded = {label: load_run(run) if isinstance(run, (str, Path)) else run
              for label, run in runs.items()}
    if config is None:
        if not loaded:
            raise ValueError('give `runs`, or `config` for the baselines alone')
        config = next(iter(loaded.values()))[1]
    for label, (_, run_config) in loaded.items():
        if settings(run_config) != settings(config):
            raise ValueError(f'run {label!r} was trained on other data '
                             f'({settings(run_config)}) than {settings(config)}')
    return loaded, config


def fastmri_folder(path):
    """``path`` as a folder of fastMRI ``.h5`` files (``data.path``), checked."""
    folder = Path(path)
    if not path or not folder.is_dir():
        raise ValueError(f'`data.path` must name a folder of fastMRI .h5 files (--set '
                         f'data.path="..."), got {path!r}')
    if not any(folder.glob('*.h5')):
        raise ValueError(f'`data.path` {path!r} holds no fastMRI .h5 files')
    return folder


@contextmanager
def prepared_run(config, output_dir, resume, may_differ=('train.steps',)):
    """Check a run folder, lock it and record the configuration, for a block.

    Every check runs before anything is written: the folder must be
    writable; ``resume`` must fit what it holds (no run, or a checkpoint
    to continue from; see `RunFolder.resume_point`); a run to continue
    must have been recorded with the same configuration (but for the keys
    in ``may_differ``). Then the folder is locked (one writer) and
    ``config.json`` written.

    Yields
    ------
    run : `RunFolder`
    start : pathlib.Path or None
        The checkpoint to continue from (pass it to ``Trainer.fit``), or
        None for a fresh run.
    """
    run = RunFolder(output_dir)
    run.check_writable()
    run.check_free()
    start = run.resume_point(resume)
    values = plain(config.to_dict())
    if start is not None:
        run.check_config(values, may_differ)
    with run.lock():
        if start is not None:
            run.check_config(values, may_differ)  # again, now that no one else writes
        elif checkpoint_files.list_checkpoints(run.checkpoint_dir):
            raise RunFolderError('{path} holds a run started meanwhile by another process; '
                                 'choose another {output}', path=run.path)
        run.record_config(values)
        yield run, start


class TrainingInterrupted(Exception):
    """A signal stopped a run of a multi-run job (a demo); its checkpoint is safe.

    Attributes
    ----------
    result : `odl_wasserstein.training.FitResult`
        The interrupted run.
    """

    def __init__(self, result):
        self.result = result
        super().__init__(f'{result.signal or "a signal"} stopped the run in {result.output_dir} '
                         f'at step {result.step}; its checkpoint is {result.checkpoint}')


def mean_std(values):
    """``{'mean', 'std'}`` of a tensor of per-sample values (std 0 for one sample).

    Examples
    --------
    >>> mean_std(torch.tensor([1.0, 3.0]))
    {'mean': 2.0, 'std': 1.4142135623730951}
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    return {'mean': float(values.mean()),
            'std': float(values.std()) if values.numel() > 1 else 0.0}


def write_json(path, values):
    """Write ``values`` as indented JSON, atomically."""
    text = json.dumps(values, indent=2)
    checkpoint_files.atomic_write(path, lambda file: file.write(text.encode()))


def seconds_per_step(run_dir):
    """Median seconds per training step of a run, from its log.

    Validation and figure steps are slower; the median of the time per
    step between log entries is the training step's.
    """
    entries = RunFolder(run_dir).read_log()
    if len(entries) < 2:
        return float('nan')
    steps = np.array([entry['step'] for entry in entries], dtype=float)
    times = np.array([entry['time'] for entry in entries], dtype=float)
    rates = np.diff(times) / np.diff(steps)
    return float(np.median(rates[rates > 0])) if np.any(rates > 0) else float('nan')


def resolve_output(output_dir):
    """``output_dir`` as a path, checked writable (for evaluation outputs)."""
    RunFolder(output_dir).check_writable()
    return Path(output_dir)
