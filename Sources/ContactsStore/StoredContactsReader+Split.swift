import ContactsCore
import Platform

extension StoredContactsReader {
  /// An array of contacts, `[{…},\n{…},\n…]`, each read by `element`; in a large file, on two
  /// threads.
  ///
  /// The store writes each element on a line of its own, so a line start near the middle
  /// (`splitHint`) is very likely an element's start. A second reader parses from there to the
  /// array's end while this one parses up to it. The second reader's work counts only if this
  /// one, going element by element, arrives exactly there: then it read exactly what this one
  /// would have read next (the same elements, or the same damage at the same offset). Anywhere
  /// else (the array ended before, the line start was inside an element, a damaged file), its
  /// work is dropped and this reader goes on alone, as if there had been no second one.
  func splittableArray(
    _ element: @escaping @Sendable (StoredContactsReader) throws(StoreError) -> IndexedContact
  ) throws(StoreError) -> [IndexedContact] {
    try expect(UInt8(ascii: "["))
    skipWhitespace()
    if peek() == UInt8(ascii: "]") {
      index += 1
      return []
    }
    guard let split = splitPoint() else { return try elements(element, upTo: nil).elements }
    let storage = storage
    let scanned = scanned
    let file = file
    let background = BackgroundWork { () -> Result<(elements: [IndexedContact], end: Int), StoreError> in
      let reader = StoredContactsReader(storage, scanned: scanned, file: file)
      reader.index = split
      return Result { () throws(StoreError) in
        let elements = try reader.elements(element, upTo: nil).elements
        return (elements, reader.index)
      }
    }
    var (elements, reachedSplit) = try elements(element, upTo: split)
    guard reachedSplit else { return elements }  // the background result is dropped
    let (rest, end) = try background.join().get()
    elements += rest
    index = end
    return elements
  }

  /// The elements from `index` to the array's closing `]` (consumed), or up to the element
  /// that starts at `stop`.
  private func elements(
    _ element: (StoredContactsReader) throws(StoreError) -> IndexedContact, upTo stop: Int?
  ) throws(StoreError) -> (elements: [IndexedContact], reachedStop: Bool) {
    var elements: [IndexedContact] = []
    while true {
      skipWhitespace()
      if index == stop { return (elements, true) }
      elements.append(try element(self))
      skipWhitespace()
      guard index < bytes.count else { throw damaged("cut off") }
      let separator = bytes[index]
      index += 1
      if separator == UInt8(ascii: "]") { return (elements, false) }
      guard separator == UInt8(ascii: ",") else { throw damaged("expected ',' or ']'") }
    }
  }

  /// Where a second reader would start: the first non-blank byte after the first line end at
  /// or after `splitHint` (by default the middle of a file of at least `parallelBytes`), when
  /// it opens an object past this reader's position.
  private func splitPoint() -> Int? {
    guard let hint = splitHint ?? (bytes.count >= Self.parallelBytes ? bytes.count / 2 : nil),
      hint > index, hint < bytes.count,
      let newline = bytes[hint...].firstIndex(of: UInt8(ascii: "\n"))
    else { return nil }
    var start = newline + 1
    while start < bytes.count,
      bytes[start] == 0x20 || bytes[start] == 0x0A || bytes[start] == 0x0D || bytes[start] == 0x09
    {
      start += 1
    }
    return start < bytes.count && bytes[start] == UInt8(ascii: "{") ? start : nil
  }
}
