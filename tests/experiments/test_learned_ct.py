"""The learned primal-dual CT experiment: build, train, resume, load, evaluate, CLI."""

import json

import pytest
import torch

from odl_wasserstein.cli import main
from odl_wasserstein.experiments import learned_ct, load_config
from odl_wasserstein.metrics import psnr
from odl_wasserstein.transport import WassersteinLoss


def tiny(**sections):
    values = {'name': 'tiny',
              'data': {'size': 32, 'num_angles': 8},
              'model': {'n_iter': 2, 'filters': 4},
              'train': {'steps': 6, 'log_every': 2, 'checkpoint_every': 3,
                        'device': 'cpu'},
              'evaluate': {'n_samples': 2, 'tv_n_iter': 20}}
    for section, entries in sections.items():
        values.setdefault(section, {}).update(entries)
    return learned_ct.Config.from_dict(values)


def test_problem_matches_the_paper_setup_at_512():
    config = load_config('ct_rings_wasserstein_512')
    assert (config.data.size, config.data.num_angles, config.data.max_shift) == (512, 30, 40)
    assert (config.model.n_iter, config.model.n_primal, config.model.filters) == (10, 5, 32)
    assert config.train.steps == 20001 and config.train.betas == (0.9, 0.99)
    small = learned_ct.build_problem(load_config('ct_rings_mse_128'))
    assert small.operator.range.shape == (30, 183)
    # Normalised operator: norm 1 by the power method.
    x = torch.randn(1, 1, 128, 128, dtype=torch.float64)
    forward = small.dataset.forward
    for _ in range(30):
        x = small.operator.adjoint(small.operator(x[0, 0].numpy())).asarray()
        x = torch.as_tensor(x)[None, None]
        x = x / x.norm()
    norm = forward(x[0].float()).norm() / x.norm()
    assert abs(float(norm) - 1) < 1e-2


def test_losses_of_the_configurations():
    shape = (32, 32)
    assert isinstance(learned_ct.build_loss(tiny(), shape), torch.nn.MSELoss)
    paper = learned_ct.build_loss(tiny(loss={'name': 'wasserstein_paper'}), shape)
    assert isinstance(paper, WassersteinLoss) and paper.eps == 1e-3
    divergence = learned_ct.build_loss(tiny(loss={'name': 'wasserstein', 'eps': 0.1}), shape)
    x = torch.rand(2, 1, 32, 32)
    # The divergence of an image to itself vanishes; to a shifted copy it does not.
    assert float(divergence(x, x)) == pytest.approx(0, abs=1e-5)
    assert float(divergence(x.roll(6, -1), x)) > 1e-3


def test_train_writes_config_checkpoints_and_log_and_load_run_restores(tmp_path):
    config = tiny()
    result = learned_ct.train(config, tmp_path, progress=False)
    assert result.step == 6
    assert [e['step'] for e in result.history] == [2, 4, 6]
    assert sorted(p.name for p in (tmp_path / 'checkpoints').glob('*.pt')) == [
        'step_000003.pt', 'step_000006.pt']
    saved = json.loads((tmp_path / 'config.json').read_text())
    assert saved['model']['n_iter'] == 2
    model, loaded = learned_ct.load_run(tmp_path)
    assert loaded == config
    data = learned_ct.test_samples(config, 1)['data']
    state = torch.load(tmp_path / 'checkpoints' / 'step_000006.pt', weights_only=False)
    reference = learned_ct.build_model(config, learned_ct.build_problem(config).operator)
    reference.load_state_dict(state['modules']['model'])
    with torch.no_grad():
        assert torch.equal(model(data), reference.eval()(data))


def test_resume_continues_exactly_and_rejects_another_configuration(tmp_path):
    full = learned_ct.train(tiny(), tmp_path / 'full', progress=False)
    learned_ct.train(tiny(train={'steps': 6}), tmp_path / 'cut', progress=False)
    # Cut the run back to its step-3 checkpoint and continue it.
    resumed = learned_ct.train(tiny(), tmp_path / 'cut', progress=False,
                               resume=tmp_path / 'cut' / 'checkpoints' / 'step_000003.pt')
    assert [e['loss'] for e in resumed.history] == [e['loss'] for e in full.history]
    with pytest.raises(ValueError, match=r"differs from the configuration in \['model\.filters'\]"):
        learned_ct.train(tiny(model={'filters': 8}), tmp_path / 'cut', resume=True,
                         progress=False)


def test_held_out_samples_are_not_training_samples():
    config = tiny()
    held_out = learned_ct.test_samples(config, 3)
    assert held_out['data'].shape == (3, 1, 8, 47)
    training = learned_ct.build_problem(config).dataset
    for k in range(3):
        assert not torch.equal(held_out['target'][k], training.batch(k)['target'][0])
    again = learned_ct.test_samples(config, 3)
    assert torch.equal(again['data'], held_out['data'])
    ellipses = learned_ct.test_samples(tiny(data={'phantom': 'ellipses'}), 1)
    assert float(ellipses['target'].max()) == 1.0  # modified Shepp-Logan
    assert torch.equal(ellipses['target'], ellipses['shifted'])


def test_evaluate_reports_models_and_baselines(tmp_path):
    learned_ct.train(tiny(), tmp_path / 'a', progress=False)
    report = learned_ct.evaluate({'A': tmp_path / 'a'}, tmp_path / 'eval')
    assert list(report['methods']) == ['FBP', 'TV', 'A']
    assert report['n_samples'] == 2
    written = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    assert written['methods'].keys() == report['methods'].keys()
    for entry in report['methods'].values():
        for against in ('target', 'shifted'):
            for name in ('psnr', 'ssim', 'transport_px', 'peak_ratio'):
                assert torch.isfinite(torch.tensor(entry[against][name]['mean']))
    # The baselines reconstruct the shifted phantom the data come from:
    # they are closer to it than to the unshifted target.
    tv = report['methods']['TV']
    assert tv['shifted']['psnr']['mean'] > tv['target']['psnr']['mean']
    assert tv['shifted']['transport_px']['mean'] < tv['target']['transport_px']['mean']
    assert (tmp_path / 'eval' / 'reconstructions.png').stat().st_size > 10_000
    # The PSNR in the report is the one of the metrics module.
    samples = learned_ct.test_samples(tiny())
    model, _ = learned_ct.load_run(tmp_path / 'a')
    with torch.no_grad():
        value = psnr(model(samples['data'])[:, 0].double(), samples['target'][:, 0].double(),
                     data_range=1.0).mean()
    assert report['methods']['A']['target']['psnr']['mean'] == pytest.approx(float(value),
                                                                            rel=1e-6)


def test_evaluate_rejects_runs_with_other_data(tmp_path):
    learned_ct.train(tiny(), tmp_path / 'a', progress=False)
    learned_ct.train(tiny(data={'noise_level': 0.1}), tmp_path / 'b', progress=False)
    with pytest.raises(ValueError, match="run 'B' was trained with other data"):
        learned_ct.evaluate({'A': tmp_path / 'a', 'B': tmp_path / 'b'}, tmp_path / 'e')
    with pytest.raises(FileNotFoundError, match='config.json'):
        learned_ct.load_run(tmp_path / 'nothing')


def test_cli_train_evaluate_and_errors(tmp_path, capsys):
    path = tmp_path / 'tiny.toml'
    path.write_text('name = "tiny"\n[data]\nsize = 32\nnum_angles = 8\n'
                    '[model]\nn_iter = 2\nfilters = 4\n[evaluate]\nn_samples = 1\n'
                    'tv_n_iter = 10\n')
    run = tmp_path / 'run'
    main(['train', str(path), '--set', 'train.steps=3', '--set', 'train.device="cpu"',
          '--output', str(run), '--quiet'])
    assert 'finished at step 3' in capsys.readouterr().out
    main(['train', str(path), '--set', 'train.steps=5', '--set', 'train.device="cpu"',
          '--output', str(run), '--quiet', '--resume'])
    assert 'finished at step 5' in capsys.readouterr().out
    main(['evaluate', f'tiny={run}', '--output', str(tmp_path / 'eval')])
    out = capsys.readouterr().out
    assert 'tiny' in out and 'FBP' in out and (tmp_path / 'eval' / 'metrics.json').is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(['train', str(path), '--set', 'train.stesp=3'])
    assert exit_info.value.code == 2
    assert "unknown key 'stesp' in [train]; valid keys:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['train', 'no_such_config'])
    assert 'ct_rings_wasserstein_512' in capsys.readouterr().err


def test_shipped_configurations_load():
    from odl_wasserstein.config import available_configs

    names = available_configs()
    assert {'ct_rings_wasserstein_512', 'ct_rings_mse_512', 'ct_rings_mse_128',
            'ct_rings_wasserstein_128', 'ct_ellipses_lpd_128', 'wwgan_digits_wgan_gp',
            'wwgan_digits_wwgan', 'mri_ot_cyclegan_64', 'mri_ot_cyclegan_fastmri',
            'mri_supervised_64', 'mri_cyclegan_64', 'mri_unpaired_wgan_64', 'mri_paired_l1_64',
            'mri_hybrid_64', 'mri_unpaired_wgan_fastmri', 'priors_shapes_ae', 'priors_shapes_vae',
            'priors_shapes_gan', 'priors_digits_vae', 'priors_mnist_vae'} <= set(names)
    for name in names:
        config = load_config(name)
        assert config.name == name
        prefix = name.split('_')[0]
        expected = {'wwgan': 'wwgan', 'mri': 'ot_cyclegan_mri', 'ct': 'learned_ct',
                    'priors': 'generative_priors'}[prefix]
        if name.startswith(('mri_unpaired', 'mri_paired', 'mri_hybrid')):
            expected = 'unpaired_mri'
        assert config.experiment == expected


def test_linear_schedule_is_accepted_and_reaches_the_optimiser():
    """Regression (issue 10, item 13): the Trainer offered 'linear', the TOML refused it."""
    config = tiny(train={'schedule': 'linear', 'decay_start': 3, 'steps': 6})
    _, recipe = learned_ct.build(config)
    spec = recipe.optimizers()['model']
    assert (spec.schedule, spec.decay_start) == ('linear', 3)
    with pytest.raises(ValueError, match=r'`train.decay_start` must be in \[0, train.steps'):
        tiny(train={'schedule': 'linear', 'decay_start': 6, 'steps': 6})


def test_impossible_sizes_are_refused_before_anything_is_built(tmp_path):
    """Regression (issue 10, item 12): size=100000 tried to allocate 74.5 GiB."""
    config = tiny(data={'size': 100_000})
    assert learned_ct.training_bytes(config) > 2 ** 40
    with pytest.raises(ValueError, match='needs at least .* TiB of memory'):
        learned_ct.train(config, tmp_path / 'run', progress=False)
    assert not (tmp_path / 'run').exists()
