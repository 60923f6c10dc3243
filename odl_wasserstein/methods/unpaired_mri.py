"""WGAN training of data-consistent MRI reconstruction from unpaired, paired or both labels.

Lei, Mardani, Pauly and Vasanawala, "Wasserstein GANs for MR imaging:
from paired to unpaired training" (IEEE TMI 2021; REFERENCE_SETTINGS
section 4). A generator ``G`` maps undersampled multi-coil k-space ``b``
(through its zero-filled image ``A^H b`` and data-consistency layers, see
`odl_wasserstein.nn.UnrolledDCGenerator`) to an image; it is trained

- ``'unpaired'``: against a Wasserstein critic ``D`` that compares its
  images with labels of other subjects (problem (P1.G), (P1.D): WGAN-GP,
  weight 10), so no label of the measured subjects is needed;
- ``'paired'``: with the pixel-wise loss ``E |y - G(b)|_1`` alone (the
  paper's ``l1``-net);
- ``'hybrid'``: ``(1 - w) (-E D(G(b))) + w E |y - G(b)|_1``, eq. (4), with
  ``w`` 1 for the first 500 steps, then linearly down to 0.99 at step 1000
  (the paper; the authors' code ends at 0.995).

As the authors' code does, a step makes 3 critic-only updates, each on its
own part of the batch, then one joint update of the generator and the
critic on the last part (``n_critic = 4``, ``joint_step``). The critic sees
complex images as two channels or, for magnitude-only labels, magnitudes.
"""

import torch

from odl_wasserstein.methods.wgan import AdversarialRecipe, batch_entry
from odl_wasserstein.nn import CoilFourier
from odl_wasserstein.plotting import new_figure, show_image
from odl_wasserstein.util import check_choice, check_int, check_real

__all__ = ('UnpairedMRIRecipe', 'MODES', 'CRITIC_INPUTS', 'reconstruct', 'critic_view',
           'l1_weight')

MODES = ('unpaired', 'paired', 'hybrid')
"""Training modes: WGAN from unpaired labels, paired L1, WGAN + L1."""

CRITIC_INPUTS = ('complex', 'magnitude')
"""What the critic sees: two channels (real, imaginary) or the magnitude."""


def reconstruct(generator, item):
    """``G(b)`` for a measured item: ``generator(kspace, CoilFourier(mask, coil_maps))``.

    Parameters
    ----------
    generator : callable
        ``generator(measurements, operator)``, e.g.
        `odl_wasserstein.nn.UnrolledDCGenerator`.
    item : dict
        ``'kspace'`` complex ``(N, C, H, W)``, ``'mask'`` ``(N, 1, H, W)``
        and, for several coils, ``'coil_maps'`` ``(N, C, H, W)``.

    Returns
    -------
    torch.Tensor
        ``(N, 2, H, W)``, real and imaginary parts.

    Examples
    --------
    A "generator" that returns the zero-filled image:

    >>> from odl_wasserstein.util import complex_to_channels
    >>> def zero_filled(b, operator):
    ...     return complex_to_channels(operator.adjoint(b))
    >>> item = {'kspace': torch.ones(2, 1, 4, 4, dtype=torch.complex64),
    ...         'mask': torch.ones(2, 1, 4, 4)}
    >>> reconstruct(zero_filled, item).shape
    torch.Size([2, 2, 4, 4])
    """
    for key in ('kspace', 'mask'):
        if key not in item:
            raise KeyError(f'a measured item must hold {key!r}; it has {sorted(item)}')
    operator = CoilFourier(item['mask'], item.get('coil_maps'))
    return generator(item['kspace'], operator)


def critic_view(images, critic_input):
    """Images as the critic sees them: two channels, or the magnitude ``(N, 1, H, W)``.

    The magnitude of a two-channel image is the norm over the channels
    (subgradient 0 at 0, so a zero pixel gives no NaN); one-channel images
    are taken as magnitudes already.

    Examples
    --------
    >>> x = torch.tensor([[[[3.0]], [[4.0]]]])  # 3 + 4i
    >>> critic_view(x, 'magnitude').flatten().tolist()
    [5.0]
    """
    check_choice(critic_input, 'critic_input', CRITIC_INPUTS)
    if images.shape[1] == 1:
        if critic_input == 'complex':
            raise ValueError('the critic takes complex images (critic_input=\'complex\') but '
                             'the labels are magnitudes (one channel); set '
                             'critic_input=\'magnitude\'')
        return images
    if critic_input == 'magnitude':
        return torch.linalg.vector_norm(images, dim=1, keepdim=True)
    return images


def l1_weight(step, schedule):
    """The L1 weight ``w`` of the hybrid loss at ``step``.

    ``schedule = (hold, end, final)``: ``w = 1`` for ``step < hold``, then
    linear to ``final`` at ``end``, then ``final``.

    Examples
    --------
    >>> [l1_weight(s, (500, 1000, 0.99)) for s in (0, 499, 750, 1000, 5000)]
    [1.0, 1.0, 0.995, 0.99, 0.99]
    """
    hold, end, final = schedule
    if step < hold:
        return 1.0
    if step >= end:
        return float(final)
    return 1.0 + (step - hold) / (end - hold) * (final - 1.0)


def _check_schedule(schedule):
    try:
        hold, end, final = schedule
    except (TypeError, ValueError):
        raise ValueError(f'`l1_schedule` must be (hold, end, final), got {schedule!r}') from None
    hold = check_int(hold, 'l1_schedule[0] (hold)')
    end = check_int(end, 'l1_schedule[1] (end)', minimum=hold)
    final = check_real(final, 'l1_schedule[2] (final)', minimum=0, maximum=1)
    return hold, end, final


class UnpairedMRIRecipe(AdversarialRecipe):
    """Train a data-consistent MRI generator with a WGAN critic, L1, or both.

    Parameters
    ----------
    generator : torch.nn.Module
        ``generator(measurements, operator)`` returning ``(N, 2, H, W)``
        (`odl_wasserstein.nn.UnrolledDCGenerator`,
        `odl_wasserstein.nn.ResNetDCGenerator`).
    critic : torch.nn.Module, optional
        One value per image (`odl_wasserstein.nn.UnpairedMRICritic`), with
        2 input channels (``critic_input='complex'``) or 1
        (``'magnitude'``); not used in ``'paired'`` mode.
    mode : {'unpaired', 'paired', 'hybrid'}, optional
    critic_input : {'complex', 'magnitude'}, optional
    l1_schedule : (int, int, float), optional
        ``(hold, end, final)`` of the hybrid L1 weight, see `l1_weight`;
        in steps (generator updates).
    measured_key : str, tuple of str or None, optional
        Path of the measured item in a batch (``'kspace'``, ``'mask'``,
        ``'coil_maps'``, and for ``'paired'``/``'hybrid'`` its own label
        ``'x'``); None: the batch itself.
    label_key : str or tuple of str, optional
        Path of the critic's real images (``'unpaired'``, ``'hybrid'``).
    **options
        Options of `AdversarialRecipe`; the defaults are the authors':
        ``n_critic=4`` with ``joint_step=True`` (3 critic-only updates, then
        a joint one), ``penalty='two-sided'``, ``penalty_weight=10``,
        ``lr=1e-4``, ``betas=(0.5, 0.9)``. A batch holds ``n_critic``
        parts; ``'paired'`` uses the whole batch for one update.

    Notes
    -----
    Logged: ``loss``; ``l1`` (the weighted L1 term, ``'paired'`` and
    ``'hybrid'``); the critic's ``critic_loss``, ``distance`` and
    ``penalty``. Validation on measured items with labels gives ``l1``
    (mean absolute error of ``G(b)`` to ``x``).

    Examples
    --------
    >>> from odl_wasserstein.nn import UnpairedMRICritic, UnrolledDCGenerator
    >>> recipe = UnpairedMRIRecipe(UnrolledDCGenerator(n_iter=1, features=4),
    ...                            UnpairedMRICritic(), mode='hybrid')
    >>> recipe.n_critic, recipe.joint_step, recipe.penalty_weight
    (4, True, 10.0)
    >>> [recipe.adversarial_weight(s) for s in (0, 1000)]
    [0.0, 0.01...]
    """

    def __init__(self, generator, critic=None, mode='unpaired', critic_input='complex',
                 l1_schedule=(500, 1000, 0.99), measured_key=('b',), label_key=('a', 'x'),
                 **options):
        self.mode = check_choice(mode, 'mode', MODES)
        self.critic_input = check_choice(critic_input, 'critic_input', CRITIC_INPUTS)
        self.l1_schedule = _check_schedule(l1_schedule)
        modules = {'generator': generator}
        if self.mode != 'paired':
            if critic is None:
                raise ValueError(f'mode {mode!r} needs a `critic`')
            modules['critic'] = critic
        defaults = dict(n_critic=4, joint_step=True, penalty='two-sided', penalty_weight=10.0,
                        lr=1e-4, betas=(0.5, 0.9))
        critics = ('critic',) if self.mode != 'paired' else ()
        super().__init__(modules, critics=critics, **{**defaults, **options})
        self.measured_key, self.label_key = measured_key, label_key

    def measured(self, batch):
        """The measured item of a batch."""
        if self.measured_key is None or self.measured_key == ():
            return batch
        return batch_entry(batch, self.measured_key, 'measured')

    def adversarial_weight(self, step):
        """``1 - w`` in ``'hybrid'`` mode (`l1_weight`), else 1."""
        return 1.0 - l1_weight(step, self.l1_schedule) if self.mode == 'hybrid' else 1.0

    def training_step(self, trainer, batch, step):
        """The adversarial step; in ``'paired'`` mode one L1 update of the generator."""
        if self.mode != 'paired':
            return super().training_step(trainer, batch, step)
        metrics = {}
        self._generator_update(trainer, batch, metrics)
        return metrics

    def generator_fakes(self, trainer, batch):
        """``G(b)`` through the critic's view; the context keeps ``G(b)`` for L1."""
        fake = reconstruct(trainer.module('generator'), self.measured(batch))
        fakes = {} if self.mode == 'paired' else {
            'critic': critic_view(fake, self.critic_input)}
        return fakes, {'fake': fake}

    def generator_terms(self, trainer, batch, context):
        """``l1 = w E |x - G(b)|`` for ``'paired'`` (w = 1) and ``'hybrid'``."""
        if self.mode == 'unpaired':
            return {}
        target = batch_entry(self.measured(batch), 'x', 'paired label')
        weight = 1.0 if self.mode == 'paired' else l1_weight(trainer.step, self.l1_schedule)
        return {'l1': weight * (context['fake'] - target).abs().mean()}

    def critic_pairs(self, trainer, part, context):
        """The labels of the part against ``G(b)``: the joint update's, or a new one."""
        if context is not None:
            fake = context['fake'].detach()
        else:
            with torch.no_grad():
                fake = reconstruct(trainer.module('generator'), self.measured(part))
        real = batch_entry(part, self.label_key, 'label')
        return {'critic': (critic_view(real, self.critic_input),
                           critic_view(fake, self.critic_input))}

    def validation_step(self, trainer, batch):
        """``l1``: mean absolute error of ``G(b)`` to the measured item's label."""
        item = self.measured(batch)
        fake = reconstruct(trainer.module('generator'), item)
        return {'l1': (fake - batch_entry(item, 'x', 'paired label')).abs().mean()}

    def figure(self, trainer, batch, path):
        """Zero-filled input, ``G(b)`` and label magnitudes of the first sample."""
        item = self.measured(batch)
        images = {'zero-filled': CoilFourier(item['mask'], item.get('coil_maps')).adjoint(
                      item['kspace'])[0, 0].abs(),
                  'G(b)': critic_view(reconstruct(trainer.module('generator'), item),
                                      'magnitude')[0, 0],
                  'label': critic_view(item['x'], 'magnitude')[0, 0]}
        fig = new_figure(10, 3.4)
        for ax, (title, image) in zip(fig.subplots(1, 3), images.items()):
            show_image(ax, image.detach(), title=title, colorbar=True)
        fig.suptitle(f'step {trainer.step}')
        fig.savefig(path, dpi=100)
