/// Which characters text from clients may hold.
public enum TextRules {
  /// Whether `scalar` is a control character: C0 (U+0000–U+001F), DEL (U+007F) or C1
  /// (U+0080–U+009F). None of them belongs in a name, a number or a search.
  public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
  }

  /// The first control character in `text`, written as `U+XXXX`, or `nil` when there is none.
  public static func firstControlCharacter(in text: String) -> String? {
    guard let scalar = text.unicodeScalars.first(where: isControl) else { return nil }
    let hex = String(scalar.value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }
}
