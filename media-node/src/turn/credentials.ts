import { createHmac } from "node:crypto";
import type { TurnConfig } from "../config.js";
import type { RtcConfiguration } from "../signaling/offer-config.js";

// Time-limited TURN credentials, coturn's "TURN REST API" scheme (use-auth-secret):
// username = "<expiry unix seconds>:<connection_id>", credential = base64(HMAC-SHA1(secret, username)).
// coturn recomputes the HMAC with its static-auth-secret and refuses expired usernames, so the
// node never talks to coturn about individual clients.

export interface TurnCredentials {
  username: string;
  credential: string;
}

export function turnCredentials(secret: string, connectionId: string, ttlSec: number, nowMs = Date.now()): TurnCredentials {
  const username = `${Math.floor(nowMs / 1000) + ttlSec}:${connectionId}`;
  const credential = createHmac("sha1", secret).update(username).digest("base64");
  return { username, credential };
}

/** turn: URLs for the transports coturn serves (`?transport=` is what makes a browser use TCP). */
export function turnUrls(turn: TurnConfig): string[] {
  const host = turn.externalHost.includes(":") ? `[${turn.externalHost}]` : turn.externalHost;
  const urls: string[] = [];
  if (turn.udp) urls.push(`turn:${host}:${turn.listenPort}?transport=udp`);
  if (turn.tcp) urls.push(`turn:${host}:${turn.listenPort}?transport=tcp`);
  return urls;
}

/** The offer's `config` for one connection: our TURN server with credentials for that connection. */
export function rtcConfiguration(turn: TurnConfig, connectionId: string, nowMs = Date.now()): RtcConfiguration {
  const { username, credential } = turnCredentials(turn.sharedSecret, connectionId, turn.ttlSec, nowMs);
  const config: RtcConfiguration = { iceServers: [{ urls: turnUrls(turn), username, credential }] };
  if (turn.iceTransportPolicy === "relay") config.iceTransportPolicy = "relay";
  return config;
}
