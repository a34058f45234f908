"""Shop connection payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.schemas_common import Channel, Storable

Secret = Annotated[str, StringConstraints(min_length=16, max_length=200,
                                          pattern=r"^[\x20-\x7e]+$")]


class ShopConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="shopify or woocommerce")
    shop: Annotated[str, StringConstraints(min_length=1, max_length=300), Storable] = Field(
        description="The shop as its webhooks name it (Shopify: its my-shop.myshopify.com "
                    "domain, not a custom domain; WooCommerce: the site's address, as "
                    "X-WC-Webhook-Source says); kept as host and path, lower-case host")
    secret: Secret | None = Field(None, description="The secret the shop signs webhooks "
                                  "with, 16-200 characters (Shopify: the app's client secret "
                                  "or the key shown under Settings > Notifications > "
                                  "Webhooks). For WooCommerce it may be left out: Patron "
                                  "then generates one, shown once, to paste into the webhook")
    channel: Channel = Field("web", description="Channel the shop's purchases are recorded "
                             "on (Shopify POS orders are recorded on pos)")
    store_id: Annotated[str, StringConstraints(min_length=1, max_length=100),
                            Storable] | None = Field(
        None, description="Store the shop's purchases are recorded at (default: the shop); "
                          "a Shopify POS order is recorded at its location id")


class ShopConnection(BaseModel):
    id: int
    platform: str
    shop: str
    channel: str
    store_id: str
    webhook_path: str = Field(description="Where the shop sends its webhooks (the HMAC "
                              "signature authenticates them: no API key)")
    topics: list[str] = Field(description="The webhook topics Patron acts on; others are "
                              "acknowledged and ignored")
    created_at: datetime


class ShopConnectionCreated(ShopConnection):
    secret: str | None = Field(None, description="The secret Patron generated, when none "
                               "was given: paste it into the shop's webhook; it is not "
                               "shown again")


class ShopConnectionList(BaseModel):
    items: list[ShopConnection]
