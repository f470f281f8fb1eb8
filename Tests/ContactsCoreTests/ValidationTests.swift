import ContactsCore
import Testing

struct ValidationTests {
  func body(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

  /// `text` as a JSON string literal, control characters escaped.
  func quoted(_ text: String) -> String {
    var writer = JSONWriter()
    writer.append(string: text)
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  func failure(_ text: String) throws -> ValidationFailure? {
    do {
      _ = try CustomContactValidation.validateNew(body(text))
      return nil
    } catch let failure as ValidationFailure {
      return failure
    }
  }

  @Test func acceptsAMinimalContactAndTrimsTheName() throws {
    let draft = try CustomContactValidation.validateNew(
      body(#"{"name":"  Front desk ","phoneNumber":"+1 (555) 010-9999 x12"}"#))
    #expect(draft == CustomContactDraft(name: "Front desk", phoneNumber: "+1 (555) 010-9999 x12"))
  }

  @Test(arguments: ["Custom", "custom", "CUSTOM"])
  func acceptsTypeCustomInAnyCase(type: String) throws {
    _ = try CustomContactValidation.validateNew(body(#"{"name":"A","phoneNumber":"1","type":"\#(type)"}"#))
  }

  @Test(arguments: [
    (#"{"phoneNumber":"1"}"#, ["name"]),
    (#"{"name":"A"}"#, ["phoneNumber"]),
    (#"{}"#, ["name", "phoneNumber"]),
    (#"{"name":"   ","phoneNumber":"1"}"#, ["name"]),
    (#"{"name":5,"phoneNumber":"1"}"#, ["name"]),
    (#"{"name":null,"phoneNumber":"1"}"#, ["name"]),
    (#"{"name":"A","phoneNumber":123}"#, ["phoneNumber"]),
    (#"{"name":"A","phoneNumber":"call me"}"#, ["phoneNumber"]),
    (#"{"name":"A","phoneNumber":"---"}"#, ["phoneNumber"]),
    (#"{"name":"A","phoneNumber":"1","type":"Queue"}"#, ["type"]),
    (#"{"name":"A","phoneNumber":"1","type":7}"#, ["type"]),
    (#"{"name":"A","phoneNumber":"1","id":"x"}"#, ["id"]),
    (#"{"name":"A","phoneNumber":"1","userName":"x","color":"red"}"#, ["userName", "color"]),
    (#"{"name":"A","name":"B","phoneNumber":"1"}"#, ["name"]),
    (#"{"name":"A","phoneNumber":"1","firstName":"x","employeeId":"y"}"#, ["firstName", "employeeId"]),
  ])
  func rejectsNamingEachOffendingField(text: String, fields: [String]) throws {
    let failure = try #require(try failure(text))
    #expect(Set(failure.fields.map(\.field)) == Set(fields), "\(text): \(failure)")
    #expect(!failure.message.isEmpty)
  }

  /// Control characters, bidi embeddings/overrides/isolates and line/paragraph separators are
  /// refused in every text field, even where trimming would have removed them.
  @Test(arguments: [
    "\u{0}", "\n", "\r", "\t", "\u{1B}", "\u{7F}", "\u{80}", "\u{85}", "\u{9F}", "\u{202A}", "\u{202E}",
    "\u{2066}", "\u{2069}", "\u{2028}", "\u{2029}",
  ])
  func controlAndBidiOverrideCharactersAreRejected(character: String) throws {
    let escaped = quoted("Ann\(character)Lee")
    for text in [
      #"{"name":\#(escaped),"phoneNumber":"1"}"#, #"{"name":\#(quoted("Ann\(character)")),"phoneNumber":"1"}"#,
    ] {
      let failure = try #require(try failure(text), "\(text) was accepted")
      #expect(failure.fields.map(\.field) == ["name"])
      #expect(failure.fields.first?.message.contains("U+") == true, "\(failure)")
    }
    let phone = try #require(try failure(#"{"name":"A","phoneNumber":\#(quoted("1\(character)"))}"#))
    #expect(phone.fields.map(\.field) == ["phoneNumber"])
    let existing = Contact(id: "abc", type: .custom, name: "Old", phoneNumber: "1")
    #expect(throws: ValidationFailure.self) {
      try CustomContactValidation.validateChanges(body(#"{"name":\#(escaped)}"#), to: existing)
    }
  }

  /// Joiners and single direction marks are part of how real names are written.
  @Test(arguments: ["\u{200C}", "\u{200D}", "\u{200E}", "\u{200F}", "\u{061C}"])
  func joinersAndDirectionMarksAreAllowed(character: String) throws {
    let name = "Ann\(character)Lee"
    let draft = try CustomContactValidation.validateNew(
      body(#"{"name":\#(quoted(name)),"phoneNumber":"1"}"#))
    #expect(draft.name == name)
  }

  @Test func nameAndPhoneNumberLengthsAreBounded() throws {
    let longest = String(repeating: "n", count: 200)
    _ = try CustomContactValidation.validateNew(
      body(#"{"name":"\#(longest)","phoneNumber":"\#(String(repeating: "1", count: 50))"}"#))
    #expect(try failure(#"{"name":"\#(longest)n","phoneNumber":"1"}"#)?.fields.map(\.field) == ["name"])
    #expect(
      try failure(#"{"name":"A","phoneNumber":"\#(String(repeating: "1", count: 51))"}"#)?.fields.map(\.field) == [
        "phoneNumber"
      ])
  }

  @Test func bodyThatIsNotAnObjectIsRejected() throws {
    let failure = try #require(try failure(#"["name"]"#))
    #expect(failure.message.contains("JSON object"))
  }

  @Test func updateMergesAnyNonEmptySubset() throws {
    let existing = Contact(id: "abc", type: .custom, name: "Old", phoneNumber: "1")
    let changes = try CustomContactValidation.validateChanges(body(#"{"phoneNumber":"2"}"#), to: existing)
    #expect(changes.applied(to: existing) == Contact(id: "abc", type: .custom, name: "Old", phoneNumber: "2"))
    let both = try CustomContactValidation.validateChanges(
      body(#"{"id":"abc","type":"custom","name":"New","phoneNumber":"3"}"#), to: existing)
    #expect(both == CustomContactChanges(name: "New", phoneNumber: "3"))
  }

  @Test(arguments: [
    (#"{}"#, [String]()),
    (#"{"id":"abc"}"#, []),
    (#"{"id":"other","name":"A"}"#, ["id"]),
    (#"{"type":"User","name":"A"}"#, ["type"]),
    (#"{"name":""}"#, ["name"]),
  ])
  func updateRejections(text: String, fields: [String]) throws {
    let existing = Contact(id: "abc", type: .custom, name: "Old", phoneNumber: "1")
    #expect(throws: ValidationFailure.self) { try CustomContactValidation.validateChanges(body(text), to: existing) }
    do {
      _ = try CustomContactValidation.validateChanges(body(text), to: existing)
    } catch let failure as ValidationFailure {
      #expect(failure.fields.map(\.field) == fields)
    }
  }
}
