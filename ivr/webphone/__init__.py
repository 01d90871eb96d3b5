"""The desk's browser phone: WebRTC with Asterisk (SIP relayed by the console's /ws, DTLS-SRTP media
straight to Asterisk), short-lived credentials, presence."""
