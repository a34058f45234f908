"""Work that spans domains: the floor between the faces (API, CLI) and the domains.

Domains below import only downward and never call a sibling to react to
something; what happens to a member is announced through ``patron.hooks`` and
the reactions are wired in ``patron.flows.subscribers``.
"""

from patron.flows import subscribers  # noqa: F401  (registers the built-in reactions)
