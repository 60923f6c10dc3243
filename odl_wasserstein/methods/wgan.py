"""Adversarial training with Wasserstein critics: the shared base and the WGAN.

`AdversarialRecipe` is the one critic step of the package. Each training
step makes ``n_critic`` critic updates, each on one part of the batch
(`AdversarialRecipe.critic_batches`): every critic minimises
`odl_wasserstein.adversarial.critic_loss` (the negated Wasserstein
estimate plus a gradient penalty) between real samples and fakes, or the
least-squares loss of ``adversarial='lsgan'``; and one update of the
generator side, which minimises the critics' generator loss plus any
extra terms, before the critic updates (``generator_first``, as cycleGAN
codes do) or after them (as WGAN codes do). What differs between methods
is plugged in by three hooks:

- `AdversarialRecipe.critic_pairs`: for one part of the batch, the real
  samples and the fakes each critic sees (fakes from latent noise, from
  measurements through a generator, from the generator update just made,
  from an image pool, ...);
- `AdversarialRecipe.generator_fakes`: the fakes, with their graph to the
  generators, that the generator loss sends through each critic;
- `AdversarialRecipe.generator_terms`: extra generator loss terms (a
  cycle-consistency, L1 or data-consistency term), each logged;

and `AdversarialRecipe.adversarial_weight` scales the critics' generator
loss step by step (the WGAN + L1 hybrid of the unpaired-MRI method).

`WGANRecipe` is the WGAN of latent noise (Gulrajani et al. 2017; the
WGAN-GP and WWGAN experiments of Dukler et al. 2019, REFERENCE_SETTINGS
section 5). The OT-cycleGAN and unpaired-MRI recipes subclass the base.
"""

import torch

from odl_wasserstein.adversarial import (
    PENALTY_KINDS, critic_loss, critic_values, generator_loss, lsgan_critic_loss,
    lsgan_generator_loss)
from odl_wasserstein.metrics import sliced_wasserstein
from odl_wasserstein.plotting import image_grid, new_figure, show_image
from odl_wasserstein.training import OptimizerSpec, Recipe
from odl_wasserstein.util import check_choice, check_int, check_real

__all__ = ('AdversarialRecipe', 'WGANRecipe', 'ADVERSARIAL_LOSSES', 'batch_entry')

ADVERSARIAL_LOSSES = ('wgan', 'lsgan')
"""``'wgan'``: Wasserstein critic with a gradient penalty; ``'lsgan'``: least squares."""


def batch_entry(batch, path, role):
    """The entry of a (nested) dict batch at ``path``, a key or a tuple of keys.

    ``role`` names the entry in the error when it is missing.

    Examples
    --------
    >>> batch_entry({'b': {'y': 1}}, ('b', 'y'), 'measured')
    1
    >>> batch_entry({'x': 2}, 'x', 'clean')
    2
    """
    item = batch
    for key in (path if isinstance(path, tuple) else (path,)):
        if not isinstance(item, dict) or key not in item:
            found = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise KeyError(f'a batch must hold the {role} samples under {path!r}; '
                           f'found {found} at {key!r}')
        item = item[key]
    return item


class AdversarialRecipe(Recipe):
    """Base of recipes that train generators against Wasserstein critics.

    Parameters
    ----------
    modules : dict
        ``name -> torch.nn.Module``: the generators and the critics (and
        any other saved module).
    critics : sequence of str, optional
        Names of the critics in ``modules``; each has its own optimiser
        of the same name.
    generators : sequence of str, optional
        Names of the modules the ``'generator'`` optimiser updates (e.g. a
        generator and a learnable blur kernel).
    n_critic : int, optional
        Critic updates per generator update (5 in the WGAN papers). The
        batch is split into ``n_critic`` parts (`critic_batches`).
    penalty : {'two-sided', 'one-sided', 'wasserstein'}, optional
        Gradient penalty of `odl_wasserstein.adversarial.gradient_penalty`:
        ``'two-sided'`` is WGAN-GP, ``'wasserstein'`` WWGAN.
    penalty_weight : float, optional
        ``lambda``: 10 for WGAN-GP; the WWGAN code uses 4.
    penalty_options : dict, optional
        Options of `odl_wasserstein.adversarial.ground_metric_norm2` for
        ``penalty='wasserstein'``.
    lr : float, optional
        Learning rate of the generator side (and of the critics unless
        ``critic_lr``).
    critic_lr : float, optional
    betas : (float, float), optional
        Adam's betas, (0.5, 0.9) as in the WGAN papers' code.
    schedule : {'constant', 'linear', 'cosine'}, optional
    decay_start : int, optional
        First step of a ``'linear'`` decay.
    clip_grad_norm : float or None, optional
        Global gradient-norm clipping of every optimiser (none by default).
    auxiliary : dict, optional
        Unsaved modules (forward operators, losses).
    adversarial : {'wgan', 'lsgan'}, optional
        The critic and generator losses: Wasserstein (with ``penalty``) or
        least squares (no penalty; ``penalty`` is ignored).
    critic_scale : float, optional
        Factor of the critic loss (the OT-cycleGAN code halves it).
    generator_first : bool, optional
        Update the generator side before the critics (cycleGAN codes)
        instead of after them (WGAN codes).
    joint_step : bool, optional
        Update the generator side together with the last critic update,
        on the last part of the batch and its fakes (the unpaired-MRI
        code's "critic-only steps, then one joint step"): the generator
        loss sees the critics before that update, the critic update the
        generator's output before its update, as when both gradients come
        from one forward pass.

    Notes
    -----
    Logged per step: ``loss`` (the generator side's total), ``critic_loss``,
    ``distance`` (the critics' Wasserstein estimate ``mean D(real) - mean
    D(fake)``) and ``penalty``, means over the critic updates and summed
    over the critics, and each extra term of `generator_terms`.
    """

    def __init__(self, modules, critics=('critic',), generators=('generator',), n_critic=5,
                 penalty='two-sided', penalty_weight=10.0, penalty_options=None, lr=1e-4,
                 critic_lr=None, betas=(0.5, 0.9), schedule='constant', decay_start=0,
                 clip_grad_norm=None, auxiliary=None, adversarial='wgan', critic_scale=1.0,
                 generator_first=False, joint_step=False):
        super().__init__(modules, auxiliary)
        self.adversarial = check_choice(adversarial, 'adversarial', ADVERSARIAL_LOSSES)
        self.critic_scale = check_real(critic_scale, 'critic_scale', positive=True)
        self.generator_first, self.joint_step = bool(generator_first), bool(joint_step)
        if self.generator_first and self.joint_step:
            raise ValueError('`generator_first` and `joint_step` exclude each other: the '
                             'generator is updated first, or with the last critic update')
        self.critics, self.generators = tuple(critics), tuple(generators)
        for name in (*self.critics, *self.generators):
            if name not in self.modules:
                raise ValueError(f'{name!r} is not one of the modules {sorted(self.modules)}')
        self.n_critic = check_int(n_critic, 'n_critic', minimum=1)
        self.penalty = check_choice(penalty, 'penalty', PENALTY_KINDS)
        self.penalty_weight = check_real(penalty_weight, 'penalty_weight', minimum=0)
        self.penalty_options = dict(penalty_options or {})
        if self.penalty_options and penalty != 'wasserstein':
            raise ValueError(f'`penalty_options` apply to penalty=\'wasserstein\' only, got '
                             f'{sorted(self.penalty_options)} with penalty={penalty!r}')
        common = dict(betas=betas, schedule=schedule, decay_start=decay_start,
                      clip_grad_norm=clip_grad_norm)
        # Validated here so that a bad setting fails at construction.
        self.specs = {name: OptimizerSpec(name, lr=lr if critic_lr is None else critic_lr,
                                          **common) for name in self.critics}
        self.specs['generator'] = OptimizerSpec(list(self.generators), lr=lr, **common)

    def optimizers(self):
        """One optimiser per critic and ``'generator'``, Adam with the settings given."""
        return dict(self.specs)

    def penalty_kwargs(self):
        """Keyword arguments of `critic_loss` for this recipe's penalty."""
        return dict(penalty=self.penalty, penalty_weight=self.penalty_weight,
                    **self.penalty_options)

    # -- hooks ----------------------------------------------------------------

    def critic_batches(self, batch):
        """The ``n_critic`` parts of a batch, one per critic update.

        The default splits a tensor batch (or every tensor of a dict
        batch, nested dicts included) into ``n_critic`` equal parts along
        the first axis; other entries (file names) are dropped.
        """
        if isinstance(batch, dict):
            parts = {key: self.critic_batches(value) if isinstance(value, dict)
                     else self._split(value, key) for key, value in batch.items()
                     if isinstance(value, (dict, torch.Tensor))}
            return [{key: value[k] for key, value in parts.items()}
                    for k in range(self.n_critic)]
        return self._split(batch, 'batch')

    def _split(self, tensor, name):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f'a batch must be a tensor or a dict of tensors, got '
                            f'{type(tensor).__name__}')
        if tensor.shape[0] == 0 or tensor.shape[0] % self.n_critic:
            raise ValueError(
                f'a batch must hold n_critic * m samples (n_critic = {self.n_critic}, m >= 1), '
                f'got {tensor.shape[0]} in {name!r}; set the batch size of the data to a '
                'multiple of n_critic')
        return list(tensor.split(tensor.shape[0] // self.n_critic))

    def critic_pairs(self, trainer, part, context):
        """``{critic name: (real, fake)}`` for one critic update (fakes are detached).

        ``context`` is what `generator_fakes` returned with its fakes when the
        generator side was updated first in this step (``generator_first``),
        else None.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement `critic_pairs`')

    def generator_fakes(self, trainer, batch):
        """``({critic name: fake}, context)``: fakes with their graph, for the generator loss.

        ``context`` is passed on to `generator_terms` (e.g. the measurements
        and reconstructions a cycle term needs).
        """
        raise NotImplementedError(f'{type(self).__name__} must implement `generator_fakes`')

    def generator_terms(self, trainer, batch, context):
        """Extra generator loss terms, ``{name: scalar tensor}`` (none by default)."""
        return {}

    # -- the step ---------------------------------------------------------------

    def adversarial_weight(self, step):
        """Factor of the critics' generator loss at ``step`` (1; hybrid losses lower it)."""
        return 1.0

    def training_step(self, trainer, batch, step):
        """``n_critic`` updates of every critic and one update of the generator side."""
        metrics, context = {}, None
        if self.joint_step:
            parts = self.critic_batches(batch)
            totals = self._critic_updates(trainer, parts[:-1], None)
            context = self._generator_update(trainer, parts[-1], metrics)
            last = self._critic_updates(trainer, parts[-1:], context)
            metrics.update({key: totals[key] + last[key] for key in totals})
            return metrics
        if self.generator_first:
            context = self._generator_update(trainer, batch, metrics)
        metrics.update(self._critic_updates(trainer, self.critic_batches(batch), context))
        if not self.generator_first:
            self._generator_update(trainer, batch, metrics)
        return metrics

    def _critic_loss(self, critic, real, fake):
        if self.adversarial == 'lsgan':
            return lsgan_critic_loss(critic, real, fake)
        return critic_loss(critic, real, fake, **self.penalty_kwargs())

    def _critic_updates(self, trainer, parts, context):
        """Update the critics on each of ``parts``; metric sums divided by ``n_critic``."""
        totals = {'critic_loss': 0.0, 'distance': 0.0, 'penalty': 0.0}
        for part in parts:
            for name, (real, fake) in self.critic_pairs(trainer, part, context).items():
                result = self._critic_loss(trainer.module(name), real, fake)
                loss = result.loss if self.critic_scale == 1.0 else self.critic_scale * result.loss
                trainer.optimize(name, loss)
                totals['critic_loss'] += loss.detach()
                totals['distance'] += result.distance
                totals['penalty'] += result.penalty
        return {key: value / self.n_critic for key, value in totals.items()}

    def _generator_update(self, trainer, batch, metrics):
        """One update of the generator side; returns the context of its fakes."""
        fakes, context = self.generator_fakes(trainer, batch)
        adversarial = (lsgan_generator_loss if self.adversarial == 'lsgan' else generator_loss)
        loss = sum(adversarial(trainer.module(name), fake) for name, fake in fakes.items())
        weight = self.adversarial_weight(trainer.step)
        if weight != 1.0:
            loss = weight * loss
        terms = self.generator_terms(trainer, batch, context)
        for value in terms.values():
            loss = loss + value
        trainer.optimize('generator', loss)
        metrics.update({key: value.detach() for key, value in terms.items()})
        metrics['loss'] = loss.detach()
        return context


class WGANRecipe(AdversarialRecipe):
    """Wasserstein GAN of latent noise: ``n_critic`` critic updates per generator update.

    Each training step (Algorithm 1 of Dukler et al. 2019; Gulrajani et
    al. 2017) splits its batch of real samples into ``n_critic`` equal
    parts; for each part the critic minimises
    `odl_wasserstein.adversarial.critic_loss` against as many generated
    samples (``penalty`` at random interpolates), then the generator
    minimises `odl_wasserstein.adversarial.generator_loss` once on a fresh
    latent batch of the same size. Latent vectors are standard normal, drawn
    from torch's global random state, which checkpoints save: resuming is
    exact.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps ``(m, latent_dim)`` to samples shaped like the real ones.
    critic : torch.nn.Module
        One value per sample; no batch normalisation.
    latent_dim : int, optional
        Default ``generator.latent_dim``.
    sample_key : str, optional
        Key of the real samples in dict batches; tensors are used as they
        are.
    **options
        Options of `AdversarialRecipe` (``n_critic``, ``penalty``,
        ``penalty_weight``, ``penalty_options``, ``lr``, ``critic_lr``,
        ``betas``, ``schedule``, ``decay_start``, ``clip_grad_norm``).

    Notes
    -----
    Validation (``validation_step``) reports the distance estimate and the
    `odl_wasserstein.metrics.sliced_wasserstein` distance between
    generated and real validation samples, both from fixed latent vectors.

    Examples
    --------
    Learn a 2-D Gaussian shifted to (2, 2) from noise:

    >>> import tempfile, shutil
    >>> from odl_wasserstein.training import Trainer
    >>> generator = torch.nn.Linear(2, 2)
    >>> critic = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.LeakyReLU(0.2),
    ...                              torch.nn.Linear(32, 1))
    >>> recipe = WGANRecipe(generator, critic, latent_dim=2, n_critic=5, lr=1e-2)
    >>> real = [torch.randn(5 * 64, 2) + 2.0 for _ in range(20)]
    >>> folder = tempfile.mkdtemp()
    >>> result = Trainer(recipe, real, max_steps=300, output_dir=folder,
    ...                  progress=False, log_every=100).fit()
    >>> sorted(k for k in result.history[-1] if '/' not in k)
    ['critic_loss', 'distance', 'loss', 'penalty', 'step', 'time']
    >>> mean = generator(torch.randn(4000, 2)).mean(0)
    >>> bool((mean - 2.0).abs().max() < 0.3)
    True
    >>> shutil.rmtree(folder)
    """

    def __init__(self, generator, critic, latent_dim=None, sample_key=None, **options):
        super().__init__({'generator': generator, 'critic': critic}, **options)
        if latent_dim is None:
            latent_dim = getattr(generator, 'latent_dim', None)
            if latent_dim is None:
                raise ValueError('`latent_dim` must be given for a generator without a '
                                 '`latent_dim` attribute')
        self.latent_dim = check_int(latent_dim, 'latent_dim', minimum=1)
        self.sample_key = sample_key

    def real_samples(self, batch):
        """The real samples of a batch (a tensor, or ``batch[sample_key]``)."""
        if isinstance(batch, dict):
            if self.sample_key is None or self.sample_key not in batch:
                raise KeyError(f'dict batches need `sample_key` naming the real samples; the '
                               f'batch has {sorted(batch)}, sample_key={self.sample_key!r}')
            batch = batch[self.sample_key]
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f'a batch must be a tensor of real samples or a dict, got '
                            f'{type(batch).__name__}')
        return batch

    def latent(self, n, like):
        """``n`` standard normal latent vectors on the device and dtype of ``like``."""
        return torch.randn(n, self.latent_dim, device=like.device, dtype=like.dtype)

    def critic_batches(self, batch):
        """The real samples split into ``n_critic`` parts."""
        return self._split(self.real_samples(batch), 'the real samples')

    def critic_pairs(self, trainer, part, context):
        """The real part against as many samples of fresh latent vectors."""
        with torch.no_grad():
            fake = trainer.module('generator')(self.latent(part.shape[0], part))
        return {'critic': (part, fake)}

    def generator_fakes(self, trainer, batch):
        """Samples of a fresh latent batch of the size of one critic part."""
        real = self.real_samples(batch)
        size = real.shape[0] // self.n_critic
        return {'critic': trainer.module('generator')(self.latent(size, real))}, None

    def _fixed_samples(self, trainer, n, like):
        # Fixed latent vectors, so validation curves compare like with like.
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(0),
                        dtype=like.dtype).to(like.device)
        return trainer.module('generator')(z)

    def validation_step(self, trainer, batch):
        """Critic distance estimate and sliced Wasserstein distance to the real batch."""
        real = self.real_samples(batch)
        fake = self._fixed_samples(trainer, real.shape[0], real)
        critic = trainer.module('critic')
        distance = critic_values(critic, real).mean() - critic_values(critic, fake).mean()
        sliced = sliced_wasserstein(fake, real, n_projections=256,
                                    generator=torch.Generator().manual_seed(0))
        return {'distance': distance, 'sliced_wasserstein': sliced}

    def figure(self, trainer, batch, path):
        """A grid of generated samples (first channel) from fixed latent vectors."""
        fake = self._fixed_samples(trainer, 16, self.real_samples(batch))
        fig = new_figure(6, 6)
        show_image(fig.subplots(), image_grid(fake, columns=4))
        fig.suptitle(f'generated samples, step {trainer.step}')
        fig.savefig(path, dpi=100)
