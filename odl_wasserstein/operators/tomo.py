"""Ray transform and the tomography set-ups of the papers.

`RayTransform` is ODL's `odl.applications.tomo.RayTransform` evaluated by
the batched, cached ASTRA kernel of `odl_wasserstein.operators.astra_kernel`
(ASTRA CPU here, ASTRA CUDA for CUDA tensors where available). It accepts
float32 and float64 spaces (ODL 1.0's own CPU backend rejects float64) and
exposes the batched torch face used by `odl_wasserstein.torch.OperatorModule`.

Helpers build the set-ups of the papers:

- Adler & Öktem, learned primal-dual (2018): 128 x 128 pixels, parallel
  beam, 30 angles, 183 detector bins, operator normalised to norm 1.
- Adler et al., "Learning to solve inverse problems using Wasserstein loss"
  (2017), section 4: 512 x 512 pixels, 30 angles, 727 detector bins.

In both, one pixel is one length unit and the image is centred at 0.
"""

import numbers

import numpy as np
import odl
from odl.applications import tomo as odl_tomo

from odl_wasserstein.operators.astra_kernel import AstraKernel
from odl_wasserstein.operators.autograd import LinearKernelFunction
from odl_wasserstein.operators.base import BatchedLinearMixin
from odl_wasserstein.util import check_int, random_element, space_weighting

__all__ = (
    'RayTransform',
    'reconstruction_space',
    'parallel_geometry',
    'fan_geometry',
    'ray_transform',
    'operator_norm',
    'fbp_operator',
)


def reconstruction_space(shape, dtype='float32', impl='numpy', device='cpu'):
    """Image space with unit pixels centred at the origin (the papers' convention).

    Parameters
    ----------
    shape : int or sequence of int
        Number of pixels per axis; an int gives a square image.
    dtype : str, optional
        ``'float32'`` or ``'float64'``.
    impl : {'numpy', 'pytorch'}, optional
        ODL array backend.
    device : str, optional
        Device of PyTorch spaces.

    Returns
    -------
    `odl.DiscretizedSpace`

    Examples
    --------
    >>> space = reconstruction_space(128)
    >>> space.min_pt, space.max_pt, space.cell_sides
    (array([-64., -64.]), array([ 64.,  64.]), array([ 1.,  1.]))
    """
    if isinstance(shape, numbers.Integral):
        shape = (shape, shape)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f'`shape` must be an int or two ints, got {shape!r}') from None
    if len(shape) != 2:
        raise ValueError(f'`shape` must be an int or two ints, got {shape!r}')
    shape = tuple(check_int(n, 'shape', minimum=1) for n in shape)
    half = np.array(shape, dtype=float) / 2
    kwargs = {'device': device} if impl == 'pytorch' else {}
    return odl.uniform_discr(-half, half, shape, dtype=dtype, impl=impl, **kwargs)


def parallel_geometry(space, num_angles=30, det_shape=None):
    """Parallel-beam geometry on ``[0, pi)`` covering ``space``.

    ODL's `parallel_beam_geometry` with the papers' default of 30 angles; the
    number of detector bins is the Nyquist-sampled default (727 at 512 x
    512, 183 at 128 x 128 unit pixels).

    Examples
    --------
    >>> geometry = parallel_geometry(reconstruction_space(128))
    >>> geometry.partition.shape
    (30, 183)
    """
    _check_num_angles(num_angles)
    return odl_tomo.parallel_beam_geometry(space, num_angles=num_angles,
                                           det_shape=det_shape)


def fan_geometry(space, num_angles=30, src_radius=None, det_radius=None,
                 det_shape=None, short_scan=False):
    """Fan-beam geometry on a full circle around ``space``.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        2D image space.
    num_angles : int, optional
        Number of source positions.
    src_radius, det_radius : float, optional
        Distances from the rotation centre to source and detector. Default:
        twice and once the radius of the circle enclosing the image.
    det_shape : int, optional
        Detector bins; default samples the data at the Nyquist rate.
    short_scan : bool, optional
        Use the angular range ``[0, pi + fan_angle]`` instead of a full turn.

    Examples
    --------
    >>> geometry = fan_geometry(reconstruction_space(64), num_angles=40)
    >>> geometry.partition.shape[0], round(geometry.src_radius, 3)
    (40, 90.51)
    """
    _check_num_angles(num_angles)
    radius = float(np.linalg.norm(np.maximum(np.abs(space.min_pt),
                                             np.abs(space.max_pt))))
    src_radius = 2 * radius if src_radius is None else float(src_radius)
    det_radius = radius if det_radius is None else float(det_radius)
    if src_radius <= radius:
        raise ValueError(
            f'`src_radius` ({src_radius}) must exceed the radius of the image '
            f'({radius:.4g}) so that the source stays outside the object'
        )
    return odl_tomo.cone_beam_geometry(
        space, src_radius=src_radius, det_radius=det_radius,
        num_angles=num_angles, short_scan=short_scan, det_shape=det_shape)


def _check_num_angles(num_angles):
    check_int(num_angles, 'num_angles', minimum=1)


class RayTransform(BatchedLinearMixin, odl_tomo.RayTransform):
    """ODL's ray transform evaluated by a cached, batched ASTRA kernel.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        2D image space with isotropic pixels, float32 or float64, NumPy or
        PyTorch backend.
    geometry : `odl.applications.tomo.Geometry`
        2D parallel- or fan-beam geometry, e.g. from `parallel_geometry` or
        `fan_geometry`.
    proj_type : str, optional
        ASTRA projector type (default as in ODL: ``'linear'`` for parallel
        beams, ``'line_fanflat'`` for fan beams).

    Notes
    -----
    The sinogram space is ODL's default (weighted by angle step times
    detector cell), so ``adjoint`` is ASTRA's back-projection times
    ``w_range / w_domain``, exactly as ODL's. ASTRA computes in float32: for
    float64 spaces, values are cast, and the adjoint identity holds to
    single-precision accuracy (about 1e-6 relative).

    Examples
    --------
    >>> space = reconstruction_space(64, dtype='float64')
    >>> ray = RayTransform(space, parallel_geometry(space, 20))
    >>> sino = ray(odl.core.phantom.shepp_logan(space, modified=True))
    >>> sino.shape
    (20, 93)
    >>> ray.forward_batch(torch.zeros(4, 64, 64, dtype=torch.float64)).shape
    torch.Size([4, 20, 93])
    """

    def __init__(self, space, geometry, proj_type=None):
        if not isinstance(space, odl.DiscretizedSpace):
            raise TypeError(
                f'`space` must be an `odl.DiscretizedSpace`, got {space!r}')
        if space.ndim != 2 or geometry.ndim != 2:
            raise ValueError(
                f'`RayTransform` supports 2D spaces and geometries, got a '
                f'{space.ndim}D space and a {geometry.ndim}D geometry'
            )
        if space.dtype_identifier not in ('float32', 'float64'):
            raise ValueError(
                f'`space` must be real (float32 or float64), got '
                f'{space.dtype_identifier}; project real and imaginary parts '
                'separately'
            )
        if not np.allclose(space.cell_sides[0], space.cell_sides[1]):
            raise ValueError(
                f'`space` must have square pixels for ASTRA, got cell sides '
                f'{tuple(space.cell_sides)}'
            )
        # The ODL backend object is never used for evaluation; 'astra_cpu'
        # only fixes the name reported by `impl`.
        super().__init__(space, geometry, impl='astra_cpu')
        self._weight_ratio = space_weighting(self.range) / space_weighting(self.domain)
        self.kernel = AstraKernel(space, geometry, proj_type=proj_type)

    def _forward(self, x):
        return LinearKernelFunction.apply(x, self.kernel, False)

    def _transpose(self, y):
        return LinearKernelFunction.apply(y, self.kernel, True)


def ray_transform(space, geometry=None, num_angles=30, normalize=False, seed=0):
    """Ray transform for ``space``, optionally scaled to operator norm 1.

    Parameters
    ----------
    space : `odl.DiscretizedSpace`
        2D image space, e.g. from `reconstruction_space`.
    geometry : `odl.applications.tomo.Geometry` or {'parallel', 'fan'}, optional
        Geometry or its kind; default ``'parallel'`` with ``num_angles``.
    num_angles : int, optional
        Number of angles when the geometry is built here.
    normalize : bool, optional
        If True, return ``R / ||R||`` with the norm from `operator_norm`,
        as in the learned primal-dual and Wasserstein-loss papers.
    seed : int, optional
        Seed of the power iteration's start vector.

    Returns
    -------
    op : `RayTransform` or `odl.OperatorLeftScalarMult`
        For ``normalize=True``, ``op.scalar`` is ``1 / ||R||`` and
        ``op.operator`` the unscaled transform.

    Examples
    --------
    >>> op = ray_transform(reconstruction_space(64), normalize=True)
    >>> round(operator_norm(op), 3)
    1.0
    """
    if geometry is None or geometry == 'parallel':
        geometry = parallel_geometry(space, num_angles)
    elif geometry == 'fan':
        geometry = fan_geometry(space, num_angles)
    elif isinstance(geometry, str):
        raise ValueError(
            f"`geometry` must be a Geometry, 'parallel' or 'fan', got {geometry!r}")
    op = RayTransform(space, geometry)
    if normalize:
        op = (1.0 / operator_norm(op, seed=seed)) * op
    return op


def operator_norm(op, max_iter=200, rtol=1e-7, seed=0):
    """Estimate ``||op||`` by power iteration on ``op* op`` from a seeded start.

    Parameters
    ----------
    op : `odl.Operator`
        Linear operator with an adjoint.
    max_iter : int, optional
        Maximum number of iterations.
    rtol : float, optional
        Stop when the estimate changes by less than this, relatively.
    seed : int, optional
        Seed of the random start vector, for reproducible results.

    Returns
    -------
    float

    Examples
    --------
    >>> op = odl.MatrixOperator(np.diag([3.0, 1.0, 0.5]))
    >>> round(operator_norm(op), 6)
    3.0
    """
    normal = op.adjoint @ op
    x = random_element(op.domain, seed)
    x /= x.norm()
    estimate = 0.0
    for _ in range(check_int(max_iter, 'max_iter', minimum=1)):
        y = normal(x)
        new_estimate = float(np.sqrt(float(y.norm())))
        if new_estimate == 0:
            return 0.0
        x = y / y.norm()
        if abs(new_estimate - estimate) <= rtol * new_estimate:
            return new_estimate
        estimate = new_estimate
    return estimate


def fbp_operator(op, filter_type='Hann', frequency_scaling=1.0, padding=True):
    """Filtered back-projection for a ray transform, scaled or not.

    Wraps ODL's `fbp_op`; for ``op = c * R`` (e.g. from
    ``ray_transform(..., normalize=True)``) it returns ``fbp_op(R) / c`` so
    that it inverts ``op``.

    Parameters
    ----------
    op : `RayTransform` or ``c * RayTransform``
    filter_type : str, optional
        ``'Hann'`` (the papers' baseline), ``'Ram-Lak'``, ``'Shepp-Logan'``,
        ``'Cosine'`` or ``'Hamming'``.
    frequency_scaling : float, optional
        Relative cut-off frequency of the filter, in ``(0, 1]``.
    padding : bool, optional
        Zero-pad the sinogram before filtering.

    Examples
    --------
    >>> space = reconstruction_space(64, dtype='float64')
    >>> op = ray_transform(space, num_angles=60, normalize=True)
    >>> phantom = odl.core.phantom.shepp_logan(space, modified=True)
    >>> rec = fbp_operator(op)(op(phantom))
    >>> round(float((rec - phantom).norm() / phantom.norm()), 2)
    0.48
    """
    scale = 1.0
    if isinstance(op, odl.OperatorLeftScalarMult):
        scale, op = op.scalar, op.operator
    if not isinstance(op, odl_tomo.RayTransform):
        raise TypeError(
            f'`op` must be a RayTransform or a scalar multiple of one, got {op!r}')
    if not 0 < frequency_scaling <= 1:
        raise ValueError(
            f'`frequency_scaling` must be in (0, 1], got {frequency_scaling}')
    fbp = odl_tomo.fbp_op(op, padding=padding, filter_type=filter_type,
                          frequency_scaling=frequency_scaling)
    return fbp if scale == 1.0 else (1.0 / scale) * fbp
