"""The canonical event schema: one module, few types.

Every stored event is one row with a UTC timestamp, where it was logged (host, channel,
provider, event id, record id), where we read it (source file, sha256 and position), a few
typed columns that the campaign and report stages use, and ``fields``: a JSON object holding
**every** field of the event, flattened, so that any Sigma field name can be resolved later.

Column types follow the style brief: str, int, bool, UTC timestamps in nanoseconds.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

import pyarrow as pa

DATA_TYPE_EVTX: Final = "windows:evtx:record"

#: Typed columns derived from flattened fields: column -> candidate field names, first wins.
TYPED_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "user": ("User", "SubjectUserName", "UserName", "AccountName"),
    "image": ("Image", "NewProcessName", "Application", "ProcessName"),
    "command_line": ("CommandLine", "ProcessCommandLine"),
    "parent_image": ("ParentImage", "ParentProcessName"),
    "parent_command_line": ("ParentCommandLine",),
    "target_filename": ("TargetFilename", "TargetFileName", "RelativeTargetName"),
    "src_ip": ("SourceIp", "IpAddress", "SourceAddress", "ClientAddress", "SourceNetworkAddress"),
    "src_port": ("SourcePort", "IpPort"),
    "dst_ip": ("DestinationIp", "DestAddress"),
    "dst_port": ("DestinationPort", "DestPort"),
    "logon_type": ("LogonType",),
    "target_user": ("TargetUserName", "TargetUser"),
    "target_domain": ("TargetDomainName",),
    "workstation": ("WorkstationName", "Workstation"),
    "logon_id": ("TargetLogonId", "LogonId", "SubjectLogonId"),
    "service_name": ("ServiceName",),
    "service_file": ("ImagePath", "ServiceFileName"),
    "share_name": ("ShareName",),
    "hashes": ("Hashes", "Hash"),
}
INT_TYPED: Final = frozenset({"src_port", "dst_port", "logon_type"})

EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("timestamp", pa.timestamp("ns", tz="UTC")),
        pa.field("host", pa.string()),
        pa.field("host_short", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("event_id", pa.int32()),
        pa.field("record_id", pa.int64()),
        pa.field("data_type", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_sha256", pa.string()),
        pa.field("source_pos", pa.int64()),
        *(
            pa.field(name, pa.int64() if name in INT_TYPED else pa.string())
            for name in TYPED_FIELDS
        ),
        pa.field("fields", pa.string()),
    ]
)
EVENT_COLUMNS: Final = tuple(EVENT_SCHEMA.names)


def normalize_host(name: str | None) -> str | None:
    """Short upper-case host name (``ws01.corp.local`` -> ``WS01``); IP addresses stay."""
    if not name:
        return None
    text = name.strip().strip("\\")
    if not text or text == "-":
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text.split(".", 1)[0].upper()
    return text


def to_int(value: Any) -> int | None:
    """Integer from an int or decimal/hex string, else None (bad values never raise)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 16) if text[:2].lower() == "0x" else int(text)
        except ValueError:
            return None
    return None


#: One row per (rule, event) hit. ``matched`` is a JSON object {field: value} of the values that
#: satisfied the rule; correlation hits have ``correlation`` set and reference their last event.
DETECTION_SCHEMA: Final = pa.schema(
    [
        pa.field("rule_id", pa.string()),
        pa.field("title", pa.string()),
        pa.field("level", pa.string()),
        pa.field("status", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("rule_file", pa.string()),
        pa.field("rule_sha256", pa.string()),
        pa.field("timestamp", pa.timestamp("ns", tz="UTC")),
        pa.field("host", pa.string()),
        pa.field("host_short", pa.string()),
        pa.field("user", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("event_id", pa.int32()),
        pa.field("record_id", pa.int64()),
        pa.field("source_file", pa.string()),
        pa.field("source_sha256", pa.string()),
        pa.field("source_pos", pa.int64()),
        pa.field("matched", pa.string()),
        pa.field("correlation", pa.string()),
    ]
)
DETECTION_COLUMNS: Final = tuple(DETECTION_SCHEMA.names)
