"""Phantoms of the CT experiments, generated in PyTorch.

All phantoms are sums of ellipse indicators point-sampled on the pixel grid,
with the conventions of ODL 1.0's `odl.core.phantom.ellipsoid_phantom` in
2D: each axis is normalised to ``[-1, 1]`` so that the first and last pixel
*centres* sit at -1 and 1 (pixel ``i`` of ``n`` at ``-1 + 2 i / (n - 1)``,
i.e. ``linspace(-1, 1, n)``), axis 0 is the first coordinate, and an ellipse
is the row ``(value, axis_1, axis_2, centre_1, centre_2, rotation)``. The
results equal ODL's to the last bit except on pixels lying on an ellipse
boundary to within rounding.

- `rings_phantom` and `random_rings_pair`: the misaligned-rings data of
  Adler et al., "Learning to solve inverse problems using Wasserstein
  loss" (2017), section 4, as in the authors' code: each ring is a circle of
  value 1 minus the same circle scaled by 0.95, rings add where they overlap,
  the absolute value is taken at the end, and each ring of the phantom that
  generates the data is shifted by its own random integer number of pixels.
- `random_ellipses`: the training phantoms of Adler & Öktem, "Learned
  primal-dual reconstruction" (2018): Poisson(50) random ellipses.
- `shepp_logan`: ODL's (modified) Shepp-Logan phantom as a tensor, the
  validation phantom of the learned primal-dual paper.

Batched functions take parameters of shape ``(B, E, 6)`` (or ``(B, R, 2)``
ring centres) and return images ``(B, H, W)``; unbatched ones ``(H, W)``.
Random functions take a `torch.Generator` (or an int seed) and are
reproducible.
"""

import math
import numbers

import odl
import torch

from odl_wasserstein.util import (
    as_generator, check_finite, check_int, check_positive, to_tensor, torch_dtype)

__all__ = (
    'ellipses_phantom',
    'rings_phantom',
    'random_ring_parameters',
    'random_rings_pair',
    'random_ellipse_parameters',
    'random_ellipses',
    'shepp_logan',
)


def _image_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape, shape)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(
            f'`shape` must be an int or a pair of ints, got {shape!r}') from None
    if (len(shape) != 2
            or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                       for n in shape)
            or min(shape) < 1):
        raise ValueError(
            f'`shape` must give two positive pixel counts, e.g. (128, 128), '
            f'got {shape!r}')
    return tuple(int(n) for n in shape)


def _float_dtype(dtype):
    dtype = torch_dtype(dtype)
    if not dtype.is_floating_point:
        raise ValueError(
            f'`dtype` must be a real floating-point type such as torch.float32, '
            f'got {dtype}')
    return dtype


def _batch_size(batch_size):
    if batch_size is None:
        return 1
    return check_int(batch_size, 'batch_size', minimum=1, allow_none=True)


def _normalised_coordinates(n, device):
    # ODL maps the first and last cell centres to -1 and 1; a single pixel
    # sits at 0 (ODL's slice convention).
    if n == 1:
        return torch.zeros(1, dtype=torch.float64, device=device)
    return torch.linspace(-1, 1, n, dtype=torch.float64, device=device)


def ellipses_phantom(shape, ellipses, dtype=torch.float32, device=None):
    """Sum of ellipse indicators times values, sampled at the pixel centres.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``; an int gives a square image.
    ellipses : array-like or torch.Tensor, shape ``(E, 6)`` or ``(B, E, 6)``
        Rows ``(value, axis_1, axis_2, centre_1, centre_2, rotation)``
        relative to the reference square ``[-1, 1]^2``, the rotation in
        radians, exactly as ODL's `odl.core.phantom.ellipsoid_phantom`
        takes them. A pixel ``(x_1, x_2)`` is inside when
        ``u^2 / axis_1^2 + v^2 / axis_2^2 <= 1`` with
        ``u = cos(t) d_1 + sin(t) d_2``, ``v = -sin(t) d_1 + cos(t) d_2``
        and ``d = x - centre``. ``E`` may be 0.
    dtype : torch.dtype, optional
        Floating-point type of the result; the geometry is evaluated in
        float64 whatever ``dtype`` is.
    device : str or torch.device, optional
        Device of the result; default the device of ``ellipses`` (CPU for
        non-tensors).

    Returns
    -------
    torch.Tensor
        ``(H, W)`` for ``(E, 6)`` input, ``(B, H, W)`` for ``(B, E, 6)``.

    Raises
    ------
    ValueError
        For a bad ``shape``, ellipses not of shape ``(..., 6)``, non-finite
        entries or non-positive axes.

    Examples
    --------
    A circle with a smaller circle inside (ODL's own example):

    >>> ellipses = [[1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
    ...             [1.0, 0.6, 0.6, 0.0, 0.0, 0.0]]
    >>> ellipses_phantom(5, ellipses)
    tensor([[0., 0., 1., 0., 0.],
            [0., 1., 2., 1., 0.],
            [1., 2., 2., 2., 1.],
            [0., 1., 2., 1., 0.],
            [0., 0., 1., 0., 0.]])

    A batch of two images, one ellipse each, the second rotated by 90
    degrees; axis 0 is the first coordinate:

    >>> params = torch.tensor([[[1.0, 0.9, 0.3, 0.0, 0.0, 0.0]],
    ...                        [[1.0, 0.9, 0.3, 0.0, 0.0, math.pi / 2]]])
    >>> images = ellipses_phantom((64, 64), params)
    >>> images.shape
    torch.Size([2, 64, 64])
    >>> torch.equal(images[0], images[1].T)
    True
    """
    shape = _image_shape(shape)
    dtype = _float_dtype(dtype)
    if isinstance(ellipses, torch.Tensor):
        params = ellipses.detach().to(dtype=torch.float64, device=device)
    else:
        params = torch.as_tensor(ellipses, dtype=torch.float64, device=device)
    if params.numel() == 0 and params.ndim <= 1:  # e.g. an empty list
        params = params.reshape(0, 6)
    if params.ndim not in (2, 3) or params.shape[-1] != 6:
        raise ValueError(
            '`ellipses` must have shape (E, 6) or (B, E, 6) with rows (value, '
            f'axis_1, axis_2, centre_1, centre_2, rotation), got {tuple(params.shape)}')
    check_finite(params, 'ellipses')
    if not bool((params[..., 1:3] > 0).all()):
        raise ValueError('`ellipses` must have positive axes (columns 1 and 2)')
    batched = params.ndim == 3
    if not batched:
        params = params[None]
    x1 = _normalised_coordinates(shape[0], params.device)
    x2 = _normalised_coordinates(shape[1], params.device)
    # Accumulating in the output precision (float32 at least), one ellipse
    # after the other, rounds exactly as ODL's in-place sums do.
    out = torch.zeros((params.shape[0],) + shape,
                      dtype=torch.promote_types(dtype, torch.float32),
                      device=params.device)
    for image, rows in zip(out, params.tolist()):
        for row in rows:
            _add_ellipse(image, row, x1, x2)
    out = out.to(dtype)
    return out if batched else out[0]


def _index_range(centre, half_extent, coords):
    """Pixel index range that surely holds ``|x - centre| <= half_extent``."""
    n = len(coords)
    # Pixel i is at -1 + 2 i / (n - 1); one pixel of margin on each side
    # absorbs rounding in the bound.
    scale = (n - 1) / 2
    low = math.floor((centre - half_extent + 1) * scale) - 1
    high = math.ceil((centre + half_extent + 1) * scale) + 2
    return max(low, 0), min(high, n)


def _add_ellipse(image, row, x1, x2):
    """Add one ellipse to ``image`` (H, W), evaluated on its bounding box only."""
    value, axis1, axis2, c1, c2, theta = row
    if value == 0:
        return
    cos, sin = math.cos(theta), math.sin(theta)
    i0, i1 = _index_range(c1, math.hypot(axis1 * cos, axis2 * sin), x1)
    j0, j1 = _index_range(c2, math.hypot(axis1 * sin, axis2 * cos), x2)
    if i0 >= i1 or j0 >= j1:
        return
    # Same operations in the same order as ODL's `_ellipse_phantom_2d`, so
    # that the inside test agrees with it to the last bit.
    scale1 = 1 / axis1 ** 2
    scale2 = 1 / axis2 ** 2
    d1 = x1[i0:i1, None] - c1
    d2 = x2[None, j0:j1] - c2
    if theta == 0:
        radius = scale1 * d1 ** 2 + scale2 * d2 ** 2
    else:
        u = cos * d1 + sin * d2
        v = (-sin) * d1 + cos * d2
        radius = u ** 2 * scale1 + v ** 2 * scale2
    # Cast the mask first: a bool tensor times a Python float is float32.
    image[i0:i1, j0:j1] += (radius <= 1).to(image.dtype) * value


def rings_phantom(shape, centres, radius=0.5, inner_ratio=0.95,
                  dtype=torch.float32, device=None):
    """Rings (the authors' "thorus" phantom): circles minus shrunken circles.

    For each centre, a circle of value 1 and radius ``radius`` minus the
    same circle scaled by ``inner_ratio``; rings add where they overlap and
    the absolute value is taken at the end, as in the code of Adler et al.
    (2017). With the defaults the ring is ``0.025`` normalised units thick:
    about 6.4 pixels at 512 x 512 and 1.6 at 128 x 128.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``.
    centres : array-like or torch.Tensor, shape ``(R, 2)`` or ``(B, R, 2)``
        Ring centres in the normalised coordinates of `ellipses_phantom`.
    radius : float, optional
        Outer radius, normalised (0.5 is a quarter of the image width).
    inner_ratio : float, optional
        Inner radius over outer radius, in ``(0, 1)``.
    dtype : torch.dtype, optional
        Floating-point type of the result.
    device : str or torch.device, optional
        Device of the result; default that of ``centres``.

    Returns
    -------
    torch.Tensor
        ``(H, W)`` or ``(B, H, W)``, values in ``{0, 1, 2, ...}``.

    Examples
    --------
    >>> ring = rings_phantom(512, [[0.0, 0.0]])
    >>> ring.shape, ring.max().item()
    (torch.Size([512, 512]), 1.0)
    >>> thickness = ring.sum() / (2 * math.pi * 0.4875 * 511 / 2)  # area / length
    >>> round(thickness.item(), 1)
    6.4
    """
    shape = _image_shape(shape)
    check_positive(radius, 'radius')
    if not (isinstance(inner_ratio, numbers.Real) and 0 < inner_ratio < 1):
        raise ValueError(
            f'`inner_ratio` must be in (0, 1) (inner over outer radius), got '
            f'{inner_ratio!r}')
    if isinstance(centres, torch.Tensor):
        centres = centres.detach().to(dtype=torch.float64, device=device)
    else:
        centres = torch.as_tensor(centres, dtype=torch.float64, device=device)
    if centres.ndim not in (2, 3) or centres.shape[-1] != 2:
        raise ValueError(
            f'`centres` must have shape (R, 2) or (B, R, 2), got {tuple(centres.shape)}')
    check_finite(centres, 'centres')
    ones = torch.ones(centres.shape[:-1] + (1,), dtype=torch.float64,
                      device=centres.device)
    inner = inner_ratio * radius
    outer_rows = torch.cat([ones, radius * ones, radius * ones, centres, 0 * ones], -1)
    inner_rows = torch.cat([-ones, inner * ones, inner * ones, centres, 0 * ones], -1)
    ellipses = torch.cat([outer_rows, inner_rows], dim=-2)
    # Sums of +-1 are exact in any float type, so the absolute value can be
    # taken after the cast.
    return ellipses_phantom(shape, ellipses, dtype=dtype).abs()


def _max_shift(max_shift, shape):
    if max_shift is None:
        return tuple(int(round(40 * n / 512)) for n in shape)
    if isinstance(max_shift, numbers.Integral) and not isinstance(max_shift, bool):
        max_shift = (max_shift, max_shift)
    try:
        max_shift = tuple(max_shift)
    except TypeError:
        max_shift = None
    if (max_shift is None or len(max_shift) != 2
            or not all(isinstance(m, numbers.Integral) and not isinstance(m, bool)
                       and m >= 0 for m in max_shift)):
        raise ValueError(
            '`max_shift` must be a non-negative int (pixels), a pair of them or '
            'None for round(40 * n / 512)')
    return tuple(int(m) for m in max_shift)


def random_ring_parameters(shape, generator=None, n_rings=2, max_shift=None,
                           centre_range=0.25, batch_size=None):
    """Draw ring centres and per-ring pixel shifts (Adler et al. 2017, sec. 4).

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``; fixes the default ``max_shift``.
    generator : torch.Generator or int, optional
        Source of randomness, or a seed; None uses torch's global generator.
    n_rings : int, optional
        Number of rings per image.
    max_shift : int or (int, int), optional
        Shifts are uniform integers in ``[-max_shift, max_shift - 1]``
        (NumPy's ``randint(-m, m)``, as in the authors' code), independently
        per ring and per axis; 0 means no shift. Default
        ``round(40 * n / 512)`` for an axis of ``n`` pixels: 40 at 512,
        10 at 128.
    centre_range : float, optional
        Centres are uniform in ``[-centre_range, centre_range]^2``
        (normalised units).
    batch_size : int, optional
        Draw for a batch; None for a single image.

    Returns
    -------
    centres : torch.Tensor
        float64, ``(R, 2)`` or ``(B, R, 2)``, normalised units.
    shifts : torch.Tensor
        int64, same shape, in pixels.

    Examples
    --------
    >>> centres, shifts = random_ring_parameters(128, torch.Generator().manual_seed(0),
    ...                                          batch_size=1000)
    >>> centres.shape, shifts.dtype
    (torch.Size([1000, 2, 2]), torch.int64)
    >>> shifts.min().item(), shifts.max().item()
    (-10, 9)
    >>> bool(centres.abs().max() <= 0.25)
    True
    """
    shape = _image_shape(shape)
    generator = as_generator(generator)
    check_int(n_rings, 'n_rings')
    if not (isinstance(centre_range, numbers.Real) and math.isfinite(centre_range)
            and centre_range >= 0):
        raise ValueError(
            f'`centre_range` must be a non-negative number, got {centre_range!r}')
    max_shift = _max_shift(max_shift, shape)
    size = (_batch_size(batch_size), int(n_rings), 2)
    device = 'cpu' if generator is None else generator.device
    centres = (2 * torch.rand(size, generator=generator, dtype=torch.float64,
                              device=device) - 1) * centre_range
    # floor(U * 2m) - m is uniform on {-m, ..., m - 1} and allows a different
    # m per axis (and m = 0) in a single draw.
    span = 2 * torch.tensor(max_shift, dtype=torch.float64, device=device)
    uniform = torch.rand(size, generator=generator, dtype=torch.float64, device=device)
    shifts = torch.floor(uniform * span).long() - torch.tensor(max_shift, device=device)
    if batch_size is None:
        return centres[0], shifts[0]
    return centres, shifts


def random_rings_pair(shape, generator=None, n_rings=2, max_shift=None,
                      centre_range=0.25, batch_size=None, dtype=torch.float32):
    """Random rings and the same rings, each shifted by its own random offset.

    The misaligned training pairs of Adler et al. (2017), section 4: the
    unshifted phantom is the training target, the shifted one generates the
    data. The parameters are those of `random_ring_parameters` (same
    generator draws); a shift of ``s`` pixels moves a centre by ``2 s / n``
    normalised units on an axis of ``n`` pixels, as in the authors' code.
    (With ODL's normalisation a pixel is ``2 / (n - 1)`` units, so the ring
    moves by ``s (n - 1) / n`` pixels: 39.92 instead of 40 at 512.)

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``.
    generator : torch.Generator or int, optional
        Source of randomness, or a seed; None uses torch's global generator.
    n_rings, max_shift, centre_range, batch_size :
        See `random_ring_parameters`.
    dtype : torch.dtype, optional
        Floating-point type of the images.

    Returns
    -------
    target, shifted : torch.Tensor
        ``(H, W)``, or ``(B, H, W)`` with ``batch_size``.

    Examples
    --------
    >>> target, shifted = random_rings_pair(128, torch.Generator().manual_seed(1))
    >>> target.shape, shifted.dtype
    (torch.Size([128, 128]), torch.float32)
    >>> bool(torch.equal(target, shifted))  # the rings moved
    False
    """
    shape = _image_shape(shape)
    centres, shifts = random_ring_parameters(
        shape, generator, n_rings=n_rings, max_shift=max_shift,
        centre_range=centre_range, batch_size=batch_size)
    pixel = 2 / torch.tensor(shape, dtype=torch.float64, device=centres.device)
    centres = centres.reshape(-1, centres.shape[-2], 2)
    shifts = shifts.reshape(centres.shape)
    # One call for targets and shifted phantoms: the batch is [targets, shifted].
    both = rings_phantom(shape, torch.cat([centres, centres + shifts * pixel]),
                         dtype=dtype)
    target, shifted = both.reshape((2, -1) + shape).unbind(0)
    if batch_size is None:
        return target[0], shifted[0]
    return target, shifted


def random_ellipse_parameters(generator=None, mean_count=50, batch_size=None):
    """Draw the random ellipses of learned primal-dual (Adler & Öktem 2018).

    Per image, ``Poisson(mean_count)`` ellipses with value
    ``(U - 0.5) * Exp(mean 0.4)``, semi-axes ``0.2 * Exp(1)`` each,
    centres uniform in ``[-1, 1]^2`` and rotation uniform in
    ``[0, 2 pi)``, as in the authors' ``random_phantom``.

    Parameters
    ----------
    generator : torch.Generator or int, optional
        Source of randomness, or a seed; None uses torch's global generator.
    mean_count : float, optional
        Mean number of ellipses per image.
    batch_size : int, optional
        Draw for a batch; None for a single image.

    Returns
    -------
    torch.Tensor
        float64, ``(E, 6)`` or ``(B, E, 6)`` rows for `ellipses_phantom`.
        In a batch, ``E`` is the largest count; images with fewer ellipses
        are padded with rows of value 0, which add nothing.

    Examples
    --------
    >>> params = random_ellipse_parameters(torch.Generator().manual_seed(0), batch_size=3)
    >>> params.shape[0], params.shape[2]
    (3, 6)
    >>> counts = (params[..., 0] != 0).sum(dim=1)
    >>> bool((counts > 20).all() and (counts < 90).all())
    True
    """
    generator = as_generator(generator)
    if not (isinstance(mean_count, numbers.Real) and math.isfinite(mean_count)
            and mean_count >= 0):
        raise ValueError(
            f'`mean_count` must be a non-negative number, got {mean_count!r}')
    batch = _batch_size(batch_size)
    device = 'cpu' if generator is None else generator.device
    options = {'dtype': torch.float64, 'device': device}
    counts = torch.poisson(torch.full((batch,), float(mean_count), **options),
                           generator=generator).long()
    n = int(counts.max())
    value = ((torch.rand((batch, n), generator=generator, **options) - 0.5)
             * torch.empty((batch, n), **options).exponential_(1 / 0.4, generator=generator))
    # An axis of 0 (probability 2^-53) would divide by zero; 1e-9 covers no
    # pixel centre at any practical size.
    axes = 0.2 * torch.empty((batch, n, 2), **options).exponential_(
        1.0, generator=generator).clamp_min(1e-9)
    centres = 2 * torch.rand((batch, n, 2), generator=generator, **options) - 1
    rotation = 2 * math.pi * torch.rand((batch, n), generator=generator, **options)
    present = torch.arange(n, device=device) < counts[:, None]
    params = torch.cat([(value * present)[..., None], axes, centres,
                        rotation[..., None]], dim=-1)
    return params[0, :int(counts[0])] if batch_size is None else params


def random_ellipses(shape, generator=None, mean_count=50, batch_size=None,
                    dtype=torch.float32):
    """Random-ellipse phantoms, the training data of learned primal-dual.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)`` (128 x 128 in the paper).
    generator : torch.Generator or int, optional
        Source of randomness, or a seed; None uses torch's global generator.
    mean_count : float, optional
        Mean number of ellipses per image.
    batch_size : int, optional
        Number of images; None for a single image.
    dtype : torch.dtype, optional
        Floating-point type of the images.

    Returns
    -------
    torch.Tensor
        ``(H, W)``, or ``(B, H, W)`` with ``batch_size``;
        ``ellipses_phantom(shape, random_ellipse_parameters(...))`` for the
        same generator state.

    Examples
    --------
    >>> images = random_ellipses(128, torch.Generator().manual_seed(0), batch_size=5)
    >>> images.shape
    torch.Size([5, 128, 128])
    >>> bool(images.min() < 0 < images.max())  # values of both signs
    True
    """
    params = random_ellipse_parameters(generator, mean_count, batch_size)
    return ellipses_phantom(shape, params, dtype=dtype)


def shepp_logan(shape, modified=True, dtype=torch.float32):
    """ODL's Shepp-Logan phantom on ``[-1, 1]^2`` as a tensor.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``.
    modified : bool, optional
        True for the modified (higher-contrast) version, the validation
        phantom of learned primal-dual.
    dtype : torch.dtype, optional
        Floating-point type of the result.

    Returns
    -------
    torch.Tensor
        ``(H, W)``, equal to ``odl.core.phantom.shepp_logan(space, modified)``
        on ``space = odl.uniform_discr([-1, -1], [1, 1], shape)``.

    Examples
    --------
    >>> phantom = shepp_logan(128)
    >>> phantom.shape, phantom.dtype, phantom.max().item()
    (torch.Size([128, 128]), torch.float32, 1.0)
    """
    shape = _image_shape(shape)
    dtype = _float_dtype(dtype)
    space_dtype = 'float32' if dtype == torch.float32 else 'float64'
    space = odl.uniform_discr([-1, -1], [1, 1], shape, dtype=space_dtype)
    phantom = odl.core.phantom.shepp_logan(space, modified=bool(modified))
    return to_tensor(phantom).to(dtype).clone()
