"""Version-resource metadata and hashes of the executables that appear in the scenarios."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

_MS_OS = "Microsoft® Windows® Operating System"
_MS = "Microsoft Corporation"
_NET = "Microsoft® .NET Framework"

_OS_VERSION = {
    "2012r2": "6.3.9600.16384 (winblue_rtm.130821-1623)",
    "2016": "10.0.14393.0 (rs1_release.160715-1616)",
    "2019": "10.0.17763.1 (WinBuild.160101.0800)",
    "win10": "10.0.19041.1 (WinBuild.160101.0800)",
}


@dataclass(frozen=True, slots=True)
class PE:
    """Fields Sysmon copies from an image's version resource."""

    description: str
    original: str
    product: str = _MS_OS
    company: str = _MS
    version: str = ""  # empty: the Windows build of the host
    sha256: str = ""  # known hash; empty: derived from the name


_UNVERSIONED = PE("-", "-", "-", "-", "-")

CATALOG: dict[str, PE] = {
    "cmd.exe": PE("Windows Command Processor", "Cmd.Exe"),
    "whoami.exe": PE("whoami - displays logged on user information", "whoami.exe"),
    "net.exe": PE("Net Command", "net.exe"),
    "net1.exe": PE("Net Command", "net1.exe"),
    "reg.exe": PE("Registry Console Tool", "reg.exe"),
    "rundll32.exe": PE("Windows host process (Rundll32)", "RUNDLL32.EXE"),
    "powershell.exe": PE("Windows PowerShell", "PowerShell.EXE"),
    "wevtutil.exe": PE("Eventing Command Line Utility", "wevtutil.exe"),
    "vssadmin.exe": PE(
        "Command Line Interface for Microsoft® Volume Shadow Copy Service ", "VSSADMIN.EXE"
    ),
    "ntdsutil.exe": PE("NT5DS", "ntdsutil.exe"),
    "findstr.exe": PE("Find String (QGREP) Utility", "findstr.exe"),
    "ipconfig.exe": PE("IP Configuration Utility", "ipconfig.exe"),
    "nltest.exe": PE("Microsoft® Logon Server Test Utility", "nltestrk.exe"),
    "tasklist.exe": PE("Lists the current running tasks", "tasklist.exe"),
    "taskkill.exe": PE("Terminates Processes", "taskkill.exe"),
    "hostname.exe": PE("Hostname APP", "hostname.exe"),
    "systeminfo.exe": PE("Displays system information", "sysinfo.exe"),
    "robocopy.exe": PE("Microsoft Robocopy", "robocopy.exe"),
    "xcopy.exe": PE("Extended Copy Utility", "XCOPY.EXE"),
    "schtasks.exe": PE("Task Scheduler Configuration Tool", "schtasks.exe"),
    "sc.exe": PE("Service Control Manager Configuration Tool", "sc.exe"),
    "wmiprvse.exe": PE("WMI Provider Host", "Wmiprvse.exe"),
    "wsmprovhost.exe": PE("Host process for WinRM plug-ins", "wsmprovhost.exe"),
    "w3wp.exe": PE("IIS Worker Process", "w3wp.exe", "Internet Information Services"),
    "csc.exe": PE(
        "Visual C# Command Line Compiler", "csc.exe", _NET, version="4.8.4084.0 built by: NET48REL1"
    ),
    "cvtres.exe": PE(
        "Microsoft® Resource File To COFF Object Conversion Utility", "CVTRES.EXE", _NET,
        version="14.10.25028.0 built by: NET48REL1",
    ),
    "msiexec.exe": PE("Windows® installer", "msiexec.exe"),
    "psconfigui.exe": PE(
        "SharePoint Products Configuration Wizard", "PSCONFIGUI.EXE", "Microsoft SharePoint",
        version="15.0.5345.1000",
    ),
    "psconfig.exe": PE(
        "SharePoint Products Configuration Wizard", "PSCONFIG.EXE", "Microsoft SharePoint",
        version="15.0.5345.1000",
    ),
    "svchost.exe": PE("Host Process for Windows Services", "svchost.exe"),
    "conhost.exe": PE("Console Window Host", "CONHOST.EXE"),
    "taskhostw.exe": PE("Host Process for Windows Tasks", "taskhostw.exe"),
    "gpupdate.exe": PE("Microsoft® Windows Group Policy Update Utility", "GPUpdate.exe"),
    "mpcmdrun.exe": PE(
        "Microsoft Malware Protection Command Line Utility", "MpCmdRun.exe",
        version="4.18.2107.4 (WinBuild.160101.0800)",
    ),
    "msmpeng.exe": PE(
        "Antimalware Service Executable", "MsMpEng.exe",
        version="4.18.2107.4 (WinBuild.160101.0800)",
    ),
    "sqlcmd.exe": PE(
        "T-SQL execution utility", "sqlcmd.exe", "Microsoft SQL Server",
        version="2019.0150.2000.05 ((SQLServer).190924-2033 )",
    ),
    "sqlservr.exe": PE(
        "SQL Server Windows NT - 64 Bit", "sqlservr.exe", "Microsoft SQL Server",
        version="2019.0150.4198.02 ((SQLServer).220120-1700)",
    ),
    "sqlagent.exe": PE(
        "SQL Server Agent", "SQLAGENT.EXE", "Microsoft SQL Server",
        version="2019.0150.4198.02 ((SQLServer).220120-1700)",
    ),
    "rar.exe": PE("Command line RAR", "Rar.exe", "WinRAR", "Alexander Roshal", "6.2.0"),
    "winrar.exe": PE("WinRAR archiver", "WinRAR.exe", "WinRAR", "Alexander Roshal", "6.2.0"),
    "7z.exe": PE("7-Zip Console", "7z.exe", "7-Zip", "Igor Pavlov", "22.01"),
    "rclone.exe": PE(
        "Rsync for cloud storage", "rclone.exe", "Rclone", "https://rclone.org", "1.62.2"
    ),
    "plink.exe": PE(
        "Command-line SSH, Telnet, and Rlogin client", "Plink", "PuTTY suite", "Simon Tatham",
        "Release 0.78 (with embedded help)",
    ),
    "advanced_port_scanner.exe": PE(
        "Advanced Port Scanner", "advanced_port_scanner.exe", "Advanced Port Scanner",
        "Famatech Corp.", "2.5.3869",
    ),
    "advanced_ip_scanner.exe": PE(
        "Advanced IP Scanner", "advanced_ip_scanner.exe", "Advanced IP Scanner",
        "Famatech Corp.", "2.5.4594.1",
    ),
    "m64.exe": PE(
        "mimikatz for Windows", "mimikatz.exe", "mimikatz", "gentilkiwi (Benjamin DELPY)",
        "2.2.0.0",
    ),
    "cl.exe": PE(
        "-", "-", "-", "-", "-",
        sha256="e1204ebbd8f15dbf5f2e41dddc5337e3182fc4daf75b05acc948b8b965480ca0",
    ),
    "rwdsk.sys": PE(
        "RawDisk Driver", "rwdsk.sys", "RawDisk", "EldoS Corporation", "3.0.31.121",
        sha256="3c9dc8ada56adf9cebfc501a2d3946680dcb0534a137e2e27a7fcb5994cd9de6",
    ),
    "psexec.exe": PE(
        "Execute processes remotely", "psexec.c", "Sysinternals PsExec",
        "Sysinternals - www.sysinternals.com", "2.40",
    ),
    "psexec64.exe": PE(
        "Execute processes remotely", "psexec.c", "Sysinternals PsExec",
        "Sysinternals - www.sysinternals.com", "2.40",
    ),
    "psexesvc.exe": PE(
        "PsExec Service", "psexesvc.exe", "Sysinternals PsExec",
        "Sysinternals - www.sysinternals.com", "2.40",
    ),
    "outlook.exe": PE(
        "Microsoft Outlook", "Outlook.exe", "Microsoft Outlook", version="16.0.14326.20404"
    ),
    "winword.exe": PE(
        "Microsoft Word", "WinWord.exe", "Microsoft Office", version="16.0.14326.20404"
    ),
    "excel.exe": PE(
        "Microsoft Excel", "Excel.exe", "Microsoft Office", version="16.0.14326.20404"
    ),
    "chrome.exe": PE(
        "Google Chrome", "chrome.exe", "Google Chrome", "Google LLC", "108.0.5359.125"
    ),
    "explorer.exe": PE("Windows Explorer", "EXPLORER.EXE"),
    "userinit.exe": PE("Userinit Logon Application", "USERINIT.EXE"),
    "mstsc.exe": PE("Remote Desktop Connection", "mstsc.exe"),
    "backgroundtaskhost.exe": PE("Background Task Host", "backgroundTaskHost.exe"),
    "sppsvc.exe": PE("Microsoft Software Protection Platform Service", "sppsvc.exe"),
    "tiworker.exe": PE("Windows Modules Installer Worker", "TiWorker.exe"),
    "dllhost.exe": PE("COM Surrogate", "dllhost.exe"),
    "searchprotocolhost.exe": PE(
        "Microsoft Windows Search Protocol Host", "SearchProtocolHost.exe"
    ),
    "spoolsv.exe": PE("Spooler SubSystem App", "spoolsv.exe"),
    "printisolationhost.exe": PE("Windows Print Isolation Host", "PrintIsolationHost.exe"),
    "beremote.exe": PE(
        "Backup Exec Remote Agent for Windows", "beremote.exe", "Veritas Backup Exec",
        "Veritas Technologies LLC", "21.0.1200.1204",
    ),
    "bengine.exe": PE(
        "Backup Exec Job Engine", "bengine.exe", "Veritas Backup Exec",
        "Veritas Technologies LLC", "21.0.1200.1204",
    ),
    "eappdocgen.exe": PE(
        "e-Services document generator", "EAppDocGen.exe", "GovEServices",
        "AKSHI", "3.4.2.0",
    ),
    "sihost.exe": PE("Shell Infrastructure Host", "sihost.exe"),
    "ctfmon.exe": PE("CTF Loader", "ctfmon.exe"),
    "notepad.exe": PE("Notepad", "NOTEPAD.EXE"),
    "mmc.exe": PE("Microsoft Management Console", "mmc.exe"),
    "dsac.exe": PE(
        "Active Directory Administrative Center", "dsac.exe", version="10.0.17763.1"
    ),
    "wbengine.exe": PE("Microsoft® Block Level Backup Engine Service EXE", "WBENGINE.EXE"),
    "msedge.exe": PE(
        "Microsoft Edge", "msedge.exe", "Microsoft Edge", version="108.0.1462.54"
    ),
    "teams.exe": PE("Microsoft Teams", "Teams.exe", "Microsoft Teams", version="1.5.0.30767"),
    "microsoft.exchange.store.worker.exe": PE(
        "Microsoft.Exchange.Store.Worker", "Microsoft.Exchange.Store.Worker.exe",
        "Microsoft® Exchange", version="15.01.2375.007",
    ),
    "edgetransport.exe": PE(
        "Microsoft Exchange EdgeTransport", "EdgeTransport.exe", "Microsoft® Exchange",
        version="15.01.2375.007",
    ),
    "umworkerprocess.exe": PE(
        "UM Worker Process", "UMWorkerProcess.exe", "Microsoft® Exchange",
        version="15.01.2375.007",
    ),
    "java.exe": PE(
        "OpenJDK Platform binary", "java.exe", "OpenJDK Platform 11.0.20", "Eclipse Adoptium",
        "11.0.20.0",
    ),
    "tomcat9.exe": PE(
        "Commons Daemon Service Runner", "prunsrv.exe", "Commons Daemon Service Runner",
        "Apache Software Foundation", "1.3.1.0",
    ),
    "veeamagent.exe": PE(
        "Veeam Agent", "VeeamAgent.exe", "Veeam Agent", "Veeam Software Group GmbH",
        "12.0.0.1420",
    ),
    "zabbix_agentd.exe": PE(
        "Zabbix Agent", "zabbix_agentd.exe", "Zabbix", "Zabbix SIA", "6.0.14.0"
    ),
}


def pe_for(image: str) -> PE:
    """The version resource of ``image`` (a full path); ``-`` fields when unknown."""
    base = image.rsplit("\\", 1)[-1].lower()
    return CATALOG.get(base, _UNVERSIONED)


def file_version(pe: PE, os_name: str) -> str:
    """FileVersion as Sysmon shows it for this host's Windows build."""
    return pe.version or _OS_VERSION.get(os_name, _OS_VERSION["2016"])


@functools.lru_cache(maxsize=4096)
def hashes(image: str, os_name: str) -> str:
    """Sysmon ``Hashes`` (SHA1, MD5, SHA256, IMPHASH); stable per image and Windows build."""
    base = image.rsplit("\\", 1)[-1].lower()
    pe = CATALOG.get(base)
    seed = f"{base}|{os_name if pe is not None and not pe.version else ''}".encode()
    sha256 = (pe.sha256 if pe is not None and pe.sha256 else hashlib.sha256(seed).hexdigest())
    sha1 = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
    md5 = hashlib.md5(seed, usedforsecurity=False).hexdigest()
    imphash = hashlib.md5(b"imp|" + base.encode(), usedforsecurity=False).hexdigest()
    return (
        f"SHA1={sha1.upper()},MD5={md5.upper()},SHA256={sha256.upper()},"
        f"IMPHASH={imphash.upper()}"
    )
