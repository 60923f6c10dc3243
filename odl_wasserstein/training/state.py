"""What a checkpoint holds, and how a run is restored from one.

A checkpoint (format 1) is a dict::

    format       1
    step         completed steps
    elapsed      training seconds so far
    config       recipe class, module and optimiser names, optimiser
                 settings, max_steps, world size, seed (checked on resume)
    modules      name -> state_dict
    optimizers   name -> state_dict
    schedules    name -> LRSchedule.state_dict()
    recipe       the recipe's own state (Recipe.state_dict)
    rng          one entry of checkpoint.get_rng_state() per rank

`capture_state` builds it, `restore_state` checks that it belongs to the
recipe at hand and loads it, so that a resumed run reproduces the
uninterrupted one bit for bit on the CPU.
"""

import warnings

import torch

from odl_wasserstein.training import checkpoint as ckpt
from odl_wasserstein.training.devices import seed_everything

__all__ = ('CHECKPOINT_FORMAT', 'run_config', 'capture_state', 'restore_state',
           'nonfinite_tensor', 'qualname')

CHECKPOINT_FORMAT = 1


def qualname(obj):
    """``module.Class`` of an object, as checkpoints record recipes."""
    return f'{type(obj).__module__}.{type(obj).__qualname__}'


def run_config(recipe, specs, max_steps, world_size, seed):
    """The settings a checkpoint records and a resume compares."""
    return {'recipe': qualname(recipe),
            'modules': sorted(recipe.modules),
            'optimizers': {k: s.hyperparameters() for k, s in sorted(specs.items())},
            'max_steps': max_steps,
            'world_size': world_size,
            'seed': seed}


def capture_state(step, elapsed, config, recipe, optimizers, schedules, rng):
    """The checkpoint dict of a run at ``step`` (``rng``: one state per rank)."""
    return {
        'format': CHECKPOINT_FORMAT,
        'step': step,
        'elapsed': float(elapsed),
        'config': config,
        'modules': {k: m.state_dict() for k, m in recipe.modules.items()},
        'optimizers': {k: o.state_dict() for k, o in optimizers.items()},
        'schedules': {k: s.state_dict() for k, s in schedules.items()},
        'recipe': recipe.state_dict(),
        'rng': rng,
    }


def restore_state(state, path, trainer):
    """Load a checkpoint into ``trainer``'s recipe, optimisers and schedules.

    Returns the step of the checkpoint. Raises `ValueError` if the
    checkpoint belongs to another recipe or run; warns where the run's
    settings changed (the run continues but does not reproduce an
    uninterrupted one).
    """
    config = _check_format(state, path, trainer.recipe)
    _check_names(config, path, trainer)
    _load_modules(state, path, trainer.recipe)
    for name, optimizer in trainer.optimizers.items():
        _load_optimizer(name, optimizer, trainer.specs[name], state, config, path)
        trainer.schedules[name].load_state_dict(state['schedules'][name])
    for key, now in (('max_steps', trainer.max_steps),
                     ('world_size', trainer.env.world_size)):
        if config[key] != now:
            warnings.warn(f'{path} was written with {key}={config[key]}, this run has '
                          f'{now}; the run continues but does not reproduce an '
                          'uninterrupted one', stacklevel=5)
    trainer.recipe.load_state_dict(state['recipe'])
    step = int(state['step'])
    if step > trainer.max_steps:
        raise ValueError(f'{path} is at step {step}, beyond `max_steps`={trainer.max_steps}')
    rank = trainer.env.rank
    if rank < len(state['rng']):
        ckpt.set_rng_state(state['rng'][rank])
    else:
        seed_everything(trainer.seed + rank + step)
    return step


def _check_format(state, path, recipe):
    if state.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(f'{path} has checkpoint format {state.get("format")!r}; this '
                         f'version reads format {CHECKPOINT_FORMAT}')
    config = state['config']
    if config['recipe'] != qualname(recipe):
        raise ValueError(f'{path} was written by the recipe {config["recipe"]}, not '
                         f'{qualname(recipe)}')
    return config


def _check_names(config, path, trainer):
    for what, saved, current in (
            ('modules', sorted(config['modules']), sorted(trainer.recipe.modules)),
            ('optimizers', sorted(config['optimizers']), sorted(trainer.optimizers))):
        if saved != current:
            raise ValueError(f'{path} holds the {what} {saved}, the recipe has {current}')


def _load_modules(state, path, recipe):
    for name, module in recipe.modules.items():
        try:
            module.load_state_dict(state['modules'][name])
        except RuntimeError as error:
            raise ValueError(f'module {name!r} does not match {path}: {error}') from error


def _load_optimizer(name, optimizer, spec, state, config, path):
    try:
        optimizer.load_state_dict(state['optimizers'][name])
    except (ValueError, KeyError) as error:
        raise ValueError(f'optimizer {name!r} does not match {path}: {error}') from error
    # The recipe's current settings win over the saved ones.
    current = {'betas': spec.betas, 'eps': spec.eps, 'weight_decay': spec.weight_decay}
    for group in optimizer.param_groups:
        group.update({k: v for k, v in current.items() if k in group})
    saved = config['optimizers'][name]
    changed = {k: (saved.get(k), v) for k, v in spec.hyperparameters().items()
               if _normalise(saved.get(k)) != _normalise(v)}
    if changed:
        warnings.warn(f'optimizer {name!r} settings differ from {path} (saved, now): '
                      f'{changed}; the new settings apply', stacklevel=6)


def _normalise(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def nonfinite_tensor(modules):
    """``'module.key'`` of the first floating tensor with NaN or inf in ``modules``, or None."""
    for name, module in modules.items():
        for key, tensor in module.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return f'{name}.{key}'
    return None
