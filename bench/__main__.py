"""Run every benchmark and print its figures."""

from __future__ import annotations

import argparse

from bench import (
    amd,
    asr,
    conference,
    ivr,
    kit,
    media_pump,
    mixer,
    rest,
    sip_load,
    tts,
    webhooks,
    websocket,
)
from trunkline.tuning import tune_gc


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    tune_gc()  # as `trunkline serve` does
    ivr.main(quick=args.quick)
    kit.main(quick=args.quick)
    mixer.main(quick=args.quick)
    conference.main(quick=args.quick)
    media_pump.main(quick=args.quick)
    rest.main(quick=args.quick)
    webhooks.main(quick=args.quick)
    websocket.main(quick=args.quick)
    asr.main(quick=args.quick)
    amd.main(quick=args.quick)
    tts.main(quick=args.quick)
    sip_load.main(quick=args.quick)  # last: it makes uvloop the loop policy


if __name__ == "__main__":
    main()
