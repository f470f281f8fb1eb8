import ContactsCore
import Testing

struct ValidationTests {
  func body(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

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
