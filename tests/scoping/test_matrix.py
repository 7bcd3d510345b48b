"""Authorization matrix: EVERY route of the app × role × (own vs other institution).

Routes are discovered from ``app.routes`` at run time, so a new endpoint is covered the day it is
added. For each route and acting role the test sends the request twice: with the home institution's
objects (must not 500; anonymous must get 401) and with the other institution's objects in the path,
the query and the body (must never be 2xx, must not 500). Responses are also scanned for the marker
string that every object of the other institution carries, so list endpoints that leak rows are
caught too. A route whose path cannot be built must be listed in ``UNBUILDABLE`` with a reason.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.conftest import DbUnderTest
from tests.scoping.world import LEAK_MARKER, Side, World, build_world

ROLES = ["anonymous", "pathologist", "admin", "network_admin"]

# Reachable without a session (anything else must answer 401 to an anonymous caller).
PUBLIC: dict[str, str] = {
    "/api/health": "liveness probe",
    "/api/auth/login": "logging in",
    "/api/auth/logout": "idempotent: clears the cookie, revokes only the token it was sent",
    "/api/openapi.json": "API contract for the generated client",
    "/api/docs": "Swagger UI (reads openapi.json only)",
    "/docs/oauth2-redirect": "Swagger UI helper page",
    "/redoc": "ReDoc page (reads openapi.json only)",
    "/{path:path}": "built front end (static files, SPA fallback)",
}

# (method, path) → why the matrix cannot build a meaningful request. Keep this short.
UNBUILDABLE: dict[tuple[str, str], str] = {}

# The research-network admin reads across institutions by design (Role.network_admin; reports/alerts access
# rules), so their cross-institution GETs are allowed, except on routes listed in NETWORK_STRICT whose data
# reaches the network only through the de-identified research export.
NETWORK_STRICT: tuple[str, ...] = (
    "/api/cases/{case_id}/clinical",
    "/api/cases/{case_id}/proteinuria-outlook",
    "/api/clinical/",
)
# Cross-institution WRITES a network admin may make, each by design. Everything else must fail.
NETWORK_WRITES: dict[tuple[str, str], str] = {
    ("PATCH", "/api/admin/users/{user_id}"): "network admins manage user accounts of every institution",
    ("PUT", "/api/admin/institutions/{institution_id}/settings"): "network admins manage every institution",
}


def network_admin_may(ep: Endpoint) -> bool:
    """Whether a network admin may act on the other institution's objects through ``ep``."""
    if ep.key in NETWORK_WRITES:
        return True
    return ep.method in ("GET", "HEAD") and not ep.path.startswith(NETWORK_STRICT)


# Literal values for path parameters that do not name a scoped object.
LITERALS: dict[str, Any] = {"name": "thumbnail", "level": 0, "col": 0, "row": 0, "path": "index.html"}

# Request bodies the generic OpenAPI example would get wrong; a function of the side whose ids it names.
BODIES: dict[str, Any] = {
    "putClinical": lambda side: {"age_years": 40, "sex": "female", "creatinine_mg_dl": 0.8},
    "addClinicalFollowup": lambda side: {"measured_on": "2025-07-01", "creatinine_mg_dl": 1.0},
    "importClinicalCsv": lambda side: f"case_number,age_years\n{side.case_number},41\n",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation_id: str | None
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    body_media: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, path) the app serves, including included routers, with what each needs."""
    spec = app.openapi()["paths"]
    for rc in iter_route_contexts(app.routes):
        path = rc.path
        if path is None:
            continue
        route = rc.original_route
        dependant = getattr(route, "dependant", None)
        for method in sorted(getattr(rc, "methods", None) or getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD" and "GET" in (rc.methods or ()):
                continue  # Starlette's implicit HEAD for GET routes
            op = spec.get(path, {}).get(method.lower(), {})
            content = op.get("requestBody", {}).get("content", {})
            yield Endpoint(
                method, path, op.get("operationId"),
                tuple(re.findall(r"{(\w+)(?::\w+)?}", path)),
                tuple(p.alias or p.name for p in getattr(dependant, "query_params", [])) if dependant else (),
                next(iter(content), None),
            )


def example(schema: dict[str, Any], spec: dict[str, Any], side: Side, used: list[str], depth: int = 0) -> Any:
    """A minimal valid instance of an OpenAPI schema; id-like fields point at ``side``'s objects (noted in ``used``)."""
    if depth > 6:
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return example(spec["components"]["schemas"][name], spec, side, used, depth + 1)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example(options[0], spec, side, used, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    t = schema.get("type")
    if t == "object" or "properties" in schema:
        out = {}
        for prop in schema.get("required", []):
            sub = schema.get("properties", {}).get(prop, {})
            if prop in side.params and not isinstance(side.params[prop], dict):
                used.append(prop)
                out[prop] = side.params[prop]
            else:
                out[prop] = example(sub, spec, side, used, depth + 1)
        return out
    if t == "array":
        return [example(schema.get("items", {}), spec, side, used, depth + 1) for _ in range(schema.get("minItems", 0))]
    if t == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if t == "number":
        return float(schema.get("minimum", 1.0))
    if t == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "date":
        return "2025-01-01"
    if fmt == "date-time":
        return "2025-01-01T00:00:00Z"
    if fmt == "email":
        return "matrix@example.com"
    return "x" * max(int(schema.get("minLength", 1)), 1)


def build_request(ep: Endpoint, side: Side, role: str, spec: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
    """(request addressing ``side``'s objects, whether it names any of them), or None for an unknown path parameter.

    A request that names none of the side's objects (``/api/auth/me``) is the same for both sides; only the
    marker scan applies to it.
    """
    url = ep.path
    used: list[str] = []
    for p in ep.path_params:
        if p in side.params:
            used.append(p)
            v = side.params[p]
            v = v.get(role, v.get("pathologist")) if isinstance(v, dict) else v
        elif p in LITERALS:
            v = LITERALS[p]
        else:
            return None
        url = re.sub(r"{" + p + r"(?::\w+)?}", str(v), url)
    params = {q: side.params[q] for q in ep.query_params if q in side.params and not isinstance(side.params[q], dict)}
    used += list(params)
    req: dict[str, Any] = {"method": ep.method, "url": url, "params": params}
    if ep.method in ("POST", "PUT", "PATCH"):
        if ep.operation_id in BODIES:
            body = BODIES[ep.operation_id](side)
            used.append("body")
            if isinstance(body, str):
                req["content"], req["headers"] = body, {"content-type": "text/csv"}
            else:
                req["json"] = body
        elif ep.body_media == "application/json":
            op = spec["paths"][ep.path][ep.method.lower()]
            req["json"] = example(op["requestBody"]["content"]["application/json"]["schema"], spec, side, used)
        else:
            req["json"] = {}
    return req, bool(used)


def body_text(r: Any) -> str:
    """Response text to scan for the marker, unzipping archives (the research export is deflated)."""
    if r.headers.get("content-type", "").startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            return "".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())
    return r.content.decode("utf-8", "replace")


@pytest.fixture
def world(db: DbUnderTest) -> World:
    return build_world()


def run_matrix(world: World, role: str) -> tuple[list[str], set[tuple[str, str]], int, int]:
    """(problems, unbuildable routes, requests checked, endpoints) for one acting role."""
    from app.main import create_app

    app = create_app()
    spec = app.openapi()
    eps = list(endpoints(app))
    problems: list[str] = []
    unbuildable: set[tuple[str, str]] = set()
    checked = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        for ep in eps:
            for which, side in (("own", world.home), ("other", world.other)):
                built = build_request(ep, side, role, spec)
                if built is None:
                    unbuildable.add(ep.key)
                    break
                req, names_side = built
                if ep.key in UNBUILDABLE:
                    break
                headers = dict(req.pop("headers", {}))
                if role != "anonymous":
                    headers["Authorization"] = f"Bearer {world.token(world.home.users[role])}"
                r = client.request(**req, headers=headers)
                checked += 1
                where = f"{role} {which} {ep.method} {req['url']} {req['params'] or ''} → {r.status_code}"
                if r.status_code >= 500:
                    problems.append(f"{where}: server error {r.text[:200]}")
                    continue
                if role == "anonymous":
                    if ep.path not in PUBLIC and r.status_code != 401:
                        problems.append(f"{where}: anonymous must get 401")
                    continue
                if role == "network_admin" and network_admin_may(ep):
                    continue
                # A response may echo what the caller sent; only unsolicited markers are leaks.
                echoed = LEAK_MARKER in json.dumps(req, default=str)
                if which == "other" and names_side and 200 <= r.status_code < 300 and ep.path not in PUBLIC:
                    problems.append(f"{where}: cross-institution request succeeded")
                text = body_text(r)
                if LEAK_MARKER in text and not echoed and ep.path not in PUBLIC:
                    i = text.find(LEAK_MARKER)
                    problems.append(f"{where}: response contains another institution's data: {text[max(i - 80, 0):i + 40]!r}")
    return problems, unbuildable, checked, len(eps)


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(world: World, role: str) -> None:
    problems, unbuildable, checked, n_eps = run_matrix(world, role)
    assert n_eps > 10, "route discovery found almost nothing"
    missing = sorted(unbuildable - set(UNBUILDABLE))
    assert not missing, "routes the matrix cannot build; add a path builder or list them in UNBUILDABLE: " + \
        json.dumps(missing)
    assert checked >= 2 * (n_eps - len(UNBUILDABLE))
    assert not problems, f"{len(problems)} authorization problems:\n" + "\n".join(problems)


def test_matrix_catches_a_planted_scoping_bug(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix has teeth: a case lookup that forgets the institution is reported on every clinical route."""
    from app.clinical import service
    from app.db.models import Case
    from app.errors import NotFound

    def unscoped(session: Any, user: Any, case_id: int) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound("no case")
        return case  # type: ignore[no-any-return]

    monkeypatch.setattr(service, "scoped_case", unscoped)
    monkeypatch.setattr("app.clinical.outlook.scoped_case", unscoped)
    problems, *_ = run_matrix(world, "pathologist")
    flagged = {p.split(" → ")[0].split(" ", 3)[3].split(" ")[0] for p in problems}
    other_case = world.other.params["case_id"]
    assert {f"/api/cases/{other_case}/clinical", f"/api/cases/{other_case}/proteinuria-outlook",
            f"/api/cases/{other_case}/clinical/followups"} <= flagged, problems
