"""Benign background: the routine activity every host logs, scaled by ``scale``.

Each generator emits one activity (a logon with its logoff, a scheduled task run, a service
cycling, a web request) on one host. :func:`host_day` draws how many of each a host has on a
day; :func:`patch_night` is the monthly reboot every host goes through.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dwell.scenario import _events as e
from dwell.scenario import _evtx as x
from dwell.scenario._clock import DAY, HOUR, MINUTE, US, weekday
from dwell.scenario._compose import EXPLORER, POWERSHELL, S32, SVCHOST, W3WP
from dwell.scenario._context import ProcInfo
from dwell.scenario.actions import NETWORK_SERVICE, SYSTEM

if TYPE_CHECKING:
    from dwell.scenario._context import Ctx
    from dwell.scenario.model import Host

Gen = Callable[["Ctx", "Host", int], None]

LOCAL_SERVICE = "NT AUTHORITY\\LOCAL SERVICE"


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (normal approximation for large means)."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick(ctx: Ctx, items: tuple[str, ...] | list[str]) -> str:
    return items[ctx.rng.randrange(len(items))]


def _staff(ctx: Ctx) -> str:
    return f"{ctx.scen.netbios}\\{_pick(ctx, ctx.scen.staff)}"


def _workstations(ctx: Ctx) -> list[Host]:
    return [h for h in ctx.scen.hosts if h.kind == "workstation"]


def _proc(ctx: Ctx, host: str, t: int, image: str, cmd: str, user: str, parent: ProcInfo,
          integrity: str = "System", lifetime: float = 2.0, cwd: str = "C:\\Windows\\system32\\"
          ) -> ProcInfo:
    session = ctx.session(host, user, t)
    proc = ProcInfo(ctx.proc_guid(host, t), ctx.pid(), image, cmd, user)
    e.process_create(ctx, host, t, proc, parent, session, integrity, cwd)
    if lifetime and ctx.rng.random() < 0.7:
        e.process_end(ctx, host, t + int(lifetime * US * (0.5 + ctx.rng.random())), proc)
    return proc


def _svchost(ctx: Ctx, host: str, t: int, group: str = "netsvcs -p -s Schedule") -> ProcInfo:
    return ctx.stable_proc(host, SVCHOST, f"C:\\Windows\\system32\\svchost.exe -k {group}",
                           SYSTEM, t)


def _services(ctx: Ctx, host: str, t: int) -> ProcInfo:
    return ctx.stable_proc(host, S32 + "services.exe", "C:\\Windows\\system32\\services.exe",
                           SYSTEM, t)


# -- system-level noise ------------------------------------------------------------------

_SERVICES = ("Windows Modules Installer", "WinHTTP Web Proxy Auto-Discovery Service",
             "Windows Update", "Background Intelligent Transfer Service",
             "Device Setup Manager", "Windows Error Reporting Service",
             "Software Protection", "Microsoft Account Sign-in Assistant",
             "Update Orchestrator Service", "Network Setup Service",
             "Windows Defender Antivirus Network Inspection Service")


def service_cycle(ctx: Ctx, host: Host, t: int) -> None:
    """A demand-start service starting then stopping (7036)."""
    name = _pick(ctx, _SERVICES)
    e.service_state(ctx, host.name, t, name, "running")
    e.service_state(ctx, host.name, t + ctx.rng.randrange(30, 900) * US, name, "stopped")


_SYSTEM_PROCS = (
    (S32 + "taskhostw.exe", "taskhostw.exe Install $(Arg0)", "netsvcs -p -s Schedule"),
    (S32 + "backgroundTaskHost.exe",
     "\"C:\\Windows\\system32\\backgroundTaskHost.exe\" -ServerName:BackgroundTaskHost.WebAccountBackgroundManagerTask",  # noqa: E501
     "DcomLaunch -p"),
    (S32 + "sppsvc.exe", "C:\\Windows\\system32\\sppsvc.exe", "services"),
    (S32 + "dllhost.exe", "C:\\Windows\\system32\\DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",  # noqa: E501
     "DcomLaunch -p"),
    (S32 + "wermgr.exe", "C:\\Windows\\system32\\wermgr.exe -upload", "netsvcs -p -s Schedule"),
    (S32 + "CompatTelRunner.exe", "C:\\Windows\\system32\\compattelrunner.exe -maintenance",
     "netsvcs -p -s Schedule"),
    ("C:\\Windows\\servicing\\TrustedInstaller.exe", "C:\\Windows\\servicing\\TrustedInstaller.exe",
     "services"),
    (S32 + "SearchProtocolHost.exe",
     "\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthrPipe1_ "
     "Global\\UsGthrCtrlFltPipeMssGthrPipe1 1 -2147483646 \"Software\\Microsoft\\Windows "
     "Search\" \"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)\" "
     "\"C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\usgthrsvc\" \"DownLevelDaemon\"",
     "services"),
    (S32 + "conhost.exe", "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
     "services"),
    (S32 + "gpupdate.exe", "gpupdate.exe /target:computer", "netsvcs -p -s Schedule"),
    (S32 + "sc.exe", "C:\\Windows\\system32\\sc.exe query wuauserv", "netsvcs -p -s Schedule"),
)


def system_process(ctx: Ctx, host: Host, t: int) -> None:
    """A routine SYSTEM process (Sysmon 1 / 4688, usually Sysmon 5)."""
    image, cmd, group = _SYSTEM_PROCS[ctx.rng.randrange(len(_SYSTEM_PROCS))]
    parent = _services(ctx, host.name, t) if group == "services" else _svchost(ctx, host.name, t,
                                                                                  group)
    _proc(ctx, host.name, t, image, cmd, SYSTEM, parent)


def network_noise(ctx: Ctx, host: Host, t: int) -> None:
    """DNS lookups and connections of system services (Sysmon 22/3)."""
    targets = (("settings-win.data.microsoft.com", "20.42.73.29", 443),
               ("ctldl.windowsupdate.com", "93.184.221.240", 80),
               ("wdcp.microsoft.com", "20.190.159.68", 443),
               ("go.microsoft.com", "23.58.145.62", 443),
               ("time.windows.com", "40.119.6.228", 123))
    name, ip, port = targets[ctx.rng.randrange(len(targets))]
    svc = _svchost(ctx, host.name, t, "NetworkService -p -s Dnscache")
    svc = ProcInfo(svc.guid, svc.pid, svc.image, svc.cmd, NETWORK_SERVICE)
    e.dns(ctx, host.name, t, svc, name, f"type:  5 {name}.edgekey.net;::ffff:{ip};")
    e.net_conn(ctx, host.name, t + 40_000, svc, (host.ip, ctx.port(), ctx.fqdn(host.name)),
               (ip, port, ""))


def dc_lookup(ctx: Ctx, host: Host, t: int) -> None:
    """A member host talking to its DC (LDAP/Kerberos; Sysmon 3)."""
    dcs = [h for h in ctx.scen.hosts if h.kind == "dc"]
    if not dcs or host.kind == "dc":
        return
    dc = dcs[ctx.rng.randrange(len(dcs))]
    lsass = ProcInfo(ctx.stable_proc(host.name, "C:\\Windows\\system32\\lsass.exe", "", SYSTEM,
                                     t).guid, ctx.service_pid(host.name, "lsass", t),
                     "C:\\Windows\\System32\\lsass.exe", "", SYSTEM)
    port = 88 if ctx.rng.random() < 0.6 else 389
    e.net_conn(ctx, host.name, t, lsass, (host.ip, ctx.port(), ctx.fqdn(host.name)),
               (dc.ip, port, ctx.fqdn(dc.name)), port_name="kerberos" if port == 88 else "ldap")


def temp_file(ctx: Ctx, host: Host, t: int) -> None:
    """A temp or cache file written by a system process (Sysmon 11)."""
    choices = (
        (S32 + "svchost.exe", "C:\\Windows\\SoftwareDistribution\\DataStore\\Logs\\tmp{n}.edb"),
        ("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2107.4-0\\MsMpEng.exe",
         "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\CacheManager\\{n}.bin"),
        (S32 + "svchost.exe", "C:\\Windows\\Prefetch\\TASKHOSTW.EXE-{n}.pf"),
        (S32 + "wbem\\WmiPrvSE.exe", "C:\\Windows\\System32\\wbem\\Performance\\WmiApRpl_new.ini"),
        ("C:\\Windows\\servicing\\TrustedInstaller.exe",
         "C:\\Windows\\Logs\\CBS\\CbsPersist_{n}.log"),
    )
    image, path = choices[ctx.rng.randrange(len(choices))]
    proc = ctx.stable_proc(host.name, image, image, SYSTEM, t)
    e.file_create(ctx, host.name, t, proc, path.replace("{n}", f"{ctx.rng.getrandbits(32):08X}"))


def registry_noise(ctx: Ctx, host: Host, t: int) -> None:
    """A routine registry write (Sysmon 13)."""
    svc = _svchost(ctx, host.name, t, "netsvcs -p -s BITS")
    keys = (
        ("HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\S-1-5-18\\"
         "\\Device\\HarddiskVolume2\\Windows\\System32\\svchost.exe", "Binary Data"),
        ("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\"
         "LastOnlineScanTimeForAppCategory", "QWORD (0x01d7-0x5c1a2b3c)"),
        ("HKLM\\System\\CurrentControlSet\\Services\\W32Time\\Config\\LastKnownGoodTime",
         "QWORD (0x01d8-0x3a9f0e11)"),
    )
    key, details = keys[ctx.rng.randrange(len(keys))]
    e.reg_set(ctx, host.name, t, svc, key, details)


_TASKS = ("\\Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan",
          "\\Microsoft\\Windows\\Windows Defender\\Windows Defender Scheduled Scan",
          "\\Microsoft\\Windows\\Defrag\\ScheduledDefrag",
          "\\Microsoft\\Windows\\Server Manager\\ServerManager",
          "\\Microsoft\\Windows\\WindowsUpdate\\Scheduled Start",
          "\\Microsoft\\Windows\\Time Synchronization\\SynchronizeTime",
          "\\Microsoft\\Windows\\Application Experience\\Microsoft Compatibility Appraiser",
          "\\Microsoft\\Windows\\Customer Experience Improvement Program\\Consolidator")


def task_run(ctx: Ctx, host: Host, t: int) -> None:
    """A scheduled task run (TaskScheduler 100/200/201/102)."""
    name = _pick(ctx, _TASKS)
    instance = ctx.guid().lower()
    ctx_user = "NT AUTHORITY\\System"
    e.task_event(ctx, host.name, t, 100, {"TaskName": name, "UserContext": ctx_user,
                                          "InstanceId": instance}, opcode=1)
    e.task_event(ctx, host.name, t + 20_000, 200, {
        "TaskName": name, "TaskAction": "%windir%\\system32\\taskhostw.exe",
        "EnginePID": ctx.pid(), "TaskInstanceId": instance}, opcode=1)
    end = t + ctx.rng.randrange(2, 120) * US
    e.task_event(ctx, host.name, end, 201, {
        "TaskName": name, "TaskInstanceId": instance,
        "ActionName": "%windir%\\system32\\taskhostw.exe", "ResultCode": 0,
        "EnginePID": ctx.pid()}, opcode=2)
    e.task_event(ctx, host.name, end + 10_000, 102, {"TaskName": name, "UserContext": ctx_user,
                                                     "InstanceId": instance}, opcode=2)


def defender_update(ctx: Ctx, host: Host, t: int) -> None:
    """Security intelligence update: MpCmdRun (Sysmon 1) and Defender 2000 (B09)."""
    mp = ("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2107.4-0\\"
          "MpCmdRun.exe")
    parent = _svchost(ctx, host.name, t)
    _proc(ctx, host.name, t, mp,
          f"\"{mp}\" -SignaturesUpdateService -ScheduleJob -RestrictPrivileges", SYSTEM, parent,
          lifetime=40.0)
    day = (t // DAY) % 1000
    e.defender(ctx, host.name, t + 35 * US, 2000, {
        "Current security intelligence Version": f"1.{350 + day // 3}.{day * 7 % 900}.0",
        "Previous security intelligence Version": f"1.{350 + day // 3}.{day * 7 % 900 - 3}.0",
        "Security intelligence Type ID": "1", "Security intelligence Type": "%%800",
        "Update Type ID": "1", "Update Type": "%%802", "User": "NT AUTHORITY\\SYSTEM",
        "Current Engine Version": "1.1.19300.2", "Previous Engine Version": "1.1.19300.2",
    })


def defender_scan(ctx: Ctx, host: Host, t: int) -> None:
    """A scheduled quick scan: 1000/1001 and the MpKsl driver it installs (7045)."""
    scan = ctx.guid()
    e.defender(ctx, host.name, t, 1000, {
        "Scan ID": "{" + scan + "}", "Scan Type ID": "1", "Scan Type": "%%803",
        "Scan Parameters ID": "1", "Scan Parameters": "%%806", "Domain": "NT AUTHORITY",
        "User": "SYSTEM", "SID": "S-1-5-18"})
    driver = f"MpKsl{ctx.rng.getrandbits(32):08x}"
    e.service_installed(ctx, host.name, t + 4 * US, ctx.session(host.name, SYSTEM, t), driver,
                        "\\??\\C:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\"
                        "{" + ctx.guid() + "}\\MpKslDrv.sys", "kernel mode driver",
                        "demand start", "")
    e.defender(ctx, host.name, t + ctx.rng.randrange(120, 900) * US, 1001, {
        "Scan ID": "{" + scan + "}", "Scan Type ID": "1", "Scan Type": "%%803",
        "Scan Parameters ID": "1", "Scan Parameters": "%%806", "Domain": "NT AUTHORITY",
        "User": "SYSTEM", "SID": "S-1-5-18", "Scan Time Hours": "0",
        "Scan Time Minutes": str(ctx.rng.randrange(2, 14)), "Scan Time Seconds": "31"})


def group_policy(ctx: Ctx, host: Host, t: int) -> None:
    """Background Group Policy refresh (1502) and, sometimes, a GPO-driven Defender 5007."""
    dc = next((h for h in ctx.scen.hosts if h.kind == "dc"), host)
    e.system_event(ctx, host.name, t, x.P_GROUP_POLICY, 1502, {
        "SupportInfo1": "1", "SupportInfo2": "5137", "ProcessingMode": "0",
        "ProcessingTimeInMilliseconds": str(ctx.rng.randrange(300, 4000)),
        "DCName": f"\\\\{ctx.fqdn(dc.name)}", "NumberOfGroupPolicyObjects": "4"},
        version=0, task=0, user_sid="S-1-5-18")
    if ctx.rng.random() < 0.15:
        value = ctx.rng.choice(("SignatureUpdateInterval", "ScanScheduleQuickScanTime",
                                "AvgCPULoadFactor"))
        key = f"HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Scan\\{value}"
        e.defender(ctx, host.name, t + 3 * US, 5007, {
            "Old Value": f"{key} = 0x4", "New Value": f"{key} = 0x8"})


def app_noise(ctx: Ctx, host: Host, t: int) -> None:
    """Routine Application-log chatter."""
    pick = ctx.rng.randrange(4)
    if pick == 0:
        e.app_event(ctx, host.name, t, "Microsoft-Windows-Security-SPP", 16384,
                    ("2099-01-01T00:00:00Z", "RulesEngine"), qualifiers=16384)
    elif pick == 1:
        e.app_event(ctx, host.name, t, "Microsoft-Windows-Security-SPP", 16394, (),
                    qualifiers=16384)
    elif pick == 2:
        e.app_event(ctx, host.name, t, "ESENT", 326, (
            "svchost", str(ctx.pid()), "DataStore: ",
            "C:\\Windows\\SoftwareDistribution\\DataStore\\DataStore.edb", "0"), task=1)
    else:
        e.app_event(ctx, host.name, t, "Microsoft-Windows-RestartManager", 10000, (
            str(ctx.rng.randrange(0, 5)), "2021-01-01T00:00:00.000000000Z"))


def admin_script(ctx: Ctx, host: Host, t: int) -> None:
    """A monitoring or admin script block (4104) on a server."""
    scripts = (
        "Get-Service | Where-Object { $_.Status -eq 'Stopped' -and $_.StartType -eq 'Automatic' }",
        "Get-WmiObject Win32_LogicalDisk -Filter \"DriveType=3\" | Select-Object DeviceID, "
        "FreeSpace, Size",
        "Get-EventLog -LogName System -EntryType Error -Newest 20",
        "Get-Process | Sort-Object CPU -Descending | Select-Object -First 10",
        "Test-NetConnection -ComputerName localhost -Port 443",
    )
    user = f"{ctx.scen.netbios}\\svc_monitor"
    e.engine_state(ctx, host.name, t - 700_000, 400,
                   f"{POWERSHELL} -NoProfile -NonInteractive -File C:\\Monitoring\\check.ps1")
    e.script_block(ctx, host.name, t, _pick(ctx, scripts), user,
                   path="C:\\Monitoring\\check.ps1")
    e.engine_state(ctx, host.name, t + 2 * US, 403,
                   f"{POWERSHELL} -NoProfile -NonInteractive -File C:\\Monitoring\\check.ps1")


# -- logons -------------------------------------------------------------------------------


def network_logon(ctx: Ctx, host: Host, t: int) -> None:
    """A Kerberos network logon from a workstation user, with its logoff."""
    ws = _workstations(ctx)
    client = ws[ctx.rng.randrange(len(ws))] if ws else host
    user = _staff(ctx) if ctx.rng.random() < 0.7 else f"{ctx.scen.netbios}\\{client.name}$"
    session = ctx.new_session(host.name, user, t)
    e.logon(ctx, host.name, t, session, 3, ip=client.ip, port=str(ctx.port()),
            workstation="-", auth="Kerberos", process="-", kerberos_guid=True)
    e.logoff(ctx, host.name, t + ctx.rng.randrange(1, 600) * US, session, 3)


def service_logon(ctx: Ctx, host: Host, t: int) -> None:
    """A service logon (type 5) with its special privileges (4672)."""
    session = ctx.session(host.name, SYSTEM, t)
    e.logon(ctx, host.name, t, session, 5, process="C:\\Windows\\System32\\services.exe")
    e.special_privileges(ctx, host.name, t + 800, session, e.SYSTEM_PRIVILEGES)


def dc_auth(ctx: Ctx, host: Host, t: int) -> None:
    """Domain-controller authentication traffic: TGT, service tickets, a network logon."""
    ws = _workstations(ctx) or [host]
    client = ws[ctx.rng.randrange(len(ws))]
    user = _staff(ctx)
    e.kerberos_tgt(ctx, host.name, t, user, client.ip)
    servers = [h for h in ctx.scen.hosts if h.kind != "workstation"]
    for i in range(ctx.rng.randrange(1, 3)):
        target = servers[ctx.rng.randrange(len(servers))]
        e.kerberos_service(ctx, host.name, t + (i + 1) * 200_000, user,
                           f"{target.name}$", client.ip)
    if ctx.rng.random() < 0.5:
        session = ctx.new_session(host.name, user, t)
        e.logon(ctx, host.name, t + 900_000, session, 3, ip=client.ip, port=str(ctx.port()),
                auth="Kerberos", process="-", kerberos_guid=True)
        e.share_access(ctx, host.name, t + 950_000, session, client.ip,
                       _pick(ctx, ("SYSVOL", "NETLOGON", "IPC$")),
                       "\\??\\C:\\Windows\\SYSVOL\\sysvol")
        e.logoff(ctx, host.name, t + ctx.rng.randrange(2, 30) * US, session, 3)


def ntlm_auth(ctx: Ctx, host: Host, t: int) -> None:
    """NTLM validation on a DC (4776)."""
    ws = _workstations(ctx) or [host]
    e.ntlm_validate(ctx, host.name, t, _staff(ctx), ws[ctx.rng.randrange(len(ws))].name)


def file_share(ctx: Ctx, host: Host, t: int) -> None:
    """A user opening documents on the file server (4624, 5140, 5145 reads, 4634)."""
    ws = _workstations(ctx) or [host]
    client = ws[ctx.rng.randrange(len(ws))]
    user = _staff(ctx)
    session = ctx.new_session(host.name, user, t)
    e.logon(ctx, host.name, t, session, 3, ip=client.ip, port=str(ctx.port()),
            auth="Kerberos", process="-", kerberos_guid=True)
    share = _pick(ctx, ("Docs$", "Users$", "Public"))
    folder = _pick(ctx, ("Kabineti", "Finance", "Legal", "HR", "Procurement", "Archive"))
    e.share_access(ctx, host.name, t + 30_000, session, client.ip, share,
                   f"\\??\\D:\\{share.rstrip('$')}")
    for i in range(ctx.rng.randrange(1, 4)):
        e.share_file(ctx, host.name, t + (i + 1) * 400_000, session, client.ip, share,
                     f"\\??\\D:\\{share.rstrip('$')}",
                     f"{folder}\\{_pick(ctx, ('memo', 'report', 'budget', 'contract', 'minutes'))}"
                     f"_{ctx.rng.randrange(100, 999)}.{_pick(ctx, ('docx', 'xlsx', 'pdf'))}",
                     "0x120089")
    e.logoff(ctx, host.name, t + ctx.rng.randrange(60, 1800) * US, session, 3)


def failed_logon(ctx: Ctx, host: Host, t: int) -> None:
    """A mistyped password (4625)."""
    ws = _workstations(ctx) or [host]
    client = ws[ctx.rng.randrange(len(ws))]
    e.failed_logon(ctx, host.name, t, _staff(ctx), 3, client.ip, client.name)


# -- workstation users --------------------------------------------------------------------

_USER_APPS = (
    ("C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
     "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\" "),
    ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
     "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" "),
    ("C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
     "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n"),
    ("C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
     "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE\" "),
    (S32 + "notepad.exe", "\"C:\\Windows\\system32\\NOTEPAD.EXE\" "),
)


def workday(ctx: Ctx, host: Host, t: int) -> None:
    """A user's day on a workstation: logon, shell, apps, documents, logoff."""
    if host.kind != "workstation" or not host.users:
        return
    name = _pick(ctx, host.users)
    user = f"{ctx.scen.netbios}\\{name}"
    session = ctx.new_session(host.name, user, t, tsid=1)
    logon_type = 2 if ctx.rng.random() < 0.5 else 11
    e.logon(ctx, host.name, t, session, logon_type, ip="127.0.0.1", port="0",
            workstation=host.name, process="C:\\Windows\\System32\\svchost.exe",
            elevated=False, kerberos_guid=True)
    e.lsm(ctx, host.name, t + 900_000, 21, user, 1, "LOCAL")
    e.lsm(ctx, host.name, t + 1_300_000, 22, user, 1, "LOCAL")
    winlogon = ctx.stable_proc(host.name, S32 + "winlogon.exe", "winlogon.exe", SYSTEM, t)
    init = _proc(ctx, host.name, t + 1_500_000, S32 + "userinit.exe",
                 "C:\\Windows\\system32\\userinit.exe", user, winlogon, "Medium", 0)
    shell = _proc(ctx, host.name, t + 1_900_000, EXPLORER, "C:\\Windows\\Explorer.EXE", user,
                  init, "Medium", 0)
    ctx.remember(host.name, shell)
    cursor = t + 60 * US
    for _ in range(ctx.rng.randrange(1, 4)):
        image, cmd = _USER_APPS[ctx.rng.randrange(len(_USER_APPS))]
        cursor += ctx.rng.randrange(60, 3600) * US
        app = _proc(ctx, host.name, cursor, image, cmd, user, shell, "Medium", 0,
                    cwd=f"C:\\Users\\{name}\\")
        if "chrome" in image or "OUTLOOK" in image:
            dest = (("outlook.office365.com", "52.97.146.162") if "OUTLOOK" in image else
                    (_pick(ctx, ("www.google.com", "www.bbc.co.uk", "e-albania.al",
                                 "www.microsoft.com")), "142.250.180.4"))
            e.dns(ctx, host.name, cursor + 300_000, app, dest[0], f"::ffff:{dest[1]};")
            e.net_conn(ctx, host.name, cursor + 400_000, app,
                       (host.ip, ctx.port(), ctx.fqdn(host.name)), (dest[1], 443, ""))
        else:
            kind = _pick(ctx, ("draft", "notes", "letter", "table"))
            ext = "docx" if "WINWORD" in image else "xlsx" if "EXCEL" in image else "txt"
            doc = f"C:\\Users\\{name}\\Documents\\{kind}_{ctx.rng.randrange(10, 99)}.{ext}"
            e.file_create(ctx, host.name, cursor + 120 * US, app, doc)
    end = t + ctx.rng.randrange(6 * 3600, 9 * 3600) * US
    e.user_logoff(ctx, host.name, end, session)
    e.lsm(ctx, host.name, end + 500_000, 23, user, 1, "")
    e.logoff(ctx, host.name, end + 2 * US, session, logon_type)


def unlock(ctx: Ctx, host: Host, t: int) -> None:
    """A screen unlock (4624 type 7, 4634)."""
    if host.kind != "workstation" or not host.users:
        return
    user = f"{ctx.scen.netbios}\\{_pick(ctx, host.users)}"
    session = ctx.new_session(host.name, user, t, tsid=1)
    e.logon(ctx, host.name, t, session, 7, ip="127.0.0.1", port="0", workstation=host.name,
            process="C:\\Windows\\System32\\svchost.exe", elevated=False, kerberos_guid=True)
    e.logoff(ctx, host.name, t + 3 * US, session, 7)


# -- role-specific ------------------------------------------------------------------------

_PUBLIC_PREFIXES = ("79.106", "46.99", "80.78", "185.103", "91.187", "5.56", "37.139",
                    "84.20", "217.24", "109.236")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/108.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/16.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 12; SM-A525F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/107.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:107.0) Gecko/20100101 Firefox/107.0",
)


def public_ip(ctx: Ctx) -> str:
    """A citizen's address from a handful of consumer ranges."""
    return f"{_pick(ctx, _PUBLIC_PREFIXES)}.{ctx.rng.randrange(1, 255)}.{ctx.rng.randrange(1, 255)}"


def _internal_client(ctx: Ctx) -> tuple[str, str]:
    ws = _workstations(ctx)
    client = ws[ctx.rng.randrange(len(ws))] if ws else ctx.scen.hosts[0]
    return client.ip, _staff(ctx)


def sharepoint_hit(ctx: Ctx, host: Host, t: int) -> None:
    """SharePoint traffic: citizens anonymously, staff authenticated (incl. Picker.aspx)."""
    if ctx.rng.random() < 0.6:
        stem = _pick(ctx, ("/", "/Pages/default.aspx", "/sites/sherbime/Pages/Forms.aspx",
                           "/_layouts/15/start.aspx", "/_layouts/15/images/spcommon.png",
                           "/_layouts/15/init.js", "/SiteAssets/logo.png"))
        e.iis(ctx, host.name, t, client=public_ip(ctx), method="GET", stem=stem,
              agent=_pick(ctx, _AGENTS), sent=ctx.rng.randrange(800, 90000),
              taken=ctx.rng.randrange(15, 700))
    else:
        ip, user = _internal_client(ctx)
        method, stem = ctx.rng.choice((
            ("GET", "/sites/intranet/Pages/default.aspx"),
            ("POST", "/_layouts/15/Picker.aspx"),
            ("POST", "/_vti_bin/client.svc/ProcessQuery"),
            ("GET", "/sites/intranet/Shared Documents/Forms/AllItems.aspx"),
            ("POST", "/_vti_bin/sites.asmx"),
        ))
        query = ("PickerDialogType=Microsoft.SharePoint.WebControls.PeoplePickerDialog"
                 if stem.endswith("Picker.aspx") else "-")
        e.iis(ctx, host.name, t, client=ip, method=method, stem=stem, query=query, user=user,
              agent=_AGENTS[0], sent=ctx.rng.randrange(2000, 60000), port=80)


def exchange_hit(ctx: Ctx, host: Host, t: int) -> None:
    """Exchange client traffic: OWA, EWS (Outlook), ActiveSync, MAPI."""
    ip, user = _internal_client(ctx)
    method, stem, query, agent = ctx.rng.choice((
        ("POST", "/mapi/emsmdb/", "mailboxId=" + ctx.guid().lower() + "@goval.local",
         "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.14326; Pro)"),
        ("POST", "/EWS/Exchange.asmx", "-",
         "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.14326; Pro)"),
        ("GET", "/owa/", "-", _AGENTS[0]),
        ("POST", "/Microsoft-Server-ActiveSync/default.eas", "Cmd=Sync&User=" + user.split("\\")[1]
         + "&DeviceId=ANDROIDC" + str(ctx.rng.randrange(1000, 9999)) + "&DeviceType=Android",
         "Android-SAMSUNG-SM-A525F/101.50001"),
        ("POST", "/autodiscover/autodiscover.xml", "-",
         "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.14326; Pro)"),
    ))
    if "ActiveSync" in stem:
        ip = public_ip(ctx)
    e.iis(ctx, host.name, t, client=ip, method=method, stem=stem, query=query, user=user,
          agent=agent, sent=ctx.rng.randrange(500, 120000))


def exchange_admin(ctx: Ctx, host: Host, t: int) -> None:
    """Routine Exchange cmdlets by the messaging admin and health probes."""
    netbios = ctx.scen.netbios
    cmdlet, params, caller = ctx.rng.choice((
        ("Get-Mailbox", "-ResultSize \"100\"", f"{netbios}\\adm.mail"),
        ("Get-MessageTrackingLog", "-Start \"2022-01-01\" -Sender \"helpdesk@goval.local\"",
         f"{netbios}\\adm.mail"),
        ("Get-ExchangeServer", "-Status \"True\"", f"{netbios}\\HealthMailbox0a1b2c"),
        ("Get-MailboxDatabase", "-Status \"True\"", f"{netbios}\\HealthMailbox0a1b2c"),
        ("Set-Mailbox", "-Identity \"" + _pick(ctx, ctx.scen.staff) + "\" -ProhibitSendQuota "
         "\"9.5 GB\"", f"{netbios}\\adm.mail"),
        ("Get-Queue", "", f"{netbios}\\adm.mail"),
    ))
    e.exchange_cmdlet(ctx, host.name, t, cmdlet, params, caller, ctx.rng.randrange(30, 2000))


def sql_noise(ctx: Ctx, host: Host, t: int) -> None:
    """SQL Server Application-log chatter (logins, backups)."""
    if ctx.rng.random() < 0.7:
        e.app_event(ctx, host.name, t, "MSSQLSERVER", 18453, (
            f"{ctx.scen.netbios}\\svc_eapp", " [CLIENT: 10.10.1.30]"), qualifiers=16384, task=4)
    else:
        e.app_event(ctx, host.name, t, "MSSQLSERVER", 18264, (
            "CitizenRegistry", "2022-01-01 01:00:00", "2022-01-01 01:00:00", "1", "1",
            "D:\\SQLBackup\\CitizenRegistry_full.bak"), qualifiers=16384, task=2)


def eapp_documents(ctx: Ctx, host: Host, t: int) -> None:
    """The e-services app generating ID documents for citizens (B12)."""
    stamp = ctx.scen.variant[:1].upper()
    number = f"ID-{ctx.rng.randrange(100000, 999999)}-{ctx.rng.randrange(1, 9999):04d}"
    pool = ctx.stable_proc(host.name, W3WP, "c:\\windows\\system32\\inetsrv\\w3wp.exe -ap "
                           "\"EServices\" -v \"v4.0\" -l \"webengine4.dll\" -a "
                           "\\\\.\\pipe\\iisipm5f3c2a4b-0c5e-4b1e-9a61-3f1d5d2e7c11 -h "
                           "\"C:\\inetpub\\temp\\apppools\\EServices\\EServices.config\" -w \"\" "
                           "-m 0", f"{ctx.scen.netbios}\\svc_eapp", t)
    logon = ctx.session(host.name, f"{ctx.scen.netbios}\\svc_eapp", t)
    citizen = public_ip(ctx)
    e.iis(ctx, host.name, t - 400_000, client=citizen, method="POST", stem="/eapp/api/documents",
          agent=_pick(ctx, _AGENTS), sent=ctx.rng.randrange(900, 3000))
    e.app_event(ctx, host.name, t, "GovEServices", 1000, (
        f"DocGenerated doc_id={number} user=svc_eapp client={citizen} logon_id="
        f"{e.hexid(logon.logon_id)} channel=web src={stamp}",))
    e.file_create(ctx, host.name, t + 300_000, pool, f"C:\\inetpub\\eapp\\out\\{number}.pdf")


def eapp_browse(ctx: Ctx, host: Host, t: int) -> None:
    """Citizens browsing the e-services portal."""
    e.iis(ctx, host.name, t, client=public_ip(ctx), method="GET",
          stem=_pick(ctx, ("/eapp/", "/eapp/login", "/eapp/static/app.js", "/eapp/status")),
          agent=_pick(ctx, _AGENTS), sent=ctx.rng.randrange(500, 40000))


def print_job(ctx: Ctx, host: Host, t: int) -> None:
    """A print job: a network logon and the spooler isolation host."""
    network_logon(ctx, host, t)
    spool = ctx.stable_proc(host.name, S32 + "spoolsv.exe", "C:\\Windows\\System32\\spoolsv.exe",
                            SYSTEM, t)
    if ctx.rng.random() < 0.3:
        _proc(ctx, host.name, t + 500_000, S32 + "PrintIsolationHost.exe",
              "C:\\Windows\\system32\\PrintIsolationHost.exe -Embedding", LOCAL_SERVICE, spool,
              "System", 30.0)


# -- schedule -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """How often a generator runs on a host per day at scale 1."""

    gen: Gen
    per_day: float
    office: bool = False  # weight toward local office hours on weekdays


_COMMON = (
    Rate(service_cycle, 0.35), Rate(system_process, 1.0), Rate(network_noise, 0.35),
    Rate(dc_lookup, 0.3), Rate(temp_file, 0.35), Rate(registry_noise, 0.2),
    Rate(task_run, 0.3), Rate(defender_update, 0.35), Rate(defender_scan, 0.08),
    Rate(group_policy, 0.2), Rate(app_noise, 0.25), Rate(service_logon, 0.25),
    Rate(network_logon, 0.45, office=True), Rate(failed_logon, 0.03, office=True),
)


def rates(host: Host) -> tuple[Rate, ...]:
    """Generators and their daily rates for ``host``."""
    out = list(_COMMON)
    f = host.features
    if host.kind == "dc":
        out += [Rate(dc_auth, 3.0, office=True), Rate(ntlm_auth, 0.6, office=True)]
    if host.kind == "workstation":
        out += [Rate(workday, 0.6, office=True), Rate(unlock, 0.4, office=True)]
    if host.kind != "workstation":
        out.append(Rate(admin_script, 0.06))
    if "sharepoint" in f:
        out.append(Rate(sharepoint_hit, 2.5, office=True))
    if "exchange" in f:
        out += [Rate(exchange_hit, 3.0, office=True), Rate(exchange_admin, 0.3, office=True)]
    if "sql" in f:
        out.append(Rate(sql_noise, 0.8))
    if "eapp" in f:
        out += [Rate(eapp_documents, 2.0, office=True), Rate(eapp_browse, 1.0, office=True)]
    if "fileserver" in f:
        out.append(Rate(file_share, 1.5, office=True))
    if "print" in f:
        out.append(Rate(print_job, 0.8, office=True))
    return tuple(out)


def _when(ctx: Ctx, day: int, tz_hours: int, office: bool) -> int:
    if office and weekday(day) < 5 and ctx.rng.random() < 0.85:
        local = ctx.rng.uniform(7.5, 17.5) if ctx.rng.random() < 0.9 else ctx.rng.uniform(5, 22)
        return day + int((local - tz_hours) * HOUR) + ctx.rng.randrange(0, MINUTE)
    return day + ctx.rng.randrange(0, DAY)


def host_day(ctx: Ctx, host: Host, day: int, scale: float, density: float, tz_hours: int
             ) -> None:
    """All background activity of ``host`` on the UTC day starting at ``day``."""
    weekend = weekday(day) >= 5
    for rate in rates(host):
        lam = rate.per_day * scale * density
        if rate.office and weekend:
            lam *= 0.15
        for _ in range(poisson(ctx.rng, lam)):
            rate.gen(ctx, host, _when(ctx, day, tz_hours, rate.office))


def patch_night(ctx: Ctx, host: Host, t: int) -> None:
    """Monthly patching: updates installed, planned reboot, boot events, Sysmon restart."""
    kb = f"KB50{(t // DAY) % 90000:05d}"
    e.system_event(ctx, host.name, t, x.P_WINDOWS_UPDATE, 19, {
        "updateTitle": f"Cumulative Update for Windows ({kb})",
        "updateGuid": "{" + ctx.guid().lower() + "}", "updateRevisionNumber": "1"},
        version=1, task=1, user_sid="S-1-5-18")
    down = t + 5 * MINUTE
    e.classic_system(ctx, host.name, down, x.P_USER32, 1074, (
        "C:\\Windows\\servicing\\TrustedInstaller.exe (" + host.name + ")", host.name,
        "Operating System: Upgrade (Planned)", "0x80020003", "restart", "",
        "NT AUTHORITY\\SYSTEM"))
    e.classic_system(ctx, host.name, down + 30 * US, x.P_EVENTLOG_CLASSIC, 6006, ())
    up = down + ctx.rng.randrange(90, 400) * US
    e.system_event(ctx, host.name, up, x.P_KERNEL_GENERAL, 12, {
        "MajorVersion": 10, "MinorVersion": 0, "BuildVersion": 17763, "QfeVersion": 2452,
        "ServiceVersion": 0, "BootMode": 0, "StartTime": "", "BootTimeAvailable": True},
        version=1, task=1)
    e.classic_system(ctx, host.name, up + 20 * US, x.P_EVENTLOG_CLASSIC, 6009, (
        "10.00.", "17763", "Multiprocessor Free", "0"))
    e.classic_system(ctx, host.name, up + 20 * US + 1000, x.P_EVENTLOG_CLASSIC, 6005, ())
    e.boot_4608(ctx, host.name, up + 25 * US)
    e.sysmon(ctx, host.name, up + 40 * US, 4, {"State": "Started", "Version": "13.33",
                                                "SchemaVersion": "4.82"})
    e.classic_system(ctx, host.name, up + 60 * US, x.P_EVENTLOG_CLASSIC, 6013, (
        "95", "60", "0 Central Europe Standard Time"))
    e.service_state(ctx, host.name, up + 90 * US, "Windows Update", "running")
