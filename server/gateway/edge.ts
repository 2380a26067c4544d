/**
 * The connection side of the gateway's HTTP server: what happens around requests rather than in
 * them. Node's parser reports a broken message (bad framing, oversized head, a timeout) as
 * `clientError`; here it gets the status it is due (400, 408, 413, 414, 431), in OpenAI's shape,
 * and never out of turn: responses still owed on the connection go first (a client is billed only
 * for answers it was sent), a request already answered gets no second response, and the
 * connection closes after. Connections per client address are capped. See docs/gateway.md, "Limits".
 */
import type http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type net from "node:net";
import { ERRORS, rawErrorResponse, sendError, type GatewayErrorBody } from "./errors";

const LAST = Symbol("enclave.lastResponse");
const BROKEN = Symbol("enclave.broken");
const REFUSED = Symbol("enclave.refused");
const CLOSING = Symbol("enclave.closing");
const REQUEST_ID = Symbol("enclave.requestId");

type EdgeResponse = ServerResponse & { [REQUEST_ID]?: string };
type EdgeSocket = net.Socket & { [LAST]?: EdgeResponse; [BROKEN]?: true; [REFUSED]?: true; [CLOSING]?: true };

/** An answer the edge gives, as the gateway traces it (tracing.ts). */
export interface EdgeAnswer {
  requestId: string;
  traceparent: string;
  /** Called once the answer is written. */
  answered(e: GatewayErrorBody): void;
}

export interface EdgeOptions {
  /** Open connections allowed per client address; 0 for no cap. */
  maxConnectionsPerAddress: number;
  /** A fresh request id, for errors answered outside any request. */
  requestId: () => string;
  /** The trace of an answer given here: the request's own (`res`), or a new one (null: no request). */
  answer?: (res: ServerResponse | null) => EdgeAnswer;
}

/** How long a closing connection still waits for its client to read the answer before it is reset. */
const LINGER_MS = 1000;

/**
 * Closes a connection after its last answer is written: FIN, reading stopped (a client still
 * sending a refused body is not read any further; its writes stall), and a reset after LINGER_MS.
 * Closing at once would reset a connection with unread data, and a client still writing could
 * lose the answer it was sent.
 */
export function lingeringClose(socket: net.Socket) {
  socket.pause();
  if (!socket.writableEnded) socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

const discard = () => {};

/**
 * For an answer given before its request's body has all arrived: `connection: close`, the body
 * never read to its end (Node would read it all to keep the connection), and a lingering close
 * once the answer is out (Node's destroySoon, which it calls then, is replaced for this socket).
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse) {
  res.shouldKeepAlive = false;
  // Consumed, so that Node does not read the rest after the answer ("dump"); paused right after.
  if (req.readableFlowing === null) req.on("data", discard);
  const socket = req.socket as EdgeSocket & { destroySoon?: () => void };
  // Requests parsed after this one on the connection are dropped: their answers could never be sent.
  socket[CLOSING] = true;
  socket.destroySoon = () => {
    req.removeListener("data", discard);
    req.pause();
    lingeringClose(socket);
  };
}

/** Token characters of RFC 9110 (a method or a header name). */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;

/**
 * Whether a head overflow happened in the request line (414) rather than in a header (431): the
 * line the parser stopped in starts with a method and a space, where a header line has a colon.
 * Node counts both against one limit and says only "overflow"; a URL long enough to arrive over
 * several reads may be judged a header (431).
 */
function overflowInRequestLine(error: { rawPacket?: Buffer; bytesParsed?: number }): boolean {
  const buf = error.rawPacket;
  if (!Buffer.isBuffer(buf)) return false;
  const end = Math.min(buf.length, error.bytesParsed ?? buf.length);
  if (end <= 0) return false;
  const start = buf.lastIndexOf(0x0a, end - 1) + 1;
  let i = start;
  while (i < end && TOKEN[buf[i]]) i++;
  return i > start && i < end && buf[i] === 0x20;
}

/** The answer a parser or timeout error is due; null for a socket error (the peer is gone). */
function errorFor(error: NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number }): GatewayErrorBody | null {
  switch (error.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return ERRORS.requestTimeout;
    case "HPE_HEADER_OVERFLOW":
      return overflowInRequestLine(error) ? ERRORS.uriTooLong : ERRORS.headersTooLarge;
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return ERRORS.bodyTooLarge;
  }
  return error.code?.startsWith("HPE_") ? ERRORS.malformedRequest : null;
}

export function guardServer(server: http.Server, options: EdgeOptions) {
  server.on("clientError", (error: NodeJS.ErrnoException, duplex) => {
    const socket = duplex as EdgeSocket;
    // One answer per broken connection: a parser in error keeps failing on what follows.
    if (socket[BROKEN]) return;
    socket[BROKEN] = true;
    const e = errorFor(error);
    if (!e || !socket.writable || socket[REFUSED]) return void socket.destroy();
    const last = socket[LAST];
    if (last && !last.req.complete) {
      // The error is in this request's own body (or its deadline passed while it arrived).
      // Answered already (a 401 before its body): one response per request, so only close.
      if (last.headersSent) return void socket.destroy();
      // Otherwise this request gets the error, in its turn; the connection closes after it.
      closeAfterAnswer(last.req, last);
      const traced = options.answer?.(last);
      sendError(last, last[REQUEST_ID] ?? options.requestId(), e, traced?.traceparent);
      traced?.answered(e);
      return;
    }
    // A message that never became a request: answered once every response owed is sent.
    socket.pause();
    let answered = false;
    const answer = () => {
      answered = true;
      if (!socket.writable) return void socket.destroy();
      const traced = options.answer?.(null);
      socket.write(rawErrorResponse(e, traced?.requestId ?? options.requestId(), traced?.traceparent));
      traced?.answered(e);
      lingeringClose(socket);
    };
    if (last && !last.writableFinished && !last.destroyed) {
      last.once("finish", answer);
      last.once("close", () => {
        if (!answered) socket.destroy();
      });
    } else answer();
  });

  // Only 100-continue is answered (by Node); anything else is refused in OpenAI's shape.
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    closeAfterAnswer(req, res);
    const traced = options.answer?.(null);
    sendError(res, traced?.requestId ?? options.requestId(), ERRORS.expectationFailed, traced?.traceparent);
    traced?.answered(ERRORS.expectationFailed);
  });

  const max = options.maxConnectionsPerAddress;
  if (max > 0) {
    const open = new Map<string, number>();
    // Before Node's own listener: a refused connection is answered before any request is read.
    server.prependListener("connection", (s: net.Socket) => {
      const socket = s as EdgeSocket;
      const address = socket.remoteAddress ?? "";
      const n = open.get(address) ?? 0;
      if (n >= max) {
        socket[REFUSED] = true;
        socket.on("error", () => {});
        const traced = options.answer?.(null);
        socket.write(rawErrorResponse(ERRORS.tooManyConnections, traced?.requestId ?? options.requestId(), traced?.traceparent));
        traced?.answered(ERRORS.tooManyConnections);
        // Once Node's own listener has attached its parser (reading stops only then).
        setImmediate(() => lingeringClose(socket));
        return;
      }
      open.set(address, n + 1);
      socket.once("close", () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left > 0) open.set(address, left);
        else open.delete(address);
      });
    });
  }

  return {
    /**
     * Called for every request: remembers it as its connection's latest. False when the
     * connection was refused (the request is dropped with it).
     */
    track(req: IncomingMessage, res: ServerResponse, requestId: string): boolean {
      const socket = req.socket as EdgeSocket;
      // A refused connection's request is dropped (its 429 is written), and so is one pipelined
      // behind an answer that closes the connection.
      if (socket[REFUSED] || socket[CLOSING]) return false;
      (res as EdgeResponse)[REQUEST_ID] = requestId;
      socket[LAST] = res;
      // Forgotten once answered (a finished response of a complete request changes nothing
      // above): a kept-alive connection otherwise held its last request and everything it
      // referred to until the next one, long enough to be promoted to the old generation (a
      // heap snapshot under load: the gateway's major GCs, the p99 tail at 500 req/s).
      res.once("finish", () => {
        if (socket[LAST] === res && req.complete) socket[LAST] = undefined;
      });
      return true;
    },
  };
}
