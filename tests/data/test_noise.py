"""Tests of the papers' relative Gaussian noise model and salt-and-pepper noise."""

import pytest
import torch

from odl_wasserstein.data.noise import add_gaussian_noise, salt_and_pepper


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


def rgb_images(dtype=torch.float32):
    """(4, 3, 200, 200) values in [0.1, 0.9]: never equal to 0 or 1."""
    gen = torch.Generator().manual_seed(2)
    return 0.1 + 0.8 * torch.rand(4, 3, 200, 200, generator=gen, dtype=dtype)


@pytest.mark.parametrize('fraction', [0.05, 0.15, 0.5])
def test_salt_and_pepper_statistics(fraction):
    images = rgb_images()
    noisy = salt_and_pepper(images, fraction, generator=torch.Generator().manual_seed(0))
    assert noisy.shape == images.shape and noisy.dtype == images.dtype
    assert torch.equal(images, rgb_images())  # the input is not modified
    changed = noisy != images
    n = images.numel()
    # changed entries: Binomial(n, fraction); 5 standard deviations
    sigma = (fraction * (1 - fraction) / n) ** 0.5
    assert abs(float(changed.double().mean()) - fraction) < 5 * sigma
    # changed entries are exactly low or high, about half each
    values = noisy[changed]
    assert bool(((values == 0) | (values == 1)).all())
    n_changed = values.numel()
    assert abs(float((values == 1).double().mean()) - 0.5) < 5 * (0.25 / n_changed) ** 0.5
    # unchanged entries keep their value
    assert torch.equal(noisy[~changed], images[~changed])
    # channels are changed independently: all three with probability f^3
    per_pixel = changed.sum(dim=1)
    pixels = per_pixel.numel()
    for count, probability in [(3, fraction ** 3), (1, 3 * fraction * (1 - fraction) ** 2)]:
        sigma = (probability * (1 - probability) / pixels) ** 0.5
        assert abs(float((per_pixel == count).double().mean()) - probability) < 5 * sigma


def test_salt_and_pepper_extremes_and_values():
    images = rgb_images(torch.float64)
    same = salt_and_pepper(images, 0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same, images) and same is not images
    every = salt_and_pepper(images, 1, low=-1.0, high=2.0,
                            generator=torch.Generator().manual_seed(0))
    assert every.dtype == torch.float64
    assert bool(((every == -1) | (every == 2)).all())
    assert abs(float((every == 2).double().mean()) - 0.5) < 5 * (0.25 / every.numel()) ** 0.5


def test_salt_and_pepper_reproducible():
    images = rgb_images()[:1]
    a = salt_and_pepper(images, generator=torch.Generator().manual_seed(3))
    b = salt_and_pepper(images, generator=torch.Generator().manual_seed(3))
    c = salt_and_pepper(images, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # default fraction 0.15
    assert abs(float((a != images).double().mean()) - 0.15) < 0.01
    # without a generator: the global one (seeded by the test fixture)
    torch.manual_seed(5)
    d = salt_and_pepper(images)
    torch.manual_seed(5)
    assert torch.equal(salt_and_pepper(images), d)


def test_salt_and_pepper_errors():
    images = torch.rand(2, 3, 4, 4)
    for bad in (images.long(), images.to(torch.complex64), images.tolist()):
        with pytest.raises(TypeError, match='floating'):
            salt_and_pepper(bad)
    for fraction in (-0.1, 1.01, float('nan')):
        with pytest.raises(ValueError, match='fraction'):
            salt_and_pepper(images, fraction)
    for fraction in (True, '0.1'):
        with pytest.raises(TypeError, match='fraction'):
            salt_and_pepper(images, fraction)
    with pytest.raises(ValueError, match='low'):
        salt_and_pepper(images, low=float('-inf'))
    with pytest.raises(ValueError, match='high'):
        salt_and_pepper(images, high=None)
    with pytest.raises(ValueError, match='NaN'):
        salt_and_pepper(torch.tensor([[0.5, float('nan')]]))
