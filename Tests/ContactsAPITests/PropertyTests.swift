import ContactsAPI
import ContactsCore
import Foundation
import TestSupport
import Testing

/// Random (but seeded, so repeatable) queries and bodies against the API, checked against a
/// reference written independently here: no 5xx, every 4xx has the error shape, every listing
/// is what the reference filter says, every body is accepted exactly when the reference says so.
struct PropertyTests {
  static let names = ["Ann Lee", "ann lee", "Bob", "Zoë Ortiz", "sales", "Sales", "Support Desk", "Émile", "x"]
  static let phones = ["555-123-4567", "(555) 123 4567", "+1 800 555 0100", "0100", "12", nil]

  static func directory(_ random: inout SeededRandom) -> [Contact] {
    (0..<40).map { index in
      let type = [ContactType.custom, .queue, .user].randomElement(using: &random)!
      let name = names.randomElement(using: &random)!
      let phone =
        type == .custom
        ? (phones.compactMap { $0 }.randomElement(using: &random)!) : phones.randomElement(using: &random)!
      let id = type == .custom ? String(format: "%032x", index) : "\(type.rawValue.lowercased())-\(index)"
      if type == .user {
        let parts = name.split(separator: " ").map(String.init)
        return Contact(
          id: id, type: type, name: name, phoneNumber: phone, userName: parts[0].lowercased() + "\(index % 3)",
          firstName: parts[0], lastName: parts.count > 1 ? parts[1] : nil, employeeId: "E\(index % 5)")
      }
      return Contact(id: id, type: type, name: name, phoneNumber: phone)
    }
  }

  // MARK: The reference

  static func decode(_ text: String) -> String? {
    text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
  }

  static func digits(_ text: String) -> String { text.filter { ("0"..."9").contains($0) } }

  static func value(_ contact: Contact, _ name: String) -> String? {
    switch name {
    case "id": contact.id
    case "name": contact.name
    case "type": contact.type.rawValue
    case "phoneNumber": contact.phoneNumber
    case "userName": contact.type == .user ? contact.userName : nil
    case "firstName": contact.type == .user ? contact.firstName : nil
    case "lastName": contact.type == .user ? contact.lastName : nil
    case "employeeId": contact.type == .user ? contact.employeeId : nil
    default: nil
    }
  }

  /// What the listing must be, or `nil` when the query must be refused (400).
  static func reference(_ query: String, _ contacts: [Contact]) -> (ids: [String], total: Int)? {
    let attributes = ["id", "name", "type", "phoneNumber", "userName", "firstName", "lastName", "employeeId"]
    var filters: [String: [String]] = [:]
    var q: String?
    var limit: Int?
    var offset = 0
    var seen: Set<String> = []
    for piece in query.split(separator: "&") {
      let pair = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard let name = decode(pair[0]), let value = decode(pair.count > 1 ? pair[1] : "") else { return nil }
      if ["q", "limit", "offset"].contains(name) && !seen.insert(name).inserted { return nil }
      switch name {
      case "q": q = value
      case "limit":
        guard let number = Int(value), number >= 1, number <= 1000 else { return nil }
        limit = number
      case "offset":
        guard let number = Int(value), number >= 0 else { return nil }
        offset = number
      case "type":
        guard ["custom", "queue", "user"].contains(value.lowercased()) else { return nil }
        filters["type", default: []].append(value)
      default:
        guard attributes.contains(name) else { return nil }
        filters[name, default: []].append(value)
      }
    }
    let matching = contacts.filter { contact in
      for (name, values) in filters {
        guard let actual = value(contact, name) else { return false }
        let ok = values.contains { wanted in
          name == "phoneNumber"
            ? !digits(actual).isEmpty && digits(actual) == digits(wanted) : actual.lowercased() == wanted.lowercased()
        }
        if !ok { return false }
      }
      if let q, !q.isEmpty {
        let texts = ["name", "userName", "firstName", "lastName", "employeeId"].compactMap { value(contact, $0) }
        let inText = texts.contains { $0.lowercased().contains(q.lowercased()) }
        let inPhone = !digits(q).isEmpty && digits(contact.phoneNumber ?? "").contains(digits(q))
        if !inText && !inPhone { return false }
      }
      return true
    }.sorted { ($0.name.lowercased(), $0.id) < ($1.name.lowercased(), $1.id) }
    let page = matching.dropFirst(offset).prefix(limit ?? Int.max)
    return (page.map(\.id), matching.count)
  }

  static func randomQuery(_ random: inout SeededRandom, _ contacts: [Contact]) -> String {
    let names = [
      "id", "name", "type", "phoneNumber", "userName", "firstName", "lastName", "employeeId", "q", "limit", "offset",
      "Name", "colour",
    ]
    return (0..<Int.random(in: 0...3, using: &random)).map { _ in
      let name = names.randomElement(using: &random)!
      let contact = contacts.randomElement(using: &random)!
      var value: String
      switch name {
      case "limit": value = ["1", "2", "5", "0", "1001", "x"].randomElement(using: &random)!
      case "offset": value = ["0", "1", "3", "39", "100", "-1"].randomElement(using: &random)!
      case "type": value = ["Custom", "queue", "USER", "robot"].randomElement(using: &random)!
      case "q":
        value = [String((contact.name).prefix(3)), "123-4", "lee", "", "0", "zz"].randomElement(using: &random)!
      default:
        value = Self.value(contact, name) ?? contact.name
        if Bool.random(using: &random) { value = value.uppercased() }
      }
      let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
      return "\(name)=\(Bool.random(using: &random) ? encoded : encoded.replacingOccurrences(of: "%20", with: "+"))"
    }.joined(separator: "&")
  }

  @Test func randomQueriesMatchTheReferenceFilter() throws {
    var random = SeededRandom(seed: 20_261_129)
    var answered = 0
    var refused = 0
    var nonEmpty = 0
    for round in 0..<10 {
      let contacts = Self.directory(&random)
      let (api, _) = makeAPI(contacts: contacts)
      for _ in 0..<100 {
        let query = Self.randomQuery(&random, contacts)
        let response = api.send("GET", "/contacts?\(query)", as: .agent)
        #expect(response.status < 500, "round \(round) \(query): \(response.bodyText)")
        if let expected = Self.reference(query, contacts) {
          #expect(response.status == 200, "\(query): \(response.bodyText)")
          #expect(response.contactIDs == expected.ids, "\(query)")
          #expect(response.header("X-Total-Count") == String(expected.total), "\(query)")
          answered += 1
          if !expected.ids.isEmpty && expected.total < contacts.count { nonEmpty += 1 }
        } else {
          refused += 1
          #expect(response.status == 400, "\(query): \(response.status)")
          #expect(response.errorCode == "invalid_query", "\(query)")
          #expect(response.json?["error"]?["message"]?.stringValue?.isEmpty == false)
        }
      }
    }
    // The draw covers both outcomes, and filters that select some but not all.
    #expect(answered > 300 && refused > 100 && nonEmpty > 100, "\(answered) \(refused) \(nonEmpty)")
  }

  // MARK: Bodies

  static func randomBody(_ random: inout SeededRandom) -> String {
    let names = [
      "\"Ann\"", "\"  Padded  \"", "\"\"", "\"   \"", "5", "null", "\"\(String(repeating: "n", count: 201))\"",
      "\"Zoë\"",
    ]
    let phones = [
      "\"555-0100\"", "\"+1 (555) 010 x12 #3\"", "\"abc\"", "\"---\"", "12", "\"\(String(repeating: "1", count: 51))\"",
      "\" 555 \"",
    ]
    let types = ["\"Custom\"", "\"custom\"", "\"Queue\"", "7"]
    var members: [String] = []
    if Int.random(in: 0..<10, using: &random) < 8 { members.append("\"name\":\(names.randomElement(using: &random)!)") }
    if Int.random(in: 0..<10, using: &random) < 8 {
      members.append("\"phoneNumber\":\(phones.randomElement(using: &random)!)")
    }
    if Int.random(in: 0..<10, using: &random) < 3 { members.append("\"type\":\(types.randomElement(using: &random)!)") }
    if Int.random(in: 0..<10, using: &random) < 1 { members.append("\"id\":\"abc\"") }
    if Int.random(in: 0..<10, using: &random) < 1 { members.append("\"userName\":\"u\"") }
    if Int.random(in: 0..<10, using: &random) < 1, let first = members.first { members.append(first) }
    members.shuffle(using: &random)
    let separator = Int.random(in: 0..<20, using: &random) == 0 ? "\n" : ","
    return "{" + members.joined(separator: separator) + "}"
  }

  /// Whether docs/api.md accepts `text` as a new custom contact (`nil`: not JSON at all).
  static func referenceAccepts(_ text: String) -> Bool? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return nil }
    let keyCount = text.components(separatedBy: "\":").count - 1
    guard keyCount == object.count else { return false }  // a duplicated key
    guard Set(object.keys).isSubset(of: ["name", "phoneNumber", "type"]) else { return false }
    guard let name = (object["name"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty,
      name.count <= 200
    else { return false }
    guard let phone = (object["phoneNumber"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines),
      (1...50).contains(phone.count), phone.allSatisfy({ "0123456789 +-()./x#".contains($0) }),
      phone.contains(where: \.isNumber)
    else { return false }
    if let type = object["type"] { return (type as? String)?.lowercased() == "custom" }
    return true
  }

  @Test func randomBodiesAreAcceptedExactlyWhenTheReferenceSaysSo() throws {
    var random = SeededRandom(seed: 42)
    let (api, repository) = makeAPI()
    var outcomes: [Bool?: Int] = [:]
    for _ in 0..<600 {
      let body = Self.randomBody(&random)
      let response = api.send("POST", "/contacts", json: body)
      #expect(response.status < 500, "\(body): \(response.bodyText)")
      outcomes[Self.referenceAccepts(body), default: 0] += 1
      switch Self.referenceAccepts(body) {
      case nil:
        #expect(response.status == 400 && response.errorCode == "invalid_json", "\(body): \(response.bodyText)")
      case true?:
        #expect(response.status == 201, "\(body): \(response.bodyText)")
        let stored = try #require(response.json)
        #expect(stored["name"]?.stringValue == stored["name"]?.stringValue?.trimmingCharacters(in: .whitespaces))
      case false?:
        #expect(response.status == 400 && response.errorCode == "validation_failed", "\(body): \(response.bodyText)")
        #expect(!response.errorFields.isEmpty, "\(body)")
      }
    }
    #expect(repository.history.count == outcomes[true] ?? 0)
    #expect(outcomes.values.allSatisfy { $0 > 20 } && outcomes.count == 3, "\(outcomes)")
  }
}
