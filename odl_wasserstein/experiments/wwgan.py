"""WGAN-GP against the Wasserstein-of-Wasserstein GAN (Dukler et al. 2019).

The paper's claim: a critic trained with the gradient penalty measured in
the Wasserstein-2 ground metric on pixels (WWGAN) is more continuous with
respect to natural image variations (translations) and more robust to
pixel noise than a critic trained with the Euclidean penalty (WGAN-GP), at
a negligible extra cost and with comparable sample quality. This module
reproduces the comparison on a dataset available offline, the handwritten
digits shipped with scikit-learn upsampled to 32 x 32
(`odl_wasserstein.data.load_digits`), on the protocol of
`odl_wasserstein.experiments.protocol`:

- `Config`: the schema of its TOML files; the shipped
  ``wwgan_digits_wgan_gp`` and ``wwgan_digits_wwgan`` differ only in
  ``gan.method``;
- `build`, `train`: one run on the shared `odl_wasserstein.training.Trainer`
  with `odl_wasserstein.methods.WGANRecipe`, WGAN-GP (two-sided penalty,
  weight 10) or WWGAN (ground-metric penalty, weight 4, the authors'
  code), with the same DCGAN generator and critic, initial weights, data
  stream, optimiser and number of steps; `load_run` rebuilds the networks;
- `evaluate`: the paper's two critic experiments on held-out digits
  (translation continuity, Table 1; 15 % salt-and-pepper noise, Figure 5),
  sample quality by the sliced Wasserstein distance between generated and
  held-out digits (FID needs an Inception network, not available
  offline), and the measured time per training step; `report` formats it;
- `demo`: both runs and the evaluation (``odl-wasserstein wwgan``).

The WWGAN penalty weighs the edge between pixels ``i`` and ``j`` by their
intensities ``p_i + p_j`` mapped to ``[0, 1]``. The authors' code maps its
images in ``[-1, 1]`` by the fixed ``(x + 1) / 2``; the digits here are in
``[0, 1]`` (sigmoid generator), so the same fixed map is the identity,
``gan.intensity = [0, 1]`` (the data range), the default.
``gan.intensity = "minmax"`` rescales each interpolate by its own range
instead.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from odl_wasserstein.adversarial import (
    critic_continuity, critic_values, translation_sequence)
from odl_wasserstein.config import ExperimentConfig, Section
from odl_wasserstein.data import ImageDataset, load_digits, salt_and_pepper, train_test_split
from odl_wasserstein.experiments.protocol import (
    TrainingInterrupted, as_config, load_config, load_run_state, mean_std, train_run,
    resolve_output, seconds_per_step, write_json)
from odl_wasserstein.methods import WGANRecipe
from odl_wasserstein.metrics import sliced_wasserstein
from odl_wasserstein.nn import DCGANCritic, DCGANGenerator
from odl_wasserstein.plotting import image_grid, new_figure
from odl_wasserstein.training import check_device
from odl_wasserstein.training.checkpoint import load_checkpoint
from odl_wasserstein.util import check_choice, check_int, check_positive, check_real

__all__ = ('METHODS', 'Config', 'DataConfig', 'ModelConfig', 'GANConfig', 'TrainConfig',
           'EvaluateConfig', 'digits_split', 'build_networks', 'build', 'train', 'load_run',
           'evaluate', 'report', 'demo')

METHODS = {
    'wgan-gp': {'penalty': 'two-sided', 'penalty_weight': 10.0},
    'wwgan': {'penalty': 'wasserstein', 'penalty_weight': 4.0},
}
"""Penalty of each method: Gulrajani et al.'s WGAN-GP and the authors' WWGAN code."""

DEMO_CONFIGS = (('WGAN-GP', 'wwgan_digits_wgan_gp'), ('WWGAN', 'wwgan_digits_wwgan'))
"""The two runs of the comparison: label and shipped configuration."""


@dataclass
class DataConfig(Section):
    """The digits: image side and the share held out for the evaluation."""

    size: int = 32
    test_fraction: float = 0.2

    def validate(self, prefix):
        check_int(self.size, f'{prefix}.size', minimum=8)
        if not 0 < self.test_fraction < 1:
            raise ValueError(f'`{prefix}.test_fraction` must be in (0, 1), got '
                             f'{self.test_fraction!r}')


@dataclass
class ModelConfig(Section):
    """Width of the DCGAN generator and critic (the authors use 64 or 128) and latent size."""

    filters: int = 32
    latent_dim: int = 64

    def validate(self, prefix):
        check_int(self.filters, f'{prefix}.filters', minimum=1)
        check_int(self.latent_dim, f'{prefix}.latent_dim', minimum=1)


@dataclass
class GANConfig(Section):
    """The method and its penalty.

    Attributes
    ----------
    method : {'wgan-gp', 'wwgan'}
    n_critic : int
        Critic updates per generator update (5).
    penalty_weight : float or None
        None: the method's (`METHODS`).
    intensity : 'minmax' or [low, high]
        Intensity map of the WWGAN edge weights: the data range mapped to
        ``[0, 1]`` (the authors' fixed map), or each sample's own range.
    """

    method: str = 'wwgan'
    n_critic: int = 5
    penalty_weight: float | None = None
    intensity: str | tuple[float, float] = (0.0, 1.0)

    def validate(self, prefix):
        check_choice(self.method, f'{prefix}.method', tuple(METHODS))
        check_int(self.n_critic, f'{prefix}.n_critic', minimum=1)
        check_real(self.penalty_weight, f'{prefix}.penalty_weight', minimum=0,
                   allow_none=True)
        if isinstance(self.intensity, str):
            check_choice(self.intensity, f'{prefix}.intensity', ('minmax',))
        elif not self.intensity[0] < self.intensity[1]:
            raise ValueError(f'`{prefix}.intensity` must be "minmax" or a data range '
                             f'[low, high] with low < high, got {list(self.intensity)}')

    def recipe_options(self):
        """Keyword arguments of `WGANRecipe` for the method."""
        options = dict(METHODS[self.method], n_critic=self.n_critic)
        if self.penalty_weight is not None:
            options['penalty_weight'] = self.penalty_weight
        if self.method == 'wwgan':
            options['penalty_options'] = {'intensity': self.intensity}
        return options


@dataclass
class TrainConfig(Section):
    """Optimisation: Adam ``lr`` for both networks, betas (0.5, 0.9).

    ``batch_size`` real and generated samples per critic update (64 in the
    papers); ``seed`` seeds the initial weights (the same for both
    methods), the data split and stream and the latent vectors.
    """

    steps: int = 2000
    lr: float = 2e-4
    batch_size: int = 64
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    validate_every: int = 250
    device: str = 'auto'
    threads: int | None = None

    def validate(self, prefix):
        for key in ('steps', 'batch_size', 'log_every', 'checkpoint_every',
                    'validate_every'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        check_int(self.threads, f'{prefix}.threads', minimum=1, allow_none=True)
        check_int(self.seed, f'{prefix}.seed')
        check_positive(self.lr, f'{prefix}.lr')
        check_device(self.device, f'{prefix}.device')


@dataclass
class EvaluateConfig(Section):
    """The critic experiments: held-out images, noise, generated samples, seed."""

    n_images: int = 200
    noise_fraction: float = 0.15
    n_generated: int = 1000
    seed: int = 0

    def validate(self, prefix):
        check_int(self.n_images, f'{prefix}.n_images', minimum=1)
        check_int(self.n_generated, f'{prefix}.n_generated', minimum=1)
        check_int(self.seed, f'{prefix}.seed')
        check_real(self.noise_fraction, f'{prefix}.noise_fraction', minimum=0, maximum=1)


@dataclass
class Config(ExperimentConfig):
    """One GAN run of the comparison.

    Examples
    --------
    >>> config = Config.from_dict({'gan': {'method': 'wgan-gp'}})
    >>> config.gan.recipe_options()
    {'penalty': 'two-sided', 'penalty_weight': 10.0, 'n_critic': 5}
    >>> Config.from_dict({'gan': {'intensity': [1.0, -1.0]}})
    Traceback (most recent call last):
        ...
    ValueError: configuration: `gan.intensity` must be "minmax" or a data range [low, high] with low < high, got [1.0, -1.0]
    """

    EXPERIMENT = 'wwgan'
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


def digits_split(size=32, test_fraction=0.2, seed=0):
    """Training and held-out digits, ``(N, 1, size, size)`` in ``[0, 1]``.

    Examples
    --------
    >>> train, test = digits_split(16)
    >>> train.shape, test.shape
    (torch.Size([1438, 1, 16, 16]), torch.Size([359, 1, 16, 16]))
    """
    images, _ = load_digits(size)
    return train_test_split(images, test_fraction=test_fraction, seed=seed)


def build_networks(config):
    """The DCGAN generator (sigmoid output) and critic of ``config``, seeded.

    Both methods get identical initial weights for the same seed.

    Examples
    --------
    >>> config = Config.from_dict({'data': {'size': 16}, 'model': {'filters': 8}})
    >>> generator, critic = build_networks(config)
    >>> critic(generator(torch.randn(3, 64))).shape
    torch.Size([3])
    """
    torch.manual_seed(config.train.seed)
    size, model = config.data.size, config.model
    generator = DCGANGenerator(latent_dim=model.latent_dim, out_channels=1, size=size,
                               filters=model.filters, output='sigmoid')
    critic = DCGANCritic(in_channels=1, size=size, filters=model.filters)
    return generator, critic


def build(config):
    """The digits split, the recipe and the training stream of a run.

    Returns
    -------
    recipe : `odl_wasserstein.methods.WGANRecipe`
    data : `odl_wasserstein.data.ImageDataset`
        Batches of ``batch_size * n_critic`` training digits.
    test_images : torch.Tensor
    """
    settings = config.train
    train_images, test_images = digits_split(config.data.size, config.data.test_fraction,
                                             settings.seed)
    generator, critic = build_networks(config)
    recipe = WGANRecipe(generator, critic, lr=settings.lr, **config.gan.recipe_options())
    data = ImageDataset(train_images, settings.batch_size * config.gan.n_critic,
                        seed=settings.seed)
    return recipe, data, test_images


def train(config, output_dir, resume=False, progress=True):
    """Train one GAN on the digits; checkpoints, log and figures in ``output_dir``.

    Parameters
    ----------
    config : `Config`, str or path-like
        A configuration, a shipped configuration's name or a TOML path.
    output_dir : str or path-like
    resume : bool, 'auto', int or path-like, optional
        Continue from a checkpoint (see `Trainer.fit`); the recorded
        configuration must then equal ``config`` except for ``train.steps``.
    progress : bool, optional

    Returns
    -------
    `odl_wasserstein.training.FitResult`

    Examples
    --------
    >>> import tempfile
    >>> config = Config.from_dict({
    ...     'data': {'size': 16}, 'model': {'filters': 4, 'latent_dim': 8},
    ...     'train': {'batch_size': 4, 'steps': 3, 'log_every': 1, 'validate_every': 3,
    ...               'device': 'cpu'}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train(config, folder, progress=False)
    ...     generator, critic, _ = load_run(folder)
    >>> result.step, sorted(k for k in result.history[-1] if k.startswith('val/'))
    (3, ['val/distance', 'val/sliced_wasserstein'])
    """
    config = as_config(config, Config)
    recipe, data, test_images = build(config)
    return train_run(config, recipe, data, output_dir, resume, progress, [test_images[:256]])


def load_run(run_dir, checkpoint=None, device='cpu'):
    """Rebuild the trained generator and critic of a run folder written by `train`.

    Returns
    -------
    generator, critic : torch.nn.Module
        In eval mode.
    config : `Config`
    """
    config, state = load_run_state(run_dir, Config, checkpoint)
    generator, critic = build_networks(config)
    generator.load_state_dict(state['modules']['generator'])
    critic.load_state_dict(state['modules']['critic'])
    return generator.to(device).eval(), critic.to(device).eval(), config


def evaluate(runs, output_dir=None, n_samples=None, baselines=True):
    """The paper's critic experiments and sample quality for trained GANs.

    For each run, on ``n_samples`` held-out digits (default the runs'
    ``evaluate.n_images``):

    - **continuity** (Table 1): each image is translated down one pixel at a
      time until it has left the frame; the critic's curve is measured by
      its range-normalised total variation (1 for a monotone curve) and its
      zero crossings about the critic's decision level, the midpoint of
      its mean values on held-out real and on generated digits
      (`odl_wasserstein.adversarial.critic_continuity`); crossings of the
      raw value 0 are reported too (``zero_crossings_raw``), though a WGAN
      critic is defined only up to a constant;
    - **noise** (Figure 5): the critic on the clean digits and on the same
      digits with ``evaluate.noise_fraction`` salt-and-pepper noise;
      ``separation`` is the gap between the two means in units of their
      pooled standard deviation (large: clean and noisy digits form
      separate clusters), and ``noise_shift`` the gap relative to the
      critic's real-versus-generated gap (1: noise makes a digit look as
      fake as a generated one);
    - **sample quality**: the sliced Wasserstein-2 distance between
      ``evaluate.n_generated`` generated digits and all held-out digits
      (`odl_wasserstein.metrics.sliced_wasserstein`), next to the same
      distance from training digits (``baselines``), the floor a perfect
      generator reaches;
    - **time**: median seconds per training step from the run's log.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` written by `train`; the evaluation settings
        are those of the first run.
    output_dir : str or path-like, optional
        Where ``wwgan_metrics.json`` and ``wwgan_critics.png`` go.
    n_samples : int, optional
        Held-out digits of the critic experiments.
    baselines : bool, optional
        Also report the distance between training and held-out digits.

    Returns
    -------
    dict
        ``{'methods': {label: metrics}, 'reference': {...}, 'settings': {...}}``.
    """
    if not runs:
        raise ValueError('nothing to evaluate: give `runs`')
    n_samples = check_int(n_samples, 'n_samples', minimum=1, allow_none=True)
    if output_dir is not None:
        output_dir = resolve_output(output_dir)
    loaded = {label: load_run(run_dir) for label, run_dir in runs.items()}
    settings = next(iter(loaded.values()))[2].evaluate
    if n_samples is not None:
        settings = EvaluateConfig(**dict(vars(settings), n_images=n_samples))
    result = {'methods': {}, 'settings': vars(settings).copy()}
    curves, noisy_values = {}, {}
    for label, (generator, critic, config) in loaded.items():
        train_images, test_images = digits_split(config.data.size, config.data.test_fraction,
                                                 config.train.seed)
        measures, curves[label], noisy_values[label] = _critic_measures(
            generator, critic, test_images, settings)
        result['methods'][label] = dict(method=config.gan.method,
                                        steps=_trained_steps(runs[label]), **measures,
                                        seconds_per_step=seconds_per_step(runs[label]))
    if baselines:
        result['reference'] = {'sliced_wasserstein_train_vs_test': float(sliced_wasserstein(
            train_images, test_images, n_projections=512,
            generator=torch.Generator().manual_seed(settings.seed)))}
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        samples = {label: networks[0] for label, networks in loaded.items()}
        _figure(curves, noisy_values, test_images[:1], samples,
                output_dir / 'wwgan_critics.png')
        write_json(output_dir / 'wwgan_metrics.json', result)
    return result


def _critic_measures(generator, critic, test_images, settings):
    """The measures of one run (see `evaluate`), its curves and its noise response."""
    images = test_images[:settings.n_images]
    rng = torch.Generator().manual_seed(settings.seed)
    with torch.no_grad():
        z = torch.randn(settings.n_generated, generator.latent_dim, generator=rng)
        generated = generator(z)
        on_real = critic_values(critic, test_images)
        on_fake = critic_values(critic, generated)
        level = float(on_real.mean() + on_fake.mean()) / 2
        clean = critic_values(critic, images)
        noisy = critic_values(critic, salt_and_pepper(images, settings.noise_fraction,
                                                      generator=rng))
    continuity = critic_continuity(critic, images, fill=0.0, threshold=level)
    raw = critic_continuity(critic, images, fill=0.0, threshold=0.0)
    pooled = float(torch.sqrt((clean.var() + noisy.var()) / 2))
    gap = float(on_real.mean() - on_fake.mean())
    measures = {
        'total_variation': mean_std(continuity['total_variation']),
        'zero_crossings': mean_std(continuity['zero_crossings']),
        'zero_crossings_raw': mean_std(raw['zero_crossings']),
        'critic_real': mean_std(on_real), 'critic_generated': mean_std(on_fake),
        'critic_clean': mean_std(clean), 'critic_noisy': mean_std(noisy),
        'separation': abs(float(clean.mean() - noisy.mean())) / pooled,
        'noise_shift': float(clean.mean() - noisy.mean()) / gap,
        'sliced_wasserstein': float(sliced_wasserstein(
            generated, test_images, n_projections=512,
            generator=torch.Generator().manual_seed(settings.seed))),
    }
    return measures, continuity['curves'], (clean, noisy)


def _trained_steps(run_dir):
    return int(load_checkpoint(Path(run_dir) / 'checkpoints')['step'])


def _figure(curves, noisy_values, image, generators, path):
    labels = list(curves)
    fig = new_figure(4 + 4 * len(labels), 7.5)
    axes = fig.subplots(2, 1 + len(labels))
    frames = translation_sequence(image[0], fill=0.0)
    strip = torch.cat([frames[k, 0] for k in range(0, frames.shape[0], 4)], dim=1)
    axes[0, 0].imshow(strip.numpy(), cmap='gray')
    axes[0, 0].set_title('shifts 0, 4, 8, ... px')
    axes[0, 0].set_axis_off()
    rows = []
    for label in labels:
        generator = generators[label]
        with torch.no_grad():
            samples = generator(torch.randn(8, generator.latent_dim,
                                            generator=torch.Generator().manual_seed(1)))
        rows.append(image_grid(samples, columns=8))
    axes[1, 0].imshow(torch.cat(rows, dim=0).numpy(), cmap='gray')
    axes[1, 0].set_title('samples: ' + ' (top), '.join(labels) + ' (bottom)')
    axes[1, 0].set_axis_off()
    for column, label in enumerate(labels, start=1):
        ax = axes[0, column]
        for curve in curves[label][:8]:
            ax.plot(curve.numpy(), lw=1)
        ax.set_title(f'{label}: critic along the translation')
        ax.set_xlabel('shift [px]')
        clean, noisy = noisy_values[label]
        ax = axes[1, column]
        bins = np.linspace(float(min(clean.min(), noisy.min())),
                           float(max(clean.max(), noisy.max())), 40)
        ax.hist(clean.numpy(), bins=bins, alpha=0.6, label='clean')
        ax.hist(noisy.numpy(), bins=bins, alpha=0.6, label='15 % salt and pepper')
        ax.set_title(f'{label}: critic on real digits')
        ax.legend()
    fig.savefig(path, dpi=90)


def report(result):
    """The evaluation report as a text table (one row per method)."""
    lines = [f'{"method":<10}{"TV (norm.)":>11}{"zero cross.":>12}{"raw zero cr.":>13}'
             f'{"S&P separ.":>11}{"S&P shift":>10}{"SW2":>8}{"s/step":>8}',
             '-' * 83]
    for label, entry in result['methods'].items():
        lines.append(f'{label:<10}{entry["total_variation"]["mean"]:>11.2f}'
                     f'{entry["zero_crossings"]["mean"]:>12.2f}'
                     f'{entry["zero_crossings_raw"]["mean"]:>13.2f}'
                     f'{entry["separation"]:>11.2f}{entry["noise_shift"]:>10.2f}'
                     f'{entry["sliced_wasserstein"]:>8.3f}{entry["seconds_per_step"]:>8.3f}')
    if 'reference' in result:
        lines.append(f'{"(train vs test digits)":<56}'
                     f'{result["reference"]["sliced_wasserstein_train_vs_test"]:>20.3f}')
    return '\n'.join(lines)


def demo(output_dir='results/wwgan', steps=None, progress=True, resume='auto', **overrides):
    """Train WGAN-GP and WWGAN on the digits with the same budget, then compare the critics.

    Parameters
    ----------
    output_dir : str or path-like
        ``wgan-gp/`` and ``wwgan/`` run folders, ``wwgan_metrics.json``,
        ``wwgan_critics.png``.
    steps : int, optional
        Generator updates per run; default the configurations'.
    progress : bool, optional
    resume : bool or 'auto', optional
        ``'auto'`` continues runs found in ``output_dir``.
    **overrides
        Sections of both configurations to override, e.g.
        ``data={'size': 16}``.

    Returns
    -------
    dict
        The report of `evaluate`, with the wall time of each run.

    Raises
    ------
    TrainingInterrupted
        If a signal stopped a run; rerunning continues it.
    """
    import time

    steps = check_int(steps, 'steps', minimum=1, allow_none=True)
    output_dir = resolve_output(output_dir)
    if steps is not None:
        overrides = dict(overrides, train=dict(overrides.get('train', {}), steps=steps))
    configs = {label: load_config(name, overrides) for label, name in DEMO_CONFIGS}
    runs, walls = {}, {}
    for label, config in configs.items():
        folder = output_dir / config.gan.method
        start = time.perf_counter()
        result = train(config, folder, resume=resume, progress=progress)
        if result.interrupted:
            raise TrainingInterrupted(result)
        walls[label] = time.perf_counter() - start
        runs[label] = folder
    result = evaluate(runs, output_dir)
    for label, seconds in walls.items():
        result['methods'][label]['wall_seconds'] = seconds
    write_json(output_dir / 'wwgan_metrics.json', result)
    return result
