"""The WGAN-GP vs WWGAN experiment, end to end at toy size."""

import json

import pytest
import torch

from odl_wasserstein.experiments import load_config, wwgan


def tiny(method, **train):
    return wwgan.Config.from_dict({
        'data': {'size': 16}, 'model': {'filters': 4, 'latent_dim': 8},
        'gan': {'method': method, 'n_critic': 2},
        'train': dict({'batch_size': 4, 'steps': 2, 'log_every': 1, 'validate_every': 2,
                       'checkpoint_every': 1, 'device': 'cpu'}, **train),
        'evaluate': {'n_images': 5, 'n_generated': 20}})


def test_methods_share_everything_but_the_penalty():
    a, b = load_config('wwgan_digits_wgan_gp'), load_config('wwgan_digits_wwgan')
    assert {k: v for k, v in a.to_dict().items() if k not in ('name', 'gan')} == \
        {k: v for k, v in b.to_dict().items() if k not in ('name', 'gan')}
    (g1, d1), (g2, d2) = wwgan.build_networks(a), wwgan.build_networks(b)
    for x, y in ((g1, g2), (d1, d2)):
        for p, q in zip(x.state_dict().values(), y.state_dict().values()):
            assert torch.equal(p, q)
    assert wwgan.METHODS['wgan-gp'] == {'penalty': 'two-sided', 'penalty_weight': 10.0}
    assert wwgan.METHODS['wwgan'] == {'penalty': 'wasserstein', 'penalty_weight': 4.0}
    # The reproduction uses the authors' fixed intensity map for the data range.
    assert b.gan.recipe_options()['penalty_options'] == {'intensity': (0.0, 1.0)}
    assert 'penalty_options' not in a.gan.recipe_options()


def test_digits_split_is_disjoint_and_fixed():
    train, test = wwgan.digits_split(8, test_fraction=0.25, seed=3)
    assert train.shape == (1348, 1, 8, 8) and test.shape == (449, 1, 8, 8)
    flat_train = {tuple(x.flatten().tolist()) for x in train}
    # The digits hold a few exact duplicates; held-out images are almost all new.
    assert sum(tuple(x.flatten().tolist()) in flat_train for x in test) < 5
    again = wwgan.digits_split(8, test_fraction=0.25, seed=3)[1]
    assert torch.equal(test, again)


def test_train_evaluate_and_resume(tmp_path):
    runs = {}
    for method in wwgan.METHODS:
        folder = tmp_path / method
        result = wwgan.train(tiny(method), folder, progress=False)
        assert result.step == 2
        runs[method.upper()] = folder
    report = wwgan.evaluate(runs, tmp_path)
    assert set(report['methods']) == {'WGAN-GP', 'WWGAN'}
    assert report['settings']['n_images'] == 5
    for entry in report['methods'].values():
        assert entry['steps'] == 2
        assert entry['total_variation']['mean'] >= 1.0 or entry['total_variation']['mean'] == 0
        assert 0 <= entry['zero_crossings']['mean'] <= 16
        assert entry['sliced_wasserstein'] > 0 and entry['seconds_per_step'] > 0
        assert entry['separation'] >= 0
    assert report['reference']['sliced_wasserstein_train_vs_test'] > 0
    assert json.loads((tmp_path / 'wwgan_metrics.json').read_text()) == report
    assert (tmp_path / 'wwgan_critics.png').read_bytes()[:4] == b'\x89PNG'
    table = wwgan.report(report)
    assert 'WGAN-GP' in table and 'WWGAN' in table and 'train vs test' in table
    fewer = wwgan.evaluate(runs, n_samples=3, baselines=False)
    assert fewer['settings']['n_images'] == 3 and 'reference' not in fewer

    # Continuing to more steps resumes; changing a setting other than steps is refused.
    with pytest.warns(UserWarning, match='max_steps=2, this run has 3'):
        result = wwgan.train(tiny('wwgan', steps=3), runs['WWGAN'], resume=True,
                             progress=False)
    assert result.step == 3 and result.resumed_from.name == 'step_000002.pt'
    with pytest.raises(ValueError, match=r"differs from the configuration in \['train.lr'\]"):
        wwgan.train(tiny('wwgan', lr=1e-3), runs['WWGAN'], resume=True, progress=False)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match='`gan.method` must be one of'):
        wwgan.Config.from_dict({'gan': {'method': 'gan'}})
    with pytest.raises(ValueError, match="unknown key 'epochs' in \\[train\\]"):
        wwgan.Config.from_dict({'train': {'epochs': 3}})
    with pytest.raises(FileNotFoundError, match='config.json'):
        wwgan.load_run(tmp_path)
