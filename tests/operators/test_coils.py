"""Tests of `estimate_coil_maps` and `compress_coils` against simulated coils and NumPy's SVD."""

import numpy as np
import pytest
import torch

from odl_wasserstein.data.mri import (
    birdcage_coil_maps, simulate_kspace, simulated_subject_image)
from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.operators.coils import compress_coils, estimate_coil_maps
from odl_wasserstein.operators.masks import poisson_disc_mask


def subject(shape, subject=0, num_coils=8, snr_db=30):
    """Image (H, W), true maps (C, H, W), noisy k-space (C, H, W) and the object's pixels."""
    image = simulated_subject_image(subject, shape)
    maps = birdcage_coil_maps(shape, num_coils)
    kspace = simulate_kspace(image[None, None], maps, snr_db, generator=subject)[0]
    return image, maps, kspace, image.abs() > 0.05 * image.abs().max()


def relative_error(estimate, truth, where):
    return float((estimate - truth)[..., where].norm() / truth[..., where].norm())


@pytest.mark.parametrize('shape, calibration, tolerance', (((256, 320), 20, 0.015),
                                                          ((128, 128), 16, 0.025)))
def test_maps_match_the_true_maps_up_to_the_common_phase(shape, calibration, tolerance):
    image, maps, kspace, inside = subject(shape)
    estimate = estimate_coil_maps(kspace, calibration)
    # Relative phases and magnitudes are those of the true coils (the
    # estimate carries the image's smooth phase, common to all coils).
    pairs = estimate[:, None] * estimate[None].conj()
    assert relative_error(pairs, maps[:, None] * maps[None].conj(), inside) < tolerance
    assert relative_error(estimate.abs(), maps.abs(), inside) < tolerance / 2
    # Normalised wherever defined, zero elsewhere; defined on the whole object.
    power = estimate.abs().square().sum(0)
    defined = power > 0
    torch.testing.assert_close(power[defined], torch.ones_like(power[defined]))
    assert bool(defined[inside].all()) and float(defined.float().mean()) < 0.9
    # The coil combination of the fully sampled data has the magnitude of the image.
    combined = (estimate.conj() * ifftn_centered(kspace, 2)).sum(0)
    assert relative_error(combined.abs(), image.abs(), inside) < 0.01


def test_only_the_calibration_region_is_used():
    _, _, kspace, _ = subject((64, 64), subject=3)
    mask = torch.as_tensor(poisson_disc_mask((64, 64), 6, calibration=8, seed=0))
    full = estimate_coil_maps(kspace, calibration=8)
    torch.testing.assert_close(estimate_coil_maps(kspace * mask, calibration=8), full)
    # A batch of slices is estimated slice by slice; rectangles are allowed.
    batch = torch.stack([kspace, 2 * kspace])
    torch.testing.assert_close(estimate_coil_maps(batch, calibration=8)[1], full)
    assert estimate_coil_maps(kspace, calibration=(6, 10)).shape == kspace.shape


def test_larger_calibration_gives_sharper_maps():
    """A larger calibration gives sharper maps: the error falls with the calibration size."""
    _, maps, kspace, inside = subject((128, 128), subject=1)
    errors = [relative_error(estimate_coil_maps(kspace, c).abs(), maps.abs(), inside)
              for c in (6, 12, 24)]
    assert errors[0] > errors[1] > errors[2]


def test_compression_to_all_coils_keeps_the_rss_image():
    _, _, kspace, _ = subject((48, 40), num_coils=6)
    kspace = torch.stack([kspace, kspace.flip(-1)])
    compressed = compress_coils(kspace, 6)
    assert compressed.shape == (2, 6, 48, 40) and compressed.dtype == torch.complex64

    def rss(k):
        return ifftn_centered(k, 2).abs().square().sum(1).sqrt()

    torch.testing.assert_close(rss(compressed), rss(kspace), rtol=1e-4, atol=1e-6)


def test_compression_keeps_the_principal_components():
    _, _, kspace, _ = subject((64, 64), num_coils=15, snr_db=20)
    matrix = kspace.reshape(15, -1).numpy().astype(np.complex128)
    singular = np.linalg.svd(matrix, compute_uv=False)
    compressed = compress_coils(kspace, 8)
    energy = compressed.abs().square().sum((-2, -1)).double().numpy()
    # Virtual coil j holds the j-th squared singular value of NumPy's SVD.
    np.testing.assert_allclose(energy, singular[:8] ** 2, rtol=1e-4)
    kept = energy.sum() / float(kspace.abs().square().sum())
    assert kept > 0.99
    # The virtual coils are uncorrelated (orthogonal rows).
    flat = compressed.reshape(8, -1).to(torch.complex128)
    gram = flat @ flat.mH
    off = gram - torch.diag(torch.diagonal(gram))
    assert float(off.abs().max()) < 1e-4 * float(gram.abs().max())
    # Linear across coils: compressing images and k-space agree.
    images = ifftn_centered(kspace, 2)
    torch.testing.assert_close(fftn_centered(compress_coils(images, 8), 2).abs(),
                               compressed.abs(), rtol=1e-4, atol=1e-4)


def test_errors():
    kspace = torch.ones(2, 8, 8, dtype=torch.complex64)
    with pytest.raises(TypeError, match='`kspace` must be a complex tensor'):
        estimate_coil_maps(kspace.real)
    with pytest.raises(ValueError, match=r'`kspace` must have shape \(N, C, H, W\)'):
        estimate_coil_maps(kspace[0])
    with pytest.raises(ValueError, match='`kspace` contains NaN'):
        estimate_coil_maps(kspace * float('nan'))
    with pytest.raises(ValueError, match='`calibration` .* larger than the k-space'):
        estimate_coil_maps(kspace, calibration=9)
    with pytest.raises(ValueError, match='`calibration` must be a positive int'):
        estimate_coil_maps(kspace, calibration=(0, 4))
    with pytest.raises(ValueError, match=r'`threshold` must be in \[0, 1\)'):
        estimate_coil_maps(kspace, calibration=4, threshold=1)
    with pytest.raises(ValueError, match='zero on the calibration region'):
        estimate_coil_maps(torch.zeros_like(kspace), calibration=4)
    with pytest.raises(ValueError, match='`num_coils` must be at most the 2 coils'):
        compress_coils(kspace, 3)
    with pytest.raises(ValueError, match='`num_coils` must be an int >= 1'):
        compress_coils(kspace, 0)
    with pytest.raises(TypeError, match='`num_coils` must be an int'):
        compress_coils(kspace, 1.5)
