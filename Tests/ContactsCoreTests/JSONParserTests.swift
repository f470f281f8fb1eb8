import ContactsCore
import Testing

struct JSONParserTests {
  @Test func parsesObjectsKeepingMemberOrderAndDuplicates() throws {
    let value = try JSONParser.parse(Array(#" {"b":"x","a":[1,-2.5e3,true,false,null],"b":{}} "#.utf8))
    let members = try #require(value.members, "not an object: \(value)")
    #expect(members.map(\.key) == ["b", "a", "b"])
    #expect(members[1].value == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
  }

  @Test func decodesEscapesAndSurrogatePairs() throws {
    let value = try JSONParser.parse(Array(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#.utf8))
    #expect(value == .string("a\"b\\c/d\né😀"))
  }

  /// The vendor's own example lacks commas: the message must say so, and where.
  @Test func seedExampleWithoutCommasIsExplained() {
    let seed = """
      {
          "name":"Some Contact"
          "type":"Custom"
          "phoneNumber":"xxx-xxx-xxxx"
      }
      """
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(seed.utf8)) }
    do {
      _ = try JSONParser.parse(Array(seed.utf8))
    } catch {
      #expect(error.line == 3)
      #expect(error.column == 5)
      #expect(error.description.contains("expected ',' or '}' after the value of \"name\""))
      #expect(error.description.contains("a comma is missing"))
    }
  }

  @Test(arguments: [
    ("", 1, 1, "empty"),
    ("{", 1, 2, "text ended"),
    ("{\"a\":1,}", 1, 8, "comma too many"),
    ("{'a':1}", 1, 2, "double quotes"),
    ("[1 2]", 1, 4, "expected ',' or ']'"),
    ("{\"a\" 1}", 1, 6, "expected ':'"),
    ("\"abc", 1, 1, "not closed"),
    ("{\"a\":tru}", 1, 6, "literal 'true'"),
    ("{\"a\":01}", 1, 6, "leading zero"),
    ("\"\u{01}\"", 1, 2, "control character"),
    ("{}\n{}", 2, 1, "end of the text"),
  ])
  func invalidJSONSaysWhereAndWhat(text: String, line: Int, column: Int, fragment: String) {
    do {
      _ = try JSONParser.parse(Array(text.utf8))
      Issue.record("\(text) parsed")
    } catch {
      #expect(error.line == line, "\(text): \(error)")
      #expect(error.column == column, "\(text): \(error)")
      #expect(error.description.contains(fragment), "\(text): \(error)")
    }
  }

  @Test func refusesNestingDeeperThanTheLimit() {
    let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(deep.utf8)) }
  }

  @Test func rejectsInvalidUTF8InStrings() {
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
  }

  @Test func writerEscapesWhatJSONRequiresAndRoundTrips() throws {
    var writer = JSONWriter()
    let text = "quote \" backslash \\ newline \n tab \t bell \u{07} é 😀"
    writer.append(string: text)
    #expect(try JSONParser.parse(writer.bytes) == .string(text))
  }

  /// Text with nothing to escape is copied whole; text with something to escape anywhere (the
  /// last byte included) takes the byte-by-byte path. Both give exactly these bytes.
  @Test(arguments: [
    ("Front Desk", #""Front Desk""#), ("é 😀 Straße", #""é 😀 Straße""#), ("", #""""#),
    ("ends with a quote\"", #""ends with a quote\"""#), ("\\", #""\\""#),
    ("a\u{1F}b\u{0}", #""a\u001fb\u0000""#), ("tab\t", #""tab\t""#), ("\u{7F}", "\"\u{7F}\""),
  ])
  func writerCopiesPlainTextAndEscapesTheRest(text: String, json: String) {
    var writer = JSONWriter()
    writer.append(string: text)
    #expect(writer.bytes == Array(json.utf8))
  }

  @Test func elementLinesPointAtEachElement() throws {
    let text = "{\"users\": [\n  {\"id\": \"a\"},\n\n  {\"id\": \"b\"}\n]}"
    let parsed = try JSONParser.parseWithElementLines(Array(text.utf8))
    #expect(parsed.elementLines == [2, 4])
    #expect(parsed.memberLines == [1])
  }

  /// The top-level object's member names, each with its line, duplicates included; a member
  /// name inside a nested object is not one of them.
  @Test func memberLinesPointAtEachTopLevelName() throws {
    let text = "{\"users\": [{\"extra\": 1}],\n\"x\": {\"y\": 2},\n\n\"x\": 3}"
    let parsed = try JSONParser.parseWithElementLines(Array(text.utf8))
    #expect(parsed.memberLines == [1, 2, 4])
    #expect(try JSONParser.parseWithElementLines(Array("[1,\n2]".utf8)).memberLines == [])
  }
}

extension JSONValue {
  /// An object's members, in order, duplicates included; `nil` for any other value.
  var members: [JSONMember]? { if case .object(let members) = self { members } else { nil } }
}
