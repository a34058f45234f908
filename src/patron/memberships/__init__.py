"""Paid memberships: members subscribe to the program document's plans, pay, renew,
cancel and lapse (see ``domain`` for the state machine).

For other domains: ``service.active_plans`` (the plan in force per member at a
moment, for tier floors and earn multipliers), ``service.record_payment`` (a
``membership_payment`` event) and ``jobs.run`` (the scheduled sweep).
"""
