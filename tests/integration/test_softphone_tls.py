"""Operators working from home: their softphones talk TLS to the engine's Asterisk and send SRTP
media; plain UDP is accepted only on a loopback address or when the configuration says so."""

from __future__ import annotations

import asyncio
import re
import stat
import subprocess
from pathlib import Path

import pytest

from ivr.acd.operators import PhoneSecurity, phone_security, render_pjsip
from ivr.asterisk.certs import ensure_sip_certificate, sip_certificate
from ivr.configfile import ConfigError
from ivr.lab.carrier import LabCall
from ivr.settings import Settings, load_settings
from tests.harness.callers import Watcher
from tests.harness.listen import contains, loudness
from tests.harness.pbx import CONFIG, PbxPair
from tests.harness.queueline import queue_line, talk
from tests.harness.softphone import Softphone
from tests.harness.voices import Voices

TLS_ONLY = {"asterisk": {"sip": {"operators_plain_udp": "never"}}}


def _settings(tmp: Path, sip: dict[str, object]) -> Settings:
    return load_settings(
        CONFIG,
        environ={"IVR_SECRETS_FILE": str(tmp / "none.yaml")},
        overrides={"paths": {"data_dir": str(tmp)}, "asterisk": {"sip": sip}},
    )


def _handshake(pbx: PbxPair, version: str) -> bool:
    assert pbx.engine_ports.sip_tls is not None
    host, port = pbx.engine_ports.sip_tls
    openssl = ["openssl", "s_client", version, "-cipher", "ALL:@SECLEVEL=0", "-connect", f"{host}:{port}"]
    return subprocess.run(openssl, input="", capture_output=True, text=True, timeout=10, check=False).returncode == 0


def test_plain_udp_on_a_public_address_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path, {"bind": "192.0.2.2", "tls_port": None})
    assert "asterisk.sip.operators_plain_udp" in str(refused.value)
    # TLS on the public address: operators must use it; plain UDP stays for loopback setups.
    public = phone_security(_settings(tmp_path, {"bind": "192.0.2.2"}).asterisk.sip)
    assert public == PhoneSecurity(tls=True, plain=False)
    assert phone_security(_settings(tmp_path, {}).asterisk.sip) == PhoneSecurity(tls=True, plain=True)
    explicit = _settings(tmp_path, {"bind": "192.0.2.2", "tls_port": None, "operators_plain_udp": "always"})
    assert phone_security(explicit.asterisk.sip) == PhoneSecurity(tls=False, plain=True)
    conf = render_pjsip({"tina": "0" * 32}, ["alaw"], public)
    for line in ("transport = transport-tls", "media_encryption = sdes", "media_encryption_optimistic = no"):
        assert line in conf


def test_setup_generates_a_private_self_signed_certificate(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {})
    assert ensure_sip_certificate(settings)
    cert, key = sip_certificate(settings)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:127.0.0.1" in text
    assert not ensure_sip_certificate(settings)  # kept: phones that trust it keep working
    with pytest.raises(ConfigError) as missing:
        _settings(tmp_path, {"tls_cert": str(tmp_path / "absent.pem")})
    assert "asterisk.sip.tls_key" in str(missing.value)


@pytest.mark.asterisk
async def test_operator_registers_over_tls_and_answers_with_srtp(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    async with queue_line(pbx, tmp_path, voices, **TLS_ONLY) as line:
        tina = await line.operator("tina", tls=True)
        assert tina is not None
        aor = pbx.engine_asterisk.cli("pjsip show aor op-tina")
        assert re.search(r"contact\s*:\s*sip:op-tina\S*;transport=TLS\s", aor), aor  # it came over TLS
        assert _handshake(pbx, "-tls1_3") and _handshake(pbx, "-tls1_2") and not _handshake(pbx, "-tls1_1")

        caller_voice = pbx.carrier.add_voice("caller", voices.caller)
        secure: dict[str, str] = {}

        async def talk_and_look(call: LabCall, w: Watcher) -> None:
            await w.until_event("operator_answered", timeout=60)
            channels = await line.engine.ari.get("channels")
            leg = next(c for c in channels if str(c["name"]).startswith("PJSIP/op-tina-"))
            for item in ("pjsip,secure", "rtp,secure"):
                reply = await line.engine.ari.get(f"channels/{leg['id']}/variable", variable=f"CHANNEL({item})")
                secure[item] = reply["value"]
            await asyncio.sleep(1.0)
            await call.say(caller_voice)
            await asyncio.sleep(5.0)
            await call.hangup()

        ticket, _ = await line.call(talk_and_look)
        assert ticket.queue_result == "answered" and ticket.destination == "operator:tina"
        assert secure == {"pjsip,secure": "1", "rtp,secure": "1"}  # TLS signalling, SRTP media
        heard = await tina.last_heard()
        # the SRTP audio decodes: its opening, or (a loaded machine's jitter buffer may slip a frame
        # in the first words) the words after it
        assert contains(heard, voices.caller) or contains(heard, voices.caller, skip_s=2.0), loudness(heard)


@pytest.mark.asterisk
async def test_plain_udp_operator_is_refused_when_tls_is_required(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    """What a public address without `operators_plain_udp: always` gives (`never` forces it on the
    loopback pair): a phone on plain UDP is never counted as registered nor offered a call."""
    async with queue_line(pbx, tmp_path, voices, **TLS_ONLY) as line:
        engine = line.engine
        _, password = await engine.operators.add("ugo", "Ugo", now=engine.clock.now())
        assert password is not None
        await engine.operator_sync.run_once()
        sip = engine.settings.asterisk.sip
        ugo = Softphone("ugo", password, (sip.bind, sip.port), voices.operator_padded)
        line.phones.append(ugo)
        await ugo.start()  # Asterisk answers the REGISTER whatever the transport ...
        await line.until(lambda: "ugo" in engine.operator_sync.refused, "ugo's plain registration seen")
        assert not engine.distributor.agents["ugo"].registered  # ... the engine does not take it
        await engine.distributor.set_presence("ugo", "available")  # ugo has waited the longest
        await asyncio.sleep(0.2)
        await line.operator("vera", tls=True)

        ticket, _ = await line.call(talk(1))
        assert ticket.destination == "operator:vera"
        assert [(e.detail or {}).get("operator") for e in ticket.events if e.kind == "offer"] == ["vera"]
        assert ugo.log().count("Call established") == 0
        aor = pbx.engine_asterisk.cli("pjsip show aor op-ugo")
        assert "transport=TLS" not in aor  # a plain contact, which Asterisk reaches over TLS only
