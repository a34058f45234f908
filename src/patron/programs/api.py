from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from patron.api.deps import Reader, problem_responses
from patron.programs.domain import ProgramSettings

router = APIRouter(prefix="/program", tags=["program"])


class ProgramOut(BaseModel):
    id: int
    slug: str
    name: str
    settings: ProgramSettings
    created_at: datetime


@router.get("", response_model=ProgramOut, responses=problem_responses(401, 403))
def get_program(ctx: Reader) -> ProgramOut:
    """The program this API key belongs to, with its settings."""
    program = ctx.read(lambda conn, program: program)
    return ProgramOut(id=program.id, slug=program.slug, name=program.name,
                      settings=program.settings, created_at=program.created_at)
