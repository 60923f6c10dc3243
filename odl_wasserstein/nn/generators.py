"""Generators for Wasserstein GANs.

`DCGANGenerator` is the generator of Gulrajani et al.'s WGAN-GP code
("Improved training of Wasserstein GANs", NeurIPS 2017), used by Dukler
et al. ("Wasserstein of Wasserstein loss for learning generative models",
ICML 2019): a linear layer to a 4x4 feature map, then transposed
convolutions that double the side at each step.
"""

import torch
from torch import nn

from odl_wasserstein.util import as_generator, check_choice, check_int

__all__ = ('DCGANGenerator', 'standard_normal_latents')

_OUTPUTS = {'sigmoid': nn.Sigmoid, 'tanh': nn.Tanh, None: nn.Identity}


def standard_normal_latents(n, latent_dim, like, generator=None):
    """``n`` latent vectors ``z ~ N(0, I)`` on the device and in the dtype of ``like``.

    ``generator`` is a `torch.Generator` or a seed (see
    `odl_wasserstein.util.as_generator`); None draws from torch's global
    state.

    Examples
    --------
    >>> standard_normal_latents(3, 2, torch.zeros((), dtype=torch.float64), 0).dtype
    torch.float64
    """
    n = check_int(n, 'n', minimum=1)
    generator = as_generator(generator, device=like.device)
    return torch.randn(n, latent_dim, generator=generator, device=like.device, dtype=like.dtype)


class DCGANGenerator(nn.Module):
    """Generator of the WGAN-GP and WWGAN code.

    ``Linear(latent_dim, 16 F0) - BatchNorm - ReLU`` reshaped to
    ``(F0, 4, 4)``, then ``n_up - 1`` blocks ``ConvTranspose(2x2, stride 2) -
    BatchNorm - ReLU`` halving the channels, then a last 2x2, stride-2
    transposed convolution to ``out_channels`` and the output activation.
    Here ``n_up = log2(size / 4)`` and ``F0 = filters * 2**(n_up - 1)``.

    Parameters
    ----------
    latent_dim : int, optional
        Dimension of the latent variable ``z``.
    out_channels : int, optional
    size : int, optional
        Side of the square output images: 8, 16, 32, 64, ...
        (``4 * 2**n_up`` with ``n_up >= 1``).
    filters : int, optional
        Channels of the last hidden layer; earlier layers double them.
    output : {'sigmoid', 'tanh', None}, optional
        Output activation: images in (0, 1), in (-1, 1), or unbounded.

    Attributes
    ----------
    latent_dim : int

    Notes
    -----
    Input ``(N, latent_dim)``, output ``(N, out_channels, size, size)``.
    The batch normalisations make samples of a batch interact in training
    mode, as in the original code; this is harmless for a generator.

    Examples
    --------
    >>> gen = DCGANGenerator(latent_dim=16, size=32, filters=8)
    >>> gen(torch.zeros(5, 16)).shape
    torch.Size([5, 1, 32, 32])
    >>> images = gen.sample(4, generator=torch.Generator().manual_seed(0))
    >>> images.shape
    torch.Size([4, 1, 32, 32])
    >>> bool(images.min() > 0 and images.max() < 1)
    True
    """

    def __init__(self, latent_dim=128, out_channels=1, size=32, filters=64,
                 output='sigmoid'):
        super().__init__()
        self.latent_dim = check_int(latent_dim, 'latent_dim', minimum=1)
        self.out_channels = check_int(out_channels, 'out_channels', minimum=1)
        self.size = check_int(size, 'size', minimum=1)
        filters = check_int(filters, 'filters', minimum=1)
        check_choice(output, 'output', tuple(_OUTPUTS))
        n_up = (size // 4).bit_length() - 1
        if size < 8 or size != 4 * 2 ** n_up:
            raise ValueError(f'`size` must be 4 times a power of two and at least 8 '
                             f'(8, 16, 32, ...), got {size!r}')
        channels = filters * 2 ** (n_up - 1)
        self.input = nn.Sequential(nn.Linear(self.latent_dim, 16 * channels),
                                   nn.BatchNorm1d(16 * channels), nn.ReLU(),
                                   nn.Unflatten(1, (channels, 4, 4)))
        layers = []
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                       nn.BatchNorm2d(channels // 2), nn.ReLU()]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, self.out_channels, 2, stride=2),
                   _OUTPUTS[output]()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z):
        """Return images ``(N, out_channels, size, size)`` for latents ``(N, latent_dim)``."""
        if not isinstance(z, torch.Tensor):
            raise TypeError(f'DCGANGenerator expects a torch.Tensor, got {type(z).__name__}')
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f'DCGANGenerator expects input of shape (N, {self.latent_dim}), '
                             f'got {tuple(z.shape)}')
        return self.layers(self.input(z))

    def sample(self, n, generator=None):
        """Return ``n`` images from latents ``z ~ N(0, I)``.

        Parameters
        ----------
        n : int
            Number of samples (at least 2 in training mode, where batch
            normalisation needs more than one sample).
        generator : `torch.Generator` or int, optional
            Random generator (or seed) for ``z``, on the module's device.
        """
        return self(standard_normal_latents(n, self.latent_dim, self.input[0].weight, generator))
