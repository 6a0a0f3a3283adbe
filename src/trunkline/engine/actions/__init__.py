"""One module per NCCO action, found through this registry."""

from __future__ import annotations

from typing import Any

from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.actions.connect import ConnectRunner
from trunkline.engine.actions.conversation import ConversationRunner
from trunkline.engine.actions.input import InputRunner
from trunkline.engine.actions.notify import NotifyRunner
from trunkline.engine.actions.record import RecordRunner
from trunkline.engine.actions.stream import StreamRunner
from trunkline.engine.actions.talk import TalkRunner
from trunkline.engine.actions.transfer import TransferRunner
from trunkline.engine.actions.wait import WaitRunner
from trunkline.ncco import Action

REGISTRY: dict[str, type[ActionRunner[Any]]] = {
    runner.name: runner
    for runner in (
        TalkRunner,
        StreamRunner,
        InputRunner,
        RecordRunner,
        ConversationRunner,
        ConnectRunner,
        NotifyRunner,
        WaitRunner,
        TransferRunner,
    )
}


def runner_for(action: Action) -> type[ActionRunner[Any]]:
    return REGISTRY[action.action]


__all__ = ["REGISTRY", "ActionRunner", "runner_for"]
