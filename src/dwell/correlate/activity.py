"""What an event or a detection says the actor did: impact, exfiltration, credential theft.

Classification reads command lines, file names, services and ATT&CK tags. It knows tradecraft
(password-protected archives, rclone, shadow-copy deletion, raw-disk drivers), never names of a
particular network. Whether an action was the attacker's is decided later, in
:mod:`dwell.correlate.reason`, from where and when it happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from dwell.correlate.entities import account_key
from dwell.correlate.model import HOUR, EventRef
from dwell.model import Severity

IMPACT: Final = "impact"
EXFIL: Final = "exfiltration"
CRED: Final = "credential-access"
ACCOUNT_CREATED: Final = "account-created"
TUNNEL: Final = "tunnel"
DAY_GAP: Final = 20 * HOUR

_I = re.IGNORECASE
#: (category, kind, pattern over image + command line / script text).
_PROCESS_RULES: Final[tuple[tuple[str, str, re.Pattern[str]], ...]] = (
    (IMPACT, "shadow-copy-deletion", re.compile(
        r"vssadmin(\.exe)?\W.*\b(delete\s+shadows|resize\s+shadowstorage)|shadowcopy\s+delete|"
        r"win32_shadowcopy.*\.delete|wbadmin(\.exe)?\W.*delete\s+(catalog|backup|"
        r"systemstatebackup)|bcdedit(\.exe)?\W.*(recoveryenabled\s+no|ignoreallfailures)", _I)),
    (IMPACT, "service-kill", re.compile(
        r"\bnet1?(\.exe)?\s+stop\s|\bsc(\.exe)?\s+(stop\s|config\s+\S+\s+start=\s*disabled)|"
        r"taskkill(\.exe)?\s.*/(f|im)\b|stop-service\s", _I)),
    (IMPACT, "log-clearing", re.compile(
        r"wevtutil(\.exe)?\s+(cl|clear-log)\b|clear-eventlog|remove-eventlog", _I)),
    (IMPACT, "wiper", re.compile(r"cipher(\.exe)?\s+/w|fsutil(\.exe)?\s.*setzerodata", _I)),
    (EXFIL, "password-protected archive", re.compile(
        r"\b(rar|winrar|7z|7za|7zr|7zg)(\.exe)?\"?\s+a\b.*\s-(hp|p)\S", _I)),
    (EXFIL, "rclone transfer", re.compile(r"rclone(\.exe)?\"?\s+(copy|sync|move|copyto)\b", _I)),
    (EXFIL, "curl upload", re.compile(
        r"curl(\.exe)?\"?\s.*(\s-T\s|--upload-file|\s-F\s|--form\s|--data-binary\s+@|\s-d\s+@)",
        _I)),
    (EXFIL, "ftp/scp transfer", re.compile(
        r"\bftp(\.exe)?\"?\s+-s:|pscp(\.exe)?\s|winscp(\.com|\.exe)?\s.*put\s|"
        r"\bscp(\.exe)?\s+\S+\s+\S+@|megacmd|mega-put", _I)),
    (EXFIL, "web upload", re.compile(
        r"invoke-webrequest\s.*-method\s+post.*-infile|uploadfile\(", _I)),
    (EXFIL, "mail export", re.compile(
        r"new-mailboxexportrequest|new-mailboxsearch|applicationimpersonation", _I)),
    (CRED, "credential dumping", re.compile(
        r"sekurlsa|lsadump|mimikatz|comsvcs(\.dll)?\W*,?\s*#?(minidump|24)|procdump.*lsass|"
        r"reg(\.exe)?\s+save\s+hklm\\(sam|security|system)|ntdsutil.*\bifm\b|"
        r"vssadmin.*create\s+shadow.*ntds", _I)),
    (TUNNEL, "tunnel", re.compile(
        r"plink(\.exe)?\s.*-[rld]\s|revsocks|chisel(\.exe)?\s+client|ngrok|"
        r"\bssh(\.exe)?\s.*-[rld]\s", _I)),
)
_RANSOM_FILE: Final = re.compile(
    r"\.(docx?|xlsx?|pptx?|pdf|txt|jpe?g|png|csv|sql|bak|mdb|pst|zip)\.[a-z0-9]{2,10}$|"
    r"\\(readme|read_me|how_to|decrypt|restore|recover|ransom)[^\\]*\.(txt|html?|hta)$", _I)
_RAWDISK: Final = re.compile(r"rawdisk|rwdsk|elrawdsk", _I)
_ARCHIVE_FILE: Final = re.compile(r"\.(rar|7z)$", _I)
_LSASS_DUMP: Final = re.compile(r"lsass[^\\]*\.dmp$|\\ls\.dmp$", _I)
_SYSTEM_IMAGE: Final = re.compile(r"^c:\\windows\\(system32|syswow64)\\", _I)

#: ATT&CK technique prefix → (category, kind).
_TAGS: Final[tuple[tuple[str, str, str], ...]] = (
    ("attack.t1486", IMPACT, "ransomware"),
    ("attack.t1490", IMPACT, "shadow-copy-deletion"),
    ("attack.t1485", IMPACT, "wiper"),
    ("attack.t1561", IMPACT, "wiper"),
    ("attack.t1489", IMPACT, "service-kill"),
    ("attack.t1070.001", IMPACT, "log-clearing"),
    ("attack.t1560", EXFIL, "archive staging"),
    ("attack.t1048", EXFIL, "exfiltration over alternative protocol"),
    ("attack.t1567", EXFIL, "exfiltration to web service"),
    ("attack.t1041", EXFIL, "exfiltration over C2"),
    ("attack.t1020", EXFIL, "automated exfiltration"),
    ("attack.t1537", EXFIL, "transfer to cloud account"),
    ("attack.t1114", EXFIL, "mail collection"),
    ("attack.t1003", CRED, "credential dumping"),
)


@dataclass(frozen=True, slots=True)
class Fact:
    """A classified event: what it shows, where, when, under which account."""

    time: int
    host: str
    category: str
    kind: str
    what: str
    account: str | None
    ref: EventRef = field(compare=False)
    routine_key: str = ""
    extra: str | None = None  # e.g. the created account of an account-created fact
    actor_host: str | None = None  # a machine account acting: the host behind it


@dataclass(frozen=True, slots=True)
class Detection:
    """A Sigma hit with its level, account and classification."""

    time: int
    host: str
    level: int
    rule_id: str
    title: str
    account: str | None
    ref: EventRef = field(compare=False)
    routine_key: str = ""
    categories: tuple[tuple[str, str], ...] = ()
    what: str = ""
    src_ip: str | None = None  # the remote client of the detected event, if any
    target: str | None = None  # the file the detected event wrote or read


@dataclass(frozen=True, slots=True)
class WebRequest:
    """A request to a web server of the estate from outside its address space."""

    time: int
    host: str
    ip: str
    method: str
    stem: str
    bytes: int
    ref: EventRef = field(compare=False)

    @property
    def page(self) -> str:
        return self.stem.rsplit("/", 1)[-1].lower()


WEB_SCRIPT: Final = re.compile(r"\.(aspx|ashx|asmx|asp|jspx?|php|cfm)$", re.IGNORECASE)


def web_requests(rows: list[dict[str, Any]]) -> list[WebRequest]:
    return [WebRequest(r["ts"], r["host"], r["ip"], r.get("method") or "", r.get("stem") or "",
                       int(r.get("bytes") or 0), _ref(r)) for r in rows]


_DIGITS = re.compile(r"\d+")
_HEXISH = re.compile(r"\b[0-9a-f]{8,}\b|\{[0-9a-f-]{36}\}", _I)
_SPACE = re.compile(r"\s+")


def shape(text: str | None) -> str:
    """A value with its variable parts (numbers, GUIDs, hashes) masked: a routine pattern."""
    if not text:
        return ""
    value = _HEXISH.sub("#", text.lower())
    value = _DIGITS.sub("0", value)
    return _SPACE.sub(" ", value).strip()[:300]


def classify_text(text: str) -> list[tuple[str, str]]:
    """(category, kind) pairs a process command line or script says."""
    return [(cat, kind) for cat, kind, pattern in _PROCESS_RULES if pattern.search(text)]


def _ref(row: dict[str, Any], rule: str | None = None) -> EventRef:
    return EventRef(
        source_file=row.get("source_file"), record_id=row.get("record_id"),
        source_pos=row.get("source_pos"), host=row.get("host"), channel=row.get("channel"),
        event_id=row.get("event_id"), rule=rule,
    )


def _short(text: str, limit: int = 160) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_facts(rows: list[dict[str, Any]]) -> list[Fact]:
    """Facts from selected event rows (see :mod:`dwell.correlate.inputs`)."""
    out: list[Fact] = []
    for row in rows:
        eid = row.get("event_id")
        channel = (row.get("channel") or "").lower()
        host = row["host"]
        time = row["ts"]
        user = account_key(row.get("user"))
        found: list[tuple[str, str, str, str]] = []  # category, kind, what, routine text
        if eid in (1, 4688) and ("sysmon" in channel or channel == "security"):
            cmd = row.get("command_line") or row.get("image") or ""
            for cat, kind in classify_text(f"{row.get('image') or ''} {cmd}"):
                found.append((cat, kind, f"{kind}: {_short(cmd)}", cmd))
        elif eid in (4104, 4103) or channel == "msexchange management":
            script = row.get("script") or ""
            text = _script_text(script)
            for cat, kind in classify_text(text):
                found.append((cat, kind, f"{kind}: {_short(text)}", text))
        elif eid == 1102 and channel == "security":
            found.append((IMPACT, "log-clearing", "Security log cleared (1102)", "1102"))
        elif eid == 104 and channel == "system":
            found.append((IMPACT, "log-clearing", "an event log was cleared (104)", "104"))
        elif eid in (7045, 4697):
            svc = f"{row.get('service_name') or ''} {row.get('service_file') or ''}"
            if _RAWDISK.search(svc):
                found.append((IMPACT, "wiper", f"raw-disk driver service: {_short(svc)}", svc))
        elif "sysmon" in channel and eid == 6:
            obj = row.get("object") or ""
            if _RAWDISK.search(obj):
                found.append((IMPACT, "wiper", f"raw-disk driver loaded: {obj}", obj))
        elif "sysmon" in channel and eid == 9:
            image = row.get("image") or ""
            if image and not _SYSTEM_IMAGE.match(image):
                found.append((IMPACT, "wiper", f"raw disk access by {image}", image))
        elif "sysmon" in channel and eid == 13:
            obj = row.get("object") or ""
            if _RAWDISK.search(obj):
                found.append((IMPACT, "wiper", f"raw-disk driver service key: {obj}", obj))
        elif "sysmon" in channel and eid in (11, 23, 26):
            name = row.get("target_filename") or ""
            if _RANSOM_FILE.search(name):
                found.append((IMPACT, "ransomware", f"encrypted file or ransom note: {name}",
                              "ransom"))
            elif _ARCHIVE_FILE.search(name):
                found.append((EXFIL, "archive staging", f"archive written: {name}", name))
            elif _LSASS_DUMP.search(name):
                found.append((CRED, "credential dumping", f"LSASS dump written: {name}", name))
        elif eid == 4720 and channel == "security":
            target = account_key(row.get("target_user"))
            subject = (row.get("user") or "").rsplit("\\", 1)[-1]
            actor = subject[:-1].upper() if subject.endswith("$") else None
            if target:
                out.append(Fact(time, host, ACCOUNT_CREATED, "account-created",
                                f"account {row.get('target_user')} created by {subject or '?'}",
                                user, _ref(row), "", target, actor))
            continue
        for cat, kind, what, routine in found:
            out.append(Fact(time, host, cat, kind, what, user, _ref(row),
                            f"{host}|{kind}|{shape(routine)}"))
    return out


def _script_text(raw: str) -> str:
    """The readable part of a script-block or Exchange cmdlet event's flattened fields."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(doc, dict):
        return raw
    for key in ("ScriptBlockText", "Payload", "ContextInfo"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
    data = doc.get("Data")
    if isinstance(data, list):
        return " ".join(str(v) for v in data if v is not None)
    if isinstance(data, str):
        return data
    return raw


def _level(text: str | None) -> int:
    try:
        return int(Severity.parse(text or "informational"))
    except ValueError:
        return 0


#: Security events a domain controller writes about a client's authentication request
#: (Kerberos TGT/TGS, pre-authentication failure, NTLM credential validation).
DC_AUTH_EVENTS: frozenset[int] = frozenset({4768, 4769, 4770, 4771, 4776})


def detections(rows: list[dict[str, Any]]) -> list[Detection]:
    """Detections from the joined detections table (see :mod:`dwell.correlate.inputs`)."""
    out: list[Detection] = []
    for row in rows:
        host = row.get("host")
        time = row.get("ts")
        if not host or time is None:
            continue
        if row.get("event_id") in DC_AUTH_EVENTS and str(row.get("channel")).lower() == "security":
            # A domain controller logs the tickets and NTLM checks it serves: the event says
            # what a client asked for, not that the controller itself ran attacker code.
            continue
        host = host.upper()
        tags = [t.lower() for t in row.get("tags") or []]
        cats: list[tuple[str, str]] = []
        for prefix, cat, kind in _TAGS:
            if any(t == prefix or t.startswith(prefix + ".") for t in tags):
                cats.append((cat, kind))
        content = (row.get("command_line") or row.get("image") or row.get("target_filename")
                   or row.get("service_file") or row.get("matched") or "")
        for pair in classify_text(f"{row.get('image') or ''} {row.get('command_line') or ''}"):
            if pair not in cats:
                cats.append(pair)
        title = row.get("title") or row.get("rule_id") or "detection"
        detail = _short(content, 120) if content else ""
        rule = row.get("rule_id") or title
        out.append(Detection(
            time=time, host=host, level=_level(row.get("level")), rule_id=rule, title=title,
            account=account_key(row.get("user")) or account_key(row.get("target_user")),
            ref=_ref({**row, "host": host}, rule=title),
            routine_key=f"{host}|{rule}|{shape(content)}", categories=tuple(cats),
            what=f"{title}: {detail}" if detail else title, src_ip=row.get("src_ip"),
            target=row.get("target_filename"),
        ))
    return out


def day_starts(times: list[int]) -> list[int]:
    """Starts of the separate days in sorted ``times``: a new day begins 20 h after the last.

    Unlike calendar days this does not depend on where midnight falls, so shifting every time
    by the same amount shifts every conclusion with it.
    """
    starts: list[int] = []
    for t in times:
        if not starts or t - starts[-1] >= DAY_GAP:
            starts.append(t)
    return starts


def routine_keys(keys_times: list[tuple[str, int]], min_days: int = 4) -> set[str]:
    """Keys seen on at least ``min_days`` separate days: routine activity, not the attacker's."""
    times: dict[str, list[int]] = {}
    for key, time in keys_times:
        if key:
            times.setdefault(key, []).append(time)
    return {key for key, seen in times.items() if len(day_starts(sorted(seen))) >= min_days}
