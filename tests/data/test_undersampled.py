"""`UndersampledMRIDataset`, `RandomLineMasks`: measurements made as the OT-cycleGAN code does."""

import pytest
import torch

from odl_wasserstein.data.mri import SimulatedMRIDataset
from odl_wasserstein.data.undersampled import RandomLineMasks, UndersampledMRIDataset
from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.operators.masks import ot_cyclegan_lines_mask
from odl_wasserstein.util import channels_to_complex


def images(**kwargs):
    return SimulatedMRIDataset(24, batch_size=3, seed=2, subjects='odd', **kwargs)


def test_measurements_are_the_masked_fourier_data_of_the_images():
    data = UndersampledMRIDataset(images(), acceleration=4, seed=5)
    item = data.batch(3)
    x = images().batch(3)['image']
    for k in range(3):
        mask = item['mask'][k, 0, 0]
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        y = ifftn_centered(fftn_centered(x[k], 2) * mask, 2)
        torch.testing.assert_close(item['y'][k] * item['y_scale'][k], y)
        torch.testing.assert_close(item['x'][k] * item['x_scale'][k], x[k])
        # Each image divided by the standard deviation of its magnitude.
        assert float(item['y'][k].abs().std(unbiased=False)) == pytest.approx(1, rel=1e-5)
        assert float(item['x'][k].abs().std(unbiased=False)) == pytest.approx(1, rel=1e-5)
    # One mask per sample, from the batch's seed stream.
    assert not torch.equal(item['mask'][0], item['mask'][1])
    assert torch.equal(item['subject'], images().batch(3)['subject'])
    again = UndersampledMRIDataset(images(), acceleration=4, seed=5)
    assert torch.equal(next(again.batches(start=3))['y'], item['y'])


def test_noise_at_the_requested_snr_and_two_channel_form():
    clean = UndersampledMRIDataset(images(), acceleration=2, seed=1, normalization=None)
    noisy = UndersampledMRIDataset(images(), acceleration=2, seed=1, normalization=None,
                                   snr_db=20)
    a, b = clean.batch(0), noisy.batch(0)
    assert torch.equal(a['mask'], b['mask'])  # the masks are drawn before the noise
    for k in range(3):
        # Noise std sigma = ||F x|| / sqrt(H W) 10^(-SNR / 20) on every k-space entry.
        noise = fftn_centered(b['y'][k] - a['y'][k], 2)[..., a['mask'][k, 0, 0] > 0]
        sigma = float(noise.abs().square().mean().sqrt())
        expected = float(a['x'][k].norm()) / 24 * 10 ** (-20 / 20)
        assert sigma == pytest.approx(expected, rel=0.1)
    channels = UndersampledMRIDataset(images(), seed=1, channels=True).batch(0)
    assert channels['x'].shape == (3, 2, 24, 24) and channels['x'].dtype == torch.float32
    torch.testing.assert_close(
        channels_to_complex(channels['y']), UndersampledMRIDataset(images(), seed=1).batch(0)['y'])


def test_random_line_masks_follow_torch_state():
    masks = RandomLineMasks(4)
    like = torch.zeros(1, 2, 16, 40)
    torch.manual_seed(7)
    first = masks(like)
    seed = torch.randint(2 ** 31 - 1, (), generator=torch.Generator().manual_seed(7))
    expected = ot_cyclegan_lines_mask((16, 40), 4, seed=int(seed))[0]
    torch.testing.assert_close(first[0, 0, 0], torch.as_tensor(expected))
    assert not torch.equal(masks(like), first)


def test_errors():
    with pytest.raises(ValueError, match='without normalisation'):
        UndersampledMRIDataset(images(normalization='std'))
    with pytest.raises(ValueError, match='`mask` must be one of'):
        UndersampledMRIDataset(images(), mask='poisson')
    with pytest.raises(ValueError, match='`acceleration` must be a finite number >= 1'):
        UndersampledMRIDataset(images(), acceleration=0.5)
    with pytest.raises(TypeError, match='`images` must be a stream'):
        UndersampledMRIDataset([1, 2])
