"""``trunkline apps …``, ``trunkline numbers …`` and ``trunkline dev-ca``.

``apps`` and ``numbers`` work on the database the configuration names (the same one
``trunkline serve`` uses), so what they change is what a running server sees; the
configuration file stays the declarative way and is applied first. ``dev-ca`` makes a
local certificate authority and a server certificate for ``trunkline serve --tls-cert``.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable
from pathlib import Path

from trunkline.config import apply_config
from trunkline.devca import DevCA
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.errors import ConfigError, NotFound, StoreError
from trunkline.keys import generate_key_pair, is_public_key
from trunkline.store import Store, open_store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    apps = subparsers.add_parser("apps", help="list, create and delete applications")
    apps.add_argument("--config", help="TOML config file (its database is used)")
    cmds = apps.add_subparsers(dest="apps_command", required=True, metavar="COMMAND")
    cmds.add_parser("list", help="list applications as JSON lines").set_defaults(func=apps_list)
    create = cmds.add_parser("create", help="create an application and its key pair")
    create.add_argument("name")
    create.add_argument("--answer-url")
    create.add_argument("--event-url")
    create.add_argument("--public-key-file", help="use this PEM public key (no pair is made)")
    create.add_argument(
        "--private-key-out", help="write the new private key here (default: NAME.key)"
    )
    create.set_defaults(func=apps_create)
    delete = cmds.add_parser("delete", help="delete an application (its numbers are unlinked)")
    delete.add_argument("id")
    delete.set_defaults(func=apps_delete)

    numbers = subparsers.add_parser("numbers", help="list numbers and link them to applications")
    numbers.add_argument("--config", help="TOML config file (its database is used)")
    ncmds = numbers.add_subparsers(dest="numbers_command", required=True, metavar="COMMAND")
    ncmds.add_parser("list", help="numbers and their applications").set_defaults(func=numbers_list)
    link = ncmds.add_parser("link", help="link a number (new or known) to an application")
    link.add_argument("number")
    link.add_argument("app_id")
    link.set_defaults(func=numbers_link)
    unlink = ncmds.add_parser("unlink", help="unlink a number (it stays known)")
    unlink.add_argument("number")
    unlink.set_defaults(func=numbers_unlink)

    ca = subparsers.add_parser(
        "dev-ca", help="make a local CA and a TLS certificate for trunkline serve"
    )
    ca.add_argument("--dir", default="var/tls", help="where to keep the CA and the certificate")
    ca.add_argument(
        "--name",
        action="append",
        help="host name or IP address for the certificate (repeatable; "
        "default: localhost and 127.0.0.1)",
    )
    ca.set_defaults(func=dev_ca)


def _store(args: argparse.Namespace) -> Store:
    from trunkline.cli.main import _config

    cfg = _config(args.config)
    store = open_store(cfg.database)
    apply_config(cfg, store)
    return store


def _run(args: argparse.Namespace, work: Callable[[Store], int]) -> int:
    try:
        store = _store(args)
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}")
        return 2
    try:
        return work(store)
    except (NotFound, StoreError) as exc:
        print(f"error: {exc}")
        return 1
    finally:
        store.close()


def apps_list(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        for app in store.list_applications():
            print(
                json.dumps(
                    {
                        "id": app.id,
                        "name": app.name,
                        "answer_url": app.answer_url.address if app.answer_url else None,
                        "event_url": app.event_url.address if app.event_url else None,
                        "has_public_key": app.public_key is not None,
                    }
                )
            )
        return 0

    return _run(args, work)


def apps_create(args: argparse.Namespace) -> int:
    if args.public_key_file:
        try:
            public_key = Path(args.public_key_file).read_text()
        except OSError as exc:
            print(f"error: cannot read {args.public_key_file}: {exc.strerror or exc}")
            return 1
        if not is_public_key(public_key):
            print(f"error: {args.public_key_file} is not a PEM RSA public key")
            return 1
        private_key = None
    else:
        pair = generate_key_pair()
        public_key, private_key = pair.public_key, pair.private_key
    app = Application(
        id=str(uuid.uuid4()),
        name=args.name,
        answer_url=answer_webhook(args.answer_url) if args.answer_url else None,
        event_url=event_webhook(args.event_url) if args.event_url else None,
        public_key=public_key,
    )

    def work(store: Store) -> int:
        store.put_application(app)
        print(f"application {app.id} ({app.name})")
        if private_key is not None:
            out = Path(args.private_key_out or f"{args.name}.key")
            out.touch(mode=0o600, exist_ok=True)
            out.write_text(private_key)
            print(f"private key written to {out}")
        return 0

    return _run(args, work)


def apps_delete(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        if not store.delete_application(args.id):
            print(f"error: no application {args.id}")
            return 1
        print(f"deleted {args.id}")
        return 0

    return _run(args, work)


def numbers_list(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        for number, app_id in store.list_numbers():
            print(f"{number}\t{app_id or '-'}")
        return 0

    return _run(args, work)


def numbers_link(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        store.link_number(args.number.lstrip("+"), args.app_id)
        print(f"{args.number} -> {args.app_id}")
        return 0

    return _run(args, work)


def numbers_unlink(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        number = args.number.lstrip("+")
        if number not in dict(store.list_numbers()):
            print(f"error: {number} is not a known number")
            return 1
        store.link_number(number, None)
        print(f"{number} unlinked")
        return 0

    return _run(args, work)


def dev_ca(args: argparse.Namespace) -> int:
    names: list[str] = args.name or ["localhost", "127.0.0.1"]
    try:
        ca = DevCA.create(args.dir)
        cert, key = ca.issue(args.dir, names)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}")
        return 1
    print(f"CA certificate:     {ca.cert_path}")
    print(f"server certificate: {cert} ({', '.join(names)})")
    print(f"server key:         {key}")
    print()
    print(f"trunkline serve --tls-cert {cert} --tls-key {key}")
    print(f"export REQUESTS_CA_BUNDLE={ca.cert_path.resolve()}  # Python SDK")
    print(f"export NODE_EXTRA_CA_CERTS={ca.cert_path.resolve()}  # Node SDK")
    return 0
