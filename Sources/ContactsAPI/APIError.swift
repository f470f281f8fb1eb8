public import ContactsCore

/// Every failure the API answers with: status, a stable snake_case code, a sentence for a
/// person, the offending fields of a validation error, and any headers (`Allow`).
///
/// The one error type at the HTTP edge: handlers throw it, `ContactsAPI.respond(to:)` turns it
/// into the one error body; anything else thrown becomes a logged 500.
public struct APIError: Error, Equatable, Sendable {
  public var status: Int
  public var code: String
  public var message: String
  public var fields: [FieldError]
  public var headers: [APIResponse.Header]

  public init(
    status: Int, code: String, message: String, fields: [FieldError] = [], headers: [APIResponse.Header] = []
  ) {
    self.status = status
    self.code = code
    self.message = message
    self.fields = fields
    self.headers = headers
  }

  /// `{"error":{"code":…,"message":…,"fields":[…]}}`, `fields` only when there are some.
  public var body: [UInt8] {
    var writer = JSONWriter()
    writer.append(raw: "{\"error\":{\"code\":")
    writer.append(string: code)
    writer.append(raw: ",\"message\":")
    writer.append(string: message)
    if !fields.isEmpty {
      writer.append(raw: ",\"fields\":[")
      for (index, field) in fields.enumerated() {
        if index > 0 { writer.append(raw: ",") }
        writer.appendObject(["field": field.field, "message": field.message])
      }
      writer.append(raw: "]")
    }
    writer.append(raw: "}}")
    return writer.bytes
  }

  static let unauthenticated = APIError(
    status: 401, code: "unauthenticated", message: "Sign in to use the contacts API.")

  static func misconfigured(_ detail: String) -> APIError {
    APIError(
      status: 500, code: "server_misconfigured",
      message: "The server cannot tell who you are allowed to be; the request was refused. (\(detail))")
  }

  static func forbidden(_ user: String, needs permission: Permissions) -> APIError {
    APIError(
      status: 403, code: "forbidden",
      message: "User '\(user)' has no role that grants \(permission) access to contacts.")
  }

  static func notFound(_ path: String) -> APIError {
    APIError(status: 404, code: "not_found", message: "There is no contact at \(path).")
  }

  static func methodNotAllowed(_ method: String, allowed: [String], reason: String) -> APIError {
    APIError(
      status: 405, code: "method_not_allowed", message: "\(method) is not allowed here: \(reason).",
      headers: [.init("Allow", allowed.joined(separator: ", "))])
  }

  static let preconditionFailed = APIError(
    status: 412, code: "precondition_failed",
    message: "The contact has changed since you read it (If-Match does not match its ETag); read it again and retry.")

  /// `If-None-Match` on a write (PUT, DELETE) that matches: RFC 9110 answers 412 there, not 304.
  static let preconditionFailedNoneMatch = APIError(
    status: 412, code: "precondition_failed",
    message:
      "If-None-Match matches the contact's current ETag, so the change was not made; a write takes If-Match (or no precondition)."
  )

  /// The store could not be read or written right now; it recovers by itself.
  static func storeUnavailable(_ error: ContactStoreUnavailable) -> APIError {
    APIError(
      status: 503, code: "store_unavailable",
      message: error.duringWrite
        ? "The contacts store could not save the change, so it was not acknowledged; retry in a moment."
        : "The contacts store cannot be read right now; retry in a moment.",
      headers: [.init("Retry-After", String(error.retryAfterSeconds))])
  }

  static func unsupportedContentEncoding(_ coding: String) -> APIError {
    APIError(
      status: 415, code: "unsupported_media_type",
      message: "Send the body as it is: Content-Encoding '\(coding)' is not supported.")
  }

  static func unsupportedMediaType(_ contentType: String?) -> APIError {
    let sent = contentType.map { "'\($0)'" } ?? "no Content-Type"
    return APIError(
      status: 415, code: "unsupported_media_type",
      message: "Send the body as application/json (the request had \(sent)).")
  }

  static func payloadTooLarge(limit: Int) -> APIError {
    APIError(
      status: 413, code: "payload_too_large", message: "The body is larger than the limit of \(limit) bytes.")
  }

  static func invalidJSON(_ error: JSONSyntaxError) -> APIError {
    APIError(status: 400, code: "invalid_json", message: "The body is not valid JSON. \(error.description).")
  }

  static func invalidContact(_ failure: ValidationFailure) -> APIError {
    APIError(status: 400, code: "validation_failed", message: failure.message, fields: failure.fields)
  }

  static func invalidQuery(_ error: QueryError) -> APIError {
    APIError(
      status: 400, code: "invalid_query", message: error.message,
      fields: [FieldError(field: error.parameter, message: error.message)])
  }

  static func invalidPath(_ path: String, _ problem: RequestTarget.Problem) -> APIError {
    APIError(
      status: 400, code: "invalid_path",
      message: "The request path is refused: \(problem). Send the path without '.', '..', '//' or encoded slashes.")
  }

  static func invalidCursor(_ cursor: String) -> APIError {
    APIError(
      status: 400, code: "invalid_cursor",
      message:
        "'\(cursor.prefix(200))' is not a cursor this service made; start from the X-Contacts-Cursor of GET /contacts.",
      fields: [FieldError(field: "since", message: "is not a cursor this service made")])
  }

  static let cursorExpired = APIError(
    status: 410, code: "cursor_expired",
    message:
      "The changes after this cursor are no longer kept; reload GET /contacts and go on from its X-Contacts-Cursor.")

  static let eventsUnavailable = APIError(
    status: 501, code: "events_unavailable",
    message:
      "Pushed events are not available here (nginx without the nchan module); poll GET /contacts/_changes instead.")

  static let notAnEventStream = APIError(
    status: 406, code: "not_acceptable",
    message:
      "GET /contacts/_events is a Server-Sent Events stream: send Accept: text/event-stream (an EventSource does).")

  static let invalidIdempotencyKey = APIError(
    status: 400, code: "invalid_idempotency_key",
    message: "Idempotency-Key must be 1 to 255 visible ASCII characters.",
    fields: [FieldError(field: "Idempotency-Key", message: "must be 1 to 255 visible ASCII characters")])

  static let idempotencyKeyReused = APIError(
    status: 422, code: "idempotency_key_reused",
    message: "This Idempotency-Key was used with a different request; use a new key for a new request.")

  static let idempotencyKeyInUse = APIError(
    status: 409, code: "idempotency_key_in_use",
    message: "A request with this Idempotency-Key is still running; retry in a moment to get its answer.",
    headers: [.init("Retry-After", "1")])

  static func invalidBulk(_ reason: String) -> APIError {
    APIError(status: 400, code: "invalid_bulk", message: "The bulk request is not of the expected shape: \(reason).")
  }

  static let notApplied = APIError(
    status: 424, code: "not_applied",
    message: "Not applied: another operation of this atomic request failed, so none was committed.")

  static let internalError = APIError(
    status: 500, code: "internal_error",
    message: "The server failed to handle the request; the failure has been logged.")
}
