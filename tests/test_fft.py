"""Tests of the shared FFT kernels against NumPy/SciPy references."""

import numpy as np
import pytest
import scipy.signal
import torch

from odl_wasserstein.fft import (
    FFTConvolution, fft_convolve, fftn_centered, ifftn_centered)


@pytest.mark.parametrize('shape', [(6, 7), (5, 4, 3)])
def test_centred_fft_matches_numpy(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    axes = tuple(range(len(shape)))
    reference = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes), axes=axes,
                                            norm='ortho'), axes)
    k = fftn_centered(torch.from_numpy(x), len(shape))
    np.testing.assert_allclose(k.numpy(), reference, atol=1e-12)
    np.testing.assert_allclose(ifftn_centered(k, len(shape)).numpy(), x, atol=1e-12)


def circular_reference(x, kernel):
    """y[i] = sum_j kernel[j] x[(i + c - j) mod n], written out with np.roll."""
    out = np.zeros_like(x, dtype=np.result_type(x, kernel))
    centre = [k // 2 for k in kernel.shape]
    for j in np.ndindex(kernel.shape):
        shift = [jj - c for jj, c in zip(j, centre)]
        out = out + kernel[j] * np.roll(x, shift, axis=tuple(range(x.ndim)))
    return out


@pytest.mark.parametrize('kernel_shape', [(3, 4), (1, 1), (6, 7), (2, 9), (13, 17),
                                          (10, 12)])
@pytest.mark.parametrize('boundary', ['zero', 'periodic'])
def test_convolution_values_and_transpose(kernel_shape, boundary):
    if boundary == 'periodic' and kernel_shape[0] > 7:
        pytest.skip('periodic kernels are at most the image size')
    rng = np.random.default_rng(1)
    image_shape = (7, 9)
    kernel = rng.standard_normal(kernel_shape)
    x = rng.standard_normal((3,) + image_shape)
    conv = FFTConvolution(torch.from_numpy(kernel), image_shape, boundary)
    y = conv(torch.from_numpy(x)).numpy()
    for xi, yi in zip(x, y):
        if boundary == 'zero':
            full = scipy.signal.convolve(xi, kernel, mode='full')
            c = [k // 2 for k in kernel_shape]
            expected = full[c[0]:c[0] + 7, c[1]:c[1] + 9]
        else:
            expected = circular_reference(xi, kernel)
        np.testing.assert_allclose(yi, expected, atol=1e-12)
    g = rng.standard_normal((3,) + image_shape)
    lhs = float((y * g).sum())
    rhs = float((x * conv.transpose(torch.from_numpy(g)).numpy()).sum())
    assert abs(lhs / rhs - 1) < 1e-12


def test_complex_inputs_and_functional_form():
    rng = np.random.default_rng(2)
    kernel = torch.from_numpy(rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)))
    x = torch.from_numpy(rng.standard_normal((2, 5, 5)))
    conv = FFTConvolution(kernel, (5, 5))
    y = conv(x)
    assert y.is_complex()
    torch.testing.assert_close(y, fft_convolve(x, kernel))
    g = torch.from_numpy(rng.standard_normal((2, 5, 5)) + 1j * rng.standard_normal((2, 5, 5)))
    lhs = (y * g.conj()).sum()
    rhs = (x.to(g.dtype) * conv.transpose(g).conj()).sum()
    assert abs(complex(lhs / rhs) - 1) < 1e-12


def test_fft_convolve_is_differentiable_in_kernel_and_image():
    kernel = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.rand(2, 6, 6, dtype=torch.float64, requires_grad=True)
    for boundary in ('zero', 'periodic'):
        assert torch.autograd.gradcheck(
            lambda a, b: fft_convolve(a, b, boundary), (x, kernel))
        assert torch.autograd.gradgradcheck(
            lambda a, b: fft_convolve(a, b, boundary, transpose=True), (x, kernel))


def test_float32_precision():
    kernel = torch.rand(5, 5)
    x = torch.rand(4, 32, 32)
    y = FFTConvolution(kernel, (32, 32))(x)
    assert y.dtype == torch.float32
    y64 = FFTConvolution(kernel.double(), (32, 32))(x.double())
    assert float((y - y64).abs().max() / y64.abs().max()) < 1e-6


def test_errors():
    with pytest.raises(ValueError, match='larger than the image'):
        FFTConvolution(torch.ones(5, 5), (4, 8), boundary='periodic')
    with pytest.raises(ValueError, match='larger than the image'):
        FFTConvolution(torch.ones(8, 5), (4, 8))
    with pytest.raises(ValueError, match='one axis per image axis'):
        FFTConvolution(torch.ones(3), (4, 4))
    with pytest.raises(ValueError, match='boundary'):
        FFTConvolution(torch.ones(3, 3), (4, 4), boundary='reflect')
    with pytest.raises(ValueError, match='NaN'):
        FFTConvolution(torch.tensor([[float('nan')]]), (4, 4))
    conv = FFTConvolution(torch.ones(3, 3), (4, 4))
    with pytest.raises(ValueError, match=r'\(\.\.\., 4, 4\)'):
        conv(torch.ones(2, 4, 5))
    with pytest.raises(TypeError, match='floating-point'):
        conv(torch.ones(2, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match='ValueError|centred|transform'):
        fftn_centered(torch.ones(3), 2)
