"""The walls of the architecture, read from the imports of every module under idp/.

Imports inside functions count too (they are imports all the same). The walls:
- the directory and its rules know nothing of the web, the protocol, the clients or
  the keys: the pages, the CLI and the OIDC layer call them, never the reverse;
- the shared kernel (`idp.core`) imports no domain;
- the relying-party kit imports nothing of the provider (applications install it alone);
- the login and consent pages talk to the authorization pipeline only through the
  interactions of the web kernel: they import nothing from `idp.oidc`;
- a page package never imports another page package's pages (its views, forms...);
  it may use another package's domain modules (`service`, `models`);
- the web kernel (sessions, access, interactions) imports no page and no protocol;
- a page's forms derive from the kernel's `Form`, never from Flask-WTF directly;
- the short-lived store knows nothing of the directory.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "idp"

# A page package is one with views, apart from the protocol and the relying-party kit.
PAGE_PACKAGES = {f"idp.{views.parent.name}" for views in PACKAGE.glob("*/views.py")} \
    - {"idp.oidc", "idp.rp"}
PROVIDER_LAYERS = {"idp.web", "idp.oidc", "idp.clients", "idp.keys", "idp.claims", "idp.cli",
                   "idp.rp", "idp.mail", "idp.outbox", "idp.app"} | PAGE_PACKAGES
DOMAIN_MODULES = {"service", "models"}  # what a page package may use of another one

# (who, may not import, why)
WALLS: list[tuple[str, set[str], str]] = [
    ("idp.directory", PROVIDER_LAYERS, "the directory imports no web, protocol, client "
                                       "or key package"),
    ("idp.core", {"idp.directory"} | PROVIDER_LAYERS, "the shared kernel imports no domain"),
    ("idp.rp", {"idp"}, "the relying-party kit imports nothing of the provider"),
    ("idp.login", {"idp.oidc"}, "the login page talks to the pipeline by interactions"),
    ("idp.consent", {"idp.oidc"}, "the consent pages talk to the pipeline by interactions"),
    ("idp.web", {"idp.oidc"} | PAGE_PACKAGES, "the web kernel serves the pages and the "
                                              "pipeline, it imports neither"),
    *[(page, {"flask_wtf"}, "a page's forms derive from idp.web.forms.Form (French messages)")
      for page in sorted(PAGE_PACKAGES)],
    ("idp.store", {"idp.directory"}, "the short-lived store knows nothing of the directory"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, source: str, is_package: bool) -> set[str]:
    """Every module `source` imports, anywhere in it (`from a import b` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def sources() -> dict[str, tuple[str, bool]]:
    return {module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
            for path in PACKAGE.rglob("*.py")}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def page_package(name: str) -> str | None:
    return next((p for p in PAGE_PACKAGES if within(name, p)), None)


def violations(modules: dict[str, tuple[str, bool]]) -> list[str]:
    found = []
    for module, (source, is_package) in sorted(modules.items()):
        targets = imported(module, source, is_package)
        for who, forbidden, why in WALLS:
            if not within(module, who):
                continue
            for target in sorted(targets):
                if any(within(target, f) for f in forbidden) and not within(target, who):
                    found.append(f"{module} imports {target}: {why}")
        home = page_package(module)
        for target in sorted(targets):
            other = page_package(target)
            if home and other and other != home and target != other \
                    and target.split(".")[2] not in DOMAIN_MODULES:
                found.append(f"{module} imports {target}: a page package imports another "
                             "page package's pages")
    return found


def test_every_module_keeps_to_its_walls() -> None:
    assert violations(sources()) == []


@pytest.mark.parametrize(("module", "line"), [
    ("idp.directory.services", "def later():\n    from idp.oidc import tokens\n"),
    ("idp.directory.rules", "import idp.web.access\n"),
    ("idp.rp.flow", "from idp.directory import services\n"),
    ("idp.consent.views", "def resume():\n    from idp.oidc.server import query_client\n"),
    ("idp.admin.views", "from idp.selfservice.views import bp\n"),
    ("idp.store.redis_store", "from ..directory.models import Account\n"),
    ("idp.web.interactions", "from idp.oidc.authorization import pipeline\n"),
    ("idp.core.audit", "from idp.directory import rules\n"),
    ("idp.login.forms", "from flask_wtf import FlaskForm\n"),
])
def test_a_forbidden_import_is_caught(module: str, line: str) -> None:
    modules = sources()
    source, is_package = modules[module]
    modules[module] = (source + "\n" + line, is_package)
    assert any(v.startswith(module + " imports") for v in violations(modules))


def test_every_package_has_an_init() -> None:
    # Alembic's versions folder is a folder of scripts loaded by path, not a package.
    missing = [str(folder.relative_to(ROOT)) for folder in PACKAGE.rglob("*")
               if folder.is_dir() and folder.name != "__pycache__"
               and folder != PACKAGE / "migrations" / "versions"
               and any(folder.glob("*.py")) and not (folder / "__init__.py").exists()]
    assert missing == []


def test_the_directory_rules_load_neither_flask_nor_sqlalchemy() -> None:
    probe = ("import sys, idp.directory.rules\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'flask', 'flask_sqlalchemy', 'sqlalchemy', 'werkzeug'}))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout.strip()
    assert loaded == "[]"
