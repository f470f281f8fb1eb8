import ContactsAPI
import ContactsCore
import Foundation
import TestSupport
import Testing

/// `sortBy`, `order` and `fields` through the API: pages of a sorted listing against
/// `SortReference`, projections, refusals, entity tags and 304s.
struct SortAndFieldsTests {
  static func keys(_ contact: JSONValue) -> [String] { contact.members?.map(\.key) ?? [] }

  static func contacts(_ response: APIResponse) -> [JSONValue] {
    guard case .array(let contacts) = response.json?["contacts"] else { return [] }
    return contacts
  }

  /// The members a contact shows with `fields`, in the contact's own order.
  static func expectedKeys(_ record: [String: String], fields: Set<String>?) -> [String] {
    SortReference.attributes.filter { name in
      record[name] != nil && (name == "id" || fields?.contains(name) ?? true)
    }
  }

  static func contact(_ record: [String: String]) -> Contact {
    Contact(
      id: record["id"]!, type: ContactType(rawValue: record["type"]!)!, name: record["name"]!,
      phoneNumber: record["phoneNumber"], userName: record["userName"], firstName: record["firstName"],
      lastName: record["lastName"], employeeId: record["employeeId"])
  }

  /// Random sorted, filtered, projected queries, read page by page through `Link`: every page is
  /// the reference's slice, `X-Total-Count` its length, and the pages together the whole list.
  @Test func sortedPagesMatchTheReference() throws {
    var random = SeededRandom(seed: 0x5_0127)
    var pagesRead = 0
    for round in 0..<60 {
      let records = SortReference.randomRecords(&random, count: 1 + random.next(upTo: 40))
      let (api, _) = makeAPI(contacts: records.map(Self.contact))
      for _ in 0..<5 {
        let keys = SortReference.randomKeys(&random)
        let spelling = [nil, "Ascending", "asc", "DESC", "Descending"][random.next(upTo: 5)]
        let descending = spelling?.lowercased().hasPrefix("desc") ?? false
        let type = [nil, "User", "queue"][random.next(upTo: 3)]
        let fields: [String]? =
          random.next(upTo: 2) == 0
          ? nil : (0..<random.next(upTo: 3)).map { _ in SortReference.attributes.randomElement(using: &random)! }
        let limit = 1 + random.next(upTo: 7)
        let offset = random.next(upTo: 5)

        let matching = records.filter { type == nil || $0["type"]!.lowercased() == type!.lowercased() }
        let expected = SortReference.order(matching, keys: keys, descending: descending)
        var parameters = ["sortBy=\(keys.joined(separator: "%2C"))"]
        if let spelling { parameters.append("order=\(spelling)") }
        if let type { parameters.append("type=\(type)") }
        if let fields { parameters.append("fields=\(fields.isEmpty ? "id" : fields.joined(separator: ","))") }
        parameters += ["limit=\(limit)", "offset=\(offset)"]
        parameters.shuffle(using: &random)
        let fieldSet = fields.map { Set($0.isEmpty ? ["id"] : $0) }

        var target: String? = "/contacts?" + parameters.joined(separator: "&")
        var position = offset
        var seen: [String] = []
        while let next = target {
          let response = api.send("GET", next, as: .agent)
          try #require(response.status == 200, "round \(round) \(next): \(response.bodyText)")
          pagesRead += 1
          let slice = Array(expected.dropFirst(position).prefix(limit))
          #expect(response.contactIDs == slice, "round \(round) \(next)")
          #expect(response.header("X-Total-Count") == String(expected.count))
          for (contact, id) in zip(Self.contacts(response), response.contactIDs) {
            let stored = try #require(records.first { $0["id"] == id })
            #expect(Self.keys(contact) == Self.expectedKeys(stored, fields: fieldSet), "\(next): \(id)")
          }
          seen += response.contactIDs
          position += limit
          if let link = response.header("Link") {
            #expect(position < expected.count)
            let url = try #require(link.split(separator: ">").first?.dropFirst())
            #expect(url.contains("offset=\(position)"), "\(link)")
            #expect(url.contains("sortBy=") && (spelling == nil || url.contains("order=")), "\(link)")
            #expect(fields == nil || url.contains("fields="), "\(link)")
            target = String(url)
          } else {
            #expect(position >= expected.count)
            target = nil
          }
        }
        #expect(seen == Array(expected.dropFirst(offset)), "round \(round)")
      }
    }
    #expect(pagesRead > 500)
  }

  @Test func withoutSortByOrOrderTheListingIsAsBefore() {
    let (api, repository) = makeAPI()
    let plain = api.send("GET", "/contacts", as: .agent)
    let state = try? repository.currentState()
    #expect(plain.contactIDs == state?.entries.map(\.contact.id))
    #expect(plain.contactIDs == [customID, "user-joej", "queue-sales"])
    // `fields=*` and every attribute listed are the whole contacts, byte for byte.
    #expect(api.send("GET", "/contacts?fields=*", as: .agent).body == plain.body)
    let every = ContactAttribute.allCases.map(\.rawValue).joined(separator: ",")
    #expect(api.send("GET", "/contacts?fields=\(every)", as: .agent).body == plain.body)
    #expect(api.send("GET", "/contacts?sortBy=name", as: .agent).body == plain.body)
  }

  @Test func sortedListingsAreSortedOncePerGenerationAndQuery() {
    let (api, _) = makeAPI()
    let first = api.send("GET", "/contacts?sortBy=phoneNumber&order=desc", as: .agent)
    #expect(first.contactIDs == [customID, "queue-sales", "user-joej"])
    #expect(api.listingCacheUsage.pages == 1)
    let again = api.send("GET", "/contacts?sortBy=phoneNumber&order=desc", as: .agent)
    #expect(again.body == first.body && api.listingCacheUsage.pages == 1)
    _ = api.send("GET", "/contacts?sortBy=phoneNumber", as: .agent)
    #expect(api.listingCacheUsage.pages == 2)
  }

  @Test func fieldsOnTheListing() throws {
    let (api, _) = makeAPI()
    let response = api.send("GET", "/contacts?fields=userName,phoneNumber", as: .agent)
    #expect(response.status == 200)
    let shown = Self.contacts(response).map(Self.keys)
    #expect(
      shown == [["id", "phoneNumber"], ["id", "phoneNumber", "userName"], ["id", "phoneNumber"]], "\(response.bodyText)"
    )
    let ids = api.send("GET", "/contacts?fields=id&type=User", as: .agent)
    #expect(ids.bodyText == #"{"contacts":[{"id":"user-joej"}]}"#)
    let names = api.send("GET", "/contacts?fields=lastName&type=Queue", as: .agent)
    #expect(names.bodyText == #"{"contacts":[{"id":"queue-sales"}]}"#)
  }

  @Test func fieldsOnOneContact() throws {
    let (api, _) = makeAPI()
    let whole = api.send("GET", "/contacts/user-joej", as: .agent)
    let projected = api.send("GET", "/contacts/user-joej?fields=firstName,lastName", as: .agent)
    #expect(projected.status == 200)
    #expect(projected.bodyText == #"{"id":"user-joej","firstName":"Joe","lastName":"Johnson"}"#)
    #expect(api.send("GET", "/contacts/user-joej?fields=*", as: .agent).body == whole.body)
    #expect(api.send("GET", "/contacts/queue-sales?fields=userName", as: .agent).bodyText == #"{"id":"queue-sales"}"#)
    let head = api.send("HEAD", "/contacts/user-joej?fields=firstName,lastName", as: .agent)
    #expect(head.body.isEmpty && head.header("Content-Length") == String(projected.body.count))
    #expect(head.header("ETag") == projected.header("ETag"))
  }

  @Test func eachProjectionHasItsOwnEntityTag() throws {
    let (api, _) = makeAPI()
    let whole = try #require(api.send("GET", "/contacts/user-joej", as: .agent).header("ETag"))
    let names = try #require(api.send("GET", "/contacts/user-joej?fields=name", as: .agent).header("ETag"))
    let phones = try #require(api.send("GET", "/contacts/user-joej?fields=phoneNumber", as: .agent).header("ETag"))
    let both = try #require(api.send("GET", "/contacts/user-joej?fields=name,phoneNumber", as: .agent).header("ETag"))
    let swapped = api.send("GET", "/contacts/user-joej?fields=phoneNumber,name", as: .agent).header("ETag")
    let all = api.send("GET", "/contacts/user-joej?fields=*", as: .agent).header("ETag")
    #expect(Set([whole, names, phones, both]).count == 4)
    #expect(names.hasPrefix(String(whole.dropLast()) + "-"))
    #expect(swapped == both && all == whole)

    for (target, tag) in [
      ("/contacts/user-joej", whole), ("/contacts/user-joej?fields=name", names),
      ("/contacts/user-joej?fields=name,phoneNumber", both),
    ] {
      #expect(api.send("GET", target, as: .agent, ifNoneMatch: tag).status == 304, "\(target)")
      #expect(api.send("HEAD", target, as: .agent, ifNoneMatch: tag).status == 304, "\(target)")
      #expect(api.send("GET", target, as: .agent, ifMatch: tag).status == 200, "\(target)")
      let other = tag == whole ? names : whole
      #expect(api.send("GET", target, as: .agent, ifNoneMatch: other).status == 200, "\(target)")
      #expect(api.send("GET", target, as: .agent, ifMatch: other).status == 412, "\(target)")
    }
  }

  @Test func listingTagsDifferPerSortAndFieldsAnd304sWork() throws {
    let (api, _) = makeAPI()
    let targets = [
      "/contacts", "/contacts?sortBy=phoneNumber", "/contacts?sortBy=phoneNumber&order=desc",
      "/contacts?fields=name", "/contacts?sortBy=lastName,firstName&fields=name&order=Descending",
    ]
    let tags = try targets.map { try #require(api.send("GET", $0, as: .agent).header("ETag")) }
    #expect(Set(tags).count == targets.count)
    for (target, tag) in zip(targets, tags) {
      let cached = api.send("GET", target, as: .agent, ifNoneMatch: tag)
      #expect(cached.status == 304 && cached.body.isEmpty, "\(target)")
    }
    // A change to the data: the sorted listing is served again, under a new tag, in its new order.
    let created = api.send(
      "POST", "/contacts", as: .admin, json: #"{"name":"Aardvark","phoneNumber":"999"}"#)
    #expect(created.status == 201)
    let fresh = api.send("GET", targets[2], as: .agent, ifNoneMatch: tags[2])
    #expect(fresh.status == 200 && fresh.header("ETag") != tags[2])
    #expect(fresh.contactIDs.first == created.json?["id"]?.stringValue)
  }

  @Test(arguments: [
    ("/contacts?sortBy=colour", "sortBy", "colour"),
    ("/contacts?sortBy=name,lastname", "sortBy", "lastname"),
    ("/contacts?order=sideways", "order", "sideways"),
    ("/contacts?fields=name,age", "fields", "age"),
    ("/contacts?sortBy=name&sortBy=id", "sortBy", "once"),
    ("/contacts?order=asc&order=desc", "order", "once"),
    ("/contacts?fields=name&fields=id", "fields", "once"),
    ("/contacts&sortBy=name?sortBy=id", "sortBy", "once"),
    ("/contacts/user-joej?fields=age", "fields", "age"),
    ("/contacts/user-joej?fields=name&fields=id", "fields", "once"),
    ("/contacts/user-joej?sortBy=name", "sortBy", "sortBy"),
    ("/contacts/user-joej?type=User", "type", "type"),
    ("/contacts/user-joej?fields=%ZZ", "fields", "escape"),
    ("/contacts/user-joej?fields=%01", "fields", "U+0001"),
  ])
  func badParametersAnswer400(target: String, parameter: String, mentions: String) {
    let (api, _) = makeAPI()
    for method in ["GET", "HEAD"] {
      let response = api.send(method, target, as: .agent)
      #expect(response.status == 400, "\(method) \(target)")
      guard method == "GET" else { continue }
      #expect(response.errorCode == "invalid_query")
      #expect(response.errorFields == [parameter], "\(target)")
      let message = response.json?["error"]?["message"]?.stringValue ?? ""
      #expect(message.contains(mentions), "\(message)")
    }
  }

  /// A contact that is not there is a 404 whatever the query; identity and permission come first.
  @Test func oneContactChecksItsQueryAfterExistence() {
    let (api, _) = makeAPI()
    #expect(api.send("GET", "/contacts/nope?colour=red", as: .agent).status == 404)
    #expect(api.send("GET", "/contacts/user-joej?colour=red", as: .anonymous).status == 401)
    #expect(api.send("GET", "/contacts/user-joej?colour=red", as: .guest).status == 403)
    // Writes ignore the query, as before.
    let update = api.send("PUT", "/contacts/\(customID)?colour=red", as: .admin, json: #"{"name":"Desk"}"#)
    #expect(update.status == 200)
  }
}
