"""A local Asterisk 22 run by the project: a cached Debian sid root and instances inside it."""
