"""The platforms Patron takes webhooks from, by the name in their webhook path.

Adding a platform is one module beside ``shopify`` and ``woocommerce`` that builds a
``Platform`` (its headers, topics and readers) and one entry here.
"""

from __future__ import annotations

from patron.errors import InvalidInput
from patron.shops.domain import Platform
from patron.shops.shopify import SHOPIFY
from patron.shops.woocommerce import WOOCOMMERCE

PLATFORMS: dict[str, Platform] = {platform.name: platform for platform in (SHOPIFY, WOOCOMMERCE)}


class UnknownPlatform(InvalidInput):
    code = "unknown_shop_platform"
    title = "Unknown shop platform"


def platform(name: str) -> Platform:
    """The platform called ``name``; 422 ``unknown_shop_platform`` for any other."""
    found = PLATFORMS.get(name)
    if found is None:
        raise UnknownPlatform(f"{name[:40]!r} is not a shop platform Patron knows; use one "
                              "of " + ", ".join(PLATFORMS), field="platform")
    return found
