// Small behaviours of the booth page, kept out of the HTML (the Content-Security-Policy
// allows no inline script): a confirmation before a form marked data-confirm is sent,
// and print buttons.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
}, true);
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) { event.preventDefault(); window.print(); }
});
