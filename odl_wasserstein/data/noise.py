"""Noise models of the papers' simulations.

`add_gaussian_noise` is the model of the learned primal-dual and
Wasserstein-loss papers: additive white Gaussian noise whose standard
deviation is a fraction (5 % there) of the mean absolute value of the
noise-free data.

`salt_and_pepper` is the impulse noise of the Wasserstein-of-Wasserstein
GAN experiments (Dukler et al., "Wasserstein of Wasserstein loss for
learning generative models", 2019, section 4.2): every pixel value, per
channel, is set to black or white with some probability.
"""

import math
import numbers

import torch

from odl_wasserstein.util import as_generator, check_finite, check_real

__all__ = ('add_gaussian_noise', 'salt_and_pepper')


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
    generator : torch.Generator or int, optional
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
    check_real(level, 'level', minimum=0)
    check_finite(data, 'data')
    dims = tuple(range(data.ndim)) if dim is None else dim
    scale = level * data.abs().mean(dim=dims, keepdim=True)
    generator = as_generator(generator)
    noise = torch.randn(data.shape, generator=generator, dtype=data.dtype,
                        device='cpu' if generator is None else generator.device)
    return data + scale * noise.to(data.device)


def salt_and_pepper(images, fraction=0.15, low=0.0, high=1.0, generator=None):
    """Replace a random fraction of the entries by ``low`` or ``high``.

    Each entry is changed independently (for colour images: each channel
    of each pixel, the RGB salt and pepper noise of Dukler et al. 2019,
    section 4.2) with probability ``fraction``, and then to ``low`` or
    ``high`` with equal probability.

    Parameters
    ----------
    images : torch.Tensor
        Clean images of any shape, real floating point, e.g. ``(N, C, H, W)``
        in ``[0, 1]``.
    fraction : float, optional
        Probability that an entry is changed, in ``[0, 1]``.
    low, high : float, optional
        The pepper and salt values, e.g. 0 and 1 for images in ``[0, 1]``.
    generator : torch.Generator or int, optional
        Source of randomness, for reproducible noise.

    Returns
    -------
    torch.Tensor
        Noisy copy of ``images``, same shape, dtype and device.

    Examples
    --------
    >>> clean = torch.full((100, 100), 0.5)
    >>> noisy = salt_and_pepper(clean, 0.2, generator=torch.Generator().manual_seed(0))
    >>> sorted(noisy.unique().tolist())
    [0.0, 0.5, 1.0]
    >>> round(float((noisy != clean).float().mean()), 2)
    0.2
    """
    if (not isinstance(images, torch.Tensor) or images.is_complex()
            or not images.is_floating_point()):
        raise TypeError(
            '`images` must be a real floating-point torch.Tensor, got '
            f'{getattr(images, "dtype", type(images).__name__)}')
    check_real(fraction, 'fraction', minimum=0, maximum=1)
    for name, value in (('low', low), ('high', high)):
        if not (isinstance(value, numbers.Real) and math.isfinite(value)):
            raise ValueError(f'`{name}` must be a finite real number, got {value!r}')
    check_finite(images, 'images')
    # One uniform draw per entry decides both whether and how it changes:
    # [0, f/2) -> low, [f/2, f) -> high; since rand < 1, fraction 1 changes all.
    generator = as_generator(generator)
    draw = torch.rand(images.shape, generator=generator, dtype=torch.float64,
                      device='cpu' if generator is None else generator.device)
    draw = draw.to(images.device)
    noisy = images.clone()
    noisy[draw < fraction / 2] = low
    noisy[(draw >= fraction / 2) & (draw < fraction)] = high
    return noisy
