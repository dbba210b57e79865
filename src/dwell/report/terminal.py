"""The terminal summary: the report's headline and tables, readable in 100 columns.

Renders onto a caller's rich ``Console`` (the CLI's); colour only when that console is a
terminal (rich decides), and all log text is passed as plain ``Text`` (never as markup) after
bidi controls are neutralised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table
from rich.text import Text

from dwell.report._data import tactic_of, tactics
from dwell.report.text import clean, iso

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console

MAX_ROWS = 25


def _t(value: Any, limit: int = 60, style: str = "") -> Text:
    return Text(clean(value, limit), style=style)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _levels(detections: pa.Table | None) -> str:
    if detections is None or detections.num_rows == 0:
        return "no detections"
    counts: dict[str, int] = {}
    for level in detections.column("level").to_pylist():
        counts[str(level)] = counts.get(str(level), 0) + 1
    order = ["critical", "high", "medium", "low", "informational"]
    parts = [f"{counts.pop(k)} {k}" for k in order if k in counts]
    parts += [f"{n} {k}" for k, n in sorted(counts.items())]
    return f"{detections.num_rows} detections: " + ", ".join(parts)


def _tactic_rows(detections: pa.Table | None, hosts: list[str]) -> Table | None:
    if detections is None or detections.num_rows == 0 or not hosts:
        return None
    cols = detections.select(["host_short", "tags"]).to_pydict()
    counts: dict[tuple[str, str], int] = {}
    for host, tags in zip(cols["host_short"], cols["tags"], strict=True):
        name = clean(host)
        if name not in hosts:
            continue
        for tag in tags or []:
            tactic = tactic_of(tag)
            if tactic:
                counts[(tactic.key, name)] = counts.get((tactic.key, name), 0) + 1
    if not counts:
        return None
    shown = hosts[:8]
    table = _table("ATT&CK tactics per host (detections)", "tactic", *shown)
    for tactic in tactics().values():
        cells = [counts.get((tactic.key, h), 0) for h in shown]
        if any(cells):
            table.add_row(tactic.name, *(str(n) if n else "·" for n in cells))
    return table


def render_summary(console: Console, campaign: dict[str, Any] | None,
                   detections: pa.Table | None) -> None:
    """Print the headline, the still-present verdict and the campaign tables to ``console``."""
    campaigns = list((campaign or {}).get("campaigns") or [])
    console.print(Text(_levels(detections)))
    if not campaigns:
        console.print(Text("No campaign reconstructed." if campaign is not None
                           else "Campaign reconstruction not available."))
        return
    for number, camp in enumerate(campaigns, start=1):
        beach = camp.get("beachhead") or {}
        hosts = [clean(h.get("host")) for h in camp.get("hosts") or []]
        accounts = [clean(a.get("account")) for a in camp.get("accounts") or []]
        days = camp.get("dwell_time_days")
        head = Text()
        head.append(f"Campaign {number}/{len(campaigns)}: ", style="bold")
        head.append("beachhead ")
        head.append(clean(beach.get("host"), 40), style="bold red")
        head.append(f" at {iso(beach.get('time'))}; {len(hosts)} hosts, {len(accounts)} "
                    f"accounts; {iso(camp.get('first_seen'))} .. {iso(camp.get('last_seen'))}")
        if days is not None:
            head.append(f" (dwell {days} days)")
        console.print()
        console.print(head)
        still = camp.get("still_present") or {}
        after = still.get("after_eviction") or []
        if not still.get("evicted_at"):
            console.print(Text("Still present? no eviction date given (--evicted-at)"))
        elif still.get("verdict"):
            first = after[0] if after else {}
            console.print(Text(
                f"STILL PRESENT after the eviction of {iso(still.get('evicted_at'))}: "
                f"{len(after)} activities, first {iso(first.get('time'))} on "
                f"{clean(first.get('host'), 40)}", style="bold red"))
        else:
            console.print(Text(f"No attacker activity after the eviction of "
                               f"{iso(still.get('evicted_at'))}", style="green"))
        table = _table("Hosts (first attacker activity)", "host", "first seen", "last seen",
                       "from", "via")
        for h in (camp.get("hosts") or [])[:MAX_ROWS]:
            table.add_row(_t(h.get("host"), 24), iso(h.get("first_seen"), seconds=False),
                          iso(h.get("last_seen"), seconds=False), _t(h.get("reached_from"), 18),
                          _t(h.get("via"), 18))
        console.print(table)
        table = _table("Accounts", "account", "first used", "last used")
        for a in (camp.get("accounts") or [])[:MAX_ROWS]:
            table.add_row(_t(a.get("account"), 40), iso(a.get("first_seen"), seconds=False),
                          iso(a.get("last_seen"), seconds=False))
        console.print(table)
        for key, title, extra in (("exfiltration", "Exfiltration", "evidence"),
                                  ("impact", "Impact", "kind")):
            rows = camp.get(key) or []
            if rows:
                table = _table(title, "time", "host", extra)
                for item in rows[:MAX_ROWS]:
                    table.add_row(iso(item.get("time"), seconds=False), _t(item.get("host"), 24),
                                  _t(item.get(extra), 50))
                console.print(table)
        if after:
            table = _table("After the declared eviction", "time", "host", "evidence")
            for item in after[:MAX_ROWS]:
                table.add_row(iso(item.get("time"), seconds=False), _t(item.get("host"), 24),
                              _t(item.get("evidence"), 50))
            console.print(table)
        matrix = _tactic_rows(detections, hosts)
        if matrix is not None:
            console.print(matrix)
        caveats = camp.get("caveats") or []
        for cav in caveats[:10]:
            text = cav.get("message") if isinstance(cav, dict) else cav
            console.print(Text(f"caveat: {clean(text, 200)}", style="yellow"))
        if len(caveats) > 10:
            console.print(Text(f"... and {len(caveats) - 10} more caveats (see the report)"))
