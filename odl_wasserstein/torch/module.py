"""ODL operators as batched, differentiable ``torch.nn.Module`` objects.

`OperatorModule` turns an ODL operator into a layer acting on tensors of
shape ``(N, C, *domain.shape)``. It first *lowers* the operator to a
batched torch function (`batched_function`):

- operators of this package (MRI, blur, ray transform, their adjoints) run
  their own batched kernel: torch code on the tensor's device, or the
  cached multi-threaded ASTRA projector for the ray transform;
- ODL sums, compositions, scalar multiples, scalings and identities of
  lowerable operators are lowered term by term, so that e.g. a ray
  transform divided by its norm stays batched;
- any other ODL operator between tensor spaces falls back to one ODL call
  per sample, with the gradient from ``op.adjoint`` (linear) or
  ``op.derivative(x).adjoint`` (nonlinear), rescaled to the unweighted
  transpose that autograd needs; so does a combination whose parts pass
  through a product space (``G.adjoint @ G`` with ``G = odl.Gradient``),
  which maps tensors to tensors as a whole.

Linear operators are differentiable to any order (the backward of the
operator is its transpose and vice versa), so gradient penalties and
``torch.autograd.gradgradcheck`` pass through them. Nonlinear ODL
operators from the fallback are differentiable once.
"""

import odl
import torch
from odl.core.space.base_tensors import TensorSpace

from odl_wasserstein.operators.autograd import LinearKernelFunction
from odl_wasserstein.util import (
    complex_dtype, real_dtype, space_weighting, to_element, to_tensor,
    torch_dtype)

__all__ = ('OperatorModule', 'batched_function')


def _space_weighting(space):
    # Functionals map to a field, whose inner product is unweighted.
    return space_weighting(space) if isinstance(space, TensorSpace) else 1.0


def _output_dtype(op, like):
    """The range's kind (real/complex) in the precision of the input."""
    if op.is_functional:
        return real_dtype(like.dtype)
    if torch_dtype(op.range).is_complex:
        return complex_dtype(like.dtype)
    return real_dtype(like.dtype)


def _call_per_sample(op, space, x):
    results = []
    for xi in x:
        value = op(to_element(xi, space))
        results.append(torch.as_tensor(value) if op.is_functional
                       else to_tensor(value))
    if not results:  # an empty batch: nothing to call, only the shape to give
        shape = () if op.is_functional else tuple(op.range.shape)
        return x.new_zeros((0,) + shape)
    return torch.stack(results)


class _OdlLinearKernel:
    """Generic linear ODL operator as a linear kernel (one call per sample)."""

    def __init__(self, op):
        self.op = op
        # ODL's adjoint is weighted; autograd needs the plain transpose.
        self.transpose_scale = (_space_weighting(op.domain)
                                / _space_weighting(op.range))

    def apply(self, x, transpose):
        op = self.op
        if transpose:
            out = _call_per_sample(op.adjoint, op.range, x) * self.transpose_scale
            dtype = complex_dtype(x.dtype) if torch_dtype(op.domain).is_complex \
                else real_dtype(x.dtype)
        else:
            out = _call_per_sample(op, op.domain, x)
            dtype = _output_dtype(op, x)
        return out.to(device=x.device, dtype=dtype)


class _OdlNonlinearFunction(torch.autograd.Function):
    """Nonlinear ODL operator, once differentiable via its derivative's adjoint."""

    @staticmethod
    def forward(ctx, x, op):
        ctx.op = op
        ctx.save_for_backward(x)
        out = _call_per_sample(op, op.domain, x.detach())
        return out.to(device=x.device, dtype=_output_dtype(op, x))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        op = ctx.op
        if x.shape[0] == 0:
            return torch.zeros_like(x), None
        scale = _space_weighting(op.domain) / _space_weighting(op.range)
        grads = []
        for xi, gi in zip(x, grad_output):
            derivative = op.derivative(to_element(xi, op.domain))
            g = gi.item() if op.is_functional else to_element(gi, op.range)
            grads.append(to_tensor(derivative.adjoint(g)))
        grad = torch.stack(grads) * scale
        return grad.to(device=x.device, dtype=x.dtype), None


class _NotTensorSpaces(TypeError):
    """An operator (or a part of a combination) leaves the tensor spaces."""


def _maps_tensors(op):
    return isinstance(op.domain, TensorSpace) and (
        op.is_functional or isinstance(op.range, TensorSpace))


def _lower_combination(op):
    """Term-by-term lowering of ODL sums, compositions and scalings, or None."""
    if isinstance(op, odl.OperatorComp):
        left, right = batched_function(op.left), batched_function(op.right)
        return lambda x: left(right(x))
    if isinstance(op, odl.OperatorSum):
        left, right = batched_function(op.left), batched_function(op.right)
        return lambda x: left(x) + right(x)
    if isinstance(op, odl.OperatorLeftScalarMult):
        inner, scalar = batched_function(op.operator), op.scalar
        return lambda x: scalar * inner(x)
    if isinstance(op, odl.OperatorRightScalarMult):
        inner, scalar = batched_function(op.operator), op.scalar
        return lambda x: inner(scalar * x)
    if isinstance(op, odl.ScalingOperator):  # includes IdentityOperator
        scalar = op.scalar
        return (lambda x: x) if scalar == 1 else (lambda x: scalar * x)
    return None


def batched_function(op):
    """Lower an ODL operator to a batched, differentiable torch function.

    Parameters
    ----------
    op : `odl.Operator`
        Operator whose domain is a tensor space (NumPy or PyTorch backend).

    Returns
    -------
    callable
        ``f(x)`` mapping a tensor ``(B, *op.domain.shape)`` to
        ``(B, *op.range.shape)`` (``(B,)`` for functionals), on the device
        of ``x``, with autograd support.

    Examples
    --------
    Scalar multiples and compositions of the package's operators stay
    batched; ``A* A`` of a normalised ray transform in one call:

    >>> from odl_wasserstein.operators import reconstruction_space, ray_transform
    >>> op = ray_transform(reconstruction_space(32), num_angles=8, normalize=True)
    >>> normal = batched_function(op.adjoint @ op)
    >>> normal(torch.ones(5, 32, 32)).shape
    torch.Size([5, 32, 32])
    """
    if not isinstance(op, odl.Operator):
        raise TypeError(f'`op` must be an `odl.Operator`, got {type(op).__name__}')
    if hasattr(op, 'forward_batch'):
        return op.forward_batch
    try:
        lowered = _lower_combination(op)
    except _NotTensorSpaces:
        # A part maps through a product space (e.g. ``G.adjoint @ G`` with
        # ``G = odl.Gradient(space)``): the whole may still act per sample.
        lowered = None
    if lowered is not None:
        return lowered
    if not _maps_tensors(op):
        raise _NotTensorSpaces(
            f'{op!r} does not map between tensor spaces; OperatorModule needs '
            'tensor-space domains and ranges (product spaces are not supported)'
        )
    if op.is_linear:
        kernel = _OdlLinearKernel(op)
        return lambda x: LinearKernelFunction.apply(x, kernel, False)
    return lambda x: _OdlNonlinearFunction.apply(x, op)


class OperatorModule(torch.nn.Module):
    """An ODL operator as a batched, differentiable PyTorch layer.

    Parameters
    ----------
    operator : `odl.Operator`
        Operator between tensor spaces (NumPy or PyTorch backend), e.g. a
        ray transform, `MRIForward`, `Convolution`, their adjoints or
        compositions.

    Notes
    -----
    Input ``(N, C, *operator.domain.shape)``, output
    ``(N, C, *operator.range.shape)`` (``(N, C)`` for functionals), in the
    precision and on the device of the input; complex where the operator's
    range is complex (real input to a complex operator is promoted).

    Gradients are those of the unweighted (Euclidean) inner product on
    tensors, i.e. ``x.grad`` of ``(module(x) * g).sum()`` is ``A^T g``, not
    ODL's weighted adjoint.

    Examples
    --------
    >>> from odl_wasserstein.operators import reconstruction_space, ray_transform
    >>> op = ray_transform(reconstruction_space(32), num_angles=8)
    >>> layer = OperatorModule(op)
    >>> x = torch.rand(4, 1, 32, 32, requires_grad=True)
    >>> y = layer(x)
    >>> y.shape
    torch.Size([4, 1, 8, 47])
    >>> y.square().sum().backward()
    >>> x.grad.shape
    torch.Size([4, 1, 32, 32])

    Linear operators are twice differentiable, as WGAN-GP penalties need:

    >>> x = torch.rand(2, 1, 32, 32, dtype=torch.float64, requires_grad=True)
    >>> (g,) = torch.autograd.grad(layer(x).square().sum(), x, create_graph=True)
    >>> g.square().sum().backward()
    >>> x.grad.shape
    torch.Size([2, 1, 32, 32])
    """

    def __init__(self, operator):
        super().__init__()
        self.operator = operator
        self._function = batched_function(operator)
        self._domain_shape = tuple(operator.domain.shape)

    def forward(self, x):
        """Apply the operator to every ``(n, c)`` sample of ``x``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'input must be a torch.Tensor, got {type(x).__name__}')
        ndim = len(self._domain_shape)
        if x.ndim != ndim + 2 or tuple(x.shape[2:]) != self._domain_shape:
            shape = ', '.join(map(str, self._domain_shape))
            raise ValueError(
                f'input must have shape (N, C, {shape}), got {tuple(x.shape)}; '
                'add batch and channel axes with x[None, None] if needed'
            )
        n, c = x.shape[:2]
        y = self._function(x.reshape((n * c,) + self._domain_shape))
        return y.reshape((n, c) + tuple(y.shape[1:]))

    def extra_repr(self):
        return f'operator={self.operator!r}'
