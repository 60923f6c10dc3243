r"""Translation-invariant transport costs on the grid of an image space.

A cost ``c(x, y) = h(y - x)`` depends only on the displacement ``y - x``
between the pixel a unit of mass leaves (``x``, in the first measure) and
the one it reaches (``y``, in the second). Costs are bound to a grid: an
ODL `odl.DiscretizedSpace` (displacements in its physical units) or a
shape (unit pixels). 2D and 3D grids are supported (any number of axes).

Costs provided:

- `SquaredEuclideanCost`: ``|d|^2``; separable.
- `PowerCost`: ``|d|_q^p`` (Euclidean norm by default); separable when
  ``q == p`` (e.g. ``x**4 + y**4``).
- `SaturatingCost`: ``1 - exp(-(|d| / s)^p)``, the cost of Adler et al.,
  "Learning to solve inverse problems using Wasserstein loss" (2017),
  section 4, with ``p = 4`` and ``s = 80`` pixels; ``c^{1/4}`` is a metric.
- `Adler2017Cost`: what the authors' code computes: normalised ``[-1, 1]``
  coordinates, ``x**4 + y**4``, cut-off 0.3, pre-scaled by ``cutoff**4``.
- `CallableCost`: any function of the displacement components.
- `SeparableCost`: ``sum_i h(d_i)`` for any 1-D function ``h``.

Separable costs get the exact log-domain solver (one log-sum-exp per axis)
of `odl_wasserstein.transport.sinkhorn`; all costs get the FFT solver.
Costs can be scaled by numbers (``cost / cost.max_value()`` has maximum 1).
"""

import numbers

from odl_wasserstein.util import check_choice, check_positive, check_real

import numpy as np
import odl
import torch

__all__ = (
    'GridCost',
    'SquaredEuclideanCost',
    'PowerCost',
    'SaturatingCost',
    'Adler2017Cost',
    'CallableCost',
    'SeparableCost',
    'BOUNDARIES',
)

BOUNDARIES = ('zero', 'periodic')


def _grid(space):
    """(shape, cell sides) of an ODL space or a shape with unit cells."""
    if isinstance(space, odl.DiscretizedSpace):
        return tuple(space.shape), tuple(float(s) for s in space.cell_sides)
    if isinstance(space, numbers.Integral):
        space = (space,)
    try:
        shape = tuple(int(n) for n in space)
    except TypeError:
        raise TypeError(
            f'`space` must be an `odl.DiscretizedSpace` or a shape, got {space!r}'
        ) from None
    if not shape or min(shape) < 1:
        raise ValueError(f'grid shape must be positive sizes, got {shape}')
    return shape, (1.0,) * len(shape)


def _check_boundary(boundary):
    check_choice(boundary, 'boundary', BOUNDARIES)


class GridCost:
    """Base class: a translation-invariant cost bound to a grid.

    Subclasses implement ``_cost(*d)``, the cost of the displacement with
    components ``d`` (broadcastable tensors, in the grid's units), and set
    ``separable`` with ``_axis_cost(d)`` when ``h(d) = sum_i _axis_cost(d_i)``.

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or sequence of int
        Grid of the measures; for a shape, pixels have unit size.
    """

    #: Whether ``h(d) = sum_i axis_cost(d_i)`` (enables the log-domain solver).
    separable = False

    def __init__(self, space):
        self.shape, self.cell_sides = _grid(space)
        self._cache = {}

    @property
    def ndim(self):
        """Number of grid axes."""
        return len(self.shape)

    def _cost(self, *d):
        raise NotImplementedError

    def _axis_cost(self, d):
        raise NotImplementedError(f'{type(self).__name__} is not separable')

    def __call__(self, *d):
        """Cost ``h(d)`` of displacement components ``d`` (tensors)."""
        if len(d) != self.ndim:
            raise ValueError(f'expected {self.ndim} displacement components, '
                             f'got {len(d)}')
        return self._cost(*[torch.as_tensor(di) for di in d])

    def axis_cost(self, d):
        """Per-axis cost of a separable cost: ``h(d) = sum_i axis_cost(d_i)``."""
        return self._axis_cost(torch.as_tensor(d))

    # -- displacement grids -------------------------------------------------

    def axis_displacements(self, axis, boundary):
        """Displacements ``y - x`` along ``axis`` in the FFT-kernel layout.

        Entry ``p`` belongs to the kernel position ``p`` of
        `odl_wasserstein.fft.FFTConvolution`, whose centre ``c = k // 2`` is
        displacement 0: ``(c - p) * cell_side`` with ``k = 2 n - 1`` for
        ``'zero'`` (all displacements of the grid) and ``k = n`` for
        ``'periodic'`` (wrapped displacements).

        Returns
        -------
        numpy.ndarray
            Float64 array of length ``k``.
        """
        _check_boundary(boundary)
        n, step = self.shape[axis], self.cell_sides[axis]
        size = 2 * n - 1 if boundary == 'zero' else n
        return (size // 2 - np.arange(size)) * step

    def kernel_cost(self, boundary, dtype=torch.float64, device='cpu'):
        """Cost on the displacement grid in the FFT-kernel layout (cached).

        Returns
        -------
        torch.Tensor
            Shape ``(2 n_1 - 1, ...)`` for ``'zero'``, ``self.shape`` for
            ``'periodic'``.
        """
        key = ('kernel', boundary, dtype, torch.device(device))
        if key not in self._cache:
            axes = [torch.as_tensor(self.axis_displacements(a, boundary),
                                    dtype=torch.float64) for a in range(self.ndim)]
            grids = torch.meshgrid(*axes, indexing='ij')
            values = self._cost(*grids)
            self._check_values(values)
            self._cache[key] = values.to(device=device, dtype=dtype)
        return self._cache[key]

    def axis_kernel_cost(self, axis, boundary, dtype=torch.float64, device='cpu'):
        """Per-axis cost in the kernel layout (separable costs only)."""
        key = ('axis', axis, boundary, dtype, torch.device(device))
        if key not in self._cache:
            d = torch.as_tensor(self.axis_displacements(axis, boundary),
                                dtype=torch.float64)
            values = self._axis_cost(d)
            self._check_values(values)
            self._cache[key] = values.to(device=device, dtype=dtype)
        return self._cache[key]

    def _check_values(self, values):
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f'{self!r} gives non-finite costs on its grid')
        if float(values.min()) < 0:
            raise ValueError(f'{self!r} gives negative costs on its grid; '
                             'transport costs must be non-negative')

    def max_value(self, boundary='zero'):
        """Largest cost between two points of the grid.

        Examples
        --------
        >>> SquaredEuclideanCost((4, 4)).max_value()
        18.0
        """
        return float(self.kernel_cost(boundary).max())

    def matrix(self, boundary='zero', dtype=torch.float64, device='cpu'):
        """Dense cost matrix ``C[i, j] = c(x_i, x_j)`` over flattened pixels.

        ``O(n^2)`` memory: for small grids (tests, `method='dense'`).

        Examples
        --------
        >>> SquaredEuclideanCost((3,)).matrix()
        tensor([[0., 1., 4.],
                [1., 0., 1.],
                [4., 1., 0.]], dtype=torch.float64)
        """
        kernel = self.kernel_cost(boundary, dtype, device)
        index = []
        for axis, n in enumerate(self.shape):
            i = torch.arange(n, device=device)
            m = i[:, None] - i[None, :]  # kernel position c + m holds -m
            if boundary == 'periodic':
                m = (m + n // 2) % n - n // 2
            index.append(kernel.shape[axis] // 2 + m)
        # Outer product of the per-axis (i_a, j_a) index tables.
        grids = []
        for axis, idx in enumerate(index):
            shape = [1] * (2 * self.ndim)
            shape[axis], shape[self.ndim + axis] = idx.shape
            grids.append(idx.reshape(shape))
        full = kernel[tuple(grids)]
        n = int(np.prod(self.shape))
        return full.reshape(n, n)

    def check_shape(self, shape):
        """Raise `ValueError` unless measures of ``shape`` live on this cost's grid."""
        if tuple(shape) != self.shape:
            raise ValueError(
                f'the cost is defined on a grid of shape {self.shape} but the '
                f'measures have shape {tuple(shape)}; build the cost on the '
                'space of the measures'
            )

    # -- scaling ------------------------------------------------------------

    def __mul__(self, factor):
        return _ScaledCost(self, factor)

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        return _ScaledCost(self, 1.0 / float(divisor))

    def _grid_repr(self):
        if all(s == 1.0 for s in self.cell_sides):
            return f'{self.shape}'
        return f'{self.shape}, cell_sides={self.cell_sides}'

    def __repr__(self):
        return f'{type(self).__name__}({self._grid_repr()})'


class _ScaledCost(GridCost):
    """``factor * cost``."""

    def __init__(self, cost, factor):
        if not isinstance(cost, GridCost):
            raise TypeError(f'can only scale a GridCost, got {cost!r}')
        factor = float(factor)
        if not factor > 0 or not np.isfinite(factor):
            raise ValueError(f'cost scale factor must be positive and finite, '
                             f'got {factor}')
        self.base, self.factor = cost, factor
        self.separable = cost.separable
        self.shape, self.cell_sides, self._cache = cost.shape, cost.cell_sides, {}

    def axis_displacements(self, axis, boundary):
        return self.base.axis_displacements(axis, boundary)

    def _cost(self, *d):
        return self.factor * self.base._cost(*d)

    def _axis_cost(self, d):
        return self.factor * self.base._axis_cost(d)

    def __repr__(self):
        return f'{self.factor!r} * {self.base!r}'


class SquaredEuclideanCost(GridCost):
    """Squared Euclidean distance ``c(x, y) = |y - x|^2``; separable.

    Examples
    --------
    >>> space = odl.uniform_discr([0, 0], [2, 2], (4, 4))  # cells of 0.5
    >>> cost = SquaredEuclideanCost(space)
    >>> float(cost(torch.tensor(0.5), torch.tensor(1.0)))
    1.25
    >>> cost.separable
    True
    """

    separable = True

    def _cost(self, *d):
        return sum(di ** 2 for di in d)

    def _axis_cost(self, d):
        return d ** 2


class PowerCost(GridCost):
    """Power of a norm, ``c(x, y) = |y - x|_q^p``.

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or shape
    p : float
        Exponent, ``p > 0``.
    norm : float, optional
        Order ``q >= 1`` of the norm; default 2 (Euclidean). With
        ``norm == p`` the cost is ``sum_i |d_i|^p`` and separable.

    Examples
    --------
    >>> PowerCost((8, 8), p=1).max_value()  # Euclidean length of (7, 7)
    9.899494936611665
    >>> PowerCost((8, 8), p=4, norm=4).separable
    True
    """

    def __init__(self, space, p, norm=2):
        super().__init__(space)
        check_positive(p, 'p')
        if not check_real(norm, 'norm', allow_inf=True) >= 1:
            raise ValueError(f'`norm` must be >= 1, got {norm}')
        self.p, self.norm = float(p), float(norm)
        self.separable = self.p == self.norm

    def _cost(self, *d):
        q = self.norm
        total = sum(di.abs() ** q for di in d)
        return total ** (self.p / q)

    def _axis_cost(self, d):
        # With norm != p the per-axis terms |d_i|^p do not sum to the cost.
        if not self.separable:
            return super()._axis_cost(d)
        return d.abs() ** self.p

    def __repr__(self):
        return f'PowerCost({self._grid_repr()}, p={self.p:g}, norm={self.norm:g})'


class SaturatingCost(GridCost):
    r"""Saturating cost ``1 - exp(-(|y - x|_q / s)^p)`` of Adler et al.

    Behaves like ``(|d| / s)^p`` for small displacements and tends to 1 for
    ``|d| >> s``, so far transport costs the same as deleting mass. The
    paper uses ``p = 4``, the Euclidean norm and ``s = 80`` pixels at 512 x
    512; its fourth root is a metric (the paper's Lemma 6).

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or shape
    scale : float
        ``s``, in the units of ``space``.
    p : float, optional
        Exponent.
    norm : float, optional
        Order of the norm (2: Euclidean).

    Examples
    --------
    >>> cost = SaturatingCost((512, 512), scale=80)
    >>> round(float(cost(torch.tensor(80.0), torch.tensor(0.0))), 4)
    0.6321
    """

    def __init__(self, space, scale, p=4, norm=2):
        super().__init__(space)
        check_positive(scale, 'scale')
        check_positive(p, 'p')
        if not check_real(norm, 'norm', allow_inf=True) >= 1:
            raise ValueError(f'need p > 0 and norm >= 1, got p={p}, norm={norm}')
        self.scale, self.p, self.norm = float(scale), float(p), float(norm)

    def _cost(self, *d):
        q = self.norm
        radius = sum(di.abs() ** q for di in d) ** (1 / q) / self.scale
        return -torch.expm1(-radius ** self.p)

    def __repr__(self):
        return (f'SaturatingCost({self._grid_repr()}, scale={self.scale:g}, '
                f'p={self.p:g}, norm={self.norm:g})')


class Adler2017Cost(GridCost):
    r"""The cost of the code of Adler et al. (2017), "Learning to solve inverse
    problems using Wasserstein loss", reproduced exactly.

    ``cutoff**p * (1 - exp(-sum_i d_i**p / cutoff**p))`` with displacements
    in coordinates normalised to ``linspace(-1, 1, n)`` on every axis,
    whatever the image size or physical extent; ``cutoff = 0.3`` is about
    77 pixels at 512 x 512. The pre-scaling by ``cutoff**p`` is the code's;
    divide by ``cutoff**p`` (`unit_scale`) for a cost with maximum 1.

    With ``boundary='periodic'`` the displacement grid is the code's
    ``ifftshift(linspace(-1, 1, n))``, which for even ``n`` is off by half
    a normalised pixel (kernel slightly asymmetric); with ``'zero'``
    displacements are the true, symmetric ones ``2 m / (n - 1)``.

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or shape
        Only its shape matters.
    cutoff : float, optional
    p : float, optional

    Examples
    --------
    >>> cost = Adler2017Cost((512, 512))
    >>> round(cost.max_value('periodic') / cost.unit_scale, 4)
    1.0
    >>> round(cost.unit_scale, 4)
    0.0081
    """

    def __init__(self, space, cutoff=0.3, p=4):
        super().__init__(space)
        if not cutoff > 0 or not p > 0:
            raise ValueError(f'need cutoff > 0 and p > 0, got {cutoff}, {p}')
        self.cutoff, self.p = float(cutoff), float(p)
        self.cell_sides = tuple(2.0 / max(n - 1, 1) for n in self.shape)

    @property
    def unit_scale(self):
        """``cutoff**p``, the maximum of the pre-scaled cost."""
        return self.cutoff ** self.p

    def axis_displacements(self, axis, boundary):
        if boundary == 'periodic':
            n = self.shape[axis]
            return np.linspace(-1, 1, n) if n > 1 else np.zeros(1)
        return super().axis_displacements(axis, boundary)

    def _cost(self, *d):
        scale = self.unit_scale
        return -scale * torch.expm1(-sum(di.abs() ** self.p for di in d) / scale)

    def __repr__(self):
        return f'Adler2017Cost({self.shape}, cutoff={self.cutoff:g}, p={self.p:g})'


class CallableCost(GridCost):
    """Cost from any function of the displacement components.

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or shape
    function : callable
        ``function(d_1, ..., d_ndim)`` of torch tensors (float64,
        broadcastable, the components of ``y - x`` in the space's physical
        units) returning non-negative finite costs.

    Examples
    --------
    An anisotropic cost that makes vertical transport four times dearer:

    >>> cost = CallableCost((8, 8), lambda dy, dx: (2 * dy) ** 2 + dx ** 2)
    >>> cost.max_value()
    245.0
    """

    def __init__(self, space, function):
        super().__init__(space)
        if not callable(function):
            raise TypeError(f'`function` must be callable, got {function!r}')
        self.function = function

    def _cost(self, *d):
        values = self.function(*d)
        if not isinstance(values, torch.Tensor):
            values = torch.as_tensor(np.asarray(values))
        return torch.broadcast_to(values, torch.broadcast_shapes(*[di.shape for di in d]))

    def __repr__(self):
        name = getattr(self.function, '__name__', repr(self.function))
        return f'CallableCost({self._grid_repr()}, {name})'


class SeparableCost(GridCost):
    """Separable cost ``sum_i h(d_i)`` from a 1-D function ``h``.

    Parameters
    ----------
    space : `odl.DiscretizedSpace` or shape
    function : callable
        ``h(d)`` of a float64 torch tensor, non-negative.

    Examples
    --------
    >>> cost = SeparableCost((8, 8), lambda d: d.abs() ** 3)
    >>> cost.separable, cost.max_value()
    (True, 686.0)
    """

    separable = True

    def __init__(self, space, function):
        super().__init__(space)
        if not callable(function):
            raise TypeError(f'`function` must be callable, got {function!r}')
        self.function = function

    def _axis_cost(self, d):
        return torch.as_tensor(self.function(d))

    def _cost(self, *d):
        return sum(self._axis_cost(di) for di in d)
