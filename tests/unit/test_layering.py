"""Layering: only ivr/telephony/ speaks ARI. Everything else reaches the PBX through the ports of
ivr.telephony.ports, so a change of ARI path or JSON (or of PBX) touches one package.

The check reads the package's source (ast): a string that starts with an ARI resource followed
by a slash (`"bridges/..."`, `f"recordings/stored/{name}"`), that is exactly a resource name
given to a REST-looking call (`client.get("channels")`; also `bridge.get("channels")`, reading
ARI's JSON, which belongs in the adapters too), or that holds "/ari/", is an ARI URL being built.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ivr"

# ARI's REST resources (Asterisk 22): the first segment of every request path.
RESOURCES = (
    "applications",
    "asterisk",
    "bridges",
    "channels",
    "deviceStates",
    "endpoints",
    "events",
    "mailboxes",
    "playbacks",
    "recordings",
    "sounds",
)
# Relative request paths, as the ARI client takes them; a web route ("/recordings/...") is not one.
_PATH = re.compile(rf"^(?:{'|'.join(RESOURCES)})/")
_WHOLE = re.compile(rf"^(?:{'|'.join(RESOURCES)})$")
_FULL_URL = "/ari/"  # a URL written out whole
_REST_CALLS = {"get", "post", "put", "delete", "request", "download"}

ALLOWED = {
    # The ARI adapters themselves.
    "telephony",
    # The lab carrier is test equipment playing the telecom's switch on its own, second Asterisk
    # (`ivr lab up`): it originates callers into its own dialplan, which the engine never does,
    # and is not a layer of the engine; it keeps its few raw requests to that Asterisk.
    "lab",
}


def _head(node: ast.expr) -> str | None:
    """The literal text a string expression starts with (an f-string's leading constant)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def ari_urls(path: Path, package: Path) -> list[str]:
    """`file:line: text` of every ARI URL built in one module, in line order."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    rest_args: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in _REST_CALLS:
                rest_args.update(id(arg) for arg in node.args)
    inner = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr | ast.Constant) and id(node) not in inner:
            text = _head(node)
            if text is None:
                continue
            whole = isinstance(node, ast.Constant) and _WHOLE.match(text) and id(node) in rest_args
            if _PATH.match(text) or whole or _FULL_URL in text:
                found.append((node.lineno, text))
    where = path.relative_to(package.parent)
    return [f"{where}:{line}: {text!r}" for line, text in sorted(found)]


def modules_building_ari_urls(package: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] in ALLOWED:
            continue
        found += ari_urls(path, package)
    return found


def test_no_module_outside_telephony_builds_an_ari_url() -> None:
    found = modules_building_ari_urls(PACKAGE)
    assert not found, "ARI URLs built outside ivr/telephony/ (use a port):\n" + "\n".join(found)


def test_the_check_sees_the_ways_a_url_is_built(tmp_path: Path) -> None:
    """The scan must not pass by going blind: each form below is caught, the look-alikes not."""
    module = tmp_path / "ivr" / "acd" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "async def f(client, name, root):\n"
        "    await client.get('channels')\n"
        "    await client.post(f'bridges/{name}/addChannel', channel=name)\n"
        "    await client.request('PUT', 'asterisk/modules/res_pjsip.so')\n"
        "    await client.download(f'recordings/stored/{name}/file')\n"
        "    folder = root / 'recordings'\n"  # a directory, not a request
        "    label = f'asterisk-{name}'\n"  # an instance name
        "    return folder, label\n"
    )
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in modules_building_ari_urls(tmp_path / "ivr")] == [
        "2",
        "3",
        "4",
        "5",
    ]


def test_every_table_is_defined_in_the_schema_package_and_it_imports_no_feature() -> None:
    """Tables live in `ivr/schema/`, low in the layers: a feature's table defined in its own
    package made other features import it (the console's models were read by privacy, campaigns
    and figures), and the migrations missed the ones nobody imported."""
    outside, upward = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_schema = relative.parts[0] == "schema"
        for node in ast.walk(tree):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(node, ast.Assign) else []
            if "__tablename__" in names and not in_schema:
                outside.append(str(relative))
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if in_schema and module.startswith("ivr.") and not module.startswith("ivr.schema"):
                upward.append(f"{relative}: {module}")
    assert outside == []
    assert upward == []
