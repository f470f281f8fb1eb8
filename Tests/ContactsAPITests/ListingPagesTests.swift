import ContactsAPI
import ContactsCore
import Foundation
import TestSupport
import Testing

/// A directory large enough that the state's listing order spans many chunks, changed through
/// the API (creates into the middle split chunks, deletes empty them): the unfiltered listing is
/// the order `sortBy=name` sorts to, and every page is its slice, across chunk boundaries too.
struct ListingPagesTests {
  @Test func pagesOfALargeChangedDirectoryAreSlicesOfTheSortedListing() throws {
    var random = SeededRandom(seed: 11)
    let names = ["Ann", "ann", "Bob", "Émile", "Zed", "front desk", "Front Desk"]
    let contacts = (0..<2500).map { index in
      Contact(
        id: String(format: "%032x", index), type: .custom,
        name: "\(names.randomElement(using: &random)!) \(Int.random(in: 0..<50, using: &random))",
        phoneNumber: "555 \(index)")
    }
    let (api, _) = makeAPI(contacts: contacts)
    for index in 0..<700 {
      let name = "\(names.randomElement(using: &random)!) \(Int.random(in: 0..<50, using: &random))"
      #expect(api.send("POST", "/contacts", json: #"{"name":"\#(name)","phoneNumber":"555 9\#(index)"}"#).status == 201)
    }
    for index in stride(from: 0, to: 2500, by: 3) {
      #expect(api.send("DELETE", "/contacts/\(String(format: "%032x", index))").status == 204)
    }

    let whole = api.send("GET", "/contacts", as: .agent)
    #expect(whole.status == 200)
    let ids = whole.contactIDs
    #expect(ids.count == 2500 + 700 - 834)
    #expect(api.send("GET", "/contacts?sortBy=name", as: .agent).contactIDs == ids)
    let pages = [(0, 1), (511, 3), (1023, 2), (1000, 1000), (2000, 1000), (ids.count - 1, 5), (ids.count, 3)]
    for (offset, limit) in pages {
      let page = api.send("GET", "/contacts?offset=\(offset)&limit=\(limit)", as: .agent)
      #expect(page.status == 200)
      let expected = Array(ids[min(offset, ids.count)..<min(offset + limit, ids.count)])
      #expect(page.contactIDs == expected, "offset \(offset), limit \(limit)")
    }
  }
}
