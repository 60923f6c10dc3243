"""Data-consistency layers (Lei et al., eqs. (7)-(8)) against NumPy and `MRIForward`."""

import numpy as np
import odl
import pytest
import torch

from odl_wasserstein.data import birdcage_coil_maps
from odl_wasserstein.nn import (
    CoilFourier, GradientDataConsistency, HardDataConsistency, OperatorPair)
from odl_wasserstein.operators import MRIForward, coil_fourier, coil_fourier_adjoint
from odl_wasserstein.operators.masks import random_lines_mask
from odl_wasserstein.util import complex_to_channels

SHAPE = (12, 10)
C128 = torch.complex128


def fft(x):
    """NumPy reference of the orthonormal centred FFT over the last two axes."""
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), norm='ortho'), axes=axes)


def ifft(k):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), norm='ortho'), axes=axes)


def crandn(*shape):
    return torch.randn(*shape, dtype=C128)


def mask(seed=0, shape=SHAPE):
    return torch.as_tensor(random_lines_mask(shape, acceleration=3, acs_fraction=0.2,
                                             seed=seed)).double()


def problem(n_coils=3, n=2):
    """Images, birdcage maps (sum |S|^2 = 1), a mask and masked noisy k-space."""
    maps = birdcage_coil_maps(SHAPE, n_coils, dtype=C128)
    m = mask()
    op = CoilFourier(m, maps)
    b = m * (op(crandn(n, 1, *SHAPE)) + 0.1 * crandn(n, n_coils, *SHAPE))
    return crandn(n, 1, *SHAPE), maps, m, b, op


def inner(a, b):
    return torch.vdot(a.flatten(), b.flatten())


def test_coil_fourier_equals_mri_forward_and_numpy():
    x, maps, m, _, op = problem()
    space = odl.uniform_discr([-1, -1], [2, 3], SHAPE, dtype='complex128')
    mri = MRIForward(space, m.numpy(), maps.numpy())
    y = crandn(2, 3, *SHAPE)
    for i in range(2):
        expected = mri(space.element(x[i, 0].numpy())).data
        np.testing.assert_allclose(op(x)[i].numpy(), expected, atol=1e-6)
        expected = mri.adjoint(mri.range.element(y[i].numpy())).data
        np.testing.assert_allclose(op.adjoint(y)[i, 0].numpy(), expected, atol=1e-6)
    reference = m.numpy() * fft(maps.numpy() * x.numpy())  # (N, 1) * (C,) -> (N, C)
    np.testing.assert_allclose(op(x).numpy(), reference, atol=1e-12)
    reference = (maps.numpy().conj() * ifft(m.numpy() * y.numpy())).sum(1, keepdims=True)
    np.testing.assert_allclose(op.adjoint(y).numpy(), reference, atol=1e-12)


@pytest.mark.parametrize('n_coils', [None, 3])
def test_adjointness_with_per_sample_masks_and_maps(n_coils):
    masks = torch.stack([mask(seed) for seed in range(4)])[:, None]  # (N, 1, H, W)
    maps = None if n_coils is None else crandn(4, n_coils, *SHAPE)
    op = CoilFourier(masks, maps)
    x, y = crandn(4, 1, *SHAPE), crandn(4, n_coils or 1, *SHAPE)
    torch.testing.assert_close(inner(op(x), y), inner(x, op.adjoint(y)), rtol=1e-12, atol=0)
    # Each sample uses its own mask and maps.
    single = CoilFourier(masks[2, 0], None if maps is None else maps[2])
    torch.testing.assert_close(op(x)[2:3], single(x[2:3]), rtol=0, atol=1e-14)


def test_coil_combination_alone_is_adjoint_to_coil_images():
    # With a full mask F^{-1} A x = (S_c x)_c, so the coil images and their
    # combination sum_c conj(S_c) y_c are read off the kernels.
    maps, full = crandn(3, *SHAPE), torch.ones(SHAPE, dtype=torch.float64)
    x, y = crandn(2, *SHAPE), crandn(2, 3, *SHAPE)
    coil_images = torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(
        coil_fourier(x, full, maps), dim=(-2, -1)), norm='ortho'), dim=(-2, -1))
    torch.testing.assert_close(coil_images, maps * x[:, None])
    combined = coil_fourier_adjoint(torch.as_tensor(fft(y.numpy())), full, maps)
    torch.testing.assert_close(combined, (maps.conj() * y).sum(1))
    torch.testing.assert_close(inner(coil_images, y), inner(x, combined), rtol=1e-12, atol=0)


def test_hard_dc_equals_eq_8():
    x, maps, m, b, op = problem()
    out = HardDataConsistency()(x, b, op)
    s, mn = maps.numpy(), m.numpy()
    kspace = b.numpy() + (1 - mn) * fft(s * x.numpy())  # coil k-spaces, measured where M = 1
    eq8 = (s.conj() * ifft(kspace)).sum(1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), eq8, atol=1e-12)
    # The replacement reproduces b exactly where M = 1 ...
    np.testing.assert_array_equal((mn * kspace)[..., mn == 1], b.numpy()[..., mn == 1])
    # ... but the coil combination is not a projection: A out != b, twice != once.
    assert float((op(out) - b).abs().max()) > 1e-2
    assert float((HardDataConsistency()(out, b, op) - out).abs().max()) > 1e-3


def test_hard_dc_single_coil_is_a_projection():
    m = mask()
    op, x = CoilFourier(m), crandn(3, 1, *SHAPE)
    b = op(crandn(3, 1, *SHAPE))
    layer = HardDataConsistency()
    once = layer(x, b, op)
    torch.testing.assert_close(layer(once, b, op), once, rtol=0, atol=1e-13)
    sampled = (m == 1).expand(3, 1, *SHAPE)
    torch.testing.assert_close(op(once)[sampled], b[sampled], rtol=0, atol=1e-13)
    unsampled = ~sampled  # the rest of k-space is the input's
    torch.testing.assert_close(CoilFourier(torch.ones(SHAPE))(once)[unsampled],
                               CoilFourier(torch.ones(SHAPE))(x)[unsampled])
    # The real two-channel form gives the same numbers in that form.
    torch.testing.assert_close(layer(complex_to_channels(x), b, op), complex_to_channels(once))


def test_gradient_dc_is_a_gradient_step():
    x, _, _, b, op = problem()
    layer = GradientDataConsistency().double()
    assert isinstance(layer.t, torch.nn.Parameter) and layer.t.requires_grad
    assert layer.t.item() == -2.0
    x0 = op.adjoint(b)
    expected = x - 2 * op.adjoint(op(x) - b)
    torch.testing.assert_close(layer(x, x0, op), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer(complex_to_channels(x), x0, op),
                               complex_to_channels(expected), rtol=0, atol=1e-12)
    # The gradient of 1/2 ||A x - b||^2 at x, by autograd, is what the step removes.
    z = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(0.5 * (op(z) - b).abs().square().sum(), z)
    torch.testing.assert_close(layer(x, x0, op), x - 2 * grad, rtol=0, atol=1e-12)


def test_gradcheck_in_the_step():
    op = CoilFourier(mask(shape=(6, 5)), crandn(2, 6, 5))
    layer = GradientDataConsistency(-1.5).double()
    x, x0 = crandn(2, 1, 6, 5), crandn(2, 1, 6, 5)
    t = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)

    def step(t):
        return torch.func.functional_call(layer, {'t': t}, (x, x0, op))

    assert torch.autograd.gradcheck(step, (t,))
    (grad,) = torch.autograd.grad(step(t).real.sum(), t)
    expected = (op.adjoint(op(x)) - x0).real.sum()  # d/dt of x + t g is g
    torch.testing.assert_close(grad, expected)


def test_operator_pair_from_odl_matches_coil_fourier():
    x, maps, m, b, op = problem()
    space = odl.uniform_discr([0, 0], [1, 1], SHAPE, dtype='complex128')
    pair = OperatorPair.from_odl(MRIForward(space, m.numpy(), maps.numpy()))
    torch.testing.assert_close(pair(x), op(x), rtol=0, atol=1e-12)
    x0 = pair.adjoint(b)
    torch.testing.assert_close(x0, op.adjoint(b), rtol=0, atol=1e-12)
    torch.testing.assert_close(HardDataConsistency()(x, b, pair),
                               HardDataConsistency()(x, b, op), rtol=0, atol=1e-12)
    soft = GradientDataConsistency().double()
    torch.testing.assert_close(soft(x, x0, pair), soft(x, x0, op), rtol=0, atol=1e-12)
    # Single coil: the range has no coil axis; measurements (N, 1, H, W).
    single = OperatorPair.from_odl(MRIForward(space, m.numpy()))
    torch.testing.assert_close(single(x), CoilFourier(m)(x), rtol=0, atol=1e-12)


def test_errors():
    op = CoilFourier(torch.ones(8, 8))
    x, b = crandn(2, 1, 8, 8), crandn(2, 1, 8, 8)
    with pytest.raises(ValueError, match='`mask` of shape .* does not broadcast'):
        CoilFourier(torch.ones(7))(x)
    with pytest.raises(ValueError, match='`mask` of shape .* does not fit the coil maps'):
        CoilFourier(torch.ones(7, 7), crandn(2, 8, 8))
    with pytest.raises(ValueError, match='`coil_maps` of shape .* does not broadcast'):
        CoilFourier(torch.ones(8), crandn(3, 2, 8, 8))(x)  # maps for 3 samples, 2 given
    with pytest.raises(TypeError, match='`mask` must be real'):
        CoilFourier(torch.ones(8, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r'`coil_maps` must be \(C, H, W\)'):
        CoilFourier(torch.ones(8), crandn(8, 8))
    with pytest.raises(ValueError, match='`mask` contains NaN'):
        CoilFourier(torch.full((8,), float('nan')))
    with pytest.raises(ValueError, match=r'`x` must be complex images \(N, 1, H, W\)'):
        op(complex_to_channels(x))
    with pytest.raises(ValueError, match=r'`y` must be k-space \(N, 1, H, W\)'):
        op.adjoint(crandn(2, 3, 8, 8))
    layer = HardDataConsistency()
    with pytest.raises(TypeError, match='`measurements` must be complex k-space'):
        layer(x, b.real, op)
    with pytest.raises(ValueError, match='`measurements` of shape .* do not match'):
        layer(x, crandn(1, 1, 8, 8), op)
    with pytest.raises(ValueError, match=r'`x` in real form must be \(N, 2, H, W\)'):
        layer(torch.zeros(2, 3, 8, 8), b, op)
    with pytest.raises(ValueError, match='`x0` of shape'):
        GradientDataConsistency()(x, crandn(2, 1, 4, 4), op)
    with pytest.raises(TypeError, match='`step` must be a finite number'):
        GradientDataConsistency('a')
    with pytest.raises(TypeError, match='`forward` must be callable'):
        OperatorPair(None, op.adjoint)
    space = odl.uniform_discr([0, 0], [1, 1], (8, 8))
    with pytest.raises(ValueError, match='complex space'):
        OperatorPair.from_odl(odl.IdentityOperator(space))
    with pytest.raises(TypeError, match='`y` must be a torch.Tensor'):
        coil_fourier_adjoint(np.ones((8, 8)), torch.ones(8))
