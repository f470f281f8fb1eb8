import ContactsCore
import TestSupport
import Testing

@testable import ContactsAPI

/// What a kept answer is matched and replayed by.
struct IdempotencyHashTests {
  /// A request's hash is kept with its answer in files and databases, so the bytes hashed and
  /// the function must never change: FNV-1a of method, NUL, path, NUL and body (figures from an
  /// independent implementation).
  @Test func theRequestHashIsFNV1aOfMethodPathAndBody() {
    let create = APIRequest(
      method: "POST", target: "/contacts", caller: Caller.admin.identity, body: Array(#"{"name":"Front Desk"}"#.utf8))
    #expect(ContactsAPI.requestHash(create) == "7ec0ee05d6ff97e")
    let bulk = APIRequest(method: "POST", target: "/contacts/_bulk?x=1", caller: Caller.admin.identity)
    #expect(ContactsAPI.requestHash(bulk) == "18bbadd3c9e22757")
  }

  /// A created contact's id is read in place from the body `Contact.json` wrote, and by the
  /// parser when it holds an escape or the body has another shape.
  @Test(arguments: [
    (#"{"id":"a1b2","name":"Desk","type":"Custom"}"#, "a1b2"),
    (#"{"id":"say \"hi\"","name":"Desk"}"#, #"say "hi""#),
    (#"{"id":"back\\slash","name":"Desk"}"#, #"back\slash"#),
    (#"{"name":"Desk","id":"later"}"#, "later"),
    (#"{"id":"é 😀"}"#, "é 😀"),
  ])
  func theCreatedIDIsReadFromTheKeptBody(body: String, id: String) {
    #expect(ContactsAPI.createdID(Array(body.utf8)) == id)
  }

  @Test func aBodyWithoutAnIDHasNone() {
    #expect(ContactsAPI.createdID(Array(#"{"error":"x"}"#.utf8)) == nil)
    #expect(ContactsAPI.createdID(Array(#"{"id":"cut"#.utf8)) == nil)
  }
}
