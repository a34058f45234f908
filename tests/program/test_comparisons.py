"""What validation reads from a condition's comparisons: plain sides and required values."""

from __future__ import annotations

from patron.program.comparisons import comparisons, required_values


def sides(source: str) -> list[tuple[str, object, str, object]]:
    return [(c.op, c.left.path or c.left.kind, c.text, c.right.path or c.right.kind)
            for c in comparisons(source)]


def test_only_comparisons_with_plain_sides_are_read():
    assert sides("event.data.rating == 'five' && event.local.hour >= -1") == [
        ("==", ("event", "data", "rating"), "event.data.rating == 'five'", "string"),
        (">=", ("event", "local", "hour"), "event.local.hour >= -1", "int")]
    for source in ("size(event.data.lines) == 'a'", "event.data.m['k'] == 1",
                   "!event.data.has_photo == 1", "event.data.total - 5 == 'x'",
                   "member.tier.size() == 2", "member.tier in ['gold']"):
        assert [c.left.path for c in comparisons(source)
                if c.left.path and c.right.kind] == [], source
    assert sides("event.data.lines.exists(l, l.category == 'beans')") == [
        ("==", None, "l.category == 'beans'", "string")]
    assert [c.right.kind for c in comparisons("x == b'a' || x == r'b' || x == 1u")] == [
        "bytes", "string", "uint"]


def test_required_values_are_the_equalities_every_match_needs():
    assert required_values("event.channel == 'app' && member.tier == \"gold\"") == {
        ("event", "channel"): "s:app", ("member", "tier"): "s:gold"}
    assert required_values("event.data.rating == 5") == required_values(
        "event.data.rating == 5.0") == required_values("5u == event.data.rating")
    assert required_values("event.channel == 'app' || member.tier == 'gold'") == {}
    assert required_values("member.tier == 'gold' ? true : false") == {}
    assert required_values("x && (event.channel == 'app' || y)") == {}
