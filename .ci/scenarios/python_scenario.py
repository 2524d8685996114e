"""A client author's scenario, written against the client that openapi-python-client
generated from openapi/openapi.json (package `tokenwarden_client`), run against a live server.

Environment: BASE_URL, TOKEN (a tenant token with every tenant scope), ORG_ID, OPENAPI (path of
the document the client was generated from).

Parts:
  organization  read the caller's organization
  brands        create brands, list them page by page with cursor pagination
  problems      trigger problem answers (422, 404) and handle them as typed errors
  renewal       connect a sandbox profile over the real OAuth flow in two brands, list the
                tokens that need attention (`include=expiring`), renew one and check that the
                renewal propagated to the other brand; a typed 404 Problem for an unknown account.
Exit status 0 when every part that ran passed; the last line says which parts ran.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import urllib.parse
import uuid
from typing import Any, Callable

import httpx
from tokenwarden_client import AuthenticatedClient, Client
from tokenwarden_client import api as api_pkg
from tokenwarden_client.models import (
    AuthorizationStart,
    Brand,
    BrandInput,
    BrandPage,
    ConnectRequest,
    ExpiredToken,
    ExpiredTokenPage,
    GrantResult,
    GrantStatus,
    Include,
    Organization,
    Problem,
    RenewMethod,
    RenewOutcome,
    RenewResult,
    TokenStatus,
)
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


def connect_sandbox(client: AuthenticatedClient, public: Client, brand_id: str, subject: str) -> Any:
    """Connects the sandbox identity `subject` to a brand over the real OAuth flow, as a front end
    and a browser would: the API calls through the generated client, the two browser steps
    (the network's authorize page, its redirect) with httpx."""
    start = call(operation("connect_account").sync_detailed, client=client,
                 brand_id=uuid.UUID(brand_id), body=ConnectRequest(network="sandbox"))
    check(isinstance(start, AuthorizationStart) and start.network == "sandbox",
          f"connect in brand {brand_id[:8]}: an authorization URL")
    # The browser opens the authorization URL; the sandbox approves at once for `subject`
    # and redirects (303) to tokenwarden's callback with code and state.
    answer = httpx.get(f"{start.authorization_url}&auto_approve={subject}", follow_redirects=False)
    check(answer.status_code == 303, f"the sandbox approves {subject} with a 303")
    callback = urllib.parse.urlsplit(answer.headers["location"])
    query = dict(urllib.parse.parse_qsl(callback.query))
    network = callback.path.rsplit("/", 1)[-1]
    # The browser follows the redirect: the callback needs no bearer (the state authenticates).
    result = call(operation("complete_oauth_callback").sync_detailed, client=public, network=network,
                  state=query["state"], code=query.get("code", UNSET))
    check(isinstance(result, GrantResult), f"the callback stored the grant ({result.status.value})")
    return result


def part_renewal(client: AuthenticatedClient, public: Client, run: str) -> str:
    """Seeds two brands with the same sandbox profile (the organization is on the Advanced plan,
    so the profile is shared), lists the tokens that need renewal (`include=expiring`: sandbox
    tokens live one hour), renews one and checks that the renewal reached the other brand."""
    create = operation("create_brand").sync_detailed
    brands = [str(call(create, client=client, body=BrandInput(name=f"CI renewal {run} {side}")).id)
              for side in ("north", "south")]
    first = connect_sandbox(client, public, brands[0], "sandbox-alice")
    second = connect_sandbox(client, public, brands[1], "sandbox-alice")
    check(first.status == GrantStatus.CONNECTED and second.status == GrantStatus.CONNECTED,
          "one new account in each brand")
    check(first.account.profile.id == second.account.profile.id, "both accounts are one profile")
    accounts = {str(first.account.id), str(second.account.id)}

    list_expired = operation("list_expired_tokens").sync_detailed
    items: list[ExpiredToken] = []
    cursor: str | Unset = UNSET
    for _ in range(100):
        page = call(list_expired, client=client, include=Include.EXPIRING, limit=1, cursor=cursor)
        check(isinstance(page, ExpiredTokenPage), f"expired-tokens page {len(items) + 1}")
        items.extend(page.data)
        if not isinstance(page.next_cursor, str):
            break
        cursor = page.next_cursor
    listed = {str(i.account_id) for i in items}
    check(accounts <= listed, f"both accounts are listed as needing attention ({len(items)} in all)")
    mine = [i for i in items if str(i.account_id) in accounts]
    check(all(i.status == TokenStatus.EXPIRING for i in mine), "sandbox tokens (1 hour) are `expiring`")
    check(all(i.renew.method == RenewMethod.REFRESH for i in mine), "each can be renewed silently")

    target = first.account
    result = call(operation("renew_account").sync_detailed, client=client,
                  brand_id=target.brand_id, account_id=target.id,
                  idempotency_key=f"ci-{run}-renew")
    check(isinstance(result, RenewResult), "renew_account parses into RenewResult")
    check(result.outcome == RenewOutcome.RENEWED, f"renewed at once ({result.outcome.value})")
    renewed_to = {str(a.account_id) for a in result.propagation.renewed}
    check(renewed_to == {str(second.account.id)},
          f"propagation reached the other brand's account ({len(renewed_to)} renewed, "
          f"{len(result.propagation.left)} left)")
    print(f"  propagation: renewed={sorted(renewed_to)} left={[a.account_id for a in result.propagation.left]}")

    try:
        call(operation("renew_account").sync_detailed, client=client,
             brand_id=uuid.UUID(brands[1]), account_id=uuid.uuid4())
        raise AssertionError("renewing a random account id succeeded")
    except ApiProblem as e:
        check(e.http_status == 404 and e.problem.type_.endswith("/not-found"),
              "renewing an unknown account answers a typed 404 Problem")
    return f"renewal (2 sandbox accounts connected over OAuth, {len(items)} listed, 1 renewed, propagated to {len(renewed_to)})"


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
        needed = {"list_expired_tokens", "renew_account", "connect_account", "complete_oauth_callback"}
        missing = needed - op_ids
        if missing:
            raise AssertionError(f"the document has no operation {', '.join(sorted(missing))}")
        print("part renewal:")
        with Client(base_url=base_url, raise_on_unexpected_status=True) as public:
            ran.append(part_renewal(client, public, run))
    print(f"scenario: ran {', '.join(ran)}; skipped {', '.join(skipped) or 'nothing'}")
    print(f"{len(ran)} passed, 0 failed, {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
