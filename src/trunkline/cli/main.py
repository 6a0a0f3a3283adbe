"""``trunkline`` — serve the platform, run the demo, validate NCCOs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from trunkline.cli import admin, demo, ncco_cmd
from trunkline.config import Config, load_config
from trunkline.errors import ConfigError


def _config(path: str | None) -> Config:
    chosen = path or os.environ.get("TRUNKLINE_CONFIG")
    if chosen is None and Path("trunkline.toml").exists():
        chosen = "trunkline.toml"
    return load_config(chosen)


def cmd_serve(args: argparse.Namespace) -> int:
    from trunkline.cli.serve import serve
    from trunkline.media.pump import install_uvloop
    from trunkline.tuning import tune_gc

    try:
        cfg = _config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, cfg.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: give --tls-cert and --tls-key together", file=sys.stderr)
        return 2
    tune_gc()
    install_uvloop()  # the media pump's packet rate needs it (see notes: 33k vs 150k pps)
    return asyncio.run(
        serve(
            cfg,
            host=args.host,
            port=args.port,
            example=args.example,
            tls=(args.tls_cert, args.tls_key) if args.tls_cert else None,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trunkline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API, the sim network and the engine")
    serve.add_argument(
        "--config", help="TOML config file (default: $TRUNKLINE_CONFIG or ./trunkline.toml)"
    )
    serve.add_argument("--host", help="listen address (overrides the config)")
    serve.add_argument("--port", type=int, help="listen port (overrides the config)")
    serve.add_argument(
        "--example",
        action="store_true",
        help="also serve the bundled call-centre app and link it to 447700900000",
    )
    serve.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    serve.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    serve.set_defaults(func=cmd_serve)

    demo.register(sub)
    ncco_cmd.register(sub)
    admin.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
