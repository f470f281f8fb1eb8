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
    self.init(
      method: request.param("REQUEST_METHOD") ?? "GET",
      target: request.param("REQUEST_URI") ?? request.param("DOCUMENT_URI") ?? "/",
      matchedPath: header("DOCUMENT_URI"),
      caller: caller,
      contentType: header("CONTENT_TYPE"),
      ifMatch: header("HTTP_IF_MATCH"),
      ifNoneMatch: header("HTTP_IF_NONE_MATCH"),
      acceptEncoding: header("HTTP_ACCEPT_ENCODING"),
      body: request.body,
      // nginx's own limit (client_max_body_size) was passed: it sends no body, only this param
      // (the location @contacts_body_over_limit), so that the answer keeps the API's order.
      bodyExceededLimit: request.bodyExceededLimit || request.param("CONTACTS_BODY_OVER_LIMIT") == "1")
    // Set only in the internal location nginx's nchan module asks before opening a stream.
    authorizesEvents = request.param("CONTACTS_EVENTS_AUTHORIZE") == "1"
    eventsAvailable = request.param("CONTACTS_EVENTS_AVAILABLE") == "1"
    idempotencyKey = request.param("HTTP_IDEMPOTENCY_KEY")
    contentEncoding = header("HTTP_CONTENT_ENCODING")
  }
}

extension FastCGIResponse {
  /// The FastCGI response that carries `response`.
  public init(_ response: APIResponse) {
    self.init(status: response.status, headers: response.headers.map { ($0.name, $0.value) }, body: response.body)
  }
}
