"""The solver runs on the device of its inputs (CUDA tests skip without a GPU)."""

import pytest
import torch

from odl_wasserstein.transport import (
    SaturatingCost, SquaredEuclideanCost, WassersteinLoss, sinkhorn)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize('method', ['fft', 'separable', 'dense'])
def test_cuda_matches_cpu(method):
    cost = SquaredEuclideanCost((16, 16))
    cost = cost / cost.max_value()
    a = torch.rand(3, 16, 16, dtype=torch.float64)
    b = torch.rand(3, 16, 16, dtype=torch.float64)
    cpu = sinkhorn(a, b, cost, 0.05, method=method, normalize=True, tol=1e-9)
    gpu = sinkhorn(a.cuda(), b.cuda(), cost, 0.05, method=method, normalize=True,
                   tol=1e-9)
    assert gpu.cost.is_cuda and gpu.f.is_cuda
    torch.testing.assert_close(gpu.cost.cpu(), cpu.cost, rtol=1e-8, atol=0)
    torch.testing.assert_close(gpu.f.cpu(), cpu.f, rtol=1e-6, atol=1e-9)


@pytest.mark.gpu
@CUDA
def test_cuda_loss_backward_stays_on_gpu():
    cost = SaturatingCost((32, 32), scale=8.0)
    loss = WassersteinLoss(cost, 0.05)
    output = torch.rand(2, 1, 32, 32, device='cuda', requires_grad=True)
    loss(output, torch.rand(2, 1, 32, 32, device='cuda')).backward()
    assert output.grad.is_cuda and torch.isfinite(output.grad).all()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_output_dtypes_follow_input(dtype):
    cost = SquaredEuclideanCost((8, 8))
    cost = cost / cost.max_value()
    a, b = torch.rand(2, 8, 8, dtype=dtype), torch.rand(2, 8, 8, dtype=dtype)
    result = sinkhorn(a, b, cost, 0.1, normalize=True, tol=1e-4)
    for value in (result.cost, result.objective, result.f, result.g):
        assert value.dtype == dtype and value.device == a.device
