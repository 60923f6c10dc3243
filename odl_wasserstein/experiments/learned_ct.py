"""Learned primal-dual CT trained with an MSE or a Wasserstein loss.

The experiment of Adler et al., "Learning to solve inverse problems using
Wasserstein loss" (2017), section 4 (Figures 2 and 3), and the original
learned primal-dual setting of Adler & Öktem (2018), on the protocol of
`odl_wasserstein.experiments.protocol`:

- `Config`: the schema of its TOML files (``[data]``, ``[model]``,
  ``[loss]``, ``[train]``, ``[evaluate]``);
- `build_problem`: image space, normalised ray transform and the on-the-fly
  training data (misaligned rings or random ellipses);
- `build_model`, `build_loss`, `build`: `LearnedPrimalDual`, the training
  loss (MSE, the authors' Wasserstein loss, or the debiased Sinkhorn
  divergence) and the recipe;
- `train`: one run on the shared `odl_wasserstein.training.Trainer`, with
  the configuration recorded in the run folder so that `load_run` can
  rebuild the trained network;
- `evaluate`: trained networks against FBP (Hann) and TV (PDHG) on
  held-out samples, with PSNR, SSIM and two shape-sensitive measures (the
  sliced Wasserstein distance to the target in pixels and the peak intensity
  relative to the target), a figure like the paper's Figure 3 and a
  metrics JSON; `report` formats it;
- `demo`: both losses trained at reduced size on a CPU, then evaluated:
  the main job of the package (``odl-wasserstein demo``).

For the rings, the target of every training sample is the unshifted
phantom while the data come from the same rings each shifted by a random
offset, so no network can know where the rings truly are. The paper's
claim is that MSE training then smears the rings over the possible
positions, while Wasserstein training keeps them sharp at a plausible
position. Metrics are reported against the target and against the shifted
phantom that generated the data.
"""

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from odl_wasserstein.baselines import tv_reconstruction
from odl_wasserstein.config import ExperimentConfig, Section
from odl_wasserstein.data import EllipsesDataset, RingsDataset, shepp_logan, validation_set
from odl_wasserstein.data.noise import add_gaussian_noise
from odl_wasserstein.experiments.protocol import (
    as_config, load_run_state, mean_std, train_demo_runs, train_run,
    resolve_output, write_json)
from odl_wasserstein.methods import ReconstructionRecipe
from odl_wasserstein.metrics import peak_intensity, psnr, sliced_transport_distance, ssim
from odl_wasserstein.nn import LearnedPrimalDual
from odl_wasserstein.operators import fbp_operator, ray_transform, reconstruction_space
from odl_wasserstein.plotting import new_figure, show_image
from odl_wasserstein.training import SCHEDULES, check_device, require_memory
from odl_wasserstein.transport import SaturatingCost, WassersteinLoss
from odl_wasserstein.util import (
    check_betas, check_choice, check_int, check_positive, check_real, to_tensor)

__all__ = ('Config', 'DataConfig', 'ModelConfig', 'LossConfig', 'TrainConfig',
           'EvaluateConfig', 'Problem', 'build_problem', 'build_model', 'build_loss', 'build',
           'train', 'load_run', 'test_samples', 'evaluate', 'report', 'demo')

FBP_FILTERS = ('Ram-Lak', 'Shepp-Logan', 'Cosine', 'Hamming', 'Hann')


@dataclass
class DataConfig(Section):
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

    def validate(self, prefix):
        check_choice(self.phantom, f'{prefix}.phantom', ('rings', 'ellipses'))
        check_int(self.size, f'{prefix}.size', minimum=8)
        for key in ('num_angles', 'batch_size', 'n_rings'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        check_int(self.max_shift, f'{prefix}.max_shift', allow_none=True)
        check_int(self.mean_ellipses, f'{prefix}.mean_ellipses')
        check_int(self.seed, f'{prefix}.seed')
        check_real(self.noise_level, f'{prefix}.noise_level', minimum=0)


@dataclass
class ModelConfig(Section):
    """Learned primal-dual network (`odl_wasserstein.nn.LearnedPrimalDual`)."""

    n_iter: int = 10
    n_primal: int = 5
    n_dual: int = 5
    filters: int = 32

    def validate(self, prefix):
        for key in ('n_iter', 'n_dual', 'filters'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        check_int(self.n_primal, f'{prefix}.n_primal', minimum=2)


@dataclass
class LossConfig(Section):
    """Training loss.

    Attributes
    ----------
    name : {'mse', 'wasserstein_paper', 'wasserstein'}
        ``'mse'``; ``'wasserstein_paper'``: the recipe of Adler et al.'s
        code (`WassersteinLoss.adler2017`); ``'wasserstein'``: the
        debiased divergence with the saturating cost of scale
        ``cost_scale``.
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

    def validate(self, prefix):
        check_choice(self.name, f'{prefix}.name', ('mse', 'wasserstein_paper', 'wasserstein'))
        check_positive(self.eps, f'{prefix}.eps')
        check_positive(self.cost_scale, f'{prefix}.cost_scale')
        check_real(self.mass_penalty, f'{prefix}.mass_penalty', minimum=0)


@dataclass
class TrainConfig(Section):
    """Optimisation (`odl_wasserstein.training.Trainer`).

    ``schedule`` is ``'cosine'``, ``'constant'`` or ``'linear'`` (decay to
    0 from step ``decay_start``); ``threads`` sets torch's intra-op threads
    (None: torch's default).
    """

    steps: int = 1000
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    clip_grad_norm: float | None = 1.0
    schedule: str = 'cosine'
    decay_start: int = 0
    checkpoint_every: int = 1000
    log_every: int = 10
    validate_every: int | None = None
    figure_every: int | None = None
    device: str = 'auto'
    num_workers: int = 0
    seed: int = 0
    threads: int | None = None

    def validate(self, prefix):
        for key in ('steps', 'checkpoint_every', 'log_every'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        for key in ('validate_every', 'figure_every', 'threads'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1, allow_none=True)
        check_int(self.num_workers, f'{prefix}.num_workers')
        check_positive(self.lr, f'{prefix}.lr')
        check_positive(self.clip_grad_norm, f'{prefix}.clip_grad_norm', allow_none=True)
        check_betas(self.betas, f'{prefix}.betas')
        check_choice(self.schedule, f'{prefix}.schedule', SCHEDULES)
        if not 0 <= check_int(self.decay_start, f'{prefix}.decay_start') < self.steps:
            raise ValueError(f'`{prefix}.decay_start` must be in [0, {prefix}.steps = '
                             f'{self.steps}), got {self.decay_start}')
        check_int(self.seed, f'{prefix}.seed')
        check_device(self.device, f'{prefix}.device')


@dataclass
class EvaluateConfig(Section):
    """Held-out evaluation and baselines (FBP with ``fbp_filter``, TV by PDHG)."""

    n_samples: int = 8
    seed: int = 12345
    tv_alpha: float = 3e-3
    tv_n_iter: int = 300
    fbp_filter: str = 'Hann'

    def validate(self, prefix):
        check_int(self.n_samples, f'{prefix}.n_samples', minimum=1)
        check_int(self.tv_n_iter, f'{prefix}.tv_n_iter', minimum=1)
        check_int(self.seed, f'{prefix}.seed')
        check_positive(self.tv_alpha, f'{prefix}.tv_alpha')
        if str(self.fbp_filter).lower() not in {f.lower() for f in FBP_FILTERS}:
            raise ValueError(f'`{prefix}.fbp_filter` must be one of {FBP_FILTERS}, got '
                             f'{self.fbp_filter!r}')


@dataclass
class Config(ExperimentConfig):
    """A learned-CT experiment: one section per stage.

    Examples
    --------
    >>> config = Config.from_dict({'name': 'tiny', 'data': {'size': 32}})
    >>> config.data.size, config.model.n_iter, config.experiment
    (32, 10, 'learned_ct')
    >>> Config.from_dict({'data': {'sise': 32}})
    Traceback (most recent call last):
        ...
    ValueError: configuration: unknown key 'sise' in [data]; valid keys: batch_size, max_shift, mean_ellipses, n_rings, noise_level, num_angles, phantom, seed, size
    """

    EXPERIMENT = 'learned_ct'
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


class Problem:
    """The CT set-up of a configuration: space, operator and training data.

    Attributes
    ----------
    config : `Config`
    space : `odl.DiscretizedSpace`
        ``reconstruction_space(size)``, unit pixels.
    operator : `odl.Operator`
        Parallel-beam ray transform with ``num_angles`` views, divided by
        its norm.
    dataset : `odl_wasserstein.data.SimulatedCTDataset`
        Training stream (seed ``data.seed``).
    """

    def __init__(self, config, space, operator, dataset):
        self.config, self.space, self.operator, self.dataset = (
            config, space, operator, dataset)

    @property
    def shape(self):
        """Image shape ``(size, size)``."""
        return tuple(self.space.shape)


def build_problem(config):
    """Build the space, the normalised ray transform and the training data.

    Parameters
    ----------
    config : `Config`

    Returns
    -------
    `Problem`

    Examples
    --------
    >>> config = Config.from_dict({'data': {'size': 32, 'num_angles': 8}})
    >>> problem = build_problem(config)
    >>> problem.operator.range.shape, problem.dataset.batch(0)['data'].shape
    ((8, 47), torch.Size([1, 1, 8, 47]))
    """
    data = config.data
    space = reconstruction_space(data.size)
    operator = ray_transform(space, num_angles=data.num_angles, normalize=True)
    if data.phantom == 'rings':
        dataset = RingsDataset(operator, batch_size=data.batch_size,
                               noise_level=data.noise_level, n_rings=data.n_rings,
                               max_shift=data.max_shift, seed=data.seed)
    else:
        dataset = EllipsesDataset(operator, batch_size=data.batch_size,
                                  noise_level=data.noise_level,
                                  mean_count=data.mean_ellipses, seed=data.seed)
    return Problem(config, space, operator, dataset)


def build_model(config, operator):
    """`LearnedPrimalDual` with the sizes of ``config.model``.

    Examples
    --------
    >>> config = Config.from_dict({'data': {'size': 32}, 'model': {'n_iter': 2}})
    >>> model = build_model(config, build_problem(config).operator)
    >>> model.n_iter
    2
    """
    model = config.model
    return LearnedPrimalDual(operator, n_iter=model.n_iter, n_primal=model.n_primal,
                             n_dual=model.n_dual, filters=model.filters)


def build_loss(config, shape):
    """The training loss of ``config.loss`` for images of ``shape``.

    ``'mse'``: `torch.nn.MSELoss`; ``'wasserstein_paper'``:
    `WassersteinLoss.adler2017` (the authors' code exactly);
    ``'wasserstein'``: the debiased Sinkhorn divergence with the saturating
    cost of scale ``cost_scale`` (in normalised ``[-1, 1]`` units),
    zero-padded FFT kernels, implicit gradients and the mass penalty.

    Examples
    --------
    >>> config = Config.from_dict({'loss': {'name': 'wasserstein_paper'}})
    >>> build_loss(config, (32, 32))
    WassersteinLoss(cost=Adler2017Cost(...), eps=0.001, value='cost', ...)
    """
    loss = config.loss
    if loss.name == 'mse':
        return torch.nn.MSELoss()
    if loss.name == 'wasserstein_paper':
        return WassersteinLoss.adler2017(shape)
    # A saturating cost of `cost_scale` normalised units is
    # cost_scale * (n - 1) / 2 pixels on an axis of n pixels.
    scale = loss.cost_scale * (min(shape) - 1) / 2
    cost = SaturatingCost(tuple(shape), scale=scale)
    return WassersteinLoss(cost / cost.max_value(), eps=loss.eps,
                           mass_penalty=loss.mass_penalty)


def build(config):
    """The problem and the recipe of a run (network initialised from ``train.seed``).

    Returns
    -------
    problem : `Problem`
    recipe : `odl_wasserstein.methods.ReconstructionRecipe`
    """
    problem = build_problem(config)
    train = config.train
    # The network's initial weights come from the run's seed.
    torch.manual_seed(train.seed)
    model = build_model(config, problem.operator)
    recipe = ReconstructionRecipe(model, build_loss(config, problem.shape), lr=train.lr,
                                  betas=train.betas, clip_grad_norm=train.clip_grad_norm,
                                  schedule=train.schedule, decay_start=train.decay_start)
    return problem, recipe


def training_bytes(config):
    """A lower bound of the memory one training step holds (float32 activations).

    Each of the ``n_iter`` iterations keeps, per sample, its primal block's
    input and four ``filters``-channel activations on the image grid, and
    the same for the dual block on the sinogram grid.
    """
    data, model = config.data, config.model
    pixels = data.size ** 2
    bins = data.num_angles * math.ceil(math.sqrt(2) * data.size)
    per_iteration = (pixels * (model.n_primal + 1 + 4 * model.filters)
                     + bins * (model.n_dual + 2 + 4 * model.filters))
    return 4 * data.batch_size * model.n_iter * per_iteration


def check_resources(config):
    """Refuse a configuration whose training step cannot fit in memory, before building it."""
    device = 'cpu'
    if config.train.device != 'cpu' and torch.cuda.is_available():
        device = 'cuda' if config.train.device == 'auto' else config.train.device
    require_memory(training_bytes(config), device,
                   f'one training step at data.size={config.data.size}, '
                   f'batch_size={config.data.batch_size}, model.filters={config.model.filters}, '
                   f'model.n_iter={config.model.n_iter}',
                   'reduce data.size, data.batch_size, model.filters or model.n_iter')


def train(config, output_dir, resume=False, progress=True):
    """Train the network of ``config``; checkpoints, log and figures in ``output_dir``.

    Parameters
    ----------
    config : `Config`, str or path-like
        A configuration, a shipped configuration's name or a TOML path.
    output_dir : str or path-like
        Run folder: ``config.json``, ``metrics.jsonl``, ``checkpoints/``,
        ``figures/``.
    resume : bool, 'auto', int or path-like, optional
        Continue from a checkpoint (see `Trainer.fit`). The configuration
        in the folder must then equal ``config`` except for
        ``train.steps``.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    `odl_wasserstein.training.FitResult`

    Examples
    --------
    >>> import tempfile
    >>> config = Config.from_dict({
    ...     'data': {'size': 32, 'num_angles': 8},
    ...     'model': {'n_iter': 2, 'filters': 4},
    ...     'train': {'steps': 4, 'log_every': 2, 'device': 'cpu'}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train(config, folder, progress=False)
    ...     model, _ = load_run(folder)
    >>> result.step, type(model).__name__
    (4, 'LearnedPrimalDual')
    """
    config = as_config(config, Config)
    check_resources(config)
    # Everything is built (and so checked) before the run folder is written.
    problem, recipe = build(config)
    validation = None
    if config.train.validate_every is not None:
        validation = validation_set(problem.dataset, 2)
    return train_run(config, recipe, problem.dataset, output_dir, resume, progress,
                     validation, num_workers=config.train.num_workers)


def load_run(run_dir, checkpoint=None, device='cpu'):
    """Rebuild the trained network of a run folder written by `train`.

    Parameters
    ----------
    run_dir : str or path-like
        Folder holding ``config.json`` and ``checkpoints/``.
    checkpoint : str or path-like, optional
        A checkpoint file; default the newest intact one of the run.
    device : str or torch.device, optional

    Returns
    -------
    model : `LearnedPrimalDual`
        In eval mode.
    config : `Config`
    """
    config, state = load_run_state(run_dir, Config, checkpoint)
    model = build_model(config, build_problem(config).operator)
    model.load_state_dict(state['modules']['model'])
    return model.to(device).eval(), config


def test_samples(config, n_samples=None, seed=None):
    """Held-out evaluation samples of a configuration.

    Rings: ``n_samples`` batches of the validation stream with seed
    ``evaluate.seed`` (never training samples). Ellipses: the modified
    Shepp-Logan phantom, the validation image of learned primal-dual, with
    the configured noise.

    Returns
    -------
    dict
        ``{'data': (n, 1, angles, bins), 'target': (n, 1, H, W),
        'shifted': (n, 1, H, W)}``, float32.
    """
    problem = build_problem(config)
    n_samples = config.evaluate.n_samples if n_samples is None else n_samples
    seed = config.evaluate.seed if seed is None else seed
    if config.data.phantom == 'rings':
        dataset = RingsDataset(problem.operator, batch_size=1,
                               noise_level=config.data.noise_level,
                               n_rings=config.data.n_rings,
                               max_shift=config.data.max_shift, seed=seed)
        batches = validation_set(dataset, n_samples)
        return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}
    phantom = shepp_logan(problem.shape)[None]
    generator = torch.Generator().manual_seed(seed)
    clean = problem.dataset.forward(phantom)
    noisy = add_gaussian_noise(clean, config.data.noise_level, dim=(-2, -1),
                               generator=generator)
    return {'data': noisy[:, None], 'target': phantom[:, None], 'shifted': phantom[:, None]}


def _baselines(problem, data, settings):
    fbp = fbp_operator(problem.operator, filter_type=settings.fbp_filter)
    outputs = {'FBP': [], 'TV': []}
    for sinogram in data[:, 0]:
        element = problem.operator.range.element(sinogram.numpy())
        outputs['FBP'].append(to_tensor(fbp(element)).float())
        outputs['TV'].append(to_tensor(tv_reconstruction(
            problem.operator, element, alpha=settings.tv_alpha,
            n_iter=settings.tv_n_iter, nonnegative=True)).float())
    return {name: torch.stack(images)[:, None] for name, images in outputs.items()}


def _measures(images, reference):
    x, r = images[:, 0].double(), reference[:, 0].double()
    return {'psnr': psnr(x, r, data_range=1.0), 'ssim': ssim(x, r, data_range=1.0),
            'transport_px': sliced_transport_distance(x, r),
            'peak_ratio': peak_intensity(x, r)}


MEASURES = {
    'psnr': 'PSNR [dB], data range 1',
    'ssim': 'SSIM (scikit-image defaults), data range 1',
    'transport_px': 'sliced Wasserstein-1 distance in pixels between the normalised '
                    'non-negative parts (lower: mass closer to where it belongs; a '
                    'translation by d px gives 2 d / pi)',
    'peak_ratio': '99.9 % quantile of the image over that of the reference (below 1: '
                  'smeared)',
}
"""What the report's measures are."""


def _load_models(runs):
    models = {}
    for label, run in runs.items():
        models[label] = load_run(run) if isinstance(run, (str, Path)) else run
    return models


def _common_config(models, config):
    if config is None:
        if not models:
            raise ValueError('give `config` when evaluating the baselines alone')
        config = next(iter(models.values()))[1]
    for label, (_, run_config) in models.items():
        if run_config.data != config.data:
            raise ValueError(f'run {label!r} was trained with other data settings '
                             f'({run_config.data}) than {config.data}')
    return config


def _reconstruct(models, samples, problem, settings, baselines):
    outputs, seconds = {}, {}
    for label, (model, _) in models.items():
        start = time.perf_counter()
        with torch.no_grad():
            outputs[label] = torch.cat([model(d[None]) for d in samples['data']])
        seconds[label] = (time.perf_counter() - start) / len(samples['data'])
    if baselines:
        start = time.perf_counter()
        found = _baselines(problem, samples['data'], settings)
        elapsed = (time.perf_counter() - start) / len(samples['data'])
        outputs = {**found, **outputs}
        seconds.update(FBP=elapsed, TV=elapsed)
    return outputs, seconds


def evaluate(runs, output_dir, config=None, n_samples=None, baselines=True,
             figure_name='reconstructions.png'):
    """Evaluate trained networks and the baselines on held-out samples.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` (written by `train`) or ``label -> (model,
        config)``. All runs must share the data settings.
    output_dir : str or path-like
        Where ``metrics.json`` and the figure are written.
    config : `Config`, optional
        Data and evaluation settings; default those of the first run.
    n_samples : int, optional
        Held-out samples; default ``config.evaluate.n_samples``.
    baselines : bool, optional
        Also reconstruct with FBP (Hann) and TV (PDHG).
    figure_name : str, optional

    Returns
    -------
    dict
        The content of ``metrics.json``: per method the mean and standard
        deviation over the samples of PSNR [dB], SSIM, ``transport_px`` (the
        sliced Wasserstein-1 distance in pixels, `sliced_transport_distance`) and
        ``peak_ratio`` (`peak_intensity`), against the ``'target'`` and
        against the ``'shifted'`` phantom that generated the data, plus
        reconstruction times.
    """
    if not runs and not baselines:
        raise ValueError('nothing to evaluate: give `runs` or baselines=True')
    n_samples = check_int(n_samples, 'n_samples', minimum=1, allow_none=True)
    output_dir = resolve_output(output_dir)
    models = _load_models(runs)
    config = _common_config(models, config)
    problem = build_problem(config)
    samples = test_samples(config, n_samples)
    outputs, seconds = _reconstruct(models, samples, problem, config.evaluate, baselines)
    methods = {}
    for label, images in outputs.items():
        entry = {'seconds_per_image': seconds[label]}
        for against in ('target', 'shifted'):
            values = _measures(images, samples[against])
            entry[against] = {name: mean_std(v) for name, v in values.items()}
        methods[label] = entry
    result = {'config': config.to_dict(), 'n_samples': int(samples['data'].shape[0]),
              'measures': MEASURES, 'methods': methods}
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / 'metrics.json', result)
    _figure(samples, outputs, methods, output_dir / figure_name)
    return result


def _figure(samples, outputs, methods, path):
    rows = min(2, samples['target'].shape[0])
    labels = list(outputs)
    columns = 2 + len(labels)
    figure = new_figure(2.4 * columns, 2.5 * rows + 0.3)
    axes = np.atleast_2d(figure.subplots(rows, columns, squeeze=False))
    # The grey scale is the data range of the metrics, [0, 1] (rings have
    # value 1, and 2 only where they cross).
    scale = dict(vmin=0, vmax=1.0, odl_axes=True)
    for row in range(rows):
        show_image(axes[row, 0], samples['target'][row, 0], 'Phantom (target)', **scale)
        show_image(axes[row, 1], samples['shifted'][row, 0], 'Translated phantom (data)',
                   **scale)
        for column, label in enumerate(labels, start=2):
            measures = methods[label]['target']
            title = label if row else (
                f'{label}\nSW {measures["transport_px"]["mean"]:.2f} px, '
                f'peak {measures["peak_ratio"]["mean"]:.2f}')
            show_image(axes[row, column], outputs[label][row, 0].clamp_min(0), title, **scale)
    figure.savefig(path, dpi=110)


DEMO_CONFIGS = (('MSE', 'ct_rings_mse_128'), ('Wasserstein', 'ct_rings_wasserstein_128'))
"""The two runs of the flagship demo: label and shipped configuration."""


def demo(output_dir='results/demo', steps=None, n_samples=None, progress=True,
         resume='auto'):
    """Train learned primal-dual with MSE and with Wasserstein loss, then compare.

    Runs the shipped configurations ``ct_rings_mse_128`` and
    ``ct_rings_wasserstein_128`` (the paper's experiment at 128 x 128 with a
    smaller network, sized for a few minutes on a CPU) into
    ``output_dir/mse`` and ``output_dir/wasserstein``, then `evaluate`
    them with FBP and TV on held-out rings. Interrupted runs continue
    where they stopped.

    Parameters
    ----------
    output_dir : str or path-like
    steps : int, optional
        Training steps per model; default the configurations' value.
    n_samples : int, optional
        Held-out samples; default the configurations' value.
    progress : bool, optional
    resume : bool or 'auto', optional
        ``'auto'`` continues runs found in ``output_dir``.

    Returns
    -------
    dict
        The evaluation report (see `evaluate`).

    Raises
    ------
    TrainingInterrupted
        If a signal stopped a run; rerunning continues it.
    """
    steps = check_int(steps, 'steps', minimum=1, allow_none=True)
    n_samples = check_int(n_samples, 'n_samples', minimum=1, allow_none=True)
    output_dir = resolve_output(output_dir)
    runs = train_demo_runs(sys.modules[__name__], DEMO_CONFIGS, output_dir,
                           lambda label, config: label.lower(), steps, progress, resume)
    return evaluate(runs, output_dir, n_samples=n_samples)


def report(result):
    """The evaluation report as a text table (one row per method)."""
    lines = [f'{"method":<13}{"PSNR":>7}{"SSIM":>7}{"SW [px]":>9}{"peak":>7}'
             f'   | vs shifted: {"PSNR":>6}{"SW [px]":>9}',
             '-' * 72]
    for label, entry in result['methods'].items():
        t, s = entry['target'], entry['shifted']
        lines.append(f'{label:<13}{t["psnr"]["mean"]:>7.2f}{t["ssim"]["mean"]:>7.3f}'
                     f'{t["transport_px"]["mean"]:>9.2f}{t["peak_ratio"]["mean"]:>7.2f}'
                     f'   |             {s["psnr"]["mean"]:>6.2f}'
                     f'{s["transport_px"]["mean"]:>9.2f}')
    return '\n'.join(lines)
