// A link sent by mail carries its code after "#": browsers never send that part, so no
// access log, proxy or Referer header keeps it. Move it into the page's form marked
// data-link-code, take it out of the address bar and the history, and send it; without
// this script the person pastes the code, which the mail also gives.
(function () {
  "use strict";
  var code = window.location.hash.slice(1);
  var form = document.querySelector("form[data-link-code]");
  if (!code || !form) {
    return;
  }
  history.replaceState(null, "", window.location.pathname);
  form.elements.code.value = decodeURIComponent(code);
  form.submit();
})();
