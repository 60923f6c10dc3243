r"""Learned primal-dual reconstruction (Adler & Öktem, IEEE TMI 2018).

`LearnedPrimalDual` unrolls ``n_iter`` iterations of a primal-dual scheme
whose updates are small residual CNNs (Algorithm 2 of Adler et al.,
"Learning to solve inverse problems using Wasserstein loss", 2017):

.. math::
    h_i = h_{i-1} + \Gamma_i\big(h_{i-1}, \mathcal{T}(f_{i-1}^{(2)}), g\big),
    \qquad
    f_i = f_{i-1} + \Lambda_i\big(f_{i-1}, \mathcal{T}^*(h_i^{(1)})\big),

with ``n_primal`` primal and ``n_dual`` dual channels, both started at
zero; the output is ``f_I^{(1)}``. As in the authors' code, the forward
operator sees primal channel 1 and the adjoint dual channel 0. Each block
is conv3x3(filters) - PReLU - conv3x3(filters) - PReLU - conv3x3(channels),
with per-channel PReLU slopes initialised to 0, Xavier-uniform weights and
zero biases; parameters are not shared across iterations.

The operator is any ODL operator (and its adjoint) through the torch bridge
`odl_wasserstein.torch.OperatorModule`, or a pair of torch modules.
"""

import torch
from torch import nn

from odl_wasserstein.torch import OperatorModule

__all__ = ('LearnedPrimalDual', 'ConvBlock')


class ConvBlock(nn.Sequential):
    """conv3x3 - PReLU - conv3x3 - PReLU - conv3x3, the learned update.

    Parameters
    ----------
    in_channels, out_channels : int
    filters : int, optional
        Channels of the two hidden layers.
    prelu_init : float, optional
        Initial PReLU slope (0: starts as a ReLU, the authors' choice).

    Examples
    --------
    >>> block = ConvBlock(7, 5, filters=32)
    >>> block(torch.zeros(2, 7, 16, 16)).shape
    torch.Size([2, 5, 16, 16])
    """

    def __init__(self, in_channels, out_channels, filters=32, prelu_init=0.0):
        super().__init__(
            nn.Conv2d(in_channels, filters, 3, padding=1),
            nn.PReLU(filters, init=prelu_init),
            nn.Conv2d(filters, filters, 3, padding=1),
            nn.PReLU(filters, init=prelu_init),
            nn.Conv2d(filters, out_channels, 3, padding=1),
        )
        for layer in self:
            if isinstance(layer, nn.Conv2d):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)


class LearnedPrimalDual(nn.Module):
    """Learned primal-dual reconstruction network.

    Parameters
    ----------
    operator : `odl.Operator` or `torch.nn.Module`
        Forward operator ``T`` (e.g. a normalised ray transform). An ODL
        operator is wrapped with `OperatorModule`, its adjoint too.
    adjoint : `torch.nn.Module`, optional
        Adjoint as a module; required when ``operator`` is a module.
    n_iter, n_primal, n_dual, filters : int, optional
        Unrolled iterations (10), primal (5) and dual (5) channels, and
        hidden filters per block (32): the papers' defaults.

    Notes
    -----
    Input: data ``g`` of shape ``(N, 1, *range_shape)``; output: images
    ``(N, 1, *domain_shape)``. The operators must map ``(N, C, ...)``
    tensors, as `OperatorModule` does.

    Examples
    --------
    >>> from odl_wasserstein.operators import ray_transform, reconstruction_space
    >>> ray = ray_transform(reconstruction_space(32), num_angles=8, normalize=True)
    >>> net = LearnedPrimalDual(ray, n_iter=2, filters=8)
    >>> net(torch.zeros(3, 1, 8, 47)).shape
    torch.Size([3, 1, 32, 32])
    >>> sum(p.numel() for p in net.parameters())
    5764
    """

    def __init__(self, operator, adjoint=None, n_iter=10, n_primal=5, n_dual=5,
                 filters=32):
        super().__init__()
        if isinstance(operator, nn.Module):
            if adjoint is None:
                raise ValueError('give `adjoint` as a module when `operator` is a module')
            forward, backward = operator, adjoint
            self.domain_shape = self.range_shape = None
        else:
            forward = OperatorModule(operator)
            backward = OperatorModule(operator.adjoint if adjoint is None else adjoint)
            self.domain_shape = tuple(operator.domain.shape)
            self.range_shape = tuple(operator.range.shape)
        for name, value in (('n_iter', n_iter), ('n_primal', n_primal),
                            ('n_dual', n_dual), ('filters', filters)):
            if int(value) != value or value < 1:
                raise ValueError(f'`{name}` must be a positive int, got {value!r}')
        if n_primal < 2:
            raise ValueError('`n_primal` must be at least 2: the operator sees '
                             'primal channel 1 and the output is channel 0')
        self.operator, self.adjoint = forward, backward
        self.n_iter, self.n_primal, self.n_dual = int(n_iter), int(n_primal), int(n_dual)
        self.dual_blocks = nn.ModuleList(
            ConvBlock(n_dual + 2, n_dual, filters) for _ in range(n_iter))
        self.primal_blocks = nn.ModuleList(
            ConvBlock(n_primal + 1, n_primal, filters) for _ in range(n_iter))

    def forward(self, data):
        """Reconstruct images ``(N, 1, *domain)`` from data ``(N, 1, *range)``."""
        if data.ndim != 4 or data.shape[1] != 1:
            raise ValueError(f'`data` must have shape (N, 1, angles, bins), got '
                             f'{tuple(data.shape)}')
        if self.range_shape is not None and tuple(data.shape[2:]) != self.range_shape:
            raise ValueError(f'`data` must have trailing shape {self.range_shape} '
                             f'(the operator range), got {tuple(data.shape[2:])}')
        n = data.shape[0]
        shape = self.domain_shape or self.adjoint(data).shape[2:]
        primal = data.new_zeros((n, self.n_primal) + tuple(shape))
        dual = data.new_zeros((n, self.n_dual) + tuple(data.shape[2:]))
        for dual_block, primal_block in zip(self.dual_blocks, self.primal_blocks):
            evaluated = self.operator(primal[:, 1:2])
            dual = dual + dual_block(torch.cat([dual, evaluated, data], dim=1))
            back = self.adjoint(dual[:, 0:1])
            primal = primal + primal_block(torch.cat([primal, back], dim=1))
        return primal[:, 0:1]
