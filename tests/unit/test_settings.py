"""Settings: layered sources, and errors that name the file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.configfile import ConfigError
from ivr.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
NO_SECRETS = {"IVR_SECRETS_FILE": "/nonexistent/secrets.yaml"}


def write(tmp_path: Path, text: str, name: str = "nul.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_config_loads_with_defaults() -> None:
    settings = load_settings(REPO / "config" / "nul.yaml", environ=NO_SECRETS)
    assert settings.service.did == "800000039"
    assert settings.service.timezone == "Europe/Rome"
    assert settings.asterisk.host == "127.0.0.1"  # ARI/AMI on loopback by default
    assert settings.paths.data_dir == (REPO / "var").resolve()
    assert settings.database_url.startswith("sqlite:///")


def test_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "service:\n  name: x\nasterisk:\n  ari:\n    port: eighty\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:5: asterisk.ari.port:")
    assert "integer" in problem and "'eighty'" in problem


def test_unknown_key_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "service:\n  did: '800000039'\n  timezon: Europe/Rome\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:3: service.timezon: unknown key")


def test_a_replaced_key_says_what_replaces_it(tmp_path: Path) -> None:
    """An upgraded config that still sets mail.starttls is told to write mail.tls, not "unknown"."""
    path = write(tmp_path, "mail:\n  host: smtp.example\n  starttls: true\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:3: mail.starttls: this key was replaced")
    assert "mail.tls" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service:\n  timezone: Mars/Olympus\nasterisk:\n  sip:\n    rtp_start: 20000\n"
        "    rtp_end: 10000\nlogging:\n  level: LOUD\n",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    text = "\n".join(err.value.problems)
    assert "service.timezone: Value error, unknown time zone 'Mars/Olympus'" in text
    assert "asterisk.sip: Value error, rtp_end must be above rtp_start" in text
    assert f"{path}:8: logging.level" in text


def test_environment_overrides_file_and_is_named_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "asterisk:\n  ari:\n    port: 8088\n")
    env = {**NO_SECRETS, "IVR_ASTERISK__ARI__PORT": "9099", "IVR_ASTERISK__ARI__PASSWORD": "0123"}
    settings = load_settings(path, environ=env)
    assert settings.asterisk.ari.port == 9099
    assert settings.asterisk.ari.password is not None
    assert settings.asterisk.ari.password.get_secret_value() == "0123"  # kept as text
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={**NO_SECRETS, "IVR_ASTERISK__ARI__PORT": "x"})
    assert err.value.problems[0].startswith("environment IVR_ASTERISK__ARI__PORT: asterisk.ari.port:")


def test_secrets_file_layer_and_permissions(tmp_path: Path) -> None:
    secrets = write(tmp_path, "asterisk:\n  ami:\n    password: s3cret-pass\n", "secrets.yaml")
    os.chmod(secrets, 0o600)
    path = write(tmp_path, "secrets_file: secrets.yaml\n")
    settings = load_settings(path, environ={})
    assert settings.asterisk.ami.password is not None
    assert settings.asterisk.ami.password.get_secret_value() == "s3cret-pass"
    assert "s3cret-pass" not in repr(settings) and "s3cret-pass" not in settings.model_dump_json()
    os.chmod(secrets, 0o644)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "readable by others" in err.value.problems[0]


def test_production_profile_requires_explicit_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "profile: production\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    assert "asterisk.ari.password, asterisk.ami.password, database.url" in err.value.problems[0]


@pytest.mark.parametrize("field", ["console.api_token", "metrics.token"])
def test_production_refuses_a_short_bearer_token(tmp_path: Path, field: str) -> None:
    section, key = field.split(".")
    secrets = (
        "profile: production\nasterisk:\n  ari:\n    password: a-long-ari-password\n  ami:\n"
        "    password: a-long-ami-password\ndatabase:\n  url: postgresql://nul@db/nul\n"
    )
    long_api = "console:\n  api_token: " + "k" * 43 + "\n"
    path = write(tmp_path, secrets + (long_api if section != "console" else "") + f"{section}:\n  {key}: short\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    assert f"{field}: at least 24 characters in production" in " ".join(err.value.problems)
    ok = write(tmp_path, secrets + long_api + ("metrics:\n  token: " + "m" * 24 + "\n" if section == "metrics" else ""))
    assert load_settings(ok, environ=NO_SECRETS).profile == "production"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, "paths:\n  data_dir: data\n")
    assert load_settings(path, environ=NO_SECRETS).paths.data_dir == (tmp_path / "data").resolve()


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "service:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    assert err.value.problems[0].startswith(f"{path}:")
    assert "not valid YAML" in err.value.problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asterisk:\n  ari:\n    port: abc\n", "asterisk.ari.port"),
        ("nonsense: 1\n", "nonsense: unknown key"),
    ],
)
def test_cli_exits_nonzero_without_traceback(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "-c", str(path), "config", "check"],
        capture_output=True,
        text=True,
        env={**os.environ, **NO_SECRETS},
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert f"{path}:" in result.stderr


@pytest.mark.parametrize("key", ["wss_port: 8089", "bind: 192.0.2.10", "cert: /etc/x.pem", "key: /etc/x.key"])
def test_the_desks_old_wss_listener_settings_say_what_replaces_them(tmp_path: Path, key: str) -> None:
    """Asterisk's HTTP server (ARI with it) no longer listens for browsers: a config that still
    sets the old WSS listener is told where the desks' phones connect now."""
    path = write(tmp_path, f"asterisk:\n  webrtc:\n    {key}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    (problem,) = err.value.problems
    name = key.split(":")[0]
    assert problem.startswith(f"{path}:3: asterisk.webrtc.{name}: this key was replaced")
    assert "/ws" in problem and "console" in problem


def test_a_managed_asterisk_keeps_ari_on_loopback(tmp_path: Path) -> None:
    path = write(tmp_path, "asterisk:\n  host: 192.0.2.10\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    (problem,) = err.value.problems
    assert "asterisk.host" in problem and "loopback" in problem


def test_an_asterisk_elsewhere_is_reached_on_a_private_link_only(tmp_path: Path) -> None:
    public = write(tmp_path, "asterisk:\n  host: 8.8.8.8\n  managed: {enabled: false}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(public, environ=NO_SECRETS)
    assert "asterisk.host" in str(err.value) and "private" in str(err.value)
    private = write(tmp_path, "asterisk:\n  host: 10.1.2.3\n  managed: {enabled: false}\n", name="p.yaml")
    assert load_settings(private, environ=NO_SECRETS).asterisk.host == "10.1.2.3"


def test_an_offset_clock_is_shared_by_engines_booted_apart(tmp_path: Path) -> None:
    """Two engine processes of a soak, started minutes apart, read the same simulated time."""
    from datetime import timedelta

    from ivr.assembly import Assembly

    path = write(tmp_path, "clock:\n  offset_s: 86400\n")
    settings = load_settings(path, environ=NO_SECRETS)
    first = Assembly(settings).clock
    second = Assembly(settings).clock
    assert abs((first.now() - second.now()).total_seconds()) < 0.05
    assert abs((first.now() - datetime.now(UTC)) - timedelta(days=1)) < timedelta(seconds=1)
    both = write(tmp_path, "clock:\n  offset_s: 5\n  start: 2026-02-10T10:00:00+01:00\n")
    with pytest.raises(ConfigError) as err:
        load_settings(both, environ=NO_SECRETS)
    assert "give one of start, offset_s, offset_file, not start and offset_s" in " ".join(err.value.problems)


def test_production_refuses_a_moved_clock(tmp_path: Path) -> None:
    secrets = (
        "profile: production\nasterisk:\n  ari:\n    password: a-long-ari-password\n  ami:\n"
        "    password: a-long-ami-password\ndatabase:\n  url: postgresql://nul@db/nul\n"
        "console:\n  api_token: " + "k" * 43 + "\n"
    )
    path = write(tmp_path, secrets + "clock:\n  offset_file: offset\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    assert "clock.offset_file are for tests and demos; not allowed in production" in " ".join(err.value.problems)
