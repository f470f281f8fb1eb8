import ContactsAPI
import ContactsCore
import ContactsStore
import Foundation
import Platform
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Import files with control characters, imports that would empty a type, and a journal that
/// cannot be written or read.
struct StoreHardeningTests {
  // MARK: Import files

  func importError(_ text: String, type: ContactType = .user, format: ImportFile.Format) -> String? {
    do {
      _ = try ImportFile.parse(Array(text.utf8), type: type, format: format)
      return nil
    } catch {
      return "\(error)"
    }
  }

  /// `text` as a JSON string literal, control characters escaped.
  func quoted(_ text: String) -> String {
    var writer = JSONWriter()
    writer.append(string: text)
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  @Test(arguments: ["\u{0}", "\n", "\r", "\t", "\u{7F}", "\u{85}", "\u{202E}", "\u{2066}", "\u{2029}"])
  func importsRefuseControlAndOverrideCharactersNamingLineAndField(character: String) throws {
    let json = """
      [
        {"id": "u1", "name": "Ann Lee"},
        {"id": "u2", "name": "Bo", "lastName": \(quoted("Evil\(character)Bo"))}
      ]
      """
    let jsonError = try #require(importError(json, format: .json), "accepted \(json)")
    #expect(jsonError.contains("line 3, field lastName"), "\(jsonError)")
    #expect(jsonError.contains("U+"), "\(jsonError)")

    let queues = #"{"queues": [{"id": "q1", "name": \#(quoted("Sales\(character)")), "phoneNumber": "1"}]}"#
    let queueError = try #require(importError(queues, type: .queue, format: .json))
    #expect(queueError.contains("line 1, field name"), "\(queueError)")

    // CSV, raw: the character as it is (quoted, so that a line break stays inside the field).
    let csv = "id,name,employeeId\nu1,Ann Lee,E1\nu2,Bo,\"E\(character)2\"\n"
    let csvError = try #require(importError(csv, format: .csv), "accepted \(csv.debugDescription)")
    #expect(csvError.contains("line 3, field employeeId"), "\(csvError)")
  }

  @Test func importsKeepJoinersAndDirectionMarks() throws {
    let name = "\u{5D3}\u{5E0}\u{5D4} \u{200F}(2)\u{200D}"
    let contacts = try ImportFile.parse(
      Array("id,name\nu1,\(name)\n".utf8), type: .user, format: .csv)
    #expect(contacts.map(\.name) == [name])
  }

  /// A header-only CSV or an empty array would remove every user: refused unless allowed.
  @Test func anImportThatWouldRemoveEveryContactOfItsTypeIsRefusedUnlessAllowed() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    let users = [Contact(id: "u1", type: .user, name: "Ann"), Contact(id: "u2", type: .user, name: "Bo")]
    _ = try repository.importDirectory(.user, contacts: users, by: "import")
    let generation = try repository.currentState().generation
    let empty = try ImportFile.parse(Array("id,name,phoneNumber\n".utf8), type: .user, format: .csv)
    #expect(empty.isEmpty)
    for dryRun in [true, false] {
      do {
        _ = try repository.importDirectory(.user, contacts: empty, by: "import", dryRun: dryRun)
        Issue.record("an empty import was accepted (dryRun: \(dryRun))")
      } catch StoreError.importRemovesAll(let type, let existing) {
        #expect(type == .user && existing == 2)
      }
    }
    let reopened = try FileContactRepository(directory: directory.path).currentState()
    #expect(reopened.generation == generation)
    #expect(reopened.contacts(ofType: .user).map(\.id) == ["u1", "u2"])
    // Nothing to remove: an empty queue import is fine.
    _ = try repository.importDirectory(.queue, contacts: [], by: "import")
    let allowed = try repository.importDirectory(.user, contacts: [], by: "import", allowEmpty: true)
    #expect(allowed.removed == ["u1", "u2"])
    #expect(try repository.currentState().contacts(ofType: .user).isEmpty)
  }

  // MARK: A journal that cannot be written or read

  struct Fault: Sendable {
    static let diskFull = SystemError(syscall: "write", path: "journal.jsonl", code: ENOSPC)
    static let ioError = SystemError(syscall: "fdatasync", path: "journal.jsonl", code: EIO)
  }

  func send(
    _ api: ContactsAPI, _ method: String, _ target: String, json: String? = nil, ifMatch: String? = nil
  ) -> APIResponse {
    api.respond(
      to: APIRequest(
        method: method, target: target,
        caller: .authenticated(Identity(user: "admin", roles: ["Contact Center Admin"])),
        contentType: json == nil ? nil : "application/json", ifMatch: ifMatch,
        body: json.map { Array($0.utf8) } ?? []))
  }

  func code(_ response: APIResponse) -> String? {
    (try? JSONParser.parse(response.body))?["error"]?["code"]?.stringValue
  }

  func names(_ response: APIResponse) -> Set<String> {
    guard case .array(let contacts)? = (try? JSONParser.parse(response.body))?["contacts"] else { return [] }
    return Set(contacts.compactMap { $0["name"]?.stringValue })
  }

  func journalSize(_ directory: TemporaryDirectory) throws -> Int64 {
    try #require(try FileSystem.identity(of: directory.file("journal.jsonl"))).size
  }

  /// The write fails (a short write, then ENOSPC; or fdatasync fails after a whole line):
  /// 503 store_unavailable with Retry-After; reads while the disk still fails are 503 too; once
  /// the fault is gone the next request works with no restart, and nothing acknowledged is lost.
  @Test(arguments: [FileContactRepository.JournalOperation.append, .sync])
  func aFailedJournalWriteIs503AndTheStoreRecoversByItself(failing operation: FileContactRepository.JournalOperation)
    throws
  {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    let other = try FileContactRepository(directory: directory.path)  // another worker
    let api = ContactsAPI(repository: repository)
    let created = send(api, "POST", "/contacts", json: #"{"name":"Acknowledged","phoneNumber":"1"}"#)
    #expect(created.status == 201)
    let acknowledged = try #require((try? JSONParser.parse(created.body))?["id"]?.stringValue)
    let sizeBefore = try journalSize(directory)

    let journalPath = directory.file("journal.jsonl")
    var diskFails = true
    repository.faultInjection = { (failing) throws(SystemError) in
      guard diskFails else { return }
      if failing == operation || failing == .read {
        if failing == .append {
          // A short write: part of a line reaches the file before the disk fills.
          let file = try FileDescriptor(open: journalPath, [.writeOnly, .append])
          try file.writeAll(Array(#"{"seq":2,"at":"2026-"#.utf8))
        }
        throw failing == .sync ? Fault.ioError : Fault.diskFull
      }
    }

    let failed = send(api, "POST", "/contacts", json: #"{"name":"Lost","phoneNumber":"2"}"#)
    #expect(failed.status == 503)
    #expect(code(failed) == "store_unavailable")
    #expect(failed.header("Retry-After") == "1")
    #expect(try journalSize(directory) == sizeBefore, "the failed record was cut off under the lock")
    let read = send(api, "GET", "/contacts")
    #expect(read.status == 503)
    #expect(read.header("Retry-After") == "1")
    #expect(send(api, "PUT", "/contacts/\(acknowledged)", json: #"{"name":"X"}"#).status == 503)
    #expect(try other.currentState().count == 1, "other workers never saw the failed record")

    diskFails = false  // the disk has room again: no restart, no reopening by hand
    let listing = send(api, "GET", "/contacts")
    #expect(listing.status == 200)
    let after = send(api, "POST", "/contacts", json: #"{"name":"After","phoneNumber":"3"}"#)
    #expect(after.status == 201)
    #expect(names(send(api, "GET", "/contacts")) == ["Acknowledged", "After"])
    #expect(Set(try other.currentState().entries.map(\.contact.name)) == ["Acknowledged", "After"])
    let fresh = try FileContactRepository(directory: directory.path).currentState()
    #expect(Set(fresh.entries.map(\.contact.name)) == ["Acknowledged", "After"])
    #expect(fresh.contact(id: acknowledged) != nil)
    #expect(StoreCheck.run(directory: directory.path).isHealthy)
  }

  /// A store that cannot be read (the journal gone, say, restored from a backup a moment
  /// later): 503 instead of 500, and service resumes on the next request once it is back.
  @Test func anUnreadableStoreIs503UntilItIsBack() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    let api = ContactsAPI(repository: repository)
    #expect(send(api, "POST", "/contacts", json: #"{"name":"Kept","phoneNumber":"1"}"#).status == 201)
    let journal = directory.file("journal.jsonl")
    #expect(rename(journal, journal + ".away") == 0)
    let read = send(api, "GET", "/contacts")
    #expect(read.status == 503)
    #expect(code(read) == "store_unavailable")
    #expect(read.header("Retry-After") == "1")
    #expect(send(api, "POST", "/contacts", json: #"{"name":"No","phoneNumber":"1"}"#).status == 503)
    #expect(rename(journal + ".away", journal) == 0)
    let back = send(api, "GET", "/contacts")
    #expect(back.status == 200)
    #expect(names(back) == ["Kept"])
    #expect(send(api, "POST", "/contacts", json: #"{"name":"Yes","phoneNumber":"1"}"#).status == 201)
  }

  /// A record whose writer then fails to sync it (and cuts it off) is never served: a reader
  /// does not apply a complete line past the durable watermark (group commit; before it, readers
  /// applied it and forgot it when the journal shrank). The record was never acknowledged.
  @Test func aReaderThatSawARecordLaterCutOffForgetsIt() throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    let reader = try FileContactRepository(directory: directory.path)
    _ = try writer.commit(by: "t") { _ in .create(Contact(id: "a", type: .custom, name: "A", phoneNumber: "1")) }
    var sawIt = 0
    writer.faultInjection = { (operation) throws(SystemError) in
      guard operation == .sync else { return }
      // Between the write and the failing fdatasync, another worker reads the whole line.
      sawIt = (try? reader.currentState().count) ?? -1
      throw Fault.ioError
    }
    #expect(throws: ContactStoreUnavailable.self) {
      try writer.commit(by: "t") { _ in .create(Contact(id: "b", type: .custom, name: "B", phoneNumber: "1")) }
    }
    #expect(sawIt == 1, "the line was complete in the file, but not flushed")
    writer.faultInjection = nil
    #expect(try reader.currentState().entries.map(\.contact.id) == ["a"])
    _ = try writer.commit(by: "t") { _ in .create(Contact(id: "c", type: .custom, name: "C", phoneNumber: "1")) }
    #expect(try reader.currentState().entries.map(\.contact.id) == ["a", "c"])
  }
}
