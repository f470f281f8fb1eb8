import ContactsAPI
import ContactsCore
import ContactsServer
import FastCGI
import TestSupport
import Testing

/// The trust boundary: FastCGI params in, an `APIRequest` out. Identity only from the params
/// nginx sets; the path nginx matched travels with the request.
@Suite struct FastCGIParamsAdapterTests {
  static let base: [(name: String, value: String)] = [
    ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/contacts?type=User"), ("DOCUMENT_URI", "/contacts"),
  ]

  @Test func identityComesFromRemoteUserAndContactsRoles() {
    let request = APIRequest(
      FastCGIRequest(params: Self.base + [("REMOTE_USER", "alice"), ("CONTACTS_ROLES", "Agent, Supervisor")]))
    #expect(request.caller == .authenticated(Identity(user: "alice", roles: ["Agent", "Supervisor"])))
    #expect(request.path == "/contacts")
    #expect(request.query == "type=User")
    #expect(request.matchedPath == "/contacts")
  }

  @Test func clientHeadersNeverBecomeIdentity() {
    let spoofed: [(name: String, value: String)] = [
      ("HTTP_REMOTE_USER", "admin"), ("HTTP_CONTACTS_ROLES", "Contact Center Admin"),
      ("HTTP_X_REMOTE_USER", "admin"), ("HTTP_X_CONTACTS_ROLES", "Contact Center Admin"),
    ]
    #expect(APIRequest(FastCGIRequest(params: Self.base + spoofed)).caller == .anonymous)
    let agent = APIRequest(
      FastCGIRequest(params: Self.base + spoofed + [("REMOTE_USER", "bob"), ("CONTACTS_ROLES", "Agent")]))
    #expect(agent.caller == .authenticated(Identity(user: "bob", roles: ["Agent"])))
  }

  @Test(arguments: [
    [("REMOTE_USER", "a"), ("REMOTE_USER", "b"), ("CONTACTS_ROLES", "Agent")],
    [("REMOTE_USER", "a"), ("CONTACTS_ROLES", "Agent"), ("CONTACTS_ROLES", "Contact Center Admin")],
    [("REMOTE_USER", "a")],
  ])
  func repeatedOrMissingTrustedParamsFailClosed(params: [(String, String)]) throws {
    let request = APIRequest(FastCGIRequest(params: Self.base + params.map { (name: $0.0, value: $0.1) }))
    try #require(request.caller.misconfiguration != nil, "\(params) gave \(request.caller)")
  }

  /// `Accept-Encoding` reaches the API as nginx passes it (`HTTP_ACCEPT_ENCODING`); an empty one
  /// is no header (no coding either way).
  @Test func acceptEncodingComesFromTheClientsHeader() {
    let gzip = APIRequest(FastCGIRequest(params: Self.base + [("HTTP_ACCEPT_ENCODING", "gzip, deflate, br")]))
    #expect(gzip.acceptEncoding == "gzip, deflate, br")
    #expect(APIRequest(FastCGIRequest(params: Self.base + [("HTTP_ACCEPT_ENCODING", "")])).acceptEncoding == nil)
    #expect(APIRequest(FastCGIRequest(params: Self.base)).acceptEncoding == nil)
    let coded = APIRequest(FastCGIRequest(params: Self.base + [("HTTP_CONTENT_ENCODING", "gzip")]))
    #expect(coded.contentEncoding == "gzip")
    // A header on two lines arrives as two params: all of it counts, as one list.
    let twoLines = APIRequest(
      FastCGIRequest(
        params: Self.base + [("HTTP_CONTENT_ENCODING", "identity"), ("HTTP_CONTENT_ENCODING", "gzip")]))
    #expect(twoLines.contentEncoding == "identity, gzip")
    #expect(APIRequest(FastCGIRequest(params: Self.base + [("HTTP_CONTENT_ENCODING", "")])).contentEncoding == nil)
  }

  /// nginx's location for a body over its own limit sends no body, only this param: the request
  /// is over the limit whatever it carries (and a client's header of that name is not it).
  @Test func nginxsOverTheLimitParamMarksTheBodyAsOverTheLimit() {
    let over = APIRequest(FastCGIRequest(params: Self.base + [("CONTACTS_BODY_OVER_LIMIT", "1")]))
    #expect(over.bodyExceededLimit)
    let spoofed = APIRequest(
      FastCGIRequest(params: Self.base + [("HTTP_CONTACTS_BODY_OVER_LIMIT", "1")], body: Array("{}".utf8)))
    #expect(!spoofed.bodyExceededLimit)
    #expect(!APIRequest(FastCGIRequest(params: Self.base)).bodyExceededLimit)
  }

  /// Two Content-Type lines name no media type (nginx's CONTENT_TYPE is only the first), and two
  /// Idempotency-Key lines no key: neither is read as its first line.
  @Test func headersSentTwiceAreNotReadAsTheirFirstLine() {
    let types = APIRequest(
      FastCGIRequest(
        params: Self.base + [
          ("CONTENT_TYPE", "application/json"), ("HTTP_CONTENT_TYPE", "application/json"),
          ("HTTP_CONTENT_TYPE", "text/plain"),
        ]))
    #expect(types.contentType == "application/json, text/plain")
    let one = APIRequest(
      FastCGIRequest(
        params: Self.base + [("CONTENT_TYPE", "application/json"), ("HTTP_CONTENT_TYPE", "application/json")]))
    #expect(one.contentType == "application/json")
    let keys = APIRequest(
      FastCGIRequest(params: Self.base + [("HTTP_IDEMPOTENCY_KEY", "a"), ("HTTP_IDEMPOTENCY_KEY", "b")]))
    #expect(keys.idempotencyKey == "a, b")
    #expect(APIRequest(FastCGIRequest(params: Self.base + [("HTTP_IDEMPOTENCY_KEY", "a")])).idempotencyKey == "a")
  }

  @Test func emptyRemoteUserIsAnonymousWhateverTheRoles() {
    let request = APIRequest(
      FastCGIRequest(params: Self.base + [("REMOTE_USER", ""), ("CONTACTS_ROLES", "Contact Center Admin")]))
    #expect(request.caller == .anonymous)
  }

  /// Fuzz: 100,000 random param lists (names from the ones that matter plus noise, values of
  /// random bytes, repeats, missing ones). Nothing traps; the caller is authenticated only when
  /// exactly one non-empty REMOTE_USER and one CONTACTS_ROLES came; the API answers every one
  /// with a well-formed response.
  @Test func randomParamsNeverTrapAndNeverInventAnIdentity() {
    var random = SeededRandom(seed: 0xFC61)
    let names = [
      "REMOTE_USER", "CONTACTS_ROLES", "REQUEST_METHOD", "REQUEST_URI", "DOCUMENT_URI", "CONTENT_TYPE",
      "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_REMOTE_USER", "HTTP_CONTACTS_ROLES", "QUERY_STRING", "X",
      "HTTP_ACCEPT_ENCODING",
    ]
    let values = [
      "", "admin", "Contact Center Admin", "Agent", "GET", "POST", "/contacts", "/contacts/../_contacts/ping",
      "/contacts&x=/../y", "/contacts?offset=9223372036854775807&limit=1000", "application/json", "\"v1\"", "*",
      "%00", "/contacts/%2e%2e", ",,,", " Agent , ", "\u{202E}", "gzip", "gzip;q=0, *", "x-gzip;q=0.5",
    ]
    let api = ContactsAPI(repository: InMemoryContactRepository(contacts: []))
    for _ in 0..<100_000 {
      var params: [(name: String, value: String)] = []
      for _ in 0..<random.next(upTo: 8) {
        let name = names[random.next(upTo: names.count)]
        let value =
          random.next(upTo: 4) == 0
          ? String(decoding: (0..<random.next(upTo: 12)).map { _ in UInt8(random.next(upTo: 256)) }, as: UTF8.self)
          : values[random.next(upTo: values.count)]
        params.append((name, value))
      }
      let request = APIRequest(FastCGIRequest(params: params, body: Array("{}".utf8)))
      if case .authenticated(let identity) = request.caller {
        let users = params.filter { $0.name == "REMOTE_USER" }
        #expect(users.count == 1 && users[0].value == identity.user && !identity.user.isEmpty)
        #expect(params.filter { $0.name == "CONTACTS_ROLES" }.count == 1)
      }
      let response = api.respond(to: request)
      #expect((200..<600).contains(response.status))
    }
  }
}

extension CallerIdentity {
  /// Why nginx is taken to be misconfigured; `nil` for an anonymous or authenticated caller.
  var misconfiguration: String? { if case .misconfigured(let reason) = self { reason } else { nil } }
}
