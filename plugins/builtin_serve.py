"""`tierwise serve`: the HTTP service that CRMs call (see tierwise.service)."""

from __future__ import annotations

from pathlib import Path

import click

from tierwise.errors import TierwiseError

from .manager import hookimpl


def _default_rules() -> Path:
    """The shipped packs (installed as tierwise.packs)."""
    import tierwise.packs

    return Path(tierwise.packs.__file__).parent


@click.command("serve")
@click.option(
    "--rules",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Rules folder to serve and watch (default: the shipped packs).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback needs bearer tokens.",
)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Bearer tokens, one a line (also TIERWISE_TOKENS, comma-separated).",
)
@click.option(
    "--callers",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Callers file: how HubSpot, Zendesk and webhook payloads become facts.",
)
@click.option(
    "--hubspot-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HubSpot app client secret (or TIERWISE_HUBSPOT_SECRET).",
)
@click.option(
    "--zendesk-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Zendesk webhook signing secret (or TIERWISE_ZENDESK_SECRET).",
)
@click.option(
    "--webhook-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Generic webhook secret (or TIERWISE_WEBHOOK_SECRET).",
)
@click.option(
    "--public-url", default=None, help="The URL CRMs call (behind a proxy), as HubSpot signs it."
)
@click.option(
    "--source",
    default=None,
    help="SQL URL to read a client's facts by id when a call carries only the id.",
)
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Mapping file of --source (as for tierwise run).",
)
@click.option(
    "--log",
    "log_url",
    default=None,
    help="Decision log URL: served decisions are logged, a run per service start.",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Whole-base profile (JSON) to decide with.",
)
@click.option(
    "--profile-log",
    default=None,
    help="Take the profile of the newest finished run in this decision log.",
)
@click.option("--max-body", default=1_000_000, show_default=True, type=int, help="Bytes.")
@click.option(
    "--max-batch",
    default=1000,
    show_default=True,
    type=int,
    help="Clients per /v1/decide:batch call.",
)
@click.option(
    "--max-concurrency",
    default=64,
    show_default=True,
    type=int,
    help="Requests in flight; beyond it 429 with Retry-After.",
)
@click.option(
    "--timeout", default=10.0, show_default=True, type=float, help="Seconds a request may take."
)
@click.option("--cors", multiple=True, help="An origin allowed by CORS (off by default).")
@click.option("--no-watch", is_flag=True, help="Do not reload when the rules change.")
@click.option("--access-log", is_flag=True, help="Log every request.")
def serve_command(
    rules: Path | None,
    host: str,
    port: int,
    token_file: Path | None,
    callers: Path | None,
    hubspot_secret_file: Path | None,
    zendesk_secret_file: Path | None,
    webhook_secret_file: Path | None,
    public_url: str | None,
    source: str | None,
    mapping: Path | None,
    log_url: str | None,
    profile: Path | None,
    profile_log: str | None,
    max_body: int,
    max_batch: int,
    max_concurrency: int,
    timeout: float,
    cors: tuple[str, ...],
    no_watch: bool,
    access_log: bool,
) -> None:
    """Serve decisions over HTTP, reloading the rules when they change."""
    from tierwise.service.config import Secrets, ServiceConfig, read_secret, read_tokens
    from tierwise.service.server import serve

    try:
        if rules is None and profile is None and profile_log is None:
            profile = sample_profile()
        config = ServiceConfig(
            rules=rules or _default_rules(),
            host=host,
            port=port,
            tokens=read_tokens(token_file),
            secrets=Secrets(
                hubspot=read_secret(hubspot_secret_file, "TIERWISE_HUBSPOT_SECRET"),
                zendesk=read_secret(zendesk_secret_file, "TIERWISE_ZENDESK_SECRET"),
                webhook=read_secret(webhook_secret_file, "TIERWISE_WEBHOOK_SECRET"),
            ),
            callers=callers,
            source=source,
            mapping=mapping,
            log=log_url,
            profile=profile,
            profile_log=profile_log,
            public_url=public_url,
            max_body=max_body,
            max_batch=max_batch,
            max_concurrency=max_concurrency,
            timeout=timeout,
            cors=cors,
            watch=not no_watch,
        )
        serve(config, access_log=access_log)
    except TierwiseError as e:
        raise click.ClickException(str(e)) from None


def sample_profile() -> Path:
    """The shipped packs' statistics of the bundled sample CRM (created on first use, as
    `tierwise run` does), so that `tierwise serve` with no arguments decides as a run would."""
    import json

    from .builtin_cli import load_engine
    from .builtin_run import SAMPLE_DIR, _sample, default_rules, profile_pass
    from .manager import get_plugin_manager

    path = SAMPLE_DIR / "profile.json"
    if not path.exists():
        engine = load_engine(default_rules())
        source, mapping, day, _ = _sample(10_000, None, None, None)
        from tierwise.adapters import open_source

        src = open_source(source, mapping)
        try:
            computed = profile_pass(engine, src, day, get_plugin_manager())
        finally:
            src.close()
        path.write_text(json.dumps(computed.to_json()))
    click.echo(f"profile: the sample CRM's ({path}); give --profile for your own base", err=True)
    return path


@hookimpl
def tierwise_cli_commands() -> list[click.Command]:
    """`tierwise serve`."""
    return [serve_command]
