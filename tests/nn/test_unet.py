"""Tests for `odl_wasserstein.nn.unet`."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from odl_wasserstein.nn import UNet

CONVS = (nn.Conv2d, nn.Conv3d)
NORMS = nn.modules.instancenorm._InstanceNorm


def _rand(shape, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=dtype)


def _n_params(net):
    return sum(p.numel() for p in net.parameters())


def _n_norms(module):
    return sum(isinstance(m, NORMS) for m in module.modules())


# --- An independent reference: recursive, functional, zero padding ---------

def _reference(net, x, flags, *, slope, pool, up_activation):
    """The U-Net written with torch.nn.functional, taking only the weights of ``net``.

    ``flags`` = (encoder flags, bottleneck flag, decoder flags), level 0 first.
    """
    nd = x.ndim - 2
    conv = (F.conv2d, F.conv3d)[nd - 2]
    conv_t = (F.conv_transpose2d, F.conv_transpose3d)[nd - 2]
    pool_f = {'max': (F.max_pool2d, F.max_pool3d), 'avg': (F.avg_pool2d, F.avg_pool3d)}[pool]
    encoder_norm, bottleneck_norm, decoder_norm = flags

    def norm_act(y, norm_layer, norm):
        if norm:
            y = F.instance_norm(y, weight=norm_layer.weight, bias=norm_layer.bias, eps=1e-5)
        return F.leaky_relu(y, slope)

    def block(module, y, norm):
        convs = [m for m in module if isinstance(m, CONVS)]
        norms = [m for m in module if isinstance(m, NORMS)] or [None, None]
        assert len(convs) == 2
        for c, n in zip(convs, norms):
            y = norm_act(conv(y, c.weight, c.bias, padding=1), n, norm)
        return y

    def level(y, k):
        if k == net.levels:
            return block(net.bottleneck, y, bottleneck_norm)
        skip = block(net.encoders[k], y, encoder_norm[k])
        deeper = level(pool_f[nd - 2](skip, 2), k + 1)
        up_layers = list(net.upsamplers[k])
        up = conv_t(deeper, up_layers[0].weight, up_layers[0].bias, stride=2)
        if up_activation:
            up = norm_act(up, up_layers[1] if decoder_norm[k] else None, decoder_norm[k])
        return block(net.decoders[k], torch.cat([skip, up], dim=1), decoder_norm[k])

    m = 2 ** net.levels
    pads = [(-s % m) // 2 for s in x.shape[2:]]
    sizes = x.shape[2:]
    padded = F.pad(x, [p for s, b in zip(reversed(sizes), reversed(pads))
                       for p in (b, -s % m - b)])
    out = conv(level(padded, 0), net.head.weight, net.head.bias)
    index = tuple(slice(b, b + s) for b, s in zip(pads, sizes))
    return out[(Ellipsis,) + index]


REFERENCE_CASES = {
    # name: (UNet kwargs, flags (encoder, bottleneck, decoder), input shape)
    '2d-mixed-norm-max': (
        dict(in_channels=2, out_channels=3, levels=2, filters=3, negative_slope=0.1,
             norm=(False, True, True, False, True), affine=True),
        ((False, True), True, (True, False)), (2, 2, 13, 10)),
    '2d-fastmri-like': (
        dict(levels=2, filters=2, norm=(True, False, True), pool='avg', bias=False,
             up_activation=True, init='default'),
        ((True, False), True, (True, False)), (2, 1, 9, 16)),
    '3d-level-norm': (
        dict(ndim=3, levels=1, filters=2, norm=(False, True), negative_slope=0.0,
             up_activation=True, affine=True),
        ((False,), True, (False,)), (2, 1, 5, 4, 7)),
}


@pytest.mark.parametrize('name', sorted(REFERENCE_CASES))
def test_matches_functional_reference(name):
    kwargs, flags, shape = REFERENCE_CASES[name]
    net = UNet(**kwargs).double()
    # affine norm parameters away from (1, 0), so a misplaced norm would show
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, NORMS) and m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    x = _rand(shape, 0)
    expected = _reference(net, x, flags, slope=kwargs.get('negative_slope', 0.2),
                          pool=kwargs.get('pool', 'max'),
                          up_activation=kwargs.get('up_activation', False))
    out = net(x)
    assert out.shape == expected.shape == (shape[0], net.out_channels) + shape[2:]
    assert torch.allclose(out, expected, rtol=0, atol=1e-12)


# --- Shapes, padding and cropping -------------------------------------------

@pytest.mark.parametrize('levels', [0, 1, 3])
@pytest.mark.parametrize('size', [(8, 8), (13, 17), (16, 9), (1, 5)])
def test_shapes_2d(size, levels):
    # no norm: a 1x1 bottleneck (8x8 and 3 levels) cannot be instance-normalised
    net = UNet(in_channels=2, out_channels=3, levels=levels, filters=2, norm=False)
    out = net(_rand((2, 2) + size, 0, torch.float32))
    assert out.shape == (2, 3) + size
    assert out.dtype == torch.float32


@pytest.mark.parametrize('size', [(8, 8, 8), (5, 7, 9), (4, 3, 6)])
def test_shapes_3d(size):
    net = UNet(out_channels=2, ndim=3, levels=2, filters=2).double()
    out = net(_rand((1, 1) + size, 0))
    assert out.shape == (1, 2) + size
    assert out.dtype == torch.float64


def test_pad_widths():
    net = UNet(levels=2, filters=2)
    # p = -s mod 4, p // 2 in front, the rest at the end
    assert net.pad_widths((13, 16, 1, 14)) == ((1, 2), (0, 0), (1, 2), (1, 1))
    assert net.multiple == 4
    assert UNet(levels=0, filters=2).pad_widths((7, 3)) == ((0, 0), (0, 0))
    assert UNet(levels=4, filters=2).pad_widths((321, 320)) == ((7, 8), (0, 0))


@pytest.mark.parametrize('ndim, size', [(2, (13, 10)), (3, (5, 6, 3))])
@pytest.mark.parametrize('padding_mode, mode', [('zeros', 'constant'),
                                                ('replicate', 'replicate')])
def test_output_is_crop_of_padded_input(ndim, size, padding_mode, mode):
    # net(x) is net applied to x padded by hand (1 in front, 2 at the end for
    # 13 with levels=2), cropped back with the same offsets
    net = UNet(ndim=ndim, levels=2, filters=2, padding_mode=padding_mode).double()
    x = _rand((2, 1) + size, 0)
    widths = [(-s % 4) // 2 for s in size]
    flat = [p for s, b in zip(reversed(size), reversed(widths)) for p in (b, -s % 4 - b)]
    padded = F.pad(x, flat, mode=mode)
    assert all(s % 4 == 0 for s in padded.shape[2:])
    crop = tuple(slice(b, b + s) for b, s in zip(widths, size))
    expected = net(padded)[(Ellipsis,) + crop]
    assert torch.allclose(net(x), expected, rtol=0, atol=1e-12)


def _set_delta(conv, weights):
    """Set a 3x3 (or 1x1) conv to ``out[o] = sum_i weights[o][i] * in[i]``, no bias."""
    with torch.no_grad():
        conv.weight.zero_()
        centre = tuple(k // 2 for k in conv.kernel_size)
        for o, row in enumerate(weights):
            for i, w in enumerate(row):
                conv.weight[(o, i) + centre] = w
        if conv.bias is not None:
            conv.bias.zero_()


def test_levels_0_by_hand():
    # one block and the 1x1 conv: 3 * lrelu(lrelu(x)) + 0.5
    net = UNet(levels=0, filters=1, norm=False, negative_slope=0.1).double()
    convs = [m for m in net.bottleneck if isinstance(m, nn.Conv2d)]
    _set_delta(convs[0], [[1.0]])
    _set_delta(convs[1], [[1.0]])
    _set_delta(net.head, [[3.0]])
    with torch.no_grad():
        net.head.bias.fill_(0.5)
    x = np.array([[-2.0, -0.5, 0.0], [0.25, 1.0, 4.0]])
    expected = 3 * np.where(x > 0, x, 0.01 * x) + 0.5
    out = net(torch.tensor(x)[None, None])[0, 0].detach().numpy()
    assert np.allclose(out, expected, rtol=0, atol=1e-14)


def test_levels_1_by_hand_odd_size():
    # With ReLUs, identity-like convs and x > 0, the network computes
    # (max of the 2x2 pooling cell of each pixel) - x, pooling cells taken on
    # the input zero-padded at the end to even sizes (5x7 -> 6x8).
    net = UNet(levels=1, filters=1, norm=False, negative_slope=0.0).double()
    enc = [m for m in net.encoders[0] if isinstance(m, nn.Conv2d)]
    mid = [m for m in net.bottleneck if isinstance(m, nn.Conv2d)]
    dec = [m for m in net.decoders[0] if isinstance(m, nn.Conv2d)]
    _set_delta(enc[0], [[1.0]])
    _set_delta(enc[1], [[1.0]])
    _set_delta(mid[0], [[1.0], [0.0]])
    _set_delta(mid[1], [[1.0, 0.0], [0.0, 0.0]])
    up = net.upsamplers[0][0]
    with torch.no_grad():
        up.weight.zero_()
        up.weight[0, 0] = 1.0  # channel 0 copied to every pixel of the 2x2 cell
        up.bias.zero_()
    _set_delta(dec[0], [[-1.0, 1.0]])  # [skip, up] -> up - skip
    _set_delta(dec[1], [[1.0]])
    _set_delta(net.head, [[1.0]])
    x = np.random.default_rng(0).uniform(0.1, 1.0, size=(5, 7))
    padded = np.zeros((6, 8))
    padded[:5, :7] = x
    cell_max = padded.reshape(3, 2, 4, 2).max(axis=(1, 3))
    expected = np.kron(cell_max, np.ones((2, 2)))[:5, :7] - x
    assert net.pad_widths((5, 7)) == ((0, 1), (0, 1))
    out = net(torch.tensor(x)[None, None])[0, 0].detach().numpy()
    assert np.allclose(out, expected, rtol=0, atol=1e-14)


# --- Structure and presets --------------------------------------------------

def _formula_count(in_ch, out_ch, filters, levels, ndim, norm_blocks, affine, bias,
                   up_norms=()):
    """Parameters of a UNet by formula.

    ``norm_blocks``, ``up_norms``: channels of the normalised blocks and up-samplers.
    """
    k, b = 3 ** ndim, int(bias)
    w = [filters * 2 ** j for j in range(levels + 1)]
    ins = [in_ch] + w[:-1]
    conv3 = lambda c_in, c_out: c_in * c_out * k + b * c_out
    block = lambda c_in, c_out: conv3(c_in, c_out) + conv3(c_out, c_out)
    total = sum(block(ins[j], w[j]) for j in range(levels + 1))  # encoders, bottleneck
    total += sum(block(2 * w[j], w[j]) for j in range(levels))  # decoders
    total += sum(w[j + 1] * w[j] * 2 ** ndim + b * w[j] for j in range(levels))  # ups
    total += w[0] * out_ch + out_ch  # 1x1 head, always with bias
    if affine:  # scale and shift: 2 norms per block, one per normalised up-sampler
        total += sum(2 * 2 * c for c in norm_blocks) + sum(2 * c for c in up_norms)
    return total


def test_ot_cyclegan_preset():
    net = UNet.ot_cyclegan()
    widths = [32, 64, 128, 256, 512]
    # every block normalised except the level-0 encoder (widths of the normalised blocks)
    normalised = widths[1:] + widths[:4]
    assert _n_params(net) == _formula_count(2, 2, 32, 4, 2, normalised, True, True) == 7765602
    assert (net.in_channels, net.out_channels, net.levels, net.filters) == (2, 2, 4, 32)
    assert _n_norms(net.encoders[0]) == 0
    assert [_n_norms(b) for b in net.encoders[1:]] == [2, 2, 2]
    assert [_n_norms(b) for b in net.decoders] == [2, 2, 2, 2]
    assert _n_norms(net.bottleneck) == 2 and _n_norms(net.upsamplers) == 0
    assert _n_norms(net) == 16
    assert all(m.affine for m in net.modules() if isinstance(m, NORMS))
    assert {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    assert isinstance(net.pool, nn.MaxPool2d) and isinstance(net.activation, nn.Identity)
    assert all(len(u) == 1 for u in net.upsamplers)  # plain transposed convs
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)][-1] == 2
    # 4 coils: 8 channels; overrides pass through
    assert UNet.ot_cyclegan(8, 8).encoders[0][0].in_channels == 8
    small = UNet.ot_cyclegan(levels=2, filters=2)
    assert _n_norms(small) == 2 * 4 and _n_norms(small.encoders[0]) == 0


def test_fastmri_preset():
    net = UNet.fastmri()
    # fastMRI's Unet(1, 1, chans=32, num_pool_layers=4, drop_prob=0.0)
    assert _n_params(net) == _formula_count(1, 1, 32, 4, 2, [], False, False) == 7756097
    assert _n_norms(net) == 9 * 2 + 4  # every block, and after every transposed conv
    assert not any(m.affine for m in net.modules() if isinstance(m, NORMS))
    assert isinstance(net.pool, nn.AvgPool2d)
    assert all(m.bias is None for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m is not net.head)
    assert net.head.bias is not None
    assert not any(isinstance(m, nn.Dropout2d) for m in net.modules())
    assert [type(m) for m in net.upsamplers[0]] == [nn.ConvTranspose2d, nn.InstanceNorm2d,
                                                    nn.LeakyReLU]


@pytest.mark.parametrize('kwargs, norm_blocks, up_norms', [
    (dict(levels=2, filters=3, ndim=3, affine=True), [3, 6, 12, 3, 6], []),
    (dict(levels=3, filters=2, norm=(True, False, False, True), affine=True),
     [2, 2, 16], []),
    (dict(levels=2, filters=4, affine=True, up_activation=True, norm=(False, True, True)),
     [8, 16, 8], [8]),
    (dict(levels=0, filters=5, affine=True), [5], []),
])
def test_parameter_count_formula(kwargs, norm_blocks, up_norms):
    net = UNet(in_channels=2, out_channels=3, **kwargs)
    assert _n_params(net) == _formula_count(
        2, 3, kwargs['filters'], kwargs['levels'], kwargs.get('ndim', 2), norm_blocks, True,
        True, up_norms)


def test_norm_per_level():
    net = UNet(levels=2, filters=2, norm=(True, False, True))
    assert [_n_norms(b) for b in net.encoders] == [2, 0]
    assert [_n_norms(b) for b in net.decoders] == [2, 0]
    assert _n_norms(net.bottleneck) == 2
    # per block, in data-flow order: enc0, enc1, bottleneck, dec1, dec0
    net = UNet(ndim=3, levels=2, filters=2, norm=(False, True, False, True, True),
               up_activation=True)
    assert [_n_norms(b) for b in net.encoders] == [0, 2]
    assert _n_norms(net.bottleneck) == 0
    assert [_n_norms(b) for b in net.decoders] == [2, 2]
    assert [_n_norms(u) for u in net.upsamplers] == [1, 1]
    assert all(isinstance(m, nn.InstanceNorm3d) and not m.affine
               for m in net.modules() if isinstance(m, NORMS))
    assert _n_norms(UNet(levels=3, filters=2, norm=False, up_activation=True)) == 0
    assert _n_norms(UNet(levels=3, filters=2)) == 7 * 2


@pytest.mark.parametrize('ndim', [2, 3])
def test_layer_types(ndim):
    net = UNet(ndim=ndim, levels=2, filters=2, negative_slope=0.0, pool='avg', dropout=0.3)
    conv, conv_t = (nn.Conv2d, nn.Conv3d)[ndim - 2], (nn.ConvTranspose2d,
                                                     nn.ConvTranspose3d)[ndim - 2]
    convs = [m for m in net.modules() if isinstance(m, conv)]
    assert len(convs) == 2 * 5 + 1
    assert all(c.kernel_size == (3,) * ndim and c.padding == (1,) * ndim for c in convs[:-1])
    assert net.head.kernel_size == (1,) * ndim and convs[-1] is net.head
    ups = [m for m in net.modules() if isinstance(m, conv_t)]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(4, 2), (8, 4)]
    assert all(u.kernel_size == (2,) * ndim and u.stride == (2,) * ndim for u in ups)
    assert isinstance(net.pool, (nn.AvgPool2d, nn.AvgPool3d)[ndim - 2])
    assert [m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)] == [0.0] * 10
    dropouts = [m for m in net.modules() if isinstance(m, (nn.Dropout2d, nn.Dropout3d)[ndim - 2])]
    assert len(dropouts) == 10 and all(d.p == 0.3 for d in dropouts)
    assert [net.decoders[k][0].in_channels for k in range(2)] == [4, 8]


def test_dropout_only_in_training():
    net = UNet(levels=1, filters=4, dropout=0.5).double()
    x = _rand((2, 1, 8, 8), 0)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.allclose(net(x), net(x))


def test_xavier_and_default_init():
    torch.manual_seed(0)
    net = UNet(levels=1, filters=16, init='xavier')
    conv = net.decoders[0][0]  # 32 -> 16 channels, 3x3
    bound = (6 / (32 * 9 + 16 * 9)) ** 0.5
    assert conv.weight.abs().max() <= bound
    # a uniform law on (-bound, bound) has standard deviation bound / sqrt(3)
    assert abs(conv.weight.std().item() / (bound / 3 ** 0.5) - 1) < 0.05
    up = net.upsamplers[0][0]
    assert up.weight.abs().max() <= (6 / (32 * 4 + 16 * 4)) ** 0.5
    assert all((m.bias == 0).all() for m in net.modules()
               if isinstance(m, nn.modules.conv._ConvNd))
    default = UNet(levels=1, filters=16, init='default')
    assert all((m.bias != 0).any() for m in default.modules()
               if isinstance(m, nn.modules.conv._ConvNd))
    # torch's default bound is 1 / sqrt(fan_in) = 1 / sqrt(32 * 9)
    assert default.decoders[0][0].weight.abs().max() <= (32 * 9) ** -0.5


# --- Gradients ---------------------------------------------------------------

def test_gradcheck_input_and_parameters():
    net = UNet(levels=1, filters=2, norm=(False, True), affine=True).double()
    names = [name for name, _ in net.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())
    x = _rand((2, 1, 3, 5), 0).requires_grad_(True)

    def f(x, *params):
        return torch.func.functional_call(net, dict(zip(names, params)), (x,))

    assert torch.autograd.gradcheck(f, (x,) + params, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradients_reach_every_parameter():
    net = UNet(ndim=3, levels=2, filters=2, norm=(False, True, True), affine=True,
               up_activation=True).double()
    out = net(_rand((2, 1, 6, 5, 7), 0))
    (out * _rand(out.shape, 1)).sum().backward()
    # a bias right before an instance norm is cancelled by it: zero gradient
    cancelled = set()
    for seq in net.modules():
        if isinstance(seq, nn.Sequential):
            for layer, after in zip(seq, list(seq)[1:]):
                if isinstance(after, NORMS):
                    cancelled.add(id(layer.bias))
    # encoder 1, bottleneck and decoder 1 (2 convs each), and the up-sampler into
    # level 1 (the one into level 0 is not normalised, as decoder 0 is not)
    assert len(cancelled) == 3 * 2 + 1
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if id(p) in cancelled:
            assert p.grad.abs().max() < 1e-10, name
        else:
            assert p.grad.abs().max() > 1e-6, name


# --- Outputs and per-sample independence ------------------------------------

@pytest.mark.parametrize('output, low, high', [('sigmoid', 0, 1), ('tanh', -1, 1)])
def test_bounded_output(output, low, high):
    net = UNet(ndim=3, levels=1, filters=2, output=output).double()
    out = net(10 * _rand((2, 1, 5, 6, 7), 0))
    assert out.min() > low and out.max() < high
    # the activation applied to the unbounded network
    net.activation = nn.Identity()
    raw = net(10 * _rand((2, 1, 5, 6, 7), 0))
    expected = torch.sigmoid(raw) if output == 'sigmoid' else torch.tanh(raw)
    assert torch.allclose(out, expected, rtol=0, atol=1e-14)


def test_no_output_activation_is_affine_head():
    net = UNet(levels=1, filters=2).double()
    assert isinstance(net.activation, nn.Identity)
    out = net(_rand((2, 1, 6, 6), 0))
    assert out.min() < 0 < out.max()


@pytest.mark.parametrize('ndim, shape', [(2, (2, 2, 11, 9)), (3, (2, 1, 5, 4, 6))])
def test_residual_starts_as_identity_and_adds_the_plain_output(ndim, shape):
    torch.manual_seed(0)
    net = UNet(shape[1], shape[1], ndim=ndim, levels=2, filters=3, residual=True,
               output='tanh').double()
    x = _rand(shape, 0)
    # Zero head: the untrained network returns its (odd-sized, padded) input.
    assert torch.equal(net(x), torch.tanh(x))
    with torch.no_grad():
        net.head.weight.copy_(_rand(net.head.weight.shape, 1))
        net.head.bias.copy_(_rand(net.head.bias.shape, 2))
    net.residual, net.activation = False, nn.Identity()
    correction = net(x)
    net.residual, net.activation = True, nn.Tanh()
    assert torch.allclose(net(x), torch.tanh(x + correction), rtol=0, atol=1e-14)


def test_residual_head_learns_from_zero():
    net = UNet(2, 2, levels=1, filters=2, residual=True).double()
    x = _rand((2, 2, 8, 8), 0)
    (net(x) - 2 * x).square().sum().backward()
    assert net.head.weight.grad.abs().max() > 1e-3
    with pytest.raises(ValueError, match='in_channels == out_channels, got 1 and 2'):
        UNet(1, 2, residual=True)


@pytest.mark.parametrize('ndim, shape', [(2, (4, 2, 11, 8)), (3, (3, 1, 5, 4, 6))])
def test_samples_are_independent(ndim, shape):
    net = UNet(in_channels=shape[1], ndim=ndim, levels=2, filters=2, affine=True).double()
    net.train()
    x = _rand(shape, 0)
    out = net(x)
    singles = torch.cat([net(x[i:i + 1]) for i in range(shape[0])])
    assert torch.allclose(out, singles, rtol=0, atol=1e-6)
    assert (out - singles).abs().max() < 1e-12
    y = x.clone()
    y[0] = _rand(shape[1:], 7)
    changed = net(y)
    assert torch.allclose(changed[1:], out[1:], rtol=0, atol=1e-12)
    assert (changed[0] - out[0]).abs().max() > 1e-3


# --- Errors --------------------------------------------------------------------

def test_constructor_errors():
    with pytest.raises(ValueError, match='`levels` must be an int >= 0, got -1'):
        UNet(levels=-1)
    with pytest.raises(ValueError, match='`filters` must be an int >= 1, got 0'):
        UNet(filters=0)
    with pytest.raises(ValueError, match=r'`ndim` must be one of \(2, 3\), got 4'):
        UNet(ndim=4)
    with pytest.raises(ValueError, match=r'`ndim` must be one of \(2, 3\), got 1'):
        UNet(ndim=1)
    with pytest.raises(ValueError, match='`in_channels` must be an int >= 1, got 0'):
        UNet(in_channels=0)
    with pytest.raises(TypeError, match='`levels` must be an int >= 0, got 2.0'):
        UNet(levels=2.0)
    with pytest.raises(ValueError, match=r'`norm` must have levels \+ 1 = 3 entries .* '
                                         r'2 \* levels \+ 1 = 5 .*got 2'):
        UNet(levels=2, norm=(True, False))
    with pytest.raises(TypeError, match=r'`norm\[1\]` must be True or False, got 1'):
        UNet(levels=1, norm=(True, 1))
    with pytest.raises(TypeError, match="`norm` must be a bool or a sequence of bools, "
                                        "got 'instance'"):
        UNet(norm='instance')
    with pytest.raises(ValueError, match=r"`output` must be one of \(None, 'sigmoid', "
                                         r"'tanh'\), got 'relu'"):
        UNet(output='relu')
    with pytest.raises(ValueError, match=r"`padding_mode` must be one of \('zeros', "
                                         r"'replicate'\), got 'reflect'"):
        UNet(padding_mode='reflect')
    with pytest.raises(ValueError, match=r"`pool` must be one of \('max', 'avg'\)"):
        UNet(pool='min')
    with pytest.raises(ValueError, match=r"`init` must be one of \('xavier', 'default'\)"):
        UNet(init='kaiming')
    with pytest.raises(TypeError, match="`negative_slope` must be a finite number, got 'x'"):
        UNet(negative_slope='x')
    with pytest.raises(ValueError, match='`dropout` must be a finite number >= 0 and <= 1, '
                                         'got 1.5'):
        UNet(dropout=1.5)
    with pytest.raises(TypeError, match='`affine` must be True or False, got 1'):
        UNet(affine=1)


def test_input_errors():
    net = UNet(in_channels=2, levels=1, filters=2)
    with pytest.raises(ValueError, match=r'UNet expects `x` of shape \(N, 2, H, W\) .*'
                                         r'got \(1, 3, 8, 8\)'):
        net(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r'`x` of shape \(N, 2, H, W\) .*got \(2, 8, 8\)'):
        net(torch.zeros(2, 8, 8))
    net3d = UNet(ndim=3, levels=1, filters=2)
    with pytest.raises(ValueError, match=r'`x` of shape \(N, 1, D, H, W\) \(ndim=3, '
                                         r'in_channels=1\), got \(1, 1, 8, 8\)'):
        net3d(torch.zeros(1, 1, 8, 8))
    with pytest.raises(TypeError, match='UNet expects `x` as a torch.Tensor, got ndarray'):
        net(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ValueError, match=r'UNet normalises level 3, where `x` of spatial size '
                                         r'\(8, 8\) after padding has a single pixel'):
        UNet(levels=3, filters=2)(torch.zeros(1, 1, 5, 8))
    # fine without norm at the bottleneck, or with more pixels there
    assert UNet(levels=3, filters=2, norm=(True,) * 3 + (False,))(
        torch.zeros(1, 1, 5, 8)).shape == (1, 1, 5, 8)
    assert UNet(levels=3, filters=2)(torch.zeros(1, 1, 5, 9)).shape == (1, 1, 5, 9)
