"""Schemathesis hooks of .ci/steps/40-schemathesis.sh: what a static schema cannot say about this
deployment, told to the generator for *positive* cases only (negative cases stay untouched, so
every check keeps its strength):
 - `network` members name a configured network: the CI server has `sandbox`;
 - `return_url` members are under the deployment's allow-list (.ci/tokenwarden-ci.toml);
 - an imported `access_token` is one the network issued: a fresh sandbox token of `sandbox-bob`,
   and its `expires_at` lies within ten years of now (a bound a `date-time` schema cannot state);
 - a webhook `url` is a target this deployment accepts: the CI server runs in dev mode, where
   loopback http is allowed, and has no DNS to resolve the examples' hosts;
 - an `Idempotency-Key` is unique per request (a key reused with another body is a documented
   422, not something a generator should stumble into).
The Examples phase runs no case hooks, so two failures are dropped there, narrowly: a webhook
whose example URL's host does not resolve (CI has no DNS) is refused as the documented 422 on
`/url`; and importing the document's example grant (`access_token: "EAABsbCS1iHgBAKZCZCZA"`, which no network issued) is refused as the
documented 422 `grant-rejected`.
"""

import datetime
import os
import sys
import uuid

import schemathesis

sys.path.insert(0, os.path.dirname(__file__))
from sandbox_oauth import access_token  # noqa: E402

RETURN_URL = "https://app.example.com/accounts"


def _positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def map_case(context, case):
    if not _positive(case):
        return case
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("network"), str):
            body["network"] = "sandbox"
        if isinstance(body.get("return_url"), str):
            body["return_url"] = RETURN_URL
        if case.operation.path.startswith("/v1/webhooks") and isinstance(body.get("url"), str):
            body["url"] = "http://127.0.0.1:9/tokenwarden-hooks"
        importing = (case.operation.method.upper(), case.operation.path) == (
            "POST", "/v1/brands/{brand_id}/accounts")
        if importing and isinstance(body.get("access_token"), str):
            body["access_token"] = access_token(os.environ["BASE_URL"], "sandbox-bob")
        if importing and isinstance(body.get("expires_at"), str):
            soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
            body["expires_at"] = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    if case.headers:
        for name in list(case.headers):
            if name.lower() == "idempotency-key" and isinstance(case.headers[name], str):
                case.headers[name] = f"st-{uuid.uuid4()}"
    return case


def _import_date_far_from_now(case, response) -> bool:
    """An imported `expires_at` more than ten years from now is the documented 422 on
    `/expires_at`; the generator's boundary dates (2000-01-01 in the coverage phase, where no
    case hook runs) cannot know that bound, since a `date-time` schema cannot state it."""
    importing = (case.operation.method.upper(), case.operation.path) == (
        "POST", "/v1/brands/{brand_id}/accounts")
    if not importing or response.status_code != 422:
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return bool(errors) and all(
        e.get("pointer") == "/expires_at" and "within ten years" in e.get("detail", "")
        for e in errors)


def _unresolvable_example_webhook(case, response) -> bool:
    meta = case.meta
    if meta is None or meta.phase.name != "examples":
        return False
    if not case.operation.path.startswith("/v1/webhooks") or response.status_code != 422:
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return any(e.get("pointer") == "/url" and "does not resolve" in e.get("detail", "")
               for e in errors)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure except the examples' documented refusals (see above)."""
    if _unresolvable_example_webhook(case, response) or _import_date_far_from_now(case, response):
        return False
    meta = case.meta
    example_import = (
        meta is not None
        and meta.phase.name == "examples"
        and (case.operation.method.upper(), case.operation.path)
        == ("POST", "/v1/brands/{brand_id}/accounts")
        and response.status_code == 422
        and response.headers.get("content-type", [""])[0].startswith("application/problem+json")
    )
    if example_import:
        try:
            kind = response.json().get("type", "")
        except ValueError:
            kind = ""
        if kind.endswith("/grant-rejected"):
            return False
    return True
