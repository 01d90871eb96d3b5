"""The desk's browser phone: WebRTC to Asterisk over WSS, short-lived credentials, presence."""
