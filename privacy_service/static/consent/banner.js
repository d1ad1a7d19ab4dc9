/* Cookie banner of the privacy service.
 *
 * On this service's pages the server renders the banner (consent/_banner.html) and this script
 * only enhances it. On the operator's other sites, include
 *   <script src="https://PRIVACY-SERVICE/consent/banner.js" defer></script>
 * and the script fetches the same banner (and the visitor's choice) from the privacy service.
 * The choice is stored through POST /api/v1/cookies/preferences.
 *
 * Sites gate their own scripts by category:
 *   <script type="text/plain" data-consent-category="analytics" data-src="/stats.js"></script>
 * runs only once analytics cookies are accepted. The page also gets
 * <html data-consent-analytics="granted|denied"> (one attribute per category) and a
 * "privacy:consent" event carrying the choice.
 */
(function () {
  "use strict";

  var CATEGORIES = ["preferences", "analytics", "advertising"];
  var script = document.currentScript;

  function serviceOrigin() {
    return new URL(script.src, document.baseURI).origin;
  }

  function allows(state, category) {
    return Boolean(state && state.decided && state.categories && state.categories[category]);
  }

  function apply(state) {
    var root = document.documentElement;
    CATEGORIES.forEach(function (category) {
      root.setAttribute("data-consent-" + category, allows(state, category) ? "granted" : "denied");
    });
    var gated = document.querySelectorAll('script[type="text/plain"][data-consent-category]');
    Array.prototype.forEach.call(gated, function (placeholder) {
      var source = placeholder.getAttribute("data-src");
      if (source && allows(state, placeholder.getAttribute("data-consent-category"))) {
        var live = document.createElement("script");
        live.src = source;
        placeholder.parentNode.replaceChild(live, placeholder);
      }
    });
    document.dispatchEvent(new CustomEvent("privacy:consent", { detail: state }));
  }

  function readState(banner) {
    try {
      return JSON.parse(banner.getAttribute("data-state"));
    } catch (error) {
      return { decided: false, categories: {} };
    }
  }

  function syncBoxes(banner, state) {
    CATEGORIES.forEach(function (category) {
      var box = banner.querySelector('input[name="' + category + '"]');
      if (box) {
        box.checked = allows(state, category);
      }
    });
  }

  function wire(banner) {
    var api = banner.getAttribute("data-api");
    var panel = banner.querySelector(".cookie-categories");
    var customise = banner.querySelector("[data-cookie-customise]");
    var failure = banner.querySelector("[data-cookie-error]");
    var saved = document.querySelector("[data-cookie-saved]");
    var savedTimer = null;

    // Visible feedback: the banner goes away, and a short message says the choice is kept.
    function confirmSaved() {
      if (!saved) {
        return;
      }
      saved.hidden = false;
      window.clearTimeout(savedTimer);
      savedTimer = window.setTimeout(function () {
        saved.hidden = true;
      }, 4000);
    }

    function openPanel() {
      panel.hidden = false;
      customise.setAttribute("aria-expanded", "true");
    }

    customise.addEventListener("click", function (event) {
      event.preventDefault();
      openPanel();
      var first = panel.querySelector("input:not([disabled])");
      if (first) {
        first.focus();
      }
    });

    Array.prototype.forEach.call(banner.querySelectorAll("[data-cookie-choice]"), function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var choice = button.getAttribute("data-cookie-choice");
        var body = { choice: choice };
        if (choice === "customise") {
          body.categories = {};
          CATEGORIES.forEach(function (category) {
            var box = banner.querySelector('input[name="' + category + '"]');
            body.categories[category] = Boolean(box && box.checked);
          });
        }
        failure.hidden = true;
        fetch(api, {
          method: "POST",
          credentials: "include",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body)
        })
          .then(function (response) {
            if (!response.ok) {
              throw new Error("cookie choice refused: " + response.status);
            }
            return response.json();
          })
          .then(function (state) {
            banner.setAttribute("data-state", JSON.stringify(state));
            syncBoxes(banner, state);
            panel.hidden = true;
            customise.setAttribute("aria-expanded", "false");
            banner.hidden = true;
            confirmSaved();
            apply(state);
          })
          .catch(function () {
            failure.hidden = false;
          });
      });
    });

    Array.prototype.forEach.call(document.querySelectorAll("[data-cookie-settings]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        syncBoxes(banner, readState(banner));
        banner.hidden = false;
        openPanel();
        banner.scrollIntoView({ block: "nearest" });
      });
    });
  }

  function start() {
    var banner = document.getElementById("cookie-banner");
    if (banner) {
      wire(banner);
      apply(readState(banner));
      return;
    }
    // Another site of the operator: the same banner, from the privacy service.
    var origin = serviceOrigin();
    var style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = origin + "/static/consent/banner.css";
    document.head.appendChild(style);
    fetch(origin + "/consent/banner", { credentials: "include" })
      .then(function (response) {
        return response.ok ? response.text() : "";
      })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        document.body.appendChild(holder);
        var fetched = document.getElementById("cookie-banner");
        if (fetched) {
          wire(fetched);
          apply(readState(fetched));
        }
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
