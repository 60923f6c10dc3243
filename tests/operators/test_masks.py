"""Tests of the k-space sampling masks in `odl_wasserstein.operators.masks`."""

import time

import numpy as np
import odl
import pytest
import torch
from scipy.spatial import cKDTree

from odl_wasserstein.operators.masks import (
    acceleration, poisson_disc_mask, poisson_disc_sampling, random_lines_mask,
    variable_density_lines_mask)

LINE_MASKS = (random_lines_mask, variable_density_lines_mask)


def half_up(value):
    return int(np.floor(value + 0.5))


def sampled_lines(mask, axis=-1):
    other = tuple(i for i in range(mask.ndim) if i != axis % mask.ndim)
    profile = mask.max(axis=other) if other else mask
    # Line masks are constant along the other axes.
    assert (mask.min(axis=other) == profile).all() if other else True
    return np.flatnonzero(profile)


def acs_band(n, fraction):
    width = half_up(fraction * n)
    start = n // 2 - width // 2
    return np.arange(start, start + width)


# --- line masks ------------------------------------------------------------

@pytest.mark.parametrize('generator', LINE_MASKS)
@pytest.mark.parametrize('shape, axis', (((320, 320), -1), ((64, 100), 0),
                                         ((37,), 0), ((6, 50, 8), 1)))
@pytest.mark.parametrize('factor', (2, 4, 8))
def test_line_mask_exact_acceleration(generator, shape, axis, factor):
    mask = generator(shape, acceleration=factor, axis=axis, seed=3)
    assert mask.shape == shape
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    n = shape[axis]
    lines = sampled_lines(mask, axis)
    assert len(lines) == half_up(n / factor)
    assert acceleration(mask) == pytest.approx(n / half_up(n / factor))


@pytest.mark.parametrize('generator, fraction', ((random_lines_mask, 0.08),
                                                 (variable_density_lines_mask,
                                                  0.04)))
def test_line_mask_acs_band_fully_sampled(generator, fraction):
    for seed in range(5):
        mask = generator((16, 320), seed=seed)
        band = acs_band(320, fraction)
        assert len(band) == half_up(fraction * 320)
        assert band[0] <= 160 <= band[-1]
        assert (mask[:, band] == 1).all()


def test_acs_band_without_random_lines():
    mask = random_lines_mask((4, 20), acceleration=4, acs_fraction=0.25,
                             seed=0)
    np.testing.assert_array_equal(sampled_lines(mask), np.arange(8, 13))


@pytest.mark.parametrize('generator', LINE_MASKS)
def test_line_mask_seeding(generator):
    a = generator((8, 128), seed=11)
    np.testing.assert_array_equal(a, generator((8, 128), seed=11))
    assert not np.array_equal(a, generator((8, 128), seed=12))
    np.testing.assert_array_equal(
        generator((8, 128), seed=np.random.default_rng(5)),
        generator((8, 128), seed=np.random.default_rng(5)))


def test_with_replacement_reproduces_reference():
    n, factor, fraction = 320, 4, 0.08
    n_acs = half_up(fraction * n)
    uniques = []
    for seed in range(20):
        mask = random_lines_mask((8, n), factor, fraction, seed=seed,
                                 with_replacement=True)
        draws = np.random.default_rng(seed).integers(0, n, size=n // factor)
        expected = np.union1d(acs_band(n, fraction), draws)
        lines = sampled_lines(mask)
        np.testing.assert_array_equal(lines, expected)
        assert len(lines) <= n / factor + n_acs
        uniques.append(len(np.unique(draws)))
        # The ACS band is on top of the budget: more lines than n / R,
        # i.e. a lower effective acceleration than requested.
        assert acceleration(mask) < factor
    # Draws with replacement repeat lines.
    assert min(uniques) < n // factor


def test_variable_density_denser_near_centre():
    n, seeds = 128, range(300)
    freq = {}
    for power in (0.0, 2.0):
        freq[power] = np.mean(
            [variable_density_lines_mask((n,), 4, 0.04, seed=s, power=power)
             for s in seeds], axis=0)
    acs = acs_band(n, 0.04)
    dist = np.abs(np.arange(n) - n // 2)
    inner = (dist < n // 8) & ~np.isin(np.arange(n), acs)
    outer = dist >= 3 * n // 8
    assert freq[2.0][inner].mean() > 3 * freq[2.0][outer].mean()
    # Uniform density for power 0: the contrast comes from the density.
    assert freq[0.0][inner].mean() == pytest.approx(freq[0.0][outer].mean(),
                                                    rel=0.15)


def test_full_sampling_at_acceleration_one():
    for generator in LINE_MASKS:
        assert (generator((8, 30), acceleration=1, seed=0) == 1).all()


@pytest.mark.parametrize('generator', LINE_MASKS)
@pytest.mark.parametrize('kwargs, match', (
    (dict(acceleration=0.5), '`acceleration`'),
    (dict(acceleration=float('nan')), '`acceleration`'),
    (dict(acceleration=1000), 'leaves no line'),
    (dict(acs_fraction=1.0), '`acs_fraction`'),
    (dict(acs_fraction=-0.1), '`acs_fraction`'),
    (dict(acceleration=4, acs_fraction=0.5), 'ACS band'),
    (dict(axis=2), '`axis`'),
    (dict(axis=-3), '`axis`'),
))
def test_line_mask_errors(generator, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generator((16, 64), **kwargs)


@pytest.mark.parametrize('shape', ((), (0, 4), (4.5, 4), 'ab'))
def test_bad_shape_raises(shape):
    with pytest.raises(ValueError, match='`shape`'):
        random_lines_mask(shape)


def test_variable_density_negative_power_raises():
    with pytest.raises(ValueError, match='`power`'):
        variable_density_lines_mask((8, 64), power=-1)


# --- Poisson disc --------------------------------------------------------

@pytest.mark.parametrize('shape', ((320, 320), (320, 256), (96, 128)))
@pytest.mark.parametrize('factor', (3, 5, 8))
def test_poisson_disc_acceleration_within_tolerance(shape, factor):
    calibration = (20, 20) if shape[0] > 100 else (8, 12)
    mask = poisson_disc_mask(shape, factor, calibration=calibration, seed=0)
    assert mask.shape == shape
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(acceleration(mask) / factor - 1) <= 0.05
    rows = np.arange(calibration[0]) + shape[0] // 2 - calibration[0] // 2
    cols = np.arange(calibration[1]) + shape[1] // 2 - calibration[1] // 2
    assert (mask[np.ix_(rows, cols)] == 1).all()


def test_poisson_disc_is_fast():
    start = time.perf_counter()
    poisson_disc_mask((320, 320), 4, seed=1)
    assert time.perf_counter() - start < 1.0


def test_poisson_disc_seeding():
    a = poisson_disc_mask((64, 64), 4, calibration=8, seed=3)
    np.testing.assert_array_equal(
        a, poisson_disc_mask((64, 64), 4, calibration=8, seed=3))
    assert not np.array_equal(
        a, poisson_disc_mask((64, 64), 4, calibration=8, seed=4))


def test_poisson_disc_spacing_grows_from_centre():
    shape = (128, 96)
    centre = np.array(shape) // 2
    for seed in range(3):
        mask = poisson_disc_mask(shape, 8, calibration=12, seed=seed)
        pts = np.argwhere(mask > 0)
        rho = np.sqrt((((pts - centre) / (np.array(shape) / 2)) ** 2).sum(1))
        dist, _ = cKDTree(pts).query(pts, k=2)
        nearest = dist[:, 1]
        assert nearest[rho > 0.7].mean() > 2 * nearest[rho < 0.3].mean()
        # Far from the calibration region samples are never neighbours.
        assert nearest[rho > 0.7].min() >= 2


def test_poisson_disc_sampling_respects_radius_and_is_maximal():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:60, :50]
    radius = 1.2 + 3.0 * np.hypot(yy - 30, xx - 25) / 40 + 0.3 * rng.random((60, 50))
    fixed = np.zeros((60, 50), dtype=bool)
    fixed[28:33, 23:28] = True
    mask = poisson_disc_sampling(radius, seed=1, fixed=fixed)
    assert mask[fixed].all()

    free = np.argwhere(mask & ~fixed)
    tree = cKDTree(free)
    pairs = np.array(sorted(tree.query_pairs(radius.max())))
    gaps = np.linalg.norm(free[pairs[:, 0]] - free[pairs[:, 1]], axis=1)
    r_pair = np.minimum(radius[tuple(free[pairs[:, 0]].T)],
                        radius[tuple(free[pairs[:, 1]].T)])
    assert (gaps >= r_pair - 1e-12).all()

    # Every rejected point lies inside the exclusion disc of a sample.
    rejected = np.argwhere(~mask)
    near = tree.query_ball_point(rejected, radius.max())
    for q, candidates in zip(rejected, near):
        d = np.linalg.norm(free[candidates] - q, axis=1)
        assert (d < radius[tuple(free[candidates].T)]).any()


def test_poisson_disc_uniform_density_with_zero_variation():
    mask = poisson_disc_mask((128, 128), 6, calibration=0, seed=2, variation=0)
    quarter_inner = mask[48:80, 48:80].mean()
    quarter_outer = mask[:32, :32].mean()
    assert quarter_inner == pytest.approx(quarter_outer, rel=0.2)
    assert abs(acceleration(mask) / 6 - 1) <= 0.05


@pytest.mark.parametrize('args, kwargs, match', (
    (((8, 8, 8), 4), {}, '2-D'),
    (((64,), 4), {}, '2-D'),
    (((64, 64), 0.9), {}, '`acceleration`'),
    (((64, 64), 4), dict(calibration=(80, 10)), 'larger than the image'),
    (((64, 64), 8), dict(calibration=(40, 40)), 'budget'),
    (((64, 64), 4), dict(calibration=(-1, 4)), '`calibration`'),
    (((64, 64), 4), dict(calibration=(1, 2, 3)), '`calibration`'),
    (((64, 64), 4), dict(variation=-1), '`variation`'),
    (((64, 64), 4), dict(tol=0), '`tol`'),
))
def test_poisson_disc_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        poisson_disc_mask(*args, **kwargs)


def test_poisson_disc_sampling_errors():
    with pytest.raises(ValueError, match='2-D'):
        poisson_disc_sampling(np.ones(5))
    with pytest.raises(ValueError, match='finite'):
        poisson_disc_sampling(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match='`fixed`'):
        poisson_disc_sampling(np.ones((4, 4)), fixed=np.ones((3, 4)))


# --- acceleration ----------------------------------------------------------

def test_acceleration_of_all_input_types():
    mask = np.zeros((4, 6), dtype=np.float32)
    mask[:, [1, 3]] = 1
    assert acceleration(mask) == 3
    assert acceleration(torch.from_numpy(mask)) == 3
    assert acceleration(odl.uniform_discr([0, 0], [1, 1], (4, 6)).element(mask)) == 3
    assert acceleration(mask.tolist()) == 3
    with pytest.raises(ValueError, match='samples no point'):
        acceleration(np.zeros((3, 3)))
