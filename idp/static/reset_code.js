// The reset link carries its code after "#": browsers never send that part, so no
// access log keeps it. Move it into the form, take it out of the address bar and the
// history, and send it; without this script the person pastes the code from the mail.
(function () {
  "use strict";
  var code = window.location.hash.slice(1);
  var form = document.getElementById("reset-code");
  if (!code || !form) {
    return;
  }
  history.replaceState(null, "", window.location.pathname);
  form.elements.code.value = decodeURIComponent(code);
  form.submit();
})();
