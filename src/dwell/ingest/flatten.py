"""Flatten the event shapes we read into one ``{field: value}`` dict per event.

Canonical system keys: ``EventID``, ``Channel``, ``Computer``, ``Provider_Name``,
``EventRecordID``, ``TimeCreated`` (ISO string or epoch ns). Every other value is kept, under
its own name (``EventData``/``UserData`` leaves, unnamed ``Data`` items as a list); a name that
would collide keeps its dotted path instead, so nothing is lost.
"""

from __future__ import annotations

from typing import Any

SYSTEM_ATTRS_PREFIXED = {
    "Provider": "Provider_", "Execution": "Execution_", "Security": "Security_",
}


_ATTR_NAMES: dict[str, dict[str, str]] = {}


def _attr_names(element: str) -> dict[str, str]:
    """Flattened attribute names of one System element (``Name`` -> ``Provider_Name``)."""
    names = _ATTR_NAMES.get(element)
    if names is None:
        names = _ATTR_NAMES[element] = {}
    return names


def _put(out: dict[str, Any], key: str, path: str, value: Any) -> None:
    if key in out:
        out[path] = value
    else:
        out[key] = value


def _leaves(out: dict[str, Any], node: Any, path: str) -> None:
    """Copy the leaves of a nested ``UserData``-like node under their leaf names."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "#attributes" and isinstance(value, dict):
                for akey, avalue in value.items():
                    if akey != "xmlns":
                        _put(out, akey, f"{path}.{akey}", avalue)
            elif key == "#text":
                _put(out, path.rsplit(".", 1)[-1], path, value)
            else:
                _leaves(out, value, f"{path}.{key}")
    else:
        _put(out, path.rsplit(".", 1)[-1], path, node)


def _event_data(out: dict[str, Any], data: Any) -> None:
    if (
        type(data) is dict
        and "Data" not in data
        and "#attributes" not in data
        and dict not in map(type, data.values())
        and not (out.keys() & data.keys())
    ):
        out.update(data)  # the common case: named scalar fields only
        return
    if not isinstance(data, dict):
        if data is not None:
            _put(out, "Data", "EventData.Data", data)
        return
    for key, value in data.items():
        if key == "Data":
            if isinstance(value, dict) and "#text" in value:
                value = value["#text"]
            _put(out, "Data", "EventData.Data", value)
        elif key == "#attributes":
            if isinstance(value, dict):
                for akey, avalue in value.items():
                    _put(out, akey, f"EventData.{akey}", avalue)
        elif isinstance(value, dict):
            _leaves(out, value, f"EventData.{key}")
        else:
            # EventData names win over System names that collide with them.
            if key in out:
                out[f"System.{key}"] = out[key]
            out[key] = value


def flatten_evtx_json(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Flatten the ``{"Event": {"System": …, "EventData": …}}`` shape; None if not that."""
    event = doc.get("Event")
    if not isinstance(event, dict):
        return None
    out: dict[str, Any] = {}
    system = event.get("System")
    if isinstance(system, dict):
        for key, value in system.items():
            if not isinstance(value, dict):
                out[key] = value  # EventID, TimeCreated and the rest as plain values
            elif key == "EventID":
                attrs = value.get("#attributes")
                if isinstance(attrs, dict):
                    for akey, avalue in attrs.items():
                        out[akey] = avalue
                out["EventID"] = value.get("#text")
            elif key == "TimeCreated":
                attrs = value.get("#attributes")
                out["TimeCreated"] = attrs.get("SystemTime") if isinstance(attrs, dict) else value
            else:
                attrs = value.get("#attributes")
                if isinstance(attrs, dict):
                    names = _ATTR_NAMES.get(key) or _attr_names(key)
                    for akey, avalue in attrs.items():
                        name = names.get(akey)
                        if name is None:
                            name = names[akey] = f"{SYSTEM_ATTRS_PREFIXED.get(key, '')}{akey}"
                        out[name] = avalue
                if "#text" in value:
                    out[key] = value["#text"]
    for key, value in event.items():
        if key in ("System", "#attributes"):
            continue
        if key == "EventData":
            _event_data(out, value)
        else:
            _leaves(out, value, key)
    return out


_ECS_SYSTEM = {
    "event_id": "EventID",
    "channel": "Channel",
    "computer_name": "Computer",
    "provider_name": "Provider_Name",
    "provider_guid": "Provider_Guid",
    "record_id": "EventRecordID",
    "task": "Task",
    "opcode": "Opcode",
    "version": "Version",
    "keywords": "Keywords",
}


def flatten_ecs(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Flatten Winlogbeat / Elastic ECS (``winlog.*``); None if not that shape."""
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        dotted = {k[7:]: v for k, v in doc.items() if k.startswith("winlog.")}
        if not dotted:
            return None
        winlog = _undot(dotted)
    out: dict[str, Any] = {}
    for key, name in _ECS_SYSTEM.items():
        if key in winlog:
            out[name] = winlog[key]
    if isinstance(out.get("EventID"), str):
        out["EventID"] = int(out["EventID"]) if out["EventID"].isdigit() else out["EventID"]
    process = winlog.get("process")
    if isinstance(process, dict):
        if "pid" in process:
            out["Execution_ProcessID"] = process["pid"]
        thread = process.get("thread")
        if isinstance(thread, dict) and "id" in thread:
            out["Execution_ThreadID"] = thread["id"]
    user = winlog.get("user")
    if isinstance(user, dict) and "identifier" in user:
        out["Security_UserID"] = user["identifier"]
    for section in ("event_data", "user_data"):
        data = winlog.get(section)
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, dict):
                    _leaves(out, value, f"{section}.{key}")
                else:
                    if key in out:
                        out[f"System.{key}"] = out[key]
                    out[key] = value
    stamp = doc.get("@timestamp")
    if stamp is not None:
        out["TimeCreated"] = stamp
    return out


def _undot(flat: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return root


_FLAT_ALIASES = {
    "EventId": "EventID",
    "event_id": "EventID",
    "Provider": "Provider_Name",
    "ProviderName": "Provider_Name",
    "SystemTime": "TimeCreated",
    "TimeCreated_SystemTime": "TimeCreated",
    "@timestamp": "TimeCreated",
    "Timestamp": "TimeCreated",
    "timestamp": "TimeCreated",
    "RecordID": "EventRecordID",
    "RecordNumber": "EventRecordID",
    "Hostname": "Computer",
    "ComputerName": "Computer",
}


def flatten_flat(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Accept an already flat event (``EventID`` plus named fields); None if not that shape."""
    if not any(k in doc for k in ("EventID", "EventId", "event_id")):
        return None
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = _FLAT_ALIASES.get(key, key)
        if name in out and name != key:
            out[key] = value
        elif isinstance(value, dict):
            _leaves(out, value, key)
        else:
            out[name] = value
    return out


def flatten_any(doc: Any) -> tuple[str, dict[str, Any]] | None:
    """Detect the shape of one JSON event and flatten it: (format name, fields) or None."""
    if not isinstance(doc, dict):
        return None
    flat = flatten_evtx_json(doc)
    if flat is not None:
        return "evtx-json", flat
    flat = flatten_ecs(doc)
    if flat is not None:
        return "ecs", flat
    flat = flatten_flat(doc)
    if flat is not None:
        return "flat-json", flat
    return None
