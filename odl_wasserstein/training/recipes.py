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
defaults). `WGANRecipe` trains a generator of images from latent noise
against a critic with a gradient penalty (WGAN-GP, or the WWGAN penalty of
Dukler et al. 2019; REFERENCE_SETTINGS section 5).
"""

import numbers

import torch

from odl_wasserstein.adversarial import (
    PENALTY_KINDS, critic_loss, critic_values, generator_loss)
from odl_wasserstein.training.optim import OptimizerSpec
from odl_wasserstein.util import check_int

__all__ = ('Recipe', 'SupervisedRecipe', 'WGANRecipe', 'overrides')


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


class WGANRecipe(Recipe):
    """Wasserstein GAN with a gradient penalty: ``n_critic`` critic updates per generator update.

    Each training step (Algorithm 1 of Dukler et al. 2019; Gulrajani et
    al. 2017) splits its batch of real samples into ``n_critic`` equal
    parts; for each part the critic minimises
    `odl_wasserstein.adversarial.critic_loss` against as many generated
    samples (``penalty`` at random interpolates), then the generator
    minimises `odl_wasserstein.adversarial.generator_loss` once on a fresh
    latent batch of the same size. Latent vectors are standard normal, drawn
    from torch's global random state, which checkpoints save: resuming is
    exact.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps ``(m, latent_dim)`` to samples shaped like the real ones.
    critic : torch.nn.Module
        One value per sample; no batch normalisation.
    latent_dim : int, optional
        Default ``generator.latent_dim``.
    n_critic : int, optional
        Critic updates per step (5 in both papers). The data must give
        batches of ``n_critic * m`` real samples.
    penalty : {'two-sided', 'one-sided', 'wasserstein'}, optional
        ``'two-sided'`` is WGAN-GP; ``'wasserstein'`` is WWGAN.
    penalty_weight : float, optional
        ``lambda``: 10 for WGAN-GP; the WWGAN code uses 4.
    penalty_options : dict, optional
        Options of `odl_wasserstein.adversarial.ground_metric_norm2` for
        ``penalty='wasserstein'``.
    lr : float, optional
        Learning rate of both optimisers (1e-4 in both papers' code).
    critic_lr : float, optional
        Learning rate of the critic, default ``lr``.
    betas : (float, float), optional
        Adam's betas, (0.5, 0.9) as in both papers' code.
    schedule : {'constant', 'linear', 'cosine'}, optional
    decay_start : int, optional
        First step of a ``'linear'`` decay.
    clip_grad_norm : float or None, optional
        Global gradient-norm clipping of both optimisers (none by default).
    sample_key : str, optional
        Key of the real samples in dict batches; tensors are used as they
        are.

    Notes
    -----
    Logged per step: ``loss`` (the generator loss), ``critic_loss``,
    ``distance`` (the critic's Wasserstein estimate ``mean D(real) - mean
    D(fake)``) and ``penalty``, the means over the critic updates.
    Validation (``validation_step``) reports the distance estimate and the
    `odl_wasserstein.metrics.sliced_wasserstein` distance between
    generated and real validation samples, both from fixed latent vectors.

    Examples
    --------
    Learn a 2-D Gaussian shifted to (2, 2) from noise:

    >>> import tempfile, shutil
    >>> from odl_wasserstein.training import Trainer
    >>> generator = torch.nn.Linear(2, 2)
    >>> critic = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.LeakyReLU(0.2),
    ...                              torch.nn.Linear(32, 1))
    >>> recipe = WGANRecipe(generator, critic, latent_dim=2, n_critic=5, lr=1e-2)
    >>> real = [torch.randn(5 * 64, 2) + 2.0 for _ in range(20)]
    >>> folder = tempfile.mkdtemp()
    >>> result = Trainer(recipe, real, max_steps=300, output_dir=folder,
    ...                  progress=False, log_every=100).fit()
    >>> sorted(k for k in result.history[-1] if '/' not in k)
    ['critic_loss', 'distance', 'loss', 'penalty', 'step', 'time']
    >>> mean = generator(torch.randn(4000, 2)).mean(0)
    >>> bool((mean - 2.0).abs().max() < 0.3)
    True
    >>> shutil.rmtree(folder)
    """

    def __init__(self, generator, critic, latent_dim=None, n_critic=5, penalty='two-sided',
                 penalty_weight=10.0, penalty_options=None, lr=1e-4, critic_lr=None,
                 betas=(0.5, 0.9), schedule='constant', decay_start=0, clip_grad_norm=None,
                 sample_key=None):
        super().__init__({'generator': generator, 'critic': critic})
        if latent_dim is None:
            latent_dim = getattr(generator, 'latent_dim', None)
            if latent_dim is None:
                raise ValueError('`latent_dim` must be given for a generator without a '
                                 '`latent_dim` attribute')
        self.latent_dim = check_int(latent_dim, 'latent_dim', minimum=1)
        self.n_critic = check_int(n_critic, 'n_critic', minimum=1)
        if penalty not in PENALTY_KINDS:
            raise ValueError(f'`penalty` must be one of {PENALTY_KINDS}, got {penalty!r}')
        if not (isinstance(penalty_weight, numbers.Real) and 0 <= penalty_weight < float('inf')):
            raise ValueError(f'`penalty_weight` must be a non-negative number, got '
                             f'{penalty_weight!r}')
        self.penalty, self.penalty_weight = penalty, float(penalty_weight)
        self.penalty_options = dict(penalty_options or {})
        if self.penalty_options and penalty != 'wasserstein':
            raise ValueError(f'`penalty_options` apply to penalty=\'wasserstein\' only, got '
                             f'{sorted(self.penalty_options)} with penalty={penalty!r}')
        self.sample_key = sample_key
        common = dict(betas=betas, schedule=schedule, decay_start=decay_start,
                      clip_grad_norm=clip_grad_norm)
        # Validated here so that a bad setting fails at construction.
        self.specs = {'critic': OptimizerSpec('critic', lr=lr if critic_lr is None else critic_lr,
                                              **common),
                      'generator': OptimizerSpec('generator', lr=lr, **common)}

    def optimizers(self):
        """``{'critic': ..., 'generator': ...}``, Adam with the settings given."""
        return dict(self.specs)

    def real_samples(self, batch):
        """The real samples of a batch (a tensor, or ``batch[sample_key]``)."""
        if isinstance(batch, dict):
            if self.sample_key is None or self.sample_key not in batch:
                raise KeyError(f'dict batches need `sample_key` naming the real samples; the '
                               f'batch has {sorted(batch)}, sample_key={self.sample_key!r}')
            batch = batch[self.sample_key]
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f'a batch must be a tensor of real samples or a dict, got '
                            f'{type(batch).__name__}')
        return batch

    def latent(self, n, like):
        """``n`` standard normal latent vectors on the device and dtype of ``like``."""
        return torch.randn(n, self.latent_dim, device=like.device, dtype=like.dtype)

    def penalty_kwargs(self):
        """Keyword arguments of `critic_loss` for this recipe's penalty."""
        return dict(penalty=self.penalty, penalty_weight=self.penalty_weight,
                    **self.penalty_options)

    def training_step(self, trainer, batch, step):
        """``n_critic`` critic updates, one generator update."""
        real = self.real_samples(batch)
        if real.shape[0] % self.n_critic:
            raise ValueError(
                f'a batch must hold n_critic * m real samples (n_critic = {self.n_critic}), '
                f'got {real.shape[0]}; set the batch size of the data to a multiple of '
                'n_critic')
        generator, critic = trainer.module('generator'), trainer.module('critic')
        size = real.shape[0] // self.n_critic
        totals = {'critic_loss': 0.0, 'distance': 0.0, 'penalty': 0.0}
        for part in real.split(size):
            with torch.no_grad():
                fake = generator(self.latent(size, part))
            result = critic_loss(critic, part, fake, **self.penalty_kwargs())
            trainer.optimize('critic', result.loss)
            totals['critic_loss'] += result.loss.detach()
            totals['distance'] += result.distance
            totals['penalty'] += result.penalty
        loss = generator_loss(critic, generator(self.latent(size, real)))
        trainer.optimize('generator', loss)
        metrics = {key: value / self.n_critic for key, value in totals.items()}
        metrics['loss'] = loss.detach()
        return metrics

    def _fixed_samples(self, trainer, n, like):
        # Fixed latent vectors, so validation curves compare like with like.
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(0),
                        dtype=like.dtype).to(like.device)
        return trainer.module('generator')(z)

    def validation_step(self, trainer, batch):
        """Critic distance estimate and sliced Wasserstein distance to the real batch."""
        from odl_wasserstein.metrics import sliced_wasserstein

        real = self.real_samples(batch)
        fake = self._fixed_samples(trainer, real.shape[0], real)
        critic = trainer.module('critic')
        distance = critic_values(critic, real).mean() - critic_values(critic, fake).mean()
        sliced = sliced_wasserstein(fake, real, n_projections=256,
                                    generator=torch.Generator().manual_seed(0))
        return {'distance': distance, 'sliced_wasserstein': sliced}

    def figure(self, trainer, batch, path):
        """A grid of generated samples (first channel) from fixed latent vectors."""
        from matplotlib.figure import Figure

        real = self.real_samples(batch)
        fake = self._fixed_samples(trainer, 16, real).detach().float().cpu()
        fig = Figure(figsize=(6, 6), layout='constrained')
        for ax, image in zip(fig.subplots(4, 4).ravel(), fake):
            image = image[0]
            while image.ndim > 2:
                image = image[image.shape[0] // 2]
            ax.imshow(image.numpy(), cmap='gray')
            ax.set_axis_off()
        fig.suptitle(f'generated samples, step {trainer.step}')
        fig.savefig(path, dpi=100)
