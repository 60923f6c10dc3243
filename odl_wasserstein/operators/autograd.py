"""Autograd for linear kernels that torch cannot differentiate by itself.

A *linear kernel* is any object with a method ``apply(x, transpose)`` that
applies a linear map (``transpose=False``) or its unweighted transpose
(``transpose=True``) to a batch of tensors, e.g. the ASTRA projector of
`odl_wasserstein.operators.astra_kernel` or a generic ODL operator looped
over the batch by the torch bridge.

`LinearKernelFunction` makes such a kernel differentiable to any order: the
backward pass of the map is the transpose, applied through the same
function, so its own backward is the map again. Gradient penalties
(``create_graph=True``) can therefore pass through the ray transform.
"""

import torch

__all__ = ('LinearKernelFunction',)


class LinearKernelFunction(torch.autograd.Function):
    """``y = kernel.apply(x, transpose)`` with the transpose as its gradient.

    Examples
    --------
    >>> class Matrix:
    ...     def __init__(self, m):
    ...         self.m = m
    ...     def apply(self, x, transpose):
    ...         return x @ (self.m if transpose else self.m.T)
    >>> kernel = Matrix(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64))
    >>> x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(
    ...     lambda t: LinearKernelFunction.apply(t, kernel, False), (x,))
    True
    >>> torch.autograd.gradgradcheck(
    ...     lambda t: LinearKernelFunction.apply(t, kernel, False) ** 2, (x,))
    True
    """

    @staticmethod
    def forward(ctx, x, kernel, transpose):
        """Return ``kernel.apply(x, transpose)``."""
        ctx.kernel = kernel
        ctx.transpose = transpose
        return kernel.apply(x, transpose)

    @staticmethod
    def backward(ctx, grad_output):
        """Apply the other direction of the kernel to ``grad_output``."""
        grad = LinearKernelFunction.apply(grad_output, ctx.kernel, not ctx.transpose)
        return grad, None, None
