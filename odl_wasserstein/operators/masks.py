"""Cartesian k-space undersampling masks for accelerated MRI.

All masks use the centred k-space convention of
`odl_wasserstein.fft.fftn_centered` (zero frequency at index ``n // 2``) and
are returned as float32 NumPy arrays of 0s and 1s with exactly the requested
image shape, ready to be passed to `odl_wasserstein.operators.MRIForward`.

- `random_lines_mask`: 1-D random phase-encode lines plus a fully sampled
  autocalibration (ACS) band, the masks of the OT-cycleGAN MRI experiments
  ("Optimal transport, CycleGAN, and penalized LS for unsupervised learning
  in inverse problems", appendix D.1). ``with_replacement=True`` samples
  like the authors' code; `ot_cyclegan_lines_mask` is that code's mask
  exactly.
- `ot_cyclegan_lines_mask`: the mask the OT-cycleGAN authors' code draws
  anew at each training step (okt0711/cycleGAN_AccMRI, ``make_mask``).
- `fastmri_lines_mask`: the mask of fastMRI's ``RandomMaskFunc``.
- `variable_density_lines_mask`: the same budget with lines drawn more
  densely near the centre of k-space.
- `poisson_disc_mask`: 2-D variable-density Poisson-disc sampling with a
  fully sampled calibration square, as used by Lei et al., "Wasserstein
  GANs for MR imaging: from paired to unpaired training" (20 x 20
  calibration region), built on the sampler `poisson_disc_sampling`.

The two published random line masks, side by side, for ``n`` lines at
acceleration ``R`` (``round`` is Python's, halves to even; ``f`` is the
centre fraction):

===============  ===================================  ===================================
function         `ot_cyclegan_lines_mask`             `fastmri_lines_mask`
===============  ===================================  ===================================
random lines     ``int(n / R)`` draws with            each line kept with probability
                 replacement from lines ``1 .. n-1``  ``(n / R - n_low) / (n - n_low)``
lines in all     at most ``int(n / R) + n_acs``       ``n / R`` on average
centre band      ``n_acs = round(f n)`` lines on      ``n_low = round(f n)`` lines
                 top of the draws                     within the budget
default ``f``    0.08 at ``R = 4``, else 0.04         0.08 at ``R = 4``, 0.04 at ``R = 8``
band start       ``round((n - n_acs) / 2)``           ``(n - n_low + 1) // 2``
never sampled    the highest-frequency line           none
===============  ===================================  ===================================

Every generator is seeded (``seed``: int, None or `numpy.random.Generator`).
"""

import numbers

import numpy as np
import torch

from odl_wasserstein.util import check_real, to_tensor

__all__ = (
    'random_lines_mask',
    'ot_cyclegan_lines_mask',
    'fastmri_lines_mask',
    'variable_density_lines_mask',
    'poisson_disc_mask',
    'poisson_disc_sampling',
    'acceleration',
)

# Relative jitter of the Poisson-disc radius (see `poisson_disc_mask`).
_JITTER = 0.1


# --- argument checks ------------------------------------------------------

def _round_half_up(value):
    # Python's round() rounds halves to even, which would make the line
    # budget jump unexpectedly between neighbouring image sizes.
    return int(np.floor(value + 0.5))


def _check_shape(shape):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(
            f'`shape` must be a sequence of positive ints, got {shape!r}'
        ) from None
    if (len(shape) == 0
            or not all(isinstance(n, numbers.Integral) for n in shape)
            or not all(n >= 1 for n in shape)):
        raise ValueError(
            f'`shape` must be a non-empty sequence of positive ints, got {shape!r}'
        )
    return tuple(int(n) for n in shape)


def _check_axis(axis, ndim):
    if (not isinstance(axis, numbers.Integral) or isinstance(axis, bool)
            or not -ndim <= axis < ndim):
        raise ValueError(
            f'`axis` must be an int in [{-ndim}, {ndim - 1}] for a {ndim}-d '
            f'shape, got {axis!r}'
        )
    return int(axis) % ndim


def _check_acceleration(value):
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not np.isfinite(value) or value < 1):
        raise ValueError(
            f'`acceleration` must be a finite number >= 1 (1 = fully '
            f'sampled), got {value!r}'
        )
    return float(value)


def _check_fraction(value):
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not 0 <= value < 1):
        raise ValueError(
            f'`acs_fraction` must be a number in [0, 1), got {value!r}; use '
            'e.g. 0.08 for an ACS band of 8 % of the lines'
        )
    return float(value)


def _line_budget(n, acceleration_, acs_fraction):
    """Numbers of ACS lines and of sampled lines in total, checked."""
    n_acs = _round_half_up(acs_fraction * n)
    n_total = _round_half_up(n / acceleration_)
    if n_total < 1:
        raise ValueError(
            f'`acceleration`={acceleration_} leaves no line to sample out of '
            f'{n}; use an acceleration of at most {n}'
        )
    if n_acs > n_total:
        raise ValueError(
            f'the ACS band of {n_acs} lines (`acs_fraction`={acs_fraction}) is '
            f'larger than the budget of {n_total} lines at `acceleration`='
            f'{acceleration_}; lower `acs_fraction` or `acceleration`'
        )
    return n_acs, n_total


def _centred_band(n, width):
    """Indices of ``width`` consecutive points around the centre ``n // 2``."""
    start = n // 2 - width // 2
    return np.arange(start, start + width)


def _lines_to_mask(lines, shape, axis):
    """Broadcast a 1-D line pattern along all axes except ``axis``."""
    profile = np.zeros(shape[axis], dtype=np.float32)
    profile[lines] = 1
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.ascontiguousarray(np.broadcast_to(profile.reshape(view), shape))


# --- line masks -----------------------------------------------------------

def random_lines_mask(shape, acceleration=4, acs_fraction=0.08, axis=-1,
                      seed=None, with_replacement=False):
    """Random Cartesian line mask with a fully sampled centre band.

    Parameters
    ----------
    shape : sequence of int
        Image (and k-space) shape.
    acceleration : float, optional
        Requested acceleration factor ``R >= 1``.
    acs_fraction : float, optional
        Fraction of lines in the central autocalibration (ACS) band, in
        ``[0, 1)``. The OT-cycleGAN authors use 0.08 at ``R = 4`` and 0.04
        for other accelerations.
    axis : int, optional
        Phase-encode axis, i.e. the axis along which lines are selected; the
        mask is constant along the other axes.
    seed : int, None or `numpy.random.Generator`, optional
        Source of randomness.
    with_replacement : bool, optional
        If False (default), exactly ``round(n / R)`` of the ``n`` lines are
        sampled: the ``round(acs_fraction * n)`` central ACS lines plus
        lines drawn uniformly without replacement from the others, so the
        achieved acceleration is ``R`` up to rounding.
        If True, reproduce the sampling of the OT-cycleGAN authors' code:
        ``round(n / R)`` line indices drawn uniformly *with replacement*
        from all ``n`` lines (``seed``'s ``integers(0, n, round(n / R))``),
        and the ACS band added on top. Repeated draws and draws inside the
        band are lost, so fewer lines are distinct and the ACS band is not
        part of the budget: the effective acceleration is lower than ``R``
        (about 3.5 instead of 4 for 320 lines and an 8 % band).

    Returns
    -------
    mask : numpy.ndarray
        float32 array of 0s and 1s of shape ``shape``, centred k-space
        convention (zero frequency at index ``n // 2``).

    Raises
    ------
    ValueError
        If ``acceleration < 1``, ``acs_fraction`` is outside ``[0, 1)``, the
        ACS band exceeds the budget of ``round(n / R)`` lines (without
        replacement), or ``axis`` does not exist.

    Examples
    --------
    >>> mask = random_lines_mask((8, 32), acceleration=4, seed=0)
    >>> mask.shape, mask.dtype
    ((8, 32), dtype('float32'))
    >>> int(mask[0].sum())  # 32 / 4 lines, the same in every row
    8
    >>> bool((mask == mask[0]).all())
    True
    >>> mask[0, 15:18]  # round(0.08 * 32) = 3 central ACS lines
    array([ 1.,  1.,  1.], dtype=float32)
    >>> acceleration(mask)
    4.0
    """
    shape = _check_shape(shape)
    axis = _check_axis(axis, len(shape))
    acceleration_ = _check_acceleration(acceleration)
    acs_fraction = _check_fraction(acs_fraction)
    rng = np.random.default_rng(seed)
    n = shape[axis]
    if with_replacement:
        n_draws = _round_half_up(n / acceleration_)
        acs = _centred_band(n, _round_half_up(acs_fraction * n))
        lines = np.union1d(acs, rng.integers(0, n, size=n_draws))
    else:
        n_acs, n_total = _line_budget(n, acceleration_, acs_fraction)
        acs = _centred_band(n, n_acs)
        outside = np.setdiff1d(np.arange(n), acs)
        lines = np.concatenate(
            [acs, rng.choice(outside, size=n_total - n_acs, replace=False)])
    return _lines_to_mask(lines, shape, axis)


def _authors_acs_fraction(acceleration_, acs_fraction):
    if acs_fraction is None:
        # The authors' code: 8 % at DSrate == 4, 4 % at any other rate.
        return 0.08 if acceleration_ == 4 else 0.04
    return _check_fraction(acs_fraction)


def ot_cyclegan_lines_mask(shape, acceleration=4, seed=None, axis=-1,
                           acs_fraction=None):
    """Random line mask exactly as the OT-cycleGAN authors' code draws it.

    The authors' code (okt0711/cycleGAN_AccMRI, ``utils.make_mask``) draws a
    new mask at every training step: on a profile of ``n`` lines it sets
    ``int(n / R)`` lines drawn uniformly *with replacement* from
    ``1, ..., n - 1`` (``np.random.randint(1, n)``: line 0 is never drawn)
    and an ACS band of ``n_acs = round(acs_fraction * n)`` lines starting
    at ``round((n - n_acs) / 2)``, then applies `numpy.fft.fftshift` to
    use the profile with its unshifted FFT (zero frequency at index 0).
    The profile is thus built in centred coordinates, and this function
    returns it in the centred convention of this package (zero frequency
    at ``n // 2``), i.e. ``fftshift(fftshift(profile))``, which is the
    profile itself for even ``n``. Line 0 of the profile, never drawn, is
    then the highest frequency ``-n / 2`` (for even ``n``), not the zero
    frequency, which lies in the ACS band.

    Parameters
    ----------
    shape : sequence of int
        Image (and k-space) shape.
    acceleration : float, optional
        Nominal acceleration ``R >= 1`` (the authors' ``DSrate``).
    seed : int, None or `numpy.random.Generator`, optional
        Source of randomness; the draws are
        ``numpy.random.default_rng(seed).integers(1, n, int(n / R))``.
    axis : int, optional
        Phase-encode axis along which lines are selected (the first image
        axis ``nY`` in the authors' layout); the mask is constant along the
        other axes.
    acs_fraction : float, optional
        Fraction of lines in the ACS band, in ``[0, 1)``; default 0.08 at
        ``R = 4`` and 0.04 for any other ``R``, as in the authors' code.

    Returns
    -------
    mask : numpy.ndarray
        float32 array of 0s and 1s of shape ``shape``, centred k-space
        convention.

    Raises
    ------
    ValueError
        If ``acceleration < 1`` or leaves no line to draw, ``acs_fraction``
        is outside ``[0, 1)``, the phase-encode axis has fewer than 2 lines,
        or ``axis`` does not exist.

    See Also
    --------
    random_lines_mask : with ``with_replacement=True``, the same kind of
        sampling, but ``round(n / R)`` draws from all ``n`` lines (line 0
        included) and an ACS band of ``round(acs_fraction * n)`` lines
        (halves rounded up) starting at ``n // 2 - width // 2``; it cannot
        reproduce this mask by a parameter.
    fastmri_lines_mask : fastMRI's random mask.

    Notes
    -----
    Repeated draws and draws inside the band are lost, and the band comes
    on top of the ``int(n / R)`` draws, so the effective acceleration is
    below ``R``: about 3.5 for ``n = 320`` at ``R = 4``. For odd ``n``,
    ``fftshift`` (instead of ``ifftshift``) in the authors' code moves the
    band one line below the centre; this is reproduced.

    Examples
    --------
    >>> mask = ot_cyclegan_lines_mask((8, 320), acceleration=4, seed=0)
    >>> mask.shape, mask.dtype
    ((8, 320), dtype('float32'))
    >>> bool(mask[:, 147:173].all())  # round(0.08 * 320) = 26 ACS lines
    True
    >>> float(mask[0, 0])  # the highest frequency is never drawn
    0.0
    >>> 80 < mask[0].sum() <= 80 + 26  # 320 / 4 draws with repeats, plus the band
    True
    """
    shape = _check_shape(shape)
    axis = _check_axis(axis, len(shape))
    acceleration_ = _check_acceleration(acceleration)
    acs_fraction = _authors_acs_fraction(acceleration_, acs_fraction)
    n = shape[axis]
    n_draws = int(n / acceleration_)
    if n < 2 or n_draws < 1:
        raise ValueError(
            f'`acceleration`={acceleration_} leaves no line to draw out of the '
            f'{n} lines of axis {axis} (the authors draw int(n / R) lines from '
            f'1 .. n - 1); use an acceleration of at most {n} on at least 2 lines')
    rng = np.random.default_rng(seed)
    profile = np.zeros(n, dtype=np.float32)
    profile[rng.integers(1, n, size=n_draws)] = 1
    # Python's round, as in the authors' code (halves to even).
    n_acs = round(n * acs_fraction)
    start = round((n - n_acs) / 2)
    profile[start:start + n_acs] = 1
    # Their fftshift makes the uncentred mask of an unshifted FFT; one more
    # fftshift brings it to the centred convention of this package.
    centred = np.fft.fftshift(np.fft.fftshift(profile))
    return _lines_to_mask(np.flatnonzero(centred), shape, axis)


# fastMRI's pairs of centre fraction and acceleration.
_FASTMRI_CENTER_FRACTIONS = {4.0: 0.08, 8.0: 0.04}


def _fastmri_center_fraction(acceleration_, center_fraction):
    if center_fraction is None:
        if acceleration_ not in _FASTMRI_CENTER_FRACTIONS:
            raise ValueError(
                f'fastMRI has no default `center_fraction` at `acceleration`='
                f'{acceleration_:g} (it uses 0.08 at 4 and 0.04 at 8); pass '
                '`center_fraction`')
        return _FASTMRI_CENTER_FRACTIONS[acceleration_]
    return check_real(center_fraction, 'center_fraction', minimum=0, maximum=1)


def fastmri_lines_mask(shape, acceleration, center_fraction=None, seed=None,
                       axis=-1):
    """Random line mask of fastMRI's ``RandomMaskFunc``.

    The ``n_low = round(center_fraction * n)`` central lines, starting at
    ``(n - n_low + 1) // 2``, are always kept; every line is also kept
    independently with probability

    .. math::
        p = \\frac{n / R - n_{\\mathrm{low}}}{n - n_{\\mathrm{low}}},

    so that ``n / R`` lines are kept on average (``round`` is Python's,
    halves to even, as in fastMRI).

    Parameters
    ----------
    shape : sequence of int
        Image (and k-space) shape.
    acceleration : float
        Acceleration ``R >= 1``.
    center_fraction : float, optional
        Fraction of always-kept central lines, in ``[0, 1]``; default 0.08
        at ``R = 4`` and 0.04 at ``R = 8``, fastMRI's pairs (required for
        other ``R``).
    seed : int, None or `numpy.random.Generator`, optional
        Source of randomness; the lines are kept where
        ``numpy.random.default_rng(seed).uniform(size=n) < p``.
    axis : int, optional
        Phase-encode axis along which lines are selected; the last axis,
        the width ``W`` of fastMRI's k-space ``(H, W)``, by default. The
        mask is constant along the other axes.

    Returns
    -------
    mask : numpy.ndarray
        float32 array of 0s and 1s of shape ``shape``, centred k-space
        convention (fastMRI's own).

    Raises
    ------
    ValueError
        If ``acceleration < 1``, ``center_fraction`` is out of ``[0, 1]``
        or missing for an ``R`` other than 4 and 8, the central lines
        exceed the budget ``n / R``, or ``axis`` does not exist.

    See Also
    --------
    ot_cyclegan_lines_mask : the OT-cycleGAN authors' random mask.

    Examples
    --------
    >>> mask = fastmri_lines_mask((640, 368), acceleration=4, seed=0)
    >>> mask.shape, mask.dtype
    ((640, 368), dtype('float32'))
    >>> bool(mask[:, 170:199].all())  # round(0.08 * 368) = 29 lines from 170
    True
    >>> masks = [fastmri_lines_mask(368, 4, seed=s) for s in range(100)]
    >>> abs(np.mean([m.sum() for m in masks]) / 92 - 1) < 0.02  # 368 / 4 = 92
    True
    """
    shape = _check_shape(shape)
    axis = _check_axis(axis, len(shape))
    acceleration_ = _check_acceleration(acceleration)
    center_fraction = _fastmri_center_fraction(acceleration_, center_fraction)
    n = shape[axis]
    n_low = round(n * center_fraction)
    if n_low > n / acceleration_:
        raise ValueError(
            f'the {n_low} central lines (`center_fraction`={center_fraction}) '
            f'exceed the budget of {n / acceleration_:g} lines at '
            f'`acceleration`={acceleration_:g}; lower one of them')
    rng = np.random.default_rng(seed)
    draws = rng.uniform(size=n)
    probability = (n / acceleration_ - n_low) / (n - n_low) if n_low < n else 1.0
    keep = draws < probability
    pad = (n - n_low + 1) // 2
    keep[pad:pad + n_low] = True
    return _lines_to_mask(np.flatnonzero(keep), shape, axis)



def variable_density_lines_mask(shape, acceleration=4, acs_fraction=0.04,
                                axis=-1, seed=None, power=2.0):
    """Cartesian line mask drawn densely near the centre of k-space.

    Exactly ``round(n / R)`` of the ``n`` lines are sampled: the
    ``round(acs_fraction * n)`` central ACS lines plus lines drawn without
    replacement from the others, line ``k`` with probability proportional
    to the polynomial density

    .. math::
        p(k) \\propto \\left(1 - \\frac{|k - n/2|}{d_{\\max} + 1}\\right)^{q},

    where ``|k - n/2|`` is the distance (in lines) from the zero frequency
    at index ``n // 2``, ``d_max`` its largest value and ``q = power``. The
    density is positive on every line, so any budget can be met.

    Parameters
    ----------
    shape : sequence of int
        Image (and k-space) shape.
    acceleration : float, optional
        Requested acceleration factor ``R >= 1``.
    acs_fraction : float, optional
        Fraction of lines in the central ACS band, in ``[0, 1)``.
    axis : int, optional
        Phase-encode axis; the mask is constant along the other axes.
    seed : int, None or `numpy.random.Generator`, optional
        Source of randomness.
    power : float, optional
        Exponent ``q >= 0`` of the density; 0 gives uniform sampling (as
        `random_lines_mask`), larger values concentrate the lines near the
        centre.

    Returns
    -------
    mask : numpy.ndarray
        float32 array of 0s and 1s of shape ``shape``, centred k-space
        convention.

    Raises
    ------
    ValueError
        If ``acceleration < 1``, ``acs_fraction`` is outside ``[0, 1)``, the
        ACS band exceeds the budget, ``power`` is negative or ``axis`` does
        not exist.

    Examples
    --------
    >>> mask = variable_density_lines_mask((64, 50), acceleration=5, seed=1)
    >>> int(mask[0].sum())  # 50 / 5 lines
    10
    >>> mask[0, 24:26]  # round(0.04 * 50) = 2 ACS lines around index 25
    array([ 1.,  1.], dtype=float32)
    >>> mask = variable_density_lines_mask((50, 64), 4, axis=0, seed=1)
    >>> int(mask[:, 0].sum()), bool((mask == mask[:, :1]).all())  # 12.5 -> 13
    (13, True)
    """
    shape = _check_shape(shape)
    axis = _check_axis(axis, len(shape))
    acceleration_ = _check_acceleration(acceleration)
    acs_fraction = _check_fraction(acs_fraction)
    check_real(power, 'power', minimum=0)
    rng = np.random.default_rng(seed)
    n = shape[axis]
    n_acs, n_total = _line_budget(n, acceleration_, acs_fraction)
    acs = _centred_band(n, n_acs)
    outside = np.setdiff1d(np.arange(n), acs)
    dist = np.abs(np.arange(n) - n // 2)
    density = (1 - dist / (dist.max() + 1)) ** float(power)
    p = density[outside] / density[outside].sum()
    drawn = rng.choice(outside, size=n_total - n_acs, replace=False, p=p)
    return _lines_to_mask(np.concatenate([acs, drawn]), shape, axis)


# --- Poisson disc ---------------------------------------------------------

def poisson_disc_sampling(radius, seed=None, fixed=None):
    """Maximal Poisson-disc sample of a 2-D grid with varying spacing.

    Grid points are visited once in a random order (dart throwing on the
    discrete grid); a point is accepted unless it lies within the exclusion
    disc of an earlier accepted point, and each accepted point ``p``
    excludes all grid points ``q`` with ``|p - q| < radius[p]``. The result
    is maximal (no further point can be added) and any two accepted points
    satisfy ``|p - q| >= min(radius[p], radius[q])``.

    Parameters
    ----------
    radius : array-like of shape ``(H, W)``
        Minimum distance in grid units around each point; values ``<= 1``
        allow direct neighbours, so such regions are fully sampled.
    seed : int, None or `numpy.random.Generator`, optional
        Source of randomness (the visiting order).
    fixed : array-like of bool of shape ``(H, W)``, optional
        Points that are always sampled (e.g. a calibration region). They
        are not visited and exclude nothing.

    Returns
    -------
    mask : numpy.ndarray
        Boolean array of shape ``(H, W)``.

    Examples
    --------
    With a constant radius of 2.5, no two samples are closer than 2.5:

    >>> mask = poisson_disc_sampling(np.full((32, 32), 2.5), seed=0)
    >>> pts = np.argwhere(mask)
    >>> d2 = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    >>> bool(d2[~np.eye(len(pts), dtype=bool)].min() >= 2.5 ** 2)
    True
    """
    radius = np.asarray(radius, dtype=float)
    if radius.ndim != 2:
        raise ValueError(
            f'`radius` must be a 2-D array, got shape {radius.shape}')
    if not np.isfinite(radius).all() or (radius < 0).any():
        raise ValueError('`radius` must be finite and non-negative')
    fixed = (np.zeros(radius.shape, dtype=bool) if fixed is None
             else np.asarray(fixed, dtype=bool))
    if fixed.shape != radius.shape:
        raise ValueError(
            f'`fixed` has shape {fixed.shape}, expected {radius.shape}')
    rng = np.random.default_rng(seed)
    height, width = radius.shape

    # Integer squared distances d2 satisfy d2 < r**2 exactly when
    # d2 < ceil(r**2), so the exclusion footprint depends only on that
    # integer key and can be tabulated once per key.
    keys = np.ceil(radius ** 2).astype(np.int64)
    pad = int(np.ceil(np.sqrt(keys.max()))) if keys.size else 0
    padded_width = width + 2 * pad
    footprints = {}
    for key in np.unique(keys):
        reach = int(np.ceil(np.sqrt(key)))
        dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
        inside = dy ** 2 + dx ** 2 < key
        footprints[int(key)] = (dy[inside] * padded_width + dx[inside]).astype(np.intp)

    # A padded flat grid lets footprints be applied without clipping; the
    # bytearray gives fast scalar reads in the sequential loop while NumPy
    # writes the footprints into the same memory.
    buffer = bytearray((height + 2 * pad) * padded_width)
    blocked = np.frombuffer(buffer, dtype=np.uint8)
    order = rng.permutation(np.flatnonzero(~fixed.ravel()))
    rows, cols = np.divmod(order, width)
    padded_order = ((rows + pad) * padded_width + cols + pad).tolist()
    order_keys = keys.ravel()[order].tolist()
    accepted = []
    for position, (index, key) in enumerate(zip(padded_order, order_keys)):
        if buffer[index]:
            continue
        accepted.append(position)
        blocked[index + footprints[key]] = 1
    mask = fixed.copy()
    mask.ravel()[order[accepted]] = True
    return mask


def _sample(radius_profile, scale, fixed, seed):
    mask = poisson_disc_sampling(scale * radius_profile, seed=seed, fixed=fixed)
    return mask, int(mask.sum())


def poisson_disc_mask(shape, acceleration, calibration=(20, 20), seed=None,
                      variation=2.0, tol=0.05, max_iter=40):
    """Variable-density Poisson-disc mask with a calibration square.

    The minimum distance between samples grows linearly with the distance
    from the centre of k-space,

    .. math::
        r(k) = s \\, (1 + v \\, \\rho(k)), \\qquad
        \\rho(k) = \\sqrt{\\Big(\\frac{k_0 - n_0/2}{n_0/2}\\Big)^2
                         + \\Big(\\frac{k_1 - n_1/2}{n_1/2}\\Big)^2},

    times a random factor uniform in ``[0.9, 1.1]`` drawn once per point,
    so the sampling density falls off roughly as ``(1 + v rho)**-2``
    (``rho`` is 1 at the middle of each edge). The jitter lets the number
    of samples vary continuously with ``s`` despite the integer grid, on
    which a smooth radius changes the exclusion disc only in discrete
    steps. Points are placed by `poisson_disc_sampling` (dart throwing in
    a seeded random order) around a fully sampled ``calibration``
    rectangle centred at ``n // 2``. The scale ``s`` is tuned until the
    achieved acceleration is within ``tol`` of the request, by updates
    that assume the number of samples outside the calibration region
    scales like ``1 / s**2``, safeguarded by geometric bisection; the
    random order and jitter stay fixed during the search.

    Parameters
    ----------
    shape : sequence of two ints
        Image (and k-space) shape ``(n_0, n_1)``.
    acceleration : float
        Requested acceleration factor ``R >= 1``.
    calibration : int or pair of int, optional
        Size of the fully sampled central calibration region; ``0`` for
        none.
    seed : int, None or `numpy.random.Generator`, optional
        Source of randomness.
    variation : float, optional
        Growth ``v >= 0`` of the spacing towards the edge: the spacing at
        ``rho = 1`` is ``1 + v`` times that at the centre. 0 gives uniform
        density.
    tol : float, optional
        Relative tolerance on the achieved acceleration.
    max_iter : int, optional
        Maximum number of sampling rounds in the search for ``s``.

    Returns
    -------
    mask : numpy.ndarray
        float32 array of 0s and 1s of shape ``shape``.

    Raises
    ------
    ValueError
        If ``shape`` is not 2-D, ``acceleration < 1``, the calibration
        region is larger than the image or than the sampling budget
        ``n_0 n_1 / R``, or ``variation``/``tol`` are out of range.
    RuntimeError
        If the tolerance cannot be met within ``max_iter`` rounds.

    Examples
    --------
    >>> mask = poisson_disc_mask((64, 48), acceleration=4, calibration=8,
    ...                          seed=0)
    >>> mask.shape, mask.dtype
    ((64, 48), dtype('float32'))
    >>> abs(acceleration(mask) / 4 - 1) <= 0.05
    True
    >>> bool(mask[28:36, 20:28].all())  # calibration square around (32, 24)
    True
    """
    shape = _check_shape(shape)
    if len(shape) != 2:
        raise ValueError(
            f'`shape` must be 2-D for Poisson-disc sampling, got {shape}; use '
            'a line mask for other dimensions'
        )
    acceleration_ = _check_acceleration(acceleration)
    if isinstance(calibration, numbers.Integral):
        calibration = (calibration, calibration)
    calibration = tuple(calibration)
    if (len(calibration) != 2
            or not all(isinstance(c, numbers.Integral) and c >= 0
                       for c in calibration)):
        raise ValueError(
            f'`calibration` must be a non-negative int or a pair of them, got '
            f'{calibration!r}'
        )
    if any(c > n for c, n in zip(calibration, shape)):
        raise ValueError(
            f'`calibration` {calibration} is larger than the image {shape}; '
            'use a smaller calibration region'
        )
    check_real(variation, 'variation', minimum=0)
    if not (isinstance(tol, numbers.Real) and 0 < tol < 1):
        raise ValueError(f'`tol` must be in (0, 1), got {tol!r}')

    size = shape[0] * shape[1]
    target = size / acceleration_
    fixed = np.zeros(shape, dtype=bool)
    fixed[np.ix_(_centred_band(shape[0], calibration[0]),
                 _centred_band(shape[1], calibration[1]))] = True
    n_fixed = int(fixed.sum())
    if n_fixed > target * (1 + tol):
        raise ValueError(
            f'the calibration region of {n_fixed} points is larger than the '
            f'budget of {target:.0f} points at `acceleration`={acceleration_}; '
            'lower `calibration` or `acceleration`'
        )
    if acceleration_ <= 1 + tol:
        return np.ones(shape, dtype=np.float32)

    # One generator state for the whole search: the visiting order and the
    # jitter must be the same at every scale for the count to vary smoothly
    # with it.
    rng = np.random.default_rng(seed)
    order_seed = rng.integers(2 ** 63)
    rho = np.sqrt(sum(
        ((np.arange(n) - n // 2) / (n / 2)).reshape(view) ** 2
        for n, view in zip(shape, ((-1, 1), (1, -1)))))
    # On the integer grid the exclusion disc only changes where r**2 crosses
    # an integer, so a smooth (or constant) radius gives a step-wise count;
    # the jitter mixes neighbouring discs and makes any budget reachable.
    profile = (1 + variation * rho) * rng.uniform(1 - _JITTER, 1 + _JITTER, shape)

    # Saturated random packings of discs of diameter r hold about 0.7 / r**2
    # points per unit area; this gives the starting scale.
    free = target - n_fixed
    scale = np.sqrt(0.7 * np.sum(profile[~fixed] ** -2.0) / max(free, 1.0))
    lo = hi = None  # scales known to give too many / too few points
    best = None
    for _ in range(max_iter):
        mask, count = _sample(profile, scale, fixed, order_seed)
        error = abs(size / count / acceleration_ - 1)
        if best is None or error < best[0]:
            best = (error, mask)
        if error <= tol:
            break
        if count > target:
            lo = scale if lo is None else max(lo, scale)
        else:
            hi = scale if hi is None else min(hi, scale)
        # The count outside the calibration scales like 1 / s**2.
        step = scale * np.sqrt(max(count - n_fixed, 1) / max(free, 1.0))
        if lo is not None and hi is not None and not lo < step < hi:
            step = np.sqrt(lo * hi)
        scale = step
    if best[0] > tol:
        raise RuntimeError(
            f'could not reach `acceleration`={acceleration_} within `tol`='
            f'{tol} in {max_iter} rounds (best relative error {best[0]:.3f}); '
            'increase `tol` or `max_iter`'
        )
    return best[1].astype(np.float32)


def acceleration(mask):
    """Achieved acceleration factor: number of points / sampled points.

    Parameters
    ----------
    mask : array-like
        Sampling mask (NumPy array, torch tensor or ODL element); nonzero
        entries count as sampled.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the mask samples nothing.

    Examples
    --------
    >>> acceleration(np.array([[1, 0, 0, 0], [1, 0, 1, 0]]))
    2.6666666666666665
    """
    data = to_tensor(mask)
    sampled = int(torch.count_nonzero(data))
    if sampled == 0:
        raise ValueError('`mask` samples no point; its acceleration is infinite')
    return data.numel() / sampled
