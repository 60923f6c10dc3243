r"""Critics (discriminators) for Wasserstein GANs.

Four convolutional critics from the papers the package reproduces:

- `DCGANCritic`: the critic of Gulrajani et al.'s WGAN-GP code ("Improved
  training of Wasserstein GANs", NeurIPS 2017), used by Dukler et al.
  ("Wasserstein of Wasserstein loss for learning generative models",
  ICML 2019);
- `PatchGANCritic`: the PatchGAN of pix2pix (Isola et al., CVPR 2017) and
  CycleGAN (Zhu et al., ICCV 2017) as used by the OT-cycleGAN of Sim et al.
  ("Optimal transport driven CycleGAN for unsupervised learning in inverse
  problems", SIAM J. Imaging Sci. 2020);
- `MultiScalePatchGAN`: PatchGANs at several resolutions, as in pix2pixHD
  (Wang et al., CVPR 2018);
- `UnpairedMRICritic`: the 7-layer critic of Lei et al. ("Wasserstein GANs
  for MR imaging: from paired to unpaired training", IEEE TMI 2020).

None of them uses batch normalisation: gradient penalties take the gradient
of the critic value of each sample with respect to that sample, which is
only meaningful when samples do not interact. Instance normalisation is
per sample and allowed. Every critic returns one value per sample, shape
``(N,)`` (`PatchGANCritic` can also return its patch map).
"""

import numbers

import torch
from torch import nn

from odl_wasserstein.util import check_choice, check_int

__all__ = ('DCGANCritic', 'PatchGANCritic', 'MultiScalePatchGAN', 'UnpairedMRICritic')

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_INSTANCE_NORM = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_AVG_POOL = {2: nn.AvgPool2d, 3: nn.AvgPool3d}


def _check_ndim(ndim):
    return check_choice(check_int(ndim, 'ndim'), 'ndim', tuple(_CONV))


def _check_slope(value, name='negative_slope'):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f'`{name}` must be a real number, got {value!r}')
    return float(value)


def _check_filters(filters, name='filters'):
    if isinstance(filters, (numbers.Number, str)) or not hasattr(filters, '__iter__'):
        raise TypeError(f'`{name}` must be a sequence of ints, got {filters!r}')
    filters = tuple(filters)
    if not filters:
        raise ValueError(f'`{name}` must not be empty, got {filters!r}')
    return tuple(check_int(f, f'{name}[{i}]', minimum=1) for i, f in enumerate(filters))


def _check_input(x, name, in_channels, ndim):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'{name} expects a torch.Tensor, got {type(x).__name__}')
    if x.ndim != ndim + 2 or x.shape[1] != in_channels:
        spatial = ', '.join(('D', 'H', 'W')[-ndim:])
        raise ValueError(f'{name} expects input of shape (N, {in_channels}, {spatial}), '
                         f'got {tuple(x.shape)}')


class DCGANCritic(nn.Module):
    """Strided-convolution critic of the WGAN-GP and WWGAN code.

    ``n_layers`` convolutions with stride 2 and ``filters * 2**k`` channels,
    each followed by a LeakyReLU, then a linear layer to one value.

    Parameters
    ----------
    in_channels : int, optional
    size : int, optional
        Side of the square input images; must be divisible by
        ``2**n_layers``.
    filters : int, optional
        Channels of the first convolution; each next one doubles them.
    n_layers : int, optional
        Number of strided convolutions.
    kernel_size : int, optional
        Odd convolution size; padding ``kernel_size // 2`` then halves the
        image exactly at each layer.
    negative_slope : float, optional
        LeakyReLU slope.

    Notes
    -----
    Input ``(N, in_channels, size, size)``, output ``(N,)``.

    Examples
    --------
    >>> critic = DCGANCritic(size=32, filters=8)
    >>> critic(torch.zeros(5, 1, 32, 32)).shape
    torch.Size([5])
    >>> sum(p.numel() for p in critic.parameters())
    6401
    """

    def __init__(self, in_channels=1, size=32, filters=64, n_layers=3, kernel_size=3,
                 negative_slope=0.2):
        super().__init__()
        self.in_channels = check_int(in_channels, 'in_channels', minimum=1)
        self.size = check_int(size, 'size', minimum=1)
        filters = check_int(filters, 'filters', minimum=1)
        n_layers = check_int(n_layers, 'n_layers', minimum=1)
        kernel_size = check_int(kernel_size, 'kernel_size', minimum=1)
        negative_slope = _check_slope(negative_slope)
        if kernel_size % 2 == 0:
            raise ValueError(f'`kernel_size` must be odd, got {kernel_size}')
        if size % 2 ** n_layers:
            raise ValueError(f'`size` must be divisible by 2**n_layers = {2 ** n_layers}, '
                             f'got size={size}')
        layers, channels = [], self.in_channels
        for k in range(n_layers):
            layers += [nn.Conv2d(channels, filters * 2 ** k, kernel_size, stride=2,
                                 padding=kernel_size // 2),
                       nn.LeakyReLU(negative_slope)]
            channels = filters * 2 ** k
        side = size // 2 ** n_layers
        layers += [nn.Flatten(), nn.Linear(channels * side * side, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        """Return the critic values ``(N,)`` of images ``(N, C, size, size)``."""
        _check_input(x, 'DCGANCritic', self.in_channels, 2)
        if tuple(x.shape[2:]) != (self.size, self.size):
            raise ValueError(f'DCGANCritic expects input of shape (N, {self.in_channels}, '
                             f'{self.size}, {self.size}), got {tuple(x.shape)}')
        return self.layers(x)[:, 0]


class PatchGANCritic(nn.Module):
    """PatchGAN critic of pix2pix/CycleGAN, without the final sigmoid.

    4x4 (or 4x4x4) convolutions with padding 1: one per entry of
    ``filters``, with stride 2 except the last (stride 1), then one to a
    single channel with stride 1. Each entry of the output map scores one
    patch of the input (70x70 for the defaults).

    Parameters
    ----------
    in_channels : int, optional
    ndim : {2, 3}, optional
        Number of spatial dimensions.
    filters : sequence of int, optional
        Channels of the hidden convolutions.
    norm : {'instance', None}, optional
        Instance normalisation (no affine parameters) after every
        convolution except the first and the final one; None disables it.
    negative_slope : float, optional
        Slope of the LeakyReLU after every convolution except the final one.
    reduction : {'mean', None}, optional
        ``'mean'``: return the mean of the patch map per sample, ``(N,)``;
        None: return the map ``(N, 1, *spatial)``.

    Attributes
    ----------
    min_size : int
        Smallest spatial side giving a non-empty patch map.

    Notes
    -----
    Each stride-2 layer maps a side ``s`` to ``s // 2`` and each stride-1
    layer to ``s - 1``: a 64x64 input gives a 6x6 map with the defaults.

    Examples
    --------
    >>> critic = PatchGANCritic(filters=(8, 16, 32, 64))
    >>> x = torch.zeros(2, 1, 64, 64)
    >>> critic(x).shape
    torch.Size([2])
    >>> PatchGANCritic(filters=(8, 16, 32, 64), reduction=None)(x).shape
    torch.Size([2, 1, 6, 6])
    >>> critic.min_size
    24
    >>> PatchGANCritic(ndim=3, filters=(2, 4))(torch.zeros(2, 1, 8, 8, 8)).shape
    torch.Size([2])
    """

    def __init__(self, in_channels=1, ndim=2, filters=(64, 128, 256, 512), norm='instance',
                 negative_slope=0.2, reduction='mean'):
        super().__init__()
        self.in_channels = check_int(in_channels, 'in_channels', minimum=1)
        self.ndim = _check_ndim(ndim)
        filters = _check_filters(filters)
        negative_slope = _check_slope(negative_slope)
        check_choice(norm, 'norm', ('instance', None))
        check_choice(reduction, 'reduction', ('mean', None))
        self.reduction = reduction
        conv, inorm = _CONV[self.ndim], _INSTANCE_NORM[self.ndim]
        self._strides = [2] * (len(filters) - 1) + [1, 1]
        layers, channels = [], self.in_channels
        for k, (out, stride) in enumerate(zip(filters, self._strides)):
            layers.append(conv(channels, out, 4, stride=stride, padding=1))
            if norm == 'instance' and k > 0:
                layers.append(inorm(out, affine=False))
            layers.append(nn.LeakyReLU(negative_slope))
            channels = out
        layers.append(conv(channels, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)
        self.min_size = 1
        while self._map_size(self.min_size) < 1:
            self.min_size += 1

    def _map_size(self, side):
        for stride in self._strides:
            side = (side + 2 - 4) // stride + 1
        return side

    def forward(self, x):
        """Return the critic values ``(N,)``, or the patch map if ``reduction`` is None."""
        _check_input(x, 'PatchGANCritic', self.in_channels, self.ndim)
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(f'PatchGANCritic needs a spatial size of at least '
                             f'{self.min_size} in every dimension, got {tuple(x.shape[2:])}')
        out = self.layers(x)
        if self.reduction == 'mean':
            return out.flatten(1).mean(1)
        return out


class MultiScalePatchGAN(nn.Module):
    """Independent PatchGAN critics at full, 1/2, 1/4, ... resolution.

    As in pix2pixHD, scale ``k`` sees the input average-pooled ``k`` times
    (kernel 3, stride 2, padding 1, padding excluded from the averages).
    The critic value is the mean over scales of each scale's patch mean.

    Parameters
    ----------
    in_channels : int, optional
    ndim : {2, 3}, optional
    n_scales : int, optional
    **patchgan_kwargs
        Further arguments of `PatchGANCritic`, the same for every scale
        (``reduction`` can only be ``'mean'``).

    Attributes
    ----------
    critics : `torch.nn.ModuleList`
        One `PatchGANCritic` per scale, finest first.
    min_size : int
        Smallest full-resolution side for which the coarsest scale still
        gives a non-empty patch map.

    Examples
    --------
    >>> critic = MultiScalePatchGAN(n_scales=2, filters=(8, 16, 32))
    >>> x = torch.zeros(3, 1, 32, 32)
    >>> critic(x).shape
    torch.Size([3])
    >>> [s.shape for s in critic.forward_scales(x)]
    [torch.Size([3]), torch.Size([3])]
    """

    def __init__(self, in_channels=1, ndim=2, n_scales=3, **patchgan_kwargs):
        super().__init__()
        n_scales = check_int(n_scales, 'n_scales', minimum=1)
        reduction = patchgan_kwargs.pop('reduction', 'mean')
        if reduction != 'mean':
            raise ValueError(f"`reduction` must be 'mean' for MultiScalePatchGAN, "
                             f'got {reduction!r}')
        self.critics = nn.ModuleList(
            PatchGANCritic(in_channels, ndim, reduction='mean', **patchgan_kwargs)
            for _ in range(n_scales))
        self.in_channels, self.ndim = self.critics[0].in_channels, self.critics[0].ndim
        self.downsample = _AVG_POOL[self.ndim](3, stride=2, padding=1,
                                               count_include_pad=False)
        # The pooling maps a side s to ceil(s / 2).
        self.min_size = self.critics[0].min_size
        for _ in range(n_scales - 1):
            self.min_size = 2 * self.min_size - 1

    def forward_scales(self, x):
        """Return the list of per-scale critic values, each ``(N,)``, finest first."""
        _check_input(x, 'MultiScalePatchGAN', self.in_channels, self.ndim)
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(f'MultiScalePatchGAN with {len(self.critics)} scales needs a '
                             f'spatial size of at least {self.min_size} in every dimension, '
                             f'got {tuple(x.shape[2:])}')
        outputs = []
        for k, critic in enumerate(self.critics):
            if k > 0:
                x = self.downsample(x)
            outputs.append(critic(x))
        return outputs

    def forward(self, x):
        """Return the critic values ``(N,)``: the mean over scales."""
        return torch.stack(self.forward_scales(x)).mean(0)


class UnpairedMRICritic(nn.Module):
    """7-layer critic of Lei et al.'s unpaired WGAN for MR imaging.

    Four 3x3 convolutions with stride 2 (4, 8, 16, 32 filters), a 3x3
    convolution with stride 1 and ``hidden`` filters, a 1x1 convolution with
    ``hidden`` filters and a 1x1 convolution to one channel, with a
    LeakyReLU after every layer but the last; the critic value is the
    spatial mean of the last map.

    Parameters
    ----------
    in_channels : int, optional
        2 for complex images given as real and imaginary channels.
    filters : sequence of int, optional
        Channels of the stride-2 convolutions.
    hidden : int, optional
        Channels of layers 5 and 6. The paper does not give them;
        64 continues the doubling of the first four layers.
    negative_slope : float, optional
        LeakyReLU slope.

    Notes
    -----
    Input ``(N, in_channels, H, W)`` of any size, output ``(N,)``.

    Examples
    --------
    >>> critic = UnpairedMRICritic()
    >>> critic(torch.zeros(4, 2, 40, 48)).shape
    torch.Size([4])
    >>> [m.out_channels for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    [4, 8, 16, 32, 64, 64, 1]
    """

    def __init__(self, in_channels=2, filters=(4, 8, 16, 32), hidden=64, negative_slope=0.2):
        super().__init__()
        self.in_channels = check_int(in_channels, 'in_channels', minimum=1)
        filters = _check_filters(filters)
        hidden = check_int(hidden, 'hidden', minimum=1)
        negative_slope = _check_slope(negative_slope)
        layers, channels = [], self.in_channels
        for out in filters:
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1),
                       nn.LeakyReLU(negative_slope)]
            channels = out
        layers += [nn.Conv2d(channels, hidden, 3, padding=1), nn.LeakyReLU(negative_slope),
                   nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(negative_slope),
                   nn.Conv2d(hidden, 1, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        """Return the critic values ``(N,)`` of images ``(N, C, H, W)``."""
        _check_input(x, 'UnpairedMRICritic', self.in_channels, 2)
        return self.layers(x).flatten(1).mean(1)
