// contacts-bench: in-process timings of the hot paths, at 1,000, 10,000 and 100,000 contacts.
// A benchmark, not a test: it prints figures and asserts nothing. Run it in release mode:
//
//     swift run -c release contacts-bench [--quick] [--writes] [--size N] [--group-commit-probe]
//     swift run -c release contacts-bench --store-commit-probe [SECONDS]
//     swift run -c release contacts-bench --postgres-writes URL [SECONDS]
//
// Each figure is the median of several runs, so one slow run (another process, a page fault
// storm) does not decide it.

import ContactsAPI
import ContactsCore
import ContactsStore
import Foundation
import Platform

if let memory = CommandLine.arguments.firstIndex(of: "--memory") {
  // `--memory custom|users N`: RSS before and after building the index, in a fresh process.
  let arguments = CommandLine.arguments
  let count = Int(arguments[memory + 2]) ?? 100_000
  try memoryRow(users: arguments[memory + 1] == "users", count: count)
  exit(0)
}
if let index = CommandLine.arguments.firstIndex(of: "--probe-writer"), CommandLine.arguments.count > index + 3 {
  let arguments = CommandLine.arguments
  try runProbeWriter(
    mode: arguments[index + 1], path: arguments[index + 2], milliseconds: Int(arguments[index + 3]) ?? 0)
  exit(0)
}
if let index = CommandLine.arguments.firstIndex(of: "--store-writer"), CommandLine.arguments.count > index + 2 {
  let arguments = CommandLine.arguments
  try runStoreWriter(
    directory: arguments[index + 1], milliseconds: Int(arguments[index + 2]) ?? 0,
    printEach: arguments.contains("--print-acknowledged"))
  exit(0)
}
if let index = CommandLine.arguments.firstIndex(of: "--store-commit-probe") {
  let arguments = CommandLine.arguments
  try runStoreCommitProbe(seconds: arguments.count > index + 1 ? Int(arguments[index + 1]) ?? 3 : 3)
  exit(0)
}
if let index = CommandLine.arguments.firstIndex(of: "--postgres-writes"), CommandLine.arguments.count > index + 1 {
  let arguments = CommandLine.arguments
  let seconds = arguments.count > index + 2 ? Double(arguments[index + 2]) ?? 5 : 5
  try runPostgresWriteProbe(url: arguments[index + 1], seconds: seconds)
  exit(0)
}
if CommandLine.arguments.contains("--group-commit-probe") {
  try runGroupCommitProbe()
  exit(0)
}
let quick = CommandLine.arguments.contains("--quick")
// `--size N` measures N contacts only (for a profiler).
let sizes =
  CommandLine.arguments.firstIndex(of: "--size").flatMap { Int(CommandLine.arguments[$0 + 1]) }.map { [$0] }
  ?? (quick ? [1000, 10_000] : [1000, 10_000, 100_000])
if CommandLine.arguments.contains("--writes") {
  try writesTable(sizes)
  exit(0)
}

func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
  var times: [Double] = []
  for _ in 0..<runs {
    let start = Clock.monotonicNanoseconds()
    try body()
    times.append(Double(Clock.monotonicNanoseconds() - start) / 1e6)
  }
  return times.sorted()[times.count / 2]
}

func format(_ milliseconds: Double) -> String {
  milliseconds >= 1 ? String(format: "%8.2f ms", milliseconds) : String(format: "%8.1f µs", milliseconds * 1000)
}

func customContacts(_ count: Int) -> [Contact] {
  (0..<count).map { index in
    Contact(
      id: String(format: "%032x", index), type: .custom, name: "Contact \(index % 9973) \(index)",
      phoneNumber: "+1 555 \(String(format: "%07d", index))")
  }
}

func temporaryDirectory() -> String {
  let path = NSTemporaryDirectory() + "contacts-bench-\(UUID().uuidString)"
  try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// A data directory holding `count` custom contacts, written through the store's own commits
/// (one fdatasync each, compactions as they come), then compacted: what a long-running
/// service's directory looks like.
func seededDirectory(_ count: Int) throws -> String {
  let path = temporaryDirectory()
  let repository = try FileContactRepository(directory: path)
  for contact in customContacts(count) {
    _ = try repository.commit(by: "bench") { _ in .create(contact) }
  }
  try repository.compact()
  return path
}

// `contacts-bench load DIRECTORY [TIMES]`: loads an existing data directory TIMES times (a
// worker's start-up, in process), for perf.
if CommandLine.arguments.count >= 3, CommandLine.arguments[1] == "load" {
  let directory = CommandLine.arguments[2]
  let times = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3]) ?? 5 : 5
  var loaded: [FileContactRepository] = []  // freed after the timings, as a worker never frees it
  let load = try median(times) { loaded.append(try FileContactRepository(directory: directory)) }
  print("load \(loaded[0].generation) generations: \(format(load)) (median of \(times))")
  exit(0)
}
// `contacts-bench seed DIRECTORY COUNT [JOURNAL]`: a data directory of COUNT custom contacts,
// compacted, then JOURNAL more creates left in the journal, which a new worker replays (the
// benchmark's directory at 100,000 holds some 15,000).
if CommandLine.arguments.count >= 4, CommandLine.arguments[1] == "seed" {
  let repository = try FileContactRepository(directory: CommandLine.arguments[2])
  let count = Int(CommandLine.arguments[3]) ?? 0
  let journal = CommandLine.arguments.count > 4 ? Int(CommandLine.arguments[4]) ?? 0 : 0
  let contacts = customContacts(count + journal)
  for contact in contacts[..<count] {
    _ = try repository.commit(by: "bench") { _ in .create(contact) }
  }
  try repository.compact()
  for contact in contacts[count...] {
    _ = try repository.commit(by: "bench") { _ in .create(contact) }
  }
  exit(0)
}

print("contacts-bench: medians; 'create' includes its fdatasync; filter columns scan (no index)")
print(
  "contacts   load(start-up)  refresh(no change)  filter(1 match)  filter(q)  encode listing  gzip listing  apply 1 record  create"
)
for count in sizes {
  let directory = try seededDirectory(count)
  defer { try? FileManager.default.removeItem(atPath: directory) }
  var loaded: [FileContactRepository] = []  // freed after the timings, as a worker never frees it
  let load = try median(5) { loaded.append(try FileContactRepository(directory: directory)) }
  loaded.removeAll()
  let repository = try FileContactRepository(directory: directory)
  let refresh = try median(101) { _ = try repository.currentState() }
  let state = try repository.currentState()
  let oneMatch = try ContactQuery.parse("type=Custom&name=contact%2042%2042")
  let filter = median(21) { _ = state.entries.filter(oneMatch.matches) }
  let search = try ContactQuery.parse("q=555%200001")
  let filterQ = median(21) { _ = state.entries.filter(search.matches) }
  let everything = ContactQuery()
  let encode = median(11) { _ = ContactsAPI.renderListing(everything, in: state) }
  let body = ContactsAPI.renderListing(everything, in: state).body
  let compress = median(5) { _ = ContactsAPI.gzipListing(body) }
  let other = try FileContactRepository(directory: directory)
  _ = try other.currentState().entries(matching: oneMatch)  // 'apply' maintains a built index
  var created = 0
  let create = try median(51) {
    created += 1
    let contact = Contact(
      id: String(format: "%032x", 10_000_000 + created), type: .custom, name: "New \(created)", phoneNumber: "555")
    _ = try repository.commit(by: "bench") { _ in .create(contact) }
  }
  let apply =
    try median(51) {
      created += 1
      let contact = Contact(
        id: String(format: "%032x", 20_000_000 + created), type: .custom, name: "Applied \(created)", phoneNumber: "555"
      )
      _ = try repository.commit(by: "bench") { _ in .create(contact) }
      _ = try other.currentState()
    } - create
  print(
    String(format: "%8d", count), format(load), "   ", format(refresh), "      ", format(filter), "   ",
    format(filterQ),
    "  ", format(encode), "    ", format(compress), "    ", format(max(apply, 0)), "  ", format(create))
}

print("\nindexes: the scan (before) and the index (after); 'uncached listing' renders the page too")
let customQueries = [
  ("filter 1 match", "type=Custom&name=contact%2042%2042"), ("q search uncached", "q=555%200001"),
  ("q search, 1 match", "q=4242%204242"), ("q 2 characters (scan)", "q=42"),
]
for count in sizes {
  let state = DirectoryState(contacts: customContacts(count), generation: 1)
  try indexRows("\(count) custom contacts", state, queries: customQueries)
  try applyRow("\(count)", state, sample: customContacts(1)[0])
}
let userCounts = quick ? [20_000] : [200_000]
for count in userCounts {
  var users = DirectoryState()
  users.replaceAll(ofType: .user, with: directoryUsers(count), generation: 1)
  try indexRows(
    "\(count) users (imported)", users,
    queries: [
      ("filter 1 match", "userName=anna100008"), ("filter first+last", "firstName=anna&lastName=novak"),
      ("q search uncached", "q=kowalski%201234"), ("q employee id", "q=e012345"),
      ("q non-ASCII", "q=m%C3%BCller%2019999"),
      ("q common word", "q=novak"), ("q phone digits", "q=555%200001"), ("type=Queue (none)", "type=Queue"),
      ("sorted, 100 of all", "sortBy=lastName,firstName&order=desc&limit=100"),
      ("fields, 1,000 users", "type=User&fields=name,userName&limit=1000"),
    ])
  try applyRow("\(count) users", users, sample: directoryUsers(1)[0])
  try mixedRow(users, queries: (0..<100).map { "q=kowalski%20\(1000 + $0 * 37)" })
}

try writesTable(sizes)
