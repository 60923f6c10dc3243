"""Noise models of the papers' simulations.

`add_gaussian_noise` is the model of the learned primal-dual and
Wasserstein-loss papers: additive white Gaussian noise whose standard
deviation is a fraction (5 % there) of the mean absolute value of the
noise-free data.
"""

import torch

from odl_wasserstein.util import check_finite

__all__ = ('add_gaussian_noise',)


def add_gaussian_noise(data, level=0.05, dim=None, generator=None):
    """Add white Gaussian noise of std ``level * mean(|data|)``.

    Parameters
    ----------
    data : torch.Tensor
        Noise-free data, real.
    level : float, optional
        Noise standard deviation relative to the mean absolute value.
    dim : int or tuple of int, optional
        Axes over which the mean is taken, e.g. ``(-2, -1)`` for one level
        per sinogram in a batch ``(N, C, angles, bins)``. Default: all axes.
    generator : torch.Generator, optional
        Source of randomness, for reproducible noise.

    Returns
    -------
    torch.Tensor
        Noisy data, same shape, dtype and device.

    Examples
    --------
    >>> data = torch.full((200, 200), 2.0)
    >>> noisy = add_gaussian_noise(data, 0.05, generator=torch.Generator().manual_seed(0))
    >>> round(float((noisy - data).std()), 2)
    0.1
    """
    if not isinstance(data, torch.Tensor) or data.is_complex():
        raise TypeError('`data` must be a real torch.Tensor')
    if not level >= 0:
        raise ValueError(f'`level` must be non-negative, got {level}')
    check_finite(data, 'data')
    dims = tuple(range(data.ndim)) if dim is None else dim
    scale = level * data.abs().mean(dim=dims, keepdim=True)
    noise = torch.randn(data.shape, generator=generator, dtype=data.dtype,
                        device='cpu' if generator is None else generator.device)
    return data + scale * noise.to(data.device)
