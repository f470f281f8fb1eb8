/// Which characters text from clients may hold.
///
/// Contact text (custom contacts by POST and PUT, imported users and queues alike) holds no
/// control character, and none that reorders or breaks a line.
///
/// Decision (see README, "Where this differs"):
/// - Rejected: every control character, C0 U+0000–U+001F (NUL, tab, line breaks…), DEL U+007F
///   and C1 U+0080–U+009F (NEL U+0085…). A name is one line of text; a control character in it
///   breaks CSV exports, log lines and terminals, and NUL truncates it in C consumers.
/// - Rejected: the explicit bidirectional embeddings, overrides and isolates U+202A–U+202E and
///   U+2066–U+2069. They reorder how the *rest* of a line is displayed, so a name can make an
///   agent's screen show something other than the bytes stored (Trojan-Source-style spoofing,
///   CVE-2021-42574); no real name needs them.
/// - Rejected: LINE SEPARATOR U+2028 and PARAGRAPH SEPARATOR U+2029, line breaks by another name.
/// - Allowed: ZWNJ/ZWJ U+200C/U+200D (emoji sequences, and Persian, Hindi and other scripts
///   need them to spell names correctly) and the single direction marks LRM U+200E, RLM U+200F
///   and ALM U+061C, which affect only the neutral characters beside them and are how a
///   mixed-direction name (Hebrew or Arabic with Latin digits) is written correctly.
public enum TextRules {
  /// Whether `scalar` is a control character: C0 (U+0000–U+001F), DEL (U+007F) or C1
  /// (U+0080–U+009F). None of them belongs in a name, a number or a search.
  public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
  }

  /// Whether `scalar` may not appear in any contact text (see above).
  public static func isDisallowedInContactText(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x202A...0x202E, 0x2066...0x2069: true  // bidi embeddings, overrides, isolates
    case 0x2028, 0x2029: true  // line and paragraph separators
    default: isControl(scalar)
    }
  }

  /// The first control character in `text`, written as `U+XXXX`, or `nil` when there is none.
  public static func firstControlCharacter(in text: String) -> String? {
    text.unicodeScalars.first(where: isControl).map(codePoint)
  }

  /// Why `text` is not acceptable as contact text, naming its first forbidden character; `nil`
  /// when it is fine.
  public static func contactTextProblem(in text: String) -> String? {
    guard let scalar = text.unicodeScalars.first(where: isDisallowedInContactText) else { return nil }
    let kind =
      scalar.value >= 0x2000 ? "line separators and bidirectional overrides/isolates" : "control characters"
    return "must not contain \(kind) (found \(codePoint(scalar)))"
  }

  /// `U+XXXX`.
  static func codePoint(_ scalar: Unicode.Scalar) -> String {
    let hex = String(scalar.value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }
}
