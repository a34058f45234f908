"""The registry of event types: pure, no database."""

from __future__ import annotations

from patron.events.schemas import PaymentData, PurchaseData, ReturnData
from patron.flows.event_types import BUILT_IN, DECLARED, event_type
from patron.program.catalog import BUILT_IN_EVENT_TYPES


def test_every_built_in_type_of_the_catalog_has_an_entry_and_no_other_does():
    assert set(BUILT_IN) == set(BUILT_IN_EVENT_TYPES)


def test_only_a_purchase_or_a_sign_up_may_enrol_an_unknown_identity():
    assert {name for name, kind in BUILT_IN.items() if kind.enrols} == {"purchase", "sign_up"}


def test_purchases_returns_and_payments_are_checked_against_their_payload_models():
    assert {name: kind.data for name, kind in BUILT_IN.items() if kind.data} == {
        "purchase": PurchaseData, "return": ReturnData, "membership_payment": PaymentData}


def test_returns_and_payments_earn_nothing_and_returns_go_before_payments():
    assert not event_type("return").handler.earns
    assert not event_type("membership_payment").handler.earns
    assert event_type("return").handler.stage < event_type("membership_payment").handler.stage
    assert event_type("purchase").handler.earns and event_type("review").handler.earns


def test_a_type_the_program_declares_just_earns_with_free_data_and_enrols_no_one():
    declared = event_type("tasting_attended")
    assert declared is DECLARED
    assert declared.handler.earns and declared.data is None and not declared.enrols
