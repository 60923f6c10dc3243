r"""U-Net in 2D and 3D (Ronneberger et al., MICCAI 2015), with the papers' settings.

`UNet` is the encoder-decoder with skip connections used as the generator of
the OT-driven cycleGAN for accelerated MRI (Sim et al., "Optimal transport
driven CycleGAN for unsupervised learning in inverse problems", SIAM J.
Imaging Sci. 2020), as fastMRI's image-domain baseline (Zbontar et al.,
"fastMRI: an open dataset and benchmarks for accelerated MRI", 2018) and,
in 3D with a final sigmoid, for deconvolution microscopy. Each of its
``levels`` levels holds two ``conv3x3 -> [instance norm] -> leaky ReLU``
layers; max- (or average-) pooling goes down, a stride-2 transposed
convolution goes up, encoder features are concatenated to the decoder's,
and a 1x1 convolution gives the output. Inputs of any size are padded to a
multiple of ``2**levels`` and the output is cropped back.

`UNet.ot_cyclegan` and `UNet.fastmri` build the two papers' networks; their
docstrings say what is taken from the authors' code and what is ours.
"""

import torch
from torch import nn
from torch.nn import functional as F

from odl_wasserstein.util import check_choice, check_int, check_real

__all__ = ('UNet',)

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_INSTANCE_NORM = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_DROPOUT = {2: nn.Dropout2d, 3: nn.Dropout3d}
_POOL = {'max': {2: nn.MaxPool2d, 3: nn.MaxPool3d},
         'avg': {2: nn.AvgPool2d, 3: nn.AvgPool3d}}
_OUTPUTS = {None: nn.Identity, 'sigmoid': nn.Sigmoid, 'tanh': nn.Tanh}
_PAD_MODES = {'zeros': 'constant', 'replicate': 'replicate'}
_INITS = ('xavier', 'default')


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f'`{name}` must be True or False, got {value!r}')
    return value


def _norm_flags(norm, levels):
    """Split ``norm`` into (encoder flags, bottleneck flag, decoder flags), top level first."""
    if isinstance(norm, bool):
        return (norm,) * levels, norm, (norm,) * levels
    if isinstance(norm, (str, bytes)) or not hasattr(norm, '__iter__'):
        raise TypeError(f'`norm` must be a bool or a sequence of bools, got {norm!r}')
    flags = tuple(norm)
    for i, flag in enumerate(flags):
        _check_bool(flag, f'norm[{i}]')
    if len(flags) == levels + 1:
        return flags[:levels], flags[levels], flags[:levels]
    if len(flags) == 2 * levels + 1:
        return flags[:levels], flags[levels], tuple(reversed(flags[levels + 1:]))
    raise ValueError(f'`norm` must have levels + 1 = {levels + 1} entries (one per level, '
                     f'bottleneck last) or 2 * levels + 1 = {2 * levels + 1} (one per block '
                     f'in data-flow order), got {len(flags)}')


def _conv_block(ndim, in_channels, out_channels, norm, *, affine, negative_slope, bias,
                dropout):
    """``2 x (conv3x3 -> [instance norm] -> leaky ReLU -> [channel dropout])``."""
    layers = []
    for channels in (in_channels, out_channels):
        layers.append(_CONV[ndim](channels, out_channels, 3, padding=1, bias=bias))
        if norm:
            layers.append(_INSTANCE_NORM[ndim](out_channels, affine=affine))
        layers.append(nn.LeakyReLU(negative_slope))
        if dropout > 0:
            layers.append(_DROPOUT[ndim](dropout))
    return nn.Sequential(*layers)


def _up_block(ndim, in_channels, out_channels, norm, activation, *, affine, negative_slope,
              bias):
    """Stride-2 transposed conv (kernel 2), then [norm ->] leaky ReLU if ``activation``."""
    layers = [_CONV_TRANSPOSE[ndim](in_channels, out_channels, 2, stride=2, bias=bias)]
    if activation:
        if norm:
            layers.append(_INSTANCE_NORM[ndim](out_channels, affine=affine))
        layers.append(nn.LeakyReLU(negative_slope))
    return nn.Sequential(*layers)


def _xavier_init(module):
    # tf.contrib.layers.xavier_initializer() of the authors' code: uniform, gain 1;
    # tf.layers biases start at zero.
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class UNet(nn.Module):
    """U-Net for 2D or 3D images of any size and channel count.

    Level ``k = 0, ..., levels - 1`` works at ``filters * 2**k`` channels
    and at ``1 / 2**k`` of the (padded) input size; the bottleneck has
    ``filters * 2**levels`` channels (32-64-128-256 and 512 for the
    defaults). Each level's encoder and decoder and the bottleneck are a
    block ``2 x (conv3x3 -> [instance norm] -> leaky ReLU)``; the decoder of
    level ``k`` sees ``concat(encoder_k, up(previous))``, the skip first.
    The defaults are the OT-cycleGAN layout with (non-affine) instance norm
    in every block, a choice of ours; `UNet.ot_cyclegan` and `UNet.fastmri`
    give the papers' settings.

    Parameters
    ----------
    in_channels, out_channels : int, optional
        E.g. 2 for complex MR images given as real and imaginary channels.
    ndim : {2, 3}, optional
        Number of spatial dimensions.
    levels : int, optional
        Number of poolings; 0 gives one block and the 1x1 convolution.
    filters : int, optional
        Channels of level 0; doubled at each level.
    norm : bool or sequence of bool, optional
        Instance normalisation after the 3x3 convolutions: one flag for all
        blocks; ``levels + 1`` flags (level 0 first, the bottleneck last;
        level ``k``'s flag serves its encoder and decoder); or
        ``2 * levels + 1`` flags, one per block in data-flow order (encoders
        from level 0 down, bottleneck, decoders from the deepest level up).
    affine : bool, optional
        Learnable scale and shift in the instance normalisations.
    negative_slope : float, optional
        Slope of the leaky ReLUs; 0 gives a ReLU.
    pool : {'max', 'avg'}, optional
        2x2 (2x2x2) pooling with stride 2.
    bias : bool, optional
        Biases in the 3x3 and transposed convolutions (the 1x1 output
        convolution always has one).
    up_activation : bool, optional
        False: plain linear transposed convolutions (the OT-cycleGAN code);
        True: each is followed by the instance norm of its level's decoder
        (if on) and a leaky ReLU (fastMRI).
    dropout : float, optional
        Probability of channel dropout after each leaky ReLU of the blocks
        (as fastMRI); 0 adds no dropout layer.
    output : {None, 'sigmoid', 'tanh'}, optional
        Output activation: none, values in (0, 1) (microscopy), in (-1, 1).
    padding_mode : {'zeros', 'replicate'}, optional
        How the input is padded to a multiple of ``2**levels``.
    init : {'xavier', 'default'}, optional
        ``'xavier'``: Xavier/Glorot-uniform weights (gain 1) and zero biases
        for every convolution, as the OT-cycleGAN code
        (``tf.contrib.layers.xavier_initializer()`` is uniform); ``'default'``:
        torch's default initialisation (fastMRI).
    residual : bool, optional
        Learn a correction of the input: ``x + U(x)`` (before the output
        activation), with the final 1x1 convolution initialised to zero,
        so that the untrained network is the identity (an MR image
        reconstructor then starts from the zero-filled image). Needs
        ``in_channels == out_channels``. Neither paper's network does this;
        it shortens training (see the OT-cycleGAN guide page).

    Attributes
    ----------
    encoders, decoders, upsamplers : `torch.nn.ModuleList`
        One entry per level, level 0 first; ``upsamplers[k]`` maps level
        ``k + 1`` (or the bottleneck) to level ``k``.
    bottleneck, head, activation : `torch.nn.Module`
        The deepest block, the 1x1 convolution and the output activation.
    multiple : int
        ``2**levels``, the size every spatial axis is padded to a multiple of.

    Notes
    -----
    Input ``(N, in_channels, H, W)`` or ``(N, in_channels, D, H, W)`` of
    any size, output ``(N, out_channels, *same size)``. Each spatial axis of
    size ``s`` is padded by ``p = -s mod 2**levels``: ``p // 2`` in front
    and the rest at the end (bottom, right, back), so an odd ``p`` puts the
    extra sample at the end; the output is cropped with the same offsets.
    The OT-cycleGAN code pads ``p / 2`` zeros on both sides of H only
    (and only works for even ``p``); padding every axis is our choice.

    No layer mixes samples (instance, never batch, normalisation), so each
    sample of a batch is processed independently. A normalised level must
    hold more than one pixel: with the defaults (bottleneck normalised) the
    padded input must exceed ``2**levels`` along some axis, else a
    `ValueError` says so. A bias right before an instance norm is cancelled
    by it (zero gradient); it is kept because the OT-cycleGAN code has it.

    Examples
    --------
    >>> net = UNet(levels=2, filters=4)
    >>> net(torch.zeros(3, 1, 13, 20)).shape
    torch.Size([3, 1, 13, 20])
    >>> net.pad_widths((13, 20))
    ((1, 2), (0, 0))
    >>> [block[0].out_channels for block in net.encoders], net.bottleneck[0].out_channels
    ([4, 8], 16)
    >>> net3d = UNet(2, 1, ndim=3, levels=1, filters=2, output='sigmoid')
    >>> net3d(torch.zeros(1, 2, 5, 6, 7)).shape
    torch.Size([1, 1, 5, 6, 7])
    """

    def __init__(self, in_channels=1, out_channels=1, ndim=2, levels=4, filters=32, norm=True,
                 *, affine=False, negative_slope=0.2, pool='max', bias=True,
                 up_activation=False, dropout=0.0, output=None, padding_mode='zeros',
                 init='xavier', residual=False):
        super().__init__()
        self.in_channels = check_int(in_channels, 'in_channels', minimum=1)
        self.out_channels = check_int(out_channels, 'out_channels', minimum=1)
        self.ndim = check_choice(check_int(ndim, 'ndim'), 'ndim', tuple(_CONV))
        self.levels = check_int(levels, 'levels', minimum=0)
        self.filters = check_int(filters, 'filters', minimum=1)
        self.multiple = 2 ** self.levels
        self.padding_mode = check_choice(padding_mode, 'padding_mode', tuple(_PAD_MODES))
        check_choice(pool, 'pool', tuple(_POOL))
        check_choice(output, 'output', tuple(_OUTPUTS))
        check_choice(init, 'init', _INITS)
        self.residual = _check_bool(residual, 'residual')
        if self.residual and self.in_channels != self.out_channels:
            raise ValueError(f'`residual` needs in_channels == out_channels, got '
                             f'{self.in_channels} and {self.out_channels}')
        settings = dict(affine=_check_bool(affine, 'affine'),
                        negative_slope=check_real(negative_slope, 'negative_slope'),
                        bias=_check_bool(bias, 'bias'))
        self._build(_norm_flags(norm, self.levels), settings,
                    _check_bool(up_activation, 'up_activation'),
                    check_real(dropout, 'dropout', minimum=0, maximum=1))
        self.pool = _POOL[pool][self.ndim](2)
        self.activation = _OUTPUTS[output]()
        if init == 'xavier':
            self.apply(_xavier_init)
        if self.residual:
            nn.init.zeros_(self.head.weight)
            if self.head.bias is not None:
                nn.init.zeros_(self.head.bias)

    def _build(self, flags, settings, up_activation, dropout):
        encoder_norm, bottleneck_norm, decoder_norm = flags
        normalised = [k for k in range(self.levels) if encoder_norm[k] or decoder_norm[k]]
        self._deepest_norm = self.levels if bottleneck_norm else max(normalised, default=None)
        widths = [self.filters * 2 ** k for k in range(self.levels + 1)]
        inputs = [self.in_channels] + widths[:-1]
        ndim, levels = self.ndim, self.levels
        self.encoders = nn.ModuleList(
            _conv_block(ndim, inputs[k], widths[k], encoder_norm[k], dropout=dropout,
                        **settings) for k in range(levels))
        self.bottleneck = _conv_block(ndim, inputs[levels], widths[levels], bottleneck_norm,
                                      dropout=dropout, **settings)
        self.upsamplers = nn.ModuleList(
            _up_block(ndim, widths[k + 1], widths[k], decoder_norm[k], up_activation,
                      **settings) for k in range(levels))
        self.decoders = nn.ModuleList(
            _conv_block(ndim, 2 * widths[k], widths[k], decoder_norm[k], dropout=dropout,
                        **settings) for k in range(levels))
        self.head = _CONV[ndim](widths[0], self.out_channels, 1)

    @classmethod
    def ot_cyclegan(cls, in_channels=2, out_channels=2, **kwargs):
        """The generator of the OT-cycleGAN code (okt0711/cycleGAN_AccMRI).

        From the authors' ``UnetGenerator``: 4 levels, 32 filters
        (32-64-128-256, 512 at the bottleneck), leaky ReLU 0.2 (TensorFlow's
        default slope), affine instance norm in every block except the
        level-0 *encoder* (their level-1 decoder is normalised), convolutions
        with biases, plain 2x2 stride-2 transposed convolutions, max-pooling,
        Xavier-uniform weights and zero biases, zero padding, no output
        activation; 2 channels (real, imaginary) for single-coil data (the
        code has ``2 * nC`` for ``nC`` coils; its OT-cycleGAN script runs
        ``--generator unet --ngf 32 --norm instance --nC 1``). Ours: padding
        every axis, not only H, and the odd remainder at the end.

        Parameters
        ----------
        in_channels, out_channels : int, optional
        **kwargs
            Further `UNet` arguments, overriding the above (``norm``
            defaults to the pattern above for the given ``levels``).

        Examples
        --------
        >>> net = UNet.ot_cyclegan()
        >>> sum(p.numel() for p in net.parameters())
        7765602
        >>> net.encoders[0]
        Sequential(
          (0): Conv2d(2, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (1): LeakyReLU(negative_slope=0.2)
          (2): Conv2d(32, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (3): LeakyReLU(negative_slope=0.2)
        )
        """
        levels = check_int(kwargs.setdefault('levels', 4), 'levels')
        kwargs.setdefault('norm', (False,) + (True,) * (2 * levels))
        settings = dict(ndim=2, filters=32, affine=True, negative_slope=0.2, pool='max',
                        bias=True, up_activation=False, output=None, padding_mode='zeros',
                        init='xavier')
        settings.update(kwargs)
        return cls(in_channels, out_channels, **settings)

    @classmethod
    def fastmri(cls, in_channels=1, out_channels=1, **kwargs):
        """fastMRI's baseline U-Net (``fastmri.models.Unet``).

        As ``Unet(in_chans=1, out_chans=1, chans=32, num_pool_layers=4,
        drop_prob=0.0)``, the defaults of fastMRI's ``train_unet_demo.py``
        for magnitude images: 4 levels, 32 filters, non-affine instance
        norm everywhere, leaky ReLU 0.2, bias-free 3x3 and transposed
        convolutions, each transposed convolution followed by instance
        norm and leaky ReLU, 2x2 average pooling, torch's default
        initialisation, channel dropout 0. The normalisation of the input
        magnitude (per-image mean/std, clamped to +-6) is the caller's.
        Ours: fastMRI does not pad the input but reflect-pads the upsampled
        features at the bottom/right when a size is odd; we zero-pad the
        input to a multiple of 16 and crop, which is the same network for
        sizes divisible by 16 (fastMRI's 320x320 crops). fastMRI
        concatenates ``[up, skip]``, we ``[skip, up]``: to load its
        weights, swap the two halves of the input channels of each
        decoder's first convolution.

        Parameters
        ----------
        in_channels, out_channels : int, optional
        **kwargs
            Further `UNet` arguments, overriding the above.

        Examples
        --------
        >>> net = UNet.fastmri()
        >>> sum(p.numel() for p in net.parameters())
        7756097
        """
        settings = dict(ndim=2, levels=4, filters=32, norm=True, affine=False,
                        negative_slope=0.2, pool='avg', bias=False, up_activation=True,
                        dropout=0.0, output=None, padding_mode='zeros', init='default')
        settings.update(kwargs)
        return cls(in_channels, out_channels, **settings)

    def pad_widths(self, shape):
        """Return the ``(before, after)`` padding of each axis of a spatial ``shape``.

        Examples
        --------
        >>> UNet(levels=3, filters=2).pad_widths((20, 24, 5))
        ((2, 2), (0, 0), (1, 2))
        """
        return tuple((p // 2, p - p // 2) for p in (-s % self.multiple for s in shape))

    def forward(self, x):
        """Return ``(N, out_channels, *spatial)`` for input ``(N, in_channels, *spatial)``."""
        self._check_input(x)
        widths = self.pad_widths(x.shape[2:])
        self._check_norm_size([s + b + a for s, (b, a) in zip(x.shape[2:], widths)])
        flat = [p for pair in reversed(widths) for p in pair]  # F.pad: last axis first
        out = F.pad(x, flat, mode=_PAD_MODES[self.padding_mode]) if any(flat) else x
        skips = []
        for encoder in self.encoders:
            out = encoder(out)
            skips.append(out)
            out = self.pool(out)
        out = self.bottleneck(out)
        for k in reversed(range(self.levels)):
            out = self.decoders[k](torch.cat([skips[k], self.upsamplers[k](out)], dim=1))
        crop = tuple(slice(before, size - after)
                     for (before, after), size in zip(widths, out.shape[2:]))
        out = self.head(out)[(Ellipsis,) + crop]
        return self.activation(x + out if self.residual else out)

    def _check_input(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'UNet expects `x` as a torch.Tensor, got {type(x).__name__}')
        if x.ndim != self.ndim + 2 or x.shape[1] != self.in_channels:
            spatial = ', '.join(('D', 'H', 'W')[-self.ndim:])
            raise ValueError(f'UNet expects `x` of shape (N, {self.in_channels}, {spatial}) '
                             f'(ndim={self.ndim}, in_channels={self.in_channels}), '
                             f'got {tuple(x.shape)}')

    def _check_norm_size(self, padded):
        # Instance norm over a single pixel is undefined (torch refuses it in training).
        level = self._deepest_norm
        if level is not None and all(s // 2 ** level == 1 for s in padded):
            raise ValueError(f'UNet normalises level {level}, where `x` of spatial size '
                             f'{tuple(padded)} after padding has a single pixel; give a '
                             f'larger `x`, fewer `levels` or no `norm` at that level')
