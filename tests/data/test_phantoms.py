"""Tests of the torch phantoms against ODL and against their stated statistics."""

import math

import numpy as np
import odl
import pytest
import torch

from odl_wasserstein.data.phantoms import (
    ellipses_phantom, random_ellipse_parameters, random_ellipses,
    random_ring_parameters, random_rings_pair, rings_phantom, shepp_logan)
from odl_wasserstein.util import to_tensor

SHAPES = [(16, 16), (33, 20), (17, 64), (64, 48), (1, 9)]


def odl_ellipses(shape, ellipses, dtype='float64'):
    space = odl.uniform_discr([-1, -1], [1, 1], shape, dtype=dtype)
    phantom = odl.core.phantom.ellipsoid_phantom(space, [list(map(float, row))
                                                         for row in ellipses])
    return to_tensor(phantom)


def random_rows(seed, count=12):
    """Ellipses with a mix of rotated and axis-aligned rows, some off-image."""
    rng = np.random.default_rng(seed)
    rows = np.column_stack([
        rng.uniform(-1, 1, count),          # value
        rng.uniform(0.05, 0.8, count),      # axis_1
        rng.uniform(0.05, 0.8, count),      # axis_2
        rng.uniform(-1.2, 1.2, count),      # centre_1
        rng.uniform(-1.2, 1.2, count),      # centre_2
        rng.uniform(0, 2 * np.pi, count),   # rotation
    ])
    rows[::3, 5] = 0.0  # theta == 0 takes a separate code path in both
    return rows


def grid(shape):
    x1 = torch.linspace(-1, 1, shape[0], dtype=torch.float64)
    x2 = torch.linspace(-1, 1, shape[1], dtype=torch.float64)
    return torch.meshgrid(x1, x2, indexing='ij')


# --- ellipses_phantom ---------------------------------------------------------


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_ellipses_equal_odl(shape, dtype):
    """Bit-for-bit ODL's ellipsoid_phantom (0 mismatching pixels observed)."""
    for seed in range(5):
        rows = random_rows(seed)
        ours = ellipses_phantom(shape, rows, dtype=getattr(torch, dtype))
        ref = odl_ellipses(shape, rows, dtype)
        assert ours.shape == shape and ours.dtype == getattr(torch, dtype)
        # Exact equality; a pixel on a boundary to within rounding may in
        # principle differ, none does for these draws.
        assert int((ours != ref).sum()) == 0
        assert float(ours.abs().sum()) > 0 or shape[0] == 1


def test_ellipses_equal_odl_random_ellipse_parameters():
    """The paper's random ellipses (Poisson(50)) also match ODL exactly."""
    params = random_ellipse_parameters(3, batch_size=3)
    images = ellipses_phantom((40, 56), params, dtype=torch.float64)
    for image, rows in zip(images, params):
        assert torch.equal(image, odl_ellipses((40, 56), rows.tolist()))


def test_ellipses_axis_convention():
    """Axis 0 is the first coordinate; rotation by pi/2 transposes."""
    row = [1.0, 0.81, 0.21, 0.0, 0.0, 0.0]
    image = ellipses_phantom((41, 41), [row])
    # pixel i at -1 + i / 20: |x_1| <= 0.81 holds for 33 pixels, |x_2| <= 0.21 for 9
    assert int(image[:, 20].sum()) == 33
    assert int(image[20, :].sum()) == 9
    rotated = ellipses_phantom((41, 41), [row[:5] + [math.pi / 2]])
    assert torch.equal(rotated, image.T)
    # an off-centre disc sits at (x_1, x_2) = (0.5, -0.5), i.e. pixel (30, 10);
    # radius 0.11 covers the 13 pixels at squared offsets <= 4
    shifted = ellipses_phantom((41, 41), [[2.0, 0.11, 0.11, 0.5, -0.5, 0.0]])
    assert float(shifted[30, 10]) == 2.0 and int((shifted != 0).sum()) == 13
    i, j = torch.nonzero(shifted, as_tuple=True)
    assert float(i.double().mean()) == 30 and float(j.double().mean()) == 10


def test_ellipses_values_add():
    """Overlapping ellipses add their values, point-sampled at pixel centres."""
    rows = [[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [1.0, 0.6, 0.6, 0.0, 0.0, 0.0]]
    expected = torch.tensor([[0, 0, 1, 0, 0], [0, 1, 2, 1, 0], [1, 2, 2, 2, 1],
                             [0, 1, 2, 1, 0], [0, 0, 1, 0, 0]], dtype=torch.float32)
    assert torch.equal(ellipses_phantom(5, rows), expected)
    # inside test against the formula, at a rotated ellipse
    x1, x2 = grid((30, 50))
    value, a, b, c1, c2, t = 0.7, 0.6, 0.25, 0.1, -0.2, 0.4
    d1, d2 = x1 - c1, x2 - c2
    u = math.cos(t) * d1 + math.sin(t) * d2
    v = -math.sin(t) * d1 + math.cos(t) * d2
    inside = (u / a) ** 2 + (v / b) ** 2
    image = ellipses_phantom((30, 50), [[value, a, b, c1, c2, t]], dtype=torch.float64)
    clear = (inside - 1).abs() > 1e-9
    assert torch.equal(image[clear], (value * (inside <= 1).double())[clear])
    assert int(clear.sum()) == 1500


def test_ellipses_batched_equals_single():
    params = random_ellipse_parameters(5, mean_count=10, batch_size=4)
    batch = ellipses_phantom((24, 32), params)
    assert batch.shape == (4, 24, 32)
    for image, rows in zip(batch, params):
        assert torch.equal(image, ellipses_phantom((24, 32), rows))
    # padding rows (value 0) change nothing
    assert len({float(im.abs().sum()) for im in batch}) == 4


def test_ellipses_empty_and_dtype_device():
    assert torch.equal(ellipses_phantom(4, []), torch.zeros(4, 4))
    assert ellipses_phantom((3, 5), torch.zeros(2, 0, 6)).shape == (2, 3, 5)
    rows = torch.tensor([[1.0, 0.5, 0.5, 0.0, 0.0, 0.0]], dtype=torch.float64)
    out = ellipses_phantom(8, rows, dtype=torch.float64, device='cpu')
    assert out.dtype == torch.float64 and out.device.type == 'cpu'
    assert ellipses_phantom(8, rows).dtype == torch.float32
    assert ellipses_phantom(8, rows, dtype=torch.float16).dtype == torch.float16
    # the input tensor is not modified and needs no grad handling
    rows.requires_grad_(True)
    assert ellipses_phantom(8, rows).sum() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_ellipses_cuda():
    params = random_ellipse_parameters(0, mean_count=20, batch_size=2)
    cpu = ellipses_phantom((32, 40), params)
    gpu = ellipses_phantom((32, 40), params.cuda())
    assert gpu.device.type == 'cuda'
    assert torch.equal(gpu.cpu(), cpu)
    assert ellipses_phantom((32, 40), params, device='cuda').device.type == 'cuda'


@pytest.mark.parametrize('shape', [0, (0, 4), (3,), (3, 3, 3), 2.5, (2.5, 3), True,
                                   None, (4, -1), 'ab'])
def test_ellipses_bad_shape(shape):
    with pytest.raises(ValueError, match='shape'):
        ellipses_phantom(shape, [[1.0, 0.5, 0.5, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize('ellipses, match', [
    ([[1.0, 0.5, 0.5, 0.0, 0.0]], 'shape'),
    ([1.0, 0.5, 0.5, 0.0, 0.0, 0.0], 'shape'),
    (torch.zeros(1, 1, 1, 6), 'shape'),
    ([[float('nan'), 0.5, 0.5, 0.0, 0.0, 0.0]], 'NaN'),
    ([[1.0, 0.5, 0.5, float('inf'), 0.0, 0.0]], 'NaN'),
    ([[1.0, 0.0, 0.5, 0.0, 0.0, 0.0]], 'positive axes'),
    ([[1.0, 0.5, -0.5, 0.0, 0.0, 0.0]], 'positive axes'),
])
def test_ellipses_bad_ellipses(ellipses, match):
    with pytest.raises(ValueError, match=match):
        ellipses_phantom(8, ellipses)


def test_ellipses_bad_dtype():
    with pytest.raises(ValueError, match='dtype'):
        ellipses_phantom(8, [], dtype=torch.int32)


# --- shepp_logan --------------------------------------------------------------


@pytest.mark.parametrize('shape', [(16, 16), (33, 20), (64, 48)])
@pytest.mark.parametrize('modified', [True, False])
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_shepp_logan_equals_odl(shape, modified, dtype):
    space = odl.uniform_discr([-1, -1], [1, 1], shape, dtype=dtype)
    ref = to_tensor(odl.core.phantom.shepp_logan(space, modified=modified))
    ours = shepp_logan(shape, modified=modified, dtype=getattr(torch, dtype))
    assert ours.dtype == getattr(torch, dtype) and ours.shape == shape
    assert torch.equal(ours, ref)


def test_shepp_logan_versions_differ():
    modified, original = shepp_logan(64), shepp_logan(64, modified=False)
    assert float(modified.max()) == 1.0
    assert float(original.max()) == pytest.approx(2.0)
    assert not torch.equal(modified, original)
    with pytest.raises(ValueError, match='shape'):
        shepp_logan((4, 0))


# --- rings --------------------------------------------------------------------


def test_ring_is_annulus_of_value_one():
    shape, centre = (96, 80), (0.1, -0.15)
    ring = rings_phantom(shape, [centre], dtype=torch.float64)
    x1, x2 = grid(shape)
    r = torch.hypot(x1 - centre[0], x2 - centre[1])
    clear = ((r - 0.5).abs() > 1e-9) & ((r - 0.475).abs() > 1e-9)
    expected = ((r <= 0.5) & (r > 0.475)).double()
    assert torch.equal(ring[clear], expected[clear])
    assert set(ring.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize('n, pixels', [(128, 1.6), (256, 3.2), (512, 6.4)])
def test_ring_thickness(n, pixels):
    """Area / mid-circumference is 0.025 normalised units (6.4 px at 512)."""
    thickness = []
    for centre in [(0.0, 0.0), (0.1, 0.03), (-0.07, 0.2)]:
        ring = rings_phantom(n, [centre], dtype=torch.float64)
        thickness.append(float(ring.sum()) / (2 * math.pi * 0.4875 * (n - 1) / 2))
    assert np.mean(thickness) == pytest.approx(pixels, rel=0.04)
    assert np.mean(thickness) * 2 / (n - 1) == pytest.approx(0.025, rel=0.04)


def test_ring_options_and_overlap():
    one = rings_phantom(64, [[0.0, 0.0]], radius=0.3, inner_ratio=0.5)
    x1, x2 = grid((64, 64))
    r = torch.hypot(x1, x2)
    assert torch.equal(one[(r < 0.14) | (r > 0.31)].unique(), torch.tensor([0.0]))
    assert bool((one[(r > 0.16) & (r < 0.29)] == 1).all())
    # overlapping rings add (value 2 where both cover a pixel)
    centres = [[0.0, 0.0], [0.05, 0.02]]
    both = rings_phantom(64, centres)
    a, b = rings_phantom(64, centres[:1]), rings_phantom(64, centres[1:])
    assert torch.equal(both, a + b)
    assert float(both.max()) == 2.0 and int((both == 2).sum()) > 10
    # batched equals per-image
    batch = torch.tensor([[[0.0, 0.0], [0.2, 0.1]], [[-0.1, 0.0], [0.1, -0.1]]])
    images = rings_phantom((32, 40), batch, dtype=torch.float64)
    assert images.shape == (2, 32, 40) and images.dtype == torch.float64
    for image, c in zip(images, batch):
        assert torch.equal(image, rings_phantom((32, 40), c, dtype=torch.float64))


@pytest.mark.parametrize('kwargs, match', [
    ({'radius': 0}, 'radius'), ({'radius': float('nan')}, 'radius'),
    ({'inner_ratio': 1.0}, 'inner_ratio'), ({'inner_ratio': 0}, 'inner_ratio'),
    ({'centres': [[0.0, float('nan')]]}, 'NaN'), ({'centres': [0.0, 0.0]}, 'centres'),
    ({'centres': [[0.0, 0.0, 0.0]]}, 'centres'),
])
def test_rings_errors(kwargs, match):
    kwargs = {'centres': [[0.0, 0.0]], **kwargs}
    with pytest.raises(ValueError, match=match):
        rings_phantom(16, **kwargs)


@pytest.mark.parametrize('shape, m', [(128, (10, 10)), (512, (40, 40)), ((64, 100), (5, 8))])
def test_ring_shifts_default_range(shape, m):
    centres, shifts = random_ring_parameters(shape, 0, batch_size=3000)
    assert centres.dtype == torch.float64 and shifts.dtype == torch.int64
    assert centres.shape == shifts.shape == (3000, 2, 2)
    for axis, ma in enumerate(m):
        s = shifts[..., axis]
        # every value of [-m, m - 1] occurs, nothing else
        assert torch.equal(s.unique(), torch.arange(-ma, ma))
        # mean of the uniform law on {-m, ..., m - 1} is -1/2
        std = math.sqrt(((2 * ma) ** 2 - 1) / 12)
        assert abs(float(s.double().mean()) + 0.5) < 4 * std / math.sqrt(s.numel())
    assert float(centres.abs().max()) <= 0.25
    assert float(centres.abs().max()) > 0.24
    assert abs(float(centres.mean())) < 0.01


def test_ring_parameters_options_and_seeds():
    c, s = random_ring_parameters(64, 7, n_rings=3, max_shift=(0, 2),
                                  centre_range=0.5, batch_size=500)
    assert c.shape == (500, 3, 2)
    assert torch.equal(s[..., 0].unique(), torch.tensor([0]))
    assert torch.equal(s[..., 1].unique(), torch.tensor([-2, -1, 0, 1]))
    assert 0.49 < float(c.abs().max()) <= 0.5
    c1, s1 = random_ring_parameters(64, 7, n_rings=3, max_shift=(0, 2),
                                    centre_range=0.5, batch_size=500)
    assert torch.equal(c, c1) and torch.equal(s, s1)
    c2, _ = random_ring_parameters(64, 8, n_rings=3, batch_size=500)
    assert not torch.equal(c, c2)
    # a generator equals the int seed; unbatched is the first of a batch of 1
    g = torch.Generator().manual_seed(7)
    c3, s3 = random_ring_parameters(64, g)
    c4, s4 = random_ring_parameters(64, 7, batch_size=1)
    assert c3.shape == (2, 2) and torch.equal(c3, c4[0]) and torch.equal(s3, s4[0])
    # the generator advances
    c5, _ = random_ring_parameters(64, g)
    assert not torch.equal(c3, c5)


@pytest.mark.parametrize('kwargs', [
    {'n_rings': -1}, {'max_shift': -1}, {'max_shift': (1, 2, 3)}, {'max_shift': 1.5},
    {'centre_range': -0.1}, {'batch_size': 0}, {'shape': (0, 3)},
])
def test_ring_parameters_errors(kwargs):
    kwargs = {'shape': 32, **kwargs}
    with pytest.raises(ValueError):
        random_ring_parameters(generator=0, **kwargs)


def test_bad_generator():
    for bad in (1.5, True, '0'):
        with pytest.raises(TypeError, match='generator'):
            random_ring_parameters(32, generator=bad)
        with pytest.raises(TypeError, match='generator'):
            random_ellipse_parameters(bad)


def test_rings_pair_is_shifted_rings():
    shape = (48, 64)
    n = torch.tensor(shape, dtype=torch.float64)
    for seed in range(4):
        centres, shifts = random_ring_parameters(shape, seed, batch_size=3)
        target, shifted = random_rings_pair(shape, seed, batch_size=3)
        assert target.shape == shifted.shape == (3,) + shape
        assert target.dtype == torch.float32
        assert torch.equal(target, rings_phantom(shape, centres))
        assert torch.equal(shifted, rings_phantom(shape, centres + 2 * shifts / n))
        assert not torch.equal(target, shifted)


def test_rings_pair_no_shift_and_unbatched():
    target, shifted = random_rings_pair(40, 3, max_shift=0, batch_size=4)
    assert torch.equal(target, shifted)
    t1, s1 = random_rings_pair(40, 3, dtype=torch.float64)
    assert t1.shape == (40, 40) and t1.dtype == torch.float64
    t2, s2 = random_rings_pair(40, 3, batch_size=1, dtype=torch.float64)
    assert torch.equal(t1, t2[0]) and torch.equal(s1, s2[0])
    t3, _ = random_rings_pair(40, 4, dtype=torch.float64)
    assert not torch.equal(t1, t3)


# --- random ellipses ----------------------------------------------------------


def test_random_ellipse_statistics():
    b, lam = 2000, 50
    params = random_ellipse_parameters(0, batch_size=b)
    assert params.dtype == torch.float64 and params.shape[2] == 6
    value = params[..., 0]
    present = value != 0
    counts = present.sum(1).double()
    # count ~ Poisson(50): mean and variance within 4 standard errors
    assert abs(float(counts.mean()) - lam) < 4 * math.sqrt(lam / b)
    assert abs(float(counts.var()) - lam) < 4 * math.sqrt((lam + 2 * lam ** 2) / b)
    assert params.shape[1] == int(counts.max())
    # the present rows come first; padding rows have value 0
    assert torch.equal(present, torch.arange(params.shape[1]) < counts[:, None])
    v = value[present]
    m = v.numel()
    # (U - 1/2) * Exp(mean 0.4): mean 0, E|v| = 0.25 * 0.4 = 0.1, E v^2 = 0.32 / 12
    assert abs(float(v.mean())) < 4 * math.sqrt(0.32 / 12 / m)
    assert float(v.abs().mean()) == pytest.approx(0.1, abs=4 * math.sqrt(0.32 / 12 - 0.01) / math.sqrt(m))
    assert float((v ** 2).mean()) == pytest.approx(0.32 / 12, rel=0.03)
    axes = params[..., 1:3][present]
    assert float(axes.mean()) == pytest.approx(0.2, abs=4 * 0.2 / math.sqrt(2 * m))
    assert float(axes.std()) == pytest.approx(0.2, rel=0.03)
    assert bool((axes > 0).all())
    centres = params[..., 3:5][present]
    assert float(centres.min()) >= -1 and float(centres.max()) <= 1
    assert float(centres.min()) < -0.999 and float(centres.max()) > 0.999
    assert abs(float(centres.mean())) < 0.01
    theta = params[..., 5][present]
    assert float(theta.min()) >= 0 and float(theta.max()) < 2 * math.pi
    assert float(theta.mean()) == pytest.approx(math.pi, abs=0.02)


def test_random_ellipse_parameters_seeds_and_shapes():
    single = random_ellipse_parameters(4)
    assert single.ndim == 2 and single.shape[1] == 6
    assert bool((single[:, 0] != 0).all())
    assert torch.equal(single, random_ellipse_parameters(torch.Generator().manual_seed(4)))
    one = random_ellipse_parameters(4, batch_size=1)
    assert torch.equal(single, one[0])
    other = random_ellipse_parameters(5)
    assert other.shape != single.shape or not torch.equal(other, single)
    assert random_ellipse_parameters(0, mean_count=0).shape == (0, 6)
    small = random_ellipse_parameters(0, mean_count=3, batch_size=500)
    assert float((small[..., 0] != 0).sum(1).double().mean()) == pytest.approx(3, abs=0.35)
    for bad in (-1, float('nan'), float('inf')):
        with pytest.raises(ValueError, match='mean_count'):
            random_ellipse_parameters(0, mean_count=bad)
    with pytest.raises(ValueError, match='batch_size'):
        random_ellipse_parameters(0, batch_size=0)


def test_random_ellipses_images():
    images = random_ellipses((32, 24), 9, batch_size=3)
    assert images.shape == (3, 32, 24) and images.dtype == torch.float32
    params = random_ellipse_parameters(9, batch_size=3)
    assert torch.equal(images, ellipses_phantom((32, 24), params))
    assert bool(images.min() < 0 < images.max())
    assert not torch.equal(images[0], images[1])
    single = random_ellipses(16, 9)
    assert single.shape == (16, 16)
    assert torch.equal(single, random_ellipses(16, 9, batch_size=1)[0])
    assert random_ellipses(16, 9, dtype=torch.float64).dtype == torch.float64
