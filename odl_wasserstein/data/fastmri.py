"""fastMRI HDF5 files: reader, writer and a seeded, resumable slice dataset.

The fastMRI data set (Zbontar et al., "fastMRI: An open dataset and
benchmarks for accelerated MRI", 2018) ships one HDF5 file per volume:

- ``kspace``: complex64 ``(slices, H, W)`` single-coil or
  ``(slices, coils, H, W)`` multi-coil, centred (zero frequency at
  ``n // 2``, the convention of `odl_wasserstein.fft.fftn_centered`), the
  phase-encode lines along ``W``; undersampled with zeros in test files;
- ``reconstruction_esc`` (single-coil) and/or ``reconstruction_rss``
  ``(slices, 320, 320)``: the reference magnitudes, absent in test files;
- ``mask`` (test files): the sampled lines, length ``W``;
- ``ismrmrd_header``: the ISMRMRD XML header (encoded and reconstructed
  matrix sizes, k-space encoding limits), read by `read_fastmri_header`;
- attributes ``acquisition``, ``max``, ``norm``, ``patient_id`` and, in
  test files, ``acceleration`` and ``num_low_frequency``.

`FastMRISliceDataset` streams slices of a folder of such files, split into
training, validation and test subsets by subject (never by slice), as
complex images ``ifftn_centered(kspace)`` cropped to 320 x 320 and
normalised as the OT-cycleGAN authors or fastMRI do
(`odl_wasserstein.data.normalize_mri_images`). `FastMRICoilDataset` streams
fully sampled multi-coil slices as coil k-space cropped in the image
domain, optionally compressed to fewer coils, with coil maps estimated
from the centre, for the 8-coil model of Lei et al., "Wasserstein GANs for
MR imaging: from paired to unpaired training"
(`odl_wasserstein.data.MulticoilMRIDataset`). `write_fastmri_file` writes
the same layout, e.g. from simulated data, so that everything can be run
and tested offline.
"""

import contextlib
import dataclasses
import itertools
import numbers
import os
from pathlib import Path
from xml.etree import ElementTree

import h5py
import numpy as np
import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.data.mri import NORMALIZATIONS, normalize_mri_images
from odl_wasserstein.data.multicoil import scaled_calibration
from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.operators.coils import compress_coils, estimate_coil_maps
from odl_wasserstein.operators.mri import coil_fourier_adjoint
from odl_wasserstein.util import check_choice, check_int, check_real

__all__ = (
    'FastMRIHeader',
    'read_fastmri_header',
    'read_fastmri_kspace',
    'read_fastmri_reconstruction',
    'read_fastmri_mask',
    'write_fastmri_file',
    'center_crop',
    'crop_kspace',
    'kspace_to_image',
    'subject_split',
    'FastMRISliceDataset',
    'FastMRICoilDataset',
)

ISMRMRD_NAMESPACE = 'http://www.ismrm.org/ISMRMRD'
SUBSETS = ('train', 'validation', 'test')
_RECONSTRUCTIONS = ('reconstruction_esc', 'reconstruction_rss')


# --- files ----------------------------------------------------------------

@contextlib.contextmanager
def _open(path):
    """Open an HDF5 file for reading; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'fastMRI file {str(path)!r} does not exist')
    try:
        file = h5py.File(path, 'r')
    except OSError as error:
        raise ValueError(f'{str(path)!r} is not a readable HDF5 file ({error}); '
                         'it is damaged or not a fastMRI file') from None
    with file:
        yield file


def _read(file, key, index=()):
    """``file[key][index]`` with errors that name the file and the key."""
    if key not in file:
        raise ValueError(f'{file.filename!r} has no {key!r} dataset; it holds '
                         f'{sorted(file.keys())}')
    try:
        return file[key][index]
    except (OSError, TypeError) as error:
        raise ValueError(f'cannot read {key!r} of {file.filename!r} ({error}); '
                         'the file is damaged') from None


def _kspace_shape(file):
    """Shape of the k-space of an open file, checked with the mask width."""
    if 'kspace' not in file or not isinstance(file['kspace'], h5py.Dataset):
        raise ValueError(f'{file.filename!r} has no `kspace` dataset (keys: '
                         f'{sorted(file.keys())}); fastMRI files store it under "kspace"')
    kspace = file['kspace']
    if kspace.ndim not in (3, 4):
        raise ValueError(f'`kspace` of {file.filename!r} must have shape (slices, H, W) or '
                         f'(slices, coils, H, W), got {kspace.shape}')
    if kspace.dtype.kind != 'c':
        raise ValueError(f'`kspace` of {file.filename!r} must be complex (complex64 in '
                         f'fastMRI), got {kspace.dtype}')
    if 'mask' in file and file['mask'].shape != (kspace.shape[-1],):
        raise ValueError(f'`mask` of {file.filename!r} must have the width W = '
                         f'{kspace.shape[-1]} of `kspace` {kspace.shape}, got shape '
                         f'{file["mask"].shape}')
    return tuple(kspace.shape)


def _index(index, num_slices):
    """``None`` (all), an int or a slice, checked against ``num_slices``."""
    if index is None:
        return slice(None)
    if isinstance(index, slice):
        return index
    index = check_int(index, 'index')
    if index >= num_slices:
        raise ValueError(f'`index` must be < the {num_slices} slices, got {index}')
    return index


def read_fastmri_kspace(path, index=None):
    """Read the k-space of a fastMRI file.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file.
    index : int or slice, optional
        Slice(s) to read; default all.

    Returns
    -------
    torch.Tensor
        complex64 ``(slices, [coils,] H, W)``, without the slice axis for
        an int ``index``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a readable HDF5 file, has no ``kspace`` of rank 3 or
        4 and complex type, its ``mask`` does not have width ``W``, or
        ``index`` is out of range.

    Examples
    --------
    >>> import tempfile
    >>> kspace = torch.randn(2, 4, 6, dtype=torch.complex64)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'file1000000.h5')
    ...     write_fastmri_file(path, kspace)
    ...     read = read_fastmri_kspace(path, index=1)
    >>> bool(torch.equal(read, kspace[1]))
    True
    """
    with _open(path) as file:
        shape = _kspace_shape(file)
        return torch.from_numpy(np.asarray(
            _read(file, 'kspace', _index(index, shape[0])), dtype=np.complex64))


def read_fastmri_reconstruction(path, index=None, key=None):
    """Read the reference reconstruction (a magnitude image) of a fastMRI file.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file.
    index : int or slice, optional
        Slice(s) to read; default all.
    key : {'reconstruction_esc', 'reconstruction_rss'}, optional
        Dataset; default ``'reconstruction_esc'`` for single-coil and
        ``'reconstruction_rss'`` for multi-coil k-space, else the one the
        file has.

    Returns
    -------
    torch.Tensor
        float32 ``(slices, 320, 320)`` (or the stored size), without the
        slice axis for an int ``index``.

    Raises
    ------
    ValueError
        If the file has no such reconstruction (test files have none).

    Examples
    --------
    >>> import tempfile
    >>> kspace = torch.randn(2, 4, 6, dtype=torch.complex64)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'file1000000.h5')
    ...     write_fastmri_file(path, kspace, reconstruction=torch.ones(2, 3, 3))
    ...     read_fastmri_reconstruction(path, index=0)
    tensor([[1., 1., 1.],
            [1., 1., 1.],
            [1., 1., 1.]])
    """
    if key is not None:
        check_choice(key, 'key', _RECONSTRUCTIONS)
    with _open(path) as file:
        shape = _kspace_shape(file)
        key = _reconstruction_key(file, len(shape) == 4) if key is None else key
        data = _read(file, key, _index(index, shape[0]))
        return torch.from_numpy(np.asarray(data, dtype=np.float32))


def _reconstruction_key(file, multicoil):
    preferred = _RECONSTRUCTIONS[::-1] if multicoil else _RECONSTRUCTIONS
    for key in preferred:
        if key in file:
            return key
    raise ValueError(f'{file.filename!r} has no reference reconstruction '
                     f'({" or ".join(preferred)}); test files have none')


def read_fastmri_mask(path):
    """Read the sampling mask of a fastMRI test file.

    Returns
    -------
    numpy.ndarray
        float32 0/1 ``(W,)``, centred k-space convention, as the mask
        generators of `odl_wasserstein.operators.masks` return.

    Raises
    ------
    ValueError
        If the file has no ``mask`` or its length is not the k-space width.

    Examples
    --------
    >>> import tempfile
    >>> kspace = torch.zeros(1, 4, 6, dtype=torch.complex64)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'file1000000.h5')
    ...     write_fastmri_file(path, kspace, mask=[0, 1, 1, 1, 0, 0])
    ...     read_fastmri_mask(path)
    array([ 0.,  1.,  1.,  1.,  0.,  0.], dtype=float32)
    """
    with _open(path) as file:
        _kspace_shape(file)
        return np.asarray(_read(file, 'mask'), dtype=bool).astype(np.float32)


# --- header ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FastMRIHeader:
    """Metadata of a fastMRI file: k-space layout, ISMRMRD header, attributes.

    Attributes
    ----------
    path : str
        The file.
    kspace_shape : tuple of int
        ``(slices, H, W)`` or ``(slices, coils, H, W)``.
    num_slices : int
    num_coils : int or None
        None for single-coil k-space.
    encoding_size, recon_size : tuple of int
        ``(x, y, z)`` matrix sizes of the ISMRMRD ``encodedSpace`` and
        ``reconSpace`` (``x`` is ``H``, ``y`` is ``W``).
    encoding_limits : tuple of int
        ``(minimum, center, maximum)`` of ``kspace_encoding_step_1``.
    padding_left, padding_right : int
        Columns of the k-space outside the acquired phase encodes, as
        fastMRI computes them: ``padding_left = encoding_size[1] // 2 -
        center`` and ``padding_right = padding_left + maximum + 1``.
    reconstructions : tuple of str
        The reference reconstructions present.
    has_mask : bool
        Whether the file stores a ``mask`` (test files).
    acquisition, patient_id : str or None
    max, norm : float or None
    acceleration, num_low_frequency : int or None
        The file attributes; None where absent.

    Examples
    --------
    The phase encodes acquired in a file, as fastMRI's padding tells them:

    >>> import tempfile
    >>> kspace = torch.zeros(1, 640, 368, dtype=torch.complex64)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_fastmri_file(os.path.join(folder, 'file1.h5'), kspace)
    ...     header = read_fastmri_header(os.path.join(folder, 'file1.h5'))
    >>> header.padding_right - header.padding_left
    368
    """

    path: str
    kspace_shape: tuple
    num_slices: int
    num_coils: int | None
    encoding_size: tuple
    recon_size: tuple
    encoding_limits: tuple
    padding_left: int
    padding_right: int
    reconstructions: tuple
    has_mask: bool
    acquisition: str | None = None
    patient_id: str | None = None
    max: float | None = None
    norm: float | None = None
    acceleration: int | None = None
    num_low_frequency: int | None = None


def _xml_text(root, path, elements):
    """Text of ``encoding/...`` in the ISMRMRD namespace, as fastMRI's ``et_query``."""
    for namespace in ({'m': ISMRMRD_NAMESPACE}, None):
        prefix = 'm:' if namespace else ''
        query = '.' + ''.join(f'//{prefix}{name}' for name in elements)
        node = root.find(query, namespace)
        if node is not None and node.text is not None:
            return node.text.strip()
    raise ValueError(f'the `ismrmrd_header` of {path!r} has no element '
                     f'{"/".join(elements)}')


def _xml_int(root, path, elements):
    text = _xml_text(root, path, elements)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'the `ismrmrd_header` of {path!r} has the non-integer '
                         f'{"/".join(elements)} = {text!r}') from None


def _parse_header(raw, path):
    if isinstance(raw, np.ndarray):
        raw = raw.item() if raw.shape == () else raw.tobytes()
    try:
        root = ElementTree.fromstring(raw)
    except (ElementTree.ParseError, TypeError, ValueError) as error:
        raise ValueError(f'the `ismrmrd_header` of {path!r} is not valid XML ({error})') from None
    sizes = {}
    for space in ('encodedSpace', 'reconSpace'):
        sizes[space] = tuple(_xml_int(root, path, ('encoding', space, 'matrixSize', axis))
                             for axis in 'xyz')
    limits = tuple(_xml_int(root, path, ('encoding', 'encodingLimits',
                                         'kspace_encoding_step_1', name))
                   for name in ('minimum', 'center', 'maximum'))
    padding_left = sizes['encodedSpace'][1] // 2 - limits[1]
    return {'encoding_size': sizes['encodedSpace'], 'recon_size': sizes['reconSpace'],
            'encoding_limits': limits, 'padding_left': padding_left,
            'padding_right': padding_left + limits[2] + 1}


def _attribute(attrs, name, kind):
    if name not in attrs:
        return None
    value = attrs[name]
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f'attribute {name!r} = {value!r} is not a {kind.__name__}') from None


def read_fastmri_header(path):
    """Read the metadata of a fastMRI file (not its arrays).

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file.

    Returns
    -------
    FastMRIHeader

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a readable HDF5 file, its ``kspace`` is missing or
        malformed, or its ``ismrmrd_header`` is missing, not XML or lacks
        a matrix size or encoding limit.

    Examples
    --------
    >>> import tempfile
    >>> kspace = torch.zeros(3, 640, 368, dtype=torch.complex64)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'file1000000.h5')
    ...     write_fastmri_file(path, kspace, acquisition='CORPD_FBK', max=0.0004)
    ...     header = read_fastmri_header(path)
    >>> header.num_slices, header.num_coils, header.encoding_size, header.recon_size
    (3, None, (640, 368, 1), (320, 320, 1))
    >>> header.padding_left, header.padding_right, header.acquisition, header.max
    (0, 368, 'CORPD_FBK', 0.0004)
    """
    with _open(path) as file:
        shape = _kspace_shape(file)
        name = file.filename
        geometry = _parse_header(_read(file, 'ismrmrd_header'), name)
        attrs = {key: _attribute(file.attrs, key, kind) for key, kind in
                 (('acquisition', str), ('patient_id', str), ('max', float),
                  ('norm', float), ('acceleration', int), ('num_low_frequency', int))}
        return FastMRIHeader(
            path=name, kspace_shape=shape, num_slices=shape[0],
            num_coils=shape[1] if len(shape) == 4 else None,
            reconstructions=tuple(key for key in _RECONSTRUCTIONS if key in file),
            has_mask='mask' in file, **geometry, **attrs)


def _header_xml(encoding_size, recon_size, limits):
    def matrix(size):
        return ''.join(f'<{axis}>{n}</{axis}>' for axis, n in zip('xyz', size))
    minimum, center, maximum = limits
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}"><encoding>'
        f'<encodedSpace><matrixSize>{matrix(encoding_size)}</matrixSize></encodedSpace>'
        f'<reconSpace><matrixSize>{matrix(recon_size)}</matrixSize></reconSpace>'
        '<trajectory>cartesian</trajectory><encodingLimits><kspace_encoding_step_1>'
        f'<minimum>{minimum}</minimum><maximum>{maximum}</maximum><center>{center}</center>'
        '</kspace_encoding_step_1></encodingLimits></encoding></ismrmrdHeader>')


def write_fastmri_file(path, kspace, reconstruction=None, mask=None, recon_size=(320, 320),
                       **attrs):
    """Write k-space (and a reference, a mask, attributes) as a fastMRI file.

    The ISMRMRD header states an encoded matrix ``(H, W, 1)``, a
    reconstructed matrix ``(*recon_size, 1)`` and phase encodes
    ``0 .. W - 1`` centred at ``W // 2`` (no padding).

    Parameters
    ----------
    path : str or os.PathLike
        The file; it is overwritten.
    kspace : array-like
        Complex ``(slices, H, W)`` or ``(slices, coils, H, W)``, stored as
        complex64.
    reconstruction : array-like, optional
        Real ``(slices, h, w)``, stored as float32 under
        ``reconstruction_esc`` (single-coil) or ``reconstruction_rss``
        (multi-coil).
    mask : array-like, optional
        Length-``W`` sampling mask, as test files have.
    recon_size : (int, int), optional
        Reconstructed matrix size of the header.
    **attrs
        File attributes, e.g. ``acquisition='CORPD_FBK'``,
        ``patient_id='...'``, ``max=...``, ``acceleration=4``.

    Examples
    --------
    >>> import tempfile
    >>> kspace = torch.randn(2, 3, 8, 8, dtype=torch.complex64)  # 3 coils
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'file1000001.h5')
    ...     write_fastmri_file(path, kspace, patient_id='p1')
    ...     header = read_fastmri_header(path)
    >>> header.num_coils, header.patient_id
    (3, 'p1')
    """
    kspace = np.asarray(kspace.resolve_conj() if isinstance(kspace, torch.Tensor) else kspace)
    if kspace.ndim not in (3, 4) or kspace.dtype.kind not in 'fc':
        raise ValueError(f'`kspace` must be complex (slices, [coils,] H, W), got '
                         f'{kspace.dtype} of shape {kspace.shape}')
    height, width = kspace.shape[-2:]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (width,):
            raise ValueError(f'`mask` must have shape ({width},), got {mask.shape}')
    header = _header_xml((height, width, 1), tuple(recon_size) + (1,),
                         (0, width // 2, width - 1))
    with h5py.File(path, 'w') as file:
        file.create_dataset('kspace', data=kspace.astype(np.complex64))
        file.create_dataset('ismrmrd_header', data=np.bytes_(header.encode()))
        if reconstruction is not None:
            key = _RECONSTRUCTIONS[kspace.ndim == 4]
            file.create_dataset(key, data=np.asarray(reconstruction, dtype=np.float32))
        if mask is not None:
            file.create_dataset('mask', data=mask.astype(bool))
        file.attrs.update(attrs)


# --- images ---------------------------------------------------------------

def _crop_shape(shape, name='shape'):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape, shape)
    try:
        height, width = shape
    except (TypeError, ValueError):
        raise ValueError(
            f'`{name}` must be an int or a pair of ints (h, w), got {shape!r}') from None
    return check_int(height, name, 1), check_int(width, name, 1)


def center_crop(images, shape):
    """The central ``(h, w)`` part of the last two axes, as fastMRI crops.

    The crop starts at ``(H - h) // 2`` and ``(W - w) // 2``.

    Parameters
    ----------
    images : torch.Tensor
        ``(..., H, W)``.
    shape : int or (int, int)
        ``(h, w)``, at most ``(H, W)``.

    Returns
    -------
    torch.Tensor
        ``(..., h, w)``, a view.

    Raises
    ------
    ValueError
        If the images are smaller than ``shape``.

    Examples
    --------
    >>> center_crop(torch.arange(12).reshape(3, 4), (1, 2))
    tensor([[5, 6]])
    """
    height, width = _crop_shape(shape)
    if images.ndim < 2 or images.shape[-2] < height or images.shape[-1] < width:
        raise ValueError(f'images of shape {tuple(images.shape)} are smaller than the crop '
                         f'{(height, width)}; lower `crop`')
    top = (images.shape[-2] - height) // 2
    left = (images.shape[-1] - width) // 2
    return images[..., top:top + height, left:left + width]


def crop_kspace(kspace, shape):
    """Crop k-space in the image domain: the k-space of the central ``(h, w)`` image.

    ``fftn_centered(center_crop(ifftn_centered(kspace), shape))`` over the
    last two axes, coil by coil: fastMRI's crop of the reconstructed image
    (which drops the readout oversampling of the raw data) applied to the
    data, so that models work on the k-space of the cropped image.

    Parameters
    ----------
    kspace : torch.Tensor
        Complex centred k-space ``(..., H, W)``, e.g. ``(C, H, W)``.
    shape : int or (int, int)
        ``(h, w)``, at most ``(H, W)``.

    Returns
    -------
    torch.Tensor
        Complex ``(..., h, w)``.

    Examples
    --------
    >>> image = torch.randn(3, 8, 8, dtype=torch.complex64)
    >>> cropped = crop_kspace(fftn_centered(image, 2), (4, 6))
    >>> bool(torch.allclose(ifftn_centered(cropped, 2), image[:, 2:6, 1:7], atol=1e-6))
    True
    """
    if not isinstance(kspace, torch.Tensor) or not kspace.is_complex():
        raise TypeError('`kspace` must be a complex tensor, got '
                        f'{getattr(kspace, "dtype", type(kspace).__name__)}')
    return fftn_centered(center_crop(ifftn_centered(kspace, 2), shape), 2)


def kspace_to_image(kspace, coils=False, crop=None):
    """Complex image of centred k-space: ``ifftn_centered``, coil combination, crop.

    Single coil: the orthonormal centred inverse FFT of the last two axes
    (complex). Multi-coil (``coils=True``, coil axis ``-3``): the root sum
    of squares of the coil images ``sqrt(sum_c |x_c|^2)``, fastMRI's
    multi-coil target, as a complex tensor with zero imaginary part.

    Parameters
    ----------
    kspace : torch.Tensor
        Complex ``(..., H, W)``, or ``(..., C, H, W)`` with ``coils``.
    coils : bool, optional
        Whether axis ``-3`` holds coils.
    crop : int or (int, int), optional
        Centre crop of the image, see `center_crop`.

    Returns
    -------
    torch.Tensor
        Complex ``(..., h, w)``.

    Examples
    --------
    >>> from odl_wasserstein.fft import fftn_centered
    >>> image = torch.randn(2, 8, 8, dtype=torch.complex64)
    >>> kspace = fftn_centered(image, 2)
    >>> bool(torch.allclose(kspace_to_image(kspace), image, atol=1e-6))
    True
    >>> rss = kspace_to_image(kspace, coils=True, crop=4)  # 2 coils
    >>> rss.shape, bool(torch.allclose(rss.real, image[:, 2:6, 2:6].abs().square().sum(0).sqrt()))
    (torch.Size([4, 4]), True)
    """
    if not isinstance(kspace, torch.Tensor) or not kspace.is_complex():
        raise TypeError('`kspace` must be a complex tensor, got '
                        f'{getattr(kspace, "dtype", type(kspace).__name__)}')
    if kspace.ndim < (3 if coils else 2):
        raise ValueError(f'`kspace` must have shape (..., {"C, " if coils else ""}H, W), '
                         f'got {tuple(kspace.shape)}')
    image = ifftn_centered(kspace, 2)
    if coils:
        image = image.abs().square().sum(-3).sqrt().to(image.dtype)
    return image if crop is None else center_crop(image, crop)


# --- subjects ---------------------------------------------------------------

def _check_fractions(fractions):
    try:
        fractions = tuple(check_real(f, 'fractions', minimum=0) for f in fractions)
    except TypeError:
        raise TypeError('`fractions` must be three numbers (train, validation, test), got '
                        f'{fractions!r}') from None
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError('`fractions` must be three non-negative numbers (train, validation, '
                         f'test) that sum to 1, got {fractions!r}')
    return fractions


def _allocate(n, fractions):
    """Integer counts summing to ``n``, by largest remainders (ties: earlier subset)."""
    exact = [n * f for f in fractions]
    counts = [int(np.floor(e)) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[:n - sum(counts)]:
        counts[i] += 1
    return counts


def subject_split(subjects, fractions=(0.8, 0.1, 0.1), seed=0):
    """Split subjects into training, validation and test subsets, seeded.

    The distinct subjects, sorted by ``str``, are permuted by
    ``numpy.random.default_rng(seed).permutation``; the first ones go to
    training, the next to validation, the rest to test, in numbers
    ``n * fraction`` rounded by largest remainders (they sum to ``n``).
    The split depends only on the set of subjects, the fractions and the
    seed.

    Parameters
    ----------
    subjects : iterable of str
        Subject keys, repeats allowed (e.g. one per file).
    fractions : (float, float, float), optional
        Fractions (train, validation, test), non-negative, summing to 1.
    seed : int, optional
        Seed of the permutation.

    Returns
    -------
    tuple of three tuples of str
        Sorted subjects of each subset; together each subject once.

    Examples
    --------
    >>> train, validation, test = subject_split(['a', 'b', 'c', 'd', 'e', 'a'],
    ...                                         (0.6, 0.2, 0.2), seed=0)
    >>> len(train), len(validation), len(test)
    (3, 1, 1)
    >>> sorted(train + validation + test)
    ['a', 'b', 'c', 'd', 'e']
    """
    unique = sorted(set(subjects), key=str)
    fractions = _check_fractions(fractions)
    seed = check_int(seed, 'seed')
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    bounds = np.cumsum([0] + _allocate(len(unique), fractions))
    return tuple(tuple(sorted(shuffled[a:b], key=str)) for a, b in itertools.pairwise(bounds))


# --- dataset ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Volume:
    """What the dataset needs to know of one file."""

    path: str
    num_slices: int
    multicoil: bool
    subject: str
    reference: str | None
    num_coils: int | None = None
    has_mask: bool = False


def _list_files(folder):
    """The ``.h5`` files of a folder (sorted) or the given files."""
    if isinstance(folder, (str, os.PathLike)):
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f'fastMRI folder {os.fspath(folder)!r} does not exist')
        files = sorted(folder.glob('*.h5'))
        if not files:
            raise FileNotFoundError(f'no .h5 files in {os.fspath(folder)!r}; put the fastMRI '
                                    'files (e.g. singlecoil_train/*.h5) there')
        return files
    try:
        files = [Path(f) for f in folder]
    except TypeError:
        raise TypeError('`folder` must be a folder or a sequence of .h5 files, got '
                        f'{type(folder).__name__}') from None
    if not files:
        raise FileNotFoundError('`folder` is an empty sequence of files')
    return files


def _scan(path, crop, reference):
    """Check one file for the dataset and describe it."""
    with _open(path) as file:
        shape = _kspace_shape(file)
        if shape[-2] < crop[0] or shape[-1] < crop[1]:
            raise ValueError(f'the images of {file.filename!r} ({shape[-2]} x {shape[-1]}) '
                             f'are smaller than `crop` {crop}; lower `crop`')
        key = None
        if reference:
            key = _reconstruction_key(file, len(shape) == 4)
            stored = file[key].shape
            if len(stored) != 3 or stored[0] != shape[0] or stored[1] < crop[0] \
                    or stored[2] < crop[1]:
                raise ValueError(f'{key!r} of {file.filename!r} must have shape ({shape[0]}, '
                                 f'h, w) with (h, w) >= `crop` {crop}, got {stored}')
        subject = _attribute(file.attrs, 'patient_id', str) or Path(path).name
        return _Volume(os.fspath(path), shape[0], len(shape) == 4, subject, key,
                       shape[1] if len(shape) == 4 else None, 'mask' in file)


class FastMRISliceDataset(SeededBatchStream):
    """Seeded, resumable stream of fastMRI slices, split by subject.

    The files of ``folder`` are checked up front and split into the
    subsets ``'train'``, ``'validation'`` and ``'test'`` by subject
    (`subject_split` of their ``patient_id`` attribute, else of the file
    name): all slices of a subject are in one subset, whatever the seed of
    the stream. Batch ``k`` holds ``batch_size`` distinct slices of the
    subset, chosen by ``torch.randperm(S, generator=batch_generator(seed,
    k, split))[:batch_size]`` over its ``S`` slices in file order, so it is
    a pure function of ``(seed, k)`` and resumes exactly
    (`odl_wasserstein.data.SeededBatchStream`). Batches are drawn
    independently, not in epochs.

    Each slice gives the complex image ``ifftn_centered(kspace)`` (the
    zero-filled image for the undersampled k-space of test files),
    multi-coil slices the root sum of squares of the coil images (real,
    stored as complex; `kspace_to_image`), centre-cropped to ``crop``,
    then normalised (`odl_wasserstein.data.normalize_mri_images`). The
    masks that make the zero-filled training inputs are drawn by the
    training recipe, e.g. with
    `odl_wasserstein.operators.masks.ot_cyclegan_lines_mask`.

    Parameters
    ----------
    folder : str, os.PathLike or sequence of them
        Folder of ``.h5`` files, or the files themselves.
    batch_size : int, optional
        Slices per batch ``N``.
    seed : int, optional
        Seed of the stream.
    subset : {'train', 'validation', 'test'}, optional
        Subset of subjects to draw from.
    fractions : (float, float, float), optional
        Fractions of subjects in (train, validation, test).
    split_seed : int, optional
        Seed of the subject split; keep it for the three subsets.
    crop : int or (int, int), optional
        Image size ``(h, w)``; files with smaller images are refused.
    normalization : {'std', 'fastmri', None}, optional
        ``'std'``: the OT-cycleGAN authors' (divide by the std of the
        magnitude of the slice's image; complex); ``'fastmri'``: fastMRI's
        (magnitude, minus its mean, over its std, clamped to +-6; real).
    reference : bool, optional
        Also return the stored reference reconstruction
        (``reconstruction_esc`` single-coil, ``reconstruction_rss``
        multi-coil), cropped and normalised with the image's statistics.
    order : {'random', 'sequential'}, optional
        ``'random'``: batch ``k`` draws its slices from the seed stream;
        ``'sequential'``: batch ``k`` holds slices ``k * batch_size, ...``
        of the subset in file and slice order (cycling), to evaluate every
        slice once.
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of
        `odl_wasserstein.data.SeededBatchStream`.

    Attributes
    ----------
    volumes : tuple
        The files of the subset (``path``, ``num_slices``, ``multicoil``,
        ``subject``, ``reference``, ``num_coils``, ``has_mask``), sorted
        by path.
    num_slices : int
        Slices in the subset.

    Raises
    ------
    FileNotFoundError
        If the folder or a file does not exist, or the folder holds no
        ``.h5`` file.
    ValueError
        If a file is not a readable fastMRI file (see
        `read_fastmri_kspace`), its images are smaller than ``crop``, a
        requested reference is missing, or the subset has fewer than
        ``batch_size`` slices.

    Notes
    -----
    Every item is a dict:

    - ``'image'``: ``(N, 1, h, w)`` complex64 (``'std'``, None) or
      float32 (``'fastmri'``);
    - ``'offset'``, ``'scale'``: float32 ``(N,)``: ``image = (x -
      offset) / scale`` for the raw image (magnitude) ``x``, clamped for
      ``'fastmri'``; ``offset = 0`` for ``'std'``;
    - ``'file'``: tuple of ``N`` paths; ``'slice'``: int64 ``(N,)``;
    - with ``reference``: ``'reference'``, float32 ``(N, 1, h, w)``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> for i in range(5):
    ...     kspace = torch.randn(3, 40, 36, dtype=torch.complex64)
    ...     write_fastmri_file(os.path.join(folder.name, f'file{i}.h5'), kspace,
    ...                        patient_id=f'subject{i}')
    >>> train = FastMRISliceDataset(folder.name, batch_size=2, crop=32,
    ...                             fractions=(0.6, 0.2, 0.2))
    >>> len(train.volumes), train.num_slices
    (3, 9)
    >>> item = train.batch(4)
    >>> item['image'].shape, item['image'].dtype, item['slice'].shape
    (torch.Size([2, 1, 32, 32]), torch.complex64, torch.Size([2]))
    >>> bool(torch.equal(next(train.batches(start=4))['image'], item['image']))
    True
    >>> folder.cleanup()
    """

    def __init__(self, folder, batch_size=1, seed=0, subset='train',
                 fractions=(0.8, 0.1, 0.1), split_seed=0, crop=(320, 320),
                 normalization='std', reference=False, order='random', **kwargs):
        self.batch_size = check_int(batch_size, 'batch_size', 1)
        self.order = check_choice(order, 'order', ('random', 'sequential'))
        check_choice(subset, 'subset', SUBSETS)
        self.crop = _crop_shape(crop, 'crop')
        self.normalization = check_choice(normalization, 'normalization', NORMALIZATIONS)
        self.reference = bool(reference)
        super().__init__(seed, **kwargs)
        volumes = [_scan(path, self.crop, self.reference) for path in _list_files(folder)]
        chosen = set(subject_split([v.subject for v in volumes], fractions,
                                   split_seed)[SUBSETS.index(subset)])
        self.volumes = tuple(sorted((v for v in volumes if v.subject in chosen),
                                    key=lambda v: v.path))
        counts = [v.num_slices for v in self.volumes]
        self._volume_of = np.repeat(np.arange(len(counts)), counts)
        self._slice_of = np.concatenate([np.arange(n) for n in counts] or [np.zeros(0, int)])
        if self.num_slices < self.batch_size:
            raise ValueError(f'the {subset!r} subset ({len(self.volumes)} files) has '
                             f'{self.num_slices} slices, fewer than `batch_size` '
                             f'{self.batch_size}; change `fractions` or add files')

    @property
    def num_slices(self):
        """Number of slices in the subset."""
        return len(self._volume_of)

    def read_slice(self, volume, index):
        """Image (and reference) of one slice, unnormalised.

        Parameters
        ----------
        volume : int
            Number of the file in `volumes`.
        index : int
            Slice of that file.

        Returns
        -------
        image : torch.Tensor
            complex64 ``(h, w)``.
        reference : torch.Tensor or None
            float32 ``(h, w)`` with ``reference=True``.
        """
        kspace, reference = self._read_raw(volume, index)
        image = kspace_to_image(kspace, coils=self.volumes[volume].multicoil, crop=self.crop)
        return image, reference

    def _read_raw(self, volume, index):
        """K-space (complex64, uncropped) and cropped reference (or None) of one slice."""
        info = self.volumes[volume]
        with _open(info.path) as file:
            kspace = torch.from_numpy(np.asarray(_read(file, 'kspace', index),
                                                 dtype=np.complex64))
            stored = None
            if info.reference is not None:
                stored = torch.from_numpy(np.asarray(_read(file, info.reference, index),
                                                     dtype=np.float32))
        return kspace, None if stored is None else center_crop(stored, self.crop)

    def _choose(self, index, split):
        """Files (numbers in `volumes`) and slices of batch ``index``, two lists."""
        if self.order == 'sequential':
            chosen = (index * self.batch_size + torch.arange(self.batch_size)) % self.num_slices
        else:
            generator = batch_generator(self.seed, index, split)
            chosen = torch.randperm(self.num_slices, generator=generator)[:self.batch_size]
        return (self._volume_of[chosen.numpy()].tolist(),
                self._slice_of[chosen.numpy()].tolist())

    def generate(self, index, split='train'):
        """Read batch number ``index`` of a seed stream, ignoring ``repeat``.

        Parameters
        ----------
        index : int
            Non-negative number of the generated batch.
        split : {'train', 'validation'}, optional
            Seed stream (see `odl_wasserstein.data.batch_generator`); the
            subset of subjects is fixed by ``subset``.

        Returns
        -------
        dict
            See the class notes.
        """
        volumes, slices = self._choose(index, split)
        read = [self.read_slice(v, s) for v, s in zip(volumes, slices)]
        images, offset, scale = normalize_mri_images(
            torch.stack([image for image, _ in read])[:, None], self.normalization)
        batch = {'image': images, 'offset': offset.float(), 'scale': scale.float(),
                 'file': tuple(self.volumes[v].path for v in volumes),
                 'slice': torch.tensor(slices, dtype=torch.int64)}
        if self.reference:
            references = torch.stack([ref for _, ref in read])[:, None]
            batch['reference'], _, _ = normalize_mri_images(
                references, self.normalization, statistics=(offset, scale))
        return batch


class FastMRICoilDataset(FastMRISliceDataset):
    """Seeded stream of fully sampled multi-coil fastMRI slices: coil k-space, maps, image.

    The slices are chosen as by `FastMRISliceDataset` (split by subject,
    ``batch_size`` distinct slices per batch, a pure function of the seed
    and the batch number). Each slice gives its coil k-space cropped in
    the image domain to ``crop`` (`crop_kspace`, which also drops the
    readout oversampling), compressed to ``num_coils`` virtual coils
    (`odl_wasserstein.operators.compress_coils`, e.g. the 15 knee coils to
    the paper's 8) if asked, the coil maps estimated from its central
    ``calibration`` square (`odl_wasserstein.operators.estimate_coil_maps`;
    the paper uses ESPIRiT) and the image, the coil combination
    ``sum_c conj(S_c) F^{-1}(y_c)`` with those maps. The image is complex;
    its magnitude is at most the root-sum-of-squares image (fastMRI's
    multi-coil target, `kspace_to_image`; Cauchy-Schwarz, as
    ``sum_c |S_c|^2 = 1``) and close to it where the maps are accurate
    (within 2 % at 32 x 32 with a 4 x 4 calibration in the tests), zero
    where the maps are. ``y = F(S image)`` holds up to noise and the error of
    the maps: the image is the label of
    `odl_wasserstein.data.MulticoilMRIDataset`, which normalises the data,
    so this stream does not.

    Parameters
    ----------
    folder : str, os.PathLike or sequence of them
        Folder of fully sampled multi-coil ``.h5`` files, or the files.
    batch_size : int, optional
        Slices per batch ``N``.
    seed : int, optional
        Seed of the stream.
    num_coils : int, optional
        Number of virtual coils; None keeps the files' coils, which must
        then be the same in all files of the subset.
    calibration : int, optional
        Side of the calibration square of the maps; default
        `odl_wasserstein.data.scaled_calibration` of ``crop`` (the paper's
        20 at 256 x 320).
    **kwargs
        ``subset``, ``fractions``, ``split_seed``, ``crop``, ``reference``,
        ``order``, ``repeat``, ``start``, ``rank``, ``world_size`` of
        `FastMRISliceDataset` (not ``normalization``).

    Raises
    ------
    ValueError
        As `FastMRISliceDataset`, and if a file of the subset is single-
        coil or a test file (undersampled, with a ``mask``), the coil
        numbers differ without ``num_coils`` or are below it, or the
        calibration square is larger than ``crop``.

    Notes
    -----
    Items are dicts, in the format of `odl_wasserstein.data.SimulatedMRIDataset`
    with coils:

    - ``'kspace'``: complex64 ``(N, C, h, w)``, fully sampled;
    - ``'coil_maps'``: complex64 ``(N, C, h, w)``;
    - ``'image'``: complex64 ``(N, 1, h, w)``;
    - ``'offset'``, ``'scale'``: float32 ``(N,)`` zeros and ones;
    - ``'file'``: tuple of ``N`` paths; ``'slice'``: int64 ``(N,)``;
    - with ``reference``: ``'reference'``, the stored root-sum-of-squares
      image cropped, float32 ``(N, 1, h, w)``, unnormalised.

    Examples
    --------
    >>> import tempfile
    >>> from odl_wasserstein.data import birdcage_coil_maps, simulated_subject_image
    >>> folder = tempfile.TemporaryDirectory()
    >>> maps = birdcage_coil_maps((40, 36), 6)
    >>> for i in range(3):
    ...     kspace = fftn_centered(maps * simulated_subject_image(i, (40, 36)), 2)
    ...     write_fastmri_file(os.path.join(folder.name, f'file{i}.h5'), kspace[None],
    ...                        patient_id=f'subject{i}')
    >>> data = FastMRICoilDataset(folder.name, batch_size=2, num_coils=4, crop=32,
    ...                           fractions=(1, 0, 0))
    >>> item = data.batch(0)
    >>> item['kspace'].shape, item['coil_maps'].shape, item['image'].shape
    (torch.Size([2, 4, 32, 32]), torch.Size([2, 4, 32, 32]), torch.Size([2, 1, 32, 32]))
    >>> folder.cleanup()
    """

    def __init__(self, folder, batch_size=1, seed=0, num_coils=None, calibration=None,
                 **kwargs):
        if kwargs.get('normalization') is not None:
            raise ValueError('`normalization` must be None: the multi-coil data are '
                             'normalised by MulticoilMRIDataset, from the measurements')
        self.num_coils = check_int(num_coils, 'num_coils', 1, allow_none=True)
        calibration = check_int(calibration, 'calibration', 1, allow_none=True)
        kwargs['normalization'] = None
        super().__init__(folder, batch_size, seed, **kwargs)
        self.calibration = scaled_calibration(self.crop) if calibration is None else calibration
        if self.calibration > min(self.crop):
            raise ValueError(f'`calibration` {self.calibration} is larger than `crop` '
                             f'{self.crop}; lower `calibration`')
        self._check_volumes()

    def _check_volumes(self):
        for volume in self.volumes:
            if not volume.multicoil or volume.has_mask:
                kind = 'a test file (undersampled)' if volume.has_mask else 'single-coil'
                raise ValueError(f'{volume.path!r} is {kind}; FastMRICoilDataset needs fully '
                                 'sampled multi-coil files (e.g. multicoil_train/*.h5)')
        counts = sorted({volume.num_coils for volume in self.volumes})
        if self.num_coils is None and len(counts) > 1:
            raise ValueError(f'the files have {counts} coils; pass `num_coils` (at most '
                             f'{counts[0]}) to compress them to one number')
        if self.num_coils is not None and self.num_coils > counts[0]:
            raise ValueError(f'`num_coils` must be at most the {counts[0]} coils of the '
                             f'files, got {self.num_coils}')

    def read_coils(self, volume, index):
        """Cropped (and compressed) coil k-space of one slice, and its reference.

        Returns
        -------
        kspace : torch.Tensor
            complex64 ``(C, h, w)``.
        reference : torch.Tensor or None
            float32 ``(h, w)`` with ``reference=True``.
        """
        kspace, reference = self._read_raw(volume, index)
        kspace = crop_kspace(kspace, self.crop)
        if self.num_coils is not None:
            kspace = compress_coils(kspace, self.num_coils)
        return kspace, reference

    def generate(self, index, split='train'):
        """Read batch number ``index`` of a seed stream (see the class notes)."""
        volumes, slices = self._choose(index, split)
        read = [self.read_coils(v, s) for v, s in zip(volumes, slices)]
        kspace = torch.stack([coils for coils, _ in read])
        maps = estimate_coil_maps(kspace, self.calibration)
        zeros = torch.zeros(len(kspace))
        batch = {'kspace': kspace, 'coil_maps': maps,
                 'image': coil_fourier_adjoint(kspace, torch.ones(()), maps)[:, None],
                 'offset': zeros, 'scale': zeros + 1,
                 'file': tuple(self.volumes[v].path for v in volumes),
                 'slice': torch.tensor(slices, dtype=torch.int64)}
        if self.reference:
            batch['reference'] = torch.stack([ref for _, ref in read])[:, None]
        return batch
