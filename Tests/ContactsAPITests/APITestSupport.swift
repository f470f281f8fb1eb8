import ContactsAPI
import ContactsCore
import Foundation
import Logging

/// A fresh API over an in-memory repository holding one queue, one user and one custom contact.
func makeAPI(contacts: [Contact] = fixtureContacts) -> (ContactsAPI, InMemoryContactRepository) {
  let repository = InMemoryContactRepository(contacts: contacts)
  return (ContactsAPI(repository: repository), repository)
}

let customID = "0123456789abcdef0123456789abcdef"
let fixtureContacts = [
  Contact(id: "queue-sales", type: .queue, name: "Sales", phoneNumber: "+1 800 555 0100"),
  Contact(
    id: "user-joej", type: .user, name: "Joe Johnson", phoneNumber: "+1 555-123-4567", userName: "joej",
    firstName: "Joe", lastName: "Johnson", employeeId: "E42"),
  Contact(id: customID, type: .custom, name: "Front Desk", phoneNumber: "555 0199"),
]

enum Caller: String, CaseIterable, Sendable {
  case admin, agent, guest, anonymous
  /// A second admin.
  case other

  var identity: CallerIdentity {
    switch self {
    case .admin: .authenticated(Identity(user: "admin", roles: ["Contact Center Admin"]))
    case .other: .authenticated(Identity(user: "other", roles: ["Contact Center Admin"]))
    case .agent: .authenticated(Identity(user: "agent", roles: ["Agent"]))
    case .guest: .authenticated(Identity(user: "guest", roles: []))
    case .anonymous: .anonymous
    }
  }
}

extension ContactsAPI {
  func send(
    _ method: String, _ target: String, as caller: Caller = .admin, json: String? = nil,
    contentType: String? = "application/json", ifMatch: String? = nil, ifNoneMatch: String? = nil
  ) -> APIResponse {
    respond(
      to: APIRequest(
        method: method, target: target, caller: caller.identity, contentType: json == nil ? nil : contentType,
        ifMatch: ifMatch, ifNoneMatch: ifNoneMatch, body: json.map { Array($0.utf8) } ?? []))
  }
}

extension APIResponse {
  var json: JSONValue? { try? JSONParser.parse(body) }
  var errorCode: String? { json?["error"]?["code"]?.stringValue }
  var errorFields: [String] {
    guard case .array(let fields) = json?["error"]?["fields"] else { return [] }
    return fields.compactMap { $0["field"]?.stringValue }
  }
  var contactIDs: [String] {
    guard case .array(let contacts) = json?["contacts"] else { return [] }
    return contacts.compactMap { $0["id"]?.stringValue }
  }
}

extension JSONValue {
  /// An object's members, in order, duplicates included; `nil` for any other value.
  var members: [JSONMember]? { if case .object(let members) = self { members } else { nil } }
}

/// A logger whose lines a test can read back: level and event of each.
final class CapturedLog: @unchecked Sendable {
  // @unchecked: tests log from one thread; the lock keeps even a stray second one safe.
  struct Entry: Equatable {
    var level: Logger.Level
    var event: String
  }
  private let lock = NSLock()
  private var entries: [Entry] = []
  private var texts: [String] = []

  var events: [Entry] { lock.withLock { entries } }
  var messages: [String] { lock.withLock { texts } }

  var logger: Logger {
    Logger(label: "test") { _ in Handler(log: self) }
  }

  private struct Handler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
      let name = event.metadata?["event"]?.description ?? metadata["event"]?.description ?? ""
      log.lock.withLock {
        log.entries.append(Entry(level: event.level, event: name))
        log.texts.append(event.message.description)
      }
    }
  }
}
