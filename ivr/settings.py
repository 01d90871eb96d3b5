"""Typed settings: defaults -> config/nul.yaml -> secrets file -> environment (IVR_...).

Every value an operator may change lives here, so a typo or a wrong type stops the engine at
start with the file, line and field, instead of surfacing as a dropped call hours later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import AfterValidator

from ivr.acd.config import QueueSettings
from ivr.alerts.config import AlertSettings
from ivr.configfile import (
    ConfigError,
    Layered,
    env_layer,
    load_mapping,
    read_layers,
    resolve_relative,
    validate,
)
from ivr.dialout.config import DialoutSettings
from ivr.ha.config import HaSettings
from ivr.hours.config import CampaignConfig, HoursSettings
from ivr.knowledge.config import KnowledgeSettings
from ivr.ops.config import MetricsSettings
from ivr.privacy.config import RetentionSettings
from ivr.reviews.config import ReviewSettings
from ivr.stats.config import StatsSettings
from ivr.supervision.config import SupervisionSettings
from ivr.tickets.config import ReasonSettings, SlaSettings
from ivr.voicemail.config import TranscriptionSettings, VoicemailSettings
from ivr.webphone.config import WebRtcSettings
from ivr.webrequests.config import MailSettings, WebRequestSettings

DEFAULT_CONFIG = Path("config/nul.yaml")


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    return resolve_relative(Path(base), value) if base else value.expanduser()


ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]


MIN_TOKEN_CHARS = 24  # a bearer token guessed online: 24 random characters are out of reach


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, validate_default=True)


class ServiceSettings(Section):
    name: str = Field("Il Numero per il lavoro", description="the line's name, as the prompts say it")
    did: str = Field("800000039", pattern=r"^\+?[0-9]{3,20}$", description="the number the carrier delivers")
    timezone: str = Field("Europe/Rome", description="office hours and the daily cap follow this zone")
    language: str = Field("it", description="channel language (Asterisk's own sounds: digits, numbers)")
    answer_pause_s: float = Field(
        0.5, ge=0, le=3, description="silence after answering, so the first words are not lost while media sets up"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Rome)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AriSettings(Section):
    port: int = Field(8088, ge=1, le=65535, description="Asterisk HTTP port (ARI)")
    username: str = Field("nul", description="ARI user")
    password: SecretStr | None = Field(
        None, description="secret: environment or secrets file; `ivr setup` generates one"
    )
    app: str = Field("nul", pattern=r"^[A-Za-z0-9_-]+$", description="Stasis application name")
    heartbeat_s: float = Field(5.0, gt=0, description="WebSocket ping interval; a dead link is seen within ~2x this")
    request_timeout_s: float = Field(5.0, gt=0, description="timeout of every ARI REST request")
    reconnect_max_s: float = Field(3.0, gt=0, description="longest wait between reconnect attempts")
    retry_window_s: float = Field(
        8.0, ge=0, description="a REST request whose connection fails is retried for this long"
    )


class AmiSettings(Section):
    port: int = Field(5038, ge=1, le=65535, description="Asterisk Manager Interface port")
    username: str = Field("nul", description="AMI user")
    password: SecretStr | None = Field(
        None, description="secret: environment or secrets file; `ivr setup` generates one"
    )
    action_timeout_s: float = Field(5.0, gt=0, description="timeout of every AMI action")
    ping_interval_s: float = Field(10.0, gt=0, description="liveness ping; no answer drops and reconnects")


class SipSettings(Section):
    """The engine Asterisk's own SIP side (operators register here, the carrier sends calls here)."""

    bind: str = Field("127.0.0.1", description="SIP address (operators' phones and the carrier reach it)")
    port: int = Field(5060, ge=1, le=65535, description="SIP UDP port")
    rtp_start: int = Field(10000, ge=1024, le=65535, description="first RTP port (2 per call)")
    rtp_end: int = Field(10999, ge=1024, le=65535, description="last RTP port")
    tls_port: int | None = Field(
        5061, ge=1, le=65535, description="TLS port for operators' phones (same address); null: no TLS listener"
    )
    tls_cert: ConfigPath | None = Field(
        None, description="certificate (PEM) phones see on the TLS port; null: self-signed, made by `ivr setup`"
    )
    tls_key: ConfigPath | None = Field(None, description="private key (PEM) of `tls_cert`; required with it")
    operators_plain_udp: Literal["loopback", "always", "never"] = Field(
        "loopback",
        description="operators' phones on plain UDP (no TLS, no SRTP): only when `bind` is a loopback "
        "address, always (a trusted network), or never (TLS with SRTP only)",
    )

    @model_validator(mode="after")
    def _range(self) -> SipSettings:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be above rtp_start")
        return self

    @field_validator("tls_key")
    @classmethod
    def _key_with_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("tls_cert") is None):
            raise ValueError(
                "asterisk.sip.tls_key: give tls_cert and tls_key together, or neither (a self-signed pair is made)"
            )
        return value

    @field_validator("operators_plain_udp")
    @classmethod
    def _plain_needs_consent(cls, value: str, info: ValidationInfo) -> str:
        """Phones at home must not fall back to plain UDP just because TLS was left off."""
        bind, tls_port = info.data.get("bind"), info.data.get("tls_port")
        if tls_port is not None or value == "always":
            return value
        if value == "never":
            raise ValueError(
                "asterisk.sip.operators_plain_udp: 'never' needs a TLS listener: set asterisk.sip.tls_port"
            )
        if bind is not None and not is_loopback(bind):
            raise ValueError(
                f"asterisk.sip.operators_plain_udp: operators' phones would use plain UDP on asterisk.sip.bind "
                f"{bind!r}, not a loopback address, as asterisk.sip.tls_port is null: set tls_port (TLS with "
                "SRTP), or operators_plain_udp: always to allow plain UDP there"
            )
        return value

    @property
    def operators_plain_allowed(self) -> bool:
        return self.operators_plain_udp == "always" or (
            self.operators_plain_udp == "loopback" and is_loopback(self.bind)
        )


def is_loopback(address: str) -> bool:
    """A SIP address only this machine reaches (a host name counts only if it is `localhost`)."""
    if address == "localhost":
        return True
    try:
        return ip_address(address).is_loopback
    except ValueError:
        return False


def _is_public(address: str) -> bool:
    """An IP address that is neither loopback, private nor link-local (a host name: unknown, False)."""
    try:
        return ip_address(address).is_global
    except ValueError:
        return False


class TrunkSettings(Section):
    """The carrier that delivers the 800 number's calls (identified by its address)."""

    host: str = Field("127.0.0.2", description="the carrier's signalling address (the lab carrier's by default)")
    port: int = Field(5070, ge=1, le=65535, description="the carrier's SIP port")
    codecs: list[str] = Field(default_factory=lambda: ["alaw", "ulaw"], description="codecs offered on the trunk")


class ManagedAsteriskSettings(Section):
    """A local Asterisk 22 that the project builds (Debian sid chroot) and runs itself."""

    enabled: bool = Field(True, description="false: use an Asterisk you run yourself")
    cache_dir: ConfigPath = Field(
        Path("/var/cache/nul"), description="where the Asterisk root is built, once per recipe"
    )
    instance: str = Field(
        "nul", pattern=r"^[a-z0-9-]+$", description="instance name (/etc/asterisk-<name> in the root)"
    )
    mirror: str = Field("http://deb.debian.org/debian", description="Debian mirror for the root")
    suite: str = Field("sid", description="Debian suite that has Asterisk 22")


class AsteriskSettings(Section):
    host: str = Field(
        "127.0.0.1",
        description="where ARI and AMI listen: loopback for the managed Asterisk; an Asterisk run elsewhere "
        "only on a private address",
    )
    ari: AriSettings = AriSettings()
    ami: AmiSettings = AmiSettings()
    sip: SipSettings = SipSettings()
    trunk: TrunkSettings = TrunkSettings()
    managed: ManagedAsteriskSettings = ManagedAsteriskSettings()
    webrtc: WebRtcSettings = WebRtcSettings()
    sounds_dir: str | None = Field(
        None, description="where Asterisk reads the engine's prompts (its own path); managed: derived"
    )
    operators_conf: ConfigPath | None = Field(
        None, description="external Asterisk: where to write pjsip_operators.conf (managed: derived)"
    )

    @model_validator(mode="after")
    def _ari_stays_private(self) -> AsteriskSettings:
        """ARI can place calls and read recordings, and Asterisk's HTTP server answers it on every
        address it listens on: the engine's own Asterisk listens on loopback only; an Asterisk
        run elsewhere is reached over a private link (plain HTTP and WebSocket travel there)."""
        if self.managed.enabled and not is_loopback(self.host):
            raise ValueError(
                f"asterisk.host: {self.host!r} is not a loopback address; the managed Asterisk's HTTP server "
                "(ARI) and AMI listen there, so it must be loopback (127.0.0.1): desks reach their phone "
                "through the console's /ws"
            )
        if not self.managed.enabled and _is_public(self.host):
            raise ValueError(
                f"asterisk.host: {self.host!r} is a public address; ARI and AMI answer there in clear: run "
                "Asterisk on this host (loopback) or reach it over a private link (a private or VPN address)"
            )
        return self


class DatabaseSettings(Section):
    url: SecretStr | None = Field(None, description="SQLAlchemy URL; default: SQLite file in data_dir")
    echo: bool = Field(False, description="log every SQL statement (debugging)")
    auto_upgrade: bool = Field(True, description="apply schema migrations when the engine starts")
    outbox: bool = Field(True, description="keep the call path's writes in a local file while the database is away")
    outbox_file: ConfigPath | None = Field(None, description="the outbox file (default: data_dir/outbox.db)")


class PathSettings(Section):
    data_dir: ConfigPath = Field(Path("../var"), description="SQLite file, generated prompts, recordings")
    recordings_dir: ConfigPath | None = Field(
        None,
        description="conversation recordings (default: data_dir/recordings); with a standby engine, a folder "
        "both engines reach, like voicemail.dir, so the console plays what either kept",
    )


class LanguageSettings(Section):
    """A language the caller can switch to at the start of the call."""

    texts: Path = Field(description="prompt texts (YAML); a relative path is in the folder of prompts.texts")
    voice: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_+-]*$", description="espeak-ng voice for its prompts")
    key: str = Field(pattern=r"^[0-9*#]$", description="the key that switches the call to this language")


class PromptSettings(Section):
    texts: ConfigPath = Field(Path("prompts/it.yaml"), description="prompt texts (YAML)")
    custom_dir: ConfigPath = Field(Path("prompts/custom"), description="recorded files here replace synthetic ones")
    build_dir: ConfigPath | None = Field(None, description="where generated audio is kept (default: data_dir/prompts)")
    install_dir: ConfigPath | None = Field(
        None, description="external Asterisk: where the engine writes prompts (default: asterisk.sounds_dir)"
    )
    voice: str = Field(
        "it", pattern=r"^[A-Za-z0-9][A-Za-z0-9_+-]*$", description="espeak-ng voice for synthetic prompts"
    )
    speed_wpm: int = Field(150, ge=80, le=400, description="espeak-ng speaking rate, words per minute")
    languages: dict[str, LanguageSettings] = Field(
        default_factory=lambda: {"en": LanguageSettings(texts=Path("en.yaml"), voice="en", key="9")},
        description="other languages offered at the start (code -> texts, voice, key); recorded files "
        "go in custom_dir/<code>/",
    )


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    file: ConfigPath | None = Field(None, description="log file (default: standard error)")
    format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per event; json: one JSON object per line, for log shippers"
    )
    personal_data: bool = Field(
        False, description="write callers' numbers in logs (off: masked, only the last three digits are shown)"
    )


class ClockSettings(Section):
    """Run the engine as if the wall clock read `start` at boot (demos, tests); null = real time."""

    start: datetime | None = Field(None, description="tests and demos only: the engine's clock reads this at boot")
    offset_s: float | None = Field(
        None,
        description="tests only: the engine's clock runs this many seconds ahead of the real one; several engine "
        "processes given the same offset share one simulated time (a soak's takeovers), whenever each booted",
    )
    offset_file: ConfigPath | None = Field(
        None,
        description="tests only: a file holding that offset in seconds, read again when it changes (at most once a "
        "second): a soak moves every engine to its next service day at once, while they run",
    )

    @model_validator(mode="after")
    def _one_way(self) -> ClockSettings:
        given = [name for name in ("start", "offset_s", "offset_file") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"clock: give one of start, offset_s, offset_file, not {' and '.join(given)}")
        return self

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-04-06T10:00:00+02:00")
        return value


class ConsoleSettings(Section):
    """The engine's HTTP side: the API used by `ivr queue ...`, `ivr operator ...`, the console."""

    bind: str = Field("127.0.0.1", description="address of the API and console (loopback by default)")
    port: int = Field(8081, ge=1, le=65535, description="port of the API and console")
    api_token: SecretStr | None = Field(None, description="secret: bearer token of the API; `ivr setup` generates one")
    session_idle_min: float = Field(30, gt=0, description="web console: a session unused this long ends")
    session_max_h: float = Field(10, gt=0, description="web console: a session ends this long after login, used or not")
    cookie_secure: bool | None = Field(
        None,
        description="web console: send cookies over HTTPS only (unset: on in the production profile, off otherwise)",
    )
    hsts: bool | None = Field(
        None,
        description="send Strict-Transport-Security (HTTPS only from then on; unset: on in the production profile)",
    )
    login_max_failures: int = Field(5, ge=1, description="web console: wrong passwords in a row before a lockout")
    login_lockout_min: float = Field(15, gt=0, description="web console: how long a locked-out login must wait")
    login_max_concurrent: int = Field(
        2, ge=1, le=64, description="web console: password checks run at once at most (each costs CPU and memory)"
    )
    listen_audit_window_min: float = Field(
        30, gt=0, le=1440, description="web console: one audit entry per user and audio file per this many minutes"
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="addresses/networks of the TLS proxies in front; only their forwarding header is believed",
    )
    proxy_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for", description="the header the trusted proxies write the client's address into"
    )
    wallboard_show_numbers: bool = Field(
        False,
        description="web console: show callers' and callback numbers in full on the wallboard (off: the last "
        "three digits); each supervisor who sees them is audited",
    )

    def secure_cookies(self, profile: str) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else profile == "production"

    def send_hsts(self, profile: str) -> bool:
        return self.hsts if self.hsts is not None else profile == "production"


class Settings(Section):
    profile: Literal["development", "production"] = Field(
        "development", description="production: secrets must be given, no generated defaults"
    )
    secrets_file: ConfigPath = Field(Path("../var/secrets.yaml"), description="YAML with secrets (mode 600)")
    callflow: ConfigPath = Field(Path("callflows/main.yaml"), description="the call flow of the line")
    service: ServiceSettings = ServiceSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    database: DatabaseSettings = DatabaseSettings()
    paths: PathSettings = PathSettings()
    prompts: PromptSettings = PromptSettings()
    logging: LoggingSettings = LoggingSettings()
    clock: ClockSettings = ClockSettings()
    hours: HoursSettings = HoursSettings()
    queue: QueueSettings = QueueSettings()
    voicemail: VoicemailSettings = VoicemailSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()
    console: ConsoleSettings = ConsoleSettings()
    sla: SlaSettings = SlaSettings()
    reasons: ReasonSettings = ReasonSettings()
    alerts: AlertSettings = AlertSettings()
    reviews: ReviewSettings = ReviewSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    web_requests: WebRequestSettings = WebRequestSettings()
    mail: MailSettings = MailSettings()
    retention: RetentionSettings = RetentionSettings()
    dialout: DialoutSettings = DialoutSettings()
    stats: StatsSettings = StatsSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    ha: HaSettings = HaSettings()
    metrics: MetricsSettings = MetricsSettings()
    campaigns: list[CampaignConfig] = Field(
        default_factory=list, description="quality campaigns: calls may be recorded, after a notice and consent"
    )
    config_dir: Path = Field(Path("config"), exclude=True)

    @model_validator(mode="after")
    def _production_has_secrets(self) -> Settings:
        if self.profile == "production":
            missing = [
                name
                for name, value in (
                    ("asterisk.ari.password", self.asterisk.ari.password),
                    ("asterisk.ami.password", self.asterisk.ami.password),
                    ("database.url", self.database.url),
                    ("console.api_token", self.console.api_token),
                )
                if value is None
            ]
            if self.mail.username is not None and self.mail.password is None:  # an SMTP login needs its password
                missing.append("mail.password")
            if missing:
                raise ValueError(f"production profile needs explicit secrets: {', '.join(missing)}")
            if any(v is not None for v in (self.clock.start, self.clock.offset_s, self.clock.offset_file)):
                raise ValueError(
                    "clock.start, clock.offset_s and clock.offset_file are for tests and demos; "
                    "not allowed in production"
                )
            for name, token in (("console.api_token", self.console.api_token), ("metrics.token", self.metrics.token)):
                # a bearer token is the whole lock of what it guards; `ivr setup` makes 43 characters
                if token is not None and len(token.get_secret_value()) < MIN_TOKEN_CHARS:
                    raise ValueError(f"{name}: at least {MIN_TOKEN_CHARS} characters in production")
        return self

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite:///{self.paths.data_dir / 'nul.db'}"

    @property
    def asterisk_config_dir(self) -> Path:
        return self.config_dir / "asterisk"

    @property
    def outbox_path(self) -> Path:
        return self.database.outbox_file or self.paths.data_dir / "outbox.db"

    @property
    def voicemail_dir(self) -> Path:
        return self.voicemail.dir or self.paths.data_dir / "voicemail"

    @property
    def models_dir(self) -> Path:
        return self.transcription.models_dir or self.paths.data_dir / "models"

    @property
    def prompts_build_dir(self) -> Path:
        return self.prompts.build_dir or self.paths.data_dir / "prompts"


def config_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    if environ.get("IVR_CONFIG"):
        return Path(environ["IVR_CONFIG"])
    return DEFAULT_CONFIG


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the layers and validate; raises ConfigError with one line per problem."""
    env = os.environ if environ is None else environ
    cfg = config_path(path, env).resolve()
    base = cfg.parent
    layered = read_layers([cfg])
    secrets = _secrets_path(layered, base, env)
    if secrets is not None and secrets.exists():
        _refuse_loose_permissions(secrets)
        layered.merge(*load_mapping(secrets))
    layered.merge(*env_layer(env))
    if overrides:
        layered.merge(dict(overrides), {})
    layered.data["config_dir"] = str(base)
    return validate(Settings, layered, context={"base_dir": str(base)})


def _secrets_path(layered: Layered, base: Path, env: Mapping[str, str]) -> Path | None:
    raw = env.get("IVR_SECRETS_FILE") or layered.data.get("secrets_file") or "../var/secrets.yaml"
    if not isinstance(raw, str):
        return None
    return resolve_relative(base, raw)


def _refuse_loose_permissions(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError([f"{path}: secrets file is readable by others (mode {mode:o}); chmod 600 it"])


__all__ = ["ConfigError", "Settings", "load_settings", "validate"]
