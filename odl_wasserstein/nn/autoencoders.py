"""Convolutional decoders, encoders, autoencoders and variational autoencoders.

These are the generators of the "generative priors" method: a network
``G : z -> x`` trained on clean images, whose latent space a
reconstruction then searches (Bora et al., "Compressed sensing using
generative models", ICML 2017, CSGM; Duff, Ehrhardt and Campbell, "Solving
inverse imaging problems with generative machine learning models"):

- `ConvDecoder`: ``z (N, latent_dim) -> images (N, C, H, W)``, the generator
  ``G`` itself, usable as the decoder of an autoencoder or as a GAN
  generator;
- `ConvEncoder`: images ``(N, C, H, W) -> features (N, out_features)``;
- `Autoencoder`: ``decoder(encoder(x))``, trained by reconstruction error;
- `VariationalAutoencoder`: the VAE of Kingma and Welling ("Auto-encoding
  variational Bayes", ICLR 2014), an encoder to the mean and log-variance
  of a Gaussian posterior ``q(z | x)``, the reparameterisation
  ``z = mean + exp(logvar / 2) * eps`` and a Bernoulli or Gaussian decoder
  (eq. 10 of the paper: the negative ELBO is
  `odl_wasserstein.methods.negative_elbo`).

For every model ``model.decoder`` is ``G``, with images in [0, 1] by
default. Duff et al. use latent sizes 12 (AE), 10 (VAE) and 10 (GAN) on
their 56 x 56 shapes images; 8 to 20 suit MNIST (28 x 28) and the 8 x 8
digits upsampled to 32 x 32.
"""

from typing import NamedTuple

import torch
from torch import nn

from odl_wasserstein.nn.generators import standard_normal_latents
from odl_wasserstein.util import check_choice, check_int, check_real

__all__ = ('ConvDecoder', 'ConvEncoder', 'Autoencoder', 'VariationalAutoencoder',
           'VAEOutput', 'LIKELIHOODS')

_OUTPUTS = {'sigmoid': torch.sigmoid, 'tanh': torch.tanh, None: lambda x: x}

LIKELIHOODS = ('bernoulli', 'gaussian')
"""Pixel likelihoods ``p(x | z)`` of `VariationalAutoencoder`."""


def _check_shape(shape, levels, name='shape'):
    """``(H, W)`` as ints, each divisible by ``2**levels``."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise TypeError(f'`{name}` must be a pair (H, W) of ints, got {shape!r}')
    shape = tuple(check_int(s, f'{name}[{i}]', minimum=1) for i, s in enumerate(shape))
    if any(s % 2 ** levels for s in shape):
        raise ValueError(f'`{name}` must be divisible by 2**{levels} = {2 ** levels} on both '
                         f'axes (one halving per level), got {shape}; change the image size '
                         'or the number of levels')
    return shape


def _check_tensor(x, owner, expected):
    """Raise unless ``x`` is a tensor of shape ``(N, *expected)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'{owner} expects a torch.Tensor, got {type(x).__name__}')
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != tuple(expected):
        wanted = ', '.join(str(s) for s in ('N', *expected))
        raise ValueError(f'{owner} expects input of shape ({wanted}), got {tuple(x.shape)}')


class ConvDecoder(nn.Module):
    """Convolutional generator ``G : z -> x`` without batch normalisation.

    ``Linear(latent_dim, F h0 w0) - ReLU`` reshaped to ``(F, h0, w0)``
    with ``F = filters * 2**n_up`` and ``(h0, w0) = shape / 2**n_up``,
    then ``n_up`` blocks ``Upsample(x2, nearest) - Conv(3x3) - ReLU``
    halving the channels (the last block has ``filters``), then a 3x3
    convolution to ``out_channels`` and the output activation.

    Parameters
    ----------
    latent_dim : int
        Dimension of the latent variable ``z``.
    shape : (int, int), optional
        Image size ``(H, W)``, both divisible by ``2**n_up``.
    out_channels : int, optional
    filters : int, optional
        Channels of the last block; earlier ones double them.
    n_up : int, optional
        Number of x2 upsampling blocks.
    output : {'sigmoid', 'tanh', None}, optional
        Output activation: images in (0, 1), in (-1, 1), or unbounded.
    dropout : float, optional
        Dropout probability after the input layer and each block (Duff et
        al.'s GAN generator uses keep-probability 0.8, i.e. 0.2); off in
        eval mode.

    Attributes
    ----------
    latent_dim : int
    image_shape : (int, int, int)
        ``(out_channels, H, W)``.
    output : str or None

    Notes
    -----
    Input ``(N, latent_dim)``, output ``(N, out_channels, H, W)``.
    There is no batch normalisation: a generator searched in latent space
    at inference time must map each ``z`` to its image whatever else is
    in the batch (``G(z)[i]`` depends on ``z[i]`` only). Put it in eval
    mode for that search when ``dropout > 0``.

    Examples
    --------
    >>> gen = ConvDecoder(latent_dim=12, shape=(56, 56), filters=8)
    >>> gen(torch.zeros(5, 12)).shape
    torch.Size([5, 1, 56, 56])
    >>> images = gen.sample(4, generator=0)
    >>> images.shape, bool(images.min() > 0 and images.max() < 1)
    (torch.Size([4, 1, 56, 56]), True)
    >>> gen.logits(torch.zeros(2, 12)).shape  # before the sigmoid
    torch.Size([2, 1, 56, 56])
    """

    def __init__(self, latent_dim, shape=(56, 56), out_channels=1, filters=32, n_up=2,
                 output='sigmoid', dropout=0.0):
        super().__init__()
        self.latent_dim = check_int(latent_dim, 'latent_dim', minimum=1)
        out_channels = check_int(out_channels, 'out_channels', minimum=1)
        filters = check_int(filters, 'filters', minimum=1)
        n_up = check_int(n_up, 'n_up')
        shape = _check_shape(shape, n_up)
        self.output = check_choice(output, 'output', tuple(_OUTPUTS))
        dropout = check_real(dropout, 'dropout', minimum=0, maximum=0.99)
        self.image_shape = (out_channels, *shape)
        channels, side = filters * 2 ** n_up, tuple(s // 2 ** n_up for s in shape)
        layers = [nn.Linear(self.latent_dim, channels * side[0] * side[1]), nn.ReLU(),
                  nn.Unflatten(1, (channels, *side)), nn.Dropout(dropout)]
        for _ in range(n_up):
            # Nearest upsampling + 3x3 conv rather than a stride-2 transposed
            # conv: no checkerboard artefacts (Odena et al., Distill 2016),
            # which a latent search would otherwise fit to the data.
            layers += [nn.Upsample(scale_factor=2, mode='nearest'),
                       nn.Conv2d(channels, channels // 2, 3, padding=1), nn.ReLU(),
                       nn.Dropout(dropout)]
            channels //= 2
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def logits(self, z):
        """The images before the output activation, ``(N, *image_shape)``.

        Losses on probabilities take these (BCE with logits) rather than
        the log of a saturated sigmoid.
        """
        _check_tensor(z, type(self).__name__, (self.latent_dim,))
        return self.layers(z)

    def forward(self, z):
        """Images ``(N, *image_shape)`` of latents ``(N, latent_dim)``."""
        return _OUTPUTS[self.output](self.logits(z))

    def sample(self, n, generator=None):
        """Return ``n`` images of latents ``z ~ N(0, I)``.

        Parameters
        ----------
        n : int
            Number of samples.
        generator : `torch.Generator` or int, optional
            Random generator (or seed) for ``z``, on the module's device;
            None draws from torch's global state.
        """
        return self(standard_normal_latents(n, self.latent_dim, self.layers[0].weight, generator))


class ConvEncoder(nn.Module):
    """Strided-convolution encoder: images ``(N, C, H, W)`` to ``(N, out_features)``.

    ``n_down`` blocks ``Conv(4x4, stride 2, padding 1) - LeakyReLU(0.2)``
    with ``filters * 2**k`` channels (block ``k``), each halving the
    image, then a linear layer of the flattened features, the mirror of
    `ConvDecoder`. No batch normalisation, so that encodings are per
    sample.

    Parameters
    ----------
    out_features : int
    shape : (int, int), optional
        Image size ``(H, W)``, both divisible by ``2**n_down``.
    in_channels : int, optional
    filters : int, optional
        Channels of the first block; each next one doubles them.
    n_down : int, optional
        Number of strided convolutions.

    Attributes
    ----------
    out_features : int
    image_shape : (int, int, int)
        ``(in_channels, H, W)``.

    Examples
    --------
    >>> encoder = ConvEncoder(10, shape=(28, 28), filters=8)
    >>> encoder(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 10])
    """

    def __init__(self, out_features, shape=(56, 56), in_channels=1, filters=32, n_down=2):
        super().__init__()
        self.out_features = check_int(out_features, 'out_features', minimum=1)
        in_channels = check_int(in_channels, 'in_channels', minimum=1)
        filters = check_int(filters, 'filters', minimum=1)
        n_down = check_int(n_down, 'n_down')
        shape = _check_shape(shape, n_down)
        self.image_shape = (in_channels, *shape)
        layers, channels = [], in_channels
        for k in range(n_down):
            layers += [nn.Conv2d(channels, filters * 2 ** k, 4, stride=2, padding=1),
                       nn.LeakyReLU(0.2)]
            channels = filters * 2 ** k
        size = channels * (shape[0] // 2 ** n_down) * (shape[1] // 2 ** n_down)
        layers += [nn.Flatten(), nn.Linear(size, self.out_features)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        """Features ``(N, out_features)`` of images ``(N, *image_shape)``."""
        _check_tensor(x, type(self).__name__, self.image_shape)
        return self.layers(x)


class Autoencoder(nn.Module):
    """Convolutional autoencoder, ``decoder(encoder(x))``.

    Parameters
    ----------
    latent_dim : int
        Dimension of the code ``z``.
    shape : (int, int), optional
        Image size ``(H, W)``, both divisible by ``2**depth``.
    channels : int, optional
        Image channels.
    filters : int, optional
        ``filters`` of the encoder and of the decoder.
    depth : int, optional
        Halvings of the encoder and doublings of the decoder.
    output : {'sigmoid', 'tanh', None}, optional
        Output activation of the decoder.

    Attributes
    ----------
    encoder : `ConvEncoder`
        ``(N, *image_shape) -> (N, latent_dim)``.
    decoder : `ConvDecoder`
        ``(N, latent_dim) -> (N, *image_shape)``: the generator ``G``.
    latent_dim : int
    image_shape : (int, int, int)

    Notes
    -----
    Nothing makes the codes of an autoencoder standard normal: to search
    its latent space start from encodings of training images, not from
    ``N(0, I)`` draws.

    Examples
    --------
    >>> model = Autoencoder(12, shape=(56, 56), filters=4)
    >>> x = torch.rand(2, 1, 56, 56)
    >>> model.encode(x).shape, model(x).shape
    (torch.Size([2, 12]), torch.Size([2, 1, 56, 56]))
    >>> bool(torch.allclose(torch.sigmoid(model(x, logits=True)), model(x)))
    True
    """

    def __init__(self, latent_dim, shape=(56, 56), channels=1, filters=32, depth=2,
                 output='sigmoid'):
        super().__init__()
        self.encoder = ConvEncoder(latent_dim, shape, channels, filters, depth)
        self.decoder = ConvDecoder(latent_dim, shape, channels, filters, depth, output)
        self.latent_dim, self.image_shape = self.decoder.latent_dim, self.decoder.image_shape

    def encode(self, x):
        """Codes ``(N, latent_dim)`` of images ``(N, *image_shape)``."""
        return self.encoder(x)

    def forward(self, x, logits=False):
        """Reconstructions ``(N, *image_shape)`` of ``x``; before the output
        activation if ``logits`` (through ``forward``, so that a
        `DistributedDataParallel` wrapper sees the call)."""
        z = self.encoder(x)
        return self.decoder.logits(z) if logits else self.decoder(z)


class VAEOutput(NamedTuple):
    """What `VariationalAutoencoder` returns for images ``(N, C, H, W)``."""

    reconstruction: torch.Tensor
    """``(N, C, H, W)``: the mean of ``p(x | z)``, in (0, 1)."""
    mean: torch.Tensor
    """``(N, latent_dim)``: the posterior mean."""
    logvar: torch.Tensor
    """``(N, latent_dim)``: the posterior log-variance."""
    z: torch.Tensor
    """``(N, latent_dim)``: the latent sample (``mean`` in eval mode)."""
    logits: torch.Tensor
    """``(N, C, H, W)``: the decoder's values before its sigmoid."""
    log_std: torch.Tensor = None
    """0-dim: ``log sigma`` of the Gaussian likelihood (None for Bernoulli)."""


class VariationalAutoencoder(nn.Module):
    """Convolutional VAE with a Gaussian posterior (Kingma and Welling 2014).

    The encoder gives ``2 latent_dim`` features, the mean and the
    log-variance of ``q(z | x) = N(mean, diag exp(logvar))``; in training
    mode ``z = mean + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` from
    torch's global random state (which the Trainer's checkpoints save,
    so that resuming is exact); in eval mode ``z = mean``.

    Parameters
    ----------
    latent_dim : int
    shape : (int, int), optional
        Image size ``(H, W)``, both divisible by ``2**depth``.
    channels : int, optional
    filters : int, optional
    depth : int, optional
        Halvings of the encoder and doublings of the decoder.
    likelihood : {'bernoulli', 'gaussian'}, optional
        ``p(x | z)`` per pixel: Bernoulli of mean ``G(z)``, for images in
        [0, 1]; or Gaussian of mean ``G(z)`` and standard deviation
        ``sigma``, one scalar for all pixels.
    std : float, optional
        Fixed ``sigma`` of the Gaussian likelihood. None (default) learns
        it: ``log_std`` is then a parameter, starting at 0 (``sigma = 1``).
        Only for ``likelihood='gaussian'``.

    Attributes
    ----------
    encoder : `ConvEncoder`
        ``(N, *image_shape) -> (N, 2 latent_dim)``.
    decoder : `ConvDecoder`
        ``(N, latent_dim) -> (N, *image_shape)`` with a sigmoid: the mean
        of ``p(x | z)``, the generator ``G`` with images in (0, 1), whose
        prior is ``N(0, I)`` (`ConvDecoder.sample`).
    latent_dim : int
    image_shape : (int, int, int)
    likelihood : str
    log_std : torch.Tensor or None
        0-dim ``log sigma`` (a parameter, or a buffer if ``std`` is given).

    Examples
    --------
    >>> vae = VariationalAutoencoder(10, shape=(28, 28), filters=4)
    >>> out = vae(torch.rand(3, 1, 28, 28))
    >>> out.reconstruction.shape, out.mean.shape, out.z.shape
    (torch.Size([3, 1, 28, 28]), torch.Size([3, 10]), torch.Size([3, 10]))
    >>> vae.decoder.sample(2, generator=0).shape  # G(z), z ~ N(0, I)
    torch.Size([2, 1, 28, 28])
    >>> _ = vae.eval()
    >>> x = torch.rand(2, 1, 28, 28)
    >>> bool(torch.equal(vae(x).z, vae.encode(x)[0]))
    True
    """

    def __init__(self, latent_dim, shape=(56, 56), channels=1, filters=32, depth=2,
                 likelihood='bernoulli', std=None):
        super().__init__()
        self.likelihood = check_choice(likelihood, 'likelihood', LIKELIHOODS)
        self.latent_dim = check_int(latent_dim, 'latent_dim', minimum=1)
        self.encoder = ConvEncoder(2 * self.latent_dim, shape, channels, filters, depth)
        self.decoder = ConvDecoder(self.latent_dim, shape, channels, filters, depth, 'sigmoid')
        self.image_shape = self.decoder.image_shape
        if likelihood == 'bernoulli':
            if std is not None:
                raise ValueError(f"`std` applies to likelihood='gaussian' only, got std={std!r}")
            self.log_std = None
        elif std is None:
            self.log_std = nn.Parameter(torch.zeros(()))
        else:
            std = check_real(std, 'std', positive=True)
            self.register_buffer('log_std', torch.tensor(std).log())

    def encode(self, x):
        """``(mean, logvar)`` of ``q(z | x)``, each ``(N, latent_dim)``."""
        return self.encoder(x).chunk(2, dim=1)

    def forward(self, x):
        """`VAEOutput` of images ``(N, *image_shape)``."""
        mean, logvar = self.encode(x)
        z = mean + (logvar / 2).exp() * torch.randn_like(mean) if self.training else mean
        logits = self.decoder.logits(z)
        return VAEOutput(torch.sigmoid(logits), mean, logvar, z, logits, self.log_std)
