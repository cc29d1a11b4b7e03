// Accord's only script: keyboard shortcuts and "select all" boxes. The pages work without it.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    // "/" focuses the search box, as in most analyst tools, unless the user is typing already.
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
    if (event.key === "/" && !typing) {
      var box = document.querySelector("[data-hotkey='/']");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });
  document.querySelectorAll("input[data-toggle-all]").forEach(function (master) {
    master.addEventListener("change", function () {
      var name = master.getAttribute("data-toggle-all");
      document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (box) {
        if (!box.disabled) { box.checked = master.checked; }
      });
    });
  });
}());
