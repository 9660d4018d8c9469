/* Lumi admin pages: progressive enhancement only; every page works without this file. */
(function () {
    "use strict";

    /* Forms with data-confirm ask first (deleting, deactivating). */
    document.addEventListener("submit", function (ev) {
        var form = ev.target;
        var question = form.getAttribute("data-confirm");
        if (question && !window.confirm(question)) {
            ev.preventDefault();
        }
    }, true);

    /* "Test connection" shows its result in the row instead of reloading the page. */
    function showResult(row, ok, text) {
        var cell = row ? row.querySelector(".test-result") : null;
        if (!cell) {
            return;
        }
        cell.textContent = "";
        var badge = document.createElement("span");
        badge.className = "badge " + (ok ? "badge-ok" : "badge-bad");
        badge.textContent = ok ? "OK" : "failed";
        cell.appendChild(badge);
        cell.appendChild(document.createTextNode(" " + text));
    }

    document.addEventListener("submit", function (ev) {
        var form = ev.target;
        if (ev.defaultPrevented || !form.hasAttribute("data-test-connection") || !window.fetch) {
            return;
        }
        ev.preventDefault();
        var row = form.closest("tr");
        var button = form.querySelector("button");
        if (button) {
            button.disabled = true;
        }
        showResult(row, true, "testing…");
        fetch(form.action, {
            method: "POST",
            credentials: "same-origin",
            headers: {"Accept": "application/json"},
            body: new URLSearchParams(new FormData(form))
        }).then(function (resp) {
            return resp.json();
        }).then(function (r) {
            if (r && r.error) {
                showResult(row, false, r.error.message || "the test failed");
            } else {
                showResult(row, !!r.success, (r.message || "") + " (" + r.latency_ms + " ms)");
            }
        }).catch(function () {
            showResult(row, false, "the test could not be run; reload the page and try again");
        }).then(function () {
            if (button) {
                button.disabled = false;
            }
        });
    });
})();
