// Taskhook dashboard: the only script (an ES module, served from /ui/static, no inline script).
// Everything works without it; it adds the Copy button for a secret shown once.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.querySelector("[data-copied]");
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) status.textContent = "Copied to the clipboard.";
    } catch {
      field.select();
      if (status) status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  });
}
