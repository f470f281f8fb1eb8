import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Each store (the data directory, PostgreSQL) under real worker processes behind nginx:
/// concurrency, lost updates, SIGKILL, import while serving.
@Suite(.serialized, .tags(.endToEnd))
struct StoreDurabilityTests {
  @Test(arguments: StoreKind.allCases)
  func fourClientsCreatingThroughFourWorkersMakeExactlyAThousandUniqueContacts(store: StoreKind) async throws {
    let stack = try LocalStack(workers: 4, demoData: false, database: store.newDatabase())
    let client = stack.client
    let created = try await concurrently(4) { writer in
      try (0..<250).map { index -> String in
        let response = try client.request(
          "POST", "/contacts", user: "admin", json: #"{"name":"W\#(writer)-\#(index)","phoneNumber":"555 \#(index)"}"#)
        guard response.status == 201, let id = response.json?["id"] as? String else {
          throw HTTPClientError(description: "create failed: \(response)")
        }
        return id
      }
    }
    let ids = created.flatMap { $0 }
    #expect(ids.count == 1000)
    #expect(Set(ids).count == 1000)
    let listing = try client.request("GET", "/contacts?type=Custom", user: "agent")
    #expect(listing.header("X-Total-Count") == "1000")
    #expect(Set(listing.contacts.compactMap { $0["id"] }) == Set(ids))
    let check = try stack.command(["check"] + stack.storeArguments)
    #expect(check.status == 0, "\(check.output)")
    #expect(check.output.contains("1000 Custom"))
  }

  /// Read-modify-write with If-Match from four clients: every acknowledged update is in the
  /// final value, and no update is lost.
  @Test(arguments: StoreKind.allCases)
  func ifMatchUpdatesFromFourClientsLoseNothing(store: StoreKind) async throws {
    let stack = try LocalStack(workers: 4, demoData: false, database: store.newDatabase())
    let client = stack.client
    let created = try client.request("POST", "/contacts", user: "admin", json: #"{"name":"n","phoneNumber":"1"}"#)
    let id = try #require(created.json?["id"] as? String)
    let acknowledged = try await concurrently(4) { writer -> Int in
      var successes = 0
      var attempts = 0
      while successes < 15 && attempts < 400 {
        attempts += 1
        let read = try client.request("GET", "/contacts/\(id)", user: "admin")
        guard let etag = read.header("ETag"), let name = read.json?["name"] as? String else { continue }
        let update = try client.request(
          "PUT", "/contacts/\(id)", user: "admin", headers: [("If-Match", etag)],
          json: #"{"name":"\#(name)\#(writer)"}"#)
        if update.status == 200 {
          successes += 1
        } else if update.status != 412 {
          throw HTTPClientError(description: "unexpected \(update)")
        }
      }
      return successes
    }
    let final = try client.request("GET", "/contacts/\(id)", user: "agent").json?["name"] as? String ?? ""
    #expect(acknowledged == [15, 15, 15, 15])
    #expect(final.count == 1 + 60, "\(final)")
    for writer in 0..<4 { #expect(final.filter { $0 == Character("\(writer)") }.count == 15) }
  }

  /// Workers are SIGKILLed at random moments while clients create contacts: afterwards the
  /// directory passes `check` and every create that was acknowledged is there.
  @Test(arguments: StoreKind.allCases)
  func killingWritersAtRandomMomentsLosesNoAcknowledgedWrite(store: StoreKind) throws {
    let stack = try LocalStack(
      workers: 2, demoData: false, database: store.newDatabase(),
      serveArguments: ["--journal-compaction-bytes", "16384"])
    let client = stack.client
    let stop = StopFlag()
    defer { stop.set() }
    let acknowledgedCount = SharedCounter()
    // Each writer on a thread of its own: blocking requests in the shared pool would leave
    // them taking turns, and the test starved.
    let writers = (0..<4).map { writer in
      startThread { () -> [String] in
        var acknowledged: [String] = []
        var index = 0
        while !stop.isSet {
          index += 1
          let body = #"{"name":"K\#(writer)-\#(index)","phoneNumber":"555 \#(index)"}"#
          if let response = try? client.request("POST", "/contacts", user: "admin", json: body),
            response.status == 201, let id = response.json?["id"] as? String
          {
            acknowledged.append(id)
            acknowledgedCount.increment()
          }
        }
        return acknowledged
      }
    }
    var kills = 0
    let deadline = Date().addingTimeInterval(60)
    while kills < 25 && Date() < deadline {
      // Between two kills, writes must have gone on (however slow the machine is): wait for
      // one more acknowledged write, then kill at a random moment within the next writes.
      let before = acknowledgedCount.value
      _ = eventually(within: 10) { acknowledgedCount.value > before }
      usleep(UInt32.random(in: 0...60_000))  // not synchronization: the random moment is the test
      if let victim = stack.workerPIDs().randomElement() {
        kill(victim, SIGKILL)
        kills += 1
      }
    }
    // Some writes after the last kill too.
    let afterLastKill = acknowledgedCount.value
    let wroteAgain = eventually { acknowledgedCount.value >= afterLastKill + 10 }
    #expect(wroteAgain, "no writes were acknowledged after the last kill")
    stop.set()
    let acknowledged = writers.flatMap { $0() }
    #expect(kills == 25)
    #expect(acknowledged.count > 25, "the kills must land among acknowledged writes")

    let check = try stack.command(["check"] + stack.storeArguments)
    #expect(check.status == 0, "\(check.output)")
    let listing = try client.request("GET", "/contacts?type=Custom", user: "agent")
    let stored = Set(listing.contacts.compactMap { $0["id"] })
    let missing = Set(acknowledged).subtracting(stored)
    #expect(missing.isEmpty, "\(missing.count) acknowledged creates are missing")
    #expect(stack.log().contains("killed by signal 9"))
    if store == .dataDirectory {
      // The workers compacted (after their responses) while they were being killed.
      #expect(FileManager.default.fileExists(atPath: "\(stack.dataDirectory)/history.jsonl"), "no compaction ran")
    }
  }

  @Test(arguments: StoreKind.allCases)
  func everyReadAfterAnAcknowledgedWriteSeesItWhicheverWorkerAnswers(store: StoreKind) throws {
    let stack = try LocalStack(workers: 4, demoData: false, database: store.newDatabase())
    for index in 0..<40 {
      let created = try stack.client.request(
        "POST", "/contacts", user: "admin", json: #"{"name":"RYW \#(index)","phoneNumber":"1"}"#)
      let id = try #require(created.json?["id"] as? String)
      #expect(try stack.client.request("GET", "/contacts/\(id)", user: "agent").status == 200)
      let listing = try stack.client.request("GET", "/contacts?type=Custom", user: "agent")
      #expect(listing.header("X-Total-Count") == String(index + 1))
    }
  }

  @Test(arguments: StoreKind.allCases)
  func importWhileServingIsSeenWithoutRestartAndAMalformedFileChangesNothing(store: StoreKind) throws {
    let stack = try LocalStack(workers: 2, database: store.newDatabase())
    let before = try stack.client.request("GET", "/contacts?type=User", user: "agent")
    let directory = TemporaryDirectory()
    let malformed = directory.file("users.csv")
    try "id,name,phoneNumber\nu-1,Ann,555\nu-2,,556\n".write(toFile: malformed, atomically: true, encoding: .utf8)
    let rejected = try stack.command(["import", "users", malformed] + stack.storeArguments)
    #expect(rejected.status != 0)
    #expect(rejected.errors.contains("line 3, field name"), "\(rejected.errors)")
    let unchanged = try stack.client.request("GET", "/contacts?type=User", user: "agent")
    #expect(unchanged.body == before.body)

    let valid = directory.file("users-ok.csv")
    try "id,name,userName,firstName,lastName,employeeId,phoneNumber\nu-1,Ann Lee,alee,Ann,Lee,E1,\"+1 555 0101\"\n"
      .write(toFile: valid, atomically: true, encoding: .utf8)
    let imported = try stack.command(["import", "users", valid] + stack.storeArguments)
    #expect(imported.status == 0, "\(imported.errors)")
    for _ in 0..<10 {
      let users = try stack.client.request("GET", "/contacts?type=User", user: "agent").contacts
      #expect(users.map { $0["id"] } == ["u-1"])
      #expect(users.first?["employeeId"] == "E1")
    }
  }
}

extension StoreDurabilityTests {
  /// `contacts-fcgi import` refuses a file that would remove every user (a header-only CSV, an
  /// empty array) unless `--allow-empty` is passed, and a file with control characters; in
  /// both cases it exits non-zero, says why, and changes nothing.
  @Test(arguments: StoreKind.allCases)
  func importRefusesEmptyingATypeWithoutAllowEmptyAndControlCharacters(store: StoreKind) throws {
    let directory = TemporaryDirectory()
    let storeArguments =
      try store.newDatabase().map { ["--database-url", $0] } ?? ["--data-dir", directory.file("data")]
    let demo = packageRoot.appendingPathComponent("deploy/demo/users.json").path
    let seeded = try runCommand(serviceBinary, ["import", "users", demo] + storeArguments)
    #expect(seeded.status == 0, "\(seeded.errors)")
    let check = { try runCommand(serviceBinary, ["check"] + storeArguments).output }
    let before = try check()

    let headerOnly = directory.file("users.csv")
    try "id,name,phoneNumber\n".write(toFile: headerOnly, atomically: true, encoding: .utf8)
    let emptyArray = directory.file("users.json")
    try "[]".write(toFile: emptyArray, atomically: true, encoding: .utf8)
    for file in [headerOnly, emptyArray] {
      for extra in [[], ["--dry-run"]] {
        let refused = try runCommand(serviceBinary, ["import", "users", file] + storeArguments + extra)
        #expect(refused.status != 0)
        #expect(refused.errors.contains("--allow-empty"), "\(refused.errors)")
        #expect(refused.errors.contains("nothing was changed"), "\(refused.errors)")
      }
    }
    let control = directory.file("control.csv")
    try "id,name\nu-1,Ann\u{0}Lee\n".write(toFile: control, atomically: true, encoding: .utf8)
    let refused = try runCommand(serviceBinary, ["import", "users", control] + storeArguments)
    #expect(refused.status != 0)
    #expect(refused.errors.contains("line 2, field name"), "\(refused.errors)")
    // An id of the other type: the store refuses it, and the message still names the line.
    let taken = directory.file("queues.json")
    let userID = "user-001"
    try "[\n  {\"id\":\"q-new\",\"name\":\"A\"},\n  {\"id\":\"\(userID)\",\"name\":\"B\"}\n]"
      .write(toFile: taken, atomically: true, encoding: .utf8)
    let clash = try runCommand(serviceBinary, ["import", "queues", taken] + storeArguments)
    #expect(clash.status != 0)
    #expect(
      clash.errors.contains("line 3, field id: '\(userID)' already belongs to a User contact"), "\(clash.errors)")
    #expect(try check() == before)

    let allowed = try runCommand(
      serviceBinary, ["import", "users", headerOnly, "--allow-empty"] + storeArguments)
    #expect(allowed.status == 0, "\(allowed.errors)")
    let after = try check()
    #expect(after.contains(" 0 User,"), "\(after)")
  }
}
