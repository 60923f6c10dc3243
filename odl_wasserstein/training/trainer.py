"""The training loop shared by every method: `Trainer`.

One loop serves supervised learned reconstruction, WGANs, cycleGANs and
latent models: the method lives in a `Recipe` (modules, optimiser
specifications, one training step) and the `Trainer` runs it: the
optimisers with their schedules and global gradient-norm clipping
(`Trainer.optimize`), a tqdm progress bar, the metrics log, validation,
figures, checkpoints with exact resume, a clean stop on Ctrl-C or SIGTERM,
an error on a non-finite loss, and `DistributedDataParallel` under
``torchrun``. The pieces it drives live in their own modules: the run
folder and its lock (`odl_wasserstein.training.run_folder`), checkpoint
files (`checkpoint`) and their content (`state`), batch sources
(`batches`), devices and seeds (`devices`), signals (`signals`) and
optimisers (`optim`).

**Steps.** ``trainer.step`` is the number of completed training steps. The
recipe's ``training_step(trainer, batch, step)`` receives the index of the
step it performs (0 for the first); log entries, checkpoints and figures
are labelled with the number of completed steps (1 for the first step).

**Data.** ``data`` is an indexed source (``batches(start, rank,
world_size, num_workers)``, which resumes exactly) or any re-iterable; see
`odl_wasserstein.training.batches`.

**Files.** Rank 0 writes ``metrics.jsonl`` (step, time, ``lr/<optimizer>``,
``grad_norm/<optimizer>``, the recipe's metrics, ``val/<metric>``),
``checkpoints/`` and ``figures/`` in ``output_dir`` while it holds the
folder's lock (`RunFolder`). Every check (the folder, the checkpoint, the
recipe) passes before anything is written.

**Resume.** ``fit(resume=True)`` continues from the newest intact
checkpoint, ``fit(resume=step)`` or ``fit(resume=path)`` from a chosen
one: modules, optimisers, schedules, recipe state, the random states of
every rank and the step are restored (`state`), the log is cut back and
later checkpoints are deleted, so that on CPU the resumed run reproduces
the uninterrupted one bit for bit. Validation and figures restore the
random states (`evaluation`), so they do not change the run either.

**Distributed.** Under ``torchrun`` (``WORLD_SIZE > 1``) `fit` creates the
process group (`distributed`), uses ``cuda:LOCAL_RANK`` for
``device='auto'`` and wraps every module whose parameters an optimiser
updates in `DistributedDataParallel` (options: ``recipe.ddp_options``).
Inside ``training_step``, ``trainer.module(name)`` returns the wrapper
(gradients are averaged over ranks during ``backward``), elsewhere the
module itself; ``recipe.modules`` holds the plain modules, which
checkpoints store. Rank ``r`` is seeded with ``seed + r``; logged metrics
are averaged over ranks; validation and figures run on rank 0.
"""

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from odl_wasserstein.training import checkpoint as ckpt
from odl_wasserstein.training.batches import BatchSource
from odl_wasserstein.training.devices import move_to_device, select_device, seed_everything
from odl_wasserstein.training.distributed import (
    DistributedEnv, any_flag, barrier, broadcast_object, gather_objects, init_process_group,
    wrap_trained_modules)
from odl_wasserstein.training.errors import NonFiniteLossError
from odl_wasserstein.training.evaluation import Monitor, check_metrics, due, metric_floats
from odl_wasserstein.training.optim import build_optimizers, clipped_step
from odl_wasserstein.training.recipes import Recipe
from odl_wasserstein.training.run_folder import RunFolder
from odl_wasserstein.training.signals import StopSignals
from odl_wasserstein.training.state import (
    capture_state, nonfinite_tensor, restore_state, run_config)
from odl_wasserstein.util import check_int

__all__ = ('Trainer', 'FitResult')

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
        True if a signal (Ctrl-C, SIGTERM) stopped the run early.
    resumed_from : pathlib.Path or None
    signal : str or None
        ``'SIGINT'`` or ``'SIGTERM'`` if this process received the signal
        that stopped the run.
    """

    step: int
    history: list
    output_dir: Path
    metrics_path: Path
    checkpoint: Path
    interrupted: bool
    resumed_from: Path
    signal: str = None


class Trainer:
    """Train the modules of a recipe.

    Parameters
    ----------
    recipe : `Recipe`
        The method: modules, optimisers, training step.
    data : object with ``batches(start, rank, world_size, num_workers)``, or re-iterable
        Training batches (see `odl_wasserstein.training.batches`; exact
        resume needs the first kind).
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
    run : `RunFolder`
        The output folder.
    optimizers : dict
        ``name -> torch.optim.Optimizer``.
    schedules : dict
        ``name -> LRSchedule``.
    env : `DistributedEnv`
        Rank and world size.

    Examples
    --------
    >>> import tempfile, shutil
    >>> from odl_wasserstein.methods import SupervisedRecipe
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
        _check_recipe(recipe)
        self.recipe = recipe
        self.max_steps = check_int(max_steps, 'max_steps', minimum=1)
        self.checkpoint_every = check_int(checkpoint_every, 'checkpoint_every', minimum=1,
                                          allow_none=True)
        self.keep_checkpoints = check_int(keep_checkpoints, 'keep_checkpoints', minimum=1,
                                          allow_none=True)
        self.seed = check_int(seed, 'seed', minimum=-2 ** 63)
        self.run = RunFolder(output_dir)
        self.progress = bool(progress)
        self.batches = BatchSource(data, check_int(num_workers, 'num_workers'))
        self.monitor = Monitor(recipe, log_every, validation_data, validate_every,
                               figure_every)
        self.env = DistributedEnv.from_environ()
        self.device = select_device(device, self.env.local_rank)
        recipe.to(self.device)
        self.specs = recipe.optimizers()
        self.optimizers, self.schedules, self._params = build_optimizers(
            self.specs, recipe.modules, self.max_steps, type(recipe).__name__)
        self.step = 0
        self.last_checkpoint = None
        self._wrapped = {}
        self._in_training_step = False
        self._grad_norms = {}

    @property
    def data(self):
        """The training data as given."""
        return self.batches.data

    @property
    def output_dir(self):
        """The run folder, ``run.path``."""
        return self.run.path

    @property
    def checkpoint_dir(self):
        """``output_dir / 'checkpoints'``."""
        return self.run.checkpoint_dir

    @property
    def metrics_path(self):
        """``output_dir / 'metrics.jsonl'``."""
        return self.run.metrics_path

    @property
    def figure_dir(self):
        """``output_dir / 'figures'``."""
        return self.run.figure_dir

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
        makes one optimiser step. Learning rates follow the schedule of the
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
        self._check_loss(name, loss)
        norm = clipped_step(self.optimizers[name], self._params[name], loss,
                            self.specs[name].clip_grad_norm, retain_graph, name)
        if not math.isfinite(norm):
            raise NonFiniteLossError(
                self.step + 1, {'optimizer': name, 'loss': loss.item(),
                                f'grad_norm/{name}': norm}, self.last_checkpoint)
        self._grad_norms[name] = norm
        return norm

    def _check_loss(self, name, loss):
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

    # -- the loop ---------------------------------------------------------------

    def fit(self, resume=False):
        """Train up to ``max_steps``.

        Parameters
        ----------
        resume : bool, 'auto', int, str or path-like, optional
            False: a fresh run (``output_dir`` must not hold checkpoints).
            True: continue from the newest intact checkpoint. ``'auto'``:
            continue if there is a checkpoint, else start fresh (for jobs
            that may be preempted and restarted). An int: continue from
            the checkpoint of that step. A path: continue from that
            checkpoint file (or folder's newest). Later checkpoints in
            ``output_dir`` are then deleted and the log is cut back.

        Returns
        -------
        FitResult

        Raises
        ------
        RunFolderError
            If ``output_dir`` holds a run and ``resume`` is False, holds
            no checkpoint to resume from, or cannot be written.
        RunLockedError
            If another process is writing to ``output_dir``.
        DamagedCheckpointError
            If the chosen checkpoint (or every one) is damaged.
        NonFiniteLossError
            On a NaN/inf loss or gradient norm; the last good checkpoint
            stays ``latest``.
        """
        if self.env.distributed:
            init_process_group(self.env, self.device)
        try:
            return self._fit(resume)
        finally:
            self._wrapped = {}

    def _fit(self, resume):
        # Rank 0 decides (reading only), so that all ranks start from the
        # same checkpoint; nothing is written before the lock is held.
        if self.is_main:
            self.run.check_writable()
            self.run.check_free()
        start_path = broadcast_object(self.run.resume_point(resume) if self.is_main else None)
        with self.run.lock() if self.is_main else contextlib.nullcontext():
            elapsed, history = self._start(start_path)
            self._wrap_modules()
            signal_name = self._loop(elapsed, history)
        barrier()
        return FitResult(step=self.step, history=history, output_dir=self.output_dir,
                         metrics_path=self.metrics_path, checkpoint=self.last_checkpoint,
                         interrupted=signal_name is not None, resumed_from=start_path,
                         signal=signal_name or None)

    def _start(self, start_path):
        """Set up a fresh run or restore one; return the elapsed time and the log."""
        if start_path is None:
            if self.is_main:
                self.run.resume_point(False)  # checked again, now under the lock
                ckpt.atomic_write(self.metrics_path, lambda file: None)
            seed_everything(self.seed + self.env.rank)
            self.step, elapsed, history = 0, 0.0, []
            self.last_checkpoint = None
        else:
            state = ckpt.load_checkpoint(start_path)
            self.step = restore_state(state, start_path, self)
            elapsed = float(state['elapsed'])
            history = self.run.read_log(self.step)
            self.last_checkpoint = start_path
            # Every rank has read the files before rank 0 rewinds them.
            barrier()
            if self.is_main:
                self._rewind_files(start_path, history)
        if self.is_main:
            ckpt.remove_stale_temporaries(self.checkpoint_dir)
        return elapsed, history

    def _loop(self, elapsed, history):
        """Train to ``max_steps`` or a stop signal; return the signal's name ('' if
        another rank received it) or None."""
        stop = StopSignals(announce=self.is_main)
        batches = self.batches.open(self.step, self.env.rank, self.env.world_size)
        bar = tqdm(total=self.max_steps, initial=self.step, unit='step',
                   desc=type(self.recipe).__name__, dynamic_ncols=True,
                   disable=not (self.progress and self.is_main))
        clock = (elapsed, time.perf_counter())
        try:
            with stop.installed():
                while self.step < self.max_steps:
                    if self._step(next(batches), history, bar, clock, stop):
                        return stop.requested or ''
        finally:
            bar.close()
            batches.close()
        return None

    def _step(self, batch, history, bar, clock, stop):
        """One training step with its log entry, figure and checkpoint; True to stop."""
        index = self.step
        batch = move_to_device(batch, self.device)
        lrs = self._set_learning_rates(index)
        self._grad_norms = {}
        self._in_training_step = True
        try:
            metrics = self.recipe.training_step(self, batch, index)
        finally:
            self._in_training_step = False
        loss = self._check_training_metrics(metrics)
        self.step = index + 1
        nonfinite, stop_now = any_flag([not math.isfinite(loss), stop.requested is not None],
                                       self.device)
        if nonfinite:
            raise NonFiniteLossError(self.step, metric_floats(metrics), self.last_checkpoint)
        if self.is_main and self.monitor.figure_due(self.step):
            self.monitor.figure(self, batch, self.figure_dir)
        elapsed = clock[0] + time.perf_counter() - clock[1]
        entry = self.monitor.entry(self, metrics, dict(lrs, **self._norm_entries()), elapsed)
        if entry is not None:
            history.append(entry)
            if self.is_main:
                self.run.append_log(entry)
            bar.set_postfix(loss=f'{entry["loss"]:.4g}', refresh=False)
        bar.update(1)
        if stop_now or self.step == self.max_steps or due(self.step, self.checkpoint_every):
            self._save(clock[0] + time.perf_counter() - clock[1])
        return stop_now

    def _set_learning_rates(self, index):
        lrs = {}
        for key, schedule in self.schedules.items():
            schedule.set_step(index)
            lrs[f'lr/{key}'] = self.optimizers[key].param_groups[0]['lr']
        return lrs

    def _check_training_metrics(self, metrics):
        name = type(self.recipe).__name__
        check_metrics(metrics, f'{name}.training_step')
        if 'loss' not in metrics:
            raise ValueError(f"{name}.training_step must return a dict with a 'loss' entry; "
                             f'it returned the keys {sorted(metrics)}')
        return metric_floats({'loss': metrics['loss']})['loss']

    def _norm_entries(self):
        return {f'grad_norm/{k}': v for k, v in sorted(self._grad_norms.items())}

    def _wrap_modules(self):
        self._wrapped = {}
        if self.env.distributed:
            trained = [p for params in self._params.values() for p in params]
            self._wrapped = wrap_trained_modules(self.recipe.modules, trained, self.device,
                                                 getattr(self.recipe, 'ddp_options', None))

    # -- checkpoints ------------------------------------------------------------

    def _save(self, elapsed):
        bad = nonfinite_tensor(self.recipe.modules)
        if bad is not None:
            raise NonFiniteLossError(self.step, {'non-finite tensor': bad},
                                     self.last_checkpoint)
        rng = gather_objects(ckpt.get_rng_state())
        path = ckpt.checkpoint_path(self.checkpoint_dir, self.step)
        if self.is_main:
            config = run_config(self.recipe, self.specs, self.max_steps,
                                self.env.world_size, self.seed)
            state = capture_state(self.step, elapsed, config, self.recipe, self.optimizers,
                                  self.schedules, rng)
            path = ckpt.save_checkpoint(state, self.checkpoint_dir, self.step,
                                        keep=self.keep_checkpoints)
        # No rank may go on (and, after a crash, look for the latest
        # checkpoint) before the file exists.
        barrier()
        self.last_checkpoint = path

    def _rewind_files(self, start_path, history):
        if start_path.resolve().parent == self.checkpoint_dir.resolve():
            ckpt.remove_checkpoints_after(self.checkpoint_dir, self.step)
        self.run.write_log(history)


def _check_recipe(recipe):
    if not isinstance(recipe, Recipe):
        raise TypeError(f'`recipe` must be a Recipe, got {type(recipe).__name__}')
    if not isinstance(getattr(recipe, 'modules', None), dict):
        raise TypeError(f'{type(recipe).__name__} has no `modules` dict; call '
                        'super().__init__(modules) in its __init__')
