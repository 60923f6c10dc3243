"""Tests of the torch bridge `OperatorModule` and `batched_function`."""

import numpy as np
import odl
import odl.contrib.torch
import pytest
import torch

from odl_wasserstein.operators import (
    RayTransform, ray_transform, reconstruction_space)
from odl_wasserstein.testing import random_element
from odl_wasserstein.torch import OperatorModule, batched_function


@pytest.fixture
def small_ray():
    space = reconstruction_space(12, dtype='float64')
    return ray_transform(space, num_angles=5, normalize=True)


def linear_gradcheck_kwargs(op):
    """Finite differences of a linear map are exact for any step; ASTRA works
    in float32, so a large step keeps rounding (~1e-7 |Ax| / eps) below the
    tolerance. Pure torch kernels use gradcheck's defaults."""
    inner = getattr(op, 'operator', op)
    if isinstance(inner, RayTransform):
        return {'eps': 0.5, 'atol': 1e-4, 'rtol': 1e-3}
    return {}


def test_shapes_dtypes_and_values(impl):
    space = reconstruction_space(24, impl=impl)
    op = ray_transform(space, num_angles=6)
    module = OperatorModule(op)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(3, 2, 24, 24, dtype=dtype)
        y = module(x)
        assert y.shape == (3, 2) + op.range.shape and y.dtype == dtype
        assert y.device == x.device
        expected = op(x[1, 0].to(torch.float32).numpy()).data
        expected = expected.numpy() if impl == 'pytorch' else expected
        np.testing.assert_allclose(y[1, 0].numpy(), expected, rtol=1e-6, atol=1e-6)


def test_gradcheck_ray_transform(small_ray):
    module = OperatorModule(small_ray)
    x = torch.rand(2, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    kwargs = linear_gradcheck_kwargs(small_ray)
    assert torch.autograd.gradcheck(module, (x,), **kwargs)
    assert torch.autograd.gradgradcheck(module, (x,), **kwargs)
    adjoint = OperatorModule(small_ray.adjoint)
    y = torch.rand(2, 1, *small_ray.range.shape, dtype=torch.float64,
                   requires_grad=True)
    assert torch.autograd.gradcheck(adjoint, (y,), **kwargs)


def test_gradient_is_unweighted_transpose(small_ray):
    """x.grad of <A x, g> is A^T g = (w_domain / w_range) A* g."""
    module = OperatorModule(small_ray)
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    g = torch.rand(1, 1, *small_ray.range.shape, dtype=torch.float64)
    (module(x) * g).sum().backward()
    weighted = small_ray.adjoint(g[0, 0].numpy()).data
    ratio = small_ray.domain.weighting.const / small_ray.range.weighting.const
    np.testing.assert_allclose(x.grad[0, 0].numpy(), ratio * weighted, rtol=1e-6)


def test_matches_odl_contrib_wrapper(small_ray):
    ours = OperatorModule(small_ray)
    theirs = odl.contrib.torch.OperatorModule(small_ray)
    x = torch.rand(3, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y, y2 = ours(x), theirs(x2)
    torch.testing.assert_close(y, y2.to(y.dtype), rtol=1e-6, atol=1e-6)
    g = torch.rand_like(y)
    (y * g).sum().backward()
    (y2 * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad.to(x.dtype), rtol=1e-5, atol=1e-6)


def test_compositions_stay_batched(monkeypatch, small_ray):
    """Normalised transforms and A* A never fall back to per-sample ODL calls."""
    def fail(*args, **kwargs):
        raise AssertionError('per-sample ODL call')
    monkeypatch.setattr(RayTransform, '_call', fail)
    normal = batched_function(small_ray.adjoint @ small_ray + 2.0 * odl.IdentityOperator(small_ray.domain))
    x = torch.rand(4, 12, 12, dtype=torch.float64)
    y = normal(x)
    inner = small_ray.operator
    scale = small_ray.scalar ** 2 * inner._weight_ratio
    expected = scale * inner.transpose_batch(inner.forward_batch(x)) + 2 * x
    torch.testing.assert_close(y, expected)


def test_generic_linear_fallback():
    space = odl.uniform_discr([0, 0], [2, 1], (6, 5), dtype='float64')
    grad = odl.Gradient(space)
    partial = odl.PartialDerivative(space, axis=0)
    module = OperatorModule(partial)
    x = random_element(space, 0)
    xt = torch.as_tensor(x.data)[None, None].requires_grad_(True)
    np.testing.assert_allclose(module(xt)[0, 0].detach().numpy(), partial(x).data)
    assert torch.autograd.gradcheck(module, (xt,))
    assert torch.autograd.gradgradcheck(module, (xt,))
    with pytest.raises(TypeError, match='product spaces'):
        OperatorModule(grad.adjoint)


def test_generic_nonlinear_fallback():
    space = odl.uniform_discr([0, 0], [2, 1], (4, 3), dtype='float64')
    square = odl.PowerOperator(space, 2)
    module = OperatorModule(square)
    x = torch.rand(2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(module(x), x ** 2)
    assert torch.autograd.gradcheck(module, (x,))
    # Functional: ||x||^2 in the weighted norm; Euclidean gradient 2 w x.
    norm_squared = OperatorModule(odl.functionals.L2NormSquared(space))
    value = norm_squared(x)
    assert value.shape == (2, 3)
    weight = space.cell_volume
    torch.testing.assert_close(value, weight * x.square().sum(dim=(-2, -1)))
    (grad,) = torch.autograd.grad(value.sum(), x)
    torch.testing.assert_close(grad, 2 * weight * x)


def test_input_errors(small_ray):
    module = OperatorModule(small_ray)
    with pytest.raises(ValueError, match=r'\(N, C, 12, 12\)'):
        module(torch.zeros(12, 12))
    with pytest.raises(ValueError, match=r'\(N, C, 12, 12\)'):
        module(torch.zeros(1, 1, 12, 11))
    with pytest.raises(TypeError, match='torch.Tensor'):
        module(np.zeros((1, 1, 12, 12)))
    with pytest.raises(TypeError, match='odl.Operator'):
        OperatorModule(lambda x: x)


def mri_operator(dtype='complex128', impl='numpy', n_coils=3, shape=(8, 6)):
    from odl_wasserstein.operators import MRIForward
    from odl_wasserstein.operators.masks import random_lines_mask
    space = odl.uniform_discr([-1, -1], [1, 2], shape, dtype=dtype, impl=impl)
    rng = np.random.default_rng(0)
    coils = (rng.standard_normal((n_coils,) + shape)
             + 1j * rng.standard_normal((n_coils,) + shape))
    mask = random_lines_mask(shape, acceleration=2, acs_fraction=0.25, seed=0)
    return MRIForward(space, mask, coil_maps=coils)


def blur_operator(ndim=2, dtype='float64', impl='numpy', boundary='zero'):
    from odl_wasserstein.operators import Convolution
    shape = (7, 6, 5)[:ndim]
    space = odl.uniform_discr([0] * ndim, [1] * ndim, shape, dtype=dtype, impl=impl)
    kernel = np.random.default_rng(1).random((3, 2, 3)[:ndim])
    return Convolution(space, kernel, boundary=boundary)


@pytest.mark.parametrize('make', [mri_operator, blur_operator,
                                  lambda: blur_operator(3, boundary='periodic')])
def test_gradcheck_torch_kernels(make):
    op = make()
    module = OperatorModule(op)
    dtype = torch.complex128 if op.domain.is_complex else torch.float64
    x = torch.randn(2, 2, *op.domain.shape, dtype=dtype, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))
    assert torch.autograd.gradgradcheck(module, (x,))
    adjoint = OperatorModule(op.adjoint)
    y = torch.randn(2, 1, *op.range.shape, dtype=dtype, requires_grad=True)
    assert torch.autograd.gradcheck(adjoint, (y,))


@pytest.mark.parametrize('make', [mri_operator, blur_operator])
def test_torch_kernels_are_batched_and_match_odl(monkeypatch, make):
    op = make(impl='pytorch')
    expected_first = op(op.domain.element(np.ones(op.domain.shape))).data
    monkeypatch.setattr(type(op), '_call', lambda *a, **k: pytest.fail('ODL call'))
    module = OperatorModule(op)
    for dtype in (torch.float32, torch.float64):
        x = torch.ones(3, 2, *op.domain.shape, dtype=dtype)
        y = module(x)
        expected_dtype = (torch.complex64 if dtype == torch.float32 else torch.complex128) \
            if op.range.is_complex else dtype
        assert y.dtype == expected_dtype and y.shape == (3, 2) + op.range.shape
        torch.testing.assert_close(y[2, 1], expected_first.to(expected_dtype),
                                   rtol=1e-5, atol=1e-5)


def test_real_input_to_mri_is_promoted_and_gradient_is_real():
    op = mri_operator()
    module = OperatorModule(op)
    x = torch.rand(1, 1, *op.domain.shape, dtype=torch.float64, requires_grad=True)
    y = module(x)
    assert y.dtype == torch.complex128
    y.abs().square().sum().backward()
    assert x.grad.dtype == torch.float64
    # d/dx ||A x||^2 = 2 Re(A^H A x) for real x.
    expected = 2 * op.transpose_batch(op.forward_batch(x.detach()[0])).real
    torch.testing.assert_close(x.grad[0], expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_torch_kernels_run_on_gpu():
    for op in (mri_operator(), blur_operator()):
        module = OperatorModule(op)
        dtype = torch.complex128 if op.domain.is_complex else torch.float64
        x = torch.randn(2, 1, *op.domain.shape, dtype=dtype)
        y_gpu = module(x.cuda())
        assert y_gpu.is_cuda
        torch.testing.assert_close(y_gpu.cpu(), module(x))


# -- regressions of the reliability campaign (issue 10) ----------------------------

def _empty_batch_cases():
    from odl_wasserstein.operators import Convolution, MRIForward

    space = odl.uniform_discr([0, 0], [1, 1], (8, 8))
    return {
        'blur': Convolution(space, np.ones((3, 3)) / 9),
        'mri': MRIForward(space.complex_space, np.ones((8, 8)),
                          coil_maps=np.ones((2, 8, 8))),
        'ray': ray_transform(reconstruction_space(8), num_angles=3),
        'functional': odl.functionals.L2NormSquared(space),
        'fallback': odl.Gradient(space).adjoint @ odl.Gradient(space),
    }


@pytest.mark.parametrize('name', ['blur', 'mri', 'ray', 'functional', 'fallback'])
def test_empty_batches_give_empty_results(name):
    """Item 8: N = 0 failed inside MKL or in torch.stack."""
    op = _empty_batch_cases()[name]
    x = torch.zeros(0, 2, 8, 8, dtype=torch.float64, requires_grad=True)
    y = OperatorModule(op)(x)
    expected = (0, 2) if op.is_functional else (0, 2) + tuple(op.range.shape)
    assert tuple(y.shape) == expected
    y.abs().sum().backward()
    assert x.grad.shape == x.shape
    if hasattr(op, 'forward_batch'):
        assert tuple(op.forward_batch(x[:, 0].detach()).shape) == (0,) + op.range.shape


@pytest.mark.parametrize('name', ['blur', 'mri', 'ray'])
def test_half_precision_is_refused(name):
    """Item 9: float16 failed with 'Unsupported dtype Half' deep in the FFT."""
    op = _empty_batch_cases()[name]
    with pytest.raises(TypeError, match='`x` must be a float32, float64, complex64 or '
                                        'complex128 tensor, got torch.float16'):
        OperatorModule(op)(torch.zeros(1, 1, 8, 8, dtype=torch.float16))


def test_composition_through_a_product_space_falls_back_per_sample():
    """Item 11: ``G.adjoint @ G`` maps tensors to tensors and was refused."""
    space = odl.uniform_discr([0, 0], [1, 1], (8, 8), dtype='float64')
    gradient = odl.Gradient(space)
    normal = gradient.adjoint @ gradient
    module = OperatorModule(normal)
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    y = module(x)
    expected = np.stack([normal(xi[0].detach().numpy()).data for xi in x])
    np.testing.assert_allclose(y[:, 0].detach().numpy(), expected, rtol=1e-12)
    # -Laplacian: the gradient of <x, G*G x> / 2 is G*G x, scaled to the
    # unweighted transpose (the cell volume cancels for G*G).
    assert torch.autograd.gradcheck(module, (x,))
    with pytest.raises(TypeError, match='does not map between tensor spaces'):
        OperatorModule(gradient)
