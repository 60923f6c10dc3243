r"""Entropic optimal transport between images: batched, stable Sinkhorn.

Solves, for batches of non-negative images ``a`` (``mu0``) and ``b``
(``mu1``) on the grid of a translation-invariant cost ``c``,

.. math::
    \mathrm{OT}_\varepsilon(a, b) = \min_{P \ge 0} \langle C, P\rangle
        + \varepsilon\, \mathrm{KL}(P \,|\, a \otimes b)
        \quad \text{s.t. } P 1 = a,\ P^T 1 = b,

(Cuturi 2013; Algorithm 1 of Adler et al., "Learning to solve inverse
problems using Wasserstein loss", 2017), or its unbalanced version with
``rho KL(P 1 | a) + rho KL(P^T 1 | b)`` in place of the constraints
(Chizat et al. 2018). The plan is ``P_ij = a_i b_j exp((f_i + g_j -
C_ij) / eps)`` with dual potentials ``f, g``; the iterations update the
potentials in the log domain,

.. math::
    f_i = -\lambda \varepsilon \log \sum_j b_j e^{(g_j - C_{ij})/\varepsilon},
    \qquad
    g_j = -\lambda \varepsilon \log \sum_i a_i e^{(f_i - C_{ij})/\varepsilon},

with ``lambda = 1`` (balanced) or ``rho / (rho + eps)`` (unbalanced). The
kernel sums are applied by one of the engines of
`odl_wasserstein.transport.engines` (FFT, separable log-domain, dense).
Which engine runs (``method='auto'``):

1. ``'fft'`` whenever the whole kernel is resolvable at FFT precision
   (``max C / eps <= 13`` in float32, up to ``32`` with float64 FFTs, which
   are then used also for float32 input, as for tolerances below ``1e-4``,
   which float32 FFTs cannot reach): ``O(n log n)``, fastest;
2. otherwise ``'separable'`` for separable costs (exact, any eps);
3. otherwise ``'fft'`` in float64. Kernel sums below the FFT round-off are
   clamped (finite, never NaN); if mass ends up where that happened, i.e.
   mass had to travel over costs above about ``32 eps``, a warning says the
   result is inaccurate. ``method='dense'`` is exact for any cost and eps
   but needs ``O(n^2)`` memory and time per iteration (small grids).

Gradients: ``gradient='unrolled'`` differentiates through the iterations
(as in the paper; memory grows with the iteration count);
``gradient='implicit'`` differentiates the fixed point of the iterations
(exact at convergence, memory independent of the iteration count).
"""

import math
import warnings
from dataclasses import dataclass

import torch

from odl_wasserstein.transport.costs import BOUNDARIES, GridCost
from odl_wasserstein.transport.engines import ENGINES, choose_engine, log_apply
from odl_wasserstein.util import (
    check_choice, check_finite, check_int, check_positive, check_real)

__all__ = ('sinkhorn', 'SinkhornResult', 'check_measures', 'nonnegative_part',
           'NotAMeasureError', 'eps_schedule', 'METHODS')

METHODS = ENGINES
#: Convergence checks without a 1 % improvement after which an FFT run stops.
STALL_CHECKS = 20
#: Relative accuracy the adjoint solve of implicit gradients can reach.
ADJOINT_FLOOR = {torch.float32: 1e-5, torch.float64: 1e-12}


@dataclass
class SinkhornResult:
    """Outcome of `sinkhorn` (tensors have a leading batch axis ``N``).

    Attributes
    ----------
    cost : torch.Tensor
        ``(N,)`` transport cost ``<C, P>`` of the entropic plan, the value
        returned by Algorithm 1 of the Wasserstein-loss paper.
    objective : torch.Tensor
        ``(N,)`` entropic objective
        ``<C, P> + eps KL(P | a x b)`` (+ the marginal penalties when
        unbalanced); its gradients are the potentials.
    f, g : torch.Tensor
        ``(N, *shape)`` dual potentials of ``mu0`` and ``mu1``, defined on
        the whole grid (outside the supports by the same formulas).
    n_iter : int
        Iterations done at the target eps.
    marginal_error : torch.Tensor
        ``(N,)`` relative L1 violation of the marginals,
        ``|P 1 - a|_1 / |a| + |P^T 1 - b|_1 / |b|`` (balanced problems).
    converged : bool
        Whether the tolerance was met (always True for a fixed ``n_iter``).
    method : str
        Engine used: ``'fft'``, ``'separable'`` or ``'dense'``.
    """

    cost: torch.Tensor
    objective: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    n_iter: int
    marginal_error: torch.Tensor
    converged: bool
    method: str


class NotAMeasureError(ValueError):
    """Data with negative values or without mass where a measure is needed."""


def nonnegative_part(mu, name, negative_tol=1e-6):
    """A batch of measures ``(N, ...)`` with round-off negatives set to zero.

    Values above ``-negative_tol`` times a sample's largest magnitude count
    as round-off of zero.

    Raises
    ------
    ValueError
        For NaN or infinite values.
    NotAMeasureError
        For (truly) negative values or a sample without mass.

    Examples
    --------
    >>> nonnegative_part(torch.tensor([[1.0, -1e-9]]), 'mu')
    tensor([[1., 0.]])
    >>> nonnegative_part(torch.tensor([[1.0, -0.5]]), 'mu')
    Traceback (most recent call last):
        ...
    odl_wasserstein.transport.solver.NotAMeasureError: `mu` has negative values (min -0.5); measures must be non-negative: clamp or shift them (e.g. torch.relu) first
    """
    if not bool(torch.isfinite(mu).all()):
        raise ValueError(f'`{name}` contains NaN or infinite values')
    flat = mu.detach().flatten(1)
    scale = flat.abs().amax(dim=1)
    if bool((flat.amin(dim=1) < -negative_tol * scale).any()):
        raise NotAMeasureError(
            f'`{name}` has negative values (min {float(flat.min()):.3g}); measures must be '
            'non-negative: clamp or shift them (e.g. torch.relu) first')
    mu = mu.clamp_min(0)
    if bool((mu.detach().flatten(1).sum(dim=1) <= 0).any()):
        raise NotAMeasureError(f'`{name}` has a sample with zero total mass; optimal '
                               'transport needs mass in every sample')
    return mu


def check_measures(mu0, mu1, cost, negative_tol=1e-6):
    """Validate a pair of batches of measures for a cost.

    Returns the measures as ``(N, *cost.shape)`` tensors of a common
    floating dtype, with round-off negatives (above ``-negative_tol`` times
    the maximum) set to zero, and whether a batch axis was added.

    Raises
    ------
    TypeError
        Non-tensor or non-floating input, or a cost that is not a `GridCost`.
    ValueError
        Shape mismatch, a cost on another grid, an empty batch, NaN/inf,
        negative values, or a sample with zero total mass.
    """
    if not isinstance(cost, GridCost):
        raise TypeError(f'`cost` must be a GridCost (see '
                        f'odl_wasserstein.transport.costs), got {cost!r}')
    for name, mu in (('mu0', mu0), ('mu1', mu1)):
        if not isinstance(mu, torch.Tensor):
            raise TypeError(f'`{name}` must be a torch.Tensor, got {type(mu).__name__}')
        if not mu.is_floating_point():
            raise TypeError(f'`{name}` must be a real floating-point tensor, '
                            f'got {mu.dtype}')
    if mu0.shape != mu1.shape:
        raise ValueError(f'`mu0` and `mu1` must have the same shape, got '
                         f'{tuple(mu0.shape)} and {tuple(mu1.shape)}')
    ndim = cost.ndim
    unbatched = mu0.ndim == ndim
    if unbatched:
        mu0, mu1 = mu0[None], mu1[None]
    if mu0.ndim != ndim + 1:
        raise ValueError(f'measures must have shape (N, {", ".join(map(str, cost.shape))})'
                         f' or ({", ".join(map(str, cost.shape))}), got {tuple(mu0.shape)}')
    if mu0.shape[0] == 0:
        raise ValueError(f'`mu0` and `mu1` hold no measures (a batch of size 0, shape '
                         f'{tuple(mu0.shape)}); give at least one')
    cost.check_shape(mu0.shape[1:])
    dtype = torch.promote_types(mu0.dtype, mu1.dtype)
    mu0, mu1 = mu0.to(dtype), mu1.to(device=mu0.device, dtype=dtype)
    return (nonnegative_part(mu0, 'mu0', negative_tol),
            nonnegative_part(mu1, 'mu1', negative_tol), unbatched)


def eps_schedule(c_max, eps, scaling=0.5):
    """The eps of an annealing run: ``c_max s, c_max s^2, ...`` above ``eps``, then ``eps``.

    Each level warm-starts the next: at small ``eps`` the iterations
    converge much faster from the potentials of a larger one.

    Examples
    --------
    >>> eps_schedule(1.0, 0.1)
    [0.5, 0.25, 0.125, 0.1]
    """
    levels, level = [], c_max
    while level * scaling > eps:
        level *= scaling
        levels.append(level)
    return levels + [eps]


def _mass(mu):
    return mu.flatten(1).sum(dim=1)


class _Problem:
    """Measures, engine and the two half-steps at one eps."""

    def __init__(self, a, b, engine, eps, rho):
        self.a, self.b, self.engine, self.eps = a, b, engine, float(eps)
        self.lam = 1.0 if rho is None else rho / (rho + self.eps)
        self.rho = rho

    def f_of_g(self, g):
        return -self.lam * self.eps * log_apply(self.engine, self.b, g / self.eps)

    def g_of_f(self, f):
        return -self.lam * self.eps * log_apply(self.engine, self.a, f / self.eps,
                                                transpose=True)

    def step(self, g):
        return self.g_of_f(self.f_of_g(g))


def _residual(problem, f_old, f_new):
    """Convergence measure after a g-update, from two successive f's."""
    dims = tuple(range(1, f_old.ndim))
    if problem.rho is None:
        # m0 = a exp((f_old - f_new) / eps) exactly; compare with a.
        m0 = problem.a * torch.exp((f_old - f_new) / problem.eps)
        # Masses accepted as equal may differ (up to `mass_tolerance`); the
        # plan after a g-update has the mass of b, so m0 tends to
        # a |b| / |a|, which is the reachable target (a itself when equal).
        shape = (-1,) + (1,) * (problem.a.ndim - 1)
        target = problem.a * (_mass(problem.b) / _mass(problem.a)).reshape(shape)
        return ((m0 - target).abs().sum(dim=dims) / _mass(problem.a))
    change = torch.where(problem.a > 0, (f_new - f_old).abs(), torch.zeros_like(f_old))
    return change.amax(dim=dims) / problem.eps


def _iterate(problem, g, n_iter, tol, max_iter, check_every):
    """Run iterations from ``g``.

    Returns the last pair ``(f, g)`` (``g`` computed from ``f``), the
    number of iterations and whether the tolerance was met.
    """
    if n_iter is not None:
        for _ in range(n_iter):
            f = problem.f_of_g(g)
            g = problem.g_of_f(f)
        return f, g, n_iter, True
    f = problem.f_of_g(g)
    best, stalled = math.inf, 0
    for iteration in range(1, max_iter + 1):
        g = problem.g_of_f(f)
        f_new = problem.f_of_g(g)
        if iteration % check_every == 0 or iteration == max_iter:
            residual = float(_residual(problem, f, f_new).detach().max())
            if residual <= tol:
                return f, g, iteration, True
            # With the FFT engine, a residual that stops improving has hit
            # the round-off floor of the kernel sums: more iterations cannot
            # help. (Exact engines can plateau for long and then converge.)
            stalled = 0 if residual < 0.99 * best else stalled + 1
            best = min(best, residual)
            if problem.engine.name == 'fft' and stalled >= STALL_CHECKS:
                return f, problem.g_of_f(f), iteration, False
        f = f_new
    return f, problem.g_of_f(f), max_iter, False


def _readout(problem, f, g):
    """Transport cost, objective and marginal error of the plan of ``(f, g)``."""
    a, b, eps, engine = problem.a, problem.b, problem.eps, problem.engine
    dims = tuple(range(1, a.ndim))
    log_kv = log_apply(engine, b, g / eps)
    log_ktu = log_apply(engine, a, f / eps, transpose=True)
    m0 = a * torch.exp(f / eps + log_kv)
    m1 = b * torch.exp(g / eps + log_ktu)
    with torch.no_grad():
        unresolved = ((a * engine.unresolved(log_kv)).sum(dim=dims) / _mass(a)
                      + (b * engine.unresolved(log_ktu)).sum(dim=dims) / _mass(b))
    log_kcv = log_apply(engine, b, g / eps, kind='KC')
    transport = (a * torch.exp(f / eps + log_kcv)).sum(dim=dims)
    plan_mass = m0.sum(dim=dims)
    objective = ((f * m0).sum(dim=dims) + (g * m1).sum(dim=dims)
                 - eps * (plan_mass - _mass(a) * _mass(b)))
    if problem.rho is not None:
        objective = objective + problem.rho * (_kl(m0, a, f / eps + log_kv)
                                               + _kl(m1, b, g / eps + log_ktu))
    error = ((m0 - a).abs().sum(dim=dims) / _mass(a)
             + (m1 - b).abs().sum(dim=dims) / _mass(b))
    return transport, objective, error.detach(), unresolved


def _kl(m, ref, log_ratio):
    """Generalised KL divergence ``sum m log(m / ref) - m + ref``.

    ``m = ref exp(log_ratio)`` is a marginal of the plan and ``log_ratio``
    the potential plus the log kernel sum: finite even where ``ref = 0``,
    so the derivative in ``ref`` keeps its ``exp(s) s`` term there (which
    ``xlogy(m, m / ref)`` drops).
    """
    dims = tuple(range(1, m.ndim))
    return (m * log_ratio - m + ref).sum(dim=dims)


def _implicit_fixed_point(problem, g_star, tol, max_iter):
    """``g = Phi(g_star)`` whose backward solves the adjoint fixed point."""
    g0 = g_star.detach().requires_grad_(True)
    with torch.enable_grad():
        g1 = problem.step(g0)
    if not g1.requires_grad:
        return g1
    b = problem.b.detach()
    dims = tuple(range(1, b.ndim))

    solving = [False]

    def solve_adjoint(grad):
        # The vector-Jacobian products below flow through g1 again: let
        # them pass unchanged.
        if solving[0]:
            return grad
        solving[0] = True
        try:
            # lambda = grad + J^T lambda. For balanced problems J has the
            # eigenvalue 1 (shifts f - c, g + c); its mode along b carries no
            # gradient of shift-invariant outputs and is projected out.
            lam, best, stalled = grad, math.inf, 0
            target = max(tol, ADJOINT_FLOOR.get(grad.dtype, 1e-12))
            for _ in range(max_iter):
                (jt_lam,) = torch.autograd.grad(g1, g0, lam, retain_graph=True)
                new = grad + jt_lam
                if problem.rho is None:
                    new = new - b * (new.sum(dim=dims, keepdim=True)
                                     / b.sum(dim=dims, keepdim=True))
                scale = new.abs().amax().clamp_min(torch.finfo(new.dtype).tiny)
                change = float((new - lam).abs().amax() / scale)
                lam = new
                # Stop at the tolerance, or when round-off stops progress.
                stalled = 0 if change < 0.99 * best else stalled + 1
                best = min(best, change)
                if change <= target or stalled >= STALL_CHECKS * 5:
                    break
            else:
                warnings.warn(
                    f'implicit gradient: the adjoint fixed point did not reach '
                    f'{target:g} in {max_iter} iterations (last change {change:.2g}); '
                    'the gradient is approximate', RuntimeWarning, stacklevel=2)
        finally:
            solving[0] = False
        return lam

    g1.register_hook(solve_adjoint)
    return g1


def _check_options(eps, n_iter, tol, max_iter, boundary, method, unbalanced, gradient,
                   eps_scaling, check_every, mass_tolerance):
    """Validated numeric options of `sinkhorn` (in its argument order)."""
    eps = check_positive(eps, 'eps')
    check_choice(boundary, 'boundary', BOUNDARIES)
    check_choice(method, 'method', METHODS)
    check_choice(gradient, 'gradient', ('unrolled', 'implicit'))
    # rho = inf would give lambda = inf / inf = NaN; balanced is None.
    if unbalanced is not None:
        try:
            unbalanced = check_positive(unbalanced, 'unbalanced')
        except ValueError:
            raise ValueError(f'`unbalanced` must be a positive finite strength (None for '
                             f'balanced transport), got {unbalanced}') from None
    n_iter = check_int(n_iter, 'n_iter', minimum=1, allow_none=True)
    tol = check_positive(tol, 'tol')
    max_iter = check_int(max_iter, 'max_iter', minimum=1)
    check_every = check_int(check_every, 'check_every', minimum=1)
    if eps_scaling is not None and not (
            check_real(eps_scaling, 'eps_scaling') > 0 and eps_scaling < 1):
        raise ValueError(f'`eps_scaling` must be in (0, 1), got {eps_scaling}')
    mass_tolerance = check_real(mass_tolerance, 'mass_tolerance', minimum=0, allow_inf=True)
    return eps, n_iter, tol, max_iter, unbalanced, eps_scaling, check_every, mass_tolerance


def _initial_potential(init, b, unbatched):
    """A warm-start potential ``g`` of the shape of ``b`` (``(N, *shape)``)."""
    if not isinstance(init, torch.Tensor):
        raise TypeError(f"`init` must be a tensor or 'uniform', got {type(init).__name__}")
    if init.is_complex() or not init.is_floating_point():
        raise TypeError(f'`init` must be a real floating-point tensor, got {init.dtype}')
    expected = tuple(b.shape[1:]) if unbatched else tuple(b.shape)
    if tuple(init.shape) != expected:
        raise ValueError(f'`init` must have the shape of `mu1`, {expected}, got '
                         f'{tuple(init.shape)}')
    check_finite(init, 'init')
    return init.detach().to(dtype=b.dtype, device=b.device).reshape(b.shape)


def sinkhorn(mu0, mu1, cost, eps, *, n_iter=None, tol=1e-6, max_iter=2000,
             boundary='zero', method='auto', unbalanced=None, normalize=False,
             gradient='unrolled', eps_scaling=None, init=None, check_every=5,
             mass_tolerance=1e-4):
    """Entropic optimal transport between batches of images.

    Parameters
    ----------
    mu0, mu1 : torch.Tensor
        Non-negative measures of shape ``(N, *cost.shape)`` (or one
        measure of shape ``cost.shape``), float32 or float64, any device.
    cost : `odl_wasserstein.transport.costs.GridCost`
        Translation-invariant cost on the grid of the measures.
    eps : float
        Entropic regularisation ``> 0``, in the units of the cost.
    n_iter : int, optional
        Fixed number of iterations (10 reproduces the paper); default: run
        until the marginal error is below ``tol``.
    tol : float, optional
        Relative L1 marginal error (balanced) or largest potential change
        over eps (unbalanced) at which to stop.
    max_iter : int, optional
        Iteration limit without ``n_iter``; a warning is given if reached.
    boundary : {'zero', 'periodic'}, optional
        ``'zero'``: true distances on the grid (FFTs on a zero-padded grid).
        ``'periodic'``: distances on the torus (circular FFTs, as the
        authors' code).
    method : {'auto', 'fft', 'separable', 'dense'}, optional
        Engine; see the module documentation for what ``'auto'`` picks.
    unbalanced : float, optional
        Strength ``rho > 0`` of the KL marginal penalties; default balanced.
    normalize : bool, optional
        Divide each measure by its mass first (balanced problems between
        measures of different mass).
    gradient : {'unrolled', 'implicit'}, optional
        How gradients flow to ``mu0`` and ``mu1``.
    eps_scaling : float, optional
        Factor in ``(0, 1)`` of an annealing schedule from ``max C`` down to
        ``eps`` (warm start at each level). Default 0.5 when running to a
        tolerance at ``max C / eps > 10``, none with a fixed ``n_iter`` or
        a potential given as ``init``.
    init : torch.Tensor or 'uniform', optional
        Initial potential ``g`` (warm start, shape of ``mu1``), or
        ``'uniform'`` for the paper's ``v = 1 / n`` on the whole grid;
        default ``g = 0``.
    check_every : int, optional
        Iterations between convergence checks.
    mass_tolerance : float, optional
        Largest relative mass difference accepted by a balanced problem
        without ``normalize``. ``math.inf`` runs the iterations anyway, as the
        authors' code does (their value then depends on the last update).

    Returns
    -------
    SinkhornResult
        Scalars ``(N,)`` and potentials ``(N, *shape)``; without a batch
        axis in the input, the batch axis is removed.

    Raises
    ------
    ValueError
        Invalid measures (see `check_measures`), unequal masses in a
        balanced problem, ``eps <= 0``, or unknown options.

    Examples
    --------
    A unit mass moved by four pixels, squared Euclidean cost scaled to
    maximum 1 on the 16 x 16 grid (``max = 2 * 15**2``): the transport cost
    is ``16 / 450`` whatever eps, for point masses.

    >>> from odl_wasserstein.transport.costs import SquaredEuclideanCost
    >>> cost = SquaredEuclideanCost((16, 16))
    >>> cost = cost / cost.max_value()
    >>> a = torch.zeros(16, 16, dtype=torch.float64)
    >>> b = torch.zeros(16, 16, dtype=torch.float64)
    >>> a[8, 6], b[8, 10] = 1.0, 1.0
    >>> result = sinkhorn(a, b, cost, eps=0.1, tol=1e-9)
    >>> round(float(result.cost) * 450, 6), result.method, result.converged
    (16.0, 'fft', True)

    At eps = 0.001 the kernel is beyond FFT precision; the separable cost
    runs the exact log-domain engine:

    >>> result = sinkhorn(a, b, cost, eps=1e-3, tol=1e-9)
    >>> round(float(result.cost) * 450, 6), result.method
    (16.0, 'separable')

    Batches of images of equal mass, with potentials:

    >>> mu0 = torch.rand(4, 16, 16)
    >>> mu1 = torch.rand(4, 16, 16)
    >>> result = sinkhorn(mu0, mu1, cost, eps=0.05, normalize=True)
    >>> result.cost.shape, result.f.shape
    (torch.Size([4]), torch.Size([4, 16, 16]))
    """
    options = _check_options(eps, n_iter, tol, max_iter, boundary, method, unbalanced,
                             gradient, eps_scaling, check_every, mass_tolerance)
    eps, n_iter, tol, max_iter, unbalanced, eps_scaling, check_every, mass_tolerance = options
    if isinstance(init, str) and init != 'uniform':
        raise ValueError(f"`init` must be a tensor or 'uniform', got {init!r}")
    a, b, unbatched = check_measures(mu0, mu1, cost)
    a, b = _balanced(a, b, normalize, unbalanced, mass_tolerance)
    engine = choose_engine(cost, eps, boundary, method, a.dtype, a.device,
                           None if n_iter is not None else tol)
    problem = _Problem(a, b, engine, eps, unbalanced)
    c_max = cost.max_value(boundary)
    # A given potential is a warm start: annealing from max C would discard it.
    warm = init is not None and not isinstance(init, str)
    if eps_scaling is None and n_iter is None and not warm and c_max / eps > 10:
        eps_scaling = 0.5
    with torch.no_grad() if gradient == 'implicit' else torch.enable_grad():
        f, g, remaining = _start(problem, init, n_iter, unbatched)
        if eps_scaling is not None:
            for level in eps_schedule(c_max, eps, eps_scaling)[:-1]:
                coarse = _Problem(a, b, choose_engine(cost, level, boundary, method, a.dtype,
                                                      a.device), level, unbalanced)
                _, g, _, _ = _iterate(coarse, g, None, max(tol, 1e-2), 50, check_every)
        if remaining == 0:
            done, converged = 1, True
        else:
            f, g, done, converged = _iterate(problem, g, remaining, tol, max_iter,
                                             check_every)
            done += 0 if remaining == n_iter else 1
    if not converged:
        warnings.warn(f'Sinkhorn did not reach tol={tol} (stopped after {done} '
                      f'iterations, eps={eps}, method={engine.name!r}); the result '
                      'is approximate', RuntimeWarning, stacklevel=2)
    if gradient == 'implicit' and torch.is_grad_enabled() and (a.requires_grad
                                                               or b.requires_grad):
        g = _implicit_fixed_point(problem, g, tol, max_iter)
        f = problem.f_of_g(g)
        g = problem.g_of_f(f)
    return _result(problem, f, g, done, converged, unbatched)


def _balanced(a, b, normalize, unbalanced, mass_tolerance):
    """The measures normalised, or checked to have equal masses (balanced problems)."""
    if normalize:
        shape = (-1,) + (1,) * (a.ndim - 1)
        return a / _mass(a).reshape(shape), b / _mass(b).reshape(shape)
    if unbalanced is None:
        mass_a, mass_b = _mass(a).detach(), _mass(b).detach()
        mismatch = (mass_a - mass_b).abs() / torch.maximum(mass_a, mass_b)
        if bool((mismatch > mass_tolerance).any()):
            raise ValueError(
                f'balanced transport needs equal masses, got {mass_a.tolist()} '
                f'and {mass_b.tolist()}; pass normalize=True to compare '
                'normalised measures, or unbalanced=rho for KL-relaxed marginals')
    return a, b


def _start(problem, init, n_iter, unbatched):
    """Initial ``(f, g)`` and the iterations left: ``g = 0``, a given ``g``, or
    the paper's first step ``u = a / K(1 / n)`` on the whole grid."""
    b = problem.b
    if isinstance(init, str):
        uniform = torch.full_like(b, 1.0 / math.prod(b.shape[1:]))
        f = -problem.lam * problem.eps * log_apply(problem.engine, uniform,
                                                   torch.zeros_like(b))
        return f, problem.g_of_f(f), None if n_iter is None else n_iter - 1
    g = torch.zeros_like(b) if init is None else _initial_potential(init, b, unbatched)
    return None, g, n_iter


def _result(problem, f, g, done, converged, unbatched):
    """The `SinkhornResult` of the potentials, warning if the FFT could not resolve it."""
    transport, objective, error, unresolved = _readout(problem, f, g)
    if bool((unresolved > 1e-3).any()):
        warnings.warn(
            f'{100 * float(unresolved.max()) / 2:.2g} % of the mass sits where the '
            f'FFT kernel sums fell below round-off (eps={problem.eps} is small for the '
            'distances mass must travel): the transport cost is inaccurate. Use a '
            "larger eps, a separable cost (exact log-domain solver) or "
            "method='dense' (exact, O(n^2) memory)", RuntimeWarning, stacklevel=3)
    result = SinkhornResult(transport, objective, f, g, done, error, converged,
                            problem.engine.name)
    if unbatched:
        for name in ('cost', 'objective', 'f', 'g', 'marginal_error'):
            setattr(result, name, getattr(result, name)[0])
    return result
