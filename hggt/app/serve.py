"""Starting the app for a dataset, and the links people open: kept free of torch and Prefect so
the server starts in a second and stays small.

annotation/app.json (written by export) records where the campaign is served: host, port and
the extra host names; `serve` uses them unless told otherwise and prints the links for the
address it actually listens on.
"""

from __future__ import annotations

import json
import socket

from hggt.core import catalog
from hggt.core.annotation.store import AnnotationStore

WILDCARDS = {"0.0.0.0", "::", ""}


def app_settings(store: AnnotationStore) -> dict:
    path = store.path.parent / catalog.APP_SETTINGS
    return json.loads(path.read_text()) if path.is_file() else {}


def write_app_settings(store: AnnotationStore, host: str, port: int, allowed_hosts: list[str]) -> None:
    path = store.path.parent / catalog.APP_SETTINGS
    path.write_text(json.dumps({"host": host, "port": port, "allowed_hosts": list(allowed_hosts)}, indent=2))


def public_name(host: str) -> str:
    """The name to put in links: a wildcard bind address is no address, so use the machine's name."""
    return socket.getfqdn() if host in WILDCARDS else host


def base_url(host: str, port: int) -> str:
    name = public_name(host)
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def annotator_links(tokens: dict[str, str], host: str, port: int) -> dict[str, str]:
    return {name: f"{base_url(host, port)}/#token={token}" for name, token in sorted(tokens.items())}


def admin_link(token: str, host: str, port: int) -> str:
    return f"{base_url(host, port)}/admin#admin={token}"


def saved_links(store: AnnotationStore, host: str, port: int) -> dict[str, str]:
    """The links of annotation/tokens.txt, for the address the app is served on."""
    path = store.path.parent / catalog.ANNOTATOR_TOKENS
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        name, _, fragment = line.partition("\t")
        if fragment.startswith("#token="):
            out[name] = f"{base_url(host, port)}/{fragment}"
    return out


def allowed_names(host: str, extra: list[str]) -> list[str]:
    names = list(extra)
    if host in WILDCARDS:  # reached by the machine's name on the lab network
        names += [socket.gethostname(), socket.getfqdn()]
    return names


def run(store: AnnotationStore, host: str, port: int, allowed_hosts: list[str], print_fn=print) -> None:
    import uvicorn

    from hggt.app.server import create_app

    app = create_app(store, host=host, allowed_hosts=allowed_names(host, allowed_hosts))
    print_fn(f"Annotation app on {base_url(host, port)}/ (Ctrl-C to stop). Links:")
    for name, link in saved_links(store, host, port).items():
        print_fn(f"  {name}: {link}")
    admin = store.path.parent / catalog.ADMIN_TOKEN
    fragment = admin.read_text().strip() if admin.is_file() else ""
    print_fn(f"Coordinator's page (read-only): {base_url(host, port)}/admin{fragment}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
