"""Accelerated MRI with the OT-cycleGAN, against supervised and conventional cycleGAN training.

The experiment of "Optimal transport, CycleGAN, and penalized LS for
unsupervised learning in inverse problems" (Sim et al.; sections 3-4.1,
Table 1, Appendix D.1), on the protocol of
`odl_wasserstein.experiments.protocol`. Single-coil images are measured by
``y = F^{-1} M (F x + n)`` with 1-D random line masks (R = 4 and 8 % ACS
lines, the authors' sampling). Three methods train a U-Net ``G: y -> x``:

- ``'ot_cyclegan'``: `odl_wasserstein.methods.OTCycleGANRecipe`, unpaired
  (fully sampled images of some subjects, measurements of others), the
  known forward operator with a new mask at every step, one PatchGAN
  critic, WGAN-GP;
- ``'supervised'``: `odl_wasserstein.methods.SupervisedRecipe`, paired, MSE
  (the paper's "supervised learning" row);
- ``'cyclegan'``: `odl_wasserstein.methods.CycleGANRecipe`, unpaired, a
  second U-Net for ``x -> y`` and two critics, least squares, lambda 10
  (the "conventional cycleGAN" row).

`evaluate` compares the trained runs with the zero-filled input and
CS-TV (`odl_wasserstein.baselines.tv_reconstruction` with
`odl_wasserstein.operators.MRIForward`) on held-out subjects, by PSNR and
SSIM of the magnitude images in both conventions: the paper's (peak
``max |x*|`` of the slice) and fastMRI's (peak: maximum of the volume).

Data: the offline simulator (`odl_wasserstein.data.SimulatedMRIDataset`,
subjects ``3 j`` for the fully sampled domain, ``3 j + 1`` for the
measured one and for paired training, ``3 j + 2`` held out), or fastMRI
single-coil files (``data.source = 'fastmri'``, ``data.path``), split by
patient into the fully sampled domain (``fractions[0]``), the measured
domain (``fractions[1]``) and the held-out slices (``fractions[2]``).
"""

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import odl
import torch

from odl_wasserstein.adversarial import PENALTY_KINDS
from odl_wasserstein.baselines import tv_reconstruction
from odl_wasserstein.config import ExperimentConfig, Section
from odl_wasserstein.data import (
    FastMRISliceDataset, RandomLineMasks, SimulatedMRIDataset, UndersampledMRIDataset,
    UnpairedStream, validation_set)
from odl_wasserstein.data.undersampled import LINE_MASKS
from odl_wasserstein.experiments.protocol import (
    as_config, fastmri_folder, load_run_state, loaded_runs, mean_std, resolve_output,
    train_demo_runs, train_run, write_json)
from odl_wasserstein.methods import CycleGANRecipe, OTCycleGANRecipe, SupervisedRecipe
from odl_wasserstein.metrics import psnr, ssim, volume_max
from odl_wasserstein.nn import PatchGANCritic, UndersampledFourier, UNet
from odl_wasserstein.operators import MRIForward
from odl_wasserstein.plotting import error_figure
from odl_wasserstein.training import check_device, require_memory
from odl_wasserstein.util import (
    channels_to_complex, check_betas, check_choice, check_int, check_positive, check_real,
    complex_to_channels)

__all__ = ('METHODS', 'Config', 'DataConfig', 'ModelConfig', 'MethodConfig', 'TrainConfig',
           'EvaluateConfig', 'image_streams', 'training_data', 'build_networks', 'build',
           'train', 'load_run', 'test_samples', 'evaluate', 'report', 'demo')

METHODS = ('ot_cyclegan', 'supervised', 'cyclegan')
"""The trained methods; the zero-filled input and CS-TV are evaluation baselines."""

DEMO_CONFIGS = (('OT-cycleGAN', 'mri_ot_cyclegan_64'), ('supervised', 'mri_supervised_64'),
                ('cycleGAN', 'mri_cyclegan_64'))
"""The runs of the CPU demo: label and shipped configuration."""


@dataclass
class DataConfig(Section):
    """Images, measurements and their split.

    Attributes
    ----------
    source : {'simulated', 'fastmri'}
        The offline simulator or fastMRI single-coil files in ``path``.
    path : str
        Folder of fastMRI ``.h5`` files (``source = 'fastmri'``).
    size : int
        Side of the simulated images.
    crop : int
        Centre crop of fastMRI images (320 in the paper).
    fractions : [float, float, float]
        fastMRI patients of the fully sampled domain, the measured domain
        and the held-out test slices.
    acceleration : float
        Nominal acceleration ``R`` of the line masks.
    mask : {'ot_cyclegan', 'fastmri'}
        The authors' sampling or fastMRI's `RandomMaskFunc`.
    snr_db : float or None
        Complex Gaussian k-space noise of the simulated measurements.
    seed : int
    """

    source: str = 'simulated'
    path: str = ''
    size: int = 64
    crop: int = 320
    fractions: tuple[float, float, float] = (0.45, 0.45, 0.1)
    acceleration: float = 4.0
    mask: str = 'ot_cyclegan'
    snr_db: float | None = 30.0
    seed: int = 0

    def validate(self, prefix):
        check_choice(self.source, f'{prefix}.source', ('simulated', 'fastmri'))
        check_int(self.size, f'{prefix}.size', minimum=16)
        check_int(self.crop, f'{prefix}.crop', minimum=16)
        check_real(self.acceleration, f'{prefix}.acceleration', minimum=1)
        check_choice(self.mask, f'{prefix}.mask', tuple(LINE_MASKS))
        check_real(self.snr_db, f'{prefix}.snr_db', allow_none=True, allow_inf=True)
        check_int(self.seed, f'{prefix}.seed')
        if not all(f > 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError(f'`{prefix}.fractions` must be three positive numbers summing '
                             f'to 1, got {list(self.fractions)}')


@dataclass
class ModelConfig(Section):
    """U-Net generator (the authors' layout, `UNet.ot_cyclegan`) and PatchGAN critics.

    ``residual``: the generators learn a correction of their input and
    start as the identity (`UNet`'s option; not the authors').
    """

    filters: int = 32
    levels: int = 4
    critic_filters: int = 64
    residual: bool = False

    def validate(self, prefix):
        check_int(self.filters, f'{prefix}.filters', minimum=1)
        check_int(self.levels, f'{prefix}.levels', minimum=1)
        check_int(self.critic_filters, f'{prefix}.critic_filters', minimum=1)


@dataclass
class MethodConfig(Section):
    """The method and its adversarial settings (None: the method's default).

    Attributes
    ----------
    name : {'ot_cyclegan', 'supervised', 'cyclegan'}
    penalty : {'two-sided', 'one-sided', 'wasserstein'}
        Gradient penalty of the OT-cycleGAN critic (``'wasserstein'`` is
        the WWGAN penalty).
    penalty_weight, cycle_weight : float or None
        Defaults 5 and 0.5 (OT-cycleGAN), -- and 10 (cycleGAN).
    n_critic : int or None
        Critic updates per step: 5 (OT-cycleGAN), 1 (cycleGAN).
    pool_size : int or None
        Fakes pooled for the critic: 0 (OT-cycleGAN; 50 is the code's
        option), 50 (cycleGAN).
    """

    name: str = 'ot_cyclegan'
    penalty: str = 'two-sided'
    penalty_weight: float | None = None
    cycle_weight: float | None = None
    n_critic: int | None = None
    pool_size: int | None = None

    def validate(self, prefix):
        check_choice(self.name, f'{prefix}.name', METHODS)
        check_choice(self.penalty, f'{prefix}.penalty', PENALTY_KINDS)
        for key in ('penalty_weight', 'cycle_weight'):
            check_real(getattr(self, key), f'{prefix}.{key}', minimum=0, allow_none=True)
        check_int(self.n_critic, f'{prefix}.n_critic', minimum=1, allow_none=True)
        check_int(self.pool_size, f'{prefix}.pool_size', allow_none=True)

    def options(self):
        """The recipe's keyword arguments that are set (not None)."""
        keys = ('penalty_weight', 'cycle_weight', 'n_critic', 'pool_size')
        options = {key: getattr(self, key) for key in keys if getattr(self, key) is not None}
        if self.name == 'ot_cyclegan':
            options['penalty'] = self.penalty
        return options


@dataclass
class TrainConfig(Section):
    """Optimisation; ``lr`` and ``betas`` None take the method's defaults.

    The authors' settings: batch 1, Adam 1e-4 (0.5, 0.9) for the
    OT-cycleGAN, 2e-4 (0.5, 0.999) for the cycleGAN; the supervised U-Net
    of their code: 2e-4 (0.5, 0.99).
    """

    steps: int = 3000
    lr: float | None = None
    betas: tuple[float, float] | None = None
    batch_size: int = 1
    checkpoint_every: int = 500
    log_every: int = 25
    validate_every: int | None = 500
    device: str = 'auto'
    threads: int | None = None
    seed: int = 0

    def validate(self, prefix):
        for key in ('steps', 'batch_size', 'checkpoint_every', 'log_every'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        for key in ('validate_every', 'threads'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1, allow_none=True)
        check_positive(self.lr, f'{prefix}.lr', allow_none=True)
        check_betas(self.betas, f'{prefix}.betas', allow_none=True)
        check_int(self.seed, f'{prefix}.seed')
        check_device(self.device, f'{prefix}.device')


@dataclass
class EvaluateConfig(Section):
    """Held-out evaluation: samples, their seed and the CS-TV baseline."""

    n_samples: int = 16
    seed: int = 12345
    tv_alpha: float = 2e-3
    tv_n_iter: int = 200

    def validate(self, prefix):
        check_int(self.n_samples, f'{prefix}.n_samples', minimum=1)
        check_int(self.seed, f'{prefix}.seed')
        check_positive(self.tv_alpha, f'{prefix}.tv_alpha')
        check_int(self.tv_n_iter, f'{prefix}.tv_n_iter', minimum=1)


@dataclass
class Config(ExperimentConfig):
    """One run of the accelerated-MRI comparison.

    Examples
    --------
    >>> config = Config.from_dict({'method': {'name': 'cyclegan'}, 'data': {'size': 32}})
    >>> config.experiment, config.method.name, config.data.acceleration
    ('ot_cyclegan_mri', 'cyclegan', 4.0)
    """

    EXPERIMENT = 'ot_cyclegan_mri'
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


def image_streams(config):
    """The unnormalised image streams of the three subject sets.

    Returns
    -------
    dict
        ``'clean'``: the fully sampled domain; ``'measured'``: the subjects
        whose measurements train the methods (paired with their images for
        supervised training); ``'test'``: held-out subjects.
    """
    data, batch_size = config.data, config.train.batch_size
    if data.source == 'simulated':
        def stream(role, size):
            return SimulatedMRIDataset(data.size, batch_size=size, seed=data.seed + role,
                                       subjects=(3, role))
    else:
        folder = fastmri_folder(data.path)

        def stream(role, size):
            subset = ('train', 'validation', 'test')[role]
            return FastMRISliceDataset(folder, batch_size=size, seed=data.seed + role,
                                       subset=subset, fractions=data.fractions,
                                       split_seed=data.seed, crop=data.crop,
                                       normalization=None,
                                       order='sequential' if role == 2 else 'random')
    return {'clean': stream(0, batch_size), 'measured': stream(1, batch_size),
            'test': stream(2, 1)}


def _measured(config, images, seed, channels=True):
    data = config.data
    snr_db = data.snr_db if data.source == 'simulated' else None
    return UndersampledMRIDataset(images, acceleration=data.acceleration, mask=data.mask,
                                  snr_db=snr_db, channels=channels, seed=seed)


def _unpaired(batch):
    """A paired item in the nested form of unpaired training, ``{'a': x, 'b': y, mask}``."""
    return {'a': {'x': batch['x']}, 'b': {'y': batch['y'], 'mask': batch['mask']}}


def training_data(config, streams=None, n_validation=2):
    """The training stream of ``config``'s method and a few validation batches.

    Supervised: pairs ``{'x', 'y', 'mask'}`` of the measured subjects.
    Unpaired methods: `UnpairedStream` items ``{'a': clean subjects' item,
    'b': measured subjects' item}``; their validation batches are paired
    items of the measured subjects' validation stream in the same form.
    """
    streams = image_streams(config) if streams is None else streams
    measured = _measured(config, streams['measured'], config.data.seed + 10)
    validation = validation_set(measured, n_validation)
    if config.method.name == 'supervised':
        return measured, validation
    clean = _measured(config, streams['clean'], config.data.seed + 11)
    return UnpairedStream(clean, measured), [_unpaired(b) for b in validation]


def build_networks(config):
    """The U-Net generator, the critic and, for the cycleGAN, the second pair; seeded.

    Returns
    -------
    dict
        ``'generator'``, and per method ``'critic'``, ``'forward'``,
        ``'critic_y'``.
    """
    model = config.model
    torch.manual_seed(config.train.seed)
    widths = tuple(model.critic_filters * 2 ** k for k in range(4))
    unet = dict(filters=model.filters, levels=model.levels, residual=model.residual)
    networks = {'generator': UNet.ot_cyclegan(**unet)}
    if config.method.name != 'supervised':
        networks['critic'] = PatchGANCritic(in_channels=2, filters=widths)
    if config.method.name == 'cyclegan':
        networks['forward'] = UNet.ot_cyclegan(**unet)
        networks['critic_y'] = PatchGANCritic(in_channels=2, filters=widths)
    return networks


def _optimiser(config, defaults):
    train = config.train
    return {'lr': defaults[0] if train.lr is None else train.lr,
            'betas': defaults[1] if train.betas is None else train.betas}


def build(config):
    """The recipe of ``config``'s method, its training stream and validation batches."""
    networks = build_networks(config)
    data, validation = training_data(config)
    name = config.method.name
    if name == 'supervised':
        recipe = SupervisedRecipe(networks['generator'], torch.nn.MSELoss(),
                                  clip_grad_norm=None, schedule='constant', input_key='y',
                                  target_key='x', **_optimiser(config, (2e-4, (0.5, 0.99))))
        return recipe, data, validation
    keys = dict(x_key=('a', 'x'), y_key=('b', 'y'), mask_key=('b', 'mask'))
    options = dict(config.method.options(), **keys)
    if name == 'ot_cyclegan':
        recipe = OTCycleGANRecipe(
            networks['generator'], UndersampledFourier(), networks['critic'],
            mask_sampler=RandomLineMasks(config.data.acceleration, config.data.mask),
            **_optimiser(config, (1e-4, (0.5, 0.9))), **options)
    else:
        recipe = CycleGANRecipe(networks['generator'], networks['forward'],
                                networks['critic'], networks['critic_y'],
                                **_optimiser(config, (2e-4, (0.5, 0.999))), **options)
    return recipe, data, validation


def _side(config):
    return config.data.size if config.data.source == 'simulated' else config.data.crop


def check_resources(config):
    """Refuse, before anything is built, a missing data folder or a step that cannot fit."""
    if config.data.source == 'fastmri':
        fastmri_folder(config.data.path)
    least = PatchGANCritic(in_channels=2, filters=(1, 1, 1, 1)).min_size
    if config.method.name != 'supervised' and _side(config) < least:
        raise ValueError(f'the image side {_side(config)} (data.size or data.crop) is below '
                         f'the {least} px the PatchGAN critic needs')
    # A lower bound: a few full-resolution activations of the first U-Net
    # level for each of the three generator passes of a cycle step.
    side, filters = _side(config), config.model.filters
    needed = 4 * config.train.batch_size * side ** 2 * filters * 8 * 3
    device = 'cuda' if config.train.device != 'cpu' and torch.cuda.is_available() else 'cpu'
    require_memory(needed, device, f'one training step at {side} x {side} with '
                   f'model.filters={filters}', 'reduce data.size (or data.crop), '
                   'model.filters or train.batch_size')


def train(config, output_dir, resume=False, progress=True):
    """Train the method of ``config``; checkpoints, log and figures in ``output_dir``.

    Parameters
    ----------
    config : `Config`, str or path-like
        A configuration, a shipped configuration's name or a TOML path.
    output_dir : str or path-like
    resume : bool, 'auto', int or path-like, optional
        See `odl_wasserstein.training.Trainer.fit`.
    progress : bool, optional

    Returns
    -------
    `odl_wasserstein.training.FitResult`

    Examples
    --------
    >>> import tempfile
    >>> config = Config.from_dict({
    ...     'data': {'size': 32}, 'model': {'filters': 2, 'levels': 2, 'critic_filters': 2},
    ...     'method': {'n_critic': 1},
    ...     'train': {'steps': 2, 'log_every': 1, 'validate_every': 2, 'device': 'cpu'}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train(config, folder, progress=False)
    ...     generator, _ = load_run(folder)
    >>> result.step, sorted(k for k in result.history[-1] if k.startswith('cycle'))
    (2, ['cycle_x', 'cycle_y'])
    """
    config = as_config(config, Config)
    check_resources(config)
    recipe, data, validation = build(config)
    return train_run(config, recipe, data, output_dir, resume, progress, validation)


def load_run(run_dir, checkpoint=None, device='cpu'):
    """The trained generator ``G: y -> x`` of a run folder, in eval mode, and its config."""
    config, state = load_run_state(run_dir, Config, checkpoint)
    generator = build_networks(config)['generator']
    # The supervised recipe names its network 'model'.
    modules = state['modules']
    generator.load_state_dict(modules['model' if 'model' in modules else 'generator'])
    return generator.to(device).eval(), config


def test_samples(config, n_samples=None):
    """Held-out measurements of the test subjects, paired with their images.

    Simulated data: the first ``n_samples`` batches of the test subjects'
    stream (seed ``evaluate.seed``); fastMRI: the first ``n_samples`` test
    slices in file and slice order, each with its own random mask.

    Returns
    -------
    dict
        ``'x'``, ``'y'``: complex ``(n, 1, H, W)``, each normalised by the
        standard deviation of its magnitude; ``'mask'`` ``(n, 1, 1, W)``;
        ``'volume'``: the subject or file of each slice (for fastMRI's PSNR).
    """
    n_samples = config.evaluate.n_samples if n_samples is None else n_samples
    n_samples = check_int(n_samples, 'n_samples', minimum=1)
    test = _measured(config, image_streams(config)['test'], config.evaluate.seed,
                     channels=False)
    batches = [test.generate(index) for index in range(n_samples)]
    samples = {key: torch.cat([b[key] for b in batches]) for key in ('x', 'y', 'mask')}
    names = 'subject' if config.data.source == 'simulated' else 'file'
    samples['volume'] = [str(v) for b in batches for v in
                         (b[names].tolist() if names == 'subject' else b[names])]
    return samples


def _reconstruct(generator, y):
    with torch.no_grad():
        return channels_to_complex(generator(complex_to_channels(y)))


def _cs_tv(samples, settings):
    """CS-TV: ``min |M F x - M F y|^2 + alpha TV(x)`` by ODL's PDHG, per slice."""
    images = []
    shape = tuple(samples['y'].shape[-2:])
    space = odl.uniform_discr([0, 0], shape, shape, dtype='complex128')
    for y, mask in zip(samples['y'][:, 0], samples['mask'][:, 0, 0]):
        op = MRIForward(space, mask[None].double().numpy())
        data = op(space.element(y.numpy()))
        x = tv_reconstruction(op, data, alpha=settings.tv_alpha, n_iter=settings.tv_n_iter)
        images.append(torch.as_tensor(np.asarray(x.data)).to(torch.complex64))
    return torch.stack(images)[:, None]


def _measures(images, samples):
    x, truth = images[:, 0].abs().double(), samples['x'][:, 0].abs().double()
    peaks = volume_max(truth, samples['volume'])
    return {'psnr': psnr(x, truth, data_range='max'), 'ssim': ssim(x, truth, data_range='max'),
            'psnr_fastmri': psnr(x, truth, data_range=peaks),
            'ssim_fastmri': ssim(x, truth, data_range=peaks)}


MEASURES = {
    'psnr': "PSNR [dB] of the magnitude, the paper's: peak max |x*| of the slice",
    'ssim': "SSIM of the magnitude, peak max |x*| of the slice (the paper's)",
    'psnr_fastmri': "PSNR [dB], fastMRI's: peak the maximum of the slice's volume (subject "
                    "or file; the simulator's subjects are single slices, so it equals psnr)",
    'ssim_fastmri': "SSIM with fastMRI's volume-maximum peak",
}
"""What the report's measures are."""


def _outputs(loaded, samples, settings, baselines):
    outputs, seconds = {}, {}
    if baselines:
        outputs['zero-filled'], seconds['zero-filled'] = samples['y'], 0.0
        start = time.perf_counter()
        outputs['CS-TV'] = _cs_tv(samples, settings)
        seconds['CS-TV'] = (time.perf_counter() - start) / len(samples['y'])
    for label, (generator, _) in loaded.items():
        start = time.perf_counter()
        outputs[label] = torch.cat([_reconstruct(generator, y[None]) for y in samples['y']])
        seconds[label] = (time.perf_counter() - start) / len(samples['y'])
    return outputs, seconds


def evaluate(runs, output_dir, n_samples=None, baselines=True, config=None):
    """Reconstruct held-out measurements with every run and the baselines; measure them.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` (written by `train`) or ``label ->
        (generator, config)``; all runs must share the data settings.
    output_dir : str or path-like
        Where ``metrics.json`` and ``reconstructions.png`` go.
    n_samples : int, optional
        Held-out slices; default ``evaluate.n_samples``.
    baselines : bool, optional
        Also the zero-filled input and CS-TV.
    config : `Config`, optional
        Data and evaluation settings; default the first run's.

    Returns
    -------
    dict
        The content of ``metrics.json``: per method the mean and standard
        deviation of the `MEASURES` and the seconds per slice.
    """
    output_dir = resolve_output(output_dir)
    loaded, config = loaded_runs(runs, load_run, config)
    samples = test_samples(config, n_samples)
    outputs, seconds = _outputs(loaded, samples, config.evaluate, baselines)
    methods = {label: dict({name: mean_std(values) for name, values in
                            _measures(images, samples).items()},
                           seconds_per_slice=seconds[label])
               for label, images in outputs.items()}
    result = {'config': config.to_dict(), 'n_samples': len(samples['y']),
              'measures': MEASURES, 'methods': methods}
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / 'metrics.json', result)
    _figure(samples, outputs, methods, output_dir / 'reconstructions.png')
    return result


def _figure(samples, outputs, methods, path):
    images = {'input (zero-filled)': samples['y'][0, 0].abs()}
    images.update({label: out[0, 0].abs() for label, out in outputs.items()
                   if label != 'zero-filled'})
    rows = dict({label: label for label in images}, **{'input (zero-filled)': 'zero-filled'})
    titles = {label: f'{label}\n{methods[row]["psnr"]["mean"]:.2f} dB / '
                     f'{methods[row]["ssim"]["mean"]:.3f}'
              for label, row in rows.items() if row in methods}
    titles['reference'] = 'target'
    error_figure(images, samples['x'][0, 0].abs(), path, titles)


def report(result):
    """The evaluation report as a text table (one row per method)."""
    lines = [f'{"method":<14}{"PSNR":>8}{"SSIM":>8}{"PSNR fastMRI":>14}{"SSIM fastMRI":>14}'
             f'{"s/slice":>9}', '-' * 67]
    for label, entry in result['methods'].items():
        lines.append(f'{label:<14}{entry["psnr"]["mean"]:>8.2f}{entry["ssim"]["mean"]:>8.3f}'
                     f'{entry["psnr_fastmri"]["mean"]:>14.2f}'
                     f'{entry["ssim_fastmri"]["mean"]:>14.3f}'
                     f'{entry["seconds_per_slice"]:>9.3f}')
    return '\n'.join(lines)


def demo(output_dir='results/mri', steps=None, n_samples=None, progress=True, resume='auto'):
    """Train the OT-cycleGAN, the supervised U-Net and the cycleGAN on simulated MRI; compare.

    Runs the shipped CPU configurations (`DEMO_CONFIGS`) into
    ``output_dir/<method>`` and `evaluate` s them with the zero-filled input
    and CS-TV. Interrupted runs continue where they stopped.

    Raises
    ------
    TrainingInterrupted
        If a signal stopped a run; rerunning continues it.
    """
    steps = check_int(steps, 'steps', minimum=1, allow_none=True)
    output_dir = resolve_output(output_dir)
    runs = train_demo_runs(sys.modules[__name__], DEMO_CONFIGS, output_dir,
                           lambda label, config: config.method.name, steps, progress, resume)
    return evaluate(runs, output_dir, n_samples=n_samples)
