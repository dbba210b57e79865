"""Select from a case only what reconstruction needs, as Arrow tables.

This is the one module of the stage that touches the store: everything downstream is a pure
function of the tables returned here. Values only ever travel as SQL parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from dwell.schema import DETECTION_SCHEMA

if TYPE_CHECKING:
    from dwell.store import CaseReader

SYSMON: Final = "microsoft-windows-sysmon/operational"

#: Ports whose connections are lateral-movement or file-transfer channels.
LATERAL_PORTS: Final = (21, 22, 135, 445, 3389, 5985, 5986)

#: Process creations worth reading: remote-execution parents, staging, exfiltration, impact,
#: credential theft, tunnels. Classification happens in :mod:`dwell.correlate.activity`.
PROCESS_PATTERN: Final = (
    r"(?i)(wmiprvse\.exe|wsmprovhost\.exe|psexesvc|\\\\127\.0\.0\.1\\|admin\$|"
    r"\brar(\.exe)?\b|7z[a-z]*(\.exe)?\b|rclone|curl(\.exe)?\b|\bftp(\.exe)?\b|pscp|winscp|"
    r"mega(cmd|sync)|mailbox(search|exportrequest)|vssadmin|shadowcopy|wbadmin|bcdedit|"
    r"\bnet1?(\.exe)?\s+stop|\bsc(\.exe)?\s+(stop|config)|taskkill|wevtutil|clear-eventlog|"
    r"cipher(\.exe)?\s+/w|fsutil|mimikatz|sekurlsa|lsadump|comsvcs|minidump|procdump|"
    r"ntdsutil|reg(\.exe)?\s+save|plink|revsocks|chisel|ngrok|ssh(\.exe)?\s+-[rld]|"
    r"invoke-webrequest|uploadfile|-infile)"
)
#: Files, drivers, registry keys and raw access worth reading (Sysmon 6/9/11/13/23/26).
FILE_PATTERN: Final = (
    r"(?i)(\.(docx?|xlsx?|pptx?|pdf|txt|jpe?g|png|csv|sql|bak|mdb|pst|zip)\.[a-z0-9]{2,10}$|"
    r"(readme|read_me|how_to|decrypt|restore|recover|ransom)[^\\]*\.(txt|html?|hta)$|"
    r"\.(rar|7z)$|\.dmp$|rawdisk|rwdsk|elrawdsk|\\services\\[^\\]+\\imagepath)"
)
#: Script blocks and Exchange cmdlets worth reading.
SCRIPT_PATTERN: Final = (
    r"(?i)(mailboxsearch|mailboxexportrequest|applicationimpersonation|set-mppreference|"
    r"enable-psremoting|invoke-command|new-pssession|clear-eventlog|remove-eventlog|"
    r"vssadmin|win32_shadowcopy|rclone|invoke-webrequest\s.*-method\s+post|uploadfile)"
)

_X = "json_extract_string(fields, ?)"

_EVENTS_SQL: Final = f"""
SELECT epoch_ns(timestamp) AS ts, host_short AS host, channel, event_id, record_id,
       source_file, source_pos, "user", image, command_line, parent_image, target_filename,
       src_ip, dst_ip, dst_port, logon_type, target_user, target_domain, workstation,
       logon_id, service_name, service_file, share_name,
       CASE WHEN event_id = 1149 THEN {_X} END AS p_user,
       CASE WHEN event_id = 1149 THEN {_X} END AS p_domain,
       CASE WHEN event_id = 1149 THEN {_X}
            WHEN event_id IN (21, 22, 25) THEN {_X} END AS p_address,
       CASE WHEN event_id = 3 THEN {_X} END AS initiated,
       CASE WHEN event_id = 4648 THEN {_X} END AS target_server,
       CASE WHEN event_id = 4624 THEN {_X} END AS target_sid,
       CASE WHEN event_id = 4698 THEN {_X} END AS task_name,
       CASE WHEN event_id IN (4104, 4103) OR lower(channel) = 'msexchange management'
            THEN substr(fields, 1, 4000) END AS script,
       CASE WHEN event_id IN (13, 6, 9) AND lower(channel) = '{SYSMON}'
            THEN coalesce({_X}, {_X}, {_X})
            WHEN event_id = 104 THEN {_X} END AS object
FROM events
WHERE timestamp IS NOT NULL AND host_short IS NOT NULL AND (
    (lower(channel) = 'security' AND event_id = 4624 AND logon_type IN (2, 3, 8, 10, 11, 12)
        AND target_user NOT LIKE '%$'
        AND upper(target_user) NOT IN ('ANONYMOUS LOGON', 'SYSTEM', 'LOCAL SERVICE',
                                       'NETWORK SERVICE', '-')) OR
    (lower(channel) = 'security' AND event_id IN (4648, 4720, 4697, 4698, 1102)) OR
    (lower(channel) = 'security' AND event_id = 4769 AND service_name NOT LIKE '%$'
        AND lower(service_name) <> 'krbtgt'
        AND json_extract_string(fields, '$.TicketEncryptionType') IN ('0x17', '0x18')) OR
    (lower(channel) = 'security' AND event_id IN (5140, 5145)
        AND share_name IS NOT NULL AND share_name NOT ILIKE '%IPC$') OR
    (lower(channel) = 'system' AND event_id IN (7045, 104)) OR
    (lower(channel) LIKE '%terminalservices-remoteconnectionmanager%' AND event_id = 1149) OR
    (lower(channel) LIKE '%terminalservices-localsessionmanager%' AND event_id IN (21, 22, 25))
    OR (lower(channel) = '{SYSMON}' AND event_id = 3 AND dst_port IN ({", ".join("?" * 7)}))
    OR (((lower(channel) = '{SYSMON}' AND event_id = 1) OR
         (lower(channel) = 'security' AND event_id = 4688))
        AND regexp_matches(concat_ws(' ', image, parent_image, command_line), ?))
    OR (lower(channel) = '{SYSMON}' AND event_id IN (6, 9, 11, 13, 23, 26)
        AND regexp_matches(concat_ws(' ', target_filename, image, service_file,
                                     json_extract_string(fields, '$.TargetObject'),
                                     json_extract_string(fields, '$.ImageLoaded'),
                                     json_extract_string(fields, '$.Device')), ?))
    OR (event_id IN (4104, 4103) AND regexp_matches(fields, ?))
    OR (lower(channel) = 'msexchange management' AND regexp_matches(fields, ?))
)
"""

_EVENT_PARAMS: Final = [
    "$.Param1", "$.Param2", "$.Param3", "$.Address", "$.Initiated", "$.TargetServerName",
    "$.TargetUserSid", "$.TaskName", "$.TargetObject", "$.ImageLoaded", "$.Device",
    '$."UserData.LogFileCleared.Channel"',
    *LATERAL_PORTS, PROCESS_PATTERN, FILE_PATTERN, SCRIPT_PATTERN, SCRIPT_PATTERN,
]

_CHANNELS_SQL: Final = """
SELECT host_short AS host, channel, count(*) AS events, epoch_ns(min(timestamp)) AS first_ts,
       epoch_ns(max(timestamp)) AS last_ts, min(record_id) AS first_record,
       max(record_id) AS last_record
FROM events WHERE host_short IS NOT NULL AND channel IS NOT NULL AND timestamp IS NOT NULL
GROUP BY 1, 2
"""

_GAPS_SQL: Final = """
SELECT host, channel, prev_record, record_id, prev_ts, ts FROM (
    SELECT host_short AS host, channel, record_id, epoch_ns(timestamp) AS ts,
           lag(record_id) OVER w AS prev_record, lag(epoch_ns(timestamp)) OVER w AS prev_ts
    FROM (SELECT DISTINCT host_short, channel, record_id, timestamp FROM events
          WHERE record_id IS NOT NULL AND host_short IS NOT NULL AND channel IS NOT NULL)
    WINDOW w AS (PARTITION BY host_short, channel ORDER BY record_id)
) WHERE record_id - prev_record > 1
ORDER BY record_id - prev_record DESC
LIMIT 2000
"""

#: Evidence that an IP belonged to a host: (ip, host name, day) with the first time seen.
_IPS_SQL: Final = f"""
WITH obs AS (
    SELECT CASE WHEN json_extract_string(fields, '$.Initiated') IN ('true', 'True', '1')
                THEN src_ip ELSE dst_ip END AS ip, host_short AS name, timestamp
    FROM events WHERE lower(channel) = '{SYSMON}' AND event_id = 3
    UNION ALL
    SELECT src_ip, workstation, timestamp FROM events
    WHERE lower(channel) = 'security' AND event_id IN (4624, 4625, 4776)
          AND src_ip IS NOT NULL AND workstation IS NOT NULL
    UNION ALL
    SELECT json_extract_string(fields, '$.SourceIp'),
           json_extract_string(fields, '$.SourceHostname'), timestamp
    FROM events WHERE lower(channel) = '{SYSMON}' AND event_id = 3
    UNION ALL
    SELECT json_extract_string(fields, '$.DestinationIp'),
           json_extract_string(fields, '$.DestinationHostname'), timestamp
    FROM events WHERE lower(channel) = '{SYSMON}' AND event_id = 3
    UNION ALL
    SELECT unnest(regexp_extract_all(json_extract_string(fields, '$.QueryResults'),
                                     '(\\d+\\.\\d+\\.\\d+\\.\\d+)')),
           json_extract_string(fields, '$.QueryName'), timestamp
    FROM events WHERE lower(channel) = '{SYSMON}' AND event_id = 22
)
SELECT ip, name, epoch_ns(min(timestamp)) AS ts FROM obs
WHERE ip IS NOT NULL AND name IS NOT NULL AND name <> '-' AND name <> ''
GROUP BY ip, name, date_trunc('day', timestamp)
"""

_SIDS_SQL: Final = """
SELECT DISTINCT json_extract_string(fields, '$.TargetUserSid') AS sid, target_user
FROM events WHERE lower(channel) = 'security' AND event_id = 4624 AND target_user IS NOT NULL
"""

_DETECTIONS_SQL: Final = """
SELECT d.rule_id, d.title, d.level, d.tags, d.rule_file, epoch_ns(d.timestamp) AS ts,
       coalesce(d.host_short, e.host_short) AS host, coalesce(d."user", e."user") AS "user",
       d.channel, d.event_id, d.record_id, d.source_file, d.source_pos, d.matched,
       e.image, e.command_line, e.parent_image, e.target_filename, e.target_user,
       coalesce(e.src_ip, json_extract_string(e.fields, '$."c-ip"')) AS src_ip, e.service_file
FROM dets d LEFT JOIN events e
  ON e.source_sha256 = d.source_sha256 AND e.source_pos = d.source_pos
WHERE d.timestamp IS NOT NULL
"""


#: Web server requests from outside the estate's address space (IIS W3C fields).
_WEB_SQL: Final = """
SELECT ts, host, ip, method, stem, "user", bytes, source_file, record_id, source_pos,
       channel, event_id FROM (
    SELECT epoch_ns(timestamp) AS ts, host_short AS host,
           json_extract_string(fields, '$."c-ip"') AS ip,
           json_extract_string(fields, '$."cs-method"') AS method,
           json_extract_string(fields, '$."cs-uri-stem"') AS stem,
           json_extract_string(fields, '$."cs-username"') AS "user",
           coalesce(TRY_CAST(json_extract_string(fields, '$."sc-bytes"') AS BIGINT), 0) AS bytes,
           source_file, record_id, source_pos, channel, event_id
    FROM events
    WHERE lower(channel) LIKE '%iis%' AND timestamp IS NOT NULL AND host_short IS NOT NULL
) WHERE ip IS NOT NULL AND NOT regexp_matches(ip, ?)
"""
_PRIVATE_IP: Final = (
    r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|"
    r"12[0-7])\.|::1$|f[cd]|fe80)"
)


@dataclass(frozen=True, slots=True)
class CaseInputs:
    """The slices of a case that reconstruction reads."""

    events: pa.Table
    detections: pa.Table
    channels: pa.Table
    gaps: pa.Table
    ip_observations: pa.Table
    sids: pa.Table
    web: pa.Table | None = None


def empty_detections() -> pa.Table:
    return pa.Table.from_batches([], schema=DETECTION_SCHEMA)


def _table(reader: CaseReader, query: str, params: list[object] | None = None) -> pa.Table:
    table: pa.Table = reader.db.sql(query, params=params).to_arrow_table()
    return table


def load_inputs(reader: CaseReader, detections: pa.Table | None) -> CaseInputs:
    """Read the events, coverage figures and detection context reconstruction needs."""
    dets = detections if detections is not None else empty_detections()
    reader.db.register("dets", dets)
    try:
        joined = _table(reader, _DETECTIONS_SQL)
    finally:
        reader.db.unregister("dets")
    return CaseInputs(
        events=_table(reader, _EVENTS_SQL, list(_EVENT_PARAMS)),
        detections=joined,
        channels=_table(reader, _CHANNELS_SQL),
        gaps=_table(reader, _GAPS_SQL),
        ip_observations=_table(reader, _IPS_SQL),
        sids=_table(reader, _SIDS_SQL),
        web=_table(reader, _WEB_SQL, [_PRIVATE_IP]),
    )
