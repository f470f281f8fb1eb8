import ContactsAPI
import ContactsCore
import TestSupport
import Testing

/// Safe retries (`Idempotency-Key`), bulk changes and the audit history, against the in-memory
/// repository (the stores' side is in ContactsStoreTests).
@Suite struct AdminToolingTests {
  static func status(_ value: JSONValue) -> Int? {
    if case .number(let text) = value["status"] { return Int(text) }
    return nil
  }

  static func post(
    _ api: ContactsAPI, _ path: String = "/contacts", json: String, key: String?, as caller: Caller = .admin
  ) -> APIResponse {
    var request = APIRequest(
      method: "POST", target: path, caller: caller.identity, contentType: "application/json", body: Array(json.utf8))
    request.idempotencyKey = key
    return api.respond(to: request)
  }

  @Test func aRetryWithTheSameKeyGetsTheFirstAnswerAndChangesNothing() throws {
    let (api, _) = makeAPI()
    let body = #"{"name":"Once","phoneNumber":"555"}"#
    let first = Self.post(api, json: body, key: "k-1")
    #expect(first.status == 201)
    #expect(first.header("Idempotent-Replayed") == nil)
    let retry = Self.post(api, json: body, key: "k-1")
    #expect(retry.status == 201)
    #expect(retry.header("Idempotent-Replayed") == "true")
    #expect(retry.body == first.body)
    #expect(retry.header("Location") == first.header("Location"))
    // The contact is as the answer shows it: the replay names it with the same tag.
    #expect(retry.header("ETag") != nil && retry.header("ETag") == first.header("ETag"))
    let named = api.send("GET", "/contacts?name=Once", as: .agent)
    #expect(named.contactIDs.count == 1)
    // The same key with another body: 422; another user's same key is another key.
    let reused = Self.post(api, json: #"{"name":"Other","phoneNumber":"555"}"#, key: "k-1")
    #expect(reused.status == 422 && reused.errorCode == "idempotency_key_reused")
    let otherUser = Self.post(api, json: body, key: "k-1", as: .other)
    #expect(otherUser.status == 201 && otherUser.header("Idempotent-Replayed") == nil)
  }

  @Test(arguments: ["", String(repeating: "k", count: 256), "with space", "tab\t", "é"])
  func aMalformedKeyIs400(key: String) {
    let (api, _) = makeAPI()
    let response = Self.post(api, json: #"{"name":"X","phoneNumber":"1"}"#, key: key)
    #expect(response.status == 400 && response.errorCode == "invalid_idempotency_key")
  }

  @Test func bulkRunsInOrderAnswersEachOperationAndCommitsTheSuccessfulOnes() throws {
    let (api, _) = makeAPI()
    let response = Self.post(
      api, "/contacts/_bulk",
      json: #"""
        {"operations":[
          {"op":"create","contact":{"name":"Bulk A","phoneNumber":"555 1"}},
          {"op":"update","id":"\#(customID)","contact":{"name":"Renamed"}},
          {"op":"update","id":"queue-sales","contact":{"name":"Nope"}},
          {"op":"delete","id":"missing"},
          {"op":"create","contact":{"name":"","phoneNumber":"555 2"}},
          {"op":"delete","id":"\#(customID)","ifMatch":"\"v1\""}
        ]}
        """#, key: nil)
    #expect(response.status == 200, "\(response.bodyText)")
    guard case .array(let results) = response.json?["results"] else {
      Issue.record("no results: \(response.bodyText)")
      return
    }
    #expect(results.compactMap { Self.status($0) } == [201, 200, 405, 404, 400, 412])
    #expect(results[0]["contact"]?["name"]?.stringValue == "Bulk A")
    #expect(results[0]["etag"]?.stringValue != nil)
    #expect(results[1]["contact"]?["name"]?.stringValue == "Renamed")
    #expect(results[3]["error"]?["code"]?.stringValue == "not_found")
    #expect(api.send("GET", "/contacts/\(customID)", as: .agent).json?["name"]?.stringValue == "Renamed")
    #expect(api.send("GET", "/contacts?name=Bulk%20A", as: .agent).contactIDs.count == 1)
  }

  /// Each operation sees the earlier ones: their versions (for `ifMatch`) and their deletes.
  @Test func laterOperationsOfABulkSeeTheEarlierOnes() throws {
    let (api, _) = makeAPI()
    let response = Self.post(
      api, "/contacts/_bulk",
      json: #"""
        {"operations":[
          {"op":"update","id":"\#(customID)","contact":{"name":"First"}},
          {"op":"update","id":"\#(customID)","contact":{"phoneNumber":"555 9"},"ifMatch":"\"v2\""},
          {"op":"delete","id":"\#(customID)","ifMatch":"\"v3\""},
          {"op":"update","id":"\#(customID)","contact":{"name":"Gone"}}
        ]}
        """#, key: nil)
    guard case .array(let results) = response.json?["results"] else {
      Issue.record("no results: \(response.bodyText)")
      return
    }
    #expect(results.compactMap { Self.status($0) } == [200, 200, 204, 404], "\(response.bodyText)")
    #expect(results[0]["etag"]?.stringValue == #""v2""#)
    #expect(results[1]["contact"]?["name"]?.stringValue == "First")
    #expect(api.send("GET", "/contacts/\(customID)", as: .agent).status == 404)
  }

  @Test func anAtomicBulkThatFailsAnywhereCommitsNothing() throws {
    let (api, _) = makeAPI()
    let before = api.send("GET", "/contacts", as: .agent)
    let response = Self.post(
      api, "/contacts/_bulk",
      json: #"""
        {"atomic":true,"operations":[
          {"op":"create","contact":{"name":"Atomic","phoneNumber":"555"}},
          {"op":"delete","id":"missing"}
        ]}
        """#, key: nil)
    #expect(response.status == 200)
    guard case .array(let results) = response.json?["results"] else { return }
    #expect(results.compactMap { Self.status($0) } == [424, 404])
    #expect(results[0]["error"]?["code"]?.stringValue == "not_applied")
    #expect(api.send("GET", "/contacts", as: .agent).body == before.body)
  }

  @Test(arguments: [
    "[]", #"{"operations":{}}"#, #"{"operations":[]}"#, #"{"ops":[]}"#, #"{"operations":[{"op":"upsert"}]}"#,
    #"{"operations":[{"op":"delete"}]}"#, #"{"operations":[1]}"#, #"{"atomic":"yes","operations":[]}"#,
  ])
  func aMalformedEnvelopeIs400AndAppliesNothing(body: String) {
    let (api, _) = makeAPI()
    let response = Self.post(api, "/contacts/_bulk", json: body, key: nil)
    #expect(response.status == 400, "\(body): \(response.bodyText)")
    #expect(response.errorCode == "invalid_bulk" || response.errorCode == "invalid_json")
  }

  @Test func aThousandOperationsAreAcceptedAndOneMoreIsNot() {
    let (api, _) = makeAPI()
    let create = #"{"op":"create","contact":{"name":"N","phoneNumber":"1"}}"#
    let thousand = #"{"operations":["# + Array(repeating: create, count: 1000).joined(separator: ",") + "]}"
    let ok = Self.post(api, "/contacts/_bulk", json: thousand, key: nil)
    #expect(ok.status == 200)
    #expect(api.send("GET", "/contacts?type=Custom", as: .agent).header("X-Total-Count") == "1001")
    let tooMany = #"{"operations":["# + Array(repeating: create, count: 1001).joined(separator: ",") + "]}"
    #expect(Self.post(api, "/contacts/_bulk", json: tooMany, key: nil).status == 400)
  }

  @Test func bulkIsForAdminsAndHasItsOwnBodyLimit() {
    let (api, _) = makeAPI()
    #expect(Self.post(api, "/contacts/_bulk", json: #"{"operations":[]}"#, key: nil, as: .agent).status == 403)
    let large =
      #"{"operations":[{"op":"create","contact":{"name":""# + String(repeating: "x", count: 70_000)
      + #"","phoneNumber":"1"}}]}"#
    let response = Self.post(api, "/contacts/_bulk", json: large, key: nil)
    #expect(response.status == 200, "a 70 KB bulk body is within its 1 MiB limit")
  }

  @Test func historyIsForAdminsAndKeepsDeletedContacts() throws {
    let (api, _) = makeAPI()
    let created = api.send("POST", "/contacts", json: #"{"name":"H","phoneNumber":"1"}"#)
    let id = try #require(created.json?["id"]?.stringValue)
    _ = api.send("PUT", "/contacts/\(id)", json: #"{"name":"H2"}"#)
    _ = api.send("DELETE", "/contacts/\(id)")
    let history = api.send("GET", "/contacts/\(id)/history")
    #expect(history.status == 200)
    guard case .array(let entries) = history.json?["history"] else { return }
    #expect(entries.compactMap { $0["op"]?.stringValue } == ["create", "update", "delete"])
    #expect(entries[1]["contact"]?["name"]?.stringValue == "H2")
    #expect(entries[2]["contact"] == nil)
    #expect(entries.allSatisfy { $0["by"]?.stringValue == "admin" && $0["at"]?.stringValue != nil })
    #expect(api.send("GET", "/contacts/\(id)/history", as: .agent).status == 403)
    #expect(api.send("GET", "/contacts/queue-sales/history").json?["history"] == .array([]))
    #expect(api.send("GET", "/contacts/never/history").status == 404)
    #expect(api.send("POST", "/contacts/\(id)/history", json: "{}").status == 405)
    // An id that never existed: 404 before the method's 405.
    #expect(api.send("POST", "/contacts/never/history", json: "{}").status == 404)
    #expect(api.send("DELETE", "/contacts/never/history").status == 404)
  }

  /// After a change the kept bytes are no longer the contact's: the replay has no tag, so no
  /// client takes the old bytes for the current contact's.
  @Test func aReplayAfterTheContactChangedCarriesNoTag() throws {
    let (api, _) = makeAPI()
    let body = #"{"name":"Tagged","phoneNumber":"555"}"#
    let first = Self.post(api, json: body, key: "k-tag")
    let id = try #require(first.json?["id"]?.stringValue)
    #expect(api.send("PUT", "/contacts/\(id)", json: #"{"name":"Retagged"}"#).status == 200)
    let retry = Self.post(api, json: body, key: "k-tag")
    #expect(retry.status == 201 && retry.header("Idempotent-Replayed") == "true")
    #expect(retry.body == first.body)
    #expect(retry.header("ETag") == nil)
  }
}
