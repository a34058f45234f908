"""The README's examples, tried as a newcomer would: every ```bash block, in order, in one
terminal (what a block sets, the next one sees), in an empty folder with a `.venv` that runs
this checkout, against `patron demo` started as the README says: on SQLite, and on a fresh
PostgreSQL database (PATRON_TEST_DATABASE_URL's server).

A block that cannot run here is marked in the README with
``<!-- readme-test: skip (why) -->`` on the line before it. Each other block must exit 0
(curl fails on an HTTP error, as `--fail-with-body` makes it) and print what the README says
it prints (``CHECKS``). The README names what the demo prints with placeholders, replaced by
what this demo printed (``placeholders``).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import patron
from tests.conftest import _postgres_server_url

README = Path(__file__).parents[1] / "README.md"
FENCE = re.compile(r"^```bash\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>.+)\)\s*-->")
DEMO_MEMBERS = 200
MAX_SKIPS = 2
BLOCK_TIMEOUT = 600
"""A hang guard only: no block is judged by how long it took."""

CHECKS: dict[str, list[str]] = {
    # a phrase that names one block: patterns its output must hold (re.search), or must
    # not hold when they start with "!"
    "patron analytics rfm --program demo-coffee": [
        r"rfm · demo-coffee", r"Champions", r"Double Beans for regulars · running",
        r"spend lift / member \(95%, Welch\)", r"[1-9]\d* pairs at or above 0\.9 among",
        r"wrote pairs\.csv", r"!WARNING"],
    "KEY=ptn_...": [
        r'"given_name":"Ann"', r'"type":"email","value":"ann@example\.com"',
        r'"items":\[\{"id":\d+,"status":"active".*"value":"\+12025550143"',
        r'"id":"pos-4411-0001","status":"processed"', r'"available":0,"pending":[1-9]',
        r'"reason":"1 Bean per \$1: \+12"', r'"kind":"adjust","points":100',
        r'"kind":"spend","points":-50', r'"available":50,'],
    "$API/members/$ID/merges": [
        r'"merges":\[\{"id":\d+,"survivor_id":\d+,"merged_id":\d+,"state":"merged"',
        r'"state":"undone"', r'"undo":\{[^}]*"points_shortfall":0'],  # a JSON column
    "REPORTS=$(patron keys create": [
        r"ptn_[0-9a-f]{12}\s+analyst\s+reports\s+\d{4}-\d\d-\d\d", r"key \d+ revoked",
        r"(?s)revoked.*reports.*reports", r"batch 1: 500 codes of five_off",
        r"wrote 500 codes to batch-1\.csv",
        r"staff account \d+ \(ana@demo-coffee\.example, analyst\) created",
        r"/portal/auth\?token=", r"POST /api/v1/members/\{member_id\}/spends",
        r"release\s+│ accounts \d+"],
    "patron program show --program demo-coffee > coffee.yaml": [
        r"ok: Demo Coffee Rewards, 13 earn rule\(s\)",
        r"tier_bonus\s+│ [\d,]+\s+│ [\d,]+\s+│ \+[1-9]",  # Silver earning more costs more
        r"recorded events \d{4}-\d\d-\d\d \d\d:\d\d → .* · [\d,]+ events",
        r"published version 3",
        r"3 \(current\).*Silver earns 1\.4x", r'earn_multiplier: "1\.25"'],
    "campaigns/regulars_double/assign": [
        r'"id":"regulars_double","name":"Double Beans for regulars"', r'"status":"running"',
        r'"campaign_id":"regulars_double","target":\d+', r'"group":"holdout"',
        r"regulars_double\s+│ [\d-]+ [\d:]+ → [\d-]+ [\d:]+\s+│ running", r"│ treatment │"],
    "patron analytics products": [
        r"(?m)^key,revenue,orders,members,units,discount,share_of_revenue$",
        r"(?m)^retail,\d+,", r"(?m)^cafe,\d+,"],
    "$API/analytics/campaigns/regulars_double": [
        r'"campaign_id": "regulars_double"', r'"spend_lift": \{',
        r'\{"campaign_id":"regulars_double".*"spend_lift":\{"method":"welch"'],
    "tags/vip": [
        r'"tags":\[\{"tag":"vip","source":"manual"', r"member \d+ tagged vip",
        r"1 rows applied, 0 rejected"],
    # the member bought moments before the refresh: a day ago once midnight (UTC) falls between
    "patron features refresh": [
        r"\d+ members, rule tags", r'"recency_days":[01],', r'"frequency":1,"monetary":1250'],
    "segments/preview": [
        r'"members":[1-9]\d*,"sample":\[\d', r'"key":"win-back".*"members":[1-9]',
        r'"key":"win-back","members":\d+,"entered":0,"left":0',
        r'"key":"win-back","items":\[\{"counted_at"', r'"active":false',
        r'"key":"panel","name":"Panel".*"kind":"static"',
        r'"key":"panel","members":3,"entered":3'],
    "$API/households/$HOUSEHOLD/balance": [
        r'"name":"The [A-Z]\w+ family","status":"active","owner_member_id":1,',
        r'"members":\[\{"member_id":1,"role":"owner"[^]]*"role":"adult"[^]]*"role":"child"',
        r'"household_id":\d+,"pooled_points":true,"available":[1-9]',
        r'"member_id":1,"code":"[A-Z0-9]{8}","link":"https://demo-coffee\.example/join\?ref=',
        r'"counts":\{[^}]*"qualified":1', r'"counts":\{[^}]*"pending":1',
        r'"plan_id":"coffee_club","state":"active"',
        r'"member_id":2,"tier":\{"id":"gold","name":"Gold"\},"source":"membership"'],
    "webhooks/event-types": [
        r'"name":"points\.earned","description":',
        r'"event_types":\["points\.earned","tier\.changed"\],"enabled":true,.*"secret":"whsec_',
        r'"reason":"Thanks for your review"',
        r'"items":\[\{"id":\d+,"webhook_id":"msg_\w+","endpoint_id":\d+,'
        r'"event_type":"points\.earned"',
        r'"items":\[\],"next_cursor":null',  # nothing dead
        r'"deliveries":\[', r'"state":"pending","attempts":0,'],
    "patron shops connect shopify": [
        r"connection \d+: shopify my-shop\.myshopify\.com",
        r"webhook path: /api/v1/shops/shopify/\d+",
        r"secret \(shown once, paste it into the webhook\): \S{20,}",
        r"│ woocommerce │ shop\.example\.com",
        r'"topic":"orders/paid".*"status":"processed","events":\[\{'
        r'"id":"shopify:my-shop\.myshopify\.com:order:5001","status":"processed"',
        r'"enrolled":true', r'"reason":"1 Bean per \$1: \+14"'],
    "challenges/three_visits/join": [
        r'\[\{"id":"regular","name":"Regular",', r'"id":"three_visits".*"target":3',
        r'"text":"Three visits a month: \d+ of 3 visits this month"',
        r'\[\{"id":"weekly_coffee","name":"Weekly coffee",', r'"text":"Weekly coffee: '],
    "$API/members/$ID/consents": [
        r'"current":\[[^]]*\{"id":\d+,"channel":"email","purpose":"marketing","granted":true,'
        r'"source":"web","notice":"privacy-2026-01"',
        r'"channel":"sms","purpose":"marketing","granted":false,"source":"web"',
        # her enrolment's consent stays in the history, before the two new decisions
        r'"history":\[\{"id":\d+,"channel":"email","purpose":"marketing","granted":true,'
        r'"source":"web","notice":null,[^]]*"notice":"privacy-2026-01"[^]]*"channel":"sms"'],
    "patron recommendations train": [
        r"lists for \d+ members",
        r'"member_id":42,"basis":"member","model":\{"algorithm":"cosine"',
        r'"rewards":\[\{[^]]*"reward_id":"\w+"',
        r'"categories":\[\{"score":[\d.]+,"reason":"[^"]+","source":"model","category":"\w+"',
        r"member 42: basis member", r"│ 1 │ (drinks|food|beans|merch) "],
}


@dataclass(frozen=True)
class Block:
    line: int
    text: str
    skip: str | None


def readme_blocks(readme: str) -> list[Block]:
    """The ```bash blocks, each with the reason of a skip comment on the line before it."""
    blocks = []
    for found in FENCE.finditer(readme):
        before = readme[:found.start()].rstrip().rsplit("\n", 1)[-1].strip()
        marked = SKIP.fullmatch(before)
        blocks.append(Block(readme.count("\n", 0, found.start()) + 1, found.group("body"),
                            marked.group("reason") if marked else None))
    return blocks


def checks_of(block: Block) -> list[str]:
    return [pattern for phrase, patterns in CHECKS.items() if phrase in block.text
            for pattern in patterns]


def test_every_check_names_one_block_and_skips_say_why():
    """A check that no longer names a block (or names two) fails here, fast, and skips stay
    few, each with its reason."""
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    run = [b for b in blocks if b.skip is None]
    for phrase in CHECKS:
        named = [b.line for b in run if phrase in b.text]
        assert len(named) == 1, (phrase, named)
    skipped = [(b.line, b.skip) for b in blocks if b.skip is not None]
    assert len(skipped) <= MAX_SKIPS, skipped
    assert all(len(reason) >= 10 for _, reason in skipped), skipped
    unchecked = [b.line for b in run if not checks_of(b)]
    assert unchecked == [], f"README blocks at lines {unchecked} have no CHECKS entry"


def test_the_skip_marker_is_read_from_the_line_before_a_block():
    text = ("intro\n<!-- readme-test: skip (serves until stopped) -->\n\n```bash\nserve\n```\n"
            "```bash\necho hi\n```\n```sh\nnot bash\n```\n")
    blocks = readme_blocks(text)
    assert [(b.line, b.text, b.skip) for b in blocks] == [
        (4, "serve\n", "serves until stopped"), (7, "echo hi\n", None)]


# --- the run ------------------------------------------------------------------------------


@dataclass
class Demo:
    port: int
    keys: dict[str, str]
    database: str
    """What the demo printed after `export PATRON_DATABASE_URL=`."""


def _venv(folder: Path) -> Path:
    """`python3 -m venv .venv` as the README says. Instead of `pip install -e .` (which needs
    the package index) its site-packages point at this checkout and at the packages this
    interpreter runs with, and `.venv/bin/patron` is the console script pip would write."""
    venv = folder / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    source = Path(patron.__file__).resolve().parents[1]
    paths = [str(source)] + [p for p in sys.path if p.endswith("site-packages")]
    (site / "patron-checkout.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = venv / "bin" / "patron"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nfrom patron.cli.main import main\n"
                      "main()\n", encoding="utf-8")
    script.chmod(0o755)
    return venv


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _terminal() -> dict[str, str]:
    """A newcomer's terminal: no Patron settings and no PYTHONPATH; wide enough that tables
    do not cut the words the checks look for. The demo's server runs no sweeps of its own,
    so nothing changes under the examples but what they do."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PATRON_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(COLUMNS="200", NO_COLOR="1", PATRON_JOBS_INTERVAL_SECONDS="0",
               PATRON_FEATURES_INTERVAL_SECONDS="0")
    return env


def _answers(output: str) -> bool:
    found = re.search(r"API docs:\s+(http://\S+)/docs", output)
    if not found:
        return False
    try:
        with urllib.request.urlopen(f"{found.group(1)}/readyz", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _started(log: Path, process: subprocess.Popen[bytes]) -> str:
    """What the demo printed, once it has printed its keys and its server answers."""
    while True:
        output = log.read_text(encoding="utf-8", errors="replace")
        if "try:" in output and _answers(output):
            return output
        if process.poll() is not None:
            raise AssertionError(f"patron demo stopped ({process.returncode}):\n{output}")
        time.sleep(0.2)  # waiting for readiness: nothing is judged on how long it takes


@contextmanager
def serving_demo(folder: Path, log: Path, database_url: str | None) -> Iterator[Demo]:
    """`patron demo` as the README runs it (fewer members, a free port), serving in the
    background until the block ends."""
    port = _free_port()
    command = [str(folder / ".venv" / "bin" / "patron"), "demo", "--members",
               str(DEMO_MEMBERS), "--port", str(port)]
    if database_url:
        command += ["--db", database_url]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=_terminal(), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        output = _started(log, process)
        keys = dict(re.findall(r"(\w+) key:\s+(ptn_\S+)", output))
        exported = re.search(r"export PATRON_DATABASE_URL=(\S+)", output)
        assert exported, output
        yield Demo(port, keys, exported.group(1))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def placeholders(demo: Demo) -> dict[str, str]:
    """The README's stand-ins for what `patron demo` printed, and what it printed here."""
    return {"ptn_...": demo.keys["admin"],
            "localhost:8000": f"localhost:{demo.port}",
            "127.0.0.1:8000": f"127.0.0.1:{demo.port}",
            "$PWD/patron-demo.db": shlex.quote(demo.database)}


PRELUDE = """\
set -euo pipefail
if [ -f "$README_STATE" ]; then . "$README_STATE"; fi
if [ -f "$README_STATE.functions" ]; then . "$README_STATE.functions"; fi
trap 'export -p > "$README_STATE"; declare -f > "$README_STATE.functions"' EXIT
curl() { command curl --fail-with-body --show-error "$@"; }
set -a
"""
"""Each block runs in a new bash that first takes what the blocks before it set and defined
(as one terminal would keep it; `set -a` exports plain assignments so they carry over), with
`set -euo pipefail` so that the first failing command fails the block, and curl failing on
an HTTP error status."""


def run_block(block: Block, folder: Path, demo: Demo, state: Path
              ) -> subprocess.CompletedProcess[str]:
    script = block.text
    for placeholder, value in placeholders(demo).items():
        script = script.replace(placeholder, value)
    return subprocess.run(["bash", "-c", PRELUDE + script], cwd=folder,
                          env=dict(_terminal(), README_STATE=str(state)), capture_output=True,
                          text=True, timeout=BLOCK_TIMEOUT, stdin=subprocess.DEVNULL)


def _checked(block: Block, done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    told = f"README.md line {block.line} printed:\n{output[-6000:]}"
    assert done.returncode == 0, f"exit status {done.returncode}; {told}"
    assert "Traceback" not in output, told
    for pattern in checks_of(block):
        if pattern.startswith("!"):
            assert not re.search(pattern[1:], output), f"{pattern[1:]!r} found; {told}"
        else:
            assert re.search(pattern, output), f"no {pattern!r}; {told}"


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: the README's default `./patron-demo.db`; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    server = _postgres_server_url()
    if server is None:
        pytest.skip("no PostgreSQL server reachable (set PATRON_TEST_DATABASE_URL): the "
                    "README's examples are not tried on PostgreSQL")
    name = f"patron_readme_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
def test_every_readme_example_runs_on_the_demo(tmp_path: Path, demo_database: str | None):
    folder = tmp_path / "checkout"
    folder.mkdir()
    _venv(folder)
    blocks = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.skip is None]
    with serving_demo(folder, tmp_path / "demo.log", demo_database) as demo:
        if demo_database:
            assert demo.database == demo_database  # the URL to export, as given
        else:
            assert demo.database == str(folder.resolve() / "patron-demo.db")
        for block in blocks:
            _checked(block, run_block(block, folder, demo, tmp_path / "terminal.sh"))
