// The member portal's copy buttons: <button data-copy="ID"> copies the value of #ID.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const said = document.getElementById("copied");
  const done = () => { if (said) said.textContent = "Copied."; };
  const fallback = () => { field.select(); if (document.execCommand("copy")) done(); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, fallback);
  } else {
    fallback();
  }
});
