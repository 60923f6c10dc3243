"""Experiment configurations as TOML files, validated against dataclasses.

A configuration has the sections ``[data]``, ``[model]``, ``[loss]``,
``[train]`` and ``[evaluate]`` (see the dataclasses below for every key
and its default). Unknown sections or keys are rejected with the list of
valid ones, so a typo never silently falls back to a default. The
configurations of the papers ship with the package
(`available_configs`, `load_config('ct_rings_wasserstein_512')`); files
are loaded by path.
"""

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from odl_wasserstein.util import check_int

__all__ = (
    'DataConfig', 'ModelConfig', 'LossConfig', 'TrainConfig', 'EvaluateConfig',
    'ExperimentConfig', 'load_config', 'available_configs', 'config_from_dict',
)


@dataclass
class DataConfig:
    """Phantoms, geometry and noise.

    Attributes
    ----------
    phantom : {'rings', 'ellipses'}
        Misaligned rings (Wasserstein-loss paper) or random ellipses
        (learned primal-dual paper).
    size : int
        Image side in pixels (unit pixels, centred).
    num_angles : int
        Parallel-beam views on ``[0, pi)``.
    noise_level : float
        Noise std relative to the mean absolute data.
    n_rings : int
        Rings per phantom.
    max_shift : int or None
        Per-ring shift range in pixels; None scales 40 px at 512 with size.
    mean_ellipses : int
        Poisson mean of the ellipse count.
    batch_size : int
    seed : int
        Seed of the training data; validation and test data use other seeds.
    """

    phantom: str = 'rings'
    size: int = 128
    num_angles: int = 30
    noise_level: float = 0.05
    n_rings: int = 2
    max_shift: int | None = None
    mean_ellipses: int = 50
    batch_size: int = 1
    seed: int = 0

    def check(self):
        _one_of('data.phantom', self.phantom, ('rings', 'ellipses'))
        _positive('data.size', self.size, minimum=8)
        _positive('data.num_angles', self.num_angles)
        _positive('data.batch_size', self.batch_size)
        _positive('data.n_rings', self.n_rings)
        if not self.noise_level >= 0:
            raise ValueError(f'data.noise_level must be >= 0, got {self.noise_level}')


@dataclass
class ModelConfig:
    """Learned primal-dual network (`odl_wasserstein.nn.LearnedPrimalDual`)."""

    n_iter: int = 10
    n_primal: int = 5
    n_dual: int = 5
    filters: int = 32

    def check(self):
        for name in ('n_iter', 'n_dual', 'filters'):
            _positive(f'model.{name}', getattr(self, name))
        _positive('model.n_primal', self.n_primal, minimum=2)


@dataclass
class LossConfig:
    """Training loss.

    Attributes
    ----------
    name : {'mse', 'wasserstein_paper', 'wasserstein'}
        ``'mse'``; ``'wasserstein_paper'``: the authors' recipe
        (`WassersteinLoss.paper`); ``'wasserstein'``: the debiased
        divergence with the saturating cost of scale ``cost_scale``.
    eps : float
        Entropic regularisation (``'wasserstein'``), on the unit-max cost.
    cost_scale : float
        Scale of the saturating cost in normalised ``[-1, 1]`` units (0.3 is
        the authors' cut-off).
    mass_penalty : float
        Weight of the squared mean difference (``'wasserstein'``).
    """

    name: str = 'mse'
    eps: float = 0.05
    cost_scale: float = 0.3
    mass_penalty: float = 100.0

    def check(self):
        _one_of('loss.name', self.name, ('mse', 'wasserstein_paper', 'wasserstein'))
        if not self.eps > 0 or not self.cost_scale > 0 or self.mass_penalty < 0:
            raise ValueError('loss.eps and loss.cost_scale must be positive, '
                             'loss.mass_penalty non-negative')


@dataclass
class TrainConfig:
    """Optimisation (`odl_wasserstein.training.Trainer`)."""

    steps: int = 1000
    lr: float = 1e-3
    betas: tuple = (0.9, 0.99)
    clip_grad_norm: float | None = 1.0
    schedule: str = 'cosine'
    checkpoint_every: int = 1000
    log_every: int = 10
    validate_every: int | None = None
    figure_every: int | None = None
    device: str = 'auto'
    num_workers: int = 0
    seed: int = 0
    threads: int | None = None

    def check(self):
        _positive('train.steps', self.steps)
        _positive('train.checkpoint_every', self.checkpoint_every)
        _positive('train.log_every', self.log_every)
        if not self.lr > 0:
            raise ValueError(f'train.lr must be positive, got {self.lr}')
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f'train.betas must be two numbers in [0, 1), got {self.betas}')
        _one_of('train.schedule', self.schedule, ('cosine', 'constant'))
        self.betas = tuple(self.betas)


@dataclass
class EvaluateConfig:
    """Held-out evaluation and baselines."""

    n_samples: int = 8
    seed: int = 12345
    tv_alpha: float = 3e-3
    tv_iterations: int = 300
    fbp_filter: str = 'Hann'

    def check(self):
        _positive('evaluate.n_samples', self.n_samples)
        _positive('evaluate.tv_iterations', self.tv_iterations)


@dataclass
class ExperimentConfig:
    """A whole experiment: one section per stage."""

    name: str = 'experiment'
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def check(self):
        for section in (self.data, self.model, self.loss, self.train, self.evaluate):
            section.check()
        return self

    def to_dict(self):
        """Plain nested dict (for logs and checkpoints)."""
        return dataclasses.asdict(self)


def _positive(name, value, minimum=1):
    check_int(value, name, minimum=minimum)


def _one_of(name, value, choices):
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')


_SECTIONS = {'data': DataConfig, 'model': ModelConfig, 'loss': LossConfig,
             'train': TrainConfig, 'evaluate': EvaluateConfig}


def config_from_dict(values, source='configuration'):
    """Build and check an `ExperimentConfig` from a nested dict.

    Raises
    ------
    ValueError
        For unknown sections or keys (naming the valid ones) and invalid
        values.

    Examples
    --------
    >>> config = config_from_dict({'name': 'tiny', 'data': {'size': 32}})
    >>> config.data.size, config.model.n_iter
    (32, 10)
    >>> config_from_dict({'data': {'sise': 32}})
    Traceback (most recent call last):
        ...
    ValueError: configuration: unknown key 'sise' in [data]; valid keys: batch_size, max_shift, mean_ellipses, n_rings, noise_level, num_angles, phantom, seed, size
    """
    values = dict(values)
    unknown = set(values) - set(_SECTIONS) - {'name'}
    if unknown:
        raise ValueError(
            f'{source}: unknown section(s) {sorted(unknown)}; valid: name, '
            f'{", ".join(sorted(_SECTIONS))}')
    sections = {}
    for section, cls in _SECTIONS.items():
        given = values.get(section, {})
        if not isinstance(given, dict):
            raise ValueError(f'{source}: [{section}] must be a table, got {given!r}')
        valid = {f.name for f in dataclasses.fields(cls)}
        for key in given:
            if key not in valid:
                raise ValueError(
                    f'{source}: unknown key {key!r} in [{section}]; valid keys: '
                    f'{", ".join(sorted(valid))}')
        sections[section] = cls(**given)
    return ExperimentConfig(name=str(values.get('name', 'experiment')), **sections).check()


def available_configs():
    """Names of the configurations shipped with the package.

    Examples
    --------
    >>> 'ct_rings_wasserstein_512' in available_configs()
    True
    """
    folder = resources.files('odl_wasserstein') / 'configs'
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith('.toml'))


def load_config(name_or_path, overrides=None):
    """Load a shipped configuration by name, or a TOML file by path.

    Parameters
    ----------
    name_or_path : str or `pathlib.Path`
        A name from `available_configs` or a path to a ``.toml`` file.
    overrides : dict, optional
        Nested values replacing those of the file (e.g. from the command
        line), validated the same way.

    Examples
    --------
    >>> config = load_config('ct_rings_wasserstein_512')
    >>> config.data.size, config.loss.name, config.train.steps
    (512, 'wasserstein_paper', 20001)
    """
    path = Path(name_or_path)
    if path.suffix != '.toml':
        shipped = resources.files('odl_wasserstein') / 'configs' / f'{name_or_path}.toml'
        if not shipped.is_file():
            raise FileNotFoundError(
                f'no configuration {name_or_path!r}: give a .toml path or one of '
                f'{", ".join(available_configs())}')
        text, source = shipped.read_text(), f'{name_or_path}.toml'
    else:
        if not path.is_file():
            raise FileNotFoundError(f'configuration file {path} does not exist')
        text, source = path.read_text(), str(path)
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f'{source}: invalid TOML: {error}') from None
    for section, entries in (overrides or {}).items():
        if isinstance(entries, dict):
            values.setdefault(section, {}).update(entries)
        else:
            values[section] = entries
    return config_from_dict(values, source)
