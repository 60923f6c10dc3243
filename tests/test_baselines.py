"""Classical baselines against closed forms, PyWavelets and optimality conditions."""

import numpy as np
import odl
import pytest
import pywt

from odl_wasserstein.baselines import (
    lasso_reconstruction, orthogonal_wavelet_transform, tikhonov_reconstruction,
    wavelet_reconstruction)
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


# Tikhonov: closed forms on small dense problems, assembled with NumPy.

def _forward_differences(shape):
    """Forward differences with a zero beyond the last pixel, per axis, as one matrix."""
    blocks = []
    for axis, n in enumerate(shape):
        step = np.eye(n, k=1) - np.eye(n)  # the last row is -x[n - 1]: zero padding
        factors = [step if a == axis else np.eye(m) for a, m in enumerate(shape)]
        blocks.append(np.kron(factors[0], factors[1]))
    return np.vstack(blocks)


def _gaussian_problem(space, m=12, seed=0):
    from odl_wasserstein.operators import GaussianMatrix
    op = GaussianMatrix(space, m, seed=seed)
    data = np.random.default_rng(seed).standard_normal(m)
    return op, op.matrix.numpy().astype(float), data


@pytest.mark.parametrize('alpha', [0.0488, 0.195, 3.0])
def test_tikhonov_matches_the_closed_form(alpha):
    from odl_wasserstein.operators import reconstruction_space
    space = reconstruction_space((4, 5), dtype='float64')
    op, matrix, data = _gaussian_problem(space)
    expected = np.linalg.solve(matrix.T @ matrix + alpha * np.eye(20), matrix.T @ data)
    x = tikhonov_reconstruction(op, data, alpha, n_iter=100)
    np.testing.assert_allclose(x.data.ravel(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('alpha', [0.0061, 0.5])
def test_tikhonov_gradient_matches_the_closed_form(alpha):
    from odl_wasserstein.operators import reconstruction_space
    space = reconstruction_space((4, 5), dtype='float64')
    op, matrix, data = _gaussian_problem(space, seed=1)
    differences = _forward_differences(space.shape)
    expected = np.linalg.solve(matrix.T @ matrix + alpha * differences.T @ differences,
                               matrix.T @ data)
    x = tikhonov_reconstruction(op, data, alpha, n_iter=200, regulariser='gradient')
    np.testing.assert_allclose(x.data.ravel(), expected, rtol=0, atol=1e-6)


def test_tikhonov_weights_the_penalty_by_the_cell_volume():
    space = odl.uniform_discr([0, 0], [2, 1], (4, 5), dtype='float64')  # cells of 0.1
    op, matrix, data = _gaussian_problem(space, seed=2)
    alpha, weight = 0.3, 0.1
    expected = np.linalg.solve(matrix.T @ matrix + alpha * weight * np.eye(20),
                               matrix.T @ data)
    x = tikhonov_reconstruction(op, data, alpha, n_iter=100)
    np.testing.assert_allclose(x.data.ravel(), expected, rtol=0, atol=1e-6)


def test_tikhonov_inpainting_at_paper_size_is_plain_sums():
    from odl_wasserstein.operators import paper_operator, reconstruction_space
    space = reconstruction_space(56, dtype='float64')
    assert space.weighting.const == 1.0 and np.all(space.cell_sides == 1.0)
    op = paper_operator('inpainting', space)
    mask = op.operator.mask.numpy()
    data = np.random.default_rng(3).standard_normal(op.range.size)
    x = tikhonov_reconstruction(op, data, alpha=0.195, n_iter=10)
    # min sum (x[mask] - y)^2 + alpha sum x^2: y / (1 + alpha) on the kept pixels, 0 elsewhere.
    expected = np.zeros(space.shape)
    expected[mask] = data / 1.195
    np.testing.assert_allclose(x.data, expected, rtol=0, atol=1e-10)


def test_tikhonov_callback_x0_and_errors():
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4))
    identity = odl.IdentityOperator(space)
    data = space.element(np.arange(16.0).reshape(4, 4))
    seen = []
    x = tikhonov_reconstruction(identity, data, 1.0, n_iter=3, callback=seen.append,
                                regulariser='gradient')
    assert len(seen) in (1, 2, 3) and all(item in space for item in seen)
    start = data / 2
    assert float((tikhonov_reconstruction(identity, data, 1.0, n_iter=5, x0=start)
                  - start).norm()) < 1e-12
    assert float((seen[-1] - x).norm()) == 0
    with pytest.raises(ValueError, match='`alpha`'):
        tikhonov_reconstruction(identity, data, 0.0)
    with pytest.raises(ValueError, match='`n_iter`'):
        tikhonov_reconstruction(identity, data, 1.0, n_iter=0)
    with pytest.raises(ValueError, match='`regulariser`'):
        tikhonov_reconstruction(identity, data, 1.0, regulariser='tv')
    with pytest.raises(TypeError, match='`op.domain`'):
        tikhonov_reconstruction(odl.IdentityOperator(odl.rn(3)), np.zeros(3), 1.0)


def test_lasso_reconstruction_against_scikit_learn():
    from sklearn.linear_model import Lasso

    from odl_wasserstein.operators import GaussianMatrix

    space = odl.uniform_discr([0, 0], [2, 2], (6, 6), dtype='float64')  # cell volume 1/9
    op = GaussianMatrix(space, 24, seed=3)
    truth = np.zeros((6, 6))
    truth[1, 2], truth[4, 4] = 1.0, -0.7
    data = op(space.element(truth)).data + 0.01 * np.random.default_rng(0).normal(size=24)
    x = lasso_reconstruction(op, data, alpha=0.05, n_iter=3000)
    # scikit-learn: (1 / (2 n)) ||y - M x||^2 + a ||x||_1 with the plain sums, so a = alpha / n.
    lasso = Lasso(alpha=0.05 / 24, fit_intercept=False, tol=1e-14, max_iter=100000)
    lasso.fit(np.asarray(op.matrix), data)
    assert np.allclose(np.asarray(x.data).ravel(), lasso.coef_, atol=1e-5)
    assert np.count_nonzero(lasso.coef_) < 36


def test_lasso_reconstruction_errors():
    space = odl.uniform_discr(0, 1, 4)
    with pytest.raises(ValueError, match='`alpha`'):
        lasso_reconstruction(odl.IdentityOperator(space), space.one(), alpha=0)
    with pytest.raises(TypeError, match='`op.domain`'):
        lasso_reconstruction(odl.IdentityOperator(odl.rn(4)), odl.rn(4).one(), alpha=1)


def test_tikhonov_stays_finite_after_convergence_in_single_precision():
    from odl_wasserstein.operators import paper_operator, reconstruction_space

    # ODL's conjugate_gradient gives inf here within 300 iterations (ASTRA's
    # float32 projector pair is adjoint only to ~4e-6).
    space = reconstruction_space(56)
    op = paper_operator('missing_angle_tomography', space)
    image = odl.core.phantom.shepp_logan(space, modified=True)
    data = op(image)
    x = tikhonov_reconstruction(op, data, alpha=0.195, n_iter=300)
    assert np.isfinite(x.data).all()
    gradient = op.adjoint(op(x) - data) + 0.195 * x
    assert float(gradient.norm()) < 1e-4 * float(op.adjoint(data).norm())
