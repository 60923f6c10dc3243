"""The unpaired-WGAN MRI experiment: label sets, three modes and the baselines, fastMRI files."""

import json

import numpy as np
import pytest
import torch

from odl_wasserstein.cli import main
from odl_wasserstein.data.fastmri import kspace_to_image, write_fastmri_file
from odl_wasserstein.data.mri import birdcage_coil_maps, simulated_subject_image
from odl_wasserstein.experiments import load_config, unpaired_mri
from odl_wasserstein.fft import fftn_centered
from odl_wasserstein.metrics import snr
from odl_wasserstein.nn import CoilFourier
from odl_wasserstein.util import channels_to_complex


def tiny(mode='unpaired', **sections):
    values = {'name': f'tiny_{mode}',
              'data': {'size': 32, 'coils': 2, 'acceleration': 4.0,
                       'labels': 'disjoint' if mode == 'unpaired' else 'paired'},
              'model': {'n_iter': 1, 'features': 2, 'blocks': 1, 'critic_hidden': 2,
                        'critic_filters': [1, 1, 1, 1]},
              'method': {'mode': mode, 'n_critic': 2},
              'train': {'steps': 2, 'batch_size': 1, 'log_every': 1, 'checkpoint_every': 1,
                        'validate_every': 2, 'device': 'cpu'},
              'evaluate': {'n_samples': 2, 'cs_n_iter': 5}}
    for section, entries in sections.items():
        values.setdefault(section, {}).update(entries)
    return unpaired_mri.Config.from_dict(values)


def test_three_modes_train_and_evaluate_against_the_baselines(tmp_path):
    runs = {}
    for mode in ('unpaired', 'paired', 'hybrid'):
        result = unpaired_mri.train(tiny(mode), tmp_path / mode, progress=False)
        assert result.step == 2 and np.isfinite(result.history[-1]['loss'])
        assert ('distance' in result.history[-1]) == (mode != 'paired')
        assert ('l1' in result.history[-1]) == (mode != 'unpaired')
        runs[mode] = tmp_path / mode
    report = unpaired_mri.evaluate(runs, tmp_path / 'eval')
    assert list(report['methods']) == ['zero-filled', 'CS-wavelet', 'CS-TV', *runs]
    assert (tmp_path / 'eval' / 'reconstructions.png').stat().st_size > 0
    saved = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    assert saved['methods'] == report['methods'] and saved['n_samples'] == 2
    for entry in report['methods'].values():
        assert set(entry) == {'snr', 'snr_code', 'ssim', 'seconds_per_slice'}
        assert all(np.isfinite(entry[key]['mean']) for key in ('snr', 'snr_code', 'ssim'))
    table = unpaired_mri.report(report)
    assert 'SNR code' in table and len(table.splitlines()) == 2 + 6


def test_zero_filled_row_is_the_measured_images(tmp_path):
    """The baseline row is ``A^H b`` of the test slices, measured against their labels."""
    config = tiny()
    samples = unpaired_mri.test_samples(config, 2)
    operator = CoilFourier(samples['mask'], samples['coil_maps'])
    torch.testing.assert_close(samples['zero_filled'], operator.adjoint(samples['kspace']))
    report = unpaired_mri.evaluate({}, tmp_path, config=config, n_samples=2)
    expected = snr(samples['zero_filled'][:, 0].abs().double(),
                   samples['x'][:, 0].abs().double()).mean()
    assert report['methods']['zero-filled']['snr']['mean'] == pytest.approx(float(expected))


def test_label_sets_draw_from_the_right_subjects():
    def subjects(config):
        data, _ = unpaired_mri.training_data(config, n_validation=0)
        batches = [data.batch(k) for k in range(6)]
        if 'a' not in batches[0]:
            return None, torch.cat([b['subject'] for b in batches])
        return (torch.cat([b['a']['subject'] for b in batches]),
                torch.cat([b['b']['subject'] for b in batches]))

    labels, measured = subjects(tiny())
    assert bool((labels % 3 == 0).all()) and bool((measured % 3 == 1).all())
    labels, measured = subjects(tiny(data={'labels': 'partial', 'label_subjects': 2,
                                           'input_subjects': 5}))
    assert set(labels.tolist()) <= {1, 4} and set(measured.tolist()) <= {1, 4, 7, 10, 13}
    assert subjects(tiny('paired'))[0] is None
    config = tiny(data={'label_kind': 'magnitude'}, method={'critic_input': 'magnitude'})
    data, validation = unpaired_mri.training_data(config)
    item = data.batch(0)
    assert item['a']['x'].shape[1] == 1 and item['b']['x'].shape[1] == 2
    assert sorted(validation[0]) == ['b']
    # Each critic update and the generator update get their own part of the batch.
    assert item['b']['kspace'].shape[0] == 2 and data.batch(0)['a']['x'].shape[0] == 2
    test = unpaired_mri.test_samples(config, 2)
    assert test['x'].is_complex()


def test_magnitude_labels_train(tmp_path):
    config = tiny(data={'label_kind': 'magnitude'}, method={'critic_input': 'magnitude'})
    result = unpaired_mri.train(config, tmp_path, progress=False)
    assert np.isfinite(result.history[-1]['distance'])
    generator, loaded = unpaired_mri.load_run(tmp_path)
    assert loaded == config and not generator.training


def coil_folder(path):
    shape = (40, 36)
    path.mkdir()
    maps = birdcage_coil_maps(shape, 10)
    for i in range(5):
        kspace = fftn_centered(torch.stack([maps * simulated_subject_image(10 * i + s, shape)
                                            for s in range(2)]), 2)
        write_fastmri_file(path / f'file{i}.h5', kspace, patient_id=f'p{i}',
                           reconstruction=kspace_to_image(kspace, coils=True).real)
    return path


def test_fastmri_multicoil_files_train_and_evaluate(tmp_path):
    folder = coil_folder(tmp_path / 'knee')
    config = tiny(data={'source': 'fastmri', 'path': str(folder), 'crop': [32, 32],
                        'fractions': [0.4, 0.4, 0.2], 'coils': 4})
    assert unpaired_mri.train(config, tmp_path / 'run', progress=False).step == 2
    samples = unpaired_mri.test_samples(config, 2)
    assert samples['kspace'].shape == (2, 4, 32, 32)
    report = unpaired_mri.evaluate({'WGAN': tmp_path / 'run'}, tmp_path / 'eval',
                                   baselines=False)
    assert list(report['methods']) == ['WGAN']


def test_bad_input_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(ValueError, match="set data.labels = 'paired'"):
        tiny('hybrid', data={'labels': 'disjoint'})
    with pytest.raises(ValueError, match="needs labels of other subjects"):
        tiny(data={'labels': 'paired'})
    with pytest.raises(ValueError, match="critic_input = 'magnitude'"):
        tiny(data={'label_kind': 'magnitude'})
    with pytest.raises(ValueError, match='`data.mask` must be one of'):
        tiny(data={'mask': 'spiral'})
    with pytest.raises(ValueError, match='`data.coil_maps` must be .estimate. for fastMRI'):
        tiny(data={'source': 'fastmri', 'coil_maps': 'given'})
    with pytest.raises(ValueError, match='`model.generator` must be one of'):
        tiny(model={'generator': 'unet'})
    with pytest.raises(ValueError, match=r'`method.l1_schedule\[1\]`'):
        tiny('hybrid', method={'l1_schedule': [10, 5, 0.9]})
    with pytest.raises(ValueError, match='`data.size` must be an int >= 16'):
        tiny(data={'size': 8})
    with pytest.raises(ValueError, match='`data.size` must be even'):
        tiny(data={'size': 33})
    with pytest.raises(ValueError, match='`data.crop` must be even'):
        tiny(data={'source': 'fastmri', 'crop': [32, 33]})
    with pytest.raises(ValueError, match='model.features'):
        unpaired_mri.train(tiny(data={'size': 4096}, model={'features': 4096}),
                           tmp_path / 'run', progress=False)
    assert not (tmp_path / 'run').exists()
    with pytest.raises(SystemExit) as exit_info:
        main(['train', 'mri_unpaired_wgan_fastmri', '--output', str(tmp_path / 'cli')])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'data.path' in err[0]


def test_shipped_configurations_and_the_command(tmp_path, capsys):
    for name in ('mri_unpaired_wgan_64', 'mri_paired_l1_64', 'mri_hybrid_64',
                 'mri_unpaired_wgan_fastmri', 'mri_paired_l1_fastmri', 'mri_hybrid_fastmri'):
        config = load_config(name)
        assert config.experiment == 'unpaired_mri'
        assert config.data.acceleration == 10.0 and config.data.coils == 8
        assert (config.model.n_iter, config.method.penalty_weight) == (3, 10.0)
    assert load_config('mri_hybrid_64').method.l1_schedule == (500, 1000, 0.99)
    assert load_config('mri_unpaired_wgan_fastmri').data.crop == (256, 320)
    argv = ['train', 'mri_paired_l1_64', '--output', str(tmp_path / 'run'), '--quiet',
            '--set', 'train.steps=2', '--set', 'data.size=32', '--set', 'model.features=2',
            '--set', 'model.n_iter=1', '--set', 'train.device="cpu"']
    assert main(argv) == 0
    assert 'finished at step 2' in capsys.readouterr().out
    assert main(['evaluate', str(tmp_path / 'run'), '--samples', '2', '--no-baselines',
                 '--output', str(tmp_path / 'eval')]) == 0
    assert 'SNR code' in capsys.readouterr().out


def test_untrained_generator_keeps_the_measured_kspace_of_one_coil(tmp_path):
    """Hard data consistency: the output's k-space equals b where sampled (single coil)."""
    config = tiny('paired', data={'coils': 1, 'coil_maps': 'given'})
    generator = unpaired_mri.build_networks(config)['generator'].eval()
    samples = unpaired_mri.test_samples(config, 2)
    operator = CoilFourier(samples['mask'], samples['coil_maps'])
    with torch.no_grad():
        out = channels_to_complex(generator(samples['kspace'], operator))
    torch.testing.assert_close(operator(out), samples['kspace'], rtol=1e-4, atol=1e-5)
