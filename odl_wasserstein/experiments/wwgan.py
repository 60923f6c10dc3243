"""WGAN-GP against the Wasserstein-of-Wasserstein GAN (Dukler et al. 2019).

The paper's claim: a critic trained with the gradient penalty measured in
the Wasserstein-2 ground metric on pixels (WWGAN) is more continuous with
respect to natural image variations (translations) and more robust to
pixel noise than a critic trained with the Euclidean penalty (WGAN-GP), at
a negligible extra cost and with comparable sample quality. This module
reproduces the comparison on a dataset available offline, the handwritten
digits shipped with scikit-learn upsampled to 32 x 32
(`odl_wasserstein.data.load_digits`):

- `train_gan`: one run on the shared `odl_wasserstein.training.Trainer`,
  WGAN-GP (two-sided penalty, weight 10) or WWGAN (ground-metric penalty,
  weight 4, the authors' code), with the same DCGAN generator and critic,
  initial weights, data stream, optimiser and number of steps; the
  settings are saved beside the checkpoints so that `load_gan` rebuilds
  the networks;
- `evaluate_gans`: the paper's two critic experiments on held-out digits
  (translation continuity, Table 1; 15 % salt-and-pepper noise, Figure 5),
  sample quality by the sliced Wasserstein distance between generated and
  held-out digits (FID needs an Inception network, not available
  offline), and the measured time per training step;
- `wwgan_demo`: both runs and the evaluation, with a figure and a JSON
  report.
"""

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from odl_wasserstein.adversarial import critic_values
from odl_wasserstein.data import ImageDataset, load_digits, salt_and_pepper, train_test_split
from odl_wasserstein.metrics import critic_continuity, sliced_wasserstein, translation_sequence
from odl_wasserstein.nn import DCGANCritic, DCGANGenerator
from odl_wasserstein.training import Trainer, WGANRecipe, checkpoint

__all__ = ('METHODS', 'GANSettings', 'digits_split', 'build_gan', 'train_gan', 'load_gan',
           'evaluate_gans', 'format_gan_report', 'wwgan_demo')

SETTINGS_FILE = 'settings.json'

METHODS = {
    'wgan-gp': {'penalty': 'two-sided', 'penalty_weight': 10.0},
    'wwgan': {'penalty': 'wasserstein', 'penalty_weight': 4.0},
}
"""Penalty of each method: Gulrajani et al.'s WGAN-GP and the authors' WWGAN code."""


@dataclass
class GANSettings:
    """Settings of one GAN run; everything but the penalty is shared by the methods.

    Parameters
    ----------
    method : {'wgan-gp', 'wwgan'}
    size : int
        Side of the (square) images.
    filters : int
        Width of the DCGAN generator and critic (the authors use 64 or 128).
    latent_dim : int
    batch_size : int
        Real and generated samples per critic update (64 in the papers).
    n_critic : int
        Critic updates per generator update (5).
    steps : int
        Generator updates.
    lr : float
        Adam learning rate of both networks, betas (0.5, 0.9).
    seed : int
        Seeds the initial weights (the same for both methods), the data
        stream and the latent vectors.
    test_fraction : float
        Share of the digits held out for the evaluation.
    log_every, checkpoint_every, validate_every : int
    device : str
    threads : int or None
        torch intra-op threads, None: torch's default.
    """

    method: str = 'wwgan'
    size: int = 32
    filters: int = 32
    latent_dim: int = 64
    batch_size: int = 64
    n_critic: int = 5
    steps: int = 2000
    lr: float = 2e-4
    seed: int = 0
    test_fraction: float = 0.2
    log_every: int = 50
    checkpoint_every: int = 500
    validate_every: int = 250
    device: str = 'auto'
    threads: int = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f'`method` must be one of {sorted(METHODS)}, got {self.method!r}')
        if not 0 < self.test_fraction < 1:
            raise ValueError(f'`test_fraction` must be in (0, 1), got {self.test_fraction!r}')

    @classmethod
    def from_dict(cls, values):
        """Settings from a dict, rejecting unknown keys."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f'unknown GAN settings {unknown}; valid ones are {sorted(names)}')
        return cls(**values)


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


def build_gan(settings):
    """The DCGAN generator (sigmoid output) and critic of ``settings``, seeded.

    Both methods get identical initial weights for the same seed.

    Examples
    --------
    >>> generator, critic = build_gan(GANSettings(size=16, filters=8))
    >>> critic(generator(torch.randn(3, 64))).shape
    torch.Size([3])
    """
    torch.manual_seed(settings.seed)
    generator = DCGANGenerator(latent_dim=settings.latent_dim, out_channels=1,
                               size=settings.size, filters=settings.filters,
                               output='sigmoid')
    critic = DCGANCritic(in_channels=1, size=settings.size, filters=settings.filters)
    return generator, critic


def train_gan(settings, output_dir, resume=False, progress=True):
    """Train one GAN on the digits; checkpoints, log and figures in ``output_dir``.

    Parameters
    ----------
    settings : `GANSettings` or dict
    output_dir : str or path-like
    resume : bool or 'auto', optional
        Continue from the last checkpoint (see `Trainer.fit`); the saved
        settings must then equal ``settings`` except for ``steps``.
    progress : bool, optional

    Returns
    -------
    `odl_wasserstein.training.FitResult`

    Examples
    --------
    >>> import tempfile
    >>> settings = GANSettings(method='wwgan', size=16, filters=4, latent_dim=8,
    ...                        batch_size=4, steps=3, log_every=1, validate_every=3,
    ...                        device='cpu')
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train_gan(settings, folder, progress=False)
    ...     generator, critic, _ = load_gan(folder)
    >>> result.step, sorted(k for k in result.history[-1] if k.startswith('val/'))
    (3, ['val/distance', 'val/sliced_wasserstein'])
    """
    if isinstance(settings, dict):
        settings = GANSettings.from_dict(settings)
    output_dir = Path(output_dir)
    _record_settings(settings, output_dir, resume)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    train_images, test_images = digits_split(settings.size, settings.test_fraction,
                                             settings.seed)
    generator, critic = build_gan(settings)
    recipe = WGANRecipe(generator, critic, n_critic=settings.n_critic, lr=settings.lr,
                        **METHODS[settings.method])
    data = ImageDataset(train_images, settings.batch_size * settings.n_critic,
                        seed=settings.seed)
    validation = [test_images[:256]]
    trainer = Trainer(recipe, data, max_steps=settings.steps, output_dir=output_dir,
                      device=settings.device, seed=settings.seed,
                      log_every=settings.log_every,
                      checkpoint_every=settings.checkpoint_every,
                      validation_data=validation, validate_every=settings.validate_every,
                      figure_every=settings.validate_every, progress=progress)
    return trainer.fit(resume=resume)


def _record_settings(settings, output_dir, resume):
    path = output_dir / SETTINGS_FILE
    values = dataclasses.asdict(settings)
    if resume and path.is_file():
        saved = json.loads(path.read_text())
        differ = sorted(key for key in values
                        if key != 'steps' and saved.get(key) != values[key])
        if differ:
            raise ValueError(f'{path} differs from the settings in {differ}; resume with the '
                             'settings of the run, or start a new run')
    output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(values, indent=2)
    checkpoint.atomic_write(path, lambda file: file.write(text.encode()))


def load_gan(run_dir, checkpoint_path=None, device='cpu'):
    """Rebuild the trained generator and critic of a run folder written by `train_gan`.

    Returns
    -------
    generator, critic : torch.nn.Module
        In eval mode.
    settings : `GANSettings`
    """
    run_dir = Path(run_dir)
    path = run_dir / SETTINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f'{run_dir} has no {SETTINGS_FILE}; is it a folder written '
                                'by odl_wasserstein.experiments.wwgan.train_gan?')
    settings = GANSettings.from_dict(json.loads(path.read_text()))
    state = checkpoint.load_checkpoint(checkpoint_path or run_dir / 'checkpoints')
    generator, critic = build_gan(settings)
    generator.load_state_dict(state['modules']['generator'])
    critic.load_state_dict(state['modules']['critic'])
    return generator.to(device).eval(), critic.to(device).eval(), settings


def _step_times(run_dir):
    """Seconds per training step from a run's log (wall time between log entries)."""
    entries = [json.loads(line) for line in (Path(run_dir) / 'metrics.jsonl').read_text()
               .splitlines() if line.strip()]
    steps = np.array([entry['step'] for entry in entries], dtype=float)
    times = np.array([entry['time'] for entry in entries], dtype=float)
    if len(steps) < 2:
        return float('nan')
    rates = np.diff(times) / np.diff(steps)
    # Validation and figure steps are slower; the median is the training step.
    return float(np.median(rates[rates > 0])) if np.any(rates > 0) else float('nan')


def _summary(values):
    values = torch.as_tensor(values, dtype=torch.float64)
    return {'mean': float(values.mean()), 'std': float(values.std()) if values.numel() > 1
            else 0.0}


def evaluate_gans(runs, output_dir=None, n_images=200, noise_fraction=0.15,
                  n_generated=1000, seed=0):
    """The paper's critic experiments and sample quality for trained GANs.

    For each run, on ``n_images`` held-out digits:

    - **continuity** (Table 1): each image is translated down one pixel at a
      time until it has left the frame; the critic's curve is measured by
      its range-normalised total variation (1 for a monotone curve) and its
      zero crossings about the critic's decision level, the midpoint of
      its mean values on held-out real and on generated digits
      (`odl_wasserstein.metrics.critic_continuity`); crossings of the raw
      value 0 are reported too (``zero_crossings_raw``), though a WGAN
      critic is defined only up to a constant;
    - **noise** (Figure 5): the critic on the clean digits and on the same
      digits with 15 % salt-and-pepper noise; ``separation`` is the gap
      between the two means in units of their pooled standard deviation
      (large: clean and noisy digits form separate clusters), and
      ``noise_shift`` the gap relative to the critic's real-versus-generated
      gap (1: noise makes a digit look as fake as a generated one);
    - **sample quality**: the sliced Wasserstein-2 distance between
      ``n_generated`` generated digits and all held-out digits
      (`odl_wasserstein.metrics.sliced_wasserstein`), next to the same
      distance from training digits, the floor a perfect generator
      reaches;
    - **time**: median seconds per training step from the run's log.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` written by `train_gan`.
    output_dir : str or path-like, optional
        Where ``wwgan_metrics.json`` and ``wwgan_critics.png`` go.
    n_images : int, optional
    noise_fraction : float, optional
    n_generated : int, optional
    seed : int, optional
        Seeds the noise and the latent vectors.

    Returns
    -------
    dict
        ``{'methods': {label: metrics}, 'reference': {...}, 'settings': {...}}``.
    """
    report = {'methods': {}, 'settings': {'n_images': n_images,
                                          'noise_fraction': noise_fraction,
                                          'n_generated': n_generated, 'seed': seed}}
    curves = {}
    noisy_values = {}
    train_images = test_images = None
    for label, run_dir in runs.items():
        generator, critic, settings = load_gan(run_dir)
        train_images, test_images = digits_split(settings.size, settings.test_fraction,
                                                 settings.seed)
        images = test_images[:n_images]
        rng = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            z = torch.randn(n_generated, settings.latent_dim, generator=rng)
            generated = generator(z)
            on_real = critic_values(critic, test_images)
            on_fake = critic_values(critic, generated)
            level = float(on_real.mean() + on_fake.mean()) / 2
            clean = critic_values(critic, images)
            noisy = critic_values(critic, salt_and_pepper(images, noise_fraction,
                                                          generator=rng))
        continuity = critic_continuity(critic, images, fill=0.0, threshold=level)
        raw = critic_continuity(critic, images, fill=0.0, threshold=0.0)
        pooled = float(torch.sqrt((clean.var() + noisy.var()) / 2))
        gap = float(on_real.mean() - on_fake.mean())
        report['methods'][label] = {
            'method': settings.method,
            'steps': _trained_steps(run_dir),
            'total_variation': _summary(continuity['total_variation']),
            'zero_crossings': _summary(continuity['zero_crossings']),
            'zero_crossings_raw': _summary(raw['zero_crossings']),
            'critic_real': _summary(on_real), 'critic_generated': _summary(on_fake),
            'critic_clean': _summary(clean), 'critic_noisy': _summary(noisy),
            'separation': abs(float(clean.mean() - noisy.mean())) / pooled,
            'noise_shift': float(clean.mean() - noisy.mean()) / gap,
            'sliced_wasserstein': float(sliced_wasserstein(
                generated, test_images, n_projections=512,
                generator=torch.Generator().manual_seed(seed))),
            'seconds_per_step': _step_times(run_dir),
        }
        curves[label] = continuity['curves']
        noisy_values[label] = (clean, noisy)
    report['reference'] = {'sliced_wasserstein_train_vs_test': float(sliced_wasserstein(
        train_images, test_images, n_projections=512,
        generator=torch.Generator().manual_seed(seed)))}
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        _figure(curves, noisy_values, test_images[:1], runs, output_dir / 'wwgan_critics.png')
        text = json.dumps(report, indent=2)
        checkpoint.atomic_write(output_dir / 'wwgan_metrics.json',
                                lambda file: file.write(text.encode()))
    return report


def _trained_steps(run_dir):
    return int(checkpoint.load_checkpoint(Path(run_dir) / 'checkpoints')['step'])


def _figure(curves, noisy_values, image, runs, path):
    labels = list(curves)
    fig = Figure(figsize=(4 + 4 * len(labels), 7.5), layout='constrained')
    axes = fig.subplots(2, 1 + len(labels))
    frames = translation_sequence(image[0], fill=0.0)
    strip = torch.cat([frames[k, 0] for k in range(0, frames.shape[0], 4)], dim=1)
    axes[0, 0].imshow(strip.numpy(), cmap='gray')
    axes[0, 0].set_title('shifts 0, 4, 8, ... px')
    axes[0, 0].set_axis_off()
    rows = []
    for label in labels:
        generator, _, _ = load_gan(runs[label])
        with torch.no_grad():
            samples = generator(torch.randn(8, generator.latent_dim,
                                            generator=torch.Generator().manual_seed(1)))
        rows.append(torch.cat(list(samples[:, 0]), dim=1))
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


def format_gan_report(report):
    """The evaluation report as a text table (one row per method)."""
    lines = [f'{"method":<10}{"TV (norm.)":>11}{"zero cross.":>12}{"raw zero cr.":>13}'
             f'{"S&P separ.":>11}{"S&P shift":>10}{"SW2":>8}{"s/step":>8}',
             '-' * 83]
    for label, entry in report['methods'].items():
        lines.append(f'{label:<10}{entry["total_variation"]["mean"]:>11.2f}'
                     f'{entry["zero_crossings"]["mean"]:>12.2f}'
                     f'{entry["zero_crossings_raw"]["mean"]:>13.2f}'
                     f'{entry["separation"]:>11.2f}{entry["noise_shift"]:>10.2f}'
                     f'{entry["sliced_wasserstein"]:>8.3f}{entry["seconds_per_step"]:>8.3f}')
    lines.append(f'{"(train vs test digits)":<56}'
                 f'{report["reference"]["sliced_wasserstein_train_vs_test"]:>20.3f}')
    return '\n'.join(lines)


def wwgan_demo(output_dir='results/wwgan', steps=None, progress=True, resume='auto',
               **settings):
    """Train WGAN-GP and WWGAN on the digits with the same budget, then compare the critics.

    Parameters
    ----------
    output_dir : str or path-like
        ``wgan-gp/`` and ``wwgan/`` run folders, ``wwgan_metrics.json``,
        ``wwgan_critics.png``.
    steps : int, optional
        Generator updates per run; default `GANSettings`'s.
    progress : bool, optional
    resume : bool or 'auto', optional
        ``'auto'`` continues runs found in ``output_dir``.
    **settings
        Further `GANSettings` fields shared by both runs.

    Returns
    -------
    dict
        The report of `evaluate_gans`, with the wall time of each run.
    """
    output_dir = Path(output_dir)
    if steps is not None:
        settings['steps'] = steps
    runs, walls = {}, {}
    for method in METHODS:
        folder = output_dir / method
        start = time.perf_counter()
        train_gan(GANSettings(method=method, **settings), folder, resume=resume,
                  progress=progress)
        walls[method] = time.perf_counter() - start
        runs[method.upper()] = folder
    report = evaluate_gans(runs, output_dir)
    for method, seconds in walls.items():
        report['methods'][method.upper()]['wall_seconds'] = seconds
    text = json.dumps(report, indent=2)
    checkpoint.atomic_write(output_dir / 'wwgan_metrics.json',
                            lambda file: file.write(text.encode()))
    return report
