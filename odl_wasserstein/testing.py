"""Numerical checks for operators that raise, unlike ODL's `OperatorTest`.

ODL 1.0's `odl.diagnostics.OperatorTest` only prints its findings; these
helpers return numbers so that tests (ours and our users') can assert them.
"""

import numpy as np

__all__ = ('random_element', 'adjoint_ratio')


def random_element(space, seed=0):
    """Seeded standard-normal element of an ODL space.

    Complex spaces get independent normal real and imaginary parts.

    Parameters
    ----------
    space : ODL tensor space or `odl.DiscretizedSpace`
    seed : int or `numpy.random.Generator`

    Examples
    --------
    >>> x = random_element(odl.rn(3), seed=1)
    >>> y = random_element(odl.rn(3), seed=1)
    >>> bool((x - y).norm() == 0)
    True
    """
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(space.shape)
    if np.dtype(space.dtype_identifier).kind == 'c':
        data = data + 1j * rng.standard_normal(space.shape)
    return space.element(data.astype(space.dtype_identifier))


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
