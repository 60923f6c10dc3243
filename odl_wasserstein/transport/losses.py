r"""Optimal-transport losses for training networks with PyTorch.

- `sinkhorn_divergence` / `SinkhornDivergence`: the debiased divergence
  ``S(a, b) = OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2`` (Feydy et al. 2019;
  Séjourné et al. 2019 for the unbalanced version, with the mass term
  ``eps (|a| - |b|)^2 / 2``), where ``OT`` is the entropic objective of
  `odl_wasserstein.transport.sinkhorn`. It is non-negative, zero only for
  equal measures, and removes the entropic bias that shrinks the minimiser
  of ``OT(., b)``.
- `WassersteinLoss`: a loss between network outputs and targets with
  three choices of value: the divergence (default), the entropic objective,
  or the transport cost ``<C, P>``; balanced with normalised masses (plus an
  optional mass penalty) or unbalanced. ``WassersteinLoss.adler2017(shape)``
  reproduces the training loss of Adler et al., "Learning to solve inverse
  problems using Wasserstein loss" (2017), as their code computes it.

Inputs are ``(N, C, *shape)`` (or ``(N, *shape)``) tensors; every channel
of every sample is one measure.
"""

import math
import numbers

import torch

from odl_wasserstein.transport.costs import Adler2017Cost, GridCost
from odl_wasserstein.transport.solver import check_measures, sinkhorn
from odl_wasserstein.util import check_choice, check_positive, check_real

__all__ = ('sinkhorn_divergence', 'SinkhornDivergence', 'WassersteinLoss')

_REDUCTIONS = ('mean', 'sum', 'none')


def sinkhorn_divergence(mu0, mu1, cost, eps, **kwargs):
    """Debiased Sinkhorn divergence ``OT(a, b) - OT(a, a)/2 - OT(b, b)/2``.

    Parameters
    ----------
    mu0, mu1 : torch.Tensor
        Measures ``(N, *cost.shape)`` or ``cost.shape``.
    cost : `odl_wasserstein.transport.costs.GridCost`
    eps : float
    **kwargs
        Passed to `sinkhorn` (``unbalanced``, ``normalize``, ``tol``,
        ``gradient``, ``method``, ``boundary``, ...). ``n_iter`` and ``init``
        are not allowed: the divergence needs converged potentials.

    Returns
    -------
    torch.Tensor
        ``(N,)`` (or a scalar), ``>= 0``: values the solver's error would
        make negative are clamped to 0.

    Examples
    --------
    >>> from odl_wasserstein.transport.costs import SquaredEuclideanCost
    >>> cost = SquaredEuclideanCost((12, 12))
    >>> cost = cost / cost.max_value()
    >>> a = torch.rand(12, 12, dtype=torch.float64)
    >>> float(sinkhorn_divergence(a, a, cost, eps=0.1)) == 0
    True
    >>> b = torch.roll(a, 3, dims=1)
    >>> bool(sinkhorn_divergence(a, b, cost, eps=0.1) > 0)
    True
    """
    for name in ('n_iter', 'init'):
        if kwargs.get(name) is not None:
            raise ValueError(f'`{name}` is not supported by the divergence, which '
                             'needs converged potentials; use `tol`')
    a, b, unbatched = check_measures(mu0, mu1, cost)
    n = a.shape[0]
    # One batched solve for OT(a, b), OT(a, a) and OT(b, b).
    first = torch.cat([a, a, b])
    second = torch.cat([b, a, b])
    objective = sinkhorn(first, second, cost, eps, **kwargs).objective
    value = objective[:n] - 0.5 * (objective[n:2 * n] + objective[2 * n:])
    if kwargs.get('unbalanced') is not None and not kwargs.get('normalize'):
        value = value + 0.5 * eps * (a.flatten(1).sum(1) - b.flatten(1).sum(1)) ** 2
    # The divergence is non-negative; a negative value is solver error
    # (unconverged, or kernel sums below round-off, which `sinkhorn` warns of).
    value = value.clamp_min(0)
    return value[0] if unbatched else value


def _check_reduction(reduction):
    check_choice(reduction, 'reduction', _REDUCTIONS)


def _reduce(values, reduction):
    if reduction == 'mean':
        return values.mean()
    if reduction == 'sum':
        return values.sum()
    return values


def _as_measures(x, cost, name):
    """``(N, C, *shape)`` or ``(N, *shape)`` -> ``(N * C, *shape)``, batch shape."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'`{name}` must be a torch.Tensor, got {type(x).__name__}')
    if not x.is_floating_point():
        raise TypeError(f'`{name}` must be a real floating-point tensor (float32 or '
                        f'float64), got {x.dtype}; convert it with `.float()`')
    ndim = cost.ndim
    if x.ndim not in (ndim + 1, ndim + 2) or tuple(x.shape[-ndim:]) != cost.shape:
        raise ValueError(
            f'`{name}` must have shape (N, C, {", ".join(map(str, cost.shape))}) or '
            f'(N, {", ".join(map(str, cost.shape))}) for the cost grid, got {tuple(x.shape)}')
    batch = tuple(x.shape[:-ndim])
    return x.reshape((-1,) + cost.shape), batch


class SinkhornDivergence(torch.nn.Module):
    """The debiased Sinkhorn divergence as a loss module.

    Parameters
    ----------
    cost : `odl_wasserstein.transport.costs.GridCost`
    eps : float
    reduction : {'mean', 'sum', 'none'}, optional
    **kwargs
        Options of `sinkhorn_divergence`; defaults ``gradient='implicit'``
        and ``tol=1e-4``.

    Examples
    --------
    >>> from odl_wasserstein.transport.costs import SquaredEuclideanCost
    >>> cost = SquaredEuclideanCost((16, 16))
    >>> loss = SinkhornDivergence(cost / cost.max_value(), eps=0.1, normalize=True)
    >>> a = torch.rand(2, 1, 16, 16)
    >>> loss(a, a.flip(-1)).shape
    torch.Size([])
    """

    def __init__(self, cost, eps, reduction='mean', **kwargs):
        super().__init__()
        if not isinstance(cost, GridCost):
            raise TypeError(f'`cost` must be a GridCost, got {cost!r}')
        eps = check_positive(eps, 'eps')
        _check_reduction(reduction)
        kwargs.setdefault('gradient', 'implicit')
        kwargs.setdefault('tol', 1e-4)
        self.cost, self.eps, self.reduction, self.options = cost, eps, reduction, kwargs

    def forward(self, input, target):
        """Divergence between ``input`` and ``target`` per measure, reduced."""
        a, batch = _as_measures(input, self.cost, 'input')
        b, _ = _as_measures(target, self.cost, 'target')
        values = sinkhorn_divergence(a, b, self.cost, self.eps, **self.options)
        return _reduce(values.reshape(batch), self.reduction)

    def extra_repr(self):
        return f'cost={self.cost!r}, eps={self.eps}, reduction={self.reduction!r}'


class WassersteinLoss(torch.nn.Module):
    r"""Optimal-transport loss between network outputs and targets.

    Parameters
    ----------
    cost : `odl_wasserstein.transport.costs.GridCost`
        Cost on the grid of the images.
    eps : float
        Entropic regularisation in the units of the cost.
    value : {'divergence', 'objective', 'cost'}, optional
        ``'divergence'`` (default): debiased Sinkhorn divergence, zero at
        ``input == target``. ``'objective'``: entropic objective.
        ``'cost'``: transport cost ``<C, P>`` of the entropic plan (the
        paper's value).
    unbalanced : float, optional
        KL strength ``rho`` of unbalanced transport: mass differences are
        penalised by the transport problem itself (the measures are taken
        as they are). Default: balanced transport.
    mass_penalty : float, optional
        Weight of ``(mean(input) - mean(target))^2`` per measure, which
        balanced (normalised) transport cannot see.
    positivity : {'relu', 'softplus', None}, optional
        Map applied to ``input`` to make it a measure; None requires
        non-negative input (a `ValueError` otherwise).
    offset : float, optional
        Added to both measures (the paper adds ``1e-3``).
    reduction : {'mean', 'sum', 'none'}, optional
    normalize : bool, optional
        Balanced transport between the measures divided by their masses
        (default); False transports them as they are, which needs equal
        masses up to ``mass_tolerance``.
    match_mass : bool, optional
        Rescale the (positive) input to the target's mean before the
        transport, ``x mean(t) / (mean(x) + 1e-5)`` (the authors' code).
    per_pixel : bool, optional
        Divide the transport value by the number of pixels and by the
        cost's ``unit_scale`` if it has one (``cutoff**p`` of
        `Adler2017Cost`), as the authors' code does.
    target_first : bool, optional
        Solve ``OT(target, input)`` instead of ``OT(input, target)`` (the
        authors' code); it matters for asymmetric costs and for which
        measure ``init`` belongs to.
    **options
        Passed to `sinkhorn` (``tol``, ``n_iter``, ``gradient``, ``method``,
        ``boundary``, ``init``, ``mass_tolerance``, ...). Defaults for
        training: ``gradient='implicit'`` (memory independent of the
        iterations) and ``tol=1e-4`` (relative marginal error).

    Notes
    -----
    ``WassersteinLoss.adler2017(shape)`` is the training loss of Adler et
    al.'s code (REFERENCE_SETTINGS section 1): ``x = relu(input)`` rescaled
    to the mean of the target (``match_mass``), both offset by ``1e-3``,
    10 unrolled iterations of Algorithm 1 on the circular FFT grid with
    `Adler2017Cost` and eps = 1e-3 from the target to ``x``
    (``target_first``), value ``<C, P>`` divided by the number of pixels
    and ``cutoff**4`` (``per_pixel``), plus ``100 (mean(t) - mean(input))^2``.

    Examples
    --------
    >>> from odl_wasserstein.transport.costs import SquaredEuclideanCost
    >>> cost = SquaredEuclideanCost((16, 16))
    >>> loss = WassersteinLoss(cost / cost.max_value(), eps=0.05)
    >>> target = torch.rand(4, 1, 16, 16)
    >>> output = torch.randn(4, 1, 16, 16, requires_grad=True)
    >>> value = loss(output, target)
    >>> value.backward()
    >>> output.grad.shape
    torch.Size([4, 1, 16, 16])

    The loss of Adler et al.'s code at 64 x 64:

    >>> paper = WassersteinLoss.adler2017(64)
    >>> float(paper(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))) > 0
    True
    """

    _VALUES = ('divergence', 'objective', 'cost')

    def __init__(self, cost, eps, value='divergence', unbalanced=None,
                 mass_penalty=0.0, positivity='relu', offset=0.0,
                 reduction='mean', normalize=True, match_mass=False, per_pixel=False,
                 target_first=False, **options):
        super().__init__()
        if not isinstance(cost, GridCost):
            raise TypeError(f'`cost` must be a GridCost, got {cost!r}')
        check_choice(value, 'value', self._VALUES)
        check_choice(positivity, 'positivity', ('relu', 'softplus', None))
        self.cost, self.eps, self.value = cost, check_positive(eps, 'eps'), value
        self.unbalanced = check_positive(unbalanced, 'unbalanced', allow_none=True)
        self.mass_penalty = check_real(mass_penalty, 'mass_penalty', minimum=0)
        self.offset = check_real(offset, 'offset', minimum=0)
        _check_reduction(reduction)
        self.positivity, self.reduction = positivity, reduction
        self.normalize, self.match_mass = bool(normalize), bool(match_mass)
        self.per_pixel = bool(per_pixel)
        self.target_first = bool(target_first)
        options.setdefault('gradient', 'implicit')
        options.setdefault('tol', 1e-4)
        self.options = options

    @classmethod
    def adler2017(cls, shape, reduction='mean'):
        """The training loss of the code of Adler et al. (2017), exactly.

        Parameters
        ----------
        shape : int or sequence of int
            Image shape (the cost uses normalised coordinates); an int ``n``
            is the ``n x n`` image of ``reconstruction_space(n)``.
        reduction : {'mean', 'sum', 'none'}, optional
        """
        if isinstance(shape, numbers.Integral):
            shape = (int(shape), int(shape))
        cost = Adler2017Cost(shape)
        return cls(cost, eps=1e-3, value='cost', mass_penalty=100.0, offset=1e-3,
                   reduction=reduction, normalize=False, match_mass=True, per_pixel=True,
                   target_first=True,
                   n_iter=10, init='uniform', boundary='periodic', gradient='unrolled',
                   method='fft', mass_tolerance=math.inf)

    def _positive(self, x):
        if self.positivity == 'relu':
            return torch.relu(x)
        if self.positivity == 'softplus':
            return torch.nn.functional.softplus(x)
        return x

    def _transport_options(self):
        options = dict(self.options)
        if self.unbalanced is None:
            options['normalize'] = self.normalize
        else:
            options['unbalanced'] = self.unbalanced
        return options

    def forward(self, input, target):
        """Loss between ``input`` (network output) and ``target``, reduced."""
        x, batch = _as_measures(input, self.cost, 'input')
        t, _ = _as_measures(target, self.cost, 'target')
        dims = tuple(range(1, x.ndim))
        mean_x, mean_t = x.mean(dim=dims), t.mean(dim=dims)
        x = self._positive(x)
        if self.match_mass:
            shape = (-1,) + (1,) * self.cost.ndim
            x = x * (mean_t / (x.mean(dim=dims) + 1e-5)).reshape(shape)
        t, x = t + self.offset, x + self.offset
        pair = (t, x) if self.target_first else (x, t)
        options = self._transport_options()
        if self.value == 'divergence':
            values = sinkhorn_divergence(*pair, self.cost, self.eps, **options)
        else:
            values = getattr(sinkhorn(*pair, self.cost, self.eps, **options), self.value)
        if self.per_pixel:
            values = values / math.prod(self.cost.shape) / getattr(self.cost, 'unit_scale', 1.0)
        if self.mass_penalty:
            values = values + self.mass_penalty * (mean_t - mean_x) ** 2
        return _reduce(values.reshape(batch), self.reduction)

    def extra_repr(self):
        return (f'cost={self.cost!r}, eps={self.eps}, value={self.value!r}, '
                f'normalize={self.normalize}, match_mass={self.match_mass}, '
                f'reduction={self.reduction!r}')
