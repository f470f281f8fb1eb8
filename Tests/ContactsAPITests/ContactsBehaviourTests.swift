import ContactsAPI
import ContactsCore
import Logging
import Testing

struct ContactsBehaviourTests {
  @Test func createAnswers201WithLocationETagAndTheContact() throws {
    let (api, repository) = makeAPI()
    let response = api.send(
      "POST", "/contacts", json: #"{"name":" Lobby ","type":"custom","phoneNumber":"555-0100 x2"}"#)
    #expect(response.status == 201)
    let json = try #require(response.json)
    let id = try #require(json["id"]?.stringValue)
    #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    #expect(response.header("Location") == "/contacts/\(id)")
    #expect(response.header("ETag") != nil)
    #expect(
      json
        == .object([
          JSONMember(key: "id", value: .string(id)), JSONMember(key: "name", value: .string("Lobby")),
          JSONMember(key: "type", value: .string("Custom")),
          JSONMember(key: "phoneNumber", value: .string("555-0100 x2")),
        ]))
    #expect(repository.history.last?.user == "admin")
    let read = api.send("GET", "/contacts/\(id)", as: .agent)
    #expect(read.body == response.body)
    #expect(read.header("ETag") == response.header("ETag"))
  }

  @Test func idsAreUniqueAcrossManyCreates() {
    let (api, _) = makeAPI()
    var ids: Set<String> = []
    for index in 0..<200 {
      let response = api.send("POST", "/contacts", json: #"{"name":"C\#(index)","phoneNumber":"\#(index)"}"#)
      ids.insert(response.json?["id"]?.stringValue ?? "")
    }
    #expect(ids.count == 200)
  }

  @Test func contactObjectsHoldOnlyTheirTypesAttributes() throws {
    let (api, _) = makeAPI(
      contacts: fixtureContacts + [
        Contact(id: "queue-x", type: .queue, name: "X", phoneNumber: nil, userName: "leak", firstName: "leak")
      ])
    let queue = try #require(api.send("GET", "/contacts/queue-x").json)
    let members = try #require(queue.members, "not an object: \(queue)")
    #expect(members.map(\.key) == ["id", "name", "type"])
    #expect(!api.send("GET", "/contacts").bodyText.contains("null"))
    let user = try #require(api.send("GET", "/contacts/user-joej").json)
    #expect(user["employeeId"] == .string("E42"))
  }

  @Test func updateMergesAndDeleteRemoves() throws {
    let (api, _) = makeAPI()
    let updated = api.send("PUT", "/contacts/\(customID)", json: #"{"phoneNumber":"555 0200"}"#)
    #expect(updated.status == 200)
    #expect(updated.json?["name"] == .string("Front Desk"))
    #expect(updated.json?["phoneNumber"] == .string("555 0200"))
    #expect(api.send("DELETE", "/contacts/\(customID)").status == 204)
    #expect(api.send("GET", "/contacts/\(customID)").status == 404)
    #expect(api.send("DELETE", "/contacts/\(customID)").status == 404)
  }

  @Test func listingsCarryETagTotalAndNextLinkAndHonourIfNoneMatch() throws {
    let (api, _) = makeAPI()
    let page = api.send("GET", "/contacts?limit=2", as: .agent)
    #expect(page.status == 200)
    #expect(page.contactIDs == [customID, "user-joej"])
    #expect(page.header("X-Total-Count") == "3")
    #expect(page.header("Link") == "</contacts?limit=2&offset=2>; rel=\"next\"")
    let last = api.send("GET", "/contacts?limit=2&offset=2", as: .agent)
    #expect(last.contactIDs.count == 1)
    #expect(last.header("Link") == nil)
    let etag = try #require(page.header("ETag"))
    let notModified = api.send("GET", "/contacts?limit=2", as: .agent, ifNoneMatch: etag)
    #expect(notModified.status == 304)
    #expect(notModified.body.isEmpty)
    #expect(notModified.header("ETag") == etag)
    #expect(api.send("GET", "/contacts?limit=2", ifNoneMatch: "W/\(etag)").status == 304)
    #expect(api.send("GET", "/contacts?limit=2", ifNoneMatch: "\"other\", \(etag)").status == 304)
    #expect(api.send("GET", "/contacts?limit=2", ifNoneMatch: "*").status == 304)
    // Any write changes every listing's tag.
    _ = api.send("POST", "/contacts", json: #"{"name":"Z","phoneNumber":"1"}"#)
    #expect(api.send("GET", "/contacts?limit=2", ifNoneMatch: etag).status == 200)
  }

  @Test func listingOrderIsByNameThenID() {
    let (api, _) = makeAPI()
    #expect(api.send("GET", "/contacts").contactIDs == [customID, "user-joej", "queue-sales"])
  }

  @Test func seedsAmpersandFormIsAQuery() {
    let (api, _) = makeAPI()
    #expect(api.send("GET", "/contacts&type=User").contactIDs == ["user-joej"])
    #expect(api.send("GET", "/contacts&type=User&name=joe%20johnson").contactIDs == ["user-joej"])
    #expect(api.send("GET", "/contacts&type=Queue?name=Sales").contactIDs == ["queue-sales"])
  }

  @Test func invalidQueriesAnswer400NamingTheParameter() {
    let (api, _) = makeAPI()
    let unknown = api.send("GET", "/contacts?firstname=Joe")
    #expect(unknown.status == 400)
    #expect(unknown.errorCode == "invalid_query")
    #expect(unknown.errorFields == ["firstname"])
    #expect(unknown.bodyText.contains("firstName"))
    let type = api.send("GET", "/contacts?type=Robot")
    #expect(type.status == 400)
    #expect(type.bodyText.contains("Custom, Queue, User"))
  }

  @Test func headAnswersLikeGetWithoutABody() {
    let (api, _) = makeAPI()
    let get = api.send("GET", "/contacts/queue-sales")
    let head = api.send("HEAD", "/contacts/queue-sales")
    #expect(head.status == 200)
    #expect(head.body.isEmpty)
    #expect(head.header("Content-Length") == String(get.body.count))
    #expect(head.header("ETag") == get.header("ETag"))
  }

  @Test func ifMatchProtectsAgainstLostUpdates() throws {
    let (api, _) = makeAPI()
    let etag = try #require(api.send("GET", "/contacts/\(customID)").header("ETag"))
    let first = api.send("PUT", "/contacts/\(customID)", json: #"{"name":"First"}"#, ifMatch: etag)
    #expect(first.status == 200)
    let second = api.send("PUT", "/contacts/\(customID)", json: #"{"name":"Second"}"#, ifMatch: etag)
    #expect(second.status == 412)
    #expect(second.errorCode == "precondition_failed")
    #expect(api.send("GET", "/contacts/\(customID)").json?["name"] == .string("First"))
    #expect(api.send("DELETE", "/contacts/\(customID)", ifMatch: etag).status == 412)
    #expect(api.send("DELETE", "/contacts/\(customID)", ifMatch: "W/\(first.header("ETag")!)").status == 412)
    #expect(api.send("DELETE", "/contacts/\(customID)", ifMatch: first.header("ETag")!).status == 204)
    #expect(api.send("PUT", "/contacts/queue-sales", json: "{}", ifMatch: "*").status == 405)
  }

  @Test func ifNoneMatchStarOnWritesIs412() {
    let (api, _) = makeAPI()
    #expect(api.send("PUT", "/contacts/\(customID)", json: #"{"name":"A"}"#, ifNoneMatch: "*").status == 412)
  }

  /// docs/api.md's order: 404, 405, 412, then 415, 413, 400.
  @Test func checksRunInTheContractsOrder() {
    let (api, _) = makeAPI()
    #expect(api.send("PUT", "/contacts/nope", json: "not json", contentType: "text/plain").status == 404)
    #expect(api.send("PUT", "/contacts/queue-sales", json: "not json", contentType: "text/plain").status == 405)
    #expect(
      api.send("PUT", "/contacts/\(customID)", json: "not json", contentType: "text/plain", ifMatch: "\"v999\"").status
        == 412)
    #expect(api.send("PUT", "/contacts/\(customID)", json: "not json", contentType: "text/plain").status == 415)
    #expect(api.send("POST", "/contacts", json: "not json", contentType: "text/plain").status == 415)
    let large = String(repeating: "x", count: 70_000)
    #expect(api.send("POST", "/contacts", json: large).status == 413)
    #expect(api.send("POST", "/contacts", json: large, contentType: "text/plain").status == 415)
    #expect(api.send("POST", "/contacts", json: "not json").status == 400)
  }

  @Test(arguments: [
    ("application/json", true), ("application/json; charset=utf-8", true), ("Application/JSON;charset=UTF-8", true),
    ("application/merge-patch+json", true), ("application/json; charset=latin1", false), ("text/json", false),
    ("application/x-www-form-urlencoded", false), ("", false),
  ])
  func onlyJSONBodiesAreAccepted(contentType: String, accepted: Bool) {
    let (api, _) = makeAPI()
    let response = api.send("POST", "/contacts", json: #"{"name":"A","phoneNumber":"1"}"#, contentType: contentType)
    #expect((response.status == 201) == accepted, "\(contentType): \(response.status)")
    if !accepted { #expect(response.status == 415) }
  }

  /// A DELETE carries no body, but an oversized one is refused (413, after 404, 405 and 412)
  /// and the contact stays: nothing of an oversized request is carried out.
  @Test func aDeleteWithABodyOverTheLimitIs413AndDeletesNothing() throws {
    let (api, _) = makeAPI()
    let created = api.send("POST", "/contacts", json: #"{"name":"Kept","phoneNumber":"1"}"#)
    let id = try #require(created.json?["id"]?.stringValue)
    let large = String(repeating: " ", count: 70_000)
    #expect(api.send("DELETE", "/contacts/nope", json: large).status == 404)
    #expect(api.send("DELETE", "/contacts/queue-sales", json: large).status == 405)
    #expect(api.send("DELETE", "/contacts/\(id)", json: large, ifMatch: "\"v999\"").status == 412)
    let refused = api.send("DELETE", "/contacts/\(id)", json: large)
    #expect(refused.status == 413 && refused.errorCode == "payload_too_large")
    var unread = APIRequest(
      method: "DELETE", target: "/contacts/\(id)", caller: Caller.admin.identity, bodyExceededLimit: true)
    #expect(api.respond(to: unread).status == 413)
    #expect(api.send("GET", "/contacts/\(id)", as: .agent).status == 200)
    unread.bodyExceededLimit = false
    #expect(api.respond(to: unread).status == 204)
    #expect(api.send("GET", "/contacts/\(id)", as: .agent).status == 404)
  }

  /// A coded body is refused as a media type the service does not take (RFC 9110 §15.5.16), not
  /// parsed as JSON; `identity` is no coding.
  @Test(arguments: [("gzip", false), ("br", false), ("GZIP", false), ("identity", true), (" Identity ", true)])
  func aCodedBodyIs415(coding: String, accepted: Bool) {
    let (api, _) = makeAPI()
    var request = APIRequest(
      method: "POST", target: "/contacts", caller: Caller.admin.identity, contentType: "application/json",
      body: Array(#"{"name":"Coded","phoneNumber":"1"}"#.utf8))
    request.contentEncoding = coding
    let response = api.respond(to: request)
    #expect(response.status == (accepted ? 201 : 415), "\(coding): \(response.status)")
    if !accepted { #expect(response.errorCode == "unsupported_media_type" && response.bodyText.contains(coding)) }
  }

  @Test func missingBodyIsAnInvalidJSONErrorSayingWhere() {
    let (api, _) = makeAPI()
    let response = api.send("POST", "/contacts", json: "")
    #expect(response.status == 400)
    #expect(response.errorCode == "invalid_json")
    #expect(response.bodyText.contains("empty"))
  }

  @Test func validationErrorsNameEveryField() {
    let (api, repository) = makeAPI()
    let response = api.send("POST", "/contacts", json: #"{"name":"","phoneNumber":"abc","extra":1}"#)
    #expect(response.status == 400)
    #expect(response.errorCode == "validation_failed")
    #expect(Set(response.errorFields) == ["name", "phoneNumber", "extra"])
    #expect(repository.history.isEmpty)
  }

  @Test func percentEncodedIDsAreDecoded() {
    let (api, _) = makeAPI(contacts: [Contact(id: "queue a+b", type: .queue, name: "Q")])
    #expect(api.send("GET", "/contacts/queue%20a%2Bb").status == 200)
    #expect(api.send("GET", "/contacts/queue%20a+b").status == 200)
  }

  @Test func unexpectedRepositoryFailureIsALogged500() {
    final class Broken: ContactRepository {
      struct Failure: Error {}
      func currentState() throws -> DirectoryState { throw Failure() }
      var cachedGeneration: UInt64 { 0 }
      func commit(
        by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
      ) throws -> DirectoryState {
        throw Failure()
      }
      func history(of id: String) throws -> [HistoryEntry]? { throw Failure() }
    }
    let logged = CapturedLog()
    let api = ContactsAPI(repository: Broken(), logger: logged.logger)
    let response = api.send("GET", "/contacts")
    #expect(response.status == 500)
    #expect(response.errorCode == "internal_error")
    #expect(logged.events == [.init(level: .error, event: "request_failed")])
  }
}

/// What a worker that held answers sends instead when their changes could not be made durable
/// (`ContactRepository.settleWrites()` threw): the store's 503, as a read's or a write's.
struct UnavailableAnswerTests {
  static func request(_ method: String, _ target: String) -> APIRequest {
    APIRequest(method: method, target: target, caller: Caller.admin.identity)
  }

  @Test(arguments: ["GET", "HEAD", "POST", "PUT", "DELETE"])
  func aHeldAnswerWhoseChangesWereLostIsThe503OfTheStore(method: String) throws {
    let (api, _) = makeAPI()
    let failure = ContactStoreUnavailable(reason: "fdatasync failed", duringWrite: true, retryAfterSeconds: 2)
    let response = api.unavailableAnswer(to: Self.request(method, "/contacts"), because: failure)
    #expect(response.status == 503)
    #expect(response.header("Retry-After") == "2")
    #expect(response.header("Vary") == "Accept-Encoding")
    if method == "HEAD" {
      let read = api.unavailableAnswer(to: Self.request("GET", "/contacts"), because: failure)
      #expect(response.body.isEmpty)
      #expect(response.header("Content-Length") == String(read.body.count))
      return
    }
    #expect(response.header("Content-Length") == String(response.body.count))
    #expect(response.errorCode == "store_unavailable")
    let message = try #require(response.json?["error"]?["message"]?.stringValue)
    #expect(message.contains(method == "GET" ? "cannot be read" : "could not save the change"))
  }

  @Test func theListingsKeptMeanwhileAreForgotten() {
    let (api, _) = makeAPI()
    #expect(api.send("GET", "/contacts", as: .agent).status == 200)
    #expect(api.listingCacheUsage.pages == 1)
    let before = api.listingCacheLookups
    _ = api.unavailableAnswer(
      to: Self.request("GET", "/contacts"), because: ContactStoreUnavailable(reason: "lost", duringWrite: true))
    #expect(api.listingCacheUsage.pages == 0 && api.listingCacheUsage.bytes == 0)
    #expect(api.listingCacheLookups == before, "the counts stay")
    #expect(api.send("GET", "/contacts", as: .agent).status == 200)
    #expect(api.listingCacheLookups.misses == before.misses + 1)
  }
}
