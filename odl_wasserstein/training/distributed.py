"""The distributed setting of a training run: ``torchrun`` environment and collectives.

`torchrun` (``python -m torch.distributed.run``) starts one process per
device and sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``. `DistributedEnv`
reads them; the `Trainer` then initialises the default process group
(backend ``'nccl'`` on CUDA, ``'gloo'`` on CPU) and uses the small
collectives here to keep all ranks in step: agreeing on flags (stop,
non-finite loss), averaging logged metrics and gathering per-rank states
for checkpoints. Without ``torchrun`` (``WORLD_SIZE`` unset or 1) every
function is a cheap no-op on a single process.
"""

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = ('DistributedEnv', 'is_initialized', 'init_process_group', 'wrap_trained_modules',
           'any_flag', 'mean_values', 'gather_objects', 'broadcast_object', 'barrier')


@dataclass(frozen=True)
class DistributedEnv:
    """Rank, local rank and world size of this process.

    Examples
    --------
    >>> env = DistributedEnv.from_environ({'WORLD_SIZE': '2', 'RANK': '1', 'LOCAL_RANK': '1'})
    >>> env.distributed, env.is_main
    (True, False)
    >>> DistributedEnv.from_environ({}).world_size
    1
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self):
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self):
        """Whether this is rank 0, the one that writes files."""
        return self.rank == 0

    @classmethod
    def from_environ(cls, environ=None):
        """Read ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (defaults 1, 0, 0)."""
        environ = os.environ if environ is None else environ
        values = {}
        for key, default in (('WORLD_SIZE', 1), ('RANK', 0), ('LOCAL_RANK', 0)):
            raw = environ.get(key, default)
            try:
                values[key] = int(raw)
            except (TypeError, ValueError):
                raise ValueError(f'environment variable {key}={raw!r} is not an integer; '
                                 'launch with torchrun or unset it') from None
        world_size, rank, local_rank = values['WORLD_SIZE'], values['RANK'], values['LOCAL_RANK']
        if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
            raise ValueError(f'inconsistent torchrun environment: WORLD_SIZE={world_size}, '
                             f'RANK={rank}, LOCAL_RANK={local_rank}')
        return cls(rank=rank, local_rank=local_rank, world_size=world_size)


def is_initialized():
    """Whether a default process group exists."""
    return dist.is_available() and dist.is_initialized()


def init_process_group(env, device):
    """Create the default process group of a ``torchrun`` process unless one exists.

    ``'nccl'`` on CUDA, ``'gloo'`` on the CPU. The group is kept for later
    fits (re-creating it on torchrun's store makes gloo connect to the old
    group's ports) and destroyed at exit.
    """
    if not is_initialized():
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
        atexit.register(_destroy_process_group)
    if dist.get_world_size() != env.world_size:
        raise RuntimeError(f'the process group has {dist.get_world_size()} ranks but '
                           f'WORLD_SIZE is {env.world_size}')


def _destroy_process_group():
    if is_initialized():
        dist.destroy_process_group()


def wrap_trained_modules(modules, trained, device, options=None):
    """``DistributedDataParallel`` wrappers of the modules that own ``trained`` parameters.

    Parameters
    ----------
    modules : dict
        ``name -> torch.nn.Module``.
    trained : iterable of torch.Tensor
        The parameters some optimiser updates.
    device : torch.device
    options : dict, optional
        Keyword arguments of `DistributedDataParallel` (``device_ids`` is set
        on CUDA).

    Returns
    -------
    dict
        ``name -> DistributedDataParallel`` for the trained modules only.
    """
    trained = {id(p) for p in trained}
    options = dict(options or {})
    if device.type == 'cuda':
        options.setdefault('device_ids', [device.index])
    return {name: DistributedDataParallel(module, **options)
            for name, module in modules.items()
            if any(id(p) in trained for p in module.parameters())}


def any_flag(flags, device):
    """Element-wise logical OR of boolean flags over all ranks.

    Parameters
    ----------
    flags : sequence of bool
    device : torch.device
        Device of the collective (the CUDA device for NCCL).

    Returns
    -------
    list of bool

    Examples
    --------
    >>> any_flag([True, False], torch.device('cpu'))
    [True, False]
    """
    if not is_initialized():
        return [bool(f) for f in flags]
    tensor = torch.tensor([float(bool(f)) for f in flags], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


def mean_values(values, device):
    """Mean of a list of floats over all ranks (in float64)."""
    if not is_initialized() or not values:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return (tensor / dist.get_world_size()).tolist()


def gather_objects(obj):
    """List of ``obj`` from every rank, indexed by rank (``[obj]`` alone)."""
    if not is_initialized():
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier():
    """Wait for all ranks (no-op on a single process)."""
    if is_initialized():
        dist.barrier()


def broadcast_object(obj):
    """``obj`` of rank 0 on every rank (``obj`` itself on a single process)."""
    if not is_initialized():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
