"""The `idp` command line: in-process with click's runner, and the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import Result
from flask import Flask

from idp.cli import cli
from idp.directory.demo import demo_data
from tests.support.directory import finess

IDP = Path(sys.executable).parent / "idp"
PASSWORD = "Mot-de-passe-2026!"



def invoke(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(cli, list(args), input=input)


def ok(app: Flask, *args: str, input: str | None = None) -> Result:
    result = invoke(app, *args, input=input)
    assert result.exit_code == 0, (args, result.output)
    return result


def ok_json(app: Flask, *args: str, input: str | None = None) -> object:
    return json.loads(ok(app, *args, "--json", input=input).stdout)


def one_line_error(result: Result) -> str:
    """The error of a failed command: exactly one line on stderr, no traceback."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def csv_file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def entities_csv(tmp_path: Path, bad_line: int | None = None, rows: int = 50) -> Path:
    """An EJ and its establishments; the FINESS key of `bad_line` (file line) is wrong."""
    ej = finess("58000301")
    lines = ["finess;type;name;city;finess_ej", f"{ej};EJ;ASSOCIATION MORVAN;Nevers;"]
    for n in range(rows):
        number = finess(f"580{n + 10:05d}")
        if len(lines) + 1 == bad_line:
            number = number[:-1] + str((int(number[-1]) + 1) % 10)
        lines.append(f"{number};ET;ESMS {n};Nevers;{ej}")
    return csv_file(tmp_path / ("bad.csv" if bad_line else "entities.csv"), lines)


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


# --- in-process -----------------------------------------------------------------------


def test_every_command_and_group_has_help(sqlite_app: Flask) -> None:
    commands = list(walk(cli))
    assert {("demo",), ("entities", "import"), ("entities", "list"),
            ("entities", "show")} <= set(commands)
    for path in [(), *commands]:
        result = ok(sqlite_app, *path, "--help")
        assert result.stdout.startswith("Usage: "), path


def test_the_demo_is_not_loaded_on_an_https_issuer_unless_asked(
        make_app: Callable[..., Flask], sqlite_url: str) -> None:
    app = make_app(sqlite_url, server={"issuer": "https://plage.example.fr"})
    ok(app, "init")
    refused = invoke(app, "demo")
    assert refused.exit_code == 1 and "passwords are public" in refused.stderr
    assert "463471" not in refused.output
    assert "463471" in ok(app, "demo", "--on-https").stdout


def test_demo_prints_identifiers_and_passwords(sqlite_app: Flask) -> None:
    ok(sqlite_app, "init")
    text = ok(sqlite_app, "demo").stdout
    for person in demo_data()["people"]:
        assert person["identifier"] in text and person["password"] in text

    again = ok_json(sqlite_app, "demo")
    assert isinstance(again, dict) and again["changes"] == 0
    camille = next(p for p in again["people"] if p["identifier"] == "463471")
    assert [(p["entity"], p["roles"]) for p in camille["profiles"]] == [
        ("580003028", ["ANCRE/GESTIONNAIRE_FICHIERS"]), ("580003036", ["ANCRE/LECTEUR"])]


def test_accounts_profiles_and_exclusive_roles(sqlite_app: Flask, tmp_path: Path) -> None:
    ok(sqlite_app, "init")
    ok(sqlite_app, "entities", "import", str(entities_csv(tmp_path, rows=2)))
    account = ok_json(sqlite_app, "accounts", "create", "--given-name", "Élodie",
                      "--family-name", "Martin", "--email", "elodie.martin@example.org",
                      input=f"{PASSWORD}\n")
    assert isinstance(account, dict)
    profile = ok_json(sqlite_app, "profiles", "create", "--account", account["identifier"],
                      "--entity", finess("58000010"), "--label", "Direction ESMS 0")
    assert isinstance(profile, dict) and profile["entity"] == finess("58000010")
    pid = str(profile["id"])

    granted = ok_json(sqlite_app, "habilitations", "grant", "--profile", pid,
                      "--domain", "ANCRE", "--role", "GESTIONNAIRE_FICHIERS")
    assert isinstance(granted, dict) and granted["roles"] == ["ANCRE/GESTIONNAIRE_FICHIERS"]
    refused = invoke(sqlite_app, "habilitations", "grant", "--profile", pid,
                     "--domain", "ANCRE", "--role", "LECTEUR")
    message = one_line_error(refused)
    assert "« Gestionnaire de fichiers » et « Lecteur » du domaine ANCRE sont exclusifs" in message

    shown = ok_json(sqlite_app, "accounts", "show", account["identifier"])
    assert isinstance(shown, dict)
    assert shown["profiles"][0]["roles"] == ["ANCRE/GESTIONNAIRE_FICHIERS"]


def test_weak_password_on_stdin_is_refused_in_french(sqlite_app: Flask) -> None:
    ok(sqlite_app, "catalogue", "load")
    result = invoke(sqlite_app, "accounts", "create", "--given-name", "Paul",
                    "--family-name", "Durand", "--email", "paul@example.org", input="court\n")
    assert "Le mot de passe doit contenir au moins" in one_line_error(result)


def test_catalogue_load_list_add_role(sqlite_app: Flask) -> None:
    loaded = ok_json(sqlite_app, "catalogue", "load")
    assert isinstance(loaded, dict) and loaded["domains"] >= 7
    added = ok_json(sqlite_app, "catalogue", "add-role", "--domain", "ANCRE", "--role",
                    "valideur", "--label", "Valideur")
    assert added == {"domain": "ANCRE", "role": "VALIDEUR", "label": "Valideur"}
    listing = ok_json(sqlite_app, "catalogue", "list")
    assert isinstance(listing, list)
    ancre = next(d for d in listing if d["code"] == "ANCRE")
    assert {r["code"] for r in ancre["roles"]} == {"GESTIONNAIRE_FICHIERS", "LECTEUR",
                                                   "VALIDEUR"}
    assert "  VALIDEUR: Valideur" in ok(sqlite_app, "catalogue", "list").stdout
    error = one_line_error(invoke(sqlite_app, "catalogue", "add-role", "--domain", "NOUVEAU",
                                  "--role", "X", "--label", "X"))
    assert "--domain-label" in error


def test_keys_list_and_rotate(sqlite_app: Flask) -> None:
    ok(sqlite_app, "init")
    before = ok_json(sqlite_app, "keys", "list")
    assert isinstance(before, list) and {k["alg"] for k in before} == {"RS256", "ES256"}
    rotated = ok_json(sqlite_app, "keys", "rotate", "--alg", "ES256")
    assert isinstance(rotated, dict) and rotated["alg"] == "ES256"
    after = ok_json(sqlite_app, "keys", "list")
    assert isinstance(after, list) and len(after) == len(before) + 1
    assert rotated["kid"] in {k["kid"] for k in after}


def test_entities_import_list_show(sqlite_app: Flask, tmp_path: Path) -> None:
    path = entities_csv(tmp_path, rows=3)
    text = ok(sqlite_app, "entities", "import", str(path)).stdout
    assert text.strip() == ("Imported entities.csv: 4 created, 0 updated, 0 unchanged; "
                            "3 managing OG(s) derived.")
    again = ok_json(sqlite_app, "entities", "import", str(path))
    assert again == {"imported": True, "rows": 4, "created": 0, "updated": 0, "unchanged": 4,
                     "og_derived": 3, "others_updated": 0}

    listed = ok_json(sqlite_app, "entities", "list", "--type", "og")
    assert isinstance(listed, list) and [e["code"] for e in listed] == [finess("58000301")]
    assert listed[0]["type"] == "OG" and listed[0]["region"] == "27"
    searched = ok(sqlite_app, "entities", "list", "--search", "esms", "--limit", "2").stdout
    assert searched.count("ESMS") == 2 and "--limit" in searched

    shown = ok_json(sqlite_app, "entities", "show", finess("58000010"))
    assert isinstance(shown, dict)
    assert shown["managing_og"] == {"code": finess("58000301"), "name": "ASSOCIATION MORVAN"}
    assert "Managing OG:" in ok(sqlite_app, "entities", "show", finess("58000010")).stdout


def test_entities_bad_input_is_one_line(sqlite_app: Flask, tmp_path: Path) -> None:
    bad = entities_csv(tmp_path, bad_line=42)
    message = one_line_error(invoke(sqlite_app, "entities", "import", str(bad)))
    assert message.startswith("Error: import rejected, nothing changed (1 error): line 42: ")
    assert ok_json(sqlite_app, "entities", "list") == []

    result = invoke(sqlite_app, "entities", "import", "--json", str(bad))
    assert json.loads(result.stdout)["errors"][0].startswith("line 42: ")
    assert "line 42" in one_line_error(result)

    missing = one_line_error(invoke(sqlite_app, "entities", "import", str(tmp_path / "no.csv")))
    assert "cannot read" in missing
    assert "Entité inconnue" in one_line_error(invoke(sqlite_app, "entities", "show", "NOPE"))


# --- the console script ---------------------------------------------------------------


@pytest.fixture
def idp_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "FLASK_"))}
    env |= {
        "IDP_DATABASE__URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        "IDP_SERVER__INSTANCE_PATH": str(tmp_path / "instance"),
        "IDP_KEYS__PASSPHRASE": "test-passphrase",
    }
    return env


def run_idp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(IDP), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_console_script(idp_env: dict[str, str], tmp_path: Path) -> None:
    helped = run_idp(idp_env, "--help")
    assert helped.returncode == 0 and "entities" in helped.stdout and "demo" in helped.stdout

    init = run_idp(idp_env, "init", "--json")
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["domains"] >= 7

    imported = run_idp(idp_env, "entities", "import", "--json", str(entities_csv(tmp_path)))
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["created"] == 51
    assert imported.stderr == ""  # no progress bar when stderr is not a terminal

    bad = run_idp(idp_env, "entities", "import", str(entities_csv(tmp_path, bad_line=42)))
    assert bad.returncode != 0 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "line 42" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_console_script_without_init_says_so(idp_env: dict[str, str]) -> None:
    result = run_idp(idp_env, "entities", "list")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "idp init" in result.stderr


def test_import_progress_is_drawn_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    import contextlib

    from idp.cli.entities import _ProgressBars

    with contextlib.ExitStack() as stack:
        bars = _ProgressBars(stack)
        bars.enabled = True  # as when stderr is a terminal
        for phase, done in (("checking", 1000), ("checking", 2000), ("writing", 2000)):
            bars(phase, done, 2000)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Checking" in captured.err and "Writing" in captured.err
