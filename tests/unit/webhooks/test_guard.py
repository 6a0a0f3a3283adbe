"""The URL guard: literal addresses, metadata names, resolved addresses, strict mode."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from trunkline.testing import ServedApp, WebhookApp
from trunkline.webhooks import WebhookClient, WebhookRequest
from trunkline.webhooks.guard import ForbiddenAddress, GuardedResolver, UrlGuard

ALWAYS_REFUSED = [
    "169.254.169.254",
    "169.254.0.1",
    "169.254.170.2",
    "fe80::1",
    "fe80::1%eth0",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "100.100.100.200",
    "168.63.129.16",
    "192.0.0.192",
]
PRIVATE = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "::1", "fd12::1", "100.64.0.1"]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
@pytest.mark.parametrize("strict", [False, True])
def test_link_local_and_metadata_addresses_are_always_refused(address: str, strict: bool) -> None:
    assert UrlGuard(strict=strict).address_problem(address) is not None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_allowed_by_default_refused_when_strict(address: str) -> None:
    assert UrlGuard().address_problem(address) is None
    assert UrlGuard(strict=True).address_problem(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed_even_when_strict(address: str) -> None:
    assert UrlGuard(strict=True).address_problem(address) is None


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "METADATA.google.internal.", "metadata", "[fe80::1]"]
)
def test_metadata_host_names_are_refused_before_any_lookup(host: str) -> None:
    assert UrlGuard().host_problem(host) is not None


def test_localhost_is_refused_by_name_only_in_strict_mode() -> None:
    assert UrlGuard().host_problem("localhost") is None
    assert UrlGuard(strict=True).host_problem("localhost") is not None
    assert UrlGuard().host_problem("app.example.com") is None


class FixedNames(AbstractResolver):
    """Every name resolves to the given addresses."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_refuses_a_name_with_one_forbidden_address() -> None:
    resolver = GuardedResolver(UrlGuard(), FixedNames("93.184.216.34", "169.254.169.254"))
    with pytest.raises(ForbiddenAddress) as info:
        await resolver.resolve("evil.example.com", 80)
    assert info.value.address == "169.254.169.254"
    ok = GuardedResolver(UrlGuard(), FixedNames("93.184.216.34"))
    assert [r["host"] for r in await ok.resolve("good.example.com", 80)] == ["93.184.216.34"]


def req(url: str) -> WebhookRequest:
    return WebhookRequest(url=url, method="POST", body={"a": 1}, kind="status")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_the_client_refuses_forbidden_literals_and_names(url: str) -> None:
    async with WebhookClient(guard=UrlGuard()) as client:
        res = await client.send(req(url))
    assert (res.status, res.error) == (None, "forbidden address")
    assert not res.retryable


async def test_a_name_resolving_to_metadata_is_refused_after_dns() -> None:
    names = FixedNames("169.254.169.254")
    async with WebhookClient(guard=UrlGuard(), resolver=names) as client:
        res = await client.send(req("http://rebind.example.com/event"))
    assert res.error == "forbidden address"
    assert names.asked == ["rebind.example.com"]


async def test_strict_mode_refuses_loopback_that_the_default_allows() -> None:
    app = WebhookApp()
    app.route("/event", None)
    async with ServedApp(app.asgi()) as served:
        async with WebhookClient(guard=UrlGuard()) as client:
            assert (await client.send(req(f"{served.url}/event"))).status == 204
        async with WebhookClient(guard=UrlGuard(strict=True)) as client:
            res = await client.send(req(f"{served.url}/event"))
        assert res.error == "forbidden address"
        # a name that resolves to loopback is refused after resolution, too
        names = FixedNames("127.0.0.1")
        url = f"http://app.internal.test:{served.port}/event"
        async with WebhookClient(guard=UrlGuard(strict=True), resolver=names) as client:
            assert (await client.send(req(url))).error == "forbidden address"
        async with WebhookClient(guard=UrlGuard(), resolver=FixedNames("127.0.0.1")) as client:
            assert (await client.send(req(url))).status == 204
    assert len(app.requests_to("/event")) == 2


async def test_redirects_are_not_followed() -> None:
    """A 3xx to the metadata address is the answer itself: nothing fetches the target."""
    from starlette.responses import RedirectResponse

    app = WebhookApp()
    app.route("/answer", RedirectResponse("http://169.254.169.254/latest", status_code=302))
    async with ServedApp(app.asgi()) as served, WebhookClient(guard=UrlGuard()) as client:
        res = await client.send(req(f"{served.url}/answer"))
    assert res.status == 302 and not res.ok
    assert res.headers["location"] == "http://169.254.169.254/latest"
