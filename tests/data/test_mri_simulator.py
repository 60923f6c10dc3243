"""Tests of the offline MRI simulator `odl_wasserstein.data.mri`."""

import itertools
import math

import numpy as np
import pytest
import torch

from odl_wasserstein.data.mri import (
    SimulatedMRIDataset, add_kspace_noise, birdcage_coil_maps, normalize_mri_images,
    random_mri_image, simulate_kspace, simulated_subject_image)


def numpy_fft2_centred(x):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), norm='ortho'), axes=axes)


# --- images -----------------------------------------------------------------

@pytest.mark.parametrize('shape', ((64, 64), (48, 80), (320, 320)))
def test_image_shapes_dtypes_and_values(shape):
    image = random_mri_image(shape, generator=3)
    assert image.shape == shape and image.dtype == torch.complex64
    assert bool(torch.isfinite(torch.view_as_real(image)).all())
    magnitude = image.abs()
    assert 0.2 < float(magnitude.max()) < 1.3
    # Background around the body, anatomy in the middle.
    assert float(magnitude[0].max()) == 0 and float(magnitude[:, 0].max()) == 0
    assert float(magnitude[shape[0] // 2, shape[1] // 2]) > 0.05
    inside = (magnitude > 0).float().mean()
    assert 0.25 < float(inside) < 0.85


def test_images_are_seeded():
    a = random_mri_image(64, generator=5, batch_size=3)
    assert a.shape == (3, 64, 64)
    assert torch.equal(a, random_mri_image(64, generator=torch.Generator().manual_seed(5),
                                           batch_size=3))
    assert not torch.equal(a, random_mri_image(64, generator=6, batch_size=3))
    assert not torch.equal(a[0], a[1])


@pytest.mark.parametrize('n', (64, 128))
def test_phase_is_smooth(n):
    # The quadratic phase changes by at most 4 / (n - 1) rad per pixel.
    for seed in range(10):
        image = random_mri_image(n, generator=seed)
        phase = image.angle().double()
        inside = image.abs() > 1e-3
        for axis in (0, 1):
            step = torch.diff(phase, dim=axis)
            step = torch.remainder(step + math.pi, 2 * math.pi) - math.pi  # wrapped
            both = inside.narrow(axis, 0, n - 1) & inside.narrow(axis, 1, n - 1)
            assert float(step[both].abs().max()) <= 4 / (n - 1) + 1e-5


def test_texture_is_mild_and_optional():
    plain = random_mri_image(64, generator=1, texture=0)
    textured = random_mri_image(64, generator=1)
    inside = plain.abs() > 0.05
    ratio = (textured.abs()[inside] / plain.abs()[inside]).double()
    assert float(ratio.std()) == pytest.approx(0.05, rel=0.3)
    assert float((ratio - 1).abs().max()) < 0.3


def test_subject_images_are_pure_functions():
    a = simulated_subject_image(12, (32, 48))
    assert a.shape == (32, 48)
    assert torch.equal(a, simulated_subject_image(12, (32, 48)))
    assert not torch.equal(a, simulated_subject_image(13, (32, 48)))
    # The anatomy does not depend on the resolution: the same tissue where
    # the magnitude exceeds 0.1, up to the pixels along the edges.
    low = simulated_subject_image(12, 32).abs()
    pooled = torch.nn.functional.avg_pool2d(simulated_subject_image(12, 128).abs()[None, None],
                                            4)[0, 0]
    assert float(((low > 0.1).float() - (pooled > 0.1).float()).abs().mean()) < 0.05


# --- coil maps --------------------------------------------------------------

@pytest.mark.parametrize('shape', ((64, 64), (48, 80)))
@pytest.mark.parametrize('num_coils', (1, 3, 8, 15))
def test_coil_maps_are_normalised(shape, num_coils):
    maps = birdcage_coil_maps(shape, num_coils)
    assert maps.shape == (num_coils,) + shape and maps.dtype == torch.complex64
    total = maps.abs().double().square().sum(0)
    assert float((total - 1).abs().max()) < 1e-6


def test_coil_maps_follow_the_birdcage_model():
    n, coils, radius = 40, 6, 1.7
    maps = birdcage_coil_maps(n, coils, radius=radius, dtype=torch.complex128).numpy()
    y, x = np.mgrid[:n, :n]
    x, y = (x - n / 2) / (n / 2), (y - n / 2) / (n / 2)
    raw = []
    for c in range(coils):
        angle = 2 * np.pi * c / coils
        dx, dy = x - radius * np.cos(angle), y - radius * np.sin(angle)
        raw.append(np.exp(1j * (np.arctan2(dy, dx) - angle)) / np.hypot(dx, dy))
    raw = np.array(raw)
    np.testing.assert_allclose(maps, raw / np.sqrt((abs(raw) ** 2).sum(0)), atol=1e-12)
    # Each coil is most sensitive next to itself.
    assert np.argmax(abs(maps[:, n // 2, -1])) == 0
    assert np.argmax(abs(maps[:, n // 2, 0])) == coils // 2


def test_coil_map_errors():
    with pytest.raises(ValueError, match='`radius`'):
        birdcage_coil_maps(16, 4, radius=1.0)
    with pytest.raises(ValueError, match='`num_coils`'):
        birdcage_coil_maps(16, 0)
    with pytest.raises(ValueError, match='`shape`'):
        birdcage_coil_maps((16, 16, 16), 4)


# --- noise and k-space ----------------------------------------------------------

@pytest.mark.parametrize('snr_db', (0.0, 10.0, 25.0, 40.0))
def test_noise_reaches_the_requested_snr(snr_db):
    images = random_mri_image(64, generator=2, batch_size=4)[:, None]
    clean = simulate_kspace(images, birdcage_coil_maps(64, 8))
    noisy = add_kspace_noise(clean, snr_db, generator=0)
    noise = noisy - clean
    for k, n in zip(clean, noise):
        measured = 20 * math.log10(float(k.norm() / n.norm()))
        assert measured == pytest.approx(snr_db, abs=0.02 * max(snr_db, 10))
    # Circular, zero-mean, white: equal real and imaginary variances.
    assert float(noise.real.var() / noise.imag.var()) == pytest.approx(1, abs=0.03)
    assert abs(float(noise.real.mean())) < 0.05 * float(noise.real.std())


def test_noise_is_seeded_and_infinite_snr_adds_nothing():
    k = torch.randn(2, 3, 16, 16, dtype=torch.complex64,
                    generator=torch.Generator().manual_seed(0))
    assert torch.equal(add_kspace_noise(k, 10, generator=1), add_kspace_noise(k, 10, generator=1))
    assert not torch.equal(add_kspace_noise(k, 10, generator=1),
                           add_kspace_noise(k, 10, generator=2))
    assert torch.equal(add_kspace_noise(k, math.inf, generator=1), k)
    assert torch.equal(add_kspace_noise(torch.zeros_like(k), 10, generator=1), torch.zeros_like(k))
    with pytest.raises(TypeError, match='`kspace`'):
        add_kspace_noise(k.real, 10)
    with pytest.raises(ValueError, match='`snr_db`'):
        add_kspace_noise(k, float('nan'))


def test_simulated_kspace_matches_numpy():
    images = random_mri_image(32, generator=4, batch_size=2)[:, None]
    maps = birdcage_coil_maps(32, 4)
    kspace = simulate_kspace(images, maps)
    expected = numpy_fft2_centred(images.numpy().astype(np.complex128) * maps.numpy())
    np.testing.assert_allclose(kspace.numpy(), expected, atol=1e-5)
    assert simulate_kspace(images).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match='`coil_maps`'):
        simulate_kspace(images, maps[:, :16])
    with pytest.raises(ValueError, match='`images`'):
        simulate_kspace(images[:, 0])


# --- normalisation ----------------------------------------------------------

def test_normalizations_against_numpy():
    images = random_mri_image(32, generator=8, batch_size=3)[:, None]
    x = images.numpy().astype(np.complex128)
    out, offset, scale = normalize_mri_images(images, 'std')
    std = np.abs(x).reshape(3, -1).std(axis=1)
    np.testing.assert_allclose(scale.numpy(), std, rtol=1e-5)
    np.testing.assert_allclose(offset.numpy(), 0)
    assert out.dtype == torch.complex64
    np.testing.assert_allclose(out.numpy(), x / std[:, None, None, None], rtol=1e-4, atol=1e-6)
    out, offset, scale = normalize_mri_images(images, 'fastmri')
    magnitude = np.abs(x).reshape(3, -1)
    mean, std = magnitude.mean(axis=1), magnitude.std(axis=1, ddof=1) + 1e-11
    expected = np.clip((np.abs(x) - mean[:, None, None, None]) / std[:, None, None, None], -6, 6)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(offset.numpy(), mean, rtol=1e-5)
    same, zero, one = normalize_mri_images(images, None)
    assert torch.equal(same, images) and float(zero.abs().max()) == 0 and bool((one == 1).all())


def test_normalization_statistics_and_blank_images():
    blank = torch.zeros(2, 1, 4, 4, dtype=torch.complex64)
    out, _, scale = normalize_mri_images(blank, 'std')
    assert torch.equal(out, blank) and bool((scale == 1).all())
    images = torch.full((1, 1, 2, 2), 10.0)
    out, _, _ = normalize_mri_images(images, 'fastmri',
                                     statistics=(torch.tensor([2.0]), torch.tensor([1.0])))
    assert bool((out == 6).all())  # (10 - 2) / 1 clamped to 6
    with pytest.raises(ValueError, match='`statistics`'):
        normalize_mri_images(images, 'std', statistics=(torch.zeros(2), torch.ones(2)))
    with pytest.raises(ValueError, match='`normalization`'):
        normalize_mri_images(images, 'max')


# --- dataset ----------------------------------------------------------------

def test_dataset_items_and_determinism():
    dataset = SimulatedMRIDataset(48, batch_size=3, seed=4)
    item = dataset.batch(2)
    assert sorted(item) == ['image', 'offset', 'scale', 'subject']
    assert item['image'].shape == (3, 1, 48, 48) and item['image'].dtype == torch.complex64
    assert item['subject'].dtype == torch.int64
    twin = SimulatedMRIDataset(48, batch_size=3, seed=4).batch(2)
    assert torch.equal(item['image'], twin['image'])
    assert not torch.equal(item['image'], dataset.batch(3)['image'])
    assert not torch.equal(item['image'], SimulatedMRIDataset(48, 3, seed=5).batch(2)['image'])
    for subject, image in zip(item['subject'].tolist(), item['image']):
        assert torch.equal(image[0], simulated_subject_image(subject, 48))
    resumed = list(itertools.islice(dataset.batches(start=2), 3))
    for k, batch in enumerate(resumed, start=2):
        assert torch.equal(batch['image'], dataset.batch(k)['image'])


def test_domains_have_disjoint_subjects():
    a = SimulatedMRIDataset(16, batch_size=4, seed=0, subjects='even', num_subjects=5)
    b = SimulatedMRIDataset(16, batch_size=4, seed=0, subjects='odd', num_subjects=5)
    subjects_a = {s for k in range(20) for s in a.batch(k)['subject'].tolist()}
    subjects_b = {s for k in range(20) for s in b.batch(k)['subject'].tolist()}
    assert subjects_a == {0, 2, 4, 6, 8} and subjects_b == {1, 3, 5, 7, 9}
    images_a = {simulated_subject_image(s, 16).numpy().tobytes() for s in subjects_a}
    images_b = {simulated_subject_image(s, 16).numpy().tobytes() for s in subjects_b}
    assert len(images_a) == 5 and len(images_b) == 5 and not images_a & images_b
    # Residue classes in general, and an unbounded population.
    c = SimulatedMRIDataset(16, batch_size=50, subjects=(3, 2))
    assert bool((c.draw_subjects(0) % 3 == 2).all())
    assert len(set(c.draw_subjects(0).tolist())) == 50


def test_dataset_with_coils_noise_and_normalisation():
    dataset = SimulatedMRIDataset(32, batch_size=2, seed=1, num_coils=4, snr_db=math.inf,
                                  normalization='std')
    item = dataset.batch(0)
    assert item['kspace'].shape == (2, 4, 32, 32) and item['coil_maps'].shape == (2, 4, 32, 32)
    np.testing.assert_allclose(item['image'].abs().reshape(2, -1).std(1, unbiased=False).numpy(),
                               1, rtol=1e-5)
    expected = numpy_fft2_centred(item['image'].numpy() * item['coil_maps'].numpy())
    np.testing.assert_allclose(item['kspace'].numpy(), expected, atol=1e-5)
    noisy = SimulatedMRIDataset(32, batch_size=2, seed=1, snr_db=20).batch(0)
    assert noisy['kspace'].shape == (2, 1, 32, 32) and 'coil_maps' not in noisy
    clean = fftn_of(noisy['image'])
    ratio = clean[0].norm() / (noisy['kspace'][0] - clean[0]).norm()
    assert 20 * math.log10(float(ratio)) == pytest.approx(20, abs=0.5)
    magnitude = SimulatedMRIDataset(32, normalization='fastmri').batch(0)['image']
    assert magnitude.dtype == torch.float32 and float(magnitude.abs().max()) <= 6


def fftn_of(images):
    return torch.from_numpy(numpy_fft2_centred(images.numpy())).to(torch.complex64)


@pytest.mark.parametrize('kwargs, error, match', (
    (dict(subjects='third'), ValueError, '`subjects`'),
    (dict(subjects=(2, 2)), ValueError, 'remainder'),
    (dict(subjects=(0, 0)), ValueError, 'modulus'),
    (dict(num_subjects=0), ValueError, '`num_subjects`'),
    (dict(batch_size=0), ValueError, '`batch_size`'),
    (dict(num_coils=2, normalization='fastmri'), ValueError, 'fastmri'),
    (dict(normalization='max'), ValueError, '`normalization`'),
    (dict(snr_db='high'), TypeError, '`snr_db`'),
))
def test_dataset_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimulatedMRIDataset(16, **kwargs)
