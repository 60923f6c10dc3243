"""Tests of the ODL face: `WassersteinDistance` value, gradient, proximal."""

import math

import numpy as np
import odl
import ot
import pytest
import scipy.special
import torch

from odl_wasserstein.transport import (
    SaturatingCost, SquaredEuclideanCost, WassersteinDistance, lambertw_exp)


def space_and_images(n=10, dtype='float64', impl='numpy'):
    space = odl.uniform_discr([0, 0], [2, 1], (n, n), dtype=dtype, impl=impl)
    target = odl.core.phantom.cuboid(space, [0.2, 0.1], [0.9, 0.6]) + 0.05
    image = odl.core.phantom.cuboid(space, [0.8, 0.4], [1.6, 0.9]) + 0.05
    # Same mass as the target.
    image = image * (target.inner(space.one()) / image.inner(space.one()))
    return space, target, image


def test_lambertw_matches_scipy():
    z = torch.linspace(-40, 60, 201, dtype=torch.float64)
    expected = scipy.special.lambertw(np.exp(z.numpy())).real
    np.testing.assert_allclose(lambertw_exp(z).numpy(), expected, rtol=1e-13)
    big = torch.tensor([1e3, 1e5], dtype=torch.float64)
    w = lambertw_exp(big)
    torch.testing.assert_close(w + torch.log(w), big, rtol=1e-15, atol=0)


def test_value_matches_pot_entropic_objective():
    """F(x) = <C, P> + eps sum(P log P - P) with the plan from POT."""
    space, target, image = space_and_images()
    cost = SquaredEuclideanCost(space)
    eps = 0.05 * cost.max_value()
    functional = WassersteinDistance(space, target, cost=cost, eps=eps, tol=1e-12)
    w = space.cell_volume
    a, b = w * image.data.ravel(), w * target.data.ravel()
    matrix = cost.matrix().numpy()
    plan = ot.bregman.sinkhorn_log(a, b, matrix, eps, stopThr=1e-14, numItermax=100000)
    expected = (plan * matrix).sum() + eps * (scipy.special.xlogy(plan, plan) - plan).sum()
    assert functional(image) == pytest.approx(expected, rel=1e-8)


def test_infeasible_points_are_infinite_and_nan_raises():
    space, target, image = space_and_images()
    functional = WassersteinDistance(space, target)
    assert functional(-image) == math.inf
    assert functional(2 * image) == math.inf  # another mass
    bad = image.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        functional(bad)
    with pytest.raises(ValueError, match='gradient'):
        functional.gradient(2 * image)


@pytest.mark.parametrize('impl', ['numpy', 'pytorch'])
def test_gradient_matches_finite_differences(impl):
    """<grad F(x), h>_w = F'(x) h along mass-preserving directions h."""
    space, target, image = space_and_images(n=8, impl=impl)
    cost = SaturatingCost(space, scale=0.5)
    functional = WassersteinDistance(space, target, cost=cost, eps=0.1, tol=1e-11)
    direction = np.random.default_rng(0).standard_normal(space.shape)
    h = space.element(direction - direction.mean())
    step = 1e-5
    finite = (functional(image + step * h) - functional(image - step * h)) / (2 * step)
    assert functional.gradient(image).inner(h) == pytest.approx(finite, rel=1e-5)


@pytest.mark.parametrize('sigma', [0.01, 1.0])
def test_proximal_optimality(sigma):
    """p = prox(x): (x - p) / sigma - grad F(p) is constant (mass constraint)."""
    space, target, image = space_and_images()
    cost = SquaredEuclideanCost(space)
    functional = WassersteinDistance(space, target, cost=cost,
                                     eps=0.05 * cost.max_value(), tol=1e-9)
    prox = functional.proximal(sigma)(image)
    assert prox.inner(space.one()) == pytest.approx(target.inner(space.one()), rel=1e-9)
    residual = ((image - prox) / sigma - functional.gradient(prox)).data
    scale = np.abs(((image - prox) / sigma).data).max()
    assert (residual.max() - residual.min()) < 1e-5 * scale
    # Optimal among feasible perturbations.
    objective = lambda y: functional(y) + (y - image).norm() ** 2 / (2 * sigma)
    rng = np.random.default_rng(1)
    for _ in range(3):
        direction = rng.standard_normal(space.shape)
        direction -= direction.mean()
        assert objective(prox + 1e-3 * space.element(direction)) > objective(prox)


def test_proximal_small_step_is_identity_and_float32_pytorch_space():
    space, target, image = space_and_images(dtype='float32', impl='pytorch')
    functional = WassersteinDistance(space, target, eps=0.05, tol=1e-8)
    prox = functional.proximal(1e-6)(image)
    assert isinstance(prox.data, torch.Tensor) and prox.data.dtype == torch.float32
    assert (prox - image).norm() < 1e-3 * image.norm()


def test_pdhg_with_ot_prior_decreases_objective():
    """The proximal plugs into ODL's PDHG; the objective drops below the start."""
    space, target, image = space_and_images(n=8)
    op = odl.IdentityOperator(space)
    data = image
    prior = 0.1 * WassersteinDistance(space, target, eps=0.1, tol=1e-6)
    fit = odl.functionals.L2NormSquared(space).translated(data)
    x = target.copy()
    start = fit(op(x)) + prior(x)
    odl.solvers.pdhg(x, prior, fit, op, niter=30, tau=0.9, sigma=0.9)
    assert fit(op(x)) + prior(x) < start
    assert np.isfinite(x.data).all()


def test_constructor_errors():
    space, target, _ = space_and_images()
    with pytest.raises(ValueError, match='positive mass'):
        WassersteinDistance(space, -target)
    with pytest.raises(ValueError, match='grid of shape'):
        WassersteinDistance(space, target, cost=SquaredEuclideanCost((4, 4)))
    with pytest.raises(ValueError, match='eps'):
        WassersteinDistance(space, target, eps=0.0)
    with pytest.raises(TypeError, match='DiscretizedSpace'):
        WassersteinDistance(odl.rn(4), np.ones(4))
    with pytest.raises(ValueError, match='sigma'):
        WassersteinDistance(space, target).proximal(0.0)
