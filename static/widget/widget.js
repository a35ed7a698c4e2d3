/*
 * Advocate's embeddable widget. On your page:
 *
 *   <div data-advocate-widget data-token="TOKEN MADE BY YOUR BACKEND"></div>
 *   <script src="https://ADVOCATE-HOST/widget.js" async></script>
 *
 * It shows the signed-in customer's share link with copy and share buttons and their
 * credit, in a box that inherits your page's font and colour. Theme it with CSS custom
 * properties on the element: --advocate-accent, --advocate-background, --advocate-border,
 * --advocate-radius. No dependencies; nothing is shown for a bad or expired token.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = script ? new URL(script.src, document.baseURI).origin : "";
  var STYLESHEET = "__ADVOCATE_STYLESHEET__";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function render(host, data) {
    var root = host.shadowRoot || host.attachShadow({ mode: "open" });
    root.textContent = "";
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = STYLESHEET;
    root.appendChild(link);
    var box = el("div", "box");
    box.setAttribute("part", "box");
    box.appendChild(el("p", "title", "Share " + data.organization + " with a friend"));
    if (data.offer) box.appendChild(el("p", "offer", data.offer));
    if (data.url) {
      var row = el("div", "row");
      var input = el("input", "url");
      input.readOnly = true;
      input.value = data.url;
      input.setAttribute("aria-label", "Your referral link");
      row.appendChild(input);
      var copy = el("button", "copy", "Copy");
      copy.type = "button";
      copy.addEventListener("click", function () {
        var done = function () { copy.textContent = "Copied"; };
        if (navigator.clipboard) {
          navigator.clipboard.writeText(data.url).then(done, function () { input.select(); });
        } else {
          input.select();
          done();
        }
      });
      row.appendChild(copy);
      if (navigator.share) {
        var share = el("button", "share", "Share");
        share.type = "button";
        share.addEventListener("click", function () {
          navigator.share({ title: data.organization, text: data.offer || "", url: data.url })
            .catch(function () {});
        });
        row.appendChild(share);
      } else {
        var mail = el("a", "share", "Email");
        mail.href = "mailto:?subject=" + encodeURIComponent(data.organization) +
          "&body=" + encodeURIComponent((data.offer ? data.offer + "\n\n" : "") + data.url);
        row.appendChild(mail);
      }
      box.appendChild(row);
    }
    var credit = el("p", "credit");
    credit.appendChild(document.createTextNode("Your credit: "));
    credit.appendChild(el("strong", "amount", data.credit.display));
    box.appendChild(credit);
    root.appendChild(box);
    host.setAttribute("data-advocate-state", "ready");
  }

  function load(host) {
    var token = host.getAttribute("data-token") || "";
    if (!token || host.getAttribute("data-advocate-state")) return;
    host.setAttribute("data-advocate-state", "loading");
    fetch(origin + "/widget/data?token=" + encodeURIComponent(token), { credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("Advocate widget: token refused");
        return response.json();
      })
      .then(function (data) { render(host, data); })
      .catch(function () { host.setAttribute("data-advocate-state", "hidden"); });
  }

  function start() {
    var hosts = document.querySelectorAll("[data-advocate-widget]");
    for (var i = 0; i < hosts.length; i++) load(hosts[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
