"""Tests of the PSF models in `odl_wasserstein.operators.psf`.

The Born & Wolf PSF is checked against closed forms: the Airy pattern in
focus, the sinc^2 axial profile on the optical axis, and adaptive
quadrature (`scipy.integrate.quad`) of the defocus integral off axis.
"""

import time

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import j0, j1

from odl_wasserstein.operators.psf import born_wolf_psf, gaussian_psf

LAMBDA, NA, N_I = 500.0, 1.4, 1.5  # the paper's simulation (nm)


def centre(shape):
    return tuple(n // 2 for n in shape)


def argmax(array):
    return tuple(int(i) for i in np.unravel_index(array.argmax(), array.shape))


def coords(n, step):
    return (np.arange(n) - n // 2) * step


def airy(r, wavelength=LAMBDA, na=NA):
    v = 2 * np.pi * na * np.asarray(r, dtype=float) / wavelength
    safe = np.where(v == 0, 1.0, v)
    return np.where(v == 0, 1.0, (2 * j1(safe) / safe) ** 2)


def in_plane_rms_radius(plane, dy, dx):
    ny, nx = plane.shape
    r2 = np.add.outer(coords(ny, dy) ** 2, coords(nx, dx) ** 2)
    return np.sqrt((plane * r2).sum() / plane.sum())


# --- Gaussian ------------------------------------------------------------------

@pytest.mark.parametrize('shape', [(9,), (7, 8), (5, 6, 7), 11])
def test_gaussian_sums_to_one_and_peaks_at_centre(shape):
    h = gaussian_psf(shape, sigma=1.3)
    shape = (shape,) if isinstance(shape, int) else shape
    assert h.shape == shape and h.dtype == np.float64
    assert abs(h.sum() - 1) < 1e-14
    assert argmax(h) == centre(shape)
    assert np.all(h > 0)


def test_gaussian_second_moment_matches_sigma():
    sigma, pixel_size = (300.0, 500.0), (100.0, 50.0)
    # +-10 sigma: truncation changes the moments by ~exp(-50).
    h = gaussian_psf((61, 201), sigma, pixel_size)
    y, x = coords(61, pixel_size[0]), coords(201, pixel_size[1])
    # Marginals: mean zero, variance sigma^2 (sampling error ~exp(-2 pi^2 s^2)).
    py, px = h.sum(axis=1), h.sum(axis=0)
    assert abs((py * y).sum()) < 1e-9 and abs((px * x).sum()) < 1e-9
    assert abs((py * y ** 2).sum() / sigma[0] ** 2 - 1) < 1e-10
    assert abs((px * x ** 2).sum() / sigma[1] ** 2 - 1) < 1e-10


def test_gaussian_3d_isotropic_matches_analytic_values():
    h = gaussian_psf((9, 9, 9), sigma=2.0)
    z, y, x = np.meshgrid(*(coords(9, 1.0),) * 3, indexing='ij')
    expected = np.exp(-(x ** 2 + y ** 2 + z ** 2) / 8.0)
    np.testing.assert_allclose(h, expected / expected.sum(), rtol=1e-13)


def test_gaussian_zero_sigma_is_delta_along_axis():
    h = gaussian_psf((5, 9), sigma=(0.0, 2.0))
    assert np.all(h[[0, 1, 3, 4]] == 0)
    np.testing.assert_allclose(h[2], gaussian_psf(9, 2.0), rtol=1e-14)


def test_gaussian_wider_sigma_is_wider():
    narrow, wide = gaussian_psf(31, 2.0), gaussian_psf(31, 3.0)
    x2 = coords(31, 1.0) ** 2
    assert (wide * x2).sum() > (narrow * x2).sum() * 2.0
    assert wide[15] < narrow[15]


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(shape=(5, 5), sigma=-1.0), ValueError, '`sigma` must be non-negative'),
    (dict(shape=(5, 5), sigma=np.nan), ValueError, '`sigma` must be finite'),
    (dict(shape=(5, 5), sigma=(1.0, 2.0, 3.0)), ValueError, 'one per axis'),
    (dict(shape=(5, 5), sigma=1.0, pixel_size=0.0), ValueError,
     '`pixel_size` must be positive'),
    (dict(shape=(5, 5), sigma='wide'), TypeError, '`sigma` must be a number'),
    (dict(shape=(5, 0), sigma=1.0), ValueError, '`shape` must have positive'),
    (dict(shape=(5.0, 5), sigma=1.0), TypeError, '`shape` must be'),
    (dict(shape=(), sigma=1.0), TypeError, '`shape` must be'),
])
def test_gaussian_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        gaussian_psf(**kwargs)


# --- Born & Wolf -------------------------------------------------------------

@pytest.mark.parametrize('shape', [(15, 15), (16, 12), (9, 15, 15), (8, 10, 11)])
def test_born_wolf_sums_to_one_and_peaks_at_centre(shape):
    h = born_wolf_psf(shape, LAMBDA, NA, N_I, pixel_size=100.0,
                      axial_pixel_size=200.0 if len(shape) == 3 else None)
    assert h.shape == shape and h.dtype == np.float64
    assert abs(h.sum() - 1) < 1e-12
    assert argmax(h) == centre(shape)
    assert np.all(h >= 0)


def test_born_wolf_in_focus_is_airy_pattern():
    dx = 7.0  # fine grid: many samples across the Airy disk and rings
    h = born_wolf_psf((151, 151), LAMBDA, NA, N_I, pixel_size=dx)
    r = np.sqrt(np.add.outer(coords(151, dx) ** 2, coords(151, dx) ** 2))
    expected = airy(r)
    np.testing.assert_allclose(h / h.max(), expected / expected.max(),
                               rtol=0, atol=1e-6)


def test_born_wolf_3d_focal_plane_is_airy_pattern():
    h = born_wolf_psf((9, 41, 41), LAMBDA, NA, N_I, pixel_size=20.0,
                      axial_pixel_size=150.0)
    r = np.sqrt(np.add.outer(coords(41, 20.0) ** 2, coords(41, 20.0) ** 2))
    focal = h[4] / h[4].max()
    np.testing.assert_allclose(focal, airy(r), rtol=0, atol=1e-6)


def test_born_wolf_first_dark_ring():
    dx = 0.5
    h = born_wolf_psf((1, 1201), LAMBDA, NA, N_I, pixel_size=dx)[0]
    profile = h[600:]  # r = 0, dx, ..., 300 nm
    assert profile.size * dx > 1.3 * 0.61 * LAMBDA / NA
    # First local minimum of the radial profile.
    first_min = int(np.argmax((profile[1:-1] < profile[:-2])
                              & (profile[1:-1] < profile[2:]))) + 1
    ring = 0.61 * LAMBDA / NA
    assert abs(first_min * dx - ring) <= dx
    assert profile[first_min] < 1e-6 * profile[0]


def test_born_wolf_axial_profile_is_sinc_squared():
    # On axis, int_0^1 exp(-i phi rho^2) rho d rho has modulus
    # |sin(phi / 2) / phi|, phi = k z NA^2 / (2 n_i): zeros at z = 2 n_i lambda / NA^2.
    dz = 20.0
    h = born_wolf_psf((201, 1, 1), LAMBDA, NA, N_I, pixel_size=100.0,
                      axial_pixel_size=dz)[:, 0, 0]
    z = coords(201, dz)
    phi = np.pi / LAMBDA * z * NA ** 2 / N_I
    expected = np.sinc(phi / (2 * np.pi)) ** 2  # np.sinc(t) = sin(pi t) / (pi t)
    np.testing.assert_allclose(h / h.max(), expected, rtol=0, atol=1e-10)
    first_zero = 2 * N_I * LAMBDA / NA ** 2
    assert h[100 + int(round(first_zero / dz))] < 1e-3 * h.max()


def test_born_wolf_matches_adaptive_quadrature_off_axis():
    dx, dz = 60.0, 250.0
    h = born_wolf_psf((7, 21, 21), LAMBDA, NA, N_I, pixel_size=dx,
                      axial_pixel_size=dz)
    k = 2 * np.pi / LAMBDA

    def intensity(r, z):
        phase = 0.5 * k * z * NA ** 2 / N_I

        def part(f):
            return quad(lambda p: j0(k * NA * r * p) * f(phase * p ** 2) * p,
                        0, 1, limit=400, epsabs=1e-14, epsrel=1e-13)[0]

        return part(np.cos) ** 2 + part(np.sin) ** 2

    peak = intensity(0.0, 0.0)  # = 1/4
    for iz, iy, ix in [(3, 10, 10), (5, 13, 10), (0, 4, 17), (6, 10, 2), (1, 18, 15)]:
        z, y, x = (iz - 3) * dz, (iy - 10) * dx, (ix - 10) * dx
        expected = intensity(np.hypot(y, x), z) / peak
        assert abs(h[iz, iy, ix] / h[3, 10, 10] - expected) < 1e-9


def test_born_wolf_symmetric_in_z_and_spreading():
    dx = 50.0
    h = born_wolf_psf((17, 129, 129), LAMBDA, NA, N_I, pixel_size=dx,
                      axial_pixel_size=100.0)
    np.testing.assert_allclose(h, h[::-1], rtol=1e-10, atol=0)
    # Radial symmetry in the plane.
    np.testing.assert_allclose(h, np.swapaxes(h, 1, 2), rtol=1e-10, atol=0)
    radii = [in_plane_rms_radius(h[8 + dz], dx, dx) for dz in range(9)]
    assert np.all(np.diff(radii) > 0)
    assert radii[-1] > 1.5 * radii[0]
    # The focal plane holds the most energy.
    plane_energy = h.sum(axis=(1, 2))
    assert argmax(plane_energy) == (8,)


def test_born_wolf_wider_for_longer_wavelength():
    dx = 25.0
    radii = [in_plane_rms_radius(born_wolf_psf((101, 101), lam, pixel_size=dx), dx, dx)
             for lam in (400.0, 500.0, 600.0)]
    assert radii[0] < radii[1] < radii[2]
    peaks = [born_wolf_psf((101, 101), lam, pixel_size=dx).max()
             for lam in (400.0, 500.0, 600.0)]
    assert peaks[0] > peaks[1] > peaks[2]


def test_born_wolf_scales_with_lengths():
    # Only ratios of lengths matter: scaling all of them leaves the samples.
    a = born_wolf_psf((9, 15, 15), 500.0, pixel_size=(80.0, 100.0),
                      axial_pixel_size=200.0)
    b = born_wolf_psf((9, 15, 15), 0.6, pixel_size=(0.096, 0.12),
                      axial_pixel_size=0.24)
    np.testing.assert_allclose(a, b, rtol=1e-11)


def test_born_wolf_anisotropic_pixels():
    h = born_wolf_psf((21, 41), LAMBDA, NA, N_I, pixel_size=(40.0, 20.0))
    y, x = coords(21, 40.0), coords(41, 20.0)
    r = np.sqrt(np.add.outer(y ** 2, x ** 2))
    np.testing.assert_allclose(h / h.max(), airy(r), rtol=0, atol=1e-6)


def test_born_wolf_defaults():
    shape = (5, 11, 11)
    nyquist = LAMBDA / (4 * NA)
    h = born_wolf_psf(shape, LAMBDA)
    np.testing.assert_array_equal(
        h, born_wolf_psf(shape, LAMBDA, 1.4, 1.5, pixel_size=nyquist,
                         axial_pixel_size=nyquist))
    # NA and n_i enter the defocus term as NA^2 / n_i: changing n_i alone
    # changes the 3D PSF but not the focal plane.
    other = born_wolf_psf(shape, LAMBDA, refractive_index=1.52)
    assert np.abs(other - h).max() > 1e-4 * h.max()
    np.testing.assert_allclose(other[2] / other[2].max(), h[2] / h[2].max(),
                               rtol=1e-12)


def test_born_wolf_is_fast():
    start = time.perf_counter()
    born_wolf_psf((64, 64, 64), LAMBDA, NA, N_I, pixel_size=100.0,
                  axial_pixel_size=100.0)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(wavelength=0.0), ValueError, '`wavelength` must be positive'),
    (dict(wavelength=-500.0), ValueError, '`wavelength` must be positive'),
    (dict(wavelength=np.inf), ValueError, '`wavelength` must be positive'),
    (dict(wavelength='500nm'), TypeError, '`wavelength` must be a real number'),
    (dict(numerical_aperture=1.6), ValueError, 'cannot exceed `refractive_index`'),
    (dict(numerical_aperture=0.0), ValueError, '`numerical_aperture` must be'),
    (dict(refractive_index=-1.0), ValueError, '`refractive_index` must be'),
    (dict(pixel_size=0.0), ValueError, '`pixel_size` must be positive'),
    (dict(pixel_size=(1.0, 2.0, 3.0)), ValueError, 'one per axis'),
    (dict(axial_pixel_size=-1.0), ValueError, '`axial_pixel_size` must be'),
    (dict(shape=(9, 9), axial_pixel_size=100.0), ValueError, '3D shapes'),
    (dict(shape=(9,)), ValueError, '`shape` must have 2 or 3 axes'),
    (dict(shape=(3, 3, 3, 3)), ValueError, '`shape` must have 2 or 3 axes'),
])
def test_born_wolf_errors(kwargs, error, match):
    args = dict(shape=(5, 9, 9), wavelength=LAMBDA, pixel_size=100.0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        born_wolf_psf(**args)


def test_born_wolf_numerical_aperture_equal_to_index_allowed():
    h = born_wolf_psf((5, 9, 9), LAMBDA, numerical_aperture=1.0,
                      refractive_index=1.0, pixel_size=100.0)
    assert abs(h.sum() - 1) < 1e-12 and argmax(h) == (2, 4, 4)
