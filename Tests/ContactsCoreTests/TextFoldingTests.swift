import ContactsCore
import Testing

/// Folding writes ASCII results straight into the new string; it must give what lowercasing and
/// filtering give, for every kind of text, and Unicode full case folding where that is more than
/// lowercasing.
struct TextFoldingTests {
  /// Code points, not `String`'s `==`, which holds `é` and `e` + U+0301 equal.
  static func scalars(_ text: String) -> [Unicode.Scalar] { Array(text.unicodeScalars) }

  @Test(arguments: [
    "", "a", "A", "already lower", "Contact 42 42", "ABCDEFGHIJKLMNOPQRSTUVWXYZ @[`{",
    "MiXeD 123 CaSe with a longer tail",
    "Émile Zola", "ZOË", "İstanbul", "日本語", "smile 😀 A", "\u{0}\u{7F}A",
  ])
  func foldIsLowercasingWhereFoldingAddsNothing(text: String) {
    #expect(Self.scalars(TextFolding.fold(text)) == Self.scalars(text.lowercased()))
  }

  /// CaseFolding.txt's full mappings: longer texts (`ß`, `ﬁ`), one letter for two lowercase
  /// forms (`ς` and `σ`, `µ` and `μ`, `ſ` and `s`, Kelvin and `k`), and the two letters that
  /// uppercasing then lowercasing gets wrong (`ẞ`, `ı`). Case changes, composition does not.
  @Test(arguments: [
    ("Straße", "strasse"), ("STRASSE", "strasse"), ("STRA\u{1E9E}E", "strasse"), ("\u{DF}", "ss"),
    ("\u{FB01}x", "fix"), ("P1 \u{FB01}X", "p1 fix"), ("\u{3C2}", "\u{3C3}"), ("\u{3A3}", "\u{3C3}"),
    ("Zq \u{3C3}\u{3B1}\u{3C2}", "zq \u{3C3}\u{3B1}\u{3C3}"), ("ZQ \u{3A3}\u{391}\u{3A3}", "zq \u{3C3}\u{3B1}\u{3C3}"),
    ("\u{B5}", "\u{3BC}"), ("\u{17F}", "s"), ("\u{212A}", "k"), ("\u{130}", "i\u{307}"), ("\u{131}", "\u{131}"),
    ("I\u{131}\u{1E9E}\u{131}I", "i\u{131}ss\u{131}i"), ("e\u{301}", "e\u{301}"), ("E\u{301}", "e\u{301}"),
    ("\u{C9}", "\u{E9}"), ("Zr E\u{301}\u{C9}", "zr e\u{301}\u{E9}"),
  ])
  func foldIsFullCaseFolding(text: String, folded: String) {
    #expect(Self.scalars(TextFolding.fold(text)) == Self.scalars(folded))
  }

  /// Folding is context-free (text folds as its pieces do) and folded text folds to itself, over
  /// every code point, 64 at a time.
  @Test func foldIsContextFreeAndIdempotent() {
    let all = (0..<0x11_0000).compactMap(Unicode.Scalar.init(_:))
    for start in stride(from: 0, to: all.count, by: 64) {
      let chunk = all[start..<min(start + 64, all.count)]
      var text = ""
      text.unicodeScalars.append(contentsOf: chunk)
      let folded = TextFolding.fold(text)
      let piecewise = chunk.map { TextFolding.fold(String(Character($0))) }.joined()
      #expect(Array(folded.utf8) == Array(piecewise.utf8), "from U+\(String(chunk.first!.value, radix: 16))")
      #expect(Array(TextFolding.fold(folded).utf8) == Array(folded.utf8))
    }
  }

  /// Large strings (heap storage) and one cut from another fold as short ones do.
  @Test func largeAndCutStringsFold() {
    let id = String(repeating: "0123456789abcdef", count: 2)
    #expect(TextFolding.fold(id) == id)
    #expect(TextFolding.fold(String(id.dropFirst(3))) == String(id.dropFirst(3)))
    #expect(TextFolding.fold(id.uppercased()) == id)
  }

  /// Exact filters compare a type's folded name, a constant per type.
  @Test(arguments: ContactType.allCases)
  func aTypesFoldedNameIsItsNameFolded(type: ContactType) {
    #expect(type.folded == TextFolding.fold(type.rawValue))
  }

  @Test(arguments: [
    ("", ""), ("555", "555"), ("+1 (555) 123-4567", "15551234567"), ("no digits", ""),
    ("٣ arabic-indic 3", "3"), ("a1b2c3 and a long tail of 0123456789", "1230123456789"),
  ])
  func digitsAreTheASCIIDigits(text: String, digits: String) {
    #expect(TextFolding.digits(of: text) == digits)
  }
}
