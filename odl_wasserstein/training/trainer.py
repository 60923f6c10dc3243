"""The training loop shared by every method: `Trainer`.

One loop serves supervised learned reconstruction, WGANs, cycleGANs and
latent models: the method lives in a `Recipe` (modules, optimiser
specifications, one training step) and the `Trainer` does the rest:
device placement and seeding, Adam optimisers with their schedules and
global gradient-norm clipping (`Trainer.optimize`), a tqdm progress bar, a
JSON-lines metrics log, validation, figures, atomic checkpoints with exact
resume, a clean stop on Ctrl-C, an error on a non-finite loss, and
`DistributedDataParallel` under ``torchrun``.

**Steps.** ``trainer.step`` is the number of completed training steps. The
recipe's ``training_step(trainer, batch, step)`` receives the index of the
step it performs (0 for the first); log entries, checkpoints and figures
are labelled with the number of completed steps (1 for the first step).

**Data.** ``data`` is either

- an object with ``batches(start, rank, world_size, num_workers)``
  returning an iterator over the batches of local steps ``start``,
  ``start + 1``, ... of process ``rank`` out of ``world_size`` (the
  datasets of `odl_wasserstein.data` provide it; their batch ``k`` is a
  pure function of their seed and ``k``). When the iterator ends, it is
  called again from the current step. This is the kind that resumes
  **exactly**;
- or any re-iterable (a list, a `torch.utils.data.DataLoader`), cycled
  over epochs. Rank ``r`` of ``W`` processes takes batches ``r, r + W,
  ...``; on resume the batches before the checkpoint are skipped (whole
  epochs without loading them when the iterable has a length). Exact only
  when iterating does not depend on random state (no shuffling).

**Files** in ``output_dir`` (written by rank 0 only)::

    metrics.jsonl          one JSON object per logged step: step, time (s),
                           lr/<optimizer>, grad_norm/<optimizer>, the
                           recipe's metrics, val/<metric> on validation steps
    checkpoints/step_XXXXXX.pt, checkpoints/latest
    figures/step_XXXXXX.png

**Resume.** ``fit(resume=True)`` continues from the checkpoint that
``latest`` names (or from a given path): modules, optimisers, schedules,
recipe state, the random states of every rank (torch CPU/CUDA, NumPy,
Python) and the step are restored, the log is cut back to the
checkpoint's step, and later checkpoints are deleted, so that on CPU the
resumed run reproduces the uninterrupted one bit for bit. Validation and
figures save and restore the random states, so they do not change the
training run either.

**Distributed.** Under ``torchrun`` (``WORLD_SIZE > 1``) `fit` initialises
the default process group (``'nccl'`` on CUDA, ``'gloo'`` on CPU) unless
one exists (and keeps it for later fits, destroying it at exit), uses
``cuda:LOCAL_RANK`` for ``device='auto'``, wraps every module whose
parameters an optimiser updates in `DistributedDataParallel` (options:
``recipe.ddp_options``). A recipe reaches its modules through
``trainer.module(name)``: inside ``training_step`` it returns the wrapper
(gradients are averaged over ranks during ``backward``), elsewhere the
module itself; ``recipe.modules`` always holds the plain modules, which
are what checkpoints store. Each rank is seeded with ``seed + rank``;
logged metrics are averaged over ranks; validation and figures run on rank
0 only, with the plain modules.
"""

import atexit
import contextlib
import json
import math
import numbers
import os
import random
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import clip_grads_with_norm_, get_total_norm
from tqdm import tqdm

from odl_wasserstein.training import checkpoint as ckpt
from odl_wasserstein.training.distributed import (
    DistributedEnv, any_flag, barrier, broadcast_object, gather_objects, is_initialized,
    mean_values)
from odl_wasserstein.training.optim import LRSchedule, OptimizerSpec
from odl_wasserstein.training.recipes import Recipe, overrides
from odl_wasserstein.util import check_int

__all__ = ('Trainer', 'FitResult', 'NonFiniteLossError', 'select_device', 'move_to_device',
           'seed_everything')

CHECKPOINT_FORMAT = 1
_RESERVED_KEYS = ('step', 'time')
_RESERVED_PREFIXES = ('lr/', 'grad_norm/', 'val/')


class NonFiniteLossError(FloatingPointError):
    """A loss or gradient norm became NaN or infinite; training stopped.

    No checkpoint is written from the failing state, so ``checkpoint`` (the
    last good one, also the one ``latest`` names) is safe to resume from.

    Attributes
    ----------
    step : int
        The step that failed (1 for the first).
    metrics : dict
        What was known about the step: the loss, the optimiser, norms.
    checkpoint : pathlib.Path or None
        Last good checkpoint, None if none was written.
    """

    def __init__(self, step, metrics, checkpoint):
        self.step, self.metrics, self.checkpoint = step, dict(metrics), checkpoint
        shown = ', '.join(f'{k}={v}' for k, v in self.metrics.items())
        where = (f'the last good checkpoint is {checkpoint}; resume from it with '
                 'fit(resume=...), e.g. with a lower learning rate or stronger clipping'
                 if checkpoint is not None else 'no checkpoint was written before it')
        super().__init__(f'non-finite loss at step {step} ({shown}); training stopped '
                         f'without saving this state; {where}')


@dataclass
class FitResult:
    """What `Trainer.fit` returns.

    Attributes
    ----------
    step : int
        Completed steps at the end.
    history : list of dict
        The logged entries of the whole run (those before a resume
        included), as in ``metrics.jsonl``.
    output_dir, metrics_path : pathlib.Path
    checkpoint : pathlib.Path or None
        The last checkpoint written or resumed from.
    interrupted : bool
        True if Ctrl-C (SIGINT) stopped the run early.
    resumed_from : pathlib.Path or None
    """

    step: int
    history: list
    output_dir: Path
    metrics_path: Path
    checkpoint: Path
    interrupted: bool
    resumed_from: Path


def select_device(device='auto', local_rank=0):
    """Resolve a device setting.

    Parameters
    ----------
    device : str or torch.device, optional
        ``'auto'``: CUDA if available, else the CPU. A CUDA device without
        index gets ``local_rank``.
    local_rank : int, optional
        The process's GPU under ``torchrun``.

    Returns
    -------
    torch.device

    Examples
    --------
    >>> select_device('cpu')
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        resolved = device
    elif device == 'auto':
        resolved = (torch.device('cuda', local_rank) if torch.cuda.is_available()
                    else torch.device('cpu'))
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"`device` must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or a "
                             f'torch.device, got {device!r}') from None
    if resolved.type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError(f'`device` is {device!r} but CUDA is not available; use '
                             "device='auto' or 'cpu'")
        if resolved.index is None:
            resolved = torch.device('cuda', local_rank)
    return resolved


def move_to_device(batch, device):
    """Move the tensors of a batch (nested dicts, lists, tuples) to ``device``.

    Examples
    --------
    >>> batch = move_to_device({'data': torch.ones(2), 'id': 3}, 'cpu')
    >>> batch['data'].device, batch['id']
    (device(type='cpu'), 3)
    """
    device = torch.device(device)
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == 'cuda')
    if isinstance(batch, dict):
        moved = {key: move_to_device(value, device) for key, value in batch.items()}
        if type(batch) is dict:
            return moved
        try:
            return type(batch)(moved)
        except TypeError:
            return moved
    if isinstance(batch, tuple) and hasattr(batch, '_fields'):
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def seed_everything(seed):
    """Seed torch (CPU and all CUDA devices), NumPy's global state and `random`.

    Examples
    --------
    >>> seed_everything(3); a = torch.rand(1)
    >>> seed_everything(3); bool(torch.rand(1) == a)
    True
    """
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)


def _is_reiterable(data):
    try:
        return iter(data) is not data
    except TypeError:
        return False


class Trainer:
    """Train the modules of a recipe.

    Parameters
    ----------
    recipe : `Recipe`
        The method: modules, optimisers, training step.
    data : object with ``batches(start, rank, world_size, num_workers)``, or re-iterable
        Training batches (see the module documentation; exact resume needs
        the first kind).
    max_steps : int
        Length of the run; schedules decay over it.
    output_dir : str or path-like
        Folder of ``metrics.jsonl``, ``checkpoints/`` and ``figures/``.
    device : str or torch.device, optional
        ``'auto'``: CUDA if available, else the CPU.
    seed : int, optional
        Seeds torch, NumPy and `random` at the start of a fresh run (rank
        ``r`` uses ``seed + r``).
    log_every : int, optional
        Steps between log entries (the last step is always logged).
    checkpoint_every : int or None, optional
        Steps between checkpoints; the last step and an interrupted step
        are always saved. None: only those.
    keep_checkpoints : int or None, optional
        Number of checkpoints kept; None keeps all.
    validation_data : re-iterable, optional
        Finite validation batches, all evaluated on each validation step
        with ``recipe.validation_step``; the metrics' means are logged with
        the prefix ``val/``.
    validate_every : int, optional
        Steps between validations (and the last step); required with
        ``validation_data``.
    figure_every : int, optional
        Steps between figures ``figures/step_XXXXXX.png`` drawn by
        ``recipe.figure`` for the first validation batch (or the current
        training batch without validation data).
    progress : bool, optional
        Show a tqdm progress bar with the loss and the steps per second.
    num_workers : int, optional
        Passed to ``data.batches``.

    Attributes
    ----------
    step : int
        Completed steps.
    device : torch.device
    optimizers : dict
        ``name -> torch.optim.Adam``.
    schedules : dict
        ``name -> LRSchedule``.
    env : `DistributedEnv`
        Rank and world size.

    Examples
    --------
    >>> import tempfile, shutil
    >>> from odl_wasserstein.training import SupervisedRecipe
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 1))
    >>> x = torch.randn(64, 4)
    >>> data = [(x[i:i + 8], x[i:i + 8].sum(1, keepdim=True)) for i in range(0, 64, 8)]
    >>> folder = tempfile.mkdtemp()
    >>> trainer = Trainer(SupervisedRecipe(model, torch.nn.MSELoss(), lr=1e-2), data,
    ...                   max_steps=200, output_dir=folder, log_every=50, progress=False)
    >>> result = trainer.fit()
    >>> [entry['step'] for entry in result.history]
    [50, 100, 150, 200]
    >>> bool(result.history[-1]['loss'] < result.history[0]['loss'])
    True
    >>> result.checkpoint.name
    'step_000200.pt'

    Continuing a finished run to more steps resumes from its checkpoint:

    >>> trainer = Trainer(SupervisedRecipe(model, torch.nn.MSELoss(), lr=1e-2), data,
    ...                   max_steps=250, output_dir=folder, log_every=50, progress=False)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter('ignore')  # max_steps changed: the schedule changes
    ...     result = trainer.fit(resume=True)
    >>> result.step, len(result.history)
    (250, 5)
    >>> shutil.rmtree(folder)
    """

    def __init__(self, recipe, data, max_steps, output_dir, device='auto', seed=0,
                 log_every=10, checkpoint_every=1000, keep_checkpoints=3,
                 validation_data=None, validate_every=None, figure_every=None,
                 progress=True, num_workers=0):
        if not isinstance(recipe, Recipe):
            raise TypeError(f'`recipe` must be a Recipe, got {type(recipe).__name__}')
        if not isinstance(getattr(recipe, 'modules', None), dict):
            raise TypeError(f'{type(recipe).__name__} has no `modules` dict; call '
                            'super().__init__(modules) in its __init__')
        self.recipe = recipe
        self.max_steps = check_int(max_steps, 'max_steps', minimum=1)
        self.log_every = check_int(log_every, 'log_every', minimum=1)
        self.checkpoint_every = check_int(checkpoint_every, 'checkpoint_every', minimum=1,
                                             allow_none=True)
        self.keep_checkpoints = check_int(keep_checkpoints, 'keep_checkpoints', minimum=1,
                                             allow_none=True)
        self.num_workers = check_int(num_workers, 'num_workers')
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise TypeError(f'`seed` must be an integer, got {seed!r}')
        self.seed = int(seed)
        if not isinstance(output_dir, (str, os.PathLike)):
            raise TypeError(f'`output_dir` must be a path, got {type(output_dir).__name__}')
        self.output_dir = Path(output_dir)
        self.progress = bool(progress)

        self._indexed = callable(getattr(data, 'batches', None))
        if not self._indexed:
            if not _is_reiterable(data):
                raise TypeError(
                    '`data` must have a `batches(start, rank, world_size, num_workers)` '
                    'method or be re-iterable (a list, a DataLoader); got '
                    f'{type(data).__name__}, which is ' + (
                        'an iterator that can be consumed only once' if _is_iterator(data)
                        else 'not iterable'))
            if self.num_workers:
                raise ValueError('`num_workers` only applies to data with a `batches` '
                                 'method; set the workers of your DataLoader instead')
        self.data = data

        if (validation_data is None) != (validate_every is None):
            raise ValueError('`validation_data` and `validate_every` go together; pass both '
                             'or neither')
        if validation_data is not None:
            if not _is_reiterable(validation_data):
                raise TypeError('`validation_data` must be a finite re-iterable of batches '
                                f'(a list, a DataLoader), got {type(validation_data).__name__}')
            if not overrides(recipe, 'validation_step'):
                raise ValueError(f'`validation_data` was given but {type(recipe).__name__} '
                                 'does not implement `validation_step`')
        self.validation_data = validation_data
        self.validate_every = check_int(validate_every, 'validate_every', minimum=1,
                                        allow_none=True)
        self.figure_every = check_int(figure_every, 'figure_every', minimum=1,
                                      allow_none=True)
        if self.figure_every is not None and not overrides(recipe, 'figure'):
            raise ValueError(f'`figure_every` was given but {type(recipe).__name__} does not '
                             'implement `figure`')

        self.env = DistributedEnv.from_environ()
        self.device = select_device(device, self.env.local_rank)
        recipe.to(self.device)
        self.specs, self.optimizers, self.schedules, self._params = self._build_optimizers()

        self.step = 0
        self.last_checkpoint = None
        self._wrapped = {}
        self._in_training_step = False
        self._grad_norms = {}
        self._stop_requested = False

    # -- set-up ---------------------------------------------------------------

    def _build_optimizers(self):
        specs = self.recipe.optimizers()
        name = type(self.recipe).__name__
        if not isinstance(specs, dict) or not specs:
            raise TypeError(f'{name}.optimizers() must return a non-empty dict '
                            f'name -> OptimizerSpec, got {specs!r}')
        optimizers, schedules, params, owner = {}, {}, {}, {}
        for key, spec in specs.items():
            if not isinstance(key, str):
                raise TypeError(f'{name}.optimizers() keys must be strings, got {key!r}')
            if not isinstance(spec, OptimizerSpec):
                raise TypeError(f'{name}.optimizers()[{key!r}] must be an OptimizerSpec, '
                                f'got {type(spec).__name__}')
            tensors = spec.resolve_params(self.recipe.modules)
            for p in tensors:
                if id(p) in owner:
                    raise ValueError(f'optimizers {owner[id(p)]!r} and {key!r} share '
                                     'parameters; give each parameter to one optimizer')
                owner[id(p)] = key
            params[key] = tensors
            optimizers[key] = torch.optim.Adam(tensors, lr=spec.lr, betas=spec.betas,
                                               eps=spec.eps, weight_decay=spec.weight_decay)
            schedules[key] = LRSchedule(optimizers[key], spec.schedule, self.max_steps,
                                        spec.decay_start)
        return specs, optimizers, schedules, params

    @property
    def checkpoint_dir(self):
        """``output_dir / 'checkpoints'``."""
        return self.output_dir / 'checkpoints'

    @property
    def metrics_path(self):
        """``output_dir / 'metrics.jsonl'``."""
        return self.output_dir / 'metrics.jsonl'

    @property
    def figure_dir(self):
        """``output_dir / 'figures'``."""
        return self.output_dir / 'figures'

    @property
    def is_main(self):
        """Whether this process writes files and shows progress (rank 0)."""
        return self.env.is_main

    # -- what recipes call ----------------------------------------------------

    def module(self, name):
        """The module ``name`` of the recipe, as a training step must call it.

        Inside ``training_step`` of a distributed run this is the
        `DistributedDataParallel` wrapper of a trained module; otherwise
        (one process, validation, figures, untrained modules) the module in
        ``recipe.modules`` or ``recipe.auxiliary``.
        """
        if self._in_training_step and name in self._wrapped:
            return self._wrapped[name]
        if name in self.recipe.modules:
            return self.recipe.modules[name]
        if name in self.recipe.auxiliary:
            return self.recipe.auxiliary[name]
        raise ValueError(f'unknown module {name!r}; {type(self.recipe).__name__} has '
                         f'{sorted(self.recipe.modules) + sorted(self.recipe.auxiliary)}')

    def optimize(self, name, loss, retain_graph=False):
        """Update the parameters of optimiser ``name`` to decrease ``loss``.

        Zeroes the gradients, back-propagates, measures the global 2-norm
        of the gradients, clips it to the spec's ``clip_grad_norm`` and
        makes one Adam step. Learning rates follow the schedule of the
        current trainer step (set once per step, so that calling this
        several times in one step, as a WGAN critic does, keeps the
        schedule's length).

        Parameters
        ----------
        name : str
            An optimiser of ``recipe.optimizers()``.
        loss : torch.Tensor
            Scalar to minimise, with a graph to the parameters.
        retain_graph : bool, optional
            Keep the graph for another backward pass.

        Returns
        -------
        float
            The gradient norm before clipping (also logged as
            ``grad_norm/<name>``).

        Raises
        ------
        NonFiniteLossError
            If ``loss`` or the gradient norm is NaN or infinite (on any
            rank); no parameter is changed.
        """
        if name not in self.optimizers:
            raise ValueError(f'unknown optimizer {name!r}; {type(self.recipe).__name__}.'
                             f'optimizers() defines {sorted(self.optimizers)}')
        if not self._in_training_step:
            raise RuntimeError('`optimize` must be called from inside the recipe\'s '
                               '`training_step`, while Trainer.fit runs')
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError(f'`loss` for optimizer {name!r} must be a one-element tensor, got '
                            + (f'shape {tuple(loss.shape)}' if isinstance(loss, torch.Tensor)
                               else type(loss).__name__))
        if not loss.requires_grad:
            raise ValueError(f'`loss` for optimizer {name!r} does not require grad; it was '
                             'computed under torch.no_grad() or detached')
        nonfinite = not bool(torch.isfinite(loss.detach()).all())
        if self.env.distributed:
            # All ranks must agree before backward, or the healthy ones would
            # wait forever for the gradient all-reduce of the failing one.
            nonfinite = any_flag([nonfinite], self.device)[0]
        if nonfinite:
            raise NonFiniteLossError(self.step + 1, {'optimizer': name, 'loss': loss.item()},
                                     self.last_checkpoint)
        optimizer, params = self.optimizers[name], self._params[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            raise ValueError(f'the loss passed to optimize({name!r}) does not depend on the '
                             'parameters of that optimizer')
        norm = get_total_norm(grads)
        norm_value = norm.item()
        if not math.isfinite(norm_value):
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLossError(
                self.step + 1, {'optimizer': name, 'loss': loss.item(),
                                f'grad_norm/{name}': norm_value}, self.last_checkpoint)
        clip = self.specs[name].clip_grad_norm
        if clip is not None:
            clip_grads_with_norm_(params, clip, norm)
        optimizer.step()
        self._grad_norms[name] = norm_value
        return norm_value

    # -- the loop ---------------------------------------------------------------

    def fit(self, resume=False):
        """Train up to ``max_steps``.

        Parameters
        ----------
        resume : bool, 'auto', str or path-like, optional
            False: a fresh run (``output_dir`` must not hold checkpoints).
            True: continue from the checkpoint ``latest`` names. ``'auto'``:
            continue if there is a checkpoint, else start fresh (for jobs
            that may be preempted and restarted). A path: continue from
            that checkpoint file (or folder's latest); later checkpoints in
            ``output_dir`` are deleted and the log is cut back.

        Returns
        -------
        FitResult

        Raises
        ------
        NonFiniteLossError
            On a NaN/inf loss or gradient norm; the last good checkpoint
            stays ``latest``.
        """
        self._setup_distributed()
        try:
            return self._fit(resume)
        finally:
            self._wrapped = {}

    def _setup_distributed(self):
        if not self.env.distributed:
            return
        if not is_initialized():
            if self.device.type == 'cuda':
                torch.cuda.set_device(self.device)
            backend = 'nccl' if self.device.type == 'cuda' else 'gloo'
            torch.distributed.init_process_group(backend)
            # One group per process, kept for later fits: re-creating it on
            # torchrun's store makes gloo connect to the old group's ports.
            atexit.register(_destroy_process_group)
        if torch.distributed.get_world_size() != self.env.world_size:
            raise RuntimeError(f'the process group has {torch.distributed.get_world_size()} '
                               f'ranks but WORLD_SIZE is {self.env.world_size}')

    def _resolve_resume(self, resume):
        if resume is False or resume is None:
            return None
        if resume is True or resume == 'auto':
            path = ckpt.latest_checkpoint(self.checkpoint_dir)
            if path is None and resume is True:
                raise FileNotFoundError(
                    f'no checkpoint to resume from in {self.checkpoint_dir}; call fit() to '
                    "start a run, or fit(resume='auto') to start one when none exists")
            return path
        if isinstance(resume, (str, os.PathLike)):
            path = Path(resume)
            if path.is_dir():
                found = ckpt.latest_checkpoint(path)
                if found is None:
                    raise FileNotFoundError(f'`resume` folder {path} holds no checkpoint')
                return found
            if not path.is_file():
                raise FileNotFoundError(f'`resume` checkpoint {path} does not exist')
            return path
        raise TypeError("`resume` must be a bool, 'auto' or a checkpoint path, got "
                        f'{resume!r}')

    def _fit(self, resume):
        # Rank 0 decides, so that all ranks start from the same checkpoint.
        start_path = broadcast_object(self._resolve_resume(resume) if self.is_main else None)
        main = self.is_main
        if start_path is None:
            if ckpt.list_checkpoints(self.checkpoint_dir):
                raise FileExistsError(
                    f'{self.checkpoint_dir} holds checkpoints of an earlier run; continue it '
                    'with fit(resume=True) or choose another `output_dir`')
            seed_everything(self.seed + self.env.rank)
            self.step, elapsed, history = 0, 0.0, []
            self.last_checkpoint = None
            if main:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                ckpt.atomic_write(self.metrics_path, lambda file: None)
        else:
            state = ckpt.load_checkpoint(start_path)
            self._restore(state, start_path)
            elapsed = float(state['elapsed'])
            history = _read_log(self.metrics_path, self.step)
            self.last_checkpoint = start_path
            # Every rank has read the files before rank 0 rewinds them.
            barrier()
            if main:
                self._rewind_files(start_path, history)
        if main:
            ckpt.remove_stale_temporaries(self.checkpoint_dir)
        self._wrap_modules()

        interrupted = False
        self._stop_requested = False
        batches = self._open_data(self.step)
        bar = tqdm(total=self.max_steps, initial=self.step, unit='step',
                   desc=type(self.recipe).__name__, dynamic_ncols=True,
                   disable=not (self.progress and main))
        started = time.perf_counter()
        try:
            with self._sigint_handler():
                while self.step < self.max_steps:
                    index = self.step
                    batch = move_to_device(next(batches), self.device)
                    lrs = {}
                    for key, schedule in self.schedules.items():
                        schedule.set_step(index)
                        lrs[f'lr/{key}'] = self.optimizers[key].param_groups[0]['lr']
                    self._grad_norms = {}
                    self._in_training_step = True
                    try:
                        metrics = self.recipe.training_step(self, batch, index)
                    finally:
                        self._in_training_step = False
                    loss = self._check_training_metrics(metrics)
                    self.step = index + 1
                    nonfinite, stop = any_flag([not math.isfinite(loss), self._stop_requested],
                                               self.device)
                    if nonfinite:
                        raise NonFiniteLossError(self.step, _floats(metrics),
                                                 self.last_checkpoint)
                    if main and self._due(self.figure_every):
                        self._figure(batch)
                    now = elapsed + time.perf_counter() - started
                    entry = self._log_entry(metrics, lrs, now)
                    if entry is not None:
                        history.append(entry)
                        if main:
                            with open(self.metrics_path, 'a') as log:
                                log.write(json.dumps(entry) + '\n')
                        bar.set_postfix(loss=f'{entry["loss"]:.4g}', refresh=False)
                    bar.update(1)
                    if stop or self.step == self.max_steps or self._due(self.checkpoint_every):
                        self._save(elapsed + time.perf_counter() - started)
                    if stop:
                        interrupted = True
                        break
        finally:
            bar.close()
            batches.close()
        barrier()
        return FitResult(step=self.step, history=history, output_dir=self.output_dir,
                         metrics_path=self.metrics_path, checkpoint=self.last_checkpoint,
                         interrupted=interrupted, resumed_from=start_path)

    def _check_training_metrics(self, metrics):
        name = type(self.recipe).__name__
        _check_metrics_dict(metrics, f'{name}.training_step')
        if 'loss' not in metrics:
            raise ValueError(f"{name}.training_step must return a dict with a 'loss' entry; "
                             f'it returned the keys {sorted(metrics)}')
        return _to_float(metrics['loss'], 'loss')

    def _due(self, every):
        return every is not None and self.step % every == 0

    def _log_entry(self, metrics, lrs, now):
        last = self.step == self.max_steps
        validate = self.validate_every is not None and (self._due(self.validate_every) or last)
        if not (validate or last or self._due(self.log_every)):
            return None
        values = _floats(metrics)
        keys = sorted(values)
        values = dict(zip(keys, mean_values([values[k] for k in keys], self.device)))
        norms = {f'grad_norm/{k}': v for k, v in sorted(self._grad_norms.items())}
        entry = {'step': self.step, 'time': round(now, 6), **lrs, **norms, **values}
        if validate:
            entry.update(broadcast_object(self._validate() if self.is_main else None))
        return entry

    @contextlib.contextmanager
    def _evaluation(self):
        """No grad, eval mode, and random states and modes restored afterwards."""
        rng = ckpt.get_rng_state()
        modules = [m for top in (*self.recipe.modules.values(), *self.recipe.auxiliary.values())
                   for m in top.modules()]
        modes = [m.training for m in modules]
        self.recipe.train(False)
        try:
            with torch.no_grad():
                yield
        finally:
            for m, mode in zip(modules, modes):
                m.training = mode
            ckpt.set_rng_state(rng)

    def _validate(self):
        name = f'{type(self.recipe).__name__}.validation_step'
        sums, counts = {}, {}
        with self._evaluation():
            for batch in self.validation_data:
                metrics = self.recipe.validation_step(self, move_to_device(batch, self.device))
                _check_metrics_dict(metrics, name)
                for key, value in _floats(metrics).items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
        if not counts:
            raise ValueError('`validation_data` yielded no batches')
        return {f'val/{key}': sums[key] / counts[key] for key in sorted(sums)}

    def _figure(self, batch):
        if self.validation_data is not None:
            batch = move_to_device(next(iter(self.validation_data)), self.device)
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        with self._evaluation():
            self.recipe.figure(self, batch, self.figure_dir / f'step_{self.step:06d}.png')

    # -- data -------------------------------------------------------------------

    def _open_data(self, start):
        rank, world_size = self.env.rank, self.env.world_size
        if self._indexed:
            step = start
            while True:
                empty = True
                for batch in self.data.batches(step, rank, world_size, self.num_workers):
                    empty = False
                    yield batch
                    step += 1
                if empty:
                    raise ValueError(f'`data.batches({step}, {rank}, {world_size}, '
                                     f'{self.num_workers})` yielded no batches')
        # Position in the endless stream of all batches; this rank takes every
        # world_size-th one, from its first batch of local step `start`.
        target = start * world_size + rank
        length = len(self.data) if hasattr(self.data, '__len__') else None
        position = (target // length) * length if length else 0
        while True:
            empty = True
            for batch in self.data:
                empty = False
                if position >= target and (position - target) % world_size == 0:
                    yield batch
                position += 1
            if empty:
                raise ValueError('`data` yielded no batches')

    # -- distributed ------------------------------------------------------------

    def _wrap_modules(self):
        self._wrapped = {}
        if not self.env.distributed:
            return
        trained = {id(p) for params in self._params.values() for p in params}
        options = dict(getattr(self.recipe, 'ddp_options', {}) or {})
        if self.device.type == 'cuda':
            options.setdefault('device_ids', [self.device.index])
        for name, module in self.recipe.modules.items():
            if any(id(p) in trained for p in module.parameters()):
                self._wrapped[name] = DistributedDataParallel(module, **options)

    @contextlib.contextmanager
    def _sigint_handler(self):
        """Turn the first Ctrl-C into a stop after the current step."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            if self.is_main:
                print('\nInterrupted: finishing the step and saving a checkpoint '
                      '(press Ctrl-C again to stop at once).', file=sys.stderr, flush=True)

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT,
                          previous if previous is not None else signal.default_int_handler)

    # -- checkpoints ------------------------------------------------------------

    def _config(self):
        return {'recipe': _qualname(self.recipe),
                'modules': sorted(self.recipe.modules),
                'optimizers': {k: s.hyperparameters() for k, s in sorted(self.specs.items())},
                'max_steps': self.max_steps,
                'world_size': self.env.world_size,
                'seed': self.seed}

    def _save(self, elapsed):
        path = ckpt.checkpoint_path(self.checkpoint_dir, self.step)
        for name, module in self.recipe.modules.items():
            for key, tensor in module.state_dict().items():
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    raise NonFiniteLossError(
                        self.step, {'non-finite tensor': f'{name}.{key}'}, self.last_checkpoint)
        rng = gather_objects(ckpt.get_rng_state())
        if self.is_main:
            state = {
                'format': CHECKPOINT_FORMAT,
                'step': self.step,
                'elapsed': float(elapsed),
                'config': self._config(),
                'modules': {k: m.state_dict() for k, m in self.recipe.modules.items()},
                'optimizers': {k: o.state_dict() for k, o in self.optimizers.items()},
                'schedules': {k: s.state_dict() for k, s in self.schedules.items()},
                'recipe': self.recipe.state_dict(),
                'rng': rng,
            }
            path = ckpt.save_checkpoint(state, self.checkpoint_dir, self.step,
                                        keep=self.keep_checkpoints)
        # No rank may go on (and, after a crash, look for the latest
        # checkpoint) before the file exists.
        barrier()
        self.last_checkpoint = path

    def _restore(self, state, path):
        if state.get('format') != CHECKPOINT_FORMAT:
            raise ValueError(f'{path} has checkpoint format {state.get("format")!r}; this '
                             f'version reads format {CHECKPOINT_FORMAT}')
        config = state['config']
        if config['recipe'] != _qualname(self.recipe):
            raise ValueError(f'{path} was written by the recipe {config["recipe"]}, not '
                             f'{_qualname(self.recipe)}')
        for what, saved, current in (
                ('modules', sorted(config['modules']), sorted(self.recipe.modules)),
                ('optimizers', sorted(config['optimizers']), sorted(self.optimizers))):
            if saved != current:
                raise ValueError(f'{path} holds the {what} {saved}, the recipe has {current}')
        for name, module in self.recipe.modules.items():
            try:
                module.load_state_dict(state['modules'][name])
            except RuntimeError as error:
                raise ValueError(f'module {name!r} does not match {path}: {error}') from error
        for name, optimizer in self.optimizers.items():
            try:
                optimizer.load_state_dict(state['optimizers'][name])
            except (ValueError, KeyError) as error:
                raise ValueError(f'optimizer {name!r} does not match {path}: {error}') from error
            spec = self.specs[name]
            # The recipe's current settings win over the saved ones.
            for group in optimizer.param_groups:
                group.update(betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay)
            saved = config['optimizers'][name]
            changed = {k: (saved.get(k), v) for k, v in spec.hyperparameters().items()
                       if _normalise(saved.get(k)) != _normalise(v)}
            if changed:
                warnings.warn(f'optimizer {name!r} settings differ from {path} '
                              f'(saved, now): {changed}; the new settings apply',
                              stacklevel=4)
            self.schedules[name].load_state_dict(state['schedules'][name])
        for key, now in (('max_steps', self.max_steps), ('world_size', self.env.world_size)):
            if config[key] != now:
                warnings.warn(f'{path} was written with {key}={config[key]}, this run has '
                              f'{now}; the run continues but does not reproduce an '
                              'uninterrupted one', stacklevel=4)
        self.recipe.load_state_dict(state['recipe'])
        step = int(state['step'])
        if step > self.max_steps:
            raise ValueError(f'{path} is at step {step}, beyond `max_steps`={self.max_steps}')
        rng = state['rng']
        if self.env.rank < len(rng):
            ckpt.set_rng_state(rng[self.env.rank])
        else:
            seed_everything(self.seed + self.env.rank + step)
        self.step = step

    def _rewind_files(self, start_path, history):
        if start_path.resolve().parent == self.checkpoint_dir.resolve():
            ckpt.remove_checkpoints_after(self.checkpoint_dir, self.step)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        text = ''.join(json.dumps(entry) + '\n' for entry in history)
        ckpt.atomic_write(self.metrics_path, lambda file: file.write(text.encode()))


def _destroy_process_group():
    if is_initialized():
        torch.distributed.destroy_process_group()


def _qualname(obj):
    return f'{type(obj).__module__}.{type(obj).__qualname__}'


def _normalise(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _is_iterator(obj):
    try:
        return iter(obj) is obj
    except TypeError:
        return False


def _check_metrics_dict(metrics, where):
    if not isinstance(metrics, dict):
        raise TypeError(f'{where} must return a dict of metrics, got {type(metrics).__name__}')
    for key in metrics:
        if not isinstance(key, str):
            raise TypeError(f'{where} returned a metric with a non-string name {key!r}')
        if key in _RESERVED_KEYS or key.startswith(_RESERVED_PREFIXES):
            raise ValueError(f'{where} returned the metric {key!r}, whose name the trainer '
                             f'reserves ({_RESERVED_KEYS}, prefixes {_RESERVED_PREFIXES}); '
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


def _floats(metrics):
    return {key: _to_float(value, key) for key, value in metrics.items()}


def _read_log(path, step):
    """Entries of a metrics log up to ``step``; a torn last line is dropped."""
    entries = []
    if not Path(path).is_file():
        return entries
    with open(path) as log:
        for line in log:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get('step', math.inf) <= step:
                entries.append(entry)
    return entries
