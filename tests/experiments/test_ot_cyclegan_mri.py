"""The accelerated-MRI experiment: three methods and the baselines, simulated and fastMRI files."""

import json

import numpy as np
import pytest
import torch

from odl_wasserstein.cli import main
from odl_wasserstein.data.fastmri import write_fastmri_file
from odl_wasserstein.data.mri import simulated_subject_image
from odl_wasserstein.experiments import load_config, ot_cyclegan_mri
from odl_wasserstein.fft import fftn_centered
from odl_wasserstein.metrics import psnr


def tiny(method='ot_cyclegan', **sections):
    values = {'name': f'tiny_{method}',
              'data': {'size': 32},
              'model': {'filters': 2, 'levels': 2, 'critic_filters': 2},
              'method': {'name': method, 'n_critic': 1} if method != 'supervised'
              else {'name': method},
              'train': {'steps': 2, 'log_every': 1, 'checkpoint_every': 1,
                        'validate_every': 2, 'device': 'cpu'},
              'evaluate': {'n_samples': 3, 'tv_n_iter': 5}}
    for section, entries in sections.items():
        values.setdefault(section, {}).update(entries)
    return ot_cyclegan_mri.Config.from_dict(values)


def test_three_methods_train_and_evaluate_against_the_baselines(tmp_path):
    runs = {}
    for method in ot_cyclegan_mri.METHODS:
        result = ot_cyclegan_mri.train(tiny(method), tmp_path / method, progress=False)
        assert result.step == 2
        runs[method] = tmp_path / method
    entry = result.history[-1]
    assert 'val/l1_x' in entry and {'cycle_x', 'cycle_y', 'distance'} <= set(entry)
    report = ot_cyclegan_mri.evaluate(runs, tmp_path / 'eval')
    assert list(report['methods']) == ['zero-filled', 'CS-TV', *ot_cyclegan_mri.METHODS]
    written = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    assert written['methods'].keys() == report['methods'].keys()
    assert (tmp_path / 'eval' / 'reconstructions.png').stat().st_size > 10_000
    # The zero-filled row is the PSNR of |y| against |x|, slice peak.
    samples = ot_cyclegan_mri.test_samples(tiny(), 3)
    expected = psnr(samples['y'][:, 0].abs().double(), samples['x'][:, 0].abs().double(),
                    data_range='max').mean()
    assert report['methods']['zero-filled']['psnr']['mean'] == pytest.approx(float(expected))
    # The simulator's subjects are single slices: both conventions coincide.
    zero = report['methods']['zero-filled']
    assert zero['psnr_fastmri']['mean'] == pytest.approx(zero['psnr']['mean'])
    # CS-TV beats the zero-filled input on these piecewise smooth images.
    assert report['methods']['CS-TV']['psnr']['mean'] > zero['psnr']['mean']
    table = ot_cyclegan_mri.report(report)
    assert 'CS-TV' in table and 'PSNR fastMRI' in table
    with pytest.raises(ValueError, match='trained on other data'):
        ot_cyclegan_mri.evaluate({'a': runs['supervised'],
                                  'b': (ot_cyclegan_mri.load_run(runs['cyclegan'])[0],
                                        tiny(data={'acceleration': 2.0}))}, tmp_path / 'e')


def test_untrained_residual_generator_is_the_zero_filled_row(tmp_path):
    config = tiny(model={'residual': True})
    generator = ot_cyclegan_mri.build_networks(config)['generator'].eval()
    report = ot_cyclegan_mri.evaluate({'untrained': (generator, config)}, tmp_path)
    for measure in ('psnr', 'ssim', 'psnr_fastmri', 'ssim_fastmri'):
        assert (report['methods']['untrained'][measure]['mean']
                == pytest.approx(report['methods']['zero-filled'][measure]['mean'], abs=1e-5))
    for name in ('mri_ot_cyclegan_64', 'mri_supervised_64', 'mri_cyclegan_64'):
        assert load_config(name).model.residual  # the CPU demo's deviation, documented
    assert not load_config('mri_ot_cyclegan_fastmri').model.residual


def test_test_samples_are_held_out_subjects_measured_by_the_masks():
    config = tiny()
    samples = ot_cyclegan_mri.test_samples(config, 4)
    assert samples['x'].shape == (4, 1, 32, 32) and samples['x'].dtype == torch.complex64
    assert all(int(v) % 3 == 2 for v in samples['volume'])  # never a training subject
    subject = int(samples['volume'][0])
    image = simulated_subject_image(subject, (32, 32))
    x = samples['x'][0, 0]
    torch.testing.assert_close(x / x.abs().std(), image / image.abs().std())
    kspace = fftn_centered(samples['y'][0, 0], 2)
    unmeasured = samples['mask'][0, 0, 0] == 0
    assert float(kspace[:, unmeasured].abs().max()) < 1e-5


def fastmri_folder(folder, patients=6, slices=2, size=40):
    folder.mkdir()
    for patient in range(patients):
        images = torch.stack([simulated_subject_image(3 * patient + k, (size, size))
                              for k in range(slices)])
        write_fastmri_file(folder / f'file{patient:07d}.h5', fftn_centered(images, 2),
                           patient_id=f'p{patient}', acquisition='CORPD_FBK')
    return folder


def test_fastmri_files_train_and_evaluate(tmp_path):
    folder = fastmri_folder(tmp_path / 'knee')
    config = tiny(data={'source': 'fastmri', 'path': str(folder), 'crop': 32,
                        'fractions': [0.4, 0.4, 0.2]})
    result = ot_cyclegan_mri.train(config, tmp_path / 'run', progress=False)
    assert result.step == 2
    report = ot_cyclegan_mri.evaluate({'OT': tmp_path / 'run'}, tmp_path / 'eval',
                                      n_samples=3, baselines=False)
    assert list(report['methods']) == ['OT'] and report['n_samples'] == 3
    samples = ot_cyclegan_mri.test_samples(config, 3)
    # Sequential test slices of the held-out patients' files, their volumes named.
    assert len(set(samples['volume'])) >= 1 and all(v.endswith('.h5') for v in samples['volume'])
    entry = report['methods']['OT']
    assert entry['psnr_fastmri']['mean'] >= entry['psnr']['mean'] - 1e-9


def test_bad_input_is_refused_before_training(tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='`data.path` .* holds no fastMRI .h5 files'):
        ot_cyclegan_mri.train(tiny(data={'source': 'fastmri', 'path': str(empty)}),
                              tmp_path / 'run', progress=False)
    with pytest.raises(ValueError, match='`data.path` must name a folder'):
        ot_cyclegan_mri.train(load_config('mri_ot_cyclegan_fastmri'), tmp_path / 'run',
                              progress=False)
    with pytest.raises(ValueError, match='below the 24 px the PatchGAN critic needs'):
        ot_cyclegan_mri.train(tiny(data={'size': 16}), tmp_path / 'run', progress=False)
    assert not (tmp_path / 'run').exists()
    with pytest.raises(ValueError, match='`data.fractions` must be three positive'):
        tiny(data={'fractions': [0.5, 0.5, 0.5]})
    with pytest.raises(ValueError, match='`method.name` must be one of'):
        tiny(method='pix2pix')
    bad = tmp_path / 'bad.h5'
    bad.write_bytes(b'not an hdf5 file')
    with pytest.raises(ValueError, match='bad.h5'):
        ot_cyclegan_mri.train(tiny(data={'source': 'fastmri', 'path': str(tmp_path)}),
                              tmp_path / 'run', progress=False)
    # Through the command line: one line, exit 2, naming the key.
    with pytest.raises(SystemExit) as exit_info:
        main(['train', 'mri_ot_cyclegan_fastmri', '--output', str(tmp_path / 'cli')])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'data.path' in err[0]


def test_cli_trains_a_shipped_configuration(tmp_path, capsys):
    argv = ['train', 'mri_supervised_64', '--output', str(tmp_path / 'run'), '--quiet',
            '--set', 'train.steps=2', '--set', 'data.size=32', '--set', 'model.filters=2',
            '--set', 'model.levels=2', '--set', 'train.device="cpu"']
    assert main(argv) == 0
    assert 'finished at step 2' in capsys.readouterr().out
    assert main(['evaluate', str(tmp_path / 'run'), '--samples', '2', '--no-baselines',
                 '--output', str(tmp_path / 'eval')]) == 0
    assert 'PSNR fastMRI' in capsys.readouterr().out
    assert np.isfinite(json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
                       ['methods']['run']['psnr']['mean'])
