"""Tests of the torch face: `WassersteinLoss`, `SinkhornDivergence`."""

import math

import pytest
import torch

from odl_wasserstein.transport import (
    Adler2017Cost, SinkhornDivergence, SquaredEuclideanCost, WassersteinLoss,
    sinkhorn, sinkhorn_divergence)


@pytest.fixture
def cost():
    cost = SquaredEuclideanCost((12, 12))
    return cost / cost.max_value()


def blob(centre, n=12, width=1.0, dtype=torch.float64):
    y, x = torch.meshgrid(torch.arange(n, dtype=dtype), torch.arange(n, dtype=dtype),
                          indexing='ij')
    return torch.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * width ** 2))


def test_divergence_zero_on_diagonal_symmetric_positive(cost):
    a, b = blob((4, 4)), blob((7, 6))
    kwargs = dict(normalize=True, tol=1e-9)
    assert abs(float(sinkhorn_divergence(a, a, cost, 0.05, **kwargs))) < 1e-9
    ab = float(sinkhorn_divergence(a, b, cost, 0.05, **kwargs))
    ba = float(sinkhorn_divergence(b, a, cost, 0.05, **kwargs))
    assert ab > 0 and ab == pytest.approx(ba, rel=1e-7)
    # Debiasing: S grows with the displacement like W2^2 (here on the grid).
    far = float(sinkhorn_divergence(a, blob((9, 9)), cost, 0.05, **kwargs))
    assert far > ab


def test_unbalanced_divergence_includes_mass_term(cost):
    a = blob((5, 5))
    value = float(sinkhorn_divergence(a, 2 * a, cost, 0.05, unbalanced=1.0, tol=1e-9))
    assert value > 0
    with pytest.raises(ValueError, match='n_iter'):
        sinkhorn_divergence(a, a, cost, 0.05, n_iter=5)


def test_paper_recipe_matches_its_definition():
    """relu, mean-mass rescaling, +1e-3, 10 iterations, /pixels/cutoff^4, mass x 100."""
    shape = (16, 16)
    torch.manual_seed(0)
    output = torch.randn(2, 1, *shape, requires_grad=True)
    target = torch.rand(2, 1, *shape)
    loss = WassersteinLoss.adler2017(shape)(output, target)

    x = torch.relu(output.detach())[:, 0]
    t = target[:, 0]
    mean_t = t.mean(dim=(1, 2))
    x = x * (mean_t / (x.mean(dim=(1, 2)) + 1e-5))[:, None, None]
    cost = Adler2017Cost(shape)
    w = sinkhorn(t + 1e-3, x + 1e-3, cost, 1e-3, n_iter=10, init='uniform',
                 boundary='periodic', method='fft', mass_tolerance=math.inf).cost
    expected = (w / 256 / 0.3 ** 4).mean() + 100 * (
        (mean_t - output.detach()[:, 0].mean(dim=(1, 2))) ** 2).mean()
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0


@pytest.mark.parametrize('value', ['divergence', 'objective', 'cost'])
def test_gradcheck_values(value):
    cost = SquaredEuclideanCost((5, 5)) / 32
    loss = WassersteinLoss(cost, 0.1, value=value, positivity=None, tol=1e-11,
                           reduction='sum')
    target = blob((2, 2), n=5)[None, None] + 0.1
    output = (blob((1, 3), n=5)[None, None] + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda o: loss(o, target), (output,),
                                    atol=1e-6, rtol=1e-4)


def test_normalised_loss_sees_shape_not_mass_and_penalty_adds_mass(cost):
    target = blob((6, 6))[None, None]
    plain = WassersteinLoss(cost, 0.05, tol=1e-8)
    assert float(plain(3 * target, target).detach()) == pytest.approx(0.0, abs=1e-8)
    penalised = WassersteinLoss(cost, 0.05, mass_penalty=10.0, tol=1e-8)
    mean = float(target.mean())
    assert float(penalised(3 * target, target)) == pytest.approx(10 * (2 * mean) ** 2, rel=1e-6)
    unbalanced = WassersteinLoss(cost, 0.05, unbalanced=1.0, tol=1e-8)
    assert float(unbalanced(3 * target, target)) > 0


def test_shapes_reductions_and_module_form(cost):
    target = torch.rand(3, 2, 12, 12)
    output = torch.rand(3, 2, 12, 12)
    per_measure = WassersteinLoss(cost, 0.1, reduction='none')(output, target)
    assert per_measure.shape == (3, 2)
    total = WassersteinLoss(cost, 0.1, reduction='sum')(output, target)
    torch.testing.assert_close(total, per_measure.sum())
    divergence = SinkhornDivergence(cost, 0.1, normalize=True, reduction='none')
    torch.testing.assert_close(divergence(output, target), per_measure)
    unchannelled = WassersteinLoss(cost, 0.1, reduction='none')(output[:, 0], target[:, 0])
    torch.testing.assert_close(unchannelled, per_measure[:, 0])


def test_errors(cost):
    loss = WassersteinLoss(cost, 0.1, positivity=None)
    with pytest.raises(ValueError, match='negative'):
        loss(-torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12))
    with pytest.raises(ValueError, match=r'\(N, C, 12, 12\)'):
        loss(torch.rand(1, 1, 12, 10), torch.rand(1, 1, 12, 10))
    with pytest.raises(ValueError, match='value'):
        WassersteinLoss(cost, 0.1, value='emd')
    with pytest.raises(ValueError, match='eps'):
        WassersteinLoss(cost, 0.0)
    with pytest.raises(ValueError, match='reduction'):
        WassersteinLoss(cost, 0.1, reduction='max')
    with pytest.raises(TypeError, match='GridCost'):
        WassersteinLoss('l2', 0.1)


def test_wasserstein_training_target_is_sharp_mse_target_is_smeared():
    """Propositions 1 and 2 of the paper, learned: fit one image to randomly
    shifted copies of a blob. The MSE optimum is the average of the shifts
    (smeared, three peaks); the optimal-transport optimum is one sharp blob
    at the barycentre of the shifts."""
    n, centre = 12, 6
    shifts = (-3, 0, 3)
    targets = torch.stack([blob((centre, centre + s), n=n) for s in shifts])[:, None]
    cost = SquaredEuclideanCost((n, n))
    loss = WassersteinLoss(cost / cost.max_value(), 0.04, value='divergence', tol=1e-3)

    def fit(objective):
        parameter = torch.zeros(1, 1, n, n, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([parameter], lr=0.3)
        for _ in range(40):
            optimizer.zero_grad()
            image = torch.nn.functional.softplus(parameter - 2)
            objective(image.expand(3, -1, -1, -1)).backward()
            optimizer.step()
        return torch.nn.functional.softplus(parameter.detach() - 2)[0, 0]

    ot_image = fit(lambda x: loss(x, targets))
    mse_image = fit(lambda x: (x - targets).square().mean())
    row_ot, row_mse = ot_image[centre], mse_image[centre]
    # MSE: the mean of the three blobs (three peaks of a third of the height).
    torch.testing.assert_close(mse_image, targets.mean(dim=0)[0], atol=5e-2, rtol=0)
    # OT: one peak at the barycentre, much higher than MSE's.
    assert int(row_ot.argmax()) == centre
    assert float(row_ot.max()) > 2 * float(row_mse.max())
    centre_mass = float(ot_image[:, centre - 2:centre + 3].sum() / ot_image.sum())
    assert centre_mass > 0.8


# -- regressions of the reliability campaign (issue 10) ----------------------------

@pytest.mark.filterwarnings('ignore:implicit gradient:RuntimeWarning')
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('gradient', ['unrolled', 'implicit'])
def test_gradient_finite_and_divergence_non_negative_at_every_eps(dtype, gradient):
    """Item 6: NaN gradients (eps <= 1e-4 in float32, <= 1e-5 in float64) and
    negative divergences (eps = 1e-6) on a non-separable cost."""
    from odl_wasserstein.transport import SaturatingCost

    cost = SaturatingCost((12, 12), scale=3)
    cost = cost / cost.max_value()
    generator = torch.Generator().manual_seed(0)
    output = torch.rand(2, 1, 12, 12, dtype=dtype, generator=generator)
    target = torch.rand(2, 1, 12, 12, dtype=dtype, generator=generator)
    for eps in (1e-4, 1e-5, 1e-6, 1e-8):
        loss = WassersteinLoss(cost, eps=eps, gradient=gradient, reduction='none',
                               max_iter=300)
        x = output.clone().requires_grad_()
        with pytest.warns(RuntimeWarning, match='inaccurate|did not reach'):
            values = loss(x, target)
        values.sum().backward()
        assert bool(torch.isfinite(x.grad).all()), eps
        assert bool((values.detach() >= 0).all()), (eps, values)


def test_divergence_of_equal_measures_stays_zero_when_clamped(cost):
    a = blob((4, 4))
    assert float(sinkhorn_divergence(a, a, cost, 0.05, normalize=True)) == 0.0


def test_paper_loss_of_an_int_shape_is_two_dimensional():
    """Item 10: ``paper(16)`` built a 1-D loss and transported rows of 16 x 16 images."""
    loss = WassersteinLoss.adler2017(16)
    assert loss.cost.shape == (16, 16)
    output, target = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(loss(output, target),
                               WassersteinLoss.adler2017((16, 16))(output, target))
    assert loss(output, target).shape == ()


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(eps=None), TypeError, '`eps` must be a finite number > 0, got None'),
    (dict(eps=float('nan')), ValueError, '`eps` must be a finite number > 0'),
    (dict(mass_penalty=float('nan')), ValueError, '`mass_penalty` must be a finite'),
    (dict(mass_penalty=-1.0), ValueError, '`mass_penalty` must be a finite number >= 0'),
    (dict(offset='1e-3'), TypeError, '`offset` must be a finite number'),
    (dict(unbalanced=0.0), ValueError, '`unbalanced` must be a finite number > 0'),
])
def test_argument_errors(cost, kwargs, error, message):
    """Item 9: each bad argument is named."""
    kwargs = dict(dict(eps=0.1), **kwargs)
    with pytest.raises(error, match=message):
        WassersteinLoss(cost, **kwargs)
    if set(kwargs) == {'eps'}:
        with pytest.raises(error, match=message):
            SinkhornDivergence(cost, **kwargs)


def test_integer_and_empty_inputs(cost):
    """Items 8 and 9: int tensors and batches of 0 samples get clear errors."""
    loss = WassersteinLoss(cost, 0.1)
    with pytest.raises(TypeError, match='`input` must be a real floating-point tensor'):
        loss(torch.ones(1, 1, 12, 12, dtype=torch.int64), torch.rand(1, 1, 12, 12))
    with pytest.raises(TypeError, match='`target` must be a real floating-point tensor'):
        loss(torch.rand(1, 1, 12, 12), torch.ones(1, 1, 12, 12, dtype=torch.int32))
    with pytest.raises(ValueError, match='hold no measures'):
        loss(torch.rand(0, 1, 12, 12), torch.rand(0, 1, 12, 12))
