"""`python -m demo_apps`: serve the demo SAGA Directeurs and Tableau de bord ESMS.

Their client credentials come from the file `idp demo` writes (DEMO_APPS_CONFIG, else
instance/demo-apps.toml); see demo_apps.config for the other settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from flask import Flask
from werkzeug.serving import make_server

from demo_apps import config, saga, tdb

APPS = (("SAGA Directeurs", saga.create_app), ("Tableau de bord ESMS", tdb.create_app))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_apps", description=__doc__)
    parser.add_argument("--config", help="the TOML file written by `idp demo` "
                                         f"(default: ${config.CONFIG_ENV} or "
                                         f"{config.DEFAULT_CONFIG})")
    args = parser.parse_args(argv)
    if args.config:
        os.environ[config.CONFIG_ENV] = args.config
    if config.config_file() is None:
        print("No demo configuration: run `idp demo` first (it registers the demo "
              "applications and writes instance/demo-apps.toml).", file=sys.stderr)
        return 2
    servers = []
    for name, factory in APPS:
        app: Flask = factory()
        settings = app.config["DEMO"]
        if not settings["client_id"]:
            print(f"{name}: no client_id in the configuration.", file=sys.stderr)
            return 2
        server = make_server(settings["host"], settings["port"], app, threaded=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"{name}: http://{settings['host']}:{settings['port']}/", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
