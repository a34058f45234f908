"""Analytics pages: each report's figures, one of its tables, a chart of it, and its CSV.

Every page is ``patron.analytics.service.run_report`` and ``patron.analytics.render``,
the same report and the same CSV that ``GET /api/v1/analytics/{report}?format=csv``
and ``patron analytics`` give, so a download from the console matches the API's.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from patron.analytics import render as tabular
from patron.analytics.query import REPORTS, ReportQuery
from patron.analytics.service import UnknownReport, run_report
from patron.auth.service import Permission
from patron.auth.staff import StaffSession
from patron.errors import PatronError
from patron.program.service import get_program
from patron.web.pages import render
from patron.web.session import Staff

router = APIRouter(prefix="/analytics")
ReportName = Annotated[str, Path(max_length=40)]
Day = Annotated[date | None, Query()]
TableName = Annotated[str | None, Query(max_length=40)]
SHOWN_ROWS = 200
CHARTED_ROWS = 120
SERIES = 3


def _report(request: Request, session: StaffSession, name: str, start: date | None,
            end: date | None) -> Any:
    session.require(Permission.ANALYTICS)
    if name not in REPORTS:
        raise UnknownReport(f"there is no report {name!r}; reports: {', '.join(REPORTS)}")
    state = request.app.state
    query = ReportQuery(start=start, end=end)
    return state.db.read(lambda conn: run_report(
        conn, get_program(conn, session.program_id), name, query, state.clock.now()))


def _is_id(column: str) -> bool:
    return column == "id" or column.endswith("_id")


def title(name: str) -> str:
    return name.upper() if name in ("rfm", "clv") else name.replace("-", " ").capitalize()


def chart_of(columns: list[str], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first column as labels and up to three numeric columns as series; None when the
    table is too long or too short to be worth a picture, or holds no numbers."""
    if not 2 <= len(rows) <= CHARTED_ROWS or not columns or _is_id(columns[0]):
        return None  # one row per member (rfm, clv) is a list to read, not a series
    numeric = [c for c in columns[1:] if not _is_id(c) and all(
        isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows)]
    if not numeric:
        return None
    return {"labels": [str(r.get(columns[0])) for r in rows],
            "series": [[c.replace("_", " "), [r[c] for r in rows]] for c in numeric[:SERIES]]}


@router.get("", response_class=HTMLResponse)
def reports(request: Request, session: Staff) -> HTMLResponse:
    """The reports there are."""
    session.require(Permission.ANALYTICS)
    return render(request, "reports.html", reports=REPORTS, title=title)


@router.get("/{name}.csv")
def report_csv(request: Request, session: Staff, name: ReportName, start: Day = None,
               end: Day = None, table: TableName = None) -> Response:
    """One table of the report as CSV, as the API's ``format=csv`` gives it."""
    report = _report(request, session, name, start, end)
    chosen, _ = tabular.table(report, table)
    return Response(tabular.to_csv(report, table), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}-{chosen}.csv"'})


@router.get("/{name}", response_class=HTMLResponse)
def report_page(request: Request, session: Staff, name: ReportName, start: Day = None,
                end: Day = None, table: TableName = None) -> HTMLResponse:
    """The report's figures and one of its tables (its main one unless ``table`` names
    another), with a chart where the table is a short series."""
    try:
        report = _report(request, session, name, start, end)
        chosen, rows = tabular.table(report, table)
    except PatronError as error:
        if error.status not in (400, 422):
            raise
        return render(request, "report.html", 200, name=name, title=title,
                      error=error.detail, start=start, end=end, reports=REPORTS)
    flat = [tabular.flat_row(row) for row in rows]
    columns = tabular.columns(rows)
    return render(request, "report.html", name=name, title=title, reports=REPORTS,
                  start=start, end=end, header=tabular.header(report),
                  figures=tabular.figures(report), tables=list(tabular.tables(report)),
                  table=chosen, columns=columns, rows=flat[:SHOWN_ROWS], total_rows=len(flat),
                  chart=chart_of(columns, flat), money_columns=tabular.MONEY_FIELDS)
