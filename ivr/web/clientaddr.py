"""Who is the client: the one answer the whole HTTP side uses (per-address limits, lockouts, the
audit's "from where").

Behind a TLS proxy every connection comes from the proxy, so the client's own address travels in
`X-Forwarded-For` or `Forwarded` (RFC 7239). Anybody can write those headers, so they are read
only when the connection itself comes from a proxy listed in `console.trusted_proxies`, and only
the header that proxy is configured to write (`console.proxy_header`). Each proxy appends the
address it saw, so the chain is read from the right: the first address that is not one of our
own proxies is the client; what lies left of it was written by the client and is not believed.
A header that cannot be parsed is ignored (the proxy's address is used), never half-believed.

What is answered without a token to "this host" (`/metrics`, `/api/ready`) asks a different
question: was the request relayed at all? A proxy on the same host connects from loopback, and
nginx's plain `proxy_pass` adds no header, so a peer in `console.trusted_proxies` is always taken
as relaying someone else, header or not (`relayed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal

from aiohttp import web

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
ProxyHeader = Literal["x-forwarded-for", "forwarded"]
PROXIES: web.AppKey[tuple[Sequence[Network], ProxyHeader]] = web.AppKey("trusted_proxies")
_RESOLVED: web.RequestKey[str | None] = web.RequestKey("client_address")
MAX_HOPS = 32  # a longer chain is not a real proxy path: ignored
FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip")  # whoever wrote them, a proxy was there


class Malformed(ValueError):
    """A forwarding header that cannot be read with certainty."""


def client_address(request: web.Request) -> str | None:
    """The client's address for this request (computed once per request)."""
    if _RESOLVED in request:
        return request[_RESOLVED]
    trusted, header = request.config_dict.get(PROXIES, ((), "x-forwarded-for"))
    found = resolve(request.remote, request.headers.items(), trusted, header)
    request[_RESOLVED] = found
    return found


def relayed(request: web.Request) -> bool:
    """True when the request came through a proxy: the peer is one of our trusted proxies (with or
    without a forwarding header), or any forwarding header is present (an undeclared proxy, or a
    client pretending: either way not this host's own direct request)."""
    if any(name.lower() in FORWARDING for name in request.headers):
        return True
    trusted, _ = request.config_dict.get(PROXIES, ((), "x-forwarded-for"))
    peer = _parse(request.remote)
    return peer is not None and _trusted(peer, trusted)


def direct_loopback(request: web.Request) -> bool:
    """The peer is this host itself, asking for itself: a loopback address, not relayed."""
    peer = _parse(request.remote)
    return peer is not None and peer.is_loopback and not relayed(request)


def resolve(
    peer: str | None, headers: Iterable[tuple[str, str]], trusted: Sequence[Network], header: ProxyHeader
) -> str | None:
    """The client behind `peer`: the right-most address of the chain that is not a trusted proxy."""
    peer_ip = _parse(peer)
    if peer_ip is None or not _trusted(peer_ip, trusted):
        return peer
    values = [value for name, value in headers if name.lower() == header]
    if not values:
        return str(peer_ip)
    try:
        chain = _forwarded(values) if header == "forwarded" else _x_forwarded_for(values)
    except Malformed:
        return str(peer_ip)
    for hop in reversed(chain):
        if not _trusted(hop, trusted):
            return str(hop)
    return str(chain[0]) if chain else str(peer_ip)


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _parse(value: str | None) -> Address | None:
    if value is None:
        return None
    try:
        address = ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket (`console.bind: "::"`) arrives as ::ffff:a.b.c.d: it is
    # that IPv4 address, for the trusted proxies and for loopback alike.
    mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
    return mapped or address


def _x_forwarded_for(values: list[str]) -> list[Address]:
    items = [item.strip() for value in values for item in value.split(",")]
    return _chain(items)


def _forwarded(values: list[str]) -> list[Address]:
    """`for=` of each element; quoted strings may hold `,` or `;` only inside brackets/ports."""
    nodes = []
    for value in values:
        for element in value.split(","):
            found = None
            for pair in element.split(";"):
                name, sep, raw = pair.strip().partition("=")
                if not sep:
                    raise Malformed(f"Forwarded: {pair.strip()!r} is not name=value")
                if name.strip().lower() == "for":
                    if found is not None:
                        raise Malformed("Forwarded: two for= in one element")
                    found = _unquote(raw.strip())
            if found is None:
                raise Malformed("Forwarded: an element without for=")
            nodes.append(_strip_port(found))
    return _chain(nodes, ported=False)


def _unquote(raw: str) -> str:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"') or '"' in raw[1:-1] or "\\" in raw:
            raise Malformed("Forwarded: a badly quoted value")
        return raw[1:-1]
    return raw


def _strip_port(node: str) -> str:
    """`[v6]:port` -> v6, `v4:port` -> v4; a bare v6 stays as it is."""
    if node.startswith("["):
        end = node.find("]")
        if end < 0 or (end + 1 < len(node) and not node[end + 1 :].startswith(":")):
            raise Malformed("forwarding header: a bracket without its end")
        return node[1:end]
    if node.count(":") == 1:
        return node.split(":", 1)[0]
    return node


def _chain(items: list[str], *, ported: bool = True) -> list[Address]:
    if not items or len(items) > MAX_HOPS:
        raise Malformed("forwarding header: no addresses, or too many")
    chain = []
    for item in items:
        address = _parse(_strip_port(item) if ported else item)
        if address is None:  # empty, "unknown", an obfuscated name: the chain is not certain
            raise Malformed(f"forwarding header: {item[:60]!r} is not an address")
        chain.append(address)
    return chain
