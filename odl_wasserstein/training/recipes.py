"""The recipe protocol: what is trained and how one training step goes.

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

The recipes of the methods live in `odl_wasserstein.methods`
(`SupervisedRecipe`, the adversarial base `AdversarialRecipe` and
`WGANRecipe`, ...); this layer knows only the protocol.
"""

import torch

__all__ = ('Recipe', 'overrides')


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
    >>> class Validated(Recipe):
    ...     def validation_step(self, trainer, batch):
    ...         return {}
    >>> recipe = Validated({'model': torch.nn.Linear(2, 2)})
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

    >>> from odl_wasserstein.training import OptimizerSpec
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
