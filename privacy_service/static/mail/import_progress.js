// Import progress: polls the progress endpoint while the import runs, moves the bar and the
// counts, and reloads the page once the import is no longer running (to show the results).
(function () {
  "use strict";
  var section = document.getElementById("import-status");
  if (!section || !section.dataset.progressUrl) {
    return;
  }
  var url = section.dataset.progressUrl;
  var bar = document.getElementById("import-progress");
  var state = document.getElementById("import-state");

  function show(progress) {
    bar.max = progress.total || 1;
    bar.value = progress.processed;
    bar.textContent = progress.percent + "%";
    state.textContent = progress.state_label;
    ["processed", "total", "imported", "rejected"].forEach(function (name) {
      var cell = section.querySelector('[data-count="' + name + '"]');
      if (cell) {
        cell.textContent = progress[name];
      }
    });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("progress " + response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        show(progress);
        if (progress.active) {
          window.setTimeout(poll, 500);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        window.setTimeout(poll, 2000);
      });
  }

  window.setTimeout(poll, 300);
})();
