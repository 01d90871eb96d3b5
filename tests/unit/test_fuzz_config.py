"""Bad configuration at every field: the error names the file, the line and the exact field.

The settings tree is walked from the model itself (sections, list items, mapping items), so a
setting added tomorrow is covered without touching this file; a wrong-typed and, where the field
has bounds or a pattern, an out-of-range value is written at each leaf, an unknown key into each
section, and random YAML at random leaves.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ivr.alerts.config import Above
from ivr.cli import main
from ivr.configfile import ConfigError
from ivr.hours.config import CampaignConfig, ClosureConfig
from ivr.reviews.config import Criterion
from ivr.settings import LanguageSettings, Settings, load_settings
from ivr.tickets.config import ReasonOption
from ivr.voicemail.config import ModelSource
from ivr.webphone.config import IceServer
from tests.unit.cli_logging import keep_logging
from tests.unit.fuzzing import FUZZ, JSON

__all__ = ["keep_logging"]  # restores the root logger after each test (the CLI replaces it)
Key = tuple[str | int, ...]
NO_SECRETS = {"IVR_SECRETS_FILE": "/nonexistent/secrets.yaml"}
# A valid item for every list or mapping of sections, so a wrong value in one field of an item is
# the only thing wrong with it. A new kind of item fails `test_every_item_model_has_a_seed`.
SEEDS: dict[type[BaseModel], dict[str, Any]] = {
    ClosureConfig: {"id": "vigilia", "date": "2026-12-24", "reason": "Vigilia"},
    CampaignConfig: {"id": "q1", "name": "Qualità", "from": "2026-03-01", "to": "2026-03-31"},
    ModelSource: {"url": "https://example.org/model.zip", "folder": "model"},
    IceServer: {"urls": ["stun:turn.example.it:3478"]},
    LanguageSettings: {"texts": "en.yaml", "voice": "en", "key": "8"},
    ReasonOption: {"key": "naspi", "label": "NASpI"},
    Criterion: {"key": "cortesia", "label": "Cortesia", "weight": 1},
    Above: {"amber": 600, "red": 1200},
}
ITEM_KEY = "zz"  # the key of the mapping item written under a dict-of-sections field


@dataclass(frozen=True)
class Leaf:
    key: Key  # document keys: section names, list index 0, mapping item ITEM_KEY
    field: FieldInfo
    annotation: Any

    @property
    def dotted(self) -> str:
        return ".".join(str(k) for k in self.key)


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of an annotation (the union's members, Annotated stripped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _unwrap(a)]
    return [annotation]


def _section(annotation: Any) -> type[BaseModel] | None:
    found = [m for m in _unwrap(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    return found[0] if found else None


def _container(annotation: Any) -> tuple[str, Any] | None:
    for member in _unwrap(annotation):
        origin = typing.get_origin(member)
        if origin is list:
            return "list", typing.get_args(member)[0]
        if origin is dict:
            return "dict", typing.get_args(member)[1]
    return None


def walk(model: type[BaseModel], prefix: Key = ()) -> tuple[list[Leaf], list[tuple[Key, type[BaseModel]]]]:
    """Every leaf field and every section (with where it sits) of `model`."""
    leaves: list[Leaf] = []
    sections: list[tuple[Key, type[BaseModel]]] = [(prefix, model)]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = (*prefix, field.alias or name)
        section = _section(field.annotation)
        container = _container(field.annotation)
        if section is not None and container is None:
            sub_leaves, sub_sections = walk(section, key)
            leaves += sub_leaves
            sections += sub_sections
            continue
        leaves.append(Leaf(key, field, field.annotation))
        if container is not None:
            kind, item = container
            index: str | int = 0 if kind == "list" else ITEM_KEY
            item_section = _section(item)
            if item_section is not None:
                sub_leaves, sub_sections = walk(item_section, (*key, index))
                leaves += sub_leaves
                sections += sub_sections
            else:  # a list of scalars: a wrong item is a leaf too
                leaves.append(Leaf((*key, index), FieldInfo(annotation=item), item))
    return leaves, sections


LEAVES, SECTIONS = walk(Settings)


def _item_model(settings_key: Key) -> type[BaseModel]:
    """The section model of the list/dict item at the end of `settings_key`."""
    model: type[BaseModel] = Settings
    for part in settings_key:
        if isinstance(part, int) or part == ITEM_KEY:
            continue
        field = next(f for n, f in model.model_fields.items() if (f.alias or n) == part)
        container = _container(field.annotation)
        found = _section(container[1]) if container is not None else _section(field.annotation)
        if found is None:
            break
        model = found
    return model


def document(key: Key, value: Any) -> dict[str, Any]:
    """The smallest config that holds `value` at `key` (list and mapping items get a seed)."""
    root: dict[str, Any] = {}
    cursor: Any = root
    depth = 0
    while depth < len(key):
        part = key[depth]
        if depth == len(key) - 1:
            cursor[part] = value
            break
        nxt = key[depth + 1]
        if nxt == 0 or nxt == ITEM_KEY:  # a list or a mapping of items: one item, seeded
            model = _item_model(key[: depth + 1])
            item: Any = dict(SEEDS[model]) if model in SEEDS else None
            holder: Any = [item] if nxt == 0 else {ITEM_KEY: item}
            cursor[part] = holder
            if depth + 2 == len(key):
                holder[nxt] = value
                break
            cursor = holder[nxt]
            depth += 2
            continue
        cursor = cursor.setdefault(part, {})
        depth += 1
    return root


class Flow:
    """A value written in flow style (JSON) on its key's line, whatever its type."""

    def __init__(self, value: Any) -> None:
        self.value = value


def emit(node: Any, indent: int, lines: list[str], marks: dict[Key, int], key: Key) -> None:
    pad = "  " * indent
    for name, value in node.items():
        here = (*key, name)
        if isinstance(value, dict):
            lines.append(f"{pad}{json.dumps(name)}:")
            marks[here] = len(lines)
            emit(value, indent + 1, lines, marks, here)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{pad}{json.dumps(name)}:")
            marks[here] = len(lines)
            for index, item in enumerate(value):
                lines.append(f"{pad}  -")
                marks[(*here, index)] = len(lines)
                emit(item, indent + 2, lines, marks, (*here, index))
        elif isinstance(value, list) and value and isinstance(value[0], Flow):
            lines.append(f"{pad}{json.dumps(name)}:")
            marks[here] = len(lines)
            lines.append(f"{pad}  - {json.dumps(value[0].value)}")
            marks[(*here, 0)] = len(lines)
        else:
            raw = value.value if isinstance(value, Flow) else value
            lines.append(f"{pad}{json.dumps(name)}: {json.dumps(raw)}")
            marks[here] = len(lines)


def write(tmp_path: Path, key: Key, value: Any) -> tuple[Path, dict[Key, int]]:
    lines: list[str] = []
    marks: dict[Key, int] = {}
    emit(document(key, Flow(value)), 0, lines, marks, ())
    path = tmp_path / "nul.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, marks


def wrong_values(leaf: Leaf) -> list[tuple[str, Any]]:
    """A wrong-typed value, and out-of-range ones when the field has bounds or a pattern."""
    is_mapping = any(typing.get_origin(m) is dict for m in _unwrap(leaf.annotation))
    found: list[tuple[str, Any]] = [("type", [1, 2] if is_mapping else {"wrong": 1})]
    integer = int in _unwrap(leaf.annotation)
    step = 1 if integer else 0.5
    for meta in leaf.field.metadata:
        if isinstance(meta, at.Ge):
            found.append(("below", meta.ge - step))
        elif isinstance(meta, at.Gt):
            found.append(("below", meta.gt))
        elif isinstance(meta, at.Le):
            found.append(("above", meta.le + step))
        elif isinstance(meta, at.Lt):
            found.append(("above", meta.lt))
        elif isinstance(meta, at.MinLen):
            found.append(("short", ""))
        elif getattr(meta, "pattern", None):
            found.append(("pattern", "no match at all!"))
    return found


CASES = [(leaf, label, value) for leaf in LEAVES for label, value in wrong_values(leaf)]


def test_the_walk_sees_every_setting() -> None:
    dotted = {leaf.dotted for leaf in LEAVES}
    assert {"service.did", "asterisk.ari.port", "hours.closures.0.from", "campaigns.0.to"} <= dotted
    assert {"transcription.models.zz.url", "asterisk.trunk.codecs.0", "retention.caller_data_days"} <= dotted
    assert len(LEAVES) > 100 and len(CASES) > 180


def test_every_item_model_has_a_seed() -> None:
    items = {model for key, model in SECTIONS if any(p == 0 or p == ITEM_KEY for p in key)}
    assert items <= set(SEEDS), f"add a valid example to SEEDS for {items - set(SEEDS)}"
    for model, seed in SEEDS.items():
        model.model_validate(seed)


@pytest.mark.parametrize(("leaf", "label", "value"), CASES, ids=[f"{c[0].dotted}:{c[1]}" for c in CASES])
def test_a_wrong_value_names_its_file_line_and_field(tmp_path: Path, leaf: Leaf, label: str, value: Any) -> None:
    path, marks = write(tmp_path, leaf.key, value)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    expected = f"{path}:{marks[leaf.key]}: {leaf.dotted}: "
    assert any(p.startswith(expected) for p in err.value.problems), (expected, err.value.problems)


@pytest.mark.parametrize(("key", "model"), SECTIONS, ids=[".".join(map(str, k)) or "(top level)" for k, _ in SECTIONS])
def test_an_unknown_key_is_named_in_every_section(tmp_path: Path, key: Key, model: type[BaseModel]) -> None:
    path, marks = write(tmp_path, (*key, "colour"), "blue")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=NO_SECRETS)
    dotted = ".".join(str(k) for k in (*key, "colour"))
    expected = f"{path}:{marks[(*key, 'colour')]}: {dotted}: unknown key"
    assert any(p.startswith(expected) for p in err.value.problems), (expected, err.value.problems)


@pytest.mark.parametrize("leaf", LEAVES, ids=[leaf.dotted for leaf in LEAVES])
def test_config_check_exits_2_without_a_traceback(
    tmp_path: Path, leaf: Leaf, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_SECRETS_FILE", "/nonexistent/secrets.yaml")
    _label, value = wrong_values(leaf)[0]
    path, marks = write(tmp_path, leaf.key, value)
    assert main(["-c", str(path), "config", "check"]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert f"{path}:{marks[leaf.key]}: {leaf.dotted}: " in out.err


def _ancestors(key: Key) -> set[str]:
    return {".".join(str(k) for k in key[:n]) or "(top level)" for n in range(len(key) + 1)}


@FUZZ
@given(leaf=st.sampled_from(LEAVES), value=JSON)
def test_random_yaml_at_any_field_is_accepted_or_named(tmp_path: Path, leaf: Leaf, value: Any) -> None:
    path, _marks = write(tmp_path, leaf.key, value)
    try:
        load_settings(path, environ=NO_SECRETS)
    except ConfigError as exc:
        allowed = _ancestors(leaf.key)
        for problem in exc.problems:
            where, dotted, _reason = problem.split(": ", 2)
            assert where.startswith(f"{path}:"), problem
            assert dotted in allowed or dotted.startswith(leaf.dotted + "."), (leaf.dotted, problem)


def test_a_file_name_too_long_is_named_as_the_fields_error(tmp_path: Path) -> None:
    """Found by the random YAML above (an OSError from the file system escaped as `ivr: [Errno 36]`,
    naming no field)."""
    path, _marks = write(tmp_path, ("mail", "ca_file"), "a" * 300)
    with pytest.raises(ConfigError, match=r"mail\.ca_file: Value error, not a usable file name: File name too long"):
        load_settings(path, environ=NO_SECRETS)
