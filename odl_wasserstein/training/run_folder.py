"""The folder of one training run: its lock, recorded configuration, metrics log and checkpoints.

::

    output_dir/
        .lock              locked by the one process writing the run
        config.json        the experiment's configuration (`RunFolder.record_config`)
        metrics.jsonl      one JSON object per logged step
        checkpoints/       step_XXXXXX.pt and latest (`odl_wasserstein.training.checkpoint`)
        figures/           step_XXXXXX.png

**One writer.** `RunFolder.lock` takes an exclusive operating-system lock
on ``.lock`` (``flock`` on POSIX, ``msvcrt.locking`` on Windows), which the
system releases when the process exits, however it exits (``kill -9``
included), so a crashed run never leaves a stale lock. A second process
is refused with `RunLockedError` naming the holder. The lock is
re-entrant within a process (an experiment holds it while recording its
configuration and the `Trainer` inside takes it again).

**Nothing written before the checks.** `RunFolder.check_writable`,
`RunFolder.check_free` and `RunFolder.resume_point` only read; a caller
runs them (and every other check) before `lock` creates the folder.
"""

import json
import math
import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

from odl_wasserstein.training import checkpoint as ckpt
from odl_wasserstein.training.errors import RunFolderError, RunLockedError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

__all__ = ('RunFolder', 'CONFIG_FILE')

CONFIG_FILE = 'config.json'
_LOCK_FILE = '.lock'

# Locks this process holds: resolved folder -> [file descriptor, depth].
_HELD = {}
_HELD_GUARD = threading.Lock()


class RunFolder:
    """Paths, lock, log and checkpoint choice of one run folder.

    Parameters
    ----------
    path : str or path-like

    Examples
    --------
    >>> import tempfile
    >>> run = RunFolder(tempfile.mkdtemp())
    >>> run.resume_point('auto') is None  # nothing to resume: a fresh run
    True
    >>> with run.lock():
    ...     run.append_log({'step': 1, 'loss': 0.5})
    >>> run.read_log(step=10)
    [{'step': 1, 'loss': 0.5}]
    >>> import shutil; shutil.rmtree(run.path)
    """

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f'`output_dir` must be a path, got {type(path).__name__}')
        self.path = Path(path)

    @property
    def checkpoint_dir(self):
        """``path / 'checkpoints'``."""
        return self.path / 'checkpoints'

    @property
    def metrics_path(self):
        """``path / 'metrics.jsonl'``."""
        return self.path / 'metrics.jsonl'

    @property
    def figure_dir(self):
        """``path / 'figures'``."""
        return self.path / 'figures'

    @property
    def config_path(self):
        """``path / 'config.json'``."""
        return self.path / CONFIG_FILE

    # -- checks (read only) -----------------------------------------------------

    def check_writable(self):
        """Raise `RunFolderError` if the folder cannot be created or written.

        Checks, without writing, that no part of the path is a file and that
        the nearest existing folder is writable.
        """
        for part in (self.path, *self.path.parents):
            if part.exists():
                if not part.is_dir():
                    raise RunFolderError('{output} {path}: {part} is a file, not a folder',
                                         path=self.path, part=part)
                if not os.access(part, os.W_OK | os.X_OK):
                    raise RunFolderError('{output} {path}: {part} is not writable',
                                         path=self.path, part=part)
                return

    def check_free(self):
        """Raise `RunLockedError` if another process holds the folder's lock; reads only.

        The lock is taken and released at once (on an existing lock file,
        never created here), so that a refused command writes nothing.
        """
        path = self.path / _LOCK_FILE
        key = str(self.path.resolve()) if self.path.exists() else None
        if key is None or key in _HELD or not path.is_file():
            return
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return
        try:
            if not _try_lock(fd):
                raise _locked_error(self.path, _read_holder(fd))
            _unlock(fd)
        finally:
            os.close(fd)

    def resume_point(self, resume):
        """The checkpoint a run starts from, or None for a fresh run; reads only.

        Parameters
        ----------
        resume : bool, 'auto', int or path-like
            False: a fresh run, refused if the folder holds checkpoints.
            True: the newest intact checkpoint (a damaged newer one is
            skipped with a warning naming both), refused if there is
            none. ``'auto'``: like True, or a fresh run without
            checkpoints. An int: the checkpoint of that step. A path: that
            checkpoint file, or a folder's newest intact checkpoint.

        Returns
        -------
        pathlib.Path or None
        """
        if resume is False or resume is None:
            found = ckpt.list_checkpoints(self.checkpoint_dir)
            if found:
                raise RunFolderError(
                    '{path} holds a run (checkpoints up to step {step}); continue it with '
                    '{resume}, or choose another {output}', path=self.path, step=found[-1][0])
            return None
        if resume is True or resume == 'auto':
            path = ckpt.intact_checkpoint(self.checkpoint_dir)
            if path is None and resume is True:
                raise RunFolderError(
                    'no checkpoint to resume from in {path}; start the run without {resume}',
                    path=self.path)
            return path
        if isinstance(resume, int):
            return self._step_checkpoint(resume)
        if isinstance(resume, (str, os.PathLike)):
            return _checkpoint_at(Path(resume))
        raise TypeError("`resume` must be a bool, 'auto', a step or a checkpoint path, got "
                        f'{resume!r}')

    def _step_checkpoint(self, step):
        found = dict(ckpt.list_checkpoints(self.checkpoint_dir))
        if step not in found:
            raise RunFolderError('no checkpoint of step {step} to resume from in {path}; it '
                                 'has steps {steps}', step=step, path=self.checkpoint_dir,
                                 steps=sorted(found) or 'none')
        ckpt.verify_checkpoint(found[step])
        return found[step]

    # -- the lock -----------------------------------------------------------------

    @contextmanager
    def lock(self):
        """Hold the exclusive lock of the folder (created if needed) for a block.

        Raises
        ------
        RunLockedError
            If another process holds it.
        """
        key = self._acquire()
        try:
            yield self
        finally:
            _release(key)

    def _acquire(self):
        self.path.mkdir(parents=True, exist_ok=True)
        key = str(self.path.resolve())
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
                return key
            fd = os.open(self.path / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise _locked_error(self.path, holder)
            os.ftruncate(fd, 0)
            os.write(fd, f'pid {os.getpid()} on {socket.gethostname()}\n'.encode())
            _HELD[key] = [fd, 1]
        return key

    # -- the metrics log ----------------------------------------------------------

    def append_log(self, entry):
        """Append one JSON line to ``metrics.jsonl``."""
        with open(self.metrics_path, 'a') as log:
            log.write(json.dumps(entry) + '\n')

    def read_log(self, step=math.inf):
        """Entries of ``metrics.jsonl`` up to ``step``; a torn last line is dropped."""
        entries = []
        if not self.metrics_path.is_file():
            return entries
        with open(self.metrics_path) as log:
            for line in log:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and entry.get('step', math.inf) <= step:
                    entries.append(entry)
        return entries

    def write_log(self, entries):
        """Replace ``metrics.jsonl`` by ``entries`` (atomically)."""
        text = ''.join(json.dumps(entry) + '\n' for entry in entries)
        ckpt.atomic_write(self.metrics_path, lambda file: file.write(text.encode()))

    # -- the recorded configuration -------------------------------------------------

    def read_config(self):
        """The recorded configuration (a dict), or None if there is none."""
        if not self.config_path.is_file():
            return None
        try:
            return json.loads(self.config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunFolderError('{path} is not a readable configuration: {error}',
                                 path=self.config_path, error=error) from None

    def check_config(self, values, may_differ=()):
        """Raise `RunFolderError` if the recorded configuration differs from ``values``.

        Parameters
        ----------
        values : dict
            The configuration of the run to continue, nested one level
            (``{'section': {'key': value}}``) or flat.
        may_differ : sequence of str
            Keys (``'section.key'``) allowed to change, e.g. the number of
            steps of a run that is extended.
        """
        saved = self.read_config()
        if saved is None:
            return
        differ = sorted(key for key, value in _flatten(_plain(values)).items()
                        if key not in may_differ and _flatten(saved).get(key) != value)
        if differ:
            raise RunFolderError('{path} differs from the configuration in {keys}; continue '
                                 'the run with its own configuration, or choose another '
                                 '{output}', path=self.config_path, keys=differ)

    def record_config(self, values):
        """Write ``values`` to ``config.json`` (atomically); hold the lock."""
        text = json.dumps(_plain(values), indent=2)
        ckpt.atomic_write(self.config_path, lambda file: file.write(text.encode()))


def _checkpoint_at(path):
    if path.is_dir():
        found = ckpt.intact_checkpoint(path)
        if found is None:
            raise RunFolderError('no checkpoint to resume from in {path}', path=path)
        return found
    if not path.is_file():
        raise RunFolderError('checkpoint {path} to resume from does not exist', path=path)
    ckpt.verify_checkpoint(path)
    return path


def _plain(value):
    """JSON's view of ``value`` (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def _flatten(values, prefix=''):
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def _locked_error(path, holder):
    return RunLockedError(
        '{path} is in use by another process ({holder}): one process writes to a run '
        'folder; wait for it to finish, stop it, or choose another {output}',
        path=path, holder=holder)


def _try_lock(fd):
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _read_holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode(errors='replace').strip()
    except OSError:
        text = ''
    return text or 'unknown process'


def _release(key):
    with _HELD_GUARD:
        held = _HELD[key]
        held[1] -= 1
        if held[1]:
            return
        del _HELD[key]
        try:
            _unlock(held[0])
        finally:
            os.close(held[0])


def _unlock(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
