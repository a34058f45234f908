"""CDNOW through the real pipeline reproduces Fader, Hardie & Lee (2005).

The 2,357-customer CDNOW sample shipped in the ``lifetimes`` wheel is written
out as a CSV of purchases, imported with ``patron import``'s service (one
member per customer enrolled by external id, one purchase event per
transaction), stored in the database, and the ``clv`` report fitted on
purchases up to 1997-09-30 in weeks. Published: BG/NBD r = 0.243, α = 4.414,
a = 0.793, b = 2.426, log-likelihood −9582.4; Gamma-Gamma p = 6.25, q = 3.74,
γ = 15.44 (on the 946 customers with repeat purchases).
"""

from __future__ import annotations

import csv
from datetime import date
from importlib.resources import files

import pytest

from patron.analytics.schemas import ReportQuery
from patron.analytics.service import run_report
from patron.imports import domain, service
from tests.conftest import T0, make_program

pytestmark = pytest.mark.filterwarnings("ignore:The .mode.chained_assignment. option")

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
                   "log_likelihood": -9582.4}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    source = files("lifetimes") / "datasets" / "CDNOW_sample.txt"
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["customer", "date", "cds", "dollars"])
        for line in source.read_text().splitlines():
            _, customer, day, cds, dollars = line.split()
            writer.writerow([customer, day, cds, dollars])
    return path


@pytest.mark.slow
def test_cdnow_clv_reproduces_the_published_parameters(database, clock, cdnow_csv):
    program = make_program(database, clock, pending_days=0)
    columns = domain.mapping("event", ["external_id=customer", "occurred_at=date",
                                       "total=dollars", "quantity=cds"],
                             ["type=purchase", "channel=mail"], money="major",
                             time_format="%Y%m%d")
    summary = service.import_events(
        database, program, service.Source(service.read_records(cdnow_csv, "csv"), "csv",
                                          columns), now=clock.now, actor="test")
    assert (summary.imported, summary.enrolled, summary.rejected) == (6919, 2357, 0)
    assert summary.points == 0  # 1997 is before the program: recorded, not earned

    query = ReportQuery(calibration_end=date(1997, 9, 30), end=date(1998, 6, 30),
                        time_unit="week", limit=10)
    report = database.read(lambda conn: run_report(conn, program, "clv", query, T0))

    bg, gg = report.bgnbd.model_dump(), report.gamma_gamma.model_dump()
    for name, published in PUBLISHED_BGNBD.items():
        assert bg[name] == pytest.approx(published, rel=0.01), name
    for name, published in PUBLISHED_GG.items():
        assert gg[name] == pytest.approx(published, rel=0.01), name
    assert (bg["customers"], gg["customers"]) == (2357, 946)
    # the 39-week holdout: 1,882 repeat purchase days happened; the model expects ~1,653
    assert report.summary.holdout_purchases == 1882
    assert report.summary.holdout_expected_purchases == pytest.approx(1653, rel=0.01)
    top = report.members[0]
    assert 0 < top.probability_alive <= 1 and top.expected_value > 0
