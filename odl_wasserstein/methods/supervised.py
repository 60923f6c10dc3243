"""Supervised training on paired data: ``loss(model(input), target)``.

`SupervisedRecipe` is the recipe of learned reconstruction with an MSE or
a Wasserstein loss (Adler et al. 2017; REFERENCE_SETTINGS section 1 gives
its defaults), and of any paired baseline (a supervised U-Net, a paired
L1 network). `ReconstructionRecipe` adds PSNR and SSIM to its validation.
"""

import torch

from odl_wasserstein.metrics import psnr, ssim
from odl_wasserstein.plotting import first_image, new_figure, show_image
from odl_wasserstein.training import OptimizerSpec, Recipe

__all__ = ('SupervisedRecipe', 'ReconstructionRecipe')


class SupervisedRecipe(Recipe):
    """Train one model on paired data, ``loss(model(input), target)``.

    Parameters
    ----------
    model : torch.nn.Module
        Saved as ``modules['model']``, optimised by the optimiser ``'model'``.
    loss : callable
        ``loss(output, target)`` returning a scalar tensor, e.g.
        ``torch.nn.MSELoss()`` or
        `odl_wasserstein.transport.WassersteinLoss`. A module is moved to
        the device.
    lr : float, optional
    betas : (float, float), optional
    clip_grad_norm : float or None, optional
    schedule : {'cosine', 'constant', 'linear'}, optional
    input_key, target_key : str, optional
        Keys of the input and target in dict batches (the CT datasets yield
        ``{'data': ..., 'target': ...}``); ``(input, target)`` tuples work too.
    weight_decay : float, optional
    decay_start : int, optional
        First step of a ``'linear'`` schedule's decay.
    optimizer : str or type, optional
        The optimiser class (see `OptimizerSpec`), Adam by default.

    Notes
    -----
    The defaults are the recipe of Adler et al. (2017) for learned
    primal-dual (REFERENCE_SETTINGS section 1): Adam with lr 1e-3 and
    beta2 0.99, cosine decay to 0 over the run, global gradient-norm
    clipping at 1.

    Examples
    --------
    >>> import tempfile, shutil
    >>> from odl_wasserstein.training import Trainer
    >>> model = torch.nn.Linear(3, 1)
    >>> recipe = SupervisedRecipe(model, torch.nn.MSELoss())
    >>> data = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(5)]
    >>> folder = tempfile.mkdtemp()
    >>> result = Trainer(recipe, data, max_steps=20, output_dir=folder,
    ...                  progress=False).fit()
    >>> result.step, len(result.history), sorted(result.history[-1])
    (20, 2, ['grad_norm/model', 'loss', 'lr/model', 'step', 'time'])
    >>> shutil.rmtree(folder)
    """

    def __init__(self, model, loss, lr=1e-3, betas=(0.9, 0.99), clip_grad_norm=1.0,
                 schedule='cosine', input_key='data', target_key='target',
                 weight_decay=0.0, decay_start=0, optimizer='Adam'):
        if not callable(loss):
            raise TypeError(f'`loss` must be callable as loss(output, target), got {loss!r}')
        auxiliary = {'loss': loss} if isinstance(loss, torch.nn.Module) else {}
        super().__init__({'model': model}, auxiliary)
        self.loss = loss
        # Validated here so that a bad setting fails at construction.
        self.spec = OptimizerSpec('model', lr=lr, betas=betas, weight_decay=weight_decay,
                                  schedule=schedule, decay_start=decay_start,
                                  clip_grad_norm=clip_grad_norm, optimizer=optimizer)
        self.input_key, self.target_key = input_key, target_key

    def optimizers(self):
        """``{'model': OptimizerSpec(...)}`` with the settings given."""
        return {'model': self.spec}

    def unpack(self, batch):
        """``(input, target)`` from a dict or a 2-sequence batch."""
        if isinstance(batch, dict):
            missing = [k for k in (self.input_key, self.target_key) if k not in batch]
            if missing:
                raise KeyError(
                    f'the batch has no {missing} entries; its keys are {sorted(batch)}; '
                    'set `input_key`/`target_key` of SupervisedRecipe')
            return batch[self.input_key], batch[self.target_key]
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            return batch[0], batch[1]
        raise TypeError('a batch must be a dict with the input and target keys or an '
                        f'(input, target) pair, got {type(batch).__name__}')

    def _loss(self, trainer, batch):
        inputs, target = self.unpack(batch)
        output = trainer.module('model')(inputs)
        return self.loss(output, target)

    def training_step(self, trainer, batch, step):
        """Forward, loss, one update of ``'model'``; returns ``{'loss'}``."""
        loss = self._loss(trainer, batch)
        trainer.optimize('model', loss)
        return {'loss': loss.detach()}

    def validation_step(self, trainer, batch):
        """``{'loss'}`` on a validation batch."""
        return {'loss': self._loss(trainer, batch)}

    def figure(self, trainer, batch, path):
        """Input, output and target of the first sample side by side."""
        inputs, target = self.unpack(batch)
        output = trainer.module('model')(inputs)
        fig = new_figure(10, 3.4)
        for ax, title, tensor in zip(fig.subplots(1, 3), ('input', 'output', 'target'),
                                     (inputs, output, target)):
            show_image(ax, first_image(tensor), title=title, colorbar=True)
        fig.suptitle(f'step {trainer.step}')
        fig.savefig(path, dpi=100)


class ReconstructionRecipe(SupervisedRecipe):
    """`SupervisedRecipe` whose validation also reports PSNR and SSIM.

    PSNR and SSIM of the first channel use data range 1, as the papers
    of learned reconstruction do.
    """

    def validation_step(self, trainer, batch):
        """``{'loss', 'psnr', 'ssim'}`` of a validation batch."""
        inputs, target = self.unpack(batch)
        output = trainer.module('model')(inputs)
        return {'loss': self.loss(output, target),
                'psnr': psnr(output[:, 0], target[:, 0], data_range=1.0).mean(),
                'ssim': ssim(output[:, 0], target[:, 0], data_range=1.0).mean()}
