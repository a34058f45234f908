"""Every built-in reaction to what happens to members, registered in one place.

Read this module to know who reacts to what (see ``patron.hooks`` for the list
of happenings). An extension registers its own subscribers the same way,
from its own module.
"""

from __future__ import annotations

from patron import hooks
from patron.referrals import service as referrals

hooks.subscribe(hooks.MembersEnrolled, referrals.on_members_enrolled)
hooks.subscribe(hooks.EventsRecorded, referrals.on_events_recorded)
