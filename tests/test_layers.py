"""The layer order of the package: a lower layer never imports a higher one.

The order is the one of ``doc/design.rst``. Every import statement of every
module is read (at module level and inside functions), relative imports
resolved; ``odl_wasserstein.testing`` is for tests and users, never for the
package itself.
"""

import ast
from pathlib import Path

import pytest

import odl_wasserstein

PACKAGE = Path(odl_wasserstein.__file__).parent

LAYERS = (
    ('util', 'fft', 'plotting', 'config'),
    ('operators',),
    ('torch',),
    ('transport',),
    ('metrics', 'baselines'),
    ('adversarial',),
    ('nn',),
    ('data',),
    ('training',),
    ('methods',),
    ('priors',),
    ('experiments',),
    ('cli',),
)
"""Lowest first; modules of one layer may import each other."""

RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def top_level(module):
    """``'training'`` for ``odl_wasserstein.training.trainer``; None outside the package."""
    parts = module.split('.')
    if parts[0] != 'odl_wasserstein':
        return None
    return parts[1] if len(parts) > 1 else ''


def imported_modules(path, root=PACKAGE.parent):
    """Absolute names of the modules ``path`` imports (``from x import y``: x and x.y)."""
    package = list(path.relative_to(root).parts[:-1])
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = '.'.join(base + ([node.module] if node.module else []))
            yield module
            for alias in node.names:
                yield f'{module}.{alias.name}'


def violations(path, root=PACKAGE.parent):
    """The imports of ``path`` that break the layer order, as messages."""
    own = path.relative_to(root / 'odl_wasserstein').parts[0].removesuffix('.py')
    found = []
    for module in imported_modules(path, root):
        target = top_level(module)
        if own == 'testing' or target in (None, ''):
            continue
        if target == 'testing':
            found.append(f'{module}: the package must not use odl_wasserstein.testing')
        elif target not in RANK:
            found.append(f'{module} has no layer')
        elif RANK[target] > RANK[own]:
            found.append(f'{module} (layer {target}) is above {own}')
    return found


def modules():
    return sorted(p for p in PACKAGE.rglob('*.py') if p.name != '__init__.py'
                  or p.parent != PACKAGE)


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.parent == PACKAGE else p.relative_to(PACKAGE).parts[0]
             for p in PACKAGE.rglob('*.py')} - {'__init__', 'testing'}
    assert names <= set(RANK), f'no layer for {sorted(names - set(RANK))}; add it to LAYERS'


@pytest.mark.parametrize('path', modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_upward_import(path):
    assert violations(path) == []


def test_upward_and_testing_imports_are_caught(tmp_path):
    module = tmp_path / 'odl_wasserstein' / 'transport' / 'bad.py'
    module.parent.mkdir(parents=True)
    module.write_text('from ..training import Trainer\n'
                      'def f():\n    import odl_wasserstein.testing\n'
                      'from . import solver\nfrom odl_wasserstein.util import check_int\n')
    assert violations(module, tmp_path) == [
        'odl_wasserstein.training (layer training) is above transport',
        'odl_wasserstein.training.Trainer (layer training) is above transport',
        'odl_wasserstein.testing: the package must not use odl_wasserstein.testing']
