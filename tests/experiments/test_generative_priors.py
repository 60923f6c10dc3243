"""The generative-priors experiment, end to end at toy size."""

import json
import math

import pytest
import torch

from odl_wasserstein.cli import main
from odl_wasserstein.experiments import generative_priors as gp
from odl_wasserstein.experiments import load_config
from odl_wasserstein.nn import ConvDecoder


def tiny(kind, steps=2, **sections):
    values = {
        'data': {'size': 16}, 'model': {'kind': kind, 'filters': 4, 'latent_dim': 3,
                                        'depth': 1},
        'gan': {'n_critic': 2},
        'train': {'batch_size': 4, 'steps': steps, 'log_every': 1, 'validate_every': 2,
                  'checkpoint_every': 1, 'device': 'cpu'},
        'search': {'n_iter': 4, 'restarts': 2},
        'evaluate': {'n_images': 2, 'operators': ['denoising', 'inpainting'],
                     'baseline_iter': 3}}
    for key, value in sections.items():
        values[key] = dict(values.get(key, {}), **value)
    return gp.Config.from_dict(values)


def test_shipped_configurations_hold_the_authors_settings():
    vae, gan = load_config('priors_shapes_vae'), load_config('priors_shapes_gan')
    assert (vae.data.source, vae.data.size, vae.model.latent_dim) == ('shapes', 56, 10)
    assert load_config('priors_shapes_ae').model.latent_dim == 12
    assert (vae.search.hard_latent_weight, vae.search.sparse_weight,
            vae.search.sparse_latent_weight, vae.search.soft_latent_weight) == (
        0.0122, 0.39, 0.0156, 0.625)
    assert (gan.search.hard_latent_weight, gan.search.sparse_weight,
            gan.search.soft_weight, gan.search.soft_latent_weight) == (0.78, 3.125, 0.098, 10.0)
    assert gan.gan.betas == (0.0, 0.9) and gan.gan.n_critic == 5 and gan.model.dropout == 0.2
    assert (vae.evaluate.tikhonov_alpha, vae.evaluate.tv_alpha) == (0.195, 0.0488)
    assert (gan.evaluate.tikhonov_alpha, gan.evaluate.tv_alpha) == (0.0488, 0.0061)
    paper = load_config('priors_shapes_gan_paper')
    assert (paper.train.steps, paper.train.batch_size, paper.search.n_iter) == (30000, 50, 200)
    assert load_config('priors_mnist_vae').model.latent_dim == 20


@pytest.mark.parametrize('kind', gp.KINDS)
def test_train_resume_and_load_the_generator(tmp_path, kind):
    whole = gp.train(tiny(kind, steps=4), tmp_path / 'whole', progress=False)
    gp.train(tiny(kind, steps=4), tmp_path / 'split', progress=False)
    # A run killed after its checkpoint of step 2: the later ones never reached the disk.
    for late in ('step_000003.pt', 'step_000004.pt'):
        (tmp_path / 'split' / 'checkpoints' / late).unlink()
    resumed = gp.train(tiny(kind, steps=4), tmp_path / 'split', resume=True, progress=False)
    assert whole.step == resumed.step == 4
    a, config = gp.load_run(tmp_path / 'whole')
    b, _ = gp.load_run(tmp_path / 'split')
    assert isinstance(a, ConvDecoder) and not a.training and config.model.kind == kind
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
    z = torch.randn(5, 3)
    assert a(z).shape == (5, 1, 16, 16)
    assert bool(((a(z) >= 0) & (a(z) <= 1)).all())


def test_evaluate_writes_the_table_with_both_metric_definitions(tmp_path):
    runs = {}
    for kind in ('vae', 'gan'):
        gp.train(tiny(kind), tmp_path / kind, progress=False)
        runs[kind.upper()] = tmp_path / kind
    result = gp.evaluate(runs, tmp_path / 'evaluation')
    assert set(result['sets']) == {'in-distribution', 'out-of-distribution'}
    table = result['sets']['in-distribution']
    assert set(table) == {'denoising', 'inpainting'}
    expected = {f'{label} {method}' for label in runs for method in gp.SEARCH_METHODS}
    assert set(table['denoising']) == expected | {'Tikhonov', 'TV'}
    for scores in table['inpainting'].values():
        # data range 2 instead of 1: +20 log10(2) dB for every image, hence for the mean.
        assert scores['psnr_code']['mean'] - scores['psnr']['mean'] == pytest.approx(
            20 * math.log10(2), abs=1e-9)
        assert -1 <= scores['ssim']['mean'] <= 1
    stored = json.loads((tmp_path / 'evaluation' / 'priors_metrics.json').read_text())
    assert stored['sets']['in-distribution']['denoising']['TV']['psnr'] == \
        table['denoising']['TV']['psnr']
    assert (tmp_path / 'evaluation' / 'priors_reconstructions.png').stat().st_size > 0
    again = gp.evaluate(runs, baselines=False)
    assert again['sets']['in-distribution']['inpainting']['VAE soft']['psnr'] == \
        table['inpainting']['VAE soft']['psnr']
    assert 'TV' not in again['sets']['in-distribution']['inpainting']
    report = gp.report(result)
    assert 'VAE sparse' in report and 'out-of-distribution' in report


def test_out_of_distribution_images_hold_the_third_shape():
    config = tiny('vae')
    _, held_out = gp.image_data(config)
    sets = gp._test_sets(config, held_out, 4)
    inside, outside = sets['in-distribution'], sets['out-of-distribution']
    assert torch.equal(inside, held_out[:4])
    assert bool(((outside - inside) >= 0).all()) and float((outside - inside).sum()) > 0


def test_csgm_curve_on_digits(tmp_path):
    config = tiny('vae', data={'source': 'digits'},
                  evaluate={'csgm_measurements': [5, 60], 'n_images': 3})
    gp.train(config, tmp_path / 'digits', progress=False)
    result = gp.evaluate({'VAE': tmp_path / 'digits'}, tmp_path / 'out')
    curve = result['csgm']['VAE']
    assert curve['measurements'] == [5, 60]
    assert len(curve['latent_search']) == len(curve['lasso']) == 2
    assert all(0 < value < 1 for value in curve['latent_search'] + curve['lasso'])
    # More measurements, better Lasso: 60 Gaussian measurements of 256 pixels beat 5.
    assert curve['lasso'][1] < curve['lasso'][0]
    assert (tmp_path / 'out' / 'csgm.png').stat().st_size > 0


def test_noisy_measurements_are_seeded_and_of_the_requested_level():
    from odl_wasserstein.operators import paper_operator, reconstruction_space

    op = paper_operator('denoising', reconstruction_space(32))
    images = torch.zeros(20, 1, 32, 32)
    a = gp.noisy_measurements(op, images, 0.1, seed=3)
    assert torch.equal(a, gp.noisy_measurements(op, images, 0.1, seed=3))
    assert float(a.std()) == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize('values, match', [
    ({'data': {'size': 50}}, 'divisible by 4'),
    ({'model': {'kind': 'gan'}, 'data': {'size': 60}}, r'divisible by 8 \(2\*\*model.depth \+ 1'),
    ({'model': {'kind': 'flow'}}, '`model.kind` must be one of'),
    ({'search': {'methods': []}}, 'at least one'),
    ({'search': {'optimizer': 'adam'}}, "'palm' for the sparse form"),
    ({'evaluate': {'operators': ['xray']}}, '`evaluate.operators` must be one of'),
    ({'data': {'source': 'mnist', 'size': 32}}, 'must be 28 for MNIST'),
])
def test_configuration_errors(values, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gp.Config.from_dict(values)


def test_cli_user_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    output = tmp_path / 'run'
    with pytest.raises(SystemExit) as stop:
        main(['train', 'priors_mnist_vae', '--output', str(output)])
    assert stop.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and '`data.path` must name the folder of the MNIST' in message[0]
    assert not output.exists()
    with pytest.raises(SystemExit) as stop:
        main(['train', 'priors_shapes_vae', '--set', 'search.restarts=0', '--output',
              str(output)])
    assert stop.value.code == 2 and not output.exists()
    assert '`search.restarts` must be an int >= 1' in capsys.readouterr().err


def test_mri_magnitudes_and_digits_are_image_sets_in_the_unit_range():
    for source, size in (('mri', 16), ('digits', 16)):
        config = tiny('vae', data={'source': source, 'size': size, 'n_images': 40})
        train_images, test_images = gp.image_data(config)
        assert train_images.shape[1:] == test_images.shape[1:] == (1, size, size)
        assert float(train_images.min()) >= 0 and float(train_images.max()) <= 1
        if source == 'mri':
            assert len(train_images) + len(test_images) == 40
            assert torch.allclose(train_images.flatten(1).amax(1), torch.ones(32))


def test_the_gan_takes_the_wwgan_penalty_as_an_option():
    recipe, _, _ = gp.build(tiny('gan', gan={'penalty': 'wwgan'}))
    assert (recipe.penalty, recipe.penalty_weight, recipe.n_critic) == ('wasserstein', 4.0, 2)
    recipe, data, _ = gp.build(tiny('gan'))
    assert (recipe.penalty, recipe.penalty_weight) == ('two-sided', 10.0)
    assert data.batch(0).shape == (8, 1, 16, 16)  # batch_size x n_critic real images


def test_a_continued_run_may_change_the_search_but_not_the_training(tmp_path):
    gp.train(tiny('vae'), tmp_path / 'run', progress=False)
    changed = tiny('vae', search={'n_iter': 9}, evaluate={'n_images': 3})
    result = gp.train(changed, tmp_path / 'run', resume=True, progress=False)
    assert result.step == 2
    assert gp.load_run(tmp_path / 'run')[1].search.n_iter == 9
    with pytest.raises(ValueError, match=r"model.filters"):
        gp.train(tiny('vae', model={'filters': 5}), tmp_path / 'run', resume=True,
                 progress=False)
