"""Conversions between ODL elements and torch tensors, and input checks.

This is the lowest layer of the package: every numerical kernel is written
once in PyTorch (see ``DESIGN.md``, "one implementation, two faces") and
the ODL face of an operator converts its elements with `to_tensor` and
`to_element`. Conversions share memory whenever backend, dtype and device
allow it, so the ODL face costs no copy on NumPy or PyTorch CPU spaces.
"""

import math
import numbers

import numpy as np
import torch

__all__ = (
    'check_int',
    'to_tensor',
    'to_element',
    'torch_dtype',
    'real_dtype',
    'complex_dtype',
    'space_weighting',
    'check_finite',
    'check_real',
    'check_positive',
    'check_betas',
    'check_choice',
    'as_generator',
    'random_element',
    'complex_to_channels',
    'channels_to_complex',
)

_TORCH_DTYPES = {
    'float16': torch.float16,
    'float32': torch.float32,
    'float64': torch.float64,
    'complex64': torch.complex64,
    'complex128': torch.complex128,
}


def torch_dtype(dtype):
    """Return the torch dtype for a NumPy/torch dtype, a name or an ODL space.

    Parameters
    ----------
    dtype : str, `numpy.dtype`, `torch.dtype` or ODL space
        Floating-point or complex type description. For a space, its
        ``dtype_identifier`` is used.

    Returns
    -------
    torch.dtype

    Examples
    --------
    >>> torch_dtype('float32')
    torch.float32
    >>> torch_dtype(np.dtype('complex128'))
    torch.complex128
    >>> torch_dtype(odl.uniform_discr(0, 1, 4, dtype='complex64'))
    torch.complex64
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    name = getattr(dtype, 'dtype_identifier', None)
    if name is None:
        name = str(np.dtype(dtype))
    try:
        return _TORCH_DTYPES[name]
    except KeyError:
        raise TypeError(
            f'dtype {name!r} is not supported; use one of {sorted(_TORCH_DTYPES)}'
        ) from None


def real_dtype(dtype):
    """Return the real torch dtype of the same precision as ``dtype``.

    Examples
    --------
    >>> real_dtype(torch.complex64)
    torch.float32
    >>> real_dtype(torch.float64)
    torch.float64
    """
    dtype = torch_dtype(dtype)
    return dtype.to_real() if dtype.is_complex else dtype


def complex_dtype(dtype):
    """Return the complex torch dtype of the same precision as ``dtype``.

    Examples
    --------
    >>> complex_dtype(torch.float32)
    torch.complex64
    >>> complex_dtype('complex128')
    torch.complex128
    """
    dtype = torch_dtype(dtype)
    return dtype if dtype.is_complex else dtype.to_complex()


def to_tensor(x, dtype=None, device=None):
    """Return ``x`` as a torch tensor, sharing memory where possible.

    Parameters
    ----------
    x : ODL element, `numpy.ndarray`, `torch.Tensor` or array-like
        Data to convert. ODL elements are unwrapped with ``x.data``; NumPy
        arrays are wrapped without a copy when they are contiguous.
    dtype, device : optional
        Target dtype (anything `torch_dtype` accepts) and device. A copy is
        made only when they differ from the data's own.

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> a = np.arange(3.0)
    >>> t = to_tensor(a)
    >>> t
    tensor([0., 1., 2.], dtype=torch.float64)
    >>> t[0] = 5.0  # shares memory with ``a``
    >>> float(a[0])
    5.0
    >>> to_tensor(odl.rn(2).one(), dtype='float32')
    tensor([1., 1.])
    """
    if isinstance(x, (torch.Tensor, np.ndarray)):
        data = x
    else:  # ODL elements hold their array in `.data`
        data = getattr(x, 'data', x)
    if isinstance(data, np.ndarray):
        if not data.flags.c_contiguous or not data.flags.writeable:
            data = np.ascontiguousarray(data).copy()
        tensor = torch.from_numpy(data)
    elif isinstance(data, torch.Tensor):
        tensor = data
    else:
        tensor = torch.as_tensor(np.asarray(data))
    if dtype is not None or device is not None:
        tensor = tensor.to(
            dtype=None if dtype is None else torch_dtype(dtype), device=device
        )
    return tensor


def to_element(tensor, space):
    """Wrap a torch tensor as an element of an ODL space.

    The tensor is moved to the space's backend, device and dtype; no copy is
    made when they already match (PyTorch spaces) or when a CPU tensor can be
    viewed as a NumPy array (NumPy spaces).

    Parameters
    ----------
    tensor : torch.Tensor
        Data of shape ``space.shape``.
    space : `odl.core.space.base_tensors.TensorSpace` or `odl.DiscretizedSpace`
        Target space.

    Returns
    -------
    element : ``space`` element

    Examples
    --------
    >>> space = odl.uniform_discr(0, 1, 3)
    >>> to_element(torch.tensor([1.0, 2.0, 3.0]), space)
    uniform_discr(0.0, 1.0, 3).element([ 1.,  2.,  3.])
    """
    if tuple(tensor.shape) != tuple(space.shape):
        raise ValueError(
            f'tensor of shape {tuple(tensor.shape)} does not fit the space of '
            f'shape {tuple(space.shape)}'
        )
    dtype = torch_dtype(space)
    tensor = tensor.detach()
    if space.impl == 'numpy':
        array = tensor.to(device='cpu', dtype=dtype).resolve_conj().numpy()
        return space.element(array)
    return space.element(tensor.to(device=space.device, dtype=dtype))


def space_weighting(space):
    """Return the constant weighting factor of an ODL space.

    ODL adjoints are taken with respect to weighted inner products; the
    operators of this package support constant weightings (the default of
    `odl.uniform_discr`, where the factor is the cell volume, and of
    `odl.rn`/`odl.cn`, where it is 1).

    Raises
    ------
    ValueError
        If the space has a non-constant weighting.

    Examples
    --------
    >>> space_weighting(odl.uniform_discr([0, 0], [1, 1], (4, 2)))
    0.125
    >>> space_weighting(odl.rn(3))
    1.0
    """
    weighting = getattr(space, 'weighting', None)
    const = getattr(weighting, 'const', None)
    if not isinstance(const, numbers.Real):
        raise ValueError(
            f'space {space!r} has a non-constant weighting {weighting!r}; '
            'only constant weightings (e.g. the default of `uniform_discr`) '
            'are supported'
        )
    return float(const)


def check_finite(tensor, name):
    """Raise `ValueError` if ``tensor`` holds NaN or infinite values.

    Parameters
    ----------
    tensor : torch.Tensor
        Data to check.
    name : str
        Argument name used in the error message.

    Examples
    --------
    >>> check_finite(torch.ones(2), 'x')
    >>> check_finite(torch.tensor([1.0, float('nan')]), 'x')
    Traceback (most recent call last):
        ...
    ValueError: `x` contains NaN or infinite values
    """
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f'`{name}` contains NaN or infinite values')


def check_int(value, name, minimum=0, allow_none=False):
    """Return ``value`` as an int, or raise naming ``name``.

    Parameters
    ----------
    value : object
        An integer (not a bool) ``>= minimum``, or None if ``allow_none``.
    name : str
        Argument name used in the error message.
    minimum : int, optional
    allow_none : bool, optional

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a float such as ``2.0`` included).
    ValueError
        If it is below ``minimum``.

    Examples
    --------
    >>> check_int(3, 'steps', minimum=1)
    3
    >>> check_int(None, 'every', allow_none=True) is None
    True
    >>> check_int(0, 'steps', minimum=1)
    Traceback (most recent call last):
        ...
    ValueError: `steps` must be an int >= 1, got 0
    >>> check_int(2.5, 'steps')
    Traceback (most recent call last):
        ...
    TypeError: `steps` must be an int >= 0, got 2.5
    """
    if value is None and allow_none:
        return None
    none = ' or None' if allow_none else ''
    message = f'`{name}` must be an int >= {minimum}{none}, got {value!r}'
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(message)
    if value < minimum:
        raise ValueError(message)
    return int(value)


def check_real(value, name, minimum=None, maximum=None, *, positive=False,
               allow_none=False, allow_inf=False):
    """Return ``value`` as a float, or raise naming ``name``.

    Parameters
    ----------
    value : object
        A real number (not a bool, not a string); NaN is always refused.
    name : str
        Argument name used in the error message.
    minimum, maximum : float, optional
        Inclusive bounds.
    positive : bool, optional
        Require ``value > 0``.
    allow_none : bool, optional
        Accept None (returned as is).
    allow_inf : bool, optional
        Accept infinite values.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is NaN, infinite (unless allowed) or out of bounds.

    Examples
    --------
    >>> check_real(0.5, 'lr', positive=True)
    0.5
    >>> check_real(float('nan'), 'noise_level', minimum=0)
    Traceback (most recent call last):
        ...
    ValueError: `noise_level` must be a finite number >= 0, got nan
    >>> check_real('abc', 'lr', positive=True)
    Traceback (most recent call last):
        ...
    TypeError: `lr` must be a finite number > 0, got 'abc'
    """
    if value is None and allow_none:
        return None
    bounds = []
    if positive:
        bounds.append('> 0')
    if minimum is not None:
        bounds.append(f'>= {minimum:g}')
    if maximum is not None:
        bounds.append(f'<= {maximum:g}')
    kind = 'a number' if allow_inf else 'a finite number'
    none = ' or None' if allow_none else ''
    message = f'`{name}` must be {kind}{" " if bounds else ""}{" and ".join(bounds)}{none}, ' \
              f'got {value!r}'
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(message)
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(message)
    if ((positive and not value > 0) or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        raise ValueError(message)
    return value


def check_positive(value, name, allow_none=False, allow_inf=False):
    """`check_real` with ``positive=True``: a finite number ``> 0``.

    Examples
    --------
    >>> check_positive(1e-3, 'eps')
    0.001
    >>> check_positive(None, 'eps')
    Traceback (most recent call last):
        ...
    TypeError: `eps` must be a finite number > 0, got None
    """
    return check_real(value, name, positive=True, allow_none=allow_none,
                      allow_inf=allow_inf)


def check_betas(value, name='betas', allow_none=False):
    """Return Adam's ``(beta1, beta2)`` as a tuple of floats in ``[0, 1)``, or raise.

    Examples
    --------
    >>> check_betas([0.5, 0.9])
    (0.5, 0.9)
    >>> check_betas((0.5, 1.0), 'train.betas')
    Traceback (most recent call last):
        ...
    ValueError: `train.betas` must be two numbers in [0, 1), got (0.5, 1.0)
    """
    if value is None and allow_none:
        return None
    betas = tuple(value) if isinstance(value, (tuple, list)) else None
    if betas is None or len(betas) != 2:
        raise TypeError(f'`{name}` must be two numbers in [0, 1), got {value!r}')
    betas = tuple(check_real(b, name, minimum=0) for b in betas)
    if not all(b < 1 for b in betas):
        raise ValueError(f'`{name}` must be two numbers in [0, 1), got {betas!r}')
    return betas


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``, else raise `ValueError`.

    Examples
    --------
    >>> check_choice('zero', 'boundary', ('zero', 'periodic'))
    'zero'
    >>> check_choice('reflect', 'boundary', ('zero', 'periodic'))
    Traceback (most recent call last):
        ...
    ValueError: `boundary` must be one of ('zero', 'periodic'), got 'reflect'
    """
    try:
        known = value in choices
    except TypeError:  # unhashable value against a set or dict
        known = False
    if not known:
        raise ValueError(f'`{name}` must be one of {tuple(choices)}, got {value!r}')
    return value


def as_generator(generator, name='generator', device='cpu'):
    """A `torch.Generator` from a generator, an int seed or None (torch's global state).

    Every function of the package that draws torch random numbers takes a
    ``generator`` argument accepted this way (NumPy-based ones take
    ``seed``: an int, None or a `numpy.random.Generator`).

    Parameters
    ----------
    generator : torch.Generator, int or None
    name : str, optional
        Argument name used in the error message.
    device : str or torch.device, optional
        Device of a generator made from a seed.

    Examples
    --------
    >>> a = torch.rand(2, generator=as_generator(3))
    >>> bool((a == torch.rand(2, generator=as_generator(3))).all())
    True
    >>> as_generator(None) is None
    True
    >>> as_generator(1.5)
    Traceback (most recent call last):
        ...
    TypeError: `generator` must be a torch.Generator, an int seed or None, got float
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return torch.Generator(device=device).manual_seed(int(generator))
    raise TypeError(f'`{name}` must be a torch.Generator, an int seed or None, got '
                    f'{type(generator).__name__}')


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


def complex_to_channels(x):
    """Complex ``(N, C, *shape)`` as real ``(N, 2 C, *shape)``: real and imaginary parts.

    Channel ``c`` becomes channels ``2 c`` (real part) and ``2 c + 1``
    (imaginary part): one complex image is ``[real, imag]``, as the
    OT-cycleGAN and unpaired-MRI codes feed their networks. Complex images
    are complex tensors inside the package and two real channels only at
    network boundaries; `channels_to_complex` is the inverse. Both are
    differentiable.

    Examples
    --------
    >>> x = torch.tensor([[[1 + 2j, 3 - 4j]]])  # (N, C, W) = (1, 1, 2)
    >>> complex_to_channels(x)
    tensor([[[ 1.,  3.],
             [ 2., -4.]]])
    >>> bool((channels_to_complex(complex_to_channels(x)) == x).all())
    True
    """
    if not isinstance(x, torch.Tensor) or not x.is_complex() or x.ndim < 2:
        raise TypeError('`x` must be a complex tensor (N, C, ...), got '
                        + (f'{x.dtype} of shape {tuple(x.shape)}' if isinstance(x, torch.Tensor)
                           else type(x).__name__))
    n, c = x.shape[:2]
    return torch.view_as_real(x).movedim(-1, 2).reshape((n, 2 * c) + tuple(x.shape[2:]))


def channels_to_complex(x):
    """Real ``(N, 2 C, *shape)`` as complex ``(N, C, *shape)``; inverse of `complex_to_channels`.

    Examples
    --------
    >>> channels_to_complex(torch.tensor([[[1.0, 3.0], [2.0, -4.0]]]))
    tensor([[[1.+2.j, 3.-4.j]]])
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        raise TypeError('`x` must be a real floating-point tensor (N, 2 C, ...), got '
                        + (f'{x.dtype} of shape {tuple(x.shape)}' if isinstance(x, torch.Tensor)
                           else type(x).__name__))
    n, channels = x.shape[:2]
    if channels % 2:
        raise ValueError(f'`x` must have an even number of channels (real and imaginary '
                         f'parts), got {channels}')
    pairs = x.reshape((n, channels // 2, 2) + tuple(x.shape[2:])).movedim(2, -1)
    return torch.view_as_complex(pairs.contiguous())
