/// The order `sortBy` and `order` ask for (docs/api.md, "Sorting and fields"), written without the
/// service's code, over plain records (attribute name → value; an absent key is a missing
/// attribute): keys are arrays of code points of the case-folded text (`folded`), compared
/// lexicographically, then the id the same way, then the id as sent; descending is the
/// ascending list reversed.
public enum SortReference {
  public static let attributes = [
    "id", "name", "type", "phoneNumber", "userName", "firstName", "lastName", "employeeId",
  ]

  /// The ids of `records` in the order of `keys`, then `id`.
  public static func order(_ records: [[String: String]], keys: [String], descending: Bool) -> [String] {
    func codePoints(_ text: String?) -> [UInt32] { folded(text ?? "") }
    let ascending = records.sorted { left, right in
      for key in keys + ["id"] {
        let (l, r) = (codePoints(left[key]), codePoints(right[key]))
        if l != r { return l.lexicographicallyPrecedes(r) }
      }
      let (l, r) = (left["id"]!.unicodeScalars.map(\.value), right["id"]!.unicodeScalars.map(\.value))
      return l.lexicographicallyPrecedes(r)
    }
    return (descending ? ascending.reversed() : ascending).map { $0["id"]! }
  }

  /// Unicode full case folding (CaseFolding.txt, C and F), code point by code point: each one
  /// uppercased then lowercased, but for the two where that differs from CaseFolding.txt (`ẞ`
  /// folds to `ss`, `ı` to itself) and Cherokee (not among the pieces).
  public static func folded(_ text: String) -> [UInt32] {
    text.unicodeScalars.flatMap { scalar -> [UInt32] in
      switch scalar.value {
      case 0x1E9E: [0x73, 0x73]
      case 0x131: [0x131]
      default: String(Character(scalar)).uppercased().lowercased().unicodeScalars.map(\.value)
      }
    }
  }

  /// Text that makes the comparison matter: cases, precomposed and decomposed accents (equal
  /// for `String`'s `==`, different code points), letters whose lowercase differs in length,
  /// letters that fold to more than one (`ß`, `ẞ`, `ﬁ`), to another's fold (`ς`, `ſ`) or only
  /// to themselves (`ı`), digits, punctuation, an emoji, and the empty string.
  static let pieces = [
    "a", "A", "b", "B", "z", "Z", "\u{E9}", "e\u{301}", "\u{C9}", "E\u{301}", "\u{DF}", "\u{130}", "\u{3A9}",
    "\u{3C9}", "1", "9", " ", "-", "+", "(", "\u{1F600}", "s", "S", "\u{1E9E}", "\u{17F}", "\u{FB01}", "f", "\u{3C2}",
    "\u{3C3}", "\u{3A3}", "\u{131}", "i",
  ]

  static func text(_ random: inout SeededRandom, maxLength: Int) -> String {
    (0..<random.next(upTo: maxLength + 1)).map { _ in pieces[random.next(upTo: pieces.count)] }.joined()
  }

  /// `count` random contacts as records: unique ids (some differing only in case), few distinct
  /// names (so later keys and the final id decide often), attributes often missing. Users only
  /// carry userName, firstName, lastName and employeeId.
  public static func randomRecords(_ random: inout SeededRandom, count: Int) -> [[String: String]] {
    var ids: Set<String> = []
    return (0..<count).map { _ in
      var id = "c\(random.next(upTo: count))"
      if random.next(upTo: 2) == 0 { id = id.uppercased() }
      while !ids.insert(id).inserted { id += "x" }
      let type = ["Custom", "Queue", "User"][random.next(upTo: 3)]
      var record = ["id": id, "type": type, "name": random.next(upTo: 3) == 0 ? "" : text(&random, maxLength: 2)]
      let optional =
        type == "User" ? ["phoneNumber", "userName", "firstName", "lastName", "employeeId"] : ["phoneNumber"]
      for attribute in optional where random.next(upTo: 4) != 0 {
        record[attribute] = text(&random, maxLength: 3)
      }
      return record
    }
  }

  /// One to three attributes, repeats allowed.
  public static func randomKeys(_ random: inout SeededRandom) -> [String] {
    (0..<(1 + random.next(upTo: 3))).map { _ in attributes[random.next(upTo: attributes.count)] }
  }
}
