"""Every front door's options, derived from their one declaration: the fields of a frozen
dataclass made with `pipeline.plan.option` (`ExportOptions`, `DeployOptions`, `PushOptions`,
`RunLimits`).

The CLI and the magic take the same argparse arguments, the REST API the same JSON fields, the
notebook's methods the same keywords, the nbconvert exporter the same traits: adding a field to a
declaration adds it everywhere (and `scripts/request_types.py` to the frontend's request types).
"""

from __future__ import annotations

import argparse
import inspect
import typing
from dataclasses import MISSING, dataclass, fields

from ..pipeline.plan import ExportOptions


@dataclass(frozen=True)
class Option:
    """One option as its declaration gives it."""

    name: str
    kind: type  # str, int, float, bool or tuple (of str)
    default: object  # None when required
    help: str
    metavar: str
    instance: bool  # only matters when an instance is started
    flag: str  # the command-line flag; for a required option without one, its positional name
    required: bool  # no default: a positional argument (unless given a flag), a required field
    choices: tuple = ()  # the only values a string option takes, when it says so

    @property
    def negated(self) -> bool:
        """A flag `--no-NAME` sets NAME false."""
        return self.flag == "--no-" + self.name.replace("_", "-")


def declared_options(declaration: type) -> list[Option]:
    """In the order the constructor takes them: a declaration's own options before the
    keyword-only ones it inherits (`DeployOptions` from `RunLimits`)."""
    hints = typing.get_type_hints(declaration)
    order = list(inspect.signature(declaration).parameters)
    options = []
    for f in sorted(fields(declaration), key=lambda f: order.index(f.name)):
        if "help" not in f.metadata:
            continue
        required = f.default is MISSING
        default = None if required else f.default
        options.append(
            Option(
                name=f.name,
                kind=_kind(hints[f.name]),
                default=default,
                help=f.metadata["help"].replace("%(default)s", str(default)),
                metavar=f.metadata["metavar"],
                instance=f.metadata["instance"],
                flag=f.metadata["flag"]
                or (f.name if required else "--" + f.name.replace("_", "-")),
                required=required,
                choices=f.metadata.get("choices", ()),
            )
        )
    return options


def _kind(hint) -> type:
    """`Optional[str]` → str; `tuple` → tuple."""
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    if not arguments:
        return hint
    return typing.get_origin(arguments[0]) or arguments[0]


def argparse_arguments(declaration: type, leave_out: tuple = ()) -> list[tuple[tuple, dict]]:
    """(flags, keyword arguments) for `ArgumentParser.add_argument` and IPython's `@argument`."""
    arguments = []
    for option in declared_options(declaration):
        if option.name in leave_out:
            continue
        kwargs = {"help": option.help}
        if option.kind is bool:
            action = "store_false" if option.negated else "store_true"
            kwargs.update(action=action, default=option.default)
        elif option.kind is tuple:
            kwargs.update(action="append", default=[], metavar=option.metavar or "VALUE")
        else:
            kwargs.update(type=option.kind, default=option.default)
            if option.choices:
                kwargs["choices"] = option.choices
            if option.metavar:
                kwargs["metavar"] = option.metavar
        if option.flag.startswith("-"):  # argparse names a positional after its flag
            kwargs.update(dest=option.name, required=option.required)
        arguments.append(((option.flag,), kwargs))
    return arguments


def add_arguments(
    parser: argparse.ArgumentParser, declaration: type, leave_out: tuple = ()
) -> None:
    for flags, kwargs in argparse_arguments(declaration, leave_out):
        parser.add_argument(*flags, **kwargs)


def options_from(declaration: type, values: dict, **overrides):
    """The declaration's options from parsed arguments or a JSON body (lists become tuples);
    keys that are not options are ignored, `overrides` win."""
    chosen = {}
    for option in declared_options(declaration):
        if values.get(option.name) is not None:
            value = values[option.name]
            chosen[option.name] = tuple(value) if option.kind is tuple else value
    return declaration(**{**chosen, **overrides})


#: JSON types of the REST body's fields, by option kind.
_JSON_TYPES = {str: str, int: int, float: float, bool: bool, tuple: list}


def json_fields(declaration: type) -> dict:
    """field → (JSON type, what it must be), for validating a REST body."""
    return {o.name: (_JSON_TYPES[o.kind], o.help) for o in declared_options(declaration)}


def required_fields(declaration: type) -> tuple:
    return tuple(o.name for o in declared_options(declaration) if o.required)


def keyword_signature(declaration: type, leave_out: tuple = ()):
    """Decorate `method(self, **options)` with the declaration's options as keywords, so that
    `inst.deploy?` and tab completion show them with their defaults."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(
            o.name, keyword, default=inspect.Parameter.empty if o.required else o.default
        )
        for o in declared_options(declaration)
        if o.name not in leave_out
    ]

    def decorate(method):
        method.__signature__ = inspect.Signature(parameters)
        return method

    return decorate


def exporter_traits() -> dict:
    """Configurable traits for the nbconvert exporter: every build option but the instance ones."""
    from traitlets import Bool, Int, List, Unicode

    traits = {}
    for option in declared_options(ExportOptions):
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
