// contacts-bench: in-process timings of the hot paths, at 1,000, 10,000 and 100,000 contacts.
// A benchmark, not a test: it prints figures and asserts nothing. Run it in release mode:
//
//     swift run -c release contacts-bench [--quick]
//
// Each figure is the median of several runs, so one slow run (another process, a page fault
// storm) does not decide it.

import ContactsAPI
import ContactsCore
import ContactsStore
import Foundation
import Platform

let sizes = CommandLine.arguments.contains("--quick") ? [1000, 10_000] : [1000, 10_000, 100_000]

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

print("contacts-bench: medians; 'create' includes its fdatasync")
print(
  "contacts   load(start-up)  refresh(no change)  filter(1 match)  filter(q)  encode listing  gzip listing  apply 1 record  create"
)
for count in sizes {
  let directory = try seededDirectory(count)
  defer { try? FileManager.default.removeItem(atPath: directory) }
  let load = try median(5) { _ = try FileContactRepository(directory: directory).currentState() }
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
