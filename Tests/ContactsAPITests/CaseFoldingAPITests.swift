import ContactsAPI
import ContactsCore
import Testing

/// docs/api.md: filters compare case-insensitively (Unicode full case folding), and the listing
/// without `sortBy` is the one `sortBy=name` gives: the code points of the folded name, then id.
struct CaseFoldingAPITests {
  @Test(arguments: [
    ("/contacts?name=p1+strasse", ["queue-strasse"]), ("/contacts?name=P1+STRASSE", ["queue-strasse"]),
    ("/contacts?name=P1+fix", ["queue-fix"]), ("/contacts?name=ZQ+%CE%A3%CE%91%CE%A3", ["queue-sigma"]),
    ("/contacts?q=strasse", ["queue-strasse"]), ("/contacts?q=STRASSE&type=queue", ["queue-strasse"]),
  ])
  func filtersAndSearchFindFoldedText(target: String, expected: [String]) {
    let (api, _) = makeAPI(
      contacts: fixtureContacts + [
        Contact(id: "queue-strasse", type: .queue, name: "P1 Straße"),
        Contact(id: "queue-fix", type: .queue, name: "P1 \u{FB01}x"),
        Contact(id: "queue-sigma", type: .queue, name: "Zq \u{3C3}\u{3B1}\u{3C2}"),
      ])
    let response = api.send("GET", target, as: .agent)
    #expect(response.status == 200)
    #expect(response.contactIDs == expected, "\(target)")
  }

  /// Contacts created one by one (each inserted in its place) list as `sortBy=name` sorts them.
  @Test func theDefaultOrderIsSortByNames() throws {
    let names = [
      "Zr \u{E9}", "Zq st", "Zq \u{3A3}\u{391}\u{3A3}", "Zr f", "Zq ß", "Zq g", "Zr e\u{301}", "Zq \u{FB01}",
      "Zq \u{3C3}\u{3B1}\u{3C2}",
    ]
    let (api, _) = makeAPI(contacts: [])
    for name in names {
      let created = api.send("POST", "/contacts", json: #"{"name":"\#(name)","phoneNumber":"1"}"#)
      try #require(created.status == 201, "\(created.bodyText)")
    }
    let plain = api.send("GET", "/contacts", as: .agent)
    #expect(plain.contactIDs == api.send("GET", "/contacts?sortBy=name", as: .agent).contactIDs)
    #expect(
      plain.contactIDs.reversed() == api.send("GET", "/contacts?sortBy=name&order=desc", as: .agent).contactIDs)
    guard case .array(let contacts) = plain.json?["contacts"] else {
      Issue.record("no contacts: \(plain.bodyText)")
      return
    }
    // Code points, not `String`'s `==` (which holds `e` + U+0301 and `é` equal); the two
    // sigma names fold alike, and their order is their ids'.
    let listed = contacts.compactMap { $0["name"]?.stringValue }.map { Array($0.unicodeScalars) }
    let expected = [
      "Zq \u{FB01}", "Zq g", "Zq ß", "Zq st", "sigma", "sigma", "Zr e\u{301}", "Zr f", "Zr \u{E9}",
    ].map { Array($0.unicodeScalars) }
    let sigmas = [Array("Zq \u{3A3}\u{391}\u{3A3}".unicodeScalars), Array("Zq \u{3C3}\u{3B1}\u{3C2}".unicodeScalars)]
    #expect(listed.count == expected.count)
    for (index, (name, wanted)) in zip(listed, expected).enumerated() {
      if index == 4 || index == 5 { #expect(sigmas.contains(name)) } else { #expect(name == wanted, "\(index)") }
    }
  }
}
