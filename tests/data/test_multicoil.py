"""`MulticoilMRIDataset`, `sampling_mask`, `FastMRICoilDataset`: the unpaired-WGAN MRI data.

The forward model is checked against a NumPy re-implementation of
``A = M F S`` (orthonormal centred FFT, one mask per sample).
"""

import os

import numpy as np
import pytest
import torch

from odl_wasserstein.data.fastmri import (
    FastMRICoilDataset, crop_kspace, kspace_to_image, write_fastmri_file)
from odl_wasserstein.data.mri import (
    SimulatedMRIDataset, birdcage_coil_maps, simulated_subject_image)
from odl_wasserstein.data.multicoil import (
    MulticoilMRIDataset, sampling_mask, scaled_calibration)
from odl_wasserstein.fft import fftn_centered
from odl_wasserstein.operators.coils import estimate_coil_maps
from odl_wasserstein.operators.masks import acceleration
from odl_wasserstein.util import channels_to_complex


def fft(x):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes), norm='ortho'), axes)


def ifft(k):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes), norm='ortho'), axes)


def adjoint(kspace, mask, maps):
    """NumPy ``A^H b = sum_c conj(S_c) F^{-1}(M b_c)``, (N, C, H, W) -> (N, H, W)."""
    return (np.conj(maps) * ifft(kspace * mask)).sum(1)


def images(shape=32, snr_db=30, subjects='all', seed=3, **kwargs):
    return SimulatedMRIDataset(shape, batch_size=2, seed=seed, subjects=subjects,
                               num_coils=8, snr_db=snr_db, **kwargs)


def test_items_shapes_and_exact_resume():
    data = MulticoilMRIDataset(images(), acceleration=5, seed=1)
    item = data.batch(2)
    shapes = {key: (tuple(value.shape), value.dtype) for key, value in item.items()}
    assert shapes == {'kspace': ((2, 8, 32, 32), torch.complex64),
                      'mask': ((2, 1, 32, 32), torch.float32),
                      'coil_maps': ((2, 8, 32, 32), torch.complex64),
                      'x': ((2, 2, 32, 32), torch.float32),
                      'zero_filled': ((2, 2, 32, 32), torch.float32),
                      'scale': ((2,), torch.float32),
                      'subject': ((2,), torch.int64)}
    resumed = next(MulticoilMRIDataset(images(), acceleration=5, seed=1).batches(start=2))
    for key in item:
        assert torch.equal(resumed[key], item[key]), key
    assert torch.equal(item['subject'], images().batch(2)['subject'])
    # One mask per sample; another seed gives other masks for the same images.
    assert not torch.equal(item['mask'][0], item['mask'][1])
    other = MulticoilMRIDataset(images(), acceleration=5, seed=2).batch(2)
    assert not torch.equal(other['mask'], item['mask'])
    assert torch.equal(other['subject'], item['subject'])
    # The same labels, up to the scale of the measurements.
    torch.testing.assert_close(other['x'] * other['scale'][:, None, None, None],
                               item['x'] * item['scale'][:, None, None, None])


def test_measurements_zero_filled_and_scale_against_numpy():
    source = images().batch(4)
    item = MulticoilMRIDataset(images(), acceleration=7, seed=5).batch(4)
    mask, maps = item['mask'].numpy(), item['coil_maps'].numpy()
    kspace, scale = item['kspace'].numpy(), item['scale'].numpy()[:, None, None, None]
    assert np.array_equal(maps, source['coil_maps'].numpy())
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert np.all(kspace[np.broadcast_to(mask, kspace.shape) == 0] == 0)
    np.testing.assert_allclose(kspace * scale, source['kspace'].numpy() * mask,
                               rtol=1e-5, atol=1e-6)
    zero_filled = channels_to_complex(item['zero_filled'])[:, 0].numpy()
    np.testing.assert_allclose(zero_filled, adjoint(kspace, mask, maps), rtol=1e-4, atol=1e-5)
    # The scale is the std of the zero-filled magnitude, from the measurements only.
    raw = adjoint(source['kspace'].numpy(), mask, maps)
    np.testing.assert_allclose(scale.ravel(), np.abs(raw).reshape(2, -1).std(1), rtol=1e-5)
    np.testing.assert_allclose(np.abs(zero_filled).reshape(2, -1).std(1), 1, rtol=1e-5)
    label = channels_to_complex(item['x'])[:, 0].numpy()
    np.testing.assert_allclose(label * scale[:, 0], source['image'][:, 0].numpy(),
                               rtol=1e-5, atol=1e-6)


def test_noise_free_data_are_the_forward_model_of_the_label():
    item = MulticoilMRIDataset(images(snr_db=None), acceleration=9, seed=0).batch(1)
    x = channels_to_complex(item['x']).numpy()  # (N, 1, H, W)
    forward = fft(item['coil_maps'].numpy() * x) * item['mask'].numpy()
    np.testing.assert_allclose(forward, item['kspace'].numpy(), rtol=1e-4, atol=1e-5)


def test_estimated_maps_and_the_coil_combined_label():
    given = MulticoilMRIDataset(images(64, snr_db=None), acceleration=5, seed=0)
    estimated = MulticoilMRIDataset(images(64, snr_db=None), acceleration=5, seed=0,
                                    coil_maps='estimate')
    a, b = given.batch(0), estimated.batch(0)
    assert torch.equal(a['mask'], b['mask'])
    torch.testing.assert_close(a['kspace'] * a['scale'][:, None, None, None],
                               b['kspace'] * b['scale'][:, None, None, None])
    source = images(64, snr_db=None).batch(0)
    # Only the fully sampled calibration square is used: the estimate of the
    # measurements is that of the fully sampled k-space.
    torch.testing.assert_close(b['coil_maps'], estimate_coil_maps(source['kspace'], 5))
    # The label is the coil combination; its magnitude is the image's on the object.
    label = channels_to_complex(b['x'])[:, 0] * b['scale'][:, None, None]
    image = source['image'][:, 0]
    inside = image.abs() > 0.05 * image.abs().amax()
    error = (label.abs() - image.abs())[inside].norm() / image[inside].norm()
    assert float(error) < 0.01
    # b = A x up to the error of the low-resolution maps (5 x 5 calibration at 64 x 64).
    x = channels_to_complex(b['x'])
    forward = fftn_centered(b['coil_maps'] * x, 2) * b['mask']
    residual = (forward - b['kspace']).norm() / b['kspace'].norm()
    assert float(residual) < 0.05


def test_magnitude_labels():
    complex_ = MulticoilMRIDataset(images(), seed=4).batch(0)
    magnitude = MulticoilMRIDataset(images(), seed=4, labels='magnitude').batch(0)
    assert magnitude['x'].shape == (2, 1, 32, 32) and magnitude['x'].dtype == torch.float32
    torch.testing.assert_close(magnitude['x'], channels_to_complex(complex_['x']).abs())
    assert torch.equal(magnitude['zero_filled'], complex_['zero_filled'])


@pytest.mark.parametrize('shape', ((64, 64), (256, 320)))
@pytest.mark.parametrize('rate', (5, 7, 9, 10))
def test_poisson_masks_reach_the_acceleration_with_a_full_calibration_square(shape, rate):
    mask = sampling_mask('poisson', shape, rate, seed=rate)
    assert abs(acceleration(mask) / rate - 1) <= 0.05
    side = scaled_calibration(shape)
    rows, cols = (np.arange(n // 2 - side // 2, n // 2 - side // 2 + side) for n in shape)
    assert bool(mask[0, 0][np.ix_(rows, cols)].all())
    assert side == {64: 5, 256: 20}[min(shape)]


@pytest.mark.parametrize('kind', ('lines', 'fastmri'))
def test_line_masks_sample_the_calibration_lines(kind):
    data = MulticoilMRIDataset(images(64), acceleration=4, mask=kind, calibration=8, seed=0)
    mask = data.batch(0)['mask']
    assert mask.shape == (2, 1, 64, 64)
    assert bool((mask == mask[..., :1, :]).all())  # lines along the last axis
    assert bool(mask[..., 28:36].all())
    if kind == 'lines':
        assert mask[0, 0, 0].sum() == 16


def test_mask_bank():
    data = MulticoilMRIDataset(images(), acceleration=5, mask_bank=3, seed=7)
    masks = torch.cat([data.batch(k)['mask'] for k in range(8)]
                      + [data.batch(0, 'validation')['mask']])
    assert len(torch.unique(masks.flatten(1), dim=0)) <= 3
    again = MulticoilMRIDataset(images(), acceleration=5, mask_bank=3, seed=7)
    assert torch.equal(next(again.batches(start=5))['mask'], data.batch(5)['mask'])
    other = MulticoilMRIDataset(images(), acceleration=5, mask_bank=3, seed=8)
    assert not torch.equal(other.batch(0)['mask'], data.batch(0)['mask'])


def test_disjoint_and_partial_subjects_for_unpaired_training():
    inputs = MulticoilMRIDataset(images(subjects='even', seed=0), seed=0)
    labels = MulticoilMRIDataset(images(subjects='odd', seed=1), seed=1, labels='magnitude')
    seen_inputs = torch.cat([inputs.batch(k)['subject'] for k in range(4)])
    seen_labels = torch.cat([labels.batch(k)['subject'] for k in range(4)])
    assert not set(seen_inputs.tolist()) & set(seen_labels.tolist())
    # Partial labels: a subset of the input subjects.
    inputs = MulticoilMRIDataset(images(num_subjects=17, seed=0), seed=0)
    labels = MulticoilMRIDataset(images(num_subjects=3, seed=1), seed=1)
    seen_inputs = {int(s) for k in range(8) for s in inputs.batch(k)['subject']}
    seen_labels = {int(s) for k in range(4) for s in labels.batch(k)['subject']}
    assert seen_labels <= {0, 1, 2} and seen_inputs <= set(range(17)) and len(seen_inputs) > 3


def test_errors():
    with pytest.raises(ValueError, match='without normalisation'):
        MulticoilMRIDataset(images(normalization='std'))
    with pytest.raises(ValueError, match="multi-coil k-space .* under 'kspace'"):
        MulticoilMRIDataset(SimulatedMRIDataset(16))
    with pytest.raises(ValueError, match="`coil_maps`='given' needs maps"):
        MulticoilMRIDataset(SimulatedMRIDataset(16, snr_db=30))
    with pytest.raises(TypeError, match='`images` must be a stream'):
        MulticoilMRIDataset([1, 2])
    with pytest.raises(ValueError, match='`mask` must be one of'):
        MulticoilMRIDataset(images(), mask='radial')
    with pytest.raises(ValueError, match='`coil_maps` must be one of'):
        MulticoilMRIDataset(images(), coil_maps='espirit')
    with pytest.raises(ValueError, match='`labels` must be one of'):
        MulticoilMRIDataset(images(), labels='rss')
    with pytest.raises(ValueError, match='`acceleration` must be a finite number >= 1'):
        MulticoilMRIDataset(images(), acceleration=0.5)
    with pytest.raises(ValueError, match='`mask_bank` must be an int >= 1'):
        MulticoilMRIDataset(images(), mask_bank=0)
    with pytest.raises(ValueError, match='calibration region .* larger than the budget'):
        MulticoilMRIDataset(images(), acceleration=10, calibration=12)


# --- fastMRI multi-coil files -----------------------------------------------------

SHAPE, CROP, COILS = (48, 40), 32, 15


def coil_kspace(subject, num_slices=2):
    """Fully sampled 15-coil k-space (slices, 15, 48, 40) of simulated subjects."""
    maps = birdcage_coil_maps(SHAPE, COILS)
    slices = [maps * simulated_subject_image(subject * 10 + s, SHAPE) for s in range(num_slices)]
    return fftn_centered(torch.stack(slices), 2)


@pytest.fixture
def coil_folder(tmp_path):
    for i in range(3):
        kspace = coil_kspace(i)
        write_fastmri_file(tmp_path / f'file{i}.h5', kspace, patient_id=f'p{i}',
                           reconstruction=kspace_to_image(kspace, coils=True).real)
    return tmp_path


def test_fastmri_coil_stream(coil_folder):
    data = FastMRICoilDataset(coil_folder, batch_size=2, num_coils=8, crop=CROP,
                              fractions=(1, 0, 0), reference=True)
    item = data.batch(1)
    assert item['kspace'].shape == item['coil_maps'].shape == (2, 8, CROP, CROP)
    assert item['image'].shape == item['reference'].shape == (2, 1, CROP, CROP)
    assert item['image'].dtype == torch.complex64 and data.calibration == 4
    assert torch.equal(next(data.batches(start=1))['kspace'], item['kspace'])
    # The k-space is that of the cropped coil images, compressed from 15 coils:
    # the root sum of squares (the stored reference) is nearly kept.
    full = torch.stack([coil_kspace(int(os.path.basename(f)[4]))[s]
                        for f, s in zip(item['file'], item['slice'].tolist())])
    rss = kspace_to_image(crop_kspace(full, CROP), coils=True).real
    torch.testing.assert_close(item['reference'][:, 0], rss, rtol=1e-4, atol=1e-5)
    compressed = kspace_to_image(item['kspace'], coils=True).real
    assert float((compressed - rss).norm() / rss.norm()) < 0.01
    # The image is the coil combination with maps estimated from the centre;
    # its magnitude is at most the root sum of squares (Cauchy-Schwarz), close
    # to it where the low-resolution maps (4 x 4 calibration here) are good.
    magnitude = item['image'][:, 0].abs()
    assert bool((magnitude <= compressed * (1 + 1e-5) + 1e-6).all())
    assert float((magnitude - compressed).norm() / compressed.norm()) < 0.03


def test_multicoil_dataset_on_fastmri_files(coil_folder):
    stream = FastMRICoilDataset(coil_folder, batch_size=2, num_coils=8, crop=CROP,
                                fractions=(1, 0, 0))
    given = MulticoilMRIDataset(stream, acceleration=5, seed=0).batch(3)
    estimated = MulticoilMRIDataset(stream, acceleration=5, seed=0,
                                    coil_maps='estimate').batch(3)
    assert given['kspace'].shape == (2, 8, CROP, CROP) and given['file'] == stream.batch(3)['file']
    # The stream's maps come from the same calibration square that the masks sample.
    torch.testing.assert_close(estimated['coil_maps'], given['coil_maps'])
    torch.testing.assert_close(estimated['x'], given['x'], rtol=1e-4, atol=1e-5)


def test_fastmri_coil_stream_errors(coil_folder, tmp_path_factory):
    with pytest.raises(ValueError, match='`num_coils` must be at most the 15 coils'):
        FastMRICoilDataset(coil_folder, num_coils=16, crop=CROP, fractions=(1, 0, 0))
    with pytest.raises(ValueError, match='`normalization` must be None'):
        FastMRICoilDataset(coil_folder, crop=CROP, normalization='std')
    with pytest.raises(ValueError, match='`calibration` 40 is larger than `crop`'):
        FastMRICoilDataset(coil_folder, crop=CROP, calibration=40, fractions=(1, 0, 0))
    other = tmp_path_factory.mktemp('mixed')
    write_fastmri_file(other / 'a.h5', coil_kspace(0), patient_id='a')
    write_fastmri_file(other / 'b.h5', coil_kspace(1)[:, :12], patient_id='b')
    with pytest.raises(ValueError, match=r'the files have \[12, 15\] coils; pass `num_coils`'):
        FastMRICoilDataset(other, crop=CROP, fractions=(1, 0, 0))
    assert FastMRICoilDataset(other, crop=CROP, num_coils=8, fractions=(1, 0, 0)).num_coils == 8
    write_fastmri_file(other / 'c.h5', coil_kspace(2)[:, 0], patient_id='c')
    with pytest.raises(ValueError, match='single-coil; FastMRICoilDataset needs'):
        FastMRICoilDataset(other, crop=CROP, num_coils=8, fractions=(1, 0, 0))
    masked = tmp_path_factory.mktemp('test_files')
    write_fastmri_file(masked / 'd.h5', coil_kspace(3), mask=np.ones(SHAPE[1]), patient_id='d')
    with pytest.raises(ValueError, match='a test file'):
        FastMRICoilDataset(masked, crop=CROP, fractions=(1, 0, 0))
