"""Learned primal-dual CT trained with an MSE or a Wasserstein loss.

The experiment of Adler et al., "Learning to solve inverse problems using
Wasserstein loss" (2017), section 4 (Figures 2 and 3), and the original
learned primal-dual setting of Adler & Öktem (2018), driven by an
`odl_wasserstein.config.ExperimentConfig`:

- `build_problem`: image space, normalised ray transform and the on-the-fly
  training data (misaligned rings or random ellipses);
- `build_model`, `build_loss`: `LearnedPrimalDual` and the training loss
  (MSE, the authors' Wasserstein loss, or the debiased Sinkhorn
  divergence);
- `train`: one run on the shared `odl_wasserstein.training.Trainer`, with
  the configuration saved beside the checkpoints so that `load_run` can
  rebuild the trained network;
- `evaluate`: trained networks against FBP (Hann) and TV (PDHG) on
  held-out samples, with PSNR, SSIM and two shape-sensitive measures (the
  sliced Wasserstein distance to the target in pixels and the peak intensity
  relative to the target), a figure like the paper's Figure 3 and a
  metrics JSON;
- `flagship_demo`: both losses trained at reduced size on a CPU, then
  evaluated: the main job of the package.

For the rings, the target of every training sample is the unshifted
phantom while the data come from the same rings each shifted by a random
offset, so no network can know where the rings truly are. The paper's
claim is that MSE training then smears the rings over the possible
positions, while Wasserstein training keeps them sharp at a plausible
position. Metrics are reported against the target and against the shifted
phantom that generated the data.
"""

import json
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from odl_wasserstein.baselines import tv_reconstruction
from odl_wasserstein.config import config_from_dict, load_config
from odl_wasserstein.data import EllipsesDataset, RingsDataset, shepp_logan, validation_set
from odl_wasserstein.data.noise import add_gaussian_noise
from odl_wasserstein.metrics import peak_intensity, psnr, sliced_transport_distance, ssim
from odl_wasserstein.nn import LearnedPrimalDual
from odl_wasserstein.operators import (
    fbp_operator, ray_transform, reconstruction_space)
from odl_wasserstein.training import SupervisedRecipe, Trainer, checkpoint
from odl_wasserstein.transport import SaturatingCost, WassersteinLoss
from odl_wasserstein.util import to_tensor

__all__ = ('Problem', 'build_problem', 'build_model', 'build_loss', 'ReconstructionRecipe',
           'train', 'load_run', 'test_samples', 'evaluate', 'format_report',
           'flagship_demo')

CONFIG_FILE = 'config.json'


class Problem:
    """The CT set-up of a configuration: space, operator and training data.

    Attributes
    ----------
    config : `odl_wasserstein.config.ExperimentConfig`
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
    config : `odl_wasserstein.config.ExperimentConfig`

    Returns
    -------
    `Problem`

    Examples
    --------
    >>> config = config_from_dict({'data': {'size': 32, 'num_angles': 8}})
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
    >>> config = config_from_dict({'data': {'size': 32}, 'model': {'n_iter': 2}})
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
    `WassersteinLoss.paper` (the authors' code exactly); ``'wasserstein'``:
    the debiased Sinkhorn divergence with the saturating cost of scale
    ``cost_scale`` (in normalised ``[-1, 1]`` units), zero-padded FFT
    kernels, implicit gradients and the mass penalty.

    Examples
    --------
    >>> config = config_from_dict({'loss': {'name': 'wasserstein_paper'}})
    >>> build_loss(config, (32, 32))
    WassersteinLoss(cost=AuthorsCost(...), eps=0.001, paper recipe, reduction='mean')
    """
    loss = config.loss
    if loss.name == 'mse':
        return torch.nn.MSELoss()
    if loss.name == 'wasserstein_paper':
        return WassersteinLoss.paper(shape)
    # A saturating cost of `cost_scale` normalised units is
    # cost_scale * (n - 1) / 2 pixels on an axis of n pixels.
    scale = loss.cost_scale * (min(shape) - 1) / 2
    cost = SaturatingCost(tuple(shape), scale=scale)
    return WassersteinLoss(cost / cost.max_value(), eps=loss.eps,
                           mass_penalty=loss.mass_penalty)


class ReconstructionRecipe(SupervisedRecipe):
    """`SupervisedRecipe` whose validation also reports PSNR and SSIM.

    Validation batches are dicts ``{'data', 'target', ...}`` as the CT
    datasets yield them; PSNR and SSIM use data range 1, as the papers do.
    """

    def validation_step(self, trainer, batch):
        """``{'loss', 'psnr', 'ssim'}`` of a validation batch."""
        inputs, target = self.unpack(batch)
        output = trainer.module('model')(inputs)
        return {'loss': self.loss(output, target),
                'psnr': psnr(output[:, 0], target[:, 0], data_range=1.0).mean(),
                'ssim': ssim(output[:, 0], target[:, 0], data_range=1.0).mean()}


def _recipe(config, model, loss):
    train = config.train
    return ReconstructionRecipe(model, loss, lr=train.lr, betas=train.betas,
                                clip_grad_norm=train.clip_grad_norm,
                                schedule=train.schedule)


def train(config, output_dir, resume=False, progress=True):
    """Train the network of ``config``; checkpoints, log and figures in ``output_dir``.

    Parameters
    ----------
    config : `ExperimentConfig`, str or path-like
        A configuration, a shipped configuration's name or a TOML path.
    output_dir : str or path-like
        Run folder: ``config.json``, ``metrics.jsonl``, ``checkpoints/``,
        ``figures/``.
    resume : bool or 'auto', optional
        Continue from the last checkpoint (see `Trainer.fit`). The
        configuration in the folder must then equal ``config`` except for
        ``train.steps``.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    `odl_wasserstein.training.FitResult`

    Examples
    --------
    >>> import tempfile
    >>> config = config_from_dict({
    ...     'data': {'size': 32, 'num_angles': 8},
    ...     'model': {'n_iter': 2, 'filters': 4},
    ...     'train': {'steps': 4, 'log_every': 2, 'device': 'cpu'}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train(config, folder, progress=False)
    ...     model, _ = load_run(folder)
    >>> result.step, type(model).__name__
    (4, 'LearnedPrimalDual')
    """
    if not hasattr(config, 'to_dict'):
        config = load_config(config)
    output_dir = Path(output_dir)
    _record_config(config, output_dir, resume)
    settings = config.train
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    problem = build_problem(config)
    # The network's initial weights come from the run's seed.
    torch.manual_seed(settings.seed)
    model = build_model(config, problem.operator)
    recipe = _recipe(config, model, build_loss(config, problem.shape))
    validation = None
    if settings.validate_every is not None:
        validation = validation_set(problem.dataset, 2)
    trainer = Trainer(recipe, problem.dataset, max_steps=settings.steps,
                      output_dir=output_dir, device=settings.device, seed=settings.seed,
                      log_every=settings.log_every,
                      checkpoint_every=settings.checkpoint_every,
                      validation_data=validation, validate_every=settings.validate_every,
                      figure_every=settings.figure_every, progress=progress,
                      num_workers=settings.num_workers)
    return trainer.fit(resume=resume)


def _record_config(config, output_dir, resume):
    path = output_dir / CONFIG_FILE
    values = config.to_dict()
    if resume and path.is_file():
        saved = json.loads(path.read_text())
        differ = sorted(
            f'{section}.{key}' for section in values if isinstance(values[section], dict)
            for key in values[section]
            if (section, key) != ('train', 'steps')
            and _plain(saved.get(section, {}).get(key)) != _plain(values[section][key]))
        if differ:
            raise ValueError(f'{path} differs from the configuration in {differ}; resume '
                             'with the configuration of the run, or start a new run')
    output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(values, indent=2)
    checkpoint.atomic_write(path, lambda file: file.write(text.encode()))


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def load_run(run_dir, checkpoint_path=None, device='cpu'):
    """Rebuild the trained network of a run folder written by `train`.

    Parameters
    ----------
    run_dir : str or path-like
        Folder holding ``config.json`` and ``checkpoints/``.
    checkpoint_path : str or path-like, optional
        A checkpoint file; default the latest of the run.
    device : str or torch.device, optional

    Returns
    -------
    model : `LearnedPrimalDual`
        In eval mode.
    config : `ExperimentConfig`
    """
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f'{run_dir} has no {CONFIG_FILE}; is it a folder written '
                                'by odl_wasserstein.experiments.learned_ct.train?')
    config = config_from_dict(json.loads(path.read_text()), source=str(path))
    state = checkpoint.load_checkpoint(checkpoint_path or run_dir / 'checkpoints')
    operator = build_problem(config).operator
    model = build_model(config, operator)
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


def _baselines(problem, data, tv_alpha, tv_iterations, fbp_filter):
    fbp = fbp_operator(problem.operator, filter_type=fbp_filter)
    outputs = {'FBP': [], 'TV': []}
    for sinogram in data[:, 0]:
        element = problem.operator.range.element(sinogram.numpy())
        outputs['FBP'].append(to_tensor(fbp(element)).float())
        outputs['TV'].append(to_tensor(tv_reconstruction(
            problem.operator, element, alpha=tv_alpha, niter=tv_iterations,
            nonnegative=True)).float())
    return {name: torch.stack(images)[:, None] for name, images in outputs.items()}


def _measures(images, reference):
    x, r = images[:, 0].double(), reference[:, 0].double()
    return {'psnr': psnr(x, r, data_range=1.0), 'ssim': ssim(x, r, data_range=1.0),
            'transport_px': sliced_transport_distance(x, r),
            'peak_ratio': peak_intensity(x, r)}


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
    config : `ExperimentConfig`, optional
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
    models = {}
    for label, run in runs.items():
        models[label] = load_run(run) if isinstance(run, (str, Path)) else run
    if config is None:
        if not models:
            raise ValueError('give `config` when evaluating the baselines alone')
        config = next(iter(models.values()))[1]
    for label, (_, run_config) in models.items():
        if run_config.data != config.data:
            raise ValueError(f'run {label!r} was trained with other data settings '
                             f'({run_config.data}) than {config.data}')
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    problem = build_problem(config)
    samples = test_samples(config, n_samples)
    settings = config.evaluate

    outputs, seconds = {}, {}
    for label, (model, _) in models.items():
        start = time.perf_counter()
        with torch.no_grad():
            outputs[label] = torch.cat([model(d[None]) for d in samples['data']])
        seconds[label] = (time.perf_counter() - start) / len(samples['data'])
    if baselines:
        start = time.perf_counter()
        found = _baselines(problem, samples['data'], settings.tv_alpha,
                           settings.tv_iterations, settings.fbp_filter)
        elapsed = (time.perf_counter() - start) / len(samples['data'])
        outputs = {**found, **outputs}
        seconds.update(FBP=elapsed, TV=elapsed)

    methods = {}
    for label, images in outputs.items():
        entry = {'seconds_per_image': seconds[label]}
        for against in ('target', 'shifted'):
            values = _measures(images, samples[against])
            entry[against] = {name: {'mean': float(v.mean()),
                                     'std': float(v.std()) if v.numel() > 1 else 0.0}
                              for name, v in values.items()}
        methods[label] = entry
    report = {
        'config': config.to_dict(),
        'n_samples': int(samples['data'].shape[0]),
        'measures': {
            'psnr': 'PSNR [dB], data range 1',
            'ssim': 'SSIM (scikit-image defaults), data range 1',
            'transport_px': 'sliced Wasserstein-1 distance in pixels between the '
                            'normalised non-negative parts (lower: mass closer to where '
                            'it belongs; a translation by d px gives 2 d / pi)',
            'peak_ratio': '99.9 % quantile of the image over that of the reference '
                          '(below 1: smeared)'},
        'methods': methods,
    }
    (output_dir / 'metrics.json').write_text(json.dumps(report, indent=2))
    _figure(samples, outputs, methods, output_dir / figure_name)
    return report


def _show(ax, image, title, vmax):
    # ODL's convention: axis 0 is x, shown horizontally, y upwards.
    ax.imshow(image.T.numpy(), cmap='gray', origin='lower', vmin=0, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _figure(samples, outputs, methods, path):
    rows = min(2, samples['target'].shape[0])
    labels = list(outputs)
    columns = 2 + len(labels)
    figure = Figure(figsize=(2.4 * columns, 2.5 * rows + 0.3), layout='constrained')
    axes = np.atleast_2d(figure.subplots(rows, columns, squeeze=False))
    # The grey scale is the data range of the metrics, [0, 1] (rings have
    # value 1, and 2 only where they cross).
    vmax = 1.0
    for row in range(rows):
        _show(axes[row, 0], samples['target'][row, 0], 'Phantom (target)', vmax)
        _show(axes[row, 1], samples['shifted'][row, 0], 'Translated phantom (data)', vmax)
        for column, label in enumerate(labels, start=2):
            measures = methods[label]['target']
            title = label if row else (
                f'{label}\nSW {measures["transport_px"]["mean"]:.2f} px, '
                f'peak {measures["peak_ratio"]["mean"]:.2f}')
            _show(axes[row, column], outputs[label][row, 0].clamp_min(0), title, vmax)
    figure.savefig(path, dpi=110)


def flagship_demo(output_dir='results/demo', steps=None, n_samples=None, progress=True,
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
    """
    output_dir = Path(output_dir)
    runs = {}
    for label, name in (('MSE', 'ct_rings_mse_128'),
                        ('Wasserstein', 'ct_rings_wasserstein_128')):
        overrides = {} if steps is None else {'train': {'steps': int(steps)}}
        config = load_config(name, overrides)
        folder = output_dir / label.lower()
        train(config, folder, resume=resume, progress=progress)
        runs[label] = folder
    return evaluate(runs, output_dir, n_samples=n_samples)


def format_report(report):
    """The evaluation report as a text table (one row per method)."""
    lines = [f'{"method":<13}{"PSNR":>7}{"SSIM":>7}{"SW [px]":>9}{"peak":>7}'
             f'   | vs shifted: {"PSNR":>6}{"SW [px]":>9}',
             '-' * 72]
    for label, entry in report['methods'].items():
        t, s = entry['target'], entry['shifted']
        lines.append(f'{label:<13}{t["psnr"]["mean"]:>7.2f}{t["ssim"]["mean"]:>7.3f}'
                     f'{t["transport_px"]["mean"]:>9.2f}{t["peak_ratio"]["mean"]:>7.2f}'
                     f'   |             {s["psnr"]["mean"]:>6.2f}'
                     f'{s["transport_px"]["mean"]:>9.2f}')
    return '\n'.join(lines)

