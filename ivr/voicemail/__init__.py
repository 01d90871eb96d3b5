"""Voicemail: the message, the callback number, boxes per topic, transcription."""
