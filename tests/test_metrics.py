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
