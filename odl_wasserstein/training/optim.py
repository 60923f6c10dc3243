"""Optimiser specifications and learning-rate schedules of the `Trainer`.

A recipe describes each of its optimisers with an `OptimizerSpec`: which
parameters, the optimiser class (Adam by default) and its
hyperparameters, the learning-rate schedule and the gradient-norm
clipping. `build_optimizers` (called by the `Trainer`) makes the
``torch.optim`` instances and an `LRSchedule` for each.

Schedules are functions of the *trainer step* (the number of completed
training steps), not of the number of updates an optimiser has made: a
WGAN critic updated ``n_critic`` times per step and a generator updated
once follow the same curve over ``max_steps``. The learning-rate recipe of
Adler et al. (2017), REFERENCE_SETTINGS section 1, is
``OptimizerSpec('model', lr=1e-3, betas=(0.9, 0.99), schedule='cosine',
clip_grad_norm=1.0)``; the WGAN recipes of sections 3-5 use
``betas=(0.5, 0.9)`` and ``schedule='constant'`` (or ``'linear'`` decay
after a given step for the cycleGAN deconvolution setting).
"""

import inspect
import math
from dataclasses import dataclass, field

import torch
from torch.nn.utils import clip_grads_with_norm_, get_total_norm

from odl_wasserstein.util import (
    check_betas, check_choice, check_int, check_positive, check_real)

__all__ = ('SCHEDULES', 'OptimizerSpec', 'lr_factor', 'LRSchedule', 'build_optimizers',
           'clipped_step')

SCHEDULES = ('cosine', 'constant', 'linear')


def lr_factor(schedule, step, max_steps, decay_start=0):
    """Factor of the base learning rate used by the step with index ``step``.

    Parameters
    ----------
    schedule : {'cosine', 'constant', 'linear'}
        ``'cosine'``: ``(1 + cos(pi * step / max_steps)) / 2``, from 1 at
        step 0 to 0 at ``max_steps`` (TensorFlow's ``cosine_decay``, which
        the authors of the Wasserstein-loss paper use).
        ``'constant'``: 1. ``'linear'``: 1 up to ``decay_start``, then a
        straight line to 0 at ``max_steps``.
    step : int
        Index of the step, 0 for the first one.
    max_steps : int
        Length of the run.
    decay_start : int, optional
        First step of the linear decay.

    Returns
    -------
    float

    Examples
    --------
    >>> lr_factor('cosine', 0, 100), lr_factor('cosine', 50, 100)
    (1.0, 0.5)
    >>> lr_factor('cosine', 100, 100)
    0.0
    >>> lr_factor('linear', 40, 200, decay_start=40), lr_factor('linear', 120, 200, decay_start=40)
    (1.0, 0.5)
    """
    _check_schedule(schedule)
    if schedule == 'constant':
        return 1.0
    if schedule == 'cosine':
        progress = min(max(step / max_steps, 0.0), 1.0)
        # cos(pi) is -1 + 1.2e-16 in floating point; the run ends at exactly 0.
        return 0.0 if progress == 1.0 else 0.5 * (1.0 + math.cos(math.pi * progress))
    if step < decay_start:
        return 1.0
    return max(0.0, (max_steps - step) / (max_steps - decay_start))


def _check_schedule(schedule):
    check_choice(schedule, 'schedule', SCHEDULES)


@dataclass
class OptimizerSpec:
    """What one optimiser updates and how (optimiser class, schedule, clipping).

    Parameters
    ----------
    params : str, sequence of str, `torch.nn.Module` or iterable of tensors
        The parameters: names of modules of the recipe (keys of
        ``recipe.modules``), a module, or the tensors themselves. The
        parameters of one spec must not appear in another.
    lr : float, optional
        Base learning rate.
    betas : (float, float), optional
        Moment decay rates of Adam-type optimisers (ignored by others).
    weight_decay : float, optional
        The optimiser's (L2) weight decay.
    eps : float, optional
        Denominator offset of Adam-type optimisers (ignored by others).
    schedule : {'constant', 'cosine', 'linear'}, optional
        See `lr_factor`; ``'cosine'`` decays to 0 over the run.
    decay_start : int, optional
        First step of the ``'linear'`` decay; must be below ``max_steps``.
    clip_grad_norm : float or None, optional
        Largest global 2-norm of the gradients of these parameters; larger
        gradients are scaled down before the update. None: no clipping (the
        norm is still computed and logged).
    optimizer : str or type, optional
        A class of `torch.optim` or its name (``'Adam'``, ``'AdamW'``,
        ``'SGD'``, ``'RMSprop'``, ...).
    options : dict, optional
        Further keyword arguments of the optimiser (e.g. ``momentum`` of
        SGD).

    Examples
    --------
    >>> spec = OptimizerSpec('model', lr=1e-3, betas=(0.9, 0.99),
    ...                      schedule='cosine', clip_grad_norm=1.0)
    >>> spec.lr, spec.schedule, spec.optimizer
    (0.001, 'cosine', 'Adam')
    >>> sgd = OptimizerSpec('model', lr=0.1, optimizer='SGD', options={'momentum': 0.9})
    >>> type(sgd.build([torch.zeros(2, requires_grad=True)])).__name__
    'SGD'
    >>> OptimizerSpec('critic', lr=-1.0)
    Traceback (most recent call last):
        ...
    ValueError: `lr` must be a finite number > 0 and <= 1e+10, got -1.0
    """

    params: object
    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 0.0
    eps: float = 1e-8
    schedule: str = 'constant'
    decay_start: int = 0
    clip_grad_norm: float = None
    optimizer: object = 'Adam'
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        # Far above any useful rate, and low enough that Adam's first step
        # (lr / (1 - beta1)) stays a float: above, torch fails with an overflow.
        self.lr = check_real(self.lr, 'lr', positive=True, maximum=1e10)
        self.betas = check_betas(self.betas)
        self.weight_decay = check_real(self.weight_decay, 'weight_decay', minimum=0)
        self.eps = check_positive(self.eps, 'eps')
        _check_schedule(self.schedule)
        self.decay_start = check_int(self.decay_start, 'decay_start')
        self.clip_grad_norm = check_positive(self.clip_grad_norm, 'clip_grad_norm',
                                             allow_none=True)
        self.optimizer_class()  # validated now: a bad name fails at construction
        if not isinstance(self.options, dict):
            raise TypeError(f'`options` must be a dict, got {type(self.options).__name__}')

    def optimizer_class(self):
        """The `torch.optim.Optimizer` subclass this spec names."""
        cls = self.optimizer
        if isinstance(cls, str):
            cls = getattr(torch.optim, cls, None)
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise ValueError(f'`optimizer` must name a class of torch.optim (e.g. \'Adam\', '
                             f"'SGD') or be one, got {self.optimizer!r}")
        return cls

    def build(self, params):
        """The optimiser of ``params`` with these settings."""
        cls = self.optimizer_class()
        accepted = inspect.signature(cls).parameters
        settings = {'lr': self.lr, 'weight_decay': self.weight_decay,
                    'betas': self.betas, 'eps': self.eps}
        settings = {k: v for k, v in settings.items() if k in accepted}
        return cls(params, **settings, **self.options)

    def resolve_params(self, modules):
        """Return the list of parameters this spec names.

        Parameters
        ----------
        modules : dict
            ``name -> torch.nn.Module``, the recipe's modules.

        Returns
        -------
        list of torch.Tensor
            Parameters in a fixed order (that of ``module.parameters()``),
            without duplicates; checkpoints of the optimiser depend on it.

        Examples
        --------
        >>> modules = {'model': torch.nn.Linear(2, 3)}
        >>> [tuple(p.shape) for p in OptimizerSpec('model').resolve_params(modules)]
        [(3, 2), (3,)]
        """
        spec = self.params
        if isinstance(spec, str):
            spec = [spec]
        if isinstance(spec, torch.nn.Module):
            params = list(spec.parameters())
        elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
            params = []
            for name in spec:
                if name not in modules:
                    raise ValueError(
                        f'`params` names the module {name!r}, which the recipe does not '
                        f'have; its modules are {sorted(modules)}')
                params.extend(modules[name].parameters())
        else:
            try:
                params = list(spec)
            except TypeError:
                raise TypeError(
                    '`params` must be a module name, a list of module names, a '
                    f'torch.nn.Module or an iterable of tensors, got {type(spec).__name__}'
                ) from None
            if not all(isinstance(p, torch.Tensor) for p in params):
                raise TypeError('`params` must hold only tensors when it is an iterable')
        unique, seen = [], set()
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        trainable = [p for p in unique if p.requires_grad]
        if not trainable:
            raise ValueError(f'`params` {self.params!r} holds no trainable parameters '
                             '(requires_grad=True)')
        return trainable

    def hyperparameters(self):
        """The settings stored with a checkpoint, as a plain dict."""
        values = {'lr': float(self.lr), 'betas': self.betas,
                  'weight_decay': float(self.weight_decay), 'eps': float(self.eps),
                  'schedule': self.schedule, 'decay_start': int(self.decay_start),
                  'clip_grad_norm': (None if self.clip_grad_norm is None
                                     else float(self.clip_grad_norm))}
        cls = self.optimizer_class()
        if cls is not torch.optim.Adam or self.options:
            # Recorded only when not the default, so that checkpoints of Adam
            # runs compare equal to those written before the option existed.
            values.update(optimizer=cls.__name__, options=dict(self.options))
        return values


class LRSchedule:
    """Sets the learning rates of an optimiser for each trainer step.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Its current ``lr`` values are taken as the base rates.
    schedule : {'cosine', 'constant', 'linear'}
    max_steps : int
    decay_start : int, optional

    Examples
    --------
    >>> opt = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=1e-3)
    >>> sched = LRSchedule(opt, 'cosine', max_steps=10)
    >>> sched.set_step(5)
    >>> opt.param_groups[0]['lr']
    0.0005
    """

    def __init__(self, optimizer, schedule, max_steps, decay_start=0):
        _check_schedule(schedule)
        if schedule == 'linear' and not 0 <= decay_start < max_steps:
            raise ValueError(f'`decay_start` must be in [0, max_steps={max_steps}) for the '
                             f"'linear' schedule, got {decay_start}")
        self.optimizer = optimizer
        self.schedule = schedule
        self.max_steps = max_steps
        self.decay_start = decay_start
        self.base_lrs = [float(group['lr']) for group in optimizer.param_groups]
        self.step = 0
        self.set_step(0)

    def set_step(self, step):
        """Set the rates used by the step with index ``step``."""
        factor = lr_factor(self.schedule, step, self.max_steps, self.decay_start)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group['lr'] = base * factor
        self.step = step

    def state_dict(self):
        """Schedule settings and position (plain Python values)."""
        return {'schedule': self.schedule, 'max_steps': self.max_steps,
                'decay_start': self.decay_start, 'base_lrs': list(self.base_lrs),
                'step': self.step}

    def load_state_dict(self, state):
        """Restore the position; the current settings and base rates stay."""
        self.set_step(int(state['step']))


def build_optimizers(specs, modules, max_steps, owner='recipe'):
    """Optimisers and schedules of a recipe's specifications.

    Parameters
    ----------
    specs : dict
        ``name -> OptimizerSpec`` (what ``recipe.optimizers()`` returns).
    modules : dict
        ``name -> torch.nn.Module``, the recipe's modules.
    max_steps : int
        Length of the run, for the schedules.
    owner : str, optional
        Name used in error messages.

    Returns
    -------
    optimizers, schedules, params : dict
        ``name -> torch.optim.Optimizer``, ``name -> LRSchedule`` and
        ``name -> list of parameters``.

    Examples
    --------
    >>> modules = {'model': torch.nn.Linear(2, 1)}
    >>> optimizers, schedules, params = build_optimizers(
    ...     {'model': OptimizerSpec('model', schedule='cosine')}, modules, max_steps=10)
    >>> type(optimizers['model']).__name__, len(params['model'])
    ('Adam', 2)
    """
    if not isinstance(specs, dict) or not specs:
        raise TypeError(f'{owner}.optimizers() must return a non-empty dict '
                        f'name -> OptimizerSpec, got {specs!r}')
    optimizers, schedules, params, taken = {}, {}, {}, {}
    for key, spec in specs.items():
        if not isinstance(key, str):
            raise TypeError(f'{owner}.optimizers() keys must be strings, got {key!r}')
        if not isinstance(spec, OptimizerSpec):
            raise TypeError(f'{owner}.optimizers()[{key!r}] must be an OptimizerSpec, '
                            f'got {type(spec).__name__}')
        tensors = spec.resolve_params(modules)
        for p in tensors:
            if id(p) in taken:
                raise ValueError(f'optimizers {taken[id(p)]!r} and {key!r} share '
                                 'parameters; give each parameter to one optimizer')
            taken[id(p)] = key
        params[key] = tensors
        optimizers[key] = spec.build(tensors)
        schedules[key] = LRSchedule(optimizers[key], spec.schedule, max_steps,
                                    spec.decay_start)
    return optimizers, schedules, params


def clipped_step(optimizer, params, loss, clip=None, retain_graph=False, name='optimizer'):
    """One update of ``params`` against ``loss`` with global gradient-norm clipping.

    Zeroes the gradients, back-propagates, measures the global 2-norm of
    the gradients of ``params``, scales them down to ``clip`` if larger and
    steps. A non-finite norm leaves the parameters unchanged (the gradients
    are zeroed and no step is made).

    Returns
    -------
    float
        The gradient norm before clipping.

    Examples
    --------
    >>> w = torch.zeros(2, requires_grad=True)
    >>> optimizer = torch.optim.SGD([w], lr=1.0)
    >>> clipped_step(optimizer, [w], (w * torch.tensor([3.0, 4.0])).sum(), clip=1.0)
    5.0
    >>> [round(v, 5) for v in w.tolist()]  # the step of the clipped gradient (3, 4) / 5
    [-0.6, -0.8]
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward(retain_graph=retain_graph)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        raise ValueError(f'the loss passed to optimize({name!r}) does not depend on the '
                         'parameters of that optimizer')
    norm = get_total_norm(grads)
    value = norm.item()
    if not math.isfinite(value):
        optimizer.zero_grad(set_to_none=True)
        return value
    if clip is not None:
        clip_grads_with_norm_(params, clip, norm)
    optimizer.step()
    return value
