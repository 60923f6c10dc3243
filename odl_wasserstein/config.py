"""Experiment configurations: TOML files validated against a schema of dataclasses.

Every experiment (`odl_wasserstein.experiments`) declares its schema as a
subclass of `ExperimentConfig` whose fields are `Section` dataclasses, one
per TOML table (``[data]``, ``[model]``, ``[train]``, ...). Loading a
configuration

- rejects unknown sections and keys with the list of valid ones, so a typo
  never silently falls back to a default;
- checks every value against the type its field declares (``int``,
  ``float``, ``str``, ``bool``, tuples, unions with None), naming the key:
  ``--set train.lr=abc`` gives "`train.lr` must be a number, got 'abc'";
- then runs each section's own rules (`Section.validate`) with the shared
  validators of `odl_wasserstein.util`.

``name`` (a plain file name: it names the default run folder) and
``experiment`` (which experiment the file configures) are top-level keys.
This module reads and validates; `odl_wasserstein.experiments.load_config`
picks the schema by the file's ``experiment``.
"""

import dataclasses
import math
import re
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path

from odl_wasserstein.util import check_int

__all__ = ('Section', 'ExperimentConfig', 'check_name', 'read_config_file',
           'available_configs', 'plain')

_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,99}')


def check_name(name, key='name'):
    """Return ``name`` if it is a plain file name (it names a run folder).

    Letters, digits, ``.``, ``_`` and ``-``, starting with a letter or
    digit, at most 100 characters: no path separators, no ``..``.

    Examples
    --------
    >>> check_name('ct_rings_128')
    'ct_rings_128'
    >>> check_name('../../escape')
    Traceback (most recent call last):
        ...
    ValueError: `name` must be a plain name (letters, digits, '.', '_', '-'; no path), got '../../escape'
    """
    if not isinstance(name, str):
        raise TypeError(f'`{key}` must be a string, got {name!r}')
    if not _NAME.fullmatch(name) or '..' in name:
        raise ValueError(f"`{key}` must be a plain name (letters, digits, '.', '_', '-'; "
                         f'no path), got {name!r}')
    return name


def _describe(annotation):
    if annotation in (int, float, str, bool):
        return {int: 'an int', float: 'a number', str: 'a string', bool: 'true or false'}[
            annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return ' or '.join('None' if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f'a list of {_describe(args[0]).split(" ", 1)[1]}s'
        return f'a list of {len(args)} {_describe(args[0]).split(" ", 1)[1]}s'
    return getattr(annotation, '__name__', str(annotation))


def _coerce(value, annotation, key):
    """``value`` as the type ``annotation`` declares, or `TypeError`/`ValueError` naming ``key``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(value, arg, key)
                except (TypeError, ValueError):
                    continue
        raise TypeError(f'`{key}` must be {_describe(annotation)}, got {value!r}')
    if origin is tuple:
        return _coerce_tuple(value, args, key)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f'`{key}` must be a number, got {value!r}')
        if not math.isfinite(value):
            raise ValueError(f'`{key}` must be a finite number, got {value!r}')
        return float(value)
    if annotation is int:
        return check_int(value, key, minimum=-2 ** 63)
    if annotation in (str, bool) and not isinstance(value, annotation):
        raise TypeError(f'`{key}` must be {_describe(annotation)}, got {value!r}')
    return value


def _coerce_tuple(value, args, key):
    if not isinstance(value, (list, tuple)):
        raise TypeError(f'`{key}` must be {_describe(tuple[args])}, got {value!r}')
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(value)
    if len(value) != len(args):
        raise ValueError(f'`{key}` must be {_describe(tuple[args])}, got {value!r}')
    return tuple(_coerce(v, a, key) for v, a in zip(value, args))


class Section:
    """Base of the sections of a configuration (subclass it as a dataclass).

    Field annotations are the types checked on loading; override
    `validate` for the section's own rules.
    """

    def check(self, prefix):
        """Check every field's type, then `validate`; ``prefix`` is the table name."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            key = f'{prefix}.{f.name}'
            setattr(self, f.name, _coerce(getattr(self, f.name), hints[f.name], key))
        self.validate(prefix)
        return self

    def validate(self, prefix):
        """Rules beyond the types (ranges, choices); raise naming ``prefix.key``."""


@dataclasses.dataclass
class ExperimentConfig:
    """Base of an experiment's configuration: ``name``, ``experiment`` and sections.

    Subclasses are dataclasses whose other fields are `Section`
    dataclasses, and set ``EXPERIMENT``, the name written in their files.

    Examples
    --------
    >>> @dataclasses.dataclass
    ... class Train(Section):
    ...     steps: int = 10
    ...     lr: float = 1e-3
    ...     def validate(self, prefix):
    ...         check_int(self.steps, f'{prefix}.steps', minimum=1)
    >>> @dataclasses.dataclass
    ... class Toy(ExperimentConfig):
    ...     EXPERIMENT = 'toy'
    ...     train: Train = dataclasses.field(default_factory=Train)
    >>> Toy.from_dict({'name': 'run1', 'train': {'lr': 0.1}}).train
    Train(steps=10, lr=0.1)
    >>> Toy.from_dict({'train': {'lr': 'abc'}})
    Traceback (most recent call last):
        ...
    TypeError: configuration: `train.lr` must be a number, got 'abc'
    >>> Toy.from_dict({'train': {'sptes': 3}})
    Traceback (most recent call last):
        ...
    ValueError: configuration: unknown key 'sptes' in [train]; valid keys: lr, steps
    """

    EXPERIMENT = None
    name: str = 'experiment'
    experiment: str = ''

    @classmethod
    def sections(cls):
        """``{table name: Section class}`` of the schema."""
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)
                if isinstance(hints[f.name], type) and issubclass(hints[f.name], Section)}

    @classmethod
    def from_dict(cls, values, source='configuration'):
        """Build and check a configuration from a nested dict (a TOML file's content)."""
        values = dict(values)
        sections = cls.sections()
        unknown = set(values) - set(sections) - {'name', 'experiment'}
        if unknown:
            raise ValueError(f'{source}: unknown section(s) {sorted(unknown)}; valid: name, '
                             f'experiment, {", ".join(sorted(sections))}')
        built = {}
        for table, section_class in sections.items():
            given = values.get(table, {})
            if not isinstance(given, dict):
                raise ValueError(f'{source}: [{table}] must be a table, got {given!r}')
            valid = {f.name for f in dataclasses.fields(section_class)}
            for key in given:
                if key not in valid:
                    raise ValueError(f'{source}: unknown key {key!r} in [{table}]; valid keys: '
                                     f'{", ".join(sorted(valid))}')
            built[table] = section_class(**given)
        experiment = values.get('experiment', cls.EXPERIMENT)
        config = cls(name=values.get('name', 'experiment'), experiment=experiment, **built)
        try:
            return config.check()
        except (TypeError, ValueError) as error:
            raise type(error)(f'{source}: {error}') from None

    def check(self):
        """Validate ``name``, ``experiment`` and every section; return self."""
        check_name(self.name)
        if self.experiment != self.EXPERIMENT:
            raise ValueError(f'`experiment` must be {self.EXPERIMENT!r} for this schema, got '
                             f'{self.experiment!r}')
        for table in self.sections():
            getattr(self, table).check(table)
        return self

    def to_dict(self):
        """Plain nested dict (for logs, checkpoints and the run folder)."""
        return dataclasses.asdict(self)


def plain(values):
    """``values`` with tuples as lists, as JSON and TOML give them back.

    Examples
    --------
    >>> plain({'train': {'betas': (0.9, 0.99)}})
    {'train': {'betas': [0.9, 0.99]}}
    """
    if isinstance(values, dict):
        return {k: plain(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [plain(v) for v in values]
    return values


def available_configs():
    """Names of the configurations shipped with the package.

    Examples
    --------
    >>> 'ct_rings_wasserstein_512' in available_configs()
    True
    """
    folder = resources.files('odl_wasserstein') / 'configs'
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith('.toml'))


def read_config_file(name_or_path, overrides=None):
    """The values of a shipped configuration (by name) or a TOML file (by path).

    Parameters
    ----------
    name_or_path : str or `pathlib.Path`
        A name from `available_configs` or a path to a ``.toml`` file.
    overrides : dict, optional
        Nested values replacing those of the file (e.g. from the command
        line: ``{'train': {'steps': 10}}``).

    Returns
    -------
    values : dict
        The file's content with the overrides applied (not yet validated).
    source : str
        The file, for messages.

    Examples
    --------
    >>> values, source = read_config_file('ct_rings_mse_128', {'train': {'steps': 5}})
    >>> values['experiment'], values['train']['steps'], source
    ('learned_ct', 5, 'ct_rings_mse_128.toml')
    """
    path = Path(name_or_path)
    if path.suffix != '.toml':
        shipped = resources.files('odl_wasserstein') / 'configs' / f'{name_or_path}.toml'
        if not shipped.is_file():
            raise FileNotFoundError(
                f'no configuration {str(name_or_path)!r}: give a .toml path or one of '
                f'{", ".join(available_configs())}')
        text, source = shipped.read_text(), f'{name_or_path}.toml'
    else:
        if not path.is_file():
            raise FileNotFoundError(f'configuration file {path} does not exist')
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f'configuration file {path} is unreadable: {error}') from None
        source = str(path)
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f'{source}: invalid TOML: {error}') from None
    for table, entries in (overrides or {}).items():
        if isinstance(entries, dict) and isinstance(values.get(table, {}), dict):
            values.setdefault(table, {}).update(entries)
        else:
            values[table] = entries
    return values, source
