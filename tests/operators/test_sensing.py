"""Tests of the sensing operators and the unit-norm operators of Duff et al.

Norms are checked against the singular values of the dense matrix of each
operator (assembled from its action on the pixel basis), values against
NumPy on the same matrix or mask, and the missing-angle transform against
rows of the full ray transform.
"""

import math
import pickle

import numpy as np
import odl
import pytest
import torch

import odl_wasserstein.torch.module as bridge
from odl_wasserstein.operators import (
    PAPER_OPERATORS, GaussianMatrix, PixelMask, inpainting_operator, operator_norm,
    paper_operator, ray_transform, reconstruction_space)
from odl_wasserstein.operators.psf import gaussian_psf
from odl_wasserstein.testing import adjoint_ratio, random_element
from odl_wasserstein.torch import OperatorModule, batched_function
from odl_wasserstein.util import space_weighting, to_tensor

# Options that fit a small image (the defaults are for 56 x 56).
SMALL_OPTIONS = {'compressed_sensing': {'m': 30}, 'missing_angle_tomography': {'num_angles': 5}}
TOMOGRAPHY = ('tomography', 'missing_angle_tomography')


def small_space(impl='numpy', dtype='float64', n=16):
    return reconstruction_space(n, dtype=dtype, impl=impl)


def scaled_space(impl='numpy', dtype='float64'):
    """Non-unit, non-square pixels: the weighting must enter the adjoint and norm."""
    return odl.uniform_discr([-1.0, 0.0], [2.0, 1.0], (12, 10), dtype=dtype, impl=impl)


def dense_matrix(op):
    """The matrix of ``op`` on the pixel arrays, ``(range.size, domain.size)``."""
    n = op.domain.size
    basis = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(op.domain.shape))
    return batched_function(op)(basis).reshape(n, -1).T.numpy()


def odl_norm(op):
    """Exact ODL operator norm from the dense matrix and the space weightings."""
    ratio = space_weighting(op.range) / space_weighting(op.domain)
    return float(np.linalg.norm(dense_matrix(op), 2)) * math.sqrt(ratio)


def adjoint_tolerance(dtype, name=None):
    # ASTRA projects in single precision whatever the space's dtype.
    return 1e-4 if dtype == 'float32' or name in TOMOGRAPHY else 1e-10


@pytest.mark.parametrize('make_space', [small_space, scaled_space])
def test_gaussian_matrix_and_mask_adjoints(make_space, impl, real_dtype):
    space = make_space(impl, real_dtype)
    for op in (GaussianMatrix(space, 7, seed=2), inpainting_operator(space, 0.3, seed=1)):
        assert abs(adjoint_ratio(op, seed=3) - 1) < adjoint_tolerance(real_dtype)
        assert abs(adjoint_ratio(op.adjoint, seed=4) - 1) < adjoint_tolerance(real_dtype)


@pytest.mark.parametrize('name', PAPER_OPERATORS)
def test_paper_operator_adjoints(name, impl, real_dtype):
    op = paper_operator(name, small_space(impl, real_dtype), **SMALL_OPTIONS.get(name, {}))
    assert abs(adjoint_ratio(op, seed=5) - 1) < adjoint_tolerance(real_dtype, name)


def test_complex_pixel_mask_adjoint():
    space = odl.uniform_discr([0, 0], [1, 1], (6, 5), dtype='complex128')
    op = inpainting_operator(space, 0.5, seed=0)
    assert op.range.dtype_identifier == 'complex128'
    assert abs(adjoint_ratio(op, seed=1) - 1) < 1e-12


@pytest.mark.parametrize('name', PAPER_OPERATORS)
def test_paper_operators_have_norm_one(name):
    op = paper_operator(name, small_space(n=20), **SMALL_OPTIONS.get(name, {}))
    assert abs(odl_norm(op) - 1) < 1e-3


@pytest.mark.parametrize('name', PAPER_OPERATORS)
def test_paper_operators_at_paper_size_have_norm_one(name):
    op = paper_operator(name, reconstruction_space(56))
    # Another start vector than the one used to normalise.
    assert abs(operator_norm(op, max_iter=500, seed=11) - 1) < 1e-3


def test_paper_sizes_and_defaults():
    space = reconstruction_space(56)
    ranges = {name: paper_operator(name, space).range.shape for name in PAPER_OPERATORS}
    assert ranges == {'denoising': (56, 56), 'compressed_sensing': (140,), 'blur': (56, 56),
                      'inpainting': (784,), 'tomography': (125, 81),
                      'missing_angle_tomography': (30, 81)}
    assert paper_operator('tomography', space, num_angles=30).range.shape == (30, 81)
    blur = paper_operator('blur', space).operator
    np.testing.assert_allclose(blur.kernel.numpy(), gaussian_psf((5, 5), 1.0), rtol=1e-6)
    assert tuple(paper_operator('blur', space, sigma=2.0).operator.kernel.shape) == (9, 9)
    assert isinstance(paper_operator('denoising', space), odl.IdentityOperator)


def test_gaussian_matrix_entries_and_seed():
    space = reconstruction_space(56, dtype='float64')
    op = GaussianMatrix(space, 140, seed=0)
    matrix = op.matrix.numpy()
    assert matrix.shape == (140, 3136)
    assert abs(matrix.var() * 140 - 1) < 0.01
    assert abs(matrix.mean()) * math.sqrt(140 * matrix.size) < 4
    assert np.array_equal(matrix, GaussianMatrix(space, 140, seed=0).matrix.numpy())
    assert not np.array_equal(matrix, GaussianMatrix(space, 140, seed=1).matrix.numpy())
    single = GaussianMatrix(reconstruction_space(56), 140, seed=0).matrix
    assert single.dtype == torch.float32 and np.array_equal(single.numpy(),
                                                             matrix.astype('float32'))


def test_gaussian_matrix_acts_on_the_row_major_image():
    space = scaled_space()
    op = GaussianMatrix(space, 9, seed=4)
    x = random_element(space, seed=0)
    matrix = op.matrix.numpy()
    np.testing.assert_allclose(op(x).data, matrix @ x.data.ravel(), rtol=1e-12)
    weight = space_weighting(space)
    y = random_element(op.range, seed=1)
    np.testing.assert_allclose(op.adjoint(y).data.ravel(), matrix.T @ y.data / weight,
                               rtol=1e-12)
    assert op.norm() == pytest.approx(np.linalg.norm(matrix, 2) / math.sqrt(weight),
                                      rel=1e-12)
    assert op.norm() == pytest.approx(operator_norm(op, max_iter=2000, rtol=1e-12), rel=1e-4)


def test_gaussian_matrix_dtype_and_backend():
    space = small_space('pytorch', 'float32')
    op = GaussianMatrix(space, 5, dtype='float64')
    assert op.range.dtype_identifier == 'float64' and op.range.impl == 'pytorch'
    assert op.matrix.dtype == torch.float64


def test_pickled_operators_are_rebuilt_equal():
    space = reconstruction_space(20)
    for op in (GaussianMatrix(space, 11, seed=3), inpainting_operator(space, seed=3)):
        clone = pickle.loads(pickle.dumps(op))
        x = random_element(space, seed=0)
        assert np.array_equal(clone(x).data, op(x).data)


def test_inpainting_keeps_a_quarter_of_the_pixels():
    space = reconstruction_space(56)
    op = inpainting_operator(space, seed=0)
    mask = op.mask.numpy()
    assert mask.shape == (56, 56) and int(mask.sum()) == 784 == op.range.size
    x = random_element(space, seed=2)
    assert np.array_equal(op(x).data, x.data[mask])
    filled = op.adjoint(op(x)).data
    assert np.array_equal(filled, np.where(mask, x.data, 0))
    assert op.norm() == 1.0
    assert np.array_equal(mask, inpainting_operator(space, seed=0).mask.numpy())
    assert not np.array_equal(mask, inpainting_operator(space, seed=1).mask.numpy())
    assert inpainting_operator(space, fraction=1.0).range.size == 3136


def test_pixel_mask_norm_with_weighting():
    space = scaled_space()
    op = PixelMask(space, np.arange(120).reshape(12, 10) % 3 == 0)
    assert op.norm() == pytest.approx(1 / math.sqrt(space_weighting(space)))
    assert op.norm() == pytest.approx(odl_norm(op), rel=1e-12)


def test_missing_angles_are_rows_of_the_full_sinogram():
    space = reconstruction_space(32, dtype='float64')
    op = paper_operator('missing_angle_tomography', space, seed=3, num_angles=7).operator
    full = ray_transform(space, geometry=odl.applications.tomo.parallel_beam_geometry(space))
    kept = op.geometry.angles
    rows = [int(np.argmin(abs(full.geometry.angles - angle))) for angle in kept]
    assert len(set(rows)) == 7 and np.allclose(full.geometry.angles[rows], kept)
    x = random_element(space, seed=0)
    np.testing.assert_allclose(op(x).data, full(x).data[rows], rtol=1e-5, atol=1e-4)
    other = paper_operator('missing_angle_tomography', space, seed=4, num_angles=7)
    assert not np.allclose(other.operator.geometry.angles, kept)


@pytest.mark.parametrize('name', PAPER_OPERATORS)
def test_bridge_is_batched_and_equals_the_odl_call(name, monkeypatch):
    op = paper_operator(name, small_space('pytorch', 'float32'),
                        **SMALL_OPTIONS.get(name, {}))

    def refuse(*args):
        raise AssertionError(f'{name}: the bridge fell back to per-sample ODL calls')

    monkeypatch.setattr(bridge, '_call_per_sample', refuse)
    module = OperatorModule(op)
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = module(x)
    assert y.shape == (3, 1) + tuple(op.range.shape)
    monkeypatch.undo()
    for xi, yi in zip(x[:, 0], y[:, 0]):
        expected = to_tensor(op(op.domain.element(xi)))
        torch.testing.assert_close(yi, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', PAPER_OPERATORS)
def test_bridge_gradcheck(name):
    op = paper_operator(name, small_space(n=8), **SMALL_OPTIONS.get(name, {}))
    module = OperatorModule(op)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    # Single-precision ASTRA: finite differences need a larger step.
    tolerances = (dict(eps=1e-2, atol=1e-3, rtol=1e-2) if name in TOMOGRAPHY else {})
    assert torch.autograd.gradcheck(module, (x,), **tolerances)


@pytest.mark.parametrize('call, error, match', [
    (lambda s: GaussianMatrix(s, 0), ValueError, '`m`'),
    (lambda s: GaussianMatrix(s, 2.0), TypeError, '`m`'),
    (lambda s: GaussianMatrix(s, 3, seed=-1), ValueError, '`seed`'),
    (lambda s: GaussianMatrix(s, 3, dtype='int32'), ValueError, '`dtype`'),
    (lambda s: GaussianMatrix(odl.rn(4), 3), TypeError, '`space`'),
    (lambda s: GaussianMatrix(odl.uniform_discr([0, 0], [1, 1], (3, 3), dtype='complex64'),
                              3), ValueError, 'real'),
    (lambda s: inpainting_operator(s, 0.0), ValueError, '`fraction`'),
    (lambda s: inpainting_operator(s, 1.5), ValueError, '`fraction`'),
    (lambda s: inpainting_operator(s, float('nan')), ValueError, '`fraction`'),
    (lambda s: PixelMask(s, np.ones((3, 3))), ValueError, 'shape'),
    (lambda s: PixelMask(s, np.full(s.shape, 2.0)), ValueError, '0 and 1'),
    (lambda s: PixelMask(s, np.zeros(s.shape)), ValueError, 'no pixel'),
    (lambda s: paper_operator('deblurring', s), ValueError, 'compressed_sensing'),
    (lambda s: paper_operator('blur', s, sigm=1.0), ValueError, 'sigma'),
    (lambda s: paper_operator('denoising', s, m=3), ValueError, 'none'),
    (lambda s: paper_operator('blur', s, sigma=-1.0), ValueError, '`sigma`'),
    (lambda s: paper_operator('missing_angle_tomography', s, num_angles=500), ValueError,
     'total_angles'),
    (lambda s: paper_operator('denoising', odl.uniform_discr(0, 1, 5)), ValueError, '2D'),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(small_space())
