public import ContactsAPI
import ContactsCore
public import FastCGI

extension APIRequest {
  /// The API's view of a FastCGI request: the security boundary between nginx and the API.
  ///
  /// Identity comes only from the params nginx sets itself, `REMOTE_USER` and `CONTACTS_ROLES`;
  /// no `HTTP_*` param (a client header) is ever read for it. Either one sent twice means a
  /// misconfigured nginx, and fails closed. The path is routed only if it agrees with the path
  /// nginx matched its location on (`DOCUMENT_URI`; see `RequestTarget`).
  public init(_ request: FastCGIRequest) {
    let users = request.values(of: "REMOTE_USER")
    let roles = request.values(of: "CONTACTS_ROLES")
    let caller: CallerIdentity
    if users.count > 1 || roles.count > 1 {
      caller = .misconfigured("nginx sent REMOTE_USER or CONTACTS_ROLES more than once")
    } else if let user = users.first, !user.isEmpty {
      if let roles = roles.first {
        caller = .authenticated(Identity(user: user, roles: RolePolicy.roles(fromHeader: roles)))
      } else {
        caller = .misconfigured("nginx did not pass CONTACTS_ROLES; include contacts-params.conf in the location")
      }
    } else {
      caller = .anonymous
    }
    func header(_ name: String) -> String? {
      request.param(name).flatMap { $0.isEmpty ? nil : $0 }
    }
    // A header sent on several lines reaches us as several params of one name: all of them,
    // joined as one list (RFC 9110 §5.3), so that a second line can neither be ignored nor
    // slip past a check of the first (two Content-Encoding lines, identity then gzip).
    func joined(_ name: String) -> String? {
      let values = request.values(of: name).filter { !$0.isEmpty }
      return values.isEmpty ? nil : values.joined(separator: ", ")
    }
    // nginx's CONTENT_TYPE is the first Content-Type line; two lines make no media type.
    let contentTypes = request.values(of: "HTTP_CONTENT_TYPE")
    self.init(
      method: request.param("REQUEST_METHOD") ?? "GET",
      target: request.param("REQUEST_URI") ?? request.param("DOCUMENT_URI") ?? "/",
      matchedPath: header("DOCUMENT_URI"),
      caller: caller,
      contentType: contentTypes.count > 1 ? contentTypes.joined(separator: ", ") : header("CONTENT_TYPE"),
      ifMatch: header("HTTP_IF_MATCH"),
      ifNoneMatch: header("HTTP_IF_NONE_MATCH"),
      acceptEncoding: joined("HTTP_ACCEPT_ENCODING"),
      body: request.body,
      // nginx's own limit (client_max_body_size) was passed: it sends no body, only this param
      // (the location @contacts_body_over_limit), so that the answer keeps the API's order.
      bodyExceededLimit: request.bodyExceededLimit || request.param("CONTACTS_BODY_OVER_LIMIT") == "1")
    // Set only in the internal location nginx's nchan module asks before opening a stream.
    authorizesEvents = request.param("CONTACTS_EVENTS_AUTHORIZE") == "1"
    eventsAvailable = request.param("CONTACTS_EVENTS_AVAILABLE") == "1"
    // Two key lines join into one with ", ": not a valid key (400), rather than the first.
    let keys = request.values(of: "HTTP_IDEMPOTENCY_KEY")
    idempotencyKey = keys.isEmpty ? nil : keys.joined(separator: ", ")
    contentEncoding = joined("HTTP_CONTENT_ENCODING")
  }
}

extension FastCGIResponse {
  /// The FastCGI response that carries `response`.
  public init(_ response: APIResponse) {
    self.init(status: response.status, headers: response.headers.map { ($0.name, $0.value) }, body: response.body)
  }
}
