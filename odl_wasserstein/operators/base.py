"""Base class for linear ODL operators evaluated by batched torch kernels.

A `BatchedLinearOperator` implements two methods on torch tensors of shape
``(B, *domain.shape)`` and ``(B, *range.shape)``: ``_forward`` and
``_transpose`` (the conjugate transpose, i.e. the adjoint for unweighted
inner products). From these it derives

- the ODL face: ``op(x)`` for elements of NumPy or PyTorch spaces (one
  sample, converted without copies where possible), and ``op.adjoint``,
  the adjoint for ODL's weighted inner products,
  ``A* = (w_range / w_domain) A^H``;
- the torch face: `forward_batch` / `transpose_batch`, which the bridge
  `odl_wasserstein.torch.OperatorModule` calls directly, so that autograd
  runs through the same code to any order.
"""

import odl
import torch

from odl_wasserstein.util import (
    complex_dtype, space_weighting, to_element, to_tensor, torch_dtype)

__all__ = ('BatchedLinearOperator', 'BatchedLinearMixin', 'check_batch')

_SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def check_batch(x, space, name):
    """Validate a batch for ``space`` and promote real data to complex.

    Parameters
    ----------
    x : torch.Tensor
        Batch of shape ``(B, *space.shape)``.
    space : ODL tensor space or `odl.DiscretizedSpace`
        Space the samples belong to.
    name : str
        Argument name for error messages.

    Returns
    -------
    torch.Tensor
        ``x`` itself, or ``x`` cast to the complex dtype of its precision if
        ``space`` is complex and ``x`` real.

    Raises
    ------
    TypeError
        If ``x`` is not a tensor, not of single or double precision (half
        precision and integers are refused: FFTs and ASTRA need more), or
        complex while ``space`` is real.
    ValueError
        If the trailing shape of ``x`` differs from ``space.shape``.

    Examples
    --------
    >>> space = odl.uniform_discr([0, 0], [1, 1], (2, 3), dtype='complex64')
    >>> check_batch(torch.ones(4, 2, 3), space, 'x').dtype
    torch.complex64
    >>> check_batch(torch.ones(4, 3, 2), space, 'x')
    Traceback (most recent call last):
        ...
    ValueError: `x` must have shape (B, 2, 3) for space of shape (2, 3), got (4, 3, 2)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'`{name}` must be a torch.Tensor, got {type(x).__name__}')
    if tuple(x.shape[1:]) != tuple(space.shape):
        shape = ', '.join(map(str, space.shape))
        raise ValueError(
            f'`{name}` must have shape (B, {shape}) for space of shape '
            f'{tuple(space.shape)}, got {tuple(x.shape)}'
        )
    if x.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(
            f'`{name}` must be a float32, float64, complex64 or complex128 tensor, got '
            f'{x.dtype}; convert it, e.g. with `.float()`'
        )
    space_is_complex = torch_dtype(space).is_complex
    if x.is_complex() and not space_is_complex:
        raise TypeError(
            f'`{name}` is complex ({x.dtype}) but the space is real; pass the '
            'real part explicitly or use a complex space'
        )
    if space_is_complex and not x.is_complex():
        x = x.to(complex_dtype(x.dtype))
    return x


class BatchedLinearMixin:
    """Batched torch face, ODL ``_call`` and weighted adjoint of a linear operator.

    Shared by `BatchedLinearOperator` and operators that must subclass
    another ODL class (the ray transform). The host class sets
    ``self._weight_ratio = w_range / w_domain`` and implements ``_forward``
    and ``_transpose`` (see `BatchedLinearOperator`).
    """

    _adjoint_op = None

    def _forward(self, x):
        raise NotImplementedError(
            f'{type(self).__name__} must implement `_forward`')

    def _transpose(self, y):
        raise NotImplementedError(
            f'{type(self).__name__} must implement `_transpose`')

    def forward_batch(self, x):
        """Apply the operator to a batch ``(B, *domain.shape)``.

        Runs on the device and in the precision of ``x``; differentiable
        with torch autograd to any order.
        """
        return self._forward(check_batch(x, self.domain, 'x'))

    def transpose_batch(self, y):
        """Apply the conjugate transpose to a batch ``(B, *range.shape)``.

        This is the adjoint for unweighted inner products, what autograd
        needs; `adjoint` is the adjoint for ODL's weighted ones.
        """
        return self._transpose(check_batch(y, self.range, 'y'))

    def _call(self, x):
        out = self.forward_batch(to_tensor(x).unsqueeze(0))[0]
        return to_element(out, self.range)

    @property
    def adjoint(self):
        """Adjoint for the weighted inner products of domain and range."""
        if self._adjoint_op is None:
            self._adjoint_op = _AdjointOperator(self)
        return self._adjoint_op


class BatchedLinearOperator(BatchedLinearMixin, odl.Operator):
    """Linear operator whose numerics are a batched torch kernel.

    Subclasses call ``super().__init__(domain, range)`` and implement
    ``_forward(x)`` and ``_transpose(y)`` for validated tensors of shape
    ``(B, *domain.shape)`` and ``(B, *range.shape)``, with ``_transpose``
    the exact conjugate transpose of ``_forward``. Both must run on the
    device and in the precision of their input.

    Domain and range must have constant weightings; the ODL adjoint is then
    ``(w_range / w_domain) * transpose``.

    Examples
    --------
    A diagonal operator in a dozen lines; its adjoint and the batched torch
    face come from the base class:

    >>> class Diagonal(BatchedLinearOperator):
    ...     def __init__(self, space, weights):
    ...         super().__init__(space, space)
    ...         self.weights = torch.as_tensor(weights)
    ...     def _forward(self, x):
    ...         return x * self.weights.to(x)
    ...     def _transpose(self, y):
    ...         return y * self.weights.to(y).conj()
    >>> op = Diagonal(odl.rn(3), [1.0, 2.0, 3.0])
    >>> op.adjoint(op.domain.one())
    rn(3).element([ 1.,  2.,  3.])
    >>> op.forward_batch(torch.ones(2, 3))
    tensor([[1., 2., 3.],
            [1., 2., 3.]])
    """

    def __init__(self, domain, range):
        self._weight_ratio = space_weighting(range) / space_weighting(domain)
        super().__init__(domain, range, linear=True)


class _AdjointOperator(BatchedLinearOperator):
    """Adjoint ``(w_range / w_domain) A^H`` of a `BatchedLinearMixin` operator."""

    def __init__(self, op):
        self._op = op
        super().__init__(op.range, op.domain)
        self._scale = op._weight_ratio

    def _scaled(self, x):
        return x if self._scale == 1.0 else x * self._scale

    def _forward(self, y):
        return self._scaled(self._op._transpose(y))

    def _transpose(self, x):
        return self._scaled(self._op._forward(x))

    @property
    def adjoint(self):
        return self._op

    def __repr__(self):
        return f'{self._op!r}.adjoint'

    __str__ = __repr__
