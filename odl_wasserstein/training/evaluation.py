"""What a run logs, validates and draws, and when; without side effects on the run.

A recipe's ``training_step`` and ``validation_step`` return dicts of
numbers or one-element tensors (`check_metrics`, `metric_floats`).
`evaluation_mode` runs a block in eval mode without gradients and restores
the modules' modes and every random state afterwards, so that validation
and figures never change the training run; `validation_metrics` averages a
recipe's validation metrics over the validation batches. `Monitor` holds
the schedule: a log entry every ``log_every`` steps (and at the last),
validation every ``validate_every`` steps (and at the last), a figure
every ``figure_every`` steps.
"""

import contextlib
import numbers

import torch

from odl_wasserstein.training import checkpoint as ckpt
from odl_wasserstein.training.batches import is_reiterable
from odl_wasserstein.training.devices import move_to_device
from odl_wasserstein.training.distributed import broadcast_object, mean_values
from odl_wasserstein.training.recipes import overrides
from odl_wasserstein.util import check_int

__all__ = ('RESERVED_KEYS', 'RESERVED_PREFIXES', 'check_metrics', 'metric_floats',
           'evaluation_mode', 'validation_metrics', 'due', 'Monitor')

RESERVED_KEYS = ('step', 'time')
RESERVED_PREFIXES = ('lr/', 'grad_norm/', 'val/')
"""Names of log entries the trainer writes itself; metrics must not take them."""


def check_metrics(metrics, where):
    """Raise unless ``metrics`` is a dict of string keys the trainer does not reserve.

    Examples
    --------
    >>> check_metrics({'loss': 1.0}, 'training_step')
    >>> check_metrics({'time': 1.0}, 'training_step')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: training_step returned the metric 'time', whose name the trainer reserves ...
    """
    if not isinstance(metrics, dict):
        raise TypeError(f'{where} must return a dict of metrics, got {type(metrics).__name__}')
    for key in metrics:
        if not isinstance(key, str):
            raise TypeError(f'{where} returned a metric with a non-string name {key!r}')
        if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES):
            raise ValueError(f'{where} returned the metric {key!r}, whose name the trainer '
                             f'reserves ({RESERVED_KEYS}, prefixes {RESERVED_PREFIXES}); '
                             'rename it')


def _to_float(value, key):
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            raise TypeError(f'metric {key!r} must be a real number or a one-element tensor, '
                            f'got a tensor of shape {tuple(value.shape)} ({value.dtype})')
        return float(value.item())
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f'metric {key!r} must be a real number or a one-element tensor, got '
                    f'{type(value).__name__}')


def metric_floats(metrics):
    """``metrics`` with every value as a float.

    Examples
    --------
    >>> metric_floats({'loss': torch.tensor(0.5), 'psnr': 20})
    {'loss': 0.5, 'psnr': 20.0}
    """
    return {key: _to_float(value, key) for key, value in metrics.items()}


@contextlib.contextmanager
def evaluation_mode(recipe):
    """No grad, eval mode, and random states and modes restored afterwards."""
    rng = ckpt.get_rng_state()
    modules = [m for top in (*recipe.modules.values(), *recipe.auxiliary.values())
               for m in top.modules()]
    modes = [m.training for m in modules]
    recipe.train(False)
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.training = mode
        ckpt.set_rng_state(rng)


def validation_metrics(recipe, trainer, batches, device):
    """Means of ``recipe.validation_step`` over ``batches``, keys prefixed ``val/``."""
    name = f'{type(recipe).__name__}.validation_step'
    sums, counts = {}, {}
    with evaluation_mode(recipe):
        for batch in batches:
            metrics = recipe.validation_step(trainer, move_to_device(batch, device))
            check_metrics(metrics, name)
            for key, value in metric_floats(metrics).items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
    if not counts:
        raise ValueError('`validation_data` yielded no batches')
    return {f'val/{key}': sums[key] / counts[key] for key in sorted(sums)}


def due(step, every):
    """Whether something done every ``every`` steps (None: never) is due at ``step``."""
    return every is not None and step % every == 0


class Monitor:
    """The log, validation and figure schedule of a run.

    Parameters
    ----------
    recipe : `Recipe`
    log_every : int
    validation_data : re-iterable or None
        Finite validation batches, for ``recipe.validation_step``.
    validate_every, figure_every : int or None
    """

    def __init__(self, recipe, log_every, validation_data, validate_every, figure_every):
        self.recipe = recipe
        self.log_every = check_int(log_every, 'log_every', minimum=1)
        self.validation_data = _check_validation(recipe, validation_data, validate_every)
        self.validate_every = check_int(validate_every, 'validate_every', minimum=1,
                                        allow_none=True)
        self.figure_every = check_int(figure_every, 'figure_every', minimum=1,
                                      allow_none=True)
        if self.figure_every is not None and not overrides(recipe, 'figure'):
            raise ValueError(f'`figure_every` was given but {type(recipe).__name__} does not '
                             'implement `figure`')

    def figure_due(self, step):
        """Whether a figure is drawn after ``step`` completed steps."""
        return due(step, self.figure_every)

    def entry(self, trainer, metrics, extra, elapsed):
        """The log entry of the step ``trainer`` completed, or None if none is due.

        Metrics are averaged over ranks; validation runs on rank 0 and its
        result is shared with every rank.
        """
        step, last = trainer.step, trainer.step == trainer.max_steps
        validate = self.validate_every is not None and (due(step, self.validate_every) or last)
        if not (validate or last or due(step, self.log_every)):
            return None
        values = metric_floats(metrics)
        keys = sorted(values)
        values = dict(zip(keys, mean_values([values[k] for k in keys], trainer.device)))
        entry = {'step': step, 'time': round(elapsed, 6), **extra, **values}
        if validate:
            entry.update(broadcast_object(
                validation_metrics(self.recipe, trainer, self.validation_data, trainer.device)
                if trainer.is_main else None))
        return entry

    def figure(self, trainer, batch, folder):
        """Draw ``figures/step_XXXXXX.png`` of the first validation batch (or ``batch``)."""
        if self.validation_data is not None:
            batch = move_to_device(next(iter(self.validation_data)), trainer.device)
        folder.mkdir(parents=True, exist_ok=True)
        with evaluation_mode(self.recipe):
            self.recipe.figure(trainer, batch, folder / f'step_{trainer.step:06d}.png')


def _check_validation(recipe, validation_data, validate_every):
    if (validation_data is None) != (validate_every is None):
        raise ValueError('`validation_data` and `validate_every` go together; pass both '
                         'or neither')
    if validation_data is not None:
        if not is_reiterable(validation_data):
            raise TypeError('`validation_data` must be a finite re-iterable of batches '
                            f'(a list, a DataLoader), got {type(validation_data).__name__}')
        if not overrides(recipe, 'validation_step'):
            raise ValueError(f'`validation_data` was given but {type(recipe).__name__} '
                             'does not implement `validation_step`')
    return validation_data
