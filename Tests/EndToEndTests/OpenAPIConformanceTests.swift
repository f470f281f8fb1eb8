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

  /// The property names of a schema, or of one of its object properties (`ErrorBody`, `error`).
  func schemaProperties(_ name: String, inside property: String? = nil) -> Set<String> {
    let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
    var properties = (schemas?[name] as? [String: Any])?["properties"] as? [String: Any]
    if let property { properties = (properties?[property] as? [String: Any])?["properties"] as? [String: Any] }
    return Set(properties?.keys.map { $0 } ?? [])
  }

  /// Statuses the document lists that no test can provoke from outside, and why.
  static let notProvokable: [String: String] = [
    "500": "needs a broken disk or a misconfigured nginx location (covered by ServeTests)",
    "504": "needs a responder slower than nginx's 60 s read timeout",
    "429": "requests from loopback are exempt from the write rate limit",
  ]

  @Test func documentAndLiveResponsesAgree() throws {
    let stack = try LocalStack(workers: 2)
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
      } else if template != "/contacts/openapi.json" {
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
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "admin"))
    record("DELETE", "/contacts/{id}", try client.request("DELETE", item, user: "admin"))
    record("GET", "/contacts/openapi.json", try client.request("GET", "/contacts/openapi.json"))

    // With the journal gone (moved away, then back), the workers answer 503 store_unavailable
    // with Retry-After, and serve again as soon as it is back: no restart.
    let journal = "\(stack.dataDirectory)/journal.jsonl"
    try FileManager.default.moveItem(atPath: journal, toPath: journal + ".away")
    for (method, template, path) in [
      ("GET", "/contacts", "/contacts"), ("HEAD", "/contacts", "/contacts"), ("POST", "/contacts", "/contacts"),
      ("GET", "/contacts/{id}", "/contacts/user-joej"), ("HEAD", "/contacts/{id}", "/contacts/user-joej"),
      ("PUT", "/contacts/{id}", "/contacts/x"), ("DELETE", "/contacts/{id}", "/contacts/x"),
    ] {
      let body: [UInt8]? = ["POST", "PUT"].contains(method) ? Array(#"{"name":"N","phoneNumber":"1"}"#.utf8) : nil
      let response = try client.request(method, path, user: "admin", body: body)
      record(method, template, response)
      #expect(response.status == 503 && response.header("Retry-After") == "1", "\(method) \(path): \(response)")
    }
    try FileManager.default.moveItem(atPath: journal + ".away", toPath: journal)
    #expect(try client.request("GET", "/contacts/user-joej", user: "agent").status == 200)

    // With the pool stopped, nginx answers 502 itself, with the same error body.
    stack.supervisor?.terminate()
    stack.supervisor?.waitUntilExit()
    for (method, template, path) in [
      ("GET", "/contacts", "/contacts"), ("HEAD", "/contacts", "/contacts"), ("POST", "/contacts", "/contacts"),
      ("GET", "/contacts/{id}", "/contacts/x"), ("HEAD", "/contacts/{id}", "/contacts/x"),
      ("PUT", "/contacts/{id}", "/contacts/x"), ("DELETE", "/contacts/{id}", "/contacts/x"),
    ] {
      let body: [UInt8]? = ["POST", "PUT"].contains(method) ? Array("{}".utf8) : nil
      record(method, template, try client.request(method, path, user: "admin", body: body))
    }

    #expect(problems.isEmpty, "\(problems)")
    for (key, statuses) in seen {
      let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
      let unexercised = documentedStatuses(parts[1], parts[0]).subtracting(statuses)
        .subtracting(Self.notProvokable.keys)
      #expect(unexercised.isEmpty, "\(key): documented but never answered: \(unexercised.sorted())")
    }
    #expect(contactFields == schemaProperties("Contact"), "seen \(contactFields)")
    #expect(errorFields == schemaProperties("ErrorBody", inside: "error"), "seen \(errorFields)")
  }
}
