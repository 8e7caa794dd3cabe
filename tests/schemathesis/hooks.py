"""Schemathesis hooks for tests/schemathesis/run.sh, which names this file in its config.

Some rules depend on what is stored when the call is made, which no description can state.
A generated call that means to be valid (a positive case) is given, just before it is sent,
what a client would know at that moment, so that it reaches the operation's other rules;
calls meant to be invalid are sent as generated. Each rule, and what the call is given:

- A write that names a version in If-Match is refused with 412 unless it is the current
  one: If-Match is the ETag a GET gives now, or left out where there is nothing to read.
- A trend's `to` must come after its `from`, and the period as long before it must not
  start before 1970: a pair that breaks either is replaced by a known period.
- A rating's value must be on its line's scale: the known request of a line whose scale
  takes the value is answered.
- Ids must name what exists (a rating, helpdesk or subscription in a path; a
  subscription's lines, an inbox action's ratings, the person who wrote or decided in a
  body), and a new helpdesk or subscription needs its token or secret, which a stored one
  keeps: the examples and coverage phases, which do not draw from the config's
  dictionaries, are given known ids, as the fuzzing phase is four times in five.
- A session is opened on a known line, on a channel this server has enabled (which its
  settings decide) and the line takes (webhook only on a line with a connector), between
  1970 and now: an unknown line becomes a known one, a channel it has not enabled becomes
  one it has, and an `opened_at` out of that span is left out (the server then takes the
  time of the call).
- A person cannot be their own manager: a `manager_id` that names the person written is
  left out (the dictionaries draw both from the same people, so half of such pairs would
  otherwise be refused).
- An `assign` names whom: the run's key is an admin's without a person of its own, so an
  `assign` without `assignee_id` is given the world's supervisor.
- The run's helpdesks and subscription are kept: a DELETE may remove one, and every later
  call to it would then stop at "not found" instead of its rules.

Reads the run's world from the environment (see run.sh): RATELINE_ST_BASE, RATELINE_ST_KEY,
RATELINE_ST_WORLD (JSON).
"""

import datetime
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

import schemathesis
from schemathesis.generation.meta import TestPhase
from schemathesis.generation.modes import GenerationMode

BASE = os.environ["RATELINE_ST_BASE"]
KEY = os.environ["RATELINE_ST_KEY"]
# rated: rating id -> its session; requests: scale -> a request on a line of that scale;
# lines, ratings, people: known ids; kept: path -> the body that makes it; period: [from, to];
# paths: path template -> [parameter, a known value]; channels: those the server enables;
# webhook_lines: the lines with a connector.
WORLD = json.loads(os.environ["RATELINE_ST_WORLD"])
RESPONSE = re.compile(r"^/v1/ratings/([^/]+)/response$")
PERSON = re.compile(r"^/v1/people/([^/]+)$")
SCALES = {"binary": range(0, 2), "five_star": range(1, 6)}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def call(method, path, body=None):
    """The status, headers and JSON body (None when there is none) of one call."""
    request = urllib.request.Request(
        BASE + path,
        method=method,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        data=None if body is None else json.dumps(body).encode(),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
            return answer.status, answer.headers, json.loads(text) if text else None
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, None


def current_version(path):
    """The version If-Match must name for a write to `path` now; None when there is none."""
    response = RESPONSE.match(path)
    if response:
        # A response's version is shown with its rating, in its session; "0": none yet.
        session = WORLD["rated"].get(response.group(1))
        if session is None:
            return None
        status, _, body = call("GET", f"/v1/sessions/{session}")
        if status != 200 or not (body or {}).get("rating"):
            return None
        written = body["rating"].get("response")
        return f'"{written["version"]}"' if written else '"0"'
    status, headers, _ = call("GET", path)
    return headers.get("ETag") if status == 200 else None


def version_to_match(case, path):
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "if-match"), None)
    if name is None or case.method.upper() not in ("PUT", "PATCH", "DELETE"):
        return
    version = current_version(path)
    if version is None:
        del headers[name]
    else:
        headers[name] = version
    case.headers = headers


def time(text):
    """A time as the server reads it (RFC 3339, or a date for its midnight UTC); None if none."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        return None


def period(case):
    query = case.query or {}
    start, end = time(query.get("from")), time(query.get("to"))
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        return
    try:
        fits = end > start and start - (end - start) >= EPOCH
    except OverflowError:
        fits = False
    if not fits:
        query["from"], query["to"] = WORLD["period"]
        case.query = query


def answer_on_scale(case):
    body = case.body
    if not isinstance(body, dict) or body.get("request_id") not in WORLD["requests"].values():
        return
    for scale, request in WORLD["requests"].items():
        if body.get("value") in SCALES[scale]:
            body["request_id"] = request
            return


def session_now(case):
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("line_id"), str) and body["line_id"] not in WORLD["lines"]:
        body["line_id"] = WORLD["lines"][0]
    if isinstance(body.get("channel"), str) and body["channel"] not in WORLD["channels"]:
        body["channel"] = WORLD["channels"][0]
    # Only a line with a connector takes webhook sessions; the web chat's line has none.
    if body.get("channel") == "webhook" and body.get("line_id") not in WORLD["webhook_lines"]:
        body["channel"] = "webchat"
    opened = time(body.get("opened_at"))
    now = datetime.datetime.now(datetime.timezone.utc)
    if opened is not None and (opened.tzinfo is None or not EPOCH <= opened <= now):
        del body["opened_at"]


def known_ids(case, path):
    for template, (parameter, value) in WORLD["paths"].items():
        if case.path.startswith(template):
            case.path_parameters[parameter] = value
    body = case.body
    if not isinstance(body, dict):
        return
    for field, known, where in (
        ("lines", WORLD["lines"], "/v1/subscriptions/"),
        ("rating_ids", WORLD["ratings"], "/v1/ratings/actions"),
    ):
        if path.startswith(where) and isinstance(body.get(field), list):
            body[field] = [known[i % len(known)] for i, _ in enumerate(body[field])]
    for field in ("author_id", "decided_by", "assignee_id"):
        if isinstance(body.get(field), str):
            body[field] = WORLD["people"][0]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if case.meta.phase.name in (TestPhase.EXAMPLES, TestPhase.COVERAGE):
        known_ids(case, case.formatted_path)
    path = case.formatted_path
    if path in WORLD["kept"] and call("GET", path)[0] == 404:
        call("PUT", path, WORLD["kept"][path])
    version_to_match(case, path)
    if path == "/v1/stats/trend":
        period(case)
    if path == "/v1/ratings" and case.method.upper() == "POST":
        answer_on_scale(case)
    if path == "/v1/sessions" and case.method.upper() == "POST":
        session_now(case)
    if path == "/v1/ratings/actions" and case.method.upper() == "POST":
        assignee_named(case)
    person = PERSON.match(path)
    if person and case.method.upper() == "PUT":
        not_own_manager(case, urllib.parse.unquote(person.group(1)))


def assignee_named(case):
    """Gives an assign without an assignee the world's supervisor: the key has no person."""
    body = case.body
    if isinstance(body, dict) and body.get("action") == "assign" and "assignee_id" not in body:
        body["assignee_id"] = WORLD["people"][0]


def not_own_manager(case, person):
    """Leaves out a manager_id that names the person written: nobody manages themselves."""
    if isinstance(case.body, dict) and case.body.get("manager_id") == person:
        del case.body["manager_id"]

