"""Tests of the papers' relative Gaussian noise model."""

import pytest
import torch

from odl_wasserstein.data.noise import add_gaussian_noise


def sample_data():
    """Four (1, 60, 80) 'sinograms' whose mean absolute values differ by 1000x."""
    gen = torch.Generator().manual_seed(1)
    base = torch.rand(4, 1, 60, 80, generator=gen, dtype=torch.float64) - 0.3
    return base * torch.tensor([0.01, 1.0, 5.0, 10.0], dtype=torch.float64)[:, None, None, None]


@pytest.mark.parametrize('level', [0.05, 0.2])
def test_relative_std_per_sample(level):
    data = sample_data()
    noisy = add_gaussian_noise(data, level, dim=(-2, -1),
                               generator=torch.Generator().manual_seed(0))
    assert noisy.shape == data.shape and noisy.dtype == torch.float64
    noise = noisy - data
    mean_abs = data.abs().mean(dim=(-2, -1))
    ratio = noise.std(dim=(-2, -1)) / mean_abs
    # 4800 values per sample: the std is known to about 1 % (1 / sqrt(2 * 4800))
    assert torch.allclose(ratio, torch.full_like(ratio, level), rtol=0.05)
    assert bool((noise.mean(dim=(-2, -1)).abs() < 0.06 * level * mean_abs).all())


def test_default_dim_is_global():
    data = sample_data()
    noisy = add_gaussian_noise(data, 0.05, generator=torch.Generator().manual_seed(0))
    noise = noisy - data
    global_std = 0.05 * float(data.abs().mean())
    per_sample = noise.std(dim=(1, 2, 3))
    # one level for all: samples of small and large data get the same noise
    assert torch.allclose(per_sample, torch.full_like(per_sample, global_std), rtol=0.05)


def test_reproducible_and_float32():
    data = sample_data().float()
    a = add_gaussian_noise(data, 0.05, dim=(-2, -1), generator=torch.Generator().manual_seed(3))
    b = add_gaussian_noise(data, 0.05, dim=(-2, -1), generator=torch.Generator().manual_seed(3))
    c = add_gaussian_noise(data, 0.05, dim=(-2, -1), generator=torch.Generator().manual_seed(4))
    assert a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    # the noise is level * mean|data| * N(0, 1) drawn from the generator
    expected = torch.randn(data.shape, generator=torch.Generator().manual_seed(3))
    scale = 0.05 * data.abs().mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(a - data, scale * expected, rtol=1e-4, atol=1e-6)
    assert torch.equal(add_gaussian_noise(data, 0.0), data)
    # the input is not modified
    assert torch.equal(data, sample_data().float())


def test_errors():
    data = torch.ones(3, 3)
    with pytest.raises(TypeError, match='real'):
        add_gaussian_noise(torch.ones(3, 3, dtype=torch.complex64), 0.05)
    with pytest.raises(TypeError, match='real'):
        add_gaussian_noise([[1.0, 2.0]], 0.05)
    for level in (-0.1, float('nan')):
        with pytest.raises(ValueError, match='level'):
            add_gaussian_noise(data, level)
    with pytest.raises(ValueError, match='NaN'):
        add_gaussian_noise(torch.tensor([1.0, float('nan')]), 0.05)
    with pytest.raises(ValueError, match='NaN'):
        add_gaussian_noise(torch.tensor([1.0, float('inf')]), 0.05)
