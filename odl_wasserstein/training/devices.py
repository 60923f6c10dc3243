"""Devices, seeds and memory: where a run computes and whether it fits.

- `select_device` resolves ``'auto'``, ``'cpu'``, ``'cuda[:i]'`` (the
  process's GPU under ``torchrun``);
- `move_to_device` moves the tensors of nested batches;
- `seed_everything` seeds torch, NumPy's global state and `random`;
- `available_memory` and `require_memory` refuse, before anything is
  allocated, a run whose tensors cannot fit (a mistyped image size would
  otherwise try to allocate tens of GiB and fail deep inside torch or
  take the machine down).
"""

import os
import random

import numpy as np
import torch

__all__ = ('check_device', 'select_device', 'move_to_device', 'seed_everything',
           'available_memory', 'require_memory')


def check_device(device, name='device'):
    """Return ``device`` if it names a device (without requiring it to be present).

    ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:<index>'``; whether CUDA
    is there is checked by `select_device` when a run starts.

    Examples
    --------
    >>> check_device('cuda:1', 'train.device')
    'cuda:1'
    >>> check_device('gpu', 'train.device')
    Traceback (most recent call last):
        ...
    ValueError: `train.device` must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got 'gpu'
    """
    try:
        parsed = None if device == 'auto' else torch.device(device)
    except (RuntimeError, TypeError):
        parsed = False
    if parsed is False or (parsed is not None and parsed.type not in ('cpu', 'cuda')):
        raise ValueError(f"`{name}` must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got "
                         f'{device!r}')
    return device


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


def available_memory(device='cpu'):
    """Bytes that can still be allocated on ``device`` (None if unknown).

    The CPU's is the kernel's estimate of available memory
    (``MemAvailable``, Linux) or the physical memory; a GPU's is what
    `torch.cuda.mem_get_info` reports free.

    Examples
    --------
    >>> available_memory('cpu') > 0
    True
    """
    device = torch.device(device)
    if device.type == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open('/proc/meminfo') as info:
            for line in info:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(needed, device, what, fix):
    """Raise `ValueError` if ``needed`` bytes exceed the memory of ``device``.

    Parameters
    ----------
    needed : int
        A lower bound of the bytes the work will hold at once.
    device : str or torch.device
    what : str
        The work, for the message (e.g. ``'one training step at data.size=4096'``).
    fix : str
        What to change.

    Examples
    --------
    >>> require_memory(2 ** 20, 'cpu', 'a tiny step', 'nothing')
    >>> require_memory(2 ** 70, 'cpu', 'a huge step', 'reduce data.size')
    Traceback (most recent call last):
        ...
    ValueError: a huge step needs at least 1073741824.0 TiB of memory; the cpu has ... available; reduce data.size
    """
    available = available_memory(device)
    if available is not None and needed > available:
        raise ValueError(f'{what} needs at least {_size(needed)} of memory; the '
                         f'{torch.device(device).type} has {_size(available)} available; {fix}')


def _size(n_bytes):
    for unit, scale in (('TiB', 2 ** 40), ('GiB', 2 ** 30), ('MiB', 2 ** 20)):
        if n_bytes >= scale:
            return f'{n_bytes / scale:.1f} {unit}'
    return f'{n_bytes} bytes'
