"""Tests of the fastMRI reader and slice dataset `odl_wasserstein.data.fastmri`.

Files are written here with h5py directly, in the layout fastMRI ships:
``kspace``, ``reconstruction_esc``/``reconstruction_rss``, ``mask``, an
``ismrmrd_header`` in the ISMRMRD namespace and the file attributes.
"""

import itertools
import pickle

import h5py
import numpy as np
import pytest
import torch

from odl_wasserstein.data.fastmri import (
    FastMRIHeader, FastMRISliceDataset, center_crop, kspace_to_image,
    read_fastmri_header, read_fastmri_kspace, read_fastmri_mask,
    read_fastmri_reconstruction, subject_split, write_fastmri_file)

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xsi:schemaLocation="http://www.ismrm.org/ISMRMRD ismrmrd.xsd">
  <studyInformation><studyTime>10:21:14</studyTime></studyInformation>
  <measurementInformation>
    <measurementID>45128_46578041_46578050_1297</measurementID>
    <patientPosition>FFS</patientPosition>
    <protocolName>COR PD FS</protocolName>
    <frameOfReferenceUID>1.3.12.2.1107.5.2.19.45128.1.20171205102111</frameOfReferenceUID>
  </measurementInformation>
  <acquisitionSystemInformation>
    <systemVendor>SIEMENS</systemVendor>
    <systemModel>Skyra</systemModel>
    <systemFieldStrength_T>2.89362</systemFieldStrength_T>
    <relativeReceiverNoiseBandwidth>0.793</relativeReceiverNoiseBandwidth>
    <receiverChannels>15</receiverChannels>
    <institutionName>NYU</institutionName>
  </acquisitionSystemInformation>
  <experimentalConditions>
    <H1resonanceFrequency_Hz>123255074</H1resonanceFrequency_Hz>
  </experimentalConditions>
  <encoding>
    <encodedSpace>
      <matrixSize><x>{enc_x}</x><y>{enc_y}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>280</x><y>140</y><z>4.5</z></fieldOfView_mm>
    </encodedSpace>
    <reconSpace>
      <matrixSize><x>{rec}</x><y>{rec}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>140</x><y>140</y><z>3</z></fieldOfView_mm>
    </reconSpace>
    <trajectory>cartesian</trajectory>
    <encodingLimits>
      <kspace_encoding_step_1>
        <minimum>0</minimum><maximum>{maximum}</maximum><center>{center}</center>
      </kspace_encoding_step_1>
      <kspace_encoding_step_2><minimum>0</minimum><maximum>0</maximum><center>0</center>
      </kspace_encoding_step_2>
      <average><minimum>0</minimum><maximum>0</maximum><center>0</center></average>
      <slice><minimum>0</minimum><maximum>34</maximum><center>17</center></slice>
      <contrast><minimum>0</minimum><maximum>0</maximum><center>0</center></contrast>
      <phase><minimum>0</minimum><maximum>0</maximum><center>0</center></phase>
      <repetition><minimum>0</minimum><maximum>0</maximum><center>0</center></repetition>
      <set><minimum>0</minimum><maximum>0</maximum><center>0</center></set>
      <segment><minimum>0</minimum><maximum>0</maximum><center>0</center></segment>
    </encodingLimits>
    <parallelImaging>
      <accelerationFactor>
        <kspace_encoding_step_1>1</kspace_encoding_step_1>
        <kspace_encoding_step_2>1</kspace_encoding_step_2>
      </accelerationFactor>
      <calibrationMode>other</calibrationMode>
    </parallelImaging>
  </encoding>
  <sequenceParameters>
    <TR>2750</TR><TE>27</TE><TI>100</TI><flipAngle_deg>150</flipAngle_deg>
    <sequence_type>TurboSpinEcho</sequence_type><echo_spacing>13.56</echo_spacing>
  </sequenceParameters>
</ismrmrdHeader>
"""


def header_xml(enc=(80, 72), rec=32, maximum=66, center=34):
    return HEADER.format(enc_x=enc[0], enc_y=enc[1], rec=rec, maximum=maximum, center=center)


def random_kspace(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def write_raw(path, kspace=None, header=None, attrs=None, string_header=False, **datasets):
    """A fastMRI file written with h5py as fastMRI ships them."""
    with h5py.File(path, 'w') as file:
        if kspace is not None:
            file.create_dataset('kspace', data=kspace)
        header = header_xml() if header is None else header
        if header is not False:
            if string_header:  # variable-length string
                file['ismrmrd_header'] = header
            else:  # fixed-length bytes, as fastMRI's files hold it
                file.create_dataset('ismrmrd_header', data=np.bytes_(header.encode()))
        for key, value in datasets.items():
            file.create_dataset(key, data=value)
        file.attrs.update(attrs or {})
    return path


def numpy_image(kspace):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), norm='ortho'),
                           axes=axes)


def numpy_crop(x, h, w):
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


ATTRS = dict(acquisition='CORPD_FBK', max=0.000391, norm=0.0912, patient_id='abc123')


# --- reading ----------------------------------------------------------------

def test_header_of_a_single_coil_training_file(tmp_path):
    kspace = random_kspace((4, 80, 72), 0)
    path = write_raw(tmp_path / 'file1000001.h5', kspace, header_xml(), ATTRS,
                     reconstruction_esc=np.ones((4, 32, 32), np.float32),
                     reconstruction_rss=np.ones((4, 32, 32), np.float32))
    header = read_fastmri_header(path)
    assert isinstance(header, FastMRIHeader)
    assert header.path == str(path)
    assert header.kspace_shape == (4, 80, 72) and header.num_slices == 4
    assert header.num_coils is None
    assert header.encoding_size == (80, 72, 1) and header.recon_size == (32, 32, 1)
    assert header.encoding_limits == (0, 34, 66)
    # fastMRI: padding_left = 72 // 2 - 34, padding_right = padding_left + 66 + 1.
    assert header.padding_left == 2 and header.padding_right == 69
    assert header.reconstructions == ('reconstruction_esc', 'reconstruction_rss')
    assert header.has_mask is False
    assert header.acquisition == 'CORPD_FBK' and header.patient_id == 'abc123'
    assert header.max == 0.000391 and header.norm == 0.0912
    assert header.acceleration is None and header.num_low_frequency is None
    with pytest.raises(AttributeError):
        header.max = 1.0  # frozen


def test_header_of_a_multicoil_test_file(tmp_path):
    kspace = random_kspace((1, 4, 640, 368), 1)
    mask = np.zeros(368, bool)
    mask[::4] = True
    attrs = dict(ATTRS, acceleration=4, num_low_frequency=30)
    xml = header_xml(enc=(640, 372), rec=320, maximum=366, center=186)
    path = write_raw(tmp_path / 'file1000002.h5', kspace, xml, attrs, string_header=True,
                     mask=mask)
    header = read_fastmri_header(path)
    assert header.num_coils == 4 and header.kspace_shape == (1, 4, 640, 368)
    assert header.encoding_size == (640, 372, 1) and header.recon_size == (320, 320, 1)
    assert (header.padding_left, header.padding_right) == (0, 367)
    assert header.acceleration == 4 and header.num_low_frequency == 30
    assert header.has_mask is True and header.reconstructions == ()
    np.testing.assert_array_equal(read_fastmri_mask(path), mask.astype(np.float32))


def test_kspace_and_reconstruction_round_trip_exactly(tmp_path):
    single = random_kspace((3, 40, 36), 2)
    multi = random_kspace((2, 4, 40, 36), 3)
    esc = np.random.default_rng(4).random((3, 32, 32)).astype(np.float32)
    rss = np.random.default_rng(5).random((2, 32, 32)).astype(np.float32)
    a = write_raw(tmp_path / 'a.h5', single, reconstruction_esc=esc, reconstruction_rss=esc + 1)
    b = write_raw(tmp_path / 'b.h5', multi, reconstruction_rss=rss)
    assert read_fastmri_kspace(a).dtype == torch.complex64
    np.testing.assert_array_equal(read_fastmri_kspace(a).numpy(), single)
    np.testing.assert_array_equal(read_fastmri_kspace(a, index=2).numpy(), single[2])
    np.testing.assert_array_equal(read_fastmri_kspace(b, index=slice(1, 2)).numpy(), multi[1:2])
    np.testing.assert_array_equal(read_fastmri_reconstruction(a).numpy(), esc)
    np.testing.assert_array_equal(
        read_fastmri_reconstruction(a, 1, key='reconstruction_rss').numpy(), esc[1] + 1)
    np.testing.assert_array_equal(read_fastmri_reconstruction(b, 0).numpy(), rss[0])
    with pytest.raises(ValueError, match='`index`'):
        read_fastmri_kspace(a, index=3)
    with pytest.raises(ValueError, match='`key`'):
        read_fastmri_reconstruction(a, key='reconstruction')


def test_writer_round_trip(tmp_path):
    kspace = torch.from_numpy(random_kspace((2, 3, 16, 12), 6))
    path = tmp_path / 'simulated.h5'
    write_fastmri_file(path, kspace, reconstruction=np.ones((2, 8, 8)), mask=np.ones(12),
                       recon_size=(8, 8), patient_id='sim0', acceleration=1)
    assert torch.equal(read_fastmri_kspace(path), kspace)
    header = read_fastmri_header(path)
    assert header.recon_size == (8, 8, 1) and header.encoding_size == (16, 12, 1)
    assert (header.padding_left, header.padding_right) == (0, 12)
    assert header.reconstructions == ('reconstruction_rss',) and header.acceleration == 1
    with pytest.raises(ValueError, match='`mask`'):
        write_fastmri_file(tmp_path / 'bad.h5', kspace, mask=np.ones(11))
    assert not (tmp_path / 'bad.h5').exists()  # nothing written before validation


# --- errors ---------------------------------------------------------------------

def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.h5'):
        read_fastmri_kspace(tmp_path / 'missing.h5')
    garbage = tmp_path / 'garbage.h5'
    garbage.write_bytes(b'this is not HDF5' * 100)
    with pytest.raises(ValueError, match='garbage.h5.*not a readable HDF5'):
        read_fastmri_header(garbage)
    # A real file cut in half.
    whole = write_raw(tmp_path / 'whole.h5', random_kspace((4, 64, 64), 7))
    cut = tmp_path / 'cut.h5'
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    with pytest.raises(ValueError, match='cut.h5'):
        read_fastmri_kspace(cut)


@pytest.mark.parametrize('kspace, datasets, match', (
    (None, dict(reconstruction_esc=np.ones((2, 8, 8), np.float32)), "no `kspace`"),
    (random_kspace((8, 8), 0), {}, r'shape \(slices, H, W\)'),
    (random_kspace((1, 2, 3, 8, 8), 0), {}, r'shape \(slices, H, W\)'),
    (np.ones((2, 8, 8), np.float32), {}, 'must be complex'),
    (random_kspace((2, 8, 8), 0), dict(mask=np.ones(9, bool)), '`mask`.*width W = 8'),
))
def test_malformed_kspace(tmp_path, kspace, datasets, match):
    path = write_raw(tmp_path / 'bad.h5', kspace, **datasets)
    for reader in (read_fastmri_kspace, read_fastmri_header):
        with pytest.raises(ValueError, match=match) as info:
            reader(path)
        assert 'bad.h5' in str(info.value)


def test_malformed_headers(tmp_path):
    kspace = random_kspace((1, 8, 8), 0)
    path = write_raw(tmp_path / 'noheader.h5', kspace, header=False)
    with pytest.raises(ValueError, match="noheader.h5.*'ismrmrd_header'"):
        read_fastmri_header(path)
    assert read_fastmri_kspace(path).shape == (1, 8, 8)  # the k-space is still readable
    path = write_raw(tmp_path / 'notxml.h5', kspace, header='<ismrmrdHeader><encoding>')
    with pytest.raises(ValueError, match='notxml.h5.*not valid XML'):
        read_fastmri_header(path)
    incomplete = header_xml().replace('<center>34</center>', '')
    path = write_raw(tmp_path / 'nocenter.h5', kspace, header=incomplete)
    with pytest.raises(ValueError, match='kspace_encoding_step_1/center'):
        read_fastmri_header(path)
    path = write_raw(tmp_path / 'nonint.h5', kspace, header=header_xml(rec='abc'))
    with pytest.raises(ValueError, match='non-integer.*reconSpace'):
        read_fastmri_header(path)


def test_missing_reference_and_mask(tmp_path):
    path = write_raw(tmp_path / 'test_file.h5', random_kspace((1, 8, 8), 0))
    with pytest.raises(ValueError, match='test_file.h5.*no reference'):
        read_fastmri_reconstruction(path)
    with pytest.raises(ValueError, match="test_file.h5.*'mask'"):
        read_fastmri_mask(path)


# --- images ---------------------------------------------------------------------

def test_kspace_to_image_against_numpy():
    single = random_kspace((2, 40, 36), 8)
    image = kspace_to_image(torch.from_numpy(single), crop=(31, 20))
    np.testing.assert_allclose(image.numpy(), numpy_crop(numpy_image(single), 31, 20),
                               atol=1e-5)
    multi = random_kspace((2, 3, 40, 36), 9)
    rss = kspace_to_image(torch.from_numpy(multi), coils=True, crop=32)
    expected = numpy_crop(np.sqrt((abs(numpy_image(multi)) ** 2).sum(1)), 32, 32)
    assert rss.dtype == torch.complex64 and float(rss.imag.abs().max()) == 0
    np.testing.assert_allclose(rss.real.numpy(), expected, rtol=1e-5)
    with pytest.raises(TypeError, match='`kspace`'):
        kspace_to_image(torch.ones(4, 4))


def test_center_crop_as_fastmri():
    x = torch.arange(7 * 9).reshape(7, 9)
    assert torch.equal(center_crop(x, (3, 4)), x[2:5, 2:6])
    assert torch.equal(center_crop(x, 7), x[:, 1:8])
    with pytest.raises(ValueError, match='smaller than the crop'):
        center_crop(x, (8, 4))


# --- subject split ------------------------------------------------------------------

def test_subject_split_counts_and_determinism():
    subjects = [f's{i}' for i in range(23)]
    train, validation, test = subject_split(subjects * 2, (0.7, 0.2, 0.1), seed=3)
    # 16.1, 4.6, 2.3 -> 16, 4, 2 plus one for the largest remainder (0.6).
    assert (len(train), len(validation), len(test)) == (16, 5, 2)
    assert sorted(train + validation + test) == sorted(subjects)
    assert subject_split(reversed(subjects), (0.7, 0.2, 0.1), seed=3) == (train, validation, test)
    assert subject_split(subjects, (0.7, 0.2, 0.1), seed=4) != (train, validation, test)
    assert subject_split(['a'], (0.5, 0.5, 0.0)) in ((('a',), (), ()), ((), ('a',), ()))


@pytest.mark.parametrize('fractions, error', (((0.5, 0.5), ValueError),
                                              ((0.5, 0.4, 0.2), ValueError),
                                              ((1.2, -0.1, -0.1), ValueError),
                                              (('a', 0.5, 0.5), TypeError)))
def test_subject_split_errors(fractions, error):
    with pytest.raises(error, match='`fractions`'):
        subject_split(['a', 'b'], fractions)


# --- dataset --------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    """Ten single-coil files (patients p0 .. p8; p0 has two) and two multi-coil ones."""
    for i in range(10):
        attrs = dict(ATTRS, patient_id=f'p{max(i - 1, 0)}')
        write_raw(tmp_path / f'file{i:02d}.h5', random_kspace((3, 40, 36), i), attrs=attrs,
                  reconstruction_esc=np.full((3, 34, 34), i, np.float32))
    for i in range(10, 12):
        write_raw(tmp_path / f'file{i:02d}.h5', random_kspace((2, 4, 36, 40), i),
                  attrs=dict(ATTRS, patient_id=f'p{i}'),
                  reconstruction_rss=np.full((2, 32, 32), i, np.float32))
    return tmp_path


def subsets(folder, **kwargs):
    return {subset: FastMRISliceDataset(folder, crop=32, subset=subset, **kwargs)
            for subset in ('train', 'validation', 'test')}


def test_split_is_by_subject_and_deterministic(folder):
    split = subsets(folder, fractions=(0.6, 0.2, 0.2), split_seed=1)
    files = {name: {v.path for v in dataset.volumes} for name, dataset in split.items()}
    assert set.union(*files.values()) == {str(p) for p in folder.glob('*.h5')}
    assert sum(len(f) for f in files.values()) == 12  # disjoint
    # 11 subjects: 6.6, 2.2, 2.2 -> 7, 2, 2; p0 has two files, together.
    subjects = {name: {v.subject for v in dataset.volumes} for name, dataset in split.items()}
    assert [len(subjects[name]) for name in ('train', 'validation', 'test')] == [7, 2, 2]
    holder = [name for name in files if str(folder / 'file00.h5') in files[name]]
    assert str(folder / 'file01.h5') in files[holder[0]]
    # Deterministic given the split seed and fractions, whatever the stream seed.
    again = subsets(folder, fractions=(0.6, 0.2, 0.2), split_seed=1, seed=99)
    assert all({v.path for v in again[name].volumes} == files[name] for name in files)
    other = subsets(folder, fractions=(0.6, 0.2, 0.2), split_seed=2)
    assert any({v.path for v in other[name].volumes} != files[name] for name in files)
    # Every slice of a file belongs to its subset.
    train = split['train']
    assert train.num_slices == sum(v.num_slices for v in train.volumes)


def test_batches_are_pure_functions_of_seed_and_index(folder):
    a = FastMRISliceDataset(folder, batch_size=3, seed=7, crop=32)
    b = FastMRISliceDataset(folder, batch_size=3, seed=7, crop=32)
    for k in (0, 5, 11):
        x, y = a.batch(k), b.batch(k)
        assert torch.equal(x['image'], y['image']) and x['file'] == y['file']
        assert torch.equal(x['slice'], y['slice'])
    assert not torch.equal(a.batch(0)['image'], a.batch(1)['image'])
    full = list(itertools.islice(a.batches(), 6))
    for start in (0, 2, 5):
        resumed = list(itertools.islice(b.batches(start=start), 6 - start))
        for got, expected in zip(resumed, full[start:]):
            assert torch.equal(got['image'], expected['image'])
    sharded = next(a.batches(start=2, rank=1, world_size=3))
    assert torch.equal(sharded['image'], a.batch(7)['image'])
    clone = pickle.loads(pickle.dumps(a))
    assert torch.equal(clone.batch(3)['image'], a.batch(3)['image'])


def test_items_against_numpy(folder):
    dataset = FastMRISliceDataset(folder, batch_size=4, seed=1, crop=(32, 30),
                                  normalization=None, reference=True, fractions=(1, 0, 0))
    item = dataset.batch(0)
    assert sorted(item) == ['file', 'image', 'offset', 'reference', 'scale', 'slice']
    assert item['image'].shape == (4, 1, 32, 30) and item['image'].dtype == torch.complex64
    assert item['reference'].shape == (4, 1, 32, 30)
    assert len(set(zip(item['file'], item['slice'].tolist()))) == 4  # distinct slices
    for image, reference, path, index in zip(item['image'], item['reference'], item['file'],
                                             item['slice'].tolist()):
        with h5py.File(path, 'r') as file:
            kspace = file['kspace'][index]
            key = 'reconstruction_rss' if kspace.ndim == 3 else 'reconstruction_esc'
            stored = file[key][index]
        expected = numpy_image(kspace)
        if kspace.ndim == 3:  # multi-coil: root sum of squares
            expected = np.sqrt((abs(expected) ** 2).sum(0))
        np.testing.assert_allclose(image[0].numpy(), numpy_crop(expected, 32, 30), atol=1e-5)
        np.testing.assert_array_equal(reference[0].numpy(), numpy_crop(stored, 32, 30))


def test_normalisations(folder):
    raw = FastMRISliceDataset(folder, batch_size=3, seed=2, crop=32, normalization=None,
                              reference=True).batch(4)
    std = FastMRISliceDataset(folder, batch_size=3, seed=2, crop=32, reference=True).batch(4)
    assert std['image'].dtype == torch.complex64
    expected_scale = raw['image'].abs().double().reshape(3, -1).std(1, unbiased=False)
    np.testing.assert_allclose(std['scale'].numpy(), expected_scale.numpy(), rtol=1e-5)
    np.testing.assert_allclose(std['image'].numpy() * std['scale'].numpy()[:, None, None, None],
                               raw['image'].numpy(), rtol=1e-5, atol=1e-6)
    scale = std['scale'].numpy()[:, None, None, None]
    np.testing.assert_allclose(std['reference'].numpy(), raw['reference'].numpy() / scale,
                               rtol=1e-6)
    fast = FastMRISliceDataset(folder, batch_size=3, seed=2, crop=32, normalization='fastmri',
                               reference=True).batch(4)
    magnitude = raw['image'].abs().double().numpy()
    mean = magnitude.reshape(3, -1).mean(1)[:, None, None, None]
    sigma = magnitude.reshape(3, -1).std(1, ddof=1)[:, None, None, None] + 1e-11
    assert fast['image'].dtype == torch.float32
    np.testing.assert_allclose(fast['image'].numpy(), np.clip((magnitude - mean) / sigma, -6, 6),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        fast['reference'].numpy(),
        np.clip((raw['reference'].numpy() - mean) / sigma, -6, 6), rtol=1e-4, atol=1e-4)
    assert float(fast['reference'].abs().max()) == 6  # the stored values are far off


def test_data_loader_workers_keep_the_order(folder):
    dataset = FastMRISliceDataset(folder, batch_size=2, seed=3, crop=32)
    loaded = list(dataset.batches(start=1, num_workers=2, stop=5))
    assert len(loaded) == 4
    for k, item in enumerate(loaded, start=1):
        assert torch.equal(item['image'], dataset.batch(k)['image'])


def test_dataset_errors(folder, tmp_path_factory):
    empty = tmp_path_factory.mktemp('empty')
    with pytest.raises(FileNotFoundError, match='no .h5 files'):
        FastMRISliceDataset(empty)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        FastMRISliceDataset(empty / 'nowhere')
    with pytest.raises(ValueError, match=r'file10.h5.*\(36 x 40\).*smaller than `crop`'):
        FastMRISliceDataset(folder, crop=(37, 36))
    with pytest.raises(ValueError, match='fewer than `batch_size`'):
        FastMRISliceDataset(folder, crop=32, subset='test', batch_size=100)
    with pytest.raises(ValueError, match='`subset`'):
        FastMRISliceDataset(folder, crop=32, subset='val')
    with pytest.raises(ValueError, match='`normalization`'):
        FastMRISliceDataset(folder, crop=32, normalization='max')
    with pytest.raises(ValueError, match=r'reconstruction_esc.*>= `crop`'):
        FastMRISliceDataset(folder, crop=(35, 35), reference=True)
    test_files = tmp_path_factory.mktemp('test_files')
    write_raw(test_files / 'file_test.h5', random_kspace((2, 40, 36), 0),
              mask=np.ones(36, bool))
    with pytest.raises(ValueError, match='file_test.h5.*no reference'):
        FastMRISliceDataset(test_files, crop=32, reference=True, fractions=(1, 0, 0))
    write_raw(test_files / 'file_mask.h5', random_kspace((2, 40, 36), 0), mask=np.ones(40, bool))
    with pytest.raises(ValueError, match='`mask` of .*file_mask.h5.*width W = 36'):
        FastMRISliceDataset(test_files, crop=32, fractions=(1, 0, 0))
    (test_files / 'file_mask.h5').write_bytes(b'corrupt')
    with pytest.raises(ValueError, match='file_mask.h5.*not a readable HDF5'):
        FastMRISliceDataset(test_files, crop=32, fractions=(1, 0, 0))
    with pytest.raises(FileNotFoundError, match='gone.h5'):
        FastMRISliceDataset([test_files / 'file_test.h5', test_files / 'gone.h5'], crop=32)


def test_test_files_give_zero_filled_images(tmp_path):
    kspace = random_kspace((2, 40, 36), 5)
    mask = np.zeros(36, bool)
    mask[::3] = True
    mask[16:20] = True
    write_raw(tmp_path / 'file_test.h5', kspace * mask, mask=mask,
              attrs=dict(acceleration=3, num_low_frequency=4))
    item = FastMRISliceDataset([tmp_path / 'file_test.h5'], batch_size=2, crop=32,
                               normalization=None, fractions=(1, 0, 0)).batch(0)
    for image, index in zip(item['image'], item['slice'].tolist()):
        np.testing.assert_allclose(image[0].numpy(),
                                   numpy_crop(numpy_image(kspace[index] * mask), 32, 32),
                                   atol=1e-5)
