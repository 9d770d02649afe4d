// The « Entité » field of the request forms: after 3 characters, the list of matching
// entities; a choice fills the hidden code (the server accepts nothing else) and shows
// to whom the request will go. Without this script, « Rechercher l'entité » has the
// server list the matching entities to choose from (then this script leaves them be).
(function () {
  "use strict";
  var box = document.querySelector("[data-entity-field]");
  if (!box) { return; }
  var input = box.querySelector("#entity_search");
  var code = box.querySelector("input[type=hidden][name=entity]");
  if (!code) { return; }
  // The list below replaces the server's search; removed, the button no longer takes
  // the Enter key of the other fields.
  box.querySelector("[data-entity-lookup]").remove();
  var list = box.querySelector("#entity-list");
  var line = document.getElementById("recipients");
  var lines = null, timer = null;

  function ape() {
    var checked = document.querySelector("input[name=wants_ape]:checked");
    return checked ? checked.value : "non";
  }
  function showRecipients() {
    line.textContent = lines ? lines[ape()] : "";
  }
  function loadRecipients() {
    lines = null; showRecipients();
    if (!code.value) { return; }
    fetch(box.dataset.recipientsUrl.replace("CODE", encodeURIComponent(code.value)))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { lines = data; showRecipients(); });
  }
  function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); }
  function choose(item) {
    code.value = item.code; input.value = item.label; close(); loadRecipients();
  }
  function render(items) {
    list.textContent = "";
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "entity-choice-" + i; li.setAttribute("role", "option"); li.tabIndex = -1;
      li.textContent = item.label;
      li.addEventListener("click", function () { choose(item); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); choose(item); } });
      list.appendChild(li);
    });
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", items.length ? "true" : "false");
  }
  input.addEventListener("input", function () {
    code.value = ""; loadRecipients(); clearTimeout(timer);
    var text = input.value.trim();
    if (text.length < 3) { render([]); return; }
    timer = setTimeout(function () {
      fetch(box.dataset.searchUrl + "?q=" + encodeURIComponent(text))
        .then(function (r) { return r.json(); }).then(render);
    }, 250);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" && list.firstChild) { e.preventDefault(); list.firstChild.focus(); }
    if (e.key === "Escape") { close(); }
  });
  document.querySelectorAll("input[name=wants_ape]").forEach(function (radio) {
    radio.addEventListener("change", showRecipients);
  });
  loadRecipients();
}());
