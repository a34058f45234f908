"""The program: its current document, publishing new versions, and simulating drafts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from patron.api.deps import Admin, Analyst, Reader, problem_responses
from patron.errors import InvalidInput, PatronError
from patron.flows import replay
from patron.flows import replay_schemas
from patron.flows.publish_checks import require_publishable
from patron.program import schemas
from patron.program.intake import (
    MAX_DOCUMENT_BYTES,
    DocumentTooLarge,
    problem_list,
    require_document,
)
from patron.program.versions import ProgramVersion, get_version, list_versions, publish
from patron.program.document import program_json_schema
from patron.schemas_common import Text

router = APIRouter(prefix="/program", tags=["program"])

MAX_VERSION = 2**31 - 1
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="The version's number")]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class UnsupportedDocumentType(PatronError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


def _version(version: ProgramVersion) -> schemas.ProgramVersion:
    return schemas.ProgramVersion(
        version=version.version, checksum=version.checksum, published_at=version.published_at,
        published_by=version.published_by, note=version.note, document=version.document,
        source=version.source)


@router.get("", response_model=schemas.Program, responses=problem_responses(401, 403))
def get_program(ctx: Reader) -> schemas.Program:
    """The program this API key belongs to: its settings and current document."""
    def work(conn, program):
        return program, get_version(conn, program)
    program, current = ctx.read(work)
    return schemas.Program(id=program.id, slug=program.slug, name=program.name,
                           version=program.version, settings=program.settings,
                           created_at=program.created_at, document=current.document,
                           source=current.source)


async def _document_body(request: Request) -> bytes:
    """The raw body, refused past ``MAX_DOCUMENT_BYTES`` without reading the rest."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(f"a program document is at most {MAX_DOCUMENT_BYTES:,} bytes")
    return bytes(body)


_DOCUMENT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "description": "A program document; its JSON Schema is "
                                         "GET /api/v1/program/schema"}},
    "application/yaml": {"schema": {"type": "string", "description": "The same, as YAML"}},
}}}


@router.put("", response_model=schemas.PublishedVersion, openapi_extra=_DOCUMENT_BODY,
            responses={201: {"description": "Published as a new version",
                             "model": schemas.PublishedVersion},
                       **problem_responses(401, 403, 409, 413, 415, 422)})
def publish_program(ctx: Admin, response: Response,
                    body: Annotated[bytes, Depends(_document_body)],
                    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
                    note: Annotated[Text | None, Query(
                        max_length=500, description="Why this version (kept with it)")] = None
                    ) -> schemas.PublishedVersion:
    """Publish a program document (JSON, or YAML with ``Content-Type: application/yaml``).

    The document is validated first: 422 ``invalid_program_document`` lists every
    problem as ``{path, message}``. A valid document becomes the next version (201)
    and is current from now on; events are evaluated by the version current when
    they occurred. Sending the current document again publishes nothing and
    answers 200 with that version, so retries are safe. A version cannot change
    the program's currency (409 ``currency_change``).
    """
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in YAML_TYPES:
        filename = "program.yaml"
    elif media == "application/json" or media.endswith("+json"):
        filename = "program.json"
    else:
        raise UnsupportedDocumentType(f"send the document as application/json or "
                                      f"application/yaml, not {media}")
    document, warnings = require_document(body, filename)
    source = body.decode("utf-8")

    def work(conn, program):
        require_publishable(conn, program.id, document)
        return publish(conn, program, document, actor=ctx.principal.actor, now=ctx.clock.now(),
                       source=source, note=note)
    version, created = ctx.write(work)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/api/v1/program/versions/{version.version}"
    return schemas.PublishedVersion(**_version(version).model_dump(), created=created,
                                    warnings=problem_list(warnings))


@router.get("/schema", response_model=dict[str, Any], responses=problem_responses(401, 403))
def get_schema(ctx: Reader) -> dict[str, Any]:
    """The JSON Schema of program documents, for editors and CI checks."""
    return program_json_schema()


@router.get("/versions", response_model=schemas.ProgramVersionPage,
            responses=problem_responses(401, 403, 422))
def get_versions(ctx: Reader,
                 before: Annotated[int | None, Query(ge=1, le=MAX_VERSION, description=(
                     "Only versions older than this one (a page's next_cursor)"))] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> schemas.ProgramVersionPage:
    """Published versions, newest first, without their documents."""
    found = ctx.read(lambda conn, program: list_versions(conn, program, before, limit + 1))
    items = [schemas.ProgramVersionSummary(
        version=v.version, checksum=v.checksum, published_at=v.published_at,
        published_by=v.published_by, note=v.note) for v in found[:limit]]
    more = len(found) > limit
    return schemas.ProgramVersionPage(items=items,
                                      next_cursor=items[-1].version if more else None)


@router.get("/versions/{version}", response_model=schemas.ProgramVersion,
            responses=problem_responses(401, 403, 404, 422))
def get_program_version(version: VersionNumber, ctx: Reader) -> schemas.ProgramVersion:
    """One published version with its document (and the YAML it came from)."""
    return _version(ctx.read(lambda conn, program: get_version(conn, program, version)))


@router.post("/simulate", response_model=replay_schemas.SimulationComparison,
             responses=problem_responses(401, 403, 413, 422))
def simulate(payload: replay_schemas.SimulationRequest,
             ctx: Analyst) -> replay_schemas.SimulationComparison:
    """Replay events through a draft document beside the current version. Writes nothing.

    Give ``events`` (up to 10,000, in occurred_at order), or ``from``/``to`` to
    replay the events the program recorded in those days (up to 366 days and
    50,000 events; ``patron program simulate`` streams any number). Reports,
    for the draft and the current version: points per rule, their cost in
    money, members affected, members who would earn nothing, the largest
    single awards, and points per tier.

    Each member is evaluated with the tier and paid plan Patron recorded for
    them when each event occurred (tiers are not recomputed from the replay),
    read through each document's own ladder and plans: an event whose member
    held a tier or plan the draft lacks runs without it and is counted in
    ``tiers_not_in_document`` / ``plans_not_in_document``.
    """
    if payload.events is not None and (payload.start or payload.end):
        raise InvalidInput("give events, or from/to to replay recorded events, not both",
                           field="events")
    draft, _ = require_document(payload.document, "draft.yaml")
    given = ([event.model_dump() for event in payload.events]
             if payload.events is not None else None)

    def work(conn, program):
        current = get_version(conn, program)
        if given is not None:
            history = replay.given_events(given, conn, program.id)
        else:
            today = ctx.clock.now().astimezone(program.settings.zone).date()
            start, end = replay.recorded_range(program.settings.zone, payload.start,
                                                   payload.end, today)
            history = replay.recorded_events(conn, program.id, start, end,
                                                 max_events=replay.MAX_API_EVENTS)
        return replay.compare(draft, history, current=current)
    return ctx.read(work)
