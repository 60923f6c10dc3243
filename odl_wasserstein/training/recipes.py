"""Recipes: what is trained and how one training step goes.

A `Recipe` holds the modules of a method and knows one training step; the
`Trainer` owns everything else (loop, device, optimisers, schedules,
clipping, checkpoints, logging, distribution). A recipe

- passes its modules to ``Recipe.__init__``: ``modules`` (trained or not,
  all saved in checkpoints) and ``auxiliary`` (losses, fixed operators:
  moved to the device, neither saved nor wrapped);
- returns its optimisers from `Recipe.optimizers` as
  ``name -> OptimizerSpec``;
- implements `Recipe.training_step`, which calls the modules through
  ``trainer.module(name)`` (the `DistributedDataParallel` wrapper in a
  distributed run) and updates parameters with
  ``trainer.optimize(name, loss)`` as often as the method needs (a WGAN
  recipe: ``n_critic`` times ``'critic'``, then once ``'generator'``), and
  returns a dict of metrics with at least ``'loss'``;
- optionally implements `Recipe.validation_step`, `Recipe.figure` and, for
  state that is not in a module, `Recipe.state_dict` /
  `Recipe.load_state_dict`.

`SupervisedRecipe` is the recipe for paired data (learned reconstruction
with an MSE or Wasserstein loss; REFERENCE_SETTINGS section 1 gives its
defaults).
"""

import torch

from odl_wasserstein.training.optim import OptimizerSpec

__all__ = ('Recipe', 'SupervisedRecipe', 'overrides')


def _check_modules(modules, name):
    if modules is None:
        return {}
    if not isinstance(modules, dict):
        raise TypeError(f'`{name}` must be a dict name -> torch.nn.Module, '
                        f'got {type(modules).__name__}')
    for key, module in modules.items():
        if not (isinstance(key, str) and key.isidentifier()):
            raise ValueError(f'`{name}` keys must be identifiers, got {key!r}')
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f'`{name}[{key!r}]` must be a torch.nn.Module, '
                            f'got {type(module).__name__}')
    return dict(modules)


def overrides(recipe, method):
    """Whether ``recipe`` implements ``method`` itself (not only `Recipe`'s).

    Examples
    --------
    >>> recipe = SupervisedRecipe(torch.nn.Linear(2, 2), torch.nn.MSELoss())
    >>> overrides(recipe, 'validation_step'), overrides(recipe, 'state_dict')
    (True, False)
    """
    return getattr(type(recipe), method) is not getattr(Recipe, method)


class Recipe:
    """Base class of training recipes.

    Parameters
    ----------
    modules : dict
        ``name -> torch.nn.Module``: the modules of the method. All are
        moved to the device and saved in checkpoints; those with trainable
        parameters are wrapped in `DistributedDataParallel` in a
        distributed run.
    auxiliary : dict, optional
        ``name -> torch.nn.Module`` moved to the device but not saved, not
        optimised and not wrapped (losses, forward operators).

    Attributes
    ----------
    modules, auxiliary : dict
    ddp_options : dict
        Keyword arguments for `DistributedDataParallel`, e.g.
        ``{'find_unused_parameters': True}`` for a method whose steps leave
        some parameters without gradient.

    Examples
    --------
    A recipe for denoising with an L1 loss, in a dozen lines:

    >>> class L1Denoising(Recipe):
    ...     def __init__(self, model):
    ...         super().__init__({'model': model})
    ...     def optimizers(self):
    ...         return {'model': OptimizerSpec('model', lr=1e-3)}
    ...     def training_step(self, trainer, batch, step):
    ...         noisy, clean = batch
    ...         loss = (trainer.module('model')(noisy) - clean).abs().mean()
    ...         trainer.optimize('model', loss)
    ...         return {'loss': loss.detach()}
    >>> recipe = L1Denoising(torch.nn.Conv2d(1, 1, 3, padding=1))
    >>> sorted(recipe.optimizers())
    ['model']
    """

    def __init__(self, modules, auxiliary=None):
        self.modules = _check_modules(modules, 'modules')
        if not self.modules:
            raise ValueError('`modules` must hold at least one module')
        self.auxiliary = _check_modules(auxiliary, 'auxiliary')
        clash = set(self.modules) & set(self.auxiliary)
        if clash:
            raise ValueError(f'names {sorted(clash)} appear in both `modules` and `auxiliary`')
        self.ddp_options = {}

    def optimizers(self):
        """Return the optimisers, ``name -> OptimizerSpec``."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement `optimizers()` returning a dict '
            'name -> OptimizerSpec')

    def training_step(self, trainer, batch, step):
        """One training step.

        Parameters
        ----------
        trainer : `Trainer`
            Call ``trainer.module(name)`` for the modules and
            ``trainer.optimize(name, loss)`` for each update.
        batch : object
            The batch, already on the trainer's device.
        step : int
            Index of the step, 0 for the first.

        Returns
        -------
        dict
            Metrics (numbers or one-element tensors), including ``'loss'``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement `training_step(trainer, batch, step)`')

    def validation_step(self, trainer, batch):
        """Metrics of one validation batch (run under `torch.no_grad`, eval mode)."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement `validation_step(trainer, batch)`; '
            'implement it or train without `validation_data`')

    def figure(self, trainer, batch, path):
        """Write a figure for ``batch`` to ``path`` (a ``.png`` file)."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement `figure(trainer, batch, path)`; '
            'implement it or train without `figure_every`')

    def state_dict(self):
        """State of the recipe that is not in its modules (tensors, numbers, containers)."""
        return {}

    def load_state_dict(self, state):
        """Restore the state returned by `state_dict`."""
        if state:
            raise ValueError(
                f'{type(self).__name__} has no recipe state to restore, but the checkpoint '
                f'holds {sorted(state)}; implement `load_state_dict`')

    def to(self, device):
        """Move modules and auxiliary modules to ``device``; return self."""
        for module in (*self.modules.values(), *self.auxiliary.values()):
            module.to(device)
        return self

    def train(self, mode=True):
        """Set train (or eval) mode on all modules; return self."""
        for module in (*self.modules.values(), *self.auxiliary.values()):
            module.train(mode)
        return self


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
                 weight_decay=0.0, decay_start=0):
        if not callable(loss):
            raise TypeError(f'`loss` must be callable as loss(output, target), got {loss!r}')
        auxiliary = {'loss': loss} if isinstance(loss, torch.nn.Module) else {}
        super().__init__({'model': model}, auxiliary)
        self.loss = loss
        # Validated here so that a bad setting fails at construction.
        self.spec = OptimizerSpec('model', lr=lr, betas=betas, weight_decay=weight_decay,
                                  schedule=schedule, decay_start=decay_start,
                                  clip_grad_norm=clip_grad_norm)
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
        from matplotlib.figure import Figure

        inputs, target = self.unpack(batch)
        output = trainer.module('model')(inputs)
        fig = Figure(figsize=(10, 3.4), layout='constrained')
        axes = fig.subplots(1, 3)
        for ax, title, tensor in zip(axes, ('input', 'output', 'target'),
                                     (inputs, output, target)):
            _show(ax, tensor)
            ax.set_title(title)
        fig.suptitle(f'step {trainer.step}')
        fig.savefig(path, dpi=100)


def _show(ax, tensor):
    """Show the first sample's first channel: an image (middle slice) or a curve."""
    x = tensor.detach()[0]
    x = (x.abs() if x.is_complex() else x).float().cpu()
    if x.ndim >= 3:
        x = x[0]
    while x.ndim > 2:
        x = x[x.shape[0] // 2]
    if x.ndim == 2:
        image = ax.imshow(x.numpy(), cmap='gray')
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
        ax.set_axis_off()
    else:
        ax.plot(x.reshape(-1).numpy())
