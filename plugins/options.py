"""The options the commands share (--rules, --as-of, --source, --mapping, --log, --json),
with their defaults taken from the settings (tierwise.plugins.settings) when no flag is
given; a value from a setting is checked as a flag's would be, and a bad one names where
it came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import settings as settings_module
from .settings import Setting, SettingsError

F = TypeVar("F", bound=Callable[..., Any])

META_KEY = "tierwise.settings"


class SettingsProblem(click.ClickException):
    """A settings file or variable that cannot be read: a usage error (exit 2)."""

    exit_code = 2


def current(ctx: click.Context) -> dict[str, Setting]:
    """The settings of this invocation, read once (from the current folder and environment)."""
    meta = ctx.find_root().meta
    if META_KEY not in meta:
        try:
            meta[META_KEY] = settings_module.load()
        except SettingsError as e:
            raise SettingsProblem(str(e)) from None
    found: dict[str, Setting] = meta[META_KEY]
    return found


def _fill_from(name: str, required: bool) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback that gives an unset parameter the value of setting `name`, converted and
    checked by the parameter's own type."""

    def fill(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None or ctx.resilient_parsing:
            return value
        setting = current(ctx)[name]
        if setting.value is None:
            if required:
                raise click.MissingParameter(
                    ctx=ctx,
                    param=param,
                    message=f"give it, or set {name} in tierwise.toml or {setting.env}",
                )
            return None
        try:
            return param.type.convert(setting.value, param, ctx)
        except click.BadParameter as e:
            raise click.BadParameter(
                f"{e.message.rstrip('.')} (the {name} setting, from {setting.origin})",
                ctx=ctx,
                param=param,
            ) from None

    return fill


def setting_option(name: str, *decls: str, required: bool = False, **kwargs: Any) -> Any:
    """A click option whose default is setting `name` (see settings.NAMES)."""
    help_text = kwargs.pop("help", "")
    kwargs["help"] = f"{help_text} [setting: {name}, {settings_module.env_name(name)}]".strip()
    return click.option(*decls, default=None, callback=_fill_from(name, required), **kwargs)


def setting_argument(name: str, decl: str, **kwargs: Any) -> Any:
    """An optional click argument whose default is setting `name`."""
    return click.argument(decl, required=False, callback=_fill_from(name, False), **kwargs)


RULES_OPTION = setting_option(
    "rules",
    "--rules",
    type=click.Path(exists=True, path_type=Path),
    help="A rule file or a folder of rule files. Default: ./rules, else the shipped packs.",
)
AS_OF_OPTION = setting_option(
    "as_of",
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Evaluation date (YYYY-MM-DD); default: today, once for the whole run.",
)
SOURCE_OPTION = setting_option(
    "source",
    "--source",
    help="Where the clients are (as for `tierwise run`). Default: the sample CRM.",
)
"""The source of a command that reads clients as `tierwise run` does."""
MAPPING_OPTION = setting_option(
    "mapping",
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping of the source's tables, columns or fields to facts.",
)
LOG_OPTION = setting_option(
    "log",
    "--log",
    "log_url",
    help="Decision log: a database URL (sqlite:///decisions.db, postgresql://...) or a "
    "SQLite file path. Default: tierwise-sample/decisions.db.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Write JSON to stdout.")


def default_rules() -> Path:
    """./rules when it exists (a checkout, or a user's project), else the packs shipped inside."""
    local = Path("rules")
    if local.is_dir():
        return local
    from importlib.resources import files

    return Path(str(files("tierwise.packs")))
