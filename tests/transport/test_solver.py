"""Tests of `odl_wasserstein.transport.sinkhorn`.

References that share no code with the solver: POT (``ot``) on the dense
cost matrix restricted to the supports, exact EMD (``ot.emd2``), a direct
NumPy re-implementation of the authors' Algorithm 1, closed-form values of
Proposition 2 / Examples 3 and 4 of Adler et al. (2017), finite
differences and ``torch.autograd.gradcheck``.
"""

import warnings

import numpy as np
import odl
import ot
import pytest
import torch

from odl_wasserstein.transport import sinkhorn
from odl_wasserstein.transport.costs import (
    Adler2017Cost, CallableCost, PowerCost, SaturatingCost, SeparableCost,
    SquaredEuclideanCost)


# -- measures ----------------------------------------------------------------

def disc(shape, centre, radius):
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing='ij')
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius ** 2


def blob_pair(n, seed=0, dtype=torch.float64):
    """Two unit-mass measures on n x n, random values on discs, zero elsewhere.

    About 12 % and 20 % of the pixels carry mass: the solvers must handle
    ``log 0`` on most of the grid.
    """
    rng = np.random.default_rng(seed)
    shape = (n, n)
    a = disc(shape, (0.3 * n, 0.3 * n), 0.2 * n) * rng.uniform(0.5, 1.5, shape)
    b = disc(shape, (0.6 * n, 0.7 * n), 0.25 * n) * rng.uniform(0.5, 1.5, shape)
    a, b = a / a.sum(), b / b.sum()
    return torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype)


def rings(n, dtype=torch.float32):
    """Two thin rings (about 5 % of the pixels), equal mass, zeros elsewhere."""
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')

    def ring(cy, cx, r):
        d = np.hypot(y - cy, x - cx)
        return ((d <= r) & (d > r - 1.5)).astype(np.float64)

    a, b = ring(0.3 * n, 0.35 * n, 0.2 * n), ring(0.6 * n, 0.62 * n, 0.25 * n)
    b *= a.sum() / b.sum()
    return torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype)


def point_mass(shape, index, dtype=torch.float64):
    mu = torch.zeros(shape, dtype=dtype)
    mu[index] = 1.0
    return mu


def unit(cost):
    return cost / cost.max_value()


# -- POT references ------------------------------------------------------------

def kl(p, q):
    return float(np.sum(p * np.log(p / q) - p + q))


def pot_balanced(a, b, matrix, eps):
    """POT's log-domain Sinkhorn on the supports.

    POT's Sinkhorn divides by the weights; the entropic plan vanishes
    outside ``supp a x supp b`` anyway, so restricting is exact.
    """
    a, b = a.flatten().numpy(), b.flatten().numpy()
    ia, ib = a > 0, b > 0
    m = matrix[np.ix_(ia, ib)]
    plan, log = ot.bregman.sinkhorn_log(a[ia], b[ib], m, eps, stopThr=1e-14,
                                        numItermax=100000, log=True)
    objective = (plan * m).sum() + eps * kl(plan, np.outer(a[ia], b[ib]))
    return dict(cost=(plan * m).sum(), objective=objective, log_u=log['log_u'],
                log_v=log['log_v'], ia=ia, ib=ib, a=a[ia], b=b[ib])


POT_CASES = {
    # name: (cost on a shape, grid size, engines)
    'sqeuclid16': (SquaredEuclideanCost, 16, ('fft', 'separable', 'dense')),
    'sqeuclid48': (SquaredEuclideanCost, 48, ('fft', 'separable')),
    'saturating': (lambda s: SaturatingCost(s, scale=6.0), 24, ('fft', 'dense')),
    'power1': (lambda s: PowerCost(s, p=1), 20, ('fft', 'dense')),
    'authors': (Adler2017Cost, 16, ('fft', 'dense')),
}


@pytest.mark.parametrize('eps', [0.05, 0.1, 0.5])
@pytest.mark.parametrize('boundary', ['zero', 'periodic'])
@pytest.mark.parametrize('case', sorted(POT_CASES))
def test_matches_pot(case, boundary, eps):
    make, n, engines = POT_CASES[case]
    cost = unit(make((n, n)))
    a, b = blob_pair(n)
    ref = pot_balanced(a, b, cost.matrix(boundary).numpy(), eps)
    for method in engines:
        # The FFT's round-off floor (1e-14 of the largest kernel sum) stalls
        # the marginal error near 1e-9 at max C / eps = 20: tol=1e-10 would
        # only run into max_iter there.
        tol = 1e-8 if method == 'fft' else 1e-10
        result = sinkhorn(a, b, cost, eps, tol=tol, boundary=boundary, method=method)
        assert result.method == method and result.converged
        assert float(result.marginal_error) < 10 * tol
        limit = 1e-6 if method == 'fft' else 1e-8
        assert float(result.cost) == pytest.approx(ref['cost'], rel=limit)
        assert float(result.objective) == pytest.approx(ref['objective'], rel=limit)
        # P = diag(u) K diag(v) = a_i b_j exp((f_i + g_j - C_ij) / eps), so
        # f = eps (log u - log a) + c and g = eps (log v - log b) - c.
        df = result.f.flatten().numpy()[ref['ia']] - eps * (ref['log_u'] - np.log(ref['a']))
        dg = result.g.flatten().numpy()[ref['ib']] - eps * (ref['log_v'] - np.log(ref['b']))
        potential_tol = (2e-6 if method == 'fft' else 3e-8) * eps
        assert np.ptp(df) < potential_tol and np.ptp(dg) < potential_tol
        assert abs(df.mean() + dg.mean()) < potential_tol


@pytest.mark.parametrize('boundary', ['zero', 'periodic'])
def test_3d_grid_matches_pot(boundary):
    # Engines act on the trailing axes of (N, *shape): a 3-D grid with
    # unequal, non-unit cells catches axis mix-ups.
    space = odl.uniform_discr([0.0, 0.0, 0.0], [3.0, 2.0, 2.0], (6, 5, 4))
    rng = np.random.default_rng(9)
    a = rng.uniform(0.5, 1.5, space.shape) * (rng.uniform(size=space.shape) < 0.4)
    b = rng.uniform(0.5, 1.5, space.shape) * (rng.uniform(size=space.shape) < 0.4)
    a, b = torch.tensor(a / a.sum()), torch.tensor(b / b.sum())
    for cost, engines in ((unit(SquaredEuclideanCost(space)), ('fft', 'separable', 'dense')),
                          (unit(SaturatingCost(space, scale=1.0)), ('fft', 'dense'))):
        ref = pot_balanced(a, b, cost.matrix(boundary).numpy(), 0.1)
        for method in engines:
            result = sinkhorn(a, b, cost, 0.1, tol=1e-10, boundary=boundary, method=method)
            assert result.f.shape == space.shape
            assert float(result.cost) == pytest.approx(ref['cost'], rel=1e-8)


def authors_algorithm(mu0, mu1, n, eps, cutoff=0.3, n_iter=10):
    """Algorithm 1 as the authors run it, in NumPy.

    Circular FFT convolutions with the ifftshift-ed kernel, the adjoint by
    the conjugate spectrum, ``v0 = 1 / n_pixels``, division returning 0 where
    the denominator is below 1e-7, value ``<u, (K * C) v>``.
    """
    xp, yp = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    c = np.fft.ifftshift(cutoff ** 4 * (1 - np.exp(-(xp ** 4 + yp ** 4) / cutoff ** 4)))
    k = np.exp(-c / eps)
    k_hat, kc_hat = np.fft.fft2(k), np.fft.fft2(k * c)

    def divide(x, y):
        small = np.abs(y) < 1e-7
        return np.where(small, 0.0, x / np.where(small, 1.0, y))

    v = np.full((n, n), 1.0 / n ** 2)
    for _ in range(n_iter):
        u = divide(mu0, np.fft.ifft2(k_hat * np.fft.fft2(v)).real)
        v = divide(mu1, np.fft.ifft2(k_hat.conj() * np.fft.fft2(u)).real)
    return float((u * np.fft.ifft2(kc_hat * np.fft.fft2(v)).real).sum())


def test_authors_cost_periodic_reproduces_authors_algorithm():
    n, eps = 12, 1e-3  # even size: the authors' kernel is asymmetric
    rng = np.random.default_rng(3)
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')
    # Ring-like images plus the authors' offset of 1e-3 (no zero pixels, so
    # the 1e-7 guard of the division never fires).
    mu0 = (np.abs(np.hypot(y - 5, x - 4) - 3) < 1) * rng.uniform(0.5, 1, (n, n)) + 1e-3
    mu1 = (np.abs(np.hypot(y - 6, x - 7) - 4) < 1) * rng.uniform(0.5, 1, (n, n)) + 1e-3
    mu1 *= mu0.sum() / mu1.sum()
    cost = Adler2017Cost((n, n))
    values = []
    for first, second in ((mu0, mu1), (mu1, mu0)):
        expected = authors_algorithm(first, second, n, eps)
        for method in ('fft', 'dense'):
            result = sinkhorn(torch.tensor(first), torch.tensor(second), cost, eps,
                              n_iter=10, init='uniform', boundary='periodic',
                              method=method)
            assert result.n_iter == 10
            assert float(result.cost) == pytest.approx(expected, rel=1e-10)
        single = sinkhorn(torch.tensor(first, dtype=torch.float32),
                          torch.tensor(second, dtype=torch.float32), cost, eps,
                          n_iter=10, init='uniform', boundary='periodic')
        assert float(single.cost) == pytest.approx(expected, rel=1e-5)
        values.append(expected)
    # Swapping the measures changes the value: the transposed kernel is
    # really a different operator here, and both orientations match.
    assert abs(values[0] / values[1] - 1) > 1e-2


@pytest.mark.parametrize('boundary', ['zero', 'periodic'])
def test_cost_sign_convention_in_every_engine(boundary):
    # Odd sizes: wrapped displacements are unambiguous on the torus.
    space = odl.uniform_discr([0.0, 0.0], [2.0, 3.5], (5, 7))  # cells 0.4, 0.5
    asymmetric = CallableCost(space, lambda d0, d1: (d0 - 0.3) ** 2 + torch.exp(d1))
    separable = SeparableCost(space, lambda d: torch.exp(d))
    source, target = (1, 1), (3, 5)
    d = np.array(target, float) - np.array(source, float)
    if boundary == 'periodic':
        d = d - np.array(space.shape) * np.round(d / np.array(space.shape))
    d *= np.array(space.cell_sides)
    a = point_mass(space.shape, source)
    b = point_mass(space.shape, target)
    for cost, expected, methods in (
            (asymmetric, (d[0] - 0.3) ** 2 + np.exp(d[1]), ('fft', 'dense')),
            (separable, np.exp(d[0]) + np.exp(d[1]), ('fft', 'separable', 'dense'))):
        reverse = cost.matrix(boundary)[np.ravel_multi_index(target, space.shape),
                                        np.ravel_multi_index(source, space.shape)]
        assert abs(float(reverse) / expected - 1) > 0.1  # the test can tell
        for method in methods:
            # eps = 2 keeps max C / eps (about 12) in the FFT's exact range.
            result = sinkhorn(a, b, cost, 2.0, tol=1e-10, boundary=boundary, method=method)
            assert float(result.cost) == pytest.approx(expected, rel=1e-9)


def test_readout_matches_dense_plan_before_convergence():
    n, eps = 10, 0.05
    cost = unit(SaturatingCost((n, n), scale=3.0))
    a, b = blob_pair(n, seed=1)
    c = cost.matrix().numpy()
    for method in ('fft', 'dense'):
        # Three iterations: far from converged, so the readout formulas are
        # checked on a plan whose marginals are still wrong.
        r = sinkhorn(a, b, cost, eps, n_iter=3, method=method)
        f, g = r.f.flatten().numpy(), r.g.flatten().numpy()
        af, bf = a.flatten().numpy(), b.flatten().numpy()
        plan = np.outer(af, bf) * np.exp((f[:, None] + g[None, :] - c) / eps)
        error = (np.abs(plan.sum(1) - af).sum() / af.sum()
                 + np.abs(plan.sum(0) - bf).sum() / bf.sum())
        assert error > 1e-3
        assert float(r.marginal_error) == pytest.approx(error, rel=1e-8)
        assert float(r.cost) == pytest.approx((plan * c).sum(), rel=1e-8)
        support = plan > 0
        kl_value = (np.sum(plan[support] * np.log(plan[support]
                                                  / np.outer(af, bf)[support]))
                    - plan.sum() + af.sum() * bf.sum())
        assert float(r.objective) == pytest.approx((plan * c).sum() + eps * kl_value,
                                                   rel=1e-8)


# -- batches, precision, shapes ------------------------------------------------

@pytest.mark.parametrize('method', ['fft', 'separable', 'dense'])
def test_batch_equals_per_sample(method):
    n = 12
    cost = unit(SquaredEuclideanCost((n, n)))
    pairs = [blob_pair(n, seed=s) for s in range(3)]
    a = torch.stack([p[0] for p in pairs])
    b = torch.stack([p[1] for p in pairs])
    fixed = sinkhorn(a, b, cost, 0.05, n_iter=25, method=method)
    converged = sinkhorn(a, b, cost, 0.05, tol=1e-9, method=method)
    assert fixed.cost.shape == (3,) and fixed.f.shape == (3, n, n)
    for i in range(3):
        single = sinkhorn(a[i], b[i], cost, 0.05, n_iter=25, method=method)
        for name in ('cost', 'objective', 'f', 'g'):
            assert torch.allclose(getattr(single, name), getattr(fixed, name)[i],
                                  rtol=1e-11, atol=1e-15), name
        assert float(single.marginal_error) == pytest.approx(
            float(fixed.marginal_error[i]), abs=1e-12)
        single = sinkhorn(a[i], b[i], cost, 0.05, tol=1e-9, method=method)
        assert float(single.cost) == pytest.approx(float(converged.cost[i]), rel=1e-8)
    # The samples really differ.
    assert float(fixed.cost.max() / fixed.cost.min()) > 1.1


@pytest.mark.parametrize('make, eps, boundary', [
    (SquaredEuclideanCost, 0.1, 'zero'),  # float32 FFTs
    (SquaredEuclideanCost, 0.01, 'zero'),  # separable engine
    (lambda s: SaturatingCost(s, scale=4.0), 0.05, 'periodic'),  # float64 FFTs
])
def test_float32_close_to_float64(make, eps, boundary):
    cost = unit(make((16, 16)))
    a, b = blob_pair(16)
    double = sinkhorn(a, b, cost, eps, tol=1e-6, boundary=boundary)
    single = sinkhorn(a.float(), b.float(), cost, eps, tol=1e-6, boundary=boundary)
    assert single.method == double.method
    assert single.cost.dtype == single.f.dtype == torch.float32
    assert float(single.cost) == pytest.approx(float(double.cost), rel=1e-4)
    assert float(single.objective) == pytest.approx(float(double.objective), rel=1e-4)


def test_unbatched_input_gives_scalars():
    cost = unit(SquaredEuclideanCost((8, 9)))
    a = torch.rand(8, 9, dtype=torch.float64)
    b = torch.rand(8, 9, dtype=torch.float64)
    r = sinkhorn(a, b, cost, 0.1, normalize=True, n_iter=20)
    assert r.cost.shape == r.objective.shape == r.marginal_error.shape == ()
    assert r.f.shape == r.g.shape == (8, 9)
    assert isinstance(r.n_iter, int) and r.n_iter == 20
    batched = sinkhorn(a[None], b[None], cost, 0.1, normalize=True, n_iter=20)
    assert batched.cost.shape == (1,)
    assert float(r.cost) == float(batched.cost[0])


def test_warm_start_converges_at_once():
    cost = unit(SquaredEuclideanCost((16, 16)))
    a, b = blob_pair(16)
    cold = sinkhorn(a, b, cost, 0.02, tol=1e-9, method='separable')
    warm = sinkhorn(a, b, cost, 0.02, tol=1e-9, method='separable', init=cold.g,
                    eps_scaling=None, check_every=1)
    assert cold.n_iter >= 10
    assert warm.n_iter <= 2
    assert float(warm.cost) == pytest.approx(float(cold.cost), rel=1e-9)


def test_mass_mismatch_within_round_off_still_converges():
    # Masses accepted as equal (mismatch < 1e-4) used to make tol below the
    # mismatch unreachable: max_iter iterations and a warning.
    cost = unit(SquaredEuclideanCost((16, 16)))
    a, b = blob_pair(16)
    exact = sinkhorn(a, b, cost, 0.05, tol=1e-9, method='separable')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        off = sinkhorn(a, b * (1 + 1e-6), cost, 0.05, tol=1e-9, method='separable')
    assert off.converged and off.n_iter <= exact.n_iter + 5
    assert float(off.cost) == pytest.approx(float(exact.cost), rel=1e-5)
    # The reported violation is the mismatch itself, not hidden.
    assert float(off.marginal_error) == pytest.approx(1e-6, rel=1e-2)
    # Larger mismatches need an explicit mass_tolerance, then converge too
    # (the plan takes the mass of mu1, the side updated last).
    with pytest.raises(ValueError, match='equal masses'):
        sinkhorn(a, 1.01 * b, cost, 0.05, tol=1e-9, method='separable')
    loose = sinkhorn(a, 1.01 * b, cost, 0.05, tol=1e-9, method='separable',
                     mass_tolerance=0.05)
    assert loose.converged and loose.n_iter <= exact.n_iter + 5
    assert float(loose.marginal_error) == pytest.approx(0.01, rel=1e-6)
    assert float(loose.cost) == pytest.approx(1.01 * float(exact.cost), rel=1e-6)


# -- limits and analytic values --------------------------------------------------

def test_small_eps_approaches_emd():
    n = 16
    cost = unit(SquaredEuclideanCost((n, n)))
    a, b = blob_pair(n, seed=2)
    emd = ot.emd2(a.flatten().numpy(), b.flatten().numpy(), cost.matrix().numpy())
    gaps = []
    for eps in (0.1, 0.03, 0.01, 0.003, 0.001):
        result = sinkhorn(a, b, cost, eps, tol=1e-9, method='separable')
        assert result.converged
        gaps.append(float(result.cost) - emd)
    # The entropic plan's cost lies above the EMD and decreases with eps.
    assert all(g > 0 for g in gaps)
    assert all(g1 < 0.8 * g0 for g0, g1 in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] / emd < 1e-2


def test_example_3_point_mass_under_uniform_shifts():
    # 1-D grid with cell 0.1; tau uniform on the 21 grid points of [-1, 1].
    # One marginal is a point mass, so the plan is unique and the entropic
    # cost is the exact transport cost for every eps.
    h = 0.1
    space = odl.uniform_discr(-2.05, 2.05, 41)
    cost = SquaredEuclideanCost(space)
    x = space.points()[:, 0]
    taus = np.arange(10, 31)  # indices of -1.0, ..., 1.0
    candidates = np.arange(10, 31)
    a = torch.zeros(len(candidates), len(taus), 41, dtype=torch.float64)
    b = torch.zeros_like(a)
    for i, c in enumerate(candidates):
        for j, t in enumerate(taus):
            a[i, j, t] = 1.0
            b[i, j, c] = 1.0
    # One marginal is a point mass: the first g-update gives the exact plan.
    result = sinkhorn(a.reshape(-1, 41), b.reshape(-1, 41), cost, 1e-2, n_iter=2)
    mean_cost = result.cost.reshape(len(candidates), len(taus)).mean(1)
    # Discrete analogue of F(x) = 1/3 + x^2: mean of (j h)^2 over |j| <= 10
    # is (1 + h) / 3.
    expected_f = x[candidates] ** 2 + (1 + h) / 3
    np.testing.assert_allclose(mean_cost.numpy(), expected_f, rtol=1e-9)
    assert x[candidates[int(mean_cost.argmin())]] == pytest.approx(0.0, abs=1e-12)

    # The MSE-optimal image is the mean of the shifted images (Prop. 1).
    smeared = torch.zeros(41, dtype=torch.float64)
    smeared[taus] = 1.0 / len(taus)
    barycentre = point_mass(41, 20)
    shifted = torch.zeros(len(taus), 41, dtype=torch.float64)
    shifted[torch.arange(len(taus)), torch.as_tensor(taus)] = 1.0

    def expected_transport(mu):
        return float(sinkhorn(shifted, mu.expand_as(shifted), cost, 1e-2,
                              n_iter=2).cost.mean())

    def expected_mse(mu):
        return float(((mu - shifted) ** 2).sum(1).mean())

    ot_bary, ot_smeared = expected_transport(barycentre), expected_transport(smeared)
    mse_bary, mse_smeared = expected_mse(barycentre), expected_mse(smeared)
    assert ot_bary == pytest.approx((1 + h) / 3, rel=1e-9)
    assert ot_smeared == pytest.approx(2 * (1 + h) / 3, rel=1e-9)  # 2 Var(tau)
    assert mse_smeared == pytest.approx(1 - 1 / 21, rel=1e-12)
    assert mse_bary == pytest.approx(2 * (1 - 1 / 21), rel=1e-12)
    assert ot_smeared > 1.9 * ot_bary
    assert mse_bary > 1.9 * mse_smeared
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        nudge = 1e-2 * torch.randn(41, dtype=torch.float64, generator=generator)
        assert expected_mse(smeared + nudge) > mse_smeared


def test_example_4_barycentre_minimises_expected_cost():
    space = odl.uniform_discr([0.0, 0.0], [3.2, 2.4], (16, 12))  # cells 0.2
    cost = SquaredEuclideanCost(space)
    centre = np.array([8, 6])
    # A symmetric, non-box set of integer shifts.
    shifts = [(i, j) for i in range(-2, 3) for j in range(-2, 3) if abs(i) + abs(j) <= 2]
    shifts += [(3, 1), (-3, -1), (1, -3), (-1, 3)]
    shifts = np.array(shifts)
    window = [(i, j) for i in range(5, 12) for j in range(3, 10)]
    a = torch.zeros(len(window), len(shifts), 16, 12, dtype=torch.float64)
    b = torch.zeros_like(a)
    for k, x in enumerate(window):
        for m, s in enumerate(shifts):
            a[(k, m) + tuple(centre + s)] = 1.0
            b[(k, m) + x] = 1.0
    result = sinkhorn(a.reshape(-1, 16, 12), b.reshape(-1, 16, 12), cost, 1e-2, n_iter=2)
    mean_cost = result.cost.reshape(len(window), len(shifts)).mean(1).numpy()
    # F(x) = |x - E tau|^2 + E |tau - E tau|^2 in physical units.
    step = np.array(space.cell_sides)
    variance = np.mean(np.sum((shifts * step) ** 2, axis=1))
    expected = np.array([np.sum(((np.array(x) - centre) * step) ** 2) for x in window])
    np.testing.assert_allclose(mean_cost, expected + variance, rtol=1e-9)
    assert window[int(np.argmin(mean_cost))] == tuple(centre)
    assert np.sort(mean_cost)[1] - mean_cost.min() == pytest.approx(0.04, rel=1e-6)


# -- stability -----------------------------------------------------------------

STABILITY_COSTS = {
    'sqeuclid': SquaredEuclideanCost,
    'saturating': lambda s: SaturatingCost(s, scale=s[0] / 4),
    'authors': Adler2017Cost,
}


@pytest.mark.parametrize('eps', [1.0, 0.1, 0.01, 0.001])
@pytest.mark.parametrize('name', sorted(STABILITY_COSTS))
def test_rings_on_empty_background(name, eps):
    n, tol = 32, 1e-6
    cost = unit(STABILITY_COSTS[name]((n, n)))
    a, b = rings(n)
    # Kernel sums the FFT cannot resolve make tol unreachable; a short
    # max_iter keeps those cases fast and still shows what they return.
    # The separable engine needs about 350 iterations at eps = 0.001.
    max_iter = 1000 if cost.separable else 100
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = sinkhorn(a, b, cost, eps, tol=tol, max_iter=max_iter)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    for field in ('cost', 'objective', 'f', 'g', 'marginal_error'):
        value = getattr(result, field)
        assert value.dtype == torch.float32
        assert bool(torch.isfinite(value).all()), field
    assert float(result.cost) > 0
    if cost.separable:
        # FFT while max C / eps <= 13 (float32) or 32, else the exact engine.
        assert result.method == ('separable' if eps <= 0.01 else 'fft')
        assert not messages
        assert result.converged and float(result.marginal_error) <= tol
    elif cost.max_value() / eps > 32:
        # Beyond float64 FFT range: must warn, never return NaN.
        assert any('round-off' in m for m in messages), messages
    else:
        # No silent inaccuracy: converged to tol, or a warning says not.
        assert messages or (result.converged and float(result.marginal_error) <= 2 * tol)


def test_unresolvable_fft_warns():
    n = 24
    cost = unit(SaturatingCost((n, n), scale=6.0))
    a, b = rings(n)
    with pytest.warns(RuntimeWarning, match='FFT kernel sums fell below round-off'):
        result = sinkhorn(a, b, cost, 0.005, n_iter=30)
    assert result.method == 'fft'
    assert bool(torch.isfinite(result.f).all() and torch.isfinite(result.cost))
    # The same problem on the exact dense engine: no warning, finite too.
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        exact = sinkhorn(a.double(), b.double(), cost, 0.005, n_iter=30, method='dense')
    assert bool(torch.isfinite(exact.cost))


# -- gradients -----------------------------------------------------------------

def positive_pair(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, dtype=torch.float64, generator=generator) + 0.1
    b = torch.rand(shape, dtype=torch.float64, generator=generator) + 0.1
    return a.requires_grad_(), b.requires_grad_()


@pytest.mark.parametrize('method', ['fft', 'separable', 'dense'])
@pytest.mark.parametrize('gradient', ['unrolled', 'implicit'])
def test_gradcheck_balanced(gradient, method):
    shape = (3, 4)
    cost = unit(SquaredEuclideanCost(shape))
    # The implicit gradient is exact only at the fixed point.
    options = dict(n_iter=15) if gradient == 'unrolled' else dict(tol=1e-13)

    def outputs(mu0, mu1):
        r = sinkhorn(mu0, mu1, cost, 0.2, method=method, normalize=True,
                     gradient=gradient, **options)
        return r.cost, r.objective

    assert torch.autograd.gradcheck(outputs, positive_pair(shape, 0))


@pytest.mark.parametrize('gradient, method', [('unrolled', 'fft'), ('implicit', 'dense')])
def test_gradcheck_unbalanced(gradient, method):
    shape = (3, 4)
    cost = unit(SaturatingCost(shape, scale=2.0))
    options = dict(n_iter=15) if gradient == 'unrolled' else dict(tol=1e-13)

    def outputs(mu0, mu1):
        r = sinkhorn(mu0, 2 * mu1, cost, 0.2, method=method, unbalanced=0.5,
                     gradient=gradient, **options)
        return r.cost, r.objective

    assert torch.autograd.gradcheck(outputs, positive_pair(shape, 1))


@pytest.mark.parametrize('gradient', ['unrolled', 'implicit'])
def test_objective_gradient_is_the_potential(gradient):
    n = 12
    cost = unit(SquaredEuclideanCost((n, n)))
    a, b = blob_pair(n, seed=4)
    for normalize in (False, True):
        # Scale a: with normalize=True the gradient is f / mass + constant.
        mass = 3.0 if normalize else 1.0
        mu0 = (mass * a).requires_grad_()
        r = sinkhorn(mu0, b, cost, 0.05, tol=1e-12, gradient=gradient, normalize=normalize)
        (grad,) = torch.autograd.grad(r.objective, mu0)
        residual = grad * mass - r.f.detach()
        assert float(residual.max() - residual.min()) < 1e-9 * float(r.f.detach().abs().max())
        assert float(r.f.detach().max() - r.f.detach().min()) > 0.1  # f is not constant


@pytest.mark.parametrize('method', ['fft', 'separable', 'dense'])
@pytest.mark.parametrize('gradient', ['unrolled', 'implicit'])
def test_gradient_at_zero_mass_pixels(gradient, method):
    n, eps = 8, 0.1
    cost = unit(SquaredEuclideanCost((n, n)))
    a, b = blob_pair(n, seed=5)
    zeros = [tuple(i) for i in (a == 0).nonzero()[[0, 17, -1]].tolist()]
    options = dict(n_iter=20) if gradient == 'unrolled' else dict(tol=1e-13)

    def run(mu0):
        return sinkhorn(mu0, b, cost, eps, method=method, gradient=gradient,
                        normalize=True, **options)

    mu0 = a.clone().requires_grad_()
    base = run(mu0)
    (grad_cost,) = torch.autograd.grad(base.cost, mu0, retain_graph=True)
    (grad_objective,) = torch.autograd.grad(base.objective, mu0)
    assert bool(torch.isfinite(grad_cost).all() and torch.isfinite(grad_objective).all())
    for index in zeros:
        # Mass can only be added here: one-sided differences at h and 2h,
        # Richardson-extrapolated to O(h^2).
        values = {}
        for h in (1e-6, 2e-6):
            shifted = a.clone()
            shifted[index] += h
            r = run(shifted)
            values[h] = (float(r.cost.detach()), float(r.objective.detach()))
        for k, grad in enumerate((grad_cost, grad_objective)):
            base_value = (float(base.cost.detach()), float(base.objective.detach()))[k]
            d1 = (values[1e-6][k] - base_value) / 1e-6
            d2 = (values[2e-6][k] - base_value) / 2e-6
            assert abs(float(grad[index])) > 1e-3
            assert float(grad[index]) == pytest.approx(2 * d1 - d2, rel=1e-6)


def saved_bytes(**options):
    total = [0]

    def pack(tensor):
        total[0] += tensor.numel() * tensor.element_size()
        return tensor

    cost = unit(SquaredEuclideanCost((16, 16)))
    a, b = positive_pair((2, 16, 16), 2)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = sinkhorn(a, b, cost, 0.1, normalize=True, **options)
    result.cost.sum().backward()
    assert bool(torch.isfinite(a.grad).all())
    return total[0]


@pytest.mark.parametrize('method', ['fft', 'separable', 'dense'])
def test_memory_for_backward(method):
    unrolled = [saved_bytes(n_iter=k, method=method) for k in (5, 10, 20)]
    implicit = [saved_bytes(n_iter=k, method=method, gradient='implicit')
                for k in (5, 10, 20)]
    per_iteration = (unrolled[1] - unrolled[0]) / 5
    # One iteration keeps a few (2, 16, 16) float64 tensors (4 KiB each).
    assert per_iteration >= 2 * 4096
    assert unrolled[2] - unrolled[1] == 10 * per_iteration  # linear in n_iter
    assert implicit[0] == implicit[1] == implicit[2]
    assert implicit[2] < unrolled[0]


# -- unbalanced ------------------------------------------------------------------

@pytest.mark.parametrize('rho', [0.1, 1.0])
def test_unbalanced_matches_pot(rho):
    n, eps = 12, 0.1
    cost = unit(SquaredEuclideanCost((n, n)))
    a, b = blob_pair(n, seed=6)
    b = 1.7 * b
    af, bf = a.flatten().numpy(), b.flatten().numpy()
    ia, ib = af > 0, bf > 0
    m = cost.matrix().numpy()[np.ix_(ia, ib)]
    plan = ot.unbalanced.sinkhorn_unbalanced(af[ia], bf[ib], m, eps, rho, reg_type='kl',
                                             stopThr=1e-15, numItermax=100000)
    objective = ((plan * m).sum() + eps * kl(plan, np.outer(af[ia], bf[ib]))
                 + rho * (kl(plan.sum(1), af[ia]) + kl(plan.sum(0), bf[ib])))
    for method in ('fft', 'separable', 'dense'):
        result = sinkhorn(a, b, cost, eps, unbalanced=rho, tol=1e-12, method=method)
        assert result.converged
        assert float(result.cost) == pytest.approx((plan * m).sum(), rel=1e-8)
        assert float(result.objective) == pytest.approx(objective, rel=1e-8)


def test_large_rho_approaches_balanced():
    n, eps = 12, 0.1
    cost = unit(SquaredEuclideanCost((n, n)))
    a, b = blob_pair(n, seed=7)
    balanced = sinkhorn(a, b, cost, eps, tol=1e-11)
    gaps = []
    # Iterations grow like rho / eps (lambda = rho / (rho + eps) -> 1), so
    # rho stops at 30 and tol is moderate.
    for rho in (0.3, 3.0, 30.0):
        result = sinkhorn(a, b, cost, eps, unbalanced=rho, tol=1e-7)
        assert result.converged
        gaps.append(abs(float(result.cost) / float(balanced.cost) - 1))
    # The gap closes like 1 / rho (measured: 0.32, 0.047, 0.0049).
    assert gaps[1] < 0.2 * gaps[0] and gaps[2] < 0.2 * gaps[1], gaps
    assert gaps[2] < 1e-2


def test_unbalanced_accepts_mass_mismatch():
    cost = unit(SquaredEuclideanCost((10, 10)))
    a, b = blob_pair(10, seed=8)
    with pytest.raises(ValueError, match='equal masses'):
        sinkhorn(a, 1.5 * b, cost, 0.1)
    result = sinkhorn(a, 1.5 * b, cost, 0.1, unbalanced=1.0, tol=1e-10)
    assert result.converged and bool(torch.isfinite(result.cost))
    # The plan's mass lies between the two masses.
    f, g = result.f.flatten().numpy(), result.g.flatten().numpy()
    c = cost.matrix().numpy()
    plan = (np.outer(a.flatten().numpy(), 1.5 * b.flatten().numpy())
            * np.exp((f[:, None] + g[None, :] - c) / 0.1))
    plan_mass = plan.sum()
    assert plan_mass > 1.0 and plan_mass < 1.5
    assert float(result.cost) == pytest.approx((plan * c).sum(), rel=1e-10)
    # Both marginals are off here, and both count in the reported error.
    af, bf = a.flatten().numpy(), 1.5 * b.flatten().numpy()
    row_error = np.abs(plan.sum(1) - af).sum() / af.sum()
    column_error = np.abs(plan.sum(0) - bf).sum() / bf.sum()
    assert min(row_error, column_error) > 0.05
    assert float(result.marginal_error) == pytest.approx(row_error + column_error, rel=1e-8)


# -- errors ----------------------------------------------------------------------

def test_input_errors():
    cost = SquaredEuclideanCost((4, 5))
    a = torch.rand(4, 5, dtype=torch.float64)
    b = a.flip(0).clone()
    with pytest.raises(ValueError, match='`mu0` has negative values'):
        sinkhorn(a - 0.5, b, cost, 1.0)
    # Round-off negatives are accepted and count as zero.
    tiny = a.clone()
    tiny[0, 0] = -1e-9
    zeroed = a.clone()
    zeroed[0, 0] = 0.0
    assert float(sinkhorn(tiny, b, cost, 1.0, normalize=True, n_iter=5).cost) == \
        float(sinkhorn(zeroed, b, cost, 1.0, normalize=True, n_iter=5).cost)
    for bad in (float('nan'), float('inf')):
        broken = b.clone()
        broken[1, 1] = bad
        with pytest.raises(ValueError, match='`mu1` contains NaN or infinite values'):
            sinkhorn(a, broken, cost, 1.0)
    with pytest.raises(ValueError, match='must have the same shape'):
        sinkhorn(a, b[None].expand(2, 4, 5), cost, 1.0)
    with pytest.raises(ValueError, match='zero total mass'):
        sinkhorn(torch.stack([a, 0 * a]), torch.stack([b, b]), cost, 1.0, normalize=True)
    with pytest.raises(ValueError, match='cost is defined on a grid of shape'):
        sinkhorn(a, b, SquaredEuclideanCost((5, 4)), 1.0)
    with pytest.raises(ValueError, match=r'measures must have shape \(N, 4, 5\)'):
        sinkhorn(a[None, None], b[None, None], cost, 1.0)
    with pytest.raises(TypeError, match='real floating-point'):
        sinkhorn(torch.ones(4, 5, dtype=torch.int64), b, cost, 1.0)
    with pytest.raises(TypeError, match='must be a torch.Tensor'):
        sinkhorn(a.numpy(), b, cost, 1.0)
    with pytest.raises(TypeError, match='must be a GridCost'):
        sinkhorn(a, b, cost.matrix(), 1.0)
    with pytest.raises(ValueError, match=r'normalize=True.*unbalanced=rho'):
        sinkhorn(a, 2 * b, cost, 1.0)


@pytest.mark.parametrize('options, error, message', [
    (dict(eps=0.0), ValueError, '`eps` must be a finite number > 0'),
    (dict(eps=-1.0), ValueError, '`eps` must be a finite number > 0'),
    (dict(eps=float('inf')), ValueError, '`eps` must be a finite number > 0'),
    (dict(eps=None), TypeError, '`eps` must be a finite number > 0, got None'),
    (dict(method='sparse'), ValueError, '`method` must be one of'),
    (dict(boundary='reflect'), ValueError, '`boundary` must be one of'),
    (dict(gradient='adjoint'), ValueError, '`gradient` must be one of'),
    (dict(unbalanced=0.0), ValueError, '`unbalanced` must be a positive'),
    (dict(unbalanced=float('inf')), ValueError, 'None for balanced'),
    (dict(n_iter=0), ValueError, '`n_iter` must be an int >= 1'),
    (dict(n_iter=2.5), TypeError, '`n_iter` must be an int >= 1'),
    (dict(tol=0.0), ValueError, '`tol` must be a finite number > 0'),
    (dict(eps_scaling=1.5), ValueError, '`eps_scaling` must be in'),
    (dict(init='zeros'), ValueError, "`init` must be a tensor or 'uniform'"),
    # Regression (issue 10, item 9): these ran, hung or returned NaN.
    (dict(check_every=0), ValueError, '`check_every` must be an int >= 1'),
    (dict(max_iter=-1), ValueError, '`max_iter` must be an int >= 1'),
    (dict(mass_tolerance=float('nan')), ValueError, '`mass_tolerance` must be a number'),
    (dict(init=torch.zeros(3, 3, dtype=torch.float64)), ValueError,
     r'`init` must have the shape of `mu1`, \(4, 5\)'),
    (dict(init=torch.full((4, 5), float('nan'))), ValueError, '`init` contains NaN'),
    (dict(init=torch.zeros(4, 5, dtype=torch.int64)), TypeError, '`init` must be a real'),
])
def test_option_errors(options, error, message):
    cost = SquaredEuclideanCost((4, 5))
    a = torch.rand(4, 5, dtype=torch.float64)
    options = dict(dict(eps=1.0, normalize=True), **options)
    eps = options.pop('eps')
    with pytest.raises(error, match=message):
        sinkhorn(a, a.flip(1).clone(), cost, eps, **options)


def test_empty_batch_is_refused():
    """Regression (issue 10, item 8): a batch of 0 measures failed inside MKL."""
    cost = SquaredEuclideanCost((4, 5))
    empty = torch.zeros(0, 4, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match='hold no measures'):
        sinkhorn(empty, empty, cost, 1.0)


def test_separable_method_needs_separable_cost():
    cost = SaturatingCost((4, 5), scale=2.0)
    a = torch.rand(4, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="method='separable' needs a separable cost"):
        sinkhorn(a, a.flip(0).clone(), cost, 0.1, method='separable', normalize=True)


# -- regressions of the reliability campaign (issue 10) ----------------------------

@pytest.mark.parametrize('method', ['fft', 'dense'])
@pytest.mark.parametrize('gradient', ['unrolled', 'implicit'])
def test_unbalanced_gradient_at_zero_mass_pixels(gradient, method):
    """Item 7: the KL readout kept its ``exp(s) s`` term where a measure is 0."""
    n, eps, rho = 8, 0.1, 0.5
    cost = unit(SquaredEuclideanCost((n, n)))
    a, b = blob_pair(n, seed=9)
    b = 1.3 * b
    options = dict(n_iter=30) if gradient == 'unrolled' else dict(tol=1e-13)

    def run(mu0, mu1):
        return sinkhorn(mu0, mu1, cost, eps, method=method, gradient=gradient,
                        unbalanced=rho, **options)

    mu0, mu1 = a.clone().requires_grad_(), b.clone().requires_grad_()
    base = run(mu0, mu1)
    grads = torch.autograd.grad(base.objective, (mu0, mu1))
    base_value = float(base.objective.detach())
    for which, measure in enumerate((a, b)):
        zeros = [tuple(i) for i in (measure == 0).nonzero()[[0, 23, -1]].tolist()]
        for index in zeros:
            values = {}
            for h in (1e-6, 2e-6):
                pair = [a.clone(), b.clone()]
                pair[which][index] += h
                values[h] = float(run(*pair).objective)
            d1 = (values[1e-6] - base_value) / 1e-6
            d2 = (values[2e-6] - base_value) / 2e-6
            assert abs(float(grads[which][index])) > 1e-3
            assert float(grads[which][index]) == pytest.approx(2 * d1 - d2, rel=1e-5)
