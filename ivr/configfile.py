"""Layered YAML configuration with the origin of every value kept for error messages.

Operators edit YAML by hand; when a value is wrong the message must point at the file and line
(or the environment variable) that set it, not at a pydantic location tuple.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Key = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration problem, already phrased for the person who has to fix it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Layered:
    """A merged document plus, for each key path, where its value came from."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Key, str] = field(default_factory=dict)

    def merge(self, other: Mapping[str, Any], origins: Mapping[Key, str]) -> None:
        deep_merge(self.data, other)
        # A later layer that replaces a whole subtree owns every key under it.
        for key in origins:
            for old in [k for k in self.origins if k[: len(key)] == key and len(k) > len(key)]:
                del self.origins[old]
        self.origins.update(origins)

    def origin(self, loc: Key) -> str | None:
        for end in range(len(loc), 0, -1):
            found = self.origins.get(loc[:end])
            if found:
                return found
        return None


def deep_merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    """Merge `other` into `into`, recursively; `other` is never aliased, so later merges into
    `into` cannot change it."""
    for key, value in other.items():
        if isinstance(value, Mapping):
            target = into.get(key)
            if not isinstance(target, dict):
                target = into[key] = {}
            deep_merge(target, value)
        else:
            into[key] = copy.deepcopy(value)


class _MarkedLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key."""


def load_yaml(path: Path) -> tuple[Any, dict[Key, str]]:
    """Parse one YAML file; return the data and `key path -> "file:line"`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from None
    loader = _MarkedLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: not valid YAML: {problem}"]) from None
    finally:
        loader.dispose()
    if node is None:
        return {}, {}
    origins: dict[Key, str] = {}
    _collect_marks(node, (), path, origins)
    data = yaml.load(text, Loader=yaml.SafeLoader)
    return data, origins


def _collect_marks(node: yaml.Node, prefix: Key, path: Path, out: dict[Key, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            here = (*prefix, key)
            out[here] = f"{path}:{key_node.start_mark.line + 1}"
            _collect_marks(value_node, here, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*prefix, index)
            out[here] = f"{path}:{item.start_mark.line + 1}"
            _collect_marks(item, here, path, out)


def env_layer(environ: Mapping[str, str], prefix: str = "IVR_") -> tuple[dict[str, Any], dict[Key, str]]:
    """`IVR_A__B=1` becomes `{"a": {"b": "1"}}`.

    Scalars stay strings (pydantic converts them, and a password like `0123` stays text); a value
    starting with `[` or `{` is read as YAML so lists and mappings can be given too.
    """
    data: dict[str, Any] = {}
    origins: dict[Key, str] = {}
    skip = {f"{prefix}CONFIG", f"{prefix}SECRETS_FILE"}
    for name, raw in environ.items():
        if not name.startswith(prefix) or name in skip:
            continue
        parts = [p.lower() for p in name[len(prefix) :].split("__") if p]
        if not parts:
            continue
        value: Any = raw
        if raw.lstrip().startswith(("[", "{")):
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
        cursor = data
        for part in parts[:-1]:
            nxt = cursor.setdefault(part, {})
            if not isinstance(nxt, dict):
                break
            cursor = nxt
        else:
            cursor[parts[-1]] = value
            origins[tuple(parts)] = f"environment {name}"
    return data, origins


def _looks_secret(key: str) -> bool:
    """Secrets are taken verbatim: a password like `0123` must not turn into the number 123."""
    return key in {"password", "secret", "url", "dsn"} or key.endswith("_password")


def validate(model: type[M], layered: Layered, context: dict[str, Any] | None = None) -> M:
    """Validate the merged document; on failure raise ConfigError naming origin and field."""
    try:
        return model.model_validate(layered.data, context=context)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, layered)) from None


# Keys an earlier release accepted, with what replaces them: an upgraded config gets told what to
# write instead of a bare "unknown key".
_DESK_RELAY = (
    "desks reach their phone's SIP WebSocket through the console's own address (/ws, relayed to "
    "Asterisk on loopback), so Asterisk's HTTP server (ARI included) listens on loopback only"
)
RENAMED: dict[str, str] = {
    "mail.starttls": "use mail.tls: starttls, implicit or none (certificates are now verified; "
    "mail.ca_file names a private CA)",
    **{
        f"asterisk.webrtc.{key}": f"{_DESK_RELAY}; remove {key}{then}"
        for key, then in (
            ("wss_port", " and close that port to the outside"),
            ("bind", ""),
            ("cert", ": browsers see the certificate of the console's TLS proxy"),
            ("key", ": browsers see the certificate of the console's TLS proxy"),
        )
    },
}


def describe_errors(exc: ValidationError, layered: Layered) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = _data_loc(tuple(err["loc"]), layered.data, names_a_key=err["type"] in _KEY_ERRORS)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        origin = layered.origin(loc) or "defaults"
        if err["type"] == "extra_forbidden" and dotted in RENAMED:
            reason = f"this key was replaced: {RENAMED[dotted]}"
        elif err["type"] == "extra_forbidden":
            reason = "unknown key (check the spelling; see README 'Configuration')"
        else:
            reason = err["msg"]
            value = err.get("input")
            if not _looks_secret(str(loc[-1]) if loc else "") and isinstance(value, (str, int, float, bool)):
                reason += f" (got {value!r})"
        problems.append(f"{origin}: {dotted}: {reason}")
    return problems


def load_mapping(path: Path) -> tuple[dict[str, Any], dict[Key, str]]:
    """Like load_yaml, but the document must be a mapping (an empty file is an empty mapping)."""
    data, origins = load_yaml(path)
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the top level must be a mapping of keys"])
    return data, origins


# Errors whose last location part is a key absent from the document (a required key not given,
# an unknown one given); for every other error an absent last part is a union tag.
_KEY_ERRORS = frozenset({"missing", "extra_forbidden"})


def _data_loc(loc: Key, data: Any, *, names_a_key: bool = True) -> Key:
    """Drop the parts of a pydantic location that are not keys of the document (union tags
    like `play` in `nodes.a.play.next`, or `datetime` in `closures.0.from.datetime` when a
    mapping was given), so the location reads like the file and finds its line."""
    out: list[str | int] = []
    cursor = data
    for index, part in enumerate(loc):
        child = _child(cursor, part)
        if child is not _MISSING:
            cursor = child
        elif index < len(loc) - 1 or not isinstance(cursor, dict) or not names_a_key:
            continue  # a tag, not a key
        out.append(part)
    return tuple(out)


_MISSING = object()


def _child(container: Any, part: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(part, _MISSING)
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return container[part]
    return _MISSING


def read_layers(paths: list[Path], environ: Mapping[str, str] | None = None) -> Layered:
    """Merge YAML files in order, then the environment on top."""
    layered = Layered()
    for path in paths:
        layered.merge(*load_mapping(path))
    if environ is not None:
        layered.merge(*env_layer(environ))
    return layered


def resolve_relative(base: Path, value: str | os.PathLike[str]) -> Path:
    """Relative paths in a config file are relative to that file, not to the working directory."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()
