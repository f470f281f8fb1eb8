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

  @Test(arguments: StoreKind.allCases)
  func largeListingsAreGzippedForClientsThatAsk(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    let plain = try stack.client.request("GET", "/contacts", user: "agent")
    let zipped = try stack.client.request("GET", "/contacts", user: "agent", headers: [("Accept-Encoding", "gzip")])
    #expect(zipped.header("Content-Encoding") == "gzip")
    #expect(zipped.body.count < plain.body.count)
  }
}
