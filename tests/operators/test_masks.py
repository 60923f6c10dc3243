"""Tests of the k-space sampling masks in `odl_wasserstein.operators.masks`."""

import time

import numpy as np
import odl
import pytest
import torch
from scipy.spatial import cKDTree

from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.operators.masks import (
    acceleration, fastmri_lines_mask, ot_cyclegan_lines_mask, poisson_disc_mask,
    poisson_disc_sampling, random_lines_mask, variable_density_lines_mask)

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


# --- the published random line masks: OT-cycleGAN authors' and fastMRI's -----

def authors_profile(n, factor, seed):
    """The authors' mask as their code builds it, before its fftshift.

    Written from the description of okt0711/cycleGAN_AccMRI's make_mask:
    one ``randint(1, n)`` draw per line, ``int(n / R)`` times, then the ACS
    rows set.
    """
    rng = np.random.default_rng(seed)
    profile = np.zeros(n)
    for _ in range(int(n / factor)):
        profile[rng.integers(1, n)] = 1
    width = round(n * (0.08 if factor == 4 else 0.04))
    first = round((n - width) / 2)
    profile[first:first + width] = 1
    return profile


def authors_forward(x, profile):
    """Their operator: unnormalised unshifted FFT, mask after np.fft.fftshift."""
    return np.fft.ifft(np.fft.fftshift(profile) * np.fft.fft(x))


@pytest.mark.parametrize('n', (320, 256, 100, 331, 45))
@pytest.mark.parametrize('factor', (4, 8, 6))
def test_ot_cyclegan_mask_equals_the_authors_operator(n, factor):
    x = np.random.default_rng(1).standard_normal(n) + 1j
    for seed in range(5):
        mask = ot_cyclegan_lines_mask((3, n), factor, seed=seed)
        assert mask.dtype == np.float32 and mask.shape == (3, n)
        assert (mask == mask[:1]).all()
        profile = authors_profile(n, factor, seed)
        # The same operator in the centred convention of this package.
        ours = ifftn_centered(torch.from_numpy(mask[0]) * fftn_centered(torch.from_numpy(x), 1), 1)
        np.testing.assert_allclose(ours.numpy(), authors_forward(x, profile), atol=1e-12)
        if n % 2 == 0:  # fftshift is its own inverse: the profile is the mask
            np.testing.assert_array_equal(mask[0], profile)
        else:
            np.testing.assert_array_equal(mask[0], np.roll(profile, -1))


def test_ot_cyclegan_mask_never_draws_line_zero():
    for n in (64, 65):
        counts = np.zeros(n)
        for seed in range(200):
            counts += ot_cyclegan_lines_mask(n, acceleration=2, seed=seed)
        # Line 0 of the authors' profile, the highest frequency: index 0
        # here for even n, n - 1 for odd n (one fftshift too many).
        never = 0 if n % 2 == 0 else n - 1
        assert counts[never] == 0
        others = np.delete(counts, never)
        assert others.min() >= 40  # each other line is drawn in ~40 % of masks
        # The zero frequency is in the band, sampled every time (even n).
        if n % 2 == 0:
            assert counts[n // 2] == 200


@pytest.mark.parametrize('n, factor, width', ((320, 4, 26), (320, 8, 13), (368, 6, 15),
                                              (372, 4, 30)))
def test_ot_cyclegan_acs_band(n, factor, width):
    assert width == round(n * (0.08 if factor == 4 else 0.04))
    start = round((n - width) / 2)
    for seed in range(10):
        mask = ot_cyclegan_lines_mask((n,), factor, seed=seed)
        assert mask[start:start + width].all()
        lines = int(mask.sum())
        assert lines <= int(n / factor) + width
    # Without draws (a huge acceleration still draws one line) the band is
    # the whole pattern up to one line.
    mask = ot_cyclegan_lines_mask((n,), n, seed=0, acs_fraction=0.1)
    assert int(mask.sum()) in (round(0.1 * n), round(0.1 * n) + 1)


def test_ot_cyclegan_effective_acceleration_below_nominal():
    mean_lines = np.mean([ot_cyclegan_lines_mask(320, 4, seed=s).sum() for s in range(200)])
    # 80 draws with replacement from 319 lines: 80 * (1 - 1/319)**... distinct,
    # minus those inside the 26-line band, plus the band: about 91 lines.
    distinct = 319 * (1 - (1 - 1 / 319) ** 80)
    expected = 26 + distinct * (319 - 26) / 319
    assert mean_lines == pytest.approx(expected, rel=0.02)
    assert 320 / mean_lines == pytest.approx(3.5, abs=0.1)


def test_ot_cyclegan_mask_seeding_and_axis():
    a = ot_cyclegan_lines_mask((64, 32), 4, seed=7, axis=0)
    np.testing.assert_array_equal(a, ot_cyclegan_lines_mask((64, 32), 4, seed=7, axis=0))
    assert not np.array_equal(a, ot_cyclegan_lines_mask((64, 32), 4, seed=8, axis=0))
    assert (a == a[:, :1]).all()
    np.testing.assert_array_equal(a[:, 0], ot_cyclegan_lines_mask(64, 4, seed=7))


def fastmri_reference(n, factor, fraction, seed):
    """fastMRI's RandomMaskFunc, written from its description."""
    n_low = round(n * fraction)
    keep_probability = (n / factor - n_low) / (n - n_low)
    uniform = np.random.default_rng(seed).uniform(size=n)
    first = (n - n_low + 1) // 2
    centre = set(range(first, first + n_low))
    return np.array([1.0 if (i in centre or uniform[i] < keep_probability) else 0.0
                     for i in range(n)], dtype=np.float32)


@pytest.mark.parametrize('n, factor, fraction', ((368, 4, 0.08), (368, 8, 0.04),
                                                 (320, 4, 0.08), (333, 8, 0.04),
                                                 (100, 6, 0.1)))
def test_fastmri_mask_exact(n, factor, fraction):
    for seed in range(5):
        kwargs = {} if factor in (4, 8) else dict(center_fraction=fraction)
        mask = fastmri_lines_mask((2, 5, n), factor, seed=seed, **kwargs)
        assert mask.shape == (2, 5, n) and mask.dtype == np.float32
        np.testing.assert_array_equal(mask[1, 3], fastmri_reference(n, factor, fraction, seed))
        assert (mask == mask[:1, :1]).all()


@pytest.mark.parametrize('n, factor, width, first', ((368, 4, 29, 170), (368, 8, 15, 177),
                                                     (640, 4, 51, 295)))
def test_fastmri_centre_band(n, factor, width, first):
    assert width == round(n * (0.08 if factor == 4 else 0.04))
    assert first == (n - width + 1) // 2
    for seed in range(5):
        mask = fastmri_lines_mask(n, factor, seed=seed)
        assert mask[first:first + width].all()


@pytest.mark.parametrize('factor', (4, 8))
def test_fastmri_expected_number_of_lines(factor):
    n, seeds = 368, 2000
    n_low = round(n * (0.08 if factor == 4 else 0.04))
    p = (n / factor - n_low) / (n - n_low)
    counts = np.array([fastmri_lines_mask(n, factor, seed=s).sum() for s in range(seeds)])
    # Lines are kept independently: mean n / R, variance (n - n_low) p (1 - p);
    # central lines drawn as kept do not add.
    expected = n_low + (n - n_low) * p
    assert expected == pytest.approx(n / factor)
    sigma = np.sqrt((n - n_low) * p * (1 - p))
    assert abs(counts.mean() - expected) < 4 * sigma / np.sqrt(seeds)
    assert counts.std() == pytest.approx(sigma, rel=0.1)


@pytest.mark.parametrize('function, args, kwargs, error, match', (
    (ot_cyclegan_lines_mask, ((8, 64), 0.5), {}, ValueError, '`acceleration`'),
    (ot_cyclegan_lines_mask, ((8, 64), 100), {}, ValueError, 'leaves no line'),
    (ot_cyclegan_lines_mask, ((8, 1), 1), {}, ValueError, 'at least 2 lines'),
    (ot_cyclegan_lines_mask, ((8, 64), 4), dict(axis=2), ValueError, '`axis`'),
    (ot_cyclegan_lines_mask, ((8, 64), 4), dict(acs_fraction=1.5), ValueError, '`acs_fraction`'),
    (ot_cyclegan_lines_mask, ((0, 64), 4), {}, ValueError, '`shape`'),
    (fastmri_lines_mask, ((8, 64), 6), {}, ValueError, '`center_fraction`'),
    (fastmri_lines_mask, ((8, 64), 4), dict(center_fraction=1.5), ValueError,
     '`center_fraction`'),
    (fastmri_lines_mask, ((8, 64), 4), dict(center_fraction='a'), TypeError,
     '`center_fraction`'),
    (fastmri_lines_mask, ((8, 64), 4), dict(center_fraction=0.5), ValueError,
     'exceed the budget'),
    (fastmri_lines_mask, ((8, 64), float('inf')), {}, ValueError, '`acceleration`'),
    (fastmri_lines_mask, ((8, 64), 4), dict(axis=-3), ValueError, '`axis`'),
))
def test_published_line_mask_errors(function, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        function(*args, **kwargs)


def test_fastmri_full_sampling_at_acceleration_one():
    assert (fastmri_lines_mask(50, 1, center_fraction=1.0, seed=0) == 1).all()
    assert (fastmri_lines_mask(50, 1, center_fraction=0.1, seed=0) == 1).all()
