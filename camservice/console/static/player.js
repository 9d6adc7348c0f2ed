// Live video of one camera from MediaMTX: WebRTC (WHEP) first, HLS
// (hls.js, or the browser's own HLS) when WebRTC does not work.

const ICE_GATHER_MS = 2000;
const WEBRTC_START_MS = 8000;

function withQuery(location, base) {
  // the session URL MediaMTX answers with, carrying the token query of
  // the WHEP URL (signed URLs) when it has none of its own
  const url = new URL(location, base);
  const baseUrl = new URL(base);
  if (!url.search && baseUrl.search) url.search = baseUrl.search;
  return url.toString();
}

function waitIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHER_MS);
  });
}

export class Player {
  /**
   * @param {HTMLVideoElement} video
   * @param {function} onState (state, via) state: "connecting", "playing", "failed"
   */
  constructor(video, onState) {
    this.video = video;
    this.onState = onState;
    this.pc = null;
    this.hls = null;
    this.session = null;
    this.generation = 0;
  }

  /** Play `streams` ({webrtc, hls} URLs); stops what played before. */
  async play(streams) {
    this.stop();
    const generation = ++this.generation;
    this.onState("connecting", null);
    if (streams.webrtc && window.RTCPeerConnection) {
      try {
        await this._webrtc(streams.webrtc, generation);
        return;
      } catch (e) {
        if (generation !== this.generation) return;
        this._closeWebrtc();
      }
    }
    if (streams.hls) {
      try {
        await this._hls(streams.hls, generation);
        return;
      } catch (e) {
        if (generation !== this.generation) return;
      }
    }
    this.stop();
    this.onState("failed", null);
  }

  stop() {
    this.generation++;
    this._closeWebrtc();
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    this.video.removeAttribute("src");
    this.video.srcObject = null;
  }

  _closeWebrtc() {
    if (this.session) {
      fetch(this.session, { method: "DELETE" }).catch(() => {});
      this.session = null;
    }
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
  }

  async _webrtc(url, generation) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    const playing = new Promise((resolve, reject) => {
      pc.ontrack = (event) => {
        this.video.srcObject = event.streams[0] || new MediaStream([event.track]);
        this.video.play().catch(() => {});
      };
      this.video.addEventListener("playing", resolve, { once: true });
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed") reject(new Error("WebRTC connection failed"));
        if (generation === this.generation && this.pc === pc && ["failed", "disconnected", "closed"].includes(pc.connectionState)) {
          // the stream went away after playing: let the owner retry
          if (this.video.srcObject) this.onState("failed", "WebRTC");
        }
      };
      setTimeout(() => reject(new Error("WebRTC did not start")), WEBRTC_START_MS);
    });
    playing.catch(() => {}); // awaited below, unless the offer fails first
    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc);
    if (generation !== this.generation) throw new Error("superseded");
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) throw new Error(`WHEP answered ${response.status}`);
    const location = response.headers.get("Location");
    if (location) this.session = withQuery(location, url);
    const answer = await response.text();
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    await playing;
    if (generation !== this.generation) throw new Error("superseded");
    this.onState("playing", "WebRTC");
  }

  _hls(url, generation) {
    return new Promise((resolve, reject) => {
      const video = this.video;
      const timer = setTimeout(() => reject(new Error("HLS did not start")), 15000);
      video.addEventListener("playing", () => {
        clearTimeout(timer);
        if (generation === this.generation) this.onState("playing", "HLS");
        resolve();
      }, { once: true });
      if (window.Hls && window.Hls.isSupported()) {
        const hls = new window.Hls({ enableWorker: false, lowLatencyMode: true, liveSyncDurationCount: 2 });
        this.hls = hls;
        hls.on(window.Hls.Events.ERROR, (event, data) => {
          if (!data.fatal) return;
          clearTimeout(timer);
          reject(new Error(`HLS: ${data.details}`));
          if (generation === this.generation && video.currentTime > 0) this.onState("failed", "HLS");
        });
        hls.loadSource(url);
        hls.attachMedia(video);
        video.play().catch(() => {});
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = url;
        video.play().catch(() => {});
      } else {
        clearTimeout(timer);
        reject(new Error("no HLS player"));
      }
    });
  }
}
