// Campaign progress: polls the small JSON endpoint while the campaign is scheduled or sending,
// moves the bar and the counts, and reloads the page once it is finished (to show the chart).
(function () {
  "use strict";
  var section = document.getElementById("campaign-progress");
  if (!section || !section.dataset.progressUrl) {
    return;
  }
  var url = section.dataset.progressUrl;
  var bar = document.getElementById("campaign-bar");
  var percent = document.getElementById("campaign-percent");
  var status = document.getElementById("campaign-status");

  function show(progress) {
    bar.value = progress.percent;
    bar.textContent = progress.percent + "%";
    percent.textContent = progress.percent + "%";
    status.textContent = progress.status_label;
    Object.keys(progress.counts).forEach(function (name) {
      var cell = section.querySelector('[data-count="' + name + '"]');
      if (cell) {
        cell.textContent = progress.counts[name];
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
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 500);
})();
