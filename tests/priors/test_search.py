"""Latent search: closed forms, independent references, restarts, PALM, errors."""

import numpy as np
import odl
import pytest
import torch
from sklearn.linear_model import Lasso
from skimage.restoration import denoise_tv_chambolle

from odl_wasserstein.operators import ray_transform, reconstruction_space
from odl_wasserstein.priors import (
    GenerativeRegulariser, latent_search, l1_proximal, total_variation, tv_proximal)
from odl_wasserstein.torch import OperatorModule

D = torch.float64


class Linear(torch.nn.Module):
    """``G(z) = W z`` as images ``(N, 1, 4, 4)``: the searches are convex."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.latent_dim = weight.shape[1]

    def forward(self, z):
        return (z @ self.weight.T).reshape(-1, 1, 4, 4)


class Curved(torch.nn.Module):
    """A small non-linear generator ``(N, 3)`` -> ``(N, 1, 8, 8)`` with several local minima."""

    latent_dim = 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(),
                                       torch.nn.Linear(32, 64), torch.nn.Sigmoid())

    def forward(self, z):
        return self.net(torch.sin(3 * z)).reshape(-1, 1, 8, 8)


class Matrix(torch.nn.Module):
    def __init__(self, matrix):
        super().__init__()
        self.matrix = matrix

    def forward(self, x):
        return (x.flatten(1) @ self.matrix.T)[:, None]


@pytest.fixture
def linear_problem():
    rng = torch.Generator().manual_seed(3)
    W = torch.randn(16, 5, generator=rng, dtype=D)
    A = torch.randn(10, 16, generator=rng, dtype=D) / 4
    y = torch.randn(3, 1, 10, generator=rng, dtype=D)
    return Linear(W.clone()).to(D), Matrix(A), W, A, y


@pytest.mark.parametrize('optimizer, n_iter, tol', [('palm', 3000, 1e-6), ('lbfgs', 200, 1e-8),
                                                    ('adam', 4000, 1e-4)])
def test_hard_form_reaches_the_closed_form(linear_problem, optimizer, n_iter, tol):
    generator, forward, W, A, y = linear_problem
    a = 0.3
    M = A @ W
    z_star = torch.linalg.solve(M.T @ M + a * torch.eye(5, dtype=D), M.T @ y[:, 0].T).T
    result = latent_search(generator, forward, y, latent_weight=a, optimizer=optimizer,
                           n_iter=n_iter, lr=0.05, generator_seed=0)
    assert torch.allclose(result.latent, z_star, atol=tol, rtol=0)
    assert torch.allclose(result.image, generator(z_star), atol=10 * tol, rtol=0)
    expected = ((forward(generator(z_star)) - y).square().flatten(1).sum(1)
                + a * z_star.square().sum(1))
    assert torch.allclose(result.objective, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize('optimizer', ['palm', 'lbfgs'])
def test_soft_form_reaches_the_closed_form(linear_problem, optimizer):
    generator, forward, W, A, y = linear_problem
    lam, mu = 0.7, 0.2
    # Normal equations of ||A x - y||^2 + l m ||z||^2 + l ||W z - x||^2 in (z, x).
    top = torch.cat([lam * (mu * torch.eye(5, dtype=D) + W.T @ W), -lam * W.T], 1)
    bottom = torch.cat([-lam * W, A.T @ A + lam * torch.eye(16, dtype=D)], 1)
    rhs = torch.cat([torch.zeros(3, 5, dtype=D), y[:, 0] @ A], 1)
    solution = torch.linalg.solve(torch.cat([top, bottom]), rhs.T).T
    result = latent_search(generator, forward, y, 'soft', weight=lam, latent_weight=mu,
                           optimizer=optimizer, n_iter=1500 if optimizer == 'palm' else 300,
                           generator_seed=0)
    assert torch.allclose(result.latent, solution[:, :5], atol=1e-6, rtol=0)
    assert torch.allclose(result.image.flatten(1), solution[:, 5:], atol=1e-6, rtol=0)


def test_sparse_form_with_a_constant_generator_is_the_lasso():
    rng = torch.Generator().manual_seed(4)
    A = torch.randn(40, 16, generator=rng, dtype=D) / 4
    y = torch.randn(2, 1, 40, generator=rng, dtype=D)
    generator = Linear(torch.zeros(16, 2, dtype=D))  # G(z) = 0: only u is left
    lam = 0.8
    result = latent_search(generator, Matrix(A), y, 'sparse', weight=lam, latent_weight=1.0,
                           n_iter=600, generator_seed=0)
    for k in range(2):
        # sklearn: (1 / (2 n)) ||y - A u||^2 + alpha ||u||_1, so alpha = l / (2 n).
        lasso = Lasso(alpha=lam / 80, fit_intercept=False, tol=1e-14, max_iter=100000)
        lasso.fit(A.numpy(), y[k, 0].numpy())
        assert np.allclose(result.image[k].flatten().numpy(), lasso.coef_, atol=1e-6)
    assert int((result.image.flatten(1) == 0).sum()) > 0  # the threshold makes exact zeros


def test_tv_proximal_against_scikit_image():
    f = torch.rand(2, 16, 16, dtype=D, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([0.05, 0.2], dtype=D)
    u = tv_proximal(f, weights, n_iter=1500)
    reference = torch.from_numpy(np.stack([denoise_tv_chambolle(
        f[k].numpy(), weight=float(weights[k]), eps=1e-14, max_num_iter=20000)
        for k in range(2)]))
    assert float((u - reference).abs().max()) < 1e-4

    def objective(v):
        return 0.5 * (v - f).square().flatten(1).sum(1) + weights * total_variation(v)

    assert torch.allclose(objective(u), objective(reference), rtol=1e-6, atol=0)


def test_l1_proximal_per_sample_thresholds():
    v = torch.tensor([[-2.0, 0.5], [3.0, -0.2]])
    assert l1_proximal(v, torch.tensor([1.0, 0.1])).tolist() == [[-1.0, 0.0],
                                                                  [pytest.approx(2.9),
                                                                   pytest.approx(-0.1)]]


@pytest.mark.parametrize('method, options', [
    ('hard', {'latent_weight': 0.05}),
    ('sparse', {'weight': 0.3, 'latent_weight': 0.1}),
    ('sparse', {'weight': 0.3, 'latent_weight': 0.1, 'deviation': 'tv'}),
    ('soft', {'weight': 0.5, 'latent_weight': 0.2}),
])
def test_palm_decreases_the_objective_monotonically(method, options):
    generator = Curved().to(D)
    A = torch.randn(20, 64, dtype=D, generator=torch.Generator().manual_seed(5)) / 8
    truth = generator(torch.randn(2, 3, dtype=D))
    y = Matrix(A)(truth) + 0.05 * torch.randn(2, 1, 20, dtype=D)
    result = latent_search(generator, Matrix(A), y, method, restarts=3, n_iter=60,
                           generator_seed=2, **options)
    steps = result.history[1:] - result.history[:-1]
    assert float(steps.max()) <= 1e-12 * float(result.history.abs().max())
    assert bool((result.history[-1] < result.history[0]).all())
    assert float(result.history[-1].sum()) < 0.7 * float(result.history[0].sum())


def test_restarts_keep_the_best_and_equal_sequential_searches():
    generator = Curved().to(D)
    truth = generator(torch.randn(4, 3, dtype=D, generator=torch.Generator().manual_seed(8)))
    inits = torch.randn(5, 4, 3, dtype=D, generator=torch.Generator().manual_seed(9))
    batched = latent_search(generator, torch.nn.Identity(), truth, latent_weight=1e-3,
                            restarts=5, init=inits, n_iter=40)
    alone = [latent_search(generator, torch.nn.Identity(), truth, latent_weight=1e-3,
                           init=inits[r], n_iter=40) for r in range(5)]
    finals = torch.stack([run.objective for run in alone])
    assert torch.allclose(batched.restart_objectives, finals, rtol=1e-10, atol=1e-14)
    best = finals.argmin(0)
    assert torch.equal(batched.best_restart, best)
    assert torch.allclose(batched.objective, finals.min(0).values, rtol=1e-10, atol=1e-14)
    picked = torch.stack([alone[int(best[m])].latent[m] for m in range(4)])
    assert torch.allclose(batched.latent, picked, rtol=1e-9, atol=1e-12)
    spread = finals.max(0).values - finals.min(0).values
    assert float(spread.max()) > 1e-3  # the restarts end in different minima


def test_the_same_seed_gives_the_same_search():
    generator = Curved()
    y = generator(torch.randn(3, 3)) + 0.1
    runs = [latent_search(generator, torch.nn.Identity(), y, 'soft', restarts=2, n_iter=10,
                          generator_seed=7) for _ in range(2)]
    assert torch.equal(runs[0].image, runs[1].image)
    assert torch.equal(runs[0].history, runs[1].history)
    other = latent_search(generator, torch.nn.Identity(), y, 'soft', restarts=2, n_iter=10,
                          generator_seed=8)
    assert not torch.equal(runs[0].image, other.image)


def test_discrepancy_principle_sweeps_each_measurement_to_the_noise_level():
    generator = Curved().to(D)
    rng = torch.Generator().manual_seed(11)
    truth = generator(torch.randn(3, 3, dtype=D, generator=rng))
    sigma = torch.tensor([0.01, 0.05, 0.2], dtype=D)
    y = truth + sigma[:, None, None, None] * torch.randn(truth.shape, dtype=D, generator=rng)
    result = latent_search(generator, torch.nn.Identity(), y, 'sparse', weight=50.0,
                           latent_weight=0.01, noise_level=0.05, discrepancy=True,
                           n_iter=150, generator_seed=0, max_sweeps=20)
    level = 64 * 0.05 ** 2
    assert bool(result.discrepancy_met.all())
    assert bool((result.residual <= level).all())
    exponents = torch.log2(50.0 / result.weight)
    assert torch.allclose(exponents, exponents.round(), atol=1e-9)
    # Each weight is the first of 50, 25, 12.5, ... that meets the level.
    for m in range(3):
        if result.weight[m] < 50.0:
            before = latent_search(generator, torch.nn.Identity(), y[m:m + 1], 'sparse',
                                   weight=float(2 * result.weight[m]), latent_weight=0.01,
                                   n_iter=150, generator_seed=0)
            assert float(before.residual[0]) > level


def test_odl_operator_and_element_data_match_the_torch_module():
    space = reconstruction_space(8)
    ray = ray_transform(space, num_angles=6, normalize=True)
    generator = Curved()
    y = OperatorModule(ray)(generator(torch.randn(1, 3)))
    through_odl = latent_search(generator, ray, y, n_iter=20, generator_seed=0)
    through_module = latent_search(generator, OperatorModule(ray), y, n_iter=20,
                                   generator_seed=0)
    assert torch.allclose(through_odl.image, through_module.image, atol=1e-6)
    element = ray.range.element(y[0, 0].detach().numpy())
    single = latent_search(generator, ray, element, n_iter=20, generator_seed=0)
    assert single.image.shape == (1, 1, 8, 8)
    assert torch.allclose(single.image, through_odl.image, atol=1e-5)


def test_results_have_the_shapes_dtypes_and_device_of_the_generator():
    generator = Curved()
    y = torch.rand(2, 1, 8, 8, dtype=D)  # float64 data for a float32 generator
    result = latent_search(generator, torch.nn.Identity(), y, 'soft', restarts=3, n_iter=5,
                           generator_seed=0)
    assert result.image.shape == (2, 1, 8, 8) and result.image.dtype == torch.float32
    assert result.latent.shape == (2, 3) and result.restart_objectives.shape == (3, 2)
    assert result.history.shape == (6, 3, 2) and result.weight.shape == (2,)
    assert result.discrepancy_met is None
    assert generator.training and all(p.requires_grad for p in generator.parameters())


@pytest.mark.parametrize('kwargs, error, match', [
    ({'latent_dim': 4}, ValueError, 'latent vectors of size 3'),
    ({'data': torch.ones(2, 1, 7, 7)}, ValueError, 'measurements of shape'),
    ({'operator': OperatorModule(ray_transform(reconstruction_space(16), num_angles=4))},
     ValueError, "operator's domain is not the generator's range"),
    ({'data': torch.full((1, 1, 8, 8), float('nan'))}, ValueError, 'NaN or infinite'),
    ({'data': torch.ones(1, 1, 8, 8, dtype=torch.int64)}, TypeError, 'floating-point'),
    ({'data': torch.ones(0, 1, 8, 8)}, ValueError, 'M >= 1'),
    ({'method': 'sparse', 'optimizer': 'adam'}, ValueError, "optimizer='palm'"),
    ({'weight': 1.0}, ValueError, 'leave `weight` None'),
    ({'discrepancy': True}, ValueError, '`noise_level`'),
    ({'init': torch.zeros(2, 5)}, ValueError, '`init` must be a tensor'),
    ({'restarts': 0}, ValueError, '`restarts`'),
    ({'method': 'medium'}, ValueError, '`method` must be one of'),
    ({'operator': 'ray'}, TypeError, '`operator` must be'),
])
def test_bad_input_is_refused_before_any_optimisation(kwargs, error, match):
    generator = Curved()
    calls = []
    generator.register_forward_hook(lambda *args: calls.append(1))
    arguments = dict(generator=generator, operator=torch.nn.Identity(),
                     data=torch.ones(1, 1, 8, 8))
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        latent_search(**arguments)
    assert len(calls) <= 1  # at most the shape probe ran


def test_generative_regulariser_gradient_matches_finite_differences():
    space = odl.uniform_discr([0, 0], [2, 2], (4, 4), dtype='float64')  # cell volume 1/4
    rng = torch.Generator().manual_seed(6)
    generator = Linear(torch.randn(16, 3, generator=rng, dtype=D))
    R = GenerativeRegulariser(space, generator, weight=0.6, latent_weight=0.3,
                              optimizer='lbfgs', n_iter=300)
    x = space.element(torch.rand(4, 4, generator=rng, dtype=D).numpy())
    h = space.element(torch.randn(4, 4, generator=rng, dtype=D).numpy())
    gradient = R.gradient(x)
    step = 1e-5
    numeric = (R(x + step * h) - R(x - step * h)) / (2 * step)
    assert numeric == pytest.approx(gradient.inner(h), rel=1e-6)
    # The value against the closed form with the weighted norm w ||.||^2, w = 1/4.
    W, w = generator.weight.detach(), 0.25
    target = torch.as_tensor(np.asarray(x.data)).flatten()
    z = torch.linalg.solve(0.3 * torch.eye(3, dtype=D) + w * W.T @ W, w * W.T @ target)
    expected = 0.6 * (0.3 * z.square().sum() + w * (W @ z - target).square().sum())
    assert R(x) == pytest.approx(float(expected), rel=1e-9)


def test_generative_regulariser_in_an_odl_solver():
    space = odl.uniform_discr([0, 0], [4, 4], (4, 4), dtype='float64')
    rng = torch.Generator().manual_seed(2)
    generator = Linear(torch.randn(16, 3, generator=rng, dtype=D))
    truth = space.element(generator(torch.randn(1, 3, generator=rng, dtype=D))[0, 0].detach()
                          .numpy())
    keep = space.element((torch.rand(4, 4, generator=rng) < 0.5).double().numpy())
    mask = odl.MultiplyOperator(keep)
    data = mask(truth)
    objective = (odl.functionals.L2NormSquared(space).translated(data) @ mask
                 + GenerativeRegulariser(space, generator, weight=1.0, latent_weight=1e-6,
                                         optimizer='lbfgs', n_iter=200))
    x = space.zero()
    odl.solvers.steepest_descent(objective, x, line_search=0.2, maxiter=400)
    assert float((x - truth).norm() / truth.norm()) < 1e-2
    unregularised = float((data - truth).norm() / truth.norm())
    assert unregularised > 0.3


def test_generative_regulariser_refuses_bad_input():
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4))
    generator = Linear(torch.randn(16, 3))
    with pytest.raises(TypeError, match='real odl.DiscretizedSpace'):
        GenerativeRegulariser(odl.rn(16), generator)
    R = GenerativeRegulariser(space, generator)
    with pytest.raises(ValueError, match='NaN or infinite'):
        R(space.element(np.full((4, 4), np.nan)))
