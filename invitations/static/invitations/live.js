// The staff board's times and live status. The page works without this: it shows each time in
// full (the server's time zone, named); this says "2 min ago" with the full time, in the
// viewer's own time zone, in the title, and updates rows as the server announces changes.
(function () {
  "use strict";
  const locale = document.documentElement.lang || undefined;
  const relative = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const full = new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "long" });
  // [below this many seconds, say it in this unit]; each unit is the previous limit long.
  const UNITS = [[60, "second"], [3600, "minute"], [86400, "hour"], [604800, "day"],
    [2629800, "week"], [31557600, "month"], [Infinity, "year"]];

  function ago(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) < 45) return relative.format(0, "second");  // "now"
    let length = 1;
    for (const [limit, unit] of UNITS) {
      if (Math.abs(seconds) < limit) return relative.format(Math.round(seconds / length), unit);
      length = limit;
    }
  }

  function showTime(element) {
    const date = new Date(element.getAttribute("datetime"));
    if (isNaN(date)) return;
    element.textContent = ago(date);
    element.title = full.format(date);
  }

  function showTimes() {
    document.querySelectorAll("time[datetime]").forEach(showTime);
  }
  showTimes();
  setInterval(showTimes, 30000);

  const table = document.querySelector("table.invitations[data-live-path]");
  if (!table || !("WebSocket" in window)) return;
  const body = table.tBodies[0];
  const state = document.querySelector(".live-state");
  const actions = document.getElementById("row-actions");
  const columns = Array.from(table.tHead.rows[0].cells, (th) => [th.className, th.textContent]);
  const PLACEHOLDER = "/2147483647/";
  let delay = 1000;

  // Whether an invitation the page does not show belongs on it: on the first page only, and
  // only if the page's filters select it.
  function belongs(invitation) {
    if (!("liveNew" in table.dataset)) return false;
    const status = table.dataset.liveNew, sender = table.dataset.sender, search = table.dataset.search;
    if (status && status !== invitation.state) return false;
    if (sender && String(invitation.sender_id) !== sender) return false;
    const email = invitation.email;
    return !search || email.startsWith(search) || email.startsWith(search.toLowerCase());
  }

  function newRow(invitation) {
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    const row = document.createElement("tr");
    row.id = "invitation-" + invitation.id;
    for (const [name, label] of columns) {
      const td = document.createElement("td");
      td.className = name;
      td.dataset.label = label;
      row.appendChild(td);
    }
    row.querySelector("td.status").appendChild(document.createElement("span"));
    const cell = row.querySelector("td.actions");
    if (cell && actions) {
      cell.appendChild(actions.content.cloneNode(true));
      cell.querySelectorAll("form[action], a[href]").forEach(function (element) {
        const name = element.tagName === "A" ? "href" : "action";
        element.setAttribute(name, element.getAttribute(name).replace(PLACEHOLDER, "/" + invitation.id + "/"));
      });
    }
    body.insertBefore(row, body.firstChild);
    return row;
  }

  function show(invitation) {
    let row = document.getElementById("invitation-" + invitation.id);
    if (!row) {
      if (!belongs(invitation)) return;
      row = newRow(invitation);
    }
    row.dataset.state = invitation.state;
    row.querySelectorAll("input[name=seen]").forEach((input) => { input.value = invitation.state; });
    const status = row.querySelector("td.status");
    const badge = status.querySelector("span");
    badge.className = "status status-" + invitation.state;
    badge.textContent = invitation.status_label;  // textContent: never parsed as HTML
    let reason = status.querySelector("small.reason");
    if (invitation.reason && !reason) {
      status.appendChild(document.createTextNode(" "));
      reason = status.appendChild(document.createElement("small"));
      reason.className = "reason";
    }
    if (reason) {
      if (invitation.reason) reason.textContent = invitation.reason; else reason.remove();
    }
    row.querySelector("td.email").textContent = invitation.email;
    const sent = row.querySelector("td.sent");
    sent.textContent = "";
    if (invitation.sent) {
      const time = sent.appendChild(document.createElement("time"));
      time.setAttribute("datetime", invitation.sent);
      showTime(time);
    } else {
      sent.textContent = "—";
    }
    row.querySelector("td.attempts").textContent = invitation.attempts;
    row.querySelector("td.sender").textContent = invitation.sender || "—";
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + table.dataset.livePath);
    socket.onopen = function () { delay = 1000; state.textContent = state.dataset.live; };
    socket.onmessage = function (event) { JSON.parse(event.data).forEach(show); };
    socket.onclose = function () {
      state.textContent = state.dataset.reconnecting;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
