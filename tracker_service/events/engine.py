"""The rules in force: stored, matched against every event, and delivered.

Rules live in `<data_dir>/rules.json` (written atomically), so they survive restarts.
Deliverers are pluggable by name: `webhook` (built in) and `mqtt`, which the MQTT backend
installs with `engine.deliverers["mqtt"] = ...` (any object with `deliver(rule_id, topic,
payload)`); a rule with an `mqtt_topic` is refused while none is installed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from tracker_service.events.model import Event, iso_time
from tracker_service.events.rules import OccupancyAbove, OccupancyWatch, RuleSpec, matches
from tracker_service.events.webhooks import WebhookDispatcher
from tracker_service.zones.spec import describe_errors

logger = logging.getLogger(__name__)

RULES_FILE = "rules.json"
MAX_WATCHES = 10_000


class RuleError(ValueError):
    """A rule that cannot be used; the message says why."""


class RuleNotFoundError(LookupError):
    pass


class MqttDeliverer(Protocol):
    def deliver(self, rule_id: str, topic: str, payload: dict[str, Any]) -> None: ...


def parse_rule(data: Any) -> RuleSpec:
    try:
        return RuleSpec.model_validate(data)
    except ValidationError as exc:
        raise RuleError(describe_errors(exc)) from None


def public_rule(rule_id: str, spec: RuleSpec) -> dict[str, Any]:
    """A rule as the API shows it: the webhook's secret is never returned."""
    data = spec.model_dump(mode="json")
    if data.get("webhook"):
        data["webhook"] = {"url": data["webhook"]["url"], "secret_set": True}
    return {"id": rule_id, **data}


class RuleEngine:
    """Matches events against the rules and hands what fires to the deliverers."""

    def __init__(
        self,
        path: Path | None,
        webhooks: WebhookDispatcher,
        max_rules: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.webhooks = webhooks
        self.max_rules = max_rules
        self.deliverers: dict[str, MqttDeliverer] = {}
        self.clock = clock
        self._lock = threading.Lock()
        self._rules: dict[str, RuleSpec] = self._load()
        self._watches: dict[tuple[str, str], OccupancyWatch] = {}

    # -- CRUD ----------------------------------------------------------------------------------

    def list(self) -> list[tuple[str, RuleSpec]]:
        with self._lock:
            return list(self._rules.items())

    def get(self, rule_id: str) -> RuleSpec:
        with self._lock:
            spec = self._rules.get(rule_id)
        if spec is None:
            raise RuleNotFoundError(rule_id)
        return spec

    def put(self, spec: RuleSpec, rule_id: str | None = None) -> str:
        if spec.mqtt_topic is not None and "mqtt" not in self.deliverers:
            raise RuleError("mqtt_topic: MQTT is not configured on this service")
        with self._lock:
            if rule_id is None:
                if len(self._rules) >= self.max_rules:
                    raise RuleError(f"at most {self.max_rules} rules; delete one first")
                rule_id = uuid.uuid4().hex[:12]
            elif rule_id not in self._rules:
                raise RuleNotFoundError(rule_id)
            self._rules[rule_id] = spec
            self._watches = {k: w for k, w in self._watches.items() if k[0] != rule_id}
            self._save()
        return rule_id

    def delete(self, rule_id: str) -> None:
        with self._lock:
            if self._rules.pop(rule_id, None) is None:
                raise RuleNotFoundError(rule_id)
            self._watches = {k: w for k, w in self._watches.items() if k[0] != rule_id}
            self._save()

    # -- matching ------------------------------------------------------------------------------

    def emit(self, event: Event, snapshot: bytes | None) -> None:
        """An event sink: every rule the event fires is notified (never blocks)."""
        for rule_id, spec in self.list():
            if matches(spec, event):
                self._notify(rule_id, spec, {"event": event.to_dict()})

    def occupancy(self, source: str, occupancy: dict[str, int], now: float) -> None:
        """Zone occupancy of a source, every frame: decides `occupancy_above` rules."""
        for rule_id, spec in self.list():
            when = spec.when
            if not isinstance(when, OccupancyAbove) or not spec.enabled:
                continue
            if when.zone not in occupancy or spec.source not in (None, source):
                continue
            with self._lock:
                watch = self._watches.get((rule_id, source))
                if watch is None and len(self._watches) < MAX_WATCHES:
                    watch = self._watches[(rule_id, source)] = OccupancyWatch(when)
            if watch is not None and watch.update(occupancy[when.zone], now):
                self._notify(
                    rule_id,
                    spec,
                    {
                        "occupancy": {
                            "source": source,
                            "zone": when.zone,
                            "count": occupancy[when.zone],
                            "time": iso_time(now),
                        }
                    },
                )

    def _notify(self, rule_id: str, spec: RuleSpec, body: dict[str, Any]) -> None:
        payload = {
            "rule": {"id": rule_id, "name": spec.name, "type": spec.when.type},
            "sent_at": iso_time(self.clock()),
            **body,
        }
        if spec.webhook is not None:
            self.webhooks.submit(rule_id, spec.webhook.url, spec.webhook.secret, payload)
        mqtt = self.deliverers.get("mqtt")
        if spec.mqtt_topic is not None and mqtt is not None:
            try:
                mqtt.deliver(rule_id, spec.mqtt_topic, payload)
            except Exception:  # a broker problem must not reach the pipeline
                logger.exception("MQTT delivery for rule %s failed", rule_id)

    # -- persistence ---------------------------------------------------------------------------

    def _load(self) -> dict[str, RuleSpec]:
        if self.path is None or not self.path.is_file():
            return {}
        rules: dict[str, RuleSpec] = {}
        for rule_id, data in json.loads(self.path.read_text(encoding="utf-8")).items():
            try:
                rules[rule_id] = RuleSpec.model_validate(data)
            except ValidationError as exc:
                logger.warning("ignoring stored rule %s: %s", rule_id, describe_errors(exc))
        return rules

    def _save(self) -> None:
        if self.path is None:
            return
        data = {rule_id: spec.model_dump(mode="json") for rule_id, spec in self._rules.items()}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.chmod(partial, 0o600)  # webhook secrets
        os.replace(partial, self.path)
