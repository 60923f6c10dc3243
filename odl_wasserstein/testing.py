"""Numerical checks for operators that raise, unlike ODL's `OperatorTest`.

ODL 1.0's `odl.diagnostics.OperatorTest` only prints its findings; these
helpers return numbers so that tests (ours and our users') can assert them.
"""

from odl_wasserstein.util import random_element

__all__ = ('random_element', 'adjoint_ratio', 'crashing', 'without_time')


def adjoint_ratio(op, seed=0):
    """Return ``<A x, y> / <x, A* y>`` for seeded random ``x`` and ``y``.

    Inner products are those of the ODL spaces (weighted), so a correct
    adjoint gives 1 up to rounding.

    Parameters
    ----------
    op : `odl.Operator`
        Linear operator with an ``adjoint``.
    seed : int
        Seed of the random elements.

    Returns
    -------
    complex

    Examples
    --------
    >>> op = odl.MatrixOperator(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> abs(adjoint_ratio(op) - 1) < 1e-12
    True
    """
    x = random_element(op.domain, seed)
    y = random_element(op.range, seed + 1)
    lhs = complex(op(x).inner(y))
    rhs = complex(x.inner(op.adjoint(y)))
    return lhs / rhs


def crashing(recipe_class):
    """A subclass of ``recipe_class`` whose ``training_step`` raises at ``crash_at``.

    It stands for a run killed at that step (``kill -9``): what the
    trainer wrote before it is all a resumed run has.

    Examples
    --------
    >>> from odl_wasserstein.methods import SupervisedRecipe
    >>> Crashing = crashing(SupervisedRecipe)
    >>> recipe = Crashing(torch.nn.Linear(2, 1), torch.nn.MSELoss(), crash_at=3)
    >>> recipe.crash_at
    3
    """
    class Crashing(recipe_class):
        def __init__(self, *args, crash_at=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.crash_at = crash_at

        def training_step(self, trainer, batch, step):
            if step == self.crash_at:
                raise RuntimeError('simulated crash')
            return super().training_step(trainer, batch, step)

    Crashing.__name__ = f'Crashing{recipe_class.__name__}'
    return Crashing


def without_time(history):
    """A run's history without its wall times, to compare two runs.

    Examples
    --------
    >>> without_time([{'step': 1, 'time': 0.5, 'loss': 2.0}])
    [{'step': 1, 'loss': 2.0}]
    """
    return [{k: v for k, v in entry.items() if k != 'time'} for entry in history]
