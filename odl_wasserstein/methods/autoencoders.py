"""Training autoencoders and variational autoencoders as generative priors.

`AutoencoderRecipe` trains the generators ``G`` that a latent-space
reconstruction (Bora et al., "Compressed sensing using generative
models", ICML 2017; Duff, Ehrhardt and Campbell, "Solving inverse imaging
problems with generative machine learning models") later searches: an
`odl_wasserstein.nn.Autoencoder` by its reconstruction error (MSE or
binary cross-entropy), an `odl_wasserstein.nn.VariationalAutoencoder` by
the negative evidence lower bound of Kingma and Welling ("Auto-encoding
variational Bayes", ICLR 2014, eq. 10, with the closed-form Gaussian KL
of their appendix B), `negative_elbo`. It is `SupervisedRecipe` with the
images as their own targets; its defaults are those of the CSGM VAE
(Adam with lr 1e-3, constant, no clipping; batches of 100 images).
"""

import functools
import math
from typing import NamedTuple

import torch

from odl_wasserstein.methods.supervised import SupervisedRecipe
from odl_wasserstein.metrics import psnr
from odl_wasserstein.nn import LIKELIHOODS, Autoencoder, VariationalAutoencoder, VAEOutput
from odl_wasserstein.plotting import image_grid, new_figure, show_image
from odl_wasserstein.util import check_choice, check_int, check_real

__all__ = ('ELBOTerms', 'negative_elbo', 'AutoencoderRecipe', 'AUTOENCODER_LOSSES')

AUTOENCODER_LOSSES = ('mse', 'bce', 'elbo')
"""Losses of `AutoencoderRecipe`: mean squared error or binary cross-entropy
of an autoencoder's reconstruction, the negative ELBO of a VAE."""


class ELBOTerms(NamedTuple):
    """The negative ELBO and its two terms, each a mean over the batch (0-dim)."""

    loss: torch.Tensor
    """``reconstruction + beta * kl``."""
    reconstruction: torch.Tensor
    """``-log p(x | z)``, summed over the pixels."""
    kl: torch.Tensor
    """``KL(q(z | x) || N(0, I))``, summed over the latent dimensions."""


def _reconstruction_nll(output, target, likelihood):
    """``-log p(target | z)`` per sample, ``(N,)``."""
    if likelihood == 'bernoulli':
        if bool(((target < 0) | (target > 1)).any()):
            raise ValueError("Bernoulli targets must lie in [0, 1]; rescale the images or "
                             "use likelihood='gaussian'")
        nll = torch.nn.functional.binary_cross_entropy_with_logits(
            output.logits, target, reduction='none')
        return nll.flatten(1).sum(1)
    if output.log_std is None:
        raise ValueError("likelihood='gaussian' needs `output.log_std`; make the model with "
                         "VariationalAutoencoder(..., likelihood='gaussian')")
    n = target[0].numel()
    squares = (target - output.reconstruction).square().flatten(1).sum(1)
    return (0.5 * squares * torch.exp(-2 * output.log_std) + n * output.log_std
            + 0.5 * n * math.log(2 * math.pi))


def negative_elbo(output, target, likelihood='bernoulli', beta=1.0):
    r"""Negative evidence lower bound of a VAE, averaged over the batch.

    For each sample, ``-log p(x | z) + beta KL(q(z | x) || N(0, I))``
    with one latent sample ``z`` (Kingma and Welling 2014, eq. 10).

    Parameters
    ----------
    output : `odl_wasserstein.nn.VAEOutput`
        What the VAE returned for ``target``.
    target : torch.Tensor
        The images ``(N, C, H, W)``, in [0, 1] for a Bernoulli likelihood.
    likelihood : {'bernoulli', 'gaussian'}, optional
        ``p(x | z)``: Bernoulli with logits ``output.logits`` (the binary
        cross-entropy with logits, stable where the sigmoid saturates), or
        Gaussian of mean ``output.reconstruction`` and standard deviation
        ``exp(output.log_std)``.
    beta : float, optional
        Weight of the KL term (1 for the ELBO; beta-VAEs use others).

    Returns
    -------
    ELBOTerms
        ``(loss, reconstruction, kl)``, 0-dim tensors.

    Notes
    -----
    With ``n`` pixels, ``sigma = exp(log_std)`` and ``mu, s^2`` the
    posterior mean and variance,

    .. math::
        -\log p(x | z) = \sum_i \mathrm{BCE}(\mathrm{logit}_i, x_i)
        \quad \text{or} \quad
        \frac{\|x - G(z)\|^2}{2 \sigma^2} + n \log \sigma + \frac{n}{2} \log 2 \pi,

        \mathrm{KL} = \frac{1}{2} \sum_j (\mu_j^2 + s_j^2 - 1 - \log s_j^2).

    Examples
    --------
    A posterior equal to the prior has no KL; logits 0 give ``log 2`` per
    pixel:

    >>> from odl_wasserstein.nn import VAEOutput
    >>> zeros = torch.zeros(2, 3)
    >>> out = VAEOutput(torch.full((2, 1, 2, 2), 0.5), zeros, zeros, zeros,
    ...                 torch.zeros(2, 1, 2, 2))
    >>> terms = negative_elbo(out, torch.ones(2, 1, 2, 2))
    >>> round(float(terms.reconstruction), 6), float(terms.kl)
    (2.772589, 0.0)
    """
    if not isinstance(output, VAEOutput):
        raise TypeError(f'`output` must be the VAEOutput of a VariationalAutoencoder, got '
                        f'{type(output).__name__}')
    check_choice(likelihood, 'likelihood', LIKELIHOODS)
    beta = check_real(beta, 'beta', minimum=0)
    if not isinstance(target, torch.Tensor) or target.shape != output.reconstruction.shape:
        found = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise ValueError(f'`target` must be images of the reconstruction\'s shape '
                         f'{tuple(output.reconstruction.shape)}, got {found}')
    nll = _reconstruction_nll(output, target, likelihood).mean()
    kl = 0.5 * (output.mean.square() + output.logvar.exp() - 1 - output.logvar).sum(1).mean()
    return ELBOTerms(nll + beta * kl, nll, kl)


def _elbo_loss(output, target, likelihood, beta):
    return negative_elbo(output, target, likelihood, beta).loss


class AutoencoderRecipe(SupervisedRecipe):
    """Train an autoencoder or a VAE on images, the images being their own targets.

    Parameters
    ----------
    model : torch.nn.Module
        An `odl_wasserstein.nn.VariationalAutoencoder` (trained on
        `negative_elbo`), an `odl_wasserstein.nn.Autoencoder`, or for
        ``loss='mse'`` any module mapping images to images.
    loss : {'mse', 'bce', 'elbo'}, optional
        Default ``'elbo'`` for a VAE (the only choice), else ``'mse'``.
        ``'mse'`` and ``'bce'`` are means over pixels; ``'bce'`` takes the
        decoder's logits (``model(x, logits=True)``) and needs a sigmoid
        output.
    beta : float, optional
        KL weight of the negative ELBO.
    lr : float, optional
    betas : (float, float), optional
    clip_grad_norm : float or None, optional
    schedule : {'constant', 'cosine', 'linear'}, optional
    image_key : str, optional
        Key of the images in dict batches; a batch may also be the image
        tensor ``(N, C, H, W)`` itself (as `odl_wasserstein.data.ImageDataset`
        yields).
    weight_decay : float, optional
    decay_start : int, optional
    optimizer : str or type, optional
    n_figure : int, optional
        Images per row of `figure`.

    Notes
    -----
    Logged per step: ``loss``, and for a VAE its ``reconstruction`` and
    ``kl`` terms (and ``std``, the Gaussian ``sigma``). Validation (in
    eval mode: a VAE decodes its posterior mean) adds ``psnr`` of the
    reconstruction (data range 1). The VAE draws its ``eps`` from torch's
    global random state, which checkpoints save: resuming is exact.

    Examples
    --------
    >>> import tempfile, shutil
    >>> from odl_wasserstein.nn import VariationalAutoencoder
    >>> from odl_wasserstein.training import Trainer
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> vae = VariationalAutoencoder(4, shape=(8, 8), filters=4, depth=1)
    >>> images = [(torch.rand(10, 1, 8, 8) > 0.5).float() for _ in range(3)]
    >>> folder = tempfile.mkdtemp()
    >>> result = Trainer(AutoencoderRecipe(vae), images, max_steps=10, output_dir=folder,
    ...                  log_every=10, progress=False).fit()
    >>> sorted(k for k in result.history[-1] if '/' not in k)
    ['kl', 'loss', 'reconstruction', 'step', 'time']
    >>> shutil.rmtree(folder)
    """

    def __init__(self, model, loss=None, beta=1.0, lr=1e-3, betas=(0.9, 0.999),
                 clip_grad_norm=None, schedule='constant', image_key='image',
                 weight_decay=0.0, decay_start=0, optimizer='Adam', n_figure=8):
        self.kind = _check_loss_kind(model, loss)
        self.beta = check_real(beta, 'beta', minimum=0)
        self.n_figure = check_int(n_figure, 'n_figure', minimum=1)
        if self.kind == 'elbo':
            function = functools.partial(_elbo_loss, likelihood=model.likelihood,
                                         beta=self.beta)
        else:
            function = {'mse': torch.nn.MSELoss, 'bce': torch.nn.BCEWithLogitsLoss}[self.kind]()
        super().__init__(model, function, lr=lr, betas=betas, clip_grad_norm=clip_grad_norm,
                         schedule=schedule, input_key=image_key, target_key=image_key,
                         weight_decay=weight_decay, decay_start=decay_start,
                         optimizer=optimizer)
        self.image_key = image_key
        self._parts = {}

    def unpack(self, batch):
        """``(images, images)`` from an image tensor or a dict batch."""
        if isinstance(batch, dict):
            if self.image_key not in batch:
                raise KeyError(f'the batch has no {self.image_key!r} entry; its keys are '
                               f'{sorted(batch)}; set `image_key` of AutoencoderRecipe')
            batch = batch[self.image_key]
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f'a batch must be an image tensor (N, C, H, W) or a dict holding '
                            f'one under `image_key`, got {type(batch).__name__}')
        return batch, batch

    def loss_terms(self, model, images):
        """``({'loss', ...}, reconstruction)`` of ``model`` on ``images``.

        The dict holds 0-dim tensors (for a VAE also ``'reconstruction'``
        and ``'kl'``, see `negative_elbo`); the reconstruction is the image
        ``(N, C, H, W)`` (a VAE's ``p(x | z)`` mean).
        """
        if self.kind == 'elbo':
            output = model(images)
            terms = negative_elbo(output, images, self.modules['model'].likelihood,
                                  self.beta)._asdict()
            if output.log_std is not None:
                terms['std'] = output.log_std.detach().exp()
            return terms, output.reconstruction
        output = model(images, logits=True) if self.kind == 'bce' else model(images)
        reconstruction = torch.sigmoid(output) if self.kind == 'bce' else output
        return {'loss': self.loss(output, images)}, reconstruction

    def _loss(self, trainer, batch):
        terms, _ = self.loss_terms(trainer.module('model'), self.unpack(batch)[0])
        # SupervisedRecipe's step logs only the loss: keep the other terms for
        # `training_step` to add.
        self._parts = {key: value.detach() for key, value in terms.items() if key != 'loss'}
        return terms['loss']

    def training_step(self, trainer, batch, step):
        """`SupervisedRecipe.training_step`, logging the loss's terms too."""
        metrics = super().training_step(trainer, batch, step)
        metrics.update(self._parts)
        return metrics

    def validation_step(self, trainer, batch):
        """The loss terms and ``psnr`` (data range 1) of the reconstruction."""
        images, _ = self.unpack(batch)
        terms, reconstruction = self.loss_terms(trainer.module('model'), images)
        terms['psnr'] = psnr(reconstruction, images, data_range=1.0).mean()
        return terms

    def figure(self, trainer, batch, path):
        """Rows of inputs, their reconstructions and decoder images of fixed latents."""
        model = trainer.module('model')
        images = self.unpack(batch)[0][:self.n_figure]
        rows = {'input': images, 'reconstruction': self.loss_terms(model, images)[1]}
        decoder = getattr(model, 'decoder', None)
        if hasattr(decoder, 'latent_dim'):
            # Fixed latents, so that figures of successive steps compare.
            z = torch.randn(self.n_figure, decoder.latent_dim, dtype=images.dtype,
                            generator=torch.Generator().manual_seed(0)).to(images.device)
            rows['decoder, z ~ N(0, I)'] = decoder(z)
        fig = new_figure(1.2 * self.n_figure, 1.4 * len(rows) + 0.4)
        low, high = float(images.min()), float(images.max())
        for ax, (title, tensor) in zip(fig.subplots(len(rows), 1), rows.items()):
            show_image(ax, image_grid(tensor, columns=self.n_figure), title=title,
                       vmin=low, vmax=high)
        fig.suptitle(f'step {trainer.step}')
        fig.savefig(path, dpi=100)


def _check_loss_kind(model, loss):
    """The loss of `AutoencoderRecipe` for ``model``: ``'elbo'``, ``'mse'`` or ``'bce'``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f'`model` must be a torch.nn.Module, got {type(model).__name__}')
    variational = isinstance(model, VariationalAutoencoder)
    loss = ('elbo' if variational else 'mse') if loss is None else loss
    check_choice(loss, 'loss', AUTOENCODER_LOSSES)
    if variational != (loss == 'elbo'):
        raise ValueError("a VariationalAutoencoder trains on loss='elbo', other models on "
                         f"'mse' or 'bce'; got loss={loss!r} for {type(model).__name__}")
    if loss == 'bce' and not (isinstance(model, Autoencoder)
                              and model.decoder.output == 'sigmoid'):
        raise ValueError("loss='bce' needs an Autoencoder with output='sigmoid' (images in "
                         "[0, 1]); use loss='mse' for other models")
    return loss
