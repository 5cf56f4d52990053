"""Rules over events and their webhook deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from tracker_service.api.deps import ServicesDep
from tracker_service.api.errors import ApiError, not_found
from tracker_service.events.engine import RuleError, RuleNotFoundError, parse_rule, public_rule

router = APIRouter(tags=["rules"])
RuleBody = Annotated[dict[str, Any], Body()]


def _invalid(exc: RuleError) -> ApiError:
    return ApiError(422, "invalid_rule", str(exc))


@router.get("/rules", summary="Every rule (webhook secrets are never shown)")
def list_rules(services: ServicesDep) -> dict[str, Any]:
    rules = services.history.rules
    return {"items": [public_rule(rule_id, spec) for rule_id, spec in rules.list()]}


@router.post("/rules", status_code=201, summary="Add a rule")
def add_rule(body: RuleBody, services: ServicesDep) -> dict[str, Any]:
    rules = services.history.rules
    try:
        spec = parse_rule(body)
        rule_id = rules.put(spec)
    except RuleError as exc:
        raise _invalid(exc) from None
    return public_rule(rule_id, spec)


@router.get("/rules/{rule_id}", summary="One rule")
def get_rule(rule_id: str, services: ServicesDep) -> dict[str, Any]:
    try:
        return public_rule(rule_id, services.history.rules.get(rule_id))
    except RuleNotFoundError:
        raise not_found("rule", rule_id) from None


@router.put("/rules/{rule_id}", summary="Replace a rule")
def replace_rule(rule_id: str, body: RuleBody, services: ServicesDep) -> dict[str, Any]:
    try:
        spec = parse_rule(body)
        services.history.rules.put(spec, rule_id)
    except RuleError as exc:
        raise _invalid(exc) from None
    except RuleNotFoundError:
        raise not_found("rule", rule_id) from None
    return public_rule(rule_id, spec)


@router.delete("/rules/{rule_id}", status_code=204, summary="Delete a rule")
def delete_rule(rule_id: str, services: ServicesDep) -> None:
    try:
        services.history.rules.delete(rule_id)
    except RuleNotFoundError:
        raise not_found("rule", rule_id) from None


@router.get("/deliveries", summary="Recent webhook deliveries, newest first, with errors")
def list_deliveries(
    services: ServicesDep,
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    deliveries = services.history.webhooks.deliveries(rule, limit)
    return {"items": [delivery.to_dict() for delivery in deliveries]}
