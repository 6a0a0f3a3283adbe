"""REST create-call throughput: ``POST /v1/calls`` with JWT verification, p50/p99 latency.

trunkline runs as ``trunkline serve`` would (real clock, SQLite file, one uvicorn worker)
in its own process; the client — aiohttp, a fixed number of requests in flight — runs
in this one, with one fresh RS256 JWT per request (signed before the clock starts, as
an SDK signs its own). Every request creates a call to a sim phone that rings, with
an inline NCCO; the app's event webhook is a separate process (``bench.ivr``'s app).
Run twice: with the SQLite file store ``serve`` uses by default, and with the in-memory
store (what the engine and the HTTP stack cost without the database). Also printed:
JWT verification alone, in process (``Authenticator.application``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.child import ChildServer
from bench.ivr import AppProcess
from trunkline.api.auth import Authenticator
from trunkline.domain import Application
from trunkline.keys import KeyPair, generate_key_pair
from trunkline.store.memory import MemoryStore

APP_ID = "be000000-0000-4000-8000-000000000001"
NUMBER = "447700900000"
CALLEE = "447700900001"


def tokens(key: KeyPair, n: int) -> list[str]:
    now = int(time.time())
    # load the PEM once: parsing (and checking) an RSA key costs far more than signing
    private = serialization.load_pem_private_key(key.private_key.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return [
        jwt.encode(
            {"application_id": APP_ID, "iat": now, "jti": str(uuid.uuid4()), "exp": now + 900},
            private,
            algorithm="RS256",
        )
        for _ in range(n)
    ]


async def serve(port: int, database: str, public_key_file: str, event_url: str) -> None:
    """The server process: trunkline on 127.0.0.1:``port`` (``python -m bench.rest serve``)."""
    import uvicorn

    from trunkline.api import create_app
    from trunkline.call.runtime import Runtime
    from trunkline.config import parse_config
    from trunkline.tuning import tune_gc

    cfg = parse_config(
        {
            "server": {"database": database, "log_level": "warning"},
            "applications": [
                {
                    "id": APP_ID,
                    "name": "bench",
                    "event_url": event_url,
                    "public_key_file": public_key_file,
                    "numbers": [NUMBER],
                }
            ],
        }
    )
    tune_gc()
    async with Runtime(cfg) as rt:
        rt.platform.sim.add_phone(CALLEE, answer="no_answer", keep_log=False)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(rt),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        await server.serve()


class ServerProcess(ChildServer):
    """trunkline itself in its own process, with the bench application's public key."""

    def __init__(self, tmp: Path, key: KeyPair, event_url: str, store: str) -> None:
        key_file = tmp / "app.pub"
        key_file.write_text(key.public_key)
        database = f"sqlite:///{tmp / 'rest.db'}" if store == "sqlite" else "memory:"
        super().__init__(
            lambda port: [
                sys.executable,
                "-m",
                "bench.rest",
                "serve",
                str(port),
                database,
                str(key_file),
                event_url,
            ],
            "trunkline",
        )

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


BODY = {
    "to": [{"type": "phone", "number": CALLEE}],
    "from": {"type": "phone", "number": NUMBER},
    "ncco": [{"action": "talk", "text": "Hello from the benchmark"}],
}


async def load(url: str, toks: list[str], concurrency: int) -> tuple[float, list[float], int]:
    """Send one create-call per token, ``concurrency`` at a time: (wall s, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    queue = iter(toks)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            for tok in queue:
                t0 = time.perf_counter()
                async with session.post(
                    f"{url}/v1/calls", json=BODY, headers={"Authorization": f"Bearer {tok}"}
                ) as r:
                    await r.read()
                    if r.status != 201:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        # warm-up: connections open, code paths hot
        warm = [next(queue) for _ in range(min(50, len(toks) // 10))]
        for tok in warm:
            async with session.post(
                f"{url}/v1/calls", json=BODY, headers={"Authorization": f"Bearer {tok}"}
            ) as r:
                await r.read()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return wall, latencies, errors


def jwt_only(key: KeyPair, n: int) -> float:
    store = MemoryStore()
    store.put_application(Application(id=APP_ID, name="bench", public_key=key.public_key))
    auth = Authenticator(store)
    headers = [f"Bearer {t}" for t in tokens(key, n)]
    auth.application(headers[0])  # loads and caches the key
    t0 = time.perf_counter()
    for h in headers:
        auth.application(h)
    return n / (time.perf_counter() - t0)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(*, quick: bool = False) -> None:
    n = 600 if quick else 3000
    concurrency = 16
    key = generate_key_pair()
    print("== REST: POST /v1/calls with RS256 JWT verification, one uvicorn worker over HTTP")
    for store in ("sqlite", "memory"):
        toks = tokens(key, n)
        with (
            tempfile.TemporaryDirectory() as tmp,
            AppProcess() as hooks,
            ServerProcess(Path(tmp), key, f"{hooks.url}/event", store) as server,
        ):
            wall, lat, errors = asyncio.run(load(server.url, toks, concurrency))
        done = len(lat)
        print(
            f"{store:>6} store: {done} create-call requests, {concurrency} in flight: "
            f"{done / wall:,.0f} requests/s; latency p50 {statistics.median(lat) * 1000:.2f} ms, "
            f"p99 {_pct(lat, 0.99) * 1000:.2f} ms; {errors} errors"
        )
    per_s = jwt_only(key, 500 if quick else 3000)
    print(f"JWT verification alone (PyJWT RS256, key cached): {per_s:,.0f} tokens/s")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        main(quick="--quick" in sys.argv)
