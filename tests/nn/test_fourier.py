"""`UndersampledFourier`: ``F^-1 M F`` against `MRIForward` and by its algebra."""

import numpy as np
import odl
import pytest
import torch

from odl_wasserstein.nn import UndersampledFourier
from odl_wasserstein.operators import MRIForward
from odl_wasserstein.operators.masks import random_lines_mask
from odl_wasserstein.util import complex_to_channels


def test_equals_the_normal_operator_of_mri_forward():
    mask = random_lines_mask((12, 10), acceleration=3, seed=1)
    space = odl.uniform_discr([0, 0], [1, 1], (12, 10), dtype='complex128')
    op = MRIForward(space, mask)
    x = torch.randn(3, 1, 12, 10, dtype=torch.complex128)
    expected = op.adjoint.forward_batch(op.forward_batch(x[:, 0]))
    torch.testing.assert_close(UndersampledFourier()(x, torch.as_tensor(mask))[:, 0], expected)


def test_projection_self_adjoint_and_channel_form():
    layer = UndersampledFourier()
    mask = torch.as_tensor(random_lines_mask((8, 8), acceleration=2, seed=0))
    x = torch.randn(2, 2, 8, 8, dtype=torch.complex128)
    y = torch.randn(2, 2, 8, 8, dtype=torch.complex128)
    px = layer(x, mask)
    torch.testing.assert_close(layer(px, mask), px)  # a projection
    lhs, rhs = (px * y.conj()).sum(), (x * layer(y, mask).conj()).sum()
    torch.testing.assert_close(lhs, rhs)  # self-adjoint
    two = complex_to_channels(x)
    torch.testing.assert_close(layer(two, mask), complex_to_channels(px))
    # One mask per sample.
    masks = torch.stack([mask, 1 - mask])[:, None]
    both = layer(x, masks)
    torch.testing.assert_close(both[0], px[0])
    torch.testing.assert_close(both[1] + layer(x, mask)[1], x[1])


def test_gradient_is_the_same_projection():
    layer = UndersampledFourier()
    mask = torch.as_tensor(random_lines_mask((6, 8), acceleration=2, seed=2)).double()
    x = torch.randn(1, 2, 6, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: layer(v, mask), (x,))
    weights = torch.randn(1, 2, 6, 8, dtype=torch.float64)
    (grad,) = torch.autograd.grad((layer(x, mask) * weights).sum(), x)
    torch.testing.assert_close(grad, layer(weights, mask))


def test_errors():
    layer = UndersampledFourier()
    with pytest.raises(ValueError, match=r'batch \(N, C, H, W\)'):
        layer(torch.zeros(2, 8, 8), torch.ones(8))
    with pytest.raises(ValueError, match='does not broadcast'):
        layer(torch.zeros(1, 2, 8, 8), torch.ones(7))
    with pytest.raises(ValueError, match='even number of channels'):
        layer(torch.zeros(1, 3, 8, 8), torch.ones(8))
    with pytest.raises(TypeError, match='`mask` must be real'):
        layer(torch.zeros(1, 2, 8, 8), torch.ones(8, dtype=torch.complex64))
    assert np.isfinite(layer(torch.zeros(1, 2, 8, 8), torch.ones(8)).numpy()).all()
