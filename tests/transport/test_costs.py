"""Tests of the transport costs of `odl_wasserstein.transport.costs`.

Cost matrices are compared with a construction from the definition,
``C[i, j] = h(x_j - x_i)`` over the pixel centres of an ODL space, which
shares nothing with the FFT-kernel layout the package builds them from.
`Adler2017Cost` is compared with the authors' own NumPy construction.
"""

import numpy as np
import odl
import pytest
import torch

from odl_wasserstein.fft import FFTConvolution
from odl_wasserstein.transport.costs import (
    Adler2017Cost, CallableCost, PowerCost, SaturatingCost, SeparableCost,
    SquaredEuclideanCost)

# Non-unit, unequal cell sides and odd and even sizes, so that a cost in
# index units or with swapped axes cannot pass.
SPACES = {
    '2d': lambda: odl.uniform_discr([-1.0, 0.0], [2.0, 5.0], (6, 5)),
    '3d': lambda: odl.uniform_discr([0.0, -2.0, 1.0], [3.0, 2.0, 1.5], (4, 5, 3)),
}

# name: (constructor, h of the displacement components as NumPy arrays)
COSTS = {
    'sqeuclid': (SquaredEuclideanCost,
                 lambda *d: sum(di ** 2 for di in d)),
    'power1': (lambda s: PowerCost(s, p=1),
               lambda *d: np.sqrt(sum(di ** 2 for di in d))),
    'power3_norm1.5': (lambda s: PowerCost(s, p=3, norm=1.5),
                       lambda *d: sum(np.abs(di) ** 1.5 for di in d) ** 2),
    'power4_norm4': (lambda s: PowerCost(s, p=4, norm=4),
                     lambda *d: sum(di ** 4 for di in d)),
    'saturating': (lambda s: SaturatingCost(s, scale=1.3),
                   lambda *d: 1 - np.exp(-(sum(di ** 2 for di in d) / 1.3 ** 2) ** 2)),
    'saturating_p2_l1': (lambda s: SaturatingCost(s, scale=0.7, p=2, norm=1),
                         lambda *d: 1 - np.exp(-(sum(np.abs(di) for di in d) / 0.7) ** 2)),
    'separable': (lambda s: SeparableCost(s, lambda d: d.abs() ** 3 + 0.5 * d ** 2),
                  lambda *d: sum(np.abs(di) ** 3 + 0.5 * di ** 2 for di in d)),
    'scaled': (lambda s: 2.5 * SquaredEuclideanCost(s),
               lambda *d: 2.5 * sum(di ** 2 for di in d)),
    'callable': (lambda s: CallableCost(s, lambda *d: sum(di.abs() for di in d) ** 0.5),
                 lambda *d: np.sqrt(sum(np.abs(di) for di in d))),
}


def displacements(space, boundary):
    """``D[i, j] = x_j - x_i`` (physical units), wrapped on the torus if periodic."""
    points = space.points()
    d = points[None, :, :] - points[:, None, :]
    if boundary == 'periodic':
        period = np.array(space.shape) * np.array(space.cell_sides)
        # Ties at half a period are resolved either way: every cost this is
        # used with is even in each component.
        d = d - period * np.round(d / period)
    return d


def reference_matrix(space, h, boundary):
    d = displacements(space, boundary)
    return h(*[d[..., a] for a in range(d.shape[-1])])


def authors_kernel(n, cutoff=0.3):
    """The authors' periodic cost array, as their code builds it."""
    xp, yp = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    return np.fft.ifftshift(cutoff ** 4 * (1 - np.exp(-(xp ** 4 + yp ** 4) / cutoff ** 4)))


@pytest.mark.parametrize('boundary', ['zero', 'periodic'])
@pytest.mark.parametrize('geometry', sorted(SPACES))
@pytest.mark.parametrize('name', sorted(COSTS))
def test_matrix_matches_definition(name, geometry, boundary):
    space = SPACES[geometry]()
    make, h = COSTS[name]
    cost = make(space)
    expected = reference_matrix(space, h, boundary)
    matrix = cost.matrix(boundary).numpy()
    assert matrix.shape == (space.size, space.size)
    np.testing.assert_allclose(matrix, expected, rtol=1e-12, atol=1e-12)
    assert cost.max_value(boundary) == pytest.approx(expected.max(), rel=1e-12)


def test_shape_means_unit_cells():
    shape = (7, 6)
    unit = odl.uniform_discr([0, 0], list(shape), shape)
    np.testing.assert_array_equal(SquaredEuclideanCost(shape).matrix().numpy(),
                                  SquaredEuclideanCost(unit).matrix().numpy())
    assert SquaredEuclideanCost(5).shape == (5,)
    # 1-D: |j - i|^2 written out.
    i = np.arange(5)
    np.testing.assert_array_equal(SquaredEuclideanCost(5).matrix().numpy(),
                                  (i[None, :] - i[:, None]) ** 2)


def test_max_value_numbers():
    space = SPACES['2d']()  # cells (0.5, 1.0), shape (6, 5)
    cost = SquaredEuclideanCost(space)
    assert cost.max_value() == pytest.approx((5 * 0.5) ** 2 + (4 * 1.0) ** 2, rel=1e-15)
    # The torus halves the longest distance per axis.
    assert cost.max_value('periodic') == pytest.approx((3 * 0.5) ** 2 + (2 * 1.0) ** 2,
                                                       rel=1e-15)
    assert PowerCost((8, 8), p=1).max_value() == pytest.approx(np.hypot(7, 7), rel=1e-15)
    saturating = SaturatingCost((64, 64), scale=10)
    assert saturating.max_value() == pytest.approx(1 - np.exp(-(2 * 63 ** 2 / 100) ** 2))


@pytest.mark.parametrize('shape', [(9, 12), (8, 8)])
def test_authors_cost_zero_boundary(shape):
    cutoff = 0.3
    coords = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing='ij')
    points = np.stack([c.ravel() for c in coords], axis=-1)
    d = points[None, :, :] - points[:, None, :]
    expected = cutoff ** 4 * (1 - np.exp(-(d[..., 0] ** 4 + d[..., 1] ** 4) / cutoff ** 4))
    cost = Adler2017Cost(shape)
    np.testing.assert_allclose(cost.matrix().numpy(), expected, rtol=1e-12, atol=1e-17)
    assert cost.unit_scale == pytest.approx(0.3 ** 4, rel=1e-15)
    # Only the shape of a space matters: coordinates are always [-1, 1].
    space = odl.uniform_discr([0, 0], [50, 10], shape)
    np.testing.assert_array_equal(Adler2017Cost(space).matrix().numpy(),
                                  cost.matrix().numpy())
    # Displacement (2, 2) across the grid saturates at cutoff**4.
    assert cost.max_value() / cost.unit_scale == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize('n', [8, 12, 9])
def test_authors_periodic_kernel_is_the_authors_array(n):
    cost = Adler2017Cost((n, n))
    kernel = cost.kernel_cost('periodic')
    authors = authors_kernel(n)
    # FFTConvolution puts the kernel entry k // 2 at displacement 0, i.e.
    # at FFT index 0: rolling by -(k // 2) must give the authors' layout.
    rolled = torch.roll(kernel, (-(n // 2), -(n // 2)), dims=(0, 1)).numpy()
    np.testing.assert_allclose(rolled, authors, rtol=1e-14, atol=1e-19)
    # Direct check of that placement: the circular convolution of a unit
    # mass at pixel 0 reproduces the array the authors multiply spectra with.
    delta = torch.zeros(n, n, dtype=torch.float64)
    delta[0, 0] = 1.0
    response = FFTConvolution(kernel, (n, n), 'periodic')(delta).numpy()
    np.testing.assert_allclose(response, authors, rtol=1e-9, atol=1e-15)


def test_authors_periodic_asymmetry_for_even_sizes():
    # Even n: ifftshift(linspace(-1, 1, n)) is off by half a normalised
    # pixel, so c(x, y) != c(y, x) on the torus.
    even = Adler2017Cost((8, 8)).matrix('periodic').numpy()
    assert np.abs(even - even.T).max() > 0.1 * Adler2017Cost((8, 8)).unit_scale
    # Odd n: the array is centred and equals the true wrapped cost with
    # steps 2 / (n - 1).
    n = 9
    odd = Adler2017Cost((n, n))
    step = 2 / (n - 1)
    space = odl.uniform_discr([0, 0], [n * step, n * step], (n, n))
    expected = reference_matrix(
        space, lambda *d: 0.3 ** 4 * (1 - np.exp(-sum(di ** 4 for di in d) / 0.3 ** 4)),
        'periodic')
    np.testing.assert_allclose(odd.matrix('periodic').numpy(), expected,
                               rtol=1e-12, atol=1e-17)


SEPARABLE = {
    'sqeuclid': SquaredEuclideanCost,
    'power4_norm4': lambda s: PowerCost(s, p=4, norm=4),
    'power1_norm1': lambda s: PowerCost(s, p=1, norm=1),
    'separable': lambda s: SeparableCost(s, lambda d: torch.exp(d) - 1 - d),
    'scaled': lambda s: SquaredEuclideanCost(s) / 7.0,
}


@pytest.mark.parametrize('boundary', ['zero', 'periodic'])
@pytest.mark.parametrize('name', sorted(SEPARABLE))
def test_axis_costs_sum_to_kernel(name, boundary):
    space = SPACES['3d']()
    cost = SEPARABLE[name](space)
    assert cost.separable
    kernel = cost.kernel_cost(boundary)
    axes = [cost.axis_kernel_cost(a, boundary) for a in range(3)]
    total = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
    assert kernel.shape == total.shape
    assert torch.allclose(kernel, total, rtol=1e-13, atol=1e-13)
    # And the per-axis cost is the function of one displacement.
    d = torch.tensor([-0.8, 0.0, 0.3], dtype=torch.float64)
    zero = torch.zeros(3, dtype=torch.float64)
    assert torch.allclose(cost.axis_cost(d), cost(d, zero, zero), rtol=1e-13, atol=0)


def test_separable_flags():
    shape = (4, 4)
    assert SquaredEuclideanCost(shape).separable
    assert PowerCost(shape, p=2).separable  # |d|_2^2
    assert PowerCost(shape, p=4, norm=4).separable
    assert PowerCost(shape, p=1, norm=1).separable
    assert not PowerCost(shape, p=4).separable  # (x^2 + y^2)^2
    assert not PowerCost(shape, p=1).separable
    assert not SaturatingCost(shape, scale=2).separable
    assert not Adler2017Cost(shape).separable
    assert not CallableCost(shape, lambda x, y: x ** 2 + y ** 2).separable
    assert SeparableCost(shape, lambda d: d ** 2).separable
    assert (3 * SquaredEuclideanCost(shape)).separable
    assert not (SaturatingCost(shape, scale=2) / 2).separable
    with pytest.raises(NotImplementedError, match='is not separable'):
        SaturatingCost(shape, scale=2).axis_cost(torch.tensor(1.0))
    with pytest.raises(NotImplementedError, match='is not separable'):
        PowerCost(shape, p=4).axis_kernel_cost(0, 'zero')


def test_scaling_by_numbers():
    space = SPACES['2d']()
    base = SaturatingCost(space, scale=1.3)
    matrix = base.matrix().numpy()
    for scaled, factor in ((base * 3, 3), (3 * base, 3), (base / 4, 0.25),
                           (2 * (base * 1.5), 3), (base / base.max_value(),
                                                   1 / matrix.max())):
        np.testing.assert_allclose(scaled.matrix().numpy(), factor * matrix,
                                   rtol=1e-14, atol=0)
        np.testing.assert_allclose(scaled.matrix('periodic').numpy(),
                                   factor * base.matrix('periodic').numpy(),
                                   rtol=1e-14, atol=0)
    unit = base / base.max_value()
    assert unit.max_value() == pytest.approx(1.0, rel=1e-15)
    assert unit.shape == base.shape and unit.cell_sides == base.cell_sides
    # A scaled Adler2017Cost keeps the authors' periodic layout.
    authors = Adler2017Cost((8, 8))
    np.testing.assert_allclose(
        (authors / authors.unit_scale).kernel_cost('periodic').numpy(),
        authors.kernel_cost('periodic').numpy() / authors.unit_scale, rtol=1e-14)
    # Scaled separable costs scale their axis costs.
    sq = SquaredEuclideanCost(space)
    assert torch.allclose((sq * 2).axis_kernel_cost(1, 'zero'),
                          2 * sq.axis_kernel_cost(1, 'zero'), rtol=1e-15, atol=0)
    for bad in (0, -1.0, float('inf'), float('nan')):
        with pytest.raises(ValueError, match='positive and finite'):
            base * bad


def test_callable_cost_asymmetric_sign_convention():
    space = odl.uniform_discr([0.0, 0.0], [2.0, 3.0], (5, 6))  # cells 0.4, 0.5

    def h(d0, d1):
        return (d0 - 0.3) ** 2 + torch.exp(d1)

    cost = CallableCost(space, h)
    matrix = cost.matrix().numpy()
    expected = reference_matrix(space, lambda d0, d1: (d0 - 0.3) ** 2 + np.exp(d1), 'zero')
    np.testing.assert_allclose(matrix, expected, rtol=1e-13)
    # The displacement is y - x: moving from pixel 0 to pixel 1 (0.5 along
    # axis 1) costs h(0, 0.5), the way back h(0, -0.5).
    assert matrix[0, 1] == pytest.approx(0.09 + np.exp(0.5), rel=1e-14)
    assert matrix[1, 0] == pytest.approx(0.09 + np.exp(-0.5), rel=1e-14)
    value = cost(torch.tensor(0.4, dtype=torch.float64), torch.tensor(-0.5, dtype=torch.float64))
    assert float(value) == pytest.approx(
        0.01 + np.exp(-0.5), rel=1e-14)
    # Odd sizes: the wrapped displacements are unambiguous also for an
    # asymmetric cost.
    odd = odl.uniform_discr([0.0, 0.0], [2.0, 3.5], (5, 7))
    np.testing.assert_allclose(
        CallableCost(odd, h).matrix('periodic').numpy(),
        reference_matrix(odd, lambda d0, d1: (d0 - 0.3) ** 2 + np.exp(d1), 'periodic'),
        rtol=1e-13)


def test_callable_cost_return_types():
    constant = CallableCost((3, 4), lambda d0, d1: 2.0)
    np.testing.assert_array_equal(constant.matrix().numpy(), np.full((12, 12), 2.0))
    via_numpy = CallableCost((3, 4), lambda d0, d1: np.abs(d0.numpy()) + d1.numpy() ** 2)
    np.testing.assert_allclose(via_numpy.matrix().numpy(),
                               reference_matrix(odl.uniform_discr([0, 0], [3, 4], (3, 4)),
                                                lambda d0, d1: np.abs(d0) + d1 ** 2, 'zero'))


def test_cost_value_errors():
    with pytest.raises(ValueError, match='negative costs'):
        CallableCost((4, 4), lambda d0, d1: d0 + d1).matrix()
    with pytest.raises(ValueError, match='negative costs'):
        SeparableCost((4, 4), lambda d: d).max_value()
    with pytest.raises(ValueError, match='negative costs'):
        SeparableCost((4, 4), lambda d: d).axis_kernel_cost(0, 'zero')
    with pytest.raises(ValueError, match='non-finite'):
        CallableCost((4, 4), lambda d0, d1: torch.sqrt(d0)).kernel_cost('zero')
    with pytest.raises(ValueError, match='non-finite'):
        CallableCost((4, 4), lambda d0, d1: 1 / (d0 ** 2 + d1 ** 2)).max_value('periodic')
    # Checked on the displacements of the boundary in use: d + 2 is
    # negative only beyond the torus' wrapped range [-2, 2].
    shifted = CallableCost((5,), lambda d: d + 2.0)
    with pytest.raises(ValueError, match='negative costs'):
        shifted.matrix('zero')
    assert shifted.matrix('periodic').min() == 0.0


@pytest.mark.parametrize('make, message', [
    (lambda: PowerCost((4, 4), p=0), '`p` must be a finite number > 0'),
    (lambda: PowerCost((4, 4), p=-1), '`p` must be a finite number > 0'),
    (lambda: PowerCost((4, 4), p=2, norm=0.5), '`norm` must be >= 1'),
    (lambda: SaturatingCost((4, 4), scale=0), '`scale` must be a finite number > 0'),
    (lambda: SaturatingCost((4, 4), scale=-2.0), '`scale` must be a finite number > 0'),
    (lambda: SaturatingCost((4, 4), scale=1, p=0), '`p` must be a finite number > 0'),
    (lambda: SaturatingCost((4, 4), scale=1, norm=0.5), 'norm >= 1'),
    (lambda: Adler2017Cost((4, 4), cutoff=0), 'need cutoff > 0'),
    (lambda: Adler2017Cost((4, 4), p=-4), 'need cutoff > 0 and p > 0'),
    (lambda: SquaredEuclideanCost((4, 0)), 'positive sizes'),
    (lambda: SquaredEuclideanCost(()), 'positive sizes'),
    (lambda: SquaredEuclideanCost((4, 4)).kernel_cost('reflect'), '`boundary` must be'),
    (lambda: SquaredEuclideanCost((4, 4)).matrix('reflect'), '`boundary` must be'),
    (lambda: SquaredEuclideanCost((4, 4))(torch.tensor(1.0)), 'expected 2 displacement'),
])
def test_bad_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_types():
    with pytest.raises(TypeError, match='must be an `odl.DiscretizedSpace` or a shape'):
        SquaredEuclideanCost(object())
    with pytest.raises(TypeError, match='must be callable'):
        CallableCost((4, 4), 3.0)
    with pytest.raises(TypeError, match='must be callable'):
        SeparableCost((4, 4), 'abs')
