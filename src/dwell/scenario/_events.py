"""Event constructors: one function per (channel, EventID) shape, emitting through a Ctx."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwell.scenario import _evtx as x
from dwell.scenario._catalog import file_version, hashes, pe_for
from dwell.scenario._clock import sysmon_time

if TYPE_CHECKING:
    from dwell.scenario._context import Ctx, ProcInfo, Session
    from dwell.scenario._evtx import Record

_SYSMON_VERSION = {1: 5, 2: 5, 3: 5, 4: 3, 5: 3, 6: 4, 7: 3, 9: 2, 10: 3, 11: 2, 12: 2, 13: 2,
                   17: 1, 18: 1, 22: 5, 23: 5, 26: 5}
_INTEGRITY_SID = {"Low": "S-1-16-4096", "Medium": "S-1-16-8192", "High": "S-1-16-12288",
                  "System": "S-1-16-16384"}
_SECURITY_TASK = {4673: 13056, 4608: 12288, 4616: 12288, 4624: 12544, 4625: 12544, 4634: 12545,
                  4647: 12545, 4648: 12544, 4672: 12548, 4688: 13312, 4689: 13313,
                  4697: 12289, 4698: 12804, 4720: 13824, 4722: 13824, 4724: 13824,
                  4726: 13824, 4738: 13824, 4728: 13826, 4732: 13826, 4756: 13826,
                  4768: 14339, 4769: 14337, 4771: 14339, 4776: 14336, 4778: 12551,
                  4779: 12551, 5140: 12808, 5145: 12811}
ADMIN_PRIVILEGES = (
    "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\t"
    "SeTakeOwnershipPrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeSystemEnvironmentPrivilege"
    "\r\n\t\t\tSeLoadDriverPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\t"
    "SeDelegateSessionUserImpersonatePrivilege"
)
SYSTEM_PRIVILEGES = (
    "SeAssignPrimaryTokenPrivilege\r\n\t\t\tSeTcbPrivilege\r\n\t\t\tSeSecurityPrivilege\r\n\t\t\t"
    "SeTakeOwnershipPrivilege\r\n\t\t\tSeLoadDriverPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\t"
    "SeRestorePrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeAuditPrivilege\r\n\t\t\t"
    "SeSystemEnvironmentPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\t"
    "SeDelegateSessionUserImpersonatePrivilege"
)


def split_user(user: str) -> tuple[str, str]:
    """``DOMAIN\\name`` to ``(DOMAIN, name)``."""
    domain, _, name = user.rpartition("\\")
    return domain, name


def hexid(value: int) -> str:
    """Logon ids and PIDs as Security events print them."""
    return f"0x{value:x}"


# -- Sysmon -------------------------------------------------------------------------------


def sysmon(ctx: Ctx, host: str, t: int, eid: int, fields: Record,
           event_type: str | None = None, rule: str = "-") -> None:
    """Emit a Sysmon event; ``fields`` follow RuleName/UtcTime in order."""
    if not ctx.host(host).sysmon:
        return
    body: Record = {"RuleName": rule}
    if event_type is not None:
        body["EventType"] = event_type
    body["UtcTime"] = sysmon_time(t - 800 - (t // 7) % 5000)
    body.update(fields)
    ctx.emit(host, t, x.envelope(
        x.P_SYSMON, eid, t, ctx.computer(host, t), body,
        version=_SYSMON_VERSION.get(eid, 2), task=eid,
        pid=ctx.service_pid(host, "sysmon", t), tid=ctx.tid(), user_sid="S-1-5-18",
    ))


def process_create(
    ctx: Ctx, host: str, t: int, proc: ProcInfo, parent: ProcInfo, session: Session,
    integrity: str = "High", cwd: str = "C:\\Windows\\system32\\", rule: str = "-",
) -> None:
    """Sysmon 1 and, where audited, Security 4688."""
    h = ctx.host(host)
    pe = pe_for(proc.image)
    if h.sysmon:
        sysmon(ctx, host, t, 1, {
            "ProcessGuid": proc.guid,
            "ProcessId": proc.pid,
            "Image": proc.image,
            "FileVersion": file_version(pe, h.os) if pe.original != "-" else "-",
            "Description": pe.description,
            "Product": pe.product,
            "Company": pe.company,
            "OriginalFileName": pe.original,
            "CommandLine": proc.cmd,
            "CurrentDirectory": cwd,
            "User": proc.user,
            "LogonGuid": session.sysmon_guid,
            "LogonId": hexid(session.logon_id),
            "TerminalSessionId": session.tsid,
            "IntegrityLevel": integrity,
            "Hashes": hashes(proc.image, h.os),
            "ParentProcessGuid": parent.guid,
            "ParentProcessId": parent.pid,
            "ParentImage": parent.image,
            "ParentCommandLine": parent.cmd,
            "ParentUser": parent.user,
        }, rule=rule)
    if h.proc_audit:
        domain, name = split_user(proc.user)
        security(ctx, host, t + 150, 4688, {
            "SubjectUserSid": ctx.sid(proc.user),
            "SubjectUserName": name,
            "SubjectDomainName": domain,
            "SubjectLogonId": hexid(session.logon_id),
            "NewProcessId": hexid(proc.pid),
            "NewProcessName": proc.image,
            "TokenElevationType": "%%1936" if integrity in ("High", "System") else "%%1938",
            "ProcessId": hexid(parent.pid),
            "CommandLine": proc.cmd,
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": "-",
            "TargetDomainName": "-",
            "TargetLogonId": "0x0",
            "ParentProcessName": parent.image,
            "MandatoryLabel": _INTEGRITY_SID.get(integrity, "S-1-16-12288"),
        }, version=2, pid=4)


def process_end(ctx: Ctx, host: str, t: int, proc: ProcInfo) -> None:
    """Sysmon 5."""
    sysmon(ctx, host, t, 5, {"ProcessGuid": proc.guid, "ProcessId": proc.pid,
                             "Image": proc.image, "User": proc.user})


def net_conn(
    ctx: Ctx, host: str, t: int, proc: ProcInfo, src: tuple[str, int, str],
    dst: tuple[str, int, str], *, initiated: bool = True, port_name: str = "",
) -> None:
    """Sysmon 3; ``src``/``dst`` are (ip, port, hostname)."""
    sysmon(ctx, host, t, 3, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "Image": proc.image,
        "User": proc.user, "Protocol": "tcp", "Initiated": initiated,
        "SourceIsIpv6": False, "SourceIp": src[0], "SourceHostname": src[2],
        "SourcePort": src[1], "SourcePortName": "",
        "DestinationIsIpv6": False, "DestinationIp": dst[0], "DestinationHostname": dst[2],
        "DestinationPort": dst[1], "DestinationPortName": port_name,
    })


def file_create(ctx: Ctx, host: str, t: int, proc: ProcInfo, path: str) -> None:
    """Sysmon 11."""
    stamp = sysmon_time(t - 900)
    sysmon(ctx, host, t, 11, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "Image": proc.image,
        "TargetFilename": path, "CreationUtcTime": stamp, "User": proc.user,
    })


def file_delete(ctx: Ctx, host: str, t: int, proc: ProcInfo, path: str) -> None:
    """Sysmon 26 (delete detected, not archived)."""
    sysmon(ctx, host, t, 26, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "User": proc.user,
        "Image": proc.image, "TargetFilename": path,
        "Hashes": hashes(path, "file"), "IsExecutable": path.lower().endswith((".exe", ".dll")),
    })


def reg_set(ctx: Ctx, host: str, t: int, proc: ProcInfo, key: str, details: str) -> None:
    """Sysmon 13."""
    sysmon(ctx, host, t, 13, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "Image": proc.image,
        "TargetObject": key, "Details": details, "User": proc.user,
    }, event_type="SetValue")


def reg_key(ctx: Ctx, host: str, t: int, proc: ProcInfo, key: str) -> None:
    """Sysmon 12 (key created)."""
    sysmon(ctx, host, t, 12, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "Image": proc.image,
        "TargetObject": key, "User": proc.user,
    }, event_type="CreateKey")


def proc_access(ctx: Ctx, host: str, t: int, src: ProcInfo, tgt: ProcInfo, access: str,
                calltrace: str) -> None:
    """Sysmon 10."""
    sysmon(ctx, host, t, 10, {
        "SourceProcessGUID": src.guid, "SourceProcessId": src.pid,
        "SourceThreadId": ctx.tid(), "SourceImage": src.image,
        "TargetProcessGUID": tgt.guid, "TargetProcessId": tgt.pid, "TargetImage": tgt.image,
        "GrantedAccess": access, "CallTrace": calltrace,
        "SourceUser": src.user, "TargetUser": tgt.user,
    })


def driver_load(ctx: Ctx, host: str, t: int, path: str, signature: str,
                status: str = "Valid") -> None:
    """Sysmon 6."""
    sysmon(ctx, host, t, 6, {
        "ImageLoaded": path, "Hashes": hashes(path, ctx.host(host).os),
        "Signed": "true" if status == "Valid" else "false", "Signature": signature,
        "SignatureStatus": status,
    })


def raw_access(ctx: Ctx, host: str, t: int, proc: ProcInfo, device: str) -> None:
    """Sysmon 9."""
    sysmon(ctx, host, t, 9, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "Image": proc.image,
        "Device": device, "User": proc.user,
    })


def pipe(ctx: Ctx, host: str, t: int, proc: ProcInfo, name: str, *, connect: bool = False) -> None:
    """Sysmon 17 (created) or 18 (connected)."""
    sysmon(ctx, host, t, 18 if connect else 17, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "PipeName": name,
        "Image": proc.image, "User": proc.user,
    }, event_type="ConnectPipe" if connect else "CreatePipe")


def dns(ctx: Ctx, host: str, t: int, proc: ProcInfo, name: str, results: str) -> None:
    """Sysmon 22."""
    sysmon(ctx, host, t, 22, {
        "ProcessGuid": proc.guid, "ProcessId": proc.pid, "QueryName": name,
        "QueryStatus": "0", "QueryResults": results, "Image": proc.image, "User": proc.user,
    })


# -- Security -----------------------------------------------------------------------------


def security(ctx: Ctx, host: str, t: int, eid: int, fields: Record, *, version: int = 0,
             failure: bool = False, pid: int | None = None, activity: str | None = None) -> None:
    """Emit a Security-Auditing event."""
    ctx.emit(host, t, x.envelope(
        x.P_SECURITY, eid, t, ctx.computer(host, t), fields, version=version, level=0,
        task=_SECURITY_TASK.get(eid, 12544),
        keywords="0x8010000000000000" if failure else None,
        pid=ctx.service_pid(host, "lsass", t) if pid is None else pid, tid=ctx.tid(),
        activity=activity,
    ))


def logon(
    ctx: Ctx, host: str, t: int, session: Session, logon_type: int, *,
    ip: str = "-", port: str = "-", workstation: str = "-", auth: str = "Negotiate",
    process: str = "C:\\Windows\\System32\\svchost.exe", elevated: bool = True,
    kerberos_guid: bool = False,
) -> None:
    """Security 4624 (version 2; version 1 on 2012 R2)."""
    domain, name = split_user(session.user)
    lp = {"Kerberos": "Kerberos", "NTLM": "NtLmSsp ", "Negotiate": "User32 "}.get(auth, "Advapi  ")
    if logon_type == 5:
        lp = "Advapi  "
    elif logon_type in (2, 7, 11):
        lp = "User32 "
    elif logon_type == 8:
        lp = "Advapi  "
    fields: Record = {
        "SubjectUserSid": "S-1-5-18" if logon_type in (2, 5, 7, 10, 11) else "S-1-0-0",
        "SubjectUserName": f"{host}$" if logon_type in (2, 5, 7, 10, 11) else "-",
        "SubjectDomainName": ctx.scen.netbios if logon_type in (2, 5, 7, 10, 11) else "-",
        "SubjectLogonId": "0x3e7" if logon_type in (2, 5, 7, 10, 11) else "0x0",
        "TargetUserSid": ctx.sid(session.user),
        "TargetUserName": name,
        "TargetDomainName": domain,
        "TargetLogonId": hexid(session.logon_id),
        "LogonType": logon_type,
        "LogonProcessName": lp,
        "AuthenticationPackageName": auth,
        "WorkstationName": workstation,
        "LogonGuid": ctx.guid() if kerberos_guid else "00000000-0000-0000-0000-000000000000",
        "TransmittedServices": "-",
        "LmPackageName": "NTLM V2" if auth == "NTLM" else "-",
        "KeyLength": 128 if auth == "NTLM" else 0,
        "ProcessId": (hexid(ctx.service_pid(host, process, t))
                      if logon_type in (2, 5, 7, 10, 11, 8) else "0x0"),
        "ProcessName": process if logon_type in (2, 5, 7, 10, 11, 8) else "-",
        "IpAddress": ip,
        "IpPort": port,
        "ImpersonationLevel": "%%1833",
    }
    version = 1 if ctx.host(host).os == "2012r2" else 2
    if version == 2:
        fields.update({
            "RestrictedAdminMode": "%%1843" if logon_type == 10 else "-",
            "TargetOutboundUserName": "-",
            "TargetOutboundDomainName": "-",
            "VirtualAccount": "%%1843",
            "TargetLinkedLogonId": "0x0",
            "ElevatedToken": "%%1842" if elevated else "%%1843",
        })
    security(ctx, host, t, 4624, fields, version=version, activity=ctx.guid())


def special_privileges(ctx: Ctx, host: str, t: int, session: Session,
                       privileges: str = ADMIN_PRIVILEGES) -> None:
    """Security 4672."""
    domain, name = split_user(session.user)
    security(ctx, host, t, 4672, {
        "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": name,
        "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        "PrivilegeList": privileges,
    })


def logoff(ctx: Ctx, host: str, t: int, session: Session, logon_type: int) -> None:
    """Security 4634."""
    domain, name = split_user(session.user)
    security(ctx, host, t, 4634, {
        "TargetUserSid": ctx.sid(session.user), "TargetUserName": name,
        "TargetDomainName": domain, "TargetLogonId": hexid(session.logon_id),
        "LogonType": logon_type,
    })


def user_logoff(ctx: Ctx, host: str, t: int, session: Session) -> None:
    """Security 4647 (user-initiated logoff)."""
    domain, name = split_user(session.user)
    security(ctx, host, t, 4647, {
        "TargetUserSid": ctx.sid(session.user), "TargetUserName": name,
        "TargetDomainName": domain, "TargetLogonId": hexid(session.logon_id),
    })


def session_change(ctx: Ctx, host: str, t: int, eid: int, session: Session, client: str,
                   address: str) -> None:
    """Security 4778 (session reconnected) or 4779 (disconnected)."""
    domain, name = split_user(session.user)
    security(ctx, host, t, eid, {
        "AccountName": name, "AccountDomain": domain, "LogonID": hexid(session.logon_id),
        "SessionName": f"RDP-Tcp#{session.tsid + 1}", "ClientName": client,
        "ClientAddress": address,
    })


def explicit_logon(
    ctx: Ctx, host: str, t: int, subject: Session, target_user: str, server: str,
    process: ProcInfo, ip: str = "-", port: str = "-",
) -> None:
    """Security 4648."""
    sdomain, sname = split_user(subject.user)
    tdomain, tname = split_user(target_user)
    security(ctx, host, t, 4648, {
        "SubjectUserSid": ctx.sid(subject.user), "SubjectUserName": sname,
        "SubjectDomainName": sdomain, "SubjectLogonId": hexid(subject.logon_id),
        "LogonGuid": "00000000-0000-0000-0000-000000000000",
        "TargetUserName": tname, "TargetDomainName": tdomain,
        "TargetLogonGuid": "00000000-0000-0000-0000-000000000000",
        "TargetServerName": server, "TargetInfo": server,
        "ProcessId": hexid(process.pid), "ProcessName": process.image,
        "IpAddress": ip, "IpPort": port,
    })


def failed_logon(ctx: Ctx, host: str, t: int, user: str, logon_type: int, ip: str,
                 workstation: str, auth: str = "NTLM", sub_status: str = "0xc000006a") -> None:
    """Security 4625."""
    domain, name = split_user(user)
    security(ctx, host, t, 4625, {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
        "SubjectLogonId": "0x0", "TargetUserSid": "S-1-0-0", "TargetUserName": name,
        "TargetDomainName": domain, "Status": "0xc000006d", "FailureReason": "%%2313",
        "SubStatus": sub_status, "LogonType": logon_type,
        "LogonProcessName": "NtLmSsp " if auth == "NTLM" else "User32 ",
        "AuthenticationPackageName": auth, "WorkstationName": workstation,
        "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": 0,
        "ProcessId": "0x0", "ProcessName": "-", "IpAddress": ip, "IpPort": str(ctx.port()),
    }, failure=True)


def share_access(ctx: Ctx, host: str, t: int, session: Session, ip: str, share: str,
                 local_path: str) -> None:
    """Security 5140."""
    domain, name = split_user(session.user)
    security(ctx, host, t, 5140, {
        "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": name,
        "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        "ObjectType": "File", "IpAddress": ip, "IpPort": str(ctx.port()),
        "ShareName": f"\\\\*\\{share}", "ShareLocalPath": local_path,
        "AccessMask": "0x1", "AccessList": "%%4416\r\n\t\t\t\t",
    }, version=1, pid=4)


_ACCESS_LISTS = {
    "0x2": "%%4417\r\n\t\t\t\t",
    "0x100180": "%%1541\r\n\t\t\t\t%%4423\r\n\t\t\t\t%%4424\r\n\t\t\t\t",
    "0x120089": "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4416\r\n\t\t\t\t%%4419\r\n\t\t\t\t"
                "%%4423\r\n\t\t\t\t",
    "0x12019f": "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4416\r\n\t\t\t\t%%4417\r\n\t\t\t\t"
                "%%4418\r\n\t\t\t\t%%4419\r\n\t\t\t\t%%4420\r\n\t\t\t\t%%4423\r\n\t\t\t\t"
                "%%4424\r\n\t\t\t\t",
    "0x100081": "%%1541\r\n\t\t\t\t%%4416\r\n\t\t\t\t%%4423\r\n\t\t\t\t",
    "0x10080": "%%1537\r\n\t\t\t\t%%4423\r\n\t\t\t\t",
}


def share_file(ctx: Ctx, host: str, t: int, session: Session, ip: str, share: str,
               local_path: str, relative: str, mask: str) -> None:
    """Security 5145."""
    domain, name = split_user(session.user)
    security(ctx, host, t, 5145, {
        "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": name,
        "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        "ObjectType": "File", "IpAddress": ip, "IpPort": str(ctx.port()),
        "ShareName": f"\\\\*\\{share}", "ShareLocalPath": local_path,
        "RelativeTargetName": relative, "AccessMask": mask,
        "AccessList": _ACCESS_LISTS.get(mask, "%%4416\r\n\t\t\t\t"), "AccessReason": "-",
    }, pid=4)


def service_installed_4697(ctx: Ctx, host: str, t: int, session: Session, name: str,
                           path: str, kind: str, start: int, account: str) -> None:
    """Security 4697."""
    domain, uname = split_user(session.user)
    security(ctx, host, t, 4697, {
        "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": uname,
        "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        "ServiceName": name, "ServiceFileName": path, "ServiceType": kind,
        "ServiceStartType": start, "ServiceAccount": account,
    })


def task_registered_4698(ctx: Ctx, host: str, t: int, session: Session, name: str,
                         command: str, arguments: str, run_as: str = "S-1-5-18") -> None:
    """Security 4698 with the task XML."""
    domain, uname = split_user(session.user)
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?>\r\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\r\n'
        "  <RegistrationInfo>\r\n"
        f"    <Author>{session.user}</Author>\r\n"
        f"    <URI>{name}</URI>\r\n"
        "  </RegistrationInfo>\r\n"
        "  <Triggers>\r\n    <CalendarTrigger>\r\n"
        "      <StartBoundary>2020-01-01T03:00:00</StartBoundary>\r\n"
        "      <Enabled>true</Enabled>\r\n"
        "      <ScheduleByDay>\r\n        <DaysInterval>1</DaysInterval>\r\n"
        "      </ScheduleByDay>\r\n    </CalendarTrigger>\r\n  </Triggers>\r\n"
        "  <Principals>\r\n    <Principal id=\"Author\">\r\n"
        f"      <UserId>{run_as}</UserId>\r\n"
        "      <RunLevel>HighestAvailable</RunLevel>\r\n"
        "    </Principal>\r\n  </Principals>\r\n"
        "  <Settings>\r\n    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\r\n"
        "    <AllowStartOnDemand>true</AllowStartOnDemand>\r\n    <Enabled>true</Enabled>\r\n"
        "    <Hidden>false</Hidden>\r\n    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>\r\n"
        "  </Settings>\r\n"
        "  <Actions Context=\"Author\">\r\n    <Exec>\r\n"
        f"      <Command>{command}</Command>\r\n"
        + (f"      <Arguments>{_xml_escape(arguments)}</Arguments>\r\n" if arguments else "")
        + "    </Exec>\r\n  </Actions>\r\n</Task>"
    )
    security(ctx, host, t, 4698, {
        "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": uname,
        "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        "TaskName": name, "TaskContent": xml,
    }, version=1)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;"
    )


def account_event(ctx: Ctx, host: str, t: int, eid: int, subject: Session, target: str,
                  extra: Record | None = None) -> None:
    """Security 4720/4722/4724/4738 (user account management)."""
    sdomain, sname = split_user(subject.user)
    tdomain, tname = split_user(target)
    fields: Record = {
        "TargetUserName": tname, "TargetDomainName": tdomain, "TargetSid": ctx.sid(target),
        "SubjectUserSid": ctx.sid(subject.user), "SubjectUserName": sname,
        "SubjectDomainName": sdomain, "SubjectLogonId": hexid(subject.logon_id),
    }
    if eid in (4720, 4738):
        fields["PrivilegeList"] = "-"
        fields.update(extra or {})
    security(ctx, host, t, eid, fields)


def new_user_fields(sam: str, upn: str, display: str) -> Record:
    """The 4720 attribute block."""
    return {
        "SamAccountName": sam, "DisplayName": display, "UserPrincipalName": upn,
        "HomeDirectory": "-", "HomePath": "-", "ScriptPath": "-", "ProfilePath": "-",
        "UserWorkstations": "-", "PasswordLastSet": "%%1794", "AccountExpires": "%%1794",
        "PrimaryGroupId": "513", "AllowedToDelegateTo": "-", "OldUacValue": "0x0",
        "NewUacValue": "0x15", "UserAccountControl": "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084",
        "UserParameters": "-", "SidHistory": "-", "LogonHours": "%%1797",
    }


def group_member_added(ctx: Ctx, host: str, t: int, eid: int, subject: Session, member: str,
                       group: str, group_domain: str, group_sid: str) -> None:
    """Security 4728/4732/4756."""
    sdomain, sname = split_user(subject.user)
    security(ctx, host, t, eid, {
        "MemberName": f"CN={split_user(member)[1]},CN=Users,"
                      + ",".join(f"DC={p}" for p in ctx.scen.domain.lower().split(".")),
        "MemberSid": ctx.sid(member), "TargetUserName": group,
        "TargetDomainName": group_domain, "TargetSid": group_sid,
        "SubjectUserSid": ctx.sid(subject.user), "SubjectUserName": sname,
        "SubjectDomainName": sdomain, "SubjectLogonId": hexid(subject.logon_id),
        "PrivilegeList": "-",
    })


def kerberos_tgt(ctx: Ctx, host: str, t: int, user: str, ip: str) -> None:
    """Security 4768."""
    _, name = split_user(user)
    security(ctx, host, t, 4768, {
        "TargetUserName": name, "TargetDomainName": ctx.scen.netbios,
        "TargetSid": ctx.sid(user), "ServiceName": "krbtgt",
        "ServiceSid": f"{ctx.scen.domain_sid}-502", "TicketOptions": "0x40810010",
        "Status": "0x0", "TicketEncryptionType": "0x12", "PreAuthType": "2",
        "IpAddress": f"::ffff:{ip}", "IpPort": str(ctx.port()), "CertIssuerName": "",
        "CertSerialNumber": "", "CertThumbprint": "",
    })


def kerberos_service(ctx: Ctx, host: str, t: int, user: str, service: str, ip: str,
                     enc: str = "0x12", options: str = "0x40810000") -> None:
    """Security 4769."""
    _, name = split_user(user)
    security(ctx, host, t, 4769, {
        "TargetUserName": f"{name}@{ctx.scen.domain}", "TargetDomainName": ctx.scen.domain,
        "ServiceName": service, "ServiceSid": ctx.sid(f"{ctx.scen.netbios}\\{service}"),
        "TicketOptions": options, "TicketEncryptionType": enc,
        "IpAddress": f"::ffff:{ip}", "IpPort": str(ctx.port()), "Status": "0x0",
        "LogonGuid": ctx.guid(), "TransmittedServices": "-",
    })


def ntlm_validate(ctx: Ctx, host: str, t: int, user: str, workstation: str) -> None:
    """Security 4776."""
    security(ctx, host, t, 4776, {
        "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0",
        "TargetUserName": split_user(user)[1], "Workstation": workstation, "Status": "0x0",
    })


def security_log_cleared(ctx: Ctx, host: str, t: int, session: Session) -> None:
    """Security 1102 (after the channel was truncated)."""
    domain, name = split_user(session.user)
    ctx.emit(host, t, x.envelope(
        x.P_EVENTLOG_SECURITY, 1102, t, ctx.computer(host, t),
        x.user_data("LogFileCleared", dict(x.LOG_CLEARED_NS), {
            "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": name,
            "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        }),
        body_key="UserData", task=104, pid=ctx.service_pid(host, "eventlog", t), tid=ctx.tid(),
    ))


def privilege_use(ctx: Ctx, host: str, t: int, session: Session, privilege: str,
                  process: ProcInfo) -> None:
    """Security 4673 (a privileged service was called)."""
    domain, name = split_user(session.user)
    security(ctx, host, t, 4673, {
        "SubjectUserSid": ctx.sid(session.user), "SubjectUserName": name,
        "SubjectDomainName": domain, "SubjectLogonId": hexid(session.logon_id),
        "ObjectServer": "Security", "Service": "-", "PrivilegeList": privilege,
        "ProcessId": hexid(process.pid), "ProcessName": process.image,
    })


def boot_4608(ctx: Ctx, host: str, t: int) -> None:
    """Security 4608 (Windows is starting up)."""
    security(ctx, host, t, 4608, {})


# -- System -------------------------------------------------------------------------------


def service_installed(ctx: Ctx, host: str, t: int, session: Session, name: str, path: str,
                      kind: str = "user mode service", start: str = "demand start",
                      account: str = "LocalSystem") -> None:
    """System 7045."""
    ctx.emit(host, t, x.envelope(
        x.P_SCM, 7045, t, ctx.computer(host, t),
        {"ServiceName": name, "ImagePath": path, "ServiceType": kind, "StartType": start,
         "AccountName": account},
        qualifiers=16384, pid=ctx.service_pid(host, "services", t), tid=ctx.tid(),
        user_sid=ctx.sid(session.user),
    ))


def service_state(ctx: Ctx, host: str, t: int, display: str, state: str) -> None:
    """System 7036."""
    binary = "".join(f"{ord(c):02X}00" for c in display.replace(" ", "")[:12]) + "0000"
    ctx.emit(host, t, x.envelope(
        x.P_SCM, 7036, t, ctx.computer(host, t),
        {"param1": display, "param2": state, "Binary": binary},
        qualifiers=16384, pid=ctx.service_pid(host, "services", t), tid=ctx.tid(),
    ))


def system_log_cleared(ctx: Ctx, host: str, t: int, session: Session, channel: str) -> None:
    """System 104 (a channel was cleared)."""
    domain, name = split_user(session.user)
    ctx.emit(host, t, x.envelope(
        x.P_EVENTLOG_SYSTEM, 104, t, ctx.computer(host, t),
        x.user_data("LogFileCleared",
                    {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"},
                    {"SubjectUserName": name, "SubjectDomainName": domain, "Channel": channel,
                     "BackupPath": None}),
        body_key="UserData", task=104, pid=ctx.service_pid(host, "eventlog", t), tid=ctx.tid(),
        user_sid=ctx.sid(session.user),
    ))


def classic_system(ctx: Ctx, host: str, t: int, provider: x.Provider, eid: int,
                   items: tuple[str, ...], qualifiers: int = 32768, level: int = 4) -> None:
    """A classic System event (EventLog 6005/6006/6013, User32 1074)."""
    ctx.emit(host, t, x.envelope(
        provider, eid, t, ctx.computer(host, t), x.data_list(*items), level=level,
        qualifiers=qualifiers,
    ))


def system_event(ctx: Ctx, host: str, t: int, provider: x.Provider, eid: int, fields: Record,
                 *, version: int = 0, task: int = 0, user_sid: str | None = None,
                 level: int = 4) -> None:
    """A manifest-based System event (Kernel-General, WindowsUpdateClient, GroupPolicy)."""
    ctx.emit(host, t, x.envelope(
        provider, eid, t, ctx.computer(host, t), fields, version=version, task=task,
        level=level, pid=ctx.service_pid(host, provider.name, t), tid=ctx.tid(),
        user_sid=user_sid,
    ))


# -- TerminalServices ---------------------------------------------------------------------


def rdp_auth_1149(ctx: Ctx, host: str, t: int, user: str, domain: str, ip: str) -> None:
    """RemoteConnectionManager 1149 (network authentication succeeded)."""
    ctx.emit(host, t, x.envelope(
        x.P_RCM, 1149, t, ctx.computer(host, t),
        x.user_data("EventXML", dict(x.EVENT_NS),
                    {"Param1": user, "Param2": domain, "Param3": ip}),
        body_key="UserData", pid=ctx.service_pid(host, "termsvc", t), tid=ctx.tid(),
        user_sid="S-1-5-20", activity=ctx.guid(),
    ))


def rdp_listener_261(ctx: Ctx, host: str, t: int) -> None:
    """RemoteConnectionManager 261 (listener received a connection)."""
    ctx.emit(host, t, x.envelope(
        x.P_RCM, 261, t, ctx.computer(host, t),
        x.user_data("EventXML", dict(x.EVENT_NS), {"listenerName": "RDP-Tcp"}),
        body_key="UserData", pid=ctx.service_pid(host, "termsvc", t), tid=ctx.tid(),
        user_sid="S-1-5-20", activity=ctx.guid(),
    ))


def lsm(ctx: Ctx, host: str, t: int, eid: int, user: str, tsid: int, address: str) -> None:
    """LocalSessionManager 21/22/24/25 (23 has no address)."""
    fields: Record = {"User": user, "SessionID": tsid}
    if eid != 23:
        fields["Address"] = address
    ctx.emit(host, t, x.envelope(
        x.P_LSM, eid, t, ctx.computer(host, t),
        x.user_data("EventXML", dict(x.EVENT_NS), fields),
        body_key="UserData", pid=ctx.service_pid(host, "lsm", t), tid=ctx.tid(),
        user_sid="S-1-5-18", activity=ctx.guid(),
    ))


# -- PowerShell ---------------------------------------------------------------------------


def script_block(ctx: Ctx, host: str, t: int, text: str, user: str, path: str = "",
                 warning: bool = False) -> None:
    """PowerShell/Operational 4104."""
    ctx.emit(host, t, x.envelope(
        x.P_POWERSHELL, 4104, t, ctx.computer(host, t),
        {"MessageNumber": 1, "MessageTotal": 1, "ScriptBlockText": text,
         "ScriptBlockId": ctx.guid().lower(), "Path": path},
        version=1, level=3 if warning else 5, task=2, opcode=15,
        pid=ctx.pid(), tid=ctx.tid(), user_sid=ctx.sid(user), activity=ctx.guid(),
    ))


def engine_state(ctx: Ctx, host: str, t: int, eid: int, host_app: str, command: str = "") -> None:
    """Windows PowerShell 400 (engine started) or 403 (stopped)."""
    new, prev = ("Available", "None") if eid == 400 else ("Stopped", "Available")
    name = "ServerRemoteHost" if "wsmprovhost" in host_app.lower() else "ConsoleHost"
    detail = (
        f"\tNewEngineState={new}\r\n\tPreviousEngineState={prev}\r\n\r\n"
        f"\tSequenceNumber={13 if eid == 400 else 41}\r\n\r\n\tHostName={name}\r\n"
        "\tHostVersion=5.1.17763.1971\r\n"
        f"\tHostId={ctx.guid().lower()}\r\n\tHostApplication={host_app}\r\n"
        "\tEngineVersion=5.1.17763.1971\r\n"
        f"\tRunspaceId={ctx.guid().lower()}\r\n\tPipelineId=\r\n\tCommandName=\r\n"
        f"\tCommandType=\r\n\tScriptName=\r\n\tCommandPath=\r\n\tCommandLine={command}"
    )
    ctx.emit(host, t, x.envelope(
        x.P_WINDOWS_POWERSHELL, eid, t, ctx.computer(host, t), x.data_list(new, prev, detail),
        qualifiers=0, task=4, pid=0, tid=0,
    ))


# -- Defender, Task Scheduler, Exchange, IIS, Application ---------------------------------


def defender(ctx: Ctx, host: str, t: int, eid: int, fields: Record, level: int = 4) -> None:
    """Windows Defender/Operational event."""
    body: Record = {"Product Name": "%%827", "Product Version": "4.18.2107.4"}
    body.update(fields)
    ctx.emit(host, t, x.envelope(
        x.P_DEFENDER, eid, t, ctx.computer(host, t), body, level=level,
        pid=ctx.service_pid(host, "msmpeng", t), tid=ctx.tid(), user_sid="S-1-5-18",
    ))


def task_event(ctx: Ctx, host: str, t: int, eid: int, fields: Record, opcode: int = 0) -> None:
    """TaskScheduler/Operational event."""
    version = {100: 0, 102: 0, 106: 0, 140: 0, 141: 0, 200: 0, 201: 2}.get(eid, 0)
    ctx.emit(host, t, x.envelope(
        x.P_TASKS, eid, t, ctx.computer(host, t), fields, version=version, task=eid,
        opcode=opcode, pid=ctx.service_pid(host, "schedule", t), tid=ctx.tid(),
        user_sid="S-1-5-18", activity=ctx.guid(),
    ))


def exchange_cmdlet(ctx: Ctx, host: str, t: int, cmdlet: str, params: str, caller: str,
                    elapsed_ms: int) -> None:
    """MSExchange Management 1 (cmdlet completed)."""
    domain = ctx.scen.domain.lower()
    _, name = split_user(caller)
    dc = f"DC01.{domain}"
    items = (
        cmdlet, params, f"{domain}/Users/{name}", ctx.sid(caller), f"{ctx.sid(caller)}(ActAs)",
        "ServerRemoteHost-Local", f"{ctx.service_pid(host, 'w3wp-ps', t)} "
        "w3wp#MSExchangePowerShellAppPool", "", f"00:00:{elapsed_ms / 1000:010.7f}",
        f"View Entire Forest: 'False', Default Scope: '{domain}', Configuration Domain "
        f"Controller: '{dc}', Preferred Global Catalog: '{dc}', Preferred Domain Controllers: "
        f"'{{ {dc} }}'", "", "", "", "",
    )
    ctx.emit(host, t, x.envelope(
        x.P_EXCHANGE, 1, t, ctx.computer(host, t), x.data_list(*items), task=1,
        qualifiers=16384,
    ))


def iis(ctx: Ctx, host: str, t: int, *, client: str, method: str, stem: str, query: str = "-",
        status: int = 200, user: str = "-", sent: int = 2048, received: int = 512,
        agent: str = "-", port: int = 443, site: str = "W3SVC1", taken: int = 15) -> None:
    """IIS ETW log record (Microsoft-IIS-Logging/Logs 6200)."""
    h = ctx.host(host)
    stamp = sysmon_time(t)
    ctx.emit(host, t, x.envelope(
        x.P_IIS, 6200, t, ctx.computer(host, t), {
            "EnabledFieldsFlags": 2478031, "date": stamp[:10], "time": stamp[11:19],
            "c-ip": client, "cs-username": user, "s-sitename": site,
            "s-computername": host, "s-ip": h.ip, "cs-method": method,
            "cs-uri-stem": stem, "cs-uri-query": query, "sc-status": status,
            "sc-win32-status": 0, "sc-bytes": sent, "cs-bytes": received,
            "time-taken": taken, "s-port": port, "csUser-Agent": agent.replace(" ", "+"),
            "csCookie": "-", "csReferer": "-", "cs-version": "HTTP/1.1", "cs-host": "-",
            "sc-substatus": 0, "CustomFields": "",
        },
        pid=ctx.service_pid(host, "w3wp", t), tid=ctx.tid(), user_sid="S-1-5-18",
        activity=ctx.guid(),
    ))


def app_event(ctx: Ctx, host: str, t: int, source: str, eid: int, items: tuple[str, ...],
              level: int = 4, qualifiers: int = 0, task: int = 0) -> None:
    """A classic Application-log event."""
    ctx.emit(host, t, x.envelope(
        x.app_provider(source), eid, t, ctx.computer(host, t), x.data_list(*items),
        level=level, qualifiers=qualifiers, task=task,
    ))


def winrm_auth(ctx: Ctx, host: str, t: int, user: str) -> None:
    """WinRM/Operational 169 (user authenticated)."""
    ctx.emit(host, t, x.envelope(
        x.P_WINRM, 169, t, ctx.computer(host, t),
        {"username": user, "authenticationMechanism": "Kerberos"},
        task=9, pid=ctx.service_pid(host, "winrm", t), tid=ctx.tid(), user_sid="S-1-5-20",
        activity=ctx.guid(),
    ))


