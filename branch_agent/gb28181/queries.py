"""Device queries (GB/T 28181-2016 9.5, A.2.4) and their answers: Catalog, DeviceInfo, DeviceStatus.

The platform sends ``<Query>`` in a MESSAGE; the device answers that MESSAGE with 200 OK and
later sends its own MESSAGE carrying ``<Response>`` with the same CmdType, SN and DeviceID, which
is how the answer finds its query (there is no SIP dialog linking them). It must also come from
where the queried device registered (address and port, or its TCP connection): an answer with
the right numbers from anyone else, a registered device answering for another included, is not
taken. A Catalog may come in
several MESSAGEs: ``SumNum`` is the total, ``<DeviceList Num="n">`` the items in this one, so
items are collected until SumNum have arrived; on timeout the caller gets what did arrive.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from branch_agent.gb28181.devices import Channel, Origin
from branch_agent.gb28181.gb_ids import InvalidGbId, parse_gb_id
from branch_agent.gb28181.manscdp import ManscdpMessage

log = logging.getLogger(__name__)

CATALOG = "Catalog"
DEVICE_INFO = "DeviceInfo"
DEVICE_STATUS = "DeviceStatus"
QUERY_TYPES = (CATALOG, DEVICE_INFO, DEVICE_STATUS)

_CHANNEL_FIELDS = {
    "Name": "name",
    "Manufacturer": "manufacturer",
    "Model": "model",
    "Status": "status",
    "ParentID": "parent_id",
    "Address": "address",
    "CivilCode": "civil_code",
}


class QueryError(RuntimeError):
    """A query that did not produce an answer; the message says why."""


class QueryRefused(QueryError):
    """The device answered the query MESSAGE itself with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class QueryTimeout(QueryError, TimeoutError):
    """No (complete) Response arrived in time."""


class CatalogIncomplete(QueryTimeout):
    """Fewer than SumNum catalogue items arrived in time; ``channels`` holds those that did."""

    def __init__(
        self, message: str, channels: tuple[Channel, ...], invalid: tuple[tuple[str, str], ...], expected: int | None
    ) -> None:
        super().__init__(message)
        self.channels = channels
        self.invalid = invalid
        self.expected = expected


@dataclass(frozen=True)
class DeviceInfo:
    """A.2.6.5: what the device says it is."""

    device_id: str
    result: str = ""
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    channel_count: int | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DeviceStatus:
    """A.2.6.6: whether the device works, records, and its clock."""

    device_id: str
    result: str = ""
    online: str = ""  # ONLINE / OFFLINE
    status: str = ""  # OK / ERROR
    encode: str = ""  # ON / OFF
    record: str = ""  # ON / OFF
    device_time: str = ""
    alarms: tuple[tuple[str, str], ...] = ()  # (alarm DeviceID, DutyStatus)
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def working(self) -> bool:
        return self.online.upper() == "ONLINE" and self.status.upper() == "OK"


@dataclass
class CatalogParts:
    """Catalogue items gathered over one or more Response MESSAGEs, deduplicated by ID."""

    sum_num: int | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    messages: int = 0

    def add(self, message: ManscdpMessage) -> None:
        self.messages += 1
        sum_text = message.fields.get("SumNum", "").strip()
        if sum_text.isascii() and sum_text.isdigit():
            self.sum_num = int(sum_text)
        for item in _items(message):
            raw_id = _text(item, "DeviceID")
            try:
                channel_id = parse_gb_id(raw_id, "catalogue channel ID").raw
            except InvalidGbId as exc:
                if raw_id not in self.invalid:
                    log.warning("device %s: %s", message.device_id, exc)
                self.invalid[raw_id] = str(exc)
                continue
            self.channels[channel_id] = _channel(channel_id, item)

    @property
    def received(self) -> int:
        return len(self.channels) + len(self.invalid)

    @property
    def complete(self) -> bool:
        return self.sum_num is not None and self.received >= self.sum_num


def _items(message: ManscdpMessage) -> list[ET.Element]:
    root = ET.fromstring(message.xml)
    device_list = root.find("DeviceList")
    return [] if device_list is None else list(device_list.findall("Item"))


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _channel(channel_id: str, item: ET.Element) -> Channel:
    known: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for child in item:
        if child.tag == "DeviceID" or len(child) > 0:
            continue
        value = (child.text or "").strip()
        if child.tag in _CHANNEL_FIELDS:
            known[_CHANNEL_FIELDS[child.tag]] = value
        else:
            extra.append((child.tag, value))
    return Channel(channel_id=channel_id, extra=tuple(extra), **known)


def parse_device_info(message: ManscdpMessage) -> DeviceInfo:
    f = message.fields
    count = f.get("Channel", "").strip()
    used = {"Result", "DeviceName", "Manufacturer", "Model", "Firmware", "Channel"}
    return DeviceInfo(
        device_id=message.device_id,
        result=f.get("Result", ""),
        name=f.get("DeviceName", ""),
        manufacturer=f.get("Manufacturer", ""),
        model=f.get("Model", ""),
        firmware=f.get("Firmware", ""),
        channel_count=int(count) if count.isascii() and count.isdigit() else None,
        extra=tuple((k, v) for k, v in f.items() if k not in used),
    )


def parse_device_status(message: ManscdpMessage) -> DeviceStatus:
    f = message.fields
    alarms: list[tuple[str, str]] = []
    root = ET.fromstring(message.xml)
    alarm_list = root.find("Alarmstatus")
    if alarm_list is not None:
        for item in alarm_list.findall("Item"):
            alarms.append((_text(item, "DeviceID"), _text(item, "DutyStatus")))
    used = {"Result", "Online", "Status", "Encode", "Record", "DeviceTime"}
    return DeviceStatus(
        device_id=message.device_id,
        result=f.get("Result", ""),
        online=f.get("Online", ""),
        status=f.get("Status", ""),
        encode=f.get("Encode", ""),
        record=f.get("Record", ""),
        device_time=f.get("DeviceTime", ""),
        alarms=tuple(alarms),
        extra=tuple((k, v) for k, v in f.items() if k not in used),
    )


QueryKey = tuple[str, int, str]  # (CmdType, SN, DeviceID)


@dataclass
class PendingQuery:
    key: QueryKey
    done: asyncio.Future[None]
    origin: Origin  # where the queried device registered: the only sender of its answer
    responses: list[ManscdpMessage] = field(default_factory=list)
    catalog: CatalogParts = field(default_factory=CatalogParts)


class PendingQueries:
    """Queries waiting for their Response MESSAGE(s), matched on CmdType, SN, DeviceID and sender."""

    def __init__(self) -> None:
        self._open: dict[QueryKey, PendingQuery] = {}

    def open(self, cmd_type: str, sn: int, device_id: str, origin: Origin) -> PendingQuery:
        key = (cmd_type, sn, device_id)
        if key in self._open:
            raise QueryError(f"a {cmd_type} query with SN {sn} to {device_id} is already waiting")
        query = PendingQuery(key, asyncio.get_running_loop().create_future(), origin)
        self._open[key] = query
        return query

    def close(self, query: PendingQuery) -> None:
        if self._open.get(query.key) is query:
            del self._open[query.key]

    def deliver(self, message: ManscdpMessage, origin: Origin) -> bool:
        """Give a Response to its query; False if nobody asked (late, or another platform's) or
        if it did not come from the queried device."""
        if message.root != "Response":
            return False
        query = self._open.get((message.cmd_type, message.sn, message.device_id))
        if query is None:
            return False
        if origin != query.origin:
            log.warning(
                "%s Response SN %d for %s ignored: it came from %s, the device registered from %s",
                message.cmd_type,
                message.sn,
                message.device_id,
                origin,
                query.origin,
            )
            return False
        query.responses.append(message)
        if message.cmd_type == CATALOG:
            query.catalog.add(message)
            finished = query.catalog.complete
        else:
            finished = True
        if finished and not query.done.done():
            query.done.set_result(None)
        return True

    def __len__(self) -> int:
        return len(self._open)
