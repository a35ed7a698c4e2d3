// Buttons marked data-print print the page (the Content-Security-Policy allows no onclick).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) window.print();
});
