// Plain words for the API's errors (the codes of the client contract).

const STATES = {
  recording: "This camera is already recording.",
  not_recording: "This camera is not recording.",
  camera_disconnected: "The camera is not connected.",
  storage_critical: "The disk is too full for new snapshots or recordings.",
  file_exists: "A file with that name exists already.",
  control_inactive: "That setting is decided automatically right now (turn the automatic mode off first).",
};

const DEPENDENCIES = {
  mediamtx: "The media server (MediaMTX) is not reachable right now.",
  ffmpeg: "Capturing video failed.",
  "v4l2-ctl": "The camera did not answer.",
};

const HTTP_STATUSES = {
  400: "camservice did not accept the request for {what}.",
  401: "Your sign-in is not accepted for {what} (it may have expired): sign in again.",
  403: "You may not open {what}.",
  404: "{What} does not exist (any more).",
  405: "camservice did not accept the request for {what}.",
  416: "{What} is shorter than the part asked for.",
  429: "Too many requests: try {what} again in a moment.",
  500: "camservice failed while sending {what} (its log says why).",
  502: "Capturing {what} failed.",
  503: "{What} is unavailable right now (the camera or the media server is not ready).",
  504: "camservice did not answer in time for {what}.",
};

/** A sentence for an HTTP answer that is not a success (a download, a
 * picture): never the body, which may be JSON or HTML meant for programs. */
export function describeHttpStatus(status, what = "that") {
  const template = HTTP_STATUSES[status] ||
    (status >= 500 ? "camservice could not send {what} right now." : "camservice refused the request for {what}.");
  return template.replace("{what}", what).replace("{What}", what.charAt(0).toUpperCase() + what.slice(1));
}

/** A sentence for an error object `{code, message, data}` of JSON-RPC
 * (or `{code: "http", status, what}` of an HTTP request). */
export function describeError(error) {
  if (!error || typeof error !== "object") return "Something went wrong.";
  const data = error.data && typeof error.data === "object" ? error.data : {};
  switch (error.code) {
    case -32001:
      return "Sign-in failed: the token or API key is not valid, or it has expired.";
    case -32002:
      return data.required_role
        ? `You are not allowed to do that: it needs the ${data.required_role} role.`
        : "You are not allowed to do that.";
    case -32010:
      return `Not found: ${data.resource ? `the ${data.resource}` : "that item"}${data.id ? ` “${data.id}”` : ""} does not exist (any more).`;
    case -32020: {
      const sentence = STATES[data.state] || "That cannot be done in the current state.";
      return data.detail && data.state === "storage_critical" ? `${sentence} (${data.detail})` : sentence;
    }
    case -32030:
      return "That is not available here.";
    case -32040: {
      const seconds = Math.max(1, Math.ceil((data.retry_after_ms || 1000) / 1000));
      return `Too many requests: try again in ${seconds} s.`;
    }
    case -32050: {
      const sentence = DEPENDENCIES[data.dependency] || "A service camservice depends on failed.";
      return sentence;
    }
    case -32602:
      return `That value is not accepted${data.param ? ` (${data.param})` : ""}${data.rule ? `: ${data.rule}` : ""}.`;
    case -32601:
      return "This server does not offer that function (it may be an older version).";
    case -32603:
      return `The server hit an internal error${data.request_id ? ` (reference ${data.request_id})` : ""}.`;
    case -32600:
    case -32700:
      return "The console sent a request the server did not understand.";
    case "http":
      return error.status ? describeHttpStatus(error.status, error.what)
        : `camservice could not be reached for ${error.what || "that"}.`;
    case "offline":
      return "Not connected to camservice: the request was not sent.";
    case "timeout":
      return "camservice did not answer in time.";
    default:
      return "Something went wrong.";
  }
}

/** An Error carrying the JSON-RPC error object. */
export class RpcError extends Error {
  constructor(error) {
    super(describeError(error));
    this.rpc = error;
    this.code = error && error.code;
  }
}
