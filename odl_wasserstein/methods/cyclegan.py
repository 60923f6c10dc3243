"""Cycle-consistent adversarial training: the OT-cycleGAN and the conventional cycleGAN.

Two domains: ``X``, clean images (fully sampled MR images, sharp
microscopy volumes), and ``Y``, measurements in image form (zero-filled
undersampled MR images, blurred volumes). A generator ``G: Y -> X`` is
always learned; the map ``H: X -> Y`` is

- *known*, in the OT-cycleGAN of Sim, Oh, Kim, Jung, Sung and Ye, "Optimal
  transport driven CycleGAN for unsupervised learning in inverse problems"
  (SIAM J. Imaging Sci. 2020; "Optimal transport, CycleGAN, and penalized
  LS for unsupervised learning in inverse problems", sections 3-4.1):
  ``H = F^-1 M F`` for accelerated MRI, with a mask ``M`` drawn at every
  step, and a single critic on ``X`` (`OTCycleGANRecipe`);
- *learned*: a second deep generator in the conventional cycleGAN (Zhu et
  al. 2017, `CycleGANRecipe`), or a learnable blur kernel in blind
  deconvolution microscopy; then a second critic on ``Y``.

One step, for a clean ``x`` and a measured ``y`` (unpaired)::

    fake_y = H(x)         (with a fresh mask when the forward takes masks)
    fake_x = G(y)
    rec_x  = G(fake_y)
    rec_y  = H(fake_x)    (with y's own mask)

The generator side minimises the critics' adversarial losses on
``fake_x`` (and ``fake_y`` when ``H`` is learned) plus ``cycle_weight
(|x - rec_x|_1 + |y - rec_y|_1)`` (means over pixels); then each critic is
updated ``n_critic`` times on the same real sample and the same fake,
optionally drawn from an `odl_wasserstein.adversarial.ImagePool` (the
order and pooling of the authors' code). Everything runs on the shared
`odl_wasserstein.methods.AdversarialRecipe`.
"""

import torch

from odl_wasserstein.adversarial import ImagePool
from odl_wasserstein.methods.wgan import AdversarialRecipe, batch_entry
from odl_wasserstein.plotting import first_image, new_figure, show_image
from odl_wasserstein.util import check_real

__all__ = ('CycleGANRecipe', 'OTCycleGANRecipe')


class CycleGANRecipe(AdversarialRecipe):
    """Cycle-consistent GAN between a clean domain X and a measured domain Y.

    The defaults are the conventional cycleGAN baseline of the OT-cycleGAN
    paper (REFERENCE_SETTINGS section 3): two deep generators, two
    critics, least-squares GAN, cycle weight 10, a pool of 50 fakes, Adam
    2e-4 with betas (0.5, 0.999) (those of CycleGAN's code; the paper does
    not give them), the generators updated first, one critic update per
    step.

    Parameters
    ----------
    generator : torch.nn.Module
        ``G: Y -> X``, saved as ``modules['generator']``.
    forward : torch.nn.Module
        ``H: X -> Y``. Learned (``learn_forward``): saved as
        ``modules['forward']`` and updated with the generator. Known: an
        auxiliary module (a bridged ODL operator, `UndersampledFourier`,
        ...), never updated.
    critic_x : torch.nn.Module
        Critic of X (``modules['critic_x']``).
    critic_y : torch.nn.Module, optional
        Critic of Y (``modules['critic_y']``); needed when ``H`` is learned.
    learn_forward : bool, optional
    cycle_weight : float, optional
        Weight of the two L1 cycle terms.
    pool_size : int, optional
        Fakes kept for the critics (`ImagePool`); 0: the newest fakes.
    mask_sampler : callable, optional
        ``mask_sampler(y)`` returns a new sampling mask for ``H(x)`` at
        every step (e.g. a random line mask); then ``forward`` is called as
        ``forward(x, mask)`` and ``rec_y`` uses the batch's own mask
        (``batch['mask']``). It should draw from torch's global random
        state, which checkpoints save, so that resuming is exact.
    x_key, y_key, mask_key : str or tuple of str, optional
        Keys of a dict batch: clean samples, measured samples, their masks;
        a tuple is a path into nested dicts, e.g. ``('b', 'y')`` for the
        items ``{'a': ..., 'b': ...}`` of an
        `odl_wasserstein.data.UnpairedStream`.
    **options
        Options of `AdversarialRecipe` (``adversarial``, ``n_critic``,
        ``penalty``, ``penalty_weight``, ``critic_scale``, ``lr``, ``betas``,
        ``schedule``, ...).

    Notes
    -----
    Logged: ``loss`` (the generator side's total), ``cycle_x`` and
    ``cycle_y`` (the weighted L1 terms), and the critics' ``critic_loss``,
    ``distance`` and ``penalty``.
    """

    def __init__(self, generator, forward, critic_x, critic_y=None, learn_forward=True,
                 cycle_weight=10.0, pool_size=50, mask_sampler=None, x_key='x', y_key='y',
                 mask_key='mask', **options):
        modules = {'generator': generator, 'critic_x': critic_x}
        auxiliary = dict(options.pop('auxiliary', None) or {})
        (modules if learn_forward else auxiliary)['forward'] = forward
        critics = ('critic_x',)
        if critic_y is not None:
            modules['critic_y'] = critic_y
            critics += ('critic_y',)
        elif learn_forward:
            raise ValueError('a learned `forward` needs `critic_y`, the critic of its fakes')
        options.setdefault('adversarial', 'lsgan')
        options.setdefault('n_critic', 1)
        options.setdefault('lr', 2e-4)
        options.setdefault('betas', (0.5, 0.999))
        options.setdefault('generator_first', True)
        generators = ('generator', 'forward') if learn_forward else ('generator',)
        super().__init__(modules, critics=critics, generators=generators, auxiliary=auxiliary,
                         **options)
        if mask_sampler is not None and not callable(mask_sampler):
            raise TypeError(f'`mask_sampler` must be callable, got {mask_sampler!r}')
        self.learn_forward, self.mask_sampler = bool(learn_forward), mask_sampler
        self.cycle_weight = check_real(cycle_weight, 'cycle_weight', minimum=0)
        self.pools = {name: ImagePool(pool_size) for name in critics}
        self.keys = {'x': x_key, 'y': y_key, 'mask': mask_key}

    def _sample(self, batch, role):
        return batch_entry(batch, self.keys[role], role)

    def measure(self, trainer, x, y):
        """``H(x)``: with a fresh mask from ``mask_sampler(y)`` if there is one."""
        forward = trainer.module('forward')
        if self.mask_sampler is None:
            return forward(x)
        return forward(x, self.mask_sampler(y))

    def remeasure(self, trainer, fake_x, batch):
        """``H(fake_x)`` as ``y`` was measured: with its own mask if the forward takes masks."""
        forward = trainer.module('forward')
        if self.mask_sampler is None:
            return forward(fake_x)
        return forward(fake_x, self._sample(batch, 'mask'))

    def critic_batches(self, batch):
        """The same batch for each of the ``n_critic`` updates (the authors' order)."""
        return [batch] * self.n_critic

    def generator_fakes(self, trainer, batch):
        """``fake_x`` (and ``fake_y`` when ``H`` is learned); the context holds the cycle."""
        x, y = self._sample(batch, 'x'), self._sample(batch, 'y')
        generator = trainer.module('generator')
        fake_y = self.measure(trainer, x, y)
        fake_x = generator(y)
        cycle = {'x': x, 'y': y, 'rec_x': generator(fake_y), 'fake_x': fake_x,
                 'rec_y': self.remeasure(trainer, fake_x, batch), 'fake_y': fake_y}
        fakes = {'critic_x': fake_x}
        if 'critic_y' in self.critics:
            fakes['critic_y'] = fake_y
        cycle['pooled'] = {name: self.pools[name].query(fake) for name, fake in fakes.items()}
        return fakes, cycle

    def generator_terms(self, trainer, batch, cycle):
        """The weighted L1 cycle terms ``cycle_x`` and ``cycle_y``."""
        return {'cycle_x': self.cycle_weight * (cycle['x'] - cycle['rec_x']).abs().mean(),
                'cycle_y': self.cycle_weight * (cycle['y'] - cycle['rec_y']).abs().mean()}

    def critic_pairs(self, trainer, part, cycle):
        """Each critic's real samples against the (pooled) fakes of this step."""
        real = {'critic_x': self._sample(part, 'x'), 'critic_y': self._sample(part, 'y')}
        return {name: (real[name], fake) for name, fake in cycle['pooled'].items()}

    def state_dict(self):
        """The image pools (exact resume)."""
        return {'pools': {name: pool.state_dict() for name, pool in self.pools.items()}}

    def load_state_dict(self, state):
        """Restore the image pools."""
        for name, pool in self.pools.items():
            pool.load_state_dict(state['pools'][name])

    def to(self, device):
        """Move modules and pooled images to ``device``; return self."""
        super().to(device)
        for pool in self.pools.values():
            pool.to(device)
        return self

    def validation_step(self, trainer, batch):
        """``l1_x``: mean absolute error of ``G(y)`` to ``x`` (paired validation data)."""
        fake_x = trainer.module('generator')(self._sample(batch, 'y'))
        return {'l1_x': (fake_x - self._sample(batch, 'x')).abs().mean()}

    def figure(self, trainer, batch, path):
        """``y``, ``G(y)`` and ``x`` of the first sample (magnitudes of 2-channel images)."""
        x, y = self._sample(batch, 'x'), self._sample(batch, 'y')
        images = {'measured y': y, 'G(y)': trainer.module('generator')(y), 'x': x}
        fig = new_figure(10, 3.4)
        for ax, (title, tensor) in zip(fig.subplots(1, 3), images.items()):
            show_image(ax, _magnitude(tensor), title=title, colorbar=True)
        fig.suptitle(f'step {trainer.step}')
        fig.savefig(path, dpi=100)


def _magnitude(tensor):
    """The first image of a batch; two channels are taken as real and imaginary parts."""
    if tensor.shape[1] == 2:
        return torch.sqrt(tensor[0, 0] ** 2 + tensor[0, 1] ** 2).detach()
    return first_image(tensor)


class OTCycleGANRecipe(CycleGANRecipe):
    """The OT-cycleGAN: one generator, the known forward operator, one critic.

    The defaults are those of the authors' code for accelerated MRI
    (REFERENCE_SETTINGS section 3): the generator updated first, then 5
    updates of the critic on the same fake, WGAN-GP (two-sided, weight 5,
    the critic loss halved: ``(-mean D(x) + mean D(fake_x) + 5 GP) / 2``),
    cycle weight 0.5 (the paper's ``sigma = rho = 0.5``), Adam 1e-4 with
    betas (0.5, 0.9), no image pool (``pool_size=50`` gives the code's
    pool). A learnable forward (blind deconvolution) adds the critic of Y.

    Parameters
    ----------
    generator : torch.nn.Module
        ``G: Y -> X``.
    forward : torch.nn.Module
        ``H: X -> Y``, known (e.g. `odl_wasserstein.nn.UndersampledFourier`
        with ``mask_sampler``) or, with ``learn_forward``, learned.
    critic : torch.nn.Module
        Critic of X.
    critic_y : torch.nn.Module, optional
        Critic of Y, for a learned forward.
    **options
        As `CycleGANRecipe`; any default above can be overridden, e.g.
        ``penalty='wasserstein'`` for the WWGAN penalty or
        ``penalty='one-sided'``.

    Examples
    --------
    A known forward operator that keeps the left half of an image:

    >>> class Half(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * (torch.arange(x.shape[-1]) < x.shape[-1] // 2)
    >>> generator = torch.nn.Conv2d(1, 1, 3, padding=1)
    >>> critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> recipe = OTCycleGANRecipe(generator, Half(), critic)
    >>> sorted(recipe.modules), sorted(recipe.auxiliary), sorted(recipe.optimizers())
    (['critic_x', 'generator'], ['forward'], ['critic_x', 'generator'])
    >>> recipe.n_critic, recipe.penalty_weight, recipe.critic_scale, recipe.cycle_weight
    (5, 5.0, 0.5, 0.5)
    """

    def __init__(self, generator, forward, critic, critic_y=None, learn_forward=False,
                 cycle_weight=0.5, pool_size=0, **options):
        defaults = dict(adversarial='wgan', n_critic=5, penalty='two-sided',
                        penalty_weight=5.0, critic_scale=0.5, lr=1e-4, betas=(0.5, 0.9),
                        generator_first=True)
        super().__init__(generator, forward, critic, critic_y=critic_y,
                         learn_forward=learn_forward, cycle_weight=cycle_weight,
                         pool_size=pool_size, **{**defaults, **options})
