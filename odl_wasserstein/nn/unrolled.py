r"""Generators with data consistency of Lei et al.'s unpaired WGAN for MR imaging.

Lei, Mardani, Pauly and Vasanawala, "Wasserstein GANs for MR imaging: from
paired to unpaired training" (IEEE TMI 2021), sections III.C and IV.A; the
authors' code as summarised in REFERENCE_SETTINGS section 4. Both
generators map masked k-space ``b`` to an image, starting from the
zero-filled image ``x0 = A^H b``:

- `UnrolledDCGenerator`, the unrolled network of eqs. (5)-(6) (Fig. 7):
  ``K`` times a soft DC step, eq. (7), then a residual network
  (`ResidualProx`), and a final hard DC, eq. (8);
- `ResNetDCGenerator`, the plain generator (Fig. 6): a ResNet followed by
  the hard DC.

Networks see complex images as two real channels (real, imaginary); the
DC layers of `odl_wasserstein.nn.data_consistency` work on complex
tensors. Both generators take the operator per call (`CoilFourier` or
`OperatorPair`) and return ``(N, 2, H, W)`` in the real precision of ``b``.
TensorFlow's batch renormalisation, which the authors' unrolled code uses,
has no torch counterpart: `torch.nn.BatchNorm2d` stands in for it.
"""

import math

from torch import nn

from odl_wasserstein.nn.data_consistency import (
    GradientDataConsistency, HardDataConsistency, _apply_adjoint, _check_measurements)
from odl_wasserstein.util import (
    channels_to_complex, check_choice, check_int, complex_to_channels)

__all__ = ('ResidualBlock', 'ResidualProx', 'UnrolledDCGenerator', 'ResNetDCGenerator')

_VARIANTS = ('paper', 'code')
_PADDING = {'paper': 'zeros', 'code': 'circular'}


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f'`{name}` must be True or False, got {value!r}')
    return value


def _conv(in_channels, out_channels, kernel_size=3, *, bias=True, padding_mode='zeros'):
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                     bias=bias, padding_mode=padding_mode)


def _bn_relu(features):
    return [nn.BatchNorm2d(features), nn.ReLU()]


def _srez_init(conv, factor):
    """The authors' init: truncated normal (at 2 std), ``std^2 = f / (sqrt(c_in c_out) k^2)``.

    The rule of ``Model._glorot_initializer_conv2d`` in GANCS's
    ``srez_model.py``; biases start at zero.
    """
    c_a, c_b, *kernel = conv.weight.shape
    std = math.sqrt(factor / (math.sqrt(c_a * c_b) * math.prod(kernel)))
    nn.init.trunc_normal_(conv.weight, std=std, a=-2 * std, b=2 * std)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class ResidualBlock(nn.Module):
    """Residual block on ``(N, features, H, W)``, post- or pre-activation.

    ``preactivation=False`` (the paper, Fig. 6: "BN and ReLU are applied
    after the summation"): ``h -> ReLU(BN(h + conv(ReLU(BN(conv(h))))))``.
    ``preactivation=True`` (the authors' code, He et al. 2016):
    ``h -> h + conv(ReLU(BN(conv(ReLU(BN(h))))))``, whose convolutions
    start from the code's initialisation with factor ``1e-3`` (a block
    begins close to the identity, see `ResNetDCGenerator`).

    Parameters
    ----------
    features : int, optional
    preactivation : bool, optional
    bias : bool, optional
        Biases in the two 3x3 convolutions.
    padding_mode : {'zeros', 'circular'}, optional

    Examples
    --------
    >>> block = ResidualBlock(8, bias=False, padding_mode='circular')
    >>> block(torch.zeros(2, 8, 5, 6)).shape
    torch.Size([2, 8, 5, 6])
    >>> bool((ResidualBlock(8)(torch.randn(2, 8, 5, 6)) >= 0).all())  # ends with a ReLU
    True
    """

    def __init__(self, features=64, preactivation=False, bias=True, padding_mode='zeros'):
        super().__init__()
        self.features = check_int(features, 'features', minimum=1)
        self.preactivation = _check_bool(preactivation, 'preactivation')
        check_choice(padding_mode, 'padding_mode', tuple(_PADDING.values()))
        convs = [_conv(features, features, bias=_check_bool(bias, 'bias'),
                       padding_mode=padding_mode) for _ in range(2)]
        if self.preactivation:
            for conv in convs:
                _srez_init(conv, 1e-3)
            self.body = nn.Sequential(*_bn_relu(features), convs[0], *_bn_relu(features),
                                      convs[1])
            self.after = nn.Identity()
        else:
            self.body = nn.Sequential(convs[0], *_bn_relu(features), convs[1])
            self.after = nn.Sequential(*_bn_relu(features))

    def forward(self, h):
        """Return the block's output, the shape of ``h``."""
        return self.after(h + self.body(h))


class ResidualProx(nn.Module):
    """The "proximal" network of the unrolled generator: ``x + R(x)`` on two channels.

    ``R`` is a 3x3 convolution (2 -> ``features``), ``blocks`` residual
    blocks (`ResidualBlock`, post-activation) and a 3x3 convolution
    (``features`` -> 2), with batch norm and ReLU after every convolution
    but the last (the paper, section IV.A); the network predicts a
    correction of its input.

    Parameters
    ----------
    features, blocks : int, optional
        64 features and 2 blocks: the paper and the authors' code.
    variant : {'paper', 'code'}, optional
        ``'paper'``: zero padding and convolutions with biases;
        ``'code'``: the authors' code, circular padding and bias-free
        convolutions (its batch renormalisation is replaced by batch norm).
        The code's block layout is not in our notes; both use the paper's.

    Notes
    -----
    Input and output ``(N, 2, H, W)``: real and imaginary parts.

    Examples
    --------
    >>> prox = ResidualProx(features=4, variant='code')
    >>> prox(torch.zeros(3, 2, 6, 6)).shape
    torch.Size([3, 2, 6, 6])
    >>> {m.padding_mode for m in prox.modules() if isinstance(m, torch.nn.Conv2d)}
    {'circular'}
    """

    def __init__(self, features=64, blocks=2, variant='paper'):
        super().__init__()
        features = check_int(features, 'features', minimum=1)
        blocks = check_int(blocks, 'blocks', minimum=0)
        check_choice(variant, 'variant', _VARIANTS)
        options = dict(bias=variant == 'paper', padding_mode=_PADDING[variant])
        self.layers = nn.Sequential(
            _conv(2, features, **options), *_bn_relu(features),
            *(ResidualBlock(features, **options) for _ in range(blocks)),
            _conv(features, 2, **options))

    def forward(self, x):
        """Return ``x + R(x)`` for ``x`` of shape ``(N, 2, H, W)``."""
        return x + self.layers(x)


def _zero_filled(measurements, operator):
    """``x0 = A^H b``, complex ``(N, 1, H, W)``."""
    return _apply_adjoint(operator, _check_measurements(measurements))


class UnrolledDCGenerator(nn.Module):
    r"""Unrolled generator with soft and hard data consistency (Fig. 7, eqs. (5)-(8)).

    From ``x0 = A^H b``, ``n_iter`` times ``x <- prox_k(x + t_k (A^H A x -
    x0))`` (`GradientDataConsistency` with one learnable ``t_k`` per
    iteration, initialised to -2, then `ResidualProx`), and finally the hard
    DC ``x <- x + A^H (b - A x)`` (`HardDataConsistency`).

    Parameters
    ----------
    n_iter : int, optional
        Unrolled iterations ``K``; 3 in the paper.
    features, blocks : int, optional
        Width and residual blocks of each `ResidualProx`.
    shared : bool, optional
        One prox network and one step ``t`` for all iterations (a recurrent
        network) instead of one per iteration.
    variant : {'paper', 'code'}, optional
        Padding and biases of the prox networks, see `ResidualProx`.

    Attributes
    ----------
    steps, proxes : `torch.nn.ModuleList`
        ``n_iter`` entries each, or one if ``shared``.

    Notes
    -----
    ``forward(measurements, operator)``: masked k-space, complex
    ``(N, C, H, W)``, and the operator (`CoilFourier` or `OperatorPair`);
    returns ``(N, 2, H, W)`` (real, imaginary) in the real precision of
    the measurements, which must be that of the network (``.double()`` for
    complex128 k-space). Batch norm couples the samples of a batch in
    training mode.

    Examples
    --------
    >>> from odl_wasserstein.nn import CoilFourier
    >>> net = UnrolledDCGenerator(n_iter=2, features=4)
    >>> op = CoilFourier(torch.ones(8, 8))
    >>> b = op(torch.randn(3, 1, 8, 8, dtype=torch.complex64))
    >>> net(b, op).shape, net(b, op).dtype
    (torch.Size([3, 2, 8, 8]), torch.float32)
    >>> [step.t.item() for step in net.steps]
    [-2.0, -2.0]
    """

    def __init__(self, n_iter=3, features=64, blocks=2, shared=False, variant='paper'):
        super().__init__()
        self.n_iter = check_int(n_iter, 'n_iter', minimum=1)
        self.shared = _check_bool(shared, 'shared')
        copies = 1 if shared else self.n_iter
        prox = dict(features=check_int(features, 'features', minimum=1),
                    blocks=check_int(blocks, 'blocks', minimum=0),
                    variant=check_choice(variant, 'variant', _VARIANTS))
        self.steps = nn.ModuleList(GradientDataConsistency(-2.0) for _ in range(copies))
        self.proxes = nn.ModuleList(ResidualProx(**prox) for _ in range(copies))
        self.projection = HardDataConsistency()

    def forward(self, measurements, operator):
        """Reconstruct ``(N, 2, H, W)`` from k-space ``(N, C, H, W)``."""
        x0 = _zero_filled(measurements, operator)
        x = x0
        for k in range(self.n_iter):
            index = 0 if self.shared else k
            x = self.steps[index](x, x0, operator)
            x = channels_to_complex(self.proxes[index](complex_to_channels(x)))
        return complex_to_channels(self.projection(x, measurements, operator))


class ResNetDCGenerator(nn.Module):
    """Plain generator with hard data consistency (Fig. 6): ``DC(R(A^H b))``.

    ``R`` maps the zero-filled image (two channels) to an image; the hard
    DC (`HardDataConsistency`) follows. Two layouts:

    - ``variant='paper'`` (default; section IV.A): a ResNet with ``blocks``
      = 5 residual blocks (`ResidualBlock`, post-activation) followed by 3
      convolutions, batch norm and ReLU after every layer but the last. The
      paper does not say how the 2 input channels reach ``features`` nor
      the kernel sizes of the 3 convolutions; we take the code's: a 1x1
      convolution in front (then BN, ReLU), and 3x3, 1x1, 1x1 at the end.
    - ``variant='code'`` (`authors_code`): ``blocks`` = 8 pre-activation
      blocks ``BN -> ReLU -> conv`` (factor ``1e-3``) in pairs, each pair
      followed by ``BN -> ReLU ->`` a 3x3 transposed convolution with
      stride 1; a 1x1 convolution in front (as the code's first block adds
      when the channels change) and ``conv3x3 -> ReLU -> conv1x1 -> ReLU
      -> conv1x1`` at the end (no batch norm there, no output sigmoid).
      All convolutions start from the code's initialisation: truncated
      normal with ``std^2 = f / (sqrt(c_in c_out) k^2)`` (``f`` = 1e-3 in
      the blocks, 2 before the final ReLUs, 1 otherwise) and zero biases;
      zero padding and biases everywhere. The code's batch norm has no
      learnable scale; ours has.

    Neither layout adds the input to the output.

    Parameters
    ----------
    blocks : int, optional
        Residual blocks; 5 (``'paper'``) or 8 (``'code'``, must be even) if
        not given.
    features : int, optional
        Width of every layer.
    variant : {'paper', 'code'}, optional

    Notes
    -----
    ``forward(measurements, operator)`` as `UnrolledDCGenerator`:
    k-space ``(N, C, H, W)`` to ``(N, 2, H, W)``.

    Examples
    --------
    >>> from odl_wasserstein.nn import CoilFourier
    >>> net = ResNetDCGenerator(features=4)
    >>> net.blocks, ResNetDCGenerator.authors_code(features=4).blocks
    (5, 8)
    >>> op = CoilFourier(torch.ones(6, 6))
    >>> net(op(torch.randn(2, 1, 6, 6, dtype=torch.complex64)), op).shape
    torch.Size([2, 2, 6, 6])
    """

    def __init__(self, blocks=None, features=64, variant='paper'):
        super().__init__()
        self.variant = check_choice(variant, 'variant', _VARIANTS)
        default = 5 if variant == 'paper' else 8
        self.blocks = check_int(default if blocks is None else blocks, 'blocks', minimum=1)
        if variant == 'code' and self.blocks % 2:
            raise ValueError(f'`blocks` must be even for variant=\'code\' (blocks come in '
                             f'pairs), got {self.blocks}')
        features = check_int(features, 'features', minimum=1)
        build = _paper_resnet if variant == 'paper' else _code_resnet
        self.network = build(self.blocks, features)
        self.projection = HardDataConsistency()

    @classmethod
    def authors_code(cls, blocks=8, features=64):
        """The layout of the authors' code: ``ResNetDCGenerator(blocks, features, 'code')``.

        Examples
        --------
        >>> net = ResNetDCGenerator.authors_code(features=4)
        >>> sum(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
        4
        """
        return cls(blocks, features, 'code')

    def forward(self, measurements, operator):
        """Reconstruct ``(N, 2, H, W)`` from k-space ``(N, C, H, W)``."""
        x0 = _zero_filled(measurements, operator)
        x = channels_to_complex(self.network(complex_to_channels(x0)))
        return complex_to_channels(self.projection(x, measurements, operator))


def _paper_resnet(blocks, features):
    return nn.Sequential(
        _conv(2, features, 1), *_bn_relu(features),
        *(ResidualBlock(features) for _ in range(blocks)),
        _conv(features, features, 3), *_bn_relu(features),
        _conv(features, features, 1), *_bn_relu(features),
        _conv(features, 2, 1))


def _code_resnet(blocks, features):
    layers = [_srez_init(_conv(2, features, 1), 1.0)]
    for _ in range(blocks // 2):
        layers += [ResidualBlock(features, preactivation=True),
                   ResidualBlock(features, preactivation=True),
                   *_bn_relu(features),
                   _srez_init(nn.ConvTranspose2d(features, features, 3, padding=1), 1.0)]
    layers += [_srez_init(_conv(features, features, 3), 2.0), nn.ReLU(),
               _srez_init(_conv(features, features, 1), 2.0), nn.ReLU(),
               _srez_init(_conv(features, 2, 1), 1.0)]
    return nn.Sequential(*layers)
