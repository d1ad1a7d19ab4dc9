// Shows the correction fields only for a correction request. Without script they stay visible.
(function () {
  "use strict";
  var kind = document.getElementById("kind");
  var fields = document.getElementById("correction-fields");
  if (!kind || !fields) {
    return;
  }
  function update() {
    fields.classList.toggle("hidden", kind.value !== "correction");
  }
  kind.addEventListener("change", update);
  update();
})();
