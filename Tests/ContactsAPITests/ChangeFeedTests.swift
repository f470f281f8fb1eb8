import ContactsAPI
import ContactsCore
import TestSupport
import Testing

/// `GET /contacts/_changes` and the reserved paths, against the in-memory repository.
@Suite struct ChangeFeedTests {
  static func cursor(_ response: APIResponse) -> String? { response.header("X-Contacts-Cursor") }

  @Test func everyListingCarriesACursorAndTheFeedWithoutSinceStartsThere() throws {
    let (api, _) = makeAPI()
    let listing = api.send("GET", "/contacts?type=Queue", as: .agent)
    let cursor = try #require(Self.cursor(listing))
    #expect(cursor.allSatisfy { $0.isLetter || $0.isNumber || "._~-".contains($0) } && cursor.count <= 200)
    let start = api.send("GET", "/contacts/_changes", as: .agent)
    #expect(start.status == 200)
    #expect(start.json?["changes"] == .array([]))
    #expect(start.json?["cursor"]?.stringValue == cursor)
  }

  @Test func theFeedHoldsUpsertsAndDeletesInCommitOrder() throws {
    let (api, _) = makeAPI()
    let cursor = try #require(Self.cursor(api.send("GET", "/contacts", as: .agent)))
    let created = api.send("POST", "/contacts", json: #"{"name":"New","phoneNumber":"1"}"#)
    let id = try #require(created.json?["id"]?.stringValue)
    _ = api.send("PUT", "/contacts/\(customID)", json: #"{"name":"Renamed"}"#)
    _ = api.send("DELETE", "/contacts/\(id)")
    let feed = api.send("GET", "/contacts/_changes?since=\(cursor)", as: .agent)
    #expect(feed.status == 200, "\(feed.bodyText)")
    guard case .array(let changes) = feed.json?["changes"] else {
      Issue.record("no changes array: \(feed.bodyText)")
      return
    }
    // The created contact was deleted later: it appears once, as its last change.
    #expect(changes.count == 2)
    #expect(changes[0]["op"]?.stringValue == "upsert")
    #expect(changes[0]["contact"]?["name"]?.stringValue == "Renamed")
    #expect(changes[1]["op"]?.stringValue == "delete" && changes[1]["id"]?.stringValue == id)
    let now = try #require(Self.cursor(api.send("GET", "/contacts", as: .agent)))
    #expect(feed.json?["cursor"]?.stringValue == now)
    // Nothing since: empty, same cursor, and a matching If-None-Match is 304.
    let idle = api.send("GET", "/contacts/_changes?since=\(now)", as: .agent)
    #expect(idle.json?["changes"] == .array([]))
    let etag = try #require(idle.header("ETag"))
    let notModified = api.send("GET", "/contacts/_changes?since=\(now)", as: .agent, ifNoneMatch: etag)
    #expect(notModified.status == 304 && Self.cursor(notModified) == now)
    // A 304 of the listing carries the cursor too: every answer to GET /contacts does.
    let listing = api.send("GET", "/contacts?type=Queue", as: .agent)
    let listingTag = try #require(listing.header("ETag"))
    let listingNotModified = api.send("GET", "/contacts?type=Queue", as: .agent, ifNoneMatch: listingTag)
    #expect(listingNotModified.status == 304 && Self.cursor(listingNotModified) == now)
    _ = api.send("POST", "/contacts", json: #"{"name":"Later","phoneNumber":"2"}"#)
    #expect(api.send("GET", "/contacts/_changes?since=\(now)", as: .agent, ifNoneMatch: etag).status == 200)
  }

  @Test func limitPagesTheFeedWithALinkToTheNextPage() throws {
    let (api, _) = makeAPI()
    var cursor = try #require(Self.cursor(api.send("GET", "/contacts", as: .agent)))
    for index in 0..<7 { _ = api.send("POST", "/contacts", json: #"{"name":"N\#(index)","phoneNumber":"1"}"#) }
    var names: [String] = []
    var pages = 0
    while true {
      let page = api.send("GET", "/contacts/_changes?since=\(cursor)&limit=3", as: .agent)
      #expect(page.status == 200)
      guard case .array(let changes) = page.json?["changes"] else { break }
      names += changes.compactMap { $0["contact"]?["name"]?.stringValue }
      cursor = try #require(page.json?["cursor"]?.stringValue)
      pages += 1
      guard let link = page.header("Link") else { break }
      #expect(link == "</contacts/_changes?since=\(cursor)&limit=3>; rel=\"next\"")
    }
    #expect(names == (0..<7).map { "N\($0)" })
    #expect(pages == 3)
  }

  @Test(arguments: ["x", "c", "c-1", "c01", "c99999", "c18446744073709551616", "%00", ""])
  func aCursorTheServiceDidNotMakeIs400(cursor: String) {
    let (api, _) = makeAPI()
    let response = api.send("GET", "/contacts/_changes?since=\(cursor)", as: .agent)
    #expect(response.status == 400, "\(cursor): \(response.bodyText)")
    #expect(["invalid_cursor", "invalid_query"].contains(response.errorCode ?? ""))
  }

  @Test(arguments: ["limit=0", "limit=1001", "limit=x", "since=c1&since=c1", "q=x", "Since=c1"])
  func otherParametersAre400(query: String) {
    let (api, _) = makeAPI()
    let response = api.send("GET", "/contacts/_changes?\(query)", as: .agent)
    #expect(response.status == 400, "\(query): \(response.bodyText)")
    #expect(response.errorCode == "invalid_query")
  }

  @Test func aCursorOlderThanTheKeptHistoryIs410() throws {
    let repository = InMemoryContactRepository(contacts: fixtureContacts, changeHistory: 4)
    let api = ContactsAPI(repository: repository)
    let old = try #require(Self.cursor(api.send("GET", "/contacts", as: .agent)))
    for index in 0..<10 { _ = api.send("POST", "/contacts", json: #"{"name":"N\#(index)","phoneNumber":"1"}"#) }
    let expired = api.send("GET", "/contacts/_changes?since=\(old)", as: .agent)
    #expect(expired.status == 410)
    #expect(expired.errorCode == "cursor_expired")
    let recent = try #require(Self.cursor(api.send("GET", "/contacts", as: .agent)))
    #expect(api.send("GET", "/contacts/_changes?since=\(recent)", as: .agent).status == 200)
  }

  @Test func reservedPathsAnswerTheirMethodsAndOtherUnderscorePathsAre404() {
    let (api, _) = makeAPI()
    #expect(api.send("GET", "/contacts/_other", as: .agent).status == 404)
    #expect(api.send("GET", "/contacts/_", as: .agent).status == 404)
    let post = api.send("POST", "/contacts/_changes", json: "{}")
    #expect(post.status == 405 && post.header("Allow") == "GET, HEAD")
    let put = api.send("PUT", "/contacts/_events", json: "{}")
    #expect(put.status == 405 && put.header("Allow") == "GET")
    let getBulk = api.send("GET", "/contacts/_bulk", as: .admin)
    #expect(getBulk.status == 405 && getBulk.header("Allow") == "POST")
    // 401 and 403 come first.
    #expect(api.send("GET", "/contacts/_changes", as: .anonymous).status == 401)
    #expect(api.send("GET", "/contacts/_changes", as: .guest).status == 403)
    #expect(api.send("GET", "/contacts/_events", as: .guest).status == 403)
    // A body over the limit (nginx's bound passed, or one read): 413 after 401, 403 and 405.
    var oversized = APIRequest(
      method: "GET", target: "/contacts/_events", caller: Caller.agent.identity, bodyExceededLimit: true)
    #expect(api.respond(to: oversized).status == 413)
    oversized.caller = Caller.guest.identity
    #expect(api.respond(to: oversized).status == 403)
    oversized.caller = Caller.admin.identity
    oversized.method = "PUT"
    #expect(api.respond(to: oversized).status == 405)
  }

  @Test func eventsAreAuthorizedForReadersAndUnavailableWithoutNchan() {
    let (api, _) = makeAPI()
    let direct = api.send("GET", "/contacts/_events", as: .agent)
    #expect(direct.status == 501 && direct.errorCode == "events_unavailable")
    for (caller, status) in [(Caller.agent, 204), (.admin, 204), (.guest, 403), (.anonymous, 401)] {
      var request = APIRequest(method: "GET", target: "/contacts/_events", caller: caller.identity)
      request.authorizesEvents = true
      #expect(api.respond(to: request).status == status, "\(caller)")
    }
  }

  /// Property: over random creates, updates and deletes, applying the feed (page by page) to the
  /// listing taken at a cursor gives the listing at the feed's last cursor.
  @Test func applyingTheFeedToAnOldListingGivesTheNewListing() throws {
    var random = SeededRandom(seed: 0xFEED)
    for round in 0..<30 {
      let (api, _) = makeAPI()
      for _ in 0..<random.next(upTo: 10) { Self.randomWrite(api, &random) }
      let before = api.send("GET", "/contacts", as: .agent)
      var listing = Self.byID(before)
      var cursor = try #require(Self.cursor(before))
      for _ in 0..<random.next(upTo: 25) { Self.randomWrite(api, &random) }
      let limit = random.next(upTo: 5) + 1
      while true {
        let page = api.send("GET", "/contacts/_changes?since=\(cursor)&limit=\(limit)", as: .agent)
        guard case .array(let changes) = page.json?["changes"] else {
          Issue.record("round \(round): \(page.bodyText)")
          return
        }
        for change in changes {
          if change["op"]?.stringValue == "delete" {
            listing[change["id"]?.stringValue ?? ""] = nil
          } else if let contact = change["contact"], let id = contact["id"]?.stringValue {
            listing[id] = contact
          }
        }
        cursor = try #require(page.json?["cursor"]?.stringValue)
        if page.header("Link") == nil { break }
      }
      let after = api.send("GET", "/contacts", as: .agent)
      #expect(Self.cursor(after) == cursor, "round \(round)")
      #expect(listing == Self.byID(after), "round \(round)")
    }
  }

  static func byID(_ response: APIResponse) -> [String: JSONValue] {
    guard case .array(let contacts) = response.json?["contacts"] else { return [:] }
    return Dictionary(contacts.compactMap { contact in contact["id"]?.stringValue.map { ($0, contact) } }) { $1 }
  }

  static func randomWrite(_ api: ContactsAPI, _ random: inout SeededRandom) {
    let custom = byID(api.send("GET", "/contacts?type=Custom", as: .agent)).keys.sorted()
    switch random.next(upTo: 3) {
    case 0 where !custom.isEmpty:
      _ = api.send("DELETE", "/contacts/\(custom[random.next(upTo: custom.count)])")
    case 1 where !custom.isEmpty:
      let name = "Name \(random.next(upTo: 1000))"
      _ = api.send("PUT", "/contacts/\(custom[random.next(upTo: custom.count)])", json: #"{"name":"\#(name)"}"#)
    default:
      _ = api.send("POST", "/contacts", json: #"{"name":"C \#(random.next(upTo: 1000))","phoneNumber":"555"}"#)
    }
  }
}

extension ChangeFeedTests {
  /// A bulk request of more changes than the kept history expires every cursor from before it,
  /// even while the log still holds them (it may hold more than it promises).
  @Test func moreChangesThanTheKeptHistoryExpireOlderCursors() throws {
    let api = ContactsAPI(repository: InMemoryContactRepository(contacts: fixtureContacts, changeHistory: 100))
    let old = try #require(Self.cursor(api.send("GET", "/contacts", as: .agent)))
    let creates = Array(repeating: #"{"op":"create","contact":{"name":"Many","phoneNumber":"1"}}"#, count: 150)
    let bulk = api.send("POST", "/contacts/_bulk", json: #"{"operations":["# + creates.joined(separator: ",") + "]}")
    #expect(bulk.status == 200)
    #expect(api.send("GET", "/contacts/_changes?since=\(old)", as: .agent).status == 410)
  }
}
