"""Tests of the shapes images of Duff et al. against the ranges of the authors' script."""

import pickle

import numpy as np
import pytest
import torch

from odl_wasserstein.data import (
    ShapesDataset, batch_generator, random_shapes, shapes_set, validation_set)


def pixel_counts(images):
    return (images > 0).flatten(1).sum(1)


def lattice_disc_size(radius):
    """Pixels within ``radius`` of a pixel centre, counted by brute force."""
    offsets = np.arange(-radius - 1, radius + 2)
    return int(((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius ** 2).sum())


@pytest.fixture(scope='module')
def images():
    return random_shapes(batch_size=2000, generator=1)


def test_shapes_and_values(images):
    assert images.shape == (2000, 1, 56, 56) and images.dtype == torch.float32
    assert set(images.unique().tolist()) == {0.0, 0.5}
    single = random_shapes(generator=3)
    assert single.shape == (1, 56, 56)
    assert random_shapes((40, 64), batch_size=2, generator=0).shape == (2, 1, 40, 64)


def test_every_image_has_a_rectangle_and_a_circle(images):
    # Rectangles lie in [0, 26]^2 with their corner in [0, 13]^2; circles in
    # [15, 55]^2 with their centre in [28, 41]^2. So the block [0, 14]^2
    # shows only the rectangle, [27, 55]^2 only the circle.
    corner = images[:, 0, :15, :15] > 0
    rows, cols = corner.any(2), corner.any(1)
    assert bool(rows.any(1).all() and cols.any(1).all())
    # The rectangle's part there is a filled axis-aligned block.
    block = rows[:, :, None] & cols[:, None, :]
    assert torch.equal(block, corner)
    assert int(corner.flatten(1).sum(1).min()) >= 4
    # A quarter of the smallest disc (113 pixels) at least.
    assert int(pixel_counts(images[..., 27:, 27:]).min()) >= 113 // 4
    counts = pixel_counts(images)
    smallest = lattice_disc_size(6) + 4
    largest = lattice_disc_size(13) + 14 * 14
    assert smallest <= int(counts.min()) and int(counts.max()) <= largest


def test_mean_size_matches_the_authors_ranges(images):
    # Radii uniform in 6..13 and rectangle sides of 7..14 pixels: the mean
    # pixel count is E|disc| + E[side]^2 less the (small) overlap.
    expected = np.mean([lattice_disc_size(r) for r in range(6, 14)]) + 10.5 ** 2
    assert abs(float(pixel_counts(images).float().mean()) - expected) < 10


def test_masses_are_half_the_pixel_counts(images):
    assert torch.equal(images.sum((1, 2, 3)), 0.5 * pixel_counts(images).float())


def test_seeded_and_generator_reproducible():
    a = random_shapes(batch_size=5, generator=7)
    assert torch.equal(a, random_shapes(batch_size=5, generator=7))
    assert torch.equal(a, random_shapes(batch_size=5,
                                        generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(a, random_shapes(batch_size=5, generator=8))
    torch.manual_seed(0)
    b = random_shapes(batch_size=5)
    torch.manual_seed(0)
    assert torch.equal(b, random_shapes(batch_size=5))


def test_extra_triangles_add_mass_to_the_same_shapes():
    base = random_shapes(batch_size=200, generator=2)
    for n_extra in (1, 3):
        odd = random_shapes(batch_size=200, generator=2, n_extra=n_extra)
        assert set(odd.unique().tolist()) == {0.0, 0.5}
        assert bool((odd >= base).all())
        added = pixel_counts(odd) - pixel_counts(base)
        assert float(added.float().mean()) > 20 * n_extra
        # A triangle has at most 17 x 17 pixels.
        assert int(added.max()) <= 17 * 17 * n_extra


def test_dtype_and_device():
    images = random_shapes(batch_size=3, generator=0, dtype=torch.float64, device='cpu')
    assert images.dtype == torch.float64 and images.device.type == 'cpu'
    assert torch.equal(images.float(), random_shapes(batch_size=3, generator=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_output_equals_cpu():
    images = random_shapes(batch_size=3, generator=0, device='cuda')
    assert images.is_cuda
    assert torch.equal(images.cpu(), random_shapes(batch_size=3, generator=0))


def test_dataset_batch_is_a_pure_function_of_seed_and_index():
    dataset = ShapesDataset(batch_size=4, seed=3)
    expected = random_shapes((56, 56), 4, batch_generator(3, 5))
    assert torch.equal(dataset.batch(5), expected)
    assert torch.equal(next(dataset.batches(start=5)), expected)
    assert torch.equal(ShapesDataset(batch_size=4, seed=3).batch(5), expected)
    assert not torch.equal(dataset.batch(5), dataset.batch(6))
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(clone.batch(5), expected)


def test_dataset_options_and_splits():
    dataset = ShapesDataset(batch_size=2, shape=32, seed=0, n_extra=1, dtype=torch.float64)
    batch = dataset.batch(0)
    assert batch.shape == (2, 1, 32, 32) and batch.dtype == torch.float64
    held_out = validation_set(dataset, 2)
    assert torch.equal(held_out[1], dataset.generate(1, 'validation'))
    assert not torch.equal(held_out[0], batch)


def test_shapes_set_prefix_and_held_out():
    images = shapes_set(150, seed=4)
    assert images.shape == (150, 1, 56, 56)
    assert torch.equal(shapes_set(120, seed=4), images[:120])
    assert torch.equal(images[:100], ShapesDataset(100, seed=4).generate(0, 'validation'))
    train = shapes_set(10, seed=4, split='train')
    assert not torch.equal(train, images[:10])
    assert shapes_set(0).shape == (0, 1, 56, 56)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'shape': (56,)}, ValueError, 'shape'),
    ({'batch_size': 0}, ValueError, 'batch_size'),
    ({'n_extra': -1}, ValueError, 'n_extra'),
    ({'n_extra': 1.5}, TypeError, 'n_extra'),
    ({'dtype': torch.int64}, ValueError, 'dtype'),
    ({'generator': 1.5}, TypeError, 'generator'),
])
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        random_shapes(**kwargs)


def test_dataset_errors():
    with pytest.raises(ValueError, match='batch_size'):
        ShapesDataset(batch_size=0)
    with pytest.raises(ValueError, match='split'):
        ShapesDataset(batch_size=1).batch(0, split='test')
    with pytest.raises(ValueError, match='`n`'):
        shapes_set(-1)
