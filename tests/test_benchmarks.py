"""The benchmark scripts run and write their JSON (no timing assertions)."""

import importlib.util
import json
from pathlib import Path

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
    assert ray['ratio_to_baseline']['astra direct'] == 1.0
    assert all(t > 0 for r in report['results'] for t in r['seconds'].values())
    assert 'median [ms]' in capsys.readouterr().out
