"""Tests of `odl_wasserstein.operators.blur.Convolution`.

Values are checked against SciPy's direct (non-FFT) convolution and against
explicit circular sums, so that the FFT path of `odl_wasserstein.fft` is
tested against code that shares nothing with it.
"""

import itertools

import numpy as np
import odl
import pytest
import scipy.signal
import torch

from odl_wasserstein.operators.blur import Convolution
from odl_wasserstein.testing import adjoint_ratio, random_element

BOUNDARIES = ('zero', 'periodic')

# Non-unit, non-square physical extents: the kernel is discrete, so the
# weighting (cell volume) must cancel in the adjoint and leave values alone.
GEOMETRIES = {
    1: ([-1.0], [2.5], (11,)),
    2: ([-1.0, 0.0], [2.0, 5.0], (12, 10)),
    3: ([0.0, -2.0, 1.0], [3.0, 2.0, 1.5], (6, 8, 7)),
}
# Asymmetric kernels with even sizes on some axes, so that a wrong centre
# or a flipped kernel cannot pass.
KERNEL_SHAPES = {1: (4,), 2: (4, 3), 3: (2, 3, 4)}


def make_space(ndim, impl='numpy', dtype='float64'):
    min_pt, max_pt, shape = GEOMETRIES[ndim]
    return odl.uniform_discr(min_pt, max_pt, shape, impl=impl, dtype=dtype)


def make_kernel(shape, complex_=False, seed=1):
    rng = np.random.default_rng(seed)
    kernel = rng.uniform(0.1, 1.0, shape)
    if complex_:
        kernel = kernel + 1j * rng.uniform(-1.0, 1.0, shape)
    return kernel


def reference_convolution(x, kernel, boundary):
    """``y[i] = sum_j kernel[j] x[i + c - j]``, ``c = k // 2``, by direct sums."""
    centre = [k // 2 for k in kernel.shape]
    if boundary == 'zero':
        # full[m] = sum_j kernel[j] x[m - j], so y[i] = full[i + c].
        full = scipy.signal.convolve(x, kernel, mode='full', method='direct')
        return full[tuple(slice(c, c + n) for c, n in zip(centre, x.shape))]
    # np.roll(x, s)[i] = x[i - s]; s = j - c gives x[i + c - j] (circular).
    out = np.zeros(x.shape, dtype=np.result_type(x, kernel))
    for j in itertools.product(*map(range, kernel.shape)):
        shift = tuple(jj - c for jj, c in zip(j, centre))
        out += kernel[j] * np.roll(x, shift, axis=tuple(range(x.ndim)))
    return out


def reference_adjoint(y, kernel, boundary):
    """``(A^H y)[m] = sum_j conj(kernel[j]) y[m - c + j]`` by direct sums."""
    centre = [k // 2 for k in kernel.shape]
    if boundary == 'zero':
        # SciPy: full[l] = sum_j y[j + l - (k - 1)] conj(kernel[j]), so
        # index l = m - c + k - 1.
        full = scipy.signal.correlate(y, kernel, mode='full', method='direct')
        start = [k - 1 - c for k, c in zip(kernel.shape, centre)]
        return full[tuple(slice(s, s + n) for s, n in zip(start, y.shape))]
    out = np.zeros(y.shape, dtype=np.result_type(y, kernel))
    for j in itertools.product(*map(range, kernel.shape)):
        shift = tuple(c - jj for jj, c in zip(j, centre))
        out += np.conj(kernel[j]) * np.roll(y, shift, axis=tuple(range(y.ndim)))
    return out


def as_numpy(element):
    data = element.data
    return data.cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)


# --- adjoint ------------------------------------------------------------------

@pytest.mark.parametrize('boundary', BOUNDARIES)
@pytest.mark.parametrize('ndim', (2, 3))
def test_adjoint_ratio_real(impl, real_dtype, ndim, boundary):
    space = make_space(ndim, impl, real_dtype)
    op = Convolution(space, make_kernel(KERNEL_SHAPES[ndim]), boundary=boundary)
    tol = 1e-5 if real_dtype == 'float64' else 1e-4
    assert abs(adjoint_ratio(op) - 1) < tol


@pytest.mark.parametrize('boundary', BOUNDARIES)
@pytest.mark.parametrize('dtype', ('complex64', 'complex128'))
def test_adjoint_ratio_complex(impl, dtype, boundary):
    space = make_space(2, impl, dtype)
    kernel = make_kernel(KERNEL_SHAPES[2], complex_=True)
    op = Convolution(space, kernel, boundary=boundary)
    tol = 1e-5 if dtype == 'complex128' else 1e-4
    assert abs(adjoint_ratio(op) - 1) < tol


def test_adjoint_ratio_real_kernel_on_complex_space():
    space = make_space(3, 'numpy', 'complex128')
    op = Convolution(space, make_kernel(KERNEL_SHAPES[3]))
    assert abs(adjoint_ratio(op) - 1) < 1e-10


# --- values against independent references ------------------------------------

@pytest.mark.parametrize('boundary', BOUNDARIES)
@pytest.mark.parametrize('ndim', (1, 2, 3))
def test_values_against_direct_sums(ndim, boundary):
    space = make_space(ndim)
    kernel = make_kernel(KERNEL_SHAPES[ndim])
    x = random_element(space, seed=3)
    op = Convolution(space, kernel, boundary=boundary)
    expected = reference_convolution(as_numpy(x), kernel, boundary)
    np.testing.assert_allclose(as_numpy(op(x)), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('boundary', BOUNDARIES)
@pytest.mark.parametrize('ndim', (1, 2, 3))
def test_adjoint_values_against_direct_sums(ndim, boundary):
    space = make_space(ndim)
    kernel = make_kernel(KERNEL_SHAPES[ndim])
    y = random_element(space, seed=4)
    op = Convolution(space, kernel, boundary=boundary)
    expected = reference_adjoint(as_numpy(y), kernel, boundary)
    np.testing.assert_allclose(as_numpy(op.adjoint(y)), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_complex_values_against_direct_sums(impl, boundary):
    space = make_space(2, impl, 'complex128')
    kernel = make_kernel(KERNEL_SHAPES[2], complex_=True)
    x = random_element(space, seed=5)
    op = Convolution(space, kernel, boundary=boundary)
    np.testing.assert_allclose(
        as_numpy(op(x)), reference_convolution(as_numpy(x), kernel, boundary),
        rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        as_numpy(op.adjoint(x)), reference_adjoint(as_numpy(x), kernel, boundary),
        rtol=0, atol=1e-12)


def test_even_kernel_origin_by_hand():
    # Kernel [a, b] has its centre at index 1: y[i] = a x[i + 1] + b x[i].
    space = odl.uniform_discr(0, 3, 3)
    x = space.element([1.0, 2.0, 3.0])
    zero = Convolution(space, [1.0, 10.0])
    periodic = Convolution(space, [1.0, 10.0], boundary='periodic')
    np.testing.assert_allclose(as_numpy(zero(x)), [12.0, 23.0, 30.0], atol=1e-12)
    np.testing.assert_allclose(as_numpy(periodic(x)), [12.0, 23.0, 31.0], atol=1e-12)
    # Transpose: (A^T y)[m] = a y[m - 1] + b y[m].
    np.testing.assert_allclose(as_numpy(zero.adjoint(x)), [10.0, 21.0, 32.0],
                               atol=1e-12)


def test_values_independent_of_physical_extent():
    kernel = make_kernel((3, 4))
    small = odl.uniform_discr([0, 0], [1, 1], (9, 8))
    large = odl.uniform_discr([-50, 0], [50, 7], (9, 8))
    data = np.random.default_rng(0).standard_normal((9, 8))
    y_small = Convolution(small, kernel)(small.element(data))
    y_large = Convolution(large, kernel)(large.element(data))
    np.testing.assert_allclose(as_numpy(y_small), as_numpy(y_large), atol=1e-12)


# --- batches, dtypes, kernel inputs -------------------------------------------

@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_forward_batch_matches_per_sample_calls(impl, real_dtype, boundary):
    space = make_space(2, impl, real_dtype)
    op = Convolution(space, make_kernel(KERNEL_SHAPES[2]), boundary=boundary)
    dtype = getattr(torch, real_dtype)
    batch = torch.randn(5, *space.shape, dtype=dtype)
    out = op.forward_batch(batch)
    back = op.transpose_batch(batch)
    assert out.shape == batch.shape and out.dtype == dtype
    assert back.shape == batch.shape and back.dtype == dtype
    tol = 1e-12 if real_dtype == 'float64' else 1e-5
    for b in range(batch.shape[0]):
        sample = space.element(batch[b].numpy())
        np.testing.assert_allclose(out[b].numpy(), as_numpy(op(sample)), atol=tol)
        np.testing.assert_allclose(back[b].numpy(), as_numpy(op.adjoint(sample)),
                                   atol=tol)


def test_dtype_shape_and_space_preserved(impl, real_dtype):
    complex_dtype = {'float32': 'complex64', 'float64': 'complex128'}[real_dtype]
    for dtype in (real_dtype, complex_dtype):
        space = make_space(3, impl, dtype)
        op = Convolution(space, make_kernel(KERNEL_SHAPES[3]))
        assert op.domain == space and op.range == space
        y = op(random_element(space))
        assert y in space
        assert y.shape == space.shape
        assert y.dtype_identifier == dtype
        if impl == 'pytorch':
            assert isinstance(y.data, torch.Tensor)


def test_kernel_stored_in_space_precision():
    kernel = make_kernel((3, 3))
    op32 = Convolution(make_space(2, 'numpy', 'float32'), kernel)
    op64 = Convolution(make_space(2, 'pytorch', 'complex128'), kernel)
    assert op32.kernel.dtype == torch.float32
    assert op64.kernel.dtype == torch.float64  # real kernel stays real
    opc = Convolution(make_space(2, 'numpy', 'complex64'), kernel + 1j)
    assert opc.kernel.dtype == torch.complex64
    assert op32.boundary == 'zero'


def test_kernel_copied_from_caller():
    kernel = make_kernel((3, 3))
    op = Convolution(make_space(2), kernel)
    x = random_element(op.domain)
    before = as_numpy(op(x)).copy()
    kernel[:] = 0.0
    np.testing.assert_array_equal(as_numpy(op(x)), before)
    assert float(op.kernel.abs().min()) > 0


def test_kernel_input_types_agree(impl):
    space = make_space(2, impl)
    kernel = make_kernel((3, 4))
    kernel_space = odl.uniform_discr([0, 0], [1, 1], kernel.shape, impl=impl)
    inputs = [
        kernel,
        torch.from_numpy(kernel),
        kernel.tolist(),
        kernel_space.element(kernel),
        np.asfortranarray(kernel),
    ]
    ops = [Convolution(space, k) for k in inputs]
    x = random_element(space, seed=2)
    expected = as_numpy(ops[0](x))
    for op in ops[1:]:
        assert torch.equal(op.kernel, ops[0].kernel)
        np.testing.assert_array_equal(as_numpy(op(x)), expected)


def test_integer_kernel_is_cast():
    space = make_space(2)
    op = Convolution(space, np.ones((3, 3), dtype=int))
    ref = Convolution(space, np.ones((3, 3)))
    assert op.kernel.dtype == torch.float64
    x = random_element(space)
    np.testing.assert_allclose(as_numpy(op(x)), as_numpy(ref(x)), atol=1e-12)


# --- properties of the operator -------------------------------------------------

def test_periodic_sum_one_kernel_preserves_mass(impl):
    space = make_space(3, impl)
    kernel = make_kernel(KERNEL_SHAPES[3])
    kernel /= kernel.sum()
    x = space.element(np.abs(as_numpy(random_element(space))))
    periodic = Convolution(space, kernel, boundary='periodic')
    zero = Convolution(space, kernel)
    mass = as_numpy(x).sum()
    assert abs(as_numpy(periodic(x)).sum() - mass) < 1e-12 * mass
    # With zero boundaries, blur across the border loses mass.
    assert as_numpy(zero(x)).sum() < mass - 1e-3


@pytest.mark.parametrize('boundary', BOUNDARIES)
@pytest.mark.parametrize('kernel_shape', ((3, 3), (4, 2), (1, 5)))
def test_delta_kernel_is_identity(impl, boundary, kernel_shape):
    space = make_space(2, impl)
    kernel = np.zeros(kernel_shape)
    kernel[tuple(k // 2 for k in kernel_shape)] = 1.0
    op = Convolution(space, kernel, boundary=boundary)
    x = random_element(space)
    np.testing.assert_allclose(as_numpy(op(x)), as_numpy(x), atol=1e-12)
    np.testing.assert_allclose(as_numpy(op.adjoint(x)), as_numpy(x), atol=1e-12)


def test_autograd_gradient_is_transpose():
    space = make_space(2)
    op = Convolution(space, make_kernel(KERNEL_SHAPES[2]))
    x = torch.randn(3, *space.shape, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, *space.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((op.forward_batch(x) * y).sum(), x)
    torch.testing.assert_close(grad, op.transpose_batch(y), rtol=0, atol=1e-12)


def test_blurs_with_born_wolf_psf():
    from odl_wasserstein.operators.psf import born_wolf_psf
    space = odl.uniform_discr([0, 0, 0], [3200, 3200, 3200], (16, 16, 16))
    psf = born_wolf_psf((9, 9, 9), 500.0, pixel_size=200.0)
    op = Convolution(space, psf, boundary='periodic')
    x = space.zero()
    x[8, 8, 8] = 1.0
    # A point source is imaged as the PSF itself, centred on the source.
    np.testing.assert_allclose(as_numpy(op(x))[4:13, 4:13, 4:13], psf, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    cpu = make_space(3, 'pytorch', 'float64')
    gpu = odl.uniform_discr(*GEOMETRIES[3], impl='pytorch', dtype='float64',
                            device='cuda')
    kernel = make_kernel(KERNEL_SHAPES[3])
    op_cpu, op_gpu = Convolution(cpu, kernel), Convolution(gpu, kernel)
    assert op_gpu.kernel.is_cuda
    batch = torch.randn(2, *cpu.shape, dtype=torch.float64)
    torch.testing.assert_close(op_gpu.forward_batch(batch.cuda()).cpu(),
                               op_cpu.forward_batch(batch))
    assert abs(adjoint_ratio(op_gpu) - 1) < 1e-10


def test_repr():
    op = Convolution(make_space(2), np.ones((3, 2)), boundary='periodic')
    text = repr(op)
    assert text.startswith('Convolution(')
    assert 'kernel_shape=(3, 2)' in text and "boundary='periodic'" in text
    assert repr(op.domain) in text


# --- errors ------------------------------------------------------------------

@pytest.mark.parametrize('kernel, error, match', [
    (np.ones(3), ValueError, 'one axis per image axis'),
    (np.ones((3, 3, 3)), ValueError, 'one axis per image axis'),
    (np.ones((13, 3)), ValueError, 'larger than the image'),
    (np.ones((3, 11)), ValueError, 'larger than the image'),
    (np.ones((0, 3)), ValueError, 'empty'),
    (np.full((3, 3), np.nan), ValueError, 'NaN or infinite'),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), ValueError, 'NaN or infinite'),
    (np.ones((3, 3)) * 1j, TypeError, 'complex space'),
    ('gaussian', TypeError, 'numeric array'),
    ([['a', 'b'], ['c', 'd']], TypeError, 'numeric array'),
    (np.array([[None, 1.0]]), TypeError, 'numeric array'),
    (object(), TypeError, 'numeric array'),
])
def test_invalid_kernel(kernel, error, match):
    with pytest.raises(error, match=match) as info:
        Convolution(make_space(2), kernel)
    assert '`kernel`' in str(info.value)


def test_kernel_overflowing_single_precision():
    with pytest.raises(ValueError, match='overflows'):
        Convolution(make_space(2, dtype='float32'), np.full((3, 3), 1e300))


def test_invalid_boundary_and_space():
    with pytest.raises(ValueError, match='`boundary` must be one of'):
        Convolution(make_space(2), np.ones((3, 3)), boundary='reflect')
    with pytest.raises(TypeError, match='`space` must be an ODL'):
        Convolution(np.zeros((8, 8)), np.ones((3, 3)))


def test_forward_batch_rejects_wrong_shape():
    op = Convolution(make_space(2), np.ones((3, 3)))
    with pytest.raises(ValueError, match='must have shape'):
        op.forward_batch(torch.zeros(2, 10, 12, dtype=torch.float64))
