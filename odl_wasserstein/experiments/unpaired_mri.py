"""Multi-coil MRI from unpaired labels: the unpaired WGAN against L1, WGAN + L1 and CS.

The experiments of Lei, Mardani, Pauly and Vasanawala, "Wasserstein GANs
for MR imaging: from paired to unpaired training" (Tables I and II;
REFERENCE_SETTINGS section 4), on the protocol of
`odl_wasserstein.experiments.protocol`. Eight-coil k-space ``b = M F S x +
n`` is undersampled by 2-D variable-density Poisson masks with a fully
sampled calibration square (or 1-D line masks); a generator with
data-consistency layers (`odl_wasserstein.nn.UnrolledDCGenerator`, or the
plain `odl_wasserstein.nn.ResNetDCGenerator`) reconstructs ``x`` from
``b`` and is trained by `odl_wasserstein.methods.UnpairedMRIRecipe`:

- ``'unpaired'``: a WGAN-GP critic compares its images with labels of
  other subjects (``data.labels = 'disjoint'``, Table II) or of a few of
  the measured subjects (``'partial'``, Table I), complex or magnitude
  only (``data.label_kind``); ``data.label_subjects`` sets how many
  subjects give labels;
- ``'paired'``: the L1 network;
- ``'hybrid'``: WGAN + L1 on paired labels.

`evaluate` compares trained runs with the zero-filled input and
compressed sensing with wavelets (the paper's baseline,
`odl_wasserstein.baselines.wavelet_reconstruction`) and with TV
(`odl_wasserstein.baselines.tv_reconstruction`), both on the multi-coil
`odl_wasserstein.operators.MRIForward`, on held-out subjects by
SNR as the paper defines it and as the authors' code computes it
(`odl_wasserstein.metrics.snr`), SSIM, and seconds per slice.

Data: the offline simulator (`odl_wasserstein.data.SimulatedMRIDataset`
with birdcage coils; subjects ``3 j + 1`` measured, ``3 j`` disjoint
labels, ``3 j + 2`` held out) or fastMRI multi-coil files
(``data.source = 'fastmri'``), split by patient.
"""

import dataclasses
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import odl
import torch

from odl_wasserstein.adversarial import PENALTY_KINDS
from odl_wasserstein.baselines import tv_reconstruction, wavelet_reconstruction
from odl_wasserstein.config import ExperimentConfig, Section
from odl_wasserstein.data import (
    MULTICOIL_MASKS, FastMRICoilDataset, MulticoilMRIDataset, SimulatedMRIDataset,
    UnpairedStream, validation_set)
from odl_wasserstein.experiments.protocol import (
    as_config, fastmri_folder, load_run_state, loaded_runs, mean_std, resolve_output,
    train_demo_runs, train_run, write_json)
from odl_wasserstein.methods import UnpairedMRIRecipe, reconstruct
from odl_wasserstein.methods.unpaired_mri import CRITIC_INPUTS, MODES
from odl_wasserstein.metrics import snr, ssim
from odl_wasserstein.nn import ResNetDCGenerator, UnpairedMRICritic, UnrolledDCGenerator
from odl_wasserstein.operators import MRIForward
from odl_wasserstein.plotting import error_figure
from odl_wasserstein.training import check_device, require_memory
from odl_wasserstein.util import (
    channels_to_complex, check_betas, check_choice, check_int, check_positive, check_real)

__all__ = ('Config', 'DataConfig', 'ModelConfig', 'MethodConfig', 'TrainConfig',
           'EvaluateConfig', 'image_streams', 'training_data', 'build_networks', 'build',
           'train', 'load_run', 'test_samples', 'evaluate', 'report', 'demo', 'MEASURES')

LABEL_SETS = ('disjoint', 'partial', 'paired')
"""Where labels come from: other subjects, a few measured subjects, the measured ones."""

DEMO_CONFIGS = (('unpaired WGAN', 'mri_unpaired_wgan_64'), ('L1-net', 'mri_paired_l1_64'),
                ('WGAN+L1', 'mri_hybrid_64'))
"""The runs of the CPU demo (Table II): label and shipped configuration."""


@dataclass
class DataConfig(Section):
    """Images, coils, masks and where the labels come from.

    Attributes
    ----------
    source : {'simulated', 'fastmri'}
    path : str
        Folder of fastMRI multi-coil ``.h5`` files.
    size : int
        Side of the simulated images.
    crop : [int, int]
        Image-domain crop of fastMRI slices (256 x 320, the authors').
    fractions : [float, float, float]
        fastMRI patients of the measured subjects, the disjoint labels
        and the test slices.
    coils : int
        Coils (8; fastMRI files are compressed to this many).
    coil_maps : {'given', 'estimate'}
        The simulator's maps, or maps estimated from the calibration
        region (always for fastMRI).
    acceleration : float
    mask : str
        ``'poisson'`` (2-D, the paper's) or a 1-D line mask.
    calibration : int or None
        Side of the calibration square; None: 20 at 256, scaled.
    mask_bank : int or None
        Draw masks from a seeded bank of this many per stream (made once,
        cached; Poisson masks take 0.1 s at 256 x 320) instead of a new
        mask per sample.
    snr_db : float or None
        k-space noise of the simulated measurements.
    labels : {'disjoint', 'partial', 'paired'}
        Label subjects: others, a few of the measured ones, or the
        measured ones themselves (paired and hybrid training).
    label_kind : {'complex', 'magnitude'}
    label_subjects, input_subjects : int or None
        Number of subjects giving labels / measurements (None: a
        practically unbounded population; fastMRI: all of the subset).
    seed : int
    """

    source: str = 'simulated'
    path: str = ''
    size: int = 64
    crop: tuple[int, int] = (256, 320)
    fractions: tuple[float, float, float] = (0.45, 0.45, 0.1)
    coils: int = 8
    coil_maps: str = 'estimate'
    acceleration: float = 10.0
    mask: str = 'poisson'
    calibration: int | None = None
    mask_bank: int | None = None
    snr_db: float | None = 30.0
    labels: str = 'disjoint'
    label_kind: str = 'complex'
    label_subjects: int | None = None
    input_subjects: int | None = None
    seed: int = 0

    def validate(self, prefix):
        check_choice(self.source, f'{prefix}.source', ('simulated', 'fastmri'))
        check_int(self.size, f'{prefix}.size', minimum=16)
        for k, side in enumerate(self.crop):
            check_int(side, f'{prefix}.crop[{k}]', minimum=16)
        sides = (self.size,) if self.source == 'simulated' else tuple(self.crop)
        if any(side % 2 for side in sides):
            raise ValueError(f'`{prefix}.{"size" if self.source == "simulated" else "crop"}` '
                             f'must be even, got {list(sides)}: the CS-wavelet baseline of the '
                             'evaluation needs even image sides')
        check_int(self.coils, f'{prefix}.coils', minimum=1)
        check_choice(self.coil_maps, f'{prefix}.coil_maps', ('given', 'estimate'))
        check_real(self.acceleration, f'{prefix}.acceleration', minimum=1)
        check_choice(self.mask, f'{prefix}.mask', MULTICOIL_MASKS)
        check_int(self.calibration, f'{prefix}.calibration', minimum=1, allow_none=True)
        check_int(self.mask_bank, f'{prefix}.mask_bank', minimum=1, allow_none=True)
        check_real(self.snr_db, f'{prefix}.snr_db', allow_none=True, allow_inf=True)
        check_choice(self.labels, f'{prefix}.labels', LABEL_SETS)
        check_choice(self.label_kind, f'{prefix}.label_kind', ('complex', 'magnitude'))
        for key in ('label_subjects', 'input_subjects'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1, allow_none=True)
        check_int(self.seed, f'{prefix}.seed')
        if not all(f > 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError(f'`{prefix}.fractions` must be three positive numbers summing '
                             f'to 1, got {list(self.fractions)}')
        if self.source == 'fastmri' and self.coil_maps == 'given':
            raise ValueError(f"`{prefix}.coil_maps` must be 'estimate' for fastMRI files, "
                             'which hold no coil maps')


@dataclass
class ModelConfig(Section):
    """Generator (unrolled or plain ResNet, each with data consistency) and critic.

    Attributes
    ----------
    generator : {'unrolled', 'resnet'}
    n_iter : int
        Unrolled iterations ``K`` (3).
    features : int
        Channels of the residual blocks (64).
    blocks : int
        Residual blocks per iteration (unrolled, 2) or in all (ResNet:
        5 the paper, 8 the code).
    variant : {'paper', 'code'}
        The paper's layers or the authors' code's (batch norm, circular
        padding, bias-free convolutions; pre-activation blocks).
    shared : bool
        One set of weights for all unrolled iterations.
    critic_filters : [int, int, int, int]
    critic_hidden : int
    """

    generator: str = 'unrolled'
    n_iter: int = 3
    features: int = 64
    blocks: int = 2
    variant: str = 'paper'
    shared: bool = False
    critic_filters: tuple[int, int, int, int] = (4, 8, 16, 32)
    critic_hidden: int = 64

    def validate(self, prefix):
        check_choice(self.generator, f'{prefix}.generator', ('unrolled', 'resnet'))
        check_choice(self.variant, f'{prefix}.variant', ('paper', 'code'))
        for key in ('n_iter', 'features', 'blocks', 'critic_hidden'):
            check_int(getattr(self, key), f'{prefix}.{key}', minimum=1)
        for k, width in enumerate(self.critic_filters):
            check_int(width, f'{prefix}.critic_filters[{k}]', minimum=1)


@dataclass
class MethodConfig(Section):
    """The training mode and its adversarial settings (REFERENCE_SETTINGS section 4).

    Attributes
    ----------
    mode : {'unpaired', 'paired', 'hybrid'}
    critic_input : {'complex', 'magnitude'}
        What the critic sees; ``'magnitude'`` for magnitude-only labels.
    penalty : {'two-sided', 'one-sided', 'wasserstein'}
        WGAN-GP, or the WWGAN penalty.
    penalty_weight : float
    n_critic : int
        Critic updates per generator update, the last one joint with it
        (4: the code's 3 critic-only steps, then a joint step).
    l1_schedule : [int, int, float]
        Hybrid L1 weight: 1 up to step ``hold``, linear to ``final`` at
        step ``end``.
    """

    mode: str = 'unpaired'
    critic_input: str = 'complex'
    penalty: str = 'two-sided'
    penalty_weight: float = 10.0
    n_critic: int = 4
    l1_schedule: tuple[int, int, float] = (500, 1000, 0.99)

    def validate(self, prefix):
        check_choice(self.mode, f'{prefix}.mode', MODES)
        check_choice(self.critic_input, f'{prefix}.critic_input', CRITIC_INPUTS)
        check_choice(self.penalty, f'{prefix}.penalty', PENALTY_KINDS)
        check_real(self.penalty_weight, f'{prefix}.penalty_weight', minimum=0)
        check_int(self.n_critic, f'{prefix}.n_critic', minimum=1)
        hold, end, final = self.l1_schedule
        check_int(hold, f'{prefix}.l1_schedule[0]')
        check_int(end, f'{prefix}.l1_schedule[1]', minimum=hold)
        check_real(final, f'{prefix}.l1_schedule[2]', minimum=0, maximum=1)


@dataclass
class TrainConfig(Section):
    """Optimisation: Adam 1e-4 (0.5, 0.9), batch 4 per generator update (the paper)."""

    steps: int = 2000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 4
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
        check_positive(self.lr, f'{prefix}.lr')
        check_betas(self.betas, f'{prefix}.betas')
        check_int(self.seed, f'{prefix}.seed')
        check_device(self.device, f'{prefix}.device')


@dataclass
class EvaluateConfig(Section):
    """Held-out evaluation: slices, their seed and the CS baselines.

    ``wavelet_alpha``: l1-wavelet CS (the paper's, BART's CS-Wavelet;
    `odl_wasserstein.baselines.wavelet_reconstruction`, FISTA);
    ``tv_alpha``: CS-TV (`odl_wasserstein.baselines.tv_reconstruction`,
    PDHG); ``cs_n_iter`` iterations each. The defaults are the best of a
    half-decade grid by the code's SNR on 8 slices of the measured
    (training) subjects of the 64 x 64 demo data, not the test subjects.
    """

    n_samples: int = 16
    seed: int = 12345
    wavelet_alpha: float = 1e-2
    tv_alpha: float = 3e-2
    cs_n_iter: int = 200

    def validate(self, prefix):
        check_int(self.n_samples, f'{prefix}.n_samples', minimum=1)
        check_int(self.seed, f'{prefix}.seed')
        check_positive(self.wavelet_alpha, f'{prefix}.wavelet_alpha')
        check_positive(self.tv_alpha, f'{prefix}.tv_alpha')
        check_int(self.cs_n_iter, f'{prefix}.cs_n_iter', minimum=1)


@dataclass
class Config(ExperimentConfig):
    """One run of the unpaired-WGAN MRI comparison.

    Examples
    --------
    >>> config = Config.from_dict({'method': {'mode': 'hybrid'}, 'data': {'labels': 'paired'}})
    >>> config.experiment, config.method.mode, config.data.acceleration
    ('unpaired_mri', 'hybrid', 10.0)
    """

    EXPERIMENT = 'unpaired_mri'
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def check(self):
        """The sections, then the rules across them."""
        super().check()
        if self.method.mode != 'unpaired' and self.data.labels != 'paired':
            raise ValueError(f"method.mode = {self.method.mode!r} trains on paired labels; "
                             "set data.labels = 'paired'")
        if self.method.mode == 'unpaired' and self.data.labels == 'paired':
            raise ValueError("method.mode = 'unpaired' needs labels of other subjects: set "
                             "data.labels = 'disjoint' or 'partial'")
        if self.data.label_kind == 'magnitude' and self.method.critic_input == 'complex':
            raise ValueError("magnitude labels need method.critic_input = 'magnitude'")
        return self


_ROLES = {'measured': 1, 'disjoint': 0, 'test': 2}


def image_streams(config, batch_sizes):
    """Unnormalised multi-coil image streams of the subject sets.

    Parameters
    ----------
    config : `Config`
    batch_sizes : dict
        ``role -> batch size`` for the roles ``'measured'``, ``'labels'``
        and ``'test'`` to build.

    Returns
    -------
    dict
        ``role -> stream``; ``'labels'`` draws from other subjects
        (``'disjoint'``) or from the first ``label_subjects`` measured
        ones (``'partial'``).
    """
    data = config.data
    role_of = {'measured': 'measured', 'test': 'test',
               'labels': 'measured' if data.labels == 'partial' else 'disjoint'}
    count = {'measured': data.input_subjects, 'test': None, 'labels': data.label_subjects}
    streams = {}
    for role, size in batch_sizes.items():
        number = _ROLES[role_of[role]]
        seed = data.seed + 3 * number + (role == 'labels')
        if data.source == 'simulated':
            streams[role] = SimulatedMRIDataset(
                data.size, batch_size=size, seed=seed, subjects=(3, number),
                num_subjects=count[role], num_coils=data.coils, snr_db=data.snr_db)
        else:
            streams[role] = FastMRICoilDataset(
                fastmri_folder(data.path), batch_size=size, seed=seed,
                num_coils=data.coils, calibration=data.calibration,
                subset=('validation', 'train', 'test')[number], fractions=data.fractions,
                split_seed=data.seed, crop=tuple(data.crop),
                order='sequential' if role == 'test' else 'random')
    return streams


def _measurements(config, images, seed, label_kind='complex'):
    data = config.data
    return MulticoilMRIDataset(images, acceleration=data.acceleration, mask=data.mask,
                               calibration=data.calibration, coil_maps=data.coil_maps,
                               labels=label_kind, mask_bank=data.mask_bank, seed=seed)


def _batch_sizes(config):
    batch = config.train.batch_size
    per_step = batch if config.method.mode == 'paired' else batch * config.method.n_critic
    sizes = {'measured': per_step}
    if config.data.labels != 'paired':
        sizes['labels'] = per_step
    return sizes


def training_data(config, n_validation=2):
    """The training stream of ``config`` and a few validation batches.

    Paired labels: measured items ``{'kspace', 'mask', 'coil_maps', 'x',
    ...}``. Otherwise `UnpairedStream` items ``{'a': label item, 'b':
    measured item}``; validation batches are measured items ``{'b': ...}``
    with their own labels.
    """
    streams = image_streams(config, _batch_sizes(config))
    measured = _measurements(config, streams['measured'], config.data.seed + 10)
    validation = validation_set(measured, n_validation)
    if config.data.labels == 'paired':
        return measured, validation
    labels = _measurements(config, streams['labels'], config.data.seed + 11,
                           config.data.label_kind)
    return UnpairedStream(labels, measured), [{'b': batch} for batch in validation]


def build_networks(config):
    """The generator and, but for ``'paired'``, the critic; seeded by ``train.seed``."""
    model = config.model
    torch.manual_seed(config.train.seed)
    if model.generator == 'unrolled':
        generator = UnrolledDCGenerator(n_iter=model.n_iter, features=model.features,
                                        blocks=model.blocks, shared=model.shared,
                                        variant=model.variant)
    else:
        generator = ResNetDCGenerator(blocks=model.blocks, features=model.features,
                                      variant=model.variant)
    networks = {'generator': generator}
    if config.method.mode != 'paired':
        channels = 1 if config.method.critic_input == 'magnitude' else 2
        networks['critic'] = UnpairedMRICritic(in_channels=channels,
                                               filters=model.critic_filters,
                                               hidden=model.critic_hidden)
    return networks


def build(config):
    """The recipe of ``config``, its training stream and validation batches."""
    networks = build_networks(config)
    data, validation = training_data(config)
    method, train = config.method, config.train
    paired = config.data.labels == 'paired'
    recipe = UnpairedMRIRecipe(
        networks['generator'], networks.get('critic'), mode=method.mode,
        critic_input=method.critic_input, l1_schedule=method.l1_schedule,
        measured_key=None if paired else ('b',), label_key='x' if paired else ('a', 'x'),
        n_critic=method.n_critic, penalty=method.penalty,
        penalty_weight=method.penalty_weight, lr=train.lr, betas=train.betas)
    return recipe, data, validation


def _shape(config):
    data = config.data
    return (data.size, data.size) if data.source == 'simulated' else tuple(data.crop)


def check_resources(config):
    """Refuse, before anything is built, a missing data folder or a step that cannot fit."""
    if config.data.source == 'fastmri':
        fastmri_folder(config.data.path)
    height, width = _shape(config)
    # A lower bound: the activations of one generator pass with gradients.
    per_image = height * width * config.model.features * 4 * 2 * config.model.n_iter
    needed = per_image * config.train.batch_size * (2 * config.model.blocks + 2)
    device = 'cuda' if config.train.device != 'cpu' and torch.cuda.is_available() else 'cpu'
    require_memory(needed, device, f'one training step at {height} x {width} with '
                   f'model.features={config.model.features}',
                   'reduce data.size (or data.crop), model.features or train.batch_size')


def train(config, output_dir, resume=False, progress=True):
    """Train the generator of ``config``; checkpoints, log and figures in ``output_dir``.

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
    ...     'data': {'size': 32, 'coils': 2},
    ...     'model': {'n_iter': 1, 'features': 4, 'blocks': 1},
    ...     'train': {'steps': 2, 'batch_size': 1, 'log_every': 1, 'validate_every': 2,
    ...               'device': 'cpu'}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = train(config, folder, progress=False)
    ...     generator, _ = load_run(folder)
    >>> result.step, sorted(k for k in result.history[-1] if k in ('distance', 'loss'))
    (2, ['distance', 'loss'])
    """
    config = as_config(config, Config)
    check_resources(config)
    recipe, data, validation = build(config)
    return train_run(config, recipe, data, output_dir, resume, progress, validation)


def load_run(run_dir, checkpoint=None, device='cpu'):
    """The trained generator of a run folder, in eval mode, and its configuration."""
    config, state = load_run_state(run_dir, Config, checkpoint)
    generator = build_networks(config)['generator']
    generator.load_state_dict(state['modules']['generator'])
    return generator.to(device).eval(), config


def test_samples(config, n_samples=None):
    """Held-out measured slices of the test subjects with their complex labels.

    Returns
    -------
    dict
        ``'kspace'``, ``'mask'``, ``'coil_maps'``: one slice per entry
        along the first axis; ``'x'``: complex labels ``(n, 1, H, W)``;
        ``'zero_filled'``: complex ``(n, 1, H, W)``.
    """
    n_samples = config.evaluate.n_samples if n_samples is None else n_samples
    n_samples = check_int(n_samples, 'n_samples', minimum=1)
    test = _measurements(config, image_streams(config, {'test': 1})['test'],
                         config.evaluate.seed)
    batches = [test.generate(index) for index in range(n_samples)]
    samples = {key: torch.cat([b[key] for b in batches])
               for key in ('kspace', 'mask', 'coil_maps', 'x', 'zero_filled')}
    for key in ('x', 'zero_filled'):
        samples[key] = channels_to_complex(samples[key])
    return samples


def _item(samples, k):
    return {key: samples[key][k:k + 1] for key in ('kspace', 'mask', 'coil_maps')}


def _cs(samples, solve):
    """Compressed sensing slice by slice on the multi-coil `MRIForward`: ``solve(op, data)``."""
    images = []
    shape = tuple(samples['x'].shape[-2:])
    space = odl.uniform_discr([0, 0], shape, shape, dtype='complex128')
    for k in range(len(samples['x'])):
        item = _item(samples, k)
        op = MRIForward(space, item['mask'][0, 0].double().numpy(),
                        coil_maps=item['coil_maps'][0].to(torch.complex128).numpy())
        x = solve(op, op.range.element(item['kspace'][0].to(torch.complex128).numpy()))
        images.append(torch.as_tensor(np.asarray(x.data)).to(torch.complex64))
    return torch.stack(images)[:, None]


def _baselines(settings):
    """``label -> solve(op, data)``: CS with wavelets (the paper's) and with TV."""
    return {
        'CS-wavelet': lambda op, data: wavelet_reconstruction(
            op, data, alpha=settings.wavelet_alpha, n_iter=settings.cs_n_iter),
        'CS-TV': lambda op, data: tv_reconstruction(
            op, data, alpha=settings.tv_alpha, n_iter=settings.cs_n_iter)}


def _generated(generator, samples):
    with torch.no_grad():
        return torch.cat([channels_to_complex(reconstruct(generator, _item(samples, k)))
                          for k in range(len(samples['x']))])


def _outputs(loaded, samples, settings, baselines):
    outputs, seconds = {}, {}
    if baselines:
        outputs['zero-filled'], seconds['zero-filled'] = samples['zero_filled'], 0.0
        for label, solve in _baselines(settings).items():
            start = time.perf_counter()
            outputs[label] = _cs(samples, solve)
            seconds[label] = (time.perf_counter() - start) / len(samples['x'])
    for label, (generator, _) in loaded.items():
        start = time.perf_counter()
        outputs[label] = _generated(generator, samples)
        seconds[label] = (time.perf_counter() - start) / len(samples['x'])
    return outputs, seconds


MEASURES = {
    'snr': "SNR [dB] as the paper defines it: 20 log10(mean |x*| / mean |x - x*|) of the "
           "magnitudes (signal the reference pixels, noise the absolute errors, averaged)",
    'snr_code': "SNR [dB] as the authors' code computes it: 10 log10(||x*||^2 / ||x - x*||^2) "
                "of the magnitudes cropped by 20 / 24 px per side at 256 x 320 (scaled)",
    'ssim': 'SSIM of the magnitudes, peak max |x*| of the slice',
}
"""What the report's measures are."""


def _measures(images, truth):
    x, reference = images[:, 0].abs().double(), truth[:, 0].abs().double()
    return {'snr': snr(x, reference, definition='paper'),
            'snr_code': snr(x, reference, definition='code'),
            'ssim': ssim(x, reference, data_range='max')}


def evaluate(runs, output_dir, n_samples=None, baselines=True, config=None):
    """Reconstruct held-out slices with every run and the baselines; measure them.

    Parameters
    ----------
    runs : dict
        ``label -> run folder`` (written by `train`) or ``label ->
        (generator, config)``; all runs must share the data's
        measurement settings.
    output_dir : str or path-like
        Where ``metrics.json`` and ``reconstructions.png`` go.
    n_samples : int, optional
        Held-out slices; default ``evaluate.n_samples``.
    baselines : bool, optional
        Also the zero-filled input, CS-wavelet and CS-TV.
    config : `Config`, optional
        Data and evaluation settings; default the first run's.

    Returns
    -------
    dict
        The content of ``metrics.json``: per method the mean and standard
        deviation of the `MEASURES` and the seconds per slice.
    """
    output_dir = resolve_output(output_dir)
    loaded, config = loaded_runs(runs, load_run, config, _measurement_settings)
    samples = test_samples(config, n_samples)
    outputs, seconds = _outputs(loaded, samples, config.evaluate, baselines)
    methods = {label: dict({name: mean_std(values) for name, values in
                            _measures(images, samples['x']).items()},
                           seconds_per_slice=seconds[label])
               for label, images in outputs.items()}
    result = {'config': config.to_dict(), 'n_samples': len(samples['x']),
              'measures': MEASURES, 'methods': methods}
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / 'metrics.json', result)
    _figure(samples, outputs, methods, output_dir / 'reconstructions.png')
    return result


def _measurement_settings(config):
    """The data settings that define the test measurements (not where labels come from)."""
    data = dataclasses.asdict(config.data)
    for key in ('labels', 'label_kind', 'label_subjects', 'input_subjects'):
        data.pop(key)
    return data


def _figure(samples, outputs, methods, path):
    images = {label: out[0, 0].abs() for label, out in outputs.items()}
    titles = {label: f'{label}\n{methods[label]["snr"]["mean"]:.2f} dB / '
                     f'{methods[label]["ssim"]["mean"]:.3f}' for label in images}
    error_figure(images, samples['x'][0, 0].abs(), path, titles)


def report(result):
    """The evaluation report as a text table (one row per method)."""
    width = max([18] + [len(label) + 1 for label in result['methods']])
    lines = [f'{"method":<{width}}{"SNR":>8}{"SNR code":>10}{"SSIM":>8}{"s/slice":>9}',
             '-' * (width + 35)]
    for label, entry in result['methods'].items():
        lines.append(f'{label:<{width}}{entry["snr"]["mean"]:>8.2f}'
                     f'{entry["snr_code"]["mean"]:>10.2f}{entry["ssim"]["mean"]:>8.3f}'
                     f'{entry["seconds_per_slice"]:>9.3f}')
    return '\n'.join(lines)


def demo(output_dir='results/unpaired_mri', steps=None, n_samples=None, progress=True,
         resume='auto'):
    """Train the unpaired WGAN, the L1 network and WGAN + L1 on simulated 8-coil MRI; compare.

    Runs the shipped CPU configurations (`DEMO_CONFIGS`, Table II at
    R = 10 with the unrolled generator) into ``output_dir/<mode>`` and
    `evaluate` s them with the zero-filled input, CS-wavelet and CS-TV.
    Interrupted runs continue where they stopped.

    Raises
    ------
    TrainingInterrupted
        If a signal stopped a run; rerunning continues it.
    """
    steps = check_int(steps, 'steps', minimum=1, allow_none=True)
    output_dir = resolve_output(output_dir)
    runs = train_demo_runs(sys.modules[__name__], DEMO_CONFIGS, output_dir,
                           lambda label, config: config.method.mode, steps, progress, resume)
    return evaluate(runs, output_dir, n_samples=n_samples)
