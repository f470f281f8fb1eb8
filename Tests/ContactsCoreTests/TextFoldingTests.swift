import ContactsCore
import Testing

/// Folding writes ASCII results straight into the new string; it must give what lowercasing and
/// filtering give, for every kind of text.
struct TextFoldingTests {
  @Test(arguments: [
    "", "a", "A", "already lower", "Contact 42 42", "ABCDEFGHIJKLMNOPQRSTUVWXYZ @[`{",
    "MiXeD 123 CaSe with a longer tail",
    "Émile Zola", "ZOË", "İstanbul", "日本語", "smile 😀 A", "\u{0}\u{7F}A",
  ])
  func foldIsLowercasing(text: String) {
    #expect(TextFolding.fold(text) == text.lowercased())
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
