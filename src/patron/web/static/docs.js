// /docs: Swagger UI from the package's own copy (no CDN), reading /openapi.json.
// deepLinking stays off: it puts a link inside each operation's toggle button, which
// assistive technology cannot tell from the button (axe: nested-interactive); and code is
// shown without syntax colours, which fall below AA contrast on its dark background.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: false,
  persistAuthorization: true,
  displayRequestDuration: true,
  syntaxHighlight: { activated: false },
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});

// Swagger UI draws code samples as scrollable <pre>s, its example picker and body editor
// unnamed, its dialogs' close button as a bare icon, names some buttons other than they read
// ("Authorize" is "Apply credentials") and the key's field by its id, not its label. As they
// appear, each sample is made reachable by keyboard and each control named by what it shows.
const docs = document.getElementById("swagger-ui");
function reachable() {
  docs.querySelectorAll("pre:not([tabindex])").forEach((pre) => pre.setAttribute("tabindex", "0"));
  docs.querySelectorAll(".close-modal:not([aria-label])").forEach((button) => {
    button.setAttribute("aria-label", "Close dialog");
  });
  docs.querySelectorAll("textarea:not([aria-label])").forEach((area) => {
    if (area.labels.length === 0) area.setAttribute("aria-label", "Request body");
  });
  docs.querySelectorAll("input[aria-label]").forEach((input) => {
    if (input.labels.length > 0) input.removeAttribute("aria-label");
  });
  docs.querySelectorAll("button[aria-label]").forEach((button) => {
    const shown = button.textContent.trim();
    const name = button.getAttribute("aria-label");
    if (shown && !name.toLowerCase().includes(shown.toLowerCase())) {
      button.setAttribute("aria-label", `${shown} (${name.toLowerCase()})`);
    }
  });
  docs.querySelectorAll("select:not([aria-label])").forEach((select) => {
    if (select.labels.length === 0) {
      select.setAttribute("aria-label", select.closest(".examples-select") ? "Example" : "Choose");
    }
  });
}
new MutationObserver(reachable).observe(docs, { childList: true, subtree: true });
