// The indexes' rows of contacts-bench: a filter with one match and `q` searches through the
// scan (what every listing did before the indexes) and through the index, the index's lazy
// build and its memory, one applied change with and without an index, and a mixed loop of
// uncached searches and writes. Each state is built in memory (a directory import for users).

import ContactsAPI
import ContactsCore
import Foundation

/// The resident set of this process, in MB (Linux: `/proc/self/statm`).
func residentMegabytes() -> Double {
  guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
  let fields = text.split(separator: " ")
  guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
  return pages * 4096 / 1_048_576
}

/// `count` users as a directory import brings them: names, user names, employee ids, numbers.
func directoryUsers(_ count: Int) -> [Contact] {
  let first = ["Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Liam"]
  let last = ["Novak", "Smith", "García", "Kowalski", "Müller", "Rossi", "Tanaka", "Okafor", "Dubois", "Silva"]
  return (0..<count).map { index in
    let (given, family) = (first[index % first.count], last[(index / first.count) % last.count])
    return Contact(
      id: "user-\(index)", type: .user, name: "\(given) \(family) \(index)",
      phoneNumber: "+1 555 \(String(format: "%07d", index))", userName: "\(given.lowercased())\(index)",
      firstName: given, lastName: family, employeeId: String(format: "E%06d", index))
  }
}

/// One row per query: the scan, the index (built), the whole uncached listing through the
/// index, and the matches.
func indexRows(_ label: String, _ state: DirectoryState, queries: [(String, String)]) throws {
  let before = residentMegabytes()
  var built = state
  let build = try median(1) {
    built = state
    _ = built.entries(matching: try ContactQuery.parse("q=zzz"))  // builds the index
  }
  // The same state again, for a second figure on a fresh index.
  let rebuild = try median(3) {
    var fresh = DirectoryState(indexed: state.entries.array, generation: state.generation)
    _ = fresh.entries(matching: try ContactQuery.parse("q=zzz"))
    fresh = DirectoryState()
  }
  let after = residentMegabytes()
  print(
    "\(label): index build (first query) \(format(build)), again \(format(rebuild)); RSS \(String(format: "%.0f", before)) → \(String(format: "%.0f", after)) MB"
  )
  for (name, raw) in queries {
    let query = try ContactQuery.parse(raw)
    let scan = median(11) { _ = built.entries.filter(query.matches) }
    let indexed = median(101) { _ = built.entries(matching: query) }
    let listing = median(101) { _ = ContactsAPI.renderListing(query, in: built) }
    let matches = built.entries(matching: query).count
    let how = built.indexedEntries(matching: query) == nil ? "scan" : "index"
    print(
      "  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) scan \(format(scan))  \(how) \(format(indexed))  uncached listing \(format(listing))  (\(matches) matches, \(raw))"
    )
  }
}

/// One upsert applied to `state`, with and without a built index (medians of many).
func applyRow(_ label: String, _ state: DirectoryState, sample: Contact) throws {
  var plain = DirectoryState(indexed: state.entries.array, generation: state.generation)
  var indexed = DirectoryState(indexed: state.entries.array, generation: state.generation)
  _ = indexed.entries(matching: try ContactQuery.parse("q=zzz"))
  var generation = state.generation
  func next() -> Contact {
    generation += 1
    var contact = sample
    contact.name = "Changed \(generation)"
    return contact
  }
  let withoutIndex = median(201) { plain.upsert(next(), generation: generation) }
  let withIndex = median(201) { indexed.upsert(next(), generation: generation) }
  print("  apply 1 record (in memory): no index \(format(withoutIndex)), index built \(format(withIndex))")
}

/// Uncached `q` searches (each through the index, then rendered) with one write per nine
/// reads, against the same searches read-only: requests per second of this one thread.
func mixedRow(_ state: DirectoryState, queries: [String]) throws {
  var state = DirectoryState(indexed: state.entries.array, generation: state.generation)
  let parsed = try queries.map { try ContactQuery.parse($0) }
  _ = state.entries(matching: parsed[0])
  func rate(writes: Bool) -> Double {
    let start = Date()
    var done = 0
    while Date().timeIntervalSince(start) < 1 {
      for (index, query) in parsed.enumerated() {
        if writes && index % 10 == 9 {
          let generation = state.generation + 1
          state.upsert(
            Contact(id: "bench-\(generation % 1000)", type: .custom, name: "Bench \(generation)", phoneNumber: "555"),
            generation: generation)
        } else {
          _ = ContactsAPI.renderListing(query, in: state)
        }
        done += 1
      }
    }
    return Double(done) / Date().timeIntervalSince(start)
  }
  let readOnly = rate(writes: false)
  let mixed = rate(writes: true)
  print(
    "  uncached q searches: read-only \(String(format: "%.0f", readOnly))/s, with 10% writes \(String(format: "%.0f", mixed))/s (\(String(format: "%.2f", mixed / readOnly))x)"
  )
}

/// The resident set before and after the index of `count` custom contacts or imported users.
func memoryRow(users: Bool, count: Int) throws {
  var state = DirectoryState()
  if users {
    state.replaceAll(ofType: .user, with: directoryUsers(count), generation: 1)
  } else {
    state = DirectoryState(contacts: customContacts(count), generation: 1)
  }
  let before = residentMegabytes()
  let build = try median(1) { _ = state.entries(matching: try ContactQuery.parse("q=zzz")) }
  let after = residentMegabytes()
  let statistics = state.indexStatistics!
  print(
    "\(count) \(users ? "users" : "custom contacts"): RSS \(String(format: "%.1f", before)) MB, with the index \(String(format: "%.1f", after)) MB (+\(String(format: "%.1f", after - before))); built in \(format(build)); \(statistics.keys) keys, \(statistics.lists) lists (\(statistics.bitmaps) bitmaps, \(String(format: "%.1f", Double(statistics.listBytes) / 1_048_576)) MB), \(statistics.postings) postings"
  )
}
