"""The evtx-JSON envelope: what ``evtx.PyEvtxParser(...).records_json()`` yields per record.

Shapes are copied from real records (EVTX-ATTACK-SAMPLES and SigmaHQ regression data): key
order, ``#attributes`` placement, ``Qualifiers`` on classic providers, ``Security: null`` on the
Security channel, ``UserData`` for 1102/104/1149 and TerminalServices events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dwell.scenario._clock import system_time

Record = dict[str, Any]

XMLNS = "http://schemas.microsoft.com/win/2004/08/events/event"

SECURITY = "Security"
SYSTEM = "System"
APPLICATION = "Application"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL = "Microsoft-Windows-PowerShell/Operational"
WINDOWS_POWERSHELL = "Windows PowerShell"
RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"
LSM = "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
DEFENDER = "Microsoft-Windows-Windows Defender/Operational"
EXCHANGE = "MSExchange Management"
TASKS = "Microsoft-Windows-TaskScheduler/Operational"
WINRM = "Microsoft-Windows-WinRM/Operational"
IIS = "Microsoft-IIS-Logging/Logs"


@dataclass(frozen=True, slots=True)
class Provider:
    """An event provider as it appears in ``System/Provider``."""

    name: str
    guid: str
    channel: str
    keywords: str
    classic: bool = False  # legacy source: no Version/Opcode/Correlation/Execution
    source_name: bool = False  # SCM-style EventSourceName attribute


P_SYSMON = Provider(
    "Microsoft-Windows-Sysmon", "5770385F-C22A-43E0-BF4C-06F5698FFBD9", SYSMON,
    "0x8000000000000000",
)
P_SECURITY = Provider(
    "Microsoft-Windows-Security-Auditing", "54849625-5478-4994-A5BA-3E3B0328C30D", SECURITY,
    "0x8020000000000000",
)
P_EVENTLOG_SECURITY = Provider(
    "Microsoft-Windows-Eventlog", "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}", SECURITY,
    "0x4020000000000000",
)
P_EVENTLOG_SYSTEM = Provider(
    "Microsoft-Windows-Eventlog", "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}", SYSTEM,
    "0x8000000000000000",
)
P_SCM = Provider(
    "Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}", SYSTEM,
    "0x8080000000000000", source_name=True,
)
P_EVENTLOG_CLASSIC = Provider("EventLog", "", SYSTEM, "0x80000000000000", classic=True)
P_USER32 = Provider("User32", "", SYSTEM, "0x8080000000000000", classic=True)
P_KERNEL_GENERAL = Provider(
    "Microsoft-Windows-Kernel-General", "{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}", SYSTEM,
    "0x8000000000000000",
)
P_WINDOWS_UPDATE = Provider(
    "Microsoft-Windows-WindowsUpdateClient", "{945a8954-c147-4acd-923f-40c45405a658}", SYSTEM,
    "0x8000000000000018",
)
P_TIME = Provider(
    "Microsoft-Windows-Time-Service", "{06EDCFEB-0FD0-4E53-ACCA-A6F8BBF81BCB}", SYSTEM,
    "0x8000000000000000",
)
P_GROUP_POLICY = Provider(
    "Microsoft-Windows-GroupPolicy", "{aea1b4fa-97d1-45f2-a64c-4d69fffd92c9}", SYSTEM,
    "0x8000000000000000",
)
P_RCM = Provider(
    "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
    "C76BAA63-AE81-421C-B425-340B4B24157F", RCM, "0x1000000000000000",
)
P_LSM = Provider(
    "Microsoft-Windows-TerminalServices-LocalSessionManager",
    "5D896912-022D-40AA-A3A8-4FA5515C76D7", LSM, "0x1000000000000000",
)
P_POWERSHELL = Provider(
    "Microsoft-Windows-PowerShell", "A0C1853B-5C40-4B15-8766-3CF1C58F985A", POWERSHELL, "0x0",
)
P_WINDOWS_POWERSHELL = Provider("PowerShell", "", WINDOWS_POWERSHELL, "0x80000000000000")
P_DEFENDER = Provider(
    "Microsoft-Windows-Windows Defender", "11CD958A-C507-4EF3-B3F2-5FD9DFBD2C78", DEFENDER,
    "0x8000000000000000",
)
P_TASKS = Provider(
    "Microsoft-Windows-TaskScheduler", "DE7B24EA-73C8-4A09-985D-5BDADCFA9017", TASKS,
    "0x8000000000000000",
)
P_WINRM = Provider(
    "Microsoft-Windows-WinRM", "{a7975c8f-ac13-49f1-87da-5a984a4ab417}", WINRM,
    "0x4000000000000002",
)
P_IIS = Provider(
    "Microsoft-Windows-IIS-Logging", "{7E8AD27F-B271-4EA2-A783-A47BDE29143B}", IIS,
    "0x8000000000000000",
)
P_EXCHANGE = Provider("MSExchange CmdletLogs", "", EXCHANGE, "0x80000000000000", classic=True)


def app_provider(name: str) -> Provider:
    """A classic Application-log source (MSSQLSERVER, MsiInstaller, an in-house app)."""
    return Provider(name, "", APPLICATION, "0x80000000000000", classic=True)


def envelope(
    provider: Provider,
    eid: int,
    t: int,
    computer: str,
    body: Record | None,
    *,
    body_key: str = "EventData",
    version: int = 0,
    level: int = 4,
    task: int = 0,
    opcode: int = 0,
    qualifiers: int | None = None,
    keywords: str | None = None,
    pid: int = 0,
    tid: int = 0,
    user_sid: str | None = None,
    activity: str | None = None,
) -> Record:
    """Build one record; ``EventRecordID`` is filled in by the writer."""
    attrs: Record = {"Name": provider.name}
    if provider.guid:
        attrs["Guid"] = provider.guid
    if provider.source_name:
        attrs["EventSourceName"] = provider.name
    system: Record = {"Provider": {"#attributes": attrs}}
    if qualifiers is None:
        system["EventID"] = eid
    else:
        system["EventID"] = {"#attributes": {"Qualifiers": qualifiers}, "#text": eid}
    if not provider.classic:
        system["Version"] = version
    system["Level"] = level
    system["Task"] = task
    if not provider.classic:
        system["Opcode"] = opcode
    system["Keywords"] = keywords or provider.keywords
    system["TimeCreated"] = {"#attributes": {"SystemTime": system_time(t)}}
    system["EventRecordID"] = 0
    if not provider.classic:
        system["Correlation"] = (
            None if activity is None else {"#attributes": {"ActivityID": activity}}
        )
        system["Execution"] = {"#attributes": {"ProcessID": pid, "ThreadID": tid}}
    system["Channel"] = provider.channel
    system["Computer"] = computer
    system["Security"] = None if user_sid is None else {"#attributes": {"UserID": user_sid}}
    return {"Event": {"#attributes": {"xmlns": XMLNS}, "System": system, body_key: body}}


def data_list(*items: str) -> Record:
    """Unnamed ``<Data>`` items, as the evtx crate renders them."""
    return {"Data": {"#text": list(items)}, "Binary": None}


def user_data(tag: str, attrs: Record, fields: Record) -> Record:
    """``UserData/<tag>`` with namespace attributes then the fields."""
    inner: Record = {"#attributes": attrs}
    inner.update(fields)
    return {tag: inner}


EVENT_NS: Record = {"xmlns:auto-ns2": "http://schemas.microsoft.com/win/2004/08/events",
                    "xmlns": "Event_NS"}
LOG_CLEARED_NS: Record = {
    "xmlns:auto-ns3": "http://schemas.microsoft.com/win/2004/08/events",
    "xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog",
}
