import ContactsCore
import TestSupport
import Testing

/// The change log a loader builds in one go (`init(capacity:horizon:restoring:…followedBy:)`)
/// must be the log restored from the snapshot and then appended to change by change, for any
/// capacity and any number of stored and later changes; and it builds none of the stored
/// entries that this log would have trimmed.
struct ChangeLogTests {
  static func describe(_ log: ChangeLog) -> [String] {
    ["horizon \(log.horizon)"] + log.all.map { "\($0.sequence) \($0.id)" }
  }

  @Test(arguments: [1, 2, 3, 10, 101])
  func restoringAndAppendingInOneGoEqualsChangeByChange(capacity: Int) {
    var random = SeededRandom(seed: UInt64(capacity))
    for _ in 0..<300 {
      let storedCount = random.next(upTo: capacity * 3 + 2)
      let laterCount = random.next(upTo: capacity * 4 + 2)
      let horizon = UInt64(random.next(upTo: 50))
      let stored = (0..<storedCount).map { ChangeEntry(sequence: horizon + 1 + UInt64($0), id: "s\($0)", contact: nil) }
      let later = (0..<laterCount).map {
        ChangeEntry(sequence: horizon + 1 + UInt64(storedCount + $0), id: "l\($0)", contact: nil)
      }
      var expected = ChangeLog(capacity: capacity, horizon: horizon, entries: stored)
      for entry in later { expected.append(entry) }

      var built: [String] = []
      let log = ChangeLog(
        capacity: capacity, horizon: horizon, restoring: stored, sequence: \.sequence,
        entry: {
          built.append($0.id)
          return $0
        }, followedBy: later)
      #expect(Self.describe(log) == Self.describe(expected), "\(storedCount) stored, \(laterCount) later")
      #expect(built == log.all.map(\.id).filter { $0.hasPrefix("s") })
    }
  }
}
