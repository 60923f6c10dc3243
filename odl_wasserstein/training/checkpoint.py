"""Checkpoint files: atomic writes, the ``latest`` pointer, keep-last-k, RNG states.

A checkpoint folder holds one file per saved step and a pointer::

    checkpoints/
        step_000900.pt
        step_001000.pt
        latest            # text: "step_001000.pt"

Every file is written to a temporary file in the same folder (a name
starting with ``.`` and ending in ``.tmp``), flushed to disk and renamed
with `os.replace`, which is atomic on POSIX and Windows. A process killed
during a write leaves at worst such a temporary file, which is never read
and is removed by the next `remove_stale_temporaries`; ``step_*.pt`` files
and ``latest`` are always complete. If ``latest`` is missing or names a
missing file, `latest_checkpoint` falls back to the highest step.

Files are read with ``torch.load(weights_only=True)``: a checkpoint holds
only tensors and plain Python containers and numbers (`get_rng_state`
stores NumPy's state that way), so loading one cannot run code.

**Verification.** Every file is checked before it is read
(`verify_checkpoint`): ``torch.save`` writes a zip archive with a CRC-32
per record, which ``torch.load`` does not check, so a file whose payload
was altered on disk would load silently with wrong numbers. Empty,
truncated, overwritten and altered files are all refused. Reading a
folder (`load_checkpoint`, `intact_checkpoint`) falls back to the newest
intact checkpoint, with a warning naming the damaged file and the one
used.
"""

import os
import random
import re
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

from odl_wasserstein.util import check_int

import numpy as np
import torch

__all__ = (
    'LATEST',
    'checkpoint_path',
    'atomic_write',
    'atomic_save',
    'save_checkpoint',
    'DamagedCheckpointError',
    'verify_checkpoint',
    'intact_checkpoint',
    'load_checkpoint',
    'list_checkpoints',
    'latest_checkpoint',
    'prune_checkpoints',
    'remove_checkpoints_after',
    'remove_stale_temporaries',
    'get_rng_state',
    'set_rng_state',
)

LATEST = 'latest'
_STEP_FILE = re.compile(r'^step_(\d+)\.pt$')
_TEMP_SUFFIX = '.tmp'


def checkpoint_path(directory, step):
    """Path of the checkpoint of ``step`` in ``directory``.

    Examples
    --------
    >>> checkpoint_path('run/checkpoints', 1000).name
    'step_001000.pt'
    """
    return Path(directory) / f'step_{int(step):06d}.pt'


def atomic_write(path, write):
    """Write a file through a temporary file and `os.replace`.

    Parameters
    ----------
    path : str or path-like
        Final path; its folder must exist.
    write : callable
        ``write(file)`` writes the content to a binary file object.

    Notes
    -----
    If ``write`` raises, the temporary file is removed and ``path`` is left
    as it was.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / 'note.txt'
    >>> atomic_write(path, lambda f: f.write(b'done'))
    >>> path.read_text()
    'done'
    >>> import shutil; shutil.rmtree(path.parent)
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.',
                               suffix=_TEMP_SUFFIX)
    try:
        # mkstemp creates 0600 files; give the result the usual permissions.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, 'wb') as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(path.parent)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    # Makes the rename itself durable on POSIX; not possible on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj, path):
    """`torch.save` ``obj`` to ``path`` atomically (see `atomic_write`)."""
    atomic_write(path, lambda file: torch.save(obj, file))


def save_checkpoint(state, directory, step, keep=3):
    """Write a checkpoint, point ``latest`` at it and keep the last ``keep``.

    Parameters
    ----------
    state : dict
        Content (tensors and plain containers).
    directory : str or path-like
        Checkpoint folder, created if needed.
    step : int
        Step the checkpoint belongs to; names the file.
    keep : int or None, optional
        Number of checkpoints to keep (the newest by step); None keeps all.

    Returns
    -------
    pathlib.Path
        Path of the new checkpoint.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for step in (10, 20, 30):
    ...     path = save_checkpoint({'step': step}, folder, step, keep=2)
    >>> [p.name for _, p in list_checkpoints(folder)]
    ['step_000020.pt', 'step_000030.pt']
    >>> latest_checkpoint(folder).name
    'step_000030.pt'
    >>> import shutil; shutil.rmtree(folder)
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    atomic_save(state, path)
    # The pointer moves only after the checkpoint file is complete.
    atomic_write(directory / LATEST, lambda file: file.write(path.name.encode()))
    if keep is not None:
        prune_checkpoints(directory, keep)
    return path


class DamagedCheckpointError(ValueError):
    """A checkpoint file that is not the complete file its run wrote.

    Attributes
    ----------
    path : pathlib.Path
    reason : str
        What is wrong (empty, not a zip archive, a record failing its CRC).
    """

    def __init__(self, path, reason):
        self.path, self.reason = Path(path), reason
        super().__init__(f'checkpoint {path} is damaged ({reason})')


def verify_checkpoint(path):
    """Raise `DamagedCheckpointError` unless ``path`` is a complete, unaltered checkpoint.

    Checks that the file is a zip archive as ``torch.save`` writes it and
    that every record matches the CRC-32 stored with it.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = save_checkpoint({'weights': torch.arange(1000.0)}, folder, 1)
    >>> verify_checkpoint(path)
    >>> data = bytearray(path.read_bytes())
    >>> data[len(data) // 2] ^= 0xFF  # one flipped byte in the tensor data
    >>> _ = path.write_bytes(bytes(data))
    >>> verify_checkpoint(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    odl_wasserstein.training.checkpoint.DamagedCheckpointError: checkpoint ... is damaged (record '.../data/0' fails its CRC check)
    >>> import shutil; shutil.rmtree(folder)
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f'checkpoint {path} does not exist') from None
    if size == 0:
        raise DamagedCheckpointError(path, 'an empty file')
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise DamagedCheckpointError(
            path, f'not a complete checkpoint archive: {error}') from None
    except OSError as error:
        raise DamagedCheckpointError(path, f'unreadable: {error}') from None
    if bad is not None:
        raise DamagedCheckpointError(path, f'record {bad!r} fails its CRC check')


def intact_checkpoint(directory, warn=True):
    """The newest checkpoint of ``directory`` that passes `verify_checkpoint`, or None.

    Candidates are the file ``latest`` names, then every checkpoint by
    decreasing step. Damaged newer files are skipped with a
    `RuntimeWarning` naming them and the checkpoint used (``warn=False``
    skips silently).

    Raises
    ------
    DamagedCheckpointError
        If there are checkpoints but none is intact (the newest one's
        error, naming the others).
    """
    directory = Path(directory)
    candidates, seen = [], set()
    pointed = latest_checkpoint(directory)
    for path in ([pointed] if pointed else []) + [p for _, p in
                                                reversed(list_checkpoints(directory))]:
        if path not in seen:
            seen.add(path)
            candidates.append(path)
    damaged = []
    for path in candidates:
        try:
            verify_checkpoint(path)
        except DamagedCheckpointError as error:
            damaged.append(error)
            continue
        if damaged and warn:
            names = '; '.join(str(error) for error in damaged)
            warnings.warn(f'{names}; using {path} instead', RuntimeWarning, stacklevel=2)
        return path
    if damaged:
        others = ''.join(f'; {error}' for error in damaged[1:])
        raise DamagedCheckpointError(
            damaged[0].path, f'{damaged[0].reason}, and no other checkpoint in {directory} is '
            f'intact{others}')
    return None


def load_checkpoint(path):
    """Verify and read a checkpoint onto the CPU.

    Parameters
    ----------
    path : str or path-like
        A checkpoint file, or a folder (its newest intact checkpoint, see
        `intact_checkpoint`).

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError
        If there is no such file or the folder holds no checkpoint.
    DamagedCheckpointError
        If the file (or every checkpoint of the folder) is damaged.
    ValueError
        If the file is not a readable checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        found = intact_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f'no checkpoint (step_*.pt) in {path}')
        path = found
    elif not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    else:
        verify_checkpoint(path)
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        raise ValueError(f'{path} is not a readable checkpoint: {error}') from error
    if not isinstance(state, dict):
        raise ValueError(f'{path} is not a checkpoint: it holds a {type(state).__name__}, '
                         'not a dict')
    return state


def list_checkpoints(directory):
    """``[(step, path), ...]`` of the complete checkpoints, by increasing step."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _STEP_FILE.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory):
    """Path of the newest complete checkpoint in ``directory``, or None.

    The ``latest`` pointer is followed when it names an existing checkpoint
    file; otherwise the highest step wins.
    """
    directory = Path(directory)
    pointer = directory / LATEST
    if pointer.is_file():
        name = pointer.read_text().strip()
        if _STEP_FILE.match(name) and (directory / name).is_file():
            return directory / name
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def prune_checkpoints(directory, keep):
    """Delete all but the ``keep`` checkpoints with the highest steps."""
    keep = check_int(keep, 'keep', minimum=1)
    for _, path in list_checkpoints(directory)[:-keep]:
        path.unlink(missing_ok=True)


def remove_checkpoints_after(directory, step):
    """Delete the checkpoints of steps after ``step``; point ``latest`` at ``step``'s.

    Used when a run is resumed from an earlier checkpoint: the run is
    rewound, and later checkpoints would belong to a different history.
    Damaged later files are not deleted but renamed to ``*.pt.damaged``
    (kept for inspection, never read again).
    """
    directory = Path(directory)
    for found_step, path in list_checkpoints(directory):
        if found_step > step:
            try:
                verify_checkpoint(path)
            except DamagedCheckpointError:
                os.replace(path, path.with_name(path.name + '.damaged'))
            else:
                path.unlink(missing_ok=True)
    path = checkpoint_path(directory, step)
    if path.is_file():
        atomic_write(directory / LATEST, lambda file: file.write(path.name.encode()))
    elif (directory / LATEST).is_file() and latest_checkpoint(directory) is None:
        (directory / LATEST).unlink()


def remove_stale_temporaries(directory):
    """Delete temporary files left by writes that were killed.

    Only safe while no other process writes to ``directory``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name.startswith('.') and path.name.endswith(_TEMP_SUFFIX):
            path.unlink(missing_ok=True)


def get_rng_state():
    """States of the random generators of torch (CPU, CUDA), NumPy and Python.

    The CUDA state is that of the current device (each process of a
    distributed run drives one device), so a checkpoint also restores on a
    machine with another number of GPUs. NumPy's legacy global state is stored as a tensor and plain numbers so
    that checkpoints load with ``weights_only=True``.

    Examples
    --------
    >>> state = get_rng_state()
    >>> a = (torch.rand(1), np.random.rand(), random.random())
    >>> set_rng_state(state)
    >>> (torch.rand(1), np.random.rand(), random.random()) == a
    True
    """
    kind, key, pos, has_gauss, cached = np.random.get_state()
    return {
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        'numpy': {'kind': str(kind), 'key': torch.from_numpy(key.astype(np.int64)),
                  'pos': int(pos), 'has_gauss': int(has_gauss), 'cached': float(cached)},
        'python': random.getstate(),
    }


def set_rng_state(state):
    """Restore the states returned by `get_rng_state`."""
    torch.set_rng_state(state['torch'])
    if state['cuda'] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])
    numpy = state['numpy']
    np.random.set_state((numpy['kind'], numpy['key'].numpy().astype(np.uint32),
                         numpy['pos'], numpy['has_gauss'], numpy['cached']))
    random.setstate(_as_tuples(state['python']))


def _as_tuples(x):
    # `random.setstate` needs tuples; be lenient if a serializer made lists.
    return tuple(_as_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x
