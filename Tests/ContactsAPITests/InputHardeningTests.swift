import ContactsAPI
import ContactsCore
import Testing

/// Control characters in bodies, `If-None-Match` on writes, and a store that cannot be used.
struct InputHardeningTests {
  /// `text` as a JSON string literal, control characters escaped.
  func quoted(_ text: String) -> String {
    var writer = JSONWriter()
    writer.append(string: text)
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  @Test(arguments: ["\u{0}", "\n", "\u{85}", "\u{202E}", "\u{2028}"])
  func namesWithControlOrOverrideCharactersAre400NamingName(character: String) throws {
    let (api, repository) = makeAPI()
    let name = quoted("Evil\(character)gpj.exe")
    let created = api.send("POST", "/contacts", json: #"{"name":\#(name),"phoneNumber":"555"}"#)
    #expect(created.status == 400)
    #expect(created.errorCode == "validation_failed")
    #expect(created.errorFields == ["name"])
    let updated = api.send("PUT", "/contacts/\(customID)", json: #"{"name":\#(name)}"#)
    #expect(updated.status == 400)
    #expect(updated.errorCode == "validation_failed")
    #expect(updated.errorFields == ["name"])
    #expect(repository.history.isEmpty)
    #expect(api.send("GET", "/contacts/\(customID)").json?["name"] == .string("Front Desk"))
  }

  @Test func ifNoneMatchOnAWriteSaysSoNotIfMatch() throws {
    let (api, _) = makeAPI()
    let etag = try #require(api.send("GET", "/contacts/\(customID)").header("ETag"))
    for response in [
      api.send("PUT", "/contacts/\(customID)", json: #"{"name":"A"}"#, ifNoneMatch: etag),
      api.send("DELETE", "/contacts/\(customID)", ifNoneMatch: "*"),
    ] {
      #expect(response.status == 412)
      #expect(response.errorCode == "precondition_failed")
      let message = response.json?["error"]?["message"]?.stringValue ?? ""
      #expect(message.hasPrefix("If-None-Match matches"), "\(message)")
    }
    let ifMatch = api.send("PUT", "/contacts/\(customID)", json: #"{"name":"A"}"#, ifMatch: "\"other\"")
    #expect(ifMatch.json?["error"]?["message"]?.stringValue?.contains("If-Match does not match") == true)
  }

  /// The API's side of a store outage: 503 `store_unavailable` with `Retry-After`, for reads
  /// and writes, and service as soon as the store answers again. (The file store's own
  /// recovery is tested in ContactsStoreTests.)
  @Test func anUnavailableStoreIs503WithRetryAfterAndServiceResumes() throws {
    let repository = FlakyRepository(contacts: fixtureContacts)
    let logged = CapturedLog()
    let api = ContactsAPI(repository: repository, logger: logged.logger)
    repository.failing = true
    for response in [
      api.send("GET", "/contacts", as: .agent),
      api.send("GET", "/contacts/\(customID)", as: .agent),
      api.send("POST", "/contacts", json: #"{"name":"New","phoneNumber":"1"}"#),
      api.send("PUT", "/contacts/\(customID)", json: #"{"name":"B"}"#),
      api.send("DELETE", "/contacts/\(customID)"),
    ] {
      #expect(response.status == 503)
      #expect(response.errorCode == "store_unavailable")
      #expect(response.header("Retry-After") == "1")
      #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }
    #expect(logged.events.count == 5 && logged.messages.allSatisfy { $0.contains("disk on fire") })
    repository.failing = false
    #expect(api.send("POST", "/contacts", json: #"{"name":"New","phoneNumber":"1"}"#).status == 201)
    #expect(api.send("GET", "/contacts", as: .agent).contactIDs.count == 4)
  }
}

/// An in-memory repository that can be made to fail as an unreadable store does.
final class FlakyRepository: ContactRepository {
  private let inner: InMemoryContactRepository
  var failing = false

  init(contacts: [Contact]) { inner = InMemoryContactRepository(contacts: contacts) }

  var cachedGeneration: UInt64 { inner.cachedGeneration }

  private func check(writing: Bool) throws {
    if failing { throw ContactStoreUnavailable(reason: "disk on fire", duringWrite: writing) }
  }

  func currentState() throws -> DirectoryState {
    try check(writing: false)
    return try inner.currentState()
  }

  func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState {
    try check(writing: true)
    return try inner.commit(by: user, idempotencyKey: idempotencyKey, decide)
  }

  func history(of id: String) throws -> [HistoryEntry]? {
    try check(writing: false)
    return try inner.history(of: id)
  }
}
