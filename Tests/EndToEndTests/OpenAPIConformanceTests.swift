import Foundation
import TestSupport
import Testing

/// nginx/openapi.json against the live stack: every status an operation answers is documented,
/// every documented status is answered by some request, and contact, listing and error bodies
/// carry exactly the documented fields.
@Suite(.tags(.endToEnd))
struct OpenAPIConformanceTests {
  let document: [String: Any]

  init() throws {
    let data = try Data(contentsOf: packageRoot.appendingPathComponent("nginx/openapi.json"))
    document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  func documentedStatuses(_ path: String, _ method: String) -> Set<String> {
    let paths = document["paths"] as? [String: Any]
    let operation = (paths?[path] as? [String: Any])?[method.lowercased()] as? [String: Any]
    return Set((operation?["responses"] as? [String: Any])?.keys.map { $0 } ?? [])
  }

  /// The property names of a schema, or of one of its object properties (`ErrorBody`, `error`),
  /// following a `$ref` to a named schema (`ErrorBody.error` is `#/components/schemas/Error`).
  func schemaProperties(_ name: String, inside property: String? = nil) -> Set<String> {
    let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
    func resolved(_ schema: Any?) -> [String: Any]? {
      let schema = schema as? [String: Any]
      guard let reference = schema?["$ref"] as? String else { return schema }
      let prefix = "#/components/schemas/"
      guard reference.hasPrefix(prefix) else { return nil }
      return resolved(schemas?[String(reference.dropFirst(prefix.count))])
    }
    var properties = resolved(schemas?[name])?["properties"] as? [String: Any]
    if let property { properties = resolved(properties?[property])?["properties"] as? [String: Any] }
    return Set(properties?.keys.map { $0 } ?? [])
  }

  /// Statuses the document lists that no test can provoke from outside, and why.
  static let notProvokable: [String: String] = [
    "500": "needs a broken disk or a misconfigured nginx location (covered by ServeTests)",
    "504": "needs a responder slower than nginx's 60 s read timeout",
    "429": "requests from loopback are exempt from the write rate limit",
    "409": "a race: a retry while the first request with its key runs (covered by RepositoryContractTests)",
    "501": "needs an nginx without the nchan module (covered by EventsTests)",
  ]

  @Test func documentAndLiveResponsesAgree() throws {
    // A short change history, so that an old cursor can be shown to expire (410).
    let stack = try LocalStack(workers: 2, serveArguments: ["--change-history", "100"])
    let client = stack.client
    var seen: [String: Set<String>] = [:]  // "METHOD path" -> statuses
    var contactFields: Set<String> = []
    var errorFields: Set<String> = []
    var problems: [String] = []

    func record(_ method: String, _ template: String, _ response: HTTPResponse) {
      let status = String(response.status)
      seen["\(method) \(template)", default: []].insert(status)
      if !documentedStatuses(template, method).contains(status) {
        problems.append(
          "\(method) \(template) answered \(status), which is not documented: \(response.text.prefix(200))")
      }
      guard method != "HEAD", let json = response.json else { return }
      if let error = json["error"] as? [String: Any] {
        errorFields.formUnion(error.keys)
        for field in (error["fields"] as? [[String: Any]]) ?? [] {
          let extra = Set(field.keys).subtracting(schemaProperties("FieldError"))
          if !extra.isEmpty { problems.append("undocumented field-error keys \(extra)") }
        }
      } else if let contacts = json["contacts"] as? [[String: Any]] {
        let extra = Set(json.keys).subtracting(schemaProperties("ContactList"))
        if !extra.isEmpty { problems.append("undocumented listing keys \(extra)") }
        for contact in contacts { contactFields.formUnion(contact.keys) }
      } else if ["/contacts", "/contacts/{id}"].contains(template), json["contact"] == nil {
        contactFields.formUnion(json.keys)
      }
    }

    let created = try client.request("POST", "/contacts", user: "admin", json: #"{"name":"Doc","phoneNumber":"555"}"#)
    record("POST", "/contacts", created)
    let id = try #require(created.json?["id"] as? String)
    let big = Array(repeating: UInt8(ascii: " "), count: 70_000)

    for method in ["GET", "HEAD"] {
      let list = try client.request(method, "/contacts", user: "agent")
      record(method, "/contacts", list)
      record(
        method, "/contacts",
        try client.request(method, "/contacts", user: "agent", headers: [("If-None-Match", list.header("ETag") ?? "")]))
      record(method, "/contacts", try client.request(method, "/contacts?colour=red", user: "agent"))
      record(method, "/contacts", try client.request(method, "/contacts"))
      record(method, "/contacts", try client.request(method, "/contacts", user: "guest"))
      record(
        method, "/contacts", try client.request(method, "/contacts", user: "agent", headers: [("If-Match", "\"x\"")]))
      let item = try client.request(method, "/contacts/user-joej", user: "agent")
      record(method, "/contacts/{id}", item)
      record(
        method, "/contacts/{id}",
        try client.request(
          method, "/contacts/user-joej", user: "agent", headers: [("If-None-Match", item.header("ETag") ?? "")]))
      record(method, "/contacts/{id}", try client.request(method, "/contacts/user-joej"))
      record(method, "/contacts/{id}", try client.request(method, "/contacts/user-joej", user: "guest"))
      record(method, "/contacts/{id}", try client.request(method, "/contacts/nope", user: "agent"))
      record(method, "/contacts/{id}", try client.request(method, "/contacts/user-joej?colour=red", user: "agent"))
      record(
        method, "/contacts/{id}",
        try client.request(method, "/contacts/user-joej?fields=name,phoneNumber", user: "agent"))
      record(
        method, "/contacts",
        try client.request(method, "/contacts?sortBy=lastName,id&order=Descending&fields=name", user: "agent"))
      record(
        method, "/contacts/{id}",
        try client.request(method, "/contacts/user-joej", user: "agent", headers: [("If-Match", "\"x\"")]))
    }
    record("POST", "/contacts", try client.request("POST", "/contacts", user: "admin", json: "{"))
    record("POST", "/contacts", try client.request("POST", "/contacts", json: "{}"))
    record("POST", "/contacts", try client.request("POST", "/contacts", user: "agent", json: "{}"))
    record("POST", "/contacts", try client.request("POST", "/contacts", user: "admin", body: big))
    record(
      "POST", "/contacts", try client.request("POST", "/contacts", user: "admin", json: "{}", contentType: "text/plain")
    )
    record("POST", "/contacts", try client.request("POST", "/contacts", user: "admin", json: #"{"name":"","x":1}"#))

    let item = "/contacts/\(id)"
    record("PUT", "/contacts/{id}", try client.request("PUT", item, user: "admin", json: #"{"name":"Doc 2"}"#))
    record("PUT", "/contacts/{id}", try client.request("PUT", item, user: "admin", json: #"{"name":5}"#))
    record("PUT", "/contacts/{id}", try client.request("PUT", item, json: "{}"))
    record("PUT", "/contacts/{id}", try client.request("PUT", item, user: "agent", json: "{}"))
    record("PUT", "/contacts/{id}", try client.request("PUT", "/contacts/nope", user: "admin", json: "{}"))
    record("PUT", "/contacts/{id}", try client.request("PUT", "/contacts/queue-sales", user: "admin", json: "{}"))
    record(
      "PUT", "/contacts/{id}",
      try client.request("PUT", item, user: "admin", headers: [("If-Match", "\"x\"")], json: "{}"))
    record("PUT", "/contacts/{id}", try client.request("PUT", item, user: "admin", body: big))
    record(
      "PUT", "/contacts/{id}", try client.request("PUT", item, user: "admin", json: "{}", contentType: "text/plain"))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "agent"))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", "/contacts/user-joej", user: "admin"))
    record(
      "DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "admin", headers: [("If-Match", "\"x\"")]))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "admin", body: big))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "admin"))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "admin"))
    record("GET", "/contacts/openapi.json", try client.request("GET", "/contacts/openapi.json"))

    // Safe retries: the same key and request replays, another request with it is 422.
    let keyed = [("Idempotency-Key", "doc-\(UInt32.random(in: 0...UInt32.max))")]
    let retried = #"{"name":"Keyed","phoneNumber":"555"}"#
    record("POST", "/contacts", try client.request("POST", "/contacts", user: "admin", headers: keyed, json: retried))
    let replay = try client.request("POST", "/contacts", user: "admin", headers: keyed, json: retried)
    #expect(replay.header("Idempotent-Replayed") == "true")
    record("POST", "/contacts", replay)
    record(
      "POST", "/contacts",
      try client.request("POST", "/contacts", user: "admin", headers: keyed, json: "{\"name\":\"B\"}"))

    // The change feed, pushed events, bulk changes, the history.
    let listing = try client.request("GET", "/contacts", user: "agent")
    let cursor = try #require(listing.header("X-Contacts-Cursor"))
    for method in ["GET", "HEAD"] {
      let feed = try client.request(method, "/contacts/_changes?since=\(cursor)", user: "agent")
      record(method, "/contacts/_changes", feed)
      let etag = try #require(feed.header("ETag"))
      record(
        method, "/contacts/_changes",
        try client.request(
          method, "/contacts/_changes?since=\(cursor)", user: "agent", headers: [("If-None-Match", etag)]))
      record(method, "/contacts/_changes", try client.request(method, "/contacts/_changes?since=bogus", user: "agent"))
      record(method, "/contacts/_changes", try client.request(method, "/contacts/_changes", user: "guest"))
      record(method, "/contacts/_changes", try client.request(method, "/contacts/_changes"))
    }
    let manyCreates = Array(repeating: #"{"op":"create","contact":{"name":"Many","phoneNumber":"1"}}"#, count: 150)
    let many = try client.request(
      "POST", "/contacts/_bulk", user: "admin", json: #"{"operations":["# + manyCreates.joined(separator: ",") + "]}")
    record("POST", "/contacts/_bulk", many)
    for method in ["GET", "HEAD"] {
      let expired = try client.request(method, "/contacts/_changes?since=\(cursor)", user: "agent")
      #expect(expired.status == 410, "\(method): \(expired)")
      record(method, "/contacts/_changes", expired)
    }
    // A stream never ends by itself: its 200 is read with the event-stream client.
    let stream = try EventStreamClient(port: stack.httpPort, user: "agent")
    seen["GET /contacts/_events", default: []].insert(String(stream.status))
    record(
      "GET", "/contacts/_events",
      try client.request(
        "GET", "/contacts/_events", user: "agent", headers: [("Accept", "text/event-stream")],
        body: Array(repeating: UInt8(ascii: " "), count: 2_000_000)))
    // Any Accept that admits the stream gets it; one that admits only other types gets the 406.
    record(
      "GET", "/contacts/_events",
      try client.request("GET", "/contacts/_events", user: "agent", headers: [("Accept", "application/json")]))
    record(
      "GET", "/contacts/_events",
      try client.request("GET", "/contacts/_events", user: "guest", headers: [("Accept", "text/event-stream")]))
    record(
      "GET", "/contacts/_events",
      try client.request("GET", "/contacts/_events", headers: [("Accept", "text/event-stream")]))
    let bulkBody =
      #"{"operations":[{"op":"create","contact":{"name":"Bulk","phoneNumber":"1"}},{"op":"delete","id":"x"}]}"#
    record("POST", "/contacts/_bulk", try client.request("POST", "/contacts/_bulk", user: "admin", json: bulkBody))
    record("POST", "/contacts/_bulk", try client.request("POST", "/contacts/_bulk", user: "admin", json: "[]"))
    record("POST", "/contacts/_bulk", try client.request("POST", "/contacts/_bulk", user: "agent", json: bulkBody))
    record("POST", "/contacts/_bulk", try client.request("POST", "/contacts/_bulk", json: bulkBody))
    record(
      "POST", "/contacts/_bulk",
      try client.request("POST", "/contacts/_bulk", user: "admin", json: bulkBody, contentType: "text/plain"))
    record(
      "POST", "/contacts/_bulk",
      try client.request(
        "POST", "/contacts/_bulk", user: "admin", body: Array(repeating: UInt8(ascii: " "), count: 1_100_000)))
    let bulkKey = [("Idempotency-Key", "bulk-\(UInt32.random(in: 0...UInt32.max))")]
    record(
      "POST", "/contacts/_bulk",
      try client.request("POST", "/contacts/_bulk", user: "admin", headers: bulkKey, json: bulkBody))
    record(
      "POST", "/contacts/_bulk",
      try client.request("POST", "/contacts/_bulk", user: "admin", headers: bulkKey, json: "{\"operations\":[]}"))
    for method in ["GET", "HEAD"] {
      let history = "/contacts/\(id)/history"
      record(method, "/contacts/{id}/history", try client.request(method, history, user: "admin"))
      record(method, "/contacts/{id}/history", try client.request(method, history, user: "agent"))
      record(method, "/contacts/{id}/history", try client.request(method, history))
      record(method, "/contacts/{id}/history", try client.request(method, "/contacts/never-was/history", user: "admin"))
    }

    // With the journal gone (moved away, then back), the workers answer 503 store_unavailable
    // with Retry-After, and serve again as soon as it is back: no restart.
    let journal = "\(stack.dataDirectory)/journal.jsonl"
    try FileManager.default.moveItem(atPath: journal, toPath: journal + ".away")
    for (method, template, path) in [
      ("GET", "/contacts", "/contacts"), ("HEAD", "/contacts", "/contacts"), ("POST", "/contacts", "/contacts"),
      ("GET", "/contacts/{id}", "/contacts/user-joej"), ("HEAD", "/contacts/{id}", "/contacts/user-joej"),
      ("PUT", "/contacts/{id}", "/contacts/x"), ("DELETE", "/contacts/{id}", "/contacts/x"),
      ("GET", "/contacts/_changes", "/contacts/_changes"), ("HEAD", "/contacts/_changes", "/contacts/_changes"),
      ("GET", "/contacts/{id}/history", "/contacts/x/history"),
      ("HEAD", "/contacts/{id}/history", "/contacts/x/history"),
    ] {
      let body: [UInt8]? = ["POST", "PUT"].contains(method) ? Array(#"{"name":"N","phoneNumber":"1"}"#.utf8) : nil
      let response = try client.request(method, path, user: "admin", body: body)
      record(method, template, response)
      #expect(response.status == 503 && response.header("Retry-After") == "1", "\(method) \(path): \(response)")
    }
    let bulkDuringOutage = try client.request("POST", "/contacts/_bulk", user: "admin", json: bulkBody)
    record("POST", "/contacts/_bulk", bulkDuringOutage)
    #expect(bulkDuringOutage.status == 503, "\(bulkDuringOutage)")
    try FileManager.default.moveItem(atPath: journal + ".away", toPath: journal)
    #expect(try client.request("GET", "/contacts/user-joej", user: "agent").status == 200)

    // With the pool stopped, nginx answers 502 itself, with the same error body.
    stack.supervisor?.terminate()
    stack.supervisor?.waitUntilExit()
    for (method, template, path) in [
      ("GET", "/contacts", "/contacts"), ("HEAD", "/contacts", "/contacts"), ("POST", "/contacts", "/contacts"),
      ("GET", "/contacts/{id}", "/contacts/x"), ("HEAD", "/contacts/{id}", "/contacts/x"),
      ("PUT", "/contacts/{id}", "/contacts/x"), ("DELETE", "/contacts/{id}", "/contacts/x"),
      ("GET", "/contacts/_changes", "/contacts/_changes"), ("HEAD", "/contacts/_changes", "/contacts/_changes"),
      ("GET", "/contacts/{id}/history", "/contacts/x/history"),
      ("HEAD", "/contacts/{id}/history", "/contacts/x/history"),
      ("POST", "/contacts/_bulk", "/contacts/_bulk"),
    ] {
      let body: [UInt8]? = ["POST", "PUT"].contains(method) ? Array("{}".utf8) : nil
      record(method, template, try client.request(method, path, user: "admin", body: body))
    }

    // nginx answers the event stream's authorization failure itself.
    let deadStream = try EventStreamClient(port: stack.httpPort, user: "agent")
    seen["GET /contacts/_events", default: []].insert(String(deadStream.status))
    #expect(documentedStatuses("/contacts/_events", "GET").contains(String(deadStream.status)), "\(deadStream.head)")

    #expect(problems.isEmpty, "\(problems)")
    for (key, statuses) in seen {
      let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
      let unexercised = documentedStatuses(parts[1], parts[0]).subtracting(statuses)
        .subtracting(Self.notProvokable.keys)
      #expect(unexercised.isEmpty, "\(key): documented but never answered: \(unexercised.sorted())")
    }
    #expect(contactFields == schemaProperties("Contact"), "seen \(contactFields)")
    #expect(schemaProperties("ContactProjection") == schemaProperties("Contact"))
    #expect(errorFields == schemaProperties("ErrorBody", inside: "error"), "seen \(errorFields)")
  }
}
