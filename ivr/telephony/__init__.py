"""Telephony ports (Protocols) and their adapters for Asterisk: ARI drives calls, AMI watches."""
