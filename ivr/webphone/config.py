"""The `asterisk.webrtc:` section of nul.yaml: the desk's browser phone."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class IceServer(BaseModel):
    """A STUN or TURN server the browser uses to reach Asterisk from behind NAT (coturn, usually)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[str] = Field(description="e.g. stun:turn.example.it:3478, turns:turn.example.it:5349?transport=tcp")
    username: str | None = Field(None, description="TURN user (static credentials)")
    credential: SecretStr | None = Field(None, description="TURN password (static credentials)")
    auth_secret: SecretStr | None = Field(
        None,
        description="coturn's `static-auth-secret` (use-auth-secret): each desk gets a TURN user and "
        "password valid for the credential's lifetime instead of a shared password",
    )

    @field_validator("urls")
    @classmethod
    def _schemes(cls, urls: list[str]) -> list[str]:
        if not urls:
            raise ValueError("give at least one URL")
        for url in urls:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"{url!r}: an ICE server URL starts with stun:, stuns:, turn: or turns:")
        return urls


class WebRtcSettings(BaseModel):
    """The desk's browser phone: SIP over the console's WebSocket (`/ws`, relayed to Asterisk on
    loopback) and DTLS-SRTP media straight to Asterisk's RTP ports.

    The former `wss_port`, `bind`, `cert` and `key` (a TLS listener of Asterisk's HTTP server,
    which carried ARI too) are refused with what to do instead (ivr.configfile.RENAMED)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="operators' desks ring in the browser (WebRTC phone)")
    public_host: str | None = Field(
        None,
        description="domain of the desk phones' SIP addresses (web-<login>@HOST; default: the host the console "
        "was reached by)",
    )
    ice_servers: list[IceServer] = Field(
        default_factory=list, description="STUN/TURN servers given to the browser (none: direct connection only)"
    )
    credential_ttl_min: int = Field(
        60, ge=5, le=24 * 60, description="life of the SIP password a desk gets (renewed while the desk is open)"
    )
    heartbeat_s: float = Field(5.0, gt=0, le=60, description="how often an open desk says it is there")
    desk_timeout_s: float = Field(
        20.0, gt=0, le=600, description="no word from an open desk for this long: its operator is paused"
    )
    audio_processing: bool = Field(
        True,
        description="the browser's echo cancellation, noise suppression and gain control on the operator's "
        "microphone (off only for synthetic test voices, which they take for noise)",
    )
    codecs: list[str] = Field(
        default_factory=lambda: ["ulaw", "alaw"], description="codecs offered to browsers (G.711: no transcoding)"
    )

    @model_validator(mode="after")
    def _pair(self) -> WebRtcSettings:
        if self.desk_timeout_s <= self.heartbeat_s * 2:
            raise ValueError("asterisk.webrtc.desk_timeout_s must be more than twice heartbeat_s")
        return self
