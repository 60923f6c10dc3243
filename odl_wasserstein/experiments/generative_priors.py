"""Generative priors for inverse problems: AE, VAE and GAN generators searched in latent space.

The experiments of Duff, Campbell and Ehrhardt, "Regularising inverse
problems with generative machine learning models" (REFERENCE_SETTINGS
section 6), and the compressed-sensing check of Bora et al. (2017), on the
protocol of `odl_wasserstein.experiments.protocol`:

- `train`: a generator ``G`` trained on its own, without any forward
  operator: an autoencoder or a VAE (`odl_wasserstein.methods.AutoencoderRecipe`,
  the networks of `odl_wasserstein.nn.autoencoders`) or a WGAN-GP / WWGAN
  generator (`odl_wasserstein.methods.WGANRecipe`), on the authors' shapes
  (56 x 56, a circle and a rectangle, `odl_wasserstein.data.ShapesDataset`),
  scikit-learn's digits, user-supplied MNIST files or the MRI simulator's
  magnitude images; `load_run` gives back ``G``;
- `evaluate`: for each of the paper's forward operators, normalised to
  unit norm (`odl_wasserstein.operators.paper_operator`: denoising,
  Gaussian compressed sensing, blur, 25 % inpainting, tomography and
  missing-angle tomography), noisy data of held-out images (and of
  out-of-distribution images with a third shape, a triangle) are
  reconstructed by `odl_wasserstein.priors.latent_search` in its hard,
  sparse and soft forms for every run, and by Tikhonov and TV
  (`odl_wasserstein.baselines`); PSNR and SSIM with the plain data range 1
  and with the authors' code's data range 2 (+6 dB). For runs on digits
  or MNIST it adds Bora et al.'s curve: per-pixel error against the
  number of Gaussian measurements, latent search against the Lasso in the
  pixel basis;
- `demo`: the three shapes generators and a digits VAE, then both
  evaluations (``odl-wasserstein priors``).
"""

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from odl_wasserstein.baselines import (
    lasso_reconstruction, tikhonov_reconstruction, tv_reconstruction)
from odl_wasserstein.config import ExperimentConfig, Section
from odl_wasserstein.data import (
    ImageDataset, ShapesDataset, load_digits, load_mnist, random_mri_image, shapes_set,
    train_test_split)
from odl_wasserstein.experiments.protocol import (
    as_config, load_run_state, loaded_runs, mean_std, resolve_output, train_demo_runs,
    train_run, write_json)
from odl_wasserstein.methods import AutoencoderRecipe, WGANRecipe
from odl_wasserstein.metrics import psnr, ssim
from odl_wasserstein.nn import Autoencoder, ConvDecoder, DCGANCritic, VariationalAutoencoder
from odl_wasserstein.operators import (
    PAPER_OPERATORS, GaussianMatrix, paper_operator, reconstruction_space)
from odl_wasserstein.plotting import new_figure, reconstruction_grid
from odl_wasserstein.priors import SEARCH_METHODS, SEARCH_OPTIMIZERS, latent_search
from odl_wasserstein.torch import OperatorModule
from odl_wasserstein.training import check_device
from odl_wasserstein.util import (
    check_betas, check_choice, check_int, check_positive, check_real)

__all__ = ('Config', 'DataConfig', 'ModelConfig', 'GANConfig', 'TrainConfig', 'SearchConfig',
           'EvaluateConfig', 'image_data', 'build_networks', 'build', 'train', 'load_run',
           'noisy_measurements', 'reconstruct', 'evaluate', 'csgm_curve', 'report', 'demo',
           'SOURCES', 'KINDS')

SOURCES = ('shapes', 'digits', 'mnist', 'mri')
"""Training images: the authors' shapes, scikit-learn digits, MNIST files, simulated MRI."""

KINDS = ('ae', 'vae', 'gan')
"""The generators: autoencoder, variational autoencoder, Wasserstein GAN."""

GAN_PENALTIES = {'wgan-gp': ('two-sided', 10.0), 'wwgan': ('wasserstein', 4.0)}

DEMO_CONFIGS = (('AE', 'priors_shapes_ae'), ('VAE', 'priors_shapes_vae'),
                ('GAN', 'priors_shapes_gan'))
"""The shapes runs of the demo: label and shipped configuration."""

CSGM_CONFIG = ('VAE (digits)', 'priors_digits_vae')


@dataclass
class DataConfig(Section):
    """Training images: ``source``, side ``size``; ``path`` of MNIST files."""

    source: str = 'shapes'
    size: int = 56
    path: str = ''
    test_fraction: float = 0.2
    n_images: int = 2000

    def validate(self, prefix):
        check_choice(self.source, f'{prefix}.source', SOURCES)
        check_int(self.size, f'{prefix}.size', minimum=8)
        check_int(self.n_images, f'{prefix}.n_images', minimum=1)
        check_real(self.test_fraction, f'{prefix}.test_fraction', minimum=0.01, maximum=0.99)
        if self.source == 'mnist' and self.size != 28:
            raise ValueError(f'`{prefix}.size` must be 28 for MNIST, got {self.size}')


@dataclass
class ModelConfig(Section):
    """The generator: ``kind``, latent size, width and depth (halvings of the image).

    ``likelihood`` is the VAE's decoder model, ``loss`` the autoencoder's
    (``'bce'`` by default: with ``'mse'`` and a sigmoid output an AE on
    the mostly black shapes can collapse to a black image), ``dropout``
    the GAN generator's (the authors' keep probability 0.8 is 0.2 here).
    """

    kind: str = 'vae'
    latent_dim: int = 10
    filters: int = 32
    depth: int = 2
    likelihood: str = 'bernoulli'
    loss: str = 'bce'
    dropout: float = 0.0

    def validate(self, prefix):
        check_choice(self.kind, f'{prefix}.kind', KINDS)
        check_choice(self.likelihood, f'{prefix}.likelihood', ('bernoulli', 'gaussian'))
        check_choice(self.loss, f'{prefix}.loss', ('mse', 'bce'))
        for key in ('latent_dim', 'filters', 'depth'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        check_real(self.dropout, f'{prefix}.dropout', minimum=0, maximum=0.9)


@dataclass
class GANConfig(Section):
    """The WGAN of ``model.kind = 'gan'``: penalty, its weight, critic updates, betas."""

    penalty: str = 'wgan-gp'
    penalty_weight: float | None = None
    n_critic: int = 5
    betas: tuple[float, float] = (0.0, 0.9)

    def validate(self, prefix):
        check_choice(self.penalty, f'{prefix}.penalty', tuple(GAN_PENALTIES))
        check_real(self.penalty_weight, f'{prefix}.penalty_weight', minimum=0,
                   allow_none=True)
        check_int(self.n_critic, f'{prefix}.n_critic', minimum=1)
        check_betas(self.betas, f'{prefix}.betas')


@dataclass
class TrainConfig(Section):
    """Optimisation of the generator (Adam); ``seed`` seeds weights and data."""

    steps: int = 2000
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    validate_every: int = 500
    device: str = 'auto'
    threads: int | None = None

    def validate(self, prefix):
        for key in ('steps', 'batch_size', 'log_every', 'checkpoint_every', 'validate_every'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        check_int(self.threads, f'{prefix}.threads', minimum=1, allow_none=True)
        check_int(self.seed, f'{prefix}.seed')
        check_real(self.lr, f'{prefix}.lr', positive=True, maximum=1e3)
        check_device(self.device, f'{prefix}.device')


@dataclass
class SearchConfig(Section):
    """The latent searches: forms, weights (``a``; ``l, m``), iterations, restarts.

    The default weights are Duff et al.'s tuned values for the shapes VAE
    (tomography, noise 0.1); ``discrepancy = true`` sweeps the weight of
    every measurement down to the discrepancy level instead.
    """

    methods: tuple[str, ...] = SEARCH_METHODS
    hard_latent_weight: float = 0.0122
    sparse_weight: float = 0.39
    sparse_latent_weight: float = 0.0156
    soft_weight: float = 0.39
    soft_latent_weight: float = 0.625
    deviation: str = 'l1'
    optimizer: str = 'palm'
    n_iter: int = 200
    restarts: int = 4
    discrepancy: bool = False
    seed: int = 0

    def validate(self, prefix):
        if not self.methods:
            raise ValueError(f'`{prefix}.methods` must name at least one of {SEARCH_METHODS}')
        for method in self.methods:
            check_choice(method, f'{prefix}.methods', SEARCH_METHODS)
        for key in ('sparse_weight', 'soft_weight'):
            check_positive(getattr(self, key), f'{prefix}.{key}')
        for key in ('hard_latent_weight', 'sparse_latent_weight', 'soft_latent_weight'):
            check_real(getattr(self, key), f'{prefix}.{key}', minimum=0)
        check_choice(self.deviation, f'{prefix}.deviation', ('l1', 'tv'))
        check_choice(self.optimizer, f'{prefix}.optimizer', SEARCH_OPTIMIZERS)
        if self.optimizer != 'palm' and 'sparse' in self.methods:
            raise ValueError(f"`{prefix}.optimizer` must be 'palm' for the sparse form")
        check_int(self.n_iter, f'{prefix}.n_iter', minimum=1)
        check_int(self.restarts, f'{prefix}.restarts', minimum=1)
        check_int(self.seed, f'{prefix}.seed')

    def options(self, method):
        """Keyword arguments of `latent_search` for ``method``."""
        options = dict(method=method, optimizer=self.optimizer, n_iter=self.n_iter,
                       restarts=self.restarts, generator_seed=self.seed,
                       latent_weight=getattr(self, f'{method}_latent_weight'))
        if method != 'hard':
            options['weight'] = getattr(self, f'{method}_weight')
        if method == 'sparse':
            options['deviation'] = self.deviation
        return options


@dataclass
class EvaluateConfig(Section):
    """Held-out images, noise, operators, baselines and the CSGM sweep.

    ``n_extra`` adds that many triangles to the out-of-distribution shapes
    (0: no such test); ``csgm_measurements`` are the ``m`` of Bora et
    al.'s curve (digits and MNIST runs only).
    """

    n_images: int = 16
    noise: float = 0.1
    operators: tuple[str, ...] = PAPER_OPERATORS
    n_extra: int = 1
    tikhonov_alpha: float = 0.195
    tv_alpha: float = 0.0488
    baseline_iter: int = 300
    csgm_measurements: tuple[int, ...] = (10, 25, 50, 100, 200, 400)
    csgm_noise: float = 0.1
    lasso_alpha: float = 0.1
    seed: int = 0

    def validate(self, prefix):
        check_int(self.n_images, f'{prefix}.n_images', minimum=1)
        check_real(self.noise, f'{prefix}.noise', minimum=0)
        check_real(self.csgm_noise, f'{prefix}.csgm_noise', minimum=0)
        for name in self.operators:
            check_choice(name, f'{prefix}.operators', PAPER_OPERATORS)
        check_int(self.n_extra, f'{prefix}.n_extra')
        for key in ('tikhonov_alpha', 'tv_alpha', 'lasso_alpha'):
            check_positive(getattr(self, key), f'{prefix}.{key}')
        check_int(self.baseline_iter, f'{prefix}.baseline_iter', minimum=1)
        for m in self.csgm_measurements:
            check_int(m, f'{prefix}.csgm_measurements', minimum=1)
        check_int(self.seed, f'{prefix}.seed')


@dataclass
class Config(ExperimentConfig):
    """One generator run of the generative-priors experiment.

    Examples
    --------
    >>> config = Config.from_dict({'model': {'kind': 'gan'}, 'search': {'methods': ['soft']}})
    >>> config.search.options('soft')['weight'], config.gan.penalty
    (0.39, 'wgan-gp')
    >>> Config.from_dict({'data': {'size': 50}})
    Traceback (most recent call last):
        ...
    ValueError: configuration: `data.size` 50 must be divisible by 4 (2**model.depth); ...
    """

    EXPERIMENT = 'generative_priors'
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def check(self):
        """The sections, then the image size against the networks' halvings."""
        super().check()
        halvings = self.model.depth + (1 if self.model.kind == 'gan' else 0)
        if self.data.size % 2 ** halvings:
            raise ValueError(
                f'`data.size` {self.data.size} must be divisible by {2 ** halvings} '
                f'(2**model.depth{" + 1 for the GAN critic" if self.model.kind == "gan" else ""}'
                f'); choose another size or model.depth')
        return self


def image_data(config):
    """The training images (a stream or a tensor) and the held-out images ``(N, 1, n, n)``.

    Shapes are drawn on the fly (training stream; held-out images from the
    validation stream); digits, MNIST and MRI magnitudes are fixed sets,
    split by ``data.test_fraction`` (MNIST: its own test files).
    """
    data, seed = config.data, config.train.seed
    held_out = max(config.evaluate.n_images, 64)
    if data.source == 'shapes':
        return None, shapes_set(held_out, data.size, seed=seed)
    if data.source == 'digits':
        images, _ = load_digits(data.size)
    elif data.source == 'mnist':
        if not data.path:
            raise ValueError('`data.path` must name the folder of the MNIST IDX files for '
                             'data.source = "mnist" (--set data.path="...")')
        train_images, _ = load_mnist(data.path, 'train')
        test_images, _ = load_mnist(data.path, 'test')
        return train_images.float(), test_images[:held_out].float()
    else:
        magnitude = random_mri_image(data.size, generator=seed, batch_size=data.n_images).abs()
        images = magnitude / magnitude.flatten(1).amax(1).clamp(min=1e-12)[:, None, None]
        images = images[:, None].float()
    return train_test_split(images, test_fraction=data.test_fraction, seed=seed)


def build_networks(config):
    """``{'model': AE or VAE}`` or ``{'generator': ..., 'critic': ...}``, seeded."""
    torch.manual_seed(config.train.seed)
    model, shape = config.model, (config.data.size, config.data.size)
    if model.kind == 'ae':
        return {'model': Autoencoder(model.latent_dim, shape, filters=model.filters,
                                     depth=model.depth)}
    if model.kind == 'vae':
        return {'model': VariationalAutoencoder(model.latent_dim, shape, filters=model.filters,
                                                depth=model.depth,
                                                likelihood=model.likelihood)}
    return {'generator': ConvDecoder(model.latent_dim, shape, filters=model.filters,
                                     n_up=model.depth, dropout=model.dropout),
            'critic': DCGANCritic(size=config.data.size, filters=model.filters,
                                  n_layers=model.depth + 1)}


def build(config):
    """The recipe, the training stream and the held-out images of a run."""
    settings, networks = config.train, build_networks(config)
    train_images, test_images = image_data(config)
    if config.model.kind == 'gan':
        penalty, weight = GAN_PENALTIES[config.gan.penalty]
        recipe = WGANRecipe(networks['generator'], networks['critic'], lr=settings.lr,
                            betas=config.gan.betas, n_critic=config.gan.n_critic,
                            penalty=penalty, penalty_weight=config.gan.penalty_weight or weight)
        batch = settings.batch_size * config.gan.n_critic
    else:
        loss = config.model.loss if config.model.kind == 'ae' else None
        recipe = AutoencoderRecipe(networks['model'], loss=loss, lr=settings.lr)
        batch = settings.batch_size
    if train_images is None:
        data = ShapesDataset(batch, config.data.size, seed=settings.seed)
    else:
        data = ImageDataset(train_images, batch, seed=settings.seed)
    return recipe, data, test_images


def train(config, output_dir, resume=False, progress=True):
    """Train one generator; checkpoints, log and figures in ``output_dir``.

    A continued run may change ``train.steps`` and the ``[search]`` and
    ``[evaluate]`` settings, which do not touch the training (the folder
    then records the new ones, which `evaluate` uses).

    Examples
    --------
    >>> import tempfile
    >>> config = Config.from_dict({
    ...     'data': {'size': 16}, 'model': {'filters': 4, 'latent_dim': 3},
    ...     'train': {'batch_size': 8, 'steps': 3, 'log_every': 1, 'validate_every': 3,
    ...               'device': 'cpu'}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train(config, folder, progress=False)
    ...     generator, _ = load_run(folder)
    >>> result.step, generator(torch.zeros(2, 3)).shape
    (3, torch.Size([2, 1, 16, 16]))
    """
    config = as_config(config, Config)
    recipe, data, test_images = build(config)
    evaluation_keys = tuple(f'{section}.{key}' for section in ('search', 'evaluate')
                            for key in vars(getattr(config, section)))
    return train_run(config, recipe, data, output_dir, resume, progress, [test_images[:256]],
                     may_differ=('train.steps',) + evaluation_keys)


def load_run(run_dir, checkpoint=None, device='cpu'):
    """The trained generator ``G`` (in eval mode) and the configuration of a run folder."""
    config, state = load_run_state(run_dir, Config, checkpoint)
    networks = build_networks(config)
    for name, module in networks.items():
        module.load_state_dict(state['modules'][name])
    generator = networks['model'].decoder if 'model' in networks else networks['generator']
    return generator.to(device).eval(), config


def noisy_measurements(op, images, noise, seed):
    """``A x + noise * N(0, 1)`` of every image, ``(N, 1, *op.range.shape)``, seeded."""
    with torch.no_grad():
        clean = OperatorModule(op)(images)
    rng = torch.Generator().manual_seed(seed)
    return clean + noise * torch.randn(clean.shape, generator=rng, dtype=clean.dtype)


def reconstruct(generator, op, data, search, method, noise=None):
    """Latent-search reconstructions of ``data`` by ``method`` with the settings ``search``."""
    options = search.options(method)
    if search.discrepancy:
        options.update(noise_level=noise, discrepancy=True)
    return latent_search(generator, op, data, **options).image


def _baseline(op, data, kind, settings):
    """Tikhonov or TV reconstructions, one ODL solve per measurement."""
    solve = {'tikhonov': lambda y: tikhonov_reconstruction(
                 op, y, settings.tikhonov_alpha, n_iter=settings.baseline_iter),
             'tv': lambda y: tv_reconstruction(
                 op, y, settings.tv_alpha, n_iter=settings.baseline_iter)}[kind]
    images = [np.asarray(solve(op.range.element(y[0].numpy())).data) for y in data]
    return torch.from_numpy(np.stack(images))[:, None].float()


def _scores(images, truth):
    """PSNR and SSIM with the plain data range 1 and with the authors' code's 2."""
    x, t = images[:, 0].double(), truth[:, 0].double()
    return {'psnr': mean_std(psnr(x, t, data_range=1.0)),
            'ssim': mean_std(ssim(x, t, data_range=1.0)),
            'psnr_code': mean_std(psnr(x, t, data_range=2.0)),
            'ssim_code': mean_std(ssim(x, t, data_range=2.0))}


def _test_sets(config, test_images, n):
    sets = {'in-distribution': test_images[:n]}
    if config.data.source == 'shapes' and config.evaluate.n_extra:
        sets['out-of-distribution'] = shapes_set(n, config.data.size, seed=config.train.seed,
                                                 n_extra=config.evaluate.n_extra)
    return sets


def _operator_rows(generators, config, images, settings, baselines):
    """``{operator: {method label: (images, scores)}}`` for one test set."""
    space = reconstruction_space(config.data.size)
    rows = {}
    for k, name in enumerate(settings.operators):
        op = paper_operator(name, space, seed=settings.seed)
        data = noisy_measurements(op, images, settings.noise, settings.seed + k)
        results = {}
        for label, generator in generators.items():
            for method in config.search.methods:
                start = time.perf_counter()
                output = reconstruct(generator, op, data, config.search, method, settings.noise)
                scores = _scores(output, images)
                scores['seconds_per_image'] = (time.perf_counter() - start) / len(images)
                results[f'{label} {method}'] = (output, scores)
        for kind in (('tikhonov', 'tv') if baselines else ()):
            output = _baseline(op, data, kind, settings)
            results[{'tikhonov': 'Tikhonov', 'tv': 'TV'}[kind]] = (output, _scores(output, images))
        rows[name] = results
    return rows


def evaluate(runs, output_dir=None, n_samples=None, baselines=True):
    """The paper's table: every run x form against Tikhonov and TV, for every operator.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` (or ``label -> (generator, config)``); all
        trained on the same data. The search and evaluation settings are
        those of the first run.
    output_dir : str or path-like, optional
        Where ``priors_metrics.json`` and ``priors_reconstructions.png``
        (and ``csgm.png``) go.
    n_samples : int, optional
        Held-out images (default ``evaluate.n_images``).
    baselines : bool, optional
        Also Tikhonov and TV.

    Returns
    -------
    dict
        ``{'sets': {set: {operator: {method: scores}}}, 'csgm': ...,
        'settings': ...}``; scores hold ``psnr``, ``ssim`` (data range 1),
        ``psnr_code``, ``ssim_code`` (data range 2), each ``{'mean',
        'std'}``.
    """
    n_samples = check_int(n_samples, 'n_samples', minimum=1, allow_none=True)
    output_dir = None if output_dir is None else resolve_output(output_dir)
    loaded, config = loaded_runs(runs, load_run)
    settings = config.evaluate
    n = n_samples or settings.n_images
    generators = {label: generator for label, (generator, _) in loaded.items()}
    _, test_images = image_data(config)
    result = {'sets': {}, 'settings': {'evaluate': vars(settings).copy(),
                                       'search': vars(config.search).copy()}}
    figures = {}
    for set_name, images in _test_sets(config, test_images, n).items():
        rows = _operator_rows(generators, config, images, settings, baselines)
        result['sets'][set_name] = {op: {label: scores for label, (_, scores) in row.items()}
                                    for op, row in rows.items()}
        figures[set_name] = (images, rows)
    if config.data.source in ('digits', 'mnist') and settings.csgm_measurements:
        result['csgm'] = {label: csgm_curve(generator, test_images[:n], config)
                          for label, generator in generators.items()}
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        rows = [(f'{op[:12]}\n{set_name[:6]}', images[0, 0],
                 {label: output[0, 0].detach() for label, (output, _) in row.items()})
                for set_name, (images, table) in figures.items() for op, row in table.items()]
        reconstruction_grid(rows, output_dir / 'priors_reconstructions.png')
        if 'csgm' in result:
            _csgm_figure(result['csgm'], output_dir / 'csgm.png')
        write_json(output_dir / 'priors_metrics.json', result)
    return result


def csgm_curve(generator, images, config):
    """Bora et al.'s check: per-pixel MSE against the number of Gaussian measurements.

    For each ``m`` of ``evaluate.csgm_measurements``, the images are
    measured by `GaussianMatrix` (entries ``N(0, 1/m)``) with noise
    ``evaluate.csgm_noise`` per measurement and reconstructed by the hard
    latent search (``search`` settings) and by the Lasso in the pixel basis
    (``evaluate.lasso_alpha``, FISTA).

    Returns
    -------
    dict
        ``{'measurements': [...], 'latent_search': [mse...], 'lasso': [mse...]}``.
    """
    settings = config.evaluate
    space = reconstruction_space(config.data.size)
    curve = {'measurements': list(settings.csgm_measurements), 'latent_search': [], 'lasso': []}
    for m in settings.csgm_measurements:
        op = GaussianMatrix(space, m, seed=settings.seed)
        data = noisy_measurements(op, images, settings.csgm_noise, settings.seed + m)
        searched = reconstruct(generator, op, data, config.search, 'hard')
        lasso = torch.from_numpy(np.stack([np.asarray(lasso_reconstruction(
            op, op.range.element(y[0].numpy()), settings.lasso_alpha,
            n_iter=settings.baseline_iter).data) for y in data]))[:, None].float()
        for key, output in (('latent_search', searched), ('lasso', lasso)):
            curve[key].append(float((output - images).square().mean()))
    return curve


def _csgm_figure(curves, path):
    fig = new_figure(5, 3.6)
    ax = fig.subplots()
    for label, curve in curves.items():
        ax.plot(curve['measurements'], curve['latent_search'], 'o-', label=f'{label} (hard)')
    first = next(iter(curves.values()))
    ax.plot(first['measurements'], first['lasso'], 's--', label='Lasso (pixels)')
    ax.set_xlabel('number of measurements m')
    ax.set_ylabel('per-pixel MSE')
    ax.set_yscale('log')
    ax.legend()
    fig.savefig(path, dpi=100)


def report(result):
    """The evaluation (or the demo's two) as text tables: PSNR / SSIM per operator and method."""
    if 'sets' not in result:
        return '\n\n'.join(f'== {part} ==\n{report(value)}' for part, value in result.items())
    lines = []
    for set_name, table in result['sets'].items():
        labels = list(next(iter(table.values())))
        lines += [f'{set_name}: PSNR [dB] / SSIM, data range 1 (the authors\' code: +6.02 dB)',
                  f'{"method":<16}' + ''.join(f'{op[:14]:>15}' for op in table)]
        for label in labels:
            cells = ''.join(f'{table[op][label]["psnr"]["mean"]:>8.2f}/'
                            f'{table[op][label]["ssim"]["mean"]:.2f}' for op in table)
            lines.append(f'{label:<16}{cells}')
        lines.append('')
    for label, curve in result.get('csgm', {}).items():
        lines.append(f'CSGM check ({label}): m, per-pixel MSE of latent search / Lasso')
        for m, a, b in zip(curve['measurements'], curve['latent_search'], curve['lasso']):
            lines.append(f'{m:>6}{a:>10.4f}{b:>10.4f}')
    return '\n'.join(lines).rstrip()


def demo(output_dir='results/priors', steps=None, progress=True, resume='auto', n_samples=None):
    """Train the AE, VAE and GAN on shapes and a VAE on digits; evaluate both.

    Returns
    -------
    dict
        ``{'shapes': evaluate(...) of the shapes runs, 'digits': ... of the digits VAE}``.

    Raises
    ------
    TrainingInterrupted
        If a signal stopped a run; rerunning continues it.
    """
    output_dir = resolve_output(output_dir)
    runs = train_demo_runs(sys.modules[__name__], DEMO_CONFIGS + (CSGM_CONFIG,), output_dir,
                           lambda label, config: config.name, steps=steps, progress=progress,
                           resume=resume)
    digits = {CSGM_CONFIG[0]: runs.pop(CSGM_CONFIG[0])}
    result = {'shapes': evaluate(runs, output_dir / 'shapes', n_samples),
              'digits': evaluate(digits, output_dir / 'digits', n_samples)}
    write_json(output_dir / 'priors_metrics.json', result)
    return result
