/**
 * RFC 4475 (SIP torture test messages): what sipedge does with each message, as data, so the
 * parser's unit test and the WebSocket test against the running stack check the same verdicts.
 * docs/conformance.md explains each row. The raw messages live outside the repository
 * (../shared/conformance/rfc4475, see conformanceDir) and are not copied in.
 *
 * `parse`: "ok", or the status and reason phrase parseMessage fails with.
 * `edge`: the status the edge answers with over WebSocket (for domain `localhost`, no
 * credentials sent), or "drop" when nothing is sent back (responses, unmatched or invalid).
 */
export interface TortureCase {
  file: string;
  section: string;
  title: string;
  parse: "ok" | { status: number; reason?: string };
  edge: number | "drop";
  note: string;
}

/** Where the raw .dat files are: SIPEDGE_RFC4475_DIR, else ../shared/conformance/rfc4475. */
export const RFC4475_DIR_DEFAULT = "../shared/conformance/rfc4475";

const notHere = "in-dialog (To has a tag) and its Route is not the edge's: not relayed, 404 Not here";
const notRelaying = "foreign R-URI and From domain, no credentials: 403 Not relaying (no open relay)";
const challenged = "REGISTER is challenged before the registrar reads it: 401 with WWW-Authenticate";

export const RFC4475: readonly TortureCase[] = [
  { file: "wsinv", section: "3.1.1.1", title: "A Short Tortuous INVITE", parse: "ok", edge: 404, note: notHere },
  { file: "intmeth", section: "3.1.1.2", title: "Wide Range of Valid Characters", parse: "ok", edge: 403, note: notRelaying },
  { file: "esc01", section: "3.1.1.3", title: "Valid Use of the % Escaping Mechanism", parse: "ok", edge: 403, note: notRelaying },
  { file: "escnull", section: "3.1.1.4", title: "Escaped Nulls in URIs", parse: "ok", edge: 401, note: challenged },
  { file: "esc02", section: "3.1.1.5", title: "Use of % When It Is Not an Escape", parse: "ok", edge: 403, note: `method RE%47IST%45R is not REGISTER; ${notRelaying}` },
  { file: "lwsdisp", section: "3.1.1.6", title: "Message with No LWS between Display Name and <", parse: "ok", edge: 403, note: notRelaying },
  { file: "longreq", section: "3.1.1.7", title: "Long Values in Header Fields", parse: "ok", edge: 403, note: notRelaying },
  { file: "dblreq", section: "3.1.1.8", title: "Extra Trailing Octets in a UDP Datagram", parse: "ok", edge: 401, note: `the INVITE after Content-Length is discarded; ${challenged}` },
  { file: "semiuri", section: "3.1.1.9", title: "Semicolon-Separated Parameters in URI User Part", parse: "ok", edge: 403, note: notRelaying },
  { file: "transports", section: "3.1.1.10", title: "Varied and Unknown Transport Types", parse: "ok", edge: 403, note: notRelaying },
  { file: "mpart01", section: "3.1.1.11", title: "Multipart MIME Message", parse: "ok", edge: 403, note: `binary body: sent as a binary frame, round-trips byte for byte; ${notRelaying}` },
  { file: "unreason", section: "3.1.1.12", title: "Unusual Reason Phrase", parse: "ok", edge: "drop", note: "a valid response matching no transaction" },
  { file: "noreason", section: "3.1.1.13", title: "Empty Reason Phrase", parse: "ok", edge: "drop", note: "a valid response matching no transaction" },
  { file: "badinv01", section: "3.1.2.1", title: "Extraneous Header Field Separators", parse: { status: 400, reason: "Bad Via header" }, edge: 400, note: "the Via has empty parameters and elements" },
  { file: "clerr", section: "3.1.2.2", title: "Content Length Larger Than Message", parse: { status: 400, reason: "Content-Length mismatch" }, edge: 400, note: "one WebSocket message is the whole SIP message: the missing octets never come" },
  { file: "ncl", section: "3.1.2.3", title: "Negative Content-Length", parse: { status: 400, reason: "Bad Content-Length header" }, edge: 400, note: "Content-Length is 1*DIGIT" },
  { file: "scalar02", section: "3.1.2.4", title: "Request Scalar Fields with Overlarge Values", parse: { status: 400, reason: "Bad CSeq header" }, edge: 400, note: "CSeq must be below 2**31 (Max-Forwards 300 and the Expires overflow are also wrong; CSeq is checked first)" },
  { file: "scalarlg", section: "3.1.2.5", title: "Response Scalar Fields with Overlarge Values", parse: { status: 400, reason: "Bad CSeq header" }, edge: "drop", note: "an invalid response is discarded" },
  { file: "quotbal", section: "3.1.2.6", title: "Unterminated Quoted String in Display Name", parse: { status: 400, reason: "Bad To header" }, edge: 400, note: "unbalanced quote in the To display name" },
  { file: "ltgtruri", section: "3.1.2.7", title: "<> Enclosing Request-URI", parse: { status: 400, reason: "Bad Request-URI" }, edge: 400, note: "RFC allows the 400; sipedge never repairs a Request-URI" },
  { file: "lwsruri", section: "3.1.2.8", title: "Malformed SIP Request-URI (embedded LWS)", parse: { status: 400, reason: "Bad Request-Line" }, edge: 400, note: "the Request-Line splits into four parts" },
  { file: "lwsstart", section: "3.1.2.9", title: "Multiple SP Separating Request-Line Elements", parse: { status: 400, reason: "Bad Request-Line" }, edge: 400, note: "RFC allows rejecting; exactly one SP between elements" },
  { file: "trws", section: "3.1.2.10", title: "SP Characters at End of Request-Line", parse: { status: 400, reason: "Bad Request-Line" }, edge: 400, note: "RFC allows rejecting; no trailing SP" },
  { file: "escruri", section: "3.1.2.11", title: "Escaped Headers in SIP Request-URI", parse: { status: 400, reason: "Bad Request-URI" }, edge: 400, note: "RFC 3261 §19.1.1: headers are not allowed in a Request-URI" },
  { file: "baddate", section: "3.1.2.12", title: "Invalid Time Zone in Date Header Field", parse: "ok", edge: 403, note: `the proxy never reads Date; ${notRelaying}` },
  { file: "regbadct", section: "3.1.2.13", title: "Failure to Enclose name-addr URI in <>", parse: "ok", edge: 401, note: `Contact is read by the registrar only after authentication (then 400); ${challenged}` },
  { file: "badaspec", section: "3.1.2.14", title: "Spaces within addr-spec", parse: { status: 400, reason: "Bad To header" }, edge: 400, note: "RFC allows the 400; no spaces inside <>" },
  { file: "baddn", section: "3.1.2.15", title: "Non-token Characters in Display Name", parse: { status: 400, reason: "Bad From header" }, edge: 400, note: "unquoted display name with a comma; the file also lacks the final empty line, which sipedge tolerates" },
  { file: "badvers", section: "3.1.2.16", title: "Unknown Protocol Version", parse: { status: 505, reason: "Version Not Supported" }, edge: 505, note: "SIP/7.0" },
  { file: "mismatch01", section: "3.1.2.17", title: "Start Line and CSeq Method Mismatch", parse: { status: 400, reason: "CSeq method does not match request method" }, edge: 400, note: "RFC 3261 §8.1.1.5" },
  { file: "mismatch02", section: "3.1.2.18", title: "Unknown Method with CSeq Method Mismatch", parse: { status: 400, reason: "CSeq method does not match request method" }, edge: 400, note: "the mismatch is found before the method is looked at (RFC allows 400 or 501)" },
  { file: "bigcode", section: "3.1.2.19", title: "Overlarge Response Code", parse: { status: 400, reason: "Bad Status-Line" }, edge: "drop", note: "status code above 699: dropped" },
  { file: "badbranch", section: "3.2.1", title: "Missing Transaction Identifier", parse: "ok", edge: 403, note: `branch "z9hG4bK" alone parses; ${notRelaying}` },
  { file: "insuf", section: "3.3.1", title: "Missing Required Header Fields", parse: { status: 400, reason: "Missing header: To" }, edge: 400, note: "no To, From, Call-ID or Max-Forwards; the first missing in RFC 3261 §8.1.1 order is named" },
  { file: "unkscm", section: "3.3.2", title: "Request-URI with Unknown Scheme", parse: "ok", edge: 416, note: "sanity: only sip, sips and tel Request-URIs" },
  { file: "novelsc", section: "3.3.3", title: "Request-URI with Known but Atypical Scheme", parse: "ok", edge: 416, note: "sanity: only sip, sips and tel Request-URIs" },
  { file: "unksm2", section: "3.3.4", title: "Unknown URI Schemes in Header Fields", parse: "ok", edge: 400, note: "registrar: the AOR in To must be a SIP or SIPS URI (RFC 3261 §10.3); checked before the challenge, as an isbn: To names no realm" },
  { file: "bext01", section: "3.3.5", title: "Proxy-Require and Require", parse: "ok", edge: 420, note: "RFC 3261 §16.3 item 4: 420 with Unsupported listing the Proxy-Require options" },
  { file: "invut", section: "3.3.6", title: "Unknown Content-Type", parse: "ok", edge: 403, note: `a proxy ignores the body type; ${notRelaying}` },
  { file: "regaut01", section: "3.3.7", title: "Unknown Authorization Scheme", parse: "ok", edge: 401, note: "unknown scheme = no usable credentials: challenged" },
  { file: "multi01", section: "3.3.8", title: "Multiple Values in Single Value Required Fields", parse: { status: 400, reason: "Duplicate header: CSeq" }, edge: 400, note: "CSeq, Call-ID, To, From, Max-Forwards each twice; the first repeated one is named" },
  { file: "mcl01", section: "3.3.9", title: "Multiple Content-Length Values", parse: { status: 400, reason: "Duplicate header: Content-Length" }, edge: 400, note: "two different Content-Length values" },
  { file: "bcast", section: "3.3.10", title: "200 OK Response with Broadcast Via Header Field Value", parse: "ok", edge: "drop", note: "matches no transaction; never sent to 255.255.255.255" },
  { file: "zeromf", section: "3.3.11", title: "Max-Forwards of Zero", parse: "ok", edge: 483, note: "maxfwd: Max-Forwards 0 is not forwarded" },
  { file: "cparam01", section: "3.3.12", title: "REGISTER with a Contact Header Parameter", parse: "ok", edge: 401, note: challenged },
  { file: "cparam02", section: "3.3.13", title: "REGISTER with a url-parameter", parse: "ok", edge: 401, note: challenged },
  { file: "regescrt", section: "3.3.14", title: "REGISTER with a URL Escaped Header", parse: "ok", edge: 401, note: challenged },
  { file: "sdp01", section: "3.3.15", title: "Unacceptable Accept Offering", parse: "ok", edge: 403, note: `Accept concerns the UAS; ${notRelaying}` },
  { file: "inv2543", section: "3.4.1", title: "INVITE with RFC 2543 Syntax", parse: "ok", edge: 403, note: `no branch, no From tag, no Max-Forwards, no Content-Length: all accepted; ${notRelaying}` },
];
