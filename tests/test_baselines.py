"""Classical baselines against closed forms, PyWavelets and optimality conditions."""

import numpy as np
import odl
import pytest
import pywt

from odl_wasserstein.baselines import orthogonal_wavelet_transform, wavelet_reconstruction
from odl_wasserstein.data import random_mri_image
from odl_wasserstein.operators import MRIForward
from odl_wasserstein.operators.masks import poisson_disc_mask


def _random(shape, complex_, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape)
    return data + 1j * rng.standard_normal(shape) if complex_ else data


def _soft(coefficients, threshold):
    """Soft-threshold of the modulus, the l1 proximal map of real or complex numbers."""
    modulus = np.abs(coefficients)
    return np.where(modulus > threshold,
                    (1 - threshold / np.maximum(modulus, threshold)) * coefficients, 0)


def _pywt_denoise(image, alpha, wavelet, level):
    """``W^-1 soft(W y, alpha)`` computed with PyWavelets alone."""
    coefficients = pywt.wavedecn(image, wavelet, mode='periodization', level=level)
    array, slices = pywt.coeffs_to_array(coefficients)
    shrunk = pywt.array_to_coeffs(_soft(array, alpha), slices, output_format='wavedecn')
    return pywt.waverecn(shrunk, wavelet, mode='periodization')


@pytest.mark.parametrize('wavelet', ['db4', 'haar'])
@pytest.mark.parametrize('dtype', ['float64', 'complex128'])
def test_wavelet_transform_is_orthonormal_with_exact_adjoint(impl, dtype, wavelet):
    # Non-unit cells: ODL's adjoint carries the cell volume, the coefficients do not.
    space = odl.uniform_discr([0, 0], [2, 3], (32, 48), dtype=dtype, impl=impl)
    transform = orthogonal_wavelet_transform(space, wavelet, nlevels=2)
    complex_ = dtype.startswith('complex')
    x = space.element(_random(space.shape, complex_, seed=1))
    y = transform.range.element(_random(transform.range.shape, complex_, seed=2))
    assert transform.range.size == space.size
    ratio = complex(transform(x).inner(y)) / complex(x.inner(transform.adjoint(y)))
    assert ratio == pytest.approx(1, abs=1e-12)
    assert float((transform.inverse(transform(x)) - x).norm()) < 1e-12 * float(x.norm())
    expected = pywt.ravel_coeffs(pywt.wavedecn(
        np.asarray(x.data), wavelet, mode='periodization', level=2))[0]
    coefficients = np.asarray(transform(x).data)
    np.testing.assert_allclose(coefficients, expected, rtol=0, atol=1e-12)
    assert np.linalg.norm(coefficients) == pytest.approx(np.linalg.norm(x.data), rel=1e-12)


def test_default_levels_keep_the_transform_square():
    def levels(shape, wavelet='db4'):
        return orthogonal_wavelet_transform(odl.uniform_discr([0, 0], [1, 1], shape),
                                            wavelet).nlevels
    assert levels((256, 320)) == 5  # PyWavelets' limit for db4 (8 taps)
    assert levels((256, 320), 'haar') == 6  # 320 = 2**6 * 5
    assert levels((24, 32)) == 1
    with pytest.warns(UserWarning, match='too high'):  # PyWavelets' warning
        assert levels((8, 8)) == 1  # db4 is longer than the image: one level anyway


@pytest.mark.parametrize('dtype, wavelet', [('complex128', 'db4'), ('float64', 'haar')])
def test_identity_operator_gives_the_soft_thresholded_coefficients(dtype, wavelet):
    """A = I: the minimiser is W^-1 soft(W y, alpha), for any cell volume."""
    space = odl.uniform_discr([0, 0], [2, 3], (32, 32), dtype=dtype)
    data = _random(space.shape, dtype.startswith('complex'), seed=3)
    expected = _pywt_denoise(data, 1.0, wavelet, level=2)
    result = wavelet_reconstruction(odl.IdentityOperator(space), data, alpha=1.0,
                                    wavelet=wavelet, nlevels=2, n_iter=50)
    np.testing.assert_allclose(result.data, expected, rtol=0, atol=1e-12)
    # The threshold really bites: a third or more of the coefficients are zero.
    zeros = np.mean(np.abs(pywt.coeffs_to_array(pywt.wavedecn(
        expected, wavelet, mode='periodization', level=2))[0]) < 1e-12)
    assert 0.3 < zeros < 0.75


def _mri_problem(n, acceleration, calibration, dtype='complex128', impl='numpy'):
    space = odl.uniform_discr([-1, -1], [1, 1], (n, n), dtype=dtype, impl=impl)
    truth = space.element(random_mri_image(n, generator=0).numpy())
    mask = poisson_disc_mask((n, n), acceleration, calibration=calibration, seed=0)
    op = MRIForward(space, mask)
    return op, op(truth), truth


def test_solution_satisfies_the_optimality_conditions():
    """0 in W A^H (A x - y) + alpha d|c|_1 at c = W x, checked coefficient by coefficient."""
    op, data, _ = _mri_problem(32, 3, (6, 6))
    alpha = 0.01
    x = wavelet_reconstruction(op, data, alpha, n_iter=1000)
    transform = orthogonal_wavelet_transform(op.domain)
    c = transform(x).data
    # MRIForward's domain and range share their weighting, so A* = A^H.
    gradient = transform(op.adjoint(op(x) - data)).data
    nonzero = np.abs(c) > 1e-12
    assert 0.2 < nonzero.mean() < 0.5
    subgradient = gradient[nonzero] + alpha * c[nonzero] / np.abs(c[nonzero])
    assert np.abs(subgradient).max() < 1e-6 * alpha
    assert np.abs(gradient[~nonzero]).max() <= alpha * (1 + 1e-6)


def test_undersampled_mri_beats_the_zero_filled_image():
    op, data, truth = _mri_problem(128, 4, (16, 16))

    def error(x):
        return float((x - truth).norm() / truth.norm())

    zero_filled = error(op.adjoint(data))
    reconstruction = error(wavelet_reconstruction(op, data, alpha=0.003, n_iter=100))
    assert zero_filled == pytest.approx(0.0707, abs=5e-4)
    assert reconstruction == pytest.approx(0.0445, abs=5e-4)
    assert reconstruction < 0.65 * zero_filled


def test_pytorch_spaces_give_the_numpy_result():
    results = []
    for impl in ('numpy', 'pytorch'):
        op, data, _ = _mri_problem(32, 3, (6, 6), dtype='complex64', impl=impl)
        results.append(np.asarray(wavelet_reconstruction(op, data, 0.01, n_iter=50).data))
    np.testing.assert_allclose(results[1], results[0], rtol=0, atol=1e-5)


def test_callback_sees_images_and_x0_starts_there():
    space = odl.uniform_discr([0, 0], [1, 1], (16, 16), dtype='complex128')
    data = space.element(_random(space.shape, True, seed=4))
    seen = []
    wavelet_reconstruction(odl.IdentityOperator(space), data, 0.1, n_iter=3,
                           callback=lambda x: seen.append(x))
    assert len(seen) == 3 and all(x in space for x in seen)
    # Started at the answer of a problem with alpha -> 0, one step stays near it.
    x = wavelet_reconstruction(odl.IdentityOperator(space), data, 1e-12, n_iter=1, x0=data)
    assert float((x - data).norm()) < 1e-9


def test_errors():
    space = odl.uniform_discr([0, 0], [1, 1], (24, 32), dtype='complex128')
    identity = odl.IdentityOperator(space)
    data = space.zero()
    with pytest.raises(ValueError, match='`wavelet` must be orthogonal'):
        wavelet_reconstruction(identity, data, 0.1, wavelet='bior2.2')
    with pytest.raises(ValueError, match='`wavelet` must name'):
        wavelet_reconstruction(identity, data, 0.1, wavelet='nonsense')
    with pytest.raises(ValueError, match=r'pass `nlevels` <= 3'):
        wavelet_reconstruction(identity, data, 0.1, nlevels=4)
    with pytest.raises(ValueError, match='odd side'):
        orthogonal_wavelet_transform(odl.uniform_discr([0, 0], [1, 1], (33, 32)))
    with pytest.raises(ValueError, match='`alpha`'):
        wavelet_reconstruction(identity, data, 0.0)
    with pytest.raises(ValueError, match='`n_iter`'):
        wavelet_reconstruction(identity, data, 0.1, n_iter=0)
    with pytest.raises(TypeError, match='`op.domain`'):
        wavelet_reconstruction(odl.IdentityOperator(odl.cn((8, 8))), np.zeros((8, 8)), 0.1)
