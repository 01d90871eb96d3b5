"""The configuration reference, generated from the settings model so it never drifts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def reference(
    model: type[BaseModel], prefix: str = "", given: BaseModel | None = None, context: str = ""
) -> Iterator[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) for every leaf setting; lists of sections are
    shown as `key[].field`. A section a field gives its own default and meaning (a threshold's
    `{amber, red}`) shows that default and says what its fields are thresholds of."""
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        meaning = field.description or ""
        if context:
            meaning = f"{context}: {meaning}" if meaning else f"{context} ({name})"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            default = field.default if isinstance(field.default, BaseModel) else None
            yield from reference(annotation, f"{key}.", default, field.description or "")
            continue
        item = _list_item(annotation)
        if item is not None:
            yield key, "list", _default(field), meaning or (item.__doc__ or "").strip().split("\n")[0]
            yield from reference(item, f"{key}[].")
            continue
        value = _default(field)
        if given is not None and getattr(given, name) != field.default:  # the section's own default
            value = _shown(getattr(given, name))
        yield key, _type_name(annotation), value, meaning


def _list_item(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is tuple and args and all(a is time for a in args):
        return "HH:MM-HH:MM"
    return str(getattr(annotation, "__name__", annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    return _shown(value)


def _shown(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        # A list of sections by the first field of each (a form's criteria by their keys).
        return "[" + ", ".join(str(next(iter(v.model_dump().values()))) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return repr([f"{a:%H:%M}-{b:%H:%M}" for a, b in value])
    return repr(value) if isinstance(value, str) else str(value)


def markdown(model: type[BaseModel]) -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, type_name, default, description in reference(model):
        lines.append(f"| `{key}` | {type_name} | `{default}` | {description} |")
    return "\n".join(lines)
