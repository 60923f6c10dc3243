"""Point-spread function (PSF) models for the blur operator `Convolution`.

Two models, sampled on a pixel grid with the PSF centre at index ``n // 2``
on every axis (the kernel convention of `Convolution`) and normalised to
sum 1 so that blurring preserves total intensity:

- `gaussian_psf`: separable Gaussian, any number of axes;
- `born_wolf_psf`: the Born & Wolf scalar diffraction model of a widefield
  fluorescence microscope with defocus, in focus (2D) or through focus (3D),
  as used to simulate the deconvolution-microscopy data of "Optimal
  Transport, CycleGAN, and Penalized LS for Unsupervised Learning in
  Inverse Problems" (the OT-cycleGAN paper of this package, ICLR 2020
  submission), appendix D.2.2, eq. (28), which follows Kirshner et al.,
  "3-D PSF fitting for fluorescence microscopy", J. Microsc. 249 (2013).

Both return NumPy ``float64`` arrays; hand them to `Convolution` (which
casts to the space's precision) or to ``torch.as_tensor``.
"""

import functools
import numbers

import numpy as np
from scipy.special import j0, roots_legendre

__all__ = ('gaussian_psf', 'born_wolf_psf')

# Radii x quadrature nodes evaluated at once; bounds the memory of
# `born_wolf_psf` (16 MB of float64) for large in-plane shapes.
_BLOCK_ELEMENTS = 2 ** 21


def _shape(shape, ndims=None):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(
            f'`shape` must be an int or a sequence of ints, got {shape!r}'
        ) from None
    if not shape or not all(isinstance(n, numbers.Integral) and not
                            isinstance(n, bool) for n in shape):
        raise TypeError(
            f'`shape` must be a non-empty sequence of ints, got {shape!r}'
        )
    if any(n < 1 for n in shape):
        raise ValueError(f'`shape` must have positive entries, got {shape!r}')
    if ndims is not None and len(shape) not in ndims:
        raise ValueError(
            f'`shape` must have {" or ".join(map(str, ndims))} axes, got {shape!r}'
        )
    return tuple(int(n) for n in shape)


def _per_axis(value, ndim, name, allow_zero=False):
    """Broadcast a scalar or per-axis length to a float array of ``ndim``."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f'`{name}` must be a number or a sequence of {ndim} numbers, '
            f'got {value!r}'
        ) from None
    if array.ndim > 1 or (array.ndim == 1 and array.size != ndim):
        raise ValueError(
            f'`{name}` must be a number or a sequence of {ndim} numbers (one '
            f'per axis), got {value!r}'
        )
    array = np.broadcast_to(array, (ndim,)).copy()
    if not np.all(np.isfinite(array)):
        raise ValueError(f'`{name}` must be finite, got {value!r}')
    if np.any(array < 0) or (not allow_zero and np.any(array == 0)):
        sign = 'non-negative' if allow_zero else 'positive'
        raise ValueError(f'`{name}` must be {sign}, got {value!r}')
    return array


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'`{name}` must be a real number, got {value!r}')
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f'`{name}` must be positive and finite, got {value!r}')
    return value


def _centred_coords(n, step):
    return (np.arange(n) - n // 2) * step


def gaussian_psf(shape, sigma, pixel_size=1.0):
    r"""Sampled Gaussian PSF, normalised to sum 1, centre at ``n // 2``.

    .. math::
        h[i] = C \exp\Bigl(-\sum_a \frac{x_a(i)^2}{2 \sigma_a^2}\Bigr),
        \qquad x_a(i) = (i_a - \lfloor n_a / 2 \rfloor)\, \Delta_a,

    with :math:`C` such that the samples sum to 1.

    Parameters
    ----------
    shape : int or sequence of int
        Number of samples per axis; odd sizes keep the PSF symmetric.
    sigma : float or sequence of float
        Standard deviation, one for all axes or one per axis, in the units
        of ``pixel_size``. A zero on an axis means no blur along it (a
        discrete delta).
    pixel_size : float or sequence of float, optional
        Sample spacing, one for all axes or one per axis.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``shape``.

    Raises
    ------
    ValueError
        If ``sigma`` is negative or ``pixel_size`` not positive, or either
        has the wrong number of entries.

    Examples
    --------
    >>> h = gaussian_psf((5, 5), sigma=1.0)
    >>> h.shape, round(float(h.sum()), 12)
    ((5, 5), 1.0)
    >>> [int(i) for i in np.unravel_index(h.argmax(), h.shape)]
    [2, 2]

    Blur along the last axis only, with physical units:

    >>> h = gaussian_psf((3, 7), sigma=(0.0, 200.0), pixel_size=100.0)
    >>> h[[0, 2]].max()
    0.0
    """
    shape = _shape(shape)
    ndim = len(shape)
    sigma = _per_axis(sigma, ndim, 'sigma', allow_zero=True)
    pixel_size = _per_axis(pixel_size, ndim, 'pixel_size')
    psf = np.ones(())
    # Separable: a product of 1D profiles each summing to 1 sums to 1.
    for n, s, d in zip(shape, sigma, pixel_size):
        x = _centred_coords(n, d)
        if s == 0:
            profile = (x == 0).astype(float)
        else:
            profile = np.exp(-0.5 * (x / s) ** 2)
        psf = np.multiply.outer(psf, profile / profile.sum())
    return psf


@functools.lru_cache(maxsize=16)
def _gauss_legendre_unit(num_nodes):
    """Gauss-Legendre nodes and weights on [0, 1] (read-only arrays)."""
    nodes, weights = roots_legendre(num_nodes)
    nodes, weights = 0.5 * (nodes + 1.0), 0.5 * weights
    nodes.flags.writeable = False
    weights.flags.writeable = False
    return nodes, weights


def _born_wolf_amplitude(radii, defocus, k, numerical_aperture,
                         refractive_index):
    """Defocus integral of eq. (28) for all radii (R,) and defocus values (Z,).

    Returns the complex amplitude of shape ``(R, Z)``.
    """
    bessel_scale = k * numerical_aperture
    phase_scale = 0.5 * k * numerical_aperture ** 2 / refractive_index
    # The integrand oscillates at most with angular frequency
    # k NA r + 2 * phase_scale |z| in rho on [0, 1]; Gauss-Legendre is
    # exponentially accurate once it has more than about one node per
    # oscillation half-period (omega / 2 nodes; omega / 3 already gives
    # 1e-13 in tests), plus a floor for the smooth, nearly in-focus case.
    omega = bessel_scale * radii.max() + 2.0 * phase_scale * np.abs(defocus).max()
    num_nodes = int(np.ceil(omega / 2.0)) + 32
    rho, weights = _gauss_legendre_unit(num_nodes)
    # exp(-i phase_scale z rho^2), one column per defocus value.
    pupil = np.exp(-1j * phase_scale * np.multiply.outer(rho ** 2, defocus))
    amplitude = np.empty((radii.size, defocus.size), dtype=complex)
    block = max(1, _BLOCK_ELEMENTS // num_nodes)
    for start in range(0, radii.size, block):
        r = radii[start:start + block]
        bessel = j0(bessel_scale * np.multiply.outer(r, rho)) * (weights * rho)
        amplitude[start:start + block] = bessel @ pupil
    return amplitude


def born_wolf_psf(shape, wavelength, numerical_aperture=1.4,
                  refractive_index=1.5, pixel_size=None,
                  axial_pixel_size=None):
    r"""Born & Wolf PSF of a widefield microscope, normalised to sum 1.

    The scalar diffraction model of the OT-cycleGAN paper, eq. (28)
    (Kirshner et al. 2013):

    .. math::
        h(x, y, z) = \left| C \int_0^1
            J_0\!\left(k\, \mathrm{NA} \sqrt{x^2 + y^2}\, \rho\right)
            \exp\!\left(-\frac{i}{2}\, k \rho^2 z\,
                        \frac{\mathrm{NA}^2}{n_i}\right)
            \rho \,\mathrm{d}\rho \right|^2,
        \qquad k = \frac{2 \pi}{\lambda},

    with wavelength :math:`\lambda`, numerical aperture :math:`\mathrm{NA}`
    and immersion refractive index :math:`n_i`. In focus (:math:`z = 0`) it
    is the Airy pattern :math:`(2 J_1(v) / v)^2`,
    :math:`v = 2 \pi\, \mathrm{NA}\, r / \lambda`, with its first dark ring
    at :math:`r \approx 0.61 \lambda / \mathrm{NA}`. The integral is
    evaluated by Gauss-Legendre quadrature with enough nodes for the
    largest radius and defocus of the grid (accurate to about 1e-12
    relative to the peak), once per distinct radius, and the PSF is point
    sampled at the pixel centres, then scaled so that the samples sum to 1.
    All lengths (wavelength, pixel sizes) are in the same unit, e.g.
    nanometres; only their ratios matter.

    Parameters
    ----------
    shape : sequence of int
        ``(ny, nx)`` for the in-focus plane or ``(nz, ny, nx)`` for a
        through-focus stack, axial axis first. The centre (focus, optical
        axis) is at index ``n // 2``; odd sizes keep the PSF symmetric.
    wavelength : float
        Emission wavelength in vacuum.
    numerical_aperture : float, optional
        Numerical aperture ``NA``, ``0 < NA <= refractive_index``.
    refractive_index : float, optional
        Refractive index ``n_i`` of the immersion medium.
    pixel_size : float or (float, float), optional
        Lateral sample spacing, one value or ``(dy, dx)``. Default:
        ``wavelength / (4 * numerical_aperture)``, Nyquist sampling of the
        incoherent cut-off frequency ``2 NA / wavelength``.
    axial_pixel_size : float, optional
        Axial sample spacing (3D only). Default: the largest lateral one.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``shape``.

    Raises
    ------
    ValueError
        If a length or the refractive index is not positive,
        ``numerical_aperture`` is outside ``(0, refractive_index]``, the
        shape has neither 2 nor 3 axes, or ``axial_pixel_size`` is given
        for a 2D shape.

    Notes
    -----
    The defocus phase :math:`k z \mathrm{NA}^2 \rho^2 / (2 n_i)` is the
    paraxial form of :math:`k n_i z (1 - \cos\theta)` with
    :math:`\sin\theta = \mathrm{NA}\, \rho / n_i`, as in Kirshner et
    al.'s PSF Generator; on the optical axis it gives
    :math:`h(0, 0, z) \propto \mathrm{sinc}^2` with zeros at
    :math:`z = 2 n_i \lambda / \mathrm{NA}^2`. The model has no spherical
    aberration, so the PSF is symmetric about the focal plane.

    Examples
    --------
    The 3D PSF of the paper's simulation (NA 1.4, oil immersion, 500 nm):

    >>> h = born_wolf_psf((33, 33, 33), wavelength=500.0, pixel_size=100.0,
    ...                   axial_pixel_size=200.0)
    >>> h.shape, round(float(h.sum()), 12)
    ((33, 33, 33), 1.0)
    >>> [int(i) for i in np.unravel_index(h.argmax(), h.shape)]
    [16, 16, 16]
    >>> bool(np.allclose(h, h[::-1]))  # symmetric about the focal plane
    True

    Use it as the kernel of a blur operator:

    >>> from odl_wasserstein.operators.blur import Convolution
    >>> space = odl.uniform_discr([0, 0], [6400, 6400], (64, 64))
    >>> blur = Convolution(space, born_wolf_psf((15, 15), 500.0, pixel_size=100.0))
    """
    shape = _shape(shape, ndims=(2, 3))
    wavelength = _positive(wavelength, 'wavelength')
    refractive_index = _positive(refractive_index, 'refractive_index')
    numerical_aperture = _positive(numerical_aperture, 'numerical_aperture')
    if numerical_aperture > refractive_index:
        raise ValueError(
            f'`numerical_aperture` ({numerical_aperture}) cannot exceed '
            f'`refractive_index` ({refractive_index}): NA = n_i sin(alpha)'
        )
    if pixel_size is None:
        pixel_size = wavelength / (4.0 * numerical_aperture)
    dy, dx = _per_axis(pixel_size, 2, 'pixel_size')
    if len(shape) == 2:
        if axial_pixel_size is not None:
            raise ValueError(
                '`axial_pixel_size` applies to 3D shapes (nz, ny, nx) only; '
                'drop it or give a 3D shape'
            )
        defocus = np.zeros(1)
    else:
        dz = max(dy, dx) if axial_pixel_size is None else _positive(
            axial_pixel_size, 'axial_pixel_size')
        defocus = _centred_coords(shape[0], dz)
    ny, nx = shape[-2:]

    y = _centred_coords(ny, dy)
    x = _centred_coords(nx, dx)
    radius_sq = np.add.outer(y ** 2, x ** 2)
    # The PSF is radially symmetric: one integral per distinct radius.
    unique_sq, inverse = np.unique(radius_sq, return_inverse=True)
    amplitude = _born_wolf_amplitude(
        np.sqrt(unique_sq), defocus, 2.0 * np.pi / wavelength,
        numerical_aperture, refractive_index)
    intensity = amplitude.real ** 2 + amplitude.imag ** 2
    psf = intensity[inverse.reshape(-1)].T.reshape((defocus.size, ny, nx))
    if len(shape) == 2:
        psf = psf[0]
    return psf / psf.sum()
