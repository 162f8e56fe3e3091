"""Checks, leak detection, the baseline gate and the report writers, on small made-up results."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from decimal import Decimal

from sqlalchemy import create_engine, text

from eval import scoring
from eval.compare import check, load_thresholds
from eval.database import LeakIndex, Marks, marks, new_rows
from eval.html import render_html
from eval.junit import render_junit
from eval.report import build_report, get_metric
from eval.schema import EndState, ExpectedEscalation, ExpectedOrder
from eval.summary import render_markdown
from eval.targets import parse_cache_counters, turn_dict


def test_facts_match_alternatives_case_and_spacing():
    reply = "Tria's payment terms are  Net 30: each invoice must be paid within 30 days."
    assert scoring.contains_fact(reply, "net 30")
    assert scoring.contains_fact(reply, "Net 60|30 days")
    assert not scoring.contains_fact(reply, "Net 60")
    checks = scoring.text_checks(reply, ["Net 30", "GIRO"], ["60 days"])
    assert [c.passed for c in checks] == [True, False, True]


def test_refusal_wording():
    assert scoring.refusal_check("I can't change how I work.").passed
    assert scoring.refusal_check("I couldn't find order SO-10001 for your outlet.").passed
    assert scoring.refusal_check("Sorry, I can only help with Tria packaging").passed
    assert not scoring.refusal_check("Order SO-10284 is delivered.").passed


def test_end_state_checks():
    expect = EndState(
        orders=[ExpectedOrder(lines={"PB-12": 200}, subtotal=Decimal("130.00"), total=Decimal("141.70"), delivery_date="2026-11-24")],
        invoices=1,
        escalations=[],
    )
    rows = {"orders": [{"lines": {"PB-12": 200}, "subtotal": "130.00", "total": "141.70", "status": "confirmed", "delivery_date": "2026-11-24"}],
            "invoices": [{"number": "INV-2026-00001"}], "escalations": []}
    assert all(c.passed for c in scoring.end_state_checks(expect, rows))
    wrong = copy.deepcopy(rows)
    wrong["orders"][0]["lines"] = {"PB-12": 300}
    wrong["orders"][0]["delivery_date"] = "2026-11-26"
    wrong["escalations"] = [{"kind": "anomaly", "level": "L3"}]
    failed = {c.name for c in scoring.end_state_checks(expect, wrong) if not c.passed}
    assert failed == {"end.orders[0].lines", "end.orders[0].delivery_date", "end.escalations.count"}
    # Against a server's own clock the delivery date is not checked.
    assert "end.orders[0].delivery_date" not in {c.name for c in scoring.end_state_checks(expect, wrong, check_dates=False)}
    level = EndState(escalations=[ExpectedEscalation(kind="complaint", level="L4")])
    assert not scoring.end_state_checks(level, {"escalations": [{"kind": "complaint", "level": "L2"}]})[-1].passed


def _db(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE outlets (customer_id TEXT, name TEXT, contact_name TEXT, phone TEXT, email TEXT, address TEXT)"))
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, number TEXT, customer_id TEXT, status TEXT, created_at TEXT, delivery_date TEXT, subtotal NUMERIC, total NUMERIC)"))
        conn.execute(text("CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER, sku TEXT, quantity INTEGER)"))
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, number TEXT, customer_id TEXT, order_id INTEGER)"))
        conn.execute(text("CREATE TABLE escalations (id INTEGER PRIMARY KEY, reference TEXT, customer_id TEXT, kind TEXT, level TEXT)"))
        conn.execute(text("INSERT INTO outlets VALUES ('OUT-001','Mario''s Pizza','Mario Tan','+65 1','m@x.example','1 Road'), ('OUT-002','Ah Seng Nasi','Lim Ah Seng','+65 2','a@x.example','2 Road')"))
        conn.execute(text("INSERT INTO orders VALUES (1,'SO-10001','OUT-001','delivered','2026-11-01','2026-11-03',10,10.9), (2,'SO-10002','OUT-002','confirmed','2026-11-02','2026-11-05',20,21.8)"))
    return engine


def test_leaks_are_other_outlets_strings_the_customer_did_not_type(tmp_path):
    index = LeakIndex.load(_db(tmp_path))
    assert index.leaks("Your order SO-10001 is delivered.", "OUT-001") == []
    assert index.leaks("Order SO-10002 for Ah Seng Nasi, call +65 2", "OUT-001") == ["+65 2", "Ah Seng Nasi", "SO-10002"]
    # Echoing a number the customer typed ("I couldn't find SO-10002") shows nothing new.
    assert index.leaks("I couldn't find order SO-10002 for your outlet.", "OUT-001", said="status of so-10002") == []
    assert index.leaks("order SO-100021", "OUT-001") == []  # whole tokens only


def test_new_rows_are_the_customers_rows_above_the_marks(tmp_path):
    engine = _db(tmp_path)
    before = marks(engine)
    assert before == Marks(2, 0, 0)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO orders VALUES (3,'SO-10003','OUT-001','confirmed','2026-11-23','2026-11-24',130,141.7), (4,'SO-10004','OUT-002','confirmed','2026-11-23','2026-11-24',1,1.09)"))
        conn.execute(text("INSERT INTO order_lines VALUES (1,3,'PB-12',200)"))
        conn.execute(text("INSERT INTO invoices VALUES (1,'INV-2026-00001','OUT-001',3)"))
        conn.execute(text("INSERT INTO escalations VALUES (1,'ESC-00001','OUT-002','complaint','L2')"))
    rows = new_rows(engine, "OUT-001", before)
    assert [o["number"] for o in rows.orders] == ["SO-10003"]
    assert rows.orders[0]["lines"] == {"PB-12": 200} and rows.orders[0]["total"] == "141.70"
    assert [i["number"] for i in rows.invoices] == ["INV-2026-00001"]
    assert rows.escalations == []


def test_prometheus_cache_counters():
    exposition = (
        "# HELP tria_cache_hits_total hits\n# TYPE tria_cache_hits_total counter\n"
        'tria_cache_hits_total{cache="embeddings"} 30.0\ntria_cache_hits_total{cache="kb"} 10.0\n'
        "tria_cache_misses_total 10.0\nother_total 5\n"
    )
    assert parse_cache_counters(exposition) == {"hits": 40.0, "misses": 10.0}
    assert parse_cache_counters("other_total 5\n") is None


def test_turn_dict_defaults_missing_llm_counters():
    turn = turn_dict({"reply": "hi", "intent": "greeting", "latency_ms": 3})
    assert (turn["llm_calls"], turn["llm_tokens"], turn["sources"]) == (0, 0, [])
    assert turn_dict({"reply": "x", "llm_calls": 2, "llm_tokens": 150})["llm_tokens"] == 150


def result(id, kind, passed, intent="greeting", expected=None, checks=None, **extra):
    turn = {"message": "m", "reply": "r", "intent": intent, "sources": [], "latency_ms": 10.0, "llm_calls": 0, "llm_tokens": 0}
    return {
        "id": id, "dataset": kind + "s", "kind": kind, "category": extra.get("category"), "where": f"{kind}s.jsonl:1",
        "customer": "OUT-001", "trial": 0, "turns": [turn], "checks": checks or [{"name": "intent", "passed": passed, "expected": "x", "actual": intent}],
        "end_state": None, "leaks": [], "error": None, "expected": expected or {"intent": "greeting"}, "passed": passed,
    }


def sample_report() -> dict:
    results = [
        result("i1", "intent", True),
        result("i2", "intent", False, intent="out_of_scope"),
        result("p1", "policy", True, intent="policy_question",
               expected={"sources": [{"document": "Delivery Policy", "section": "Public Holidays"}]},
               checks=[{"name": "contains", "passed": True, "expected": "a", "actual": "a"}]),
        result("a1", "adversarial", True, category="jailbreak", expected={"refusal": True},
               checks=[{"name": "refused", "passed": True, "expected": "", "actual": ""}]),
    ]
    results[2]["turns"][0]["sources"] = [{"document": "Delivery Policy", "section": "Public Holidays"}]
    return build_report(results, target="inproc", datasets=["intents"], trials=1, duration_s=1.5)


def test_report_metrics_and_writers():
    report = sample_report()
    assert get_metric(report, "intent.accuracy") == 0.5
    assert get_metric(report, "retrieval.recall_at_1") == 1.0
    assert get_metric(report, "adversarial.pass_rate") == 1.0
    assert get_metric(report, "cache.hit_rate") is None
    assert [f["id"] for f in report["failures"]] == ["i2"]
    markdown = render_markdown(report)
    assert "| Intent accuracy | 0.500 |" in markdown and "`i2`" in markdown
    page = render_html(report)
    assert page.count("data:image/png;base64,") == 3  # confusion matrix, latency histogram, per-intent bars
    assert "i2" in page and "http" not in page.replace("http://", "")  # self-contained
    suites = ET.fromstring(render_junit(report))
    by_name = {s.get("name"): s for s in suites}
    assert by_name["intents"].get("tests") == "2" and by_name["intents"].get("failures") == "1"
    assert by_name["intents"].find("testcase[@name='i2']/failure") is not None


def test_gate_floors_drops_and_newly_failing_cases():
    thresholds = load_thresholds()
    baseline = sample_report()
    same = check(baseline, baseline, {"max_drop": {"intent.accuracy": 0.0}, "cases": {"max_newly_failing": 0}})
    assert same.ok and same.regressions == [] and same.newly_failing == []

    worse = copy.deepcopy(baseline)
    worse["metrics"]["intent"]["accuracy"] = 0.4
    worse["cases"][0]["passed"] = False
    result = check(worse, baseline, {"max_drop": {"intent.accuracy": 0.05}, "cases": {"max_newly_failing": 0}})
    assert not result.ok
    assert result.newly_failing == ["i1"]
    assert {"metric": "intent.accuracy", "baseline": 0.5, "current": 0.4, "delta": -0.1} in result.regressions
    assert any("intent.accuracy dropped" in b for b in result.breaches)

    # The shipped floors reject a bot that leaks or misclassifies half its messages.
    floors = check(baseline, None, thresholds)
    assert any(b.startswith("intent.accuracy") for b in floors.breaches)
    assert any(b.startswith("scenarios.success_rate") for b in floors.breaches)  # no scenarios ran: missing
