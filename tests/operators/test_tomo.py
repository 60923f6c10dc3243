"""Tests of the ray transform, the papers' geometries, norms and FBP."""

import numpy as np
import odl
import pytest
import torch
from odl.applications import tomo as odl_tomo

from odl_wasserstein.operators import (
    AstraKernel, RayTransform, astra_cuda_available, fan_geometry, fbp_operator,
    operator_norm, parallel_geometry, ray_transform, reconstruction_space)
from odl_wasserstein.testing import adjoint_ratio, random_element

ADJOINT_TOL = {'float32': 1e-4, 'float64': 1e-5}


@pytest.fixture(params=['parallel', 'fan'])
def geometry_kind(request):
    return request.param


def make_geometry(space, kind, num_angles=12):
    if kind == 'parallel':
        return parallel_geometry(space, num_angles)
    return fan_geometry(space, num_angles)


def test_paper_geometry_sizes():
    """30 angles on [0, pi) and the detector sizes the papers use."""
    for size, bins in [(512, 727), (128, 183)]:
        geometry = parallel_geometry(reconstruction_space(size))
        assert geometry.partition.shape == (30, bins)
        angles = geometry.angles
        assert angles.min() > 0 and angles.max() < np.pi
        assert np.allclose(np.diff(angles), np.pi / 30)


def test_matches_odl_ray_transform(geometry_kind):
    """Same numbers as ODL's own astra_cpu RayTransform (float32, where it works)."""
    space = odl.uniform_discr([-1, -1], [1, 1], (40, 40), dtype='float32')
    geometry = make_geometry(space, geometry_kind)
    ours = RayTransform(space, geometry)
    theirs = odl_tomo.RayTransform(space, geometry, impl='astra_cpu')
    x = random_element(space, 1)
    y = random_element(ours.range, 2)
    assert ours.range == theirs.range
    np.testing.assert_array_equal(ours(x).data, theirs(x).data)
    np.testing.assert_allclose(ours.adjoint(y).data, theirs.adjoint(y).data,
                               rtol=1e-6, atol=1e-6 * np.abs(theirs.adjoint(y).data).max())


def test_adjoint(impl, real_dtype, geometry_kind):
    space = reconstruction_space((36, 36), dtype=real_dtype, impl=impl)
    op = RayTransform(space, make_geometry(space, geometry_kind))
    assert abs(adjoint_ratio(op) - 1) < ADJOINT_TOL[real_dtype]
    assert op.adjoint.adjoint is op
    scaled = ray_transform(space, make_geometry(space, geometry_kind), normalize=True)
    assert abs(adjoint_ratio(scaled) - 1) < ADJOINT_TOL[real_dtype]


def test_float64_and_pytorch_spaces_agree_with_float32_numpy():
    reference_space = reconstruction_space(32)
    geometry = parallel_geometry(reference_space, 10)
    x = random_element(reference_space, 3).data
    reference = RayTransform(reference_space, geometry)(x).data
    for dtype in ('float32', 'float64'):
        for impl in ('numpy', 'pytorch'):
            space = reconstruction_space(32, dtype=dtype, impl=impl)
            result = RayTransform(space, geometry)(space.element(x.astype(dtype)))
            data = result.data.numpy() if impl == 'pytorch' else result.data
            assert data.dtype == np.dtype(dtype)
            np.testing.assert_allclose(data, reference, rtol=1e-6, atol=1e-5)


def test_batched_threads_equal_sequential(geometry_kind):
    space = reconstruction_space(48)
    geometry = make_geometry(space, geometry_kind)
    threaded = AstraKernel(space, geometry, num_threads=4)
    sequential = AstraKernel(space, geometry, num_threads=1)
    x = torch.rand(7, 48, 48)
    y_threaded = threaded.apply(x, transpose=False)
    assert torch.equal(y_threaded, sequential.apply(x, transpose=False))
    assert torch.equal(threaded.apply(y_threaded, transpose=True),
                       sequential.apply(y_threaded, transpose=True))
    # Repeated calls reuse the worker buffers without leaking state.
    assert torch.equal(threaded.apply(x, transpose=False), y_threaded)


def test_forward_batch_matches_per_sample_calls():
    space = reconstruction_space(32, dtype='float64')
    op = RayTransform(space, parallel_geometry(space, 9))
    x = torch.rand(5, 32, 32, dtype=torch.float64)
    batch = op.forward_batch(x)
    assert batch.dtype == torch.float64 and batch.shape == (5,) + op.range.shape
    for xi, yi in zip(x, batch):
        np.testing.assert_array_equal(op(xi.numpy()).data, yi.numpy())


def test_operator_norm_and_normalisation():
    matrix = np.random.default_rng(0).standard_normal((6, 4))
    assert operator_norm(odl.MatrixOperator(matrix)) == pytest.approx(
        np.linalg.norm(matrix, 2), rel=1e-6)
    space = reconstruction_space(32)
    op = ray_transform(space, num_angles=10, normalize=True)
    assert isinstance(op.operator, RayTransform)
    assert operator_norm(op, seed=5) == pytest.approx(1.0, rel=1e-4)
    assert op.scalar * operator_norm(op.operator, seed=7) == pytest.approx(1.0, rel=1e-4)


def test_fbp_inverts_scaled_and_unscaled_transform():
    space = reconstruction_space(64, dtype='float64')
    phantom = odl.core.phantom.shepp_logan(space, modified=True)
    plain = ray_transform(space, num_angles=90)
    scaled = ray_transform(space, num_angles=90, normalize=True)
    rec_plain = fbp_operator(plain)(plain(phantom))
    rec_scaled = fbp_operator(scaled)(scaled(phantom))
    np.testing.assert_allclose(rec_scaled.data, rec_plain.data, rtol=1e-4, atol=1e-5)
    # Relative L2 errors at 64 x 64 (Hann smooths the phantom's jumps; both
    # errors halve at 256 x 256): about 0.48 for Hann and 0.29 for Ram-Lak.
    hann_error = (rec_plain - phantom).norm() / phantom.norm()
    rec_ramlak = fbp_operator(plain, filter_type='Ram-Lak')(plain(phantom))
    ramlak_error = (rec_ramlak - phantom).norm() / phantom.norm()
    assert hann_error < 0.5
    assert ramlak_error < 0.31


def test_errors():
    space = reconstruction_space(16)
    geometry = parallel_geometry(space, 4)
    with pytest.raises(ValueError, match='2D'):
        RayTransform(odl.uniform_discr([0] * 3, [1] * 3, (4, 4, 4)), geometry)
    with pytest.raises(ValueError, match='real'):
        RayTransform(space.complex_space, geometry)
    with pytest.raises(ValueError, match='square pixels'):
        RayTransform(odl.uniform_discr([-1, -1], [1, 1], (16, 8)), geometry)
    with pytest.raises(ValueError, match='num_angles'):
        parallel_geometry(space, 0)
    with pytest.raises(ValueError, match='src_radius'):
        fan_geometry(space, 8, src_radius=5.0)
    with pytest.raises(ValueError, match='geometry'):
        ray_transform(space, geometry='helical')
    with pytest.raises(TypeError, match='RayTransform'):
        fbp_operator(odl.IdentityOperator(space))
    op = RayTransform(space, geometry)
    with pytest.raises(ValueError, match='shape'):
        op.forward_batch(torch.zeros(2, 16, 15))
    with pytest.raises(TypeError, match='complex'):
        op.forward_batch(torch.zeros(2, 16, 16, dtype=torch.complex64))


@pytest.mark.gpu
@pytest.mark.skipif(not astra_cuda_available(), reason='needs CUDA and ASTRA CUDA')
def test_cuda_projection_stays_on_gpu_and_matches_cpu():
    space = reconstruction_space(64)
    op = RayTransform(space, parallel_geometry(space, 30))
    x = torch.rand(4, 64, 64)
    y_cpu = op.forward_batch(x)
    y_gpu = op.forward_batch(x.cuda())
    assert y_gpu.is_cuda
    # ASTRA's GPU and CPU projectors interpolate differently.
    assert float((y_gpu.cpu() - y_cpu).norm() / y_cpu.norm()) < 2e-2
    back_gpu = op.transpose_batch(y_gpu)
    back_cpu = op.transpose_batch(y_cpu)
    assert back_gpu.is_cuda
    assert float((back_gpu.cpu() - back_cpu).norm() / back_cpu.norm()) < 2e-2


def test_ray_transform_pickles_for_dataloader_workers():
    """ASTRA objects are rebuilt after unpickling (worker processes)."""
    import pickle
    space = reconstruction_space(24)
    op = ray_transform(space, num_angles=6, normalize=True)
    clone = pickle.loads(pickle.dumps(op))
    x = torch.rand(3, 24, 24)
    assert torch.equal(op.operator.forward_batch(x), clone.operator.forward_batch(x))
    assert clone.scalar == op.scalar


@pytest.mark.parametrize('shape, error', [
    (16.5, TypeError), ((16, 16.5), TypeError), ('16', TypeError), ((16,), ValueError),
    (0, ValueError), ((16, -1), ValueError), (True, TypeError)])
def test_reconstruction_space_rejects_non_integer_sizes(shape, error):
    """Regression (issue 10, item 9): 16.5 failed with "'float' object is not iterable"."""
    with pytest.raises(error, match='`shape` must be'):
        reconstruction_space(shape)
