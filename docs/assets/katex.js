// Typeset the math that pymdownx.arithmatex marked (class "arithmatex"), with KaTeX from the
// site's own assets; re-run on Material's instant page loads.
function typeset() {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(typeset);
} else {
  document.addEventListener("DOMContentLoaded", typeset);
}
