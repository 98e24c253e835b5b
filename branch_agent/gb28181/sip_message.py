"""SIP messages (RFC 3261) as GB/T 28181 cameras send them: parse, build, serialise, frame.

Cameras are lenient about the grammar (bare LF line ends, compact header names, headers folded
over lines, several Via values in one header), so the parser accepts what RFC 3261 allows and
names exactly what it cannot accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 3261 section 7.3.3: one-letter forms a camera may send instead of the full name.
COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "Expires",
        "Date",
        "Content-Type",
        "Content-Length",
        "Content-Encoding",
        "User-Agent",
        "Authorization",
        "WWW-Authenticate",
        "Route",
        "Record-Route",
        "Subject",
        "Supported",
        "Allow",
    )
}
# Only these may carry several comma-separated values; WWW-Authenticate and Date contain commas
# that are not separators.
_LIST_HEADERS = {"via", "contact", "route", "record-route", "allow", "supported"}

MAX_HEADER_BYTES = 64 * 1024
# A whole message (headers and body); a GB/T 28181 catalogue is sent in pieces well below this.
MAX_MESSAGE_BYTES = 256 * 1024

_REQUEST_LINE = re.compile(r"^([A-Za-z]+) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3})(?: (.*))?$")


class SipParseError(ValueError):
    """The bytes are not a SIP message this agent can understand; the message says why.

    ``partial`` is the message as far as its headers could be read (None if they could not), so
    a request with a bad Content-Length can still be answered 400.
    """

    def __init__(self, message: str, partial: SipRequest | SipResponse | None = None) -> None:
        super().__init__(message)
        self.partial = partial


def ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also takes '²', '١' and '６', which are no numbers on the wire."""
    return text.isascii() and text.isdigit()


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    if key in COMPACT_FORMS:
        return COMPACT_FORMS[key]
    return _CANONICAL.get(key, name.strip())


@dataclass
class SipMessage:
    """Headers keep their order and repetitions; names are canonical (compact forms expanded)."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name).lower()
        for hname, value in self.headers:
            if hname.lower() == key:
                return value
        return default

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"missing {canonical_name(name)} header")
        return value

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, with comma-joined list headers split into their values."""
        key = canonical_name(name).lower()
        values: list[str] = []
        for hname, value in self.headers:
            if hname.lower() == key:
                values.extend(split_list(value) if key in _LIST_HEADERS else [value])
        return values

    def set(self, name: str, value: str) -> None:
        """Replace every occurrence of ``name`` by one header at the place of the first."""
        cname = canonical_name(name)
        key = cname.lower()
        out: list[tuple[str, str]] = []
        placed = False
        for hname, hvalue in self.headers:
            if hname.lower() == key:
                if not placed:
                    out.append((cname, value))
                    placed = True
            else:
                out.append((hname, hvalue))
        if not placed:
            out.append((cname, value))
        self.headers = out

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    @property
    def call_id(self) -> str:
        return self.require("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        raw = self.require("CSeq")
        parts = raw.split()
        if len(parts) != 2 or not ascii_digits(parts[0]):
            raise SipParseError(f"CSeq must be '<number> <method>', got {raw!r}")
        return int(parts[0]), parts[1].upper()

    def _start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """Wire bytes, with Content-Length always set from the body (TCP framing depends on it)."""
        self.set("Content-Length", str(len(self.body)))
        lines = [self._start_line()] + [f"{name}: {value}" for name, value in self.headers]
        for line in lines:
            # A value echoed from a camera (or an error text) must not be able to inject headers.
            if "\r" in line or "\n" in line:
                raise ValueError(f"line break inside SIP header or start line: {line[:80]!r}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: str = ""

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass
class SipResponse(SipMessage):
    status: int = 0
    reason: str = ""

    def _start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


def split_list(value: str) -> list[str]:
    """Split on commas that are outside quotes and angle brackets."""
    parts: list[str] = []
    depth_angle = 0
    quoted = False
    current: list[str] = []
    prev = ""
    for ch in value:
        if ch == '"' and prev != "\\":
            quoted = not quoted
        elif not quoted and ch == "<":
            depth_angle += 1
        elif not quoted and ch == ">":
            depth_angle = max(0, depth_angle - 1)
        if ch == "," and not quoted and depth_angle == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        prev = ch
    tail = "".join(current).strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")


def parse_via(value: str) -> Via:
    match = re.match(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(.*)$", value)
    if not match:
        raise SipParseError(f"Via must be 'SIP/2.0/<transport> host[:port];params', got {value!r}")
    transport, sent_by, rest = match.groups()
    host, port = _split_host_port(sent_by, value)
    return Via(transport.upper(), host, port, _params(rest))


@dataclass(frozen=True)
class NameAddr:
    """From, To or Contact: the URI, its user part and the header parameters (``tag``)."""

    display: str
    uri: str
    params: dict[str, str | None]

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def user(self) -> str:
        return sip_uri_user(self.uri)


def parse_name_addr(value: str) -> NameAddr:
    value = value.strip()
    if "<" in value:
        match = re.match(r"^(.*?)<([^>]*)>(.*)$", value)
        if not match:
            raise SipParseError(f"unbalanced '<' in address {value!r}")
        display, uri, rest = match.groups()
        return NameAddr(display.strip().strip('"'), uri.strip(), _params(rest))
    # Without angle brackets, parameters after the URI belong to the header (RFC 3261 20.10).
    uri, _, rest = value.partition(";")
    if not uri:
        raise SipParseError(f"empty address in {value!r}")
    return NameAddr("", uri.strip(), _params(";" + rest if rest else ""))


def sip_uri_user(uri: str) -> str:
    match = re.match(r"^sips?:([^@;>]+)@", uri.strip())
    return match.group(1) if match else ""


def sip_uri_host_port(uri: str) -> tuple[str, int | None]:
    match = re.match(r"^sips?:(?:[^@]+@)?([^;?>]+)", uri.strip())
    if not match:
        raise SipParseError(f"not a sip: URI: {uri!r}")
    return _split_host_port(match.group(1), uri)


def _split_host_port(text: str, context: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if port_text and (not ascii_digits(port_text) or int(port_text) > 65535):
        raise SipParseError(f"bad port {port_text!r} in {context!r}")
    return host, int(port_text) if port_text else None


def _params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        params[key.strip().lower()] = val.strip().strip('"') if sep else None
    return params


def parse_message(data: bytes, max_message_bytes: int = MAX_MESSAGE_BYTES) -> SipRequest | SipResponse:
    """One datagram. Bytes after Content-Length are ignored; a body shorter than it is an error."""
    head, body = _split_head(data)
    message = _parse_head(head, max_message_bytes)
    length = message.get("Content-Length")
    try:
        n = len(body) if length is None else _content_length(length)
        _check_size(len(head) + n, max_message_bytes)
    except SipParseError as exc:
        raise SipParseError(str(exc), message) from None
    if len(body) < n:
        # RFC 3261 18.3: a datagram shorter than its Content-Length is discarded, not answered.
        raise SipParseError(f"Content-Length says {n} bytes but the body has {len(body)}")
    message.body = body[:n]
    return message


def _check_size(total: int, limit: int) -> None:
    if total > limit:
        raise SipParseError(f"message of {total} bytes exceeds the {limit}-byte limit")


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = data.find(sep)
        if idx >= 0:
            return data[:idx], data[idx + len(sep) :]
    raise SipParseError("no blank line ends the headers (message truncated?)")


def _content_length(text: str) -> int:
    text = text.strip()
    if not ascii_digits(text) or len(text) > 10:
        raise SipParseError(f"Content-Length must be a non-negative integer, got {text!r}")
    return int(text)


def _parse_head(head: bytes, max_message_bytes: int = MAX_MESSAGE_BYTES) -> SipRequest | SipResponse:
    limit = min(MAX_HEADER_BYTES, max_message_bytes)
    if len(head) > limit:
        raise SipParseError(f"headers exceed {limit} bytes")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # Some cameras put GB2312 display names in From; GB18030 decodes every GB2312 byte string.
        text = head.decode("gb18030", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    message: SipRequest | SipResponse
    if m := _REQUEST_LINE.match(start):
        message = SipRequest(method=m.group(1).upper(), uri=m.group(2))
    elif m := _STATUS_LINE.match(start):
        message = SipResponse(status=int(m.group(1)), reason=(m.group(2) or "").strip())
    else:
        raise SipParseError(f"not a SIP request or status line: {start[:80]!r}")
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            # Header folding (RFC 3261 7.3.1): the line continues the previous header's value.
            if not message.headers:
                raise SipParseError(f"continuation line before any header: {line[:80]!r}")
            name, value = message.headers[-1]
            message.headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise SipParseError(f"malformed header line: {line[:80]!r}")
        message.headers.append((canonical_name(name), value.strip()))
    return message


class StreamFramer:
    """Cuts a TCP byte stream into messages using Content-Length (RFC 3261 18.3).

    Feed it whatever ``read`` returned; it keeps partial data and returns every complete message.
    A message (headers and body) longer than ``max_message_bytes`` is an error, found as soon as
    its headers or its Content-Length say so, not after its body has been buffered.
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self.max_message_bytes = max_message_bytes

    def feed(self, data: bytes) -> list[SipRequest | SipResponse]:
        self._buffer.extend(data)
        messages: list[SipRequest | SipResponse] = []
        while True:
            # CRLF keep-alive pings (RFC 5626) may sit between messages.
            while self._buffer[:2] == b"\r\n" or self._buffer[:1] == b"\n":
                del self._buffer[: 2 if self._buffer[:2] == b"\r\n" else 1]
            end, sep_len = self._head_end()
            head_limit = min(MAX_HEADER_BYTES, self.max_message_bytes)
            if end < 0:
                if len(self._buffer) > head_limit:
                    raise SipParseError(f"no end of headers within {head_limit} bytes")
                return messages
            message = _parse_head(bytes(self._buffer[:end]), self.max_message_bytes)
            length = message.get("Content-Length")
            try:
                if length is None:
                    raise SipParseError("a SIP message over TCP must carry Content-Length")
                n = _content_length(length)
                _check_size(end + n, self.max_message_bytes)
            except SipParseError as exc:
                raise SipParseError(str(exc), message) from None
            total = end + sep_len + n
            if len(self._buffer) < total:
                return messages
            message.body = bytes(self._buffer[end + sep_len : total])
            del self._buffer[:total]
            messages.append(message)

    def _head_end(self) -> tuple[int, int]:
        crlf = self._buffer.find(b"\r\n\r\n")
        lf = self._buffer.find(b"\n\n")
        if crlf >= 0 and (lf < 0 or crlf <= lf):
            return crlf, 4
        return (lf, 2) if lf >= 0 else (-1, 0)

    @property
    def pending(self) -> int:
        return len(self._buffer)


def make_response(request: SipRequest, status: int, reason: str, to_tag: str | None = None) -> SipResponse:
    """A response carrying the request's Via, From, To, Call-ID and CSeq (RFC 3261 8.2.6.2)."""
    response = SipResponse(status=status, reason=reason)
    for name, value in request.headers:
        if name in ("Via", "From", "Call-ID", "CSeq"):
            response.headers.append((name, value))
        elif name == "To":
            if to_tag and parse_name_addr(value).tag is None:
                value = f"{value};tag={to_tag}"
            response.headers.append((name, value))
    return response
