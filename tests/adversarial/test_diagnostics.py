"""Tests of the critic diagnostics: translations, total variation, crossings, continuity."""

import numpy as np
import pytest
import torch


def test_translation_sequence_moves_one_pixel_per_step():
    from odl_wasserstein.adversarial import translation_sequence

    image = torch.rand(2, 6, 5)
    frames = translation_sequence(image, fill=-1.0)
    assert frames.shape == (7, 2, 6, 5)
    for k in range(7):
        torch.testing.assert_close(frames[k, :, k:], image[:, :6 - k], rtol=0, atol=0)
        assert bool((frames[k, :, :k] == -1.0).all())
    sideways = translation_sequence(image, max_shift=2, axis=-1)
    torch.testing.assert_close(sideways[2, :, :, 2:], image[:, :, :3], rtol=0, atol=0)
    volume = translation_sequence(torch.rand(1, 3, 4, 4), max_shift=1, axis=-3)
    assert volume.shape == (2, 1, 3, 4, 4)
    with pytest.raises(ValueError, match='channel axis'):
        translation_sequence(image, axis=0)
    with pytest.raises(ValueError, match='one image'):
        translation_sequence(torch.rand(6, 5))


def test_total_variation_and_zero_crossings():
    from odl_wasserstein.adversarial import total_variation_1d, zero_crossings

    t = torch.linspace(0, 1, 33, dtype=torch.float64)
    monotone = 3.0 - 2.0 * t
    wave = torch.sin(2 * np.pi * 3 * t)  # 3 periods
    curves = torch.stack([monotone, wave, torch.full_like(t, 2.0)])
    tv = total_variation_1d(curves)
    assert tv[0].item() == pytest.approx(1.0, rel=1e-12)
    # Six monotone half-waves each spanning the full range 2 (up to sampling).
    assert tv[1].item() == pytest.approx(6.0, rel=0.02)
    assert tv[2].item() == 0.0
    raw = total_variation_1d(curves, normalize=None)
    assert raw[0].item() == pytest.approx(2.0, rel=1e-12)
    crossings = zero_crossings(curves, threshold=torch.tensor([2.0, 0.0, 0.0]))
    # sin(6 pi t) on [0, 1] crosses 0 at t = k/6, k = 1..5 (the end points are zeros).
    assert crossings.tolist() == [1, 5, 0]


def test_critic_continuity_of_a_translation_invariant_and_a_parity_critic():
    from odl_wasserstein.adversarial import critic_continuity

    images = torch.zeros(3, 1, 8, 8)
    images[:, :, 2:5, 2:5] = 1.0
    # Total mass: constant until the square leaves the frame at shift 6, then 0.
    mass = critic_continuity(lambda x: x.flatten(1).sum(1) - 4.5, images, batch_size=2)
    assert mass['curves'].shape == (3, 9)
    assert mass['curves'][0].tolist() == [4.5] * 4 + [1.5, -1.5, -4.5, -4.5, -4.5]
    assert mass['mean_total_variation'] == pytest.approx(1.0)
    assert mass['mean_zero_crossings'] == 1.0
    # A critic that flips sign with the square's row parity oscillates.
    rows = torch.arange(8.0)
    parity = critic_continuity(
        lambda x: (x.sum(dim=(1, 3)) * torch.cos(np.pi * rows)).sum(1), images)
    # Values 3, -3, 3, -3, 0, -3, 0, 0, 0: three crossings, variation 27 / 6.
    assert parity['curves'][0].tolist() == [3.0, -3.0, 3.0, -3.0, 0.0, -3.0, 0.0, 0.0, 0.0]
    assert parity['mean_zero_crossings'] == 3.0
    assert parity['mean_total_variation'] == pytest.approx(4.5)
    with pytest.raises(ValueError, match='one value per sample'):
        critic_continuity(lambda x: x, images)
