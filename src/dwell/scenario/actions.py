"""Actions: the building blocks of attacker steps and benign activity.

Each action is a frozen value (data in the step tables) whose ``emit`` writes the events that
activity leaves on its host. ``at`` is the offset in seconds from the step time. A user written
``.\\name`` is a local account of the host the action runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dwell.scenario import _events as e
from dwell.scenario import _evtx as x
from dwell.scenario._context import ProcInfo, Session

if TYPE_CHECKING:
    from dwell.scenario._context import Ctx

SYSTEM = "NT AUTHORITY\\SYSTEM"
NETWORK_SERVICE = "NT AUTHORITY\\NETWORK SERVICE"
_NOT_ACCOUNTS = ("NT AUTHORITY\\", "IIS APPPOOL\\", "NT SERVICE\\", "WINDOW MANAGER\\",
                 "FONT DRIVER HOST\\")
LSASS = "C:\\Windows\\system32\\lsass.exe"

# Parents whose identity is long-lived: image -> (command line, user; "" = the child's user)
_PARENTS: dict[str, tuple[str, str]] = {
    "c:\\windows\\system32\\wbem\\wmiprvse.exe": (
        "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", NETWORK_SERVICE),
    "c:\\windows\\system32\\services.exe": ("C:\\Windows\\system32\\services.exe", SYSTEM),
    "c:\\windows\\explorer.exe": ("C:\\Windows\\Explorer.EXE", ""),
    "c:\\windows\\system32\\svchost.exe": (
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", SYSTEM),
    "c:\\windows\\system32\\wsmprovhost.exe": (
        "C:\\Windows\\system32\\wsmprovhost.exe -Embedding", ""),
    "c:\\windows\\psexesvc.exe": ("C:\\Windows\\PSEXESVC.exe", SYSTEM),
    "c:\\windows\\system32\\cmd.exe": ("C:\\Windows\\system32\\cmd.exe", ""),
    "c:\\windows\\system32\\userinit.exe": ("C:\\Windows\\system32\\userinit.exe", ""),
    "c:\\windows\\system32\\taskhostw.exe": ("taskhostw.exe", ""),
    "system": ("", SYSTEM),
}


def local_user(user: str, host: str) -> str:
    """Resolve ``.\\name`` to ``HOST\\name``."""
    return f"{host}\\{user[2:]}" if user.startswith(".\\") else user


def account_name(user: str) -> str | None:
    """sAMAccountName (lower-case) of a real account, None for built-in principals."""
    if not user or user.upper().startswith(_NOT_ACCOUNTS) or user.endswith("$"):
        return None
    return user.rpartition("\\")[2].lower()


def _time(ctx: Ctx, t0: int, at: float) -> int:
    return t0 + int(at * 1_000_000) + ctx.rng.randrange(0, 300_000)


def _fill(ctx: Ctx, host: str, t: int, t0: int, text: str) -> str:
    """Expand ``{lsass}`` (LSASS pid at ``t``) and ``{epoch}`` (step time, wmiexec style)."""
    if "{" not in text:
        return text
    sec = t0 // 1_000_000
    return text.replace("{lsass}", str(ctx.service_pid(host, "lsass", t))).replace(
        "{epoch}", f"{sec}.{(t0 // 10_000) % 100:02d}")


def parent_proc(ctx: Ctx, host: str, image: str, cmd: str, user: str, t: int,
                parent_user: str = "") -> ProcInfo:
    """The parent process: the last one of that image on the host, else a long-lived one."""
    found = ctx.recall(host, image)
    if found is not None and (not cmd or found.cmd == cmd):
        return found
    default_cmd, default_user = _PARENTS.get(image.lower(), (image, ""))
    owner = parent_user or default_user or user
    if image.lower() == "system":
        return ProcInfo(ctx.stable_proc(host, "System", "", SYSTEM, t).guid, 4, "System", "",
                        SYSTEM)
    proc = ctx.stable_proc(host, image, cmd or default_cmd, owner, t)
    ctx.remember(host, proc)
    return proc


def proc_of(ctx: Ctx, host: str, image: str, user: str, t: int) -> ProcInfo:
    """The process that performs a file/registry/network action."""
    if image.lower() == "system":
        return parent_proc(ctx, host, "System", "", SYSTEM, t)
    found = ctx.recall(host, image)
    if found is not None:
        return found
    proc = ctx.stable_proc(host, image, image, user, t)
    ctx.remember(host, proc)
    return proc


@dataclass(frozen=True, slots=True)
class Base:
    """Fields every action has."""

    host: str
    at: float = 0.0

    @property
    def observer(self) -> bool:
        """Whether the host merely observes the actor (not a compromise of it)."""
        return False

    def accounts(self) -> tuple[str, ...]:
        """Accounts the actor used (none by default)."""
        return ()

    def peer_ips(self) -> tuple[str, ...]:
        """Remote addresses involved (none by default)."""
        return ()


@dataclass(frozen=True, slots=True)
class Proc(Base):
    """A process start (Sysmon 1 / Security 4688), optionally its exit (Sysmon 5)."""

    image: str = ""
    cmd: str = ""
    user: str = SYSTEM
    parent: str = "C:\\Windows\\system32\\cmd.exe"
    parent_cmd: str = ""
    parent_user: str = ""
    integrity: str = "High"
    cwd: str = "C:\\Windows\\system32\\"
    lifetime: float = 0.0  # seconds until Sysmon 5; 0 for none

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the process creation."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        parent = parent_proc(ctx, self.host, self.parent,
                             _fill(ctx, self.host, t, t0, self.parent_cmd), user, t - 50_000,
                             local_user(self.parent_user, self.host))
        session = ctx.session(self.host, user, t)
        proc = ProcInfo(ctx.proc_guid(self.host, t), ctx.pid(), self.image,
                        _fill(ctx, self.host, t, t0, self.cmd), user)
        e.process_create(ctx, self.host, t, proc, parent, session, self.integrity, self.cwd)
        ctx.remember(self.host, proc)
        if self.lifetime:
            e.process_end(ctx, self.host, t + int(self.lifetime * 1_000_000), proc)

    def accounts(self) -> tuple[str, ...]:
        """The process owner, if a real account."""
        name = account_name(local_user(self.user, self.host))
        return (name,) if name else ()


@dataclass(frozen=True, slots=True)
class FileWrite(Base):
    """A file created by a process (Sysmon 11)."""

    path: str = ""
    image: str = "System"
    user: str = SYSTEM

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 11."""
        t = _time(ctx, t0, self.at)
        proc = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        e.file_create(ctx, self.host, t, proc, self.path)


@dataclass(frozen=True, slots=True)
class FileDelete(Base):
    """A file deleted by a process (Sysmon 26)."""

    path: str = ""
    image: str = "C:\\Windows\\system32\\cmd.exe"
    user: str = SYSTEM

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 26."""
        t = _time(ctx, t0, self.at)
        proc = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        e.file_delete(ctx, self.host, t, proc, self.path)


@dataclass(frozen=True, slots=True)
class RegSet(Base):
    """A registry value set (Sysmon 13)."""

    key: str = ""
    details: str = ""
    image: str = "C:\\Windows\\system32\\reg.exe"
    user: str = SYSTEM

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 13."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        proc = proc_of(ctx, self.host, self.image, user, t)
        e.reg_set(ctx, self.host, t, proc, self.key.replace("{sid}", ctx.sid(user)), self.details)


@dataclass(frozen=True, slots=True)
class ProcessRead(Base):
    """One process opening another (Sysmon 10), LSASS by default."""

    image: str = ""
    user: str = SYSTEM
    access: str = "0x1010"
    calltrace: str = ""
    target: str = LSASS

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 10."""
        t = _time(ctx, t0, self.at)
        src = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        if self.target == LSASS:
            tgt = ProcInfo(ctx.stable_proc(self.host, LSASS, "", SYSTEM, t).guid,
                           ctx.service_pid(self.host, "lsass", t), LSASS, "", SYSTEM)
        else:
            tgt = proc_of(ctx, self.host, self.target, SYSTEM, t)
        trace = self.calltrace.replace("{image}", self.image)
        e.proc_access(ctx, self.host, t, src, tgt, self.access, trace)


@dataclass(frozen=True, slots=True)
class Connect(Base):
    """Outbound (or inbound) TCP connections seen by Sysmon 3."""

    image: str = ""
    user: str = SYSTEM
    dst: str = ""
    port: int = 443
    dst_name: str = ""
    count: int = 1
    spread: float = 1.0  # seconds between connections
    inbound: bool = False
    ports: tuple[int, ...] = ()  # scanning: cycle these ports over consecutive addresses
    targets: tuple[str, ...] = ()

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 3 events."""
        t = _time(ctx, t0, self.at)
        h = ctx.host(self.host)
        proc = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        me = (h.ip, ctx.port(), ctx.fqdn(h.name))
        for i in range(self.count):
            ti = t + int(i * self.spread * 1_000_000) + ctx.rng.randrange(0, 50_000)
            dst_ip = self.targets[i % len(self.targets)] if self.targets else self.dst
            dst_port = self.ports[i % len(self.ports)] if self.ports else self.port
            peer = ctx.host_by_ip(dst_ip)
            name = self.dst_name or (ctx.fqdn(peer.name) if peer is not None else "")
            if self.inbound:
                e.net_conn(ctx, self.host, ti, proc, (dst_ip, ctx.port(), name),
                           (h.ip, dst_port, me[2]), initiated=False)
            else:
                e.net_conn(ctx, self.host, ti, proc, (me[0], ctx.port(), me[2]),
                           (dst_ip, dst_port, name))

    def peer_ips(self) -> tuple[str, ...]:
        """Addresses contacted."""
        return self.targets or (self.dst,)


@dataclass(frozen=True, slots=True)
class Dns(Base):
    """A DNS query (Sysmon 22)."""

    image: str = ""
    user: str = SYSTEM
    name: str = ""
    answer: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 22."""
        t = _time(ctx, t0, self.at)
        proc = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        e.dns(ctx, self.host, t, proc, self.name, f"::ffff:{self.answer};")


@dataclass(frozen=True, slots=True)
class Logon(Base):
    """A logon (4624/4672), RDP extras (1149, LSM 21/22) and later logoff."""

    user: str = ""
    logon_type: int = 3
    src_ip: str = "-"
    workstation: str = "-"
    auth: str = "Negotiate"
    duration: float = 0.0  # seconds until logoff; 0 for none
    admin: bool = True
    explorer: bool = True  # RDP: start userinit/explorer in the session

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the logon sequence."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        domain, name = e.split_user(user)
        rdp = self.logon_type == 10
        tsid = ctx.rng.randrange(2, 6) if rdp else 0
        if rdp:
            e.rdp_listener_261(ctx, self.host, t - 2_500_000)
            e.rdp_auth_1149(ctx, self.host, t - 2_000_000, name, domain, self.src_ip)
        session = ctx.new_session(self.host, user, t, tsid)
        port = str(ctx.port()) if self.src_ip not in ("-", "") else "-"
        process = ("C:\\Windows\\System32\\svchost.exe" if rdp
                   else "C:\\Windows\\System32\\winlogon.exe")
        if self.logon_type == 8:
            process = "C:\\Windows\\System32\\inetsrv\\w3wp.exe"
        e.logon(ctx, self.host, t, session, self.logon_type, ip=self.src_ip, port=port,
                workstation=self.workstation, auth=self.auth, process=process,
                elevated=self.admin, kerberos_guid=self.auth == "Kerberos")
        if self.admin:
            e.special_privileges(ctx, self.host, t + 1000, session)
        if rdp:
            e.lsm(ctx, self.host, t + 900_000, 21, user, tsid, self.src_ip)
            e.lsm(ctx, self.host, t + 1_400_000, 22, user, tsid, self.src_ip)
            if self.explorer:
                self._shell(ctx, t + 1_500_000, user, session)
        if rdp and self.duration >= 1800:
            mid = t + int(self.duration * 500_000)
            e.lsm(ctx, self.host, mid, 24, user, tsid, self.src_ip)
            e.session_change(ctx, self.host, mid + 200_000, 4779, session, self.workstation,
                             self.src_ip)
            back = mid + ctx.rng.randrange(60, 600) * 1_000_000
            e.rdp_auth_1149(ctx, self.host, back - 1_000_000, name, domain, self.src_ip)
            e.lsm(ctx, self.host, back, 25, user, tsid, self.src_ip)
            e.session_change(ctx, self.host, back + 200_000, 4778, session, self.workstation,
                             self.src_ip)
        if self.duration:
            end = t + int(self.duration * 1_000_000)
            if rdp:
                e.lsm(ctx, self.host, end, 24, user, tsid, self.src_ip)
                e.lsm(ctx, self.host, end + 60_000_000, 23, user, tsid, "")
            e.logoff(ctx, self.host, end + 61_000_000, session, self.logon_type)

    def _shell(self, ctx: Ctx, t: int, user: str, session: Session) -> None:
        winlogon = ctx.stable_proc(self.host, "C:\\Windows\\System32\\winlogon.exe",
                                   "winlogon.exe", SYSTEM, t)
        init = ProcInfo(ctx.proc_guid(self.host, t), ctx.pid(),
                        "C:\\Windows\\System32\\userinit.exe",
                        "C:\\Windows\\system32\\userinit.exe", user)
        e.process_create(ctx, self.host, t, init, winlogon, session, "High")
        shell = ProcInfo(ctx.proc_guid(self.host, t + 400_000), ctx.pid(),
                         "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", user)
        e.process_create(ctx, self.host, t + 400_000, shell, init, session, "High")
        ctx.remember(self.host, shell)

    def accounts(self) -> tuple[str, ...]:
        """The logged-on account."""
        name = account_name(local_user(self.user, self.host))
        return (name,) if name else ()

    def peer_ips(self) -> tuple[str, ...]:
        """The source address."""
        return (self.src_ip,)


@dataclass(frozen=True, slots=True)
class ExplicitCred(Base):
    """A process using other credentials (Security 4648), e.g. ``net use /user:``."""

    user: str = ""
    target_user: str = ""
    server: str = ""
    image: str = "C:\\Windows\\System32\\net.exe"
    ip: str = "-"

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit 4648."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        proc = proc_of(ctx, self.host, self.image, user, t)
        e.explicit_logon(ctx, self.host, t, ctx.session(self.host, user, t),
                         local_user(self.target_user, self.server.split(".")[0].upper()),
                         self.server, proc, self.ip, "445" if self.ip != "-" else "-")

    def accounts(self) -> tuple[str, ...]:
        """Both the subject and the credentials used."""
        names = (account_name(local_user(self.user, self.host)), account_name(self.target_user))
        return tuple(n for n in names if n)


@dataclass(frozen=True, slots=True)
class ShareFile(Base):
    """SMB access to a share (5140) and a file in it (5145)."""

    user: str = ""
    src_ip: str = ""
    share: str = "C$"
    local_path: str = "\\??\\C:\\"
    relative: str = ""
    mask: str = "0x2"
    connect: bool = True  # also emit 5140 (first access of the session)

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit 5140/5145."""
        t = _time(ctx, t0, self.at)
        session = ctx.session(self.host, local_user(self.user, self.host), t)
        if self.connect:
            e.share_access(ctx, self.host, t, session, self.src_ip, self.share, self.local_path)
        if self.relative:
            e.share_file(ctx, self.host, t + 3000, session, self.src_ip, self.share,
                         self.local_path, _fill(ctx, self.host, t, t0, self.relative), self.mask)

    def accounts(self) -> tuple[str, ...]:
        """The SMB client's account."""
        name = account_name(local_user(self.user, self.host))
        return (name,) if name else ()

    def peer_ips(self) -> tuple[str, ...]:
        """The SMB client."""
        return (self.src_ip,)


@dataclass(frozen=True, slots=True)
class ServiceInstall(Base):
    """A service or driver installed (7045, 4697, Sysmon 13) and started (7036)."""

    name: str = ""
    path: str = ""
    kind: str = "user mode service"
    start: str = "demand start"
    account: str = "LocalSystem"
    user: str = SYSTEM
    display: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the installation events."""
        t = _time(ctx, t0, self.at)
        session = ctx.session(self.host, local_user(self.user, self.host), t)
        e.service_installed(ctx, self.host, t, session, self.name, self.path, self.kind,
                            self.start, self.account)
        kernel = self.kind == "kernel mode driver"
        e.service_installed_4697(ctx, self.host, t + 2000, session, self.name, self.path,
                                 "0x1" if kernel else "0x10",
                                 3 if self.start == "demand start" else 2,
                                 "" if kernel else self.account)
        services = parent_proc(ctx, self.host, "C:\\Windows\\system32\\services.exe", "",
                               SYSTEM, t)
        e.reg_set(ctx, self.host, t + 5000, services,
                  f"HKLM\\System\\CurrentControlSet\\Services\\{self.name}\\ImagePath",
                  self.path if not kernel else f"\\??\\{self.path}")
        if not kernel:
            e.service_state(ctx, self.host, t + 900_000, self.display or self.name, "running")


@dataclass(frozen=True, slots=True)
class DriverLoad(Base):
    """A kernel driver loaded (Sysmon 6)."""

    path: str = ""
    signature: str = ""
    status: str = "Valid"

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 6."""
        e.driver_load(ctx, self.host, _time(ctx, t0, self.at), self.path, self.signature,
                      self.status)


@dataclass(frozen=True, slots=True)
class PrivilegeUse(Base):
    """A process exercising a sensitive privilege (Security 4673)."""

    image: str = ""
    user: str = SYSTEM
    privilege: str = "SeLoadDriverPrivilege"

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit 4673."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        proc = proc_of(ctx, self.host, self.image, user, t)
        e.privilege_use(ctx, self.host, t, ctx.session(self.host, user, t), self.privilege, proc)


@dataclass(frozen=True, slots=True)
class RawRead(Base):
    """Raw disk access (Sysmon 9)."""

    image: str = ""
    user: str = SYSTEM
    device: str = "\\Device\\HarddiskVolume2"
    count: int = 1

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 9 events."""
        t = _time(ctx, t0, self.at)
        proc = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        for i in range(self.count):
            device = self.device if i % 2 == 0 else "\\Device\\Harddisk0\\DR0"
            e.raw_access(ctx, self.host, t + i * 400_000, proc, device)


@dataclass(frozen=True, slots=True)
class Script(Base):
    """A PowerShell script block (4104), with engine start (400) around it."""

    text: str = ""
    user: str = SYSTEM
    host_app: str = "powershell.exe"
    warning: bool = False

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit 400 and 4104."""
        t = _time(ctx, t0, self.at)
        e.engine_state(ctx, self.host, t - 800_000, 400, self.host_app)
        e.script_block(ctx, self.host, t, self.text, local_user(self.user, self.host),
                       warning=self.warning)


@dataclass(frozen=True, slots=True)
class DefenderEvent(Base):
    """A Windows Defender event (5001, 5007, 1116, ...)."""

    eid: int = 5001
    fields: tuple[tuple[str, str], ...] = ()
    level: int = 4

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the Defender event."""
        e.defender(ctx, self.host, _time(ctx, t0, self.at), self.eid, dict(self.fields),
                   self.level)


@dataclass(frozen=True, slots=True)
class ClearLogs(Base):
    """``wevtutil cl`` of channels: earlier records vanish, 1102/104 remain."""

    channels: tuple[str, ...] = (x.SECURITY,)
    user: str = ""
    parent: str = "C:\\Windows\\system32\\cmd.exe"
    parent_cmd: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit wevtutil processes, truncations and the clear events."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        session = ctx.session(self.host, user, t)
        for i, channel in enumerate(self.channels):
            ti = t + i * 2_000_000
            quoted = f'"{channel}"' if " " in channel else channel
            Proc(self.host, 0.0, "C:\\Windows\\System32\\wevtutil.exe",
                 f"wevtutil cl {quoted}", user, self.parent, self.parent_cmd,
                 lifetime=0.4).emit(ctx, ti)
            ctx.truncate(self.host, channel, ti + 350_000)
            if channel == x.SECURITY:
                e.security_log_cleared(ctx, self.host, ti + 360_000, session)
            else:
                e.system_log_cleared(ctx, self.host, ti + 360_000, session, channel)

    def accounts(self) -> tuple[str, ...]:
        """The clearing account."""
        name = account_name(local_user(self.user, self.host))
        return (name,) if name else ()


@dataclass(frozen=True, slots=True)
class ExchangeCmd(Base):
    """An Exchange cmdlet (MSExchange Management 1)."""

    cmdlet: str = ""
    params: str = ""
    caller: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the cmdlet log record."""
        e.exchange_cmdlet(ctx, self.host, _time(ctx, t0, self.at), self.cmdlet, self.params,
                          self.caller, ctx.rng.randrange(40, 2500))

    def accounts(self) -> tuple[str, ...]:
        """The caller."""
        name = account_name(self.caller)
        return (name,) if name else ()


@dataclass(frozen=True, slots=True)
class Web(Base):
    """IIS requests (Microsoft-IIS-Logging/Logs 6200)."""

    client: str = ""
    method: str = "GET"
    stem: str = "/"
    query: str = "-"
    status: int = 200
    user: str = "-"
    sent: int = 4096
    agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    count: int = 1
    spread: float = 2.0

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the request records."""
        t = _time(ctx, t0, self.at)
        for i in range(self.count):
            ti = t + int(i * self.spread * 1_000_000) + ctx.rng.randrange(0, 400_000)
            sent = max(200, int(self.sent * (0.8 + 0.4 * ctx.rng.random())))
            e.iis(ctx, self.host, ti, client=self.client, method=self.method, stem=self.stem,
                  query=self.query, status=self.status, user=self.user, sent=sent,
                  received=ctx.rng.randrange(300, 4000), agent=self.agent,
                  taken=ctx.rng.randrange(5, 900))

    def accounts(self) -> tuple[str, ...]:
        """The authenticated web user."""
        name = account_name(self.user) if self.user != "-" else None
        return (name,) if name else ()

    def peer_ips(self) -> tuple[str, ...]:
        """The web client."""
        return (self.client,)


@dataclass(frozen=True, slots=True)
class AccountCreate(Base):
    """A domain user created on a DC (4720, 4722, 4738)."""

    sam: str = ""
    by: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the account-management records."""
        t = _time(ctx, t0, self.at)
        subject = ctx.session(self.host, self.by, t)
        target = f"{ctx.scen.netbios}\\{self.sam}"
        upn = f"{self.sam}@{ctx.scen.domain.lower()}"
        e.account_event(ctx, self.host, t, 4720, subject, target,
                        e.new_user_fields(self.sam, self.sam, upn))
        e.account_event(ctx, self.host, t + 20_000, 4722, subject, target)
        e.account_event(ctx, self.host, t + 40_000, 4738, subject, target,
                        e.new_user_fields(self.sam, self.sam, upn))

    def accounts(self) -> tuple[str, ...]:
        """The created account."""
        return (self.sam.lower(),)


@dataclass(frozen=True, slots=True)
class AccountChange(Base):
    """Password reset (4724), disable (4725) or delete (4726) of an account."""

    eid: int = 4724
    target: str = ""
    by: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the account-management record."""
        t = _time(ctx, t0, self.at)
        subject = ctx.session(self.host, local_user(self.by, self.host), t)
        e.account_event(ctx, self.host, t, self.eid, subject, local_user(self.target, self.host))


@dataclass(frozen=True, slots=True)
class GroupAdd(Base):
    """A member added to a group (4728 global, 4732 local, 4756 universal)."""

    member: str = ""
    group: str = ""
    by: str = ""
    eid: int = 4728
    rid: int = 1150

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the group-membership record."""
        t = _time(ctx, t0, self.at)
        subject = ctx.session(self.host, self.by, t)
        e.group_member_added(ctx, self.host, t, self.eid, subject,
                             f"{ctx.scen.netbios}\\{self.member}", self.group,
                             ctx.scen.netbios, f"{ctx.scen.domain_sid}-{self.rid}")


@dataclass(frozen=True, slots=True)
class AppLog(Base):
    """An Application-log record from a classic source."""

    source: str = ""
    eid: int = 1000
    text: str = ""
    level: int = 4
    logon_of: str = ""  # fill {logon} with this user's current logon id on the host

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit the record."""
        t = _time(ctx, t0, self.at)
        text = self.text
        if self.logon_of:
            session = ctx.session(self.host, local_user(self.logon_of, self.host), t)
            text = text.replace("{logon}", e.hexid(session.logon_id))
        e.app_event(ctx, self.host, t, self.source, self.eid, (text,), self.level)


@dataclass(frozen=True, slots=True)
class TaskCreate(Base):
    """A scheduled task registered (Security 4698, TaskScheduler 106)."""

    name: str = ""
    command: str = ""
    arguments: str = ""
    user: str = ""
    run_as: str = "S-1-5-18"

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit registration events."""
        t = _time(ctx, t0, self.at)
        user = local_user(self.user, self.host)
        session = ctx.session(self.host, user, t)
        e.task_registered_4698(ctx, self.host, t, session, self.name, self.command,
                               self.arguments, self.run_as)
        e.task_event(ctx, self.host, t + 30_000, 106, {"TaskName": self.name,
                                                         "UserContext": user})

    def accounts(self) -> tuple[str, ...]:
        """The registering account."""
        name = account_name(local_user(self.user, self.host))
        return (name,) if name else ()


@dataclass(frozen=True, slots=True)
class PipeCreate(Base):
    """A named pipe created (Sysmon 17)."""

    image: str = ""
    name: str = ""
    user: str = SYSTEM
    connect: bool = False

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit Sysmon 17/18."""
        t = _time(ctx, t0, self.at)
        proc = proc_of(ctx, self.host, self.image, local_user(self.user, self.host), t)
        e.pipe(ctx, self.host, t, proc, self.name, connect=self.connect)


@dataclass(frozen=True, slots=True)
class Kerberos(Base):
    """Service tickets issued by a DC (4769), e.g. RC4 tickets of a kerberoast."""

    user: str = ""
    services: tuple[str, ...] = ()
    src_ip: str = ""
    enc: str = "0x17"

    @property
    def observer(self) -> bool:
        """The DC only issues the tickets."""
        return True

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit 4769 per service."""
        t = _time(ctx, t0, self.at)
        for i, service in enumerate(self.services):
            e.kerberos_service(ctx, self.host, t + i * 150_000, self.user, service, self.src_ip,
                               self.enc)

    def accounts(self) -> tuple[str, ...]:
        """The requesting account."""
        name = account_name(self.user)
        return (name,) if name else ()

    def peer_ips(self) -> tuple[str, ...]:
        """The requesting client."""
        return (self.src_ip,)


@dataclass(frozen=True, slots=True)
class WinRMAuth(Base):
    """WinRM authenticated a user (WinRM/Operational 169)."""

    user: str = ""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit WinRM 169."""
        e.winrm_auth(ctx, self.host, _time(ctx, t0, self.at), local_user(self.user, self.host))

    def accounts(self) -> tuple[str, ...]:
        """The authenticated account."""
        name = account_name(self.user)
        return (name,) if name else ()


@dataclass(frozen=True, slots=True)
class Wipe(Base):
    """The host's disk is destroyed: it logs nothing more until rebuilt."""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Nothing is logged; the generator silences the host from here."""
