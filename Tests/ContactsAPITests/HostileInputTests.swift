import ContactsCore
import TestSupport
import Testing

@testable import ContactsAPI

/// What an attacker's pass tried: paths nginx normalizes differently from the responder,
/// integers at their limits, control characters in queries, and an unbounded listing cache.
@Suite struct HostileInputTests {
  // MARK: Paths: the route must be the location nginx chose

  /// The bypass found by the attacker's pass: nginx matched `/_contacts/ping` (no
  /// authentication), the raw path reads as the collection. Wrong credentials still became the
  /// user nginx passed; now the path alone is refused, before identity is even looked at.
  @Test func rawPathThatNginxNormalizedElsewhereIsRefusedBeforeAnything() {
    let (api, repository) = makeAPI()
    let before = (try? repository.currentState().entries.count) ?? -1
    for caller in Caller.allCases {
      let response = api.respond(
        to: APIRequest(
          method: "POST", target: "/contacts&x=/../_contacts/ping", matchedPath: "/_contacts/ping",
          caller: caller.identity, contentType: "application/json", body: Array(#"{"name":"x","phoneNumber":"5"}"#.utf8)
        ))
      #expect(response.status == 400, "\(caller): \(response.bodyText)")
      #expect(response.errorCode == "invalid_path")
    }
    #expect((try? repository.currentState().entries.count) == before)
  }

  static let refusedPaths: [(raw: String, matched: String?)] = [
    ("/contacts/../_contacts/status", "/_contacts/status"),
    ("/contacts/./user-joej", "/contacts/user-joej"),
    ("/contacts/%2e%2e/_contacts/ping", "/_contacts/ping"),
    ("/contacts/%2E%2e/_contacts/ping", nil),
    ("/contacts/.%2E", nil),
    ("/contacts/user-joej%2f..%2f..", nil),
    ("/contacts/a%2Fb", "/contacts/a/b"),
    ("/contacts/a%5cb", nil),
    ("/contacts/a\\b", nil),
    ("//contacts", "/contacts"),
    ("/contacts//user-joej", "/contacts/user-joej"),
    ("/contacts&type=User/..", nil),
    ("/contacts/%zz", nil),
    ("/contacts/%ff", nil),
    ("contacts", nil),
    ("/contacts", "/_contacts/ping"),
    ("/contacts/user-joej", "/contacts/user-other"),
  ]

  @Test(arguments: refusedPaths)
  func pathsThatNormalizeDifferentlyAnswer400(raw: String, matched: String?) {
    let (api, _) = makeAPI()
    let response = api.respond(
      to: APIRequest(method: "GET", target: raw, matchedPath: matched, caller: Caller.agent.identity))
    #expect(response.status == 400, "\(raw): \(response.bodyText)")
    #expect(response.errorCode == "invalid_path")
  }

  static let acceptedPaths: [(raw: String, matched: String?, status: Int)] = [
    ("/contacts", "/contacts", 200),
    ("/contacts?type=User", "/contacts", 200),
    ("/contacts&type=User", "/contacts&type=User", 200),
    ("/contacts/user-joej", "/contacts/user-joej", 200),
    ("/contacts/user%2Djoej", "/contacts/user-joej", 200),
    ("/contacts/", "/contacts/", 404),
    ("/contacts/...", "/contacts/...", 404),
    ("/contacts/user-joej", nil, 200),
  ]

  @Test(arguments: acceptedPaths)
  func pathsNginxMatchedAsTheyAreAreRouted(raw: String, matched: String?, status: Int) {
    let (api, _) = makeAPI()
    let response = api.respond(
      to: APIRequest(method: "GET", target: raw, matchedPath: matched, caller: Caller.agent.identity))
    #expect(response.status == status, "\(raw): \(response.bodyText)")
  }

  /// Property: whatever the raw path, if it is accepted then nginx's normalization (decode,
  /// merge slashes, resolve dot segments) leaves it as it is, so the location nginx chose and
  /// the route can never disagree.
  @Test func everyAcceptedPathIsItsOwnNormalization() {
    var random = SeededRandom(seed: 0xC0FFEE)
    let pieces = [
      "contacts", "_contacts", "ping", "status", "user-joej", ".", "..", "%2e", "%2E%2e", "%2f", "%2F", "%5c", "",
      "&x=", "a", "%41", "%", "%zz", ";", "?", "\\",
    ]
    var accepted = 0
    for _ in 0..<100_000 {
      let count = random.next(upTo: 6) + 1
      let raw = "/" + (0..<count).map { _ in pieces[random.next(upTo: pieces.count)] }.joined(separator: "/")
      guard RequestTarget.problem(rawPath: raw, matchedPath: nil) == nil else { continue }
      accepted += 1
      let decoded = PercentEncoding.decode(Substring(raw), plusIsSpace: false)
      #expect(decoded != nil, "\(raw)")
      if let decoded { #expect(NginxModel.normalize(decoded) == decoded, "\(raw)") }
    }
    #expect(accepted > 1000)
  }

  // MARK: Integers at their limits

  /// The one-request crash: `offset + limit` overflowed and killed the worker.
  @Test func offsetAtIntMaxIsA400NotACrash() {
    let (api, _) = makeAPI()
    for offset in ["9223372036854775807", "9223372036854775808", "2147483648", "-1", "-9223372036854775808"] {
      let response = api.send("GET", "/contacts?limit=1000&offset=\(offset)", as: .agent)
      #expect(response.status == 400, "offset=\(offset): \(response.bodyText)")
      #expect(response.errorFields == ["offset"])
    }
    let largest = api.send("GET", "/contacts?limit=1000&offset=\(ContactQuery.maximumOffset)", as: .agent)
    #expect(largest.status == 200)
    #expect(largest.contactIDs.isEmpty)
    #expect(largest.header("Link") == nil)
    #expect(largest.header("X-Total-Count") == "3")
  }

  /// Property: extreme and random integers for `limit` and `offset` never trap, and a page is
  /// always inside the matches.
  @Test func pagingNeverTrapsOnExtremeIntegers() throws {
    let extremes = [
      "0", "1", "-1", "999", "1000", "1001", "2147483647", "2147483648", "4294967296", "9223372036854775806",
      "9223372036854775807", "9223372036854775808", "-9223372036854775808", "+5", "1e3", "0x10", "", " 1",
    ]
    var random = SeededRandom(seed: 42)
    for _ in 0..<20_000 {
      let limit = random.next(upTo: 3) == 0 ? String(random.nextInt()) : extremes[random.next(upTo: extremes.count)]
      let offset = random.next(upTo: 3) == 0 ? String(random.nextInt()) : extremes[random.next(upTo: extremes.count)]
      guard let query = try? ContactQuery.parse("limit=\(limit)&offset=\(offset)") else { continue }
      let count = random.next(upTo: 5000)
      let range = query.pageRange(of: count)
      #expect(range.lowerBound >= 0 && range.upperBound <= count)
      #expect(range.count <= query.limit ?? count)
      if let next = query.nextPageQuery(total: count) { #expect(next.contains("offset=")) }
    }
    // And directly, values the parser would refuse.
    var query = ContactQuery()
    query.offset = Int.max
    query.limit = Int.max
    #expect(query.pageRange(of: 10) == 10..<10)
    #expect(query.nextPageQuery(total: 10) == nil)
  }

  // MARK: Control characters

  @Test(arguments: ["%00", "%0A", "a%0Db", "%7F", "%C2%85", "%C2%9F"])
  func searchWithAControlCharacterIs400(encoded: String) {
    let (api, _) = makeAPI()
    let response = api.send("GET", "/contacts?q=\(encoded)", as: .agent)
    #expect(response.status == 400, "q=\(encoded): \(response.bodyText)")
    #expect(response.errorFields == ["q"])
    #expect(api.send("GET", "/contacts?name=\(encoded)", as: .agent).status == 400)
  }

  // MARK: The listing cache is bounded by bytes

  @Test func listingCacheStaysWithinItsByteBoundAndEvictsTheLeastRecentlyUsed() {
    let contacts = (0..<500).map { index in
      Contact(
        id: "user-\(index)", type: .user, name: "Person \(index)", phoneNumber: "555 \(index)", userName: "u\(index)")
    }
    let repository = InMemoryContactRepository(contacts: contacts)
    let bound = 40_000
    let api = ContactsAPI(repository: repository, configuration: .init(listingCacheBytes: bound))
    for index in 0..<200 {
      #expect(api.send("GET", "/contacts?q=\(index)", as: .agent).status == 200)
      #expect(api.listingCacheUsage.bytes <= bound)
    }
    #expect(api.listingCacheUsage.pages > 1)
    // The whole listing (~40 KB) is larger than the bound: answered, never kept.
    let whole = api.send("GET", "/contacts", as: .agent)
    #expect(whole.status == 200 && whole.body.count > bound)
    #expect(api.listingCacheUsage.bytes <= bound)
  }

  @Test func leastRecentlyUsedEvictsInOrderOfUse() {
    var lru = LeastRecentlyUsed<String, Int>()
    for (index, key) in ["a", "b", "c"].enumerated() { lru.insert(index, for: key) }
    #expect(lru.use("a") == 0)
    #expect(lru.keysByRecency == ["a", "c", "b"])
    #expect(lru.removeLeastRecentlyUsed()?.key == "b")
    lru.insert(3, for: "d")
    #expect(lru.removeLeastRecentlyUsed()?.key == "c")
    #expect(lru.removeLeastRecentlyUsed()?.key == "a")
    #expect(lru.removeLeastRecentlyUsed()?.key == "d")
    #expect(lru.removeLeastRecentlyUsed() == nil)
    #expect(lru.count == 0)
  }
}

/// nginx's URI normalization, as `ngx_http_parse_complex_uri` does it: percent-decoded already;
/// `//` merged; `.` dropped; `..` removes the segment before it.
enum NginxModel {
  static func normalize(_ decodedPath: String) -> String {
    var output: [Substring] = []
    let segments = decodedPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    for (index, segment) in segments.enumerated() {
      switch segment {
      case "": if index == segments.count - 1 { output.append("") }
      case ".": if index == segments.count - 1 { output.append("") }
      case "..":
        _ = output.popLast()
        if index == segments.count - 1 { output.append("") }
      default: output.append(segment)
      }
    }
    return "/" + output.joined(separator: "/")
  }
}
