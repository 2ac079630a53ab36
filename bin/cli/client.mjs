// The admin API as the CLI sees it: one request helper that turns every way a call can fail
// into a CliError with an exit code and a message a person can act on.

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, token: 4 };

export class CliError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** The message of an admin API error body: `{error: "..."}` or `{error: {field, reason, file, line}}`. */
function reasonOf(json, text) {
  const e = json?.error;
  if (typeof e === "string") return e;
  if (e && typeof e === "object") {
    const where = e.line > 0 ? `${e.file}:${e.line}: ` : e.file ? `${e.file}: ` : "";
    return `${where}${e.field ? e.field + ": " : ""}${e.reason ?? JSON.stringify(e)}`;
  }
  return text.slice(0, 200) || "(no body)";
}

export class AdminClient {
  constructor({ url, token }) {
    this.url = url.replace(/\/+$/, "");
    this.token = token;
  }

  /** Sends a request; resolves with the parsed JSON (or text for non-JSON answers). */
  async request(method, path, { body, contentType, accept } = {}) {
    let res;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(contentType ? { "Content-Type": contentType } : {}),
          ...(accept ? { Accept: accept } : {}),
        },
        body,
      });
    } catch (error) {
      const cause = error.cause?.code ?? error.cause?.message ?? error.message;
      throw new CliError(`cannot reach ${this.url} (${cause}): is the edge running (npm start), and is --url / SIPEDGE_URL right?`, EXIT.unreachable);
    }
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) return json ?? text;
    const reason = reasonOf(json, text);
    if (res.status === 401) throw new CliError(`${this.url} refused the token in SIPEDGE_ADMIN_TOKEN (401: ${reason})`, EXIT.token);
    if (res.status === 503) throw new CliError(`${this.url}: the admin API is closed (${reason})`, EXIT.token);
    if (res.status >= 400 && res.status < 500) throw new CliError(`${method} ${path}: ${res.status}: ${reason}`, EXIT.refused);
    throw new CliError(`${this.url} answered ${res.status}: ${reason}`, EXIT.unreachable);
  }
}
