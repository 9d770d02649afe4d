"""The `idp` command line: a Flask command group with the administration commands.

Every command takes `--help`; those that print data take `--json`. Bad input ends with a
one-line message and a non-zero exit code, never a traceback (set IDP_DEBUG=1 to see one).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from flask.cli import FlaskGroup
from sqlalchemy.exc import SQLAlchemyError

from idp.config import ConfigError
from idp.core.errors import RuleViolation


class IdpGroup(FlaskGroup):
    """Turns the errors a user can cause into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # One line, like every other error: the usage block is what --help is for.
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            raise click.ClickException(f"{exc.format_message()}{hint}") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (RuleViolation, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:
            if os.environ.get("IDP_DEBUG"):
                raise
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise click.ClickException(
                f"database error: {first_line} (has `idp init` been run?)"
            ) from None
        except Exception as exc:
            if os.environ.get("IDP_DEBUG"):
                raise
            raise click.ClickException(f"unexpected {type(exc).__name__}: {exc}") from None


def _create_app() -> Any:
    from idp.app import create_app

    return create_app()


@click.group(cls=IdpGroup, create_app=_create_app, load_dotenv=False,
             add_version_option=False)
def cli() -> None:
    """PLAGE identity provider: set-up, directory administration and serving.

    Configuration: IDP_CONFIG names a TOML file (see config.example.toml); any key can be
    overridden with IDP_<SECTION>__<KEY>, e.g. IDP_DATABASE__URL.
    """


# Flask's --app and --env-file make no sense here: the app is always built from IDP_*.
cli.params = [p for p in cli.params if p.name not in {"app", "env_file"}]


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print `data` as JSON, or `text` (default: a readable rendering of `data`)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif text is not None:
        click.echo(text)
    elif isinstance(data, list):
        for row in data:
            click.echo("  ".join(f"{v}" for v in row.values()) if isinstance(row, dict) else row)
    elif isinstance(data, dict):
        for key, value in data.items():
            click.echo(f"{key}: {value}")
    else:
        click.echo(data)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _register() -> None:
    from idp.cli import (
        clients,
        demo,
        directory,
        entities,
        mail,
        outbox,
        reviews,
        setup,
        store,
    )

    setup.register(cli)
    directory.register(cli)
    clients.register(cli)
    entities.register(cli)
    demo.register(cli)
    mail.register(cli)
    store.register(cli)
    outbox.register(cli)
    reviews.register(cli)


_register()


def main() -> None:
    # Flask's CLI reads FLASK_APP etc.; ours always builds the app from IDP_* settings.
    os.environ.pop("FLASK_APP", None)
    sys.exit(cli.main(prog_name="idp"))
