// camservice web console: sign in, cameras, files, system.
import { Connection } from "./rpc.js";
import { RpcError, describeError } from "./errors.js";
import { Player } from "./player.js";

const STORAGE_KEY = "camservice.credential";
const ROLES = { viewer: 1, operator: 2, admin: 3 };
const TOPICS = [
  "camera.connected", "camera.disconnected", "camera.status_change",
  "recording.start", "recording.stop", "recording.error",
  "snapshot.taken", "system.health", "system.shutdown",
];
const PAGE_SIZE = 10;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function formatBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function formatTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function toast(message, kind = "info") {
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 7000 : 3500);
}

function complain(err) {
  toast(err instanceof RpcError ? err.message : describeError(null), "error");
}

function wsUrl() {
  const meta = document.querySelector('meta[name="camservice-websocket-path"]');
  const path = meta && meta.content.startsWith("/") ? meta.content : "/ws";
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

class Console {
  constructor() {
    this.connection = null;
    this.role = null;
    this.cameras = new Map();
    this.mediamtxUp = true;
    this.files = { kind: "recordings", offset: 0, total: 0 };
    this.clockOffset = 0; // server time - local time, ms
    this.waitTimer = null;
    this.refreshTimer = null;
    this.recTimer = setInterval(() => this.tickRecordings(), 500);
  }

  can(role) {
    return (ROLES[this.role] || 0) >= ROLES[role];
  }

  // --- sign in and the connection -------------------------------------

  boot() {
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const credential = $("credential").value.trim();
      if (!credential) return;
      sessionStorage.setItem(STORAGE_KEY, credential);
      $("credential").value = "";
      this.connect();
    });
    $("signout").addEventListener("click", () => this.signOut(null));
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => {
        this.files = { kind: tab.dataset.kind, offset: 0, total: 0 };
        for (const t of document.querySelectorAll(".tab")) t.setAttribute("aria-selected", String(t === tab));
        this.loadFiles();
      });
    }
    $("prev").addEventListener("click", () => {
      this.files.offset = Math.max(0, this.files.offset - PAGE_SIZE);
      this.loadFiles();
    });
    $("next").addEventListener("click", () => {
      this.files.offset += PAGE_SIZE;
      this.loadFiles();
    });
    if (sessionStorage.getItem(STORAGE_KEY)) this.connect();
    else this.showSignIn(null);
  }

  showSignIn(message) {
    $("app-view").hidden = true;
    $("signin-view").hidden = false;
    $("signout").hidden = true;
    $("who").hidden = true;
    $("banner").hidden = true;
    this.setPill("off", "Not connected");
    const error = $("signin-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("signin-button").disabled = false;
    $("credential").focus();
  }

  signOut(message) {
    sessionStorage.removeItem(STORAGE_KEY);
    if (this.connection) this.connection.stop();
    this.connection = null;
    this.role = null;
    for (const id of [...this.cameras.keys()]) this.removeCamera(id);
    clearInterval(this.refreshTimer);
    this.showSignIn(message);
  }

  connect() {
    $("signin-button").disabled = true;
    if (this.connection) this.connection.stop();
    this.everOpened = false;
    this.connection = new Connection(wsUrl(), {
      onOpen: (connection) => this.opened(connection),
      onState: (state, detail) => this.connectionState(state, detail),
      onNotification: (method, params) => this.notified(method, params),
      onFinal: (message) => this.signOut(message),
    });
    this.connection.start();
  }

  async opened(connection) {
    const credential = sessionStorage.getItem(STORAGE_KEY);
    const reply = await connection.callWithMetadata("authenticate", { auth_token: credential });
    const auth = reply.result;
    if (reply.metadata && reply.metadata.server_timestamp) {
      this.clockOffset = new Date(reply.metadata.server_timestamp).getTime() - Date.now();
    }
    this.role = auth.role;
    this.sessionId = auth.session_id;
    this.everOpened = true;
    await connection.call("subscribe_events", { topics: TOPICS });
    this.showApp();
    // what fails to show says so itself: the connection stays up
    this.refreshAll().catch(() => toast("Part of the console could not be shown.", "error"));
  }

  connectionState(state, detail) {
    clearInterval(this.waitTimer);
    if (state === "connected") {
      this.setPill("ok", "Connected");
    } else if (state === "waiting") {
      if (!this.everOpened && $("app-view").hidden) {
        // never got in: the server is not there
        $("signin-button").disabled = false;
      }
      const until = Date.now() + detail;
      const show = () => {
        const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        this.setPill("wait", `Connection lost · retrying in ${left} s`);
      };
      show();
      this.waitTimer = setInterval(show, 500);
      for (const entry of this.cameras.values()) this.stopVideo(entry, "Waiting for the connection to camservice…");
    } else {
      this.setPill("wait", state === "reconnecting" ? "Reconnecting…" : "Connecting…");
    }
  }

  setPill(kind, text) {
    const pill = $("conn");
    pill.className = `pill pill-${kind}`;
    pill.textContent = text;
  }

  showApp() {
    $("signin-view").hidden = true;
    $("app-view").hidden = false;
    $("signout").hidden = false;
    const who = $("who");
    who.hidden = false;
    who.replaceChildren("Signed in as ", el("b", { text: this.role }));
    $("sessions-card").hidden = !this.can("admin");
    $("storage").hidden = !this.can("admin");
    clearInterval(this.refreshTimer);
    this.refreshTimer = setInterval(() => this.refreshSystem(), 15000);
  }

  async refreshAll() {
    await Promise.all([this.loadCameras().then(() => this.refreshSystem()), this.loadFiles(), this.loadServerInfo()]);
  }

  // --- notifications ---------------------------------------------------

  notified(method, params) {
    if (method === "camera_status_update") {
      this.upsertCamera(params);
      if (params.status === "DISCONNECTED") this.scheduleCameraSync();
    } else if (method === "recording_status_update") {
      this.recordingChanged(params);
    } else if (method === "event") {
      if (params.topic === "system.health" && params.component === "mediamtx") {
        this.setMediamtx(params.status, params.detail);
      } else if (params.topic === "system.health" && params.component === "storage") {
        this.loadStorage();
      } else if (params.topic === "snapshot.taken") {
        if (this.files.kind === "snapshots") this.loadFiles();
      } else if (params.topic === "system.shutdown") {
        this.showBanner("camservice is stopping; the console reconnects by itself.", false);
      }
      this.refreshHealthSoon();
    }
  }

  refreshHealthSoon() {
    clearTimeout(this.healthSoon);
    this.healthSoon = setTimeout(() => this.refreshSystem(), 300);
  }

  scheduleCameraSync() {
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => this.loadCameras(), 500);
  }

  // --- MediaMTX health and the banner ----------------------------------

  setMediamtx(status, detail) {
    const up = status === "up";
    const changed = up !== this.mediamtxUp;
    this.mediamtxUp = up;
    if (up) {
      $("banner").hidden = true;
    } else {
      const why = status === "recovering" ? "is coming back" : "is down";
      this.showBanner(`The media server (MediaMTX) ${why}: live video, snapshots and recordings are unavailable until it is back. The console is read-only meanwhile.`, true);
    }
    document.body.classList.toggle("read-only", !up);
    document.body.dataset.mediamtx = status;
    this.mediamtxStatus = status;
    this.renderMediamtxLine();
    if (changed) {
      for (const entry of this.cameras.values()) {
        this.renderActions(entry);
        if (up) this.startPlayer(entry, 0);
        else this.stopVideo(entry, "Video unavailable while the media server is down");
      }
    }
  }

  showBanner(text, bad) {
    const banner = $("banner");
    banner.textContent = text;
    banner.className = bad ? "banner bad" : "banner";
    banner.hidden = false;
  }

  // --- cameras ---------------------------------------------------------

  async loadCameras() {
    if (!this.connection || !this.connection.open) return;
    try {
      const list = await this.connection.call("get_camera_list");
      const seen = new Set();
      for (const camera of list.cameras) {
        seen.add(camera.device);
        this.upsertCamera(camera);
      }
      for (const id of [...this.cameras.keys()]) if (!seen.has(id)) this.removeCamera(id);
      this.updateCameraCount();
      await Promise.all(list.cameras.map((camera) => this.loadRecordingState(camera.device)));
    } catch (err) {
      complain(err);
    }
  }

  updateCameraCount() {
    const n = this.cameras.size;
    const connected = [...this.cameras.values()].filter((e) => e.camera.status === "CONNECTED").length;
    $("camera-count").textContent = n ? `${connected} of ${n} connected` : "";
    $("no-cameras").hidden = n > 0;
  }

  async loadRecordingState(device) {
    try {
      const status = await this.connection.call("get_stream_status", { device });
      const entry = this.cameras.get(device);
      if (!entry) return;
      entry.recording = status.recording ? this.recordingFrom(status.recording) : null;
      this.renderActions(entry);
    } catch (err) {
      // MediaMTX down: the state comes with the next notification
    }
  }

  recordingFrom(info) {
    const started = info.start_time ? new Date(info.start_time).getTime() - this.clockOffset : Date.now();
    return { filename: info.filename, started };
  }

  upsertCamera(camera) {
    let entry = this.cameras.get(camera.device);
    let before = null;
    if (!entry) {
      entry = this.buildTile(camera);
      entry.camera = camera;
      this.cameras.set(camera.device, entry);
      this.sortTiles();
      this.loadControls(entry);
    } else {
      before = entry.camera;
    }
    entry.camera = camera;
    entry.name.textContent = camera.name || camera.device;
    entry.meta.textContent = [camera.device, camera.resolution, camera.fps ? `${camera.fps} fps` : null].filter(Boolean).join(" · ");
    entry.badge.textContent = camera.status.toLowerCase();
    entry.badge.className = `badge badge-${camera.status}`;
    entry.tile.dataset.status = camera.status;
    const streamsChanged = !before || before.status !== camera.status
      || JSON.stringify(before.streams) !== JSON.stringify(camera.streams);
    if (camera.status !== "CONNECTED") {
      this.stopVideo(entry, camera.status === "ERROR" ? "The camera has a problem" : "Camera not connected");
    } else if (entry.state === "idle" || (streamsChanged && entry.state !== "playing")) {
      this.startPlayer(entry, 0);
    }
    this.renderActions(entry);
    this.updateCameraCount();
  }

  removeCamera(id) {
    const entry = this.cameras.get(id);
    if (!entry) return;
    clearTimeout(entry.retry);
    entry.player.stop();
    entry.tile.remove();
    this.cameras.delete(id);
    this.updateCameraCount();
  }

  sortTiles() {
    const grid = $("grid");
    const number = (id) => Number(id.replace(/\D/g, "")) || 0;
    const entries = [...this.cameras.values()].sort((a, b) => number(a.camera.device) - number(b.camera.device));
    for (const entry of entries) grid.append(entry.tile);
  }

  buildTile(camera) {
    const video = el("video", { muted: true, autoplay: true, playsinline: true });
    video.muted = true;
    const overlay = el("div", { class: "overlay", text: "Connecting…" });
    const via = el("span", { class: "via", hidden: true });
    const rec = el("span", { class: "rec", hidden: true });
    const screen = el("div", { class: "screen" }, video, overlay, via, rec);
    const name = el("div", { class: "tile-name" });
    const meta = el("div", { class: "tile-meta" });
    const badge = el("span", { class: "badge" });
    const actions = el("div", { class: "tile-actions" });
    const controls = el("div", { class: "controls", hidden: true });
    const tile = el("article", { class: "tile", "data-device": camera.device },
      el("div", { class: "tile-head" }, el("div", { class: "tile-title" }, name, meta), badge),
      screen, actions, controls);
    const entry = { camera: null, tile, video, overlay, via, rec, screen, name, meta, badge, actions, controls,
      recording: null, controlList: null, state: "idle", failures: 0, retry: null, busy: false };
    entry.player = new Player(video, (state, how) => this.playerState(entry, state, how));
    return entry;
  }

  stopVideo(entry, text) {
    clearTimeout(entry.retry);
    entry.player.stop();
    entry.state = "idle";
    this.setOverlay(entry, text);
  }

  setOverlay(entry, text) {
    entry.overlay.textContent = text || "";
    entry.overlay.hidden = !text;
    if (text) entry.via.hidden = true;
  }

  async startPlayer(entry, delay) {
    clearTimeout(entry.retry);
    if (!this.mediamtxUp || !entry.camera || entry.camera.status !== "CONNECTED") return;
    entry.state = "starting";
    entry.retry = setTimeout(async () => {
      let streams = entry.camera.streams;
      if (entry.failures > 0 && this.connection && this.connection.open) {
        try {
          // fresh URLs (signed ones expire)
          streams = (await this.connection.call("get_camera_status", { device: entry.camera.device })).streams;
        } catch (err) {
          // keep the ones we have
        }
      }
      if (!this.mediamtxUp || entry.camera.status !== "CONNECTED") return;
      entry.player.play(streams || {});
    }, delay);
  }

  playerState(entry, state, how) {
    entry.state = state;
    if (state === "connecting") {
      this.setOverlay(entry, "Connecting to the live stream…");
    } else if (state === "playing") {
      entry.failures = 0;
      this.setOverlay(entry, null);
      entry.via.textContent = how;
      entry.via.hidden = false;
    } else if (state === "failed") {
      entry.failures += 1;
      entry.player.stop();
      if (!this.mediamtxUp) return;
      this.setOverlay(entry, "Live video unavailable · retrying…");
      const delay = Math.min(30000, 1000 * 2 ** Math.min(entry.failures, 5));
      this.startPlayer(entry, delay);
    }
  }

  renderActions(entry) {
    const camera = entry.camera;
    const connected = camera.status === "CONNECTED";
    const live = connected && this.mediamtxUp;
    const buttons = [];
    if (this.can("operator")) {
      buttons.push(el("button", {
        class: "btn", type: "button", "data-action": "snapshot", disabled: !live || entry.busy,
        text: "Snapshot", onclick: () => this.takeSnapshot(entry),
      }));
      const recording = Boolean(entry.recording);
      buttons.push(el("button", {
        class: `btn btn-rec${recording ? " on" : ""}`, type: "button", "data-action": recording ? "stop" : "record",
        disabled: (!live && !recording) || entry.busy,
        text: recording ? "Stop recording" : "Record", onclick: () => this.toggleRecording(entry),
      }));
      if (entry.controlList && entry.controlList.length) {
        buttons.push(el("button", {
          class: "btn", type: "button", "data-action": "controls", disabled: !connected,
          "aria-expanded": String(!entry.controls.hidden), text: "Adjust",
          onclick: () => { entry.controls.hidden = !entry.controls.hidden; this.renderActions(entry); },
        }));
      }
    }
    entry.actions.replaceChildren(...buttons);
    entry.actions.hidden = buttons.length === 0;
    this.tickRecording(entry);
  }

  tickRecordings() {
    for (const entry of this.cameras.values()) this.tickRecording(entry);
  }

  tickRecording(entry) {
    if (entry.recording) {
      entry.rec.hidden = false;
      entry.rec.textContent = `REC ${formatDuration((Date.now() - entry.recording.started) / 1000)}`;
    } else {
      entry.rec.hidden = true;
    }
  }

  recordingChanged(params) {
    const entry = this.cameras.get(params.device);
    if (entry) {
      if (params.status === "STARTED") entry.recording = this.recordingFrom(params);
      else entry.recording = null;
      this.renderActions(entry);
    }
    if (params.status === "FAILED") toast(`Recording of ${params.device} failed.`, "error");
    if (params.status !== "STARTED" && this.files.kind === "recordings") this.loadFiles();
  }

  async takeSnapshot(entry) {
    entry.busy = true;
    this.renderActions(entry);
    try {
      const result = await this.connection.call("take_snapshot", { device: entry.camera.device });
      const blob = await this.download(result.file_path, "the snapshot");
      this.showSnapshot(entry, blob, result.filename);
      if (this.files.kind === "snapshots") this.loadFiles();
    } catch (err) {
      complain(err);
    } finally {
      entry.busy = false;
      this.renderActions(entry);
    }
  }

  showSnapshot(entry, blob, filename) {
    const old = entry.screen.querySelector(".shot");
    if (old) {
      URL.revokeObjectURL(old.dataset.url);
      old.remove();
    }
    const url = URL.createObjectURL(blob);
    const shot = el("figure", { class: "shot", "data-url": url, title: filename },
      el("img", { src: url, alt: `Snapshot ${filename}` }),
      el("button", { type: "button", "aria-label": "Close the snapshot", text: "×", onclick: () => {
        URL.revokeObjectURL(url);
        shot.remove();
      } }));
    shot.style.margin = "0";
    entry.screen.append(shot);
  }

  async toggleRecording(entry) {
    entry.busy = true;
    this.renderActions(entry);
    const device = entry.camera.device;
    try {
      if (entry.recording) {
        const result = await this.connection.call("stop_recording", { device });
        entry.recording = null;
        toast(`Saved ${result.filename} (${formatDuration(result.duration)}, ${formatBytes(result.file_size)}).`);
        if (this.files.kind === "recordings") this.loadFiles();
      } else {
        const reply = await this.connection.callWithMetadata("start_recording", { device });
        entry.recording = { filename: reply.result.filename, started: reply.sent };
      }
    } catch (err) {
      complain(err);
      if (err.rpc && err.rpc.data && err.rpc.data.state === "recording") this.loadRecordingState(device);
      if (err.rpc && err.rpc.data && err.rpc.data.state === "not_recording") entry.recording = null;
    } finally {
      entry.busy = false;
      this.renderActions(entry);
    }
  }

  async loadControls(entry) {
    if (!this.can("operator")) return;
    try {
      const result = await this.connection.call("get_camera_controls", { device: entry.camera.device });
      entry.controlList = result.controls.filter((c) => ["int", "bool", "menu"].includes(c.type));
      this.renderControls(entry);
      this.renderActions(entry);
    } catch (err) {
      entry.controlList = null; // virtual and network cameras have none
    }
  }

  renderControls(entry) {
    const rows = entry.controlList.map((control) => {
      const id = `ctl-${entry.camera.device}-${control.name}`;
      const label = el("label", { for: id, text: control.name.replace(/_/g, " ") });
      const value = el("span", { class: "val", text: String(control.value) });
      const inactive = (control.flags || []).includes("inactive") || (control.flags || []).includes("read-only");
      let input;
      const send = async (v) => {
        try {
          const result = await this.connection.call("set_camera_control", { device: entry.camera.device, name: control.name, value: v });
          control.value = result.value;
          value.textContent = String(result.value);
        } catch (err) {
          complain(err);
          this.loadControls(entry);
        }
      };
      if (control.type === "bool") {
        input = el("input", { id, type: "checkbox", checked: Boolean(control.value), disabled: inactive,
          onchange: () => send(input.checked) });
      } else if (control.type === "menu") {
        input = el("select", { id, disabled: inactive, onchange: () => send(Number(input.value)) },
          ...Object.entries(control.menu || {}).map(([k, text]) => el("option", { value: k, text, selected: Number(k) === control.value })));
      } else {
        input = el("input", { id, type: "range", min: control.min, max: control.max, step: control.step || 1,
          value: control.value, disabled: inactive,
          oninput: () => { value.textContent = input.value; },
          onchange: () => send(Number(input.value)) });
      }
      return el("div", { class: "control" }, label, input, value);
    });
    entry.controls.replaceChildren(...rows);
  }

  // --- files -------------------------------------------------------------

  async loadFiles() {
    if (!this.connection || !this.connection.open) return;
    const { kind, offset } = this.files;
    const method = kind === "recordings" ? "list_recordings" : "list_snapshots";
    try {
      const page = await this.connection.call(method, { limit: PAGE_SIZE, offset });
      if (kind !== this.files.kind || offset !== this.files.offset) return;
      if (!page.files.length && offset > 0 && page.total > 0) {
        this.files.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
        return this.loadFiles();
      }
      this.files.total = page.total;
      const rows = page.files.map((file) => this.fileRow(kind, file));
      $("files").replaceChildren(...rows);
      $("files").dataset.kind = kind;
      $("no-files").hidden = page.files.length > 0;
      $("no-files").textContent = kind === "recordings" ? "No recordings yet." : "No snapshots yet.";
      const last = Math.min(offset + page.files.length, page.total);
      $("page-text").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "";
      $("prev").disabled = offset === 0;
      $("next").disabled = last >= page.total;
      document.querySelector(".col-duration").textContent = kind === "recordings" ? "Length" : "";
      if (kind === "recordings") {
        for (const [i, file] of page.files.entries()) this.fillDuration(rows[i], file.filename);
      }
    } catch (err) {
      complain(err);
    }
  }

  fileRow(kind, file) {
    const actions = [el("button", { class: "btn btn-small", type: "button", "data-action": "download", text: "Download",
      onclick: (event) => this.saveFile(kind, file, event.target) })];
    if (this.can("admin")) {
      actions.push(el("button", { class: "btn btn-small btn-danger", type: "button", "data-action": "delete", text: "Delete",
        onclick: () => this.deleteFile(kind, file) }));
    }
    return el("tr", { "data-filename": file.filename },
      el("td", { class: "name", text: file.filename }),
      el("td", { text: formatTime(file.modified_time) }),
      el("td", { class: "num", text: formatBytes(file.file_size) }),
      el("td", { class: "num col-duration duration", text: kind === "recordings" ? "…" : "" }),
      el("td", { class: "actions" }, ...actions));
  }

  async fillDuration(row, filename) {
    try {
      const info = await this.connection.call("get_recording_info", { filename });
      row.querySelector(".duration").textContent = formatDuration(info.duration);
    } catch (err) {
      row.querySelector(".duration").textContent = "–";
    }
  }

  /** GET a path of /files (or another API path) with the credential; a Blob.
   * `what` names it in an error's plain words. */
  async download(path, what = "the file") {
    let response;
    try {
      response = await fetch(path, {
        headers: { Authorization: `Bearer ${sessionStorage.getItem(STORAGE_KEY)}` },
        cache: "no-store",
      });
    } catch (err) {
      throw new RpcError({ code: "http", status: 0, what });
    }
    if (!response.ok) throw new RpcError({ code: "http", status: response.status, what });
    return response.blob();
  }

  /** Saves a file through a plain link to a short-lived URL of it: the
   * browser streams it to disk (and resumes it with ranges) itself, and
   * the credential never goes into a URL. */
  async saveFile(kind, file, button) {
    button.disabled = true;
    try {
      const link = await this.connection.call("get_download_url", { filename: file.filename, kind });
      const anchor = el("a", { href: link.url, download: file.filename, hidden: true, "data-download": file.filename });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
    } catch (err) {
      complain(err);
    } finally {
      button.disabled = false;
    }
  }

  async deleteFile(kind, file) {
    if (!window.confirm(`Delete ${file.filename}? This cannot be undone.`)) return;
    try {
      await this.connection.call(kind === "recordings" ? "delete_recording" : "delete_snapshot", { filename: file.filename });
      toast(`Deleted ${file.filename}.`);
      this.loadFiles();
      this.loadStorage();
    } catch (err) {
      complain(err);
    }
  }

  // --- system ------------------------------------------------------------

  async refreshSystem() {
    if (!this.connection || !this.connection.open) return;
    await Promise.all([this.loadHealth(), this.loadStorage(), this.loadSessions()]);
  }

  async loadHealth() {
    const items = [];
    const line = (label, state, text) => el("li", {},
      el("span", {}, el("span", { class: `dot ${state}` }), label), el("span", { class: "muted", text }));
    try {
      if (this.can("admin")) {
        const status = await this.connection.call("get_status");
        const mediamtx = status.mediamtx || {};
        const health = mediamtx.health || (status.components.mediamtx === "RUNNING" ? "up" : "down");
        this.setMediamtx(health === "unknown" ? "up" : health, mediamtx.detail);
        items.push(line("camservice", status.status === "HEALTHY" ? "ok" : status.status === "DEGRADED" ? "warn" : "bad",
          `${status.status.toLowerCase()} · up ${formatDuration(status.uptime)}`));
        items.push(line("MediaMTX", "", ""));
      } else {
        const status = await this.connection.call("get_system_status");
        const mediamtxDown = /not running:.*mediamtx/.test(status.message || "");
        if (status.status !== "starting") this.setMediamtx(mediamtxDown ? "down" : "up");
        items.push(line("camservice", status.status === "ready" ? "ok" : "warn", status.message));
        items.push(line("MediaMTX", "", ""));
      }
    } catch (err) {
      items.push(line("camservice", "bad", describeError(err.rpc)));
    }
    for (const entry of this.cameras.values()) {
      const s = entry.camera.status;
      items.push(line(entry.camera.name || entry.camera.device, s === "CONNECTED" ? "ok" : s === "ERROR" ? "bad" : "warn",
        s.toLowerCase()));
    }
    if (items[1]) items[1].id = "health-mediamtx";
    $("health").replaceChildren(...items);
    this.renderMediamtxLine();
  }

  renderMediamtxLine() {
    const item = $("health-mediamtx");
    if (!item) return;
    const status = this.mediamtxStatus || "up";
    item.querySelector(".dot").className = `dot ${status === "up" ? "ok" : status === "recovering" ? "warn" : "bad"}`;
    item.lastChild.textContent = status;
  }

  async loadStorage() {
    if (!this.can("admin") || !this.connection || !this.connection.open) return;
    try {
      const info = await this.connection.call("get_storage_info");
      const bar = $("storage-bar");
      bar.style.width = `${Math.min(100, info.usage_percentage)}%`;
      bar.className = `bar-fill${info.low_space_warning ? " low" : ""}`;
      $("storage-text").textContent = `${formatBytes(info.used_space)} of ${formatBytes(info.used_space + info.available_space)} used (${info.usage_percentage}%)`;
      $("storage-warning").hidden = !info.low_space_warning;
      $("storage").title = `Recordings ${formatBytes(info.recordings_size)}, snapshots ${formatBytes(info.snapshots_size)}`;
    } catch (err) {
      $("storage-text").textContent = describeError(err.rpc);
    }
  }

  async loadSessions() {
    if (!this.can("admin") || !this.connection || !this.connection.open) return;
    try {
      const result = await this.connection.call("list_sessions");
      const items = result.sessions.filter((s) => s.authenticated).map((s) => el("li", {},
        el("span", {}, el("b", { text: s.user_id || "?" }), ` ${s.role || ""}`,
          el("br"), el("span", { class: "muted", text: `${s.address} · since ${formatTime(s.since)}${s.current ? " · this tab" : ""}` })),
        s.current ? null : el("button", { class: "btn btn-small btn-danger", type: "button", text: "End",
          onclick: () => this.endSession(s) })));
      $("sessions").replaceChildren(...items);
    } catch (err) {
      $("sessions").replaceChildren(el("li", { class: "muted", text: describeError(err.rpc) }));
    }
  }

  async endSession(session) {
    if (!window.confirm(`End the session of ${session.user_id}?`)) return;
    try {
      await this.connection.call("terminate_session", { session_id: session.session_id });
      this.loadSessions();
    } catch (err) {
      complain(err);
    }
  }

  async loadServerInfo() {
    try {
      const info = await this.connection.call("get_server_info");
      $("server-info").textContent = `camservice ${info.version}${info.mediamtx_version ? ` · MediaMTX ${info.mediamtx_version}` : ""}`;
    } catch (err) {
      $("server-info").textContent = "";
    }
  }
}

new Console().boot();
