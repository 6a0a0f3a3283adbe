"""trunkline's pytest plugin: the ``voice`` fixture, and call timelines in failure reports.

Installed with trunkline (entry point ``pytest11``), so any test can ask for it::

    def test_menu(voice):
        app = voice.application(my_app)
        call = voice.phone("447700900001").call(app.number)
        call.wait_until("completed")
        assert call.heard("Welcome")

When a test that used ``voice`` fails, its report gains a "trunkline timeline"
section: every conversation of the test with its legs, actions, webhooks (request and
reply bodies), events, and what each phone heard and did. Options for the network
go in a marker: ``@pytest.mark.voice(seed=1, raise_app_exceptions=False)``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trunkline.testing.kit import VoiceNetwork

# The kit is imported when a test first asks for `voice`, not when pytest starts.
_NETWORKS: pytest.StashKey[list[VoiceNetwork]] = pytest.StashKey()
_OPTIONS = frozenset({"seed", "raise_app_exceptions", "base_url"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "voice(seed=0, raise_app_exceptions=True, base_url=...): "
        "options for trunkline's `voice` fixture",
    )


@pytest.fixture
def voice(request: pytest.FixtureRequest) -> Iterator[VoiceNetwork]:
    """A trunkline with a sim phone network on a virtual clock (see trunkline.testing.kit)."""
    from trunkline.testing.kit import VoiceNetwork

    marker = request.node.get_closest_marker("voice")
    options = dict(marker.kwargs) if marker is not None else {}
    unknown = set(options) - _OPTIONS
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.voice: unknown option(s) {sorted(unknown)}")
    network = VoiceNetwork(**options)
    networks = request.node.stash.setdefault(_NETWORKS, [])
    networks.append(network)
    try:
        yield network
    finally:
        networks.remove(network)  # the report of the test itself is made by now
        network.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call":
        for network in item.stash.get(_NETWORKS, []):
            try:
                text = network.timeline()
            except Exception as exc:  # a report must never hide the test's own failure
                text = f"(the timeline could not be built: {exc!r})"
            if text:
                report.sections.append(("trunkline timeline", text))
    return report
