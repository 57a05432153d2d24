/**
 * HttpError: a failure that has an HTTP status. The server turns the ones raised while reading
 * a request (malformed head, oversized body, timeouts) into a short `text/plain` response and
 * then closes the connection, since after such an error the framing of what follows is unknown.
 * @module
 */

/** Reason phrases of the status codes this layer produces (RFC 9110 section 15). */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** An error carrying the HTTP status to answer with. */
export class HttpError extends Error {
  /** The status code (4xx or 5xx). */
  readonly status: number;
  /** Short kebab-case reason for counters and logs, e.g. `bad-header`. */
  readonly reason: string;

  constructor(status: number, reason: string, message?: string) {
    super(message ?? `${status} ${STATUS_TEXT[status] ?? "Error"}: ${reason}`);
    this.name = "HttpError";
    this.status = status;
    this.reason = reason;
  }

  /** A plain-text response for this error. */
  toResponse(): Response {
    const text = `${STATUS_TEXT[this.status] ?? "Error"}\n`;
    return new Response(text, {
      status: this.status,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
}
