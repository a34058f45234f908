"""/docs: the interactive API documentation, served offline.

Swagger UI comes from the package's own copy (``web/static/vendor/swagger-ui``) and starts
from ``/static/docs.js``, so the page needs no CDN and no inline script. Its Authorize
button is the bearer security scheme every ``/api/v1`` route declares (``api.deps``), and
its example values are ``api.openapi_examples``.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor/swagger-ui"
PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Patron API</title>
<link rel="icon" type="image/png" href="{VENDOR}/favicon-32x32.png">
<link rel="stylesheet" href="{VENDOR}/swagger-ui.css">
<link rel="stylesheet" href="/static/docs.css">
</head>
<body>
<main id="swagger-ui"></main>
<script src="{VENDOR}/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE)
