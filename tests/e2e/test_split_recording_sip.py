"""``record`` with ``split: "conversation"`` and three channels, over real SIP.

Three baresip softphones, each speaking a tone of its own, join one named conversation;
the first one's NCCO records its leg with ``channels: 3`` before joining. The WAV must
have three channels: the recorded party on channel 0 all along, the second party on
channel 1 from when it joined, the third on channel 2 from when it joined (silent before).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
from test_conversations_sip import (
    Heard,
    call,
    clock_time,
    hang_up_all,
    hold,
    in_conversation,
    parties,
    users,
)
from test_sip_door import app_base, trunkline

from trunkline.files import file_id_of
from trunkline.testing.webapp import WebhookApp


async def test_a_three_channel_split_recording_gives_each_party_its_channel(
    tmp_path: Path,
) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/record", None)
    tones = {"ann": 500.0, "bea": 700.0, "cid": 1100.0}
    join = {"action": "conversation", "name": "split-three"}
    sip = {"trunks": [], "users": users(*tones)}
    async with trunkline(app, sip=sip) as rt, parties(rt, tmp_path, tones) as group:
        ann, bea, cid = group["ann"], group["bea"], group["cid"]
        record = {
            "action": "record",
            "split": "conversation",
            "channels": 3,
            "eventUrl": [f"{app_base(rt)}/record"],
        }
        await call(rt, ann, [record, join])
        alone = await in_conversation(ann)
        await hold(2.0)
        await call(rt, bea, [join])
        two = await in_conversation(bea)
        await hold(3.0)
        await call(rt, cid, [join])
        three = await in_conversation(cid)
        await hold(3.0)
        end = await hang_up_all(rt, group)
        (done,) = await app.wait_for("/record", 1, timeout=20)
        body = done.json
        data = rt.files.read(file_id_of(body["recording_url"]))
    with wave.open(io.BytesIO(data)) as w:  # > 2 channels: WAV by default
        assert (w.getnchannels(), w.getframerate()) == (3, 16000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 3)
    start = clock_time(body["start_time"])
    ch = [Heard(pcm[:, i].copy(), 16000, start) for i in range(3)]
    every = tuple(tones.values())
    # channel 0: ann, and only ann, all along
    for begin, until in ((alone, two), (two, three), (three, end)):
        assert ch[0].has(begin, until, 500.0), ch[0].shares(begin, until, *every)
        assert ch[0].lacks(begin, until, 700.0) and ch[0].lacks(begin, until, 1100.0)
    # channel 1: bea from when she joined
    assert ch[1].lacks(alone, two, 700.0), ch[1].shares(alone, two, *every)
    for begin, until in ((two, three), (three, end)):
        assert ch[1].has(begin, until, 700.0), ch[1].shares(begin, until, *every)
        assert ch[1].lacks(begin, until, 500.0) and ch[1].lacks(begin, until, 1100.0)
    # channel 2: cid from when he joined, silent before
    assert ch[2].lacks(alone, three, 1100.0), ch[2].shares(alone, three, *every)
    assert not np.any(ch[2].window(alone, two))
    assert ch[2].has(three, end, 1100.0), ch[2].shares(three, end, *every)
    assert ch[2].lacks(three, end, 500.0) and ch[2].lacks(three, end, 700.0)
