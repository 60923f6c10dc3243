"""Metrics against scikit-image (independent reference) and analytic values."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from odl_wasserstein.metrics import psnr, ssim


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    reference = np.zeros((3, 40, 36))
    reference[:, 10:30, 8:20] = 1.0
    reference += 0.2 * rng.random(reference.shape)
    noisy = reference + 0.1 * rng.standard_normal(reference.shape)
    return noisy, reference


def test_psnr_matches_skimage(images):
    noisy, reference = images
    ours = psnr(noisy, reference, data_range=1.0)
    assert ours.shape == (3,)
    for value, x, r in zip(ours, noisy, reference):
        assert float(value) == pytest.approx(
            peak_signal_noise_ratio(r, x, data_range=1.0), rel=1e-10)


@pytest.mark.parametrize('data_range', [1.0, None])
def test_ssim_matches_skimage(images, data_range):
    noisy, reference = images
    ours = ssim(torch.from_numpy(noisy), torch.from_numpy(reference), data_range)
    for value, x, r in zip(ours, noisy, reference):
        expected = structural_similarity(
            r, x, data_range=r.max() - r.min() if data_range is None else data_range)
        assert float(value) == pytest.approx(expected, abs=1e-10)


def test_float32_inputs_and_identity():
    reference = torch.rand(2, 1, 16, 16)
    assert torch.allclose(ssim(reference, reference), torch.ones(2, 1))
    assert torch.isinf(psnr(reference, reference)).all()


def test_errors():
    with pytest.raises(ValueError, match='same shape'):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match='at least 7 x 7'):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match='NaN'):
        ssim(np.full((8, 8), np.nan), np.zeros((8, 8)))
    with pytest.raises(ValueError, match='data_range'):
        psnr(np.zeros((8, 8)), np.ones((8, 8)), data_range=0)
    with pytest.raises(TypeError, match='real'):
        psnr(np.zeros((8, 8), complex), np.zeros((8, 8), complex))


def test_transport_distance_measures_displacement_in_pixels():
    from odl_wasserstein.metrics import transport_distance
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing='ij')
    blob = lambda cy, cx: torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 6)
    base = blob(16, 10)
    shifts = torch.stack([blob(16, 10 + s) for s in (0, 2, 5)])
    distance = transport_distance(shifts, base.expand(3, -1, -1))
    torch.testing.assert_close(distance, torch.tensor([0.0, 2.0, 5.0]), atol=2e-2, rtol=0)
    # Smearing a blob (variance 3 per axis) over shifts -4, 0, 4 keeps its
    # mass and mean but widens it: in 1D, W2 is at least the difference of
    # the standard deviations, sqrt(3 + 32/3) - sqrt(3) = 1.97, and at most
    # moving each third by 4 px, sqrt(32/3) = 3.27.
    smeared = (blob(16, 6) + blob(16, 10) + blob(16, 14)) / 3
    distance = float(transport_distance(smeared, base))
    assert 1.95 < distance < 3.27


def test_peak_intensity_drops_when_smeared():
    from odl_wasserstein.metrics import peak_intensity
    reference = torch.zeros(2, 32, 32)
    reference[:, 8:10, 4:28] = 1.0
    smeared = torch.nn.functional.avg_pool2d(reference, 7, 1, 3)
    values = peak_intensity(smeared, reference)
    assert values.shape == (2,)
    assert float(values.max()) < 0.35
    torch.testing.assert_close(peak_intensity(reference, reference), torch.ones(2))


def test_sliced_transport_distance_equals_scipy_per_direction():
    from scipy.stats import wasserstein_distance

    from odl_wasserstein.metrics import sliced_transport_distance

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 9, 7, generator=generator, dtype=torch.float64)
    r = torch.rand(2, 9, 7, generator=generator, dtype=torch.float64) ** 3
    rows, cols = np.meshgrid(np.arange(9.0), np.arange(7.0), indexing='ij')
    n = 5
    expected = []
    for a, b in zip(x.numpy(), r.numpy()):
        values = []
        for k in range(n):
            angle = k * np.pi / n
            positions = (np.cos(angle) * rows + np.sin(angle) * cols).ravel()
            values.append(wasserstein_distance(positions, positions, a.ravel(), b.ravel()))
        expected.append(np.mean(values))
    result = sliced_transport_distance(x, r, n_projections=n)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


def test_sliced_transport_distance_of_translations_and_errors():
    from odl_wasserstein.metrics import sliced_transport_distance

    image = torch.zeros(40, 40)
    image[8:12, 5:9] = 1
    moved = torch.stack([image.roll(d, dims=1) for d in (0, 3, 12)])
    distance = sliced_transport_distance(moved, image.expand(3, -1, -1), n_projections=720)
    np.testing.assert_allclose(distance.numpy(), [0, 6 / np.pi, 24 / np.pi], atol=2e-3)
    # Mass does not count: a scaled image is at distance 0.
    assert float(sliced_transport_distance(3 * image, image)) == 0
    with pytest.raises(ValueError, match='no positive mass'):
        sliced_transport_distance(-image, image)
    with pytest.raises(ValueError, match='n_projections'):
        sliced_transport_distance(image, image, n_projections=0)


# -- generative models and critics ---------------------------------------------

@pytest.mark.parametrize('sizes', [(40, 40), (30, 45), (7, 13)])
@pytest.mark.parametrize('p', [1, 2])
def test_sliced_wasserstein_equals_pot_with_the_same_projections(sizes, p):
    import ot

    from odl_wasserstein.metrics import sliced_wasserstein

    rng = np.random.default_rng(0)
    x = rng.normal(size=(sizes[0], 2, 3, 3))
    y = rng.normal(size=(sizes[1], 2, 3, 3)) + 0.5
    ours = sliced_wasserstein(torch.from_numpy(x), torch.from_numpy(y), n_projections=50,
                              p=p, generator=torch.Generator().manual_seed(4))
    # The same directions as ours: standard normal draws, normalised.
    directions = torch.randn(18, 50, generator=torch.Generator().manual_seed(4),
                             dtype=torch.float64)
    directions = (directions / directions.norm(dim=0, keepdim=True)).numpy()
    expected = ot.sliced_wasserstein_distance(x.reshape(sizes[0], -1), y.reshape(sizes[1], -1),
                                              p=p, projections=directions)
    assert float(ours) == pytest.approx(float(expected), rel=1e-10)


def test_sliced_wasserstein_exact_cases_and_errors():
    from odl_wasserstein.metrics import sliced_wasserstein

    # One dimension: the projection is +-x, the exact W1 between the sets.
    x = torch.tensor([[0.0], [1.0], [5.0]])
    y = torch.tensor([[2.0], [3.0]])
    # Quantiles: levels 1/3, 1/2, 2/3, 1 -> |0-2|/3 + |1-2|/6 + |1-3|/6 + |5-3|/3 = 11/6
    value = sliced_wasserstein(x, y, n_projections=3, p=1)
    assert float(value) == pytest.approx(11 / 6, rel=1e-12)
    with pytest.raises(ValueError, match='same sample shape'):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match='`p` must be a finite number >= 1'):
        sliced_wasserstein(x, y, p=0.5)
    with pytest.raises(ValueError, match='non-finite|NaN|finite'):
        sliced_wasserstein(torch.tensor([[float('nan')]]), y)


def test_psnr_peaks_of_the_two_mri_conventions():
    """The OT-cycleGAN paper's max |x*| per slice and fastMRI's volume maximum."""
    from odl_wasserstein.metrics import volume_max

    generator = torch.Generator().manual_seed(4)
    reference = torch.rand(4, 6, 6, generator=generator, dtype=torch.float64) + 0.5
    reference[1] *= 3
    x = reference + 0.05 * torch.randn(4, 6, 6, generator=generator, dtype=torch.float64)
    mse = (x - reference).square().mean(dim=(1, 2))
    slice_max = reference.flatten(1).amax(1)
    torch.testing.assert_close(psnr(x, reference, data_range='max'),
                               10 * torch.log10(slice_max ** 2 / mse))
    peaks = volume_max(reference, ['a', 'a', 'b', 'b'])
    expected = torch.stack([slice_max[:2].max()] * 2 + [slice_max[2:].max()] * 2)
    torch.testing.assert_close(peaks, expected)
    torch.testing.assert_close(psnr(x, reference, data_range=peaks),
                               10 * torch.log10(expected ** 2 / mse))
    # A slice's volume maximum is never below its own: fastMRI's PSNR is >= the paper's.
    assert bool((psnr(x, reference, data_range=peaks)
                 >= psnr(x, reference, data_range='max') - 1e-12).all())
    with pytest.raises(ValueError, match='one positive value per image'):
        psnr(x, reference, data_range=torch.ones(3))
    with pytest.raises(ValueError, match='name the volume of each'):
        volume_max(reference, ['a'])
