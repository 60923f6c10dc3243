"""The benchmark scripts run and write their JSON (no timing assertions)."""

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / 'benchmarks'


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_bridge_smoke(tmp_path, capsys):
    output = tmp_path / 'bridge.json'
    load('bench_bridge').main(['--size', '32', '--batch', '2', '--repeats', '1',
                               '--output', str(output)])
    report = json.loads(output.read_text())
    cases = {r['case'].split()[0]: r for r in report['results']}
    assert set(cases) == {'ray', 'MRI', 'blur'}
    ray = cases['ray']
    assert set(ray['seconds']) >= {'astra direct', 'odl.contrib OperatorModule',
                                   'OperatorModule'}
    for case in report['results']:
        # Ratios are quotients of the medians with the case's baseline.
        base = case['seconds'][case['baseline']]
        for name, seconds in case['seconds'].items():
            assert case['ratio_to_baseline'][name] == pytest.approx(seconds / base, rel=1e-12)
    assert all(t > 0 for r in report['results'] for t in r['seconds'].values())
    assert 'median [ms]' in capsys.readouterr().out


def test_bench_sinkhorn_smoke(tmp_path, capsys):
    output = tmp_path / 'sinkhorn.json'
    load('bench_sinkhorn').main(['--quick', '--output', str(output)])
    report = json.loads(output.read_text())
    assert report['benchmark'] == 'bench_sinkhorn'
    assert {'torch', 'odl', 'pot'} <= set(report['versions'])
    iteration = report['iteration']
    assert {(r['batch'], r['boundary']) for r in iteration} == {
        (1, 'periodic'), (1, 'zero'), (2, 'periodic'), (2, 'zero')}
    for r in iteration:
        assert set(r['seconds']) >= {'two convolutions', 'step', 'iteration'}
        # Ratios are medians of same-round quotients of the recorded samples.
        base = r['samples']['two convolutions']
        for name in ('two convolutions', 'step'):
            expected = statistics.median(t / t0 for t, t0 in zip(r['samples'][name], base))
            assert r['ratio_to_baseline'][name] == pytest.approx(expected, rel=1e-12)
        assert r['max_cost_over_eps'] < 13
    pot = report['pot'][0]
    assert set(pot['seconds']) == {'POT sinkhorn', 'POT sinkhorn_log', 'ours fft',
                                   'ours separable', 'ours dense'}
    for name, seconds in pot['seconds'].items():
        assert pot['speedup_over_pot_sinkhorn'][name] == pytest.approx(
            pot['seconds']['POT sinkhorn'] / seconds, rel=1e-12)
    memory = report['memory']
    assert {(r['gradient'], r['n_iter']) for r in memory} == {
        ('unrolled', 2), ('unrolled', 4), ('implicit', 2), ('implicit', 4)}
    saved = {(r['gradient'], r['n_iter']): r['saved_for_backward_bytes'] for r in memory}
    assert saved['unrolled', 4] > saved['unrolled', 2]
    assert saved['implicit', 4] == saved['implicit', 2]
    accuracy = report['accuracy']
    assert [r['cost'] for r in accuracy] == ['SaturatingCost', 'SquaredEuclideanCost']
    for r in accuracy:
        assert r['emd'] > 0
        for row in r['rows']:
            assert {'dense', 'fft'} <= set(row)
            assert row['fft']['relative_error'] >= 0
            assert ('separable' in row) == r['separable']
    # At max C / eps = 10 the FFT engine is exact and silent.
    assert accuracy[1]['rows'][0]['fft']['relative_error'] < 1e-6
    assert accuracy[1]['rows'][0]['fft']['warning'] == '-'
    out = capsys.readouterr().out
    assert all(f'Part {k}.' in out for k in (1, 2, 3, 4))


def test_bench_lpd_smoke(tmp_path, capsys):
    output = tmp_path / 'lpd.json'
    load('bench_lpd').main(['--quick', '--output', str(output)])
    report = json.loads(output.read_text())
    assert report['benchmark'] == 'bench_lpd'
    assert {'torch', 'odl', 'astra'} <= set(report['versions'])
    assert report['machine']['torch_threads'] >= 1
    (result,) = report['results']
    assert result['baseline'] == 'odl.contrib OperatorModule'
    assert set(result['seconds']) == {'odl.contrib OperatorModule', 'OperatorModule',
                                      'OperatorModule + WassersteinLoss'}
    assert all(t > 0 for t in result['seconds'].values())
    assert all(v > 0 for v in result['steps_per_second'].values())
    baseline = result['samples'][result['baseline']]
    for name, samples in result['samples'].items():
        expected = statistics.median(t / t0 for t, t0 in zip(samples, baseline))
        assert result['ratio_to_baseline'][name] == pytest.approx(expected, rel=1e-12)
        assert result['steps_per_second'][name] == pytest.approx(
            1 / result['seconds'][name], rel=1e-12)
    assert result['gradient_relative_difference'] < 1e-3
    assert 'steps/s' in capsys.readouterr().out


def test_bench_penalty_smoke(tmp_path, capsys):
    output = tmp_path / 'penalty.json'
    load('bench_penalty').main(['--quick', '--output', str(output)])
    report = json.loads(output.read_text())
    form = report['quadratic_form']
    assert set(form['seconds']) == {'conv2d (authors)', 'slicing (ours)', 'Euclidean ||g||^2'}
    # Both implementations of g^T L(x) g agree before anything is timed.
    assert form['max_relative_difference'] < 1e-12
    for part in (form, report['critic_update'], report['training_step']):
        base = part['samples'][part['baseline']]
        for name, samples in part['samples'].items():
            expected = statistics.median(t / t0 for t, t0 in zip(samples, base))
            assert part['ratio_to_baseline'][name] == pytest.approx(expected, rel=1e-12)
    assert set(report['critic_update']['seconds']) == {
        'no penalty', 'WGAN-GP (two-sided)', 'WWGAN (wasserstein)'}
    assert 'Part 3.' in capsys.readouterr().out


def test_bench_cyclegan_smoke(tmp_path, capsys):
    output = tmp_path / 'cyclegan.json'
    load('bench_cyclegan').main(['--quick', '--output', str(output)])
    report = json.loads(output.read_text())
    assert report['benchmark'] == 'bench_cyclegan'
    # The recipe and the plain loop train the same networks (same draws) before timing.
    assert report['max_relative_difference'] < 1e-4
    base = report['samples']['plain torch']
    for name, samples in report['samples'].items():
        assert len(samples) == report['settings']['repeats']
        expected = statistics.median(t / t0 for t, t0 in zip(samples, base))
        assert report['ratio_to_baseline'][name] == pytest.approx(expected, rel=1e-12)
    assert 'outputs agree' in capsys.readouterr().out


def test_bench_unpaired_mri_smoke(tmp_path, capsys):
    output = tmp_path / 'unpaired_mri.json'
    load('bench_unpaired_mri').main(['--quick', '--output', str(output)])
    report = json.loads(output.read_text())
    assert report['benchmark'] == 'bench_unpaired_mri'
    # The recipe and the plain loop train the same networks; both forwards are the same map.
    assert report['max_relative_difference'] < 1e-4
    assert report['inference_agreement'] < 1e-5
    for table in (report['training'], report['inference']):
        base = table['samples'][table['baseline']]
        for name, samples in table['samples'].items():
            assert len(samples) == report['settings']['repeats']
            expected = statistics.median(t / t0 for t, t0 in zip(samples, base))
            assert table['ratio_to_baseline'][name] == pytest.approx(expected, rel=1e-12)
    assert 'outputs agree' in capsys.readouterr().out


def test_bench_priors_smoke(tmp_path, capsys):
    output = tmp_path / 'priors.json'
    load('bench_priors').main(['--quick', '--output', str(output)])
    report = json.loads(output.read_text())
    assert report['benchmark'] == 'bench_priors'
    assert {(r['batch'], r['restarts']) for r in report['restarts']} == {(2, 1), (2, 3)}
    for row in report['restarts']:
        # Batched and sequential restarts solve the same problems to the same objectives.
        assert row['max_relative_difference'] < 1e-5 and row['same_best_restart']
    for table in (*report['restarts'], report['adam'], report['training']):
        base = table['samples'][table['baseline']]
        for name, samples in table['samples'].items():
            expected = statistics.median(t / t0 for t, t0 in zip(samples, base))
            assert table['ratio_to_baseline'][name] == pytest.approx(expected, rel=1e-12)
    assert report['adam']['max_relative_difference'] < 1e-5
    assert report['training']['max_relative_difference'] < 1e-4
    assert 'Part 3.' in capsys.readouterr().out
