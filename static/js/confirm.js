// Forms with data-confirm ask before they submit: money actions (void, payout batches),
// removing a member, revoking an invitation.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
