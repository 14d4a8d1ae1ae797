"""Every front door's options, derived from their one declaration on `ExportOptions`.

The CLI and the magic take the same argparse arguments, the REST API the same JSON fields, the
nbconvert exporter the same traits: adding a field to `ExportOptions` adds it everywhere.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import dataclass, fields

from .pipeline.plan import ExportOptions


@dataclass(frozen=True)
class Option:
    """One build option as `ExportOptions` declares it."""

    name: str
    kind: type  # str, int, bool or tuple (of str)
    default: object
    help: str
    metavar: str
    instance: bool  # only matters when an instance is started
    flag: str  # the command-line flag


def build_options() -> list[Option]:
    hints = typing.get_type_hints(ExportOptions)
    return [
        Option(
            name=f.name,
            kind=_kind(hints[f.name]),
            default=f.default,
            help=f.metadata["help"],
            metavar=f.metadata["metavar"],
            instance=f.metadata["instance"],
            flag=f.metadata["flag"] or "--" + f.name.replace("_", "-"),
        )
        for f in fields(ExportOptions)
        if "help" in f.metadata
    ]


def _kind(hint) -> type:
    """`Optional[str]` → str; `tuple` → tuple."""
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    if not arguments:
        return hint
    return typing.get_origin(arguments[0]) or arguments[0]


def argparse_arguments(leave_out: tuple = ()) -> list[tuple[tuple, dict]]:
    """(flags, keyword arguments) for `ArgumentParser.add_argument` and IPython's `@argument`."""
    arguments = []
    for option in build_options():
        if option.name in leave_out:
            continue
        kwargs = {"dest": option.name, "help": option.help}
        if option.kind is bool:
            kwargs.update(action="store_true")
        elif option.kind is tuple:
            kwargs.update(action="append", default=[], metavar=option.metavar or "VALUE")
        else:
            kwargs.update(type=option.kind, default=option.default)
            if option.metavar:
                kwargs["metavar"] = option.metavar
        arguments.append(((option.flag,), kwargs))
    return arguments


def add_arguments(parser: argparse.ArgumentParser, leave_out: tuple = ()) -> None:
    for flags, kwargs in argparse_arguments(leave_out):
        parser.add_argument(*flags, **kwargs)


def options_from(values: dict, notebook: str, **overrides) -> ExportOptions:
    """ExportOptions from parsed arguments or a JSON body (lists become tuples); keys that are
    not options are ignored, `overrides` win."""
    chosen = {}
    for option in build_options():
        if option.name in values and values[option.name] is not None:
            value = values[option.name]
            chosen[option.name] = tuple(value) if option.kind is tuple else value
    return ExportOptions(notebook=notebook, **{**chosen, **overrides})


#: JSON types of the REST body's fields, by option kind.
_JSON_TYPES = {str: str, int: int, bool: bool, tuple: list}


def json_fields() -> dict:
    """field → (JSON type, what it must be), for validating a REST body."""
    return {o.name: (_JSON_TYPES[o.kind], o.help) for o in build_options()}


def exporter_traits() -> dict:
    """Configurable traits for the nbconvert exporter: every option but the instance ones."""
    from traitlets import Bool, Int, List, Unicode

    traits = {}
    for option in build_options():
        if option.instance:
            continue
        if option.kind is bool:
            trait = Bool(option.default, help=option.help)
        elif option.kind is tuple:
            trait = List(Unicode(), help=option.help)
        elif option.kind is int:
            trait = Int(option.default, allow_none=True, help=option.help)
        else:
            trait = Unicode(option.default, allow_none=True, help=option.help)
        traits[option.name] = trait.tag(config=True)
    return traits
