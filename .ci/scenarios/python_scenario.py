"""A client author's scenario, written against the client that openapi-python-client
generated from openapi/openapi.json (package `tokenwarden_client`), run against a live server.

Environment: BASE_URL, TOKEN (a tenant token with every tenant scope), ORG_ID, OPENAPI (path of
the document the client was generated from).

Parts:
  organization  read the caller's organization
  brands        create brands, list them page by page with cursor pagination
  problems      trigger problem answers (422, 404) and handle them as typed errors
  renewal       list expired tokens, renew with propagation: runs only when the document has
                the operations `list_expired_tokens` and `renew_account`; skipped (and said so)
                otherwise.
Exit status 0 when every part that ran passed; the last line says which parts ran.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import sys
import uuid
from typing import Any, Callable

from tokenwarden_client import AuthenticatedClient
from tokenwarden_client import api as api_pkg
from tokenwarden_client.models import Brand, BrandInput, BrandPage, Organization, Problem
from tokenwarden_client.types import UNSET, Unset


class ApiProblem(Exception):
    """A documented error answer, parsed by the generated client into the `Problem` model."""

    def __init__(self, problem: Problem, http_status: int):
        self.problem = problem
        self.http_status = http_status
        super().__init__(f"{problem.status} {problem.title}: {problem.type_} ({problem.detail})")


def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Calls a generated `sync_detailed`, returns the parsed success model, raises ApiProblem
    for a problem answer (typed, as the document promises)."""
    response = fn(**kwargs)
    parsed = response.parsed
    if isinstance(parsed, Problem):
        raise ApiProblem(parsed, int(response.status_code))
    if int(response.status_code) >= 400:
        raise AssertionError(
            f"{fn.__module__}: {int(response.status_code)} not parsed as Problem: {response.content[:300]!r}"
        )
    return parsed


def operation(operation_id: str):
    """The generated module of an operation id (api/<tag>/<operation_id>.py)."""
    for tag in pkgutil.iter_modules(api_pkg.__path__):
        try:
            return importlib.import_module(f"tokenwarden_client.api.{tag.name}.{operation_id}")
        except ModuleNotFoundError:
            continue
    raise LookupError(f"the generated client has no operation {operation_id}")


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def part_organization(client: AuthenticatedClient, org_id: str) -> None:
    org = call(operation("get_organization").sync_detailed, client=client)
    check(isinstance(org, Organization), "GET /v1/organization parses into Organization")
    check(str(org.id) == org_id, f"organization id is the token's org ({org_id})")
    check(org.plan.value == "advanced", "plan is advanced")
    check(org.features.cross_brand_renewal is True, "advanced allows cross-brand renewal")


def part_brands(client: AuthenticatedClient, run: str) -> list[str]:
    create = operation("create_brand").sync_detailed
    list_brands = operation("list_brands").sync_detailed
    created = []
    for i in range(5):
        brand = call(create, client=client, body=BrandInput(name=f"CI brand {run} {i}"))
        check(isinstance(brand, Brand) and brand.name == f"CI brand {run} {i}", f"created brand {i}")
        created.append(str(brand.id))
    seen: list[str] = []
    cursor: str | Unset = UNSET
    pages = 0
    while True:
        page = call(list_brands, client=client, limit=2, cursor=cursor)
        assert isinstance(page, BrandPage)
        pages += 1
        check(len(page.data) <= 2, f"page {pages} has at most `limit` items ({len(page.data)})")
        seen.extend(str(b.id) for b in page.data)
        if not page.next_cursor or isinstance(page.next_cursor, Unset):
            break
        cursor = page.next_cursor
        if pages > 50:
            raise AssertionError("pagination does not end")
    check(set(created) <= set(seen), f"every created brand listed across {pages} pages")
    check(len(seen) == len(set(seen)), "no brand listed twice")
    got = call(operation("get_brand").sync_detailed, client=client, brand_id=uuid.UUID(created[0]))
    check(str(got.id) == created[0], "GET /v1/brands/{brand_id} returns the brand")
    return created


def part_problems(client: AuthenticatedClient) -> None:
    try:
        call(operation("create_brand").sync_detailed, client=client, body=BrandInput(name="x" * 101))
        raise AssertionError("an over-long brand name was accepted")
    except ApiProblem as e:
        p = e.problem
        check(e.http_status == 422 and p.status == 422, "over-long name answers 422 as a Problem")
        check(p.type_.startswith("http"), f"problem type is a URI ({p.type_})")
        errors = p.errors if isinstance(p.errors, list) else []
        check(len(errors) >= 1, "problem has field-level errors")
        check(any(getattr(fe, "pointer", None) == "/name" for fe in errors), "an error points at /name")
    missing = uuid.uuid4()
    try:
        call(operation("get_brand").sync_detailed, client=client, brand_id=missing)
        raise AssertionError("a random brand id was found")
    except ApiProblem as e:
        check(e.problem.status == 404 and e.http_status == 404, "a random brand id answers 404 as a Problem")
        check(e.problem.type_.endswith("not-found"), f"404 problem type ({e.problem.type_})")


def _kwargs_for(fn: Callable[..., Any], known: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    return {k: v for k, v in known.items() if k in params}


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is None and hasattr(obj, "additional_properties"):
            value = obj.additional_properties.get(name)
        if value is not None and not isinstance(value, Unset):
            return value
    return None


def part_renewal(client: AuthenticatedClient) -> str:
    """List every expired token page by page, renew those that can be renewed and print the
    propagation report. Only the operation ids are relied on; shapes are read defensively."""
    list_expired = operation("list_expired_tokens").sync_detailed
    renew = operation("renew_account").sync_detailed
    items: list[Any] = []
    cursor: str | Unset = UNSET
    for _ in range(100):
        page = call(list_expired, **_kwargs_for(list_expired, {"client": client, "limit": 100, "cursor": cursor}))
        items.extend(page.data)
        nxt = _get(page, "next_cursor")
        if not nxt:
            break
        cursor = nxt
    check(True, f"listed {len(items)} expired tokens")
    renewed = 0
    for item in items:
        brand_id, account_id = _get(item, "brand_id"), _get(item, "account_id", "id")
        if brand_id is None or account_id is None:
            continue
        known = {"client": client, "brand_id": brand_id, "account_id": account_id,
                 "idempotency_key": str(uuid.uuid4())}
        try:
            result = call(renew, **_kwargs_for(renew, known))
        except ApiProblem as e:  # a typed, documented answer (e.g. 502/503 from the network)
            print(f"  renew {account_id}: problem {e.problem.status} {e.problem.type_}")
            continue
        method = _get(result, "method")
        report = _get(result, "propagation", "propagated", "propagation_report")
        print(f"  renew {account_id}: method={method} propagation={report}")
        renewed += 1
    if renewed == 0:
        print("  WARNING: nothing was renewed, so renewal with propagation was NOT exercised "
              "(a fresh organization has no expired tokens: seed some to exercise it)")
        return ""
    return f"renewal ({len(items)} expired, {renewed} renewed)"


def main() -> int:
    base_url, token, org_id = os.environ["BASE_URL"], os.environ["TOKEN"], os.environ["ORG_ID"]
    with open(os.environ.get("OPENAPI", "openapi/openapi.json"), encoding="utf-8") as f:
        doc = json.load(f)
    op_ids = {op.get("operationId") for item in doc["paths"].values() for op in item.values()
              if isinstance(op, dict)}
    run = uuid.uuid4().hex[:8]
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    ran, skipped = [], []
    with client:
        for name, part in [("organization", lambda: part_organization(client, org_id)),
                           ("brands", lambda: part_brands(client, run)),
                           ("problems", lambda: part_problems(client))]:
            print(f"part {name}:")
            part()
            ran.append(name)
        needed = {"list_expired_tokens", "renew_account"}
        if needed <= op_ids:
            print("part renewal:")
            done = part_renewal(client)
            if done:
                ran.append(done)
            else:
                skipped.append("renewal (listed only, nothing to renew)")
        else:
            missing = ", ".join(sorted(needed - op_ids))
            print(f"part renewal: SKIPPED, the document has no operation {missing}")
            skipped.append("renewal")
    print(f"scenario: ran {', '.join(ran)}; skipped {', '.join(skipped) or 'nothing'}")
    print(f"{len(ran)} passed, 0 failed, {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
