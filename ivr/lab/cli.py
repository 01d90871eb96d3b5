"""`ivr lab ...`: a carrier next to the managed Asterisk, to call the line without a telecom."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

from ivr.asterisk.managed import asterisk_root
from ivr.audio import rms_dbfs
from ivr.errors import SetupError
from ivr.lab.carrier import CarrierLayout, LabCarrier
from ivr.lab.soak.check_cli import add_check_command
from ivr.lab.soak.plan_cli import add_soak_commands
from ivr.settings import Settings


def lab_layout(settings: Settings) -> CarrierLayout:
    a = settings.asterisk
    state = settings.paths.data_dir / "lab-carrier.json"
    if state.exists():
        password = json.loads(state.read_text())["password"]
    else:
        password = secrets.token_urlsafe(18)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.touch(mode=0o600)
        state.write_text(json.dumps({"password": password}))
    span = a.sip.rtp_end - a.sip.rtp_start
    return CarrierLayout(
        name=f"{settings.asterisk.managed.instance}-lab",
        host=a.trunk.host,
        sip_port=a.trunk.port,
        ari_port=a.ari.port + 1,
        rtp=(a.sip.rtp_end + 1, a.sip.rtp_end + 1 + span),
        engine_host=a.sip.bind,
        engine_sip_port=a.sip.port,
        password=password,
        codecs=tuple(a.trunk.codecs),
    )


def lab_carrier(settings: Settings) -> LabCarrier:
    if not settings.asterisk.managed.enabled:
        raise SetupError("the lab needs the managed Asterisk (asterisk.managed.enabled: true)")
    root = asterisk_root(settings)
    if not root.ready:
        raise SetupError("the Asterisk root is not built yet: run `ivr setup` first")
    templates = [settings.asterisk_config_dir / "carrier", settings.asterisk_config_dir / "engine"]
    missing = [str(t) for t in templates if not t.is_dir()]
    if missing:  # the carrier would start on whatever config an earlier one left there
        raise SetupError(
            f"the lab carrier's Asterisk templates are missing: {', '.join(missing)} "
            "(they are found beside the config file, in asterisk/; use the project's config folder)"
        )
    return LabCarrier(root, templates, lab_layout(settings))


def cmd_lab_up(args: argparse.Namespace, settings: Settings) -> int:
    carrier = lab_carrier(settings)
    if carrier.instance.running():
        print("lab carrier already running")
        return 0
    carrier.start(daemon=True)
    lay = carrier.layout
    print(f"lab carrier up: SIP {lay.host}:{lay.sip_port} -> engine {lay.engine_host}:{lay.engine_sip_port}")
    return 0


def cmd_lab_down(args: argparse.Namespace, settings: Settings) -> int:
    carrier = lab_carrier(settings)
    carrier.stop()
    print("lab carrier stopped")
    return 0


def cmd_lab_call(args: argparse.Namespace, settings: Settings) -> int:
    carrier = lab_carrier(settings)
    if not carrier.instance.running():
        raise SetupError("the lab carrier is not running: `ivr lab up`")

    async def go() -> int:
        try:
            try:
                await carrier.connect()
            except Exception as exc:
                lay = carrier.layout
                raise SetupError(
                    f"the lab carrier does not answer on {lay.host}:{lay.ari_port} ({exc}): it may run with "
                    "another configuration; `ivr lab down` then `ivr lab up` starts it with this one"
                ) from exc
            call = await carrier.call(settings.service.did, caller_number=args.caller)
            print(f"call answered ({call.channel.id})")
            if args.voice:
                media = carrier.add_voice("cli-voice", Path(args.voice))
            for step in args.digits or "":
                await call.wait_prompt(timeout=args.listen)
                if args.voice:
                    await call.say(media)
                await call.press(step)
                print(f"pressed {step}")
            try:
                await call.wait_ended(timeout=args.listen)
                print("the engine ended the call")
            except TimeoutError:
                await call.hangup()
                print(f"hung up after {args.listen:.0f} s")
            heard = await call.heard()
            print(f"what the caller heard: {heard} ({rms_dbfs(heard):.1f} dBFS)")
        finally:
            await carrier.close()
        return 0

    return asyncio.run(go())


def add_lab_commands(sub: Any, add: Any) -> None:
    lab = sub.add_parser("lab", help="a simulated carrier to call the line").add_subparsers(dest="what", required=True)
    add("up", cmd_lab_up, "start the lab carrier next to the managed Asterisk", lab)
    add("down", cmd_lab_down, "stop the lab carrier", lab)
    call = add("call", cmd_lab_call, "call the line and report what was heard", lab)
    call.add_argument("--caller", default="3331234567", help="caller number to present")
    call.add_argument("--digits", default="", help="keys to press, one after each prompt")
    call.add_argument("--voice", help="WAV (8 kHz mono) to speak before each key")
    call.add_argument("--listen", type=float, default=30.0, help="max seconds to wait at each step")
    soak = add_soak_commands(lab, add)
    add_check_command(soak, add)
