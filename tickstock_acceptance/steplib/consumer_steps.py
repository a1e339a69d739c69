"""Sentences on the TickStockApp side (subscribers and stream consumers), shared by several features."""

from behave import given, then, when

from tickstock_acceptance.checks.etf import notifications
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


@given("TickStockApp is subscribed to the universe notifications")
def step_subscribed(context):
    context.state.flow.subscribe()


@given("a TickStockApp instance that registered on the universe stream and then went offline")
def step_offline_instance(context):
    context.state.flow.register_offline_instance()


@when("the offline TickStockApp instance comes back and catches up")
def step_catch_up(context):
    context.state.flow.catch_up()


@then("the returning instance got the same notifications in the same order as the online one")
def step_same_as_online(context):
    flow = context.state.flow
    evidence.record("notifications caught up from the stream", len(flow.caught_up), "messages")
    no_problems(notifications.catch_up_problems(flow.last, flow.caught_up),
                "the returning instance's catch-up")


@then("nothing is left unacknowledged for the returning instance")
def step_nothing_pending(context):
    pending = context.state.flow.offline.pending()
    no_problems([f"{pending} notifications still pending"] if pending else [], "the returning instance")


@then("TickStockApp receives one universe_expansion_complete followed by one theme_updated "
      "per expanded theme")
def step_notification_sequence(context):
    no_problems(notifications.sequence_problems(context.state.flow.last), "the expansion notifications")
