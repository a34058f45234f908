"""Privacy across domains: a member's data exported whole, erased, and kept no longer
than the program says (``export``, ``erasure``, ``retention``). Consents are the members
domain's own (``patron.members.consents``)."""
