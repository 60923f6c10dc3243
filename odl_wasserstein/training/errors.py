"""Errors of training runs, worded for the caller: the Python API or the command line.

A run is driven either from Python (``trainer.fit(resume=True)``,
``output_dir=...``) or from the ``odl-wasserstein`` command (``--resume``,
``--output``). An error that tells the user what to do must use the words
of the interface in use. `WordedError` keeps its message as a template
with the placeholders ``{resume}`` and ``{output}``;
``str(error)`` fills them with `API_WORDS`, and ``error.in_words(words)``
with the caller's (the command line passes its own).
"""

__all__ = ('API_WORDS', 'WordedError', 'RunFolderError', 'RunLockedError',
           'NonFiniteLossError')

API_WORDS = {
    'resume': 'resume=True',
    'output': '`output_dir`',
}
"""How the Python API names the choices a message may suggest."""


class WordedError(Exception):
    """An error whose advice names the options of the interface in use.

    Parameters
    ----------
    template : str
        The message, with ``{resume}`` and ``{output}`` where the
        interface's words go, and ``{name}`` for each of
        ``fields``.
    **fields
        Values of the other placeholders.

    Examples
    --------
    >>> error = RunFolderError('{path} holds a run; continue it with {resume}',
    ...                        path='results/x')
    >>> str(error)
    'results/x holds a run; continue it with resume=True'
    >>> error.in_words({'resume': '--resume'})
    'results/x holds a run; continue it with --resume'
    """

    def __init__(self, template, **fields):
        self.template, self.fields = template, fields
        super().__init__(self.in_words(API_WORDS))

    def in_words(self, words):
        """The message with ``words`` (missing ones from `API_WORDS`)."""
        return self.template.format(**{**API_WORDS, **words, **self.fields})


class RunFolderError(WordedError, ValueError):
    """A run folder cannot be used as asked (it holds another run, has no checkpoint, ...)."""


class RunLockedError(RunFolderError):
    """Another process is writing to the run folder."""


class NonFiniteLossError(WordedError, FloatingPointError):
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
        where = ('the last good checkpoint is {checkpoint}; continue from it with {resume}, '
                 'e.g. with a lower learning rate or stronger clipping'
                 if checkpoint is not None else 'no checkpoint was written before it')
        super().__init__(f'non-finite loss at step {{step}} ({{shown}}); training stopped '
                         f'without saving this state; {where}',
                         step=step, shown=shown, checkpoint=checkpoint)
