/** What the phone shows (and the tests read) of a call's media, from RTCPeerConnection.getStats(). */

export interface MediaStats {
  /** inbound-rtp / outbound-rtp of the audio stream. */
  packetsReceived: number;
  packetsSent: number;
  bytesReceived: number;
  /** Level of the audio received (0..1): what the speaker would play. */
  audioLevel: number;
  /** The receive codec's MIME subtype (`opus`, `PCMU`). */
  codec: string | undefined;
  /** DTLS transport state: `connected` once DTLS-SRTP keys are agreed. */
  dtls: string | undefined;
  /** SRTP cipher of the DTLS transport (`AES_CM_128_HMAC_SHA1_80`, ...). */
  srtpCipher: string | undefined;
  ice: string | undefined;
  /** The remote candidate in use (`127.0.0.1:30000`). */
  remote: string | undefined;
}

export async function mediaStats(pc: RTCPeerConnection): Promise<MediaStats> {
  const report = await pc.getStats();
  const out: MediaStats = {
    packetsReceived: 0, packetsSent: 0, bytesReceived: 0, audioLevel: 0, codec: undefined, dtls: undefined,
    srtpCipher: undefined, ice: pc.iceConnectionState, remote: undefined,
  };
  const byId = new Map<string, Record<string, unknown>>();
  report.forEach((s: Record<string, unknown>) => byId.set(String(s.id), s));
  for (const s of byId.values()) {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packetsReceived += Number(s.packetsReceived ?? 0);
      out.bytesReceived += Number(s.bytesReceived ?? 0);
      out.audioLevel = Math.max(out.audioLevel, Number(s.audioLevel ?? 0));
      const codec = byId.get(String(s.codecId));
      if (codec !== undefined) out.codec = String(codec.mimeType).replace(/^audio\//, "");
    } else if (s.type === "outbound-rtp" && s.kind === "audio") {
      out.packetsSent += Number(s.packetsSent ?? 0);
    } else if (s.type === "transport") {
      out.dtls = s.dtlsState as string | undefined;
      out.srtpCipher = s.srtpCipher as string | undefined;
      const pair = byId.get(String(s.selectedCandidatePairId));
      const remote = pair === undefined ? undefined : byId.get(String(pair.remoteCandidateId));
      if (remote !== undefined) out.remote = `${String(remote.address ?? remote.ip)}:${String(remote.port)}`;
    }
  }
  return out;
}
