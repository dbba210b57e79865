"""Windows log sources: which event log channel and event ids a Sigma ``logsource`` means.

Sigma rules name abstract log sources (``category: process_creation``); events name their
channel and event id. Each mapping is a list of :class:`Target` s; a rule is evaluated only on
events of its targets, with the target's field renames (Security 4688 calls ``Image``
``NewProcessName``). Service names come from pySigma's own Windows service table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

SYSMON: Final = "microsoft-windows-sysmon/operational"
SECURITY: Final = "security"
PS_OPERATIONAL: Final = ("microsoft-windows-powershell/operational", "powershellcore/operational")
PS_CLASSIC: Final = "windows powershell"


@dataclass(frozen=True, slots=True)
class Target:
    """Events a rule applies to: a channel (lower case; None = any) and event ids (None = any).

    ``fields`` renames Sigma field names (lower case) to the event's field names (lower case).
    """

    channel: str | None
    event_ids: frozenset[int] | None = None
    fields: tuple[tuple[str, str], ...] = ()

    def __reduce__(self) -> tuple[type[Target], tuple[Any, ...]]:
        return Target, (self.channel, self.event_ids, self.fields)

    def label(self) -> str:
        ids = ",".join(str(i) for i in sorted(self.event_ids)) if self.event_ids else "*"
        return f"{self.channel or '*'}:{ids}"


#: Security 4688 (process creation auditing) names of the Sysmon process_creation fields.
_SECURITY_4688_FIELDS: Final = (
    ("image", "newprocessname"),
    ("parentimage", "parentprocessname"),
    ("processid", "newprocessid"),
    ("parentprocessid", "processid"),
    ("user", "subjectusername"),
    ("logonid", "subjectlogonid"),
)


def _sysmon(*ids: int) -> tuple[Target, ...]:
    return (Target(SYSMON, frozenset(ids)),)


def _channels(names: tuple[str, ...], *ids: int) -> tuple[Target, ...]:
    return tuple(Target(name, frozenset(ids) if ids else None) for name in names)


CATEGORIES: Final[dict[str, tuple[Target, ...]]] = {
    "process_creation": (
        *_sysmon(1),
        Target(SECURITY, frozenset({4688}), _SECURITY_4688_FIELDS),
    ),
    "file_change": _sysmon(2),
    "network_connection": (
        *_sysmon(3),
        Target(SECURITY, frozenset({5156}), (
            ("destinationip", "destaddress"), ("destinationport", "destport"),
            ("sourceip", "sourceaddress"), ("image", "application"),
        )),
    ),
    "sysmon_status": _sysmon(4, 16),
    "process_termination": _sysmon(5),
    "driver_load": _sysmon(6),
    "image_load": _sysmon(7),
    "create_remote_thread": _sysmon(8),
    "raw_access_thread": _sysmon(9),
    "process_access": _sysmon(10),
    "file_event": _sysmon(11),
    "registry_add": _sysmon(12),
    "registry_delete": _sysmon(12),
    "registry_event": _sysmon(12, 13, 14),
    "registry_set": _sysmon(13),
    "registry_rename": _sysmon(14),
    "create_stream_hash": _sysmon(15),
    "pipe_created": _sysmon(17, 18),
    "wmi_event": _sysmon(19, 20, 21),
    "dns_query": _sysmon(22),
    "file_delete": _sysmon(23, 26),
    "clipboard_capture": _sysmon(24),
    "process_tampering": _sysmon(25),
    "file_delete_detected": _sysmon(26),
    "file_block_executable": _sysmon(27),
    "file_block_shredding": _sysmon(28),
    "file_executable_detected": _sysmon(29),
    "sysmon_error": _sysmon(255),
    "ps_module": _channels(PS_OPERATIONAL, 4103),
    "ps_script": _channels(PS_OPERATIONAL, 4104),
    "ps_classic_start": _channels((PS_CLASSIC,), 400),
    "ps_classic_provider_start": _channels((PS_CLASSIC,), 600),
    "ps_classic_script": _channels((PS_CLASSIC,), 800),
    # IIS W3C logging to the event log (IIS 8.5+ "ETW event" logging): W3C field names.
    "webserver": _channels(("microsoft-iis-logging/logs",), 6200),
}

#: Services pySigma does not list, or lists under another spelling.
_EXTRA_SERVICES: Final[dict[str, tuple[str, ...]]] = {
    "smbserver-connectivity": ("microsoft-windows-smbserver/connectivity",),
    "terminalservices-remoteconnectionmanager": (
        "microsoft-windows-terminalservices-remoteconnectionmanager/operational",
    ),
    "msexchange-management": ("msexchange management",),
}


def _service_channels(service: str) -> tuple[str, ...] | None:
    if service in _EXTRA_SERVICES:
        return _EXTRA_SERVICES[service]
    from sigma.pipelines.common import windows_logsource_mapping  # (only when compiling)

    found = windows_logsource_mapping.get(service)
    if found is None:
        return None
    names = [found] if isinstance(found, str) else list(found)
    return tuple(name.lower() for name in names)


def targets_for(
    product: str | None, category: str | None, service: str | None
) -> tuple[Target, ...] | str:
    """The targets of a logsource, or the reason it has none (a string)."""
    if product is not None and product.lower() != "windows":
        return f"logsource product {product!r} is not a Windows event log"
    if product is None and category is None and service is None:
        return "rule has no logsource"
    by_category: tuple[Target, ...] | None = None
    if category is not None:
        by_category = CATEGORIES.get(category.lower())
        if by_category is None:
            return f"logsource category {category!r} has no Windows event log mapping"
    by_service: tuple[str, ...] | None = None
    if service is not None:
        by_service = _service_channels(service.lower())
        if by_service is None:
            return f"logsource service {service!r} has no Windows event log mapping"
    if by_category is not None and by_service is not None:
        chosen = tuple(t for t in by_category if t.channel in by_service)
        return chosen or f"logsource category {category!r} and service {service!r} disagree"
    if by_category is not None:
        return by_category
    if by_service is not None:
        return tuple(Target(name) for name in by_service)
    return (Target(None),)
