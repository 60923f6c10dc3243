"""Generators with data consistency of Lei et al.: layout, data consistency, gradients."""

import odl
import pytest
import torch

from odl_wasserstein.nn import (
    CoilFourier, OperatorPair, ResidualBlock, ResidualProx, ResNetDCGenerator,
    UnrolledDCGenerator)
from odl_wasserstein.operators import MRIForward
from odl_wasserstein.operators.masks import random_lines_mask

SHAPE = (8, 8)


def mask(n=None, seed=0):
    masks = [torch.as_tensor(random_lines_mask(SHAPE, acceleration=2, acs_fraction=0.25,
                                               seed=seed + i)) for i in range(n or 1)]
    return masks[0] if n is None else torch.stack(masks)[:, None]


def measured(op, n, dtype=torch.complex64):
    return op(torch.randn(n, 1, *SHAPE, dtype=dtype))


def n_parameters(net):
    return sum(p.numel() for p in net.parameters())


def test_shapes_and_dtypes_with_per_sample_masks_and_maps():
    op = CoilFourier(mask(3), torch.randn(3, 2, *SHAPE, dtype=torch.complex64))
    b = measured(op, 3)
    for net in (UnrolledDCGenerator(n_iter=2, features=4), ResNetDCGenerator(features=4),
                ResNetDCGenerator.authors_code(features=4)):
        out = net(b, op)
        assert out.shape == (3, 2, *SHAPE) and out.dtype == torch.float32


def test_shared_and_unshared_parameters():
    unshared = UnrolledDCGenerator(n_iter=3, features=4)
    shared = UnrolledDCGenerator(n_iter=3, features=4, shared=True)
    prox = ResidualProx(features=4)
    assert n_parameters(shared) == n_parameters(prox) + 1  # one prox and one step t
    assert n_parameters(unshared) == 3 * n_parameters(shared)
    assert len(unshared.steps) == 3 and len(shared.steps) == 1
    assert all(step.t.item() == -2.0 for step in unshared.steps)


@pytest.mark.parametrize('variant, padding, bias', [('paper', 'zeros', True),
                                                    ('code', 'circular', False)])
def test_prox_variants(variant, padding, bias):
    net = UnrolledDCGenerator(n_iter=2, features=4, variant=variant)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 * (2 + 2 * 2)  # per prox: in, out and 2 per block
    assert {conv.padding_mode for conv in convs} == {padding}
    assert all((conv.bias is not None) == bias for conv in convs)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 2 * (1 + 2 * 2)  # every conv but the last


def test_circular_padding_wraps_around():
    # A one-pixel shift of the input shifts the code prox's output circularly.
    prox = ResidualProx(features=3, variant='code').eval()
    x = torch.randn(1, 2, *SHAPE)
    torch.testing.assert_close(prox(x.roll(1, -1)), prox(x).roll(1, -1))


def test_resnet_layouts():
    paper, code = ResNetDCGenerator(features=4), ResNetDCGenerator(variant='code', features=4)
    blocks = [m for m in paper.modules() if isinstance(m, ResidualBlock)]
    assert paper.blocks == len(blocks) == 5 and not any(b.preactivation for b in blocks)
    blocks = [m for m in code.modules() if isinstance(m, ResidualBlock)]
    assert code.blocks == len(blocks) == 8 and all(b.preactivation for b in blocks)
    transposed = [m for m in code.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(transposed) == 4 and all(t.stride == (1, 1) for t in transposed)
    assert [m.kernel_size for m in code.network[-5::2]] == [(3, 3), (1, 1), (1, 1)]
    # The code's block convolutions start small: std^2 = 1e-3 / (features * 9).
    weights = torch.cat([b.body[2].weight.flatten() for b in blocks])
    assert 0.5 < weights.detach().std().item() / (1e-3 / (4 * 9)) ** 0.5 < 1.2
    with pytest.raises(ValueError, match='`blocks` must be even'):
        ResNetDCGenerator(blocks=5, variant='code')


@pytest.mark.parametrize('net', [ResNetDCGenerator(features=4),
                                 ResNetDCGenerator.authors_code(features=4),
                                 UnrolledDCGenerator(n_iter=2, features=4)])
def test_single_coil_output_is_data_consistent(net):
    m = mask()
    op = CoilFourier(m)
    b = measured(op, 2, torch.complex128)
    out = net.double()(b, op)
    kspace = op(torch.complex(out[:, :1], out[:, 1:]))
    sampled = (m == 1).expand_as(b)
    torch.testing.assert_close(kspace[sampled], b[sampled], rtol=0, atol=1e-12)


def test_gradcheck_through_the_unrolled_generator():
    # Eval mode: batch norm uses its running statistics (filled by one
    # training-mode pass), so a sample is processed on its own: full check on
    # one sample. Training mode (batch statistics couple the samples): the
    # fast check on two.
    op = CoilFourier(mask(), torch.randn(2, *SHAPE, dtype=torch.complex128))
    net = UnrolledDCGenerator(n_iter=2, features=2).double()
    b = measured(op, 2, torch.complex128).requires_grad_()
    net(b.detach(), op)
    assert torch.autograd.gradcheck(lambda v: net.eval()(v, op), (b[:1].detach().requires_grad_(),))
    assert torch.autograd.gradcheck(lambda v: net.train()(v, op), (b,), fast_mode=True)


def test_odl_operator_gives_the_same_reconstruction():
    maps = torch.randn(2, *SHAPE, dtype=torch.complex128)
    m = mask()
    space = odl.uniform_discr([0, 0], [1, 1], SHAPE, dtype='complex128')
    pair = OperatorPair.from_odl(MRIForward(space, m.numpy(), maps.numpy()))
    op = CoilFourier(m, maps)
    b = measured(op, 2, torch.complex128)
    net = UnrolledDCGenerator(n_iter=2, features=4).double().eval()
    torch.testing.assert_close(net(b, pair), net(b, op), rtol=0, atol=1e-10)


def test_errors():
    op = CoilFourier(torch.ones(SHAPE))
    net = UnrolledDCGenerator(n_iter=1, features=2)
    with pytest.raises(TypeError, match='`measurements` must be complex'):
        net(torch.zeros(2, 1, *SHAPE), op)
    with pytest.raises(ValueError, match='`n_iter` must be an int >= 1'):
        UnrolledDCGenerator(n_iter=0)
    with pytest.raises(TypeError, match='`features` must be an int'):
        UnrolledDCGenerator(features=2.5)
    with pytest.raises(ValueError, match='`variant` must be one of'):
        ResNetDCGenerator(variant='tf')
    with pytest.raises(TypeError, match='`shared` must be True or False'):
        UnrolledDCGenerator(shared=1)
