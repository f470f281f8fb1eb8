// contacts-bench's writes table (`--writes` for it alone): POST, bulk and compaction.

import ContactsAPI
import ContactsCore
import ContactsStore
import Foundation
import Platform

/// A data directory holding `count` custom contacts, written 1,000 to a commit, then compacted:
/// the same files as `seededDirectory`, made quicker (and out of a profile of the writes).
func seededDirectoryInBulk(_ count: Int) throws -> String {
  let path = temporaryDirectory()
  let repository = try FileContactRepository(directory: path)
  let contacts = customContacts(count)
  for start in stride(from: 0, to: count, by: 1000) {
    let batch = contacts[start..<min(count, start + 1000)].map { ContactChange.create($0) }
    _ = try repository.commit(by: "bench", idempotencyKey: nil) { _, _ in CommitPlan(batch) }
  }
  try repository.compact()
  return path
}

/// Percentile `p` (0...1) of `values`.
func percentile(_ values: [Double], _ p: Double) -> Double {
  let sorted = values.sorted()
  return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// `{"operations":[…]}` of 1,000 creates.
func bulkBody(_ batch: Int) -> [UInt8] {
  var body = #"{"operations":["#
  for index in 0..<1000 {
    if index > 0 { body += "," }
    body += #"{"op":"create","contact":{"name":"Bulk \#(batch) \#(index)","phoneNumber":"+1 555 \#(index)"}}"#
  }
  return Array((body + "]}").utf8)
}

/// What one create costs the state in memory, at random places in the listing order: what
/// every worker pays per POST (the one that wrote it and each that reads it), under the lock
/// for the first. With the index built, as a worker that served a filter has it.
func stateChangeRow(_ count: Int, indexed: Bool) throws {
  var state = DirectoryState(contacts: customContacts(count), generation: 1)
  if indexed { _ = state.entries(matching: try ContactQuery.parse("q=zzz")) }  // builds the index
  var generator = SystemRandomNumberGenerator()
  var generation: UInt64 = 1
  var times: [Double] = []
  for index in 0..<2001 {
    generation += 1
    let contact = Contact(
      id: String(format: "%032x", 50_000_000 + index), type: .custom,
      name: "Contact \(Int.random(in: 0..<9973, using: &generator)) new", phoneNumber: "555 \(index)")
    let start = Clock.monotonicNanoseconds()
    state.upsert(contact, generation: generation)
    times.append(Double(Clock.monotonicNanoseconds() - start) / 1000)
  }
  print(
    String(format: "%8d", count), indexed ? "built    " : "not built",
    String(format: "%9.1f µs", percentile(times, 0.5)),
    String(format: "%9.1f µs", percentile(times, 0.99)))
}

/// The writes table at each of `sizes`.
func writesTable(_ sizes: [Int]) throws {
  let admin = CallerIdentity.authenticated(Identity(user: "admin", roles: ["Contact Center Admin"]))

  print("")
  print("state: one create applied to a worker's state in memory (listing order, ids, the index if built), at a")
  print("random place in the order; each worker pays it per POST, the writer under the journal's lock")
  print("contacts index      p50          p99")
  for count in sizes {
    try stateChangeRow(count, indexed: false)
    try stateChangeRow(count, indexed: true)
  }

  print("")
  print("writes: 'POST' is one create through ContactsAPI (its fdatasync included), over 400 requests during which")
  print("the journal passes the compaction threshold; maintenance (the compaction) runs after each response,")
  print("outside the request's time, as in the worker.")
  print("'bulk' is POST /contacts/_bulk of 1,000 creates, median of 7; 'compact' is one compaction, whole and")
  print("the part that holds the write lock.")
  print("contacts   POST p50     POST p99     POST max     bulk 1000 creates        compact (total / write lock)")
  for count in sizes {
    let directory = try seededDirectoryInBulk(count)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let repository = try FileContactRepository(directory: directory)
    let api = ContactsAPI(repository: repository)
    // The journal filled to just short of a compaction (past 1 MiB and a quarter of the snapshot),
    // so that one falls among the POSTs below, as one does every so many writes in service.
    let snapshotBytes = Int64(
      (try FileManager.default.attributesOfItem(atPath: directory + "/snapshot.json"))[.size] as? Int ?? 0)
    let due = max(Int64(1 << 20), snapshotBytes / 4)
    var filler = 0
    while repository.journalBytes + 250_000 < due {
      filler += 1
      let batch = (0..<1000).map { index in
        ContactChange.create(
          Contact(
            id: String(format: "%016x%016x", filler, index), type: .custom, name: "Filler \(filler) \(index)",
            phoneNumber: "555 \(index)"))
      }
      _ = try repository.commit(by: "bench", idempotencyKey: nil) { _, _ in CommitPlan(batch) }
    }
    while repository.journalBytes + 40_000 < due {
      filler += 1
      let contact = Contact(
        id: String(format: "%032x", 900_000_000 + filler), type: .custom, name: "F", phoneNumber: "5")
      _ = try repository.commit(by: "bench") { _ in .create(contact) }
    }
    var posts: [Double] = []
    for index in 0..<400 {
      let body = Array(#"{"name":"Post \#(index)","phoneNumber":"555 \#(index)"}"#.utf8)
      let start = Clock.monotonicNanoseconds()
      let response = api.respond(
        to: APIRequest(
          method: "POST", target: "/contacts", caller: admin, contentType: "application/json", body: body))
      posts.append(Double(Clock.monotonicNanoseconds() - start) / 1e6)
      precondition(response.status == 201, "\(response.status)")
      repository.performMaintenance()
    }
    var bulks: [Double] = []
    for batch in 0..<(CommandLine.arguments.contains("--profile-bulk") ? 101 : 7) {
      let body = bulkBody(batch)
      let start = Clock.monotonicNanoseconds()
      let response = api.respond(
        to: APIRequest(
          method: "POST", target: "/contacts/_bulk", caller: admin, contentType: "application/json", body: body))
      bulks.append(Double(Clock.monotonicNanoseconds() - start) / 1e6)
      precondition(response.status == 200, "\(response.status)")
      repository.performMaintenance()
    }
    let bulk = percentile(bulks, 0.5)
    try repository.compact()
    let compaction = repository.lastCompaction ?? (0, 0)
    print(
      String(format: "%8d", count), format(percentile(posts, 0.5)), " ", format(percentile(posts, 0.99)), " ",
      format(posts.max() ?? 0), " ",
      format(bulk), String(format: " %7.0f/s", 1000 / (bulk / 1000)), "    ",
      format(Double(compaction.totalNanoseconds) / 1e6), "/", format(Double(compaction.writeLockNanoseconds) / 1e6))
  }
}
