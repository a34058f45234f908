"""The program editor: the current document as YAML, validated, simulated and published.

Every step calls what ``patron program`` and ``/api/v1/program`` call, so the
console, the CLI and the API never disagree: ``check_document`` and the publish
checks for validation, ``replay.compare`` over recorded events for a simulation
(with the API's limits: 366 days, 50,000 events), and ``versions.publish`` for
publishing, which publishes nothing when the text equals the current version.
Problems are shown as ``path: message``; the path is looked up in the YAML to
give the line it is on, so a click puts the cursor there.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from patron.auth.service import Permission
from patron.auth.staff import StaffSession
from patron.errors import InvalidInput, PatronError
from patron.flows import replay
from patron.flows.publish_checks import require_publishable
from patron.program.document import ProgramDocument
from patron.program.intake import (MAX_DOCUMENT_BYTES, InvalidProgramDocument, check_document,
                                   problem_list)
from patron.program.service import get_program
from patron.program.versions import (ProgramVersion, document_json, get_version,
                                     list_versions, publish)
from patron.schemas_common import MAX_INT
from patron.web.pages import render
from patron.web.session import Admin, Staff, StaffPost

router = APIRouter(prefix="/program")
Source = Annotated[str, Form(max_length=MAX_DOCUMENT_BYTES)]
VERSIONS_PAGE = 50
_LAST_PART = re.compile(r"(\.[^.\[]*|\[\d+\])$")
_AT_LINE = re.compile(r" at (\d+):\d+")


# --- problems and their lines --------------------------------------------------------------


def source_of(version: ProgramVersion) -> str:
    """The YAML a version was published from, or its document written as YAML."""
    if version.source:
        return version.source
    return yaml.safe_dump(document_json(version.document), sort_keys=False, allow_unicode=True)


def _walk(node: yaml.Node, path: str, lines: dict[str, int], seen: set[int]) -> None:
    if id(node) in seen:  # an alias: its lines are where the anchor is
        return
    seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            lines.setdefault(child, key.start_mark.line + 1)
            _walk(value, child, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            _walk(item, f"{path}[{n}]", lines, seen)


def path_lines(text: str) -> dict[str, int]:
    """Each path in the YAML (``earn_rules[0].points``) and the line it starts on."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _walk(root, "", lines, set())
    except (yaml.YAMLError, RecursionError):
        return lines
    return lines


def line_of(path: str, message: str, lines: dict[str, int]) -> int | None:
    """The line of ``path``, or of its nearest enclosing part; a syntax error's own line."""
    if not path:
        found = _AT_LINE.search(message)
        return int(found.group(1)) if found else None
    while path:
        if path in lines:
            return lines[path]
        shorter = _LAST_PART.sub("", path)
        if shorter == path:
            return None
        path = shorter
    return None


def with_lines(text: str, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = path_lines(text) if problems else {}
    return [{**p, "line": line_of(p["path"], p["message"], lines)} for p in problems]


def check(request: Request, session: StaffSession, text: str
          ) -> tuple[ProgramDocument | None, list[dict[str, Any]]]:
    """The document (None if it has errors) and every problem, publish checks included."""
    document, found = check_document(text)
    problems = problem_list(found)
    if document is not None:
        try:
            request.app.state.db.read(
                lambda conn: require_publishable(conn, session.program_id, document))
        except InvalidProgramDocument as refused:
            problems += refused.extra.get("problems", [])
            document = None
    return document, with_lines(text, problems)


# --- the editor ----------------------------------------------------------------------------


def _defaults(request: Request, session: StaffSession) -> dict[str, Any]:
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        return dict(program=program, current=get_version(conn, program))
    found = state.db.read(read)
    today = state.clock.now().astimezone(found["program"].settings.zone).date()
    return dict(found, sim_from=today - timedelta(days=replay.DEFAULT_DAYS - 1), sim_to=today,
                may_publish=session.may(Permission.ADMIN),
                may_simulate=session.may(Permission.ANALYTICS))


def _editor(request: Request, session: StaffSession, **context: Any) -> HTMLResponse:
    page = _defaults(request, session)
    context.setdefault("source", source_of(page["current"]))
    return render(request, "program.html", **page, **context)


@router.get("", response_class=HTMLResponse)
def editor(request: Request, session: Staff,
           published: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
           created: Annotated[bool, Query()] = True) -> HTMLResponse:
    """The current version's YAML; admins may edit and publish it."""
    return _editor(request, session, published=published, created=created)


@router.post("/validate", response_class=HTMLResponse)
def validate(request: Request, session: StaffPost, source: Source) -> HTMLResponse:
    """Every problem, as the problems panel (htmx swaps it in beside the editor)."""
    _, problems = check(request, session, _lf(source))
    return render(request, "editor_problems.html", problems=problems, checked=True)


def _lf(text: str) -> str:
    """Browsers send a textarea's lines ending in CRLF; documents are stored with LF."""
    return text.replace("\r\n", "\n")


@router.post("/publish", response_class=HTMLResponse)
def publish_draft(request: Request, session: Admin, source: Source,
                  note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Publish as the next version; with problems, nothing is published and they show."""
    text, state = _lf(source), request.app.state
    document, problems = check(request, session, text)
    refused = dict(source=text, note=note, problems=problems, checked=True,
                   publish_error="Not published: fix the problems first.")
    if document is None:
        return _editor(request, session, **refused)

    def write(conn: Connection) -> tuple[ProgramVersion, bool]:
        require_publishable(conn, session.program_id, document)
        return publish(conn, get_program(conn, session.program_id), document,
                       actor=session.actor, now=state.clock.now(), source=text,
                       note=note.strip() or None)
    try:
        version, created = state.db.transact(write)
    except PatronError as error:
        problem = {"path": error.extra.get("field", ""), "message": error.detail,
                   "severity": "error"}
        return _editor(request, session, **{**refused, "problems": with_lines(text, [problem])})
    return RedirectResponse(f"/console/program?published={version.version}"
                            f"&created={str(created).lower()}", status_code=303)


# --- simulating a draft --------------------------------------------------------------------


def _day(text: str, name: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-03-01", field=name) from None


def _simulate(request: Request, session: StaffSession, document: ProgramDocument,
              start: date | None, last: date | None) -> dict[str, Any]:
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        today = state.clock.now().astimezone(program.settings.zone).date()
        begin, end = replay.recorded_range(program.settings.zone, start,
                                           last + timedelta(days=1) if last else None, today)
        history = replay.recorded_events(conn, program.id, begin, end,
                                         max_events=replay.MAX_API_EVENTS)
        return dict(program=program, report=replay.compare(
            document, history, current=get_version(conn, program)))
    return state.db.read(read)


def chart_of(report: Any) -> dict[str, Any]:
    """Cost per rule that cost anything, current beside draft, in minor units (the page
    divides for display); rules that cost nothing either way stay in the table only."""
    costs = [(r.rule_name, r.current.cost_minor if r.current else 0,
              r.draft.cost_minor if r.draft else 0) for r in report.rules]
    shown = [cost for cost in costs if cost[1] or cost[2]]
    return {"labels": [c[0] for c in shown], "current": [c[1] for c in shown],
            "draft": [c[2] for c in shown]}


@router.post("/simulate", response_class=HTMLResponse)
def simulate(request: Request, session: StaffPost, source: Source,
             start: Annotated[str, Form(alias="from", max_length=10)] = "",
             last: Annotated[str, Form(alias="to", max_length=10)] = "") -> HTMLResponse:
    """The draft replayed over the recorded events of the days chosen, beside the current
    version, as the simulation panel. Writes nothing."""
    session.require(Permission.ANALYTICS)
    text = _lf(source)
    document, problems = check(request, session, text)
    if document is None:
        return render(request, "editor_simulation.html", problems=problems)
    try:
        found = _simulate(request, session, document, _day(start, "from"), _day(last, "to"))
    except PatronError as error:
        return render(request, "editor_simulation.html", error=error.detail)
    settings = found["program"].settings
    return render(request, "editor_simulation.html", **found, chart=chart_of(found["report"]),
                  currency=settings.currency, exponent=settings.minor_exponent)


# --- versions ------------------------------------------------------------------------------


def diff_lines(before: str, after: str, old: str, new: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line): kind is head, hunk, add, del or same."""
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), fromfile=old,
                                     tofile=new, lineterm=""):
        if line.startswith(("---", "+++")):
            kind = "head"
        else:
            kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        out.append((kind, line))
    return out


@router.get("/versions", response_class=HTMLResponse)
def versions(request: Request, session: Staff,
             before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None) -> HTMLResponse:
    """Published versions, newest first."""
    found = request.app.state.db.read(lambda conn: list_versions(
        conn, get_program(conn, session.program_id), before, VERSIONS_PAGE + 1))
    older = found[VERSIONS_PAGE - 1].version if len(found) > VERSIONS_PAGE else None
    return render(request, "program_versions.html", versions=found[:VERSIONS_PAGE],
                  older=older)


@router.get("/versions/{number}", response_class=HTMLResponse)
def version(request: Request, session: Staff,
            number: Annotated[int, Path(ge=1, le=MAX_INT)]) -> HTMLResponse:
    """One version's YAML and what changed since the version before it."""
    def read(conn: Connection) -> tuple[ProgramVersion, ProgramVersion | None]:
        program = get_program(conn, session.program_id)
        shown = get_version(conn, program, number)
        return shown, get_version(conn, program, number - 1) if number > 1 else None
    shown, previous = request.app.state.db.read(read)
    diff = diff_lines(source_of(previous) if previous else "", source_of(shown),
                      f"version {number - 1}" if previous else "(nothing)",
                      f"version {number}")
    return render(request, "program_version.html", shown=shown, previous=previous,
                  source=source_of(shown), diff=diff)
