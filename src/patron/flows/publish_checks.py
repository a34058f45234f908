"""Checks on a program document that need the database, run when it is published.

The program package sits below segments, so validation cannot ask whether a
campaign's target segment exists; publishing (which has a database at hand)
asks here, and refuses the document the same way validation does.
"""

from __future__ import annotations

from sqlalchemy import Connection

from patron.program.document import ProgramDocument
from patron.program.intake import InvalidProgramDocument, problem_list
from patron.program.validate import Problem
from patron.segments.membership import SegmentNotFound, segment_id


def require_publishable(conn: Connection, program_id: int, document: ProgramDocument) -> None:
    """Raise ``InvalidProgramDocument`` (422) for a campaign naming an unknown segment."""
    problems = []
    for n, campaign in enumerate(document.campaigns):
        if campaign.segment is None:
            continue
        try:
            segment_id(conn, program_id, campaign.segment)
        except SegmentNotFound:
            problems.append(Problem(f"campaigns[{n}].segment",
                                    f"unknown segment {campaign.segment!r}; create it first"))
    if problems:
        listed = problem_list(problems)
        for item in listed:
            item["code"] = "unknown_segment"
        raise InvalidProgramDocument(
            f"{len(problems)} problem(s) in the program document; first: {problems[0]}",
            problems=listed)
