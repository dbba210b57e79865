"""Composite tradecraft: tuples of actions for a web-shell command, RDP, wmiexec, PsExec, WinRM."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from dwell.scenario.actions import (
    SYSTEM,
    Connect,
    FileWrite,
    Logon,
    PipeCreate,
    Proc,
    RegSet,
    Script,
    ServiceInstall,
    ShareFile,
    Web,
    WinRMAuth,
)

if TYPE_CHECKING:
    from dwell.scenario.model import Action

S32 = "C:\\Windows\\System32\\"
CMD = S32 + "cmd.exe"
POWERSHELL = S32 + "WindowsPowerShell\\v1.0\\powershell.exe"
W3WP = S32 + "inetsrv\\w3wp.exe"
WMIPRVSE = S32 + "wbem\\WmiPrvSE.exe"
EXPLORER = "C:\\Windows\\explorer.exe"
SERVICES = S32 + "services.exe"
SVCHOST = S32 + "svchost.exe"
WSMPROVHOST = S32 + "wsmprovhost.exe"
PSEXESVC = "C:\\Windows\\PSEXESVC.exe"
MSTSC = S32 + "mstsc.exe"

TOOLS = {
    "whoami": S32 + "whoami.exe", "net": S32 + "net.exe", "ipconfig": S32 + "ipconfig.exe",
    "nltest": S32 + "nltest.exe", "tasklist": S32 + "tasklist.exe",
    "systeminfo": S32 + "systeminfo.exe", "reg": S32 + "reg.exe", "findstr": S32 + "findstr.exe",
    "vssadmin": S32 + "vssadmin.exe", "wevtutil": S32 + "wevtutil.exe",
    "netstat": S32 + "NETSTAT.EXE", "hostname": S32 + "HOSTNAME.EXE", "quser": S32 + "quser.exe",
    "rundll32": S32 + "rundll32.exe", "ntdsutil": S32 + "ntdsutil.exe",
    "taskkill": S32 + "taskkill.exe", "powershell": POWERSHELL, "sc": S32 + "sc.exe",
    "schtasks": S32 + "schtasks.exe", "robocopy": S32 + "Robocopy.exe", "ping": S32 + "PING.EXE",
    "nslookup": S32 + "nslookup.exe", "ftp": S32 + "ftp.exe", "xcopy": S32 + "xcopy.exe",
    "sqlcmd": "C:\\Program Files\\Microsoft SQL Server\\Client SDK\\ODBC\\170\\Tools\\Binn\\"
              "SQLCMD.EXE",
    "gpupdate": S32 + "gpupdate.exe", "wmic": S32 + "wbem\\WMIC.exe",
}


def children(cmdline: str, host: str, user: str, at: float, parent: str = CMD,
             integrity: str = "High", paths: dict[str, str] | None = None) -> tuple[Action, ...]:
    """Processes ``cmd /c`` starts for each ``&``-separated command of ``cmdline``."""
    out: list[Action] = []
    known = dict(TOOLS)
    known.update(paths or {})
    for i, part in enumerate(p.strip() for p in cmdline.replace("&&", "&").split("&")):
        if not part:
            continue
        first = part.split()[0].strip('"')
        name = first.rsplit("\\", 1)[-1].lower().removesuffix(".exe")
        image = known.get(name) or (first if "\\" in first and first.lower().endswith(".exe")
                                    else "")
        if not image:
            continue
        when = at + 0.6 + i * 0.9
        out.append(Proc(host, when, image, part, user, parent, integrity=integrity,
                        lifetime=0.5))
        if name == "net":
            rest = part.split(None, 1)[1] if " " in part else ""
            out.append(Proc(host, when + 0.2, S32 + "net1.exe",
                            f"C:\\Windows\\system32\\net1  {rest}", user, S32 + "net.exe",
                            integrity=integrity, lifetime=0.3))
    return tuple(out)


def w3wp_cmd(pool: str, pipe: str) -> str:
    """IIS worker process command line for an application pool."""
    return (
        f'c:\\windows\\system32\\inetsrv\\w3wp.exe -ap "{pool}" -v "v4.0" -l "webengine4.dll" '
        f'-a \\\\.\\pipe\\iisipm{pipe} -h "C:\\inetpub\\temp\\apppools\\{pool}\\{pool}.config" '
        '-w "" -m 0'
    )


def webshell(host: str, at: float, *, stem: str, cmd: str, client: str, pool_user: str,
             pool_cmd: str, method: str = "GET", param: str = "c", sent: int = 1800,
             agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:88.0) Gecko/20100101 "
                          "Firefox/88.0",
             paths: dict[str, str] | None = None) -> tuple[Action, ...]:
    """A web-shell request and the ``cmd /c`` it runs under the app-pool identity."""
    query = param + "=" + quote(cmd, safe="/\\:.") if method == "GET" else "-"
    shell = f'"c:\\windows\\system32\\cmd.exe" /c {cmd}'
    return (
        Web(host, at, client, method, stem, query, 200, "-", sent, agent),
        Proc(host, at + 0.4, CMD, shell, pool_user, W3WP, pool_cmd, pool_user,
             cwd="c:\\windows\\system32\\inetsrv\\", lifetime=2.0),
        *children(cmd, host, pool_user, at + 0.4, paths=paths),
    )


def rdp(dst: str, at: float, *, user: str, src_ip: str, workstation: str,
        duration: float = 3600.0) -> tuple[Action, ...]:
    """An RDP logon on ``dst`` from a client we have no logs of."""
    return (Logon(dst, at, user, 10, src_ip, workstation, "Negotiate", duration),)


def rdp_from(src: str, src_ip: str, dst: str, dst_ip: str, at: float, *, user: str,
             workstation: str, duration: float = 3600.0, src_user: str = "") -> tuple[Action, ...]:
    """RDP from one of our hosts: mstsc and its connection on ``src``, the logon on ``dst``."""
    return (
        Proc(src, at - 6, MSTSC, f"\"C:\\Windows\\system32\\mstsc.exe\" /v:{dst_ip}",
             src_user or user, EXPLORER, integrity="Medium"),
        Connect(src, at - 4, MSTSC, src_user or user, dst_ip, 3389),
        Logon(dst, at, user, 10, src_ip, workstation, "Negotiate", duration),
    )


def session_cmd(host: str, at: float, user: str, cmd: str,
                paths: dict[str, str] | None = None) -> tuple[Action, ...]:
    """A command typed in an interactive (RDP) session: explorer → cmd → tool."""
    return (
        Proc(host, at, CMD, f'"C:\\Windows\\system32\\cmd.exe" /c {cmd}', user, EXPLORER,
             cwd=f"C:\\Users\\{user.rpartition(chr(92))[2]}\\", lifetime=3.0),
        *children(cmd, host, user, at, paths=paths),
    )


def wmiexec(dst: str, at: float, *, user: str, src_ip: str, workstation: str, cmd: str,
            logon: bool = True, paths: dict[str, str] | None = None) -> tuple[Action, ...]:
    """Impacket wmiexec: NTLM network logon, ADMIN$ output file, WmiPrvSE → cmd /Q /c."""
    out: list[Action] = []
    if logon:
        out.append(Logon(dst, at, user, 3, src_ip, workstation, "NTLM"))
        out.append(ShareFile(dst, at + 0.5, user, src_ip, "ADMIN$", "\\??\\C:\\Windows"))
    full = f"cmd.exe /Q /c {cmd} 1> \\\\127.0.0.1\\ADMIN$\\__{{epoch}} 2>&1"
    out.append(Proc(dst, at + 1.5, CMD, full, user, WMIPRVSE, cwd="C:\\", lifetime=2.0))
    out.extend(children(cmd, dst, user, at + 1.5, paths=paths))
    out.append(ShareFile(dst, at + 4.5, user, src_ip, "ADMIN$", "\\??\\C:\\Windows",
                         "__{epoch}", "0x120089", connect=False))
    return tuple(out)


def psexec(src: str, dst: str, at: float, *, user: str, src_ip: str, dst_ip: str, cmd: str,
           tool: str, system: bool = True, parent: str = CMD, src_pid_tag: int = 4242,
           paths: dict[str, str] | None = None) -> tuple[Action, ...]:
    """Sysinternals PsExec: client on ``src``; ADMIN$ copy, PSEXESVC service, pipes on ``dst``."""
    tool_name = tool.rsplit("\\", 1)[-1]
    flag = "-s " if system else ""
    remote_user = SYSTEM if system else user
    level = "System" if system else "High"
    first = cmd.split()[0]
    image = CMD if first.lower().startswith("cmd") else (paths or {}).get(first.lower(), first)
    inner = cmd.split("/c", 1)[1] if "/c" in cmd else ""
    pipe_base = f"PSEXESVC-{src}-{src_pid_tag}"
    return (
        Proc(src, at, tool, f"{tool_name}  \\\\{dst} -accepteula {flag}{cmd}", user, parent,
             integrity="High", lifetime=30.0),
        RegSet(src, at + 0.3, "HKU\\{sid}\\Software\\Sysinternals\\PsExec\\EulaAccepted",
               "DWORD (0x00000001)", tool, user),
        Connect(src, at + 0.6, tool, user, dst_ip, 445),
        Logon(dst, at + 1.0, user, 3, src_ip, src, "Kerberos"),
        ShareFile(dst, at + 1.3, user, src_ip, "IPC$", ""),
        ShareFile(dst, at + 1.6, user, src_ip, "ADMIN$", "\\??\\C:\\Windows", "PSEXESVC.exe",
                  "0x2"),
        FileWrite(dst, at + 1.7, PSEXESVC, "System"),
        ServiceInstall(dst, at + 2.2, "PSEXESVC", "%SystemRoot%\\PSEXESVC.exe", user=user,
                       display="PSEXESVC"),
        Proc(dst, at + 2.6, PSEXESVC, PSEXESVC, SYSTEM, SERVICES, integrity="System"),
        PipeCreate(dst, at + 2.8, PSEXESVC, "\\PSEXESVC"),
        *(ShareFile(dst, at + 3.0 + i * 0.1, user, src_ip, "IPC$", "", f"{pipe_base}-{kind}",
                    "0x12019f", connect=False)
          for i, kind in enumerate(("stdin", "stdout", "stderr"))),
        *(PipeCreate(dst, at + 3.1 + i * 0.1, PSEXESVC, f"\\{pipe_base}-{kind}")
          for i, kind in enumerate(("stdin", "stdout", "stderr"))),
        Proc(dst, at + 3.6, image, cmd, remote_user, PSEXESVC, integrity=level,
             cwd="C:\\Windows\\system32\\", lifetime=5.0),
        *children(inner, dst, remote_user, at + 3.6, integrity=level, paths=paths),
    )


def winrm(src: str, dst: str, at: float, *, user: str, src_ip: str, dst_ip: str,
          script: str, native: tuple[str, ...] = (),
          paths: dict[str, str] | None = None) -> tuple[Action, ...]:
    """PowerShell remoting: client on ``src``; Kerberos logon, wsmprovhost and children on dst."""
    out: list[Action] = [
        Proc(src, at, POWERSHELL,
             f"powershell.exe -nop -c \"Invoke-Command -ComputerName {dst} -ScriptBlock "
             f"{{ {script} }}\"", user, EXPLORER, integrity="High", lifetime=20.0),
        Connect(src, at + 0.4, POWERSHELL, user, dst_ip, 5985),
        Logon(dst, at + 1.0, user, 3, src_ip, "-", "Kerberos"),
        WinRMAuth(dst, at + 1.1, user),
        Proc(dst, at + 1.5, WSMPROVHOST, "C:\\Windows\\system32\\wsmprovhost.exe -Embedding",
             user, SVCHOST, "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", SYSTEM,
             lifetime=30.0),
        Script(dst, at + 2.5, script, user,
               host_app="C:\\Windows\\system32\\wsmprovhost.exe -Embedding"),
    ]
    for i, line in enumerate(native):
        first = line.split()[0].strip('"')
        name = first.rsplit("\\", 1)[-1].lower().removesuffix(".exe")
        image = (paths or {}).get(name) or TOOLS.get(name) or first
        out.append(Proc(dst, at + 3.0 + i * 1.5, image, line, user, WSMPROVHOST, lifetime=2.0))
    return tuple(out)
