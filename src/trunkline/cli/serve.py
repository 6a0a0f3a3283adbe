"""``trunkline serve``: the HTTP API, the sim network and the engine on one port."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import Config
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.door.settings import Trunk
from trunkline.examples import callcentre

log = logging.getLogger(__name__)

EXAMPLE_APP_ID = "0c0ffee0-0000-4000-8000-00000000ca11"


async def serve(
    cfg: Config,
    *,
    host: str | None,
    port: int | None,
    example: bool,
    tls: tuple[str, str] | None = None,
) -> int:
    """Run until stopped. ``tls`` (certificate, key) overrides the config's TLS files."""
    host = host or cfg.host
    port = port if port is not None else cfg.port
    if tls is not None:
        cfg = dataclasses.replace(cfg, tls_cert=tls[0], tls_key=tls[1])
    scheme = "https" if cfg.tls_cert else "http"
    default_url = f"http://{cfg.host}:{cfg.port}"
    if host != cfg.host or port != cfg.port or (cfg.tls_cert and cfg.public_url == default_url):
        cfg = dataclasses.replace(cfg, host=host, port=port, public_url=f"{scheme}://{host}:{port}")
    if example and not cfg.sip.enabled:
        # the demo answers SIP too: anything on this machine may call the example number,
        # on 5060 unless something else has it (then on any free port, logged below)
        loopback = Trunk(name="loopback", sources=(ipaddress.ip_network("127.0.0.0/8"),))
        port_ = cfg.sip.port if _free(cfg.sip.host, cfg.sip.port) else 0
        cfg = dataclasses.replace(
            cfg, sip=dataclasses.replace(cfg.sip, enabled=True, port=port_, trunks=(loopback,))
        )
    async with Runtime(cfg) as rt:
        app: Starlette = create_app(rt)
        if example:
            base = f"{cfg.public_url}/example"
            rt.store.put_application(
                Application(
                    id=EXAMPLE_APP_ID,
                    name="example call centre",
                    answer_url=answer_webhook(f"{base}/answer"),
                    event_url=event_webhook(f"{base}/event"),
                )
            )
            rt.store.link_number(callcentre.CALL_CENTRE, EXAMPLE_APP_ID)
            rt.platform.sim.add_phone(callcentre.MAIN_AGENT, answer="busy", ring=2)
            rt.platform.sim.add_phone(callcentre.NEXT_AGENT, ring=3)
            rt.platform.sim.add_phone("447700900100")
            app.router.routes.append(Mount("/example", app=callcentre.create_app(base)))
            log.info(
                "example call centre on %s: call it with POST %s/sim/v1/phones/447700900100/calls "
                '{"to": "%s"}',
                callcentre.CALL_CENTRE,
                cfg.public_url,
                callcentre.CALL_CENTRE,
            )
            if rt.doors.sip_address is not None:
                sip_host, sip_port = rt.doors.sip_address
                log.info(
                    "or over SIP: sipp -sn uac -s %s %s:%s (or a softphone dialling sip:%s@%s:%s)",
                    callcentre.CALL_CENTRE,
                    sip_host,
                    sip_port,
                    callcentre.CALL_CENTRE,
                    sip_host,
                    sip_port,
                )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=cfg.log_level,
                lifespan="off",
                ssl_certfile=cfg.tls_cert,
                ssl_keyfile=cfg.tls_key,
            )
        )
        await server.serve()
    return 0


def _free(host: str, port: int) -> bool:
    """Whether UDP and TCP ``host:port`` can be bound now."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True
