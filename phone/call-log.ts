/** The phone's call log: the last calls, kept in the browser's localStorage. */

export interface CallRecord {
  direction: "incoming" | "outgoing";
  peer: string;
  start: number;
  /** When the call was answered; undefined for a call that never was. */
  answered: number | undefined;
  end: number | undefined;
  /** JsSIP's cause: Terminated, Canceled, Busy, Unavailable, ... */
  cause: string;
  /** DTMF tones sent during the call. */
  dtmf: string;
}

const KEY = "sipedge.calls";
const KEEP = 50;

export class CallLog {
  constructor(private readonly storage: Storage) {}

  records(): CallRecord[] {
    try {
      const parsed: unknown = JSON.parse(this.storage.getItem(KEY) ?? "[]");
      return Array.isArray(parsed) ? (parsed as CallRecord[]) : [];
    } catch {
      return [];
    }
  }

  add(record: CallRecord): void {
    this.storage.setItem(KEY, JSON.stringify([record, ...this.records()].slice(0, KEEP)));
  }

  /** One line: `12:03 → sip:15551234567@sip.example.com 0:42 (Terminated)`. */
  static describe(r: CallRecord): string {
    const at = new Date(r.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const arrow = r.direction === "outgoing" ? "→" : "←";
    let length = "not answered";
    if (r.answered !== undefined && r.end !== undefined) {
      const s = Math.round((r.end - r.answered) / 1000);
      length = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    }
    return `${at} ${arrow} ${r.peer} ${length} (${r.cause})${r.dtmf ? ` DTMF ${r.dtmf}` : ""}`;
  }
}
