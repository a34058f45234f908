"""Member insight in action: tags, materialised member features and segments.

Manual tags come from the API, the CLI and imports; rule tags from CEL
conditions in the program document's ``tags`` section. A job materialises
each member's features (RFM, churn and expected value, balance, favourites …)
into ``member_features``; CEL conditions and the API read them there. Segments
are dynamic (a CEL condition over features, refreshed by the same job, with
membership history and daily counts) or static (an uploaded list).
"""
