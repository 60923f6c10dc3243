"""Numerical checks for operators that raise, unlike ODL's `OperatorTest`.

ODL 1.0's `odl.diagnostics.OperatorTest` only prints its findings; these
helpers return numbers so that tests (ours and our users') can assert them.
"""

from odl_wasserstein.util import random_element

__all__ = ('random_element', 'adjoint_ratio')


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
