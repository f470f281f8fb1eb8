import Compression
import ContactsCore
import Foundation
import Testing

@testable import ContactsAPI

/// Listings compressed once per data generation and query: which requests get gzip, the tag of
/// each encoding, 304 for either, and what the cache keeps.
@Suite struct ListingCompressionTests {
  // MARK: Accept-Encoding

  static let acceptEncodingTable: [(header: String?, gzip: Bool)] = [
    (nil, false), ("", false), ("gzip", true), ("GZIP", true), ("GZip", true), ("x-gzip", true), ("X-GZIP", true),
    ("gzip, deflate, br, zstd", true), ("deflate, br", false), ("br;q=1, gzip;q=0.9", true), ("*", true),
    ("identity", false), ("identity, gzip", true), ("gzip;q=0", false), ("gzip; q=0", false), ("gzip ;q=0", false),
    ("gzip;Q=0", false), ("gzip;q=0.", false), ("gzip;q=0.000", false), ("gzip;q=0.001", true), ("gzip;q=1", true),
    ("gzip;q=1.", true), ("gzip;q=1.0", true), ("gzip;q=1.000", true), ("gzip;q=0.5", true),
    // Malformed weights refuse their coding.
    ("gzip;q=1.0000", false), ("gzip;q=1.001", false), ("gzip;q=2", false), ("gzip;q=0.1234", false),
    ("gzip;q=abc", false), ("gzip;q=", false), ("gzip;q", false), ("gzip;", false), ("gzip;q =1", false),
    ("gzip;q= 1", false), ("gzip;q=-1", false), ("gzip;level=9", false), ("gzip;q=1;q=1", false),
    ("gzip;q=0x1", false),
    // Identity weighed against gzip, by name or by `*`.
    ("gzip;q=0.5, identity", false), ("gzip;q=0.5, identity;q=0.5", true), ("identity;q=0, gzip;q=0.1", true),
    ("gzip;q=0.5, *", false), ("*;q=0", false), ("*;q=0, gzip", true), ("gzip;q=0, *", false),
    ("*;q=0.5, identity;q=0.4", true),
    // A coding refused under either name is refused.
    ("x-gzip;q=0, gzip", false), ("gzip, gzip;q=0", false),
    // Separators and whitespace.
    (",,,gzip,,,", true), (" \tgzip\t ", true), ("gzip , deflate", true), (", , ,", false), ("gzip q=1", false),
    ("gzi", false), ("gzipx", false), ("gz ip", false), ("\"gzip\"", false), ("gzíp", false), ("gzip\u{0}", false),
  ]

  @Test(arguments: acceptEncodingTable.indices)
  func acceptEncodingIsReadAsRFC9110Says(index: Int) {
    let (header, expected) = Self.acceptEncodingTable[index]
    #expect(AcceptEncoding.prefersGzip(header) == expected, "\(String(describing: header))")
  }

  @Test func hostileAcceptEncodingHeadersAreReadInLinearTime() {
    let started = Date()
    #expect(!AcceptEncoding.prefersGzip(String(repeating: ",", count: 1_000_000)))
    #expect(AcceptEncoding.prefersGzip(String(repeating: "deflate;q=0.5, ", count: 50_000) + "gzip"))
    #expect(!AcceptEncoding.prefersGzip(String(repeating: "gzip;", count: 100_000)))
    #expect(!AcceptEncoding.prefersGzip("gzip;q=" + String(repeating: "0", count: 1_000_000)))
    #expect(!AcceptEncoding.prefersGzip(String(repeating: "x", count: 1_000_000)))
    #expect(!AcceptEncoding.prefersGzip(String(repeating: " ", count: 1_000_000)))
    #expect(Date().timeIntervalSince(started) < 5, "took \(Date().timeIntervalSince(started)) s")
  }

  // MARK: Listings through the API

  /// Enough contacts for a listing of several KiB, and a query that matches one (under 1 KiB).
  static let contacts = (0..<100).map { index in
    Contact(
      id: "user-\(index)", type: .user, name: "Person \(index)", phoneNumber: "+1 555 010 \(1000 + index)",
      userName: "u\(index)", firstName: "First\(index)", lastName: "Last\(index)", employeeId: "E\(index)")
  }

  func makeListingAPI(cacheBytes: Int = ContactsAPI.Configuration.defaultListingCacheBytes) -> ContactsAPI {
    ContactsAPI(
      repository: InMemoryContactRepository(contacts: Self.contacts),
      configuration: .init(listingCacheBytes: cacheBytes))
  }

  func get(
    _ api: ContactsAPI, _ target: String = "/contacts", method: String = "GET", encoding: String? = "gzip",
    ifNoneMatch: String? = nil, ifMatch: String? = nil
  ) -> APIResponse {
    api.respond(
      to: APIRequest(
        method: method, target: target, caller: Caller.agent.identity, ifMatch: ifMatch, ifNoneMatch: ifNoneMatch,
        acceptEncoding: encoding))
  }

  @Test func aLargeListingIsSentGzipCodedWithATagOfItsOwn() throws {
    let api = makeListingAPI()
    let plain = get(api, encoding: nil)
    let zipped = get(api)
    #expect(plain.status == 200 && zipped.status == 200)
    #expect(plain.body.count > 1024)
    #expect(plain.header("Content-Encoding") == nil)
    #expect(zipped.header("Content-Encoding") == "gzip")
    #expect(try gunzip(zipped.body) == plain.body)
    #expect(zipped.body.count < plain.body.count / 2)
    #expect(zipped.header("Content-Length") == String(zipped.body.count))
    let tag = try #require(plain.header("ETag"))
    #expect(tag.hasPrefix("\"g") && tag.hasSuffix("\""))
    #expect(zipped.header("ETag") == String(tag.dropLast()) + "-gzip\"")
    for response in [plain, zipped] {
      #expect(response.header("Vary") == "Accept-Encoding")
      #expect(response.header("X-Total-Count") == "100")
      #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }
    // Refusing gzip, or preferring identity, gets the identity bytes.
    for refusal in ["gzip;q=0", "identity", "gzip;q=0.5, identity", "br"] {
      let response = get(api, encoding: refusal)
      #expect(response.body == plain.body && response.header("ETag") == tag, "\(refusal)")
      #expect(response.header("Content-Encoding") == nil && response.header("Vary") == "Accept-Encoding")
    }
  }

  @Test func aSmallPageIsSentUncompressedWhateverTheRequestAccepts() {
    let api = makeListingAPI()
    let target = "/contacts?userName=u7"
    let plain = get(api, target, encoding: nil)
    let asked = get(api, target)
    #expect(plain.body.count < 1024 && plain.contactIDs == ["user-7"])
    #expect(asked.body == plain.body && asked.header("Content-Encoding") == nil)
    #expect(asked.header("ETag") == plain.header("ETag"))
    #expect(asked.header("Vary") == "Accept-Encoding")
    #expect(api.listings.compressions == 0)
  }

  @Test func headCarriesTheHeadersOfTheGetInEitherEncoding() {
    let api = makeListingAPI()
    for encoding in [nil, "gzip"] {
      let getResponse = get(api, encoding: encoding)
      let head = get(api, method: "HEAD", encoding: encoding)
      #expect(head.status == 200 && head.body.isEmpty)
      #expect(head.headers == getResponse.headers, "\(String(describing: encoding))")
    }
  }

  /// A request that accepts gzip gets 304 for either tag, and the 304 names the tag that matched;
  /// a request that does not accept gzip gets 304 only for the identity tag (a 304 naming the
  /// gzip tag would have its cache serve gzip bytes it cannot read).
  @Test func ifNoneMatchAnswers304ForEitherTagOfAnAcceptableRepresentation() throws {
    let api = makeListingAPI()
    let identityTag = try #require(get(api, encoding: nil).header("ETag"))
    let gzipTag = try #require(get(api).header("ETag"))
    #expect(identityTag != gzipTag)
    let cases: [(encoding: String?, ifNoneMatch: String, status: Int, etag: String)] = [
      ("gzip", gzipTag, 304, gzipTag),
      ("gzip", identityTag, 304, identityTag),
      ("gzip", "W/\(gzipTag)", 304, gzipTag),
      ("gzip", "\"x\", \(identityTag), \(gzipTag)", 304, gzipTag),
      ("gzip", "*", 304, identityTag),
      (nil, identityTag, 304, identityTag),
      (nil, "W/\(identityTag)", 304, identityTag),
      (nil, gzipTag, 200, identityTag),
      ("gzip;q=0", gzipTag, 200, identityTag),
      ("identity", "\(gzipTag), \(identityTag)", 304, identityTag),
      ("gzip", "\"x\"", 200, gzipTag),
    ]
    for (encoding, ifNoneMatch, status, etag) in cases {
      for method in ["GET", "HEAD"] {
        let response = get(api, method: method, encoding: encoding, ifNoneMatch: ifNoneMatch)
        let what = "\(method) \(String(describing: encoding)) If-None-Match \(ifNoneMatch)"
        #expect(response.status == status, "\(what)")
        #expect(response.header("ETag") == etag, "\(what)")
        #expect(response.header("Vary") == "Accept-Encoding", "\(what)")
        if status == 304 {
          #expect(response.body.isEmpty && response.header("Content-Encoding") == nil, "\(what)")
          #expect(response.header("Content-Type") == nil && response.header("Content-Length") == nil, "\(what)")
          #expect(response.header("X-Contacts-Permissions") == "read", "\(what)")
        }
      }
    }
  }

  /// The 304 path renders nothing and compresses nothing, even for a page never rendered here.
  @Test func notModifiedNeitherRendersNorCompresses() throws {
    let tagging = makeListingAPI()
    let gzipTag = try #require(get(tagging).header("ETag"))
    let api = makeListingAPI()
    for _ in 0..<3 {
      #expect(get(api, ifNoneMatch: gzipTag).status == 304)
    }
    #expect(api.listings.misses == 0 && api.listings.hits == 0 && api.listings.compressions == 0)
    #expect(api.listingCacheUsage.pages == 0)
  }

  @Test func ifMatchOnAListingAcceptsEitherTagWhateverTheRequestAccepts() throws {
    let api = makeListingAPI()
    let identityTag = try #require(get(api, encoding: nil).header("ETag"))
    let gzipTag = try #require(get(api).header("ETag"))
    for encoding in [nil, "gzip"] {
      for tag in [identityTag, gzipTag] {
        #expect(get(api, encoding: encoding, ifMatch: tag).status == 200)
      }
      let refused = get(api, encoding: encoding, ifMatch: "\"g0-x-gzip\"")
      #expect(refused.status == 412 && refused.errorCode == "precondition_failed")
      #expect(get(api, encoding: encoding, ifMatch: "W/\(gzipTag)").status == 412)
    }
  }

  @Test func aWriteChangesBothTags() throws {
    let repository = InMemoryContactRepository(contacts: Self.contacts)
    let api = ContactsAPI(repository: repository)
    let identityTag = try #require(get(api, encoding: nil).header("ETag"))
    let gzipTag = try #require(get(api).header("ETag"))
    let created = api.send("POST", "/contacts", json: #"{"name":"New","phoneNumber":"555 0100"}"#)
    #expect(created.status == 201)
    let plain = get(api, encoding: nil, ifNoneMatch: identityTag)
    let zipped = get(api, ifNoneMatch: "\(gzipTag), \(identityTag)")
    #expect(plain.status == 200 && zipped.status == 200)
    #expect(plain.header("ETag") != identityTag && zipped.header("ETag") != gzipTag)
    #expect(zipped.header("ETag") == String((plain.header("ETag") ?? "").dropLast()) + "-gzip\"")
    #expect(try gunzip(zipped.body) == plain.body)
    #expect(plain.header("X-Total-Count") == "101")
  }

  // MARK: The cache keeps the gzip bytes, and counts them

  @Test func gzipBytesAreMadeOnceWhenFirstAskedForAndCountedInTheBound() throws {
    let api = makeListingAPI()
    let plain = get(api, encoding: nil)
    #expect(api.listings.compressions == 0)
    let bodyOnly = api.listingCacheUsage.bytes
    #expect(bodyOnly == plain.body.count + "".utf8.count + 64)
    let zipped = get(api)
    #expect(api.listings.compressions == 1)
    #expect(api.listingCacheUsage.bytes == bodyOnly + zipped.body.count)
    #expect(api.listingCacheUsage.pages == 1)
    for _ in 0..<5 { #expect(get(api).body == zipped.body) }
    #expect(get(api, method: "HEAD").body.isEmpty)
    #expect(api.listings.compressions == 1 && api.listings.misses == 1)
    // Asked for gzip first, on a miss: rendered and compressed in the same request.
    let fresh = makeListingAPI()
    #expect(get(fresh).body == zipped.body)
    #expect(fresh.listings.compressions == 1 && fresh.listingCacheUsage.bytes == bodyOnly + zipped.body.count)
  }

  @Test func gzipBytesThatWouldPassTheBoundAreNotKeptNorMadeAgain() throws {
    let probe = makeListingAPI()
    let plainSize = get(probe, encoding: nil).body.count
    // Room for the body and its bookkeeping, not for its gzip bytes as well.
    let api = makeListingAPI(cacheBytes: plainSize + 64 + 10)
    let plain = get(api, encoding: nil)
    for _ in 0..<3 {
      let asked = get(api)
      #expect(asked.header("Content-Encoding") == nil && asked.body == plain.body)
      #expect(asked.header("ETag") == plain.header("ETag"))
    }
    #expect(api.listings.compressions == 1)
    #expect(api.listingCacheUsage.bytes == plainSize + 64 && api.listingCacheUsage.pages == 1)
  }

  @Test func aPageLargerThanTheBoundIsSentUncompressedAndNeverCompressed() {
    let api = makeListingAPI(cacheBytes: 1000)
    let asked = get(api)
    #expect(asked.status == 200 && asked.body.count > 1000)
    #expect(asked.header("Content-Encoding") == nil && asked.header("Vary") == "Accept-Encoding")
    #expect(api.listings.compressions == 0 && api.listingCacheUsage.pages == 0)
  }

  /// Adding a page's gzip bytes evicts the least recently used pages, never the page itself.
  @Test func addingGzipBytesEvictsOtherPagesToStayWithinTheBound() throws {
    let probe = makeListingAPI()
    let whole = get(probe, encoding: nil).body.count
    let wholeZipped = get(probe).body.count
    let small = get(probe, "/contacts?userName=u1", encoding: nil).body.count
    let smallCost = small + "userName=u1".utf8.count + 64
    // The whole listing, its gzip bytes and one small page fit; a second small page does not.
    let bound = whole + 64 + wholeZipped + smallCost + smallCost / 2
    let api = makeListingAPI(cacheBytes: bound)
    #expect(get(api, "/contacts?userName=u1").status == 200)
    #expect(get(api, "/contacts?userName=u2").status == 200)
    #expect(get(api, encoding: nil).status == 200)
    #expect(api.listingCacheUsage.pages == 3)
    #expect(get(api).header("Content-Encoding") == "gzip")
    // u1, the least recently used, made room for the gzip bytes; u2 and the listing stay.
    #expect(api.listingCacheUsage.pages == 2)
    #expect(api.listingCacheUsage.bytes == whole + 64 + wholeZipped + smallCost)
    #expect(api.listingCacheUsage.bytes <= bound)
    let hits = api.listings.hits
    #expect(get(api, "/contacts?userName=u2").status == 200 && api.listings.hits == hits + 1)
    #expect(get(api).header("Content-Encoding") == "gzip" && api.listings.hits == hits + 2)
    #expect(api.listings.compressions == 1)
  }

  /// Every answer says it may vary by Accept-Encoding: listings, contacts, errors.
  @Test func everyResponseCarriesVaryAcceptEncoding() {
    let api = makeListingAPI()
    for target in ["/contacts/user-1", "/contacts/nobody", "/contacts?colour=red", "/contacts/_changes"] {
      let response = get(api, target)
      #expect(response.headers.filter { $0.name == "Vary" }.map(\.value) == ["Accept-Encoding"], "\(target)")
    }
    let anonymous = api.respond(to: APIRequest(method: "GET", target: "/contacts", caller: .anonymous))
    #expect(anonymous.status == 401 && anonymous.header("Vary") == "Accept-Encoding")
  }
}
