"""Campaign reconstruction: beachhead, spread path, accounts, exfiltration, impact, dwell time.

Entry points: :func:`reconstruct_case` (a stored case, with its hunt's detections) and
:func:`reconstruct` (tables from :func:`load_inputs`). Both return a :class:`CampaignReport`
whose ``to_dict()`` is the JSON the CLI writes and the report stage renders.
"""

from __future__ import annotations

from dwell.correlate.inputs import CaseInputs, load_inputs
from dwell.correlate.model import (
    AccountEntry,
    Activity,
    Campaign,
    CampaignReport,
    Caveat,
    Edge,
    EventRef,
    HostEntry,
)
from dwell.correlate.reconstruct import parse_when, reconstruct, reconstruct_case

__all__ = [
    "AccountEntry",
    "Activity",
    "Campaign",
    "CampaignReport",
    "CaseInputs",
    "Caveat",
    "Edge",
    "EventRef",
    "HostEntry",
    "load_inputs",
    "parse_when",
    "reconstruct",
    "reconstruct_case",
]
