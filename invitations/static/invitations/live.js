// Live status for the staff board: the page works without this; it only adds updates.
(function () {
  "use strict";
  const table = document.querySelector("table.invitations[data-live-path]");
  if (!table || !("WebSocket" in window)) return;
  const body = table.tBodies[0];
  const state = document.querySelector(".live-state");
  let delay = 1000;

  function cell(row, name) {
    return row.querySelector("td." + name);
  }

  function rowFor(invitation) {
    let row = document.getElementById("invitation-" + invitation.id);
    if (row) return row;
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    row = document.createElement("tr");
    row.id = "invitation-" + invitation.id;
    for (const name of ["email", "status", "sent", "attempts", "sender"]) {
      const td = document.createElement("td");
      td.className = name;
      row.appendChild(td);
    }
    row.querySelector("td.status").appendChild(document.createElement("span"));
    body.insertBefore(row, body.firstChild);
    return row;
  }

  function show(invitation) {
    const row = rowFor(invitation);
    const badge = row.querySelector("td.status span");
    badge.className = "status status-" + invitation.status;
    badge.textContent = invitation.status_label;  // textContent: never parsed as HTML
    cell(row, "email").textContent = invitation.email;
    cell(row, "sent").textContent = invitation.sent || "—";
    cell(row, "attempts").textContent = invitation.attempts;
    cell(row, "sender").textContent = invitation.sender || "—";
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + table.dataset.livePath);
    socket.onopen = function () { delay = 1000; state.textContent = "live"; };
    socket.onmessage = function (event) { JSON.parse(event.data).forEach(show); };
    socket.onclose = function () {
      state.textContent = "reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
