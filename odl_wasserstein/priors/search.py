"""Reconstruction with a trained generator: search its latent space to fit the data.

`latent_search` is the one front door (Bora et al. 2017; Duff, Campbell
and Ehrhardt, "Regularising inverse problems with generative machine
learning models", REFERENCE_SETTINGS section 6). Given a generator ``G``
(latent ``z`` -> image), a forward operator ``A`` (any ODL operator,
through `odl_wasserstein.torch.OperatorModule`, or a torch module) and
measurements ``y``, it solves one of

- ``'hard'``: ``min_z ||A G(z) - y||^2 + a ||z||^2``, ``x = G(z)``;
- ``'sparse'``: ``min_{z,u} ||A (G(z) + u) - y||^2 + l m ||z||^2 + l R(u)``,
  ``x = G(z) + u``, with ``R = ||.||_1`` or ``TV`` (sparse deviations of
  Dhar et al. 2018);
- ``'soft'``: ``min_{z,x} ||A x - y||^2 + l m ||z||^2 + l ||G(z) - x||^2``;

with the plain sums of squares of the authors' code (no ``1 / (2 s^2)``),
``a = latent_weight`` and ``l, m = weight, latent_weight``. The problems
of all measurements and all random restarts are solved as one batch (the
generator must not couple the samples of a batch: it is run in eval mode)
by PALM with backtracking (`odl_wasserstein.priors.alternating`, the authors'
solver), Adam, or L-BFGS for the smooth forms; every restart draws its own
``z`` (and ``x`` for the soft form) and starts its optimiser afresh, and
the restart with the lowest objective is kept per measurement. With
``noise_level`` and ``discrepancy=True`` the weight is chosen per
measurement by the discrepancy principle: it is divided by 2 (4 for the
soft form) until ``||A x - y||^2 <= n sigma^2``, ``n`` the number of data
values, as the authors' sweeps do.
"""

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import odl
import torch

from odl_wasserstein.priors.alternating import palm
from odl_wasserstein.priors.proximal import l1_proximal, total_variation, tv_proximal
from odl_wasserstein.torch import OperatorModule
from odl_wasserstein.util import (
    as_generator, check_choice, check_finite, check_int, check_real)

__all__ = ('latent_search', 'LatentSearchResult', 'SEARCH_METHODS', 'SEARCH_OPTIMIZERS',
           'DEVIATIONS', 'as_forward_module', 'latent_dimension')

SEARCH_METHODS = ('hard', 'sparse', 'soft')
"""The three formulations of Duff et al.: latent only, sparse deviations, soft constraint."""

SEARCH_OPTIMIZERS = ('palm', 'adam', 'lbfgs')
"""PALM with backtracking (all forms), Adam and L-BFGS (the smooth hard and soft forms)."""

DEVIATIONS = ('l1', 'tv')
"""The penalty ``R(u)`` of the sparse deviations."""

_DEFAULT_WEIGHTS = {'hard': (None, 0.0122), 'sparse': (0.39, 0.0156), 'soft': (0.39, 0.625)}
"""``(weight, latent_weight)`` defaults: Duff et al.'s tuned values for the shapes VAE."""

_SWEEP_FACTOR = {'hard': 0.5, 'sparse': 0.5, 'soft': 0.25}


@dataclass
class LatentSearchResult:
    """What `latent_search` found, one entry per measurement.

    Attributes
    ----------
    image : torch.Tensor
        The reconstruction ``x``, ``(M, *image shape)``.
    latent : torch.Tensor
        ``z`` of the kept restart, ``(M, latent_dim)``.
    generated : torch.Tensor
        ``G(z)``; ``image - generated`` is the deviation of the sparse and
        soft forms (zero for the hard form).
    objective : torch.Tensor
        The objective at the kept restart, ``(M,)``.
    residual : torch.Tensor
        ``||A x - y||^2``, ``(M,)``.
    restart_objectives : torch.Tensor
        The final objective of every restart, ``(restarts, M)``.
    best_restart : torch.Tensor
        Index of the kept restart, ``(M,)``.
    history : torch.Tensor
        Objective of every restart after each iteration,
        ``(n_iter + 1, restarts, M)`` (row 0: the start; L-BFGS: the start
        and the end only), for the last weight tried.
    weight, latent_weight : torch.Tensor
        The weights used per measurement, ``(M,)`` (chosen by the
        discrepancy principle when it is on; ``weight`` is NaN for the
        hard form).
    discrepancy_met : torch.Tensor or None
        Per measurement, whether ``residual <= n sigma^2`` (None without
        a ``noise_level``).
    """

    image: torch.Tensor
    latent: torch.Tensor
    generated: torch.Tensor
    objective: torch.Tensor
    residual: torch.Tensor
    restart_objectives: torch.Tensor
    best_restart: torch.Tensor
    history: torch.Tensor
    weight: torch.Tensor
    latent_weight: torch.Tensor
    discrepancy_met: torch.Tensor | None = field(default=None)


@contextmanager
def _frozen(module):
    """``module`` in eval mode, without parameter gradients, for a block."""
    mode = module.training
    flags = [p.requires_grad for p in module.parameters()]
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        module.train(mode)
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def latent_dimension(generator, latent_dim=None):
    """``latent_dim``, or the generator's ``latent_dim`` attribute, checked."""
    own = getattr(generator, 'latent_dim', None)
    if latent_dim is None:
        if own is None:
            raise ValueError('the generator has no `latent_dim` attribute; pass `latent_dim`')
        latent_dim = own
    latent_dim = check_int(latent_dim, 'latent_dim', minimum=1)
    if own is not None and own != latent_dim:
        raise ValueError(f'`latent_dim` is {latent_dim} but the generator takes latent '
                         f'vectors of size {own}')
    return latent_dim


def as_forward_module(operator):
    """A torch callable for ``operator``: an ODL operator through the bridge, else itself."""
    if isinstance(operator, odl.Operator):
        return OperatorModule(operator)
    if not callable(operator):
        raise TypeError(f'`operator` must be an odl.Operator or a torch module (callable on '
                        f'image batches), got {type(operator).__name__}')
    return operator


def _as_data(data, operator, parameter):
    """Measurements as a float batch ``(M, ...)`` on the generator's device, checked."""
    if isinstance(operator, odl.Operator) and getattr(data, 'space', None) == operator.range:
        data = torch.as_tensor(operator.range.element(data).data)[None, None]
    if not isinstance(data, torch.Tensor):
        raise TypeError(f'`data` must be a torch.Tensor of measurements (M, ...), got '
                        f'{type(data).__name__}')
    if data.is_complex() or not data.is_floating_point():
        raise TypeError(f'`data` must be a real floating-point tensor, got {data.dtype}')
    if data.ndim < 2 or data.shape[0] == 0:
        raise ValueError(f'`data` must be a batch (M, ...) of M >= 1 measurements, got '
                         f'shape {tuple(data.shape)}')
    check_finite(data, 'data')
    return data.to(device=parameter.device, dtype=parameter.dtype)


def _check_shapes(generator, forward, data, latent_dim, parameter):
    """The generator's image shape; errors for a generator, operator and data that do not fit."""
    z = torch.zeros(1, latent_dim, dtype=parameter.dtype, device=parameter.device)
    try:
        with torch.no_grad():
            image = generator(z)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f'the generator does not take latent vectors of size {latent_dim}: '
                         f'{error}') from None
    try:
        with torch.no_grad():
            measured = forward(image)
    except (RuntimeError, ValueError, TypeError) as error:
        raise ValueError(f"the operator's domain is not the generator's range "
                         f'{tuple(image.shape[1:])}: {error}') from None
    if tuple(measured.shape[1:]) != tuple(data.shape[1:]):
        raise ValueError(f'`data` has measurements of shape {tuple(data.shape[1:])}, but the '
                         f'operator maps generated images to {tuple(measured.shape[1:])}')
    return tuple(image.shape[1:])


def _sum_squares(x):
    return x.flatten(1).square().sum(1)


class _Problem:
    """The objective of one formulation for a batch of ``restarts * M`` searches."""

    def __init__(self, method, generator, forward, data, weight, latent_weight, deviation,
                 tv_iter):
        self.method, self.generator, self.forward = method, generator, forward
        self.data, self.deviation, self.tv_iter = data, deviation, tv_iter
        self.weight, self.latent_weight = weight, latent_weight

    def select(self, values, index):
        return values if index is None else values[index]

    def image(self, blocks):
        z, *rest = blocks
        if self.method == 'hard':
            return self.generator(z)
        if self.method == 'sparse':
            return self.generator(z) + rest[0]
        return rest[0]

    def smooth(self, blocks, index):
        """The differentiable part of the objective, per sample."""
        z, *rest = blocks
        data = self.select(self.data, index)
        weight = self.select(self.weight, index)
        latent = self.select(self.latent_weight, index)
        if self.method == 'hard':
            return _sum_squares(self.forward(self.generator(z)) - data) + latent * _sum_squares(z)
        if self.method == 'sparse':
            image = self.generator(z) + rest[0]
            return (_sum_squares(self.forward(image) - data)
                    + weight * latent * _sum_squares(z))
        return (_sum_squares(self.forward(rest[0]) - data)
                + weight * latent * _sum_squares(z)
                + weight * _sum_squares(self.generator(z) - rest[0]))

    def penalty(self, u, index):
        """``l R(u)`` of the sparse form, per sample."""
        value = total_variation(u) if self.deviation == 'tv' else u.flatten(1).abs().sum(1)
        return self.select(self.weight, index) * value

    def nonsmooth(self, blocks):
        return self.penalty(blocks[1], None) if self.method == 'sparse' else 0.0

    def penalties(self):
        return [None, self.penalty] if self.method == 'sparse' else None

    def objective(self, blocks):
        with torch.no_grad():
            return self.smooth(blocks, None) + self.nonsmooth(blocks)

    def proxes(self):
        if self.method != 'sparse':
            return [None] * (1 if self.method == 'hard' else 2)

        def prox(v, step, index):
            t = step * self.select(self.weight, index)
            if self.deviation == 'tv':
                return tv_proximal(v, t, n_iter=self.tv_iter)
            return l1_proximal(v, t)

        return [None, prox]


def _starting_blocks(method, z, image_shape, rng, image_init, generator):
    """``[z]``, ``[z, u = 0]`` or ``[z, x]`` for the three formulations."""
    if method == 'hard':
        return [z]
    shape = (z.shape[0],) + image_shape
    if method == 'sparse':
        return [z, torch.zeros(shape, dtype=z.dtype, device=z.device)]
    if image_init == 'normal':
        x = torch.randn(shape, generator=rng, dtype=z.dtype, device=z.device)
    elif image_init == 'generator':
        with torch.no_grad():
            x = generator(z)
    else:
        x = torch.zeros(shape, dtype=z.dtype, device=z.device)
    return [z, x]


def _minimise(problem, blocks, optimizer, n_iter, lr, lbfgs_history):
    """Run the chosen optimiser; returns the final blocks and the objective history.

    The history reuses the values the optimisers compute anyway (PALM's
    accepted trials, Adam's forward passes), so recording it is free.
    """
    if optimizer == 'palm':
        history = []

        def record(iteration, current, value):
            history.append(problem.objective(current) if value is None
                           else value + problem.nonsmooth(current))

        blocks = palm(blocks, problem.smooth, problem.proxes(), n_iter=n_iter, callback=record,
                      penalties=problem.penalties())
        return blocks, torch.stack(history)
    variables = [b.detach().clone().requires_grad_(True) for b in blocks]
    if optimizer == 'adam':
        return _adam(problem, variables, n_iter, lr)
    history = [problem.objective(variables)]
    solver = torch.optim.LBFGS(variables, lr=1.0, max_iter=n_iter, history_size=lbfgs_history,
                               line_search_fn='strong_wolfe', tolerance_grad=0.0,
                               tolerance_change=0.0)

    def closure():
        solver.zero_grad(set_to_none=True)
        loss = problem.smooth(variables, None).sum()
        loss.backward()
        return loss

    solver.step(closure)
    history.append(problem.objective(variables))
    return [v.detach() for v in variables], torch.stack(history)


def _adam(problem, variables, n_iter, lr):
    """Adam on the smooth forms; every sample moves on its own (Adam is elementwise)."""
    solver = torch.optim.Adam(variables, lr=lr)
    history = []
    for _ in range(n_iter):
        solver.zero_grad(set_to_none=True)
        values = problem.smooth(variables, None)
        values.sum().backward()
        history.append(values.detach())
        solver.step()
    history.append(problem.objective(variables))
    return [v.detach() for v in variables], torch.stack(history)


def _check_options(method, optimizer, deviation, image_init, weight, latent_weight):
    check_choice(method, 'method', SEARCH_METHODS)
    check_choice(optimizer, 'optimizer', SEARCH_OPTIMIZERS)
    check_choice(deviation, 'deviation', DEVIATIONS)
    check_choice(image_init, 'image_init', ('normal', 'generator', 'zero'))
    if method == 'sparse' and optimizer != 'palm':
        raise ValueError("the sparse form has a non-smooth term: use optimizer='palm'")
    if method == 'hard' and weight is not None:
        raise ValueError("the hard form has one weight, `latent_weight` (its a); leave "
                         "`weight` None")
    default_weight, default_latent = _DEFAULT_WEIGHTS[method]
    weight = default_weight if weight is None else check_real(weight, 'weight', positive=True)
    latent_weight = (default_latent if latent_weight is None
                     else check_real(latent_weight, 'latent_weight', minimum=0))
    return weight, latent_weight


def _initial_latents(init, restarts, m, latent_dim, rng, like):
    if init is None:
        return torch.randn(restarts, m, latent_dim, generator=rng, dtype=like.dtype,
                           device=like.device)
    if not isinstance(init, torch.Tensor) or init.shape[-2:] != (m, latent_dim):
        shape = getattr(init, 'shape', None)
        raise ValueError(f'`init` must be a tensor (restarts, {m}, {latent_dim}) or ({m}, '
                         f'{latent_dim}) of starting latent vectors, got shape {shape}')
    check_finite(init, 'init')
    init = init.to(dtype=like.dtype, device=like.device)
    return init.expand(restarts, m, latent_dim) if init.ndim == 2 else init


def latent_search(generator, operator, data, method='hard', *, weight=None, latent_weight=None,
                  deviation='l1', restarts=1, n_iter=200, optimizer='palm', lr=0.05,
                  noise_level=None, discrepancy=False, max_sweeps=12, image_init='normal',
                  init=None, latent_dim=None, generator_seed=None, tv_iter=30,
                  lbfgs_history=20):
    """Reconstruct images from measurements by searching a generator's latent space.

    Parameters
    ----------
    generator : torch.nn.Module
        ``G``: ``(N, latent_dim)`` -> images ``(N, C, *image shape)``, e.g.
        `odl_wasserstein.nn.ConvDecoder`, an autoencoder's or a VAE's
        ``decoder`` or a GAN generator. Run in eval mode, without
        parameter gradients; it must not couple the samples of a batch.
    operator : `odl.Operator` or callable
        ``A``; an ODL operator on the image space (wrapped by
        `odl_wasserstein.torch.OperatorModule`) or a torch module on
        image batches.
    data : torch.Tensor or ``operator.range`` element
        Measurements ``(M, *A(G(z)).shape[1:])``; one ODL element is one
        measurement.
    method : {'hard', 'sparse', 'soft'}, optional
        The formulation (see the module docstring).
    weight : float, optional
        ``l`` of the sparse and soft forms (default Duff et al.'s shapes-VAE
        value 0.39); not used by the hard form.
    latent_weight : float, optional
        ``a`` of the hard form, ``m`` of the others (defaults 0.0122,
        0.0156, 0.625: the authors' tuned shapes-VAE values).
    deviation : {'l1', 'tv'}, optional
        ``R(u)`` of the sparse form.
    restarts : int, optional
        Random starts per measurement, solved in one batch; the lowest
        final objective is kept.
    n_iter : int, optional
        Iterations (PALM sweeps, Adam steps or L-BFGS iterations).
    optimizer : {'palm', 'adam', 'lbfgs'}, optional
        L-BFGS treats the whole batch as one problem (one line search);
        PALM and Adam solve every sample independently.
    lr : float, optional
        Adam's learning rate.
    noise_level : float, optional
        ``sigma`` of the data noise; reports ``discrepancy_met``.
    discrepancy : bool, optional
        Choose the weight (``latent_weight`` for the hard form, ``weight``
        otherwise) by the discrepancy principle, starting from the given
        one, at most ``max_sweeps`` values.
    image_init : {'normal', 'generator', 'zero'}, optional
        Start of ``x`` in the soft form: ``N(0, 1)`` (the authors'),
        ``G(z_0)`` or zero.
    init : torch.Tensor, optional
        Starting latents ``(restarts, M, latent_dim)`` or ``(M,
        latent_dim)`` instead of ``N(0, I)`` draws.
    latent_dim : int, optional
        Default ``generator.latent_dim``.
    generator_seed : torch.Generator or int, optional
        Random state of the starts (default torch's global state).
    tv_iter : int, optional
        Inner iterations of the TV proximal map.
    lbfgs_history : int, optional

    Returns
    -------
    `LatentSearchResult`

    Raises
    ------
    ValueError, TypeError
        Before any optimisation: a latent size, image shape, operator or
        data that do not fit together, non-finite data, bad options.

    Examples
    --------
    A linear generator of the images ``(z_0, z_1, 0)`` observed through the
    identity: the hard form with a tiny ``a`` finds the projection of the
    data onto its range.

    >>> G = torch.nn.Linear(2, 3, bias=False)
    >>> with torch.no_grad():
    ...     _ = G.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    >>> y = torch.tensor([[1.0, -2.0, 5.0]])
    >>> result = latent_search(G, torch.nn.Identity(), y, latent_weight=1e-9,
    ...                        latent_dim=2, n_iter=100, generator_seed=0)
    >>> [round(v, 3) for v in result.image[0].tolist()], round(float(result.residual[0]), 3)
    ([1.0, -2.0, 0.0], 25.0)

    With sparse deviations the part outside the range is recovered too:

    >>> result = latent_search(G, torch.nn.Identity(), y, 'sparse', weight=0.1,
    ...                        latent_weight=1e-6, latent_dim=2, generator_seed=0)
    >>> [round(v, 2) for v in result.image[0].tolist()]
    [1.0, -2.0, 4.95]
    """
    weight, latent_weight = _check_options(method, optimizer, deviation, image_init,
                                           weight, latent_weight)
    restarts = check_int(restarts, 'restarts', minimum=1)
    n_iter = check_int(n_iter, 'n_iter', minimum=1)
    lr = check_real(lr, 'lr', positive=True)
    noise_level = check_real(noise_level, 'noise_level', minimum=0, allow_none=True)
    if discrepancy and noise_level is None:
        raise ValueError('the discrepancy principle needs the `noise_level` sigma of the data')
    max_sweeps = check_int(max_sweeps, 'max_sweeps', minimum=1)
    if not isinstance(generator, torch.nn.Module):
        raise TypeError(f'`generator` must be a torch.nn.Module, got {type(generator).__name__}')
    parameter = next(generator.parameters(), None)
    if parameter is None:
        parameter = torch.zeros(())
    latent_dim = latent_dimension(generator, latent_dim)
    forward = as_forward_module(operator)
    data = _as_data(data, operator, parameter)
    with _frozen(generator):
        image_shape = _check_shapes(generator, forward, data, latent_dim, parameter)
        rng = as_generator(generator_seed, 'generator_seed', device=parameter.device)
        z0 = _initial_latents(init, restarts, data.shape[0], latent_dim, rng, parameter)
        settings = dict(method=method, deviation=deviation, optimizer=optimizer,
                        n_iter=n_iter, lr=lr, tv_iter=tv_iter, lbfgs_history=lbfgs_history,
                        image_init=image_init, image_shape=image_shape)
        return _sweep(generator, forward, data, z0, rng, weight, latent_weight, noise_level,
                      discrepancy, max_sweeps, settings)


def _sweep(generator, forward, data, z0, rng, weight, latent_weight, noise_level,
           discrepancy, max_sweeps, settings):
    """Solve for the given weights, or sweep them down per measurement (discrepancy)."""
    m = data.shape[0]
    like = dict(dtype=data.dtype, device=data.device)
    weights = torch.full((m,), math.nan if weight is None else weight, **like)
    latents = torch.full((m,), latent_weight, **like)
    level = None if noise_level is None else data[0].numel() * noise_level ** 2
    result = _solve(generator, forward, data, z0, rng, weights, latents, settings)
    if discrepancy:
        swept = latents if settings['method'] == 'hard' else weights
        factor = _SWEEP_FACTOR[settings['method']]
        for _ in range(max_sweeps - 1):
            active = result.residual > level
            if not bool(active.any()):
                break
            swept[active] *= factor
            index = active.nonzero().squeeze(1)
            trial = _solve(generator, forward, data[index], z0[:, index], rng,
                           weights[index], latents[index], settings)
            result = _merge(result, trial, index)
    if level is not None:
        result.discrepancy_met = result.residual <= level
    return result


def _solve(generator, forward, data, z0, rng, weights, latents, settings):
    """All restarts of all measurements as one batch; the best restart per measurement."""
    restarts, m = z0.shape[:2]
    repeat = (restarts,) + (1,) * (data.ndim - 1)
    problem = _Problem(settings['method'], generator, forward, data.repeat(repeat),
                       weights.repeat(restarts), latents.repeat(restarts),
                       settings['deviation'], settings['tv_iter'])
    blocks = _starting_blocks(settings['method'], z0.reshape(restarts * m, -1),
                              settings['image_shape'], rng, settings['image_init'], generator)
    blocks, history = _minimise(problem, blocks, settings['optimizer'], settings['n_iter'],
                                settings['lr'], settings['lbfgs_history'])
    final = history[-1].reshape(restarts, m)
    best = torch.nan_to_num(final, nan=math.inf).argmin(0)
    measurement = torch.arange(m, device=best.device)
    pick = best * m + measurement
    with torch.no_grad():
        image = problem.image(blocks)[pick]
        generated = generator(blocks[0][pick])
        residual = _sum_squares(forward(image) - data)
    return LatentSearchResult(
        image=image, latent=blocks[0][pick], generated=generated,
        objective=final[best, measurement], residual=residual, restart_objectives=final, best_restart=best,
        history=history.reshape(history.shape[0], restarts, m), weight=weights.clone(),
        latent_weight=latents.clone())


def _merge(result, trial, index):
    """``result`` with the measurements ``index`` replaced by those of ``trial``."""
    for name in ('image', 'latent', 'generated', 'objective', 'residual', 'best_restart',
                 'weight', 'latent_weight'):
        getattr(result, name)[index] = getattr(trial, name)
    result.restart_objectives[:, index] = trial.restart_objectives
    result.history[:, :, index] = trial.history
    return result
