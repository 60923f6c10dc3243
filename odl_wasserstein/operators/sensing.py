"""Sensing operators of the generative-priors experiments, each of norm 1.

Duff, Ehrhardt and Campbell, "Solving inverse imaging problems with
generative machine learning models", compare generative regularisers on
six forward operators, each divided by its operator norm: denoising
(identity), compressed sensing with a Gaussian matrix (Bora et al., "Compressed
sensing using generative models", 2017; ``m = 140`` measurements of a 56 x 56
image), Gaussian blur, inpainting with 25 % of the pixels kept, tomography
and tomography from a few angles. `paper_operator` builds them by name
(`PAPER_OPERATORS`); this module adds the two operators the rest of the
package lacks:

- `GaussianMatrix`: a seeded dense matrix with i.i.d. ``N(0, 1/m)``
  entries acting on the row-major flattened image;
- `PixelMask` (and `inpainting_operator`): the values of the kept pixels,
  a subsampling to ``rn(k)``.

Both are `odl_wasserstein.operators.BatchedLinearOperator` subclasses, so
they have exact ODL adjoints on NumPy and PyTorch spaces and a batched
torch face for `odl_wasserstein.torch.OperatorModule`.
"""

import inspect
import math

import numpy as np
import odl
import torch
from odl.applications import tomo as odl_tomo

from odl_wasserstein.operators.base import BatchedLinearOperator
from odl_wasserstein.operators.blur import Convolution
from odl_wasserstein.operators.psf import gaussian_psf
from odl_wasserstein.operators.tomo import operator_norm, parallel_geometry, ray_transform
from odl_wasserstein.util import (
    check_choice, check_int, check_positive, check_real, space_weighting, to_tensor,
    torch_dtype)

__all__ = ('GaussianMatrix', 'PixelMask', 'inpainting_operator', 'paper_operator',
           'PAPER_OPERATORS')

PAPER_OPERATORS = ('denoising', 'compressed_sensing', 'blur', 'inpainting', 'tomography',
                   'missing_angle_tomography')
_REAL_DTYPES = {torch.float32: 'float32', torch.float64: 'float64'}


def _check_space(space, real=True):
    if not isinstance(space, odl.DiscretizedSpace):
        raise TypeError('`space` must be an `odl.DiscretizedSpace` (e.g. from '
                        f'`reconstruction_space`), got {type(space).__name__}')
    if real and torch_dtype(space).is_complex:
        raise ValueError(f'`space` must be real (float32 or float64), got '
                         f'{space.dtype_identifier}; apply the operator to real and '
                         'imaginary parts separately')
    space_weighting(space)  # refuses non-constant weightings


def _device(space):
    return space.device if space.impl == 'pytorch' else 'cpu'


def _vector_space(size, space, dtype):
    """``rn(size)`` (or ``cn``) on the backend and device of ``space``."""
    options = {'device': space.device} if space.impl == 'pytorch' else {}
    return odl.tensor_space(size, dtype=dtype, impl=space.impl, **options)


def _real_dtype_name(dtype, space):
    if dtype is None:
        return space.dtype_identifier
    try:
        return _REAL_DTYPES[torch_dtype(dtype)]
    except (KeyError, TypeError):
        raise ValueError(f"`dtype` must be 'float32', 'float64' or None, got {dtype!r}") \
            from None


class _CastCache:
    """A tensor and its copies per (dtype, device), made on first use."""

    def __init__(self, tensor):
        self.tensor = tensor
        self._copies = {}

    def like(self, x):
        key = (x.dtype, x.device)
        if key not in self._copies:
            self._copies[key] = self.tensor.to(dtype=x.dtype, device=x.device)
        return self._copies[key]


class GaussianMatrix(BatchedLinearOperator):
    r"""Compressed sensing: a seeded Gaussian matrix on the flattened image.

    .. math::
        (A x)_i = \sum_j M_{ij}\, x_j, \qquad M_{ij} \sim \mathcal{N}(0, 1/m)
        \text{ i.i.d.},

    with :math:`x_j` the pixels in row-major order, as Bora et al. and Duff
    et al. measure images (``m = 140`` for 56 x 56 shapes images).

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        Real image space (any number of axes), NumPy or PyTorch backend.
    m : int
        Number of measurements (>= 1).
    seed : int, optional
        Seed of the matrix: the matrix is a pure function of ``(seed, m,
        space.size)``, drawn in float64 and rounded to ``dtype``, and a
        pickled operator is rebuilt from them.
    dtype : str or dtype, optional
        ``'float32'`` or ``'float64'``, the dtype of the range
        ``odl.rn(m)`` and of `matrix`; default that of ``space``.

    Attributes
    ----------
    m, seed : int

    Notes
    -----
    The range ``rn(m)`` has weight 1 and the domain the cell volume
    :math:`w`, so the ODL adjoint is :math:`M^T / w` and
    ``norm()`` is the exact :math:`\|M\|_2 / \sqrt{w}` (from the singular
    values). On unit pixels (`reconstruction_space`) both are the plain
    matrix ones. The torch face runs in the precision of its input.
    The authors' script draws the entries with standard deviation
    :math:`1/m`; the scale is immaterial once the operator is normalised
    (`paper_operator`).

    Examples
    --------
    >>> from odl_wasserstein.operators import reconstruction_space
    >>> op = GaussianMatrix(reconstruction_space(56), m=140, seed=0)
    >>> op.range
    rn(140, 'float32')
    >>> op.matrix.shape
    torch.Size([140, 3136])
    >>> round(float(op.matrix.double().var()) * 140, 2)
    1.0
    >>> bool(torch.equal(op.matrix, GaussianMatrix(op.domain, 140, seed=0).matrix))
    True
    """

    def __init__(self, space, m, seed=0, dtype=None):
        _check_space(space)
        self.m = check_int(m, 'm', minimum=1)
        self.seed = check_int(seed, 'seed')
        self._dtype = dtype
        name = _real_dtype_name(dtype, space)
        generator = torch.Generator().manual_seed(self.seed)
        matrix = torch.randn((self.m, space.size), generator=generator, dtype=torch.float64)
        self._exact = _CastCache(matrix / math.sqrt(self.m))
        super().__init__(space, _vector_space(self.m, space, name))
        self._matrix = self._exact.tensor.to(dtype=torch_dtype(name),
                                             device=_device(space))

    @property
    def matrix(self):
        """The matrix ``M``, ``(m, space.size)``, in the range's dtype, on its device."""
        return self._matrix

    def _forward(self, x):
        return x.reshape(len(x), -1) @ self._exact.like(x).T

    def _transpose(self, y):
        return (y @ self._exact.like(y)).reshape((len(y),) + tuple(self.domain.shape))

    def norm(self, estimate=False, **kwargs):
        """Exact operator norm ``||M||_2 sqrt(w_range / w_domain)`` (``estimate`` ignored)."""
        return float(torch.linalg.matrix_norm(self._exact.tensor, ord=2)) \
            * math.sqrt(self._weight_ratio)

    def __reduce__(self):
        return type(self), (self.domain, self.m, self.seed, self._dtype)

    def __repr__(self):
        return f'{type(self).__name__}({self.domain!r}, m={self.m}, seed={self.seed})'


class PixelMask(BatchedLinearOperator):
    r"""Inpainting: the values of the kept pixels, ``x -> x[mask]``.

    The range is ``rn(k)`` (``cn(k)`` for complex spaces) with ``k`` the
    number of kept pixels, in row-major order; the adjoint puts the values
    back and zeros elsewhere. Dropping the unobserved pixels instead of
    multiplying them by 0 (as Duff et al.'s code does) gives the same
    least-squares problems, without data entries that carry only noise.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        Real or complex image space, NumPy or PyTorch backend.
    mask : array-like
        Boolean or 0/1 array of ``space.shape``; at least one pixel kept.

    Attributes
    ----------
    mask : torch.Tensor
        Boolean, ``space.shape``, on the space's device.

    Notes
    -----
    With range weight 1 and domain weight :math:`w` (the cell volume), the
    ODL adjoint is the zero-filling divided by :math:`w` and ``norm()`` is
    exactly :math:`1 / \sqrt{w}`: 1 on unit pixels.

    Examples
    --------
    >>> space = odl.uniform_discr([0, 0], [2, 3], (2, 3))
    >>> op = PixelMask(space, [[1, 0, 0], [0, 1, 1]])
    >>> op(space.element([[1, 2, 3], [4, 5, 6]]))
    rn(3).element([ 1.,  5.,  6.])
    >>> op.adjoint(op.range.one())
    uniform_discr([ 0.,  0.], [ 2.,  3.], (2, 3)).element(
        [[ 1.,  0.,  0.],
         [ 0.,  1.,  1.]]
    )
    """

    def __init__(self, space, mask):
        _check_space(space, real=False)
        mask = _mask_tensor(mask, space)
        super().__init__(space, _vector_space(int(mask.sum()), space, space.dtype_identifier))
        self._mask = mask.to(_device(space))
        self._indices = torch.flatten(self._mask).nonzero()[:, 0]

    @property
    def mask(self):
        """Boolean tensor of ``domain.shape``: True where a pixel is kept."""
        return self._mask

    def _forward(self, x):
        return x.reshape(len(x), -1).index_select(1, self._indices.to(x.device))

    def _transpose(self, y):
        zeros = y.new_zeros((len(y), self.domain.size))
        filled = zeros.index_copy(1, self._indices.to(y.device), y)
        return filled.reshape((len(y),) + tuple(self.domain.shape))

    def norm(self, estimate=False, **kwargs):
        """Exact operator norm ``sqrt(w_range / w_domain)`` (``estimate`` ignored)."""
        return math.sqrt(self._weight_ratio)

    def __reduce__(self):
        return type(self), (self.domain, self._mask.cpu())

    def __repr__(self):
        return f'{type(self).__name__}({self.domain!r}, kept={self.range.size})'


def _mask_tensor(mask, space):
    tensor = to_tensor(mask).detach().cpu()
    if tuple(tensor.shape) != tuple(space.shape):
        raise ValueError(f'`mask` must have the shape {tuple(space.shape)} of `space`, got '
                         f'{tuple(tensor.shape)}')
    if tensor.dtype != torch.bool:
        if tensor.is_complex() or not bool(((tensor == 0) | (tensor == 1)).all()):
            raise ValueError('`mask` must be boolean or hold only 0 and 1')
        tensor = tensor != 0
    if not bool(tensor.any()):
        raise ValueError('`mask` keeps no pixel; keep at least one')
    return tensor


def inpainting_operator(space, fraction=0.25, seed=0):
    """`PixelMask` keeping ``round(fraction * size)`` pixels chosen at random.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        Image space.
    fraction : float, optional
        Fraction of kept pixels, in ``(0, 1]`` (25 % in Duff et al.); at
        least one pixel is kept.
    seed : int, optional
        Seed of the choice, a uniformly random subset of exactly that size
        (the authors keep each pixel with probability ``fraction``).

    Returns
    -------
    `PixelMask`

    Examples
    --------
    >>> from odl_wasserstein.operators import reconstruction_space
    >>> op = inpainting_operator(reconstruction_space(56), fraction=0.25, seed=0)
    >>> op.range.size, op.norm()
    (784, 1.0)
    """
    _check_space(space, real=False)
    fraction = check_real(fraction, 'fraction', positive=True, maximum=1)
    seed = check_int(seed, 'seed')
    kept = max(1, round(fraction * space.size))
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(space.size, dtype=torch.bool)
    mask[torch.randperm(space.size, generator=generator)[:kept]] = True
    return PixelMask(space, mask.reshape(space.shape))


def _blur(space, seed, sigma=1.0, size=None):
    sigma = check_positive(sigma, 'sigma')
    if size is None:
        # 2 sigma on each side: the authors' 5 x 5 kernel at sigma = 1.
        size = min(2 * math.ceil(2 * sigma) + 1, *space.shape)
    size = check_int(size, 'size', minimum=1)
    return Convolution(space, gaussian_psf((size, size), sigma), boundary='zero')


def _tomography(space, seed, num_angles=None):
    # None: ODL's default sampling (125 angles at 56 x 56 unit pixels), the
    # authors' geometry.
    geometry = (odl_tomo.parallel_beam_geometry(space) if num_angles is None
                else parallel_geometry(space, num_angles))
    return ray_transform(space, geometry=geometry)


def _missing_angle_tomography(space, seed, num_angles=30, total_angles=None):
    full = (odl_tomo.parallel_beam_geometry(space) if total_angles is None
            else parallel_geometry(space, total_angles))
    total = len(full.angles)
    num_angles = check_int(num_angles, 'num_angles', minimum=1)
    if num_angles > total:
        raise ValueError(f'`num_angles` ({num_angles}) must be at most the {total} angles '
                         'of the full geometry; raise `total_angles`')
    generator = torch.Generator().manual_seed(seed)
    chosen = np.sort(torch.randperm(total, generator=generator)[:num_angles].numpy())
    angles = odl.nonuniform_partition(full.angles[chosen], min_pt=0, max_pt=np.pi)
    return ray_transform(space, geometry=odl_tomo.Parallel2dGeometry(angles, full.det_partition))


_BUILDERS = {
    'denoising': lambda space, seed: odl.IdentityOperator(space),
    'compressed_sensing': lambda space, seed, m=140: GaussianMatrix(space, m, seed),
    'blur': _blur,
    'inpainting': lambda space, seed, fraction=0.25: inpainting_operator(space, fraction, seed),
    'tomography': _tomography,
    'missing_angle_tomography': _missing_angle_tomography,
}


def _options(name, options):
    parameters = list(inspect.signature(_BUILDERS[name]).parameters)[2:]
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(f'unknown options {unknown} for {name!r}; it takes '
                         f'{parameters or "none"}')
    return options


def paper_operator(name, space, seed=0, **options):
    """One of Duff et al.'s forward operators, divided by its norm.

    Parameters
    ----------
    name : str
        One of `PAPER_OPERATORS`:

        - ``'denoising'``: the identity;
        - ``'compressed_sensing'``: `GaussianMatrix` with ``m`` (140)
          measurements;
        - ``'blur'``: `Convolution` with a `gaussian_psf` of ``sigma``
          (1.0) pixels on a ``size x size`` grid (default
          ``2 ceil(2 sigma) + 1``: 5 x 5 as the authors' kernel), zero
          boundaries;
        - ``'inpainting'``: `inpainting_operator` keeping ``fraction``
          (0.25) of the pixels;
        - ``'tomography'``: parallel-beam `ray_transform` with
          ``num_angles`` on ``[0, pi)``; default None, ODL's default
          sampling as in the authors' code (125 angles, 81 bins at 56 x 56
          unit pixels);
        - ``'missing_angle_tomography'``: the same ray transform on
          ``num_angles`` (30) angles drawn at random from the
          ``total_angles`` (default ODL's) of the full geometry, as the
          authors' code does.
    space : `odl.DiscretizedSpace`
        Real 2D image space, e.g. ``reconstruction_space(56)``.
    seed : int, optional
        Seed of the random parts (matrix, pixels, angles) and of the power
        iteration.
    **options
        The options named above.

    Returns
    -------
    `odl.Operator`
        The identity for ``'denoising'``, else ``c * A`` (an
        `odl.OperatorLeftScalarMult` with ``.scalar`` ``c = 1 / ||A||`` and
        ``.operator`` ``A``), with ``||A||`` exact for compressed sensing
        and inpainting and from `operator_norm` (200 power iterations on
        the float64 NumPy space of the same grid) otherwise. It works in
        `odl_wasserstein.torch.OperatorModule`, batched.

    Notes
    -----
    Power iteration converges slowly for blur, whose largest singular
    values cluster: at 56 x 56 the estimate is 1.1e-4 low, so the
    normalised blur has norm 1.0001 (Duff et al. normalise with
    ODL's 100-iteration estimate). Norms are those of the ODL spaces
    (weighted by the cell volume; plain on unit pixels).

    Examples
    --------
    >>> from odl_wasserstein.operators import reconstruction_space
    >>> space = reconstruction_space(56)
    >>> op = paper_operator('compressed_sensing', space)
    >>> op.range, round(operator_norm(op), 4)
    (rn(140, 'float32'), 1.0)
    >>> paper_operator('missing_angle_tomography', space).range.shape
    (30, 81)
    >>> paper_operator('deblurring', space)
    Traceback (most recent call last):
        ...
    ValueError: `name` must be one of (...), got 'deblurring'
    """
    check_choice(name, 'name', PAPER_OPERATORS)
    _check_space(space)
    if space.ndim != 2:
        raise ValueError(f'`space` must be 2D (images), got {space.ndim}D')
    seed = check_int(seed, 'seed')
    options = _options(name, options)
    op = _BUILDERS[name](space, seed, **options)
    if name == 'denoising':
        return op
    return (1.0 / _norm(op, name, seed, options)) * op


def _norm(op, name, seed, options):
    """``||op||``: exact where known, else by power iteration on a float64 NumPy twin."""
    if isinstance(op, (GaussianMatrix, PixelMask)):
        return op.norm()
    # Same grid, seed and options give the same operator; ODL calls on
    # PyTorch spaces cost ~20x more per iteration, and float64 is exact enough.
    twin = odl.uniform_discr_frompartition(op.domain.partition, dtype='float64',
                                           weighting=space_weighting(op.domain))
    return operator_norm(_BUILDERS[name](twin, seed, **options), seed=seed)
