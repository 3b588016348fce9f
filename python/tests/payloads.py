"""Random payloads over a lake, made as the engine's differential test makes them: every
target, step pattern, filter property, limit and time-zone rendering, interval bounds on
event timestamps (inclusivity), ±1 µs or day edges, and a few that must be refused."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

PROPERTIES = [
    "label", "action", "category", "vendor", "source", "event_id", "visitor_id", "session_id",
    "user_id", "view_uid", "page_url", "dim1", "dim2", "dim3", "dim4", "dim5", "browser_name",
    "browser_version", "device_type", "os_name", "os_version", "geo_country", "geo_city",
    "ip_organization", "room_ids", "properties",
]
ZONES = [None, "Europe/Helsinki", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
DAY_US = 86_400_000_000


def organization_rows(lake: Path, org: str) -> pa.Table:
    files = sorted((lake / "events" / f"organization_id={org}").glob("date=*/*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def instant(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)


def unambiguous(zone: str, us: int) -> bool:
    """Whether the local time of `us` in `zone` names exactly one instant."""
    local = instant(us).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    early, late = (local.replace(tzinfo=ZoneInfo(zone), fold=f) for f in (0, 1))
    return early.utcoffset() == late.utcoffset() and early.astimezone(dt.timezone.utc) == instant(us)


def render(us: int, rng: random.Random, zone: str | None) -> str:
    moment = instant(us)
    if zone:
        return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat(timespec="microseconds")
    offset = rng.choice([dt.timedelta(0), dt.timedelta(hours=5, minutes=30), -dt.timedelta(hours=7)])
    text = moment.astimezone(dt.timezone(offset)).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def pick_values(rng: random.Random, rows: dict, column: str) -> list[str]:
    if column in ("room_ids", "properties"):
        pool = {v for lst in rows[column] if lst for v in lst}
    else:
        pool = {v for v, c in zip(rows[column], rows["category"]) if v is not None and (c == "goal" or rng.random() < 0.01)}
    pool = sorted(pool)
    values = [rng.choice(pool) for _ in range(rng.randrange(1, 4))] if pool else []
    if not values or rng.random() < 0.1:
        values.append("no-such-value")
    return values


class PayloadMaker:
    """Random requests (organization, workflow, payload JSON text) over one lake."""

    def __init__(self, lake: Path):
        self.workflows = json.loads((lake / "workflows.json").read_text())
        self.orgs = sorted({w["organization_id"] for w in self.workflows})
        self.rows = {org: organization_rows(lake, org).to_pydict() for org in self.orgs}

    def request(self, seed: int) -> tuple[str, str, str]:
        rng = random.Random(seed)
        org = rng.choice(self.orgs)
        rows = self.rows[org]
        own = [w for w in self.workflows if w["organization_id"] == org
               and not (rng.random() < 0.8 and w["type"] in ("chat", "voice_video"))]
        if rng.random() < 0.04:
            workflow = next(w for w in self.workflows if w["organization_id"] != org)
        else:
            workflow = rng.choice(own)
        stamps = [int(t.timestamp() * 1_000_000) if hasattr(t, "timestamp") else t for t in rows["timestamp"]]

        def bound() -> int:
            base = rng.choice(stamps)
            return [base, base - 1, base + 1, base - base % DAY_US,
                    base + rng.randrange(-20_000_000_000, 20_000_000_000)][rng.randrange(5)]

        start, end = bound(), bound()
        if rng.random() < 0.15:
            start, end = min(stamps) - 1_000_000, max(stamps) + 1_000_000
        start, end = min(start, end), max(start, end)
        zone = rng.choice(ZONES) if rng.random() < 0.4 else None
        if zone and not (unambiguous(zone, start) and unambiguous(zone, end)):
            zone = None
        action_column = "page_url" if workflow["type"] == "web_navigation" else "view_uid"
        actions = sorted({a for a in rows[action_column] if a is not None})
        payload: dict = {
            "filters": [{"property": p, "values": pick_values(rng, rows, p)}
                        for p in (rng.choice(PROPERTIES) for _ in range(rng.randrange(3)))],
            "interval": {"start": render(start, rng, zone), "end": render(end, rng, zone)},
        }
        if zone:
            payload["interval"]["time_zone"] = zone
        if rng.random() < 0.6:
            steps = []
            for i in range(rng.randrange(5)):
                kind = rng.randrange(4)
                if i == 0 or kind == 0:
                    steps.append({})
                elif kind == 1:
                    steps.append({"actions": []})
                else:
                    steps.append({"actions": [rng.choice(actions) for _ in range(rng.randrange(1, 4))]})
            payload["step_data"] = steps
        if rng.random() < 0.3:
            payload["limit"] = rng.randrange(1, 20)
        total = rng.random() < 0.5
        if total or rng.random() < 0.5:
            payload["target"] = "affected_goal_total" if total else "affected_goal"
        basic = rng.random() < 0.4
        if basic or rng.random() < 0.5:
            payload["basic"] = basic
        if rng.random() < 0.05:
            payload["filters"].append({"property": "colour", "values": ["red"]})  # a 406
        if rng.random() < 0.05:
            payload["limit"] = 0  # a 400
        workflow_id = workflow["id"].upper() if rng.random() < 0.2 else workflow["id"]
        return org, workflow_id, json.dumps(payload)
