"""Wasserstein critic and generator losses, shared by every adversarial recipe.

The critic ``D`` estimates the Kantorovich-Rubinstein dual of the
Wasserstein-1 distance between the real and the generated distributions,

    W(P_r, P_g) ~ E_{x ~ P_r} D(x) - E_{y ~ P_g} D(y),

under a Lipschitz constraint enforced by a gradient penalty
(`odl_wasserstein.adversarial.gradient_penalty`). `critic_loss` is what the
critic minimises (the negated estimate plus the penalty) and
`generator_loss` what the generator minimises, ``-E D(G(z))``. The
adversarial recipes of `odl_wasserstein.methods` (WGAN, OT-cycleGAN,
unpaired MRI) all use these two functions.

The conventional cycleGAN (Zhu et al. 2017), a baseline of the OT-cycleGAN
paper, uses the least-squares GAN (Mao et al. 2017) instead:
`lsgan_critic_loss` and `lsgan_generator_loss`, with targets 1 for real
and 0 for fake samples.
"""

from dataclasses import dataclass

import torch

from odl_wasserstein.adversarial.penalties import (
    PENALTY_KINDS, check_pair, critic_values, gradient_penalty)
from odl_wasserstein.util import check_choice

__all__ = ('CriticLoss', 'critic_loss', 'generator_loss', 'lsgan_critic_loss',
           'lsgan_generator_loss')


@dataclass
class CriticLoss:
    """What `critic_loss` returns.

    Attributes
    ----------
    loss : torch.Tensor
        Scalar the critic minimises: ``-distance + penalty``.
    distance : torch.Tensor
        Scalar ``mean D(real) - mean D(fake)``, the critic's estimate of the
        Wasserstein-1 distance (detached).
    penalty : torch.Tensor
        Scalar gradient penalty, weight included (detached; 0 without one).
    """

    loss: torch.Tensor
    distance: torch.Tensor
    penalty: torch.Tensor


def critic_loss(critic, real, fake, penalty='two-sided', penalty_weight=10.0,
                generator=None, **penalty_options):
    """Wasserstein critic loss with a gradient penalty.

    Returns ``mean D(fake) - mean D(real) + penalty_weight * GP`` with
    ``GP`` the penalty ``penalty`` of `gradient_penalty` at random
    interpolates of ``real`` and ``fake``. ``fake`` is detached: the
    critic's update must not change the generator.

    Parameters
    ----------
    critic : callable
        One value per sample; no batch normalisation (samples must be
        independent for the penalty).
    real, fake : torch.Tensor, shape ``(N, ...)``
        Same shape, dtype and device.
    penalty : {'two-sided', 'one-sided', 'wasserstein'} or None, optional
        Gradient penalty kind; None for none (weight clipping or a
        spectrally normalised critic are then the caller's business).
    penalty_weight : float, optional
        ``lambda``: 10 for WGAN-GP (Gulrajani et al.), 4 in the authors' WWGAN
        code.
    generator : torch.Generator, optional
        Source of the interpolation weights.
    **penalty_options
        Options of `ground_metric_norm2` for ``penalty='wasserstein'``
        (``degree_normalize``, ``alpha``, ``gamma``, ...).

    Returns
    -------
    CriticLoss

    Examples
    --------
    A linear critic ``D(x) = <a, x>`` with ``||a|| = 1`` has no two-sided
    penalty, and its distance estimate is ``<a, mean real - mean fake>``:

    >>> critic = torch.nn.Linear(4, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = critic.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    >>> real, fake = torch.ones(8, 4), torch.zeros(8, 4)
    >>> result = critic_loss(critic, real, fake)
    >>> result.distance.item(), result.penalty.item(), result.loss.item()
    (1.0, 0.0, -1.0)
    """
    check_choice(penalty, 'penalty', PENALTY_KINDS + (None,))
    check_pair(real, fake)
    fake = fake.detach()
    real = real.detach()
    distance = critic_values(critic, real).mean() - critic_values(critic, fake).mean()
    loss = -distance
    if penalty is None:
        if penalty_options:
            raise TypeError(f'penalty options {sorted(penalty_options)} given without a '
                            'penalty')
        gp = torch.zeros((), dtype=loss.dtype, device=loss.device)
    else:
        gp = gradient_penalty(critic, real, fake, penalty=penalty, penalty_weight=penalty_weight,
                              generator=generator, **penalty_options)
        loss = loss + gp
    return CriticLoss(loss=loss, distance=distance.detach(), penalty=gp.detach())


def generator_loss(critic, fake):
    """Wasserstein generator loss ``-mean D(fake)``.

    Gradients reach the generator through ``fake``; the critic's own
    parameters get gradients too, so update only the generator's optimiser
    with it (`odl_wasserstein.training.Trainer.optimize` does).

    Parameters
    ----------
    critic : callable
        One value per sample.
    fake : torch.Tensor, shape ``(N, ...)``
        Generated samples, with a graph to the generator.

    Returns
    -------
    torch.Tensor
        Scalar.

    Raises
    ------
    ValueError
        For an empty batch, whose mean would be NaN.

    Examples
    --------
    >>> critic = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = critic.weight.fill_(1.0)
    >>> fake = torch.ones(3, 2, requires_grad=True)
    >>> loss = generator_loss(critic, fake)
    >>> loss.item(), torch.autograd.grad(loss, fake)[0][0].tolist()
    (-2.0, [-0.3333333432674408, -0.3333333432674408])
    """
    if isinstance(fake, torch.Tensor) and fake.ndim > 0 and fake.shape[0] == 0:
        raise ValueError('`fake` holds no samples (a batch of size 0)')
    return -critic_values(critic, fake).mean()


def lsgan_critic_loss(critic, real, fake):
    """Least-squares GAN critic loss ``(mean (D(real) - 1)^2 + mean D(fake)^2) / 2``.

    Returns a `CriticLoss` whose ``distance`` is ``mean D(real) - mean
    D(fake)`` (how well the critic tells them apart; no Wasserstein
    meaning) and whose ``penalty`` is 0. ``fake`` is detached.

    Examples
    --------
    A critic that says 1 to real and 0 to fake samples has loss 0:

    >>> critic = lambda x: x.flatten(1).mean(1)
    >>> result = lsgan_critic_loss(critic, torch.ones(4, 3), torch.zeros(4, 3))
    >>> result.loss.item(), result.distance.item()
    (0.0, 1.0)
    """
    check_pair(real, fake)
    on_real = critic_values(critic, real.detach())
    on_fake = critic_values(critic, fake.detach())
    loss = ((on_real - 1) ** 2).mean() / 2 + (on_fake ** 2).mean() / 2
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    return CriticLoss(loss=loss, distance=(on_real.mean() - on_fake.mean()).detach(),
                      penalty=zero)


def lsgan_generator_loss(critic, fake):
    """Least-squares GAN generator loss ``mean (D(fake) - 1)^2``.

    Examples
    --------
    >>> critic = lambda x: x.flatten(1).mean(1)
    >>> lsgan_generator_loss(critic, torch.full((2, 3), 0.5)).item()
    0.25
    """
    if isinstance(fake, torch.Tensor) and fake.ndim > 0 and fake.shape[0] == 0:
        raise ValueError('`fake` holds no samples (a batch of size 0)')
    return ((critic_values(critic, fake) - 1) ** 2).mean()
