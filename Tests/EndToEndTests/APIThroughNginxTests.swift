import Foundation
import TestSupport
import Testing

/// What only the real stack can show: the TLS port, the seed's `&` form through nginx's
/// location matching, the public OpenAPI document, gzip; from either store, the same.
@Suite(.tags(.endToEnd))
struct APIThroughNginxTests {
  @Test(arguments: StoreKind.allCases)
  func httpsPortServesTheAPIWithTheSameAuthentication(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let base = "https://127.0.0.1:\(stack.httpsPort)"
    let agent = try runCommand(
      "/usr/bin/curl", ["-sk", "-u", "agent:agent", "-w", "\n%{http_code}", "\(base)/contacts/user-joej"])
    #expect(agent.output.hasSuffix("\n200"), "\(agent.output)")
    #expect(agent.output.contains(#""userName":"joej""#))
    let anonymous = try runCommand(
      "/usr/bin/curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "\(base)/contacts"])
    #expect(anonymous.output == "401")
    let http2 = try runCommand(
      "/usr/bin/curl",
      ["-sk", "--http2", "-u", "agent:agent", "-o", "/dev/null", "-w", "%{http_version}", "\(base)/contacts"])
    #expect(http2.output == "2")
  }

  @Test(arguments: StoreKind.allCases)
  func seedsAmpersandFormWorksThroughNginx(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let users = try stack.client.request("GET", "/contacts&type=User", user: "agent")
    #expect(users.status == 200)
    #expect(!users.contacts.isEmpty && users.contacts.allSatisfy { $0["type"] == "User" })
    let joe = try stack.client.request("GET", "/contacts?firstName=Joe&lastName=Johnson&userName=joej", user: "agent")
    #expect(joe.contacts.map { $0["id"] } == ["user-joej"])
    #expect(try stack.client.request("GET", "/contactsfoo", user: "agent").status == 404)
    #expect(try stack.client.request("GET", "/contacts/a/b", user: "agent").status == 404)
  }

  /// `sortBy`, `order` and `fields` pass through nginx untouched (commas and all), the next
  /// page keeps them, and the tags of sorted listings and projected contacts revalidate.
  @Test(arguments: StoreKind.allCases)
  func sortByOrderAndFieldsThroughNginx(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let client = stack.client
    let target = "/contacts?type=User&sortBy=lastName,firstName&order=desc&fields=lastName,firstName&limit=3"
    let page = try client.request("GET", target, user: "agent")
    #expect(page.status == 200, "\(page.text)")
    #expect(page.contacts.count == 3)
    #expect(page.contacts.allSatisfy { Set($0.keys).isSubset(of: ["id", "firstName", "lastName"]) })
    let lastNames = page.contacts.map { ($0["lastName"] ?? "").lowercased() }
    #expect(lastNames == lastNames.sorted(by: >), "\(lastNames)")
    let link = try #require(page.header("Link"))
    #expect(link.contains("sortBy=lastName%2CfirstName") && link.contains("order=desc") && link.contains("offset=3"))
    let etag = try #require(page.header("ETag"))
    #expect(try client.request("GET", target, user: "agent", headers: [("If-None-Match", etag)]).status == 304)

    let joe = try client.request("GET", "/contacts/user-joej?fields=userName", user: "agent")
    #expect(joe.status == 200 && joe.text == #"{"id":"user-joej","userName":"joej"}"#, "\(joe.text)")
    let tag = try #require(joe.header("ETag"))
    #expect(tag != (try client.request("GET", "/contacts/user-joej", user: "agent").header("ETag")))
    let again = try client.request(
      "GET", "/contacts/user-joej?fields=userName", user: "agent", headers: [("If-None-Match", tag)])
    #expect(again.status == 304)
    let refused = try client.request("GET", "/contacts/user-joej?colour=red", user: "agent")
    #expect(refused.status == 400 && refused.errorCode == "invalid_query")
  }

  @Test(arguments: StoreKind.allCases)
  func openAPIDocumentIsPublicAndReadOnly(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let document = try stack.client.request("GET", "/contacts/openapi.json")
    #expect(document.status == 200)
    #expect(document.header("Content-Type")?.hasPrefix("application/json") == true)
    #expect((document.json?["openapi"] as? String)?.hasPrefix("3.1") == true)
    let write = try stack.client.request("POST", "/contacts/openapi.json", user: "admin", json: "{}")
    #expect(write.status == 405)
    #expect(write.header("Allow") == "GET, HEAD")
    #expect(write.errorCode == "method_not_allowed")
  }

  /// A listing's gzip bytes come from the responder's cache through nginx untouched: the same
  /// bytes as the identity listing once decoded (by the system's gzip and by curl), a strong tag
  /// of their own, one `Vary: Accept-Encoding`, 304 for that tag, and both tags change with a
  /// write. Other JSON (the change feed) is still compressed by nginx, with the same one Vary.
  @Test(arguments: StoreKind.allCases)
  func listingsComeGzipCodedFromTheResponderThroughNginx(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let client = stack.client
    let gzip = [("Accept-Encoding", "gzip")]
    let plain = try client.request("GET", "/contacts", user: "agent")
    let zipped = try client.request("GET", "/contacts", user: "agent", headers: gzip)
    #expect(plain.status == 200 && zipped.status == 200)
    #expect(plain.header("Content-Encoding") == nil)
    #expect(zipped.header("Content-Encoding") == "gzip")
    #expect(try systemGunzip(zipped.body) == plain.body)
    // nginx sent the responder's bytes as they were: with their length, not re-chunked.
    #expect(zipped.header("Content-Length") == String(zipped.body.count))
    #expect(zipped.header("Transfer-Encoding") == nil)
    let tag = try #require(plain.header("ETag"))
    let gzipTag = try #require(zipped.header("ETag"))
    #expect(tag.hasPrefix("\"g") && gzipTag == String(tag.dropLast()) + "-gzip\"", "\(tag) \(gzipTag)")
    let curlDecoded = try curl(["--compressed", "-u", "agent:agent", "http://127.0.0.1:\(stack.httpPort)/contacts"])
    #expect(curlDecoded.header("Content-Encoding") == "gzip" && curlDecoded.body == plain.body)

    /// Each Vary line the client sees, by value: one Accept-Encoding (the responder's), and nginx's Origin.
    func varies(_ response: HTTPResponse) -> [String] {
      response.headers.filter { $0.name.lowercased() == "vary" }.map(\.value).sorted()
    }
    #expect(varies(plain) == ["Accept-Encoding", "Origin"], "\(plain.headers)")
    #expect(varies(zipped) == ["Accept-Encoding", "Origin"], "\(zipped.headers)")

    let head = try client.request("HEAD", "/contacts", user: "agent", headers: gzip)
    #expect(head.status == 200 && head.header("ETag") == gzipTag && head.header("Content-Encoding") == "gzip")
    #expect(head.header("Content-Length") == String(zipped.body.count))

    let notModified = try client.request(
      "GET", "/contacts", user: "agent", headers: gzip + [("If-None-Match", gzipTag)])
    #expect(notModified.status == 304 && notModified.body.isEmpty)
    #expect(notModified.header("ETag") == gzipTag && varies(notModified) == ["Accept-Encoding", "Origin"])
    // Without gzip, the gzip tag is not this request's representation: the identity listing.
    let refused = try client.request("GET", "/contacts", user: "agent", headers: [("If-None-Match", gzipTag)])
    #expect(refused.status == 200 && refused.header("ETag") == tag && refused.body == plain.body)

    // A small answer is not compressed by either.
    let joe = try client.request("GET", "/contacts?userName=joej", user: "agent", headers: gzip)
    #expect(joe.status == 200 && joe.header("Content-Encoding") == nil && joe.contacts.count == 1)
    #expect(varies(joe) == ["Accept-Encoding", "Origin"])

    // A write changes both tags; the feed of its changes (over 1 KiB) is compressed by nginx.
    let cursor = try #require(plain.header("X-Contacts-Cursor"))
    for index in 0..<12 {
      let created = try client.request(
        "POST", "/contacts", user: "admin", json: #"{"name":"Gzip \#(index)","phoneNumber":"555 01\#(index)"}"#)
      #expect(created.status == 201)
    }
    let after = try client.request("GET", "/contacts", user: "agent", headers: gzip + [("If-None-Match", gzipTag)])
    #expect(after.status == 200 && after.header("Content-Encoding") == "gzip")
    let afterTag = try #require(after.header("ETag"))
    #expect(afterTag != gzipTag && afterTag.hasSuffix("-gzip\""))
    let afterPlain = try client.request("GET", "/contacts", user: "agent", headers: [("If-None-Match", tag)])
    #expect(afterPlain.status == 200 && afterPlain.header("ETag") == String(afterTag.dropLast(6)) + "\"")
    #expect(try systemGunzip(after.body) == afterPlain.body)
    let feed = try client.request("GET", "/contacts/_changes?since=\(cursor)", user: "agent", headers: gzip)
    #expect(feed.status == 200 && feed.header("Content-Encoding") == "gzip", "\(feed.headers)")
    #expect(varies(feed) == ["Accept-Encoding", "Origin"], "\(feed.headers)")
    #expect(feed.header("ETag")?.hasPrefix("W/") == true)  // nginx's gzip weakens the tag it changes
    let feedPlain = try client.request("GET", "/contacts/_changes?since=\(cursor)", user: "agent")
    #expect(feedPlain.body.count >= 1024 && feedPlain.header("Content-Encoding") == nil)
    #expect(varies(feedPlain) == ["Accept-Encoding", "Origin"], "\(feedPlain.headers)")
    #expect(try systemGunzip(feed.body) == feedPlain.body)
  }

  /// Answers larger than one FastCGI record (65,535 bytes), and than 1 MB, which the worker
  /// writes as records of its own past libfcgi's stream: nginx passes on exactly the bytes a
  /// FastCGI client reads from the socket itself, plain and gzip, with their length, and keeps
  /// them in memory (nothing buffered to a temporary file). The store does not matter here: the
  /// data directory's only.
  @Test func bodiesLargerThanOneRecordArriveIntactThroughNginx() throws {
    let stack = try LocalStack()
    let client = stack.client
    // 4,000 contacts with names of 180 random letters: over 1 MB of listing, and gzip bytes
    // that do not shrink below a record.
    var random = SeededRandom(seed: 15)
    let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
    for batch in 0..<4 {
      let operations = (0..<1000).map { index in
        let letters = String(decoding: (0..<180).map { _ in letters[random.next(upTo: letters.count)] }, as: UTF8.self)
        return
          #"{"op":"create","contact":{"name":"Big \#(batch) \#(index) \#(letters)","phoneNumber":"555 \#(index)"}}"#
      }
      let bulk = try client.request(
        "POST", "/contacts/_bulk", user: "admin", json: #"{"operations":["# + operations.joined(separator: ",") + "]}")
      #expect(bulk.status == 200, "\(bulk.text.prefix(300))")
    }

    /// The responder's own answer, read from its socket as nginx would: (head, body).
    func direct(_ extra: [(String, String)]) throws -> (head: String, body: [UInt8]) {
      let fastcgi = try FastCGIClient(socketPath: stack.socketPath)
      fastcgi.send(FastCGIClient.beginRequest)
      fastcgi.send(
        FastCGIClient.params(
          [
            ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/contacts"), ("DOCUMENT_URI", "/contacts"),
            ("REMOTE_USER", "agent"), ("CONTACTS_ROLES", "Agent"),
          ] + extra))
      fastcgi.send(FastCGIClient.params([]))
      fastcgi.send(FastCGIClient.record(type: 5, content: []))
      let (records, stdout, complete) = fastcgi.readRecords()
      #expect(complete && records.last?.type == 3)
      #expect(records.allSatisfy { $0.contentLength <= 65_535 })
      #expect(records.contains { $0.type == 6 && $0.contentLength > 8192 }, "written past libfcgi's 8 KB records")
      let blank = try #require(stdout.firstRange(of: Array("\r\n\r\n".utf8)))
      return (String(decoding: stdout[..<blank.lowerBound], as: UTF8.self), Array(stdout[blank.upperBound...]))
    }

    let plain = try client.request("GET", "/contacts", user: "agent")
    #expect(plain.status == 200 && plain.contacts.count >= 4000)
    #expect(plain.body.count > 1_048_576, "\(plain.body.count)")
    #expect(plain.header("Content-Length") == String(plain.body.count))
    let plainDirect = try direct([])
    let tag = try #require(plain.header("ETag"))
    #expect(plainDirect.head.hasPrefix("Status: 200") && plainDirect.head.contains(tag))
    #expect(plainDirect.body == plain.body)

    let zipped = try client.request("GET", "/contacts", user: "agent", headers: [("Accept-Encoding", "gzip")])
    #expect(zipped.status == 200 && zipped.header("Content-Encoding") == "gzip")
    #expect(zipped.body.count > 65_535, "\(zipped.body.count)")
    #expect(zipped.header("Content-Length") == String(zipped.body.count))
    #expect(try direct([("HTTP_ACCEPT_ENCODING", "gzip")]).body == zipped.body)
    #expect(try systemGunzip(zipped.body) == plain.body)

    // HEAD: the same length, no body.
    let head = try client.request("HEAD", "/contacts", user: "agent")
    #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") == String(plain.body.count))

    let errors = (try? String(contentsOfFile: stack.runtime + "/error.log", encoding: .utf8)) ?? ""
    #expect(!errors.contains("upstream response is buffered to a temporary file"), "\(errors)")
  }

  @Test(arguments: StoreKind.allCases)
  func largeListingsAreGzippedForClientsThatAsk(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let plain = try stack.client.request("GET", "/contacts", user: "agent")
    let zipped = try stack.client.request("GET", "/contacts", user: "agent", headers: [("Accept-Encoding", "gzip")])
    #expect(zipped.header("Content-Encoding") == "gzip")
    #expect(zipped.body.count < plain.body.count)
  }
}
