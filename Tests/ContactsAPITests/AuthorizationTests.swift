import ContactsAPI
import ContactsCore
import Testing

/// Role × method × path → status: identity first (401), then permission (403), then the path.
struct AuthorizationTests {
  static let validBody = #"{"name":"New","phoneNumber":"555"}"#

  static let table: [(Caller, String, String, Int)] = [
    (.anonymous, "GET", "/contacts", 401),
    (.anonymous, "POST", "/contacts", 401),
    (.anonymous, "DELETE", "/contacts/nope", 401),
    (.guest, "GET", "/contacts", 403),
    (.guest, "HEAD", "/contacts/queue-sales", 403),
    (.guest, "GET", "/contacts/nope", 403),
    (.agent, "GET", "/contacts", 200),
    (.agent, "HEAD", "/contacts", 200),
    (.agent, "GET", "/contacts/user-joej", 200),
    (.agent, "GET", "/contacts/nope", 404),
    (.agent, "POST", "/contacts", 403),
    (.agent, "PUT", "/contacts/\(customID)", 403),
    (.agent, "DELETE", "/contacts/\(customID)", 403),
    (.agent, "DELETE", "/contacts/nope", 403),
    (.agent, "PATCH", "/contacts", 403),
    (.admin, "GET", "/contacts", 200),
    (.admin, "POST", "/contacts", 201),
    (.admin, "PUT", "/contacts/\(customID)", 200),
    (.admin, "DELETE", "/contacts/\(customID)", 204),
    (.admin, "PUT", "/contacts/queue-sales", 405),
    (.admin, "DELETE", "/contacts/user-joej", 405),
    (.admin, "PUT", "/contacts/nope", 404),
    (.admin, "DELETE", "/contacts/nope", 404),
    (.admin, "PATCH", "/contacts", 405),
    (.admin, "PUT", "/contacts", 405),
    (.admin, "DELETE", "/contacts", 405),
    (.admin, "POST", "/contacts/\(customID)", 405),
    (.admin, "PATCH", "/contacts/nope", 404),
    (.admin, "GET", "/contacts/", 404),
    (.admin, "GET", "/contacts/a/b", 404),
    (.admin, "GET", "/contactsfoo", 404),
    (.admin, "GET", "/contacts&type=User", 200),
  ]

  @Test(arguments: table)
  func statusFollowsIdentityPermissionPathAndMethod(caller: Caller, method: String, path: String, status: Int) {
    let (api, _) = makeAPI()
    let body = ["POST", "PUT"].contains(method) ? Self.validBody : nil
    let response = api.send(method, path, as: caller, json: body)
    #expect(response.status == status, "\(caller) \(method) \(path): \(response.bodyText)")
    if status >= 400 && method != "HEAD" {
      #expect(response.header("Content-Type") == "application/json; charset=utf-8")
      #expect(response.errorCode != nil)
    }
  }

  @Test func misconfiguredNginxFailsClosed() {
    let (api, repository) = makeAPI()
    let response = api.respond(
      to: APIRequest(
        method: "POST", target: "/contacts", caller: .misconfigured("no CONTACTS_ROLES"),
        contentType: "application/json", body: Array(Self.validBody.utf8)))
    #expect(response.status == 500)
    #expect(response.errorCode == "server_misconfigured")
    #expect(repository.history.isEmpty)
  }

  @Test func methodNotAllowedListsWhatIs() {
    let (api, _) = makeAPI()
    #expect(api.send("PUT", "/contacts/queue-sales", json: Self.validBody).header("Allow") == "GET, HEAD")
    #expect(api.send("POST", "/contacts/\(customID)", json: Self.validBody).header("Allow") == "GET, HEAD, PUT, DELETE")
    #expect(api.send("PATCH", "/contacts").header("Allow") == "GET, HEAD, POST")
    #expect(api.send("OPTIONS", "/contacts/user-joej").header("Allow") == "GET, HEAD")
  }

  @Test func permissionsHeaderTellsTheDashboardWhatTheCallerMayDo() {
    let (api, _) = makeAPI()
    #expect(api.send("GET", "/contacts", as: .admin).header("X-Contacts-Permissions") == "read, write")
    #expect(api.send("GET", "/contacts", as: .agent).header("X-Contacts-Permissions") == "read")
  }
}
