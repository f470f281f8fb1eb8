import ContactsCore
import TestSupport
import Testing

/// Seeded fuzzing of the parsers that read client bytes: 100,000 cases each, the same on every
/// run. A trap (overflow, out-of-bounds, stack exhaustion) would end the test process; beyond
/// that each case checks what the parser promises.
@Suite struct FuzzTests {
  static let jsonSeeds = [
    #"{"name":"Front Desk","phoneNumber":"555 0199","type":"Custom"}"#,
    #"[{"id":"user-1","userName":"a\u00e9\ud83d\ude00","n":-12.5e+3},null,true,false,[]]"#,
    #"{"a":{"b":{"c":[1,2,{"d":"\\\"\/\b\f\n\r\t"}]}}}"#,
    "{\"name\" \"x\" \"phoneNumber\" \"5\"}",
    "",
  ]

  /// Mutations of valid and invalid documents (flips, insertions of structural bytes,
  /// truncations, huge numbers, deep nesting): the parser answers a value or a syntax error
  /// with a position inside the input, and never traps.
  @Test func jsonParserSurvivesMutatedInput() {
    var random = SeededRandom(seed: 0x15011)
    let interesting: [[UInt8]] = [
      Array("{".utf8), Array("[".utf8), Array("\"".utf8), Array("\\u".utf8), Array("\\ud800".utf8), [0], [0xFF],
      [0xC3], Array("1e999999999".utf8), Array("-".utf8), Array("99999999999999999999999".utf8), Array(",".utf8),
      Array(":".utf8), Array("}".utf8), Array("]".utf8), Array("tru".utf8), Array("nul".utf8),
    ]
    var parsed = 0
    for iteration in 0..<100_000 {
      var bytes = Array(Self.jsonSeeds[random.next(upTo: Self.jsonSeeds.count)].utf8)
      for _ in 0..<(random.next(upTo: 4) + 1) {
        switch random.next(upTo: 4) {
        case 0 where !bytes.isEmpty: bytes[random.next(upTo: bytes.count)] = UInt8(random.next(upTo: 256))
        case 1:
          bytes.insert(
            contentsOf: interesting[random.next(upTo: interesting.count)], at: random.next(upTo: bytes.count + 1))
        case 2 where !bytes.isEmpty: bytes.removeSubrange(random.next(upTo: bytes.count)...)
        default: bytes.append(UInt8(random.next(upTo: 128)))
        }
      }
      if iteration % 1000 == 0 {
        // Nesting far deeper than any contact: refused by the depth limit, not the stack.
        let depth = 10_000 + random.next(upTo: 50_000)
        bytes = Array(repeating: UInt8(ascii: random.next(upTo: 2) == 0 ? "[" : "{"), count: depth)
      }
      do {
        _ = try JSONParser.parse(bytes)
        parsed += 1
      } catch {
        #expect(error.line >= 1)
      }
    }
    #expect(parsed > 100)
  }

  /// Random query strings from the pieces that matter (every name, reserved or not, escapes,
  /// extreme integers, control characters): parsing answers a query within its documented
  /// bounds or a `QueryError` naming a parameter, and matching and paging never trap.
  @Test func queryParserSurvivesRandomQueries() {
    var random = SeededRandom(seed: 0x9E7)
    let names = ContactQuery.allowedNames + ["Name", "firstname", "", "%71", "q%00", "limit+", "x"]
    let values = [
      "", "1", "0", "-1", "1000", "1001", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
      "2147483647", "User", "queue", "CUSTOM", "Bogus", "555-123", "%00", "%0a", "%C2%85", "%e2%80%ae", "%", "%g0",
      "%ff", "+", "a+b", "%2B", "Zo%C3%AB", "%26", "%3D", "name,id", "lastName%2CfirstName", "phoneNumber,", "desc",
      "ASC", "*", "*,name", "Name",
    ]
    let state = DirectoryState(
      contacts: [
        Contact(id: "user-1", type: .user, name: "Joe", phoneNumber: "555-123-4567", userName: "joe"),
        Contact(id: "queue-1", type: .queue, name: "Sales", phoneNumber: "+1 800 555 0100"),
      ], generation: 1)
    var accepted = 0
    for _ in 0..<100_000 {
      let count = random.next(upTo: 5)
      let pieces = (0..<count).map { _ -> String in
        let name = names[random.next(upTo: names.count)]
        return random.next(upTo: 8) == 0 ? name : "\(name)=\(values[random.next(upTo: values.count)])"
      }
      let separator = random.next(upTo: 6) == 0 ? "&&" : "&"
      do {
        let query = try ContactQuery.parse(pieces.joined(separator: separator))
        accepted += 1
        #expect(query.offset >= 0 && query.offset <= ContactQuery.maximumOffset)
        if let limit = query.limit { #expect((1...ContactQuery.maximumLimit).contains(limit)) }
        var matches = state.entries.filter(query.matches)
        if let order = query.order { matches = order.sorted(matches) }
        let page = query.pageRange(of: matches.count)
        #expect(page.upperBound <= matches.count)
        _ = query.nextPageQuery(total: matches.count)
      } catch {
        #expect(!error.message.isEmpty)
      }
    }
    #expect(accepted > 1000)
  }
}
