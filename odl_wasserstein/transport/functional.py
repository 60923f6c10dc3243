r"""Entropic optimal transport to a fixed image as an ODL functional.

`WassersteinDistance` is the functional

.. math::
    F(x) = T_\varepsilon(w x, w t) = \min_{P \ge 0,\ P 1 = w x,\ P^T 1 = w t}
        \langle C, P \rangle + \varepsilon \sum_{ij} (P_{ij} \log P_{ij} - P_{ij}),

on a discretised space with cell volume ``w``: images are densities, their
measures have the masses ``w x``. The entropy is the one of the
Wasserstein-loss paper (eq. 6) and of Karlsson & Ringh, "Generalized
Sinkhorn iterations for regularizing inverse problems using optimal mass
transport" (SIAM J. Imaging Sci. 2017, reference [22] of the paper), which
makes ``F`` convex with a proximal operator computed by their generalised
Sinkhorn iterations. ``F`` is ``+inf`` for images that are negative or
have another mass than the target.

- value: from `odl_wasserstein.transport.sinkhorn`;
- gradient: the dual potential ``eps log u`` (``P = diag(u) K diag(v)``)
  in ODL's convention (``<grad F(x), h>_w = F'(x) h``), defined up to a
  constant (the mass constraint); ``-inf`` where ``x = 0`` (the entropy's
  barrier), so gradient methods need positive iterates;
- proximal: Karlsson & Ringh's iterations, alternating ``v = t / K^T u``
  with the closed-form update ``mu = sigma' eps W(K v exp(x / (sigma' eps))
  / (sigma' eps))``, ``u = mu / K v`` (``W`` the Lambert W function), all
  in the log domain, so it drops into `odl.solvers.pdhg` and
  `odl.solvers.douglas_rachford_pd`.

Both faces share the kernel engines of `odl_wasserstein.transport.engines`.
"""

import math

import odl
import torch

from odl_wasserstein.transport.costs import BOUNDARIES, SquaredEuclideanCost
from odl_wasserstein.transport.engines import ENGINES, choose_engine, log_apply
from odl_wasserstein.transport.solver import (
    NotAMeasureError, eps_schedule, nonnegative_part, sinkhorn)
from odl_wasserstein.util import (
    check_choice, check_int, check_positive, check_real, space_weighting, to_element, to_tensor,
    torch_dtype)

__all__ = ('WassersteinDistance', 'lambertw_exp')


def lambertw_exp(z, initial=None, iterations=None):
    """``W(exp(z))`` for real tensors ``z``, without forming ``exp(z)``.

    The principal branch of the Lambert W function solves
    ``w + log w = z``. Newton's method from ``exp(z)`` (small ``z``) or
    ``z - log z`` (large ``z``) converges to machine precision in a few
    steps for every real ``z``; from a close ``initial`` guess, one or two
    steps suffice.

    Examples
    --------
    >>> z = torch.tensor([-30.0, 0.0, 1.0, 700.0, 1e6], dtype=torch.float64)
    >>> w = lambertw_exp(z)
    >>> torch.allclose(w + torch.log(w), z, rtol=1e-14, atol=1e-14)
    True
    >>> round(float(w[1]), 10)  # the omega constant W(1)
    0.5671432904
    """
    if initial is None:
        w = torch.where(z > 1, z - torch.log(z.clamp_min(1.0)),
                        torch.exp(z.clamp_max(1.0)))
        steps = iterations or (8 if z.dtype == torch.float64 else 6)
    else:
        w = initial.clamp_min(torch.finfo(z.dtype).tiny)
        steps = iterations or 2
    for _ in range(steps):
        # Newton on h(w) = w + log w - z, h' = 1 + 1 / w.
        w = w - (w + torch.log(w) - z) * w / (w + 1)
    return w


def _balance_mass(z, total, tol=1e-12, max_iter=50):
    """Shift ``z`` so that ``sum W(exp(z))`` equals ``total``.

    Returns the shifted ``z`` and ``W(exp(z))``. Newton's method on the
    scalar shift ``l``: ``d/dl W(exp(z + l)) = W / (1 + W) > 0`` and the sum
    is convex in ``l``, so the iteration converges. After small shifts ``W``
    follows by the first-order update ``d log W / dl = 1 / (1 + W)``
    refined by Newton steps; after large ones it is recomputed.
    """
    w = lambertw_exp(z)
    shift = 0.0
    for _ in range(max_iter):
        residual = float(w.sum()) - total
        if abs(residual) <= tol * total:
            break
        slope = w / (1 + w)
        step = -residual / float(slope.sum())
        shift += step
        if abs(step) <= 1:
            w = lambertw_exp(z + shift, initial=w * torch.exp(step / (1 + w)),
                             iterations=3)
        else:  # far from the solution the first-order guess can overflow
            w = lambertw_exp(z + shift)
    return z + shift, w


class WassersteinDistance(odl.functionals.Functional):
    r"""Entropic optimal transport to a target image, as an ODL functional.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        Real image space (NumPy or PyTorch backend, float32 or float64).
    target : ``space`` element or array-like
        Non-negative target density ``t`` with positive mass.
    cost : `odl_wasserstein.transport.costs.GridCost`, optional
        Cost on the grid of ``space``; default `SquaredEuclideanCost` in
        the physical units of ``space``.
    eps : float, optional
        Entropic regularisation in the units of the cost; default
        ``1e-2`` times the largest cost on the grid.
    boundary : {'zero', 'periodic'}, optional
    method : {'auto', 'fft', 'separable', 'dense'}, optional
        Kernel engine (see `odl_wasserstein.transport.sinkhorn`).
    tol : float, optional
        Tolerance of the Sinkhorn and proximal iterations.
    max_iter : int, optional
        Iteration limit of both.
    mass_tolerance : float, optional
        Relative mass difference to the target accepted as equal mass.

    Notes
    -----
    The value includes the entropic term with the entropy of the paper,
    ``sum P log P - P`` (no constant), unlike `sinkhorn`'s ``objective``
    (``KL(P | a x b)``); the two differ by ``eps (<a, log a> + <b, log b>
    - |a| |b|)``.

    Examples
    --------
    >>> space = odl.uniform_discr([0, 0], [1, 1], (16, 16), dtype='float64')
    >>> target = odl.core.phantom.cuboid(space, [0.2, 0.2], [0.5, 0.5])
    >>> dist = WassersteinDistance(space, target, eps=1e-3)
    >>> shifted = odl.core.phantom.cuboid(space, [0.4, 0.2], [0.7, 0.5])
    >>> bool(dist(shifted) > dist(target))
    True
    >>> dist(-shifted)  # not a measure
    inf
    >>> prox = dist.proximal(0.1)(shifted)  # moves mass towards the target
    >>> bool(dist(prox) < dist(shifted))
    True
    """

    def __init__(self, space, target, cost=None, eps=None, boundary='zero',
                 method='auto', tol=1e-6, max_iter=2000, mass_tolerance=1e-4):
        if not isinstance(space, odl.DiscretizedSpace):
            raise TypeError(f'`space` must be an `odl.DiscretizedSpace`, got {space!r}')
        if torch_dtype(space).is_complex:
            raise ValueError('`space` must be real: measures are real densities')
        super().__init__(space, linear=False)
        self.cost = SquaredEuclideanCost(space) if cost is None else cost
        self.cost.check_shape(space.shape)
        check_choice(boundary, 'boundary', BOUNDARIES)
        check_choice(method, 'method', ENGINES)
        self.eps = (1e-2 * self.cost.max_value(boundary) if eps is None
                    else check_positive(eps, 'eps'))
        self.boundary, self.method = boundary, method
        self.tol = check_positive(tol, 'tol')
        self.max_iter = check_int(max_iter, 'max_iter', minimum=1)
        self.mass_tolerance = check_real(mass_tolerance, 'mass_tolerance', minimum=0,
                                         allow_inf=True)
        self.weight = space_weighting(space)
        self.target = space.element(target)
        mass = self._masses(self.target)
        if mass is None:
            raise ValueError('`target` must be non-negative and finite with positive mass')
        self._target_mass = mass
        self._engines = {}
        self._warm_start = None

    # -- helpers -----------------------------------------------------------

    def _masses(self, x):
        """Masses ``w x`` as a ``(1, *shape)`` tensor, or None if not a measure."""
        try:
            measure = nonnegative_part(to_tensor(x, dtype=torch.float64)[None], 'the image')
        except NotAMeasureError:
            return None
        return measure * self.weight

    def _feasible(self, masses):
        if masses is None:
            return False
        total, target = float(masses.sum()), float(self._target_mass.sum())
        return abs(total - target) <= self.mass_tolerance * max(total, target)

    def _solve(self, x):
        masses = self._masses(x)
        if not self._feasible(masses):
            return None
        result = sinkhorn(masses, self._target_mass, self.cost, self.eps,
                          boundary=self.boundary, method=self.method, tol=self.tol,
                          max_iter=self.max_iter, mass_tolerance=math.inf)
        return masses, result

    def _value(self, masses, result):
        a, b, eps = masses, self._target_mass, self.eps
        entropy = torch.xlogy(a, a).sum() + torch.xlogy(b, b).sum()
        return float(result.objective[0] + eps * (entropy - a.sum() * b.sum()))

    # -- ODL interface -----------------------------------------------------

    def _call(self, x):
        solved = self._solve(x)
        if solved is None:
            return math.inf
        return self._value(*solved)

    @property
    def gradient(self):
        """Gradient operator ``x -> eps log u(x)`` (``-inf`` where ``x = 0``)."""
        functional = self

        class WassersteinGradient(odl.Operator):
            def __init__(self):
                super().__init__(functional.domain, functional.domain, linear=False)

            def _call(self, x):
                solved = functional._solve(x)
                if solved is None:
                    raise ValueError(
                        'the gradient of WassersteinDistance exists only for '
                        'non-negative images with the mass of the target')
                masses, result = solved
                log_a = torch.where(masses > 0, torch.log(masses), -math.inf)
                potential = result.f[0] + functional.eps * log_a[0]
                return to_element(potential, self.range)

        return WassersteinGradient()

    def _engine_for(self, eps):
        engine = self._engines.get(eps)
        if engine is None:
            engine = choose_engine(self.cost, eps, self.boundary, self.method,
                                   torch.float64, self._target_mass.device)
            self._engines[eps] = engine
        return engine

    def _prox(self, x, sigma):
        """Karlsson-Ringh generalised Sinkhorn iterations in the log domain."""
        masses = to_tensor(x, dtype=torch.float64)[None] * self.weight
        if not bool(torch.isfinite(masses).all()):
            raise ValueError('the image contains NaN or infinite values')
        b = self._target_mass
        target_mass = float(b.sum())
        # Potential of v = b exp(g / eps), carried across eps levels and, as
        # a warm start, across calls (solvers call the proximal repeatedly
        # with slowly changing arguments).
        if self._warm_start is None:
            g, levels = torch.zeros_like(b), eps_schedule(self.cost.max_value(self.boundary),
                                                          self.eps)
        else:
            g, levels = self._warm_start, [self.eps]
        for level in levels:
            final = level == self.eps
            engine = self._engine_for(level)
            # Mass units: the weighted norm turns sigma into sigma * w.
            step = sigma * self.weight * level
            log_kv = log_apply(engine, b, g / level)
            log_ktu = None
            for _ in range(self.max_iter if final else 50):
                z = log_kv + masses / step - math.log(step)
                # The mass of mu is a monotone function of a constant shift
                # of the dual variable: fixing it exactly (a coordinate step
                # of the dual ascent) removes the slow mode of the iteration.
                z, w = _balance_mass(z, target_mass / step)
                mu = step * w
                previous = log_ktu
                log_ktu = log_apply(engine, mu, -log_kv, transpose=True)
                log_kv = log_apply(engine, b, -log_ktu)
                # Stop on the change of the dual potential (relative to eps),
                # which bounds the error of (x - prox) / sigma.
                if previous is not None and float(
                        (log_ktu - previous)[b > 0].abs().max()) <= (
                        self.tol if final else 1e-3):
                    break
            g = -level * log_ktu
        self._warm_start = g
        return mu[0] / self.weight

    @property
    def proximal(self):
        """Proximal factory ``sigma -> prox_{sigma F}`` (Karlsson & Ringh)."""
        functional = self

        def factory(sigma):
            sigma = check_positive(sigma, 'sigma')

            class WassersteinProximal(odl.Operator):
                def __init__(self):
                    super().__init__(functional.domain, functional.domain, linear=False)

                def _call(self, x):
                    return to_element(functional._prox(x, sigma), self.range)

            return WassersteinProximal()

        return factory

    def __repr__(self):
        return (f'{type(self).__name__}({self.domain!r}, cost={self.cost!r}, '
                f'eps={self.eps:g})')
