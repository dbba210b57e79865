"""Campaign reconstruction on hand-made event and detection tables."""

from __future__ import annotations

from correlate_build import DAY, HOUR, T0, Case, attacked, network, ns

from dwell.correlate import parse_when, reconstruct
from dwell.correlate.entities import HostMap, account_key
from dwell.correlate.model import iso
from dwell.errors import UsageError


def _main(case: Case, evicted: int | None = None) -> dict:
    report = reconstruct(case.inputs(), evicted).to_dict()
    assert report["campaigns"], report
    return report["campaigns"][0]


def test_spread_path_accounts_and_impact() -> None:
    camp = _main(attacked())
    hosts = [h["host"] for h in camp["hosts"]]
    assert hosts == ["WEB", "FS", "WS"]
    assert camp["beachhead"]["host"] == "WEB"
    assert camp["beachhead"]["time"] == iso(ns(10 * DAY))
    fs, ws = camp["hosts"][1], camp["hosts"][2]
    assert (fs["reached_from"], fs["via"]) == ("WEB", "rdp")
    assert (ws["reached_from"], ws["via"]) == ("WEB", "wmi")
    accounts = {a["account"].lower() for a in camp["accounts"]}
    assert {"svc_web", "admin"} <= accounts
    kinds = {(i["host"], i["kind"]) for i in camp["impact"]}
    assert ("FS", "shadow-copy-deletion") in kinds
    assert ("FS", "log-clearing") in kinds
    assert any(e["host"] == "FS" and "rar" in e["evidence"] for e in camp["exfiltration"])
    assert camp["first_seen"] == iso(ns(10 * DAY))
    assert camp["dwell_time_days"] > 29


def test_benign_helpdesk_and_routine_detections_stay_out() -> None:
    camp = _main(attacked())
    hosts = {h["host"] for h in camp["hosts"]}
    assert "DC2" not in hosts and "DC" not in hosts and "HELP" not in hosts
    # The nightly backup's shadow-copy deletion on FS is routine, not the attacker's.
    times = [i["time"] for i in camp["impact"] if i["kind"] == "shadow-copy-deletion"]
    assert times == [iso(ns(20 * DAY + 22 * HOUR))]


def test_unrelated_campaigns_stay_separate() -> None:
    report = reconstruct(attacked().inputs()).to_dict()
    assert len(report["campaigns"]) == 2
    assert [h["host"] for h in report["campaigns"][1]["hosts"]] == ["KIOSK"]
    assert report["campaigns"][1]["impact"][0]["kind"] == "ransomware"


def test_still_present_after_eviction() -> None:
    camp = _main(attacked(), evicted=ns(30 * DAY))
    still = camp["still_present"]
    assert still["verdict"] is True
    assert still["first_after_eviction"] == iso(ns(40 * DAY + 3 * HOUR))
    first = still["after_eviction"][0]
    assert first["host"] == "FS" and "203.0.113.90" in first["evidence"]
    assert first["ref"]["record_id"] is not None
    assert "203.0.113.90" in camp["external_sources"]


def test_clean_eviction_gives_false_verdict() -> None:
    case = attacked()
    case.events = [e for e in case.events
                   if e["ts"] < ns(30 * DAY) or e["src_ip"] != "203.0.113.90"]
    camp = _main(case, evicted=ns(30 * DAY))
    assert camp["still_present"]["verdict"] is False
    assert camp["still_present"]["after_eviction"] == []


def test_clean_source_never_pulls_hosts_in() -> None:
    case = network()
    case.detection(DAY, "WEB", "critical", "webshell", user="svc_web")
    # A clean host uses an account the attacker also holds: not a path into DC2.
    case.detection(DAY + 60, "WEB", "high", "mimikatz", tags=("attack.t1003",))
    case.logon(2 * DAY, "FS", "WEB", "admin")
    case.logon(3 * DAY, "DC2", "HELP", "admin")
    camp = _main(case)
    assert [h["host"] for h in camp["hosts"]] == ["WEB", "FS"]


def test_uncorroborated_edge_without_compromised_account_waits_for_detections() -> None:
    case = network()
    case.detection(DAY, "WEB", "critical", "webshell", user="svc_web")
    case.logon(2 * DAY, "DC", "WEB", "someone", ltype=3)
    assert [h["host"] for h in _main(case)["hosts"]] == ["WEB"]
    case.detection(2 * DAY + 600, "DC", "medium", "suspicious-ntdsutil", user="someone")
    camp = _main(case)
    assert [h["host"] for h in camp["hosts"]] == ["WEB", "DC"]
    assert camp["hosts"][1]["first_seen"] == iso(ns(2 * DAY))


def test_lone_high_detection_is_a_lead_not_a_campaign() -> None:
    case = network()
    case.detection(DAY, "WS", "high", "pua-scanner")
    assert reconstruct(case.inputs()).to_dict()["campaigns"] == []


def test_caveats_for_cleared_log() -> None:
    camp = _main(attacked())
    fs = next(h for h in camp["hosts"] if h["host"] == "FS")
    assert any("Security log on FS was cleared" in c and "may be missing" in c
               for c in fs["caveats"])
    assert any(c["kind"] == "log-cleared" and c["host"] == "FS" for c in camp["caveats"])


def test_account_identity() -> None:
    assert account_key("GOVAL\\Administrator") == "administrator"
    assert account_key("administrator@goval.local") == "administrator"
    assert account_key(".\\Administrator") == "administrator"
    assert account_key("WS01$") is None
    assert account_key("NT AUTHORITY\\SYSTEM") is None


def test_ip_map_is_time_aware() -> None:
    hmap = HostMap()
    for host in ("A", "B"):
        hmap.add_host(host)
    hmap.observe("10.1.1.1", "a.corp.local", ns(0))
    hmap.observe("10.1.1.1", "B", ns(10 * DAY))
    assert hmap.host_of_ip("10.1.1.1", ns(5 * DAY)) == "A"
    assert hmap.host_of_ip("10.1.1.1", ns(11 * DAY)) == "B"
    assert hmap.resolve("DESKTOP-X1", "10.9.9.9", ns(0)) == ("DESKTOP-X1", "external")
    assert hmap.resolve(None, "127.0.0.1", ns(0)) == ("127.0.0.1", "loopback")
    assert hmap.resolve(None, "198.51.100.7", ns(0)) == ("198.51.100.7", "external")


def test_parse_when() -> None:
    assert parse_when("2021-01-01") == T0 * 1_000_000_000
    assert parse_when("2021-01-01T01:00:00+01:00") == T0 * 1_000_000_000
    try:
        parse_when("yesterday")
    except UsageError as exc:
        assert "ISO 8601" in str(exc)
    else:
        raise AssertionError("no error")
