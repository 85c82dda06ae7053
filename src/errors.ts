// The one error hierarchy. Every error Ferry raises on purpose is a FerryError with a
// stable code, a message a person can act on, and the cause it wraps.

/** RFC 4254 section 5.1 channel open failure reason codes. */
export const OpenFailure = {
  ADMINISTRATIVELY_PROHIBITED: 1,
  CONNECT_FAILED: 2,
  UNKNOWN_CHANNEL_TYPE: 3,
  RESOURCE_SHORTAGE: 4,
} as const;
export type OpenFailureReason = (typeof OpenFailure)[keyof typeof OpenFailure];

export class FerryError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Malformed configuration, role, spec or any other input a person wrote. */
export class ValidationError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_input', message, options);
  }
}

/** A thing asked for by name that does not exist. */
export class NotFoundError extends FerryError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** A thing that already exists where a new one was asked for. */
export class AlreadyExistsError extends FerryError {
  constructor(message: string) {
    super('already_exists', message);
  }
}

/** A certificate that failed one named check. */
export class CertificateError extends FerryError {}

/** A channel that could not be opened, carrying the RFC 4254 reason code. */
export class ChannelOpenError extends FerryError {
  readonly reason: OpenFailureReason;

  constructor(reason: OpenFailureReason, message: string, options?: { cause?: unknown }) {
    super('channel_open_failed', message, options);
    this.reason = reason;
  }
}

/** Renders any thrown value as one line for a person. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
