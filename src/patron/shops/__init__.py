"""Shop adapters: a shop's own order webhooks turned into Patron's purchases and returns.

A program connects a shop (``shop_connections``: platform, shop domain, signing secret);
the shop then sends its webhooks, as it sends them to anyone, to
``POST /api/v1/shops/{platform}/{connection_id}``. The HMAC signature is the
authentication. What a platform's payload means is pure mapping here (``shopify``,
``woocommerce``, registered in ``platforms``); recording it goes through ingest like any
native event (``patron.flows.shop_orders``), so earning, idempotency and returns are the
same.
"""
