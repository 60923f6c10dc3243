"""Tests for `odl_wasserstein.nn.critics` and `odl_wasserstein.nn.generators`."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from odl_wasserstein.nn import (
    DCGANCritic, DCGANGenerator, MultiScalePatchGAN, PatchGANCritic, UnpairedMRICritic)

SMALL = (4, 8, 8, 8)  # PatchGAN filters small enough for fast tests


def _rand(shape, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=dtype)


# Critic factories and matching input shapes, small but with every layer kind.
CRITICS = {
    'dcgan': (lambda: DCGANCritic(size=16, filters=4), (1, 16, 16)),
    'dcgan-k5-c3': (lambda: DCGANCritic(in_channels=3, size=16, filters=4, n_layers=2,
                                        kernel_size=5), (3, 16, 16)),
    'patchgan-2d': (lambda: PatchGANCritic(filters=SMALL), (1, 32, 32)),
    'patchgan-3d': (lambda: PatchGANCritic(ndim=3, filters=(2, 4, 4)), (1, 16, 16, 16)),
    'patchgan-nonorm': (lambda: PatchGANCritic(filters=SMALL, norm=None), (1, 32, 32)),
    'multiscale-2d': (lambda: MultiScalePatchGAN(n_scales=2, filters=SMALL), (1, 48, 48)),
    'multiscale-3d': (lambda: MultiScalePatchGAN(ndim=3, n_scales=2, filters=(2, 4, 4)),
                      (1, 24, 24, 24)),
    'unpaired-mri': (lambda: UnpairedMRICritic(), (2, 24, 40)),
}


def _critic(name, dtype):
    torch.manual_seed(0)
    make, shape = CRITICS[name]
    critic = make().to(dtype)
    return critic, _rand((3,) + shape, 1, dtype)


# --- Shapes and dtypes ------------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('name', sorted(CRITICS))
def test_critic_shape_and_dtype(name, dtype):
    critic, x = _critic(name, dtype)
    out = critic(x)
    assert out.shape == (3,)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('name', sorted(CRITICS))
def test_critic_has_no_batch_norm(name):
    critic, _ = _critic(name, torch.float32)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())


@pytest.mark.parametrize('name', sorted(CRITICS))
def test_critic_is_per_sample(name):
    # Gradient penalties need critic(x)[i] to depend on x[i] only.
    critic, x = _critic(name, torch.float64)
    out = critic(x)
    for i in range(x.shape[0]):
        single = critic(x[i:i + 1])
        assert single.shape == (1,)
        assert abs(out[i].item() - single.item()) < 1e-6
    # And changing one sample leaves the others' values unchanged.
    y = x.clone()
    y[0] = _rand(x.shape[1:], 7)
    changed = critic(y)
    assert torch.allclose(changed[1:], out[1:], rtol=0, atol=1e-12)
    assert abs(changed[0].item() - out[0].item()) > 1e-8


@pytest.mark.parametrize('name', sorted(CRITICS))
def test_critic_double_backward(name):
    critic, x = _critic(name, torch.float64)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    assert grad.shape == x.shape
    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    penalty.backward()
    weights = [p for p in critic.parameters() if p.ndim > 1]
    assert len(weights) >= 3  # every critic has at least three weight layers
    for p in weights:
        assert p.grad is not None
        assert torch.isfinite(p.grad).all()
        assert p.grad.abs().max() > 0


# --- DCGANCritic ------------------------------------------------------------

def test_dcgan_critic_structure():
    critic = DCGANCritic(in_channels=2, size=32, filters=8, n_layers=3, kernel_size=5,
                         negative_slope=0.1)
    convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert all(c.stride == (2, 2) and c.padding == (2, 2) and c.kernel_size == (5, 5)
               for c in convs)
    relus = [m for m in critic.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(relus) == 3 and all(r.negative_slope == 0.1 for r in relus)
    linear = critic.layers[-1]
    assert isinstance(linear, nn.Linear)
    assert (linear.in_features, linear.out_features) == (32 * 4 * 4, 1)


def test_dcgan_critic_errors():
    with pytest.raises(ValueError, match=r'`size` must be divisible by 2\*\*n_layers = 8, '
                                         r'got size=20'):
        DCGANCritic(size=20)
    with pytest.raises(ValueError, match='`kernel_size` must be odd, got 4'):
        DCGANCritic(kernel_size=4)
    with pytest.raises(ValueError, match='`n_layers` must be an int >= 1, got 0'):
        DCGANCritic(n_layers=0)
    with pytest.raises(TypeError, match='`filters` must be an int >= 1, got 2.5'):
        DCGANCritic(filters=2.5)
    with pytest.raises(TypeError, match="`negative_slope` must be a real number, got 'x'"):
        DCGANCritic(negative_slope='x')
    critic = DCGANCritic(size=16, filters=2)
    with pytest.raises(ValueError, match=r'shape \(N, 1, 16, 16\), got \(2, 1, 16, 8\)'):
        critic(torch.zeros(2, 1, 16, 8))
    with pytest.raises(ValueError, match=r'got \(2, 3, 16, 16\)'):
        critic(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r'got \(1, 16, 16\)'):
        critic(torch.zeros(1, 16, 16))


# --- PatchGANCritic ---------------------------------------------------------

@pytest.mark.parametrize('ndim', [2, 3])
def test_patchgan_structure(ndim):
    critic = PatchGANCritic(in_channels=3, ndim=ndim)
    conv_type = {2: nn.Conv2d, 3: nn.Conv3d}[ndim]
    norm_type = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[ndim]
    layers = list(critic.layers)
    conv_at = [i for i, m in enumerate(layers) if isinstance(m, conv_type)]
    convs = [layers[i] for i in conv_at]
    assert len(convs) == 5
    assert [c.in_channels for c in convs] == [3, 64, 128, 256, 512]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride for c in convs] == [(2,) * ndim] * 3 + [(1,) * ndim] * 2
    assert all(c.kernel_size == (4,) * ndim and c.padding == (1,) * ndim for c in convs)
    # first conv: straight to LeakyReLU; middle convs: instance norm, then LeakyReLU
    assert isinstance(layers[conv_at[0] + 1], nn.LeakyReLU)
    for i in conv_at[1:-1]:
        assert isinstance(layers[i + 1], norm_type)
        assert not layers[i + 1].affine
        assert isinstance(layers[i + 2], nn.LeakyReLU)
    # final conv is the last layer: no norm, activation or sigmoid after it
    assert conv_at[-1] == len(layers) - 1
    assert sum(isinstance(m, norm_type) for m in layers) == 3
    assert sum(isinstance(m, nn.LeakyReLU) for m in layers) == 4
    assert not any(isinstance(m, nn.Sigmoid) for m in critic.modules())


def test_patchgan_without_norm():
    critic = PatchGANCritic(norm=None)
    assert not any(isinstance(m, nn.modules.instancenorm._InstanceNorm)
                   for m in critic.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in critic.modules()) == 5
    assert len(critic.layers) == 9  # 5 convs and 4 LeakyReLUs


def test_patchgan_map_size_and_mean():
    # 64 -> 32 -> 16 -> 8 (k4, s2, p1: s -> s // 2), -> 7 -> 6 (k4, s1, p1: s -> s - 1)
    critic = PatchGANCritic(filters=SMALL, reduction=None)
    x = _rand((2, 1, 64, 64), 0, torch.float32)
    patches = critic(x)
    assert patches.shape == (2, 1, 6, 6)
    assert critic(_rand((2, 1, 64, 40), 0, torch.float32)).shape == (2, 1, 6, 3)
    assert critic(torch.zeros(1, 1, 24, 24)).shape == (1, 1, 1, 1)
    # the default filters give the same map (map size only depends on their count)
    assert PatchGANCritic(reduction=None)(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 6, 6)
    mean = PatchGANCritic(filters=SMALL)
    mean.load_state_dict(critic.state_dict())
    assert torch.allclose(mean(x), patches.mean(dim=(1, 2, 3)), rtol=0, atol=1e-6)


def test_patchgan_3d_map_size():
    critic = PatchGANCritic(ndim=3, filters=(2, 4, 4, 4), reduction=None)
    # 32 -> 16 -> 8 -> 4 -> 3 -> 2 and 24 -> ... -> 1
    assert critic(torch.zeros(2, 1, 32, 32, 24)).shape == (2, 1, 2, 2, 1)


def test_patchgan_min_size():
    assert PatchGANCritic().min_size == 24
    assert PatchGANCritic(filters=(8, 8)).min_size == 6  # s // 2 - 2 >= 1
    critic = PatchGANCritic(filters=SMALL)
    assert critic(torch.zeros(1, 1, 24, 24)).shape == (1,)
    with pytest.raises(ValueError, match=r'at least 24 in every dimension, got \(24, 23\)'):
        critic(torch.zeros(1, 1, 24, 23))


def test_patchgan_errors():
    with pytest.raises(ValueError, match=r'`ndim` must be one of \(2, 3\), got 1'):
        PatchGANCritic(ndim=1)
    with pytest.raises(ValueError,
                       match=r"`norm` must be one of \('instance', None\), got 'batch'"):
        PatchGANCritic(norm='batch')
    with pytest.raises(ValueError, match=r"`reduction` must be one of \('mean', None\), got 'sum'"):
        PatchGANCritic(reduction='sum')
    with pytest.raises(ValueError, match=r'`filters\[1\]` must be an int >= 1, got 0'):
        PatchGANCritic(filters=(8, 0))
    with pytest.raises(ValueError, match=r'`filters` must not be empty, got \(\)'):
        PatchGANCritic(filters=())
    with pytest.raises(TypeError, match='`filters` must be a sequence of ints, got 64'):
        PatchGANCritic(filters=64)
    with pytest.raises(ValueError, match='`in_channels` must be an int >= 1, got 0'):
        PatchGANCritic(in_channels=0)
    critic = PatchGANCritic(ndim=3, filters=(2, 2))
    with pytest.raises(ValueError, match=r'shape \(N, 1, D, H, W\), got \(1, 1, 8, 8\)'):
        critic(torch.zeros(1, 1, 8, 8))
    with pytest.raises(TypeError, match='expects a torch.Tensor, got list'):
        critic([0.0])


# --- MultiScalePatchGAN -----------------------------------------------------

def test_multiscale_critics_and_mean():
    critic = MultiScalePatchGAN(n_scales=3, filters=SMALL, norm=None)
    assert isinstance(critic.critics, nn.ModuleList)
    assert len(critic.critics) == 3
    assert all(isinstance(c, PatchGANCritic) for c in critic.critics)
    # independent parameters per scale
    assert len({id(c.layers[0].weight) for c in critic.critics}) == 3
    assert not torch.equal(critic.critics[0].layers[0].weight,
                           critic.critics[1].layers[0].weight)
    x = _rand((2, 1, 96, 96), 0, torch.float32)
    scales = critic.forward_scales(x)
    assert len(scales) == 3 and all(s.shape == (2,) for s in scales)
    expected = (scales[0] + scales[1] + scales[2]) / 3
    assert torch.allclose(critic(x), expected, rtol=0, atol=1e-6)


def test_multiscale_downsampling():
    critic = MultiScalePatchGAN(n_scales=3, filters=SMALL)
    seen = []
    for c in critic.critics:
        c.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    x = _rand((2, 1, 96, 100), 0)
    critic.double()
    scales = critic.forward_scales(x)
    assert [tuple(s.shape) for s in seen] == [(2, 1, 96, 100), (2, 1, 48, 50),
                                              (2, 1, 24, 25)]
    half = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    assert torch.allclose(seen[1], half, rtol=0, atol=1e-12)
    # the border averages exclude padding: a constant image stays constant
    ones = torch.ones(1, 1, 96, 96, dtype=torch.float64)
    assert torch.allclose(critic.downsample(ones), torch.ones(1, 1, 48, 48,
                                                              dtype=torch.float64))
    assert torch.allclose(scales[1], critic.critics[1](half), rtol=0, atol=1e-12)


def test_multiscale_min_size_and_errors():
    critic = MultiScalePatchGAN(n_scales=3, filters=SMALL)
    assert critic.min_size == 93  # ceil(ceil(s / 2) / 2) >= 24
    assert critic(torch.zeros(1, 1, 93, 93)).shape == (1,)
    with pytest.raises(ValueError, match=r'3 scales needs a spatial size of at least 93 '
                                         r'in every dimension, got \(92, 93\)'):
        critic(torch.zeros(1, 1, 92, 93))
    with pytest.raises(ValueError, match='`n_scales` must be an int >= 1, got 0'):
        MultiScalePatchGAN(n_scales=0)
    with pytest.raises(ValueError, match="`reduction` must be 'mean' for "
                                         "MultiScalePatchGAN, got None"):
        MultiScalePatchGAN(reduction=None)
    with pytest.raises(ValueError, match=r'`ndim` must be one of \(2, 3\), got 4'):
        MultiScalePatchGAN(ndim=4)


# --- UnpairedMRICritic ------------------------------------------------------

def test_unpaired_mri_structure():
    critic = UnpairedMRICritic()
    convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7
    assert [c.out_channels for c in convs] == [4, 8, 16, 32, 64, 64, 1]
    assert [c.in_channels for c in convs] == [2, 4, 8, 16, 32, 64, 64]
    assert [c.stride for c in convs] == [(2, 2)] * 4 + [(1, 1)] * 3
    assert [c.kernel_size for c in convs] == [(3, 3)] * 5 + [(1, 1)] * 2
    assert sum(isinstance(m, nn.LeakyReLU) for m in critic.modules()) == 6
    assert critic.layers[-1] is convs[-1]
    assert [c.out_channels for c in UnpairedMRICritic(hidden=16).modules()
            if isinstance(c, nn.Conv2d)][-3:] == [16, 16, 1]


def test_unpaired_mri_is_spatial_mean():
    critic = UnpairedMRICritic().double()
    x = _rand((2, 2, 33, 17), 0)
    # 33 -> 17 -> 9 -> 5 -> 3 and 17 -> 9 -> 5 -> 3 -> 2
    assert critic.layers(x).shape == (2, 1, 3, 2)
    assert torch.allclose(critic(x), critic.layers(x).mean(dim=(1, 2, 3)), rtol=0,
                          atol=1e-12)


def test_unpaired_mri_errors():
    with pytest.raises(ValueError, match='`hidden` must be an int >= 1, got -1'):
        UnpairedMRICritic(hidden=-1)
    critic = UnpairedMRICritic()
    with pytest.raises(ValueError, match=r'shape \(N, 2, H, W\), got \(1, 1, 16, 16\)'):
        critic(torch.zeros(1, 1, 16, 16))


# --- DCGANGenerator ---------------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('size', [8, 32, 64])
def test_generator_shape(size, dtype):
    gen = DCGANGenerator(latent_dim=8, out_channels=2, size=size, filters=4).to(dtype)
    out = gen(_rand((3, 8), 0, dtype))
    assert out.shape == (3, 2, size, size)
    assert out.dtype == dtype
    assert gen.latent_dim == 8


def test_generator_structure():
    gen = DCGANGenerator(latent_dim=8, size=32, filters=4)
    linear = gen.input[0]
    assert (linear.in_features, linear.out_features) == (8, 16 * 16)
    deconvs = [m for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(16, 8), (8, 4), (4, 1)]
    assert all(d.kernel_size == (2, 2) and d.stride == (2, 2) for d in deconvs)
    assert [m.num_features for m in gen.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)] == [256, 8, 4]


@pytest.mark.parametrize('output, low, high', [('sigmoid', 0, 1), ('tanh', -1, 1)])
def test_generator_output_range(output, low, high):
    gen = DCGANGenerator(latent_dim=8, size=16, filters=4, output=output)
    # large latents and weights push the activation towards its bounds
    out = gen(10 * _rand((16, 8), 0, torch.float32))
    assert out.min() > low and out.max() < high
    assert out.min() < low + 0.5 * (high - low) < out.max()


def test_generator_unbounded_output():
    gen = DCGANGenerator(latent_dim=8, size=16, filters=4, output=None)
    assert isinstance(gen.layers[-1], nn.Identity)
    out = gen(_rand((16, 8), 0, torch.float32))
    assert out.min() < 0 < out.max()


def test_generator_sample_reproducible():
    gen = DCGANGenerator(latent_dim=8, size=16, filters=4).double()
    a = gen.sample(4, generator=torch.Generator().manual_seed(3))
    b = gen.sample(4, generator=torch.Generator().manual_seed(3))
    c = gen.sample(4, generator=torch.Generator().manual_seed(4))
    assert a.shape == (4, 1, 16, 16) and a.dtype == torch.float64
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(a, gen(z))
    assert a.requires_grad  # sample does not switch gradients off


@pytest.mark.parametrize('size', [0, 4, 12, 24, 33, 48])
def test_generator_bad_size(size):
    with pytest.raises(ValueError, match=f'`size` must be .*, got {size}'):
        DCGANGenerator(size=size)


def test_generator_errors():
    with pytest.raises(ValueError, match=r"`output` must be one of \('sigmoid', 'tanh', "
                                         r"None\), got 'relu'"):
        DCGANGenerator(output='relu')
    with pytest.raises(ValueError, match='`latent_dim` must be an int >= 1, got 0'):
        DCGANGenerator(latent_dim=0)
    gen = DCGANGenerator(latent_dim=8, size=8, filters=2)
    with pytest.raises(ValueError, match=r'shape \(N, 8\), got \(2, 7\)'):
        gen(torch.zeros(2, 7))
    with pytest.raises(ValueError, match='`n` must be an int >= 1, got 0'):
        gen.sample(0)
